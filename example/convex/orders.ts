import { v } from "convex/values";
import { action, mutation, query } from "./_generated/server.js";
import { posthog } from "./posthog.js";

/** The order and its analytics event commit together: if this throws, neither exists. */
export const placeOrder = mutation({
  args: { customerId: v.string(), item: v.string(), amount: v.number(), company: v.optional(v.string()) },
  handler: async (ctx, args) => {
    if (args.amount <= 0) throw new Error("amount must be positive");
    const orderId = await ctx.db.insert("orders", { customerId: args.customerId, item: args.item, amount: args.amount });
    await posthog.capture(ctx, {
      distinctId: args.customerId,
      event: "order placed",
      // Checked against analytics.ts: a missing or misspelt property does not compile.
      properties: { item: args.item, amount: args.amount, channel: "web", $set: { last_order_at: new Date() } },
      groups: args.company ? { company: args.company } : undefined,
    });
    return orderId;
  },
});

/** Sign-up: link the anonymous id to the account and describe the person and company. */
export const signUp = mutation({
  args: { anonymousId: v.string(), customerId: v.string(), email: v.string(), company: v.string() },
  handler: async (ctx, args) => {
    await posthog.identify(ctx, {
      distinctId: args.customerId,
      properties: { $set: { email: args.email }, $set_once: { first_seen_via: "signup" }, $anon_distinct_id: args.anonymousId },
    });
    await posthog.alias(ctx, { distinctId: args.customerId, alias: args.email });
    await posthog.groupIdentify(ctx, { groupType: "company", groupKey: args.company, properties: { name: args.company } });
  },
});

/** Actions can capture too; here a failed payment is reported as an exception. */
export const chargeCard = action({
  args: { customerId: v.string(), amount: v.number() },
  handler: async (ctx, args) => {
    try {
      throw new Error(`card declined for ${args.amount}`);
    } catch (error) {
      await posthog.captureException(ctx, { error, distinctId: args.customerId, additionalProperties: { amount: args.amount } });
      return false;
    }
  },
});

/**
 * A card payment. Half of the customers get the new fast path (release_checkout_fast_pay), which
 * has a bug: it declines every Amex card. Both outcomes carry the flag's value
 * (`sendFeatureFlags`), which is what lets the guardian compare the two groups' error rates.
 */
export const payWithCard = mutation({
  args: { customerId: v.string(), amount: v.number(), card: v.union(v.literal("visa"), v.literal("amex")) },
  handler: async (ctx, { customerId, amount, card }) => {
    const fastPath = await posthog.isFeatureEnabled(ctx, { key: "release_checkout_fast_pay", distinctId: customerId });
    if (fastPath === true && card === "amex") {
      await posthog.captureException(ctx, { error: new Error("fast pay: unsupported card network"), distinctId: customerId, sendFeatureFlags: true });
      return { paid: false, fastPath };
    }
    await posthog.capture(ctx, { distinctId: customerId, event: "order placed", properties: { item: "basket", amount }, sendFeatureFlags: true });
    return { paid: true, fastPath };
  },
});

/** Send what is queued now (deliveries also happen on their own within about a second). */
export const flushAnalytics = action({
  args: {},
  handler: async (ctx) => await posthog.flush(ctx),
});

export const analyticsStatus = query({
  args: {},
  handler: async (ctx) => await posthog.status(ctx),
});
