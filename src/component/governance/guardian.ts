// The flag guardian's run (issue 10): for every watched flag that is active in PostHog, compare
// its treatment and control cohorts over the last window, decide with the toolkit's rules (plus
// the significance gate), remember the outcome, alert on a regression, and turn an enforced
// flag off: locally first (reads answer false at once), then in PostHog.
//
// Durability without steps: every write is idempotent given fresh reads. A run first finishes
// the PATCHes an earlier run owed (a crash between the kill and the PATCH); a regression's state,
// cooldown and alert are written in ONE mutation, and the alert's dedup key is per cooldown
// period, so no alert goes out twice however runs overlap or retry.
import { v, type Infer } from "convex/values";
import { api, internal } from "../_generated/api.js";
import { action, internalMutation, internalQuery, type ActionCtx } from "../_generated/server.js";
import { decideFromCounts, worse, type FlagDecision, type VariantCounts } from "../../core/governance/cohorts.js";
import { DEFAULT_SIGNIFICANCE, mergeThresholds, type EvaluationMetrics, type GuardianThresholds } from "../../core/governance/guardian.js";
import { buildGuardianQuery, parseGuardianResponse } from "../../core/governance/hogql.js";
import type { PostHogFlag } from "../../core/governance/posthogRest.js";
import { guardianSlackMessage, posthogFlagUrl } from "../../core/governance/slack.js";
import { shortHash } from "../../core/governance/tally.js";
import { queueAlerts } from "./alerts.js";
import { vAlertInput, type AlertInput } from "./alertValidators.js";
import { enforceKill, finishPendingEnforcements, vEnforcementOutcome } from "./enforcement.js";
import { describeFailure, listAllFlags, runHogQL, vAdminTarget, type AdminTarget, type RestFailure } from "./rest.js";
import { vAlertSettings, vGuardianMode } from "./tables.js";

/** Tallies are kept per minute: a 1-minute cron sees a regression within a minute of delivery. */
export const GUARDIAN_BUCKET_MS = 60_000;

export const vGuardianSource = v.union(v.literal("local"), v.literal("hogql"), v.literal("both"));
export type GuardianSource = Infer<typeof vGuardianSource>;

export const vWatchedFlag = v.object({
  key: v.string(),
  mode: vGuardianMode,
  /** The registry's declared variants; absent for a boolean flag. */
  variants: v.optional(v.array(v.string())),
});
export type WatchedFlag = Infer<typeof vWatchedFlag>;

export const vThresholdOverrides = v.object({
  windowMinutes: v.optional(v.number()),
  minSampleSize: v.optional(v.number()),
  minUniqueUsers: v.optional(v.number()),
  errorRateRatioThreshold: v.optional(v.number()),
  publishSuccessDropThreshold: v.optional(v.number()),
  cooldownMinutes: v.optional(v.number()),
});

const vCohortMetrics = v.object({
  eventCount: v.number(),
  uniqueUsers: v.number(),
  errorRate: v.union(v.number(), v.null()),
  publishSuccessRate: v.union(v.number(), v.null()),
  publishTotal: v.optional(v.number()),
});
export const vEvaluationMetrics = v.object({ treatment: vCohortMetrics, control: vCohortMetrics });

const vDecisionKind = v.union(
  v.literal("insufficient_data"),
  v.literal("no_regression"),
  v.literal("regression_detected"),
  v.literal("auto_disabled"),
);

export const vGuardianEvaluation = v.object({
  key: v.string(),
  /** The PostHog flag judged (what the toolkit's callbacks get as `flag`). */
  flag: v.object({ id: v.number(), key: v.string(), name: v.union(v.string(), v.null()), active: v.boolean() }),
  mode: vGuardianMode,
  /** The metrics of the comparison that decided (a multivariate flag has one per variant). */
  metrics: vEvaluationMetrics,
  comparison: v.object({ treatment: v.string(), control: v.string() }),
  /** Which source's counts decided ("both" keeps the worse). */
  source: v.union(v.literal("local"), v.literal("hogql")),
  decision: vDecisionKind,
  reason: v.string(),
  pValue: v.optional(v.number()),
  /** Killed by this run (locally at once; `enforcement` says how PostHog took it). */
  enforced: v.boolean(),
  enforcement: v.optional(vEnforcementOutcome),
});
export type GuardianEvaluation = Infer<typeof vGuardianEvaluation>;

