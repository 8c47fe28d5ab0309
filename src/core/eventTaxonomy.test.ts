// The event taxonomy: module-load errors, run-time checks of properties, the validators it builds
// for function arguments, and the capture arguments it types.
import { v, type Infer } from "convex/values";
import { describe, expect, expectTypeOf, it } from "vitest";
import { defineEvents, type TypedCaptureArgs, type UntypedEventTaxonomy } from "./eventTaxonomy.js";
import { validateValue } from "./validate.js";

const events = defineEvents({
  common: { app_version: v.optional(v.string()) },
  events: {
    order_placed: {
      properties: { item: v.string(), amount: v.number(), coupon: v.optional(v.string()), app_version: v.optional(v.string()) },
      description: "An order went through.",
      owner: "@ana",
    },
    checkout_failed: { properties: { reason: v.union(v.literal("card"), v.literal("stock")) } },
    signed_up: {},
    page_seen: { properties: { path: v.string() }, strict: false },
  },
});

// A client's capture arguments, as the facade would pass them.
interface CaptureArgs {
  distinctId: string;
  event: string;
  properties?: Record<string, unknown>;
  timestamp?: Date;
}
type Capture = TypedCaptureArgs<typeof events, CaptureArgs>;

describe("defineEvents: module-load errors", () => {
  it("refuses $-prefixed custom property names, in events and in common, also at compile time", () => {
    // @ts-expect-error: $plan is PostHog's namespace
    expect(() => defineEvents({ events: { a: { properties: { $plan: v.string() } } } })).toThrow(
      'events.a.properties.$plan: custom property names must not start with "$" (PostHog reserves them)',
    );
    // @ts-expect-error: $lib is PostHog's namespace
    expect(() => defineEvents({ common: { $lib: v.string() }, events: {} })).toThrow("common.$lib: custom property names must not start");
  });

  it("refuses an event redeclaring a common property differently, accepts the same declaration", () => {
    expect(() =>
      defineEvents({ common: { app_version: v.optional(v.string()) }, events: { a: { properties: { app_version: v.string() } } } }),
    ).toThrow("events.a.properties.app_version: redeclares the common property optional string as string");
    expect(() => defineEvents({ common: { n: v.number() }, events: { a: { properties: { n: v.number() } } } })).not.toThrow();
  });

  it("refuses an empty event name and a property that is not a validator", () => {
    expect(() => defineEvents({ events: { "": {} } })).toThrow('events[""]: event name must not be empty');
    expect(() => defineEvents({ events: { "order placed": { properties: { a: "string" as never } } } })).toThrow(
      'events["order placed"].properties.a: must be a Convex validator',
    );
  });
});

describe("check", () => {
  it("a conforming event has no problems; $ properties are never checked", () => {
    expect(events.names).toEqual(["order_placed", "checkout_failed", "signed_up", "page_seen"]);
    expect(events.check("order_placed", { item: "book", amount: 12, $set: { plan: "pro" }, $current_url: 5 })).toEqual([]);
    expect(events.check("signed_up", undefined)).toEqual([]);
    expect(events.check("signed_up", { app_version: "1.2" })).toEqual([]);
  });

  it("an unknown event is a problem", () => {
    expect(events.check("order_placd", {})).toEqual(['event "order_placd" is not declared in the event taxonomy']);
  });

  it("names wrong types, missing properties, undeclared properties and bad literals by path", () => {
    expect(events.check("order_placed", { item: "book", amount: "12", cupon: "X", app_version: 2 })).toEqual([
      "properties.app_version: expected string, got number",
      "properties.amount: expected number, got string",
      "properties.cupon: not declared",
    ]);
    expect(events.check("order_placed", { amount: 1 })).toEqual(["properties.item: missing, expected string"]);
    expect(events.check("checkout_failed", { reason: "gold" })).toEqual(['properties.reason: expected "card" | "stock", got "gold"']);
    expect(events.check("order_placed", "oops")).toEqual(["properties: expected object, got string"]);
  });

  it("undeclared properties are allowed when the taxonomy or the event is not strict", () => {
    expect(events.check("page_seen", { path: "/", referrer: "x" })).toEqual([]);
    const loose = defineEvents({ strict: false, events: { a: { properties: { n: v.number() } }, b: { strict: true } } });
    expect(loose.check("a", { n: 1, extra: true })).toEqual([]);
    expect(loose.check("a", { n: "1", extra: true })).toEqual(["properties.n: expected number, got string"]);
    expect(loose.check("b", { extra: true })).toEqual(["properties.extra: not declared"]);
  });
});

