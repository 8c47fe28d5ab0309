// An app that syncs its flag registry to PostHog from an action, as convex/flagOps.ts would,
// and reads the governance report. Callbacks record what they were given in the result.
import { v } from "convex/values";
import { PostHog, defineFlags, type FlagSyncCallbacks } from "../../client/index.js";
import { components } from "./_generated/api.js";
import { action, mutation, query } from "./_generated/server.js";

export const registry = defineFlags({
  areas: ["checkout", "search"],
  flags: {
    release_checkout_v2: { description: "The new checkout", owner: "@checkout", tags: [" Checkout ", "team-a", "TEAM-A"], guardian: true },
    experiment_search_ranking: { description: "Search ranking test", owner: "@search", variants: ["control", "fast", "smart"] },
    ops_search_killswitch: { description: "Turns search off", owner: "@oncall", guardian: "enforce" },
    legacy_banner: { description: "The old banner", owner: "@web", tags: ["naming-exempt"] },
  },
});

const posthog = new PostHog(components.posthog, { flags: registry });
const plain = new PostHog(components.posthog);

/** One sync run; the result and every callback call, as JSON. */
export const sync = action({
  args: { dryRun: v.optional(v.boolean()), createUsageDashboards: v.optional(v.boolean()), plain: v.optional(v.boolean()) },
  handler: async (ctx, args) => {
    const calls: unknown[][] = [];
    const callbacks: FlagSyncCallbacks = {
      onCreate: (definition) => void calls.push(["onCreate", definition.key, definition.description]),
      onReconcile: (flag, patch) => void calls.push(["onReconcile", flag.key, flag.name, patch]),
      onOrphan: (flag) => void calls.push(["onOrphan", flag.key, flag.id]),
      onNamingViolation: (flag) => void calls.push(["onNamingViolation", flag.key]),
    };
    const result = await (args.plain ? plain : posthog).runFlagSync(ctx, {
      ...(args.dryRun !== undefined ? { dryRun: args.dryRun } : {}),
      ...(args.createUsageDashboards !== undefined ? { createUsageDashboards: args.createUsageDashboards } : {}),
      callbacks,
    });
    return JSON.stringify({ result, calls });
  },
});

export const report = query({ args: {}, handler: async (ctx) => JSON.stringify(await posthog.flagGovernance(ctx)) });

export const refresh = action({ args: {}, handler: async (ctx) => await posthog.refreshFlagDefinitions(ctx) });

/** The flag's value for a user, from the stored definitions. */
export const read = query({
  args: { key: v.string(), distinctId: v.string() },
  handler: async (ctx, { key, distinctId }) => (await posthog.untyped.getFeatureFlagResult(ctx, { key, distinctId })).value ?? null,
});

export const kill = mutation({
  args: { key: v.string() },
  handler: async (ctx, { key }) => await posthog.untyped.disableFlagLocally(ctx, { key, reason: "errors" }),
});
