// Remote evaluation through PostHog's /flags, and the fallback of local reads in actions.
import { PostHog as PostHogNode } from "posthog-node";
import { beforeEach, describe, expect, test } from "vitest";
import { api } from "../testing/app/_generated/api.js";
import { flushAndDrain, initRefreshedApp, initTestApp, useLocalPostHog } from "../testing/setup.js";

const TOKEN = "phc_remote";
const server = useLocalPostHog({ POSTHOG_API_KEY: TOKEN, POSTHOG_PERSONAL_API_KEY: "phx_remote" });

const definitions = {
  flags: [
    { id: 31, key: "simple", active: true, filters: { groups: [{ properties: [], rollout_percentage: 100 }], payloads: { true: '{"$tier":"gold"}' } } },
    // Undecidable locally: experience continuity.
    { id: 32, key: "sticky", active: true, ensure_experience_continuity: true, filters: { groups: [{ properties: [] }] } },
    { id: 33, key: "client-side", active: true, evaluation_runtime: "client", ensure_experience_continuity: true, filters: { groups: [{ properties: [] }] } },
  ],
  group_type_mapping: { "0": "company" },
  cohorts: {},
};
/** What "PostHog" answers on /flags: it knows things local evaluation cannot. */
const serverAnswer = {
  flags: {
    simple: { key: "simple", enabled: false, variant: null, reason: { code: "no_condition_match", description: "No matching condition set" }, metadata: { id: 31, version: 4 } },
    sticky: { key: "sticky", enabled: true, variant: "kept", reason: { code: "condition_match", description: "Matched condition set 1" }, metadata: { id: 32, version: 7, payload: '{"$seen":true}' } },
  },
  errorsWhileComputingFlags: false,
  requestId: "req-123",
  evaluatedAt: 1_700_000_000_000,
};
beforeEach(() => {
  server.setDefinitions(definitions, { token: TOKEN });
  server.setFlagsResponse(serverAnswer);
});

const flagsRequests = () => server.requests().filter((r) => r.path.startsWith("/flags/") && r.method === "POST");
const person = { distinctId: "user-1", personProperties: { $device_id: "dev-1", plan: "pro" }, groups: { company: "acme" }, groupProperties: { company: { size: 10 } } };
const ready = initRefreshedApp;

describe("remote evaluation", () => {
  test("the /flags request body equals posthog-node's, $device_id included, and values are the server's", async () => {
    const t = initTestApp();
    const ours = JSON.parse(await t.action(api.flags.remote, { method: "evaluateFlag", key: "sticky", context: JSON.stringify(person) }));
    expect(ours).toBe("kept");
    const node = new PostHogNode(TOKEN, { host: server.url, flushAt: 1, flushInterval: 0, fetchRetryCount: 0 });
    const theirs = await node.getFeatureFlag("sticky", person.distinctId, { ...person, sendFeatureFlagEvents: false });
    await node.shutdown();
    expect(theirs).toBe(ours);
    const [mine, posthogNodes] = flagsRequests();
    expect(mine!.body).toEqual(posthogNodes!.body);
    expect(mine!.body).toMatchObject({ $device_id: "dev-1", person_properties: { $device_id: "dev-1" }, flag_keys_to_evaluate: ["sticky"] });
    await flushAndDrain(t); // its exposure must not arrive during a later test
  });

  test("evaluateFlagPayload, evaluateAllFlags with flagKeys, and the exposure of evaluateFlag", async () => {
    const t = initTestApp();
    const context = JSON.stringify(person);
    expect(JSON.parse(await t.action(api.flags.remote, { method: "evaluateFlagPayload", key: "sticky", context }))).toEqual({ $seen: true });
    const all = JSON.parse(await t.action(api.flags.remote, { method: "evaluateAllFlags", context, flagKeys: ["simple", "sticky"] }));
    expect(all).toEqual({ featureFlags: { simple: false, sticky: "kept" }, featureFlagPayloads: { sticky: { $seen: true } } });
    expect(flagsRequests().at(-1)!.body).toMatchObject({ flag_keys_to_evaluate: ["simple", "sticky"] });

    const result = JSON.parse(await t.action(api.flags.remote, { method: "evaluateFlagResult", key: "sticky", context }));
    expect(result).toMatchObject({ value: "kept", reason: "evaluated_remotely", flagId: 32 });
    await flushAndDrain(t);
    const [exposure] = server.events(TOKEN).filter((e) => e.event === "$feature_flag_called");
    expect(exposure!.properties).toMatchObject({
      $feature_flag: "sticky",
      $feature_flag_response: "kept",
      locally_evaluated: false,
      $feature_flag_id: 32,
      $feature_flag_version: 7,
      $feature_flag_reason: "Matched condition set 1",
      $feature_flag_request_id: "req-123",
      $feature_flag_evaluated_at: 1_700_000_000_000,
    });
  });

  test("a missing flag, quota limiting, a timeout and a 500 give null or empty maps, never a failed action", async () => {
    const t = initTestApp();
    const context = JSON.stringify(person);
    const evaluate = async (key: string, timeoutMs?: number) => JSON.parse(await t.action(api.flags.remote, { method: "evaluateFlagResult", key, context, timeoutMs }));
    expect(await evaluate("nope")).toMatchObject({ reason: "flag_missing" });
    server.setFlagsResponse({ flags: {}, quotaLimited: ["feature_flags"], requestId: "q" });
    expect(await evaluate("sticky")).toMatchObject({ reason: "quota_limited" });
    server.setFlagsResponse(serverAnswer);
    server.addFaults({ path: "/flags", hangMs: 1_000, times: 2 });
    expect(await evaluate("simple", 100)).toMatchObject({ reason: "remote_error" });
    server.addFaults({ path: "/flags", status: 500, times: 1 });
    expect(JSON.parse(await t.action(api.flags.remote, { method: "evaluateFlag", key: "other", context }))).toBeNull();
    server.addFaults({ path: "/flags", status: 500, times: 1 });
    expect(JSON.parse(await t.action(api.flags.remote, { method: "evaluateAllFlags", context }))).toEqual({ featureFlags: {}, featureFlagPayloads: {} });
    await flushAndDrain(t);
    // One exposure per (flag, response): each unknown answer is still reported, with its error.
    const errors = server.events(TOKEN).filter((e) => e.event === "$feature_flag_called").map((e) => [e.properties.$feature_flag, e.properties.$feature_flag_error]);
    expect(errors.sort()).toEqual([["nope", "flag_missing"], ["other", "unknown_error"], ["simple", "unknown_error"], ["sticky", "quota_limited,flag_missing"]]);
  });
});

