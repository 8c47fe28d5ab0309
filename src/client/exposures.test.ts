// Exposure events ($feature_flag_called) and flags stamped on events.
import { PostHog as PostHogNode } from "posthog-node";
import { beforeEach, describe, expect, test } from "vitest";
import { api } from "../testing/app/_generated/api.js";
import { flushAndDrain, initRefreshedApp, initTestApp, useLocalPostHog } from "../testing/setup.js";


const TOKEN = "phc_exposures";
const server = useLocalPostHog({ POSTHOG_API_KEY: TOKEN, POSTHOG_PERSONAL_API_KEY: "phx_exposures" });
const definitions = {
  flags: [
    { id: 21, key: "beta", active: true, has_experiment: true, filters: { groups: [{ properties: [{ key: "plan", type: "person", value: "pro" }], rollout_percentage: 100 }] } },
    {
      id: 22,
      key: "layout",
      active: true,
      filters: { groups: [{ properties: [], rollout_percentage: 100 }], multivariate: { variants: [{ key: "grid", rollout_percentage: 50 }, { key: "list", rollout_percentage: 50 }] } },
    },
    { id: 23, key: "off", active: false, filters: { groups: [{ properties: [] }] } },
  ],
  group_type_mapping: { "0": "company" },
  cohorts: {},
};

beforeEach(() => server.setDefinitions(definitions, { token: TOKEN }));

type T = ReturnType<typeof initTestApp>;
const ready = initRefreshedApp;
const flagCalls = async (t: T) => {
  await flushAndDrain(t);
  return server.events(TOKEN).filter((e) => e.event === "$feature_flag_called");
};
const pro = JSON.stringify({ distinctId: "user-1", personProperties: { plan: "pro" } });

describe("exposures", () => {
  test("the same user reading the same flag in 100 mutations yields exactly one $feature_flag_called", async () => {
    const t = await ready();
    for (let i = 0; i < 100; i++) await t.mutation(api.flags.readFlagInMutation, { key: "beta", context: pro });
    const calls = await flagCalls(t);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.distinct_id).toBe("user-1");
    expect(calls[0]!.properties).toMatchObject({
      $feature_flag: "beta",
      $feature_flag_response: true,
      "$feature/beta": true,
      locally_evaluated: true,
      $feature_flag_id: 21,
      $feature_flag_reason: "Evaluated locally",
      $feature_flag_has_experiment: true,
    });
  });

  test("a changed response or different groups is a new exposure; group order is not", async () => {
    const t = await ready();
    const read = (context: unknown) => t.mutation(api.flags.readFlagInMutation, { key: "beta", context: JSON.stringify(context) });
    await read({ distinctId: "u", personProperties: { plan: "pro" } });
    await read({ distinctId: "u", personProperties: { plan: "free" } }); // response false
    await read({ distinctId: "u", personProperties: { plan: "pro" }, groups: { company: "acme", team: "x" } });
    await read({ distinctId: "u", personProperties: { plan: "pro" }, groups: { team: "x", company: "acme" } }); // same groups
    const calls = await flagCalls(t);
    // (Deliveries may interleave, so compare without order.)
    const seen = calls.map((c) => JSON.stringify([c.properties.$feature_flag_response, c.properties.$groups ?? null])).sort();
    expect(seen).toEqual([[false, null], [true, null], [true, { company: "acme", team: "x" }]].map((x) => JSON.stringify(x)).sort());
  });

  test("sendFeatureFlagEvents: false per call or per client sends none; payload reads and queries never do", async () => {
    const t = await ready();
    await t.mutation(api.flags.readFlagInMutation, { key: "beta", context: pro, sendFeatureFlagEvents: false });
    await t.mutation(api.flags.readFlagQuietClient, { key: "layout", distinctId: "user-1" });
    await t.mutation(api.flags.readFlagInMutation, { key: "layout", context: pro, payloadOnly: true });
    await t.query(api.flags.readFlag, { key: "beta", context: pro });
    expect(await flagCalls(t)).toEqual([]);
  });

  test("a flag read in a query is recorded later through captureExposure", async () => {
    const t = await ready();
    const { result } = await t.query(api.flags.readFlag, { key: "layout", context: pro });
    await t.mutation(api.flags.reportExposure, { distinctId: "user-1", resultJson: result });
    await t.mutation(api.flags.reportExposure, { distinctId: "user-1", resultJson: result }); // deduplicated
    const calls = await flagCalls(t);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.properties).toMatchObject({ $feature_flag: "layout", $feature_flag_response: JSON.parse(result).value, $feature_flag_id: 22 });
  });

  test("the exposure event equals posthog-node's for the same local evaluation", async () => {
    const t = await ready();
    await t.mutation(api.flags.readFlagInMutation, { key: "layout", context: JSON.stringify({ distinctId: "user-9", groups: { company: "acme" } }) });
    const [ours] = await flagCalls(t);

    const node = new PostHogNode("phc_node_exposure", { host: server.url, personalApiKey: "phx_x", flushAt: 1, flushInterval: 0, fetchRetryCount: 0 });
    server.setDefinitions(definitions, { token: "phc_node_exposure" });
    await node.reloadFeatureFlags();
    await node.getFeatureFlag("layout", "user-9", { groups: { company: "acme" } });
    await node.shutdown();
    const [theirs] = server.events("phc_node_exposure").filter((e) => e.event === "$feature_flag_called");
    const comparable = (p: Record<string, unknown>) => {
      const { $lib, $lib_version, $feature_flag_evaluated_at, $feature_flag_definitions_loaded_at, ...rest } = p;
      expect(typeof $feature_flag_evaluated_at).toBe("number");
      expect(typeof $feature_flag_definitions_loaded_at).toBe("number");
      return rest;
    };
    expect(comparable(ours!.properties)).toEqual(comparable(theirs!.properties));
    expect(ours!.distinct_id).toBe(theirs!.distinct_id);
  });
});

