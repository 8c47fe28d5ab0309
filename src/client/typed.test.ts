// Typed flags and typed events through the client: what the compiler accepts and refuses
// (checked by `npm run typecheck`), what capture does with properties that break the taxonomy,
// and what reads and status report when PostHog serves what the registry does not declare.
import type { GenericActionCtx, GenericDataModel, GenericMutationCtx, GenericQueryCtx } from "convex/server";
import { v } from "convex/values";
import { afterEach, describe, expect, expectTypeOf, test, vi, type MockInstance } from "vitest";
import { api, components } from "../testing/app/_generated/api.js";
import { events, flags } from "../testing/app/typed.js";
import { flushAndDrain, initTestApp, useLocalPostHog, waitFor } from "../testing/setup.js";
import {
  defineFlags,
  FeatureFlagEvaluations,
  PostHog,
  PostHogInputError,
  type AllFlagsArgs,
  type CaptureArgs,
  type CaptureArgsOf,
  type FlagArgs,
  type FlagReadResult,
  type FlagsSnapshot,
  type FlagValue,
  type JsonType,
  type TypedFlagEvaluations,
} from "./index.js";

const TOKEN = "phc_typed";
const server = useLocalPostHog({ POSTHOG_API_KEY: TOKEN, POSTHOG_PERSONAL_API_KEY: "phx_typed" });

let warn: MockInstance<typeof console.warn> | undefined;
const warnings = (containing: string) =>
  warn!.mock.calls.map(([text]) => String(text)).filter((text) => text.includes(containing));
afterEach(() => warn?.mockRestore());
function watchWarnings() {
  warn = vi.spyOn(console, "warn").mockImplementation(() => {});
}

/** Flush, then the events with these uuids as the server received them (waiting for `count` of them). */
async function delivered(t: ReturnType<typeof initTestApp>, uuids: string[], count = uuids.length) {
  await flushAndDrain(t);
  const mine = () => server.events().filter((e) => uuids.includes(e.uuid));
  await waitFor(`${count} of ${uuids.join(", ")}`, () => mine().length >= count);
  return mine();
}
let uuidCounter = 0;
/** A fresh uuid per capture, so no event from another test can stand in. */
const newUuid = () => `0190a0b0-c0d0-7000-8000-${String(++uuidCounter).padStart(12, "0")}`;

const order = { amount: 12, currency: "EUR" };

