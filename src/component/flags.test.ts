// Local evaluation through the whole stack: definitions refreshed from the local server into
// the component, read by the client inside queries and mutations.
import vectorsJson from "../testing/fixtures/conformance-vectors.json?raw";
import { afterEach, describe, expect, test, vi } from "vitest";
import { api } from "../testing/app/_generated/api.js";
import { initTestApp, useLocalPostHog } from "../testing/setup.js";

import { INCONCLUSIVE, sameJson, type VectorFile } from "../testing/conformance.js";

const TOKEN = "phc_eval";
const server = useLocalPostHog({ POSTHOG_API_KEY: TOKEN, POSTHOG_PERSONAL_API_KEY: "phx_eval" });
afterEach(() => vi.useRealTimers());

type T = ReturnType<typeof initTestApp>;
async function load(t: T, definitions: unknown) {
  server.setDefinitions(definitions, { token: TOKEN });
  const outcome = await t.action(api.flags.refresh, {});
  expect(outcome).toMatchObject({ result: expect.stringMatching(/^(updated|not_modified)$/) });
}
const ctxJson = (c: { distinctId: string; groups?: unknown; personProperties?: unknown; groupProperties?: unknown }) =>
  JSON.stringify(c);

describe("conformance through the component", () => {
  test("every conformance case gives posthog-node's answer when read through the client in a query", async () => {
    const vectors = JSON.parse(vectorsJson) as VectorFile;
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(new Date(vectors.now)); // relative dates count back from the vectors' "now"
    const t = initTestApp();
    const failures: unknown[] = [];
    let checked = 0;
    for (const set of vectors.sets) {
      await load(t, set.definitions); // one project, refreshed set after set: diffs every time
      for (const c of set.cases) {
        const context = ctxJson(c);
        if (c.kind === "all") {
          const { featureFlags, featureFlagPayloads } = JSON.parse(await t.query(api.flags.allFlags, { context }));
          const values = Object.fromEntries(set.definitions.flags.map((f) => [f.key, featureFlags[f.key] ?? INCONCLUSIVE]));
          if (!sameJson(values, c.expected)) failures.push({ set: set.id, c, got: values });
          if (c.expected_payloads && !sameJson(featureFlagPayloads, c.expected_payloads)) failures.push({ set: set.id, c, got: featureFlagPayloads });
        } else {
          const result = JSON.parse(await t.query(api.flags.flagResult, { key: c.key, context }));
          const got = result.value === undefined ? INCONCLUSIVE : c.kind === "flag" ? result.value : result.payload;
          if (!sameJson(got, c.expected)) failures.push({ set: set.id, c, got });
        }
        checked++;
      }
    }
    expect(failures.slice(0, 5)).toEqual([]);
    expect(checked).toBe(7752);
  }, 300_000);
});

describe("reads", () => {
  test("a query reading one flag reads the same few documents in a project of 2 flags or 2,000", async () => {
    const flag = (key: string) => ({ id: 1, key, active: true, filters: { groups: [{ properties: [], rollout_percentage: 50 }] } });
    const readA = async (t: T) => await t.query(api.flags.readFlag, { key: "a", context: ctxJson({ distinctId: "u" }) });
    const small = initTestApp();
    await load(small, { flags: [flag("a"), flag("b")], group_type_mapping: {}, cohorts: {} });
    const large = initTestApp();
    await load(large, { flags: [flag("a"), ...Array.from({ length: 1999 }, (_, i) => flag(`f${i}`))], group_type_mapping: {}, cohorts: {} });
    const [inSmall, inLarge] = [await readA(small), await readA(large)];
    expect(inLarge.value).toBe(inSmall.value);
    expect(inLarge.documentsRead).toBe(inSmall.documentsRead);
    expect(inLarge.bytesRead).toBe(inSmall.bytesRead);
    // getFeatureFlagResult alone reads the meta row and flag a: 2 documents.
    expect(inSmall.documentsRead).toBe(2);
  }, 60_000);

  test("a flag reads its cohorts and dependency chain, and nothing else", async () => {
    const t = initTestApp();
    await load(t, {
      flags: [
        { id: 1, key: "base", active: true, filters: { groups: [{ properties: [{ key: "7", type: "cohort", value: 7 }] }] } },
        {
          id: 2,
          key: "dependent",
          active: true,
          filters: { groups: [{ properties: [{ key: "base", type: "flag", value: true, operator: "flag_evaluates_to", dependency_chain: ["base"] }] }] },
        },
        { id: 3, key: "unrelated", active: true, filters: { groups: [{ properties: [] }] } },
      ],
      group_type_mapping: {},
      cohorts: { "7": { type: "OR", values: [{ type: "AND", values: [{ key: "plan", type: "person", value: "pro" }] }] }, "8": {} },
    });
    const r = await t.query(api.flags.readFlag, { key: "dependent", context: ctxJson({ distinctId: "u", personProperties: { plan: "pro" } }) });
    expect(r.value).toBe(true);
    expect(r.documentsRead).toBe(4); // meta, dependent, base, cohort 7
  });
});

