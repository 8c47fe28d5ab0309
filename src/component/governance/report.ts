// The governance report: one reactive query over what sync, the release tracker, the guardian
// and the alert outbox keep, for a dashboard. Every read is bounded; a list that hit its bound
// says so (`truncated`) rather than growing the query without limit.
import { v } from "convex/values";
import { query, type QueryCtx } from "../_generated/server.js";
import { governanceTables, vGovernanceTool } from "./tables.js";

/** At most this many rows of each list; alert counts stop here too. */
export const REPORT_LIMIT = 500;

const TOOLS = ["sync", "releases", "guardian"] as const;

/** An open finding (so no resolvedAt). */
const vFinding = governanceTables.governanceFindings.validator.omit("resolvedAt");
const vRun = v.object({
  tool: vGovernanceTool,
  startedAt: v.number(),
  finishedAt: v.optional(v.number()),
  status: v.string(),
  dryRun: v.optional(v.boolean()),
  result: v.optional(v.string()),
  error: v.optional(v.string()),
});
const vCount = v.object({ count: v.number(), truncated: v.boolean() });

export const vReport = v.object({
  findings: v.array(vFinding),
  findingsTruncated: v.boolean(),
  lifecycle: v.array(governanceTables.flagLifecycle.validator),
  guardian: v.array(governanceTables.guardianState.validator),
  killed: v.array(v.object({ key: v.string(), reason: v.optional(v.string()), at: v.number() })),
  lastRuns: v.array(vRun),
  alerts: v.object({ pending: vCount, dead: vCount }),
});

export const get = query({
  args: {},
  returns: vReport,
  handler: async (ctx) => {
    const findings = await ctx.db
      .query("governanceFindings")
      .withIndex("by_resolved", (q) => q.eq("resolvedAt", undefined))
      .take(REPORT_LIMIT + 1);
    const lastRuns = [];
    for (const tool of TOOLS) {
      const run = await ctx.db
        .query("governanceRuns")
        .withIndex("by_tool_started", (q) => q.eq("tool", tool))
        .order("desc")
        .first();
      if (run !== null) lastRuns.push(fields(run));
    }
    return {
      findings: findings.slice(0, REPORT_LIMIT).map(({ source, kind, key, detail, firstSeenAt, lastSeenAt }) => ({ source, kind, key, detail, firstSeenAt, lastSeenAt })),
      findingsTruncated: findings.length > REPORT_LIMIT,
      lifecycle: (await ctx.db.query("flagLifecycle").withIndex("by_key").take(REPORT_LIMIT)).map(fields),
      guardian: (await ctx.db.query("guardianState").withIndex("by_key").take(REPORT_LIMIT)).map(fields),
      killed: (await ctx.db.query("definitionsMeta").first())?.killed ?? [],
      lastRuns,
      alerts: { pending: await countAlerts(ctx, "pending"), dead: await countAlerts(ctx, "dead") },
    };
  },
});

async function countAlerts(ctx: QueryCtx, status: "pending" | "dead") {
  const rows = await ctx.db
    .query("alerts")
    .withIndex("by_status_due", (q) => q.eq("status", status))
    .take(REPORT_LIMIT + 1);
  return { count: Math.min(rows.length, REPORT_LIMIT), truncated: rows.length > REPORT_LIMIT };
}

/** A document without Convex's system fields. */
function fields<T extends { _id: unknown; _creationTime: number }>(doc: T): Omit<T, "_id" | "_creationTime"> {
  const { _id, _creationTime, ...rest } = doc;
  return rest;
}
