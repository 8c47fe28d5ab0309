// PostHog's REST API for feature flags and experiments as the local server answers it, over
// real HTTP on 127.0.0.1: shapes, paging, filters, validation, approvals, scopes, tagging,
// throttles, the store feeding /flags/definitions, the Slack sink and the control API.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { startLocalPostHog, type LocalPostHog } from "./server.js";

let server: LocalPostHog;
beforeAll(async () => {
  server = await startLocalPostHog();
});
afterAll(() => server.close());
afterEach(() => server.reset());

const KEY = "phx_admin";
const FLAGS = "/api/projects/1/feature_flags/";
const DAY = 24 * 60 * 60 * 1000;
const daysAgo = (days: number) => new Date(Date.now() - days * DAY).toISOString();

async function call(method: string, path: string, body?: unknown, key: string | null = KEY) {
  const res = await fetch(server.url + path, {
    method,
    headers: {
      ...(key === null ? {} : { Authorization: `Bearer ${key}` }),
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
    },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text === "" ? undefined : JSON.parse(text) };
}

const get = (path: string, key?: string | null) => call("GET", path, undefined, key);
const post = (path: string, body: unknown, key?: string | null) => call("POST", path, body, key);
const patch = (path: string, body: unknown, key?: string | null) => call("PATCH", path, body, key);

const rollout = (percentage: number, properties: Record<string, unknown>[] = []) => ({ groups: [{ properties, rollout_percentage: percentage }] });

async function createFlag(key: string, extra: Record<string, unknown> = {}) {
  const res = await post(FLAGS, { key, name: `${key} flag`, filters: rollout(50), ...extra });
  expect(res.status).toBe(201);
  return res.body as { id: number; key: string; version: number } & Record<string, unknown>;
}

describe("feature flags: create, get, list", () => {
  test("POST answers 201 with PostHog's serializer shape; GET returns the same flag", async () => {
    const created = await post(FLAGS, {
      key: "new-checkout",
      name: "New checkout",
      filters: { groups: [{ properties: [], rollout_percentage: 25 }], payloads: { true: { color: "red" } } },
      tags: ["Checkout ", "checkout", "team-a"],
      _should_create_usage_dashboard: false,
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      id: expect.any(Number),
      key: "new-checkout",
      name: "New checkout",
      // A dict payload is stored as JSON text, as PostHog does.
      filters: { groups: [{ properties: [], rollout_percentage: 25 }], payloads: { true: '{"color":"red"}' } },
      active: true,
      deleted: false,
      tags: ["checkout", "team-a"],
      version: 1,
      ensure_experience_continuity: false,
      evaluation_runtime: "all",
      status: "ACTIVE",
      is_simple_flag: true,
      rollout_percentage: 25,
      experiment_set: [],
      performed_rollback: false,
      last_called_at: null,
      created_by: expect.objectContaining({ email: expect.any(String) }),
    });
    expect(Date.parse(created.body.created_at)).toBeGreaterThan(Date.now() - 60_000);
    expect(created.body.updated_at).toBe(created.body.created_at);

    const fetched = await get(`${FLAGS}${created.body.id}/`);
    expect(fetched).toMatchObject({ status: 200, body: created.body });
    expect((await get(`${FLAGS}999/`)).body).toEqual({ type: "invalid_request", code: "not_found", detail: "Not found.", attr: null });
  });

  test("the list pages by limit/offset (default 100) with absolute next/previous, newest first, deleted flags left out", async () => {
    server.seedFlags(
      "1",
      Array.from({ length: 105 }, (_, i) => ({ key: `flag-${i}`, created_at: new Date(Date.UTC(2026, 0, 1) + i * 60_000).toISOString() })),
    );
    server.seedFlags("1", [{ key: "gone", deleted: true }]);
    const first = await get(FLAGS);
    expect(first.body.count).toBe(105);
    expect(first.body.results).toHaveLength(100);
    expect(first.body.results[0].key).toBe("flag-104");
    expect(first.body.previous).toBeNull();
    expect(first.body.next).toBe(`${server.url}${FLAGS}?limit=100&offset=100`);

    const second = await fetch(first.body.next, { headers: { Authorization: `Bearer ${KEY}` } }).then((r) => r.json());
    expect(second.results.map((f: { key: string }) => f.key)).toEqual(["flag-4", "flag-3", "flag-2", "flag-1", "flag-0"]);
    expect(second.next).toBeNull();
    expect(second.previous).toBe(`${server.url}${FLAGS}?limit=100`);

    const small = await get(`${FLAGS}?limit=2&offset=2&search=flag-10`);
    expect(small.body).toMatchObject({ count: 6, next: `${server.url}${FLAGS}?limit=2&offset=4&search=flag-10` });
    expect(small.body.results.map((f: { key: string }) => f.key)).toEqual(["flag-102", "flag-101"]);
  });

  test("filters: active true/false/STALE, search on key and name, tags as a JSON list (anything else ignored)", async () => {
    server.seedFlags("1", [
      { key: "on", name: "Billing switch", tags: ["billing"], filters: rollout(30) },
      { key: "off", active: false, tags: ["guardian", "billing"] },
      { key: "released", created_at: daysAgo(40), last_called_at: daysAgo(1), filters: rollout(100) },
      { key: "targeted-100", created_at: daysAgo(40), last_called_at: daysAgo(1), filters: rollout(100, [{ key: "email", value: "@x", operator: "icontains", type: "person" }]) },
      { key: "young-100", filters: rollout(100) },
    ]);
    const keys = async (query: string) => ((await get(`${FLAGS}?${query}`)).body.results as { key: string }[]).map((f) => f.key).sort();
    expect(await keys("active=true")).toEqual(["on", "released", "targeted-100", "young-100"]);
    expect(await keys("active=false")).toEqual(["off"]);
    expect(await keys("active=STALE")).toEqual(["released"]);
    expect(await keys("search=BILLING")).toEqual(["on"]);
    expect(await keys(`tags=${encodeURIComponent('["guardian"]')}`)).toEqual(["off"]);
    expect(await keys(`tags=${encodeURIComponent('["billing","nope"]')}`)).toEqual(["off", "on"]);
    // The toolkit's ?tags=guardian is not JSON: PostHog ignores it and filters nothing.
    expect(await keys("tags=guardian")).toHaveLength(5);
  });

  test("status follows PostHog's rules: INACTIVE before STALE, and /status/ gives the reason", async () => {
    const [active, stale, neverCalled, notCalled, deleted, variant] = server.seedFlags("1", [
      { key: "active", filters: rollout(100) },
      { key: "stale", created_at: daysAgo(31), last_called_at: daysAgo(2), filters: rollout(100) },
      { key: "never-called", created_at: daysAgo(31), filters: rollout(100) },
      { key: "not-called", created_at: daysAgo(90), last_called_at: daysAgo(45), filters: rollout(10) },
      { key: "deleted", deleted: true },
      {
        key: "variant",
        created_at: daysAgo(60),
        last_called_at: daysAgo(1),
        filters: {
          groups: [{ properties: [], rollout_percentage: 100 }],
          multivariate: { variants: [{ key: "a", rollout_percentage: 0 }, { key: "b", rollout_percentage: 100 }] },
        },
      },
    ]);
    const status = async (id: number) => (await get(`${FLAGS}${id}/status/`)).body;
    expect(await status(active!.id)).toEqual({ status: "ACTIVE", reason: "Flag is active and being evaluated" });
    expect(await status(stale!.id)).toEqual({ status: "STALE", reason: 'This boolean flag will always evaluate to "true"' });
    expect(await status(neverCalled!.id)).toEqual({ status: "INACTIVE", reason: "Flag has never been called and is over 30 days old" });
    expect(await status(notCalled!.id)).toEqual({ status: "INACTIVE", reason: "Flag has not been called in 45 days" });
    expect(await status(deleted!.id)).toEqual({ status: "DELETED", reason: "Flag has been deleted" });
    expect(await status(variant!.id)).toEqual({ status: "STALE", reason: 'This flag will always use the variant "b"' });
    expect((await get(`${FLAGS}${stale!.id}/`)).body.status).toBe("STALE");
  });
});

describe("feature flags: validation", () => {
  const invalid = (detail: string, code = "invalid_input", attr: string | null = "filters") => ({ type: "validation_error", code, detail, attr });

  test.each([
    ["a key with a space", { key: "new checkout", filters: rollout(0) }, invalid("Only letters, numbers, hyphens (-) & underscores (_) are allowed.", "invalid_key", "key")],
    ["no key", { filters: rollout(0) }, invalid("This field is required.", "required", "key")],
    ["no group", { key: "k", filters: { groups: [] } }, invalid("Feature flags must have at least one condition set (group).", "invalid_input", null)],
    [
      "variants not summing to 100",
      { key: "k", filters: { groups: [{ properties: [], rollout_percentage: 100 }], multivariate: { variants: [{ key: "a", rollout_percentage: 50 }, { key: "b", rollout_percentage: 40 }] } } },
      invalid("Invalid variant definitions: Variant rollout percentages must sum to 100."),
    ],
    [
      "a group overriding an unknown variant",
      { key: "k", filters: { groups: [{ properties: [], rollout_percentage: 100, variant: "c" }], multivariate: { variants: [{ key: "a", rollout_percentage: 100 }] } } },
      invalid("Filters are not valid (variant override does not exist)"),
    ],
    ["a boolean payload key other than true", { key: "k", filters: { ...rollout(0), payloads: { false: "1" } } }, invalid("Payload keys must be 'true' for boolean flags")],
    [
      "a multivariate payload for no variant",
      { key: "k", filters: { groups: [{ properties: [], rollout_percentage: 100 }], multivariate: { variants: [{ key: "a", rollout_percentage: 100 }] }, payloads: { b: "1" } } },
      invalid("Payload keys must match a variant key for multivariate flags"),
    ],
    ["a payload that is not JSON", { key: "k", filters: { ...rollout(0), payloads: { true: "{nope" } } }, invalid("Payload value is not valid JSON")],
    [
      "a group property without aggregation",
      { key: "k", filters: rollout(100, [{ key: "plan", value: "pro", type: "group", group_type_index: 0 }]) },
      invalid("Filters are not valid (can only use person, cohort, and flag properties)"),
    ],
  ])("POST with %s answers 400 in PostHog's envelope and stores nothing", async (_name, body, expected) => {
    const res = await post(FLAGS, body);
    expect(res).toMatchObject({ status: 400, body: expected });
    expect(server.projectFlags("1")).toEqual([]);
  });

  test("a key already used answers 400 unique; a soft-deleted flag's key can be reused", async () => {
    await createFlag("dup");
    expect(await post(FLAGS, { key: "dup", filters: rollout(0) })).toMatchObject({
      status: 400,
      body: { type: "validation_error", code: "unique", detail: "There is already a feature flag with this key.", attr: "key" },
    });
    server.seedFlags("1", [{ key: "old", deleted: true }]);
    expect((await post(FLAGS, { key: "old", filters: rollout(0) })).status).toBe(201);
    expect(server.projectFlags("1").filter((f) => f.key === "old")).toHaveLength(1);
  });

  test("a malformed JSON body answers 400 parse_error", async () => {
    const res = await call("POST", FLAGS, "{not json");
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ type: "validation_error", code: "parse_error" });
  });
});

