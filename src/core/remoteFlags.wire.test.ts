// @vitest-environment node
//
// Wire fidelity of remote flag evaluation: posthog-node 5.70 (no secret key, so every flag call
// goes to /flags) and fetchRemoteFlags make the same calls against the local server. The /flags
// requests must be identical (body, and every header but the User-Agent), the values read from
// the same answer must be the same, and so must the outcome of every failure: retries made,
// values returned, and the `$feature_flag_called` properties posthog-node derives (compared
// with what our RemoteFlag and remoteFlagError give).
//
// The Node build of posthog-node is used (User-Agent posthog-node/5.70.0); its /flags code is
// the same as the edge build's, which only names itself posthog-edge.
import { PostHog } from "posthog-node";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { startLocalPostHog, type FaultRule, type LocalPostHog } from "../local-server/server.js";
import { fetchRemoteFlags, remoteFlagError, type RemoteFlagsRequest, type RemoteFlagsResult } from "./remoteFlags.js";
import { LIB_NAME, LIB_VERSION } from "./version.js";

const KEY = "phc_remote_wire";
const TIMEOUT_MS = 150;
const RETRY_DELAY_MS = 40;

// Served on /flags/definitions; the local server's default /flags answer evaluates them.
const DEFINITIONS = {
  group_type_mapping: { "0": "company" },
  cohorts: {},
  flags: [
    {
      id: 1,
      key: "beta",
      active: true,
      version: 4,
      filters: {
        groups: [{ properties: [{ key: "distinct_id", type: "person", operator: "exact", value: ["u1", "u2"] }], rollout_percentage: 100 }],
        payloads: { true: '{"color":"blue"}' },
      },
    },
    {
      id: 2,
      key: "exp",
      active: true,
      has_experiment: true,
      filters: {
        groups: [{ properties: [], rollout_percentage: 100 }],
        multivariate: { variants: [{ key: "control", rollout_percentage: 50 }, { key: "test", rollout_percentage: 50 }] },
        payloads: { control: '"c"', test: "[1,2]" },
      },
    },
    {
      id: 3,
      key: "pro-only",
      active: true,
      filters: { groups: [{ properties: [{ key: "plan", type: "person", value: ["pro"], operator: "exact" }], rollout_percentage: 100 }] },
    },
    {
      id: 4,
      key: "company-flag",
      active: true,
      filters: {
        aggregation_group_type_index: 0,
        groups: [{ properties: [{ key: "size", type: "group", group_type_index: 0, operator: "gt", value: 5 }], rollout_percentage: 100 }],
        payloads: { true: "{oops" },
      },
    },
    {
      id: 5,
      key: "device-flag",
      active: true,
      bucketing_identifier: "device_id",
      filters: { groups: [{ properties: [], rollout_percentage: 100 }] },
    },
    { id: 6, key: "nobody", active: true, filters: { groups: [{ properties: [], rollout_percentage: 0 }] } },
    { id: 7, key: "inactive", active: false, filters: { groups: [{ properties: [], rollout_percentage: 100 }] } },
  ],
};

let server: LocalPostHog;

beforeAll(async () => {
  server = await startLocalPostHog();
});
afterAll(() => server.close());
beforeEach(() => {
  // posthog-node logs deprecations, quota warnings and errorsWhileComputingFlags.
  vi.spyOn(console, "error").mockImplementation(() => {});
  vi.spyOn(console, "warn").mockImplementation(() => {});
});
afterEach(() => {
  vi.restoreAllMocks();
  server.reset();
});

function nodeClient(host = server.url): PostHog {
  const client = new PostHog(KEY, {
    host,
    flushAt: 1,
    flushInterval: 0,
    fetchRetryCount: 0,
    fetchRetryDelay: RETRY_DELAY_MS,
    featureFlagsRequestTimeoutMs: TIMEOUT_MS,
  });
  client.on("error", () => {});
  return client;
}

