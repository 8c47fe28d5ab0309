// Enforcing a kill: the flag is turned off in Convex first, then in PostHog.
//
// 1. markKilled puts the flag on the kill list (killList.ts): local evaluation answers false with
//    reason "killed" at once and every reactive query reading it re-runs. guardianState records
//    enforcement "pending_patch" and the time of the kill.
// 2. The action PATCHes {active: false} through rest.ts, unless the flag (read fresh from PostHog)
//    is already inactive, so a repeated enforcement writes nothing.
// 3. recordEnforcement records the outcome. A refusal (approval, dependants, scope, failure) is
//    kept and alerted once; a transient failure leaves "pending_patch".
// A crash between 1 and 3, or a kill from a mutation (which never holds the admin key), leaves
// "pending_patch": finishPendingEnforcements, at the start of every guardian run, completes it.
// The kill stays after PostHog agreed: only clearKillSwitch (killSwitch.clear) lifts it, with the
// enforcement state; re-enabling the flag in PostHog is a person's decision.
import { v, type Infer } from "convex/values";
import { api, internal } from "../_generated/api.js";
import { action, internalMutation, internalQuery, mutation, type ActionCtx, type MutationCtx } from "../_generated/server.js";
import type { PostHogFlag } from "../../core/governance/posthogRest.js";
import { enforcementSlackMessage, posthogFlagUrl, type EnforcementRefusal } from "../../core/governance/slack.js";
import { PostHogInputError } from "../../core/messages.js";
import { addToKillList } from "../killList.js";
import { describeFailure, getDependentFlags, listAllFlags, patchFlag, vAdminTarget, type AdminTarget, type RestFailure } from "./rest.js";
import { queueAlerts, vAlertInput, type AlertInput } from "./alerts.js";
import { vAlertSettings, vEnforcement, vKillSource } from "./tables.js";

export const vEnforcementOutcome = v.object({
  key: v.string(),
  enforcement: vEnforcement,
  detail: v.optional(v.string()),
  /** blocked_by_dependents: the keys of the flags PostHog named. */
  dependents: v.optional(v.array(v.string())),
  /** approval_requested: PostHog's change request (a UUID), for a person to approve. */
  changeRequestId: v.optional(v.string()),
});
export type EnforcementOutcome = Infer<typeof vEnforcementOutcome>;
export type KillSource = Infer<typeof vKillSource>;

/** Outcomes a person has to act on: recorded and alerted, once per kill. */
const REFUSALS = new Set<EnforcementOutcome["enforcement"]>(["approval_requested", "blocked_by_dependents", "scope_missing", "failed"]);

/**
 * Kill the flag locally and owe PostHog the PATCH; queue `alert` (the guardian's) in the same
 * transaction. Idempotent: a flag already killed keeps its first kill time, reason and source,
 * and queues no alert again.
 */
export const markKilled = internalMutation({
  args: { key: v.string(), reason: v.optional(v.string()), source: vKillSource, alert: v.optional(vAlertInput) },
  returns: v.object({ killedAt: v.number(), alreadyKilled: v.boolean() }),
  handler: async (ctx, args) => await killForEnforcement(ctx, args),
});

/**
 * Record what PostHog answered; a refusal also queues one "enforcement" alert per kill (its
 * dedup key names the kill's time). Ignored (false) when the kill was cleared meanwhile: a late
 * outcome must not bring back state a person removed.
 */
export const recordEnforcement = internalMutation({
  args: { killedAt: v.number(), outcome: vEnforcementOutcome, posthogFlagUrl: v.string() },
  returns: v.boolean(),
  handler: async (ctx, { killedAt, outcome, posthogFlagUrl }) => {
    const state = await stateOf(ctx, outcome.key);
    if (state === null || state.killedAt !== killedAt) return false;
    await ctx.db.patch(state._id, {
      enforcement: outcome.enforcement,
      enforcementDetail: outcome.detail,
      changeRequestId: outcome.changeRequestId,
      dependents: outcome.dependents,
    });
    if (REFUSALS.has(outcome.enforcement)) await queueAlerts(ctx, [refusalAlert(outcome, killedAt, posthogFlagUrl)]);
    return true;
  },
});

/** The kills whose PATCH is still owed (at most 100 per run; the next run takes the rest). */
export const pendingEnforcements = internalQuery({
  args: {},
  returns: v.array(v.object({ key: v.string(), killedAt: v.number() })),
  handler: async (ctx) => {
    const pending = await ctx.db
      .query("guardianState")
      .withIndex("by_enforcement", (q) => q.eq("enforcement", "pending_patch"))
      .take(100);
    return pending.flatMap((state) => (state.killedAt !== undefined ? [{ key: state.key, killedAt: state.killedAt }] : []));
  },
});

/**
 * disableFlag from a mutation: kill now, PATCH at the next guardian run (a mutation cannot make
 * the request, and the admin key is never stored or scheduled).
 */
