// PostHog's query API as the local server answers it, over real HTTP on 127.0.0.1: the flag
// guardian's HogQL evaluated over events sent to /batch/, the toolkit's single-flag form and its
// backtick failure, canned answers, scopes, throttles and unsupported queries.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { startLocalPostHog, type LocalPostHog } from "./server.js";

let server: LocalPostHog;
beforeAll(async () => {
  server = await startLocalPostHog();
});
afterAll(() => server.close());
afterEach(() => server.reset());

const PERSONAL_KEY = "phx_query";
const PROJECT_KEY = "phc_query";
const QUERY = "/api/projects/7/query/";
const WINDOW = { window_start: "2026-03-01T10:00:00.000Z", window_end: "2026-03-01T10:20:00.000Z" };
const INSIDE = "2026-03-01T10:05:00.000Z";

async function call(method: string, path: string, body?: unknown, key: string | null = PERSONAL_KEY) {
  const res = await fetch(server.url + path, {
    method,
    headers: {
      ...(key === null ? {} : { Authorization: `Bearer ${key}` }),
      ...(body === undefined ? {} : { "Content-Type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text === "" ? undefined : JSON.parse(text) };
}

function event(name: string, distinctId: string, properties: Record<string, unknown>, timestamp = INSIDE) {
  return { event: name, distinct_id: distinctId, properties, timestamp, uuid: crypto.randomUUID() };
}

async function capture(apiKey: string, ...batch: ReturnType<typeof event>[]) {
  const res = await fetch(`${server.url}/batch/`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ api_key: apiKey, batch, sent_at: INSIDE }),
  });
  expect(res.status).toBe(200);
}

/** The guardian's query: one block per flag, every value a placeholder. */
function guardianQuery(flagKeys: string[]) {
  const block = (i: number) => `
    SELECT {key_${i}} AS flag,
           toString(properties[{prop_${i}}]) AS variant,
           count() AS total_events,
           count(DISTINCT distinct_id) AS unique_users,
           countIf(event = '$exception') AS error_events,
           countIf(event = {success_event} AND properties[{success_prop}] = true) AS success_events,
           countIf(event = {success_event}) AS success_total
    FROM events
    WHERE timestamp >= toDateTime({window_start}) AND timestamp < toDateTime({window_end})
      AND properties[{prop_${i}}] IS NOT NULL
    GROUP BY flag, variant`;
  const values: Record<string, string> = { success_event: "order_placed", success_prop: "ok", ...WINDOW };
  flagKeys.forEach((key, i) => {
    values[`key_${i}`] = key;
    values[`prop_${i}`] = `$feature/${key}`;
  });
  return { query: { kind: "HogQLQuery", query: flagKeys.map((_, i) => block(i)).join("\nUNION ALL\n"), values }, refresh: "force_blocking" };
}

/** posthog-flag-toolkit 0.1.2's query, with its property access quoted as `quote` gives. */
function toolkitQuery(flagKey: string, quote: "`" | "'") {
  const variantProp = `properties[${quote}$feature/${flagKey}${quote}]`;
  return `
    SELECT
      toString(${variantProp}) AS variant,
      count() AS total_events,
      count(DISTINCT distinct_id) AS unique_users,
      countIf(event = '$exception') AS error_events,
      countIf(event = 'order_placed' AND properties.ok = true) AS publish_successes,
      countIf(event = 'order_placed') AS publish_total
    FROM events
    WHERE timestamp >= toDateTime('${WINDOW.window_start}')
      AND timestamp < toDateTime('${WINDOW.window_end}')
      AND ${variantProp} IS NOT NULL
    GROUP BY variant
  `;
}

/** Two flags over five users: checkout (true for u1-u3, false for u4-u5) and search (variants a/b). */
async function sendScenario() {
  const flags = (checkout: boolean, search?: string) => ({ "$feature/checkout": checkout, ...(search ? { "$feature/search": search } : {}) });
  await capture(
    PROJECT_KEY,
    event("$feature_flag_called", "u1", { $feature_flag: "checkout", ...flags(true, "a") }),
    event("$pageview", "u1", flags(true, "a")),
    event("$exception", "u1", flags(true, "a")),
    event("$exception", "u2", flags(true, "b")),
    event("order_placed", "u2", { ...flags(true, "b"), ok: true }),
    event("order_placed", "u3", { ...flags(true), ok: false }),
  );
  await capture(
    PROJECT_KEY,
    event("order_placed", "u4", { ...flags(false, "a"), ok: true }),
    event("order_placed", "u4", { ...flags(false, "a"), ok: "true" }),
    event("$exception", "u5", flags(false)),
    // Outside the window (the end is exclusive) and without the flag: not counted.
    event("$exception", "u1", flags(true), "2026-03-01T09:59:59.999Z"),
    event("$exception", "u1", flags(true), WINDOW.window_end),
    event("$pageview", "u6", {}),
  );
}

describe("the guardian's query", () => {
  test("counts events, users, $exceptions and successes per (flag, variant) within the window", async () => {
    await sendScenario();
    const res = await call("POST", QUERY, guardianQuery(["checkout", "search"]));

    expect(res.status).toBe(200);
    expect(res.body.columns).toEqual(["flag", "variant", "total_events", "unique_users", "error_events", "success_events", "success_total"]);
    expect(res.body.results).toEqual([
      ["checkout", "false", 3, 2, 1, 2, 2],
      ["checkout", "true", 6, 3, 2, 1, 2],
      ["search", "a", 5, 2, 1, 2, 2],
      ["search", "b", 2, 1, 1, 1, 1],
    ]);
    expect(res.body.types).toEqual([
      ["flag", "String"],
      ["variant", "String"],
      ["total_events", "UInt64"],
      ["unique_users", "UInt64"],
      ["error_events", "UInt64"],
      ["success_events", "UInt64"],
      ["success_total", "UInt64"],
    ]);
    expect(res.body).toMatchObject({ hasMore: false, limit: 100, offset: 0, is_cached: false, hogql: expect.stringContaining("UNION ALL") });
  });

  test("the environments path answers too, and a flag without events has no rows", async () => {
    await sendScenario();
    const res = await call("POST", "/api/environments/7/query/", guardianQuery(["unseen", "search"]));
    expect(res.status).toBe(200);
    expect(res.body.results.map((row: unknown[]) => row.slice(0, 3))).toEqual([
      ["search", "a", 5],
      ["search", "b", 2],
    ]);
  });

  test("a project linked to a token sees only that token's events", async () => {
    await sendScenario();
    await capture("phc_other", event("$exception", "x1", { "$feature/checkout": true }));
    expect((await call("POST", QUERY, guardianQuery(["checkout"]))).body.results[1]).toEqual(["checkout", "true", 7, 4, 3, 1, 2]);
    server.setProject("7", { token: PROJECT_KEY });
    expect((await call("POST", QUERY, guardianQuery(["checkout"]))).body.results[1]).toEqual(["checkout", "true", 6, 3, 2, 1, 2]);
  });

  test("placeholder values are never read as query text", async () => {
    await capture(PROJECT_KEY, event("$pageview", "u1", { "$feature/x' OR 1=1 --": "true" }));
    const body = guardianQuery(["x"]);
    body.query.values.prop_0 = "$feature/x' OR 1=1 --";
    const res = await call("POST", QUERY, body);
    expect(res.status).toBe(200);
    expect(res.body.results).toEqual([["x", "true", 1, 1, 0, 0, 0]]);
  });

  test("a placeholder without a value is a 400 naming it", async () => {
    const body = guardianQuery(["checkout"]);
    delete (body.query.values as Record<string, string>).window_end;
    const res = await call("POST", QUERY, body);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ type: "validation_error", detail: expect.stringContaining("{window_end}") });
  });
});

