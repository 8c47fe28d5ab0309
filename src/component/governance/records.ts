// What the governance tools remember about their runs and findings, for the report and for the
// next run: a run row per run (the last few kept), and findings that stay open until a complete
// run of the same tool no longer sees them.
import { v, type Infer } from "convex/values";
import { internal } from "../_generated/api.js";
import { internalMutation, type ActionCtx, type MutationCtx } from "../_generated/server.js";
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

/** Findings upserted per mutation: each costs up to two index ranges on Convex (4,096 per transaction). */
const FINDINGS_PER_MUTATION = 500;
/** Open findings a complete run looks through to resolve the ones it no longer sees. */
const OPEN_FINDINGS_SCANNED = 2_000;

type FindingInput = Infer<typeof vFindingInput>;
type ToolName = Infer<typeof vGovernanceTool>;

/**
 * Upsert a tool's findings. With `complete` (the run looked at everything it reports on), the
 * tool's open findings of the same kinds that are not in the list are resolved.
 * Returns the findings that are new (not open before), so callers alert once per finding.
 * Actions with many findings call `recordAllFindings`, which splits them.
 */
export const recordFindings = internalMutation({
  args: { source: vGovernanceTool, findings: v.array(vFindingInput), complete: v.boolean(), kinds: v.optional(v.array(v.string())) },
  returns: v.array(vFindingInput),
  handler: async (ctx, { source, findings, complete, kinds }) => {
    const fresh = await upsertFindings(ctx, source, findings);
    if (complete) await resolveUnseen(ctx, source, kinds ?? findings.map((finding) => finding.kind), findings);
    return fresh;
  },
});

/** The resolving half of a complete run recorded in parts: its open findings of `kinds` not in `seen` are resolved. */
export const resolveFindings = internalMutation({
  args: { source: vGovernanceTool, kinds: v.array(v.string()), seen: v.array(v.object({ kind: v.string(), key: v.string() })) },
  returns: v.null(),
  handler: async (ctx, { source, kinds, seen }) => {
    await resolveUnseen(ctx, source, kinds, seen);
    return null;
  },
});

/**
 * recordFindings from an action, for any number of findings: in one transaction when they fit,
 * else upserted in parts of FINDINGS_PER_MUTATION and then resolved (a project adopting a
 * registry can have thousands of orphans; one mutation would pass Convex's index-range limit).
 */
export async function recordAllFindings(
  ctx: ActionCtx,
  args: { source: ToolName; findings: FindingInput[]; complete: boolean; kinds?: string[] },
): Promise<FindingInput[]> {
  if (args.findings.length <= FINDINGS_PER_MUTATION) return await ctx.runMutation(internal.governance.records.recordFindings, args);
  const fresh: FindingInput[] = [];
  for (let start = 0; start < args.findings.length; start += FINDINGS_PER_MUTATION) {
    const part = args.findings.slice(start, start + FINDINGS_PER_MUTATION);
    fresh.push(...(await ctx.runMutation(internal.governance.records.recordFindings, { source: args.source, findings: part, complete: false })));
  }
  if (args.complete) {
    const kinds = args.kinds ?? [...new Set(args.findings.map((finding) => finding.kind))];
    const seen = args.findings.map(({ kind, key }) => ({ kind, key }));
    await ctx.runMutation(internal.governance.records.resolveFindings, { source: args.source, kinds, seen });
  }
  return fresh;
}

async function upsertFindings(ctx: MutationCtx, source: ToolName, findings: FindingInput[]): Promise<FindingInput[]> {
  const now = Date.now();
  const fresh = [];
  for (const finding of findings) {
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
  return fresh;
}

async function resolveUnseen(ctx: MutationCtx, source: ToolName, kinds: readonly string[], seen: readonly { kind: string; key: string }[]): Promise<void> {
  const now = Date.now();
  const covered = new Set(kinds);
  const seenKeys = new Set(seen.map(({ kind, key }) => `${kind}\u0000${key}`));
  const stillOpen = await ctx.db
    .query("governanceFindings")
    .withIndex("by_resolved", (q) => q.eq("resolvedAt", undefined))
    .take(OPEN_FINDINGS_SCANNED);
  for (const finding of stillOpen) {
    if (finding.source !== source || !covered.has(finding.kind)) continue;
    if (!seenKeys.has(`${finding.kind}\u0000${finding.key}`)) await ctx.db.patch(finding._id, { resolvedAt: now });
  }
}
