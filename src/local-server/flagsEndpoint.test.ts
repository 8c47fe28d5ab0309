import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { FlagEvaluator } from "../core/flags/index.js";
import { contextOfRequest, definitionSource, evaluateFlagsRequest } from "./flagsEndpoint.js";
import { startLocalPostHog, type LocalPostHog } from "./server.js";

const NOW = Date.parse("2026-03-01T00:00:00Z");
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const always = { properties: [], rollout_percentage: 100 };
const DEFINITIONS = {
  group_type_mapping: { "0": "company" },
  cohorts: { "7": { type: "AND", values: [{ type: "AND", values: [{ key: "plan", type: "person", value: ["pro"] }] }] } },
  flags: [
    { id: 1, key: "on", active: true, version: 3, filters: { groups: [always], payloads: { true: '{"a":1}' } } },
    { id: 2, key: "inactive", active: false, filters: { groups: [always] } },
    {
      id: 3,
      key: "second-condition",
      active: true,
      filters: {
        groups: [
          { properties: [{ key: "plan", type: "person", value: ["free"] }], rollout_percentage: 100 },
          { properties: [{ key: "plan", type: "person", value: ["pro"] }], rollout_percentage: 100 },
        ],
      },
    },
    { id: 4, key: "never", active: true, filters: { groups: [{ properties: [], rollout_percentage: 0 }] } },
    {
      id: 5,
      key: "no-match",
      active: true,
      filters: { groups: [{ properties: [{ key: "plan", type: "person", value: ["enterprise"] }], rollout_percentage: 100 }] },
    },
    { id: 6, key: "company", active: true, filters: { aggregation_group_type_index: 0, groups: [always], payloads: { true: { n: 1 } } } },
    { id: 7, key: "held-out", active: true, filters: { groups: [always], holdout: { id: 9, exclusion_percentage: 100 } } },
    {
      id: 8,
      key: "variants",
      active: true,
      has_experiment: true,
      filters: {
        groups: [{ ...always, variant: "b" }],
        multivariate: { variants: [{ key: "a", rollout_percentage: 50 }, { key: "b", rollout_percentage: 50 }] },
        payloads: { a: '"A"', b: '"B"' },
      },
    },
    { id: 9, key: "needs-email", active: true, filters: { groups: [{ properties: [{ key: "email", type: "person", operator: "icontains", value: "@" }] }] } },
    { id: 10, key: "continuity", active: true, ensure_experience_continuity: true, filters: { groups: [always] } },
    { id: 11, key: "device", active: true, bucketing_identifier: "device_id", filters: { groups: [always] } },
    { id: 12, key: "client-only", active: true, evaluation_runtime: "client", filters: { groups: [always] } },
    { id: 13, key: "tagged", active: true, evaluation_tags: ["web"], filters: { groups: [always] } },
    { id: 14, key: "cohort", active: true, filters: { groups: [{ properties: [{ key: "id", type: "cohort", value: 7 }] }] } },
    { id: 15, key: "static-cohort", active: true, filters: { groups: [{ properties: [{ key: "id", type: "cohort", value: 99 }] }] } },
  ],
};

const evaluate = (body: Record<string, unknown>, definitions: unknown = DEFINITIONS) =>
  evaluateFlagsRequest({ token: "phc", distinct_id: "u1", evaluation_runtime: "server", ...body }, definitions, {
    now: NOW,
    requestId: "req",
  });