describe("posthog-flag-toolkit's query", () => {
  test("with string literals it is evaluated, one row per variant, read by position", async () => {
    await sendScenario();
    const res = await call("POST", QUERY, { query: { kind: "HogQLQuery", query: toolkitQuery("checkout", "'") } });
    expect(res.status).toBe(200);
    expect(res.body.columns).toEqual(["variant", "total_events", "unique_users", "error_events", "publish_successes", "publish_total"]);
    expect(res.body.results).toEqual([
      ["false", 3, 2, 1, 2, 2],
      ["true", 6, 3, 2, 1, 2],
    ]);
  });

  test("with backticks inside [...] it is HogQL's 'Unable to resolve field' 400", async () => {
    await sendScenario();
    const res = await call("POST", QUERY, { query: { kind: "HogQLQuery", query: toolkitQuery("checkout", "`") } });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ type: "validation_error", code: "query_error", detail: "Unable to resolve field: $feature/checkout", attr: null });
  });
});

describe("other queries", () => {
  test("any other HogQL or query kind is a 400 saying the local server does not support it", async () => {
    for (const query of [
      { kind: "HogQLQuery", query: "SELECT event, count() FROM events GROUP BY event" },
      { kind: "TrendsQuery", series: [] },
    ]) {
      const res = await call("POST", QUERY, { query });
      expect(res.status).toBe(400);
      expect(res.body).toMatchObject({ type: "validation_error", code: "query_error", detail: expect.stringMatching(/^Unsupported by the local server: /) });
    }
  });

  test("a canned answer (value or function of the body) is filled out to PostHog's shape", async () => {
    server.setQueryResponse({ results: [["true", 10, 5, 1, 0, 0]], columns: ["variant"] });
    const canned = await call("POST", QUERY, { query: { kind: "HogQLQuery", query: "SELECT anything" } });
    expect(canned.status).toBe(200);
    expect(canned.body).toMatchObject({ results: [["true", 10, 5, 1, 0, 0]], columns: ["variant"], hogql: "SELECT anything", hasMore: false });

    server.setQueryResponse((body: { name: string }) => ({ results: [[body.name]] }));
    expect((await call("POST", QUERY, { name: "guardian", query: { kind: "HogQLQuery", query: "" } })).body.results).toEqual([["guardian"]]);

    const control = await fetch(`${server.url}/_local/query-response`, { method: "PUT", body: JSON.stringify({ results: [[42]] }) });
    expect(control.status).toBe(200);
    expect((await call("POST", QUERY, guardianQuery(["checkout"]))).body.results).toEqual([[42]]);

    server.setQueryResponse(undefined);
    await sendScenario();
    expect((await call("POST", QUERY, guardianQuery(["checkout"]))).body.results).toHaveLength(2);
  });
});

