import { describe, expect, it } from "vitest";
import { flagHash, holdoutHash } from "./hash.js";
import { FlagEvaluator, referencesOfCohort, referencesOfFlag, resolvePayload } from "./index.js";
import type {
  DefinitionSource,
  EvaluationContext,
  FlagCondition,
  FlagDefinition,
  FlagProperty,
  FlagResult,
  PropertyGroup,
} from "./index.js";

const NOW = Date.UTC(2025, 2, 31, 12);

interface Project {
  flags: FlagDefinition[];
  cohorts?: Record<string, PropertyGroup>;
  groupTypeMapping?: Record<string, string>;
  propertyMatchingVersion?: number;
}

function sourceOf(project: Project): DefinitionSource {
  const flags = new Map(project.flags.map((flag) => [flag.key, flag]));
  const cohorts = project.cohorts ?? {};
  return {
    flag: (key) => flags.get(key),
    cohort: (id) => cohorts[id],
    groupTypeMapping: project.groupTypeMapping ?? { "0": "company", "1": "project" },
    ...(project.propertyMatchingVersion !== undefined && { propertyMatchingVersion: project.propertyMatchingVersion }),
  };
}

function evaluate(
  project: Project | FlagDefinition[],
  key: string,
  context: Partial<EvaluationContext> = {},
): FlagResult {
  const definitions = Array.isArray(project) ? { flags: project } : project;
  return new FlagEvaluator(sourceOf(definitions), { distinctId: "user-1", now: NOW, ...context }).evaluate(key);
}

/** The value, or the unresolved reason (prefixed "server:" when only the server can decide). */
function outcome(project: Project | FlagDefinition[], key: string, context: Partial<EvaluationContext> = {}) {
  const result = evaluate(project, key, context);
  if (result.resolved) return result.value;
  return result.serverRequired ? `server:${result.reason}` : result.reason;
}

function flag(
  key: string,
  conditions: FlagCondition[],
  filters: FlagDefinition["filters"] = {},
  extra: Partial<FlagDefinition> = {},
): FlagDefinition {
  return { key, active: true, filters: { groups: conditions, ...filters }, ...extra };
}

const person = (key: string, operator: string, value: unknown): FlagProperty => ({
  key,
  operator,
  value,
  type: "person",
});
const missing = person("not_in_context", "exact", "x");
const noMatch = person("plan", "exact", "never");
const everyone: FlagCondition = { properties: [], rollout_percentage: 100 };
const cohort = (id: number | string, operator?: string): FlagProperty => ({
  key: "id",
  type: "cohort",
  value: id,
  ...(operator && { operator }),
});
const dependsOn = (key: string, value: unknown, chain: unknown = [key]): FlagProperty => ({
  key,
  type: "flag",
  operator: "flag_evaluates_to",
  value,
  dependency_chain: chain,
});
const context = { personProperties: { plan: "pro", email: "a@example.com" } };

describe("per-flag steps", () => {
  it("an inactive flag is false, before anything else", () => {
    expect(outcome([flag("f", [everyone], {}, { active: false, ensure_experience_continuity: true })], "f")).toBe(
      false,
    );
    const withoutActive: FlagDefinition = { key: "f", filters: { groups: [everyone] } };
    expect(outcome([withoutActive], "f")).toBe(false); // posthog-node tests truthiness
  });

  it("experience continuity cannot be evaluated locally", () => {
    expect(outcome([flag("f", [everyone], {}, { ensure_experience_continuity: true })], "f")).toBe(
      "experience_continuity",
    );
  });

  it("an unknown key is reported as such", () => {
    expect(evaluate([], "nope")).toEqual({
      key: "nope",
      resolved: false,
      reason: "unknown_flag",
      serverRequired: false,
    });
  });

  it("reports id, experiment and payload with the value", () => {
    const definition = flag("f", [everyone], { payloads: { true: '{"a":1}' } }, { id: 7, has_experiment: true });
    expect(evaluate([definition], "f")).toEqual({
      key: "f",
      resolved: true,
      value: true,
      payload: { a: 1 },
      flagId: 7,
      hasExperiment: true,
    });
  });

  it("injects distinct_id into person properties, a caller's value winning", () => {
    const definition = flag("f", [{ properties: [person("distinct_id", "exact", "user-1")] }]);
    expect(outcome([definition], "f")).toBe(true);
    expect(outcome([definition], "f", { personProperties: { distinct_id: "other" } })).toBe(false);
  });
});

