// A large project: 5,000 flags and 500 cohorts refresh and evaluate within Convex's
// transaction limits (the real-Convex test mode counts and enforces them as the backend does,
// src/testing/realConvex.ts), whatever the diff, and reads of every flag stay well inside them.
import { expect, test } from "vitest";
import { api } from "../testing/app/_generated/api.js";
import { initTestApp, useLocalPostHog } from "../testing/setup.js";
import { FlagEvaluator } from "../core/flags/index.js";
import { definitionSourceFromResponse, type DefinitionsResponse } from "../testing/conformance.js";
import { growFlags } from "../testing/largeProject.js";

const server = useLocalPostHog({ POSTHOG_API_KEY: "phc_scale", POSTHOG_PERSONAL_API_KEY: "phx_scale" });

/** A realistic large project: varied conditions, cohorts that nest, some dependencies. */
function largeProject(flagCount: number, cohortCount: number): DefinitionsResponse {
  const cohorts: Record<string, unknown> = {};
  for (let c = 0; c < cohortCount; c++) {
    const leaf = { key: "plan", type: "person", operator: "exact", value: c % 2 === 0 ? ["pro", "team"] : "free" };
    const nested = c > 0 && c % 5 === 0 ? [{ key: "id", type: "cohort", value: c - 1 }] : [];
    cohorts[String(c)] = { type: "OR", values: [{ type: "AND", values: [leaf, ...nested, { key: "email", type: "person", operator: "icontains", value: `@org${c}.com` }] }] };
  }
  const flags = Array.from({ length: flagCount }, (_, i) => {
    const conditions: unknown[] = [
      { properties: [{ key: "id", type: "cohort", value: i % cohortCount }], rollout_percentage: 60 },
      { properties: [{ key: "country", type: "person", operator: "exact", value: ["US", "CA", "GB"] }], rollout_percentage: 30 + (i % 70) },
    ];
    if (i > 0 && i % 10 === 0) {
      conditions.push({ properties: [{ key: `flag-${i - 1}`, type: "flag", operator: "flag_evaluates_to", value: true, dependency_chain: [`flag-${i - 1}`] }] });
    }
    return {
      id: i + 1,
      key: `flag-${i}`,
      active: true,
      filters: {
        groups: conditions,
        ...(i % 3 === 0 ? { multivariate: { variants: [{ key: "a", rollout_percentage: 50 }, { key: "b", rollout_percentage: 50 }] } } : {}),
        payloads: { true: JSON.stringify({ i, description: "x".repeat(200) }) },
      },
    };
  });
  return { flags, group_type_mapping: { "0": "company" }, cohorts } as unknown as DefinitionsResponse;
}

test("5,000 flags and 500 cohorts refresh and evaluate within transaction limits, as the evaluator decides", async () => {
  const project = largeProject(5000, 500);
  server.setDefinitions(project, { token: "phc_scale" });
  const t = initTestApp({ transactionLimits: true });
  expect(await t.action(api.flags.refresh, {})).toMatchObject({ result: "updated", flagsChanged: 5000, cohortsChanged: 500 });
  expect(await t.action(api.flags.refresh, {})).toMatchObject({ result: "not_modified" });

  // Change one flag: the refresh rewrites one row.
  project.flags[1234] = { ...project.flags[1234]!, active: false };
  server.setDefinitions(project, { token: "phc_scale" });
  expect(await t.action(api.flags.refresh, {})).toMatchObject({ result: "updated", flagsChanged: 1, flagsRemoved: 0 });

  const person = { distinctId: "user-7", personProperties: { plan: "pro", email: "a@org4.com", country: "US" } };
  const expected = new FlagEvaluator(definitionSourceFromResponse(project), { ...person, now: Date.now() });
  for (const key of ["flag-0", "flag-10", "flag-1234", "flag-4999", "flag-2500"]) {
    const read = await t.query(api.flags.readFlag, { key, context: JSON.stringify(person) });
    const want = expected.evaluate(key);
    expect(read.value).toEqual(want.resolved ? want.value : undefined);
  }
  // 100 flag reads in one query at 5,000 flags stay within the limits.
  expect(await t.query(api.flags.readFlagManyTimes, { key: "flag-4999", distinctId: "u", calls: 100 })).toBeGreaterThanOrEqual(0);
  // getAllFlags reads every flag: it must still fit one query.
  const all = JSON.parse(await t.query(api.flags.allFlags, { context: JSON.stringify(person) }));
  expect(Object.keys(all.featureFlags).length).toBe(5000);
}, 120_000);

const MiB = 2 ** 20;
/** Convex's read limits per transaction. */
const READ_LIMITS = { bytesRead: 16 * MiB, documentsRead: 32_000, databaseQueries: 4_096 };
const PERSON = { distinctId: "user-7", personProperties: { plan: "pro", email: "a@org4.com", country: "US" } };

/** 5,000 flags of about 3 KB each (a 15 MB answer) and 500 cohorts. */
function bigProject(): DefinitionsResponse {
  return growFlags(largeProject(5000, 500), 3000);
}

async function loaded(project: DefinitionsResponse) {
  server.setDefinitions(project, { token: "phc_scale" });
  const t = initTestApp({ transactionLimits: true });
  expect(await t.action(api.flags.refresh, {})).toMatchObject({ result: "updated", flagsChanged: 5000, cohortsChanged: 500 });
  return t;
}

