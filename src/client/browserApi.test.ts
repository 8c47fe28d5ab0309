// The browser API (posthog.exposeApi) through the test app's convex/posthogApi.ts, against
// the local PostHog-compatible server: who asks comes from Convex auth, exposures and events
// are decided on the server, and PostHog's webhook refreshes the definitions at once.
import { beforeEach, describe, expect, test, vi } from "vitest";
import { fromConvexSafe } from "../core/convexSafe.js";
import { api, components } from "../testing/app/_generated/api.js";
import { PostHog, PostHogInputError } from "./index.js";
import { flushAndDrain, initRefreshedApp, initTestApp, useLocalPostHog } from "../testing/setup.js";

const TOKEN = "phc_browser";
const SECRET = "whsec_flags_changed";
const server = useLocalPostHog({ POSTHOG_API_KEY: TOKEN, POSTHOG_PERSONAL_API_KEY: "phx_browser" });

const always = { groups: [{ properties: [], rollout_percentage: 100 }] };
const proOnly = { groups: [{ properties: [{ key: "plan", type: "person", value: "pro" }], rollout_percentage: 100 }] };
const definitions = {
  flags: [
    {
      id: 1,
      key: "experiment_checkout_button",
      active: true,
      filters: {
        ...always,
        multivariate: { variants: [{ key: "blue", rollout_percentage: 100 }, { key: "control", rollout_percentage: 0 }] },
        payloads: { blue: '{"color":"#00f"}' },
      },
    },
    { id: 2, key: "release_search_v2", active: true, filters: { ...always, payloads: { true: '{"limit":20}' } } },
    { id: 3, key: "ops_checkout_killswitch", active: false, filters: always },
    { id: 4, key: "tier_search_pro", active: true, filters: proOnly },
    { id: 5, key: "themed", active: true, filters: { ...always, payloads: { true: '{"$theme":"dark","sizes":[1,2]}' } } },
  ],
  group_type_mapping: {},
  cohorts: {},
};

beforeEach(() => server.setDefinitions(definitions, { token: TOKEN }));

type T = ReturnType<typeof initTestApp>;
const ready = initRefreshedApp;
const proUser = { subject: "user-1", plan: "pro" };
const delivered = async (t: T, event: string) => {
  await flushAndDrain(t);
  return server.events(TOKEN).filter((e) => e.event === event);
};
const definitionRequests = () => server.requests().filter((r) => r.path.startsWith("/flags/definitions")).length;

