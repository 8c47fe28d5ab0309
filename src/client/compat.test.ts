// Switching from @posthog/convex: its configuration (env names, POSTHOG_PROJECT_TOKEN), its
// hooks (a 2.x beforeSend, identify typed with the app's QueryCtx), reloadFeatureFlags, and
// configuration problems (no project key, `disabled`) that never break the app.
import { defineApp, type GenericDataModel, type GenericMutationCtx } from "convex/server";
import { v } from "convex/values";
import { PostHog as PostHogNode } from "posthog-node";
import { describe, expect, test, vi } from "vitest";
import posthogComponent from "../component/convex.config.js";
import { api, components } from "../testing/app/_generated/api.js";
import { PostHog, type FeatureFlagResult } from "./index.js";
import { flushAndDrain, initTestApp, useLocalPostHog, waitFor } from "../testing/setup.js";

const TOKEN = "phc_compat";
const server = useLocalPostHog({ POSTHOG_API_KEY: TOKEN, POSTHOG_PERSONAL_API_KEY: "phx_compat" });
const definitions = {
  flags: [
    {
      id: 1,
      key: "checkout",
      active: true,
      filters: { groups: [{ properties: [], rollout_percentage: 100 }], payloads: { true: '{"color":"blue"}' } },
    },
  ],
  group_type_mapping: {},
  cohorts: {},
};
const withoutProjectKey = () => {
  vi.stubEnv("POSTHOG_API_KEY", "");
  vi.stubEnv("POSTHOG_PROJECT_TOKEN", "");
};
/**
 * Flush, then wait for `count` events named `event` to reach the server (a delivery may still
 * be in flight). Filtering by name keeps a late delivery from an earlier test out of the answer.
 */
async function received(t: ReturnType<typeof initTestApp>, count: number, event = "order placed") {
  await flushAndDrain(t);
  const named = () => server.events().filter((e) => e.event === event);
  await waitFor(`${count} ${event} events`, () => named().length >= count);
  return named();
}
const readJson = (text: string) => JSON.parse(text) as Record<string, any>;

