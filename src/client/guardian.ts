// runFlagGuardian: the guardian run from the app's cron. The registry says what is watched
// (`guardian: true | "monitor"` watches and alerts; only `"enforce"` may turn a flag off), the
// component does the work with the admin key passed for this call only, and the toolkit-style
// callbacks run here, in the app's action, once the component has recorded everything.
import type { GuardianEvaluation, GuardianRunResult, GuardianSource } from "../component/governance/guardian.js";
import { mergeThresholds, type GuardianThresholds } from "../core/governance/guardian.js";
import { guardianMode, type FlagDefinition } from "../core/flagRegistry.js";
import { PostHogInputError } from "../core/messages.js";
import * as admin from "./admin.js";
import { alertSettings } from "./alerts.js";
import type { ClientConfig } from "./config.js";
import type { RunActionCtx } from "./types.js";

export type { GuardianEvaluation, GuardianRunResult, GuardianSource };

/** posthog-flag-toolkit's callbacks; they run after the run is recorded, in the calling action. */
export interface GuardianCallbacks {
  /** Every regression, enforced or not. */
  onRegression?: (evaluation: GuardianEvaluation) => void | Promise<void>;
  /** Every flag that got a decision (no regression, or a regression), not the undecided ones. */
  onEvaluated?: (evaluation: GuardianEvaluation) => void | Promise<void>;
  /** A flag this run turned off. */
  onEnforced?: (flag: GuardianEvaluation["flag"], evaluation: GuardianEvaluation) => void | Promise<void>;
}

export interface RunFlagGuardianOptions {
  /** Overrides of the toolkit's thresholds (20-minute window, 100 events and 50 users a cohort, 2x errors, 15pp success drop, 30-minute cooldown). */
  thresholds?: Partial<GuardianThresholds>;
  /** Where the counts come from: "local" (default: what this component delivered), "hogql" (one PostHog query a run) or "both" (the worse decision). */
  source?: GuardianSource;
  /** The event whose boolean `property` (default "success") says it succeeded: the toolkit's publish event. */
  successEvent?: { event: string; property?: string };
  /** Act only on differences with a p-value below this (default 0.01); false reproduces the toolkit. */
  significance?: number | false;
  /** Decide and alert, but turn nothing off and start no cooldown. */
  dryRun?: boolean;
  callbacks?: GuardianCallbacks;
}

export async function runFlagGuardian(config: ClientConfig, ctx: RunActionCtx, opts: RunFlagGuardianOptions = {}): Promise<GuardianRunResult> {
  mergeThresholds(opts.thresholds); // a bad threshold fails here, naming it, before any call
  if (opts.source !== undefined && !["local", "hogql", "both"].includes(opts.source)) {
    throw new PostHogInputError("source", `must be "local", "hogql" or "both", got ${JSON.stringify(opts.source)}`);
  }
  if (opts.successEvent !== undefined && (typeof opts.successEvent.event !== "string" || opts.successEvent.event === "")) {
    throw new PostHogInputError("successEvent.event", "must name the event");
  }
  const result = await ctx.runAction(config.component.governance.guardian.run, {
    admin: config.adminTarget(),
    watch: watchedFlags(config),
    ...(opts.thresholds !== undefined ? { thresholds: definedOnly(opts.thresholds) } : {}),
    ...(opts.source !== undefined ? { source: opts.source } : {}),
    ...(opts.successEvent !== undefined ? { successEvent: { event: opts.successEvent.event, property: opts.successEvent.property ?? "success" } } : {}),
    ...(opts.significance !== undefined ? { significance: opts.significance } : {}),
    ...(opts.dryRun !== undefined ? { dryRun: opts.dryRun } : {}),
    alerts: await alertSettings(config),
  });

  // PostHog now serves the disabled flags inactive: load that, so the stored definitions agree.
  const patched = [...result.evaluations.map((e) => e.enforcement), ...result.finishedEnforcements].some((e) => e?.enforcement === "patched");
  if (patched && config.personalApiKey() !== undefined) await admin.refreshFlagDefinitions(config, ctx, {});

  const callbacks = opts.callbacks ?? {};
  for (const evaluation of result.evaluations) {
    const regression = evaluation.decision === "regression_detected" || evaluation.decision === "auto_disabled";
    if (regression || evaluation.decision === "no_regression") await callbacks.onEvaluated?.(evaluation);
    if (regression) await callbacks.onRegression?.(evaluation);
    if (evaluation.enforced) await callbacks.onEnforced?.(evaluation.flag, evaluation);
  }
  return result;
}

/** The registry's guardian flags: monitored unless declared "enforce". */
export function watchedFlags(config: ClientConfig): { key: string; mode: "monitor" | "enforce"; variants?: string[] }[] {
  const registry = config.options.flags;
  if (registry === undefined) return [];
  return Object.entries(registry.flags as Record<string, FlagDefinition>).flatMap(([key, definition]) => {
    const mode = guardianMode(definition.guardian);
    if (mode === undefined) return [];
    return [{ key, mode, ...(definition.variants ? { variants: [...definition.variants] } : {}) }];
  });
}

function definedOnly(thresholds: Partial<GuardianThresholds>): Partial<GuardianThresholds> {
  return Object.fromEntries(Object.entries(thresholds).filter(([, value]) => value !== undefined));
}