describe("flags on events", () => {
  test("capture with sendFeatureFlags in a mutation stamps $feature/* equal to getAllFlags, with no other request", async () => {
    const t = await ready();
    const requestsBefore = server.requests().length;
    await t.mutation(api.flags.captureWithFlags, { distinctId: "user-1", event: "checkout", propertiesJson: JSON.stringify({ plan: "pro" }) });
    expect(server.requests().length).toBe(requestsBefore); // evaluated locally: nothing sent yet
    const all = JSON.parse(await t.query(api.flags.allFlags, { context: JSON.stringify({ distinctId: "user-1" }) })).featureFlags;
    await flushAndDrain(t);
    expect(server.requests().slice(requestsBefore).map((r) => r.path)).toEqual(["/batch/"]);
    const [event] = server.events(TOKEN).filter((e) => e.event === "checkout");
    const stamped = Object.fromEntries(Object.entries(event!.properties).filter(([k]) => k.startsWith("$feature/")).map(([k, v]) => [k.slice(9), v]));
    expect(stamped).toEqual(all);
    expect(event!.properties.$active_feature_flags).toEqual(Object.keys(all).filter((k) => all[k] !== false).sort());
  });

  test("capture with a snapshot from a query stamps exactly the snapshot; the caller's $feature/* wins", async () => {
    const t = await ready();
    const snapshot = await t.query(api.flags.snapshot, { context: pro });
    expect(Object.keys(JSON.parse(snapshot).flags).sort()).toEqual(["beta", "layout", "off"]);
    await t.mutation(api.flags.captureWithFlags, {
      distinctId: "user-1",
      event: "viewed",
      snapshotJson: snapshot,
      propertiesJson: JSON.stringify({ "$feature/off": "overridden" }),
    });
    await flushAndDrain(t);
    const [event] = server.events(TOKEN).filter((e) => e.event === "viewed");
    const flags = JSON.parse(snapshot).flags;
    expect(event!.properties).toMatchObject({ "$feature/beta": true, "$feature/layout": flags.layout.value, "$feature/off": "overridden" });
    expect(event!.properties.$active_feature_flags).toEqual(["beta", "layout"]);
  });
});
