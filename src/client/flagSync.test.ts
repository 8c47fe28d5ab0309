// runFlagSync against the local server's PostHog REST API over real HTTP: what it creates and
// patches (exact bodies), what it never touches, what it reports, how it behaves when PostHog
// refuses (no tagging licence, a missing scope, throttling), and the governance report after it.
import { describe, expect, test, vi } from "vitest";
import { api } from "../testing/app/_generated/api.js";
import { initTestApp, useLocalPostHog, waitFor } from "../testing/setup.js";

const TOKEN = "phc_sync";
const ADMIN_KEY = "phx_admin";
const server = useLocalPostHog({
  POSTHOG_API_KEY: TOKEN,
  POSTHOG_PERSONAL_API_KEY: "phx_definitions",
  POSTHOG_ADMIN_API_KEY: ADMIN_KEY,
  POSTHOG_PROJECT_ID: "1",
});
const FLAGS = "/api/projects/1/feature_flags/";

type T = ReturnType<typeof initTestApp>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;
async function sync(t: T, args: { dryRun?: boolean; createUsageDashboards?: boolean; plain?: boolean } = {}): Promise<{ result: Json; calls: unknown[][] }> {
  return JSON.parse(await t.action(api.flagSync.sync, args));
}
const report = async (t: T): Promise<Json> => JSON.parse(await t.query(api.flagSync.report, {}));
const adminRequests = () => server.requests().filter((r) => r.path.startsWith("/api/projects/1/"));
const writes = () => adminRequests().filter((r) => r.method !== "GET");
const stored = (key: string) => server.projectFlags("1").find((flag) => flag.key === key);
const openFindings = async (t: T) => ((await report(t)).findings as Json[]).map((f) => [f.kind, f.key]).sort();