describe("group flags", () => {
  const groupFlag = flag(
    "g",
    [{ properties: [{ key: "plan", type: "group", value: "scale" }], rollout_percentage: 100 }],
    {
      aggregation_group_type_index: 0,
    },
  );

  it("is false without the group, and unresolved for a group type the project does not map", () => {
    expect(outcome([groupFlag], "g")).toBe(false);
    expect(outcome({ flags: [groupFlag], groupTypeMapping: {} }, "g", { groups: { company: "c1" } })).toBe(
      "unsupported_definition",
    );
  });

  it("matches the group's properties, which include $group_key", () => {
    expect(
      outcome([groupFlag], "g", { groups: { company: "c1" }, groupProperties: { company: { plan: "scale" } } }),
    ).toBe(true);
    expect(outcome([groupFlag], "g", { groups: { company: "c1" } })).toBe("missing_context");
    const byKey = flag("k", [{ properties: [{ key: "$group_key", type: "group", value: "c1" }] }], {
      aggregation_group_type_index: 0,
    });
    expect(outcome([byKey], "k", { groups: { company: "c1" } })).toBe(true);
  });

  it("buckets by the group key, ignoring bucketing_identifier", () => {
    const half = flag(
      "g",
      [{ properties: [], rollout_percentage: 50 }],
      { aggregation_group_type_index: 0 },
      { bucketing_identifier: "device_id" },
    );
    for (const key of ["c1", "c2", "c3", "c4", "c5", "c6"]) {
      expect(outcome([half], "g", { groups: { company: key } })).toBe(flagHash("g", key) <= 0.5);
    }
  });

  it("drops properties of groups not passed in `groups`", () => {
    const mixed = flag("m", [
      { properties: [{ key: "plan", type: "group", value: "scale" }], aggregation_group_type_index: 1 },
    ]);
    expect(outcome([mixed], "m", { groups: { company: "c1" }, groupProperties: { project: { plan: "scale" } } })).toBe(
      false,
    );
    expect(outcome([mixed], "m", { groups: { project: "p1" }, groupProperties: { project: { plan: "scale" } } })).toBe(
      true,
    );
  });
});

describe("mixed targeting", () => {
  const mixed = flag("m", [
    { properties: [{ key: "plan", type: "group", value: "scale" }], aggregation_group_type_index: 0 },
    { properties: [person("email", "icontains", "@example.com")], aggregation_group_type_index: null },
  ]);

  it("evaluates each condition against its own aggregation", () => {
    expect(outcome([mixed], "m", { groups: { company: "c1" }, groupProperties: { company: { plan: "scale" } } })).toBe(
      true,
    );
    expect(outcome([mixed], "m", context)).toBe(true); // the group condition is skipped without the group
    expect(outcome([mixed], "m", { personProperties: { email: "x@other.org" } })).toBe(false);
  });

  it("buckets a group condition by the group key", () => {
    const half = flag("h", [{ properties: [], rollout_percentage: 50, aggregation_group_type_index: 0 }]);
    for (const key of ["c1", "c2", "c3", "c4"]) {
      expect(outcome([half], "h", { groups: { company: key } })).toBe(flagHash("h", key) <= 0.5);
    }
  });
});

describe("device_id bucketing", () => {
  const byDevice = flag("d", [{ properties: [], rollout_percentage: 50 }], {}, { bucketing_identifier: "device_id" });

  it("buckets by $device_id", () => {
    for (const device of ["dev-1", "dev-2", "dev-3", "dev-4"]) {
      expect(outcome([byDevice], "d", { personProperties: { $device_id: device } })).toBe(flagHash("d", device) <= 0.5);
    }
  });

  it("is unresolved without a device id, and a definition problem outranks that", () => {
    for (const personProperties of [{}, { $device_id: null }, { $device_id: "" }]) {
      expect(outcome([byDevice], "d", { personProperties })).toBe("missing_context");
    }
    const alsoUnsupported = flag(
      "d",
      [{ properties: [person("x", "is_date_exact", "2025-01-01")] }],
      {},
      { bucketing_identifier: "device_id" },
    );
    expect(outcome([alsoUnsupported], "d")).toBe("unsupported_definition");
  });

  it("treats other identifiers as the distinct id", () => {
    for (const bucketing_identifier of ["distinct_id", "", null]) {
      const definition = flag("d", [{ properties: [], rollout_percentage: 50 }], {}, { bucketing_identifier });
      expect(outcome([definition], "d", { distinctId: "u9" })).toBe(flagHash("d", "u9") <= 0.5);
    }
  });
});

