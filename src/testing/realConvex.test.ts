// The real-Convex test mode itself: convex-test, as patched by src/testing/realConvex.ts,
// behaves as the Convex backend does where plain convex-test 0.0.60 differs.
import { convexTest } from "convex-test";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { describe, expect, test } from "vitest";
import schema from "./app/schema.js";
import { api } from "./app/_generated/api.js";
import { initTestApp, useLocalPostHog, waitFor } from "./setup.js";
import { inReadRange, patchConvexTest, recordReadRanges, withRealConvexMode } from "./realConvex.js";

const server = useLocalPostHog({ POSTHOG_API_KEY: "phc_mode" });
const appModules = import.meta.glob("./app/**/*.ts");

async function seedOrders(t: ReturnType<typeof initTestApp>, count: number) {
  await t.run(async (ctx) => {
    for (let i = 0; i < count; i++) await ctx.db.insert("orders", { item: `item-${i}` });
  });
}

describe("index ranges, counted as the backend counts them", () => {
  test("each patch of a row found by a query costs one index range and one document read", async () => {
    const t = initTestApp();
    await seedOrders(t, 2000);
    // One range for the query, one per patched row; each row is read by the query and by its patch.
    expect(await t.mutation(api.realConvex.patchAllOrders, {})).toEqual({ ranges: 2001, documentsRead: 4000 });
  });

  test("a mutation patching 4,096 rows found by a query throws Convex's index-range error", async () => {
    const t = initTestApp();
    await seedOrders(t, 4096);
    await expect(t.mutation(api.realConvex.patchAllOrders, {})).rejects.toThrow(/Too many index ranges read/);
    // Plain convex-test counts only the query and lets it through.
    await withRealConvexMode({ countWriteRanges: false }, async () => {
      expect(await t.mutation(api.realConvex.patchAllOrders, {})).toMatchObject({ ranges: 1 });
    });
  });

  test("repeated gets of one id, and a patch and delete after them, cost a single range", async () => {
    const t = initTestApp();
    const id = await t.run(async (ctx) => await ctx.db.insert("orders", { item: "one" }));
    expect(await t.mutation(api.realConvex.getPatchDeleteOrder, { id })).toBe(1);
  });

  test("a component's nested mutation counts toward its caller's transaction", async () => {
    const t = initTestApp();
    const options = { flushDelayMs: 20, requestTimeoutMs: 2_000, retryInitialDelayMs: 20, retryMaxDelayMs: 200 };
    server.addFaults({ path: "/batch/", status: 400, body: "bad request" });
    await t.mutation(api.events.captureMany, { event: "e", count: 150, distinctId: "u", options });
    await waitFor("dead letters", async () => (await t.query(api.events.status, {})).deadLettered === 150);
    server.clearFaults();
    const { resent, used } = await t.mutation(api.realConvex.resendDeadLettersAndMeasure, { options });
    expect(resent).toBe(150);
    // The caller made no query of its own: every range is the component's, one per re-queued row at least.
    expect(used.databaseQueries).toBeGreaterThan(150);
  }, 30_000);
});

describe("limits", () => {
  const MiB = 1024 * 1024;
  const writeMany = async (ctx: { db: { insert(table: "orders", doc: { item: string }): Promise<unknown> } }) => {
    for (let i = 0; i < 17; i++) await ctx.db.insert("orders", { item: "x".repeat(MiB - 1024) });
  };

  test("every convexTest instance enforces the backend's limits unless it opts out", async () => {
    const legacy = convexTest(schema, appModules);
    await expect(legacy.run(writeMany)).rejects.toThrow(/Wrote too much data/);
    const withOptions = convexTest({ schema, modules: appModules });
    await expect(withOptions.run(writeMany)).rejects.toThrow(/Wrote too much data/);
    const optedOut = convexTest({ schema, modules: appModules, transactionLimits: false });
    await expect(optedOut.run(writeMany)).resolves.toBeNull();
  });
});

describe("scheduled functions", () => {
  test("a running scheduled mutation reads its own job as pending; an action as inProgress", async () => {
    const t = initTestApp();
    await t.mutation(api.realConvex.scheduleSelfObservers, {});
    await t.finishInProgressScheduledFunctions();
    const seen = await waitFor("both observations", async () => {
      const rows = await t.run(async (ctx) => await ctx.db.query("observations").collect());
      return rows.length === 2 ? rows : null;
    });
    expect(Object.fromEntries(seen!.map((row) => [row.observer, row.state]))).toEqual({ mutation: "pending", action: "inProgress" });
    // Once done, both jobs read as success.
    const states = await t.run(async (ctx) => (await ctx.db.system.query("_scheduled_functions").collect()).map((job) => job.state.kind));
    expect(states).toEqual(["success", "success"]);
  });
});

describe("read ranges", () => {
  test("records the index range a query reads, and tells which documents fall in it", async () => {
    const t = initTestApp();
    await t.mutation(api.events.captureMany, { event: "e", count: 1, distinctId: "u", options: { flushDelayMs: 60_000 } });
    const recording = recordReadRanges();
    try {
      await t.query(api.events.status, {});
    } finally {
      recording.stop();
    }
    const pendingRange = recording.ranges.find((r) => r.table === "events" && r.bounds.some((b) => b.value === "pending"));
    expect(pendingRange).toMatchObject({ componentPath: "posthog", index: "by_status", bounds: [{ type: "Eq", field: "status", value: "pending" }] });
    expect(inReadRange(pendingRange!, "events", { status: "pending" })).toBe(true);
    expect(inReadRange(pendingRange!, "events", { status: "dead" })).toBe(false);
    expect(inReadRange(pendingRange!, "eventBodies", { status: "pending" })).toBe(false);
  });
});

describe("the patch of convex-test", () => {
  test("fails loudly when the code it rewrites is not there", () => {
    const source = readFileSync(createRequire(import.meta.url).resolve("convex-test"), "utf8");
    expect(() => patchConvexTest(source)).not.toThrow();
    expect(() => patchConvexTest(source.replace(`case "1.0/remove": {`, `case "1.0/delete": {`))).toThrow(
      /cannot patch convex-test \(db.delete range\): the code it rewrites was not found/,
    );
  });
});
