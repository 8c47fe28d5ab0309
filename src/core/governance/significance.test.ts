// The z-test's arithmetic against values from standard normal tables.
import { describe, expect, it } from "vitest";
import { oneSidedPValue, upperNormalTail } from "./significance.js";

describe("upperNormalTail", () => {
  it.each([
    [0, 0.5],
    [1, 0.158655],
    [1.644854, 0.05],
    [2.326348, 0.01],
    [3.090232, 0.001],
    [-1.644854, 0.95],
  ])("P(Z ≥ %f) = %f", (z, tail) => {
    expect(upperNormalTail(z)).toBeCloseTo(tail, 6);
  });
});

describe("oneSidedPValue", () => {
  it("matches a worked example: 20/200 vs 10/200", () => {
    // pooled 0.075, se = sqrt(0.075 · 0.925 · 0.01) ≈ 0.026339, z ≈ 1.8985
    expect(oneSidedPValue({ bad: 20, trials: 200 }, { bad: 10, trials: 200 })).toBeCloseTo(0.02881, 4);
  });

  it("is above one half when the treatment is better", () => {
    expect(oneSidedPValue({ bad: 10, trials: 200 }, { bad: 20, trials: 200 })).toBeGreaterThan(0.9);
  });

  it("is 1 when there is nothing to compare", () => {
    expect(oneSidedPValue({ bad: 0, trials: 0 }, { bad: 3, trials: 100 })).toBe(1);
    expect(oneSidedPValue({ bad: 0, trials: 100 }, { bad: 0, trials: 100 })).toBe(1);
    expect(oneSidedPValue({ bad: 100, trials: 100 }, { bad: 100, trials: 100 })).toBe(1);
  });
});