export const disableFlagAtNextRun = mutation({
  args: { key: v.string(), reason: v.optional(v.string()) },
  returns: vEnforcementOutcome,
  handler: async (ctx, { key, reason }) => {
    await killForEnforcement(ctx, { key, reason, source: "manual" });
    return { key, enforcement: "pending_patch" as const };
  },
});

/** disableFlag from an action: kill now, then PATCH PostHog with the admin key passed in. */
export const disableFlagNow = action({
  args: { admin: vAdminTarget, key: v.string(), reason: v.optional(v.string()), alerts: v.optional(vAlertSettings) },
  returns: vEnforcementOutcome,
  handler: async (ctx, { admin, key, reason, alerts }): Promise<EnforcementOutcome> => {
    if (alerts !== undefined) await ctx.runMutation(api.governance.alerts.configure, alerts);
    const { killedAt } = await ctx.runMutation(internal.governance.enforcement.markKilled, { key, reason, source: "manual" });
    // The kill is in place; only now read the flag (fresh) and PATCH it.
    const listed = await listAllFlags(admin, { search: key });
    const flag = listed.ok ? listed.data.find((candidate) => candidate.key === key) : undefined;
    const outcome = listed.ok ? await disableInPostHog(admin, key, flag) : await refusalOutcome(admin, key, undefined, listed.failure);
    return await recordOutcome(ctx, admin, killedAt, outcome, flag);
  },
});

/**
 * Enforce a kill from a component action (the guardian): local kill first, then the PATCH,
 * then the outcome recorded. `flag` is PostHog's flag from a fresh listing (undefined: PostHog
 * has no such flag).
 */
export async function enforceKill(
  ctx: ActionCtx,
  admin: AdminTarget,
  args: { key: string; flag: PostHogFlag | undefined; reason?: string; source: KillSource; alert?: AlertInput },
): Promise<EnforcementOutcome> {
  const { killedAt } = await ctx.runMutation(internal.governance.enforcement.markKilled, {
    key: args.key,
    source: args.source,
    ...(args.reason !== undefined ? { reason: args.reason } : {}),
    ...(args.alert !== undefined ? { alert: args.alert } : {}),
  });
  return await recordOutcome(ctx, admin, killedAt, await disableInPostHog(admin, args.key, args.flag), args.flag);
}

/**
 * PATCH every kill still owed to PostHog (a crash between kill and PATCH, a kill from a
 * mutation), given a fresh listing of PostHog's flags. Call at the start of every guardian run.
 */
export async function finishPendingEnforcements(ctx: ActionCtx, admin: AdminTarget, flags: PostHogFlag[]): Promise<EnforcementOutcome[]> {
  const pending = await ctx.runQuery(internal.governance.enforcement.pendingEnforcements, {});
  const byKey = new Map(flags.map((flag) => [flag.key, flag]));
  const outcomes: EnforcementOutcome[] = [];
  for (const { key, killedAt } of pending) {
    const flag = byKey.get(key);
    outcomes.push(await recordOutcome(ctx, admin, killedAt, await disableInPostHog(admin, key, flag), flag));
  }
  return outcomes;
}

/**
 * What the guardian forgets when a person clears a kill (killSwitch.clear). A row only a kill
 * created (the guardian never evaluated the flag) goes. Returns whether there was a kill.
 */
export async function forgetEnforcement(ctx: MutationCtx, key: string): Promise<boolean> {
  const state = await stateOf(ctx, key);
  if (state === null || state.killedAt === undefined) return false;
  if (state.lastEvaluatedAt === undefined) {
    await ctx.db.delete(state._id);
    return true;
  }
  await ctx.db.patch(state._id, {
    enforcement: undefined,
    enforcementDetail: undefined,
    changeRequestId: undefined,
    dependents: undefined,
    killedAt: undefined,
    killReason: undefined,
    killSource: undefined,
  });
  return true;
}

async function killForEnforcement(
  ctx: MutationCtx,
  { key, reason, source, alert }: { key: string; reason?: string; source: KillSource; alert?: AlertInput },
): Promise<{ killedAt: number; alreadyKilled: boolean }> {
  if (key === "") throw new PostHogInputError("key", "disabling a flag needs its key");
  const { entry } = await addToKillList(ctx, key, reason, { keepFirst: true });
  const state = await stateOf(ctx, key);
  const alreadyKilled = state?.killedAt !== undefined;
  const kill = {
    killedAt: state?.killedAt ?? entry.at,
    killSource: state?.killSource ?? source,
    ...((state?.killReason ?? reason) !== undefined ? { killReason: state?.killReason ?? reason } : {}),
  };
  if (state === null) {
    // An unwatched flag killed by hand: the guardian's row for it holds only the kill.
    await ctx.db.insert("guardianState", { key, mode: source === "guardian" ? "enforce" : "monitor", enforcement: "pending_patch", ...kill });
  } else {
    // Owed again: the next PATCH (or the fresh read that finds the flag off) settles it.
    await ctx.db.patch(state._id, { enforcement: "pending_patch", enforcementDetail: undefined, changeRequestId: undefined, dependents: undefined, ...kill });
  }
  if (!alreadyKilled && alert !== undefined) await queueAlerts(ctx, [alert]);
  return { killedAt: kill.killedAt, alreadyKilled };
}

