// Wire scenarios: the same call made through posthog-node 5.70 and through our client, for
// tests that run both against a local PostHog server and compare the messages received.
//
// Each scenario holds the posthog-node call (method + arguments) and the equivalent call of our
// client API (method + args, without the Convex ctx). Both sides share the very same objects
// (e.g. one Error instance), so stack traces are comparable frame for frame.
//
// Use `comparableMessage` on both received messages before comparing: it removes what
// legitimately differs (`$lib`, `$lib_version`, a generated `uuid`/`timestamp`/`distinct_id`,
// and stack traces built at the capture call, which necessarily come from different places).
import type {
  AliasInput,
  BuildOptions,
  CaptureInput,
  ExceptionInput,
  GroupIdentifyInput,
  IdentifyInput,
  PostHogMessage,
} from "../core/messages.js";
import {
  buildAliasMessage,
  buildCaptureMessage,
  buildExceptionMessage,
  buildGroupIdentifyMessage,
  buildIdentifyMessage,
} from "../core/messages.js";

type Props = Record<string, unknown>;

/** The posthog-node call, as `client[method](...args)`. */
export type NodeCall =
  | {
      method: "capture";
      args: [
        {
          distinctId: string;
          event: string;
          properties?: Props;
          groups?: Record<string, string | number>;
          timestamp?: Date | string;
          uuid?: string;
          disableGeoip?: boolean;
        },
      ];
    }
  | { method: "identify"; args: [{ distinctId: string; properties?: Props; disableGeoip?: boolean }] }
  | { method: "alias"; args: [{ distinctId: string; alias: string; disableGeoip?: boolean }] }
  | {
      method: "groupIdentify";
      args: [{ groupType: string; groupKey: string; properties?: Props; distinctId?: string; disableGeoip?: boolean }];
    }
  | {
      method: "captureException";
      /** error, distinctId, additionalProperties, uuid */
      args: [unknown, (string | undefined)?, (Props | undefined)?, (string | undefined)?];
    };

/** The equivalent call of our client (`posthog[method](ctx, args)`). */
export type OurCall =
  | { method: "capture"; args: CaptureInput }
  | { method: "identify"; args: IdentifyInput }
  | { method: "alias"; args: AliasInput }
  | { method: "groupIdentify"; args: GroupIdentifyInput }
  | { method: "captureException"; args: ExceptionInput };

export interface WireScenario {
  name: string;
  node: NodeCall;
  ours: OurCall;
  /** Values the caller chose, which must therefore arrive identical on both sides. */
  fixed: { uuid: boolean; timestamp: boolean; distinctId: boolean };
  /**
   * The exception has no stack of its own, so each SDK records the stack of its capture call.
   * Those frames cannot match; their presence is still compared.
   */
  callSiteStack?: boolean;
}

/** Anything with posthog-node's capture API (the node or edge build). */
export interface PostHogNodeLike {
  capture(props: unknown): void;
  identify(props: unknown): void;
  alias(props: unknown): void;
  groupIdentify(props: unknown): void;
  captureException(error: unknown, distinctId?: string, additionalProperties?: Props, uuid?: string): void;
}

export function callPostHogNode(client: PostHogNodeLike, call: NodeCall): void {
  switch (call.method) {
    case "capture":
      return client.capture(call.args[0]);
    case "identify":
      return client.identify(call.args[0]);
    case "alias":
      return client.alias(call.args[0]);
    case "groupIdentify":
      return client.groupIdentify(call.args[0]);
    case "captureException":
      return client.captureException(...call.args);
  }
}

