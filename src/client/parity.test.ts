// posthog-node 5.70 parity: each behaviour is run through posthog-node and through our client
// against the same local PostHog server, and what each returned or sent is compared.
import { PostHog as PostHogNode, type PostHogOptions as NodeOptions } from "posthog-node";
import { afterEach, beforeEach, describe, expect, test, vi } from "vitest";
import { api } from "../testing/app/_generated/api.js";
import { flushAndDrain, initRefreshedApp, initTestApp, useLocalPostHog } from "../testing/setup.js";

const TOKEN = "phc_parity";
const NODE_TOKEN = "phc_parity_node";
const server = useLocalPostHog({ POSTHOG_API_KEY: TOKEN, POSTHOG_PERSONAL_API_KEY: "phx_parity" });

const always = { groups: [{ properties: [], rollout_percentage: 100 }] };
const definitions = {
  flags: [
    { id: 1, key: "beta", active: true, has_experiment: true, filters: { groups: [{ properties: [{ key: "plan", type: "person", value: "pro" }], rollout_percentage: 100 }] } },
    {
      id: 2,
      key: "layout",
      active: true,
      has_experiment: false,
      filters: { ...always, multivariate: { variants: [{ key: "grid", rollout_percentage: 50 }, { key: "list", rollout_percentage: 50 }] }, payloads: { grid: '{"cols":3}', list: '{"cols":1}' } },
    },
    { id: 3, key: "off", active: false, filters: always },
    { id: 4, key: "sticky", active: true, ensure_experience_continuity: true, filters: always },
  ],
  group_type_mapping: { "0": "company" },
  cohorts: {},
};
/** What "PostHog" answers on /flags when a test sets it: it decides what local evaluation cannot. */
const flagsAnswer = {
  flags: {
    sticky: { key: "sticky", enabled: true, variant: "kept", reason: { code: "condition_match", description: "Matched condition set 1" }, metadata: { id: 4, version: 7, payload: '{"seen":true}', has_experiment: false } },
    beta: { key: "beta", enabled: false, variant: null, reason: { code: "no_condition_match", description: "No matching condition set" }, metadata: { id: 1, version: 2 } },
  },
  errorsWhileComputingFlags: false,
  requestId: "req-parity",
  evaluatedAt: 1_700_000_000_000,
};

beforeEach(() => server.setDefinitions(definitions));
afterEach(() => vi.restoreAllMocks());

type T = ReturnType<typeof initTestApp>;
const ready = initRefreshedApp;

const nodeClients: PostHogNode[] = [];
/** posthog-node on the same server; with local evaluation unless `personalApiKey: undefined`. */
async function nodeClient(options: Partial<NodeOptions> = {}): Promise<PostHogNode> {
  const client = new PostHogNode(NODE_TOKEN, { host: server.url, personalApiKey: "phx_node", flushAt: 1, flushInterval: 0, fetchRetryCount: 0, ...options });
  client.on("error", () => {});
  nodeClients.push(client);
  if (client.options.personalApiKey) await client.reloadFeatureFlags();
  return client;
}
afterEach(async () => {
  await Promise.all(nodeClients.splice(0).map((client) => client.shutdown()));
});

const flagsRequests = () => server.requests().filter((r) => r.path.startsWith("/flags") && !r.path.startsWith("/flags/definitions") && r.method === "POST");
const events = (token: string, name: string) => server.events(token).filter((e) => e.event === name);

/** Exposure properties without what legitimately differs: library, and clock readings. */
function comparable(properties: Record<string, unknown>): Record<string, unknown> {
  const { $lib, $lib_version, $feature_flag_evaluated_at, $feature_flag_definitions_loaded_at, ...rest } = properties;
  return rest;
}
const byFlag = (list: Array<{ properties: Record<string, unknown> }>) =>
  list.map((e) => comparable(e.properties)).sort((a, b) => `${a.$feature_flag}${String(a.$feature_flag_response)}`.localeCompare(`${b.$feature_flag}${String(b.$feature_flag_response)}`));

async function ourExposures(t: T) {
  await flushAndDrain(t);
  return byFlag(events(TOKEN, "$feature_flag_called"));
}
async function nodeExposures(client: PostHogNode) {
  await client.flush();
  return byFlag(events(NODE_TOKEN, "$feature_flag_called"));
}