const vFinding = v.object({ kind: v.string(), key: v.string(), detail: v.string() });

export const vGuardianRunResult = v.object({
  /** "skipped": PostHog rate-limited the run, nothing was decided; "failed": PostHog could not be read. */
  status: v.union(v.literal("ok"), v.literal("skipped"), v.literal("failed")),
  dryRun: v.boolean(),
  flags_evaluated: v.number(),
  regressions_detected: v.number(),
  auto_disabled: v.number(),
  outcomes: v.array(v.object({ flag_key: v.string(), decision: vDecisionKind, reason: v.string() })),
  evaluations: v.array(vGuardianEvaluation),
  /** What needs a person: rate limits, a query PostHog refused, PATCHes it refused. */
  findings: v.array(vFinding),
  /** PATCHes owed by earlier runs, finished by this one. */
  finishedEnforcements: v.array(vEnforcementOutcome),
});
export type GuardianRunResult = Infer<typeof vGuardianRunResult>;

/**
 * One guardian run. Call it from the app's cron through `posthog.runFlagGuardian`, which passes
 * the admin target (never stored), the watched flags from the registry and the options.
 */
export const run = action({
  args: {
    admin: vAdminTarget,
    watch: v.array(vWatchedFlag),
    thresholds: v.optional(vThresholdOverrides),
    source: v.optional(vGuardianSource),
    successEvent: v.optional(v.object({ event: v.string(), property: v.string() })),
    /** p-value below which a rule may act (default 0.01); false: the toolkit's rules alone. */
    significance: v.optional(v.union(v.number(), v.literal(false))),
    dryRun: v.optional(v.boolean()),
    alerts: v.optional(vAlertSettings),
  },
  returns: vGuardianRunResult,
  handler: async (ctx, args): Promise<GuardianRunResult> => {
    const options: RunOptions = {
      thresholds: mergeThresholds(args.thresholds),
      significance: args.significance ?? DEFAULT_SIGNIFICANCE,
      source: args.source ?? "local",
      dryRun: args.dryRun ?? false,
      ...(args.successEvent !== undefined ? { successEvent: args.successEvent } : {}),
    };
    const runId = await ctx.runMutation(internal.governance.records.startRun, { tool: "guardian", dryRun: options.dryRun });
    try {
      if (args.alerts !== undefined) await ctx.runMutation(api.governance.alerts.configure, args.alerts);
      const result = await guard(ctx, args.admin, args.watch, options);
      await ctx.runMutation(internal.governance.records.finishRun, {
        runId,
        status: result.status,
        result: JSON.stringify({ ...result, evaluations: undefined }),
      });
      return result;
    } catch (error) {
      await ctx.runMutation(internal.governance.records.finishRun, { runId, status: "failed", error: String(error) });
      throw error;
    }
  },
});

interface RunOptions {
  thresholds: GuardianThresholds;
  significance: number | false;
  source: GuardianSource;
  dryRun: boolean;
  successEvent?: { event: string; property: string };
}

/** Findings this tool reports; a run that completes resolves the ones it no longer sees. */
const RUN_FINDINGS = ["rate_limited", "query_failed", "posthog_unreachable"];