describe("feature flags: patch and activity", () => {
  test("PATCH bumps version, keeps filters when the body has no groups, and logs each changed field", async () => {
    const flag = await createFlag("rollout");
    const renamed = await patch(`${FLAGS}${flag.id}/`, { name: "Renamed", filters: { payloads: {} } });
    expect(renamed).toMatchObject({ status: 200, body: { name: "Renamed", version: 2, filters: rollout(50) } });
    const disabled = await patch(`${FLAGS}${flag.id}/`, { active: false });
    expect(disabled.body).toMatchObject({ active: false, version: 3 });
    expect(Date.parse(disabled.body.updated_at)).toBeGreaterThanOrEqual(Date.parse(renamed.body.updated_at));

    const activity = await get(`${FLAGS}${flag.id}/activity/`);
    expect(activity.body).toMatchObject({ total_count: 3, next: null, previous: null });
    expect(activity.body.results.map((e: { activity: string }) => e.activity)).toEqual(["updated", "updated", "created"]);
    expect(activity.body.results[0]).toMatchObject({
      scope: "FeatureFlag",
      item_id: String(flag.id),
      detail: { name: "rollout", changes: [{ type: "FeatureFlag", action: "changed", field: "active", before: true, after: false }] },
    });
    expect(activity.body.results[1].detail.changes).toEqual([
      { type: "FeatureFlag", action: "changed", field: "name", before: "rollout flag", after: "Renamed" },
    ]);

    const paged = await get(`${FLAGS}${flag.id}/activity/?limit=2`);
    expect(paged.body.results).toHaveLength(2);
    expect(paged.body.next).toBe(`${server.url}${FLAGS}${flag.id}/activity/?limit=2&page=2`);
    const last = await get(`${FLAGS}${flag.id}/activity/?limit=2&page=2`);
    expect(last.body).toMatchObject({ next: null, previous: `${server.url}${FLAGS}${flag.id}/activity/?limit=2&page=1` });
    expect(last.body.results[0].activity).toBe("created");
  });

  test("PATCH validates like POST; active: true clears performed_rollback", async () => {
    const [rolledBack] = server.seedFlags("1", [{ key: "rolled-back", active: false, performed_rollback: true }]);
    const other = await createFlag("other");
    expect(await patch(`${FLAGS}${other.id}/`, { key: "rolled-back" })).toMatchObject({ status: 400, body: { code: "unique", attr: "key" } });
    expect(await patch(`${FLAGS}${other.id}/`, { filters: { groups: [{ rollout_percentage: 100, variant: "x" }] } })).toMatchObject({
      status: 400,
      body: { detail: "Filters are not valid (variant override does not exist)" },
    });
    expect(server.projectFlags("1").find((f) => f.id === other.id)).toMatchObject({ version: 1, key: "other" });
    const enabled = await patch(`${FLAGS}${rolledBack!.id}/`, { active: true });
    expect(enabled.body).toMatchObject({ active: true, performed_rollback: false, version: 2 });
  });

  test("disabling a flag other active flags depend on answers PostHog's 400; dependent_flags lists them", async () => {
    const base = await createFlag("base");
    const dependsOn = [{ key: String(base.id), type: "flag", value: true, operator: "flag_evaluates_to" }];
    const child = await createFlag("child", { filters: rollout(100, dependsOn) });
    await createFlag("inactive-child", { active: false, filters: rollout(100, dependsOn) });
    expect((await get(`${FLAGS}${base.id}/dependent_flags/`)).body).toEqual([{ id: child.id, key: "child", name: "child flag" }]);
    const refused = await patch(`${FLAGS}${base.id}/`, { active: false });
    expect(refused).toMatchObject({
      status: 400,
      body: {
        type: "validation_error",
        detail: `Cannot disable this feature flag because other flags depend on it: child (ID: ${child.id}). Please update or disable the dependent flags first.`,
      },
    });
    expect(server.projectFlags("1").find((f) => f.id === base.id)).toMatchObject({ active: true, version: 1 });
    // PostHog's approval gate comes before the dependants check.
    server.setAdminPolicy({ approvals: { "feature_flag.disable": "require_approval" } });
    expect((await patch(`${FLAGS}${base.id}/`, { active: false })).body.code).toBe("approval_required");
    server.setAdminPolicy(undefined);
    await patch(`${FLAGS}${child.id}/`, { active: false });
    expect((await patch(`${FLAGS}${base.id}/`, { active: false })).status).toBe(200);
  });

  test("a flag property must name an existing flag id with flag_evaluates_to", async () => {
    expect(await post(FLAGS, { key: "k", filters: rollout(100, [{ key: "42", type: "flag", value: true, operator: "flag_evaluates_to" }]) })).toMatchObject({
      status: 400,
      body: { detail: "Flag dependency references non-existent flag with ID 42" },
    });
    expect(await post(FLAGS, { key: "k", filters: rollout(100, [{ key: "1", type: "flag", value: true, operator: "exact" }]) })).toMatchObject({
      status: 400,
      body: { detail: "Flag properties must use the 'flag_evaluates_to' operator" },
    });
  });
});