describe("rollout and variants", () => {
  it("includes a subject whose hash is at most the rollout (null meaning 100 %)", () => {
    const at = (rollout_percentage: number | null) => flag("flag", [{ properties: [], rollout_percentage }]);
    const hash = flagHash("flag", "user"); // 0.4357…
    expect(outcome([at(43.58)], "flag", { distinctId: "user" })).toBe(hash <= 0.4358);
    expect(outcome([at(43.57)], "flag", { distinctId: "user" })).toBe(false);
    expect(outcome([at(null)], "flag", { distinctId: "user" })).toBe(true);
    expect(outcome([at(0)], "flag", { distinctId: "user" })).toBe(false);
  });

  it("picks the variant whose [min, max) slice holds the variant hash; a gap means true", () => {
    const variantHash = flagHash("flag", "user", "variant"); // 0.4727…
    const multivariate = (split: number[]) =>
      flag("flag", [everyone], {
        multivariate: {
          variants: split.map((rollout_percentage, index) => ({ key: `v${index}`, rollout_percentage })),
        },
      });
    expect(variantHash).toBeCloseTo(0.4727, 4);
    expect(outcome([multivariate([47, 53])], "flag", { distinctId: "user" })).toBe("v1");
    expect(outcome([multivariate([48, 52])], "flag", { distinctId: "user" })).toBe("v0");
    expect(outcome([multivariate([20, 20])], "flag", { distinctId: "user" })).toBe(true);
  });

  it("uses a condition's variant override only when the flag has that variant", () => {
    const variants = {
      multivariate: {
        variants: [
          { key: "control", rollout_percentage: 0 },
          { key: "test", rollout_percentage: 100 },
        ],
      },
    };
    expect(outcome([flag("f", [{ ...everyone, variant: "control" }], variants)], "f")).toBe("control");
    expect(outcome([flag("f", [{ ...everyone, variant: "ghost" }], variants)], "f")).toBe("test");
    expect(outcome([flag("f", [{ ...everyone, variant: "Control" }], variants)], "f")).toBe("test");
  });
});

describe("holdouts", () => {
  const hash = holdoutHash("user-1");
  const withHoldout = (exclusion_percentage: unknown, key = "f") =>
    flag(key, [everyone], {
      holdout: { id: 12, exclusion_percentage },
      payloads: { "holdout-12": '"held"', true: '"in"' },
    });

  it("holds out subjects whose holdout hash is within the percentage, before any condition", () => {
    expect(outcome([withHoldout(Math.ceil(hash * 100))], "f")).toBe("holdout-12");
    expect(outcome([withHoldout(Math.floor(hash * 100))], "f")).toBe(true);
    expect(evaluate([withHoldout(100)], "f")).toMatchObject({ value: "holdout-12", payload: "held" });
  });

  it("hashes without the flag key, so one holdout spans its flags", () => {
    const percentage = Math.ceil(hash * 100);
    expect(outcome([withHoldout(percentage, "a")], "a")).toBe("holdout-12");
    expect(outcome([withHoldout(percentage, "other-flag")], "other-flag")).toBe("holdout-12");
  });

  it("ignores holdouts without an id or a numeric percentage, and clamps the percentage", () => {
    expect(outcome([withHoldout(null)], "f")).toBe(true);
    expect(outcome([withHoldout("abc")], "f")).toBe(true);
    expect(outcome([withHoldout(250)], "f")).toBe("holdout-12");
    expect(outcome([withHoldout(-5)], "f")).toBe(hash === 0 ? "holdout-12" : true);
    expect(outcome([flag("f", [everyone], { holdout: { id: null, exclusion_percentage: 100 } })], "f")).toBe(true);
  });
});

