// The convex.config.ts of an app set up for @posthog/convex 2.x: credentials declared on the
// app and forwarded to the component, with the polling switches. Only the import changed.
import { defineApp } from "convex/server";
import { v } from "convex/values";
import posthog from "convex-posthog/convex.config.js";

const app = defineApp({
  env: {
    POSTHOG_PROJECT_TOKEN: v.string(),
    POSTHOG_HOST: v.optional(v.string()),
    POSTHOG_PERSONAL_API_KEY: v.optional(v.string()),
  },
});
app.use(posthog, {
  env: {
    POSTHOG_PROJECT_TOKEN: app.env.POSTHOG_PROJECT_TOKEN,
    POSTHOG_HOST: app.env.POSTHOG_HOST,
    POSTHOG_PERSONAL_API_KEY: app.env.POSTHOG_PERSONAL_API_KEY,
    POSTHOG_FLAGS_POLLING_INTERVAL_SECONDS: "60",
    POSTHOG_DISABLE_LOCAL_EVALUATION: "false",
  },
});
export default app;