describe("approval policy", () => {
  test("a gated disable answers 409 approval_required, then change_request_pending, and changes nothing", async () => {
    const flag = await createFlag("guarded");
    server.setAdminPolicy({ approvals: { "feature_flag.disable": "require_approval" } });
    const first = await patch(`${FLAGS}${flag.id}/`, { active: false });
    expect(first).toMatchObject({
      status: 409,
      body: {
        code: "approval_required",
        status: "approval_required",
        resource_type: "feature_flag",
        resource_id: String(flag.id),
        change_request_id: expect.any(String),
        change_request: { action_key: "feature_flag.disable", state: "pending", intent: { active: false } },
        required_approvers: {},
      },
    });
    const second = await patch(`${FLAGS}${flag.id}/`, { active: false });
    expect(second).toMatchObject({
      status: 409,
      body: { code: "change_request_pending", change_request_id: first.body.change_request_id },
    });
    expect(server.changeRequests("1")).toHaveLength(1);
    expect(server.projectFlags("1")[0]).toMatchObject({ active: true, version: 1 });
    // Other changes are not gated by a disable policy.
    expect((await patch(`${FLAGS}${flag.id}/`, { name: "still editable" })).status).toBe(200);
  });

  test("a denying policy answers 403", async () => {
    const flag = await createFlag("locked");
    server.setAdminPolicy({ approvals: { "feature_flag.update": "deny" } });
    const res = await patch(`${FLAGS}${flag.id}/`, { name: "x" });
    expect(res).toMatchObject({ status: 403, body: { type: "authentication_error", code: "permission_denied" } });
    expect(res.body.detail).toMatch(/^This action is not allowed by approval policy/);
  });
});