describe("@posthog/convex 2.x configuration", () => {
  test("POSTHOG_PROJECT_TOKEN is the project key when POSTHOG_API_KEY is not set; POSTHOG_API_KEY wins over it", async () => {
    const t = initTestApp();
    vi.stubEnv("POSTHOG_API_KEY", "");
    vi.stubEnv("POSTHOG_PROJECT_TOKEN", "phc_token");
    await t.mutation(api.compat.placeOrder, { distinctId: "u1" });
    vi.stubEnv("POSTHOG_API_KEY", "phc_api_key");
    await t.mutation(api.compat.placeOrder, { distinctId: "u2" });
    expect((await received(t, 2)).map((e) => [e.distinct_id, e.apiKey])).toEqual([
      ["u1", "phc_token"],
      ["u2", "phc_api_key"],
    ]);
  });

  test("an app.use(posthog, { env }) written for 2.x passes only names the component declares, all optional", () => {
    const app = defineApp({
      env: {
        POSTHOG_PROJECT_TOKEN: v.string(),
        POSTHOG_HOST: v.optional(v.string()),
        POSTHOG_PERSONAL_API_KEY: v.optional(v.string()),
      },
    });
    // The Convex bundler stamps the path on an imported definition; do the same.
    const imported = { ...posthogComponent, componentDefinitionPath: "convex-posthog/convex.config.js", defaultName: "posthog" };
    app.use(imported as typeof posthogComponent, {
      env: {
        POSTHOG_PROJECT_TOKEN: app.env.POSTHOG_PROJECT_TOKEN,
        POSTHOG_HOST: app.env.POSTHOG_HOST,
        POSTHOG_PERSONAL_API_KEY: app.env.POSTHOG_PERSONAL_API_KEY,
        POSTHOG_FLAGS_POLLING_INTERVAL_SECONDS: "30",
        POSTHOG_DISABLE_LOCAL_EVALUATION: "false",
      },
    });
    // What a push sends: the app's bindings, and the component's declarations.
    const analysis = (app as unknown as { export(): any }).export();
    const declared = new Map<string, any>((posthogComponent as unknown as { export(): any }).export().envVars);
    const passed: [string, unknown][] = analysis.childComponents[0].env;
    expect(passed.map(([name]) => name).filter((name) => !declared.has(name))).toEqual([]);
    expect(passed).toHaveLength(5);
    expect([...declared.values()].every((d) => d.optional === true)).toBe(true);
    // And the component still installs with no env at all.
    defineApp().use(imported as typeof posthogComponent);
  });

  test("2.x's polling variables start no refresh: definitions load only from the app's cron or reloadFeatureFlags", async () => {
    const t = initTestApp();
    server.setDefinitions(definitions, { token: TOKEN });
    vi.stubEnv("POSTHOG_FLAGS_POLLING_INTERVAL_SECONDS", "1");
    vi.stubEnv("POSTHOG_DISABLE_LOCAL_EVALUATION", "false");
    await t.mutation(api.compat.placeOrder, { distinctId: "u" });
    await received(t, 1);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(server.requests().map((r) => r.path)).toEqual(["/batch/"]); // no /flags/definitions
    expect((await t.query(api.compat.status, {})).flags.lastRefresh).toBeNull();
  });

  test("reads with no definitions loaded (2.x polled by itself; here the cron may be missing) warn once per client", async () => {
    const t = initTestApp();
    server.setDefinitions(definitions, { token: TOKEN });
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const notLoaded = () => warn.mock.calls.filter(([text]) => String(text).includes("no flag definitions are loaded"));
    try {
      // One client, seven reads that all find no definitions: one warning naming the fix.
      const before = await t.mutation(api.compat.localReads, { key: "checkout", distinctId: "u" });
      expect(JSON.parse(before).getFeatureFlagResult.reason).toBe("definitions_not_loaded");
      expect(notLoaded()).toEqual([[expect.stringMatching(/refreshFlagDefinitions from a cron/)]]);
      // Once the app's refresh ran, reads decide and say nothing more.
      await t.action(api.compat.reload, {});
      const after = await t.mutation(api.compat.localReads, { key: "checkout", distinctId: "u" });
      expect(JSON.parse(after).getFeatureFlag).toBe(true);
      expect(notLoaded()).toHaveLength(1);
      await flushAndDrain(t); // the reads' exposures, delivered before the next test starts
    } finally {
      warn.mockRestore();
    }
  });

  test("reloadFeatureFlags loads definitions, as refreshFlagDefinitions does", async () => {
    const t = initTestApp();
    server.setDefinitions(definitions, { token: TOKEN });
    expect((await t.action(api.compat.reload, {})).result).toBe("updated");
    const reads = readJson(await t.mutation(api.compat.localReads, { key: "checkout", distinctId: "u" }));
    expect(reads.getFeatureFlag).toBe(true);
    const [exposure] = await received(t, 1, "$feature_flag_called"); // the read was an exposure, in a mutation
    expect(exposure).toMatchObject({ event: "$feature_flag_called", properties: { $feature_flag_response: true } });
  });
});

