// @vitest-environment node
//
// Differential test: random definitions and contexts, evaluated by our evaluator and by
// posthog-node 5.70's local evaluation (offline, fake fetch), must agree on every value,
// payload and unresolved reason. Replay a failure with DIFF_SEED=<printed seed>.

import { PostHog } from "posthog-node";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { definitionSourceFromResponse, sameJson } from "../../testing/conformance.js";
import type { DefinitionsResponse } from "../../testing/conformance.js";
import { FlagEvaluator } from "./evaluate.js";
import type { EvaluationContext, FlagCondition, FlagDefinition, FlagProperty, PropertyGroup } from "./types.js";
import { Random } from "../../testing/random.js";

const MIN_CASES = 30_000;
const SEED = process.env.DIFF_SEED ? Number(process.env.DIFF_SEED) >>> 0 : Math.floor(Math.random() * 2 ** 32);

// ---------------------------------------------------------------------------------------------
// Value pools. Context values and filter values overlap on purpose, so filters often match.

const INSTANTS = [
  Date.UTC(2025, 2, 31, 12), // month-end clamping for "-1m", "-2m"
  Date.UTC(2024, 1, 29, 0, 0, 0, 1), // leap day for "-1y"
  Date.UTC(2025, 0, 31, 23, 59, 59, 999),
  Date.UTC(2025, 5, 15, 8, 30),
];

const PERSON_VALUES: Record<string, readonly unknown[]> = {
  email: ["alice@example.com", "BOB@Example.COM", "carol@test.io", "dave@ÉXAMPLE.com", "", "null", "x\r@y.com"],
  plan: [
    "free",
    "pro",
    "PRO",
    "enterprise",
    "Enterprise",
    true,
    false,
    "true",
    "FALSE",
    "banana",
    null,
    0,
    1,
    2.5,
    [],
    ["pro"],
    [true, "TRUE"],
  ],
  age: [17, 25, 42.5, "30", "abc", "25years", -3, 0, "1e3", "", null, 1.5, "1.5"],
  signup: [
    "2025-03-01",
    "2024-12-31T23:59:59Z",
    "2025-03-30T12:00:00+02:00",
    "2025-03-31 11:00:00",
    1740000000000,
    "garbage",
    true,
    "2025-02-28T12:00:00.000Z",
    "Mon, 30 Dec 2024 10:00:00 GMT",
    "2024-02-28T00:00:00Z",
  ],
  version: [
    "1.2.3",
    "v2.0.0",
    "0.9.1-beta",
    "1.2",
    "01.2.3",
    "10.0.0",
    3,
    "0.0.4",
    "1.2.3.4",
    " V1.3.0 ",
    "abc",
    "1.10.0+build",
  ],
  country: ["US", "us", "DE", "fr", "Ö", "ö", "Ä", "Straße", 3.5],
  tags: [["a", "b"], { b: 1.5, a: "x" }, [true], [], ["A", ["B", []]], [1.25, "z"], { nested: { k: [false] } }],
  url: ["https://a.com/x", "http://b.org/?q=1", "héllo", "abc123", "ABC", "a\nb", "foo.bar", "xyz", undefined],
  distinct_id: ["override-1", "user_7", ""],
};

const GROUP_VALUES: Record<string, readonly unknown[]> = {
  name: ["Acme", "acme", "Hooli", "Initech", "ÄÖ GmbH", null],
  industry: ["retail", "Retail", "tech", "finance", ""],
  employees: [5, 50, 500, "120", 99.5, "many"],
  created_at: ["2024-01-01", "2025-03-30T00:00:00Z", "-", 1700000000000],
  $group_key: ["co_1", "co_2", "proj_9"],
};

const REGEX_PATTERNS = [
  "^a",
  "com$",
  "foo|bar",
  "\\d+",
  "[a-z]+@",
  "^$",
  "",
  ".*",
  "(?:ab)+",
  "x{2,3}",
  "[\\w.]+",
  "(?i)abc",
  "\\bword",
  "é",
  "a{2}+",
  "[[a]]",
  "(?=x)",
  "(",
  "[",
  "a{2",
  "\\",
  "^?",
  "()*",
  "{2}",
  "[\\s-9]",
  "[^]",
  "\\x41",
  "\\p{L}",
  "a**",
  "[a&&b]",
];