describe("authentication, scopes, tagging, throttles", () => {
  test("no Authorization header answers 401", async () => {
    expect(await get(FLAGS, null)).toMatchObject({
      status: 401,
      body: { type: "authentication_error", code: "not_authenticated", detail: "Authentication credentials were not provided." },
    });
  });

  test("with personalApiKeys, an unknown key is 401 and a missing scope is 403 naming it", async () => {
    server.seedFlags("1", [{ key: "f" }]);
    server.setAdminPolicy({
      personalApiKeys: { phx_read: ["feature_flag:read"], phx_write: ["feature_flag:write"], phx_all: ["*"] },
    });
    expect(await get(FLAGS, "phx_unknown")).toMatchObject({ status: 401, body: { code: "authentication_failed" } });
    const missing = (scope: string) => ({ status: 403, body: { type: "authentication_error", detail: `API key missing required scope '${scope}'` } });
    expect(await post(FLAGS, { key: "k", filters: rollout(0) }, "phx_read")).toMatchObject(missing("feature_flag:write"));
    expect(await patch(`${FLAGS}1/`, { active: false }, "phx_read")).toMatchObject(missing("feature_flag:write"));
    expect(await get(`${FLAGS}1/activity/`, "phx_read")).toMatchObject(missing("activity_log:read"));
    expect(await get("/api/projects/1/experiments/", "phx_write")).toMatchObject(missing("experiment:read"));
    // A write scope includes read.
    expect((await get(FLAGS, "phx_write")).status).toBe(200);
    expect((await get("/api/projects/1/experiments/", "phx_all")).status).toBe(200);
    expect(server.projectFlags("1")).toHaveLength(1);
  });

  test("with personalApiKeys, /flags/definitions and remote_config need a known key with feature_flag:read", async () => {
    server.setProject("1", { token: "phc_store" });
    server.seedFlags("1", [{ key: "f", filters: { ...rollout(100), payloads: { true: "1" } } }]);
    server.setAdminPolicy({ personalApiKeys: { phx_read: ["feature_flag:read"], phx_exp: ["experiment:read"] } });
    const definitions = (key: string) => get(`/flags/definitions?token=phc_store`, key);
    const remoteConfig = (key: string) => get(`/api/projects/@current/feature_flags/f/remote_config?token=phc_store`, key);
    expect((await definitions("phx_read")).status).toBe(200);
    expect(await definitions("phx_unknown")).toMatchObject({ status: 401, body: { code: "authentication_failed" } });
    expect(await definitions("phx_exp")).toMatchObject({ status: 403, body: { detail: "API key missing required scope 'feature_flag:read'" } });
    expect(await remoteConfig("phx_read")).toMatchObject({ status: 200, body: "1" });
    expect((await remoteConfig("phx_exp")).status).toBe(403);
  });

  test("tagging: false drops tag writes silently and reads tags as []", async () => {
    server.setAdminPolicy({ tagging: false });
    const flag = await createFlag("untagged", { tags: ["guardian"] });
    expect(flag.tags).toEqual([]);
    const patched = await patch(`${FLAGS}${flag.id}/`, { tags: ["guardian-enforce"], name: "n" });
    expect(patched).toMatchObject({ status: 200, body: { tags: [], name: "n" } });
    expect(server.projectFlags("1")[0]!.tags).toEqual([]);
    server.seedFlags("1", [{ key: "seeded", tags: ["kept"] }]);
    expect((await get(FLAGS)).body.results.map((f: { tags: string[] }) => f.tags)).toEqual([[], []]);
  });

  test("a throttle answers 429 with Retry-After per route class and key", async () => {
    server.setAdminPolicy({ throttles: { feature_flags: "2/minute" } });
    expect((await get(FLAGS)).status).toBe(200);
    expect((await get(FLAGS)).status).toBe(200);
    const throttled = await get(FLAGS);
    expect(throttled.status).toBe(429);
    expect(Number(throttled.headers.get("retry-after"))).toBeGreaterThan(55);
    expect(throttled.body).toMatchObject({ type: "throttled_error", code: "throttled" });
    expect(throttled.body.detail).toMatch(/^Request was throttled\. Expected available in \d+ seconds\.$/);
    // Another key, and another route class, have their own budget.
    expect((await get(FLAGS, "phx_other")).status).toBe(200);
    expect((await get("/api/projects/1/experiments/")).status).toBe(200);
  });
});

