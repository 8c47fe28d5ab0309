// What one capture costs inside the caller's mutation, through each client: the mutation
// captures `count` events and reports the time the capture calls took and what they wrote,
// read and scheduled (the transaction's metrics before and after, nested component
// mutations included). `costTyped` is `costOurs` through a client with an event taxonomy, so
// each capture's properties are validated first.
import { PostHog as BaselinePostHog } from "@posthog/convex";
import { v } from "convex/values";
import { PostHog, type EventProperties } from "../../src/client/index.js";
import { pageViewedEvents } from "../pageViewed.js";
import { components } from "./_generated/api.js";
import { mutation, type MutationCtx } from "./_generated/server.js";

const ours = new PostHog(components.posthog);
const typed = new PostHog(components.posthog, { events: pageViewedEvents });
const theirs = new BaselinePostHog(components.baseline);

type PageViewed = EventProperties<(typeof pageViewedEvents.events)["page viewed"]>;

type Capture = (ctx: MutationCtx, event: { distinctId: string; event: string; properties: Record<string, unknown> }) => Promise<void>;

function costOf(capture: Capture) {
  return mutation({
    args: { count: v.number(), properties: v.string() },
    handler: async (ctx, { count, properties }) => {
      const props = JSON.parse(properties) as Record<string, unknown>;
      const before = await ctx.meta.getTransactionMetrics();
      const started = performance.now();
      for (let i = 0; i < count; i++) await capture(ctx, { distinctId: `user-${i}`, event: "page viewed", properties: { ...props, i } });
      const elapsedMs = performance.now() - started;
      const after = await ctx.meta.getTransactionMetrics();
      const used = (name: keyof typeof after) => after[name].used - before[name].used;
      return {
        elapsedMs,
        documentsWritten: used("documentsWritten"),
        bytesWritten: used("bytesWritten"),
        documentsRead: used("documentsRead"),
        bytesRead: used("bytesRead"),
        indexRanges: used("databaseQueries"),
        functionsScheduled: used("functionsScheduled"),
        scheduledArgsBytes: used("scheduledFunctionArgsBytes"),
      };
    },
  });
}

export const costOurs = costOf(async (ctx, event) => await ours.capture(ctx, event));
// The properties arrive as JSON, so the compiler cannot vouch for them: the run-time check is
// what this measures (a capture that breaks the taxonomy throws).
export const costTyped = costOf(
  async (ctx, { distinctId, properties }) => await typed.capture(ctx, { distinctId, event: "page viewed", properties: properties as PageViewed }),
);
export const costBaseline = costOf(async (ctx, event) => await theirs.capture(ctx, event));
