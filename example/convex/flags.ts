import { v } from "convex/values";
import { internalAction, query } from "./_generated/server.js";
import { posthog } from "./posthog.js";

/** Run by crons.ts: copies PostHog's flag definitions into the component. */
export const refreshFlagDefinitions = internalAction({
  args: {},
  handler: async (ctx) => await posthog.refreshFlagDefinitions(ctx),
});

/** A reactive query: re-runs when the "new-checkout" flag's definition changes, not others. */
export const checkoutExperience = query({
  args: { customerId: v.string(), country: v.optional(v.string()) },
  handler: async (ctx, { customerId, country }) => {
    const result = await posthog.getFeatureFlagResult(ctx, {
      key: "new-checkout",
      distinctId: customerId,
      personProperties: country ? { $geoip_country_code: country } : {},
    });
    return {
      variant: result.value ?? "control", // undecided (e.g. definitions not loaded yet): fall back
      payload: result.payload ?? null,
      reason: result.reason,
    };
  },
});

/** Every flag for the signed-in customer, e.g. to bootstrap a client. */
export const allFlags = query({
  args: { customerId: v.string() },
  handler: async (ctx, { customerId }) => await posthog.getAllFlags(ctx, { distinctId: customerId }),
});