async function rest(method: string, path: string, body?: unknown) {
  const res = await fetch(server.url + path, {
    method,
    headers: { Authorization: `Bearer ${ADMIN_KEY}`, ...(body !== undefined ? { "Content-Type": "application/json" } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return await res.json();
}

const ZERO = { groups: [{ properties: [], rollout_percentage: 0 }] };
const EXPECTED_BODIES = [
  {
    key: "release_checkout_v2",
    name: "The new checkout",
    tags: ["checkout", "team-a", "guardian"],
    active: false,
    filters: ZERO,
    creation_context: "feature_flags",
    _should_create_usage_dashboard: true,
  },
  {
    key: "experiment_search_ranking",
    name: "Search ranking test",
    tags: [],
    active: false,
    filters: {
      ...ZERO,
      multivariate: {
        variants: [
          { key: "control", rollout_percentage: 34 },
          { key: "fast", rollout_percentage: 33 },
          { key: "smart", rollout_percentage: 33 },
        ],
      },
    },
    creation_context: "feature_flags",
    _should_create_usage_dashboard: true,
  },
  {
    key: "ops_search_killswitch",
    name: "Turns search off",
    tags: ["guardian"],
    active: false,
    filters: ZERO,
    creation_context: "feature_flags",
    _should_create_usage_dashboard: true,
  },
  {
    key: "legacy_banner",
    name: "The old banner",
    tags: ["naming-exempt"],
    active: false,
    filters: ZERO,
    creation_context: "feature_flags",
    _should_create_usage_dashboard: true,
  },
];
const REGISTRY_KEYS = EXPECTED_BODIES.map((body) => body.key);

describe("runFlagSync: creating and reconciling", () => {
  test("creates every missing registry flag inactive at 0%, variants split evenly, with PostHog's exact bodies", async () => {
    const t = initTestApp();
    const { result, calls } = await sync(t);
    expect(writes().map((r) => [r.method, r.path, r.status])).toEqual(REGISTRY_KEYS.map(() => ["POST", FLAGS, 201]));
    expect(writes().map((r) => r.body)).toEqual(EXPECTED_BODIES);
    expect(writes().every((r) => r.headers.authorization === `Bearer ${ADMIN_KEY}`)).toBe(true);
    expect(result).toEqual({
      status: "ok",
      dry_run: false,
      registry_size: 4,
      posthog_size: 0,
      created: 4,
      reconciled: 0,
      orphans: 0,
      naming_violations: 0,
      created_keys: REGISTRY_KEYS,
      reconciled_keys: [],
      orphan_keys: [],
      naming_violation_keys: [],
      variant_mismatches: [],
      findings: [],
    });
    // onCreate gets the registry's definition, in the app's action.
    expect(calls).toEqual(EXPECTED_BODIES.map((body) => ["onCreate", body.key, body.name]));
    expect(stored("experiment_search_ranking")).toMatchObject({ active: false, filters: EXPECTED_BODIES[1]!.filters });
    expect(stored("release_checkout_v2")).toMatchObject({ active: false, tags: ["checkout", "team-a", "guardian"] });
  });

  test("createUsageDashboards: false is sent as PostHog's _should_create_usage_dashboard", async () => {
    const t = initTestApp();
    await sync(t, { createUsageDashboards: false });
    expect(writes().map((r) => (r.body as Json)._should_create_usage_dashboard)).toEqual([false, false, false, false]);
  });

  test("a second run makes no write at all", async () => {
    const t = initTestApp();
    await sync(t);
    const before = writes().length;
    const { result } = await sync(t);
    expect(writes()).toHaveLength(before);
    expect(result).toMatchObject({ status: "ok", posthog_size: 4, created: 0, reconciled: 0, created_keys: [], reconciled_keys: [], findings: [] });
  });

  test("reconciles the name and the normalised union of tags, additively; never active, rollout or variants; never deletes", async () => {
    const t = initTestApp();
    const rollout40 = { groups: [{ properties: [{ key: "plan", value: ["pro"], operator: "exact", type: "person" }], rollout_percentage: 40 }] };
    const [checkout] = server.seedFlags("1", [
      { key: "release_checkout_v2", name: "Old name", tags: ["Team-A", "legacy"], active: true, filters: rollout40 },
      { key: "ops_search_killswitch", name: "Turns search off", tags: ["guardian", "ops"], active: false },
      { key: "release_search_orphan", name: "Nobody declares me", active: true, filters: { groups: [{ properties: [], rollout_percentage: 100 }] } },
    ]);
    const { result, calls } = await sync(t);
    const patches = writes().filter((r) => r.method === "PATCH");
    expect(patches.map((r) => [r.path, r.body])).toEqual([
      [`${FLAGS}${checkout!.id}/`, { name: "The new checkout", tags: ["team-a", "legacy", "checkout", "guardian"] }],
    ]);
    expect(writes().map((r) => r.method).sort()).toEqual(["PATCH", "POST", "POST"]);
    expect(stored("release_checkout_v2")).toMatchObject({ active: true, filters: rollout40, name: "The new checkout", deleted: false });
    expect(stored("ops_search_killswitch")).toMatchObject({ active: false, tags: ["guardian", "ops"] });
    expect(stored("release_search_orphan")).toMatchObject({ active: true, deleted: false, filters: { groups: [{ properties: [], rollout_percentage: 100 }] } });
    expect(result).toMatchObject({ reconciled: 1, reconciled_keys: ["release_checkout_v2"], created_keys: ["experiment_search_ranking", "legacy_banner"] });
    expect(calls).toContainEqual(["onReconcile", "release_checkout_v2", "Old name", { name: "The new checkout", tags: ["team-a", "legacy", "checkout", "guardian"] }]);
    // Settled: the next run writes nothing.
    const count = writes().length;
    await sync(t);
    expect(writes()).toHaveLength(count);
  });
});

describe("runFlagSync: what it reports", () => {
  test("orphans, naming violations and variant mismatches: in the result, the callbacks and the report; resolved once fixed", async () => {
    const t = initTestApp();
    const [, , badKey] = server.seedFlags("1", [
      { key: "release_checkout_old", name: "Old checkout" },
      { key: "misc_exempt", tags: ["Naming-Exempt"] },
      { key: "Bad-Key" },
      {
        key: "experiment_search_ranking",
        name: "Search ranking test",
        filters: { ...ZERO, multivariate: { variants: [{ key: "control", rollout_percentage: 50 }, { key: "turbo", rollout_percentage: 50 }] } },
      },
      {
        key: "ops_search_killswitch",
        name: "Turns search off",
        tags: ["guardian"],
        filters: { ...ZERO, multivariate: { variants: [{ key: "on", rollout_percentage: 100 }] } },
      },
    ]);
    const { result, calls } = await sync(t);
    expect(result).toMatchObject({
      status: "ok",
      orphans: 3,
      naming_violations: 1,
      naming_violation_keys: ["Bad-Key"],
      variant_mismatches: [
        { key: "experiment_search_ranking", code: ["control", "fast", "smart"], posthog: ["control", "turbo"] },
        { key: "ops_search_killswitch", code: [], posthog: ["on"] },
      ],
    });
    expect([...result.orphan_keys].sort()).toEqual(["Bad-Key", "misc_exempt", "release_checkout_old"]);
    expect(calls.filter(([name]) => name === "onOrphan").map(([, key]) => key).sort()).toEqual(["Bad-Key", "misc_exempt", "release_checkout_old"]);
    expect(calls.filter(([name]) => name === "onNamingViolation")).toEqual([["onNamingViolation", "Bad-Key"]]);
    expect(calls).toContainEqual(["onOrphan", "Bad-Key", badKey!.id]);

    const findings = (await report(t)).findings as Json[];
    expect(findings.map((f) => [f.source, f.kind, f.key]).sort()).toEqual(
      [
        ["sync", "naming_violation", "Bad-Key"],
        ["sync", "orphan", "Bad-Key"],
        ["sync", "orphan", "misc_exempt"],
        ["sync", "orphan", "release_checkout_old"],
        ["sync", "variant_mismatch", "experiment_search_ranking"],
        ["sync", "variant_mismatch", "ops_search_killswitch"],
      ].sort(),
    );
    const mismatch = findings.find((f) => f.key === "experiment_search_ranking");
    expect(mismatch.detail).toEqual({
      code: ["control", "fast", "smart"],
      posthog: ["control", "turbo"],
      problems: [
        'PostHog has variant "turbo"; the registry declares "control", "fast", "smart"',
        'variant "fast" is declared but PostHog does not have it',
        'variant "smart" is declared but PostHog does not have it',
      ],
    });
    expect(mismatch.since).toEqual(expect.any(Number));

    // Someone deletes the bad flag in PostHog: the next run resolves its findings.
    await rest("PATCH", `${FLAGS}${badKey!.id}/`, { deleted: true });
    const again = await sync(t);
    expect(again.result).toMatchObject({ orphans: 2, naming_violations: 0 });
    expect(await openFindings(t)).toEqual(
      [
        ["orphan", "misc_exempt"],
        ["orphan", "release_checkout_old"],
        ["variant_mismatch", "experiment_search_ranking"],
        ["variant_mismatch", "ops_search_killswitch"],
      ].sort(),
    );
  });

  test("paging: every flag past the first 100 is seen", async () => {
    const t = initTestApp();
    server.seedFlags("1", Array.from({ length: 230 }, (_, i) => ({ key: `release_search_old_${i}` })));
    const { result } = await sync(t);
    expect(result).toMatchObject({ posthog_size: 230, orphans: 230, created: 4 });
    expect(new Set(result.orphan_keys).size).toBe(230);
    expect(adminRequests().filter((r) => r.method === "GET").map((r) => r.query)).toEqual(["limit=100", "limit=100&offset=100", "limit=100&offset=200"]);
  });

  test("a project adopting a registry, with 2,100 orphans: every run records them all, within Convex's index-range limit", { timeout: 120_000 }, async () => {
    const t = initTestApp();
    server.seedFlags("1", Array.from({ length: 2_100 }, (_, i) => ({ key: `release_search_old_${i}` })));
    for (const run of [1, 2]) {
      // The second run finds each of them open: a lookup and a patch apiece, past 4,096 ranges in one transaction.
      const { result } = await sync(t);
      expect(result, `run ${run}`).toMatchObject({ status: "ok", orphans: 2_100 });
    }
    const shown = await report(t);
    expect(shown.findings).toHaveLength(500);
    expect(shown.findingsTruncated).toBe(true);
  });

  test("a dry run sends no write and answers what the real run then does", async () => {
    const t = initTestApp();
    server.seedFlags("1", [
      { key: "release_checkout_v2", name: "Old name", tags: ["team-a"] },
      { key: "Orphan-Key" },
    ]);
    const dry = await sync(t, { dryRun: true });
    expect(writes()).toEqual([]);
    expect(dry.result).toMatchObject({ dry_run: true, created: 3, reconciled: 1, orphans: 1, naming_violations: 1 });
    expect(dry.calls.filter(([name]) => name === "onCreate")).toHaveLength(3);
    expect((await report(t)).lastRuns.sync).toMatchObject({ status: "ok", dryRun: true });

    const real = await sync(t);
    expect(writes().map((r) => r.method)).toEqual(["POST", "POST", "POST", "PATCH"]);
    expect({ ...real.result, dry_run: true }).toEqual(dry.result);
    expect(real.calls).toEqual(dry.calls);
  });
});

describe("runFlagSync: when PostHog refuses", () => {
  test("without PostHog's tagging licence: tags_unsupported once, then no tag is sent again", async () => {
    const t = initTestApp();
    server.setAdminPolicy({ tagging: false });
    server.seedFlags("1", [{ key: "ops_search_killswitch", name: "Old" }]);
    const first = await sync(t);
    const posts = writes().filter((r) => r.method === "POST");
    // The first create carried tags and PostHog echoed none: no later write carries tags.
    expect(posts.map((r) => "tags" in (r.body as Json))).toEqual([true, false, false]);
    expect(writes().filter((r) => r.method === "PATCH").map((r) => r.body)).toEqual([{ name: "Turns search off" }]);
    expect(first.result.findings.map((f: Json) => [f.kind, f.key])).toEqual([["tags_unsupported", ""]]);
    expect(first.result.status).toBe("ok");

    const count = writes().length;
    const second = await sync(t);
    expect(writes()).toHaveLength(count);
    expect(second.result).toMatchObject({ created: 0, reconciled: 0 });
    const findings = (await report(t)).findings as Json[];
    expect(findings.filter((f) => f.kind === "tags_unsupported")).toEqual([
      expect.objectContaining({ source: "sync", key: "", detail: { detail: expect.stringContaining("not licensed") } }),
    ]);

    // Licensed again (a flag shows tags): tags are sent and the finding resolves.
    server.setAdminPolicy({ tagging: true });
    await rest("PATCH", `${FLAGS}${stored("legacy_banner")!.id}/`, { tags: ["naming-exempt"] });
    const third = await sync(t);
    expect(third.result.reconciled_keys.sort()).toEqual(["ops_search_killswitch", "release_checkout_v2"]);
    expect(writes().slice(-2).map((r) => (r.body as Json).tags)).toEqual(expect.arrayContaining([["checkout", "team-a", "guardian"], ["guardian"]]));
    expect(await openFindings(t)).toEqual([]);
  });

  test("a key without feature_flag:write: scope_missing with PostHog's detail, the run failed, nothing thrown; resolved once granted", async () => {
    const t = initTestApp();
    server.setAdminPolicy({ personalApiKeys: { [ADMIN_KEY]: ["feature_flag:read"], phx_definitions: ["feature_flag:read"] } });
    const { result } = await sync(t);
    expect(writes().map((r) => [r.method, r.status])).toEqual([["POST", 403]]);
    expect(result).toMatchObject({ status: "failed", created: 0 });
    expect(result.findings).toEqual([
      { kind: "scope_missing", key: "", detail: expect.objectContaining({ status: 403, detail: "API key missing required scope 'feature_flag:write'" }) },
    ]);
    const failed = await report(t);
    expect(failed.lastRuns.sync).toMatchObject({ status: "failed" });
    expect(failed.findings.map((f: Json) => f.kind)).toEqual(["scope_missing"]);

    server.setAdminPolicy({ personalApiKeys: { [ADMIN_KEY]: ["feature_flag:write"] } });
    expect((await sync(t)).result).toMatchObject({ status: "ok", created: 4 });
    expect(await openFindings(t)).toEqual([]);
  });

  test("a key that cannot even read: scope_missing from the list, nothing written", async () => {
    const t = initTestApp();
    server.setAdminPolicy({ personalApiKeys: { [ADMIN_KEY]: ["experiment:read"] } });
    const { result } = await sync(t);
    expect(writes()).toEqual([]);
    expect(result).toMatchObject({ status: "failed", posthog_size: 0, findings: [{ kind: "scope_missing", key: "" }] });
    expect(result.findings[0].detail.detail).toBe("API key missing required scope 'feature_flag:read'");
  });

  test("a 429 is retried after Retry-After; throttled past the retries the run is skipped with rate_limited", async () => {
    const t = initTestApp();
    server.addFaults({ path: FLAGS, status: 429, headers: { "Retry-After": "1" }, times: 1 });
    expect((await sync(t)).result).toMatchObject({ status: "ok", created: 4 });
    const [throttled, retried] = adminRequests();
    expect([throttled!.status, retried!.status, retried!.method]).toEqual([429, 200, "GET"]);
    expect(retried!.receivedAt - throttled!.receivedAt).toBeGreaterThanOrEqual(950);

    server.reset();
    server.addFaults({ path: FLAGS, status: 429, headers: { "Retry-After": "0" }, body: '{"type":"throttled_error","code":"throttled","detail":"Request was throttled."}' });
    const { result } = await sync(t);
    expect(adminRequests().map((r) => r.status)).toEqual([429, 429, 429, 429]);
    expect(result).toMatchObject({ status: "skipped", created: 0, findings: [{ kind: "rate_limited", key: "", detail: { status: 429, code: "throttled" } }] });
    expect((await report(t)).lastRuns.sync).toMatchObject({ status: "skipped" });
  });

  test("a create PostHog answers `unique` counts as done: a flag created while the run was listing", async () => {
    const t = initTestApp();
    const old = new Date(Date.UTC(2026, 0, 1)).toISOString();
    server.seedFlags("1", Array.from({ length: 100 }, (_, i) => ({ key: `release_search_old_${i}`, created_at: old })));
    // Page 1 answers at once; page 2 is held, and meanwhile someone creates a registry flag.
    // It is the newest, so it lands on page 1, which was already read: PostHog's offset paging misses it.
    server.addFaults({ path: FLAGS, hangMs: 1, times: 1 }, { path: FLAGS, hangMs: 500, times: 1 });
    const running = sync(t);
    await waitFor("the second page to be requested", () => adminRequests().length === 2);
    const [concurrent] = server.seedFlags("1", [{ key: "ops_search_killswitch", name: "Turns search off", tags: ["guardian"] }]);
    const { result } = await running;
    const posts = writes().filter((r) => r.method === "POST");
    expect(posts.map((r) => [(r.body as Json).key, r.status])).toEqual(REGISTRY_KEYS.map((key) => [key, key === "ops_search_killswitch" ? 400 : 201]));
    expect(server.projectFlags("1").filter((flag) => flag.key === "ops_search_killswitch")).toEqual([expect.objectContaining({ id: concurrent!.id })]);
    // Offset paging also showed one old flag twice (page 2 starts one later): it counts once.
    expect(result).toMatchObject({ status: "ok", posthog_size: 100, orphans: 100, created_keys: REGISTRY_KEYS.filter((key) => key !== "ops_search_killswitch") });
    expect(result.findings.filter((f: Json) => f.kind !== "orphan")).toEqual([]);
    // The next run sees it and has nothing left to do.
    const count = writes().length;
    await sync(t);
    expect(writes()).toHaveLength(count);
  });
});

describe("runFlagSync: configuration", () => {
  test("without a registry it throws a PostHogInputError naming `flags`, before any request", async () => {
    const t = initTestApp();
    await expect(sync(t, { plain: true })).rejects.toThrow(/^flags: runFlagSync syncs the flag registry/);
    expect(adminRequests()).toEqual([]);
  });

  test("without a project id it throws a PostHogInputError naming `projectId`", async () => {
    const t = initTestApp();
    vi.stubEnv("POSTHOG_PROJECT_ID", "");
    await expect(sync(t)).rejects.toThrow(/^projectId: flag governance needs the PostHog project id/);
    expect(adminRequests()).toEqual([]);
  });
});

describe("sync, refresh, evaluate", () => {
  test("created flags reach /flags/definitions inactive (false); a rollout made in PostHog then evaluates, and later syncs leave it alone", async () => {
    const t = initTestApp();
    server.setProject("1", { token: TOKEN });
    await sync(t);
    await t.action(api.flagSync.refresh, {});
    expect(await t.query(api.flagSync.read, { key: "release_checkout_v2", distinctId: "u1" })).toBe(false);
    expect(await t.query(api.flagSync.read, { key: "experiment_search_ranking", distinctId: "u1" })).toBe(false);

    // A person rolls both out in PostHog's UI.
    await rest("PATCH", `${FLAGS}${stored("release_checkout_v2")!.id}/`, { active: true, filters: { groups: [{ properties: [], rollout_percentage: 100 }] } });
    const ranking = stored("experiment_search_ranking")!;
    await rest("PATCH", `${FLAGS}${ranking.id}/`, {
      active: true,
      filters: { groups: [{ properties: [], rollout_percentage: 100 }], multivariate: ranking.filters.multivariate },
    });
    const count = writes().length;
    await sync(t);
    expect(writes()).toHaveLength(count);
    await t.action(api.flagSync.refresh, {});
    expect(await t.query(api.flagSync.read, { key: "release_checkout_v2", distinctId: "u1" })).toBe(true);
    const variant = await t.query(api.flagSync.read, { key: "experiment_search_ranking", distinctId: "u1" });
    expect(["control", "fast", "smart"]).toContain(variant);
  });
});

describe("flagGovernance: the report", () => {
  test("empty before any run; after a sync it shows the run, its findings and the kill list", async () => {
    const t = initTestApp();
    expect(await report(t)).toEqual({
      findings: [],
      findingsTruncated: false,
      lifecycle: [],
      guardian: [],
      killed: [],
      lastRuns: {},
      alerts: { pending: { count: 0, truncated: false }, dead: { count: 0, truncated: false } },
    });
    server.seedFlags("1", [{ key: "Bad-Key" }]);
    const { result } = await sync(t);
    await t.mutation(api.flagSync.kill, { key: "release_checkout_v2" });
    const after = await report(t);
    expect(after.lastRuns).toEqual({
      sync: { startedAt: expect.any(Number), finishedAt: expect.any(Number), status: "ok", dryRun: false, result: expect.objectContaining({ created: 4, orphan_keys: ["Bad-Key"] }) },
    });
    const { findings, ...counts } = result;
    expect(after.lastRuns.sync.result).toEqual(counts);
    expect(findings).toHaveLength(2);
    expect(after.findings.map((f: Json) => [f.kind, f.key]).sort()).toEqual([
      ["naming_violation", "Bad-Key"],
      ["orphan", "Bad-Key"],
    ]);
    expect(after.killed).toEqual([{ key: "release_checkout_v2", reason: "errors", at: expect.any(Number) }]);
  });
});
