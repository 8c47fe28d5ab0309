import { v } from "convex/values";
import { action, internalAction, mutation, query } from "./_generated/server.js";
import { posthog } from "./posthog.js";

/** Run by crons.ts: copies PostHog's flag definitions into the component. */
export const refreshFlagDefinitions = internalAction({
  args: {},
  handler: async (ctx) => await posthog.refreshFlagDefinitions(ctx),
});

/** A reactive query: re-runs when this flag's definition changes, not others. */
export const checkoutExperience = query({
  args: { customerId: v.string(), country: v.optional(v.string()) },
  handler: async (ctx, { customerId, country }) => {
    const result = await posthog.getFeatureFlagResult(ctx, {
      key: "experiment_checkout_one_page", // a key analytics.ts does not declare would not compile
      distinctId: customerId,
      personProperties: country ? { $geoip_country_code: country } : {},
    });
    return {
      // "control" | "one-page" | false, as declared; undecided (e.g. definitions not loaded yet): fall back
      variant: result.value ?? "control",
      // Typed by the registry's payload validator: { steps: number } | null.
      steps: result.payload?.steps ?? null,
      reason: result.reason,
    };
  },
});

/** Which payment path a customer gets; a killed flag answers false at once, with reason "killed". */
export const fastPay = query({
  args: { customerId: v.string() },
  handler: async (ctx, { customerId }) => {
    const result = await posthog.getFeatureFlagResult(ctx, { key: "release_checkout_fast_pay", distinctId: customerId });
    return { enabled: result.value === true, reason: result.reason };
  },
});

/** Every flag for the signed-in customer, e.g. to bootstrap a client. */
export const allFlags = query({
  args: { customerId: v.string() },
  handler: async (ctx, { customerId }) => await posthog.getAllFlags(ctx, { distinctId: customerId }),
});

/**
 * Actions can ask PostHog itself: for flags local evaluation cannot decide (experience
 * continuity, static cohorts) getFeatureFlag falls back to /flags on its own; evaluateFlag
 * always asks. Either way the read is an exposure ($feature_flag_called, sent once).
 */
export const personalizeOnboarding = action({
  args: { customerId: v.string() },
  handler: async (ctx, { customerId }) => {
    const fromPostHog = await posthog.evaluateFlag(ctx, { key: "experiment_onboarding_flow", distinctId: customerId });
    const checkout = await posthog.getFeatureFlag(ctx, {
      key: "experiment_checkout_one_page",
      distinctId: customerId,
      personProperties: { $geoip_country_code: "US" },
    });
    return { onboarding: fromPostHog, checkout };
  },
});

/** The browser reports which checkout it showed; the query above could not record it. */
export const checkoutShown = mutation({
  args: { customerId: v.string(), country: v.optional(v.string()) },
  handler: async (ctx, { customerId, country }) => {
    const result = await posthog.getFeatureFlagResult(ctx, {
      key: "experiment_checkout_one_page",
      distinctId: customerId,
      personProperties: country ? { $geoip_country_code: country } : {},
      sendFeatureFlagEvents: false, // recorded explicitly below instead
    });
    await posthog.captureExposure(ctx, { distinctId: customerId, result });
  },
});

/** An ordinary event stamped with every flag ($feature/<key>), evaluated locally here. */
export const checkoutFailed = mutation({
  args: { customerId: v.string(), reason: v.string(), country: v.string() },
  handler: async (ctx, { customerId, reason, country }) => {
    await posthog.capture(ctx, {
      distinctId: customerId,
      event: "checkout failed",
      properties: { reason },
      sendFeatureFlags: { personProperties: { $geoip_country_code: country } },
    });
  },
});