async function guard(ctx: ActionCtx, admin: AdminTarget, watch: WatchedFlag[], options: RunOptions): Promise<GuardianRunResult> {
  const now = Date.now();
  const windowMs = options.thresholds.windowMinutes * 60_000;
  const empty: GuardianRunResult = {
    status: "ok",
    dryRun: options.dryRun,
    flags_evaluated: 0,
    regressions_detected: 0,
    auto_disabled: 0,
    outcomes: [],
    evaluations: [],
    findings: [],
    finishedEnforcements: [],
  };

  // The sender tallies only what the watch names: write it first, so counting starts at once.
  if (options.source !== "hogql") {
    await ctx.runMutation(internal.governance.tallies.watch, {
      flags: watch.map(({ key, mode }) => ({ key, mode })),
      ...(options.successEvent !== undefined ? { successEvent: options.successEvent } : {}),
      bucketMs: GUARDIAN_BUCKET_MS,
      retainMs: windowMs + GUARDIAN_BUCKET_MS,
    });
  }

  const listed = await listAllFlags(admin);
  if (!listed.ok) return await stopped(ctx, empty, listed.failure, "posthog_unreachable");
  const flags = listed.data;

  const finishedEnforcements = await finishPendingEnforcements(ctx, admin, flags);
  // A flag PostHog just turned off for an earlier kill is no longer active, whatever the listing said.
  const turnedOff = new Set(finishedEnforcements.filter((outcome) => outcome.enforcement === "patched").map((outcome) => outcome.key));
  const byKey = new Map(flags.filter((flag) => flag.active && !flag.deleted && !turnedOff.has(flag.key)).map((flag) => [flag.key, flag]));
  const judged = watch.filter((watched) => byKey.has(watched.key));
  const result: GuardianRunResult = { ...empty, finishedEnforcements };
  if (judged.length === 0) return await completed(ctx, result);

  const keys = judged.map((watched) => watched.key);
  const from = now - windowMs;
  const sources: { source: "local" | "hogql"; counts: Map<string, VariantCounts[]> }[] = [];
  if (options.source !== "local") {
    const query = buildGuardianQuery({ keys, from, to: now, ...(options.successEvent ? { successEvent: options.successEvent } : {}) });
    const answer = await runHogQL(admin, query.query, query.values);
    if (!answer.ok && answer.failure.kind === "rate_limited") return await stopped(ctx, result, answer.failure, "rate_limited");
    const parsed = answer.ok ? parseGuardianResponse(answer.data, keys) : { ok: false as const, problem: describeFailure(answer.failure) };
    if (parsed.ok) sources.push({ source: "hogql", counts: parsed.counts });
    else if (options.source === "hogql") return await stopped(ctx, result, { kind: "bad_request", detail: parsed.problem }, "query_failed");
    else result.findings.push({ kind: "query_failed", key: "", detail: parsed.problem });
  }
  if (options.source !== "hogql") {
    const windows = await ctx.runQuery(api.governance.tallies.windowMetrics, { keys, from, to: now });
    sources.unshift({ source: "local", counts: new Map(windows.map((window) => [window.key, window.variants])) });
  }

  const states = new Map((await ctx.runQuery(internal.governance.guardian.states, { keys })).map((state) => [state.key, state]));
  const cooldownMs = options.thresholds.cooldownMinutes * 60_000;
  const records: EvaluationRecord[] = [];
  const alerts: AlertInput[] = [];
  for (const watched of judged) {
    const flag = byKey.get(watched.key)!;
    const population = populationChange(flag, states.get(watched.key));
    const decided = sources
      .map(({ source, counts }) => ({
        source,
        ...decideFromCounts(counts.get(watched.key) ?? [], watched.variants, {
          thresholds: options.thresholds,
          significance: options.significance,
          lastActionAt: population.changedAt,
          now,
        }),
      }))
      .reduce(worse);
    const ownCooldown = states.get(watched.key)?.cooldownUntil;
    if (ownCooldown !== undefined && ownCooldown > now) decided.decision = { kind: "insufficient_data", reason: "cooldown" };

    const evaluation = toEvaluation(watched, flag, decided);
    if (evaluation.decision === "regression_detected") {
      const dedupBucket = Math.floor(now / Math.max(cooldownMs, 60_000));
      if (watched.mode === "enforce" && !options.dryRun) {
        // The kill and its alert in one transaction (reads answer false at once), then the PATCH;
        // a refusal gets its own alert from enforcement.ts.
        evaluation.decision = "auto_disabled";
        evaluation.enforced = true;
        const alert = guardianAlert(admin, evaluation, { decision: "auto_disabled", enforced: true, dryRun: false, dedupBucket });
        evaluation.enforcement = await enforceKill(ctx, admin, { key: watched.key, flag, reason: evaluation.reason, source: "guardian", alert });
      } else {
        alerts.push(guardianAlert(admin, evaluation, { decision: "regression_detected", enforced: false, dryRun: options.dryRun, dedupBucket }));
      }
    }
    records.push({
      key: watched.key,
      mode: watched.mode,
      decision: evaluation.decision,
      reason: evaluation.reason,
      metrics: JSON.stringify(evaluation.metrics),
      // After an alert or a kill the flag rests for a cooldown; a dry run changes nothing.
      startsCooldown: !options.dryRun && (evaluation.decision === "regression_detected" || evaluation.decision === "auto_disabled"),
      populationHash: population.hash,
      ...(population.changedAt !== null ? { populationChangedAt: population.changedAt } : {}),
    });
    result.evaluations.push(evaluation);
  }
  await ctx.runMutation(internal.governance.guardian.recordEvaluations, { now, cooldownMs, evaluations: records, alerts });

  for (const evaluation of result.evaluations) {
    result.outcomes.push({ flag_key: evaluation.key, decision: evaluation.decision, reason: evaluation.reason });
    if (evaluation.decision === "regression_detected" || evaluation.decision === "auto_disabled") result.regressions_detected++;
    if (evaluation.decision === "auto_disabled") result.auto_disabled++;
    const refused = evaluation.enforcement && evaluation.enforcement.enforcement !== "patched" ? evaluation.enforcement : undefined;
    if (refused) result.findings.push({ kind: refused.enforcement, key: evaluation.key, detail: refused.detail ?? "" });
  }
  result.flags_evaluated = result.evaluations.length;
  return await completed(ctx, result);
}