describe("evaluateFlags snapshots in mutations and actions", () => {
  const pro = { distinctId: "user-1", personProperties: { plan: "pro" } };

  test("accessor reads in a mutation record posthog-node's exposures; keys and unresolvedFlags agree", async () => {
    const t = await ready();
    const reads = [
      { method: "isEnabled" as const, key: "beta" },
      { method: "getFlag" as const, key: "layout" },
      { method: "getFlag" as const, key: "off" },
      { method: "getFlag" as const, key: "missing" },
      { method: "isEnabled" as const, key: "sticky" },
      { method: "getFlagPayload" as const, key: "layout" },
    ];
    const ours = JSON.parse(await t.mutation(api.parity.snapshotInMutation, { args: JSON.stringify(pro), reads }));

    const node = await nodeClient();
    const flags = await node.evaluateFlags("user-1", { personProperties: { plan: "pro" }, onlyEvaluateLocally: true });
    const values = [flags.isEnabled("beta"), flags.getFlag("layout"), flags.getFlag("off"), flags.getFlag("missing"), flags.isEnabled("sticky"), flags.getFlagPayload("layout")];
    expect(ours.values).toEqual(values.map((value) => value ?? null));
    expect(ours.keys.sort()).toEqual(flags.keys.sort());
    expect(ours.unresolvedFlags).toEqual({ ...flags.unresolvedFlags });
    expect(ours.unresolvedFlags).toEqual({ sticky: "experience_continuity" });
    expect(ours.accessed.sort()).toEqual(flags.onlyAccessed().keys.sort());

    const mine = await ourExposures(t);
    expect(mine).toEqual(await nodeExposures(node));
    expect(mine.map((p) => [p.$feature_flag, p.$feature_flag_error ?? null])).toEqual([
      ["beta", null],
      ["layout", null],
      ["missing", "flag_missing"],
      ["off", null],
      ["sticky", "local_evaluation_inconclusive"],
    ]);
  });

  test("in an action, the /flags fallback fills the snapshot and its request id and version reach the exposures", async () => {
    server.setFlagsResponse(flagsAnswer);
    const t = await ready();
    const reads = [
      { method: "getFlag" as const, key: "sticky" },
      { method: "isEnabled" as const, key: "beta" },
    ];
    const ours = JSON.parse(await t.action(api.parity.snapshotInAction, { args: JSON.stringify(pro), reads }));

    const node = await nodeClient();
    const flags = await node.evaluateFlags("user-1", { personProperties: { plan: "pro" } });
    expect(ours.values).toEqual([flags.getFlag("sticky"), flags.isEnabled("beta")]);
    expect(ours.values).toEqual(["kept", true]); // beta stays local: PostHog only fills in
    const mine = await ourExposures(t);
    expect(mine).toEqual(await nodeExposures(node));
    expect(mine[1]).toMatchObject({ $feature_flag: "sticky", $feature_flag_version: 7, $feature_flag_request_id: "req-parity", locally_evaluated: false });
    // An empty flagKeys evaluates nothing and asks nothing, as posthog-node.
    const requests = flagsRequests().length;
    const empty = JSON.parse(await initTestApp().action(api.parity.snapshotInAction, { args: JSON.stringify({ ...pro, flagKeys: [] }), reads: [] }));
    expect([empty.keys, flagsRequests().length]).toEqual([(await node.evaluateFlags("user-1", { flagKeys: [] })).keys, requests]);
  });

  test("sendFeatureFlagEvents: false reads send nothing but count as accessed; only() and onlyAccessed() slices", async () => {
    const t = await ready();
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const reads = [
      { method: "getFlag" as const, key: "layout", sendFeatureFlagEvents: false },
      { method: "isEnabled" as const, key: "beta", slice: ["layout", "nope"] }, // filtered out: no exposure
      { method: "isEnabled" as const, key: "off", slice: "onlyAccessed" as const }, // not accessed yet: no exposure
    ];
    const ours = JSON.parse(await t.mutation(api.parity.snapshotInMutation, { args: JSON.stringify(pro), reads, captureEvent: "viewed" }));
    const ourWarnings = warn.mock.calls.map((c) => String(c[0]));

    const node = await nodeClient();
    const flags = await node.evaluateFlags("user-1", { personProperties: { plan: "pro" }, onlyEvaluateLocally: true });
    const values = [flags.getFlag("layout", { sendFeatureFlagEvents: false }), flags.only(["layout", "nope"]).isEnabled("beta"), flags.onlyAccessed().isEnabled("off")];
    node.capture({ distinctId: "user-1", event: "viewed", flags: flags.onlyAccessed() });
    expect(ours.values).toEqual(values);
    expect(ours.accessed).toEqual(flags.onlyAccessed().keys);
    expect(ourWarnings.filter((w) => w.includes("only()"))).toEqual(warn.mock.calls.slice(ourWarnings.length).map((c) => String(c[0])).filter((w) => w.includes("only()")));
    expect(ourWarnings.some((w) => w.includes("nope"))).toBe(true);

    expect(await ourExposures(t)).toEqual([]);
    expect(await nodeExposures(node)).toEqual([]);
    const [mine] = events(TOKEN, "viewed");
    const [theirs] = events(NODE_TOKEN, "viewed");
    expect(flagProps(mine!.properties)).toEqual(flagProps(theirs!.properties));
    expect(Object.keys(flagProps(mine!.properties))).toEqual(["$feature/layout", "$active_feature_flags"]);
  });

  test("a query's snapshot stays plain data, and still feeds captureExposure", async () => {
    const t = await ready();
    const snapshot = JSON.parse(await t.query(api.parity.callInQuery, { method: "evaluateFlags", args: JSON.stringify(pro) }));
    expect(Object.keys(snapshot).sort()).toEqual(["distinctId", "flags", "unresolvedFlags"]);
    expect(snapshot.unresolvedFlags).toEqual({ sticky: "experience_continuity" });
    await t.mutation(api.parity.callInMutation, { method: "captureExposure", args: JSON.stringify({ distinctId: "user-1", result: snapshot.flags.layout }) });
    expect((await ourExposures(t)).map((p) => p.$feature_flag)).toEqual(["layout"]);
    // A mutation's snapshot, spread, is the same plain data and can be returned.
    expect(await t.mutation(api.parity.spreadSnapshot, { args: JSON.stringify(pro) })).toEqual(snapshot);
  });
});

