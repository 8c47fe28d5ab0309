// The release tracker against the local server's PostHog REST API: which flags count as released
// under each rule, experiments and their conclusions, stale/overdue/unused with renotification
// spacing, dry runs, and that PostHog is only ever read.
import { afterEach, describe, expect, test, vi } from "vitest";
import { api } from "../_generated/api.js";
import { buildNamingRegex } from "../../core/flagRegistry.js";
import { initComponent, useLocalPostHog } from "../../testing/setup.js";

const server = useLocalPostHog();
const PROJECT = "7";
const DAY = 24 * 60 * 60 * 1000;
const naming = { pattern: buildNamingRegex(["ui"]).source, exemptTag: "naming-exempt" };
type T = ReturnType<typeof initComponent>;
type Registry = { key: string; description: string; owner: string; sunsetTarget?: string; tags?: string[] }[];

const admin = () => ({ appHost: server.url, projectId: PROJECT, environmentId: PROJECT, apiKey: "phx_admin" });
const entry = (key: string, extra: Partial<Registry[number]> = {}) => ({ key, description: key, owner: "@team", ...extra });
const run = (t: T, options: { registry?: Registry; releaseRule?: "constant_for_everyone" | "toolkit"; dryRun?: boolean; staleThresholdDays?: number } = {}) =>
  t.action(api.governance.releases.run, { admin: admin(), naming, registry: options.registry ?? [], ...options });
const lifecycle = (t: T) => t.run(async (ctx) => await ctx.db.query("flagLifecycle").collect());
const lifecycleOf = async (t: T, key: string) => (await lifecycle(t)).find((row) => row.key === key);
const openFindings = (t: T) =>
  t.run(async (ctx) => (await ctx.db.query("governanceFindings").collect()).filter((f) => f.resolvedAt === undefined).map((f) => `${f.kind}:${f.key}`).sort());
const daysAgo = (days: number) => new Date(Date.now() - days * DAY).toISOString();
const everyone = (rollout: number | null = 100) => ({ groups: [{ properties: [], rollout_percentage: rollout }] });
const staff = [{ key: "email", type: "person", value: "@company.com", operator: "icontains" }];
const splitVariants = { variants: [{ key: "control", rollout_percentage: 50 }, { key: "test", rollout_percentage: 50 }] };

/** The tracker never writes to PostHog: every admin request it sent was a GET. */
function expectOnlyReads() {
  const admins = server.requests().filter((request) => request.path.startsWith("/api/"));
  expect(admins.length).toBeGreaterThan(0);
  expect(admins.filter((request) => request.method !== "GET")).toEqual([]);
}

afterEach(() => {
  vi.useRealTimers();
});

describe("release rule", () => {
  // key: [released under ours, released under the toolkit's]
  const matrix: Record<string, [unknown, boolean, boolean]> = {
    release_ui_staff_only: [{ groups: [{ properties: staff, rollout_percentage: 100 }] }, false, true],
    release_ui_everyone_beta_off: [{ groups: [{ properties: [], rollout_percentage: 100 }, { properties: staff, rollout_percentage: 0 }] }, true, false],
    release_ui_null_rollout: [everyone(null), true, true],
    release_ui_half: [everyone(50), false, false],
    experiment_ui_override: [{ groups: [{ properties: [], rollout_percentage: 100, variant: "test" }], multivariate: splitVariants }, true, true],
    experiment_ui_split: [{ groups: [{ properties: [], rollout_percentage: 100 }], multivariate: splitVariants }, false, true],
    release_ui_holdout: [{ ...everyone(), holdout: { id: 3, exclusion_percentage: 10 } }, false, true],
  };
  const seed = () =>
    server.seedFlags(PROJECT, [
      ...Object.entries(matrix).map(([key, [filters]]) => ({ key, filters: filters as never })),
      { key: "release_ui_off", filters: everyone(), active: false },
    ]);

  test.each([
    ["constant_for_everyone", 1],
    ["toolkit", 2],
  ] as const)("under %s, exactly the flags the rule names are new releases, recorded with their value", async (rule, column) => {
    seed();
    const t = initComponent();
    const result = await run(t, { releaseRule: rule });
    const expected = Object.entries(matrix).filter(([, row]) => row[column]).map(([key]) => key).sort();
    expect(result.digest.newFlagReleases.map((release) => release.key)).toEqual(expected);
    expect(result).toMatchObject({ flags_checked: 8, new_flag_releases: expected.length, new_experiment_releases: 0 });
    expect((await lifecycle(t)).filter((row) => row.releasedAt !== undefined).map((row) => row.key).sort()).toEqual(expected);
    expect(await lifecycleOf(t, "experiment_ui_override")).toMatchObject({ releaseKind: "flag", releasedValue: '"test"', releasedAt: expect.any(Number) });
    expectOnlyReads();
  });

  test("a release is reported once, across runs and across two runs racing each other", async () => {
    server.seedFlags(PROJECT, [{ key: "release_ui_done", filters: everyone() }]);
    const t = initComponent();
    const [a, b] = await Promise.all([run(t), run(t)]);
    expect(a.new_flag_releases + b.new_flag_releases).toBe(1);
    const releasedAt = (await lifecycleOf(t, "release_ui_done"))!.releasedAt;
    const third = await run(t);
    expect(third.new_flag_releases).toBe(0);
    expect(third.digest.newFlagReleases).toEqual([]);
    expect((await lifecycleOf(t, "release_ui_done"))!.releasedAt).toBe(releasedAt);
    expectOnlyReads();
  });
});

