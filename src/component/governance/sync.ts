// runFlagSync: a one-way sync of the app's flag registry to PostHog, from the app's cron.
//
// Lists every PostHog flag, creates the registry's missing flags (inactive, at 0%), reconciles
// name and tags, and reports orphans, naming violations and variant mismatches as findings.
// It never changes `active` or `filters` and never deletes. Every write is idempotent given
// the fresh list (a create PostHog answers "unique" was already done: a lost answer, or a
// concurrent run), so a crashed run is simply finished by the next one, and a run after a
// complete one writes nothing. Refusals become findings, never exceptions.
import { v } from "convex/values";
import { internal } from "../_generated/api.js";
import { action, internalQuery } from "../_generated/server.js";
import { toConvexSafe } from "../../core/convexSafe.js";
import { PostHogInputError } from "../../core/messages.js";
import { emptySyncResult, planSync, type SyncPlan, type SyncRegistry } from "../../core/governance/flagSync.js";
import type { PostHogFlag } from "../../core/governance/posthogRest.js";
import { createFlag, describeFailure, listAllFlags, patchFlag, vAdminTarget, type AdminTarget, type RestFailure } from "./rest.js";
import { recordAllFindings, vFindingInput } from "./records.js";

/** The finding kinds a sync reports; a complete run resolves those it no longer sees. */
const OBSERVED_KINDS = ["orphan", "naming_violation", "variant_mismatch"];
const WRITE_KINDS = ["tags_unsupported", "scope_missing", "rate_limited", "request_failed", "write_failed", "approval_required"];

const vSyncFlag = v.object({
  key: v.string(),
  description: v.string(),
  owner: v.string(),
  tags: v.optional(v.array(v.string())),
  guardian: v.optional(v.union(v.literal("monitor"), v.literal("enforce"))),
  variants: v.optional(v.array(v.string())),
});

const vPatch = v.object({ name: v.optional(v.string()), tags: v.optional(v.array(v.string())) });

export const vSyncResult = v.object({
  status: v.union(v.literal("ok"), v.literal("failed"), v.literal("skipped")),
  dry_run: v.boolean(),
  // posthog-flag-toolkit's FlagSyncResult
  registry_size: v.number(),
  posthog_size: v.number(),
  created: v.number(),
  reconciled: v.number(),
  orphans: v.number(),
  naming_violations: v.number(),
  // ours
  created_keys: v.array(v.string()),
  reconciled_keys: v.array(v.string()),
  orphan_keys: v.array(v.string()),
  naming_violation_keys: v.array(v.string()),
  variant_mismatches: v.array(v.object({ key: v.string(), code: v.array(v.string()), posthog: v.array(v.string()) })),
  findings: v.array(vFindingInput),
  /** What the client's callbacks receive: PostHog's flags by key (made Convex-safe) and the patches. */
  forCallbacks: v.object({ flags: v.any(), patches: v.array(v.object({ key: v.string(), patch: vPatch })) }),
});

type Finding = { kind: string; key: string; detail: string };
type SyncResult = typeof vSyncResult.type;