describe("capture checks properties against the event taxonomy", () => {
  test("a breach throws a PostHogInputError naming the path and queues nothing", async () => {
    const t = initTestApp();
    const [bad, good] = [newUuid(), newUuid()];
    const capture = t.mutation(api.typed.capture, { client: "throw", event: "order placed", properties: { ...order, amount: "12" }, uuid: bad });
    // The whole message: the escape hatch would not help here (it checks declared events too).
    await expect(capture).rejects.toThrow(/^event: event "order placed" breaks the event taxonomy: properties\.amount: expected number, got string$/);
    expect((await t.query(api.typed.status, { client: "throw" })).pending).toBe(0);
    await t.mutation(api.typed.capture, { client: "throw", event: "order placed", properties: order, uuid: good });
    expect((await delivered(t, [bad, good], 1)).map((e) => e.uuid)).toEqual([good]);
  });

  test.each([
    ["a missing required property", { currency: "EUR" }, "properties.amount: missing, expected number"],
    ["an undeclared property", { ...order, color: "red" }, "properties.color: not declared"],
    ["a wrong type of a shared property", { ...order, plan: 3 }, "properties.plan: expected string, got number"],
  ])("%s is named", async (_, properties, problem) => {
    const t = initTestApp();
    await expect(t.mutation(api.typed.capture, { client: "throw", event: "order placed", properties, uuid: newUuid() })).rejects.toThrow(problem);
  });

  test("an event outside the taxonomy throws through the typed client", async () => {
    const t = initTestApp();
    const capture = t.mutation(api.typed.capture, { client: "throw", event: "order refunded", uuid: newUuid() });
    await expect(capture).rejects.toThrow(
      'event: event "order refunded" breaks the event taxonomy: event "order refunded" is not declared in the event taxonomy (posthog.untyped.capture sends events outside the taxonomy)',
    );
  });

  test("the failed capture fails its mutation (the app's write rolls back); events queued before arrive intact", async () => {
    const t = initTestApp();
    const [earlier, sameMutation, bad] = [newUuid(), newUuid(), newUuid()];
    await t.mutation(api.typed.capture, { client: "throw", event: "search run", properties: { query: "boots" }, uuid: earlier });
    const ordersBefore = await t.query(api.typed.orders, {});
    const place = t.mutation(api.typed.placeOrder, {
      goodUuid: sameMutation,
      catchInvalid: false,
      event: "order placed",
      properties: { amount: "lots", currency: "EUR" },
      uuid: bad,
    });
    await expect(place).rejects.toThrow("properties.amount: expected number, got string");
    expect(await t.query(api.typed.orders, {})).toBe(ordersBefore);
    const [arrived] = await delivered(t, [earlier, sameMutation, bad], 1);
    expect(server.events().filter((e) => [sameMutation, bad].includes(e.uuid))).toEqual([]);
    expect(arrived).toMatchObject({ event: "search run", uuid: earlier, distinct_id: "buyer", properties: { query: "boots" } });
  });

  test("an app that catches the error keeps its write and its other captures", async () => {
    const t = initTestApp();
    const [good, bad] = [newUuid(), newUuid()];
    const ordersBefore = await t.query(api.typed.orders, {});
    await t.mutation(api.typed.placeOrder, { goodUuid: good, catchInvalid: true, event: "order placed", properties: { amount: "lots" }, uuid: bad });
    expect(await t.query(api.typed.orders, {})).toBe(ordersBefore + 1);
    expect((await delivered(t, [good, bad], 1)).map((e) => [e.uuid, e.properties.amount])).toEqual([[good, 5]]);
  });

  test('onInvalidEvent "drop" queues nothing and warns once, naming the path', async () => {
    const t = initTestApp();
    watchWarnings();
    const [bad, good] = [newUuid(), newUuid()];
    await t.mutation(api.typed.capture, { client: "drop", event: "order placed", properties: { amount: "12", currency: "EUR" }, uuid: bad });
    expect((await t.query(api.typed.status, { client: "throw" })).pending).toBe(0);
    expect(warnings("breaks the event taxonomy")).toEqual([
      'PostHog: event "order placed" breaks the event taxonomy: properties.amount: expected number, got string; dropped',
    ]);
    await t.mutation(api.typed.capture, { client: "drop", event: "order placed", properties: order, uuid: good });
    expect((await delivered(t, [bad, good], 1)).map((e) => e.uuid)).toEqual([good]);
  });

  test('onInvalidEvent "send" delivers the event as captured and warns', async () => {
    const t = initTestApp();
    watchWarnings();
    const uuid = newUuid();
    await t.mutation(api.typed.capture, { client: "send", event: "order placed", properties: { amount: "12", currency: "EUR" }, uuid });
    expect(warnings("breaks the event taxonomy")).toEqual([
      'PostHog: event "order placed" breaks the event taxonomy: properties.amount: expected number, got string; sent anyway',
    ]);
    const [event] = await delivered(t, [uuid]);
    expect(event!.properties).toMatchObject({ amount: "12", currency: "EUR" });
  });

  test("validation runs before beforeSend: the hook never sees an invalid event, and what it adds is not checked", async () => {
    const t = initTestApp();
    const [bad, good] = [newUuid(), newUuid()];
    // The hook would drop an event with a string amount (a throwing hook drops): the capture throws instead.
    const capture = t.mutation(api.typed.capture, { client: "hooked", event: "order placed", properties: { amount: "12", currency: "EUR" }, uuid: bad });
    await expect(capture).rejects.toThrow("properties.amount: expected number, got string");
    // The hook adds `channel`, which the taxonomy does not declare.
    await t.mutation(api.typed.capture, { client: "hooked", event: "order placed", properties: order, uuid: good });
    const [event] = await delivered(t, [bad, good], 1);
    expect(event).toMatchObject({ uuid: good, properties: { ...order, channel: "web" } });
  });

  test("$ properties ($set, $set_once, $current_url) pass unchecked and arrive", async () => {
    const t = initTestApp();
    const uuid = newUuid();
    await t.mutation(api.typed.capture, { client: "throw", event: "signed up", dollar: true, uuid });
    const [event] = await delivered(t, [uuid]);
    expect(event!.properties).toMatchObject({
      $set: { email: "a@example.com" },
      $set_once: { first: "yes" },
      $current_url: "https://shop.example/checkout",
    });
  });

  test("untyped.capture delivers an event outside the taxonomy, but still checks declared ones", async () => {
    const t = initTestApp();
    const [undeclared, bad] = [newUuid(), newUuid()];
    await t.mutation(api.typed.capture, { client: "throw", untyped: true, event: "order refunded", properties: { anything: [1] }, uuid: undeclared });
    const capture = t.mutation(api.typed.capture, { client: "throw", untyped: true, event: "order placed", properties: { amount: "12" }, uuid: bad });
    await expect(capture).rejects.toThrow("properties.amount: expected number, got string");
    const [event] = await delivered(t, [undeclared, bad], 1);
    expect(event).toMatchObject({ uuid: undeclared, event: "order refunded", properties: { anything: [1] } });
  });

  test("a declared event with good properties arrives exactly as an untyped client's capture", async () => {
    const t = initTestApp();
    const [typed, untyped] = [newUuid(), newUuid()];
    const properties = { ...order, coupon: "WELCOME", plan: "pro" };
    await t.mutation(api.typed.capture, { client: "throw", event: "order placed", properties, dollar: true, uuid: typed });
    await t.mutation(api.typed.capture, { client: "plain", event: "order placed", properties, dollar: true, uuid: untyped });
    const events = await delivered(t, [typed, untyped]);
    const byUuid = (uuid: string) => events.find((e) => e.uuid === uuid)!;
    expect(byUuid(typed).properties).toEqual(byUuid(untyped).properties);
    expect(byUuid(typed).properties).toMatchObject(properties);
  });
});