/** Call a client method in the test app: `where` is the kind of function it runs in. */
async function call(t: T, where: "query" | "mutation" | "action", method: string, args: unknown, extra: { options?: unknown; overrides?: unknown } = {}) {
  const input = {
    method,
    args: JSON.stringify(args),
    ...(extra.options !== undefined ? { options: JSON.stringify(extra.options) } : {}),
    ...(extra.overrides !== undefined ? { overrides: JSON.stringify(extra.overrides) } : {}),
  };
  const text =
    where === "query"
      ? await t.query(api.parity.callInQuery, input)
      : where === "mutation"
        ? await t.mutation(api.parity.callInMutation, input)
        : await t.action(api.parity.callInAction, input);
  return JSON.parse(text) as unknown;
}
/** What a Convex function would return for a posthog-node value: JSON, undefined as null. */
const asReturned = (value: unknown) => (value === undefined ? null : JSON.parse(JSON.stringify(value)));
const withoutToken = (body: unknown) => ({ ...(body as object), token: "(token)" });
const flagProps = (p: Record<string, unknown>) => Object.fromEntries(Object.entries(p).filter(([k]) => k.startsWith("$feature/") || k === "$active_feature_flags"));

describe("posthog-node's option names and captureException's flags", () => {
  test("secretKey is the personal key (and wins over personalApiKey), as in posthog-node", async () => {
    const t = initTestApp();
    await call(t, "action", "refreshFlagDefinitions", {}, { options: { secretKey: "phs_secret", personalApiKey: "phx_other" } });
    await nodeClient({ secretKey: "phs_secret", personalApiKey: "phx_other" });
    const auth = server.requests().filter((r) => r.method === "GET").map((r) => r.headers.authorization);
    expect(auth).toEqual(["Bearer phs_secret", "Bearer phs_secret"]);
    expect(JSON.parse(await t.query(api.flags.allFlags, { context: JSON.stringify({ distinctId: "u" }) })).featureFlags).toHaveProperty("layout");
  });

  test("sendFeatureFlagEvent: false turns exposures off by default; a read's sendFeatureFlagEvents: true turns it back on", async () => {
    const t = await ready();
    const options = { sendFeatureFlagEvent: false };
    await call(t, "mutation", "getFeatureFlag", { key: "layout", distinctId: "user-1" }, { options });
    await call(t, "mutation", "getFeatureFlag", { key: "off", distinctId: "user-1", sendFeatureFlagEvents: true }, { options });
    const node = await nodeClient(options);
    await node.getFeatureFlag("layout", "user-1");
    await node.getFeatureFlag("off", "user-1", { sendFeatureFlagEvents: true });
    const mine = await ourExposures(t);
    expect(mine).toEqual(await nodeExposures(node));
    expect(mine.map((p) => p.$feature_flag)).toEqual(["off"]);
  });

  test("captureException stamps a snapshot's flags like posthog-node, and sendFeatureFlags like capture", async () => {
    const t = await ready();
    const snapshot = await call(t, "query", "evaluateFlags", { distinctId: "user-1" });
    await call(t, "mutation", "captureException", { error: "boom", distinctId: "user-1", flags: snapshot });
    await call(t, "action", "captureException", { error: "bang", distinctId: "user-2", sendFeatureFlags: true, additionalProperties: { "$feature/off": "mine" } });
    await call(t, "action", "captureException", { error: "anon", sendFeatureFlags: true });

    const node = await nodeClient();
    const flags = await node.evaluateFlags("user-1", { onlyEvaluateLocally: true });
    node.captureException(new Error("boom"), "user-1", undefined, undefined, flags);
    node.capture({ distinctId: "user-2", event: "bang", sendFeatureFlags: true, properties: { "$feature/off": "mine" } });
    await flushAndDrain(t);
    await node.flush();
    const ours = events(TOKEN, "$exception");
    const mine = (id: string) => flagProps(ours.find((e) => e.distinct_id === id)!.properties);
    expect(mine("user-1")).toEqual(flagProps(events(NODE_TOKEN, "$exception")[0]!.properties));
    expect(mine("user-1")).toMatchObject({ "$feature/layout": expect.any(String), "$feature/off": false });
    expect(mine("user-2")).toEqual(flagProps(events(NODE_TOKEN, "bang")[0]!.properties));
    expect(mine("user-2")["$feature/off"]).toBe("mine");
    // No distinct id: nobody to evaluate flags for, so nothing is stamped.
    expect(flagProps(ours.find((e) => e.properties.$process_person_profile === false)!.properties)).toEqual({});
  });
});

