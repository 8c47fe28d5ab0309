// Release detection under both rules, checked against the flag evaluator itself; PostHog's
// STALE rule; the stale-since-release and sunset boundaries.
import { describe, expect, it } from "vitest";
import { FlagEvaluator } from "../flags/evaluate.js";
import type { FlagFilters, FlagValue } from "../flags/types.js";
import { PostHogInputError } from "../json.js";
import type { PostHogFlag } from "./posthogRest.js";
import { daysSince, isReleasedToEveryone, isStale, isStaleSinceRelease, overdueSunset, releasedValue } from "./release.js";

const DAY = 24 * 60 * 60 * 1000;
const NOW = Date.parse("2026-12-01T12:00:00Z");

function flagWith(filters: FlagFilters | null, overrides: Partial<PostHogFlag> = {}): PostHogFlag {
  return {
    id: 1,
    key: "release_studio_editor",
    name: "Editor",
    active: true,
    deleted: false,
    tags: [],
    filters,
    created_at: "2026-01-01T00:00:00Z",
    ...overrides,
  };
}

const staff = [{ key: "email", operator: "icontains", value: "@company.io", type: "person" }];
const variants5050 = { variants: [{ key: "control", rollout_percentage: 50 }, { key: "test", rollout_percentage: 50 }] };

interface ReleaseCase {
  name: string;
  flag: PostHogFlag;
  /** Ours: the value everyone gets, or undefined. */
  value: FlagValue | undefined;
  toolkit: boolean;
}

const releaseCases: ReleaseCase[] = [
  { name: "one group at 100%", flag: flagWith({ groups: [{ properties: [], rollout_percentage: 100 }] }), value: true, toolkit: true },
  { name: "null rollout (100% when evaluated)", flag: flagWith({ groups: [{ properties: [], rollout_percentage: null }] }), value: true, toolkit: true },
  { name: "one group at 0%", flag: flagWith({ groups: [{ properties: [], rollout_percentage: 0 }] }), value: undefined, toolkit: false },
  { name: "no groups", flag: flagWith({ groups: [] }), value: undefined, toolkit: false },
  { name: "inactive", flag: flagWith({ groups: [{ properties: [], rollout_percentage: 100 }] }, { active: false }), value: undefined, toolkit: false },
  { name: "deleted", flag: flagWith({ groups: [{ properties: [], rollout_percentage: 100 }] }, { deleted: true }), value: undefined, toolkit: false },
  {
    name: "every group at 100%",
    flag: flagWith({ groups: [{ properties: [], rollout_percentage: 100 }, { properties: staff, rollout_percentage: 100 }] }),
    value: true,
    toolkit: true,
  },
  {
    name: "internal users at 100% (targeted)",
    flag: flagWith({ groups: [{ properties: staff, rollout_percentage: 100 }] }),
    value: undefined,
    toolkit: true,
  },
  {
    name: "everyone at 100%, then a 0% group",
    flag: flagWith({ groups: [{ properties: [], rollout_percentage: 100 }, { properties: staff, rollout_percentage: 0 }] }),
    value: true,
    toolkit: false,
  },
  {
    name: "a 0% group, then everyone at 100%",
    flag: flagWith({ groups: [{ properties: staff, rollout_percentage: 0 }, { properties: [], rollout_percentage: 100 }] }),
    value: true,
    toolkit: false,
  },
  {
    name: "a 50% group, then everyone at 100% (both give true)",
    flag: flagWith({ groups: [{ properties: [], rollout_percentage: 50 }, { properties: [], rollout_percentage: 100 }] }),
    value: true,
    toolkit: false,
  },
  {
    name: "early exit behind a targeted 0% group",
    flag: flagWith({
      groups: [{ properties: staff, rollout_percentage: 0 }, { properties: [], rollout_percentage: 100 }],
      early_exit: true,
    }),
    value: undefined,
    toolkit: false,
  },
  {
    name: "multivariate, 100% group with a variant override",
    flag: flagWith({ groups: [{ properties: [], rollout_percentage: 100, variant: "test" }], multivariate: variants5050 }),
    value: "test",
    toolkit: true,
  },
  {
    name: "multivariate, 100% group, 50/50 split",
    flag: flagWith({ groups: [{ properties: [], rollout_percentage: 100 }], multivariate: variants5050 }),
    value: undefined,
    toolkit: true,
  },
  {
    name: "multivariate, one variant at 100%",
    flag: flagWith({
      groups: [{ properties: [], rollout_percentage: 100 }],
      multivariate: { variants: [{ key: "control", rollout_percentage: 0 }, { key: "test", rollout_percentage: 100 }] },
    }),
    value: "test",
    toolkit: true,
  },
  {
    name: "multivariate, an override to a variant that does not exist",
    flag: flagWith({ groups: [{ properties: [], rollout_percentage: 100, variant: "ghost" }], multivariate: variants5050 }),
    value: undefined,
    toolkit: true,
  },
  {
    name: "multivariate, staff pinned to control before everyone on test",
    flag: flagWith({
      groups: [
        { properties: staff, rollout_percentage: 100, variant: "control" },
        { properties: [], rollout_percentage: 100, variant: "test" },
      ],
      multivariate: variants5050,
    }),
    value: undefined,
    toolkit: true,
  },
  {
    name: "a 10% holdout",
    flag: flagWith({ groups: [{ properties: [], rollout_percentage: 100 }], holdout: { id: 7, exclusion_percentage: 10 } }),
    value: undefined,
    toolkit: true,
  },
  {
    name: "a 0% holdout",
    flag: flagWith({ groups: [{ properties: [], rollout_percentage: 100 }], holdout: { id: 7, exclusion_percentage: 0 } }),
    value: true,
    toolkit: true,
  },
  {
    name: "a group aggregated by another group type",
    flag: flagWith({ groups: [{ properties: [], rollout_percentage: 100, aggregation_group_type_index: 1 }] }),
    value: undefined,
    toolkit: true,
  },
  {
    name: "a group flag at 100% for every company",
    flag: flagWith({ groups: [{ properties: [], rollout_percentage: 100 }], aggregation_group_type_index: 0 }),
    value: true,
    toolkit: true,
  },
  {
    name: "super groups (early access enrolment)",
    flag: flagWith({ groups: [{ properties: [], rollout_percentage: 100 }], super_groups: [{ properties: [], rollout_percentage: 100 }] }),
    value: undefined,
    toolkit: true,
  },
];