describe("experiments", () => {
  const seedExperiments = () => {
    server.seedFlags(PROJECT, [
      { key: "experiment_ui_won", filters: { groups: [{ properties: [], rollout_percentage: 100, variant: "test" }], multivariate: splitVariants } as never },
      { key: "experiment_ui_lost", filters: { ...everyone(), multivariate: splitVariants } as never, active: false },
      { key: "experiment_ui_stopped", filters: { ...everyone(), multivariate: splitVariants } as never },
      { key: "experiment_ui_archived", filters: { ...everyone(), multivariate: splitVariants } as never },
      { key: "experiment_ui_running", filters: { ...everyone(), multivariate: splitVariants } as never },
    ]);
    server.seedExperiments(PROJECT, [
      { name: "Won", feature_flag_key: "experiment_ui_won", start_date: daysAgo(20), end_date: daysAgo(1), status: "stopped", conclusion: "won" },
      { name: "Lost", feature_flag_key: "experiment_ui_lost", start_date: daysAgo(20), end_date: daysAgo(1), conclusion: "lost" },
      { name: "Stopped", feature_flag_key: "experiment_ui_stopped", start_date: daysAgo(20), end_date: null, status: "stopped" },
      { name: "Archived", feature_flag_key: "experiment_ui_archived", start_date: daysAgo(20), end_date: daysAgo(1), archived: true },
      { name: "Running", feature_flag_key: "experiment_ui_running", start_date: daysAgo(2), end_date: null, status: "running" },
    ]);
  };

  test("ended experiments are reported once with their conclusion; only the shipped one is a release", async () => {
    seedExperiments();
    const t = initComponent();
    const result = await run(t);
    expect(result.experiments_checked).toBe(5);
    expect(result.digest.concludedExperiments).toEqual([
      { key: "experiment_ui_lost", name: "Lost", conclusion: "lost", rollout: "rolled_back" },
      { key: "experiment_ui_stopped", name: "Stopped", conclusion: null, rollout: "undecided" },
      { key: "experiment_ui_won", name: "Won", conclusion: "won", rollout: "shipped" },
    ]);
    expect(result.digest.newExperimentReleases).toEqual([{ key: "experiment_ui_won", name: "experiment_ui_won", type: "experiment" }]);
    // The shipped flag also meets the flag rule: listed once, as the experiment's release.
    expect(result.digest.newFlagReleases).toEqual([]);
    expect(await lifecycleOf(t, "experiment_ui_won")).toMatchObject({ releaseKind: "experiment", experimentConclusion: "won", releasedValue: '"test"' });
    expect((await lifecycleOf(t, "experiment_ui_lost"))?.releasedAt).toBeUndefined();

    const again = await run(t);
    expect(again.digest.concludedExperiments).toEqual([]);
    expect(again.new_experiment_releases).toBe(0);
    expectOnlyReads();
  });

  test("under the toolkit's rule every experiment past its end date is a release, a lost one included", async () => {
    seedExperiments();
    const t = initComponent();
    const result = await run(t, { releaseRule: "toolkit" });
    expect(result.digest.newExperimentReleases.map((release) => release.key)).toEqual(["experiment_ui_lost", "experiment_ui_won"]);
    expect(result.digest.concludedExperiments.map((experiment) => experiment.key)).toEqual(["experiment_ui_lost", "experiment_ui_won"]);
  });

  test("without experiment:read the run reports experiments_unavailable instead of no experiments, and resolves it once readable", async () => {
    seedExperiments();
    server.setAdminPolicy({ personalApiKeys: { phx_admin: ["feature_flag:read"] } });
    const t = initComponent();
    const result = await run(t);
    expect(result.experiments_checked).toBe(0);
    expect(result.findings).toContainEqual({ kind: "experiments_unavailable", key: "", detail: expect.stringContaining("HTTP 403 forbidden") });
    expect(await openFindings(t)).toContain("experiments_unavailable:");
    expect(result.digest.concludedExperiments).toEqual([]);

    server.setAdminPolicy({ personalApiKeys: { phx_admin: ["feature_flag:read", "experiment:read"] } });
    const later = await run(t);
    expect(later.digest.concludedExperiments).toHaveLength(3);
    expect(await openFindings(t)).not.toContain("experiments_unavailable:");
  });
});