/** Our message for a scenario, built directly with the core builders. */
export function buildOurMessage(call: OurCall, opts: BuildOptions): PostHogMessage {
  switch (call.method) {
    case "capture":
      return buildCaptureMessage(call.args, opts);
    case "identify":
      return buildIdentifyMessage(call.args, opts);
    case "alias":
      return buildAliasMessage(call.args, opts);
    case "groupIdentify":
      return buildGroupIdentifyMessage(call.args, opts);
    case "captureException":
      return buildExceptionMessage(call.args, opts);
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3,}Z$/;

/**
 * A received message (parsed JSON) reduced to what both SDKs must agree on. Throws when a
 * removed field is not of the expected form.
 */
export function comparableMessage(message: Record<string, unknown>, scenario: WireScenario): Record<string, unknown> {
  const copy = JSON.parse(JSON.stringify(message)) as Record<string, any>;
  const properties = copy.properties as Record<string, any>;
  for (const key of ["$lib", "$lib_version"]) {
    if (typeof properties[key] !== "string") throw new Error(`${scenario.name}: ${key} missing`);
    delete properties[key];
  }
  if (!scenario.fixed.uuid) {
    if (!UUID.test(copy.uuid)) throw new Error(`${scenario.name}: uuid ${copy.uuid} is not a UUID`);
    delete copy.uuid;
  }
  if (!scenario.fixed.timestamp) {
    if (!ISO.test(copy.timestamp)) throw new Error(`${scenario.name}: timestamp ${copy.timestamp} is not ISO-8601`);
    delete copy.timestamp;
  }
  if (!scenario.fixed.distinctId) {
    if (!UUID.test(copy.distinct_id)) throw new Error(`${scenario.name}: generated distinct_id ${copy.distinct_id}`);
    delete copy.distinct_id;
  }
  if (scenario.callSiteStack && Array.isArray(properties.$exception_list)) {
    for (const entry of properties.$exception_list as Array<Record<string, any>>) {
      if (entry.mechanism?.synthetic && entry.stacktrace) {
        if (!Array.isArray(entry.stacktrace.frames)) throw new Error(`${scenario.name}: stacktrace without frames`);
        entry.stacktrace = "(stack of the capture call)";
      }
    }
  }
  return copy;
}

// ---------------------------------------------------------------------------------------------
// The scenarios

const FIXED_UUID = "0190f3a2-5b1c-7d2e-8f40-112233445566";
const FIXED_UUID_V4 = "9B2F6C1E-3D4A-4E5F-8A6B-7C8D9E0F1A2B";

function thrownError(): Error {
  // Thrown and caught, so the stack holds a real throwing frame with a cause chain.
  function chargeCard(): never {
    throw new TypeError("card declined", { cause: new Error("issuer unavailable") });
  }
  function placeOrder(): never {
    try {
      chargeCard();
    } catch (cause) {
      throw new Error("order failed", { cause });
    }
  }
  try {
    placeOrder();
  } catch (error) {
    return error as Error;
  }
}

function scenario(
  name: string,
  node: NodeCall,
  ours: OurCall,
  options: { uuid?: boolean; timestamp?: boolean; distinctId?: boolean; callSiteStack?: boolean } = {},
): WireScenario {
  return {
    name,
    node,
    ours,
    fixed: { uuid: options.uuid ?? false, timestamp: options.timestamp ?? false, distinctId: options.distinctId ?? true },
    ...(options.callSiteStack ? { callSiteStack: true } : {}),
  };
}

/** A capture made with the same arguments on both sides. */
function captureScenario(
  name: string,
  args: CaptureInput & { timestamp?: Date | string },
  options?: Parameters<typeof scenario>[3],
): WireScenario {
  return scenario(name, { method: "capture", args: [args] }, { method: "capture", args }, options);
}

const richProperties = {
  plan: "pro",
  amount: 12.5,
  tags: ["a", "b"],
  $set: { email: "ada@example.com", $initial_referrer: "https://ref.example" },
  $set_once: { first_order: "2026-01-01" },
  nested: { $custom: { $deeper: [1, { $x: true }] }, none: null },
  $current_url: "https://shop.example/checkout",
};

const orderError = thrownError();
const aggregate = new AggregateError([new RangeError("slot 1 full"), "slot 2 timed out"], "all slots failed");

export const wireScenarios: WireScenario[] = [
  captureScenario("capture with $set, $set_once and nested $ keys", {
    distinctId: "user-1",
    event: "order_placed",
    properties: richProperties,
  }),
  captureScenario("capture with groups", {
    distinctId: "user-1",
    event: "seat_added",
    properties: { seats: 3 },
    groups: { company: "acme", project: 42 },
  }),
  captureScenario("capture keeps a caller $groups when no groups are passed", {
    distinctId: "user-1",
    event: "e",
    properties: { $groups: { company: "from-props" } },
  }),
  captureScenario(
    "capture with a Date timestamp and a uuid",
    { distinctId: "user-2", event: "signed_up", timestamp: new Date(Date.UTC(2025, 6, 14, 9, 30, 0, 250)), uuid: FIXED_UUID },
    { uuid: true, timestamp: true },
  ),
  captureScenario(
    "capture with an ISO string timestamp (offset, 6 fraction digits) and an upper-case v4 uuid",
    { distinctId: "user-2", event: "signed_up", timestamp: "2025-07-14T11:30:00.123456+02:00", uuid: FIXED_UUID_V4 },
    { uuid: true, timestamp: true },
  ),
  captureScenario("capture with an invalid uuid gets a fresh one", { distinctId: "user-2", event: "e", uuid: "not-a-uuid" }),
  captureScenario("capture with GeoIP enabled", { distinctId: "user-3", event: "page_viewed", disableGeoip: false }),
  captureScenario("capture with Dates and undefined inside properties", {
    distinctId: "user-3",
    event: "e",
    properties: { at: new Date(Date.UTC(2024, 1, 29)), list: [new Date(Date.UTC(2000, 0, 1)), undefined], gone: undefined },
  }),
  captureScenario("capture cannot override SDK properties", {
    distinctId: "user-3",
    event: "e",
    properties: { $is_server: false, $geoip_disable: false },
  }),
  scenario(
    "identify with plain properties",
    { method: "identify", args: [{ distinctId: "user-4", properties: { email: "x@example.com", plan: "free" } }] },
    { method: "identify", args: { distinctId: "user-4", properties: { email: "x@example.com", plan: "free" } } },
  ),
  scenario(
    "identify with $set and $set_once",
    {
      method: "identify",
      args: [{ distinctId: "user-4", properties: { $set: { plan: "pro" }, $set_once: { signup: "2024" }, stray: 1 } }],
    },
    { method: "identify", args: { distinctId: "user-4", properties: { $set: { plan: "pro" }, $set_once: { signup: "2024" }, stray: 1 } } },
  ),
  scenario(
    "identify with $anon_distinct_id",
    { method: "identify", args: [{ distinctId: "user-4", properties: { $anon_distinct_id: "anon-77", name: "Ada" } }] },
    { method: "identify", args: { distinctId: "user-4", properties: { $anon_distinct_id: "anon-77", name: "Ada" } } },
  ),
  scenario(
    "identify with GeoIP enabled",
    { method: "identify", args: [{ distinctId: "user-4", disableGeoip: false }] },
    { method: "identify", args: { distinctId: "user-4", disableGeoip: false } },
  ),
  scenario(
    "alias",
    { method: "alias", args: [{ distinctId: "user-5", alias: "anon-5" }] },
    { method: "alias", args: { distinctId: "user-5", alias: "anon-5" } },
  ),
  scenario(
    "groupIdentify without distinctId",
    { method: "groupIdentify", args: [{ groupType: "company", groupKey: "acme", properties: { name: "Acme", $weird: 1 } }] },
    { method: "groupIdentify", args: { groupType: "company", groupKey: "acme", properties: { name: "Acme", $weird: 1 } } },
  ),
  scenario(
    "groupIdentify with distinctId and no properties",
    { method: "groupIdentify", args: [{ groupType: "team", groupKey: "t-1", distinctId: "user-6", disableGeoip: false }] },
    { method: "groupIdentify", args: { groupType: "team", groupKey: "t-1", distinctId: "user-6", disableGeoip: false } },
  ),
  scenario(
    "captureException: an Error with a cause chain",
    { method: "captureException", args: [orderError, "user-7", { route: "/checkout", $exception_fingerprint: "orders" }] },
    {
      method: "captureException",
      args: { error: orderError, distinctId: "user-7", additionalProperties: { route: "/checkout", $exception_fingerprint: "orders" } },
    },
  ),
  scenario(
    "captureException: a string",
    { method: "captureException", args: ["TypeError: cannot read properties of undefined", "user-7"] },
    { method: "captureException", args: { error: "TypeError: cannot read properties of undefined", distinctId: "user-7" } },
    { callSiteStack: true },
  ),
  scenario(
    "captureException: a plain object with a message",
    { method: "captureException", args: [{ message: "quota exceeded", code: 429 }, "user-7"] },
    { method: "captureException", args: { error: { message: "quota exceeded", code: 429 }, distinctId: "user-7" } },
    { callSiteStack: true },
  ),
  scenario(
    "captureException: an AggregateError",
    { method: "captureException", args: [aggregate, "user-7"] },
    { method: "captureException", args: { error: aggregate, distinctId: "user-7" } },
  ),
  scenario(
    "captureException: no distinctId, level override and a uuid",
    { method: "captureException", args: [orderError, undefined, { $exception_level: "warning" }, FIXED_UUID] },
    { method: "captureException", args: { error: orderError, additionalProperties: { $exception_level: "warning" }, uuid: FIXED_UUID } },
    { distinctId: false, uuid: true },
  ),
];
