// A generated PostHog project for the flags bench: flag definitions as /flags/definitions
// serves them (with the metadata fields PostHog sends), cohorts, and the evaluation contexts
// the calls use. Deterministic (seeded), so the Convex part and the plain-Node part of the
// bench (a separate process) evaluate the same definitions with the same contexts, and
// prefix-stable, so projects of different sizes share their first flags.
//
// The mix is meant to look like a real project: most flags have one or two release
// conditions on person properties (exact lists, icontains, regex, numbers, dates, semver,
// is_set), a quarter target a cohort, some depend on another flag, a third are multivariate
// (some conditions force a variant), some aggregate by group, some are inactive, a few use
// experience continuity (not locally decidable), and many carry JSON payloads. Cohorts are
// OR-of-AND property groups, some negated filters, some nesting an earlier cohort.
import type { DefinitionsResponse } from "../src/testing/conformance.js";
import type { FlagCondition, FlagDefinition, FlagProperty, PropertyGroup } from "../src/core/flags/index.js";
import { Random } from "../src/testing/random.js";


const COUNTRIES = ["US", "CA", "GB", "DE", "FR", "NL", "BR", "IN", "JP", "AU"];
const PLANS = ["free", "starter", "pro", "team", "enterprise"];
const DOMAINS = ["gmail.com", "acme.com", "globex.io", "initech.com", "hooli.xyz", "example.org"];
const INDUSTRIES = ["retail", "fintech", "health", "media", "saas"];
const WORDS = ["checkout", "onboarding", "pricing", "search", "billing", "editor", "dashboard", "export", "mobile", "beta"];
const VERSIONS = ["1.4.2", "2.0.0", "2.1.3", "2.3.0", "3.0.1", "3.2.0-beta.1"];

/** Cohort ids as PostHog numbers them (not 0-based, not contiguous with flag ids). */
const cohortId = (c: number) => String(2_000 + c * 3);

/** How many cohorts a project of this size has: one per 25 flags, at least 3. */
export const cohortCountFor = (flagCount: number) => Math.max(3, Math.round(flagCount / 25));

export const flagKey = (i: number) => `${WORDS[i % WORDS.length]}-${Math.floor(i / WORDS.length)}-${i}`;

function personProperty(random: Random): FlagProperty {
  switch (random.int(0, 7)) {
    case 0:
      return { key: "country", type: "person", operator: "exact", value: [random.pick(COUNTRIES), random.pick(COUNTRIES), random.pick(COUNTRIES)] };
    case 1:
      return { key: "email", type: "person", operator: "icontains", value: `@${random.pick(DOMAINS)}` };
    case 2:
      return { key: "email", type: "person", operator: "regex", value: `^[a-m].*@(${random.pick(DOMAINS).replace(".", "\\.")}|${random.pick(DOMAINS).replace(".", "\\.")})$` };
    case 3:
      return { key: "plan", type: "person", operator: random.pick(["exact", "is_not"]), value: [random.pick(PLANS)] };
    case 4:
      return { key: "age", type: "person", operator: random.pick(["gt", "gte", "lt", "lte"]), value: String(random.int(18, 60)) };
    case 5:
      return { key: "signup_date", type: "person", operator: random.pick(["is_date_after", "is_date_before"]), value: `202${random.int(3, 5)}-0${random.int(1, 9)}-15` };
    case 6:
      return { key: "app_version", type: "person", operator: random.pick(["semver_gte", "semver_lt"]), value: random.pick(VERSIONS.slice(0, 5)) };
    default:
      return { key: random.pick(["email", "is_beta"]), type: "person", operator: "is_set", value: "is_set" };
  }
}

function cohort(random: Random, c: number): PropertyGroup {
  const groups: PropertyGroup[] = [];
  for (let g = random.int(1, 2); g > 0; g--) {
    const values: FlagProperty[] = [];
    for (let p = random.int(1, 3); p > 0; p--) {
      const property = personProperty(random);
      if (random.chance(0.1)) property.negation = true;
      values.push(property);
    }
    if (c > 0 && random.chance(0.2)) values.push({ key: "id", type: "cohort", value: Number(cohortId(random.int(0, c - 1))) });
    groups.push({ type: "AND", values });
  }
  return { type: "OR", values: groups };
}

function variants(random: Random) {
  const count = random.int(2, 4);
  const keys = ["control", "test", "variant-b", "variant-c"].slice(0, count);
  const share = Math.floor(100 / count);
  return keys.map((key, v) => ({ key, name: `${key} arm`, rollout_percentage: v === count - 1 ? 100 - share * (count - 1) : share }));
}

function payload(random: Random, i: number) {
  return JSON.stringify({
    flag: i,
    color: random.pick(["blue", "green", "orange"]),
    limit: random.int(1, 500),
    copy: `Try the new ${WORDS[i % WORDS.length]} experience`.padEnd(random.int(40, 160), "."),
  });
}

/**
 * A project of `flagCount` flags (keys `flagKey(i)`) and `cohortCountFor(flagCount)`
 * cohorts. Projects are prefixes of one another: flag i and cohort c are the same in every
 * project that has them (each draws from its own seeded stream, and refers only to earlier
 * flags and to cohorts that every project with flag i has). So the 10 flags of the smallest
 * project are also the first 10 flags of the largest.
 */