describe("experiments", () => {
  test("seeded experiments are listed newest first with their flag, deleted ones left out, paged", async () => {
    const [flag] = server.seedFlags("1", [{ key: "exp-flag", filters: rollout(100) }]);
    server.seedExperiments("1", [
      { name: "Old", feature_flag_key: "exp-flag", created_at: daysAgo(10), end_date: daysAgo(1), status: "stopped", conclusion: "lost" },
      { name: "New", feature_flag_key: "missing", created_at: daysAgo(1) },
      { name: "Gone", deleted: true },
    ]);
    const res = await get("/api/projects/1/experiments/?limit=1");
    expect(res.body).toMatchObject({ count: 2, next: `${server.url}/api/projects/1/experiments/?limit=1&offset=1` });
    expect(res.body.results[0]).toMatchObject({ name: "New", feature_flag: null, status: "draft", conclusion: null, archived: false });
    const second = await get("/api/projects/1/experiments/?limit=1&offset=1");
    expect(second.body.results[0]).toMatchObject({
      name: "Old",
      status: "stopped",
      conclusion: "lost",
      feature_flag: { id: flag!.id, key: "exp-flag", active: true },
    });
    expect((await get(`${FLAGS}${flag!.id}/`)).body.experiment_set).toEqual([second.body.results[0].id]);
    expect((await get(`/api/projects/1/experiments/${second.body.results[0].id}/`)).body).toEqual(second.body.results[0]);
    expect((await get(`${FLAGS}?type=experiment`)).body.results.map((f: { key: string }) => f.key)).toEqual(["exp-flag"]);
  });
});