describe("stale, overdue and unused flags", () => {
  test("a flag released N days ago is stale, notified again only every renotifyEveryDays; ops flags never", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const start = Date.now();
    server.seedFlags(PROJECT, [
      { key: "release_ui_done", filters: everyone() },
      { key: "ops_ui_killswitch", filters: everyone() },
    ]);
    const t = initComponent();
    const at = async (days: number) => {
      vi.setSystemTime(start + days * DAY);
      return await run(t);
    };
    expect((await at(0)).stale_flags_notified).toBe(0);
    expect((await at(29)).stale_flags_notified).toBe(0);
    const day30 = await at(30);
    expect(day30.digest.staleFlags).toEqual([{ key: "release_ui_done", name: "release_ui_done", daysSinceRelease: 30 }]);
    expect(day30.stale_flags_notified).toBe(1);
    const day45 = await at(45);
    expect(day45.stale_flags_notified).toBe(0);
    expect(day45.findings.filter((finding) => finding.kind === "stale").map((finding) => finding.key)).toEqual(["release_ui_done"]);
    expect((await at(60)).digest.staleFlags).toEqual([{ key: "release_ui_done", name: "release_ui_done", daysSinceRelease: 60 }]);
    expect(await lifecycleOf(t, "release_ui_done")).toMatchObject({ releasedAt: start, lastStaleNoticeAt: start + 60 * DAY });
    expectOnlyReads();
  });

  test("PostHog's STALE (fully rolled out, created over 30 days ago) counts from creation", async () => {
    server.seedFlags(PROJECT, [{ key: "release_ui_old", filters: everyone(), created_at: daysAgo(40) }]);
    const t = initComponent();
    const result = await run(t);
    expect(result.digest.newFlagReleases.map((release) => release.key)).toEqual(["release_ui_old"]);
    expect(result.digest.staleFlags).toEqual([{ key: "release_ui_old", name: "release_ui_old", daysSinceRelease: 40 }]);
  });

  test("an overdue sunset is reported with its owner, again only after renotifyEveryDays", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const start = Date.UTC(2026, 11, 1, 12);
    vi.setSystemTime(start);
    server.seedFlags(PROJECT, [{ key: "release_ui_old", filters: everyone(50) }]);
    const registry = [entry("release_ui_old", { sunsetTarget: "2026-11-15", owner: "@ana" }), entry("release_ui_later", { sunsetTarget: "2027-01-01" })];
    const t = initComponent();
    const first = await run(t, { registry });
    expect(first.digest.overdueSunsets).toEqual([{ key: "release_ui_old", sunsetTarget: "2026-11-15", daysOverdue: 15 }]);
    expect(first.findings).toContainEqual({ kind: "overdue_sunset", key: "release_ui_old", detail: JSON.stringify({ sunsetTarget: "2026-11-15", daysOverdue: 15, owner: "@ana" }) });
    vi.setSystemTime(start + 10 * DAY);
    expect((await run(t, { registry })).digest.overdueSunsets).toEqual([]);
    vi.setSystemTime(start + 32 * DAY); // 2027-01-02: the later target passed too
    expect((await run(t, { registry })).digest.overdueSunsets).toEqual([
      { key: "release_ui_later", sunsetTarget: "2027-01-01", daysOverdue: 0 },
      { key: "release_ui_old", sunsetTarget: "2026-11-15", daysOverdue: 47 },
    ]);
  });

  test("a registry flag is unused after N days watched with no exposure recorded; an exposure keeps it in use", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const start = Date.now();
    server.seedFlags(PROJECT, [
      { key: "release_ui_quiet", filters: everyone(50), created_at: daysAgo(90) },
      { key: "release_ui_busy", filters: everyone(50), created_at: daysAgo(90) },
      { key: "release_ui_off", filters: everyone(50), created_at: daysAgo(90), active: false },
    ]);
    const registry = [entry("release_ui_quiet"), entry("release_ui_busy"), entry("release_ui_off")];
    const t = initComponent();
    expect((await run(t, { registry })).digest.unusedFlags).toEqual([]); // watching starts now
    // The run switched the sender's exposure tracking (flagUsage) on.
    expect((await t.run(async (ctx) => await ctx.db.query("guardianWatch").first()))?.usage).toBe(true);
    vi.setSystemTime(start + 31 * DAY);
    await t.run(async (ctx) => {
      await ctx.db.insert("flagUsage", { key: "release_ui_busy", lastExposureAt: start + 20 * DAY });
    });
    const later = await run(t, { registry });
    expect(later.digest.unusedFlags).toEqual([{ key: "release_ui_quiet" }]);
    vi.setSystemTime(start + 51 * DAY);
    const after = await run(t, { registry });
    expect(after.digest.unusedFlags).toEqual([{ key: "release_ui_busy", lastExposureAt: start + 20 * DAY }]); // quiet: notified 20 days ago
    expect(after.findings.filter((finding) => finding.kind === "unused").map((finding) => finding.key)).toEqual(["release_ui_quiet", "release_ui_busy"]);
  });
});