describe("overrideFeatureFlags", () => {
  const overrides = { flags: { beta: "forced", layout: false, extra: true }, payloads: { beta: { x: 1 }, sticky: { p: 1 } } };

  test("single reads, payloads, all flags and snapshots answer as posthog-node's; overridden reads send no exposure", async () => {
    const t = await ready();
    const node = await nodeClient();
    node.overrideFeatureFlags(overrides);
    const person = { distinctId: "user-1", personProperties: { plan: "pro" } };
    const nodeOptions = { personProperties: { plan: "pro" }, onlyEvaluateLocally: true };
    for (const key of ["beta", "layout", "extra", "off", "sticky"]) {
      expect(await call(t, "mutation", "getFeatureFlag", { ...person, key, onlyEvaluateLocally: true }, { overrides }), key).toEqual(
        asReturned(await node.getFeatureFlag(key, "user-1", nodeOptions)),
      );
      expect(await call(t, "mutation", "getFeatureFlagPayload", { ...person, key, onlyEvaluateLocally: true }, { overrides }), key).toEqual(
        asReturned(await node.getFeatureFlagPayload(key, "user-1", undefined, nodeOptions)),
      );
    }
    expect(await call(t, "query", "getAllFlagsAndPayloads", { ...person, onlyEvaluateLocally: true }, { overrides })).toEqual(
      asReturned(await node.getAllFlagsAndPayloads("user-1", nodeOptions)),
    );
    const snapshot = JSON.parse(
      await t.mutation(api.parity.snapshotInMutation, {
        args: JSON.stringify({ ...person, onlyEvaluateLocally: true }),
        overrides: JSON.stringify(overrides),
        reads: ["beta", "layout", "extra", "sticky"].map((key) => ({ method: "getFlag" as const, key })).concat([{ method: "getFlagPayload", key: "beta" }] as never),
      }),
    );
    const flags = await node.evaluateFlags("user-1", nodeOptions);
    expect(snapshot.values).toEqual(["beta", "layout", "extra", "sticky"].map((key) => asReturned(flags.getFlag(key))).concat([flags.getFlagPayload("beta")]));
    expect(snapshot.keys.sort()).toEqual(flags.keys.sort());
    // Single reads of overridden flags sent nothing; the snapshot's reads did, as posthog-node's.
    const mine = await ourExposures(t);
    expect(mine).toEqual(await nodeExposures(node));
    expect(mine.map((p) => [p.$feature_flag, p.$feature_flag_response])).toEqual([["beta", "forced"], ["extra", true], ["layout", false], ["off", false], ["sticky", undefined]]);
  });

  test("the list form, clearing with false, and a flag named `flags`", async () => {
    const t = await ready();
    const node = await nodeClient();
    for (const form of [["layout", "nope"], false, { flags: true }]) {
      node.overrideFeatureFlags(form as never);
      for (const key of ["layout", "nope", "flags"]) {
        expect(await call(t, "query", "getFeatureFlag", { key, distinctId: "user-1" }, { overrides: form }), `${JSON.stringify(form)} ${key}`).toEqual(
          asReturned(await node.getFeatureFlag(key, "user-1", { onlyEvaluateLocally: true })),
        );
      }
    }
  });

  test("remote evaluation honours them as posthog-node's remote reads do, without asking /flags for overridden flags", async () => {
    server.setFlagsResponse(flagsAnswer);
    const t = initTestApp();
    const node = await nodeClient({ personalApiKey: undefined });
    node.overrideFeatureFlags(overrides);
    expect(await call(t, "action", "evaluateFlag", { key: "beta", distinctId: "user-1" }, { overrides })).toBe(await node.getFeatureFlag("beta", "user-1"));
    expect(await call(t, "action", "evaluateFlagPayload", { key: "beta", distinctId: "user-1" }, { overrides })).toEqual(await node.getFeatureFlagPayload("beta", "user-1"));
    expect(flagsRequests()).toHaveLength(0);
    expect(await call(t, "action", "evaluateFlagResult", { key: "sticky", distinctId: "user-1" }, { overrides })).toMatchObject({ value: "kept", payload: { p: 1 } });
    expect(await call(t, "action", "evaluateAllFlags", { distinctId: "user-1" }, { overrides })).toEqual(asReturned(await node.getAllFlagsAndPayloads("user-1")));
    await flushAndDrain(t); // the exposure of sticky must not arrive during a later test
  });
});

