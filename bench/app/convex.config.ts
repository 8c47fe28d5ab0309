// The bench app installs both components side by side: convex-posthog (this package, from
// source) as "posthog" and the published @posthog/convex (the baseline) as "baseline".
import { defineApp } from "convex/server";
import { v } from "convex/values";
import baseline from "@posthog/convex/convex.config.js";
import posthog from "../../src/component/convex.config.js";

const app = defineApp({
  env: {
    // The baseline reads its project token and host from component env vars, and the
    // personal API key that enables its local flag evaluation (flags bench).
    POSTHOG_PROJECT_TOKEN: v.string(),
    POSTHOG_HOST: v.optional(v.string()),
    POSTHOG_PERSONAL_API_KEY: v.optional(v.string()),
  },
});
app.use(posthog);
app.use(baseline, {
  name: "baseline",
  env: {
    POSTHOG_PROJECT_TOKEN: app.env.POSTHOG_PROJECT_TOKEN,
    POSTHOG_HOST: app.env.POSTHOG_HOST,
    POSTHOG_PERSONAL_API_KEY: app.env.POSTHOG_PERSONAL_API_KEY,
  },
});
export default app;
