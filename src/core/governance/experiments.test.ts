// Ended experiments: when one has ended, what its flag did afterwards, and whether the tracker
// reports a release, under our rule and the toolkit's.
import { describe, expect, it } from "vitest";
import type { FlagFilters } from "../flags/types.js";
import { concludedExperiment, experimentStage } from "./experiments.js";
import type { PostHogExperiment, PostHogFlag } from "./posthogRest.js";

const NOW = Date.parse("2026-12-01T12:00:00Z");
const variants = { variants: [{ key: "control", rollout_percentage: 50 }, { key: "test", rollout_percentage: 50 }] };

function experimentWith(overrides: Partial<PostHogExperiment> = {}): PostHogExperiment {
  return {
    id: 9,
    name: "Annual-first paywall",
    feature_flag_key: "experiment_billing_paywall",
    start_date: "2026-10-01T00:00:00Z",
    end_date: "2026-11-20T00:00:00Z",
    archived: false,
    status: "stopped",
    conclusion: "won",
    ...overrides,
  };
}

function flagWith(filters: FlagFilters, overrides: Partial<PostHogFlag> = {}): PostHogFlag {
  return {
    id: 4,
    key: "experiment_billing_paywall",
    name: "Paywall",
    active: true,
    deleted: false,
    tags: [],
    filters: { multivariate: variants, ...filters },
    created_at: "2026-09-01T00:00:00Z",
    ...overrides,
  };
}

const everyoneOn = (variant: string) => flagWith({ groups: [{ properties: [], rollout_percentage: 100, variant }] });
const stillSplit = flagWith({ groups: [{ properties: [], rollout_percentage: 100 }] });

describe("experimentStage", () => {
  it.each([
    ["an end date in the past", {}, "ended"],
    ["an end date exactly now", { end_date: new Date(NOW).toISOString(), status: "running" }, "ended"],
    ["stopped without an end date", { end_date: null, status: "stopped" }, "ended"],
    ["an end date still ahead", { end_date: "2026-12-24T00:00:00Z", status: "running" }, "running"],
    ["running", { end_date: null, status: "running" }, "running"],
    ["paused", { end_date: null, status: "paused" }, "paused"],
    ["draft", { end_date: null, start_date: null, status: "draft" }, "draft"],
    ["no status and no start date", { end_date: null, start_date: null, status: undefined }, "draft"],
    ["archived", { archived: true }, "archived"],
    ["deleted", { deleted: true }, "archived"],
  ] as const)("%s → %s", (_name, overrides, stage) => {
    expect(experimentStage(experimentWith(overrides), NOW)).toBe(stage);
  });
});

describe("concludedExperiment: ours", () => {
  it("reports a won experiment shipped to everyone as a release", () => {
    expect(concludedExperiment(experimentWith(), everyoneOn("test"), NOW)).toEqual({
      experimentId: 9,
      key: "experiment_billing_paywall",
      name: "Annual-first paywall",
      conclusion: "won",
      rollout: "shipped",
      release: true,
    });
  });

  it.each([
    ["lost, everyone back on control", "lost", everyoneOn("control"), "rolled_back"],
    ["lost, flag turned off", "lost", flagWith({ groups: [{ properties: [], rollout_percentage: 100 }] }, { active: false }), "rolled_back"],
    ["lost, flag deleted", "lost", flagWith({ groups: [] }, { deleted: true }), "rolled_back"],
    ["lost, flag gone from PostHog", "lost", undefined, "rolled_back"],
    ["won, still split 50/50", "won", stillSplit, "undecided"],
    ["inconclusive, still split", "inconclusive", stillSplit, "undecided"],
  ] as const)("%s: %s, not a release", (_name, conclusion, flag, rollout) => {
    expect(concludedExperiment(experimentWith({ conclusion }), flag, NOW)).toMatchObject({ conclusion, rollout, release: false });
  });

  it("reports a lost experiment whose treatment went to everyone as shipped, with its conclusion", () => {
    expect(concludedExperiment(experimentWith({ conclusion: "lost" }), everyoneOn("test"), NOW)).toMatchObject({
      conclusion: "lost",
      rollout: "shipped",
      release: true,
    });
  });

  it("gives null for an experiment ended without a conclusion", () => {
    expect(concludedExperiment(experimentWith({ conclusion: null }), stillSplit, NOW)?.conclusion).toBeNull();
    expect(concludedExperiment(experimentWith({ conclusion: undefined }), stillSplit, NOW)?.conclusion).toBeNull();
  });

  it("counts a stopped experiment without an end date, and skips running or archived ones", () => {
    expect(concludedExperiment(experimentWith({ end_date: null }), everyoneOn("test"), NOW)?.release).toBe(true);
    expect(concludedExperiment(experimentWith({ end_date: null, status: "running" }), everyoneOn("test"), NOW)).toBeUndefined();
    expect(concludedExperiment(experimentWith({ archived: true }), everyoneOn("test"), NOW)).toBeUndefined();
  });
});

describe("concludedExperiment: the toolkit's rule", () => {
  it("counts every ended experiment with a flag as a release, a lost one still split included", () => {
    const lost = concludedExperiment(experimentWith({ conclusion: "lost" }), stillSplit, NOW, "toolkit");
    expect(lost).toMatchObject({ conclusion: "lost", rollout: "undecided", release: true });
  });

  it("needs an end date in the past, and the flag", () => {
    expect(concludedExperiment(experimentWith({ end_date: null }), everyoneOn("test"), NOW, "toolkit")).toBeUndefined();
    expect(concludedExperiment(experimentWith(), undefined, NOW, "toolkit")).toBeUndefined();
    expect(concludedExperiment(experimentWith({ archived: true }), everyoneOn("test"), NOW, "toolkit")).toBeUndefined();
  });
});