describe("the store feeds /flags/definitions", () => {
  const definitions = (token = "phc_store", etag?: string) =>
    fetch(`${server.url}/flags/definitions?token=${token}`, {
      headers: { Authorization: `Bearer ${KEY}`, ...(etag ? { "If-None-Match": etag } : {}) },
    });

  test("a linked project serves its flags, inactive ones as active: false, deleted ones left out; the ETag follows every change", async () => {
    server.setProject("1", { token: "phc_store", groupTypeMapping: { "0": "company" } });
    const flag = await createFlag("served", { filters: rollout(100) });
    server.seedFlags("1", [{ key: "deleted", deleted: true }, { key: "off", active: false }]);
    const first = await definitions();
    const etag = first.headers.get("etag")!;
    const body = await first.json();
    expect(body.group_type_mapping).toEqual({ "0": "company" });
    expect(body.flags.map((f: { key: string; active: boolean }) => [f.key, f.active])).toEqual([
      ["served", true],
      ["off", false],
    ]);
    expect(body.flags[0]).toMatchObject({ id: flag.id, filters: rollout(100), version: 1, deleted: false, ensure_experience_continuity: false });
    expect((await definitions("phc_store", etag)).status).toBe(304);

    await patch(`${FLAGS}${flag.id}/`, { active: false });
    const changed = await definitions("phc_store", etag);
    expect(changed.status).toBe(200);
    expect(changed.headers.get("etag")).not.toBe(etag);
    expect((await changed.json()).flags[0]).toMatchObject({ key: "served", active: false, version: 2 });
    // Another token is not this project's.
    expect(await (await definitions("phc_other")).json()).toEqual({ flags: [], group_type_mapping: {}, cohorts: {} });
  });

  test("/flags evaluates the store's flags too, and an explicit setDefinitions still wins", async () => {
    server.setProject("1", { token: "phc_store" });
    await createFlag("everyone", { filters: rollout(100) });
    const flags = await fetch(`${server.url}/flags/?v=2`, {
      method: "POST",
      body: JSON.stringify({ token: "phc_store", distinct_id: "u1" }),
    }).then((r) => r.json());
    expect(flags.flags.everyone).toMatchObject({ enabled: true });

    server.setDefinitions({ flags: [], group_type_mapping: {}, cohorts: {} }, { token: "phc_store" });
    expect((await (await definitions()).json()).flags).toEqual([]);
  });
});