// What PostHog serves, against the registry in src/testing/app/typed.ts: the checkout experiment
// serves "green" (undeclared) and lacks "blue", the search release's payload has a string
// limit, the kill switch is multivariate in PostHog, and tier_search_pro does not exist.
const always = { groups: [{ properties: [], rollout_percentage: 100 }] };
function definitions(servedVariant: string) {
  return {
    flags: [
      {
        id: 1,
        key: "experiment_checkout_button",
        active: true,
        filters: {
          ...always,
          multivariate: { variants: [{ key: "control", rollout_percentage: 0 }, { key: servedVariant, rollout_percentage: 100 }] },
          payloads: { control: '{"color":"grey"}' },
        },
      },
      { id: 2, key: "release_search_v2", active: true, filters: { ...always, payloads: { true: '{"limit":"ten"}' } } },
      { id: 3, key: "ops_checkout_killswitch", active: true, filters: { ...always, multivariate: { variants: [{ key: "on", rollout_percentage: 100 }] } } },
    ],
    group_type_mapping: {},
    cohorts: {},
  };
}

describe("what PostHog serves, against the flag registry", () => {
  test("before any refresh status().registry says not_loaded; an app without a registry has no registry in status", async () => {
    const t = initTestApp();
    expect((await t.query(api.typed.status, { client: "throw" })).registry).toEqual({ definitions: "not_loaded", findings: [] });
    expect(await t.query(api.typed.status, { client: "plain" })).not.toHaveProperty("registry");
  });

  test("status().registry lists each disagreement once definitions are loaded", async () => {
    const t = initTestApp();
    server.setDefinitions(definitions("green"), { token: TOKEN });
    await t.action(api.typed.refresh, {});
    const { registry } = await t.query(api.typed.status, { client: "throw" });
    expect(registry!.definitions).toBe("loaded");
    expect(registry!.findings.map(({ key, kind }) => `${key} ${kind}`).sort()).toEqual([
      "experiment_checkout_button missing_variant",
      "experiment_checkout_button undeclared_variant",
      "ops_checkout_killswitch not_multivariate",
      "release_search_v2 payload_mismatch",
      "tier_search_pro missing_flag",
    ]);
    const detail = (kind: string) => registry!.findings.find((finding) => finding.kind === kind)!.detail;
    expect(detail("undeclared_variant")).toContain('"green"');
    expect(detail("missing_variant")).toContain('"blue"');
    expect(detail("payload_mismatch")).toContain("limit: expected number, got string");
    await t.query(api.typed.status, { client: "plain" }).then((status) => expect(status).not.toHaveProperty("registry"));
  });

  test("a local read of an undeclared variant returns it unchanged and warns once, not on every read", async () => {
    const t = initTestApp();
    server.setDefinitions(definitions("green"), { token: TOKEN });
    await t.action(api.typed.refresh, {});
    watchWarnings();
    const reads = JSON.parse(await t.query(api.typed.readCheckout, { distinctId: "u1" }));
    expect(reads).toEqual({ getFeatureFlag: "green", variant: "green", payload: null, getAllFlags: { experiment_checkout_button: "green" }, snapshot: "green" });
    await t.query(api.typed.readCheckout, { distinctId: "u2" });
    expect(warnings("undeclared_variant")).toEqual([
      'PostHog: flag "experiment_checkout_button" (undeclared_variant): PostHog served variant "green"; the registry declares "control", "blue"; see status().registry',
    ]);
  });

  test("a payload failing its validator is returned unchanged and warned about once", async () => {
    const t = initTestApp();
    server.setDefinitions(definitions("green"), { token: TOKEN });
    await t.action(api.typed.refresh, {});
    watchWarnings();
    expect(await t.query(api.typed.readSearchPayload, { distinctId: "u1" })).toEqual({ limit: "ten" });
    expect(await t.query(api.typed.readSearchPayload, { distinctId: "u2" })).toEqual({ limit: "ten" });
    expect(warnings("payload_mismatch")).toEqual([
      expect.stringMatching(/^PostHog: flag "release_search_v2" \(payload_mismatch\): .*limit: expected number, got string; see status\(\).registry$/),
    ]);
  });

  test("a payload read for a given value (matchValue) is checked too", async () => {
    const t = initTestApp();
    server.setDefinitions(definitions("green"), { token: TOKEN });
    await t.action(api.typed.refresh, {});
    watchWarnings();
    expect(await t.query(api.typed.matchSearchPayload, {})).toEqual({ limit: "ten" });
    expect(warnings("payload_mismatch")).toEqual([expect.stringContaining('flag "release_search_v2" (payload_mismatch)')]);
  });

  test("a remote read in an action (evaluateFlag) of an undeclared variant returns it and warns once", async () => {
    const t = initTestApp();
    server.setDefinitions(definitions("teal"), { token: TOKEN }); // what /flags evaluates
    watchWarnings();
    expect(await t.action(api.typed.evaluateCheckout, { distinctId: "u1" })).toBe("teal");
    expect(await t.action(api.typed.evaluateCheckout, { distinctId: "u2" })).toBe("teal");
    expect(server.requests().filter((r) => r.path.startsWith("/flags"))).toHaveLength(2);
    expect(warnings('variant "teal"')).toEqual([expect.stringContaining('flag "experiment_checkout_button" (undeclared_variant)')]);
  });
});