describe("condition loop", () => {
  const excluded: FlagCondition = { properties: [], rollout_percentage: 0 };

  it("lets a later condition decide after an unresolved one", () => {
    expect(outcome([flag("f", [{ properties: [missing] }, everyone])], "f")).toBe(true);
    expect(outcome([flag("f", [{ properties: [missing] }, { properties: [noMatch] }])], "f", context)).toBe(
      "missing_context",
    );
    expect(outcome([flag("f", [])], "f")).toBe(false);
  });

  it("a decisive non-match rules a condition out even after an unresolved filter", () => {
    expect(outcome([flag("f", [{ properties: [missing, noMatch] }])], "f", context)).toBe(false);
  });

  it("early_exit stops at a condition excluded by rollout", () => {
    expect(outcome([flag("f", [excluded, everyone], { early_exit: true })], "f")).toBe(false);
    expect(outcome([flag("f", [excluded, everyone], { early_exit: false })], "f")).toBe(true);
    expect(
      outcome(
        [flag("f", [{ properties: [noMatch], rollout_percentage: 0 }, everyone], { early_exit: true })],
        "f",
        context,
      ),
    ).toBe(true);
  });

  it("early_exit after an unresolved condition leaves the flag unresolved", () => {
    expect(outcome([flag("f", [{ properties: [missing] }, excluded, everyone], { early_exit: true })], "f")).toBe(
      "missing_context",
    );
  });
});

describe("cohorts", () => {
  const inCohort = (cohorts: Record<string, PropertyGroup>, property = cohort(1)) =>
    outcome({ flags: [flag("f", [{ properties: [property] }])], cohorts }, "f", context);
  const pro = person("plan", "exact", "pro");

  it("matches the cohort's property group; not_in negates it", () => {
    expect(inCohort({ "1": { type: "AND", values: [pro] } })).toBe(true);
    expect(inCohort({ "1": { type: "AND", values: [pro] } }, cohort(1, "not_in"))).toBe(false);
    expect(inCohort({ "1": { type: "AND", values: [pro] } }, cohort("1"))).toBe(true);
  });

  it("reads {} as everyone, empty AND as true, empty OR as false, 'property' as AND", () => {
    expect(inCohort({ "1": {} })).toBe(true);
    expect(inCohort({ "1": { type: "AND", values: [] } })).toBe(true);
    expect(inCohort({ "1": { type: "OR", values: [] } })).toBe(false);
    expect(inCohort({ "1": { type: "property", values: [pro, noMatch] } })).toBe(false);
  });

  it("honours negation, nesting and cohorts within cohorts", () => {
    expect(inCohort({ "1": { type: "AND", values: [{ ...noMatch, negation: true }] } })).toBe(true);
    expect(
      inCohort({
        "1": {
          type: "OR",
          values: [
            { type: "AND", values: [noMatch] },
            { type: "AND", values: [pro] },
          ],
        },
      }),
    ).toBe(true);
    expect(inCohort({ "1": { type: "AND", values: [cohort(2)] }, "2": { type: "OR", values: [pro] } })).toBe(true);
  });

  it("skips unresolved members when another member decides", () => {
    expect(inCohort({ "1": { type: "OR", values: [missing, pro] } })).toBe(true);
    expect(inCohort({ "1": { type: "AND", values: [missing, noMatch] } })).toBe(false);
    expect(inCohort({ "1": { type: "AND", values: [missing, pro] } })).toBe("missing_context");
  });

  it("needs the server for a cohort that was not sent (static) or an unknown group type, ending the flag", () => {
    const project = (cohorts: Record<string, PropertyGroup>) => ({
      flags: [flag("f", [{ properties: [cohort(1)] }, everyone])],
      cohorts,
    });
    expect(outcome(project({}), "f")).toBe("server:unsupported_definition");
    expect(outcome(project({ "1": { type: "XOR", values: [pro] } }), "f", context)).toBe(
      "server:unsupported_definition",
    );
    expect(outcome(project({ "1": { type: "OR", values: [pro, cohort(99)] } }), "f", context)).toBe(true); // OR decided first
  });

  it("a static cohort after an unresolved filter, or beside a false one, does not end the flag", () => {
    expect(outcome({ flags: [flag("f", [{ properties: [missing, cohort(1)] }, everyone])] }, "f")).toBe(true);
    expect(outcome({ flags: [flag("f", [{ properties: [cohort(1), noMatch] }, everyone])] }, "f", context)).toBe(true);
  });
});