describe("configuration problems never break the app", () => {
  test("with no project key a capture neither throws nor rolls back: nothing queued, one warning, status says so", async () => {
    const t = initTestApp();
    withoutProjectKey();
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    await t.mutation(api.compat.placeOrder, { distinctId: "u", captures: 2 });
    await t.mutation(api.compat.placeOrder, { distinctId: "u", captures: 2 });
    const warnings = warn.mock.calls.filter(([text]) => String(text).includes("not configured"));
    warn.mockRestore();
    expect(await t.query(api.compat.orders, {})).toBe(2);
    expect(warnings).toEqual([[expect.stringMatching(/analytics is not configured.*POSTHOG_API_KEY.*POSTHOG_PROJECT_TOKEN/)]]);
    expect(await t.query(api.compat.status, {})).toMatchObject({ pending: 0, analytics: "not_configured" });
    await t.finishAllScheduledFunctions(() => {});
    expect(server.requests()).toEqual([]);
  });

  test("bad input still throws without a project key", async () => {
    const t = initTestApp();
    withoutProjectKey();
    await expect(t.mutation(api.compat.placeOrder, { distinctId: "u", unserialisable: true })).rejects.toThrow(
      /properties\.callback.*function/i,
    );
  });

  test("with no project key local reads still answer, queue no exposure, and actions never ask /flags", async () => {
    const t = initTestApp();
    server.setDefinitions(definitions, { token: TOKEN });
    await t.action(api.compat.reload, {});
    withoutProjectKey();
    vi.spyOn(console, "warn").mockImplementation(() => {});
    const local = readJson(await t.mutation(api.compat.localReads, { key: "checkout", distinctId: "u" }));
    expect(local).toMatchObject({ getFeatureFlag: true, getFeatureFlagPayload: { color: "blue" } });
    const before = server.requests().length;
    const remote = readJson(await t.action(api.compat.actionReads, { key: "unknown", distinctId: "u" }));
    vi.restoreAllMocks();
    expect(remote).toMatchObject({
      getFeatureFlag: "<undefined>",
      getAllFlags: { checkout: true },
      evaluateFlag: null,
      evaluateFlagResult: { value: "<undefined>", enabled: false, reason: "not_configured" },
      evaluateFlagPayload: null,
      evaluateAllFlags: { featureFlags: {}, featureFlagPayloads: {} },
    });
    expect(server.requests().slice(before)).toEqual([]);
    expect(await t.query(api.compat.status, {})).toMatchObject({ pending: 0, analytics: "not_configured" });
  });

  test("disabled: nothing queued or requested, and flag reads answer as posthog-node's disabled client", async () => {
    const t = initTestApp();
    server.setDefinitions(definitions, { token: TOKEN });
    await t.action(api.compat.reload, {});
    const before = server.requests().length;
    const disabled = { disabled: true };
    await t.mutation(api.compat.placeOrder, { client: disabled, distinctId: "u" });
    const ours = readJson(await t.mutation(api.compat.localReads, { client: disabled, key: "checkout", distinctId: "u" }));
    const inAction = readJson(await t.action(api.compat.actionReads, { client: disabled, key: "checkout", distinctId: "u" }));
    expect(await t.action(api.compat.reload, { client: disabled })).toEqual({ result: "disabled" });

    const node = new PostHogNode(TOKEN, { host: server.url, personalApiKey: "phx_compat", disabled: true });
    const theirs = {
      getFeatureFlag: await node.getFeatureFlag("checkout", "u"),
      isFeatureEnabled: await node.isFeatureEnabled("checkout", "u"),
      getFeatureFlagPayload: await node.getFeatureFlagPayload("checkout", "u"),
      getAllFlags: await node.getAllFlags("u"),
      getAllFlagsAndPayloads: await node.getAllFlagsAndPayloads("u"),
    };
    await node.shutdown();
    const spelled = JSON.parse(JSON.stringify(theirs, (_k, value) => (value === undefined ? "<undefined>" : value)));
    expect(ours).toMatchObject(spelled);
    expect(ours.getFeatureFlagResult).toEqual({ key: "checkout", value: "<undefined>", enabled: false, variant: null, payload: null, reason: "disabled" });
    expect(ours.evaluateFlags).toEqual({});
    expect(inAction).toEqual({
      getFeatureFlag: "<undefined>",
      getAllFlags: {},
      evaluateFlag: null,
      evaluateFlagResult: { key: "checkout", value: "<undefined>", enabled: false, variant: null, payload: null, reason: "disabled" },
      evaluateFlagPayload: null,
      evaluateAllFlags: { featureFlags: {}, featureFlagPayloads: {} },
    });
    expect(await t.query(api.compat.orders, {})).toBe(1);
    expect(await t.query(api.compat.status, { client: disabled })).toMatchObject({ pending: 0, analytics: "disabled" });
    await t.finishAllScheduledFunctions(() => {});
    expect(server.requests().slice(before)).toEqual([]);
  });
});

