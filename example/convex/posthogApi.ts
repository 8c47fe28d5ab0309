// The browser's flag API: the React page in example/web reads these functions live through
// `convex-posthog/react`. Who the user is comes from Convex auth, never from the browser.
import { posthog } from "./posthog.js";

export const { flags, flag, reportExposure, track, refreshHook } = posthog.exposeApi({
  identify: async (ctx) => {
    const user = await ctx.auth.getUserIdentity();
    if (user === null) return null;
    // experiment_checkout_one_page targets by country: here a claim the auth provider adds.
    const country = typeof user.country === "string" ? user.country : undefined;
    return { distinctId: user.subject, personProperties: country ? { $geoip_country_code: country } : {} };
  },
  // Signed-out visitors read flags (and record exposures) with posthog-js's anonymous id.
  anonymous: "client-id",
});
