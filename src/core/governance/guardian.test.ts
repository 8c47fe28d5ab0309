// The guardian's decisions: every posthog-flag-toolkit decision and threshold case as data (same
// inputs, same kinds, same reason fragments), then ours: exact reason texts, the significance
// gate, the cooldown and the toolkit's per-flag order.
import { describe, expect, it } from "vitest";
import {
  DEFAULT_SIGNIFICANCE,
  DEFAULT_THRESHOLDS,
  cooldownUntil,
  decideFlag,
  detectRegression,
  fmtPct,
  meetsSampleFloor,
  mergeThresholds,
  type CohortMetrics,
  type EvaluationMetrics,
  type GuardianThresholds,
} from "./guardian.js";
import { PostHogInputError } from "../json.js";

/** The toolkit tests' cohorts: 200 events, 100 users, 1% errors, 95% success each. */
function metricsWith(overrides: { treatment?: Partial<CohortMetrics>; control?: Partial<CohortMetrics> } = {}): EvaluationMetrics {
  const base: CohortMetrics = { eventCount: 200, uniqueUsers: 100, errorRate: 0.01, publishSuccessRate: 0.95 };
  return { treatment: { ...base, ...overrides.treatment }, control: { ...base, ...overrides.control } };
}

interface RegressionCase {
  name: string;
  treatment?: Partial<CohortMetrics>;
  control?: Partial<CohortMetrics>;
  thresholds?: Partial<GuardianThresholds>;
  kind: "no_regression" | "regression_detected";
  reasonContains?: string;
}

// posthog-flag-toolkit tests/guardian/decision.test.ts, `detectRegression`, case by case.
const toolkitRegressionCases: RegressionCase[] = [
  { name: "metrics within thresholds", kind: "no_regression" },
  {
    name: "error rate regression at 2x threshold",
    treatment: { errorRate: 0.1 },
    control: { errorRate: 0.05 },
    kind: "regression_detected",
    reasonContains: "error rate ratio",
  },
  { name: "error rate regression at exactly 2x", treatment: { errorRate: 0.1 }, control: { errorRate: 0.05 }, kind: "regression_detected" },
  { name: "just below 2x", treatment: { errorRate: 0.099 }, control: { errorRate: 0.05 }, kind: "no_regression" },
  {
    name: "control 0 with treatment above 1%",
    treatment: { errorRate: 0.02 },
    control: { errorRate: 0 },
    kind: "regression_detected",
    reasonContains: "vs control 0%",
  },
  { name: "control 0 with treatment at or below 1%", treatment: { errorRate: 0.005 }, control: { errorRate: 0 }, kind: "no_regression" },
  {
    name: "publish success drop of 15pp or more",
    treatment: { publishSuccessRate: 0.8 },
    control: { publishSuccessRate: 0.96 },
    kind: "regression_detected",
    reasonContains: "publish success drop",
  },
  { name: "publish success drop under 15pp", treatment: { publishSuccessRate: 0.86 }, control: { publishSuccessRate: 0.95 }, kind: "no_regression" },
  {
    name: "null rates",
    treatment: { errorRate: null, publishSuccessRate: null },
    control: { errorRate: null, publishSuccessRate: null },
    kind: "no_regression",
  },
  {
    name: "custom ratio threshold 1.5",
    treatment: { errorRate: 0.08 },
    control: { errorRate: 0.05 },
    thresholds: { errorRateRatioThreshold: 1.5 },
    kind: "regression_detected",
  },
];

interface FloorCase {
  name: string;
  treatment?: Partial<CohortMetrics>;
  control?: Partial<CohortMetrics>;
  thresholds?: Partial<GuardianThresholds>;
  meets: boolean;
}

// posthog-flag-toolkit tests/guardian/decision.test.ts, `meetsSampleFloor`, case by case.
const toolkitFloorCases: FloorCase[] = [
  { name: "both cohorts meet the minimums", meets: true },
  { name: "treatment event count too low", treatment: { eventCount: 50 }, meets: false },
  { name: "treatment unique users too low", treatment: { uniqueUsers: 10 }, meets: false },
  { name: "control event count too low", control: { eventCount: 50 }, meets: false },
  { name: "control unique users too low", control: { uniqueUsers: 10 }, meets: false },
  {
    name: "custom minimums",
    treatment: { eventCount: 15, uniqueUsers: 8 },
    control: { eventCount: 15, uniqueUsers: 8 },
    thresholds: { minSampleSize: 10, minUniqueUsers: 5 },
    meets: true,
  },
];