describe("getRemoteConfigPayload", () => {
  const configs = {
    ...definitions,
    flags: [
      ...definitions.flags,
      { id: 9, key: "theme", active: true, is_remote_configuration: true, filters: { ...always, payloads: { true: '{"mode":"dark"}' } } },
      { id: 10, key: "greeting", active: true, is_remote_configuration: true, filters: { ...always, payloads: { true: "hello" } } },
    ],
  };

  test("reads the remote config endpoint with the personal key, and decodes as posthog-node", async () => {
    server.setDefinitions(configs);
    const t = initTestApp();
    const node = await nodeClient({ enableLocalEvaluation: false });
    for (const key of ["theme", "greeting"]) {
      expect(await call(t, "action", "getRemoteConfigPayload", { key }), key).toEqual(asReturned(await node.getRemoteConfigPayload(key)));
    }
    const requests = (token: string) => server.requests().filter((r) => r.path.includes("remote_config") && r.query === `token=${token}`);
    const shape = (r: ReturnType<typeof requests>[number]) => [r.method, r.path, r.headers.authorization, r.headers["content-type"]];
    expect(requests(TOKEN).map(shape)).toEqual([
      ["GET", "/api/projects/@current/feature_flags/theme/remote_config", "Bearer phx_parity", "application/json"],
      ["GET", "/api/projects/@current/feature_flags/greeting/remote_config", "Bearer phx_parity", "application/json"],
    ]);
    expect(requests(NODE_TOKEN).map(shape)).toEqual(requests(TOKEN).map(shape).map(([m, p, , c]) => [m, p, "Bearer phx_node", c]));
  });

  test("an unknown flag or an unreachable PostHog is undefined; without a personal key it throws", async () => {
    server.setDefinitions(configs);
    const t = initTestApp();
    expect(await call(t, "action", "getRemoteConfigPayload", { key: "nope" })).toBeNull();
    await expect(call(t, "action", "getRemoteConfigPayload", { key: "theme" }, { options: { personalApiKey: " " } })).rejects.toThrow(/personal API key/);
    vi.stubEnv("POSTHOG_HOST", "http://127.0.0.1:1");
    expect(await call(t, "action", "getRemoteConfigPayload", { key: "theme" })).toBeNull();
  });
});