describe("authentication, scope and throttle", () => {
  test("no key is 401; with personalApiKeys a key without query:read is 403 naming the scope", async () => {
    expect((await call("POST", QUERY, guardianQuery(["checkout"]), null)).status).toBe(401);
    server.setAdminPolicy({ personalApiKeys: { phx_flags: ["feature_flag:write"], [PERSONAL_KEY]: ["query:read"] } });
    const denied = await call("POST", QUERY, guardianQuery(["checkout"]), "phx_flags");
    expect(denied).toMatchObject({ status: 403, body: { type: "authentication_error", detail: "API key missing required scope 'query:read'" } });
    expect((await call("POST", QUERY, guardianQuery(["checkout"]))).status).toBe(200);
  });

  test("the query throttle answers 429 with Retry-After, per key", async () => {
    server.setAdminPolicy({ throttles: { query: "2/hour" } });
    for (let i = 0; i < 2; i++) expect((await call("POST", QUERY, guardianQuery(["checkout"]))).status).toBe(200);
    const throttled = await call("POST", QUERY, guardianQuery(["checkout"]));
    expect(throttled.status).toBe(429);
    expect(Number(throttled.headers.get("retry-after"))).toBeGreaterThan(3500);
    expect(throttled.body).toMatchObject({ type: "throttled_error", code: "throttled" });
    // The flags API has its own class, and another key its own budget.
    expect((await call("GET", "/api/projects/7/feature_flags/")).status).toBe(200);
    expect((await call("POST", QUERY, guardianQuery(["checkout"]), "phx_other")).status).toBe(200);
  });

  test("fault rules apply to the query path", async () => {
    server.addFaults({ path: "/api/projects/7/query", status: 503, times: 1 });
    expect((await call("POST", QUERY, guardianQuery(["checkout"]))).status).toBe(503);
    expect((await call("POST", QUERY, guardianQuery(["checkout"]))).status).toBe(200);
  });
});