describe("flag dependencies", () => {
  const base = flag("base", [everyone], { multivariate: { variants: [{ key: "blue", rollout_percentage: 100 }] } });
  const off = flag("off", [{ properties: [], rollout_percentage: 0 }]);
  const dependent = (property: FlagProperty, flags: FlagDefinition[] = [base, off]) => [
    flag("dep", [{ properties: [property] }]),
    ...flags,
  ];

  it("compares the dependency's value: true matches any variant, false only false, strings exactly", () => {
    expect(outcome(dependent(dependsOn("base", true)), "dep")).toBe(true);
    expect(outcome(dependent(dependsOn("base", "blue")), "dep")).toBe(true);
    expect(outcome(dependent(dependsOn("base", "Blue")), "dep")).toBe(false);
    expect(outcome(dependent(dependsOn("base", false)), "dep")).toBe(false);
    expect(outcome(dependent(dependsOn("off", false)), "dep")).toBe(true);
    expect(outcome(dependent(dependsOn("off", true)), "dep")).toBe(false);
    expect(outcome(dependent(dependsOn("base", 1)), "dep")).toBe(false);
  });

  it("treats an inactive dependency as false", () => {
    expect(outcome(dependent(dependsOn("base", false), [{ ...base, active: false }]), "dep")).toBe(true);
  });

  it("needs a complete, non-empty dependency chain", () => {
    const { dependency_chain: _omitted, ...withoutChain } = dependsOn("base", true);
    expect(outcome(dependent(withoutChain), "dep")).toBe("unsupported_definition");
    expect(outcome(dependent(dependsOn("base", true, [])), "dep")).toBe("unsupported_definition"); // a cycle
    expect(outcome(dependent(dependsOn("base", true, "base")), "dep")).toBe("unsupported_definition");
    expect(outcome(dependent(dependsOn("base", true, ["ghost", "base"])), "dep")).toBe("unsupported_definition");
  });

  it("evaluates chains in order with the dependency's own bucketing", () => {
    const top = flag("top", [{ properties: [dependsOn("middle", true, ["base", "middle"])] }]);
    const middle = flag("middle", [{ properties: [dependsOn("base", "blue")] }]);
    expect(outcome([top, middle, base], "top")).toBe(true);
    const groupDependency = flag("gdep", [{ properties: [], rollout_percentage: 50 }], {
      aggregation_group_type_index: 0,
    });
    for (const company of ["c1", "c2", "c3", "c4"]) {
      const expected = flagHash("gdep", company) <= 0.5;
      expect(outcome(dependent(dependsOn("gdep", true), [groupDependency]), "dep", { groups: { company } })).toBe(
        expected,
      );
    }
  });

  it("passes on an unresolved dependency, keeping whether it needs the server", () => {
    const unresolvedBase = flag("base", [{ properties: [missing] }]);
    expect(outcome(dependent(dependsOn("base", true), [unresolvedBase]), "dep")).toBe("unresolved_dependency");
    const staticBase = flag("base", [{ properties: [cohort(5)] }]);
    expect(outcome([flag("dep", [{ properties: [dependsOn("base", true)] }, everyone]), staticBase], "dep")).toBe(
      "server:unresolved_dependency",
    );
  });

  it("survives a corrupt cyclic chain", () => {
    const a = flag("a", [{ properties: [dependsOn("b", true, ["b"])] }]);
    const b = flag("b", [{ properties: [dependsOn("a", true, ["a"])] }]);
    expect(outcome([a, b], "a")).toBe("unresolved_dependency");
  });
});