describe("evaluateFlagsRequest", () => {
  test("a v2 answer: every active flag with value, reason and metadata", () => {
    const decidable = { ...DEFINITIONS, flags: DEFINITIONS.flags.filter((flag) => flag.key !== "static-cohort") };
    const response = evaluate(
      { person_properties: { plan: "pro", email: "a@b.c", $device_id: "d1" }, groups: { company: "acme" } },
      decidable,
    );
    expect(response).toMatchObject({ errorsWhileComputingFlags: false, requestId: "req", evaluatedAt: NOW });
    expect(response).not.toHaveProperty("minimalFlagCalledEvents");
    expect(response.flags.on).toEqual({
      key: "on",
      enabled: true,
      variant: null,
      reason: { code: "condition_match", condition_index: 0, description: "Matched condition set 1" },
      metadata: { id: 1, version: 3, description: null, payload: '{"a":1}', has_experiment: false },
    });
    expect(Object.keys(response.flags)).not.toContain("inactive");
    expect(Object.keys(response.flags)).not.toContain("client-only");
    expect(response.flags["second-condition"]!.reason).toEqual({
      code: "condition_match",
      condition_index: 1,
      description: "Matched condition set 2",
    });
    expect(response.flags.never).toMatchObject({
      enabled: false,
      reason: { code: "out_of_rollout_bound", condition_index: 0, description: "Out of rollout bound" },
      metadata: { payload: null },
    });
    expect(response.flags["no-match"]!.reason).toEqual({
      code: "no_condition_match",
      condition_index: null,
      description: "No matching condition set",
    });
    expect(response.flags["held-out"]).toMatchObject({
      enabled: true,
      variant: "holdout-9",
      reason: { code: "holdout_condition_value", condition_index: null },
    });
    expect(response.flags.variants).toMatchObject({
      enabled: true,
      variant: "b",
      metadata: { payload: '"B"', has_experiment: true, version: 0 },
    });
    // A stored payload that is not a string is sent JSON-encoded.
    expect(response.flags.company!.metadata.payload).toBe('{"n":1}');
    expect(response.flags["needs-email"]!.enabled).toBe(true);
    expect(response.flags.cohort!.enabled).toBe(true);
  });

  test("values agree with local evaluation wherever it decides", () => {
    const body = { distinct_id: "someone", person_properties: { plan: "pro", email: "x@y" }, groups: { company: "c1" } };
    const response = evaluate(body);
    const evaluator = new FlagEvaluator(definitionSource(DEFINITIONS), contextOfRequest(body, NOW));
    for (const [key, details] of Object.entries(response.flags)) {
      const local = evaluator.evaluate(key);
      if (!local.resolved) continue;
      expect(details.variant ?? details.enabled, key).toEqual(local.value);
    }
  });

  test("a group flag without its group: no_group_type", () => {
    expect(evaluate({}).flags.company).toMatchObject({
      enabled: false,
      reason: { code: "no_group_type", condition_index: null, description: "No group type" },
    });
  });

  test("what cannot be decided from the request is a failed flag, and errorsWhileComputingFlags", () => {
    const response = evaluate({ person_properties: { plan: "pro" } });
    expect(response.errorsWhileComputingFlags).toBe(true);
    expect(response.flags["needs-email"]).toEqual({
      key: "needs-email",
      enabled: false,
      variant: null,
      failed: true,
      reason: { code: "missing_context", condition_index: null, description: expect.any(String) },
      metadata: { id: 9, version: 0, description: null, payload: null, has_experiment: false },
    });
    expect(response.flags["static-cohort"]).toMatchObject({ failed: true, reason: { code: "unsupported_definition" } });
    expect(response.flags.device).toMatchObject({ failed: true, reason: { code: "missing_context" } });
    expect(response.flags.on).not.toHaveProperty("failed");
  });

  test("experience continuity: no stored override, so the distinct id is hashed", () => {
    expect(evaluate({}).flags.continuity).toMatchObject({ enabled: true, reason: { code: "condition_match" } });
  });

  test("device bucketing reads the top-level $device_id", () => {
    expect(evaluate({ $device_id: "d1" }).flags.device).toMatchObject({ enabled: true });
    expect(evaluate({ person_properties: { $device_id: "d1" } }).flags.device).toMatchObject({ enabled: true });
  });

  test("flag_keys_to_evaluate limits the answer; unknown and inactive keys are absent", () => {
    const response = evaluate({ flag_keys_to_evaluate: ["on", "inactive", "nope", "on"] });
    expect(Object.keys(response.flags)).toEqual(["on"]);
  });

  test("runtime and evaluation contexts", () => {
    expect(evaluate({ evaluation_runtime: "client" }).flags).toHaveProperty("client-only");
    expect(evaluate({ evaluation_runtime: undefined }).flags).toHaveProperty("client-only");
    expect(evaluate({}).flags).toHaveProperty("tagged");
    expect(evaluate({ evaluation_contexts: ["web"] }).flags).toHaveProperty("tagged");
    expect(evaluate({ evaluation_contexts: ["mobile"] }).flags).not.toHaveProperty("tagged");
    expect(evaluate({ evaluation_contexts: ["mobile"] }).flags).toHaveProperty("on");
  });

  test("minimal_flag_called_events in the definitions is passed on", () => {
    expect(evaluate({}, { ...DEFINITIONS, minimal_flag_called_events: true }).minimalFlagCalledEvents).toBe(true);
  });

  test("garbage definitions or body give an empty answer, not an exception", () => {
    expect(evaluateFlagsRequest(null, null).flags).toEqual({});
    expect(evaluateFlagsRequest("x", { flags: [null, { key: 5 }, { key: "ok", active: true }] }).flags).toHaveProperty("ok");
    const response = evaluateFlagsRequest({}, { flags: [] });
    expect(response.requestId).toMatch(UUID);
    expect(Math.abs(response.evaluatedAt - Date.now())).toBeLessThan(5_000);
  });
});

describe("POST /flags on the local server", () => {
  let server: LocalPostHog;
  beforeAll(async () => {
    server = await startLocalPostHog();
  });
  afterAll(() => server.close());
  afterEach(() => server.reset());

  const post = (body: unknown) =>
    fetch(`${server.url}/flags/?v=2`, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });

  test("evaluates the definitions served for the token by default", async () => {
    server.setDefinitions(DEFINITIONS, { token: "phc_a" });
    const res = await post({ token: "phc_a", distinct_id: "u1", flag_keys_to_evaluate: ["on", "never"] });
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toEqual({
      flags: {
        on: expect.objectContaining({ enabled: true, variant: null }),
        never: expect.objectContaining({ enabled: false }),
      },
      errorsWhileComputingFlags: false,
      requestId: expect.stringMatching(UUID),
      evaluatedAt: expect.any(Number),
    });
    // Another token gets the default (empty) definitions.
    expect((await (await post({ token: "phc_b", distinct_id: "u1" })).json()).flags).toEqual({});
  });

  test("canned answers and faults still win", async () => {
    server.setDefinitions(DEFINITIONS);
    server.setFlagsResponse({ flags: {}, canned: true });
    expect((await (await post({ token: "phc", distinct_id: "u1" })).json()).canned).toBe(true);
    server.setFlagsResponse(undefined);
    expect((await (await post({ token: "phc", distinct_id: "u1" })).json()).flags.on.enabled).toBe(true);
    server.addFaults({ path: "/flags", status: 504, times: 1 });
    expect((await post({ token: "phc", distinct_id: "u1" })).status).toBe(504);
    expect((await post({ token: "phc", distinct_id: "u1" })).status).toBe(200);
  });

  test("an evaluateFlags option replaces the default", async () => {
    const custom = await startLocalPostHog({ definitions: DEFINITIONS, evaluateFlags: () => ({ flags: {}, custom: true }) });
    try {
      const res = await fetch(`${custom.url}/flags/?v=2`, { method: "POST", body: JSON.stringify({ token: "phc", distinct_id: "u" }) });
      expect(await res.json()).toEqual({ flags: {}, custom: true });
    } finally {
      await custom.close();
    }
  });
});