describe("the toolkit's decision cases", () => {
  it.each(toolkitRegressionCases)("detectRegression: $name → $kind", ({ treatment, control, thresholds, kind, reasonContains }) => {
    const decision = detectRegression(metricsWith({ treatment, control }), thresholds ? mergeThresholds(thresholds) : DEFAULT_THRESHOLDS);
    expect(decision.kind).toBe(kind);
    if (reasonContains) expect(decision.reason).toContain(reasonContains);
  });

  it.each(toolkitFloorCases)("meetsSampleFloor: $name → $meets", ({ treatment, control, thresholds, meets }) => {
    const floors = thresholds ? mergeThresholds(thresholds) : DEFAULT_THRESHOLDS;
    expect(meetsSampleFloor(metricsWith({ treatment, control }), floors)).toBe(meets);
  });
});

describe("the toolkit's threshold cases", () => {
  it("has the toolkit's defaults", () => {
    expect(DEFAULT_THRESHOLDS).toEqual({
      windowMinutes: 20,
      minSampleSize: 100,
      minUniqueUsers: 50,
      errorRateRatioThreshold: 2.0,
      publishSuccessDropThreshold: 0.15,
      cooldownMinutes: 30,
    });
  });

  it("gives the defaults without overrides", () => {
    expect(mergeThresholds()).toEqual(DEFAULT_THRESHOLDS);
    expect(mergeThresholds({})).toEqual(DEFAULT_THRESHOLDS);
  });

  it("overrides only the values given", () => {
    const merged = mergeThresholds({ windowMinutes: 60, minSampleSize: 500 });
    expect(merged).toEqual({ ...DEFAULT_THRESHOLDS, windowMinutes: 60, minSampleSize: 500 });
  });

  it("keeps a zero cooldown", () => {
    expect(mergeThresholds({ cooldownMinutes: 0 })).toEqual({ ...DEFAULT_THRESHOLDS, cooldownMinutes: 0 });
  });
});

describe("thresholds: ours", () => {
  it("keeps the default for an override given as undefined (the toolkit's spread would erase it)", () => {
    expect(mergeThresholds({ minSampleSize: undefined })).toEqual(DEFAULT_THRESHOLDS);
  });

  it("rejects a negative, non-finite or non-numeric value, naming it", () => {
    expect(() => mergeThresholds({ minUniqueUsers: -1 })).toThrow(PostHogInputError);
    expect(() => mergeThresholds({ minUniqueUsers: -1 })).toThrow("thresholds.minUniqueUsers");
    expect(() => mergeThresholds({ errorRateRatioThreshold: Number.NaN })).toThrow("thresholds.errorRateRatioThreshold");
    expect(() => mergeThresholds({ cooldownMinutes: "5" as unknown as number })).toThrow("thresholds.cooldownMinutes");
    expect(() => mergeThresholds({ windowMinutes: 0 })).toThrow("thresholds.windowMinutes");
  });

  it("does not let a merge change the shared defaults", () => {
    mergeThresholds({ minSampleSize: 1 }).minSampleSize = 7;
    expect(DEFAULT_THRESHOLDS.minSampleSize).toBe(100);
    expect(Object.isFrozen(DEFAULT_THRESHOLDS)).toBe(true);
  });
});