describe("reason precedence: experience_continuity > unsupported_definition > unresolved_dependency > missing_context", () => {
  const unresolvedBase = flag("base", [{ properties: [missing] }]);
  const unsupported = person("x", "is_date_exact", "2025-01-01");
  const deferred = dependsOn("base", true);

  it("picks the highest reason across filters and conditions", () => {
    expect(outcome([flag("f", [{ properties: [missing] }, { properties: [unsupported] }])], "f")).toBe(
      "unsupported_definition",
    );
    expect(outcome([flag("f", [{ properties: [missing, deferred] }]), unresolvedBase], "f")).toBe(
      "unresolved_dependency",
    );
    expect(outcome([flag("f", [{ properties: [deferred, unsupported] }]), unresolvedBase], "f")).toBe(
      "unsupported_definition",
    );
  });

  it("a server stop still reports a definition problem in a condition it never reached", () => {
    const staticBase = flag("base", [{ properties: [cohort(5)] }]);
    const stops = flag("f", [{ properties: [dependsOn("base", true)] }, { properties: [unsupported] }]);
    expect(outcome([stops, staticBase], "f")).toBe("server:unsupported_definition");
    const stopsOnly = flag("f", [{ properties: [dependsOn("base", true)] }, { properties: [missing] }]);
    expect(outcome([stopsOnly, staticBase], "f")).toBe("server:unresolved_dependency");
  });
});

describe("unportable regexes (regex deferral)", () => {
  const variants = {
    multivariate: {
      variants: [
        { key: "a", rollout_percentage: 50 },
        { key: "b", rollout_percentage: 50 },
      ],
    },
  };
  const unportable: FlagCondition = { properties: [person("email", "regex", "(?i)EXAMPLE")], variant: "a" };

  it("keeps a later match only if the regex condition would have given the same value", () => {
    expect(outcome([flag("f", [unportable, { ...everyone, variant: "b" }], variants)], "f", context)).toBe(
      "unsupported_definition",
    );
    expect(outcome([flag("f", [unportable, { ...everyone, variant: "a" }], variants)], "f", context)).toBe("a");
  });

  it("carries the uncertainty through a dependency", () => {
    const base = flag("base", [unportable], variants);
    const dependent = flag(
      "dep",
      [
        { properties: [dependsOn("base", true)], variant: "a" },
        { ...everyone, variant: "b" },
      ],
      variants,
    );
    expect(outcome([dependent, base], "dep", context)).toBe("unresolved_dependency");
  });
});

describe("resolvePayload", () => {
  const payloads = { true: '{"on":true}', blue: "[1,2]", zero: "0", empty: "", raw: "not json", number: 7, falsy: 0 };
  const withPayloads = flag("f", [], { payloads });

  it("parses JSON strings, keeps other strings and non-strings as they are", () => {
    expect(resolvePayload(withPayloads, true)).toEqual({ on: true });
    expect(resolvePayload(withPayloads, "blue")).toEqual([1, 2]);
    expect(resolvePayload(withPayloads, "zero")).toBe(0);
    expect(resolvePayload(withPayloads, "raw")).toBe("not json");
    expect(resolvePayload(withPayloads, "number")).toBe(7);
  });

  it("has none for false, for a missing entry or a falsy stored entry", () => {
    expect(resolvePayload(withPayloads, false)).toBeNull();
    expect(resolvePayload(withPayloads, undefined)).toBeNull();
    expect(resolvePayload(withPayloads, "ghost")).toBeNull();
    expect(resolvePayload(withPayloads, "empty")).toBeNull();
    expect(resolvePayload(withPayloads, "falsy")).toBeNull();
    expect(resolvePayload(flag("f", []), true)).toBeNull();
  });
});

describe("references", () => {
  it("lists the flags (whole chains) and cohorts a flag refers to", () => {
    const definition = flag("f", [
      { properties: [dependsOn("b", true, ["a", "b"]), cohort(3)] },
      { properties: [cohort("4", "not_in"), person("plan", "exact", "pro")] },
    ]);
    expect(referencesOfFlag(definition)).toEqual({ flagKeys: ["b", "a"], cohortIds: ["3", "4"] });
  });

  it("lists what a cohort refers to, through nested groups", () => {
    const group: PropertyGroup = {
      type: "OR",
      values: [
        { type: "AND", values: [cohort(7), dependsOn("c", false)] },
        { type: "AND", values: [person("plan", "exact", "pro")] },
      ],
    };
    expect(referencesOfCohort(group)).toEqual({ flagKeys: ["c"], cohortIds: ["7"] });
  });
});
