// The guardian scenario's app: a registry with guarded flags, traffic whose events carry the
// flags they ran under, and the guardian run as an app's cron would call it.
import { v } from "convex/values";
import { PostHog, defineFlags } from "../../client/index.js";
import { components } from "./_generated/api.js";
import { action, mutation } from "./_generated/server.js";

export const guardedFlags = defineFlags({
  areas: ["checkout"],
  flags: {
    release_checkout_fast: { description: "Faster checkout", owner: "@checkout", guardian: "enforce" },
    release_checkout_watched: { description: "Checkout copy, watched only", owner: "@checkout", guardian: true },
    experiment_checkout_layout: { description: "Checkout layout test", owner: "@checkout", guardian: "enforce", variants: ["control", "compact"] },
  },
});

const posthog = new PostHog(components.posthog, {
  flags: guardedFlags,
  delivery: { flushDelayMs: 50, requestTimeoutMs: 2_000, retryInitialDelayMs: 20, retryMaxDelayMs: 200 },
});

/**
 * Each user views `views` pages under the flags evaluated for them, and throws exceptions
 * carrying the same flags: user i of a cohort throws floor((i+1)·rate) - floor(i·rate), so a
 * cohort's exceptions per user is its rate. The treatment is a user for whom `key` is on.
 */
export const traffic = mutation({
  args: {
    users: v.array(v.string()),
    key: v.string(),
    views: v.number(),
    exceptionsPerUser: v.object({ treatment: v.number(), control: v.number() }),
  },
  returns: v.object({ treatment: v.number(), control: v.number(), treatmentUsers: v.array(v.string()) }),
  handler: async (ctx, { users, key, views, exceptionsPerUser }) => {
    const seen = { treatment: 0, control: 0 };
    const treatmentUsers: string[] = [];
    for (const distinctId of users) {
      const snapshot = await posthog.untyped.evaluateFlags(ctx, { distinctId });
      const value = snapshot.flags[key]?.value;
      const cohort = value !== undefined && value !== false && value !== "control" ? "treatment" : "control";
      const i = seen[cohort]++;
      if (cohort === "treatment") treatmentUsers.push(distinctId);
      for (let view = 0; view < views; view++) await posthog.capture(ctx, { distinctId, event: "page viewed", flags: snapshot });
      const rate = exceptionsPerUser[cohort];
      const exceptions = Math.floor((i + 1) * rate) - Math.floor(i * rate);
      for (let e = 0; e < exceptions; e++) {
        await posthog.captureException(ctx, { distinctId, error: new Error(`checkout failed (${cohort})`), flags: snapshot });
      }
    }
    return { ...seen, treatmentUsers };
  },
});

export const runGuardian = action({
  args: {
    source: v.optional(v.union(v.literal("local"), v.literal("hogql"), v.literal("both"))),
    dryRun: v.optional(v.boolean()),
    significance: v.optional(v.union(v.number(), v.literal(false))),
    thresholds: v.optional(v.any()),
  },
  handler: async (ctx, args) => {
    const regressions: string[] = [];
    const enforced: string[] = [];
    const result = await posthog.runFlagGuardian(ctx, {
      ...args,
      callbacks: {
        onRegression: (evaluation) => void regressions.push(evaluation.key),
        onEnforced: (flag) => void enforced.push(flag.key),
      },
    });
    return { result, callbacks: { regressions, enforced } };
  },
});

/** Load the flag definitions PostHog serves now. */
export const refresh = action({
  args: {},
  handler: async (ctx) => await posthog.refreshFlagDefinitions(ctx),
});