describe("a bad registry fails at module load, naming the key", () => {
  test("a key outside the naming rule", () => {
    const define = () =>
      defineFlags({
        areas: ["checkout"],
        // @ts-expect-error the compiler refuses the key too
        flags: { checkoutButton: { description: "d", owner: "o" } },
      });
    expect(define).toThrow(PostHogInputError);
    expect(define).toThrow('flags.checkoutButton: key does not match ^(release|experiment|ops|tier)_(checkout)_[a-z0-9_]+$');
  });

  test("a variant declared twice", () => {
    const define = () =>
      defineFlags({
        areas: ["checkout"],
        flags: { experiment_checkout_button: { description: "d", owner: "o", variants: ["control", "blue", "control"] } },
      });
    expect(define).toThrow('flags.experiment_checkout_button: variant "control" is declared twice');
  });

  test("a payload for a value the flag does not have", () => {
    expect(() =>
      defineFlags({
        areas: ["checkout"],
        flags: { experiment_checkout_button: { description: "d", owner: "o", variants: ["control"], payload: { blue: v.string() } } },
      }),
    ).toThrow('flags.experiment_checkout_button: payload names "blue", which is not a value of this flag ("control")');
  });
});

// ---- Compile-time promises -------------------------------------------------------------------
// Checked by `npm run typecheck` (tsc), never run: each `@ts-expect-error` line must fail to
// compile, each expectTypeOf must hold exactly.