function ours(request: Omit<RemoteFlagsRequest, "host" | "apiKey">, host = server.url): Promise<RemoteFlagsResult> {
  return fetchRemoteFlags({ host, apiKey: KEY, timeoutMs: TIMEOUT_MS, retryDelayMs: RETRY_DELAY_MS, ...request });
}

const flagRequests = () => server.requests().filter((r) => r.path.startsWith("/flags") && !r.path.startsWith("/flags/definitions"));

/** Runs `call` against a fresh server state prepared by `arrange`; returns what it gave and the /flags requests. */
async function run<T>(arrange: () => void, call: () => Promise<T>) {
  server.reset();
  arrange();
  const value = await call();
  return { value, requests: flagRequests(), events: server.events(KEY) };
}

const valuesOf = (result: RemoteFlagsResult) =>
  result.ok ? Object.fromEntries(Object.entries(result.flags).map(([key, flag]) => [key, flag.value])) : {};

/** The payloads posthog-node's getAllFlagsAndPayloads shows: enabled flags with a payload. */
const bulkPayloadsOf = (result: RemoteFlagsResult) =>
  result.ok
    ? Object.fromEntries(
        Object.entries(result.flags)
          .filter(([, flag]) => flag.enabled && flag.payload !== null)
          .map(([key, flag]) => [key, flag.payload]),
      )
    : {};

const withoutUserAgent = (headers: Record<string, string>) => {
  const { ["user-agent"]: _agent, ...rest } = headers;
  return rest;
};