export const run = action({
  args: {
    admin: vAdminTarget,
    registry: v.object({ flags: v.array(vSyncFlag), namingPattern: v.string(), namingExemptTag: v.string() }),
    dryRun: v.boolean(),
    createUsageDashboards: v.boolean(),
  },
  returns: vSyncResult,
  handler: async (ctx, { admin, registry, dryRun, createUsageDashboards }): Promise<SyncResult> => {
    checkRegistry(registry);
    const runId = await ctx.runMutation(internal.governance.records.startRun, { tool: "sync", dryRun });
    const finish = async (result: SyncResult, error?: string) => {
      await ctx.runMutation(internal.governance.records.finishRun, {
        runId,
        status: result.status,
        // The findings have their own table; the flags are for this call's callbacks only.
        result: JSON.stringify({ ...result, findings: undefined, forCallbacks: undefined }),
        ...(error !== undefined ? { error } : {}),
      });
      return result;
    };

    const listed = await listAllFlags(admin);
    if (!listed.ok) {
      // Nothing was looked at: record why, resolve nothing.
      const finding = failureFinding("", listed.failure);
      await ctx.runMutation(internal.governance.records.recordFindings, { source: "sync", findings: [finding], complete: false });
      const status = listed.failure.kind === "rate_limited" ? "skipped" : "failed";
      return await finish({ ...emptyResult(registry, dryRun, status), findings: [finding] }, describeFailure(listed.failure));
    }
    // Offset paging shows a flag twice when one is created meanwhile: each counts once.
    const flags = [...new Map(listed.data.filter((flag) => !flag.deleted).map((flag) => [flag.id, flag])).values()];

    // PostHog reads every flag's tags as [] without its tagging licence, so any tag proves it is back.
    let tagsUnsupported = (await ctx.runQuery(internal.governance.sync.tagsUnsupported, {})) && !flags.some((flag) => (flag.tags ?? []).length > 0);
    const plan = planSync(registry, flags, { sendTags: !tagsUnsupported, createUsageDashboards });
    const writes = dryRun ? dryWrites(plan) : await write(admin, plan, () => tagsUnsupported, () => (tagsUnsupported = true));

    const findings: Finding[] = [
      ...plan.orphans.map((flag) => finding("orphan", flag.key, { name: flag.name, active: flag.active, id: flag.id })),
      ...plan.namingViolations.map((flag) => finding("naming_violation", flag.key, { pattern: registry.namingPattern, exemptTag: registry.namingExemptTag })),
      ...plan.variantMismatches.map(({ key, code, posthog, problems }) =>
        finding("variant_mismatch", key, { code, posthog, problems: problems.map((problem) => problem.detail) }),
      ),
      ...(tagsUnsupported
        ? [finding("tags_unsupported", "", { detail: "PostHog dropped the tags sent (its tagging feature is not licensed): tags are no longer sent" })]
        : []),
      ...writes.findings,
    ];
    await recordAllFindings(ctx, {
      source: "sync",
      findings,
      complete: true,
      // A dry run writes nothing, so it cannot tell whether a write would still fail.
      kinds: dryRun ? OBSERVED_KINDS : [...OBSERVED_KINDS, ...WRITE_KINDS],
    });

    const forCallbacks = new Map<string, PostHogFlag>();
    for (const flag of [...plan.orphans, ...plan.namingViolations, ...writes.reconciled.map((r) => r.flag)]) forCallbacks.set(flag.key, flag);
    const status = writes.stopped === "rate_limited" ? "skipped" : writes.stopped !== undefined || writes.failed ? "failed" : "ok";
    return await finish({
      status,
      dry_run: dryRun,
      registry_size: registry.flags.length,
      posthog_size: flags.length,
      created: writes.created.length,
      reconciled: writes.reconciled.length,
      orphans: plan.orphans.length,
      naming_violations: plan.namingViolations.length,
      created_keys: writes.created,
      reconciled_keys: writes.reconciled.map((r) => r.flag.key),
      orphan_keys: plan.orphans.map((flag) => flag.key),
      naming_violation_keys: plan.namingViolations.map((flag) => flag.key),
      variant_mismatches: plan.variantMismatches.map(({ key, code, posthog }) => ({ key, code, posthog })),
      findings,
      forCallbacks: {
        flags: toConvexSafe(Object.fromEntries(forCallbacks)),
        patches: writes.reconciled.map(({ flag, patch }) => ({ key: flag.key, patch })),
      },
    });
  },
});

/** Whether an earlier run saw PostHog drop the tags it sent (the open tags_unsupported finding). */
export const tagsUnsupported = internalQuery({
  args: {},
  returns: v.boolean(),
  handler: async (ctx) => {
    const open = await ctx.db
      .query("governanceFindings")
      .withIndex("by_source_kind_key", (q) => q.eq("source", "sync").eq("kind", "tags_unsupported").eq("key", ""))
      .filter((q) => q.eq(q.field("resolvedAt"), undefined))
      .first();
    return open !== null;
  },
});

interface Writes {
  created: string[];
  reconciled: SyncPlan["reconcile"];
  findings: Finding[];
  /** A refusal that stops every further write: no write scope, or throttled past the retries. */
  stopped?: "scope_missing" | "rate_limited";
  /** Some flag's write failed. */
  failed: boolean;
}

