// From per-variant counts to one flag's decision: which cohorts are compared, their metrics,
// and the worse of several comparisons.
import { describe, expect, test } from "vitest";
import { cohortMetrics, decideFromCounts, flagComparisons, worse, type VariantCounts } from "./cohorts.js";
import { DEFAULT_SIGNIFICANCE, DEFAULT_THRESHOLDS } from "./guardian.js";

const NOW = Date.parse("2026-12-01T12:00:00.000Z");
const counts = (variant: string, events: number, exceptions: number, users = events / 2, success?: [number, number]): VariantCounts => ({
  variant,
  events,
  exceptions,
  uniqueUsers: users,
  successes: success?.[0] ?? 0,
  successTotal: success?.[1] ?? 0,
});
const check = { thresholds: DEFAULT_THRESHOLDS, now: NOW, significance: DEFAULT_SIGNIFICANCE };

describe("cohortMetrics", () => {
  test("rates from counts; a cohort nobody saw has no rates", () => {
    expect(cohortMetrics(counts("true", 200, 10, 80, [45, 50]))).toEqual({
      eventCount: 200,
      uniqueUsers: 80,
      errorRate: 0.05,
      publishSuccessRate: 0.9,
      publishTotal: 50,
    });
    expect(cohortMetrics(undefined)).toEqual({ eventCount: 0, uniqueUsers: 0, errorRate: null, publishSuccessRate: null, publishTotal: 0 });
  });
});

describe("flagComparisons", () => {
  test("a boolean flag: true against false, whatever order the counts come in; 1/0 read as true/false", () => {
    const [only, ...rest] = flagComparisons([counts("0", 100, 1), counts("true", 120, 6), counts("1", 80, 2)]);
    expect(rest).toEqual([]);
    expect(only).toMatchObject({ treatment: "true", control: "false" });
    expect(only!.metrics.treatment).toMatchObject({ eventCount: 200, errorRate: 0.04 });
    expect(only!.metrics.control).toMatchObject({ eventCount: 100, errorRate: 0.01 });
  });

  test("a multivariate flag: each declared variant against control; users the flag was off for are no cohort", () => {
    const comparisons = flagComparisons([counts("control", 100, 1), counts("fast", 100, 9), counts("false", 500, 0)], ["control", "fast", "slow"]);
    expect(comparisons.map((c) => [c.treatment, c.control])).toEqual([
      ["fast", "control"],
      ["slow", "control"],
    ]);
    expect(comparisons[1]!.metrics.treatment.eventCount).toBe(0);
  });

  test("without a control variant, the first declared variant is the control", () => {
    expect(flagComparisons([], ["a", "b", "c"]).map((c) => [c.treatment, c.control])).toEqual([
      ["b", "a"],
      ["c", "a"],
    ]);
  });

  test("a flag declared boolean whose events carry variants is judged over the variants seen", () => {
    expect(flagComparisons([counts("test", 10, 0), counts("control", 10, 0)]).map((c) => [c.treatment, c.control])).toEqual([["test", "control"]]);
  });
});

describe("decideFromCounts", () => {
  test("a boolean flag keeps the toolkit's reason text", () => {
    const decided = decideFromCounts([counts("true", 400, 40, 150), counts("false", 400, 12, 150)], undefined, check);
    expect(decided.decision).toMatchObject({ kind: "regression_detected", reason: "error rate ratio 3.33x (10.00% vs 3.00%)" });
    expect(decided.comparison.metrics.treatment.errorRate).toBe(0.1);
  });

  test("one regressing variant of three decides, and the reason names it", () => {
    const decided = decideFromCounts(
      [counts("control", 400, 12, 150), counts("fast", 400, 14, 150), counts("slow", 400, 40, 150)],
      ["control", "fast", "slow"],
      check,
    );
    expect(decided.decision.kind).toBe("regression_detected");
    expect(decided.decision.reason).toBe("slow vs control: error rate ratio 3.33x (10.00% vs 3.00%)");
    expect(decided.comparison.treatment).toBe("slow");
  });

  test("below the floor is insufficient_data / sample_size; a small significant-looking ratio is not acted on", () => {
    expect(decideFromCounts([counts("true", 60, 6), counts("false", 60, 1)], undefined, check).decision).toEqual({
      kind: "insufficient_data",
      reason: "sample_size",
    });
    // 2 errors against 1 in 100 events: the toolkit's 2x rule fires, the significance gate holds it back.
    const noisy = [counts("true", 100, 2, 60), counts("false", 100, 1, 60)];
    expect(decideFromCounts(noisy, undefined, check).decision.kind).toBe("insufficient_data");
    expect(decideFromCounts(noisy, undefined, { ...check, significance: false }).decision.kind).toBe("regression_detected");
  });

  test("a recent change to the flag means cooldown, named once for the flag", () => {
    const decided = decideFromCounts([counts("true", 400, 40, 150), counts("false", 400, 12, 150)], ["control", "b"], {
      ...check,
      lastActionAt: new Date(NOW - 5 * 60_000).toISOString(),
    });
    expect(decided.decision).toEqual({ kind: "insufficient_data", reason: "cooldown" });
  });
});

describe("worse", () => {
  const of = (kind: "no_regression" | "insufficient_data" | "regression_detected", source: string) => ({ decision: { kind, reason: "" }, source });
  test("regression over insufficient data over no regression; the first on a tie", () => {
    expect(worse(of("no_regression", "local"), of("regression_detected", "hogql")).source).toBe("hogql");
    expect(worse(of("insufficient_data", "local"), of("no_regression", "hogql")).source).toBe("local");
    expect(worse(of("regression_detected", "local"), of("regression_detected", "hogql")).source).toBe("local");
  });
});
