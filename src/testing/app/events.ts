// A minimal app used by the client's tests: each function builds its client from its
// arguments so a test can choose delivery settings, and reads host and key from env.
import { v } from "convex/values";
import { PostHog, type PostHogOptions } from "../../client/index.js";
import { components } from "./_generated/api.js";
import { action, mutation, query } from "./_generated/server.js";

/** Delivery settings chosen by the test (flush delay, timeouts, backoff). */
const vOptions = v.optional(v.any());
const client = (delivery?: PostHogOptions["delivery"]) => new PostHog(components.posthog, { delivery });

/** Capture `count` events named `event`, with `properties` as JSON (to carry `$` keys). */
export const captureMany = mutation({
  args: { event: v.string(), count: v.number(), distinctId: v.string(), propertiesJson: v.optional(v.string()), options: vOptions },
  handler: async (ctx, args) => {
    const posthog = client(args.options);
    const properties = args.propertiesJson ? JSON.parse(args.propertiesJson) : undefined;
    for (let i = 0; i < args.count; i++) {
      await posthog.capture(ctx, { distinctId: args.distinctId, event: args.event, properties: { ...properties, i } });
    }
  },
});

/**
 * Capture with one field cut in the middle of an emoji, as code that truncates text by
 * UTF-16 length does: half of a surrogate pair is left at its end.
 */
export const captureCutText = mutation({
  args: { field: v.union(v.literal("event"), v.literal("distinctId"), v.literal("key"), v.literal("value")) },
  handler: async (ctx, { field }) => {
    const cut = "launch 🚀".slice(0, 8);
    const text = (name: typeof field, fallback: string) => (field === name ? cut : fallback);
    await client({ flushDelayMs: 50 }).capture(ctx, {
      event: text("event", "launched"),
      distinctId: text("distinctId", "u"),
      properties: { title: { [text("key", "name")]: text("value", "launch") } },
    });
  },
});

/** Place an order and capture it; `fail` throws after the capture, rolling both back. */
export const placeOrder = mutation({
  args: { item: v.string(), distinctId: v.string(), fail: v.boolean(), options: vOptions },
  handler: async (ctx, args) => {
    await ctx.db.insert("orders", { item: args.item });
    await client(args.options).capture(ctx, { distinctId: args.distinctId, event: "order placed", properties: { item: args.item } });
    if (args.fail) throw new Error("payment declined");
  },
});

export const captureFromAction = action({
  args: { event: v.string(), distinctId: v.string(), options: vOptions },
  handler: async (ctx, args) => {
    await client(args.options).capture(ctx, { distinctId: args.distinctId, event: args.event });
  },
});

export const flush = action({
  args: { options: vOptions },
  handler: async (ctx, args) => await client(args.options).flush(ctx),
});

export const status = query({
  args: {},
  handler: async (ctx) => await client().status(ctx),
});

export const deadLetters = query({
  args: {},
  handler: async (ctx) => await client().listDeadLetters(ctx),
});

export const resendDeadLetters = mutation({
  args: { options: vOptions },
  handler: async (ctx, args) => await client(args.options).resendDeadLetters(ctx),
});

/** Make wire scenario `index` through the client and deliver it at once (wire fidelity test). */
export const sendWireScenario = action({
  args: { index: v.number() },
  handler: async (ctx, { index }) => {
    const { wireScenarios } = await import("../wireScenarios.js");
    const { method, args } = wireScenarios[index]!.ours;
    const posthog = client();
    // Each branch names its method so the argument types line up.
    if (method === "capture") await posthog.capture(ctx, args);
    else if (method === "identify") await posthog.identify(ctx, args);
    else if (method === "alias") await posthog.alias(ctx, args);
    else if (method === "groupIdentify") await posthog.groupIdentify(ctx, args);
    else await posthog.captureException(ctx, args);
    return await posthog.flush(ctx);
  },
});