/** What a real run would write, written: creates first, then patches, one at a time. */
async function write(admin: AdminTarget, plan: SyncPlan, tagsUnsupported: () => boolean, markTagsUnsupported: () => void): Promise<Writes> {
  const writes: Writes = { created: [], reconciled: [], findings: [], failed: false };
  /** Records a failed write; true when it stops the run. */
  const refused = (key: string, failure: RestFailure): boolean => {
    const found = failureFinding(key, failure);
    if (found.kind === "scope_missing" || found.kind === "rate_limited") {
      writes.findings.push(found);
      writes.stopped = found.kind;
      return true;
    }
    writes.findings.push(found);
    writes.failed = true;
    return false;
  };
  // Tags PostHog does not keep are reported once, then never sent again.
  const droppedTags = (sent: unknown, echoed: PostHogFlag) => {
    if (Array.isArray(sent) && sent.length > 0 && (echoed.tags ?? []).length === 0) markTagsUnsupported();
  };

  for (const { flag, body } of plan.create) {
    const sent = tagsUnsupported() ? withoutTags(body) : body;
    const created = await createFlag(admin, sent);
    if (created.ok) {
      writes.created.push(flag.key);
      droppedTags(sent.tags, created.data);
    } else if (created.failure.code === "unique") {
      // Already there: created by a run whose answer was lost, or by a concurrent run.
    } else if (refused(flag.key, created.failure)) {
      return writes;
    }
  }
  for (const { flag, patch } of plan.reconcile) {
    const sent = tagsUnsupported() ? { ...(patch.name !== undefined ? { name: patch.name } : {}) } : patch;
    if (Object.keys(sent).length === 0) continue;
    const patched = await patchFlag(admin, flag.id, sent);
    if (patched.ok) {
      writes.reconciled.push({ flag, patch: sent });
      droppedTags(sent.tags, patched.data);
    } else if (refused(flag.key, patched.failure)) {
      return writes;
    }
  }
  return writes;
}

/** A dry run's writes: the plan, as if every write succeeded. */
function dryWrites(plan: SyncPlan): Writes {
  return { created: plan.create.map(({ flag }) => flag.key), reconciled: plan.reconcile, findings: [], failed: false };
}

function failureFinding(key: string, failure: RestFailure): Finding {
  const detail = { status: failure.status, code: failure.code, detail: failure.detail };
  switch (failure.kind) {
    case "forbidden":
      return finding("scope_missing", "", detail);
    case "rate_limited":
      return finding("rate_limited", "", detail);
    case "approval_required":
    case "change_request_pending":
      return finding("approval_required", key, { ...detail, changeRequestId: changeRequestId(failure.body) });
    default:
      return finding(key === "" ? "request_failed" : "write_failed", key, { ...detail, error: describeFailure(failure) });
  }
}

function changeRequestId(body: unknown): number | undefined {
  const id = typeof body === "object" && body !== null ? (body as { change_request_id?: unknown }).change_request_id : undefined;
  return typeof id === "number" ? id : undefined;
}

function finding(kind: string, key: string, detail: Record<string, unknown>): Finding {
  return { kind, key, detail: JSON.stringify(detail) };
}

function emptyResult(registry: SyncRegistry, dryRun: boolean, status: SyncResult["status"]): SyncResult {
  return { ...emptySyncResult(registry.flags.length, dryRun, status), forCallbacks: { flags: toConvexSafe({}), patches: [] } };
}

function checkRegistry(registry: SyncRegistry): void {
  try {
    new RegExp(registry.namingPattern);
  } catch {
    throw new PostHogInputError("registry.namingPattern", `${JSON.stringify(registry.namingPattern)} is not a regular expression`);
  }
  const seen = new Set<string>();
  for (const flag of registry.flags) {
    if (seen.has(flag.key)) throw new PostHogInputError(`registry.flags`, `flag "${flag.key}" is listed twice`);
    seen.add(flag.key);
    if (flag.variants !== undefined && flag.variants.length === 0) {
      throw new PostHogInputError(`registry.flags.${flag.key}.variants`, "must list at least one variant (omit it for a boolean flag)");
    }
  }
}

function withoutTags(body: Record<string, unknown>): Record<string, unknown> {
  const { tags: _dropped, ...rest } = body;
  return rest;
}