describe("flags and flag queries", () => {
  test("flags answers the signed-in user's registry flags with posthog-js bootstrap field names", async () => {
    const t = await ready();
    const answer = await t.withIdentity(proUser).query(api.posthogApi.flags, {});
    expect(answer.distinctID).toBe("user-1");
    expect(answer.isIdentifiedID).toBe(true);
    expect(answer.featureFlags).toEqual({ experiment_checkout_button: "blue", release_search_v2: true, ops_checkout_killswitch: false, tier_search_pro: true });
    expect(fromConvexSafe(answer.featureFlagPayloads.experiment_checkout_button!)).toEqual({ color: "#00f" });
    expect(fromConvexSafe(answer.featureFlagPayloads.release_search_v2!)).toEqual({ limit: 20 });
    expect(answer.reasons.tier_search_pro).toBe("evaluated_locally");
    // The unregistered flag "themed" is not the browser's to read.
    expect(Object.keys(answer.reasons).sort()).toEqual(["experiment_checkout_button", "ops_checkout_killswitch", "release_search_v2", "tier_search_pro"]);

    const free = await t.withIdentity({ subject: "user-2" }).query(api.posthogApi.flags, { keys: ["tier_search_pro"] });
    expect(free).toEqual({ distinctID: "user-2", isIdentifiedID: true, featureFlags: { tier_search_pro: false }, featureFlagPayloads: {}, reasons: { tier_search_pro: "evaluated_locally" } });
  });

  test("flag answers one flag's value, variant, payload and reason", async () => {
    const t = await ready();
    const result = await t.withIdentity(proUser).query(api.posthogApi.flag, { key: "experiment_checkout_button" });
    expect({ ...result, payload: fromConvexSafe(result.payload) }).toEqual({
      key: "experiment_checkout_button",
      value: "blue",
      enabled: true,
      variant: "blue",
      payload: { color: "#00f" },
      reason: "evaluated_locally",
    });
  });

  test('anonymous "client-id": a signed-out browser reads flags with its anonymous id, not identified', async () => {
    const t = await ready();
    const answer = await t.query(api.posthogApi.flags, { keys: ["release_search_v2", "tier_search_pro"], anonymousId: "anon-7" });
    expect(answer).toMatchObject({ distinctID: "anon-7", isIdentifiedID: false, featureFlags: { release_search_v2: true } });
    // An anonymous id has no plan, so the plan-targeted flag cannot be decided (no value, a reason).
    expect(answer.featureFlags.tier_search_pro).toBeUndefined();
    expect(answer.reasons.tier_search_pro).toBe("missing_context");
    // A signed-in user's identity wins over an anonymous id.
    const signedIn = await t.withIdentity(proUser).query(api.posthogApi.flags, { keys: ["tier_search_pro"], anonymousId: "anon-7" });
    expect(signedIn).toMatchObject({ distinctID: "user-1", isIdentifiedID: true, featureFlags: { tier_search_pro: true } });
    // No identity and no anonymous id: nothing decided.
    const nobody = await t.query(api.posthogApi.flags, { keys: ["release_search_v2"] });
    expect(nobody).toEqual({ distinctID: null, isIdentifiedID: false, featureFlags: {}, featureFlagPayloads: {}, reasons: { release_search_v2: "no_identity" } });
  });

  test('anonymous "deny" (the default): signed-out browsers get undecided flags and can record nothing', async () => {
    const t = await ready();
    const answer = await t.query(api.posthogApi.strictFlags, { anonymousId: "anon-7" });
    expect(answer.distinctID).toBeNull();
    expect(answer.featureFlags).toEqual({});
    expect(Object.values(answer.reasons)).toEqual(["no_identity", "no_identity", "no_identity", "no_identity"]);
    const one = await t.query(api.posthogApi.strictFlag, { key: "release_search_v2", anonymousId: "anon-7" });
    expect(one).toMatchObject({ key: "release_search_v2", enabled: false, reason: "no_identity" });
    expect(one.value).toBeUndefined();
    await expect(t.mutation(api.posthogApi.strictReportExposure, { key: "release_search_v2", anonymousId: "anon-7" })).rejects.toThrow(
      /nobody is signed in and exposeApi's anonymous policy is "deny"/,
    );
    await expect(t.mutation(api.posthogApi.strictTrack, { event: "signed up", anonymousId: "anon-7" })).rejects.toThrow(/anonymous policy is "deny"/);
    // The same calls signed in work.
    expect(await t.withIdentity(proUser).mutation(api.posthogApi.strictReportExposure, { key: "release_search_v2" })).toBe(true);
    expect((await delivered(t, "$feature_flag_called")).map((e) => e.distinct_id)).toEqual(["user-1"]);
  });

  test("a flag outside the allowed keys is refused, naming it", async () => {
    const t = await ready();
    const asUser = t.withIdentity(proUser);
    await expect(asUser.query(api.posthogApi.narrowFlags, { keys: ["release_search_v2", "ops_checkout_killswitch" as "tier_search_pro"] })).rejects.toThrow(
      /flag "ops_checkout_killswitch" is not exposed to the browser/,
    );
    await expect(asUser.query(api.posthogApi.flag, { key: "themed" as "tier_search_pro" })).rejects.toThrow(/flag "themed" is not exposed to the browser/);
    await expect(asUser.mutation(api.posthogApi.reportExposure, { key: "themed" as "tier_search_pro" })).rejects.toThrow(/flag "themed" is not exposed/);
    // Without keys, the allowed ones.
    const narrow = await asUser.query(api.posthogApi.narrowFlags, {});
    expect(narrow.featureFlags).toEqual({ release_search_v2: true, tier_search_pro: true });
  });

  test("flags reads only the requested flags: one key costs the same in a project of 5 flags or 300", async () => {
    const small = await ready();
    const manyFlags = Array.from({ length: 295 }, (_, i) => ({ id: 100 + i, key: `extra_${i}`, active: true, filters: always }));
    server.setDefinitions({ ...definitions, flags: [...definitions.flags, ...manyFlags] }, { token: TOKEN });
    const large = await ready();
    const cost = (t: T, keys?: string[]) => t.withIdentity(proUser).query(api.posthogApi.flagsReadCost, keys ? { keys } : {});
    const [oneSmall, oneLarge] = [await cost(small, ["themed"]), await cost(large, ["themed"])];
    expect(oneLarge).toEqual(oneSmall);
    // The definitions' meta row and the flag's own row.
    expect(oneSmall).toMatchObject({ flagCount: 1, documentsRead: 2 });
    const tenLarge = await cost(large, Array.from({ length: 10 }, (_, i) => `extra_${i}`));
    expect(tenLarge).toMatchObject({ flagCount: 10, documentsRead: 11 });
    // keys: "all" with no keys named reads every flag.
    const everything = await cost(large);
    expect(everything.flagCount).toBe(300);
    expect(everything.bytesRead).toBeGreaterThan(oneLarge.bytesRead);
  });

  test("payloads with $ keys come back Convex-safe and read back intact", async () => {
    const t = await ready();
    const answer = await t.withIdentity(proUser).query(api.posthogApi.anyFlags, { keys: ["themed"] });
    expect(answer.featureFlags).toEqual({ themed: true });
    expect(answer.featureFlagPayloads.themed).toEqual({ convexSafeJson: '{"$theme":"dark","sizes":[1,2]}' });
    expect(fromConvexSafe(answer.featureFlagPayloads.themed!)).toEqual({ $theme: "dark", sizes: [1, 2] });
    const one = await t.withIdentity(proUser).query(api.posthogApi.anyFlag, { key: "themed" });
    expect(fromConvexSafe(one.payload)).toEqual({ $theme: "dark", sizes: [1, 2] });
    // keys: "all" lets any key through; one PostHog does not have is undecided, with its reason.
    const missing = await t.withIdentity(proUser).query(api.posthogApi.anyFlags, { keys: ["no_such_flag"] });
    expect(missing).toMatchObject({ featureFlags: {}, reasons: { no_such_flag: "unknown_flag" } });
  });
});

