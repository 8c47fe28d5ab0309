import { defineComponent } from "convex/server";

// Keys are not component env vars: the app's client passes them per call, so one
// deployment can talk to several PostHog projects and tests need no env plumbing.
export default defineComponent("posthog");