describe("validators for an app's function arguments", () => {
  it("validator(name) is a v.object of the event's and the common properties", () => {
    const validator = events.validator("order_placed");
    expect(validator.kind).toBe("object");
    expect(validateValue(validator, { item: "a", amount: 1, app_version: "1" })).toEqual([]);
    expect(validateValue(validator, { item: "a" }, { path: "args" })).toEqual(["args.amount: missing, expected number"]);
    expectTypeOf<Infer<typeof validator>>().toEqualTypeOf<{ item: string; amount: number; coupon?: string; app_version?: string }>();
    expect(() => events.validator("nope" as never)).toThrow('event: event "nope" is not declared in the event taxonomy');
  });

  it("union() accepts each declared event with its properties, optional when none is required", () => {
    const union = events.union();
    expect(validateValue(union, { event: "order_placed", properties: { item: "a", amount: 1 } })).toEqual([]);
    expect(validateValue(union, { event: "signed_up" })).toEqual([]);
    expect(validateValue(union, { event: "order_placed" })).toHaveLength(1);
    expect(validateValue(union, { event: "checkout_failed", properties: { reason: "card", extra: 1 } })).toHaveLength(1);
    expect(validateValue(union, { event: "other", properties: {} })).toHaveLength(1);
    expectTypeOf<Infer<typeof union>>().toMatchTypeOf<
      | { event: "order_placed"; properties: { item: string; amount: number } }
      | { event: "signed_up"; properties?: { app_version?: string } }
      | { event: "checkout_failed"; properties: { reason: "card" | "stock" } }
      | { event: "page_seen"; properties: { path: string } }
    >();
  });
});

describe("TypedCaptureArgs", () => {
  it("accepts declared events with their properties, extra $ properties, and no properties when none is required", () => {
    const calls: Capture[] = [
      { distinctId: "u", event: "order_placed", properties: { item: "a", amount: 1, $set: { plan: "pro" }, $current_url: "/x" } },
      { distinctId: "u", event: "signed_up" },
      { distinctId: "u", event: "signed_up", properties: { app_version: "1", $geoip_disable: true }, timestamp: new Date(0) },
    ];
    expect(calls.map((call) => events.check(call.event, call.properties))).toEqual([[], [], []]);
  });

  it("an unknown event, a missing or wrong property, an undeclared property are compile errors", () => {
    // @ts-expect-error: unknown event
    const unknown: Capture = { distinctId: "u", event: "order_placd" };
    // @ts-expect-error: amount missing
    const missing: Capture = { distinctId: "u", event: "order_placed", properties: { item: "a" } };
    // @ts-expect-error: properties missing although required
    const noProperties: Capture = { distinctId: "u", event: "order_placed" };
    // @ts-expect-error: amount is a number
    const wrongType: Capture = { distinctId: "u", event: "order_placed", properties: { item: "a", amount: "1" } };
    // @ts-expect-error: cupon is not declared
    const undeclared: Capture = { distinctId: "u", event: "order_placed", properties: { item: "a", amount: 1, cupon: "X" } };
    // @ts-expect-error: not a declared reason
    const badLiteral: Capture = { distinctId: "u", event: "checkout_failed", properties: { reason: "gold" } };
    // @ts-expect-error: $set is a property map
    const badSet: Capture = { distinctId: "u", event: "signed_up", properties: { $set: "pro" } };
    // Run time agrees with the compiler on each of them.
    const problems = [unknown, missing, noProperties, wrongType, undeclared, badLiteral].map((call) =>
      events.check(call.event, call.properties),
    );
    expect(problems.every((list) => list.length > 0)).toBe(true);
    expect(badSet.event).toBe("signed_up");
  });

  it("the untyped default (or no taxonomy) is exactly the base arguments", () => {
    expectTypeOf<TypedCaptureArgs<UntypedEventTaxonomy, CaptureArgs>>().toEqualTypeOf<CaptureArgs>();
    expectTypeOf<TypedCaptureArgs<undefined, CaptureArgs>>().toEqualTypeOf<CaptureArgs>();
  });

  it("the event name narrows the properties", () => {
    expectTypeOf<Extract<Capture, { event: "checkout_failed" }>["properties"]>().toMatchTypeOf<{ reason: "card" | "stock" }>();
    expectTypeOf<Extract<Capture, { event: "checkout_failed" }>["timestamp"]>().toEqualTypeOf<Date | undefined>();
  });
});