const DATE_FILTERS = [
  "-7d",
  "7d",
  "-1m",
  "2m",
  "-1y",
  "12h",
  "-2w",
  "10000d",
  "9999h",
  "7x",
  "-1D",
  "2025-03-01",
  "2025-03-30T12:00:00Z",
  "2025-03-31 10:00:00",
  "not a date",
  1740000000000,
  true,
  null,
  "2024-13-45",
];

const SEMVER_FILTERS = [
  "1.2.3",
  "v1.2",
  "1.2.3-rc.1",
  "0.9.0",
  "2",
  "01.2.3",
  "abc",
  "",
  "1.*",
  "1.2.*",
  "*",
  "0.0.4",
  "10.0",
];
const UNKNOWN_OPERATORS = ["is_date_exact", "in", "not_in", "min", "between", "flag_evaluates_to", "icontains_multi"];
const STRING_OPERATORS = ["icontains", "not_icontains", "starts_with", "not_starts_with", "ends_with", "not_ends_with"];
const NUMERIC_OPERATORS = ["gt", "gte", "lt", "lte"];
const SEMVER_OPERATORS = [
  "semver_eq",
  "semver_neq",
  "semver_gt",
  "semver_gte",
  "semver_lt",
  "semver_lte",
  "semver_tilde",
  "semver_caret",
  "semver_wildcard",
];

const GROUP_TYPES = ["company", "project", "org"];

// ---------------------------------------------------------------------------------------------
// Definitions

interface World {
  now: number;
  definitions: DefinitionsResponse;
}

class WorldBuilder {
  private readonly flags: FlagDefinition[] = [];
  private readonly cohorts: Record<string, PropertyGroup> = {};
  /** Flags a flag or cohort depends on, transitively (indices into `flags`). */
  private readonly flagDeps = new Map<string, Set<number>>();
  private readonly cohortDeps = new Map<string, Set<number>>();
  private readonly cohortIds: string[] = [];
  private nextCohortId = 1;

  /** Some sets lean on regex filters, whose deferral rules need several conditions to show. */
  private regexShare = 0.1;

  constructor(private readonly random: Random) {}

  build(): World {
    const random = this.random;
    if (random.chance(0.25)) this.regexShare = 0.6;
    const mapping: Record<string, string> = { "0": "company", "1": "project" };
    if (random.chance(0.5)) mapping["2"] = "org";
    const flagCount = random.int(2, 8);
    for (let index = 0; index < flagCount; index++) {
      // Cohorts created now may depend on flags before this one only, so nothing is cyclic.
      for (let count = random.int(0, 2); count > 0; count--) this.addCohort(index);
      this.flags.push(this.flag(index));
    }
    const definitions: DefinitionsResponse = { flags: this.flags, group_type_mapping: mapping, cohorts: this.cohorts };
    const version = random.pick([undefined, 1, 2, 2]);
    if (version !== undefined) definitions.property_matching_version = version;
    return { now: random.pick(INSTANTS), definitions: JSON.parse(JSON.stringify(definitions)) as DefinitionsResponse };
  }

