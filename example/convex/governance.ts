// Flag governance, run by crons.ts: the registry in analytics.ts synced to PostHog, a daily
// release digest, and the guardian, which compares the error rates of customers with and
// without each guarded flag and turns off a flag marked `guardian: "enforce"` that regresses.
// They need POSTHOG_PROJECT_ID and a personal API key with feature_flag:write
// (POSTHOG_ADMIN_API_KEY); alerts go to POSTHOG_ALERTS_SLACK_WEBHOOK when it is set.
import { internalAction, query } from "./_generated/server.js";
import { posthog } from "./posthog.js";

/** Create registry flags PostHog lacks (inactive, 0%), reconcile names and tags, report drift. */
export const syncFlags = internalAction({
  args: {},
  handler: async (ctx) => await posthog.runFlagSync(ctx),
});

/** Flags released to everyone, ended experiments, stale, overdue and unused flags: a digest. */
export const trackReleases = internalAction({
  args: {},
  handler: async (ctx) => await posthog.runReleaseTracker(ctx),
});

/** Judge every guarded flag from the events this app delivered; kill an enforced one that regresses. */
export const guardFlags = internalAction({
  args: {},
  handler: async (ctx) => await posthog.runFlagGuardian(ctx),
});

/** The governance dashboard: open findings, releases, guardian state, kills and the last runs (reactive). */
export const report = query({
  args: {},
  handler: async (ctx) => await posthog.flagGovernance(ctx),
});