describe("minimal $feature_flag_called events", () => {
  /** Property names and values, clock readings only checked for presence. */
  const full = (p: Record<string, unknown>): Record<string, unknown> => {
    const { $lib, $lib_version, $feature_flag_evaluated_at, $feature_flag_definitions_loaded_at, ...rest } = p;
    return { ...rest, evaluatedAt: typeof $feature_flag_evaluated_at, loadedAt: typeof $feature_flag_definitions_loaded_at };
  };
  const fullExposures = (token: string) => events(token, "$feature_flag_called").map((e) => full(e.properties)).sort((a, b) => String(a.$feature_flag).localeCompare(String(b.$feature_flag)));

  test("definitions' minimal_flag_called_events: a flag without experiment gets posthog-node's minimal event, others the full one", async () => {
    server.setDefinitions({ ...definitions, minimal_flag_called_events: true });
    const t = await ready();
    const person = { distinctId: "user-1", personProperties: { plan: "pro" } };
    for (const key of ["layout", "beta"]) await call(t, "mutation", "getFeatureFlag", { ...person, key });
    const node = await nodeClient();
    for (const key of ["layout", "beta"]) await node.getFeatureFlag(key, "user-1", { personProperties: { plan: "pro" } });
    await flushAndDrain(t);
    await node.flush();
    const mine = fullExposures(TOKEN);
    expect(mine).toEqual(fullExposures(NODE_TOKEN));
    expect(mine[1]).not.toHaveProperty("$feature/layout");
    expect(mine[1]).toMatchObject({ $feature_flag: "layout", $feature_flag_has_experiment: false, loadedAt: "undefined" });
    expect(mine[0]).toMatchObject({ $feature_flag: "beta", "$feature/beta": true, loadedAt: "number" });
  });

  test("/flags' minimalFlagCalledEvents gates a remotely decided flag; a query's result recorded later follows the stored gate", async () => {
    server.setFlagsResponse({ ...flagsAnswer, minimalFlagCalledEvents: true });
    server.setDefinitions({ ...definitions, minimal_flag_called_events: true });
    const t = await ready();
    await call(t, "action", "getFeatureFlag", { key: "sticky", distinctId: "user-1" });
    const result = await call(t, "query", "getFeatureFlagResult", { key: "layout", distinctId: "user-1" });
    await call(t, "mutation", "captureExposure", { distinctId: "user-1", result });
    const node = await nodeClient();
    await node.getFeatureFlag("sticky", "user-1");
    await node.getFeatureFlag("layout", "user-1");
    await flushAndDrain(t);
    await node.flush();
    const mine = fullExposures(TOKEN);
    expect(mine).toEqual(fullExposures(NODE_TOKEN));
    expect(mine.map((p) => Object.keys(p).some((k) => k.startsWith("$feature/")))).toEqual([false, false]);
  });
});

