// Flag reads through each client, for the flags bench. A query makes `calls` getFeatureFlag
// calls one after another, as a page that checks many flags would, and reports what the
// calls read (the query's transaction metrics before and after the loop). The calls travel
// as JSON text so contexts may hold `$` keys, and the values come back as JSON text with
// "INCONCLUSIVE" for undefined (not locally decidable), which Convex values cannot hold.
import { PostHog as BaselinePostHog } from "@posthog/convex";
import { v } from "convex/values";
import { PostHog } from "../../src/client/index.js";
import { components } from "./_generated/api.js";
import { action, query, type QueryCtx } from "./_generated/server.js";

// Keys and host from the environment, read at call time (ours: POSTHOG_API_KEY,
// POSTHOG_HOST, POSTHOG_PERSONAL_API_KEY; the baseline: POSTHOG_PROJECT_TOKEN, POSTHOG_HOST,
// POSTHOG_PERSONAL_API_KEY through its component env).
const ours = new PostHog(components.posthog);
const theirs = new BaselinePostHog(components.baseline);

/** Fetch the definitions from POSTHOG_HOST into convex-posthog (one row per flag and cohort). */
export const refreshOurs = action({
  args: {},
  handler: async (ctx) => await ours.refreshFlagDefinitions(ctx),
});

/** Fetch the definitions from POSTHOG_HOST into @posthog/convex (one row holding all of them). */
export const refreshBaseline = action({
  args: {},
  handler: async (ctx) => JSON.stringify(await theirs.reloadFeatureFlags(ctx)),
});

interface FlagCall {
  key: string;
  distinctId: string;
  personProperties?: Record<string, unknown>;
  groups?: Record<string, string>;
  groupProperties?: Record<string, Record<string, unknown>>;
}

type GetFlag = (ctx: QueryCtx, call: FlagCall) => Promise<boolean | string | undefined>;

function flagReader(getFlag: GetFlag) {
  return query({
    args: { calls: v.string() },
    handler: async (ctx, args) => {
      const calls = JSON.parse(args.calls) as FlagCall[];
      const before = await ctx.meta.getTransactionMetrics();
      const values: Array<boolean | string> = [];
      for (const call of calls) values.push((await getFlag(ctx, call)) ?? "INCONCLUSIVE");
      const after = await ctx.meta.getTransactionMetrics();
      return {
        values: JSON.stringify(values),
        documentsRead: after.documentsRead.used - before.documentsRead.used,
        bytesRead: after.bytesRead.used - before.bytesRead.used,
        databaseQueries: after.databaseQueries.used - before.databaseQueries.used,
      };
    },
  });
}

export const getFlagsOurs = flagReader(async (ctx, call) => await ours.getFeatureFlag(ctx, call));
export const getFlagsBaseline = flagReader(async (ctx, call) => await theirs.getFeatureFlag(ctx, call));

/** Size of the baseline's definitions row (its `data` string), or null before a refresh. */
export const baselineDefinitionsBytes = query({
  args: {},
  handler: async (ctx) => {
    const row = await ctx.runQuery(components.baseline.lib.getFlagDefinitions, {});
    return row.data === null ? null : new TextEncoder().encode(row.data).length;
  },
});