/** Turn the flag off in PostHog, unless it already is; every answer becomes an outcome. */
async function disableInPostHog(admin: AdminTarget, key: string, flag: PostHogFlag | undefined): Promise<EnforcementOutcome> {
  if (flag === undefined) return { key, enforcement: "failed", detail: `PostHog has no flag "${key}" in project ${admin.projectId}` };
  if (!flag.active) return { key, enforcement: "patched", detail: "already inactive in PostHog" };
  const answer = await patchFlag(admin, flag.id, { active: false });
  if (answer.ok) return { key, enforcement: "patched" };
  return await refusalOutcome(admin, key, flag.id, answer.failure);
}

async function refusalOutcome(admin: AdminTarget, key: string, flagId: number | undefined, failure: RestFailure): Promise<EnforcementOutcome> {
  const detail = describeFailure(failure);
  switch (failure.kind) {
    case "approval_required":
    case "change_request_pending": {
      const id = (failure.body as { change_request_id?: unknown } | undefined)?.change_request_id;
      const known = typeof id === "string" || typeof id === "number";
      return { key, enforcement: "approval_requested", detail, ...(known ? { changeRequestId: String(id) } : {}) };
    }
    case "forbidden":
      return { key, enforcement: "scope_missing", detail };
    case "network":
    case "server_error":
    case "rate_limited":
      // Still owed: the next run tries again.
      return { key, enforcement: "pending_patch", detail };
    case "bad_request":
      if (flagId !== undefined && /depend on it/i.test(failure.detail)) {
        const dependents = await getDependentFlags(admin, flagId);
        return { key, enforcement: "blocked_by_dependents", detail, dependents: dependents.ok ? dependents.data.map((flag) => flag.key) : [] };
      }
      return { key, enforcement: "failed", detail };
    default:
      return { key, enforcement: "failed", detail };
  }
}

async function recordOutcome(
  ctx: ActionCtx,
  admin: AdminTarget,
  killedAt: number,
  outcome: EnforcementOutcome,
  flag: PostHogFlag | undefined,
): Promise<EnforcementOutcome> {
  // The flag's page, or the flag list when PostHog has no such flag. No key in it.
  const flagUrl = flag !== undefined ? posthogFlagUrl(admin.appHost, admin.projectId, flag.id) : `${admin.appHost}/project/${admin.projectId}/feature_flags`;
  const recorded = await ctx.runMutation(internal.governance.enforcement.recordEnforcement, { killedAt, outcome, posthogFlagUrl: flagUrl });
  if (recorded && outcome.enforcement === "scope_missing") {
    const detail = JSON.stringify({ needs: "feature_flag:write", to: "disable the killed flag in PostHog", posthog: outcome.detail });
    await ctx.runMutation(internal.governance.records.recordFindings, {
      source: "guardian",
      findings: [{ kind: "scope_missing", key: outcome.key, detail }],
      complete: false,
    });
  }
  return outcome;
}

function refusalAlert(outcome: EnforcementOutcome, killedAt: number, flagUrl: string): AlertInput {
  const refusal: EnforcementRefusal =
    outcome.enforcement === "approval_requested"
      ? { kind: "approval_required", ...(outcome.changeRequestId !== undefined ? { changeRequestId: outcome.changeRequestId } : {}) }
      : outcome.enforcement === "blocked_by_dependents"
        ? { kind: "dependants", dependants: outcome.dependents ?? [] }
        : outcome.enforcement === "scope_missing"
          ? { kind: "missing_scope", scope: "feature_flag:write" }
          : { kind: "failed", error: outcome.detail ?? outcome.enforcement };
  return {
    dedupKey: `enforcement:${outcome.key}:${outcome.enforcement}:${killedAt}`,
    kind: "enforcement",
    key: outcome.key,
    slack: enforcementSlackMessage({ flagKey: outcome.key, refusal, posthogFlagUrl: flagUrl }),
    event: {
      kind: "enforcement",
      key: outcome.key,
      decision: outcome.enforcement,
      reason: outcome.detail ?? outcome.enforcement,
      posthogFlagUrl: flagUrl,
      detail: {
        ...(outcome.changeRequestId !== undefined ? { changeRequestId: outcome.changeRequestId } : {}),
        ...(outcome.dependents !== undefined ? { dependents: outcome.dependents } : {}),
      },
    },
  };
}

async function stateOf(ctx: MutationCtx, key: string) {
  return await ctx.db
    .query("guardianState")
    .withIndex("by_key", (q) => q.eq("key", key))
    .first();
}
