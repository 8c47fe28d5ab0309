// One capture per mutation, through each client. The mutation stamps the event with its
// index and the time it ran, so the bench can measure each event's latency on arrival.
import { PostHog as BaselinePostHog } from "@posthog/convex";
import { v } from "convex/values";
import { PostHog } from "../../src/client/index.js";
import { components } from "./_generated/api.js";
import { mutation } from "./_generated/server.js";

// Both read host and key from the environment (ours: POSTHOG_API_KEY / POSTHOG_HOST at call
// time; the baseline: POSTHOG_PROJECT_TOKEN / POSTHOG_HOST inside its action). Default
// delivery settings: what an app gets without tuning.
const ours = new PostHog(components.posthog);
const theirs = new BaselinePostHog(components.baseline);

const captureArgs = { distinctId: v.string(), event: v.string(), index: v.number() };

export const captureOurs = mutation({
  args: captureArgs,
  handler: async (ctx, { distinctId, event, index }) => {
    await ours.capture(ctx, { distinctId, event, properties: { bench_index: index, bench_captured_at: Date.now() } });
  },
});

export const captureBaseline = mutation({
  args: captureArgs,
  handler: async (ctx, { distinctId, event, index }) => {
    await theirs.capture(ctx, { distinctId, event, properties: { bench_index: index, bench_captured_at: Date.now() } });
  },
});