describe("definition", () => {
  test("without a registry the allowed keys must be given; without a taxonomy there is no track", () => {
    const plain = new PostHog(components.posthog);
    expect(() => plain.exposeApi()).toThrow(PostHogInputError);
    expect(() => plain.exposeApi()).toThrow(/exposeApi needs the flags the browser may read: pass keys/);
    expect(() => plain.exposeApi({ anonymous: "allow" as "deny", keys: "all" })).toThrow(/anonymous: must be "deny" or "client-id", got "allow"/);
    const listed = plain.exposeApi({ keys: ["a", "b"] });
    expect(Object.keys(listed).sort()).toEqual(["flag", "flags", "refreshHook", "reportExposure"]);
  });

  test("with a registry the functions' types carry its keys, values and payloads", async () => {
    const t = await ready();
    const answer = await t.withIdentity(proUser).query(api.posthogApi.flags, {});
    const variant: "control" | "blue" | false | undefined = answer.featureFlags.experiment_checkout_button;
    const payload: { color: string } | undefined = answer.featureFlagPayloads.experiment_checkout_button
      ? fromConvexSafe(answer.featureFlagPayloads.experiment_checkout_button)
      : undefined;
    // @ts-expect-error a key outside the registry
    void answer.featureFlags.themed;
    // @ts-expect-error a boolean flag's value is not a string
    const wrong: string | undefined = answer.featureFlags.release_search_v2;
    expect([variant, payload, wrong]).toEqual(["blue", { color: "#00f" }, true]);
  });
});

describe("reportExposure and track", () => {
  test("reportExposure evaluates on the server, refuses a forged value, and is deduplicated", async () => {
    const t = await ready();
    const free = t.withIdentity({ subject: "user-2" });
    // The validator refuses any argument but the key and anonymous id.
    await expect(free.mutation(api.posthogApi.reportExposure, { key: "tier_search_pro", value: true } as never)).rejects.toThrow(/value/);
    for (let i = 0; i < 3; i++) expect(await free.mutation(api.posthogApi.reportExposure, { key: "tier_search_pro" })).toBe(false);
    const calls = await delivered(t, "$feature_flag_called");
    expect(calls).toHaveLength(1);
    expect(calls[0]!.distinct_id).toBe("user-2");
    expect(calls[0]!.properties).toMatchObject({ $feature_flag: "tier_search_pro", $feature_flag_response: false, locally_evaluated: true });
  });

  test("track: Convex validates a declared event's properties; a good one is delivered for the signed-in user", async () => {
    const t = await ready();
    const asUser = t.withIdentity(proUser);
    await expect(
      asUser.mutation(api.posthogApi.track, { event: "order placed", properties: { amount: "12", currency: "EUR" } } as never),
    ).rejects.toThrow(/amount/);
    await expect(asUser.mutation(api.posthogApi.track, { event: "not declared", properties: {} } as never)).rejects.toThrow(/not declared/);
    // Another event's properties pass Convex's check (they are a declared shape) but not the handler's.
    await expect(asUser.mutation(api.posthogApi.track, { event: "signed up", properties: { query: "x" } } as never)).rejects.toThrow(
      /event "signed up": .*query/,
    );
    expect((await t.query(api.events.status, {})).pending).toBe(0);
    await asUser.mutation(api.posthogApi.track, { event: "order placed", properties: { amount: 12, currency: "EUR" } });
    await t.mutation(api.posthogApi.track, { event: "signed up", anonymousId: "anon-3" });
    const orders = await delivered(t, "order placed");
    expect(orders.map((e) => [e.distinct_id, e.properties.amount, e.properties.currency])).toEqual([["user-1", 12, "EUR"]]);
    expect(server.events(TOKEN).filter((e) => e.event === "signed up").map((e) => e.distinct_id)).toEqual(["anon-3"]);
  });
});