/**
 * When the flag's populations last changed. An unchanged `active` and `filters` keep the time
 * first seen, so renames and tag edits (a sync's among them) start no cooldown; a changed one,
 * or a flag seen for the first time, takes PostHog's `updated_at` (the change was made by then).
 */
function populationChange(
  flag: PostHogFlag,
  state: { populationHash?: string; populationChangedAt?: number } | undefined,
): { hash: string; changedAt: number | null } {
  const hash = shortHash(JSON.stringify({ active: flag.active, filters: flag.filters ?? null }));
  if (state?.populationHash === hash && state.populationChangedAt !== undefined) return { hash, changedAt: state.populationChangedAt };
  const updatedAt = flag.updated_at !== undefined ? Date.parse(flag.updated_at) : NaN;
  return { hash, changedAt: Number.isFinite(updatedAt) ? updatedAt : null };
}

function toEvaluation(watched: WatchedFlag, flag: PostHogFlag, decided: FlagDecision & { source: "local" | "hogql" }): GuardianEvaluation {
  return {
    key: watched.key,
    flag: { id: flag.id, key: flag.key, name: flag.name, active: flag.active },
    mode: watched.mode,
    metrics: plainMetrics(decided.comparison.metrics),
    comparison: { treatment: decided.comparison.treatment, control: decided.comparison.control },
    source: decided.source,
    decision: decided.decision.kind,
    reason: decided.decision.reason,
    ...(decided.decision.pValue !== undefined ? { pValue: decided.decision.pValue } : {}),
    enforced: false,
  };
}

/** Only the validator's fields (rates may be null, never undefined). */
function plainMetrics(metrics: EvaluationMetrics): Infer<typeof vEvaluationMetrics> {
  const cohort = (c: EvaluationMetrics["treatment"]) => ({
    eventCount: c.eventCount,
    uniqueUsers: c.uniqueUsers,
    errorRate: c.errorRate,
    publishSuccessRate: c.publishSuccessRate,
    ...(c.publishTotal !== undefined ? { publishTotal: c.publishTotal } : {}),
  });
  return { treatment: cohort(metrics.treatment), control: cohort(metrics.control) };
}

/** The alert for a regression: the toolkit's Slack layout, and the app callback's event. */
function guardianAlert(
  admin: AdminTarget,
  evaluation: GuardianEvaluation,
  how: { decision: "regression_detected" | "auto_disabled"; enforced: boolean; dryRun: boolean; dedupBucket: number },
): AlertInput {
  const url = posthogFlagUrl(admin.appHost, admin.projectId, evaluation.flag.id);
  const { treatment, control } = evaluation.metrics;
  return {
    dedupKey: `guardian:${evaluation.key}:${how.decision}:${how.dedupBucket}`,
    kind: "guardian",
    key: evaluation.key,
    slack: guardianSlackMessage({
      severity: how.enforced ? "critical" : "warning",
      flagKey: evaluation.key,
      flagName: evaluation.flag.name ?? evaluation.key,
      decision: how.decision,
      enforced: how.enforced,
      dryRun: how.dryRun,
      reason: evaluation.reason,
      metrics: {
        treatmentErrorRate: treatment.errorRate,
        controlErrorRate: control.errorRate,
        treatmentPublishSuccessRate: treatment.publishSuccessRate,
        controlPublishSuccessRate: control.publishSuccessRate,
      },
      posthogFlagUrl: url,
    }),
    event: { kind: "guardian", key: evaluation.key, decision: how.decision, reason: evaluation.reason, metrics: evaluation.metrics, posthogFlagUrl: url },
  };
}