describe("the /flags request is the one posthog-node sends", () => {
  type Scenario = {
    name: string;
    node: (client: PostHog) => Promise<unknown>;
    ours: Omit<RemoteFlagsRequest, "host" | "apiKey">;
    /** What posthog-node's call returns, computed from our result. */
    expected: (result: RemoteFlagsResult) => unknown;
  };
  const person = { $device_id: "dev-1", plan: "pro", $set: { a: 1 }, $initial_referrer: "x" };
  const scenarios: Scenario[] = [
    {
      name: "plain getAllFlags",
      node: (c) => c.getAllFlags("u1"),
      ours: { distinctId: "u1" },
      expected: valuesOf,
    },
    {
      name: "groups",
      node: (c) => c.getAllFlags("u2", { groups: { company: "acme", project: 7 as unknown as string } }),
      ours: { distinctId: "u2", groups: { company: "acme", project: 7 } },
      expected: valuesOf,
    },
    {
      name: "person and group properties, $device_id included",
      node: (c) =>
        c.getAllFlagsAndPayloads("u1", {
          groups: { company: "acme" },
          personProperties: person,
          groupProperties: { company: { size: 10, $group_key: "acme-2" }, other: { x: 1 } },
        }),
      ours: {
        distinctId: "u1",
        groups: { company: "acme" },
        personProperties: person,
        groupProperties: { company: { size: 10, $group_key: "acme-2" }, other: { x: 1 } },
      },
      expected: (result) => ({ featureFlags: valuesOf(result), featureFlagPayloads: bulkPayloadsOf(result) }),
    },
    {
      name: "getAllFlags with flagKeys",
      node: (c) => c.getAllFlags("u1", { flagKeys: ["beta", "exp", "missing"] }),
      ours: { distinctId: "u1", flagKeys: ["beta", "exp", "missing"] },
      expected: valuesOf,
    },
    {
      name: "single flag (getFeatureFlag sends [key])",
      node: (c) => c.getFeatureFlag("exp", "u3", { personProperties: { plan: "pro" }, sendFeatureFlagEvents: false }),
      ours: { distinctId: "u3", personProperties: { plan: "pro" }, flagKeys: ["exp"] },
      expected: (result) => (result.ok ? result.flags.exp?.value : undefined),
    },
    {
      name: "single flag result with its payload",
      node: async (c) => {
        const r = await c.getFeatureFlagResult("beta", "u1", { sendFeatureFlagEvents: false });
        return r && { enabled: r.enabled, variant: r.variant, payload: r.payload };
      },
      ours: { distinctId: "u1", flagKeys: ["beta"] },
      expected: (result) => {
        const flag = result.ok ? result.flags.beta : undefined;
        return flag && { enabled: flag.enabled, variant: flag.variant ?? undefined, payload: flag.payload ?? undefined };
      },
    },
    {
      name: "disableGeoip false",
      node: (c) => c.getAllFlags("u1", { disableGeoip: false }),
      ours: { distinctId: "u1", disableGeoip: false },
      expected: valuesOf,
    },
  ];

  for (const scenario of scenarios) {
    it(scenario.name, async () => {
      const arrange = () => server.setDefinitions(DEFINITIONS);
      const client = nodeClient();
      const theirs = await run(arrange, () => scenario.node(client));
      await client.shutdown();
      const mine = await run(arrange, () => ours(scenario.ours));

      expect(theirs.requests).toHaveLength(1);
      expect(mine.requests).toHaveLength(1);
      const [their] = theirs.requests;
      const [my] = mine.requests;
      expect(my!.body).toEqual(their!.body);
      expect(JSON.stringify(my!.body)).toBe(JSON.stringify(their!.body)); // same field order too
      expect(`${my!.method} ${my!.path}?${my!.query}`).toBe(`${their!.method} ${their!.path}?${their!.query}`);
      expect(withoutUserAgent(my!.headers)).toEqual(withoutUserAgent(their!.headers));
      expect(their!.headers["user-agent"]).toMatch(/^posthog-node\//);
      expect(my!.headers["user-agent"]).toBe(`${LIB_NAME}/${LIB_VERSION}`);

      expect(mine.value.ok).toBe(true);
      expect(scenario.expected(mine.value)).toEqual(theirs.value);
    });
  }

  it("the served definitions give the values a real evaluation would", async () => {
    server.setDefinitions(DEFINITIONS);
    const result = await ours({
      distinctId: "u1",
      groups: { company: "acme" },
      personProperties: { plan: "pro", $device_id: "dev-1" },
      groupProperties: { company: { size: 10 } },
    });
    expect(result.ok && result.errorsWhileComputingFlags).toBe(false);
    expect(valuesOf(result)).toEqual({
      beta: true,
      exp: expect.stringMatching(/^(control|test)$/),
      "pro-only": true,
      "company-flag": true,
      "device-flag": true,
      nobody: false,
    });
  });
});

describe("outcomes match posthog-node for the same server behaviour", () => {
  const FLAGS = {
    beta: {
      key: "beta",
      enabled: true,
      variant: null,
      reason: { code: "condition_match", condition_index: 0, description: "Matched condition set 1" },
      metadata: { id: 1, version: 4, payload: '{"color":"blue"}', description: null, has_experiment: false },
    },
    exp: {
      key: "exp",
      enabled: true,
      variant: "test",
      reason: { code: "condition_match", condition_index: 0 },
      metadata: { id: 2, version: 1, payload: "not json", has_experiment: true },
    },
    off: {
      key: "off",
      enabled: false,
      variant: null,
      reason: { code: "no_condition_match", condition_index: null, description: "No matching condition set" },
      metadata: { id: 3, version: 2, payload: null, has_experiment: false },
    },
  };
  const ANSWER = { flags: FLAGS, errorsWhileComputingFlags: false, requestId: "6f0c1d0e-req", evaluatedAt: 1_700_000_000_000 };

  type Outcome = {
    name: string;
    arrange: () => void;
    /** /flags requests one call makes (2 when retried). */
    attempts: number;
    /** Keys read one at a time. */
    keys?: string[];
    /**
     * Compare getAllFlagsAndPayloads' payloads. Not for the v1 shape: posthog-node's bulk path
     * then shows the parsed featureFlagPayloads as they are (falsy ones and disabled flags
     * included) while its single-flag path, which RemoteFlag.payload follows, drops falsy ones.
     */
    bulkPayloads?: false;
  };
  const answer = (response: unknown) => () => server.setFlagsResponse(response);
  const faulted = (rule: FaultRule, response: unknown = ANSWER) => () => {
    server.setFlagsResponse(response);
    server.addFaults({ path: "/flags", ...rule } as FaultRule);
  };
  const outcomes: Outcome[] = [
    { name: "a plain answer", arrange: answer(ANSWER), attempts: 1 },
    { name: "quota limited", arrange: answer({ ...ANSWER, quotaLimited: ["feature_flags"] }), attempts: 1 },
    { name: "quota limited on something else", arrange: answer({ ...ANSWER, quotaLimited: ["recordings"] }), attempts: 1 },
    { name: "errors while computing", arrange: answer({ ...ANSWER, errorsWhileComputingFlags: true }), attempts: 1 },
    {
      name: "a failed flag",
      arrange: answer({
        ...ANSWER,
        errorsWhileComputingFlags: true,
        flags: { ...FLAGS, beta: { ...FLAGS.beta, enabled: false, failed: true, reason: { code: "timeout", condition_index: null } } },
      }),
      attempts: 1,
    },
    { name: "the v1 shape", arrange: answer({ featureFlags: { beta: true, exp: "test", off: false }, featureFlagPayloads: { beta: '{"color":"blue"}', exp: "0" }, requestId: "v1" }), attempts: 1, bulkPayloads: false },
    { name: "flags: null", arrange: answer({ ...ANSWER, flags: null }), attempts: 1 },
    { name: "flags: []", arrange: answer({ ...ANSWER, flags: [] }), attempts: 1 },
    { name: "a malformed body", arrange: faulted({ status: 200, body: "not json" }), attempts: 1 },
    { name: "a timeout, twice", arrange: faulted({ hangMs: 2_000, times: 2 }), attempts: 2, keys: ["beta", "absent"] },
    { name: "a timeout, then an answer", arrange: faulted({ hangMs: 2_000, times: 1 }), attempts: 2, keys: ["beta", "absent"] },
    { name: "a reset connection, then an answer", arrange: faulted({ reset: true, times: 1 }), attempts: 2 },
    { name: "502, then an answer", arrange: faulted({ status: 502, times: 1 }), attempts: 2 },
    { name: "504 twice", arrange: faulted({ status: 504, times: 2 }), attempts: 2 },
    { name: "500 (not retried)", arrange: faulted({ status: 500, times: 1 }), attempts: 1 },
    { name: "429 (not retried)", arrange: faulted({ status: 429, times: 1 }), attempts: 1 },
  ];

  const FLAG_CALLED_KEYS = [
    "$feature_flag",
    "$feature_flag_response",
    "$feature_flag_id",
    "$feature_flag_version",
    "$feature_flag_reason",
    "$feature_flag_request_id",
    "$feature_flag_evaluated_at",
    "$feature_flag_has_experiment",
    "$feature_flag_error",
    "locally_evaluated",
  ];

  /** The `$feature_flag_called` properties posthog-node derives, from our result. */
  function ourFlagCalled(result: RemoteFlagsResult, key: string): Record<string, unknown> {
    const flag = result.ok ? result.flags[key] : undefined;
    const error = remoteFlagError(result, key);
    const properties: Record<string, unknown> = {
      $feature_flag: key,
      $feature_flag_response: flag?.value,
      $feature_flag_id: flag?.id,
      $feature_flag_version: flag?.version,
      $feature_flag_reason: flag?.reason,
      $feature_flag_request_id: result.ok ? result.requestId : undefined,
      $feature_flag_evaluated_at: result.ok ? result.evaluatedAt : undefined,
      $feature_flag_has_experiment: flag?.hasExperiment,
      $feature_flag_error: error,
      locally_evaluated: false,
    };
    return JSON.parse(JSON.stringify(properties)) as Record<string, unknown>;
  }
  const pick = (properties: Record<string, unknown>) =>
    Object.fromEntries(FLAG_CALLED_KEYS.filter((k) => k in properties).map((k) => [k, properties[k]]));

  for (const outcome of outcomes) {
    it(outcome.name, async () => {
      for (const key of outcome.keys ?? ["beta", "exp", "off", "absent"]) {
        // posthog-node: getFeatureFlag sends $feature_flag_called.
        const client = nodeClient();
        const theirs = await run(outcome.arrange, async () => {
          const value = await client.getFeatureFlag(key, "u1");
          await client.shutdown();
          return value;
        });
        const mine = await run(outcome.arrange, () => ours({ distinctId: "u1", flagKeys: [key] }));

        expect(theirs.requests, key).toHaveLength(outcome.attempts);
        expect(mine.requests, key).toHaveLength(outcome.attempts);
        expect(mine.requests.map((r) => r.body)).toEqual(theirs.requests.map((r) => r.body));
        const ourValue = mine.value.ok ? mine.value.flags[key]?.value : undefined;
        expect(ourValue, key).toEqual(theirs.value);

        const called = theirs.events.filter((e) => e.event === "$feature_flag_called");
        expect(called, key).toHaveLength(1);
        expect(ourFlagCalled(mine.value, key), key).toEqual(pick(called[0]!.properties));
      }

      // getAllFlags and getAllFlagsAndPayloads: one bulk request.
      const client = nodeClient();
      const theirs = await run(outcome.arrange, () => client.getAllFlagsAndPayloads("u1"));
      await client.shutdown();
      const mine = await run(outcome.arrange, () => ours({ distinctId: "u1" }));
      expect(theirs.requests).toHaveLength(outcome.attempts);
      expect(mine.requests).toHaveLength(outcome.attempts);
      expect(valuesOf(mine.value)).toEqual(theirs.value.featureFlags);
      if (outcome.bulkPayloads !== false) expect(bulkPayloadsOf(mine.value)).toEqual(theirs.value.featureFlagPayloads);
    });
  }

  it("a refused connection is not retried", async () => {
    const closed = await startLocalPostHog();
    const host = closed.url;
    await closed.close();
    const slowRetry = 2_000;

    const client = new PostHog(KEY, { host, fetchRetryCount: 0, fetchRetryDelay: slowRetry, featureFlagsRequestTimeoutMs: 1_000 });
    client.on("error", () => {});
    let started = Date.now();
    const theirs = await client.getFeatureFlag("beta", "u1", { sendFeatureFlagEvents: false });
    const theirElapsed = Date.now() - started;
    await client.shutdown();

    started = Date.now();
    const mine = await fetchRemoteFlags({ host, apiKey: KEY, distinctId: "u1", flagKeys: ["beta"], retryDelayMs: slowRetry });
    const myElapsed = Date.now() - started;

    expect(theirs).toBeUndefined();
    expect(mine).toMatchObject({ ok: false, error: "network_error", message: expect.stringMatching(/ECONNREFUSED/) });
    expect(remoteFlagError(mine, "beta")).toBe("unknown_error");
    expect(theirElapsed).toBeLessThan(slowRetry);
    expect(myElapsed).toBeLessThan(slowRetry);
  });

  it("failure kinds are told apart", async () => {
    const cases: Array<[() => void, Partial<Extract<RemoteFlagsResult, { ok: false }>>]> = [
      [faulted({ hangMs: 2_000, times: 2 }), { error: "timeout" }],
      [faulted({ status: 504, times: 2 }), { error: "http_error", httpStatus: 504 }],
      [faulted({ status: 200, body: "not json" }), { error: "invalid_response" }],
      [answer({ flags: null }), { error: "invalid_response" }],
      [faulted({ reset: true, times: 2 }), { error: "network_error" }],
    ];
    for (const [arrange, expected] of cases) {
      const { value } = await run(arrange, () => ours({ distinctId: "u1" }));
      expect(value).toMatchObject({ ok: false, ...expected });
    }
  });
});