  private flag(index: number): FlagDefinition {
    const random = this.random;
    const key = random.chance(0.1) ? `Flag-${index}` : `flag-${index}`;
    const deps = new Set<number>();
    const variants = random.chance(0.5) ? this.variants() : undefined;
    const variantKeys = variants?.map((variant) => variant.key) ?? [];
    const aggregation = random.pick([undefined, undefined, null, null, 0, 1, 7]);
    const groupFlag = aggregation !== undefined && aggregation !== null;
    const conditions: FlagCondition[] = [];
    for (let count = random.int(0, 4); count > 0; count--) {
      const condition: FlagCondition = { properties: [] };
      let conditionGroup = groupFlag;
      if (!groupFlag && random.chance(0.15)) {
        condition.aggregation_group_type_index = random.pick([0, 1, 2, 7, null]);
        conditionGroup = condition.aggregation_group_type_index !== null;
      }
      for (let filters = random.int(0, 3); filters > 0; filters--) {
        condition.properties!.push(this.conditionFilter(index, conditionGroup, deps));
      }
      const rollout = random.pick([undefined, null, 0, 100, 30, 50, 72.5, 99, random.int(0, 100)]);
      if (rollout !== undefined) condition.rollout_percentage = rollout;
      if (random.chance(0.3))
        condition.variant =
          random.chance(0.7) && variantKeys.length ? random.pick(variantKeys) : random.pick([null, "ghost"]);
      conditions.push(condition);
    }
    this.flagDeps.set(key, deps);

    const filters: FlagDefinition["filters"] = { groups: conditions };
    if (aggregation !== undefined) filters.aggregation_group_type_index = aggregation;
    if (variants) filters.multivariate = { variants };
    if (random.chance(0.7)) filters.payloads = this.payloads(variantKeys);
    if (random.chance(0.15)) {
      filters.holdout = {
        id: random.int(1, 50),
        exclusion_percentage: random.pick([0, 10, 25.5, 100, null, "20", "abc", 150, -5]),
      };
    }
    if (random.chance(0.4)) filters.early_exit = random.chance(0.7);

    const flag: FlagDefinition = {
      id: 1000 + index,
      key,
      active: random.chance(0.9),
      ensure_experience_continuity: random.chance(0.05),
      filters,
    };
    if (random.chance(0.3))
      flag.bucketing_identifier = random.pick(["device_id", "device_id", "distinct_id", "", null]);
    if (random.chance(0.3)) flag.has_experiment = random.chance(0.5);
    if (random.chance(0.05)) delete flag.active;
    return flag;
  }

  private variants(): { key: string; rollout_percentage: number }[] {
    const random = this.random;
    const keys = random.some(["control", "test", "Test", "alpha", "beta"], 0.6);
    if (keys.length === 0) keys.push("control");
    const full = random.chance(0.8);
    let remaining = full ? 100 : random.int(10, 90);
    return keys.map((key, position) => {
      const share = position === keys.length - 1 ? remaining : random.int(0, remaining);
      remaining -= share;
      return { key, rollout_percentage: share };
    });
  }

  private payloads(variantKeys: string[]): Record<string, unknown> {
    const random = this.random;
    const values = [
      '{"color":"blue"}',
      "[1,2]",
      '"text"',
      "0",
      "false",
      "null",
      '""',
      "",
      "not json",
      "42",
      7,
      { raw: true },
    ];
    const payloads: Record<string, unknown> = {};
    for (const slot of ["true", ...variantKeys, "holdout-3"])
      if (random.chance(0.6)) payloads[slot] = random.pick(values);
    return payloads;
  }

  private addCohort(flagLimit: number): void {
    const id = String(this.nextCohortId++);
    const deps = new Set<number>();
    this.cohorts[id] = this.cohortGroup(flagLimit, deps, 0);
    this.cohortDeps.set(id, deps);
    this.cohortIds.push(id);
  }

  private cohortGroup(flagLimit: number, deps: Set<number>, depth: number): PropertyGroup {
    const random = this.random;
    if (random.chance(0.05)) return {};
    const type = random.pick(["AND", "OR", "OR", "property", "XOR"]);
    if (type === "XOR" && random.chance(0.7)) return this.cohortGroup(flagLimit, deps, depth);
    const values: Array<PropertyGroup | FlagProperty> = [];
    const nested = depth < 2 && random.chance(0.35);
    for (let count = random.int(0, 3); count > 0; count--) {
      if (nested) values.push(this.cohortGroup(flagLimit, deps, depth + 1));
      else values.push(this.cohortLeaf(flagLimit, deps));
    }
    return { type, values };
  }

  private cohortLeaf(flagLimit: number, deps: Set<number>): FlagProperty {
    const random = this.random;
    const roll = random.next();
    let leaf: FlagProperty;
    if (roll < 0.15 && this.cohortIds.length > 0) leaf = this.cohortFilter(deps, flagLimit);
    else if (roll < 0.25 && flagLimit > 0) leaf = this.flagFilter(flagLimit, deps);
    else leaf = this.propertyFilter(false);
    if (random.chance(0.25)) leaf.negation = random.chance(0.8);
    return leaf;
  }

  private conditionFilter(flagIndex: number, group: boolean, deps: Set<number>): FlagProperty {
    const roll = this.random.next();
    if (roll < 0.12 && flagIndex > 0) return this.flagFilter(flagIndex, deps);
    if (roll < 0.22) return this.cohortFilter(deps, flagIndex);
    return this.propertyFilter(group);
  }