export function generateProject(flagCount: number, seed = 20_260_601): DefinitionsResponse {
  const streamOf = (kind: number, index: number) => new Random(Math.imul(seed ^ kind, 0x9e3779b1) + Math.imul(index + 1, 0x85ebca6b));
  const cohortCount = cohortCountFor(flagCount);
  const cohorts: Record<string, PropertyGroup> = {};
  for (let c = 0; c < cohortCount; c++) cohorts[cohortId(c)] = cohort(streamOf(1, c), c);

  /** Flags others may depend on: no dependency of their own, so the chain is just them. */
  const plain: number[] = [];
  const flags: FlagDefinition[] = [];
  for (let i = 0; i < flagCount; i++) {
    const random = streamOf(2, i);
    /** Cohorts that exist in every project that has flag i. */
    const knownCohorts = cohortCountFor(i + 1);
    const groupFlag = random.chance(0.05);
    const multivariate = !groupFlag && random.chance(0.3);
    const variantList = multivariate ? variants(random) : undefined;
    const conditions: FlagCondition[] = [];
    let dependsOnFlag = false;
    for (let n = random.int(1, 3); n > 0; n--) {
      const condition: FlagCondition = { properties: [], rollout_percentage: random.pick([null, 0, 5, 10, 25, 50, 75, 100]) };
      if (groupFlag) {
        condition.properties = [
          random.chance(0.5)
            ? { key: "employees", type: "group", group_type_index: 0, operator: "gte", value: String(random.int(10, 500)) }
            : { key: "industry", type: "group", group_type_index: 0, operator: "exact", value: [random.pick(INDUSTRIES)] },
        ];
      } else {
        const roll = random.next();
        if (roll < 0.25) condition.properties = [{ key: "id", type: "cohort", value: Number(cohortId(random.int(0, knownCohorts - 1))) }];
        else if (roll < 0.35 && plain.length > 0) {
          const target = flagKey(random.pick(plain.slice(-50)));
          condition.properties = [{ key: target, type: "flag", operator: "flag_evaluates_to", value: true, dependency_chain: [target] }];
          dependsOnFlag = true;
        } else if (roll < 0.9) {
          condition.properties = Array.from({ length: random.int(1, 2) }, () => personProperty(random));
        } // else: a plain rollout to everyone
        if (variantList && random.chance(0.2)) condition.variant = random.pick(variantList).key;
      }
      conditions.push(condition);
    }
    if (!dependsOnFlag) plain.push(i);

    const payloads: Record<string, string> = {};
    if (random.chance(0.4)) {
      if (variantList) for (const variant of variantList) payloads[variant.key] = payload(random, i);
      else payloads.true = payload(random, i);
    }
    flags.push({
      id: 10_000 + i,
      team_id: 1,
      name: `${WORDS[i % WORDS.length]} experiment ${i}: ${random.pick(["rollout", "A/B test", "kill switch", "beta access"])}`,
      key: flagKey(i),
      filters: {
        groups: conditions,
        ...(variantList ? { multivariate: { variants: variantList } } : { multivariate: null }),
        ...(groupFlag ? { aggregation_group_type_index: 0 } : {}),
        payloads,
      },
      deleted: false,
      active: !random.chance(0.05),
      ensure_experience_continuity: random.chance(0.02),
      has_encrypted_payloads: false,
      version: random.int(1, 12),
      evaluation_runtime: "all",
      bucketing_identifier: null,
      evaluation_tags: [],
    });
  }
  return { flags, group_type_mapping: { "0": "company", "1": "project" }, cohorts };
}

/** One flag call's context, as both the component clients and posthog-node take it. */
export interface CallContext {
  distinctId: string;
  personProperties?: Record<string, unknown>;
  groups?: Record<string, string>;
  groupProperties?: Record<string, Record<string, unknown>>;
}

/** `count` people: most properties set, some missing (a realistic share of inconclusive answers). */
export function generateContexts(count: number, seed = 7_777): CallContext[] {
  const random = new Random(seed);
  return Array.from({ length: count }, (_, n) => {
    const personProperties: Record<string, unknown> = {
      email: `${random.pick(["alice", "bob", "carol", "dave", "erin", "mallory", "oscar", "trent"])}${n}@${random.pick(DOMAINS)}`,
      country: random.pick(COUNTRIES),
      plan: random.pick(PLANS),
      signup_date: `202${random.int(2, 6)}-${String(random.int(1, 12)).padStart(2, "0")}-${String(random.int(1, 28)).padStart(2, "0")}`,
      app_version: random.pick(VERSIONS),
    };
    if (random.chance(0.85)) personProperties.age = random.int(16, 75);
    if (random.chance(0.3)) personProperties.is_beta = random.chance(0.5);
    if (random.chance(0.1)) delete personProperties.plan;
    const context: CallContext = { distinctId: `user-${n}-${random.int(0, 1e6)}`, personProperties };
    if (random.chance(0.6)) {
      const company = `company-${random.int(1, 40)}`;
      context.groups = { company };
      context.groupProperties = { company: { employees: random.int(1, 2_000), industry: random.pick(INDUSTRIES) } };
    }
    return context;
  });
}

/** The i-th call of a plan: one of the first `flagCount` flags (spread over them) and the next context. */
export function planCall(i: number, flagCount: number, contexts: CallContext[]): { key: string; context: CallContext } {
  return { key: flagKey((i * 7_919 + 13) % flagCount), context: contexts[i % contexts.length]! };
}