type Checkout = "control" | "blue" | false;
type CheckoutPayload = { color: string };
type SearchPayload = { limit: number };

async function typedReads(q: GenericQueryCtx<GenericDataModel>, m: GenericMutationCtx<GenericDataModel>, a: GenericActionCtx<GenericDataModel>) {
  const posthog = new PostHog(components.posthog, { flags, events });
  const distinctId = "u";
  const key = "experiment_checkout_button";

  expectTypeOf(await posthog.getFeatureFlag(q, { key, distinctId })).toEqualTypeOf<Checkout | undefined>();
  expectTypeOf(await posthog.getFeatureFlag(q, { key: "release_search_v2", distinctId })).toEqualTypeOf<boolean | undefined>();
  // @ts-expect-error a key outside the registry
  await posthog.getFeatureFlag(q, { key: "experiment_checkout_buton", distinctId });

  // The kill switch takes registry keys only.
  await posthog.disableFlagLocally(m, { key: "ops_checkout_killswitch", reason: "errors" });
  await posthog.clearKillSwitch(a, { key });
  // @ts-expect-error a key outside the registry
  await posthog.disableFlagLocally(m, { key: "ops_other" });
  // @ts-expect-error a key outside the registry
  await posthog.clearKillSwitch(m, { key: "ops_other" });
  await posthog.disableFlag(a, { key: "ops_checkout_killswitch", reason: "errors" });
  // @ts-expect-error a key outside the registry
  await posthog.disableFlag(m, { key: "ops_other" });

  expectTypeOf(await posthog.isFeatureEnabled(q, { key, distinctId })).toEqualTypeOf<boolean | undefined>();
  // @ts-expect-error a key outside the registry
  await posthog.isFeatureEnabled(q, { key: "release_search_v3", distinctId });

  expectTypeOf(await posthog.getFeatureFlagPayload(q, { key, distinctId })).toEqualTypeOf<CheckoutPayload | null | undefined>();
  expectTypeOf(await posthog.getFeatureFlagPayload(q, { key: "release_search_v2", distinctId })).toEqualTypeOf<SearchPayload | null | undefined>();
  // No validator declared: any JSON.
  expectTypeOf(await posthog.getFeatureFlagPayload(q, { key: "ops_checkout_killswitch", distinctId })).toEqualTypeOf<JsonType | null | undefined>();
  await posthog.getFeatureFlagPayload(q, { key, distinctId, matchValue: "blue" });
  // @ts-expect-error matchValue must be one of the flag's values
  await posthog.getFeatureFlagPayload(q, { key, distinctId, matchValue: "green" });
  // @ts-expect-error a key outside the registry
  await posthog.getFeatureFlagPayload(q, { key: "ops_other", distinctId });

  const result = await posthog.getFeatureFlagResult(m, { key, distinctId });
  expectTypeOf(result.key).toEqualTypeOf<"experiment_checkout_button">();
  expectTypeOf(result.value).toEqualTypeOf<Checkout | undefined>();
  expectTypeOf(result.variant).toEqualTypeOf<"control" | "blue" | null>();
  expectTypeOf(result.payload).toEqualTypeOf<CheckoutPayload | null>();
  expectTypeOf(result.enabled).toEqualTypeOf<boolean>();
  // @ts-expect-error a key outside the registry
  await posthog.getFeatureFlagResult(q, { key: "nope", distinctId });

  expectTypeOf(await posthog.evaluateFlag(a, { key, distinctId })).toEqualTypeOf<Checkout | null>();
  // @ts-expect-error a key outside the registry
  await posthog.evaluateFlag(a, { key: "nope", distinctId });
  const remote = await posthog.evaluateFlagResult(a, { key: "release_search_v2", distinctId });
  expectTypeOf(remote.value).toEqualTypeOf<boolean | undefined>();
  expectTypeOf(remote.payload).toEqualTypeOf<SearchPayload | null>();
  // @ts-expect-error a key outside the registry
  await posthog.evaluateFlagResult(a, { key: "nope", distinctId });
  expectTypeOf(await posthog.evaluateFlagPayload(a, { key: "release_search_v2", distinctId })).toEqualTypeOf<SearchPayload | null>();
  // @ts-expect-error a key outside the registry
  await posthog.evaluateFlagPayload(a, { key: "nope", distinctId });

  expectTypeOf(await posthog.getAllFlags(q, { distinctId })).toEqualTypeOf<{
    experiment_checkout_button?: Checkout;
    release_search_v2?: boolean;
    ops_checkout_killswitch?: boolean;
    tier_search_pro?: boolean;
  }>();
  expectTypeOf(await posthog.getAllFlags(q, { distinctId, flagKeys: [key] })).toEqualTypeOf<{ experiment_checkout_button?: Checkout }>();
  // @ts-expect-error flagKeys outside the registry
  await posthog.getAllFlags(q, { distinctId, flagKeys: ["nope"] });
  expectTypeOf(await posthog.getAllFlagsAndPayloads(q, { distinctId, flagKeys: ["release_search_v2"] })).toEqualTypeOf<{
    featureFlags: { release_search_v2?: boolean };
    featureFlagPayloads: { release_search_v2?: SearchPayload };
  }>();
  // @ts-expect-error flagKeys outside the registry
  await posthog.getAllFlagsAndPayloads(q, { distinctId, flagKeys: ["nope"] });
  expectTypeOf(await posthog.evaluateAllFlags(a, { distinctId, flagKeys: [key] })).toEqualTypeOf<{
    featureFlags: { experiment_checkout_button?: Checkout };
    featureFlagPayloads: { experiment_checkout_button?: CheckoutPayload };
  }>();
  // @ts-expect-error flagKeys outside the registry
  await posthog.evaluateAllFlags(a, { distinctId, flagKeys: ["nope"] });

  // A query's snapshot: plain data, typed per key.
  const snapshot = await posthog.evaluateFlags(q, { distinctId });
  expectTypeOf(snapshot.flags.experiment_checkout_button!.value).toEqualTypeOf<Checkout | undefined>();
  expectTypeOf(snapshot.flags.release_search_v2!.payload).toEqualTypeOf<SearchPayload | null>();
  // @ts-expect-error a key outside the registry
  void snapshot.flags.nope;
  // @ts-expect-error flagKeys outside the registry
  await posthog.evaluateFlags(q, { distinctId, flagKeys: ["nope"] });

  // A mutation's (or action's) snapshot: accessors take registered keys only.
  const evaluations = await posthog.evaluateFlags(m, { distinctId });
  expectTypeOf(await evaluations.getFlag(key)).toEqualTypeOf<Checkout | undefined>();
  expectTypeOf(await evaluations.isEnabled("release_search_v2")).toEqualTypeOf<boolean>();
  expectTypeOf(evaluations.getFlagPayload("release_search_v2")).toEqualTypeOf<SearchPayload | undefined>();
  expectTypeOf(evaluations.only([key])).toEqualTypeOf<TypedFlagEvaluations<typeof flags>>();
  expectTypeOf((await posthog.evaluateFlags(a, { distinctId })).keys).toEqualTypeOf<
    ("experiment_checkout_button" | "release_search_v2" | "ops_checkout_killswitch" | "tier_search_pro")[]
  >();
  // @ts-expect-error a key outside the registry
  await evaluations.getFlag("nope");
  // @ts-expect-error a key outside the registry
  await evaluations.isEnabled("nope");
  // @ts-expect-error a key outside the registry
  evaluations.getFlagPayload("nope");
  // @ts-expect-error a key outside the registry
  evaluations.only(["nope"]);

  // Typed snapshots and results still go where untyped ones go.
  await posthog.capture(m, { distinctId, event: "signed up", flags: snapshot });
  await posthog.capture(m, { distinctId, event: "signed up", flags: evaluations.only([key]) });
  await posthog.untyped.capture(m, { distinctId, event: "anything", flags: evaluations });
  await posthog.captureExposure(m, { distinctId, result });
  await posthog.captureExposure(m, { distinctId, result: snapshot.flags.experiment_checkout_button! });

  // An app's helper written for an untyped client takes the untyped view.
  const helper = async (client: PostHog) => await client.getFeatureFlag(q, { key: "anything", distinctId });
  await helper(posthog.untyped);

  // The escape hatch: any key, untyped answers.
  expectTypeOf(posthog.untyped).toEqualTypeOf<PostHog>();
  expectTypeOf(await posthog.untyped.getFeatureFlag(q, { key: "not_in_the_registry", distinctId })).toEqualTypeOf<FlagValue | undefined>();
  expectTypeOf(await posthog.untyped.getFeatureFlagPayload(q, { key, distinctId })).toEqualTypeOf<JsonType | null | undefined>();
  expectTypeOf(await posthog.untyped.getAllFlags(q, { distinctId, flagKeys: ["anything"] })).toEqualTypeOf<Record<string, FlagValue>>();
  expectTypeOf(await posthog.untyped.evaluateFlags(q, { distinctId })).toEqualTypeOf<FlagsSnapshot>();
}