  /** A cohort filter; cohorts usable by flag i depend on flags before i only. */
  private cohortFilter(deps: Set<number>, flagLimit: number): FlagProperty {
    const random = this.random;
    const usable = this.cohortIds.filter((id) => [...this.cohortDeps.get(id)!].every((dep) => dep < flagLimit));
    const id = usable.length > 0 && random.chance(0.85) ? random.pick(usable) : String(900 + random.int(0, 5));
    for (const dep of this.cohortDeps.get(id) ?? []) deps.add(dep);
    const filter: FlagProperty = { key: "id", type: "cohort", value: random.chance(0.5) ? Number(id) : id };
    const operator = random.pick([undefined, "in", "in", "not_in", "exact"]);
    if (operator !== undefined) filter.operator = operator;
    return filter;
  }

  /** A dependency on an earlier flag, with a correct dependency chain most of the time. */
  private flagFilter(flagLimit: number, deps: Set<number>): FlagProperty {
    const random = this.random;
    const target = random.int(0, flagLimit - 1);
    const targetFlag = this.flags[target]!;
    const closure = new Set<number>(this.flagDeps.get(targetFlag.key));
    closure.add(target);
    for (const dep of closure) deps.add(dep);
    const chain: unknown[] = [...closure].sort((a, b) => a - b).map((dep) => this.flags[dep]!.key);
    const variantKeys = targetFlag.filters?.multivariate?.variants?.map((variant) => variant.key) ?? [];
    const filter: FlagProperty = {
      key: targetFlag.key,
      type: "flag",
      operator: "flag_evaluates_to",
      value: random.pick([true, true, false, "control", "test", "other", 1, ...variantKeys]),
      dependency_chain: chain,
    };
    const broken = random.next();
    if (broken < 0.04) delete filter.dependency_chain;
    else if (broken < 0.08) filter.dependency_chain = [];
    else if (broken < 0.11) filter.dependency_chain = ["ghost-flag", ...chain];
    else if (broken < 0.13) filter.dependency_chain = "not-an-array";
    else if (broken < 0.18 && target > 0)
      filter.dependency_chain = [this.flags[random.int(0, target - 1)]!.key, ...chain];
    return filter;
  }

  private propertyFilter(group: boolean): FlagProperty {
    const random = this.random;
    const pool = group ? GROUP_VALUES : PERSON_VALUES;
    const key = random.chance(0.05) ? "missing_prop" : random.pick(Object.keys(pool));
    const known = pool[key] ?? ["x"];
    const family = random.next();
    let operator: string | undefined;
    let value: unknown;
    if (random.chance(this.regexShare)) {
      operator = random.pick(["regex", "not_regex"]);
      value = random.pick(REGEX_PATTERNS);
    } else if (family < 0.3) {
      operator = random.pick([undefined, "exact", "exact", "is_not", ""]);
      value = this.exactValue(known);
    } else if (family < 0.38) {
      operator = random.pick(["is_set", "is_not_set"]);
      value = random.pick(["is_set", null, ""]);
    } else if (family < 0.55) {
      operator = random.pick(STRING_OPERATORS);
      value = random.chance(0.6) ? this.fragment(random.pick(known)) : random.pick(["", "3", 3, null, "É"]);
    } else if (family < 0.65) {
      operator = random.pick(["regex", "not_regex"]);
      value = random.pick(REGEX_PATTERNS);
    } else if (family < 0.75) {
      operator = random.pick(NUMERIC_OPERATORS);
      value = random.pick([0, 18, 42.5, "30", "abc", "1e3", -1, "2025-01-01", true, null, random.pick(known)]);
    } else if (family < 0.85) {
      operator = random.pick(["is_date_before", "is_date_after"]);
      value = random.pick(DATE_FILTERS);
    } else if (family < 0.95) {
      operator = random.pick(SEMVER_OPERATORS);
      value = random.pick(SEMVER_FILTERS);
    } else {
      operator = random.pick(UNKNOWN_OPERATORS);
      value = random.pick(known);
    }
    const filter: FlagProperty = { key, type: group ? "group" : "person", value };
    if (operator !== undefined) filter.operator = operator;
    if (group) filter.group_type_index = 0;
    return filter;
  }