describe("refreshHook (PostHog's webhook when a flag changes)", () => {
  const call = (t: T, headers: Record<string, string>) =>
    t.fetch("/posthog/flags-changed", { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify({ event: { event: "$activity_log_entry_created" } }) });
  const edited = { ...definitions, flags: definitions.flags.map((f) => (f.key === "release_search_v2" ? { ...f, active: false } : f)) };

  test("a missing or wrong secret is refused with 401 and refreshes nothing", async () => {
    vi.stubEnv("POSTHOG_WEBHOOK_SECRET", SECRET);
    const t = await ready();
    const before = definitionRequests();
    server.setDefinitions(edited, { token: TOKEN });
    for (const headers of [{}, { authorization: "Bearer nope" }, { "x-posthog-webhook-secret": SECRET.slice(0, -1) }, { authorization: SECRET }] as Record<string, string>[]) {
      const response = await call(t, headers);
      expect(response.status).toBe(401);
    }
    expect(definitionRequests()).toBe(before);
    expect((await t.withIdentity(proUser).query(api.posthogApi.flag, { key: "release_search_v2" })).value).toBe(true);
  });

  test("the right secret refreshes at once: the flag query answers the value edited in PostHog", async () => {
    vi.stubEnv("POSTHOG_WEBHOOK_SECRET", SECRET);
    const t = await ready();
    const asUser = t.withIdentity(proUser);
    expect((await asUser.query(api.posthogApi.flag, { key: "release_search_v2" })).value).toBe(true);
    server.setDefinitions(edited, { token: TOKEN });
    const response = await call(t, { authorization: `Bearer ${SECRET}` });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ result: expect.any(String) });
    expect((await asUser.query(api.posthogApi.flag, { key: "release_search_v2" })).value).toBe(false);
    // The header PostHog's webhook destination can send works too.
    server.setDefinitions(definitions, { token: TOKEN });
    expect((await call(t, { "x-posthog-webhook-secret": SECRET })).status).toBe(200);
    expect((await asUser.query(api.posthogApi.flag, { key: "release_search_v2" })).value).toBe(true);
  });

  test("a secret passed as webhookSecret wins over the environment's", async () => {
    vi.stubEnv("POSTHOG_WEBHOOK_SECRET", SECRET);
    const t = await ready();
    server.setDefinitions(edited, { token: TOKEN });
    const post = (secret: string) => t.fetch("/posthog/flags-changed-in-code", { method: "POST", headers: { authorization: `Bearer ${secret}` }, body: "{}" });
    expect((await post(SECRET)).status).toBe(401);
    expect((await t.withIdentity(proUser).query(api.posthogApi.flag, { key: "release_search_v2" })).value).toBe(true);
    expect((await post("from-options")).status).toBe(200);
    expect((await t.withIdentity(proUser).query(api.posthogApi.flag, { key: "release_search_v2" })).value).toBe(false);
  });

  test("with no secret configured the route refuses every call, never open", async () => {
    const t = await ready();
    const before = definitionRequests();
    const response = await call(t, { authorization: "Bearer anything" });
    expect(response.status).toBe(503);
    expect(await response.text()).toMatch(/no secret is configured \(set POSTHOG_WEBHOOK_SECRET/);
    expect(definitionRequests()).toBe(before);
  });
});
