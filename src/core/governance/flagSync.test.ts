// The sync's decisions, without PostHog: tag normalisation, the even variant split, what is
// created, patched and reported.
import { describe, expect, test } from "vitest";
import { desiredTags, evenSplit, planSync, type SyncRegistry } from "./flagSync.js";
import type { PostHogFlag } from "./posthogRest.js";

const options = { sendTags: true, createUsageDashboards: true };
const registry: SyncRegistry = {
  namingPattern: "^(release|ops)_(web)_[a-z0-9_]+$",
  namingExemptTag: "naming-exempt",
  flags: [
    { key: "release_web_a", description: "A", owner: "@a", tags: ["Web"], guardian: "enforce" },
    { key: "legacy", description: "Legacy", owner: "@b", tags: ["naming-exempt"] },
  ],
};
let nextId = 1;
const flag = (key: string, extra: Partial<PostHogFlag> = {}): PostHogFlag => ({
  id: nextId++,
  key,
  name: null,
  active: true,
  deleted: false,
  tags: [],
  filters: { groups: [{ properties: [], rollout_percentage: 0 }] },
  created_at: "2026-01-01T00:00:00Z",
  ...extra,
});

describe("flag sync plan", () => {
  test("an even split always sums to 100, the first variants taking the remainder", () => {
    for (let n = 1; n <= 12; n++) {
      const split = evenSplit(Array.from({ length: n }, (_, i) => `v${i}`));
      expect(split.reduce((sum, variant) => sum + variant.rollout_percentage, 0)).toBe(100);
      expect(Math.max(...split.map((v) => v.rollout_percentage)) - Math.min(...split.map((v) => v.rollout_percentage))).toBeLessThanOrEqual(1);
    }
    expect(evenSplit(["a", "b", "c"]).map((v) => v.rollout_percentage)).toEqual([34, 33, 33]);
  });

  test("desired tags: normalised, deduplicated, `guardian` when watched, never `guardian-enforce`", () => {
    expect(desiredTags({ key: "k", description: "", owner: "", tags: [" Web", "web", ""], guardian: "enforce" })).toEqual(["web", "guardian"]);
    expect(desiredTags({ key: "k", description: "", owner: "" })).toEqual([]);
  });

  test("deleted flags are neither orphans nor existing; the registry's exempt tag counts when PostHog shows no tags", () => {
    const plan = planSync(registry, [flag("release_web_a", { deleted: true }), flag("legacy", { name: "Legacy" }), flag("Other")], options);
    expect(plan.create.map((c) => c.flag.key)).toEqual(["release_web_a"]);
    expect(plan.orphans.map((f) => f.key)).toEqual(["Other"]);
    expect(plan.namingViolations.map((f) => f.key)).toEqual(["Other"]);
    // legacy: name equal, tags missing in PostHog -> only a tag patch.
    expect(plan.reconcile.map((r) => [r.flag.key, r.patch])).toEqual([["legacy", { tags: ["naming-exempt"] }]]);
  });

  test("without tags: no tags in bodies or patches, so a flag whose name agrees is left alone", () => {
    const plan = planSync(registry, [flag("legacy", { name: "Legacy" })], { sendTags: false, createUsageDashboards: false });
    expect(plan.reconcile).toEqual([]);
    expect(plan.create[0]!.body).not.toHaveProperty("tags");
    expect(plan.create[0]!.body._should_create_usage_dashboard).toBe(false);
  });
});
