/// <reference types="vite/client" />
// Guardian tallies: what counting delivered events per (flag, variant, bucket) costs the
// delivery path, with tallies on (3 watched flags, a success event, usage) against off (no
// watch), on the same 2,000 events stamped with 3 flags, alternating in the same run; and
// what a capture writes with tallies on and off. Printed, not written to results.json.
import { convexTest } from "convex-test";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import schema from "../src/component/schema.js";
import { api, internal } from "../src/component/_generated/api.js";
import { enqueueMessage } from "../src/component/events.js";
import { tallyMessages } from "../src/core/governance/tally.js";
import { buildCaptureMessage, outboxMessage } from "../src/core/messages.js";
import { startLocalPostHog, type LocalPostHog } from "../src/local-server/server.js";
import { formatRatio, formatTable, median } from "./harness.js";
import { PAGE_VIEWED_PROPERTIES } from "./pageViewed.js";

const modules = import.meta.glob("../src/component/**/*.ts");
const EVENTS = 2_000;
const ROUNDS = 5;
const USERS = 300;
/** No slot deliveries: only the timed flush sends. */
const OPTIONS = { flushDelayMs: 600_000, requestTimeoutMs: 30_000 };
const WATCH = {
  flags: [
    { key: "new-checkout", mode: "monitor" as const },
    { key: "pricing-layout", mode: "monitor" as const },
    { key: "search-v2", mode: "enforce" as const },
  ],
  successEvent: { event: "order placed", property: "paid" },
  bucketMs: 60_000,
  retainMs: 60 * 60_000,
};

const lib = { name: "convex-posthog", version: "bench" };
/** The same 2,000 messages for every run: page views and some orders, stamped with 3 flags. */
const messages = Array.from({ length: EVENTS }, (_, i) => {
  const distinctId = `user-${i % USERS}`;
  const order = i % 5 === 0;
  return outboxMessage(
    buildCaptureMessage(
      {
        distinctId,
        event: order ? "order placed" : "page viewed",
        properties: {
          ...PAGE_VIEWED_PROPERTIES,
          ...(order ? { paid: i % 3 !== 0 } : {}),
          i,
          "$feature/new-checkout": i % 2 === 0,
          "$feature/pricing-layout": ["control", "wide", "compact"][i % 3],
          "$feature/search-v2": i % 7 !== 0,
          $active_feature_flags: ["new-checkout", "pricing-layout", "search-v2"],
        },
      },
      { lib, now: Date.now() },
    ),
  );
});

describe.skipIf(!process.env.CONVEX_POSTHOG_BENCH)("guardian tallies on the delivery path", () => {
  let server: LocalPostHog;
  beforeAll(async () => {
    server = await startLocalPostHog();
  });
  afterAll(async () => await server.close());

  async function instance(tallies: boolean) {
    const t = convexTest({ schema, modules, transactionLimits: true });
    if (tallies) {
      await t.mutation(internal.governance.tallies.watch, WATCH);
      await t.mutation(internal.governance.tallies.trackUsage, { on: true });
    }
    return t;
  }

  /** Queue the events (500 per transaction, as captures would write them), then time one flush. */
  async function deliveryRun(tallies: boolean) {
    const t = await instance(tallies);
    const destination = { host: server.url, apiKey: `phc_tallies_${tallies ? "on" : "off"}` };
    for (let start = 0; start < EVENTS; start += 500) {
      await t.run(async (ctx) => {
        for (const message of messages.slice(start, start + 500)) await enqueueMessage(ctx, destination, message, OPTIONS);
      });
    }
    const started = performance.now();
    const result = await t.action(api.delivery.flush, { options: OPTIONS });
    const elapsedMs = performance.now() - started;
    expect(result).toEqual({ delivered: EVENTS, retrying: 0, deadLettered: 0 });
    const rows = await t.run(async (ctx) => (await ctx.db.query("guardianTallies").collect()).length);
    expect(rows > 0).toBe(tallies);
    server.reset();
    return elapsedMs;
  }

  /** What one capture's transaction writes and reads (the same enqueueMessage events.enqueue runs). */
  async function captureCost(tallies: boolean) {
    const t = await instance(tallies);
    const destination = { host: server.url, apiKey: "phc_capture" };
    await t.run(async (ctx) => await enqueueMessage(ctx, destination, messages[0]!, OPTIONS)); // the slot's trigger
    return await t.run(async (ctx) => {
      await enqueueMessage(ctx, destination, messages[1]!, OPTIONS);
      const metrics = await ctx.meta.getTransactionMetrics();
      return { documentsWritten: metrics.documentsWritten.used, documentsRead: metrics.documentsRead.used };
    });
  }

  test("delivery time with tallies on vs off, and capture writes", async () => {
    await deliveryRun(false); // warm-up: module loading, JIT
    await deliveryRun(true);
    const off: number[] = [];
    const on: number[] = [];
    const ratios: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate which goes first, so a slow moment of the machine falls on both.
      const first = round % 2 === 0;
      const a = await deliveryRun(first);
      const b = await deliveryRun(!first);
      const [onMs, offMs] = first ? [a, b] : [b, a];
      on.push(onMs);
      off.push(offMs);
      ratios.push(onMs / offMs);
    }
    const started = performance.now();
    const watch = { keys: WATCH.flags.map((f) => f.key), successEvent: WATCH.successEvent, bucketMs: WATCH.bucketMs, usage: true };
    for (let i = 0; i < 10; i++) tallyMessages(messages.map((m) => m.message), watch);
    const tallyOnlyMs = (performance.now() - started) / 10;

    const captureOff = await captureCost(false);
    const captureOn = await captureCost(true);
    expect(captureOn).toEqual(captureOff);

    console.log(
      `\nGuardian tallies: flush of ${EVENTS} events stamped with 3 flags (batches of 100), ${ROUNDS} rounds\n` +
        formatTable(
          ["run", "unit", "median", "min", "max"],
          [
            ["tallies off", "ms", median(off).toFixed(0), Math.min(...off).toFixed(0), Math.max(...off).toFixed(0)],
            ["tallies on", "ms", median(on).toFixed(0), Math.min(...on).toFixed(0), Math.max(...on).toFixed(0)],
            ["on / off (per round)", "ratio", formatRatio(median(ratios)), formatRatio(Math.min(...ratios)), formatRatio(Math.max(...ratios))],
            ["tallyMessages alone", "ms", tallyOnlyMs.toFixed(1), "", ""],
          ],
        ) +
        `\ncapture transaction: off ${JSON.stringify(captureOff)}, on ${JSON.stringify(captureOn)}\n`,
    );
  });
});