/** Every flag's value as the evaluator decides it for PERSON. */
function expectedValues(project: DefinitionsResponse) {
  const evaluator = new FlagEvaluator(definitionSourceFromResponse(project), { ...PERSON, now: Date.now() });
  const values: Record<string, unknown> = {};
  for (const flag of project.flags) {
    const result = evaluator.evaluate(flag.key);
    if (result.resolved) values[flag.key] = result.value;
  }
  return values;
}

async function allFlags(t: ReturnType<typeof initTestApp>) {
  return JSON.parse(await t.query(api.flags.allFlags, { context: JSON.stringify(PERSON) })).featureFlags as Record<string, unknown>;
}

/** A later change of one flag is applied alone: nothing of an earlier refresh is left to apply. */
async function oneMoreChangeApplies(t: ReturnType<typeof initTestApp>, project: DefinitionsResponse) {
  const flags = project.flags.map((flag, i) => (i === 0 ? { ...flag, active: !flag.active } : flag));
  const next = { ...project, flags };
  server.setDefinitions(next, { token: "phc_scale" });
  expect(await t.action(api.flags.refresh, {})).toMatchObject({ result: "updated", flagsChanged: 1, flagsRemoved: 0, cohortsChanged: 0 });
  expect(await allFlags(t)).toEqual(expectedValues(next));
}

test("reading every flag at 5,000 flags of 3 KB uses under half of each read limit, with the evaluator's values", async () => {
  const project = bigProject();
  expect(JSON.stringify(project).length).toBeGreaterThan(15_000_000);
  const t = await loaded(project);
  const expected = expectedValues(project);
  for (const method of ["getAllFlags", "getAllFlagsAndPayloads", "evaluateFlags"] as const) {
    const read = await t.query(api.flags.allFlagsWithMetrics, { context: JSON.stringify(PERSON), method });
    const answer = JSON.parse(read.answer);
    const values = method === "evaluateFlags" ? Object.fromEntries(Object.entries(answer.flags).map(([k, r]) => [k, (r as { value: unknown }).value])) : answer.featureFlags;
    expect(values).toEqual(expected);
    if (method === "getAllFlagsAndPayloads") expect(Object.keys(answer.featureFlagPayloads).length).toBeGreaterThan(1000);
    // Under half of every limit, with room to spare (today's rows read 99% of the bytes).
    expect(read.bytesRead).toBeLessThan(0.35 * READ_LIMITS.bytesRead);
    expect(read.documentsRead).toBeLessThan(0.35 * READ_LIMITS.documentsRead);
    expect(read.databaseQueries).toBeLessThan(0.35 * READ_LIMITS.databaseQueries);
  }
  // capture with sendFeatureFlags evaluates every flag inside the caller's mutation: the same margin.
  const capture = await t.mutation(api.flags.captureWithFlagsMetrics, { distinctId: PERSON.distinctId, event: "scaled" });
  expect(capture.bytesRead).toBeLessThan(0.35 * READ_LIMITS.bytesRead);
  expect(capture.documentsRead).toBeLessThan(0.35 * READ_LIMITS.documentsRead);
  expect(capture.databaseQueries).toBeLessThan(0.35 * READ_LIMITS.databaseQueries);
  expect(capture.bytesRead).toBeGreaterThan(1_000_000); // it did read the flags
}, 600_000);

test("all 5,000 flags changing at once are applied, and later refreshes apply what follows", async () => {
  const project = largeProject(5000, 500);
  const t = await loaded(project);
  // PostHog adds a field to every flag and changes every rollout.
  const changed = {
    ...project,
    flags: project.flags.map((flag) => ({
      ...flag,
      has_experiment: false,
      filters: { ...flag.filters, groups: flag.filters!.groups!.map((g) => ({ ...g, rollout_percentage: 40 })) },
    })),
  };
  server.setDefinitions(changed, { token: "phc_scale" });
  expect(await t.action(api.flags.refresh, {})).toMatchObject({ result: "updated", flagsChanged: 5000, flagsRemoved: 0 });
  expect(await allFlags(t)).toEqual(expectedValues(changed));
  await oneMoreChangeApplies(t, changed);
}, 600_000);

test("a 402 after 5,000 flags clears them, and a later 200 restores them", async () => {
  const project = largeProject(5000, 500);
  const t = await loaded(project);
  server.addFaults({ path: "/flags/definitions", status: 402, times: 1 });
  expect(await t.action(api.flags.refresh, {})).toMatchObject({ result: "quota_limited" });
  expect(await allFlags(t)).toEqual({});
  server.setDefinitions(project, { token: "phc_scale", etag: "after-402" });
  expect(await t.action(api.flags.refresh, {})).toMatchObject({ result: "updated", flagsChanged: 5000, cohortsChanged: 500 });
  await oneMoreChangeApplies(t, project);
}, 600_000);

test("3,000 of 5,000 flags deleted at once are removed, and later refreshes apply what follows", async () => {
  const project = largeProject(5000, 500);
  const t = await loaded(project);
  const kept = { ...project, flags: project.flags.filter((_, i) => i % 5 === 0 || i % 5 === 3) };
  expect(kept.flags).toHaveLength(2000);
  server.setDefinitions(kept, { token: "phc_scale" });
  expect(await t.action(api.flags.refresh, {})).toMatchObject({ result: "updated", flagsChanged: 0, flagsRemoved: 3000 });
  expect(await allFlags(t)).toEqual(expectedValues(kept));
  await oneMoreChangeApplies(t, kept);
}, 600_000);
