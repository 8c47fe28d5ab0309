// Code written for @posthog/convex 2.x, run against this client: a 2.x-style beforeSend hook,
// an identify callback typed with the app's own QueryCtx, and the configuration switches
// (no project key, `disabled`) that must never break the app.
import { v } from "convex/values";
import { PostHog, type PostHogEvent } from "../../client/index.js";
import { components } from "./_generated/api.js";
import { action, mutation, query, type QueryCtx } from "./_generated/server.js";

async function signedInUser(ctx: QueryCtx) {
  const identity = await ctx.auth.getUserIdentity();
  return identity ? { distinctId: identity.subject } : null;
}

/** As a 2.x hook: it sees and returns only event, distinctId and properties. */
function tagEnvironment(event: PostHogEvent): PostHogEvent | null {
  return { event: event.event, distinctId: event.distinctId, properties: { ...event.properties, environment: "test" } };
}

const vClient = v.optional(v.object({ disabled: v.optional(v.boolean()) }));
const client = (options: { disabled?: boolean } = {}) =>
  new PostHog(components.posthog, { ...options, identify: signedInUser, beforeSend: tagEnvironment });
// One instance, as an app's convex/posthog.ts has: its "not configured" warning is logged once.
const shared = client();

/** The app's own write, then captures: a capture must never roll the write back. */
export const placeOrder = mutation({
  args: {
    client: vClient,
    distinctId: v.optional(v.string()),
    uuid: v.optional(v.string()),
    timestamp: v.optional(v.string()),
    captures: v.optional(v.number()),
    unserialisable: v.optional(v.boolean()),
  },
  handler: async (ctx, args) => {
    await ctx.db.insert("orders", { item: "book" });
    const posthog = args.client ? client(args.client) : shared;
    for (let i = 0; i < (args.captures ?? 1); i++) {
      await posthog.capture(ctx, {
        distinctId: args.distinctId,
        event: "order placed",
        properties: args.unserialisable ? { callback: () => i } : { i },
        uuid: args.uuid,
        timestamp: args.timestamp ? new Date(args.timestamp) : undefined,
      });
    }
  },
});

export const orders = query({ args: {}, handler: async (ctx) => (await ctx.db.query("orders").collect()).length });

export const status = query({
  args: { client: vClient },
  handler: async (ctx, args) => await (args.client ? client(args.client) : shared).status(ctx),
});

/** Every local read of one flag, as JSON with undefined spelled out. */
export const localReads = mutation({
  args: { client: vClient, key: v.string(), distinctId: v.string() },
  handler: async (ctx, { key, distinctId, ...args }) => {
    const posthog = client(args.client);
    return spellUndefined({
      getFeatureFlag: await posthog.getFeatureFlag(ctx, { key, distinctId }),
      isFeatureEnabled: await posthog.isFeatureEnabled(ctx, { key, distinctId }),
      getFeatureFlagPayload: await posthog.getFeatureFlagPayload(ctx, { key, distinctId }),
      getFeatureFlagResult: await posthog.getFeatureFlagResult(ctx, { key, distinctId }),
      getAllFlags: await posthog.getAllFlags(ctx, { distinctId }),
      getAllFlagsAndPayloads: await posthog.getAllFlagsAndPayloads(ctx, { distinctId }),
      evaluateFlags: (await posthog.evaluateFlags(ctx, { distinctId })).flags,
    });
  },
});

/** Reads in an action: local reads may ask /flags, remote reads always would. */
export const actionReads = action({
  args: { client: vClient, key: v.string(), distinctId: v.string() },
  handler: async (ctx, { key, distinctId, ...args }) => {
    const posthog = client(args.client);
    return spellUndefined({
      getFeatureFlag: await posthog.getFeatureFlag(ctx, { key, distinctId }),
      getAllFlags: await posthog.getAllFlags(ctx, { distinctId }),
      evaluateFlag: await posthog.evaluateFlag(ctx, { key, distinctId }),
      evaluateFlagResult: await posthog.evaluateFlagResult(ctx, { key, distinctId }),
      evaluateFlagPayload: await posthog.evaluateFlagPayload(ctx, { key, distinctId }),
      evaluateAllFlags: await posthog.evaluateAllFlags(ctx, { distinctId }),
    });
  },
});

export const reload = action({
  args: { client: vClient },
  handler: async (ctx, args) => await (args.client ? client(args.client) : shared).reloadFeatureFlags(ctx),
});

function spellUndefined(values: Record<string, unknown>): string {
  return JSON.stringify(values, (_key, value) => (value === undefined ? "<undefined>" : value));
}