  private exactValue(known: readonly unknown[]): unknown {
    const random = this.random;
    const roll = random.next();
    if (roll < 0.35) return this.recase(random.pick(known));
    if (roll < 0.6) return random.some(known, 0.4).map((item) => this.recase(item));
    return random.pick([
      true,
      false,
      "true",
      "FALSE",
      [],
      ["true", "false"],
      [true, "PRO"],
      [false, "PRO"],
      42,
      1.5,
      "1.5",
      "null",
      null,
      ["FREE", "PRO"],
      "Ä",
      { a: "x", b: 1.5 },
    ]);
  }

  private recase(value: unknown): unknown {
    if (typeof value !== "string") return value;
    return this.random.pick([value, value.toUpperCase(), value.toLowerCase()]);
  }

  private fragment(value: unknown): unknown {
    if (typeof value !== "string" || value.length === 0) return value;
    const start = this.random.int(0, value.length - 1);
    return this.recase(value.slice(start, this.random.int(start + 1, value.length)));
  }
}

function randomContext(random: Random, now: number): EvaluationContext {
  const context: EvaluationContext = { distinctId: random.chance(0.03) ? "" : `user_${random.int(0, 99999)}`, now };
  if (random.chance(0.9)) {
    const properties: Record<string, unknown> = {};
    for (const [key, values] of Object.entries(PERSON_VALUES)) {
      if (key === "distinct_id" ? random.chance(0.1) : random.chance(0.6)) properties[key] = random.pick(values);
    }
    if (random.chance(0.6)) properties.$device_id = random.pick([`device_${random.int(0, 999)}`, "", null, 12345]);
    context.personProperties = properties;
  }
  if (random.chance(0.7)) {
    const groups: Record<string, string> = {};
    for (const type of [...GROUP_TYPES, "team"]) if (random.chance(0.5)) groups[type] = `${type}_${random.int(0, 50)}`;
    context.groups = groups;
  }
  if (random.chance(0.7)) {
    const groupProperties: Record<string, Record<string, unknown>> = {};
    for (const type of [...GROUP_TYPES, "team"]) {
      if (!random.chance(0.6)) continue;
      const properties: Record<string, unknown> = {};
      for (const [key, values] of Object.entries(GROUP_VALUES))
        if (random.chance(0.6)) properties[key] = random.pick(values);
      groupProperties[type] = properties;
    }
    context.groupProperties = groupProperties;
  }
  return context;
}

// ---------------------------------------------------------------------------------------------
// posthog-node, offline

let served: DefinitionsResponse = { flags: [] };
let unexpectedRequests = 0;

const fakeFetch = async (url: string) => {
  if (!new URL(url).pathname.endsWith("/flags/definitions")) {
    unexpectedRequests++;
    throw new Error(`offline test: unexpected request to ${url}`);
  }
  const body = JSON.parse(JSON.stringify(served)) as unknown;
  return { status: 200, headers: { get: () => null }, json: async () => body, text: async () => JSON.stringify(body) };
};

let client: PostHog;

beforeAll(() => {
  vi.spyOn(console, "warn").mockImplementation(() => {});
  vi.spyOn(console, "debug").mockImplementation(() => {});
  // posthog-node reads "now" from Date for relative date filters; ours takes it as an input.
  // Both run in this process, so date-times without an offset parse in the same (local) zone
  // whatever TZ is: the comparison does not depend on it.
  vi.useFakeTimers({ toFake: ["Date"] });
  client = new PostHog("phc_x", {
    personalApiKey: "phx_x",
    fetch: fakeFetch as never,
    featureFlagsPollingInterval: 86_400_000,
    fetchRetryCount: 0,
    disableGeoip: true,
  });
});

afterAll(async () => {
  await client.shutdown();
  vi.useRealTimers();
  vi.restoreAllMocks();
});

type Observed = { value: unknown; payload: unknown };

function ours(world: World, context: EvaluationContext, key: string): Observed {
  const result = new FlagEvaluator(definitionSourceFromResponse(world.definitions), context).evaluate(key);
  return result.resolved ? { value: result.value, payload: result.payload } : { value: undefined, payload: undefined };
}

