// From per-variant counts (the local tallies or the HogQL answer, same shape) to the guardian's
// decision for one flag.
//
// A boolean flag compares "true" (treatment) with "false" (control), as the toolkit does. A
// multivariate flag, which the toolkit skipped, compares each variant with "control" (or, when
// there is none, the first declared variant): one regressing variant is enough. Several
// comparisons, or two sources, give one decision: the worse. Pure: no Convex runtime.
import { decideFlag, type CohortMetrics, type Decision, type EvaluationMetrics, type FlagCheck } from "./guardian.js";

/** What was counted for one value of a flag over the window. */
export interface VariantCounts {
  /** The flag's value on the events, as text: "true", "false" or a variant key. */
  variant: string;
  /** Events other than `$feature_flag_called`. */
  events: number;
  exceptions: number;
  successTotal: number;
  successes: number;
  uniqueUsers: number;
}

export interface Comparison {
  treatment: string;
  control: string;
  metrics: EvaluationMetrics;
}

/** One flag's decision and the comparison that gave it. */
export interface FlagDecision {
  decision: Decision;
  comparison: Comparison;
}

/** The cohort's toolkit-shaped metrics; a value nobody saw is an empty cohort. */
export function cohortMetrics(counts: VariantCounts | undefined): CohortMetrics {
  const events = counts?.events ?? 0;
  const successTotal = counts?.successTotal ?? 0;
  return {
    eventCount: events,
    uniqueUsers: counts?.uniqueUsers ?? 0,
    errorRate: events > 0 ? counts!.exceptions / events : null,
    publishSuccessRate: successTotal > 0 ? counts!.successes / successTotal : null,
    publishTotal: successTotal,
  };
}

/**
 * The comparisons to judge. `variants`: the registry's declared variants (absent for a boolean
 * flag). A flag declared boolean whose events carry other values is judged as multivariate,
 * over the values seen.
 */
export function flagComparisons(counts: readonly VariantCounts[], variants?: readonly string[]): Comparison[] {
  const byValue = new Map<string, VariantCounts>();
  for (const entry of counts) {
    const value = normalizeValue(entry.variant);
    const seen = byValue.get(value);
    byValue.set(value, seen ? sum(seen, entry) : { ...entry, variant: value });
  }
  const seenValues = [...byValue.keys()].sort();
  const isBoolean = (variants === undefined || variants.length === 0) && seenValues.every((value) => value === "true" || value === "false");
  const compare = (treatment: string, control: string): Comparison => ({
    treatment,
    control,
    metrics: { treatment: cohortMetrics(byValue.get(treatment)), control: cohortMetrics(byValue.get(control)) },
  });
  if (isBoolean) return [compare("true", "false")];

  // "false" on a multivariate flag means the flag was off for that user: no variant's cohort.
  const values = variants !== undefined && variants.length > 0 ? [...variants] : seenValues.filter((value) => value !== "false");
  const control = values.includes("control") ? "control" : values[0];
  if (control === undefined) return [compare("true", "false")];
  const treatments = values.filter((value) => value !== control);
  // A lone variant has nothing to compare with: an empty treatment keeps it below the sample floor.
  return treatments.length > 0 ? treatments.map((treatment) => compare(treatment, control)) : [compare("", control)];
}

/** How bad a decision is: a regression beats "cannot tell yet", which beats "fine". */
const SEVERITY: Record<Decision["kind"], number> = { no_regression: 0, insufficient_data: 1, regression_detected: 2, auto_disabled: 3 };

/** The worse of two (the first on a tie). */
export function worse<T extends { decision: Decision }>(a: T, b: T): T {
  return SEVERITY[b.decision.kind] > SEVERITY[a.decision.kind] ? b : a;
}

/**
 * One flag's decision from its counts: every comparison through `decideFlag` (cooldown, sample
 * floor, rules, significance), the worse one kept. A multivariate flag's reasons name the
 * comparison ("b vs control: ..."); a boolean flag's are the toolkit's own.
 */
export function decideFromCounts(
  counts: readonly VariantCounts[],
  variants: readonly string[] | undefined,
  check: Omit<FlagCheck, "metrics">,
): FlagDecision {
  const comparisons = flagComparisons(counts, variants);
  const boolean = comparisons.length === 1 && comparisons[0]!.treatment === "true" && comparisons[0]!.control === "false";
  return comparisons
    .map((comparison): FlagDecision => {
      const decision = decideFlag({ ...check, metrics: comparison.metrics });
      const named = boolean || decision.reason === "cooldown" ? decision : { ...decision, reason: `${comparison.treatment || "(none)"} vs ${comparison.control}: ${decision.reason}` };
      return { decision: named, comparison };
    })
    .reduce(worse);
}

/** HogQL may print a boolean property as 1/0; the toolkit read those as true/false too. */
function normalizeValue(value: string): string {
  return value === "1" ? "true" : value === "0" ? "false" : value;
}

function sum(a: VariantCounts, b: VariantCounts): VariantCounts {
  return {
    variant: a.variant,
    events: a.events + b.events,
    exceptions: a.exceptions + b.exceptions,
    successTotal: a.successTotal + b.successTotal,
    successes: a.successes + b.successes,
    // Users may overlap between the two spellings; the larger count is the safe lower bound.
    uniqueUsers: Math.max(a.uniqueUsers, b.uniqueUsers),
  };
}
