// The guardian's decision rules: does a flag's treatment cohort regress against its control?
//
// posthog-flag-toolkit's thresholds, sample floor, rules and reason texts, unchanged, so its
// decision tests hold here. Ours on top: an optional significance gate (off by default in these
// functions, so they reproduce the toolkit; the runner turns it on at DEFAULT_SIGNIFICANCE),
// success-event totals so that gate can judge a success drop, a cooldown helper, and a clear
// error for bad thresholds. Pure: no Convex runtime, no clock of its own.

import { PostHogInputError } from "../json.js";
import { oneSidedPValue, type ProportionSample } from "./significance.js";

export interface GuardianThresholds {
  /** How far back the metrics reach. */
  windowMinutes: number;
  /** Events each cohort needs before any decision. */
  minSampleSize: number;
  /** Distinct users each cohort needs before any decision. */
  minUniqueUsers: number;
  /** Treatment error rate over control's that counts as a regression. */
  errorRateRatioThreshold: number;
  /** Drop of the success rate (control minus treatment, as a fraction) that counts as a regression. */
  publishSuccessDropThreshold: number;
  /** Quiet time after a change to the flag. */
  cooldownMinutes: number;
}

/** The toolkit's defaults. */
export const DEFAULT_THRESHOLDS: Readonly<GuardianThresholds> = Object.freeze({
  windowMinutes: 20,
  minSampleSize: 100,
  minUniqueUsers: 50,
  errorRateRatioThreshold: 2.0,
  publishSuccessDropThreshold: 0.15,
  cooldownMinutes: 30,
});

/** The p-value below which our runner lets a rule act. */
export const DEFAULT_SIGNIFICANCE = 0.01;

/**
 * The defaults with `overrides` applied. Unlike the toolkit's spread, an override that is
 * `undefined` keeps the default; a value that is not a finite number ≥ 0 (or a zero window)
 * throws PostHogInputError naming it.
 */
export function mergeThresholds(overrides?: Partial<GuardianThresholds>): GuardianThresholds {
  const merged: GuardianThresholds = { ...DEFAULT_THRESHOLDS };
  for (const name of Object.keys(DEFAULT_THRESHOLDS) as (keyof GuardianThresholds)[]) {
    const value = overrides?.[name];
    if (value === undefined) continue;
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
      throw new PostHogInputError(`thresholds.${name}`, `must be a finite number ≥ 0, got ${JSON.stringify(value)}`);
    }
    merged[name] = value;
  }
  if (merged.windowMinutes === 0) throw new PostHogInputError("thresholds.windowMinutes", "must be above 0");
  return merged;
}

/** One cohort over the window: the toolkit's shape, plus success-event totals for the significance gate. */
export interface CohortMetrics {
  eventCount: number;
  uniqueUsers: number;
  /** `$exception` events per event; null without events. */
  errorRate: number | null;
  /** Successful success events per success event; null without success events. */
  publishSuccessRate: number | null;
  /** How many success events `publishSuccessRate` is over. Without it a success drop cannot be tested for significance. */
  publishTotal?: number;
}

export interface EvaluationMetrics {
  treatment: CohortMetrics;
  control: CohortMetrics;
}

export type DecisionKind = "insufficient_data" | "no_regression" | "regression_detected" | "auto_disabled";

export interface Decision {
  kind: DecisionKind;
  reason: string;
  /** With the significance gate on: the p-value of the rule that decided, when it could be computed. */
  pValue?: number;
}

export interface RegressionOptions {
  /** Act only on differences with a p-value below this; false (the default here) is the toolkit's behaviour. */
  significance?: number | false;
}

/** A percentage with two decimals, "—" for no value: the toolkit's format. */
export function fmtPct(n: number | null | undefined): string {
  if (n === null || n === undefined) return "—";
  return `${(n * 100).toFixed(2)}%`;
}

/** Both cohorts reach both floors. */
export function meetsSampleFloor(metrics: EvaluationMetrics, thresholds: GuardianThresholds): boolean {
  const { treatment, control } = metrics;
  return (
    treatment.eventCount >= thresholds.minSampleSize &&
    treatment.uniqueUsers >= thresholds.minUniqueUsers &&
    control.eventCount >= thresholds.minSampleSize &&
    control.uniqueUsers >= thresholds.minUniqueUsers
  );
}

/** A rule that fired: its reason, and its p-value when the counts allow one. */
interface Finding {
  reason: string;
  pValue: number | undefined;
}

/**
 * The toolkit's three rules, in its order: error-rate ratio, errors where control has none,
 * success drop. Without a significance level the first rule that fires decides. With one, a
 * rule decides only if its difference is significant; when rules fire but none is, the answer
 * is `insufficient_data`: the sample cannot yet tell a regression from noise.
 */
