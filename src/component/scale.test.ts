// A large project: 5,000 flags and 500 cohorts refresh and evaluate within Convex's
// transaction limits (convex-test enforces them with transactionLimits: true).
import { expect, test } from "vitest";
import { api } from "../testing/app/_generated/api.js";
import { initTestApp, useLocalPostHog } from "../testing/setup.js";
import { FlagEvaluator } from "../core/flags/index.js";
import { definitionSourceFromResponse, type DefinitionsResponse } from "../testing/conformance.js";

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
