// What the governance tools remember about their runs and findings, for the report and for the
// next run: a run row per run (the last few kept), and findings that stay open until a complete
// run of the same tool no longer sees them.
import { v } from "convex/values";
import { internalMutation } from "../_generated/server.js";
import { vGovernanceTool } from "./tables.js";

/** Runs kept per tool. */
const RUNS_KEPT = 20;

export const vFindingInput = v.object({ kind: v.string(), key: v.string(), detail: v.string() });

/** Record that a run started; older runs of the tool beyond the last few are deleted. */
export const startRun = internalMutation({
  args: { tool: vGovernanceTool, dryRun: v.optional(v.boolean()) },
  returns: v.id("governanceRuns"),
  handler: async (ctx, { tool, dryRun }) => {
    const old = await ctx.db
      .query("governanceRuns")
      .withIndex("by_tool_started", (q) => q.eq("tool", tool))
      .order("desc")
      .take(RUNS_KEPT + 5);
    for (const run of old.slice(RUNS_KEPT - 1)) await ctx.db.delete(run._id);
    return await ctx.db.insert("governanceRuns", {
      tool,
      startedAt: Date.now(),
      status: "running",
      ...(dryRun !== undefined ? { dryRun } : {}),
    });
  },
});

export const finishRun = internalMutation({
  args: {
    runId: v.id("governanceRuns"),
    status: v.union(v.literal("ok"), v.literal("failed"), v.literal("skipped")),
    result: v.optional(v.string()),
    error: v.optional(v.string()),
  },
  returns: v.null(),
  handler: async (ctx, { runId, status, result, error }) => {
    const run = await ctx.db.get(runId);
    if (run === null) return null; // pruned by a burst of later runs
    await ctx.db.patch(runId, {
      status,
      finishedAt: Date.now(),
      ...(result !== undefined ? { result } : {}),
      ...(error !== undefined ? { error } : {}),
    });
    return null;
  },
});

/**
 * Upsert a tool's findings. With `complete` (the run looked at everything it reports on), the
 * tool's open findings of the same kinds that are not in the list are resolved.
 * Returns the findings that are new (not open before), so callers alert once per finding.
 */
export const recordFindings = internalMutation({
  args: { source: vGovernanceTool, findings: v.array(vFindingInput), complete: v.boolean(), kinds: v.optional(v.array(v.string())) },
  returns: v.array(vFindingInput),
  handler: async (ctx, { source, findings, complete, kinds }) => {
    const now = Date.now();
    const fresh = [];
    const seen = new Set<string>();
    for (const finding of findings) {
      seen.add(`${finding.kind}\u0000${finding.key}`);
      const open = await ctx.db
        .query("governanceFindings")
        .withIndex("by_source_kind_key", (q) => q.eq("source", source).eq("kind", finding.kind).eq("key", finding.key))
        .filter((q) => q.eq(q.field("resolvedAt"), undefined))
        .first();
      if (open !== null) {
        await ctx.db.patch(open._id, { lastSeenAt: now, detail: finding.detail });
        continue;
      }
      await ctx.db.insert("governanceFindings", { source, ...finding, firstSeenAt: now, lastSeenAt: now });
      fresh.push(finding);
    }
    if (complete) {
      const covered = new Set(kinds ?? findings.map((finding) => finding.kind));
      const stillOpen = await ctx.db
        .query("governanceFindings")
        .withIndex("by_resolved", (q) => q.eq("resolvedAt", undefined))
        .take(2_000);
      for (const finding of stillOpen) {
        if (finding.source !== source || !covered.has(finding.kind)) continue;
        if (!seen.has(`${finding.kind}\u0000${finding.key}`)) await ctx.db.patch(finding._id, { resolvedAt: now });
      }
    }
    return fresh;
  },
});
