import { defineComponent } from "convex/server";
import { v } from "convex/values";

// Keys are not read from the component's env: the app's client passes them per call, so one
// deployment can talk to several PostHog projects and tests need no env plumbing. These names
// are declared only so that an app written for @posthog/convex 2.x, which passes them in
// `app.use(posthog, { env: { ... } })`, still pushes (Convex rejects undeclared names). All are
// optional, so `app.use(posthog)` needs no env. The client reads the same names from the app's
// own environment; the polling switches are accepted and ignored (refresh runs from the app's
// cron). See "Migrating from @posthog/convex" in the README.
export default defineComponent("posthog", {
  env: {
    POSTHOG_PROJECT_TOKEN: v.optional(v.string()),
    POSTHOG_HOST: v.optional(v.string()),
    POSTHOG_PERSONAL_API_KEY: v.optional(v.string()),
    POSTHOG_FLAGS_POLLING_INTERVAL_SECONDS: v.optional(v.string()),
    POSTHOG_DISABLE_LOCAL_EVALUATION: v.optional(v.string()),
  },
});
