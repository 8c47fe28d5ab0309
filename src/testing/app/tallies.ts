// Captures stamped with flag values, for the guardian's tallies (src/component/governance/tallies.test.ts).
import { v } from "convex/values";
import { PostHog, type PostHogOptions } from "../../client/index.js";
import { components } from "./_generated/api.js";
import { mutation } from "./_generated/server.js";

const vOptions = v.optional(v.any());
const client = (delivery?: PostHogOptions["delivery"]) => new PostHog(components.posthog, { delivery });

/** Capture one event with the flags evaluated now (sendFeatureFlags), `properties` as JSON. */
export const captureStamped = mutation({
  args: { distinctId: v.string(), event: v.string(), propertiesJson: v.optional(v.string()), options: vOptions },
  handler: async (ctx, args) => {
    await client(args.options).capture(ctx, {
      distinctId: args.distinctId,
      event: args.event,
      properties: args.propertiesJson ? JSON.parse(args.propertiesJson) : undefined,
      sendFeatureFlags: true,
    });
  },
});

/** captureException with the flags evaluated now. */
export const exceptionStamped = mutation({
  args: { distinctId: v.string(), message: v.string(), options: vOptions },
  handler: async (ctx, args) => {
    await client(args.options).captureException(ctx, { error: new Error(args.message), distinctId: args.distinctId, sendFeatureFlags: true });
  },
});

/** Read a flag in a mutation, which records its `$feature_flag_called` exposure. */
export const readFlagInMutation = mutation({
  args: { key: v.string(), distinctId: v.string(), options: vOptions },
  handler: async (ctx, args) => await client(args.options).getFeatureFlag(ctx, { key: args.key, distinctId: args.distinctId }),
});