describe("reason texts", () => {
  const reasonOf = (treatment: Partial<CohortMetrics>, control: Partial<CohortMetrics>) =>
    detectRegression(metricsWith({ treatment, control }), DEFAULT_THRESHOLDS).reason;

  it("are the toolkit's, character for character", () => {
    expect(reasonOf({ errorRate: 0.1 }, { errorRate: 0.05 })).toBe("error rate ratio 2.00x (10.00% vs 5.00%)");
    expect(reasonOf({ errorRate: 0.02 }, { errorRate: 0 })).toBe("treatment error rate 2.00% vs control 0%");
    expect(reasonOf({ errorRate: 0.02 }, { errorRate: null })).toBe("treatment error rate 2.00% vs control 0%");
    expect(reasonOf({ publishSuccessRate: 0.8 }, { publishSuccessRate: 0.96 })).toBe("publish success drop 16.0pp (80.00% vs 96.00%)");
    expect(reasonOf({}, {})).toBe("all metrics within thresholds");
  });

  it("follow the toolkit's order: the error ratio before a success drop", () => {
    expect(reasonOf({ errorRate: 0.1, publishSuccessRate: 0.5 }, { errorRate: 0.05 })).toMatch(/^error rate ratio/);
  });

  it("format percentages as the toolkit does", () => {
    expect(fmtPct(0.032)).toBe("3.20%");
    expect(fmtPct(0)).toBe("0.00%");
    expect(fmtPct(null)).toBe("—");
    expect(fmtPct(undefined)).toBe("—");
  });
});

describe("the significance gate", () => {
  // Floors low enough that only the gate can hold a decision back.
  const lowFloors = mergeThresholds({ minSampleSize: 10, minUniqueUsers: 10 });

  /** Users emitting two events each; `rate` of the events are `$exception`s. */
  function cohort(users: number, errorRate: number): CohortMetrics {
    return { eventCount: users * 2, uniqueUsers: users, errorRate, publishSuccessRate: null };
  }

  it("holds back a 2x error rate seen in 20 users a cohort", () => {
    const metrics = { treatment: cohort(20, 0.1), control: cohort(20, 0.05) };
    expect(detectRegression(metrics, lowFloors).kind).toBe("regression_detected"); // the toolkit would act

    const decision = detectRegression(metrics, lowFloors, { significance: DEFAULT_SIGNIFICANCE });
    expect(decision.kind).toBe("insufficient_data");
    expect(decision.reason).toMatch(/^not significant \(p=0\.\d+ ≥ 0\.01\): error rate ratio 2\.00x \(10\.00% vs 5\.00%\)$/);
    expect(decision.pValue).toBeGreaterThan(0.1);
  });

  it("acts on the same 2x error rate seen in 2,000 users a cohort", () => {
    const metrics = { treatment: cohort(2000, 0.1), control: cohort(2000, 0.05) };
    const decision = detectRegression(metrics, lowFloors, { significance: DEFAULT_SIGNIFICANCE });
    expect(decision).toMatchObject({ kind: "regression_detected", reason: "error rate ratio 2.00x (10.00% vs 5.00%)" });
    expect(decision.pValue).toBeLessThan(1e-6);
  });

  it("tests errors where control has none", () => {
    const few = { treatment: cohort(20, 0.05), control: cohort(20, 0) };
    const many = { treatment: cohort(500, 0.05), control: cohort(500, 0) };
    expect(detectRegression(few, lowFloors, { significance: 0.01 }).kind).toBe("insufficient_data");
    expect(detectRegression(many, lowFloors, { significance: 0.01 }).reason).toBe("treatment error rate 5.00% vs control 0%");
  });

  it("tests a success drop on the success events' own totals", () => {
    const drop = (publishTotal: number): EvaluationMetrics =>
      metricsWith({ treatment: { publishSuccessRate: 0.8, publishTotal }, control: { publishSuccessRate: 0.96, publishTotal } });
    expect(detectRegression(drop(20), DEFAULT_THRESHOLDS, { significance: 0.01 }).kind).toBe("insufficient_data");
    expect(detectRegression(drop(400), DEFAULT_THRESHOLDS, { significance: 0.01 })).toMatchObject({
      kind: "regression_detected",
      reason: "publish success drop 16.0pp (80.00% vs 96.00%)",
    });
  });

  it("lets a success drop stand when its totals are unknown, as the toolkit would", () => {
    const metrics = metricsWith({ treatment: { publishSuccessRate: 0.8 }, control: { publishSuccessRate: 0.96 } });
    const decision = detectRegression(metrics, DEFAULT_THRESHOLDS, { significance: 0.01 });
    expect(decision).toEqual({ kind: "regression_detected", reason: "publish success drop 16.0pp (80.00% vs 96.00%)" });
  });

  it("goes on to a later rule when an earlier one is not significant", () => {
    // Errors 2x on 20 users (noise), but a success drop over 1,000 success events each.
    const metrics: EvaluationMetrics = {
      treatment: { ...cohort(20, 0.1), publishSuccessRate: 0.7, publishTotal: 1000 },
      control: { ...cohort(20, 0.05), publishSuccessRate: 0.9, publishTotal: 1000 },
    };
    const decision = detectRegression(metrics, lowFloors, { significance: 0.01 });
    expect(decision.kind).toBe("regression_detected");
    expect(decision.reason).toBe("publish success drop 20.0pp (70.00% vs 90.00%)");
  });

  it("changes nothing when no rule fires", () => {
    expect(detectRegression(metricsWith(), DEFAULT_THRESHOLDS, { significance: 0.01 })).toEqual({
      kind: "no_regression",
      reason: "all metrics within thresholds",
    });
  });

  it("is off when false, reproducing the toolkit", () => {
    const metrics = { treatment: cohort(20, 0.1), control: cohort(20, 0.05) };
    expect(detectRegression(metrics, lowFloors, { significance: false })).toEqual(detectRegression(metrics, lowFloors));
  });

  it("rejects a level outside (0, 1)", () => {
    for (const significance of [0, 1, -0.1, Number.NaN]) {
      expect(() => detectRegression(metricsWith(), DEFAULT_THRESHOLDS, { significance })).toThrow("significance");
    }
  });
});