describe("control API and Slack sink", () => {
  test("POST /_local/slack/:channel records JSON bodies; reset() clears them", async () => {
    const res = await fetch(`${server.url}/_local/slack/alerts`, { method: "POST", body: JSON.stringify({ text: "Flag killed" }) });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("ok");
    await fetch(`${server.url}/_local/slack/digest`, { method: "POST", body: JSON.stringify({ blocks: [] }) });
    expect(server.slackMessages("alerts")).toEqual([{ channel: "alerts", body: { text: "Flag killed" }, receivedAt: expect.any(Number) }]);
    expect(await fetch(`${server.url}/_local/slack`).then((r) => r.json())).toHaveLength(2);
    expect((await fetch(`${server.url}/_local/slack/x`, { method: "POST", body: "nope" })).status).toBe(400);
    server.reset();
    expect(server.slackMessages()).toEqual([]);
  });

  test("fault rules naming /_local/slack fail Slack deliveries; other rules leave them alone", async () => {
    const slack = () => fetch(`${server.url}/_local/slack/alerts`, { method: "POST", body: JSON.stringify({ text: "t" }) });
    server.addFaults({ status: 503, times: 1 }, { path: "/_local/slack/", status: 500, times: 1 });
    expect((await slack()).status).toBe(500);
    expect((await slack()).status).toBe(200);
    expect(server.slackMessages()).toHaveLength(1);
    // The path-less rule is still waiting for a PostHog request.
    expect((await get(FLAGS)).status).toBe(503);
    expect(server.requests().map((r) => r.path)).toEqual([FLAGS]);
  });

  test("projects, seeds and the policy can be set over HTTP", async () => {
    const control = (method: string, path: string, body: unknown) =>
      fetch(`${server.url}/_local${path}`, { method, body: JSON.stringify(body) });
    expect((await control("PUT", "/projects/7", { token: "phc_seven" })).status).toBe(200);
    const seeded = await control("POST", "/projects/7/flags", [{ key: "seeded", filters: rollout(100) }]).then((r) => r.json());
    expect(seeded).toEqual([expect.objectContaining({ key: "seeded", version: 1, active: true })]);
    await control("POST", "/projects/7/experiments", [{ name: "E", feature_flag_key: "seeded" }]);
    expect((await get("/api/projects/7/experiments/")).body.results[0]).toMatchObject({ name: "E", feature_flag: { key: "seeded" } });
    const defs = await fetch(`${server.url}/flags/definitions?token=phc_seven`, { headers: { Authorization: "Bearer k" } }).then((r) => r.json());
    expect(defs.flags.map((f: { key: string }) => f.key)).toEqual(["seeded"]);

    expect((await control("PUT", "/policy", { personalApiKeys: { phx_only: ["feature_flag:read"] } })).status).toBe(200);
    expect((await get("/api/projects/7/feature_flags/")).status).toBe(401);
    expect((await control("PUT", "/policy", { throttles: { feature_flags: "often" } })).status).toBe(400);
    expect(await fetch(`${server.url}/_local/projects/7/flags`).then((r) => r.json())).toHaveLength(1);
  });

  test("admin requests are recorded and fault rules apply to them", async () => {
    server.addFaults({ path: "/api/", status: 503, times: 1 });
    expect((await get(FLAGS)).status).toBe(503);
    expect((await get(FLAGS)).status).toBe(200);
    expect(server.requests().map((r) => [r.method, r.path, r.status])).toEqual([
      ["GET", FLAGS, 503],
      ["GET", FLAGS, 200],
    ]);
  });
});
