// The digest: findings sorted into the toolkit's lists and ours, each flag once, in key order.
import { describe, expect, it } from "vitest";
import { buildDigest, digestHasNews, toToolkitDigest, type ReleaseFinding } from "./releaseDigest.js";

const findings: ReleaseFinding[] = [
  { kind: "orphan", key: "zz_legacy" },
  { kind: "new_release", key: "release_studio_editor", name: "Editor", type: "flag" },
  { kind: "new_release", key: "experiment_billing_paywall", name: "Paywall", type: "flag" },
  { kind: "new_release", key: "experiment_billing_paywall", name: "Annual-first paywall", type: "experiment" },
  { kind: "stale", key: "release_studio_old", name: "Old", daysSinceRelease: 45 },
  { kind: "orphan", key: "aa_legacy" },
  { kind: "orphan", key: "zz_legacy" },
  { kind: "naming_violation", key: "BadKey" },
  { kind: "concluded_experiment", key: "experiment_billing_paywall", name: "Annual-first paywall", conclusion: "won", rollout: "shipped" },
  { kind: "overdue_sunset", key: "release_studio_old", sunsetTarget: "2026-06-30", daysOverdue: 12 },
  { kind: "unused", key: "ops_studio_switch", lastExposureAt: 1_700_000_000_000 },
  { kind: "unused", key: "ops_studio_never" },
];

describe("buildDigest", () => {
  it("sorts findings into the toolkit's lists and ours", () => {
    expect(buildDigest(findings)).toEqual({
      newFlagReleases: [{ key: "release_studio_editor", name: "Editor", type: "flag" }],
      newExperimentReleases: [{ key: "experiment_billing_paywall", name: "Annual-first paywall", type: "experiment" }],
      staleFlags: [{ key: "release_studio_old", name: "Old", daysSinceRelease: 45 }],
      orphans: [{ key: "aa_legacy" }, { key: "zz_legacy" }],
      namingViolations: [{ key: "BadKey" }],
      concludedExperiments: [{ key: "experiment_billing_paywall", name: "Annual-first paywall", conclusion: "won", rollout: "shipped" }],
      overdueSunsets: [{ key: "release_studio_old", sunsetTarget: "2026-06-30", daysOverdue: 12 }],
      unusedFlags: [{ key: "ops_studio_never" }, { key: "ops_studio_switch", lastExposureAt: 1_700_000_000_000 }],
    });
  });

  it("gives the same digest whatever order the findings come in", () => {
    expect(buildDigest([...findings].reverse())).toEqual(buildDigest(findings));
  });

  it("keeps two experiments on one flag apart by name, in name order", () => {
    const digest = buildDigest([
      { kind: "concluded_experiment", key: "experiment_x", name: "Round 2", conclusion: "won", rollout: "shipped" },
      { kind: "concluded_experiment", key: "experiment_x", name: "Round 1", conclusion: "lost", rollout: "rolled_back" },
      { kind: "concluded_experiment", key: "experiment_x", name: "Round 1", conclusion: "lost", rollout: "rolled_back" },
    ]);
    expect(digest.concludedExperiments.map((experiment) => experiment.name)).toEqual(["Round 1", "Round 2"]);
  });
});

describe("digestHasNews", () => {
  it("is false only when every list is empty, ours included", () => {
    expect(digestHasNews(buildDigest([]))).toBe(false);
    expect(digestHasNews(buildDigest([{ kind: "unused", key: "ops_x" }]))).toBe(true);
    expect(digestHasNews(buildDigest([{ kind: "orphan", key: "x" }]))).toBe(true);
  });
});

describe("toToolkitDigest", () => {
  it("keeps exactly the toolkit's five lists", () => {
    const digest = toToolkitDigest(buildDigest(findings));
    expect(Object.keys(digest).sort()).toEqual(["namingViolations", "newExperimentReleases", "newFlagReleases", "orphans", "staleFlags"]);
    expect(digest.orphans).toEqual([{ key: "aa_legacy" }, { key: "zz_legacy" }]);
  });
});