/** Every value the evaluator gives a population of users (some staff, all in a company, half in a project). */
function valuesEvaluated(flag: PostHogFlag): Set<FlagValue | "unresolved"> {
  const definition = { ...flag, filters: flag.filters ?? {} };
  const source = { flag: (key: string) => (key === flag.key ? definition : undefined), cohort: () => undefined, groupTypeMapping: { "0": "company", "1": "project" } };
  const values = new Set<FlagValue | "unresolved">();
  for (let i = 0; i < 400; i++) {
    const result = new FlagEvaluator(source, {
      distinctId: `user-${i}`,
      groups: i % 2 === 0 ? { company: `company-${i % 37}`, project: `project-${i}` } : { company: `company-${i % 37}` },
      personProperties: { email: i % 5 === 0 ? `u${i}@company.io` : `u${i}@example.com` },
      now: NOW,
    }).evaluate(flag.key);
    values.add(result.resolved ? result.value : "unresolved");
  }
  return values;
}

describe("release detection: the rule matrix", () => {
  it.each(releaseCases)("$name: ours $value, toolkit $toolkit", ({ flag, value, toolkit }) => {
    expect(releasedValue(flag)).toBe(value);
    expect(isReleasedToEveryone(flag)).toBe(value !== undefined);
    expect(isReleasedToEveryone(flag, "constant_for_everyone")).toBe(value !== undefined);
    expect(isReleasedToEveryone(flag, "toolkit")).toBe(toolkit);
  });

  // Super groups are left out: local evaluation does not read them, PostHog's server does.
  const evaluable = releaseCases.filter(({ flag }) => flag.active && !flag.deleted && !flag.filters?.super_groups);

  it.each(evaluable.filter(({ value }) => value !== undefined))("$name: every user gets $value when evaluated", ({ flag, value }) => {
    expect([...valuesEvaluated(flag)]).toEqual([value]);
  });

  it.each(evaluable.filter(({ value, flag }) => value === undefined && flag.filters?.groups?.length))(
    "$name: some users get false, or users get different values, when evaluated",
    ({ flag }) => {
      const values = [...valuesEvaluated(flag)];
      expect(values.length > 1 || values[0] === false).toBe(true);
    },
  );
});

describe("the toolkit's isFullyReleased cases", () => {
  it.each([
    ["active at 100%", flagWith({ groups: [{ rollout_percentage: 100 }] }), true],
    ["inactive", flagWith({ groups: [{ rollout_percentage: 100 }] }, { active: false }), false],
    ["deleted", flagWith({ groups: [{ rollout_percentage: 100 }] }, { deleted: true }), false],
    ["0% rollout", flagWith({ groups: [{ rollout_percentage: 0 }] }), false],
    ["no groups", flagWith({ groups: [] }), false],
    ["null rollout", flagWith({ groups: [{ rollout_percentage: null }] }), true],
    ["all groups at 100%", flagWith({ groups: [{ rollout_percentage: 100 }, { rollout_percentage: 100 }] }), true],
    ["any group at 50%", flagWith({ groups: [{ rollout_percentage: 100 }, { rollout_percentage: 50 }] }), false],
    ["null filters", flagWith(null), false],
  ] as const)("%s → %s", (_name, flag, released) => {
    expect(isReleasedToEveryone(flag, "toolkit")).toBe(released);
  });
});

