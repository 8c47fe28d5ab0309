// The local kill switch: disableFlagLocally turns a flag off in every read at once, without a
// refresh; refreshes keep the kill; clearKillSwitch restores the evaluated value.
import { beforeEach, describe, expect, test } from "vitest";
import { api } from "../testing/app/_generated/api.js";
import { flushAndDrain, initRefreshedApp, initTestApp, useLocalPostHog } from "../testing/setup.js";

const TOKEN = "phc_kill";
const server = useLocalPostHog({ POSTHOG_API_KEY: TOKEN, POSTHOG_PERSONAL_API_KEY: "phx_kill" });
const everyone = { groups: [{ properties: [], rollout_percentage: 100 }] };
const definitions = {
  flags: [
    { id: 31, key: "checkout", active: true, filters: { ...everyone, payloads: { true: '{"v":2}' } } },
    {
      id: 32,
      key: "checkout-banner",
      active: true,
      filters: { groups: [{ properties: [{ key: "checkout", type: "flag", value: true, operator: "flag_evaluates_to", dependency_chain: ["checkout"] }] }] },
    },
    { id: 33, key: "other", active: true, filters: everyone },
  ],
  group_type_mapping: {},
  cohorts: {},
};
const user = JSON.stringify({ distinctId: "user-1" });

beforeEach(() => server.setDefinitions(definitions, { token: TOKEN }));

type T = ReturnType<typeof initTestApp>;
const ready = initRefreshedApp;
const read = async (t: T, key: string) => JSON.parse((await t.query(api.flags.readFlag, { key, context: user })).result);
const all = async (t: T) => JSON.parse(await t.query(api.flags.allFlags, { context: user }));
const snapshot = async (t: T) => JSON.parse(await t.query(api.flags.snapshot, { context: user }));
const flagsRequests = () => server.requests().filter((r) => r.path === "/flags/").length;

describe("kill switch", () => {
  test("a killed flag reads false with reason killed in the same query, without a refresh; its dependant turns false", async () => {
    const t = await ready();
    expect(await read(t, "checkout")).toMatchObject({ value: true, reason: "evaluated_locally", payload: { v: 2 } });
    expect(await read(t, "checkout-banner")).toMatchObject({ value: true });
    await t.mutation(api.flags.killFlag, { key: "checkout", reason: "errors spiking" });
    expect(await read(t, "checkout")).toEqual({ key: "checkout", value: false, enabled: false, variant: null, payload: null, reason: "killed", flagId: 31 });
    expect(await read(t, "checkout-banner")).toMatchObject({ value: false, reason: "evaluated_locally" });
    expect(await read(t, "other")).toMatchObject({ value: true });
    expect(await t.query(api.flags.killedFlags, {})).toEqual([{ key: "checkout", reason: "errors spiking", at: expect.any(Number) }]);
  });

  test("getAllFlags and evaluateFlags see the kill", async () => {
    const t = await ready();
    expect((await all(t)).featureFlags).toEqual({ checkout: true, "checkout-banner": true, other: true });
    await t.mutation(api.flags.killFlag, { key: "checkout" });
    expect(await all(t)).toEqual({ featureFlags: { checkout: false, "checkout-banner": false, other: true }, featureFlagPayloads: {} });
    const flags = (await snapshot(t)).flags;
    expect(flags.checkout).toMatchObject({ value: false, reason: "killed" });
    expect(flags["checkout-banner"]).toMatchObject({ value: false });
    expect(flags.other).toMatchObject({ value: true });
  });

  test("refreshes keep the kill, whether definitions changed or not; clearKillSwitch restores the value", async () => {
    const t = await ready();
    await t.mutation(api.flags.killFlag, { key: "checkout" });
    await t.action(api.flags.refresh, {}); // unchanged
    expect(await read(t, "checkout")).toMatchObject({ value: false, reason: "killed" });
    server.setDefinitions({ ...definitions, group_type_mapping: { "0": "company" }, flags: [...definitions.flags, { id: 34, key: "new", active: true, filters: everyone }] }, { token: TOKEN });
    await t.action(api.flags.refresh, {}); // changed, meta row included
    expect(await read(t, "new")).toMatchObject({ value: true });
    expect(await read(t, "checkout")).toMatchObject({ value: false, reason: "killed" });
    expect(await t.mutation(api.flags.clearKill, { key: "checkout" })).toBe(true);
    expect(await read(t, "checkout")).toMatchObject({ value: true, reason: "evaluated_locally" });
    expect(await read(t, "checkout-banner")).toMatchObject({ value: true });
    expect(await t.query(api.flags.killedFlags, {})).toEqual([]);
    expect(await t.mutation(api.flags.clearKill, { key: "checkout" })).toBe(false);
  });

  test("a kill before any definitions were loaded holds, and after the first refresh", async () => {
    const t = initTestApp();
    await t.mutation(api.flags.killFlag, { key: "checkout" });
    expect(await read(t, "checkout")).toMatchObject({ value: false, reason: "killed" });
    expect(await read(t, "other")).toMatchObject({ enabled: false, reason: "definitions_not_loaded" });
    await t.action(api.flags.refresh, {});
    expect(await read(t, "checkout")).toMatchObject({ value: false, reason: "killed" });
    expect(await read(t, "other")).toMatchObject({ value: true });
  });

  test("an action's reads never ask /flags about a killed flag, and remote answers do not override the kill", async () => {
    const t = initTestApp();
    server.setFlagsResponse({ flags: { checkout: { key: "checkout", enabled: true, variant: null, metadata: { id: 31 } } } }, { token: TOKEN });
    await t.mutation(api.flags.killFlag, { key: "checkout" });
    // No definitions: getFeatureFlag would ask /flags, but the kill decides.
    const result = JSON.parse(await t.action(api.flags.readInAction, { method: "getFeatureFlagResult", key: "checkout", context: user }));
    expect(result).toMatchObject({ value: false, reason: "killed" });
    expect(flagsRequests()).toBe(0);
    // getAllFlags asks (nothing is loaded) but PostHog's answer does not undo the kill.
    expect(JSON.parse(await t.action(api.flags.readInAction, { method: "getAllFlags", context: user }))).toEqual({ checkout: false });
    expect(flagsRequests()).toBe(1);
    // Remote evaluation: the kill wins there too, without a request.
    expect(JSON.parse(await t.action(api.flags.remote, { method: "evaluateFlagResult", key: "checkout", context: user }))).toMatchObject({ value: false, reason: "killed" });
    expect(flagsRequests()).toBe(1);
  });

  test("a killed read in a mutation sends one exposure with the false value", async () => {
    const t = await ready();
    await t.mutation(api.flags.killFlag, { key: "checkout" });
    await t.mutation(api.flags.readFlagInMutation, { key: "checkout", context: user });
    await t.mutation(api.flags.readFlagInMutation, { key: "checkout", context: user });
    await flushAndDrain(t);
    const calls = server.events(TOKEN).filter((e) => e.event === "$feature_flag_called");
    expect(calls).toHaveLength(1);
    expect(calls[0]!.properties).toMatchObject({ $feature_flag: "checkout", $feature_flag_response: false, locally_evaluated: true, $feature_flag_reason: "Killed locally" });
  });
});
