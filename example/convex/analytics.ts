// The app's flags and events, declared once. posthog.ts hands both to the client, so a
// misspelt flag key, a variant that does not exist or an event missing a property fails to
// compile, and event properties built at run time (a webhook's body) are checked before
// anything is queued.
import { defineEvents, defineFlags } from "convex-posthog";
import { v } from "convex/values";

export const flags = defineFlags({
  // Keys are `<lifecycle>_<area>_<name>`; lifecycles default to release, experiment, ops, tier.
  areas: ["checkout", "onboarding", "ui"],
  flags: {
    experiment_checkout_one_page: {
      description: "One-page checkout against the three-step one",
      owner: "@checkout-team",
      variants: ["control", "one-page"],
      payload: v.object({ steps: v.number() }),
      sunsetTarget: "2027-03-31",
    },
    release_ui_dark_mode: {
      description: "Dark mode, rolled out to half of the users",
      owner: "@web-team",
    },
    release_checkout_fast_pay: {
      description: "A faster card payment path, rolled out to half of the customers",
      owner: "@payments-team",
      // The guardian watches its error rate, and may turn it off (the default is "monitor": alert only).
      guardian: "enforce",
    },
    experiment_onboarding_flow: {
      description: "Guided onboarding; keeps a user's variant across identities, so only PostHog can decide it",
      owner: "@growth-team",
      variants: ["guided"],
    },
  },
});

export const events = defineEvents({
  // Allowed on every event.
  common: { channel: v.optional(v.union(v.literal("web"), v.literal("partner"))) },
  events: {
    "order placed": {
      description: "An order was committed",
      properties: { item: v.string(), amount: v.number() },
    },
    "checkout failed": {
      properties: { reason: v.string() },
    },
  },
});