describe("isStale: PostHog's STALE rule", () => {
  const fullyRolledOut = { groups: [{ properties: [], rollout_percentage: 100 }] };
  const createdDaysAgo = (days: number) => new Date(NOW - days * DAY).toISOString();

  it("needs the flag created more than the given days ago, strictly", () => {
    expect(isStale(flagWith(fullyRolledOut, { created_at: createdDaysAgo(30) }), NOW)).toBe(false);
    expect(isStale(flagWith(fullyRolledOut, { created_at: new Date(NOW - 30 * DAY - 1).toISOString() }), NOW)).toBe(true);
    expect(isStale(flagWith(fullyRolledOut, { created_at: createdDaysAgo(8) }), NOW, 7)).toBe(true);
    expect(isStale(flagWith(fullyRolledOut, { created_at: createdDaysAgo(6) }), NOW, 7)).toBe(false);
  });

  it.each([
    ["some group at 100% without properties", { groups: [{ properties: staff, rollout_percentage: 50 }, { properties: [], rollout_percentage: 100 }] }, true],
    ["a targeted group at 100% only", { groups: [{ properties: staff, rollout_percentage: 100 }] }, false],
    ["a null rollout (PostHog wants exactly 100)", { groups: [{ properties: [], rollout_percentage: null }] }, false],
    ["no conditions at all (legacy)", {}, true],
    ["multivariate with an override on the full group", { groups: [{ properties: [], rollout_percentage: 100, variant: "test" }], multivariate: variants5050 }, true],
    ["multivariate split 50/50", { groups: [{ properties: [], rollout_percentage: 100 }], multivariate: variants5050 }, false],
    [
      "multivariate with a variant at 100%",
      { groups: [{ properties: [], rollout_percentage: 100 }], multivariate: { variants: [{ key: "a", rollout_percentage: 100 }] } },
      true,
    ],
    ["a holdout (PostHog ignores it)", { groups: [{ properties: [], rollout_percentage: 100 }], holdout: { id: 3, exclusion_percentage: 10 } }, true],
  ] as const)("%s → %s", (_name, filters, stale) => {
    expect(isStale(flagWith(filters as FlagFilters, { created_at: createdDaysAgo(45) }), NOW)).toBe(stale);
  });

  it("is never true for an inactive or deleted flag", () => {
    expect(isStale(flagWith(fullyRolledOut, { active: false, created_at: createdDaysAgo(90) }), NOW)).toBe(false);
    expect(isStale(flagWith(fullyRolledOut, { deleted: true, created_at: createdDaysAgo(90) }), NOW)).toBe(false);
  });
});

describe("stale since release", () => {
  it("counts whole days, as the toolkit does", () => {
    const releasedAt = NOW - 30 * DAY;
    expect(daysSince(releasedAt, NOW)).toBe(30);
    expect(daysSince(releasedAt + 1, NOW)).toBe(29);
    expect(isStaleSinceRelease(releasedAt, NOW)).toBe(true);
    expect(isStaleSinceRelease(releasedAt + 1, NOW)).toBe(false);
    expect(isStaleSinceRelease(new Date(releasedAt).toISOString(), NOW, 30)).toBe(true);
    expect(isStaleSinceRelease(NOW - 2 * DAY, NOW, 3)).toBe(false);
  });
});

describe("overdueSunset", () => {
  const key = "release_studio_editor";

  it("gives a date until the end of that day, UTC", () => {
    const sunsetTarget = "2026-06-30";
    expect(overdueSunset({ key, sunsetTarget }, Date.parse("2026-06-30T23:59:59.999Z"))).toBeUndefined();
    expect(overdueSunset({ key, sunsetTarget }, Date.parse("2026-07-01T00:00:00Z"))).toEqual({ key, sunsetTarget, daysOverdue: 0 });
    expect(overdueSunset({ key, sunsetTarget }, Date.parse("2026-07-01T23:59:59.999Z"))).toEqual({ key, sunsetTarget, daysOverdue: 0 });
    expect(overdueSunset({ key, sunsetTarget }, Date.parse("2026-07-02T00:00:00Z"))).toEqual({ key, sunsetTarget, daysOverdue: 1 });
  });

  it("takes a date-time as the deadline itself", () => {
    const sunsetTarget = "2026-06-30T12:00:00+02:00";
    expect(overdueSunset({ key, sunsetTarget }, Date.parse("2026-06-30T10:00:00Z"))).toBeUndefined();
    expect(overdueSunset({ key, sunsetTarget }, Date.parse("2026-06-30T10:00:00.001Z"))).toEqual({ key, sunsetTarget, daysOverdue: 0 });
  });

  it("is undefined without a target, and names the flag for an unreadable one", () => {
    expect(overdueSunset({ key }, NOW)).toBeUndefined();
    expect(() => overdueSunset({ key, sunsetTarget: "soon" }, NOW)).toThrow(PostHogInputError);
    expect(() => overdueSunset({ key, sunsetTarget: "soon" }, NOW)).toThrow(`flags.${key}.sunsetTarget`);
  });
});