describe("fallback in actions", () => {
  test("getAllFlags with one locally undecidable flag makes exactly one /flags request; PostHog's values overwrite", async () => {
    const t = await ready();
    const all = JSON.parse(await t.action(api.flags.readInAction, { method: "getAllFlags", context: JSON.stringify(person) }));
    expect(flagsRequests()).toHaveLength(1);
    expect(flagsRequests()[0]!.body).not.toHaveProperty("flag_keys_to_evaluate");
    // "simple" was true locally; PostHog's answer (false) overwrites it, as posthog-node does.
    expect(all).toEqual({ simple: false, sticky: "kept" });
  });

  test("a single undecidable flag is asked for by key; a decided one, client-only flags and onlyEvaluateLocally ask nothing", async () => {
    const t = await ready();
    const read = async (key: string, onlyEvaluateLocally?: boolean) =>
      JSON.parse(await t.action(api.flags.readInAction, { method: "getFeatureFlagResult", key, context: JSON.stringify(person), onlyEvaluateLocally }));
    expect(await read("simple")).toMatchObject({ value: true, reason: "evaluated_locally" });
    expect(await read("client-side")).toMatchObject({ reason: "experience_continuity" });
    expect(await read("sticky", true)).toMatchObject({ reason: "experience_continuity" });
    expect(flagsRequests()).toHaveLength(0);
    expect(await read("sticky")).toMatchObject({ value: "kept", reason: "evaluated_remotely" });
    expect(flagsRequests().map((r) => (r.body as { flag_keys_to_evaluate?: string[] }).flag_keys_to_evaluate)).toEqual([["sticky"]]);
  });

  test("queries and mutations never ask PostHog", async () => {
    const t = await ready();
    expect((await t.query(api.flags.readFlag, { key: "sticky", context: JSON.stringify(person) })).value).toBeUndefined();
    await t.mutation(api.flags.readFlagInMutation, { key: "sticky", context: JSON.stringify(person) });
    expect(flagsRequests()).toHaveLength(0);
  });

  test("capture with sendFeatureFlags in an action stays local when definitions are loaded", async () => {
    const t = await ready();
    await t.action(api.flags.readInAction, { method: "captureWithFlags", context: JSON.stringify({ distinctId: "user-1" }) });
    await flushAndDrain(t);
    expect(flagsRequests()).toHaveLength(0);
    const [event] = server.events(TOKEN).filter((e) => e.event === "from action");
    expect(event!.properties).toMatchObject({ "$feature/simple": true, $active_feature_flags: ["simple"] });
    expect(event!.properties).not.toHaveProperty("$feature/sticky");
  });
});
