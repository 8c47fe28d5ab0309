// An app that declares its flags (defineFlags) and its events (defineEvents), as
// convex/posthog.ts would, and functions that capture and read through the typed client.
import { v } from "convex/values";
import { PostHog, PostHogInputError, defineEvents, defineFlags, type CaptureArgsOf } from "../../client/index.js";
import { components } from "./_generated/api.js";
import { action, mutation, query } from "./_generated/server.js";

export const flags = defineFlags({
  areas: ["checkout", "search"],
  flags: {
    experiment_checkout_button: {
      description: "Which checkout button converts better",
      owner: "@growth",
      variants: ["control", "blue"],
      payload: { control: v.object({ color: v.string() }), blue: v.object({ color: v.string() }) },
    },
    release_search_v2: { description: "The new search", owner: "@search", payload: v.object({ limit: v.number() }) },
    ops_checkout_killswitch: { description: "Turns checkout off", owner: "@oncall" },
    tier_search_pro: { description: "Search for the pro plan", owner: "@search" },
  },
});

export const events = defineEvents({
  common: { plan: v.optional(v.string()) },
  events: {
    "order placed": { properties: { amount: v.number(), currency: v.string(), coupon: v.optional(v.string()) } },
    "search run": { properties: { query: v.string() } },
    "signed up": {},
  },
});

type TypedCapture = CaptureArgsOf<typeof events>;

/** A hook that adds a property the taxonomy does not declare, and refuses to see a bad amount. */
function tagChannel(event: { event: string; distinctId: string; properties?: Record<string, unknown> }) {
  if (typeof event.properties?.amount === "string") throw new Error("beforeSend saw an invalid event");
  return { ...event, properties: { ...event.properties, channel: "web" } };
}

const clients = {
  throw: new PostHog(components.posthog, { flags, events }),
  drop: new PostHog(components.posthog, { flags, events, onInvalidEvent: "drop" }),
  send: new PostHog(components.posthog, { flags, events, onInvalidEvent: "send" }),
  hooked: new PostHog(components.posthog, { flags, events, beforeSend: tagChannel }),
};
/** The same app without a registry or a taxonomy. */
const plain = new PostHog(components.posthog);

const vClient = v.union(v.literal("throw"), v.literal("drop"), v.literal("send"), v.literal("hooked"), v.literal("plain"));
const vCapture = {
  event: v.string(),
  // Properties from outside the type system (a browser, a webhook): only the run-time check sees them.
  properties: v.optional(v.any()),
  // Convex refuses `$` names in arguments: this adds PostHog's own properties in the function.
  dollar: v.optional(v.boolean()),
  uuid: v.string(),
};

function captureArgs(args: { event: string; properties?: Record<string, unknown>; dollar?: boolean; uuid: string }): TypedCapture {
  const dollar = args.dollar ? { $set: { email: "a@example.com" }, $set_once: { first: "yes" }, $current_url: "https://shop.example/checkout" } : {};
  return { distinctId: "buyer", event: args.event, properties: { ...args.properties, ...dollar }, uuid: args.uuid } as TypedCapture;
}

/** One capture through the chosen client (or its untyped view). */
export const capture = mutation({
  args: { client: vClient, untyped: v.optional(v.boolean()), ...vCapture },
  handler: async (ctx, { client, untyped, ...args }) => {
    if (client === "plain") await plain.capture(ctx, captureArgs(args));
    else if (untyped) await clients[client].untyped.capture(ctx, captureArgs(args));
    else await clients[client].capture(ctx, captureArgs(args));
  },
});

/**
 * The app's own write, a good capture, then the given one. With `catchInvalid` the app
 * catches the PostHogInputError and carries on.
 */
export const placeOrder = mutation({
  args: { goodUuid: v.string(), catchInvalid: v.boolean(), ...vCapture },
  handler: async (ctx, { goodUuid, catchInvalid, ...args }) => {
    await ctx.db.insert("orders", { item: "typed" });
    const posthog = clients.throw;
    await posthog.capture(ctx, { distinctId: "buyer", event: "order placed", properties: { amount: 5, currency: "EUR" }, uuid: goodUuid });
    try {
      await posthog.capture(ctx, captureArgs(args));
    } catch (error) {
      if (!(catchInvalid && error instanceof PostHogInputError)) throw error;
    }
  },
});

export const orders = query({ args: {}, handler: async (ctx) => (await ctx.db.query("orders").collect()).length });

export const refresh = action({ args: {}, handler: async (ctx) => await clients.throw.refreshFlagDefinitions(ctx) });

/** status() of the typed client, or of the plain one. */
export const status = query({
  args: { client: v.union(v.literal("throw"), v.literal("plain")) },
  handler: async (ctx, args) => await (args.client === "plain" ? plain : clients.throw).status(ctx),
});

/** Every local read of the checkout experiment, as PostHog served it (undefined spelled "undefined"). */
export const readCheckout = query({
  args: { distinctId: v.string() },
  handler: async (ctx, { distinctId }) => {
    const posthog = clients.throw;
    const key = "experiment_checkout_button";
    const snapshot = await posthog.evaluateFlags(ctx, { distinctId, flagKeys: [key] });
    return JSON.stringify({
      getFeatureFlag: await posthog.getFeatureFlag(ctx, { key, distinctId }),
      variant: (await posthog.getFeatureFlagResult(ctx, { key, distinctId })).variant,
      payload: await posthog.getFeatureFlagPayload(ctx, { key, distinctId }),
      getAllFlags: await posthog.getAllFlags(ctx, { distinctId, flagKeys: [key] }),
      snapshot: snapshot.flags[key]?.value,
    });
  },
});

/** The search release's payload, as PostHog served it. */
export const readSearchPayload = query({
  args: { distinctId: v.string() },
  handler: async (ctx, { distinctId }) => await clients.throw.getFeatureFlagPayload(ctx, { key: "release_search_v2", distinctId }),
});

/** The search release's payload for a value, without evaluating (matchValue), from a client of its own. */
export const matchSearchPayload = query({
  args: {},
  handler: async (ctx) =>
    await new PostHog(components.posthog, { flags }).getFeatureFlagPayload(ctx, { key: "release_search_v2", distinctId: "anyone", matchValue: true }),
});

/** A remote read (/flags) of the checkout experiment, in an action. */
export const evaluateCheckout = action({
  args: { distinctId: v.string() },
  handler: async (ctx, { distinctId }) =>
    await clients.throw.evaluateFlag(ctx, { key: "experiment_checkout_button", distinctId, sendFeatureFlagEvents: false }),
});