async function typedEvents(m: GenericMutationCtx<GenericDataModel>) {
  const posthog = new PostHog(components.posthog, { flags, events });
  const distinctId = "u";
  await posthog.capture(m, { distinctId, event: "order placed", properties: { amount: 12, currency: "EUR" } });
  await posthog.capture(m, { distinctId, event: "order placed", properties: { amount: 12, currency: "EUR", coupon: "WELCOME", plan: "pro" } });
  // PostHog's own properties are always allowed.
  await posthog.capture(m, {
    distinctId,
    event: "order placed",
    properties: { amount: 12, currency: "EUR", $set: { email: "a@example.com" }, $set_once: { first: 1 }, $unset: ["old"], $current_url: "/", $ip: "1.2.3.4", $lib_custom: 1 },
  });
  // Nothing required: properties may be left out.
  await posthog.capture(m, { distinctId, event: "signed up" });
  await posthog.capture(m, { distinctId, event: "search run", properties: { query: "boots" }, uuid: "u", timestamp: new Date(), groups: { company: "c" } });
  // @ts-expect-error an event outside the taxonomy
  await posthog.capture(m, { distinctId, event: "order refunded" });
  // @ts-expect-error a required property missing
  await posthog.capture(m, { distinctId, event: "order placed", properties: { currency: "EUR" } });
  // @ts-expect-error required properties, so properties is required
  await posthog.capture(m, { distinctId, event: "order placed" });
  // @ts-expect-error a property of the wrong type
  await posthog.capture(m, { distinctId, event: "order placed", properties: { amount: "12", currency: "EUR" } });
  // @ts-expect-error a shared property of the wrong type
  await posthog.capture(m, { distinctId, event: "signed up", properties: { plan: 3 } });
  // @ts-expect-error a property the event does not declare
  await posthog.capture(m, { distinctId, event: "order placed", properties: { amount: 12, currency: "EUR", color: "red" } });
  // @ts-expect-error another event's property
  await posthog.capture(m, { distinctId, event: "search run", properties: { query: "boots", amount: 1 } });
  // @ts-expect-error a known $ property of the wrong type
  await posthog.capture(m, { distinctId, event: "signed up", properties: { $current_url: 1 } });

  // Typed arguments are still CaptureArgs, for an app's helpers that take untyped ones.
  expectTypeOf<CaptureArgsOf<typeof events>>().toExtend<CaptureArgs>();
  // The escape hatch takes anything a client without a taxonomy takes.
  expectTypeOf(posthog.untyped.capture).parameter(1).toEqualTypeOf<CaptureArgs>();
  await posthog.untyped.capture(m, { distinctId, event: "order refunded", properties: { anything: [1] } });
  await posthog.untyped.capture(m, { distinctId, event: "order placed", properties: { amount: "12" } });
}

