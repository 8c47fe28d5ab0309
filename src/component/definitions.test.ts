// Refreshing flag definitions: every PostHog answer, what is kept, cleared or replaced, and
// what status reports. Definitions are served by the local PostHog-compatible server.
import { describe, expect, test, vi } from "vitest";
import { api } from "../testing/app/_generated/api.js";

import { initTestApp, useLocalPostHog } from "../testing/setup.js";

const TOKEN = "phc_flags";
const PERSONAL_KEY = "phx_secret_personal_key";
const server = useLocalPostHog({ POSTHOG_API_KEY: TOKEN, POSTHOG_PERSONAL_API_KEY: PERSONAL_KEY });


const flag = (key: string, rollout = 100, extra: Record<string, unknown> = {}) => ({
  id: key.length,
  key,
  active: true,
  filters: { groups: [{ properties: [], rollout_percentage: rollout }], payloads: { true: JSON.stringify({ key }) } },
  ...extra,
});
const definitions = (...flags: unknown[]) => ({ flags, group_type_mapping: { "0": "company" }, cohorts: {} });

type T = ReturnType<typeof initTestApp>;
const read = async (t: T, key: string) => {
  const r = await t.query(api.flags.readFlag, { key, context: JSON.stringify({ distinctId: "user-1" }) });
  return { ...r, result: JSON.parse(r.result) };
};
const flagStatus = async (t: T) => (await t.query(api.events.status, {})).flags;

async function loaded(t: T, defs: unknown) {
  server.setDefinitions(defs, { token: TOKEN });
  expect(await t.action(api.flags.refresh, {})).toMatchObject({ result: "updated", httpStatus: 200 });
}

describe("refresh outcomes", () => {
  test("before any refresh, flags are undecided with reason definitions_not_loaded", async () => {
    const t = initTestApp();
    const r = await read(t, "a");
    expect(r.value).toBeUndefined();
    expect(r.enabled).toBeUndefined();
    expect(r.result).toMatchObject({ key: "a", reason: "definitions_not_loaded" });
    expect(await flagStatus(t)).toEqual({ definitionsConfirmedAt: null, definitionsAgeMs: null, flagCount: 0, cohortCount: 0, lastRefresh: null });
  });

  test("200 stores the definitions; the request is posthog-node's", async () => {
    const t = initTestApp();
    await loaded(t, definitions(flag("a"), flag("b", 0)));
    const [request] = server.requests();
    expect(request).toMatchObject({ method: "GET", path: "/flags/definitions", query: `token=${TOKEN}&send_cohorts`, status: 200 });
    expect(request.headers.authorization).toBe(`Bearer ${PERSONAL_KEY}`);
    expect(await read(t, "a")).toMatchObject({ value: true, enabled: true, payload: JSON.stringify({ key: "a" }) });
    expect((await read(t, "b")).value).toBe(false);
    expect((await read(t, "missing")).result).toMatchObject({ reason: "unknown_flag" });
    const status = await flagStatus(t);
    expect(status).toMatchObject({ flagCount: 2, cohortCount: 0, lastRefresh: { result: "updated", httpStatus: 200 } });
    expect(status.definitionsAgeMs).toBeLessThan(5_000);
  });

  test("304 keeps everything and writes nothing evaluation reads", async () => {
    const t = initTestApp();
    await loaded(t, definitions(flag("a")));
    const before = await t.query(api.flags.readFlag, { key: "a", context: JSON.stringify({ distinctId: "u" }) });
    expect(await t.action(api.flags.refresh, {})).toEqual({ result: "not_modified", httpStatus: 304 });
    const second = server.requests()[1];
    expect(second.headers["if-none-match"]).toBe(server.requests()[0].headers["if-none-match"] ?? second.headers["if-none-match"]);
    expect(second.status).toBe(304);
    expect(await t.query(api.flags.readFlag, { key: "a", context: JSON.stringify({ distinctId: "u" }) })).toEqual(before);
    expect((await flagStatus(t)).lastRefresh).toMatchObject({ result: "not_modified", httpStatus: 304 });
  });

  test.each([
    ["401", { status: 401, body: '{"detail":"invalid personal key"}' }, "unauthorized", 401],
    ["403", { status: 403, body: "no permission" }, "forbidden", 403],
    ["429", { status: 429, headers: { "Retry-After": "60" } }, "rate_limited", 429],
    ["500", { status: 500 }, "server_error", 500],
    ["503 cold cache", { status: 503, body: '{"detail":"Required data not found in cache"}' }, "server_error", 503],
    ["malformed body", { status: 200, body: "<html>not json</html>" }, "invalid_response", 200],
    ["mis-shaped body", { status: 200, body: '{"flags":"everything"}' }, "invalid_response", 200],
  ] as const)("%s keeps the last good definitions and is reported", async (_name, fault, result, httpStatus) => {
    const t = initTestApp();
    await loaded(t, definitions(flag("a")));
    server.setDefinitions(definitions(flag("a", 0)), { token: TOKEN }); // would turn "a" off if applied
    server.addFaults({ path: "/flags/definitions", ...fault, times: 1 } as never);
    const outcome = await t.action(api.flags.refresh, {});
    expect(outcome).toMatchObject({ result, httpStatus });
    expect((await read(t, "a")).value).toBe(true);
    expect((await flagStatus(t)).lastRefresh).toMatchObject({ result, httpStatus, error: expect.any(String) });
    expect((await flagStatus(t)).flagCount).toBe(1);
  });

  test("a timeout keeps the last good definitions", async () => {
    const t = initTestApp();
    await loaded(t, definitions(flag("a")));
    server.addFaults({ path: "/flags/definitions", hangMs: 2_000, times: 1 });
    expect(await t.action(api.flags.refresh, { timeoutMs: 200 })).toMatchObject({ result: "timeout" });
    expect((await read(t, "a")).value).toBe(true);
    expect((await flagStatus(t)).lastRefresh?.error).toMatch(/timed out after 200 ms/);
  });

  test("402 clears the definitions as posthog-node does; a later 200 restores them", async () => {
    const t = initTestApp();
    await loaded(t, definitions(flag("a")));
    server.addFaults({ path: "/flags/definitions", status: 402, body: "quota exceeded", times: 1 });
    expect(await t.action(api.flags.refresh, {})).toMatchObject({ result: "quota_limited", httpStatus: 402 });
    const r = await read(t, "a");
    expect(r.value).toBeUndefined();
    expect(r.result.reason).toBe("quota_limited");
    expect(await flagStatus(t)).toMatchObject({ flagCount: 0, lastRefresh: { result: "quota_limited" } });

    await loaded(t, definitions(flag("a")));
    expect((await read(t, "a")).value).toBe(true);
  });

  test("refreshing without a personal API key is a clear error", async () => {
    const t = initTestApp();
    vi.stubEnv("POSTHOG_PERSONAL_API_KEY", "");
    await expect(t.action(api.flags.refresh, {})).rejects.toThrow(/personalApiKey: .*POSTHOG_PERSONAL_API_KEY/);
    expect(server.requests()).toEqual([]);
  });
});