function nodeOptions(context: EvaluationContext) {
  return {
    ...(context.groups !== undefined && { groups: context.groups }),
    ...(context.personProperties !== undefined && {
      personProperties: context.personProperties as Record<string, never>,
    }),
    ...(context.groupProperties !== undefined && {
      groupProperties: context.groupProperties as Record<string, Record<string, never>>,
    }),
    onlyEvaluateLocally: true,
  };
}

async function theirs(context: EvaluationContext, key: string): Promise<Observed> {
  const options = nodeOptions(context);
  const value = await client.getFeatureFlag(key, context.distinctId, { ...options, sendFeatureFlagEvents: false });
  const payload = await client.getFeatureFlagPayload(key, context.distinctId, undefined, options);
  return { value, payload };
}

/** Shared-evaluator run (getAllFlags semantics) with reasons, as evaluateFlags reports them. */
function oursAll(world: World, context: EvaluationContext) {
  const evaluator = new FlagEvaluator(definitionSourceFromResponse(world.definitions), context);
  const values: Record<string, unknown> = {};
  const payloads: Record<string, unknown> = {};
  const reasons: Record<string, string> = {};
  for (const flag of world.definitions.flags) {
    const result = evaluator.evaluate(flag.key);
    if (result.resolved) {
      values[flag.key] = result.value;
      if (result.payload) payloads[flag.key] = result.payload;
    } else {
      reasons[flag.key] = result.reason;
    }
  }
  return { values, payloads, reasons };
}

async function theirsAll(context: EvaluationContext) {
  const options = nodeOptions(context);
  const all = await client.getAllFlagsAndPayloads(context.distinctId, options);
  const snapshot = await client.evaluateFlags(context.distinctId, options);
  return { values: all.featureFlags, payloads: all.featureFlagPayloads, reasons: { ...snapshot.unresolvedFlags } };
}

describe("differential against posthog-node 5.70 local evaluation", () => {
  it(`agrees on random definitions and contexts (seed ${SEED})`, async () => {
    console.log(`differential seed: ${SEED} (replay with DIFF_SEED=${SEED})`);
    const random = new Random(SEED);
    const mismatches: string[] = [];
    let compared = 0;
    let worlds = 0;
    const seen = { resolved: 0, unresolved: 0, variants: 0, holdouts: 0 };

    while (compared < MIN_CASES && mismatches.length < 5) {
      const world = new WorldBuilder(random).build();
      worlds++;
      served = world.definitions;
      vi.setSystemTime(world.now);
      await client.reloadFeatureFlags();
      expect(client.isLocalEvaluationReady()).toBe(true);

      const keys = [...new Set(world.definitions.flags.map((flag) => flag.key)), "unknown-flag"];
      for (let contexts = 12; contexts > 0; contexts--) {
        const context = randomContext(random, world.now);
        const report = (what: string, expected: unknown, got: unknown) =>
          mismatches.push(
            `seed ${SEED}, world ${worlds}, ${what}\n  posthog-node: ${JSON.stringify(expected)}\n  ours:         ${JSON.stringify(got)}\n` +
              `  context: ${JSON.stringify(context)}\n  definitions: ${JSON.stringify(world.definitions)}`,
          );

        for (const key of keys) {
          const expected = await theirs(context, key);
          const got = ours(world, context, key);
          compared++;
          if (!sameJson(got, expected)) report(`flag ${key}`, expected, got);
          if (got.value === undefined) seen.unresolved++;
          else seen.resolved++;
          if (typeof got.value === "string") seen[got.value.startsWith("holdout-") ? "holdouts" : "variants"]++;
        }
        if (context.distinctId !== "") {
          const expected = await theirsAll(context);
          const got = oursAll(world, context);
          if (!sameJson(got, expected)) report("getAllFlagsAndPayloads / evaluateFlags", expected, got);
        }
      }
    }

    console.log(`differential: ${compared} cases over ${worlds} definition sets`, seen);
    expect(unexpectedRequests).toBe(0);
    if (mismatches.length > 0) {
      throw new Error(`${mismatches.length}+ mismatches (seed ${SEED}):\n\n${mismatches.slice(0, 3).join("\n\n")}`);
    }
    // The generator must keep exercising both outcomes and variants.
    expect(seen.resolved).toBeGreaterThan(compared / 5);
    expect(seen.unresolved).toBeGreaterThan(compared / 20);
    expect(seen.variants).toBeGreaterThan(0);
  }, 180_000);
});