async function untypedClients(q: GenericQueryCtx<GenericDataModel>, m: GenericMutationCtx<GenericDataModel>) {
  // No registry and no taxonomy: exactly the untyped types.
  const plain = new PostHog(components.posthog, { apiKey: "phc" });
  expectTypeOf(plain).toEqualTypeOf<PostHog>();
  expectTypeOf(plain.getFeatureFlag).returns.toEqualTypeOf<Promise<FlagValue | undefined>>();
  expectTypeOf(plain.isFeatureEnabled).returns.toEqualTypeOf<Promise<boolean | undefined>>();
  expectTypeOf(plain.getFeatureFlagResult).returns.toEqualTypeOf<Promise<FlagReadResult>>();
  expectTypeOf(plain.getFeatureFlagPayload).returns.toEqualTypeOf<Promise<JsonType | null | undefined>>();
  expectTypeOf(plain.getAllFlags).returns.toEqualTypeOf<Promise<Record<string, FlagValue>>>();
  type AllFlagsAndPayloads = { featureFlags: Record<string, FlagValue>; featureFlagPayloads: Record<string, JsonType> };
  expectTypeOf(plain.getAllFlagsAndPayloads).returns.toEqualTypeOf<Promise<AllFlagsAndPayloads>>();
  expectTypeOf(plain.evaluateFlag).returns.toEqualTypeOf<Promise<FlagValue | null>>();
  expectTypeOf(plain.evaluateFlagResult).returns.toEqualTypeOf<Promise<FlagReadResult>>();
  expectTypeOf(plain.evaluateFlagPayload).returns.toEqualTypeOf<Promise<JsonType | null>>();
  expectTypeOf(plain.evaluateAllFlags).returns.toEqualTypeOf<Promise<AllFlagsAndPayloads>>();
  expectTypeOf(await plain.evaluateFlags(q, {})).toEqualTypeOf<FlagsSnapshot>();
  expectTypeOf(await plain.evaluateFlags(m, {})).toEqualTypeOf<FeatureFlagEvaluations>();
  expectTypeOf(plain.capture).parameter(1).toEqualTypeOf<CaptureArgs>();
  // Structurally the same arguments (spelt Omit<FlagArgs, "key"> & { key: K }, hence branded).
  expectTypeOf(plain.getFeatureFlag).parameter(1).branded.toEqualTypeOf<FlagArgs>();
  expectTypeOf(plain.getAllFlags).parameter(1).branded.toEqualTypeOf<AllFlagsArgs | undefined>();
  await plain.getFeatureFlag(q, { key: "any_key_at_all", distinctId: "u" });
  await plain.capture(m, { distinctId: "u", event: "any event", properties: { anything: 1 } });

  // A taxonomy alone leaves flag reads untyped; a registry alone leaves capture untyped.
  const eventsOnly = new PostHog(components.posthog, { events });
  expectTypeOf(eventsOnly.getFeatureFlag).returns.toEqualTypeOf<Promise<FlagValue | undefined>>();
  expectTypeOf(eventsOnly.getAllFlags).returns.toEqualTypeOf<Promise<Record<string, FlagValue>>>();
  const flagsOnly = new PostHog(components.posthog, { flags });
  expectTypeOf(flagsOnly.capture).parameter(1).toEqualTypeOf<CaptureArgs>();
}
void [typedReads, typedEvents, untypedClients];
