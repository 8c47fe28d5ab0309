// What refreshes write, seen from the component's own tables: one row per definition, only
// changed rows rewritten, nothing of the personal API key anywhere, reads limited to what a
// flag needs.
import { expect, test } from "vitest";
import { api } from "./_generated/api.js";
import { initComponent, useLocalPostHog } from "../testing/setup.js";

const TOKEN = "phc_rows";
const PERSONAL_KEY = "phx_never_store_me";
const server = useLocalPostHog();

const flag = (key: string, rollout: number, extra: Record<string, unknown> = {}) => ({
  id: 1,
  key,
  active: true,
  filters: { groups: [{ properties: [], rollout_percentage: rollout }] },
  ...extra,
});
type T = ReturnType<typeof initComponent>;
const refresh = (t: T) => t.action(api.definitions.refresh, { host: server.url, apiKey: TOKEN, personalApiKey: PERSONAL_KEY });
const evaluate = async (t: T, key: string) =>
  JSON.parse(await t.query(api.flags.evaluate, { context: JSON.stringify({ distinctId: "u" }), keys: [key] }));

test("a refresh where only flag B changed rewrites only B's row and removes deleted flags", async () => {
  const t = initComponent();
  const cohortUser = { key: "in-cohort", type: "cohort", value: 7 };
  const first = {
    flags: [flag("a", 100), flag("b", 100), flag("c", 100), flag("d", 100, { filters: { groups: [{ properties: [cohortUser] }] } })],
    group_type_mapping: {},
    cohorts: { "7": { type: "AND", values: [] } },
  };
  server.setDefinitions(first, { token: TOKEN });
  expect(await refresh(t)).toMatchObject({ result: "updated", flagsChanged: 4, cohortsChanged: 1 });

  // Mark stored definitions in place (their hashes unchanged): a rewritten row loses its mark.
  const mark = (definition: string) => JSON.stringify({ ...JSON.parse(definition), _mark: "untouched" });
  const marked = await t.run(async (ctx) => {
    for (const row of await ctx.db.query("flagDefinitions").collect()) await ctx.db.patch(row._id, { definition: mark(row.definition) });
    for (const row of await ctx.db.query("cohortDefinitions").collect()) await ctx.db.patch(row._id, { definition: mark(row.definition) });
    return (await ctx.db.query("flagDefinitions").collect()).length;
  });
  expect(marked).toBe(4);

  server.setDefinitions({ ...first, flags: [flag("a", 100), flag("b", 0), flag("d", 100, { filters: { groups: [{ properties: [cohortUser] }] } })] }, { token: TOKEN });
  expect(await refresh(t)).toMatchObject({ result: "updated", flagsChanged: 1, flagsRemoved: 1, cohortsChanged: 0, cohortsRemoved: 0 });
  const markOf = (definition: string) => (JSON.parse(definition) as { _mark?: string })._mark ?? "rewritten";
  const rows = await t.run(async (ctx) => ({
    flags: Object.fromEntries((await ctx.db.query("flagDefinitions").collect()).map((r) => [r.key, markOf(r.definition)])),
    cohorts: (await ctx.db.query("cohortDefinitions").collect()).map((r) => markOf(r.definition)),
  }));
  expect(rows).toEqual({ flags: { a: "untouched", b: "rewritten", d: "untouched" }, cohorts: ["untouched"] });
  expect((await evaluate(t, "b")).results[0]).toMatchObject({ resolved: true, value: false });
  expect((await evaluate(t, "c")).results[0]).toMatchObject({ resolved: false, reason: "unknown_flag" });
});

test("nothing the component stores or schedules contains the personal API key", async () => {
  const t = initComponent();
  server.setDefinitions({ flags: [flag("a", 100)], group_type_mapping: {}, cohorts: {} }, { token: TOKEN });
  await refresh(t);
  await refresh(t); // 304
  server.addFaults({ path: "/flags/definitions", status: 401, times: 1 });
  await refresh(t);
  const everything = await t.run(async (ctx) => {
    const tables = ["events", "eventBodies", "deliveryTriggers", "leases", "deliveryState", "flagDefinitions", "cohortDefinitions", "definitionHashes", "definitionsMeta", "refreshState"] as const;
    const dump: unknown[] = [await ctx.db.system.query("_scheduled_functions").collect()];
    for (const table of tables) dump.push(await ctx.db.query(table).collect());
    return JSON.stringify(dump);
  });
  expect(everything).toMatch(/"key":"a"/); // the dump really holds the stored definitions
  expect(everything).not.toContain(PERSONAL_KEY);
});

test("402 leaves no definition rows", async () => {
  const t = initComponent();
  server.setDefinitions({ flags: [flag("a", 100), flag("b", 100)], group_type_mapping: {}, cohorts: { "1": {} } }, { token: TOKEN });
  await refresh(t);
  server.addFaults({ path: "/flags/definitions", status: 402, times: 1 });
  expect(await refresh(t)).toMatchObject({ result: "quota_limited" });
  const counts = await t.run(async (ctx) => [
    (await ctx.db.query("flagDefinitions").collect()).length,
    (await ctx.db.query("cohortDefinitions").collect()).length,
    (await ctx.db.query("definitionHashes").collect()).length,
  ]);
  expect(counts).toEqual([0, 0, 0]);
  expect(await evaluate(t, "a")).toEqual({ state: "quota_limited" });
});

