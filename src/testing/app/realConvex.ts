// Functions of the test app that exercise the real-Convex test mode (src/testing/realConvex.ts).
import { v } from "convex/values";
import type { Id } from "./_generated/dataModel.js";
import { internal } from "./_generated/api.js";
import { internalAction, internalMutation, internalQuery, mutation } from "./_generated/server.js";
import { PostHog } from "../../client/index.js";
import { components } from "./_generated/api.js";

/** Schedule one mutation and one action that each record how they see their own job. */
export const scheduleSelfObservers = mutation({
  args: {},
  handler: async (ctx) => {
    await ctx.scheduler.runAfter(0, internal.realConvex.observeOwnJobFromMutation, {});
    await ctx.scheduler.runAfter(0, internal.realConvex.observeOwnJobFromAction, {});
  },
});

async function ownJobId(ctx: { meta: { getRequestMetadata(): Promise<{ scheduledFunctionId: string | null }> } }) {
  return (await ctx.meta.getRequestMetadata()).scheduledFunctionId as Id<"_scheduled_functions">;
}

export const observeOwnJobFromMutation = internalMutation({
  args: {},
  handler: async (ctx) => {
    const job = await ctx.db.system.get(await ownJobId(ctx));
    await ctx.db.insert("observations", { observer: "mutation", state: job!.state.kind });
  },
});

export const jobState = internalQuery({
  args: { id: v.id("_scheduled_functions") },
  handler: async (ctx, { id }) => (await ctx.db.system.get(id))!.state.kind,
});

export const recordObservation = internalMutation({
  args: { observer: v.string(), state: v.string() },
  handler: async (ctx, args) => {
    await ctx.db.insert("observations", args);
  },
});

export const observeOwnJobFromAction = internalAction({
  args: {},
  handler: async (ctx) => {
    const state: string = await ctx.runQuery(internal.realConvex.jobState, { id: await ownJobId(ctx) });
    await ctx.runMutation(internal.realConvex.recordObservation, { observer: "action", state });
  },
});

/** Patch every order, and say how many index ranges and document reads that took. */
export const patchAllOrders = mutation({
  args: {},
  handler: async (ctx) => {
    for (const order of await ctx.db.query("orders").collect()) await ctx.db.patch(order._id, { item: `${order.item}!` });
    const metrics = await ctx.meta.getTransactionMetrics();
    return { ranges: metrics.databaseQueries.used, documentsRead: metrics.documentsRead.used };
  },
});

/** Fetch one order three times, then patch and delete it: one document, one range. */
export const getPatchDeleteOrder = mutation({
  args: { id: v.id("orders") },
  handler: async (ctx, { id }) => {
    for (let i = 0; i < 3; i++) await ctx.db.get(id);
    await ctx.db.patch(id, { item: "changed" });
    await ctx.db.delete(id);
    return (await ctx.meta.getTransactionMetrics()).databaseQueries.used;
  },
});

/**
 * Re-send the component's dead letters, then report what the caller's transaction has used,
 * the component's nested mutation included.
 */
export const resendDeadLettersAndMeasure = mutation({
  args: { limit: v.optional(v.number()), options: v.optional(v.any()) },
  handler: async (ctx, { limit, options }) => {
    const resent = await new PostHog(components.posthog, { delivery: options }).resendDeadLetters(ctx, { limit });
    const metrics = await ctx.meta.getTransactionMetrics();
    return {
      resent,
      used: Object.fromEntries(Object.entries(metrics).map(([name, m]) => [name, m.used])) as Record<keyof typeof metrics, number>,
      remaining: Object.fromEntries(Object.entries(metrics).map(([name, m]) => [name, m.remaining])) as Record<keyof typeof metrics, number>,
    };
  },
});
