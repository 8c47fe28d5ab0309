// What one capture costs inside the caller's mutation, through each client: the mutation
// captures `count` events and reports the time the capture calls took and what they wrote,
// read and scheduled (the transaction's metrics before and after, nested component
// mutations included).
import { PostHog as BaselinePostHog } from "@posthog/convex";
import { v } from "convex/values";
import { PostHog } from "../../src/client/index.js";
import { components } from "./_generated/api.js";
import { mutation, type MutationCtx } from "./_generated/server.js";

const ours = new PostHog(components.posthog);
const theirs = new BaselinePostHog(components.baseline);

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
export const costBaseline = costOf(async (ctx, event) => await theirs.capture(ctx, event));