describe("local evaluation inputs", () => {
  test("a person property passed as undefined decides is_set / is_not_set locally, with no /flags request", async () => {
    server.setDefinitions({
      flags: [
        { id: 1, key: "has-plan", active: true, filters: { groups: [{ properties: [{ key: "plan", type: "person", operator: "is_set", value: "is_set" }], rollout_percentage: 100 }] } },
        { id: 2, key: "no-plan", active: true, filters: { groups: [{ properties: [{ key: "plan", type: "person", operator: "is_not_set", value: "is_not_set" }], rollout_percentage: 100 }] } },
      ],
      group_type_mapping: {},
      cohorts: {},
    });
    const t = await ready();
    const args = { distinctId: "user-1", personProperties: {}, undefinedPersonProperties: ["plan"] };
    const mine = await call(t, "action", "getAllFlags", args);
    const single = await call(t, "action", "getFeatureFlag", { ...args, key: "no-plan" });
    expect(flagsRequests()).toHaveLength(0);
    const node = await nodeClient();
    const theirs = await node.getAllFlags("user-1", { personProperties: { plan: undefined } });
    expect(flagsRequests()).toHaveLength(0);
    expect(mine).toEqual(theirs);
    expect(mine).toEqual({ "has-plan": true, "no-plan": false });
    expect(single).toBe(await node.getFeatureFlag("no-plan", "user-1", { personProperties: { plan: undefined } }));
    // Not passing the property at all stays undecided locally, and asks PostHog.
    await call(t, "action", "getFeatureFlag", { key: "no-plan", distinctId: "user-1" });
    expect(flagsRequests()).toHaveLength(1);
    await flushAndDrain(t);
  });

  test("capture({ sendFeatureFlags: true, disableGeoip: false }) evaluates with geoip_disable: false", async () => {
    const t = initTestApp(); // no definitions: the flags come from /flags
    await call(t, "action", "capture", { distinctId: "user-1", event: "geo", sendFeatureFlags: true, disableGeoip: false });
    const node = await nodeClient({ personalApiKey: undefined });
    node.capture({ distinctId: "user-1", event: "geo", sendFeatureFlags: true, disableGeoip: false });
    await node.flush();
    const [mine, theirs] = flagsRequests();
    expect(mine!.body).toMatchObject({ geoip_disable: false });
    expect(withoutToken(mine!.body)).toEqual(withoutToken(theirs!.body));
    await flushAndDrain(t);
  });

  test("capture's sendFeatureFlags without definitions asks /flags for every flag and stamps them, as posthog-node", async () => {
    server.setFlagsResponse(flagsAnswer);
    const t = initTestApp();
    const sendFeatureFlags = { flagKeys: ["beta"], personProperties: { plan: "pro" } };
    await call(t, "action", "capture", { distinctId: "user-1", event: "stamped", sendFeatureFlags });
    const node = await nodeClient({ personalApiKey: undefined });
    node.capture({ distinctId: "user-1", event: "stamped", sendFeatureFlags });
    await node.flush();
    await flushAndDrain(t);
    const [mine, theirs] = flagsRequests();
    expect(withoutToken(mine!.body)).toEqual(withoutToken(theirs!.body));
    expect(mine!.body).not.toHaveProperty("flag_keys_to_evaluate");
    expect(flagProps(events(TOKEN, "stamped")[0]!.properties)).toEqual(flagProps(events(NODE_TOKEN, "stamped")[0]!.properties));
    expect(flagProps(events(TOKEN, "stamped")[0]!.properties)).toEqual({ "$feature/sticky": "kept", "$feature/beta": false, $active_feature_flags: ["sticky"] });
  });

  test("getFeatureFlagPayload with matchValue asks /flags in an action when the flag has no local definition", async () => {
    server.setFlagsResponse({ ...flagsAnswer, flags: { ...flagsAnswer.flags, "remote-only": { key: "remote-only", enabled: true, variant: null, metadata: { id: 77, payload: '{"r":1}' } } } });
    const t = await ready();
    const args = { key: "remote-only", distinctId: "user-1", matchValue: true };
    expect(await call(t, "mutation", "getFeatureFlagPayload", args)).toBeNull(); // mutations cannot ask
    expect(flagsRequests()).toHaveLength(0);
    const mine = await call(t, "action", "getFeatureFlagPayload", args);
    const node = await nodeClient();
    expect(mine).toEqual(await node.getFeatureFlagPayload("remote-only", "user-1", true));
    expect(mine).toEqual({ r: 1 });
    const [ours, theirs] = flagsRequests();
    expect(withoutToken(ours!.body)).toEqual(withoutToken(theirs!.body));
    // A local definition answers without a request, as before.
    expect(await call(t, "action", "getFeatureFlagPayload", { key: "layout", distinctId: "user-1", matchValue: "list" })).toEqual({ cols: 1 });
    expect(flagsRequests()).toHaveLength(2);
  });
});