export function detectRegression(
  metrics: EvaluationMetrics,
  thresholds: GuardianThresholds,
  options: RegressionOptions = {},
): Decision {
  const significance = checkedSignificance(options.significance);
  const findings = regressionFindings(metrics, thresholds, significance !== false);
  if (findings.length === 0) return { kind: "no_regression", reason: "all metrics within thresholds" };
  if (significance === false) return { kind: "regression_detected", reason: findings[0]!.reason };

  // A rule whose p-value cannot be computed (no success totals) stands, as in the toolkit.
  const significant = findings.find((finding) => finding.pValue === undefined || finding.pValue < significance);
  if (significant) return withPValue({ kind: "regression_detected", reason: significant.reason }, significant.pValue);
  const first = findings[0]!;
  return {
    kind: "insufficient_data",
    reason: `not significant (p=${first.pValue!.toPrecision(2)} ≥ ${significance}): ${first.reason}`,
    pValue: first.pValue!,
  };
}

function regressionFindings(metrics: EvaluationMetrics, thresholds: GuardianThresholds, withPValues: boolean): Finding[] {
  const { treatment, control } = metrics;
  const findings: Finding[] = [];
  const errorPValue = () => (withPValues ? oneSidedPValue(errorSample(treatment), errorSample(control)) : undefined);

  const tErr = treatment.errorRate;
  const cErr = control.errorRate;
  if (tErr !== null && cErr !== null && cErr > 0 && tErr / cErr >= thresholds.errorRateRatioThreshold) {
    const ratio = tErr / cErr;
    findings.push({
      reason: `error rate ratio ${ratio.toFixed(2)}x (${fmtPct(tErr)} vs ${fmtPct(cErr)})`,
      pValue: errorPValue(),
    });
  } else if (tErr !== null && tErr > 0.01 && (cErr === null || cErr === 0)) {
    // The ratio is undefined when control has no errors; the toolkit flags anything above 1%.
    findings.push({ reason: `treatment error rate ${fmtPct(tErr)} vs control 0%`, pValue: errorPValue() });
  }

  const tOk = treatment.publishSuccessRate;
  const cOk = control.publishSuccessRate;
  if (tOk !== null && cOk !== null && cOk - tOk >= thresholds.publishSuccessDropThreshold) {
    const drop = cOk - tOk;
    const failures = withPValues ? failureSamples(metrics) : undefined;
    findings.push({
      reason: `publish success drop ${(drop * 100).toFixed(1)}pp (${fmtPct(tOk)} vs ${fmtPct(cOk)})`,
      pValue: failures ? oneSidedPValue(failures.treatment, failures.control) : undefined,
    });
  }
  return findings;
}

// Counts are recovered from rates; rounding undoes floating-point error in rate × count.
function errorSample(cohort: CohortMetrics): ProportionSample {
  return { bad: Math.round((cohort.errorRate ?? 0) * cohort.eventCount), trials: cohort.eventCount };
}

function failureSamples(metrics: EvaluationMetrics): { treatment: ProportionSample; control: ProportionSample } | undefined {
  const failures = (cohort: CohortMetrics): ProportionSample | undefined => {
    const total = cohort.publishTotal;
    if (total === undefined || cohort.publishSuccessRate === null) return undefined;
    return { bad: total - Math.round(cohort.publishSuccessRate * total), trials: total };
  };
  const treatment = failures(metrics.treatment);
  const control = failures(metrics.control);
  return treatment && control ? { treatment, control } : undefined;
}

function checkedSignificance(significance: number | false | undefined): number | false {
  if (significance === undefined || significance === false) return false;
  if (typeof significance !== "number" || !(significance > 0 && significance < 1)) {
    throw new PostHogInputError("significance", `must be false or a number between 0 and 1, got ${JSON.stringify(significance)}`);
  }
  return significance;
}

function withPValue(decision: Decision, pValue: number | undefined): Decision {
  return pValue === undefined ? decision : { ...decision, pValue };
}

/**
 * When the cooldown that started at `lastActionAt` (epoch ms, or an ISO date-time such as
 * PostHog's `updated_at`) ends, if it is still running at `now`; otherwise undefined. An absent
 * or unreadable time means no cooldown, as in the toolkit.
 */
export function cooldownUntil(
  lastActionAt: number | string | null | undefined,
  now: number,
  cooldownMinutes: number,
): number | undefined {
  if (lastActionAt === null || lastActionAt === undefined) return undefined;
  const startedAt = typeof lastActionAt === "string" ? Date.parse(lastActionAt) : lastActionAt;
  if (!Number.isFinite(startedAt)) return undefined;
  const endsAt = startedAt + cooldownMinutes * 60_000;
  return now < endsAt ? endsAt : undefined;
}

export interface FlagCheck {
  metrics: EvaluationMetrics;
  thresholds: GuardianThresholds;
  /** The latest change to the flag (ours or PostHog's `updated_at`), for the cooldown. */
  lastActionAt?: number | string | null;
  now: number;
  significance?: number | false;
}

/**
 * One flag's decision in the toolkit's order: cooldown, then the sample floor, then the rules.
 * The first two give `insufficient_data` with the toolkit's reasons "cooldown" and "sample_size".
 */
export function decideFlag(check: FlagCheck): Decision {
  const { metrics, thresholds } = check;
  if (cooldownUntil(check.lastActionAt, check.now, thresholds.cooldownMinutes) !== undefined) {
    return { kind: "insufficient_data", reason: "cooldown" };
  }
  if (!meetsSampleFloor(metrics, thresholds)) return { kind: "insufficient_data", reason: "sample_size" };
  return detectRegression(metrics, thresholds, { significance: check.significance ?? false });
}