describe("code written for @posthog/convex 2.x", () => {
  test("a beforeSend hook returning only event, distinctId and properties keeps the event's uuid and timestamp", async () => {
    const t = initTestApp();
    const uuid = "0190b0b0-0000-7000-8000-000000000001";
    await t.mutation(api.compat.placeOrder, { distinctId: "u", uuid, timestamp: "2026-01-02T03:04:05.000Z" });
    await received(t, 1);
    const event = server.events().find((e) => e.uuid === uuid);
    expect(event, `no event with uuid ${uuid} among ${JSON.stringify(server.events())}`).toBeDefined();
    expect(event).toMatchObject({ uuid, timestamp: "2026-01-02T03:04:05.000Z", distinct_id: "u" });
    expect(event!.properties).toMatchObject({ i: 0, environment: "test", $lib: expect.any(String) });
  });

  test("identify typed with the app's QueryCtx reads the caller's auth; an explicit distinctId still wins", async () => {
    const t = initTestApp();
    const signedIn = t.withIdentity({ subject: "user_42" });
    await signedIn.mutation(api.compat.placeOrder, {});
    await signedIn.mutation(api.compat.placeOrder, { distinctId: "acting-for-customer" });
    expect((await received(t, 2)).map((e) => e.distinct_id)).toEqual(["user_42", "acting-for-customer"]);
  });

  test("an undecided flag's result is off with a reason; isFeatureEnabled and the payload stay undefined", async () => {
    const t = initTestApp();
    const reads = readJson(await t.mutation(api.compat.localReads, { key: "checkout", distinctId: "u" }));
    expect(reads).toMatchObject({
      getFeatureFlag: "<undefined>",
      isFeatureEnabled: "<undefined>",
      getFeatureFlagPayload: "<undefined>",
      getFeatureFlagResult: { key: "checkout", value: "<undefined>", enabled: false, variant: null, payload: null, reason: "definitions_not_loaded" },
    });
    const [exposure] = await received(t, 1, "$feature_flag_called"); // posthog-node reports undecided reads too
    expect(exposure).toMatchObject({ event: "$feature_flag_called", properties: { $feature_flag: "checkout" } });
  });
});

// Compile-time checks, run by `npm run typecheck` (the pack check compiles a whole 2.x module).
export async function typeChecks(posthog: PostHog, ctx: GenericMutationCtx<GenericDataModel>) {
  // Queuing needs runMutation: a scheduler alone (what 2.x took) is refused, naming the ctx type.
  // @ts-expect-error Property 'runMutation' is missing ... but required in type 'MutationOrActionCtx'
  await posthog.identify({ scheduler: ctx.scheduler }, { distinctId: "u" });
  // @ts-expect-error Property 'runMutation' is missing ... but required in type 'MutationOrActionCtx'
  await posthog.capture({ scheduler: ctx.scheduler }, { event: "e" });
  // What the caller passes is what identify gets: a callback for a narrower ctx is accepted.
  new PostHog(components.posthog, { identify: async (mutationCtx: GenericMutationCtx<GenericDataModel>) => ({ distinctId: String(mutationCtx.db) }) });
  // @ts-expect-error a ctx without auth is not a Convex ctx
  new PostHog(components.posthog, { identify: async (notACtx: { nothing: true }) => ({ distinctId: String(notACtx) }) });
  const result = await posthog.getFeatureFlagResult(ctx, { key: "k" });
  const enabled: boolean = result.enabled;
  const fallback: FeatureFlagResult = { key: "k", enabled, variant: null, payload: null };
  return fallback;
}