/** A run that could not decide: the finding recorded, the run reported skipped (429) or failed. */
async function stopped(ctx: ActionCtx, result: GuardianRunResult, failure: RestFailure, kind: string): Promise<GuardianRunResult> {
  const finding = { kind, key: "", detail: describeFailure(failure) };
  await ctx.runMutation(internal.governance.records.recordFindings, { source: "guardian", findings: [finding], complete: false });
  return { ...result, status: kind === "rate_limited" ? "skipped" : "failed", findings: [...result.findings, finding] };
}

/** A run that decided: its run-level findings recorded, the ones it no longer sees resolved. */
async function completed(ctx: ActionCtx, result: GuardianRunResult): Promise<GuardianRunResult> {
  const runLevel = result.findings.filter((finding) => RUN_FINDINGS.includes(finding.kind));
  await ctx.runMutation(internal.governance.records.recordFindings, { source: "guardian", findings: runLevel, complete: true, kinds: RUN_FINDINGS });
  return result;
}

const vEvaluationRecord = v.object({
  key: v.string(),
  mode: vGuardianMode,
  decision: v.string(),
  reason: v.string(),
  metrics: v.string(),
  startsCooldown: v.boolean(),
  populationHash: v.string(),
  populationChangedAt: v.optional(v.number()),
});
type EvaluationRecord = Infer<typeof vEvaluationRecord>;

/** The guardian's memory of the watched flags: cooldowns above all. */
export const states = internalQuery({
  args: { keys: v.array(v.string()) },
  returns: v.array(
    v.object({
      key: v.string(),
      cooldownUntil: v.optional(v.number()),
      populationHash: v.optional(v.string()),
      populationChangedAt: v.optional(v.number()),
    }),
  ),
  handler: async (ctx, { keys }) => {
    const found = [];
    for (const key of keys) {
      const state = await ctx.db
        .query("guardianState")
        .withIndex("by_key", (q) => q.eq("key", key))
        .unique();
      if (state === null) continue;
      const { cooldownUntil, populationHash, populationChangedAt } = state;
      found.push({
        key,
        ...(cooldownUntil !== undefined ? { cooldownUntil } : {}),
        ...(populationHash !== undefined ? { populationHash } : {}),
        ...(populationChangedAt !== undefined ? { populationChangedAt } : {}),
      });
    }
    return found;
  },
});

/**
 * Each flag's outcome, its cooldown and the alerts, in one transaction: an alert is queued
 * exactly when the state that explains it is written, and its dedup key holds across runs.
 */
export const recordEvaluations = internalMutation({
  args: { now: v.number(), cooldownMs: v.number(), evaluations: v.array(vEvaluationRecord), alerts: v.array(vAlertInput) },
  returns: v.null(),
  handler: async (ctx, { now, cooldownMs, evaluations, alerts }) => {
    for (const evaluation of evaluations) {
      const fields = {
        mode: evaluation.mode,
        lastEvaluatedAt: now,
        lastDecision: evaluation.decision,
        lastReason: evaluation.reason,
        lastMetrics: evaluation.metrics,
        ...(evaluation.startsCooldown ? { cooldownUntil: now + cooldownMs } : {}),
        populationHash: evaluation.populationHash,
        ...(evaluation.populationChangedAt !== undefined ? { populationChangedAt: evaluation.populationChangedAt } : {}),
      };
      const state = await ctx.db
        .query("guardianState")
        .withIndex("by_key", (q) => q.eq("key", evaluation.key))
        .unique();
      if (state === null) await ctx.db.insert("guardianState", { key: evaluation.key, ...fields });
      else await ctx.db.patch(state._id, fields);
    }
    if (alerts.length > 0) await queueAlerts(ctx, alerts);
    return null;
  },
});