test("a definition too large for a document is reported by name, and the others are stored", async () => {
  const t = initComponent();
  // Evaluation reads payloads; it does not read descriptions, which are not stored (see below).
  const huge = flag("huge", 100, { filters: { groups: [{ properties: [], rollout_percentage: 100 }], payloads: { true: "x".repeat(1_100_000) } } });
  server.setDefinitions({ flags: [flag("a", 100), huge], group_type_mapping: {}, cohorts: {} }, { token: TOKEN });
  const outcome = await refresh(t);
  expect(outcome.result).toBe("applied_with_errors");
  expect(outcome.error).toMatch(/too large to store.*flag huge/);
  expect((await evaluate(t, "a")).results[0]).toMatchObject({ resolved: true, value: true });
  expect((await evaluate(t, "huge")).results[0]).toMatchObject({ resolved: false, reason: "unknown_flag" });
});

const evaluateAll = async (t: T) =>
  JSON.parse(await t.query(api.flags.evaluate, { context: JSON.stringify({ distinctId: "u" }) })) as { results: Array<{ key: string; value?: unknown }> };

test("reads of every flag read the packs; a change of one flag rewrites one pack", async () => {
  const t = initComponent();
  // About 400 KB of definitions: two packs.
  const padded = (key: string, rollout: number) => flag(key, rollout, { filters: { groups: [{ properties: [], rollout_percentage: rollout }], payloads: { true: JSON.stringify("p".repeat(1000)) } } });
  const flags = Array.from({ length: 400 }, (_, i) => padded(`f${i}`, 100));
  server.setDefinitions({ flags, group_type_mapping: {}, cohorts: {} }, { token: TOKEN });
  await refresh(t);
  const packs = () => t.run(async (ctx) => (await ctx.db.query("definitionPacks").collect()).map((p) => ({ name: p.name, data: Array.from(new Uint8Array(p.data)).join() })));
  const before = await packs();
  expect(before.map((p) => p.name).sort()).toEqual(["0/2", "1/2"]);
  expect((await evaluateAll(t)).results.filter((r) => r.value === true)).toHaveLength(400);

  server.setDefinitions({ flags: flags.map((f, i) => (i === 17 ? padded("f17", 0) : f)), group_type_mapping: {}, cohorts: {} }, { token: TOKEN });
  expect(await refresh(t)).toMatchObject({ flagsChanged: 1 });
  const after = await packs();
  expect(after.filter((p) => before.find((b) => b.name === p.name)!.data !== p.data)).toHaveLength(1);
  const all = await evaluateAll(t);
  expect(all.results.find((r) => r.key === "f17")).toMatchObject({ value: false });
  expect(all.results.filter((r) => r.value === true)).toHaveLength(399);
});

test("a flag too large for a pack is read from its row by reads of every flag", async () => {
  const t = initComponent();
  const big = flag("big", 100, { filters: { groups: [{ properties: [], rollout_percentage: 100 }], payloads: { true: JSON.stringify("b".repeat(200_000)) } } });
  server.setDefinitions({ flags: [flag("a", 0), big], group_type_mapping: {}, cohorts: {} }, { token: TOKEN });
  expect(await refresh(t)).toMatchObject({ result: "updated", flagsChanged: 2 });
  const all = await evaluateAll(t);
  expect(all.results.map((r) => [r.key, r.value])).toEqual([["a", false], ["big", true]]);
  expect((all.results[1] as { payload?: string }).payload).toHaveLength(200_000);
});

test("definitions stored before packs existed are read from their rows until the next refresh writes packs", async () => {
  const t = initComponent();
  server.setDefinitions({ flags: [flag("a", 100), flag("b", 0)], group_type_mapping: {}, cohorts: {} }, { token: TOKEN });
  await refresh(t);
  // What an older version left: rows and hashes without ids or sizes, no packs, a meta row without `packed`.
  await t.run(async (ctx) => {
    for (const pack of await ctx.db.query("definitionPacks").collect()) await ctx.db.delete(pack._id);
    for (const hash of await ctx.db.query("definitionHashes").collect()) {
      if (hash.kind === "flagPack" || hash.kind === "cohortPack") await ctx.db.delete(hash._id);
      else await ctx.db.replace(hash._id, { kind: hash.kind, name: hash.name, hash: "old-format" });
    }
    const meta = (await ctx.db.query("definitionsMeta").first())!;
    await ctx.db.replace(meta._id, { groupTypeMapping: meta.groupTypeMapping, available: true });
  });
  expect((await evaluateAll(t)).results.map((r) => [r.key, r.value])).toEqual([["a", true], ["b", false]]);
  // PostHog has nothing new (it would answer our ETag with 304), yet the refresh asks for the
  // whole answer once, so the packs get written.
  expect(await refresh(t)).toMatchObject({ result: "updated" });
  expect(await t.run(async (ctx) => (await ctx.db.query("definitionPacks").collect()).length)).toBe(1);
  expect(await refresh(t)).toMatchObject({ result: "not_modified" });

  server.setDefinitions({ flags: [flag("a", 100), flag("c", 100)], group_type_mapping: {}, cohorts: {} }, { token: TOKEN, etag: "next" });
  expect(await refresh(t)).toMatchObject({ result: "updated", flagsChanged: 1, flagsRemoved: 1 });
  expect((await evaluateAll(t)).results.map((r) => [r.key, r.value])).toEqual([["a", true], ["c", true]]);
  const stored = await t.run(async (ctx) => ({
    flags: (await ctx.db.query("flagDefinitions").collect()).map((r) => r.key).sort(),
    packs: (await ctx.db.query("definitionPacks").collect()).length,
    hashesWithIds: (await ctx.db.query("definitionHashes").collect()).every((h) => h.row !== undefined),
  }));
  expect(stored).toEqual({ flags: ["a", "c"], packs: 1, hashesWithIds: true });
});