describe("orphans, naming, dry runs and run records", () => {
  test("orphans and naming violations are counted every run and listed in the digest when new", async () => {
    server.seedFlags(PROJECT, [
      { key: "release_ui_known", filters: everyone(50) },
      { key: "release_ui_stray", filters: everyone(50) },
      { key: "BadKey", filters: everyone(50) },
      { key: "legacy-flag", filters: everyone(50), tags: ["naming-exempt"] },
    ]);
    const registry = [entry("release_ui_known")];
    const t = initComponent();
    const first = await run(t, { registry });
    expect(first).toMatchObject({ orphans: 3, naming_violations: 1 });
    expect(first.digest.orphans).toEqual([{ key: "BadKey" }, { key: "legacy-flag" }, { key: "release_ui_stray" }]);
    expect(first.digest.namingViolations).toEqual([{ key: "BadKey" }]);
    expect(await openFindings(t)).toEqual(["naming_violation:BadKey", "orphan:BadKey", "orphan:legacy-flag", "orphan:release_ui_stray"]);
    const second = await run(t, { registry });
    expect(second).toMatchObject({ orphans: 3, naming_violations: 1 });
    expect(second.digest.orphans).toEqual([]);
    expect(second.digest.namingViolations).toEqual([]);
    // Registered now: the orphan finding is resolved.
    await run(t, { registry: [...registry, entry("release_ui_stray")] });
    expect(await openFindings(t)).not.toContain("orphan:release_ui_stray");
  });

  test("a dry run reports what a run would, and writes no lifecycle state or findings", async () => {
    server.seedFlags(PROJECT, [{ key: "release_ui_done", filters: everyone() }, { key: "stray", filters: everyone(50) }]);
    const t = initComponent();
    const dry = await run(t, { dryRun: true });
    expect(dry).toMatchObject({ dryRun: true, new_flag_releases: 1, orphans: 2 });
    expect(await lifecycle(t)).toEqual([]);
    expect(await t.run(async (ctx) => await ctx.db.query("governanceFindings").collect())).toEqual([]);
    expect(await t.run(async (ctx) => await ctx.db.query("guardianWatch").first())).toBeNull();
    const real = await run(t);
    expect(real).toMatchObject({ dryRun: false, new_flag_releases: 1 });
    const runs = await t.run(async (ctx) => await ctx.db.query("governanceRuns").collect());
    expect(runs.map((r) => [r.tool, r.status, r.dryRun])).toEqual([
      ["releases", "ok", true],
      ["releases", "ok", false],
    ]);
    expect(JSON.parse(runs[1]!.result!)).toMatchObject({ flags_checked: 2, new_flag_releases: 1, orphans: 2 });
    expectOnlyReads();
  });

  test("a refused flag list fails the run with PostHog's reason, recorded, and the key named nowhere", async () => {
    server.setAdminPolicy({ personalApiKeys: { phx_other: ["feature_flag:read"] } });
    const t = initComponent();
    const failed = run(t);
    await expect(failed).rejects.toThrow(/listing PostHog's flags failed: HTTP 401/);
    const [record] = await t.run(async (ctx) => await ctx.db.query("governanceRuns").collect());
    expect(record).toMatchObject({ tool: "releases", status: "failed", error: expect.stringContaining("HTTP 401") });
    expect(record!.error).not.toContain("phx_admin");
  });
});
