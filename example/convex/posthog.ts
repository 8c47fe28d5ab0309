import { PostHog } from "convex-posthog";
import { components } from "./_generated/api.js";
import { events, flags } from "./analytics.js";

// apiKey, host and personalApiKey default to the POSTHOG_API_KEY, POSTHOG_HOST and
// POSTHOG_PERSONAL_API_KEY environment variables, read whenever a method runs.
export const posthog = new PostHog(components.posthog, {
  // Flag reads accept only these keys and return their variants; capture only these events.
  flags,
  events,
  // Calls without a distinctId use the signed-in user.
  identify: async (ctx) => {
    const identity = await ctx.auth.getUserIdentity();
    return identity ? { distinctId: identity.subject } : null;
  },
});
