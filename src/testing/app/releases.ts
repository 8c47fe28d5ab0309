// An app that runs the release tracker from an action, as its cron would, and reports what the
// toolkit-style callbacks saw (tests cannot pass functions into Convex functions).
import { v } from "convex/values";
import { PostHog, defineFlags } from "../../client/index.js";
import { components } from "./_generated/api.js";
import { action } from "./_generated/server.js";

export const flags = defineFlags({
  areas: ["ui"],
  flags: {
    release_ui_done: { description: "The new checkout", owner: "@web", sunsetTarget: "2026-01-31" },
    release_ui_half: { description: "Half way", owner: "@web" },
    ops_ui_killswitch: { description: "Turns the UI off", owner: "@oncall" },
  },
});

const posthog = new PostHog(components.posthog, { flags });
const withoutRegistry = new PostHog(components.posthog);

/** One run through the client; `calls` lists the callbacks in the order they ran. */
export const track = action({
  args: {
    dryRun: v.optional(v.boolean()),
    staleThresholdDays: v.optional(v.number()),
    releaseRule: v.optional(v.string()),
    registry: v.optional(v.boolean()),
  },
  handler: async (ctx, { registry, releaseRule, ...options }) => {
    const calls: unknown[][] = [];
    const client = registry === false ? withoutRegistry : posthog;
    const result = await client.runReleaseTracker(ctx, {
      ...options,
      ...(releaseRule !== undefined ? { releaseRule: releaseRule as "toolkit" } : {}),
      callbacks: {
        onNewRelease: (flag, type) => void calls.push(["onNewRelease", flag.key, flag.id, type]),
        onStale: (flag, days) => void calls.push(["onStale", flag.key, days]),
        onOrphan: (flag) => void calls.push(["onOrphan", flag.key]),
        onNamingViolation: (flag) => void calls.push(["onNamingViolation", flag.key]),
        onDigestReady: (digest) => void calls.push(["onDigestReady", digest]),
      },
    });
    return { result, calls };
  },
});