describe("client methods", () => {
  const definitions = {
    flags: [
      {
        id: 11,
        key: "device-bucketed",
        active: true,
        bucketing_identifier: "device_id",
        filters: { groups: [{ properties: [{ key: "$browser", type: "person", value: "Chrome" }], rollout_percentage: 100 }] },
      },
      {
        id: 12,
        key: "checkout",
        active: true,
        filters: {
          groups: [{ properties: [], rollout_percentage: 100 }],
          multivariate: { variants: [{ key: "control", rollout_percentage: 50 }, { key: "test", rollout_percentage: 50 }] },
          payloads: { control: '{"$color":"blue"}', test: '{"$color":"green"}' },
        },
      },
      { id: 13, key: "company-flag", active: true, filters: { aggregation_group_type_index: 0, groups: [{ properties: [{ key: "tier", type: "group", value: "gold", group_type_index: 0 }] }] } },
    ],
    group_type_mapping: { "0": "company" },
    cohorts: {},
  };

  test("$-prefixed properties and payload keys work; missing context says so", async () => {
    const t = initTestApp();
    await load(t, definitions);
    const withDevice = await t.query(api.flags.readFlag, {
      key: "device-bucketed",
      context: ctxJson({ distinctId: "u", personProperties: { $device_id: "d-1", $browser: "Chrome" } }),
    });
    expect(withDevice.value).toBe(true);
    const withoutDevice = JSON.parse(
      (await t.query(api.flags.readFlag, { key: "device-bucketed", context: ctxJson({ distinctId: "u", personProperties: { $browser: "Chrome" } }) })).result,
    );
    // Undecided: off, no variant or payload, and why (the undefined value vanishes in JSON).
    expect(withoutDevice).toEqual({ key: "device-bucketed", enabled: false, variant: null, payload: null, reason: "missing_context", flagId: 11 });
    const variant = await t.query(api.flags.readFlag, { key: "checkout", context: ctxJson({ distinctId: "u" }) });
    expect(["control", "test"]).toContain(variant.value);
    expect(JSON.parse(variant.payload)).toEqual({ $color: variant.value === "control" ? "blue" : "green" });
    expect(JSON.parse(variant.result)).toMatchObject({ enabled: true, variant: variant.value, reason: "evaluated_locally", flagId: 12 });
    expect(JSON.parse(await t.query(api.flags.payloadFor, { key: "checkout", matchValue: "test" }))).toEqual({ $color: "green" });
  });

  test("group flags, getAllFlags with flagKeys, and an empty distinctId", async () => {
    const t = initTestApp();
    await load(t, definitions);
    const all = async (context: unknown, flagKeys?: string[]) => JSON.parse(await t.query(api.flags.allFlags, { context: JSON.stringify(context), flagKeys }));
    const gold = await all({ distinctId: "u", groups: { company: "acme" }, groupProperties: { company: { tier: "gold" } } });
    expect(gold.featureFlags["company-flag"]).toBe(true);
    expect(gold.featureFlags).not.toHaveProperty("device-bucketed"); // undecidable: left out
    expect((await all({ distinctId: "u" })).featureFlags["company-flag"]).toBe(false); // group not passed
    expect(Object.keys((await all({ distinctId: "u" }, ["checkout"])).featureFlags)).toEqual(["checkout"]);
    expect(await all({ distinctId: "" })).toEqual({ featureFlags: {}, featureFlagPayloads: {} });
  });

  test("flags read in a mutation evaluate the same as in a query", async () => {
    const t = initTestApp();
    await load(t, definitions);
    const inQuery = (await t.query(api.flags.readFlag, { key: "checkout", context: ctxJson({ distinctId: "m" }) })).value;
    expect(await t.mutation(api.flags.flagInMutation, { key: "checkout", distinctId: "m" })).toBe(inQuery);
  });
});