describe("cooldownUntil", () => {
  const t0 = Date.parse("2026-12-01T12:00:00Z");

  it("runs for cooldownMinutes after the last action, and ends exactly then", () => {
    expect(cooldownUntil(t0, t0, 30)).toBe(t0 + 30 * 60_000);
    expect(cooldownUntil(t0, t0 + 30 * 60_000 - 1, 30)).toBe(t0 + 30 * 60_000);
    expect(cooldownUntil(t0, t0 + 30 * 60_000, 30)).toBeUndefined();
  });

  it("reads PostHog's updated_at", () => {
    expect(cooldownUntil("2026-12-01T12:00:00Z", t0 + 60_000, 30)).toBe(t0 + 30 * 60_000);
  });

  it("is over at once with zero minutes, and absent without a last action", () => {
    expect(cooldownUntil(t0, t0, 0)).toBeUndefined();
    expect(cooldownUntil(undefined, t0, 30)).toBeUndefined();
    expect(cooldownUntil(null, t0, 30)).toBeUndefined();
    expect(cooldownUntil("not a date", t0, 30)).toBeUndefined();
  });
});

describe("decideFlag: the toolkit's per-flag order", () => {
  const now = Date.parse("2026-12-01T12:00:00Z");
  const regressing = metricsWith({ treatment: { errorRate: 0.1 }, control: { errorRate: 0.05 } });

  it("answers cooldown first, even for a regression", () => {
    const decision = decideFlag({ metrics: regressing, thresholds: DEFAULT_THRESHOLDS, lastActionAt: now - 60_000, now });
    expect(decision).toEqual({ kind: "insufficient_data", reason: "cooldown" });
  });

  it("answers sample_size below a floor, even for a regression", () => {
    const small = metricsWith({ treatment: { errorRate: 0.1, uniqueUsers: 10 }, control: { errorRate: 0.05 } });
    expect(decideFlag({ metrics: small, thresholds: DEFAULT_THRESHOLDS, now })).toEqual({ kind: "insufficient_data", reason: "sample_size" });
  });

  it("then applies the rules, with the significance level given", () => {
    const lastActionAt = now - 31 * 60_000;
    expect(decideFlag({ metrics: regressing, thresholds: DEFAULT_THRESHOLDS, lastActionAt, now }).kind).toBe("regression_detected");
    // 20 vs 10 errors in 200 events each: p ≈ 0.03, not below 0.01.
    expect(decideFlag({ metrics: regressing, thresholds: DEFAULT_THRESHOLDS, lastActionAt, now, significance: 0.01 }).kind).toBe(
      "insufficient_data",
    );
  });
});