describe("all-flags maps", () => {
  test("a flag keyed __proto__ stays a flag in every map, local and remote", async () => {
    const proto = { id: 5, key: "__proto__", active: true, filters: { ...always, payloads: { true: '{"p":1}' } } };
    server.setDefinitions({ ...definitions, flags: [...definitions.flags, proto] });
    const own = (map: Record<string, unknown>) => (Object.prototype.hasOwnProperty.call(map, "__proto__") ? map["__proto__"] : "absent");
    const t = await ready();
    const local = (await call(t, "query", "getAllFlagsAndPayloads", { distinctId: "user-1" })) as Record<string, Record<string, unknown>>;
    expect([own(local.featureFlags!), own(local.featureFlagPayloads!)]).toEqual([true, { p: 1 }]);
    const snapshot = (await call(t, "query", "evaluateFlags", { distinctId: "user-1" })) as { flags: Record<string, unknown> };
    expect(own(snapshot.flags)).toMatchObject({ value: true, payload: { p: 1 } });
    const read = JSON.parse(await t.mutation(api.parity.snapshotInMutation, { args: JSON.stringify({ distinctId: "user-1" }), reads: [{ method: "getFlag", key: "__proto__" }], captureEvent: "seen" }));
    expect(read.values).toEqual([true]);
    expect(read.keys).toContain("__proto__");
    expect(own(read.plain.flags)).toMatchObject({ value: true });
    // Remote: /flags evaluates the same definitions.
    const remote = (await call(t, "action", "evaluateAllFlags", { distinctId: "user-1" })) as Record<string, Record<string, unknown>>;
    expect([own(remote.featureFlags!), own(remote.featureFlagPayloads!)]).toEqual([true, { p: 1 }]);
    const fallback = (await call(initTestApp(), "action", "getAllFlagsAndPayloads", { distinctId: "user-1" })) as Record<string, Record<string, unknown>>;
    expect([own(fallback.featureFlags!), own(fallback.featureFlagPayloads!)]).toEqual([true, { p: 1 }]);
    await flushAndDrain(t);
    expect(events(TOKEN, "seen")[0]!.properties).toMatchObject({ "$feature/__proto__": true, $active_feature_flags: expect.arrayContaining(["__proto__"]) });
  });

  const payloadFlags = { "p-null": "null", "p-empty": "", "p-zero": "0", "p-object": '{"a":1}', "p-text": "plain" };

  test('raw payloads "null" and "" (and other falsy ones) in local maps: as posthog-node', async () => {
    server.setDefinitions({
      flags: Object.entries(payloadFlags).map(([key, payload], id) => ({ id, key, active: true, filters: { ...always, payloads: { true: payload } } })),
      group_type_mapping: {},
      cohorts: {},
    });
    const t = await ready();
    const node = await nodeClient();
    const mine = await call(t, "query", "getAllFlagsAndPayloads", { distinctId: "user-1" });
    expect(mine).toEqual(asReturned(await node.getAllFlagsAndPayloads("user-1", { onlyEvaluateLocally: true })));
    expect(Object.keys((mine as { featureFlagPayloads: object }).featureFlagPayloads).sort()).toEqual(["p-object", "p-text"]);
    for (const key of Object.keys(payloadFlags)) {
      expect(await call(t, "query", "getFeatureFlagPayload", { key, distinctId: "user-1" }), key).toEqual(asReturned(await node.getFeatureFlagPayload(key, "user-1")));
    }
  });

  test('raw payloads "null" and "" in /flags answers: as posthog-node', async () => {
    const flags = Object.fromEntries(
      Object.entries(payloadFlags).map(([key, payload], id) => [key, { key, enabled: true, variant: null, metadata: { id, payload } }]),
    );
    server.setFlagsResponse({ flags: { ...flags, disabled: { key: "disabled", enabled: false, variant: null, metadata: { id: 9, payload: '{"d":1}' } } }, requestId: "r" });
    const t = initTestApp();
    const node = await nodeClient({ personalApiKey: undefined });
    const theirs = asReturned(await node.getAllFlagsAndPayloads("user-1"));
    expect(await call(t, "action", "evaluateAllFlags", { distinctId: "user-1" })).toEqual(theirs);
    expect(await call(t, "action", "getAllFlagsAndPayloads", { distinctId: "user-1" })).toEqual(theirs);
    expect(Object.keys(theirs.featureFlagPayloads).sort()).toEqual(["p-null", "p-object", "p-text", "p-zero"]);
    for (const key of [...Object.keys(payloadFlags), "disabled"]) {
      expect(await call(t, "action", "getFeatureFlagPayload", { key, distinctId: "user-1" }), key).toEqual(asReturned(await node.getFeatureFlagPayload(key, "user-1")));
    }
  });
});
