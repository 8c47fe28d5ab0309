/// <reference types="vite/client" />
// Caller-side cost of one capture: what the capturing mutation itself pays, through
// convex-posthog (a nested component mutation that writes the outbox rows) and through
// @posthog/convex 2.1.5 (the baseline: one scheduler.runAfter per event). Section
// `captureCost` of bench/results.json; see bench/README.md.
import baselineTest from "@posthog/convex/test";
import { convexTest } from "convex-test";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import ourSchema from "../src/component/schema.js";
import { startLocalPostHog, type LocalPostHog } from "../src/local-server/server.js";
import { api } from "./app/_generated/api.js";
import appSchema from "./app/schema.js";
import { formatRatio, formatTable, machineInfo, median, percentile, writeResultsSection } from "./harness.js";

const appModules = import.meta.glob("./app/**/*.ts");
const ourModules = import.meta.glob("../src/component/**/*.ts");

/** A typical server-side event: a dozen properties, about 400 bytes once encoded. */
const PROPERTIES = JSON.stringify({
  path: "/pricing/enterprise",
  referrer: "https://www.example.com/blog/launch-week",
  plan: "team",
  seats: 25,
  trial: false,
  experiment_group: "b",
  $current_url: "https://app.example.com/pricing/enterprise",
  $browser: "Firefox",
  $os: "Mac OS X",
  utm_source: "newsletter",
  utm_campaign: "spring",
  load_ms: 812,
});
const SINGLE_CAPTURES = 300;
const BULK_MUTATIONS = 10;
const BULK_SIZE = 100;

type Cost = {
  elapsedMs: number;
  documentsWritten: number;
  bytesWritten: number;
  documentsRead: number;
  bytesRead: number;
  indexRanges: number;
  functionsScheduled: number;
  scheduledArgsBytes: number;
};
type System = "ours" | "baseline";

function newInstance() {
  const t = convexTest({ schema: appSchema, modules: appModules });
  t.registerComponent("posthog", ourSchema, ourModules);
  t.registerComponent("baseline", baselineTest.schema, baselineTest.modules);
  return t;
}

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;

describe.skipIf(!process.env.CONVEX_POSTHOG_BENCH)("capture cost in the caller's mutation", () => {
  let server: LocalPostHog;
  beforeAll(async () => {
    server = await startLocalPostHog();
    vi.stubEnv("POSTHOG_HOST", server.url);
    vi.stubEnv("POSTHOG_API_KEY", "phc_cost_ours");
    vi.stubEnv("POSTHOG_PROJECT_TOKEN", "phc_cost_baseline");
  });
  afterAll(async () => {
    vi.unstubAllEnvs();
    await server.close();
  });

  test("one capture: time, documents and bytes written, what it schedules", async () => {
    const t = newInstance();
    const mutations = { ours: api.captureCost.costOurs, baseline: api.captureCost.costBaseline };
    const single: Record<System, Cost[]> = { ours: [], baseline: [] };
    const wallMs: Record<System, number[]> = { ours: [], baseline: [] };
    const bulk: Record<System, Cost[]> = { ours: [], baseline: [] };

    // Warm-up: module loading and the JIT, for both.
    for (let i = 0; i < 30; i++) {
      for (const system of ["ours", "baseline"] as const) await t.mutation(mutations[system], { count: 1, properties: PROPERTIES });
    }
    // The systems take turns, so a busy machine slows both alike.
    for (let i = 0; i < SINGLE_CAPTURES; i++) {
      for (const system of ["ours", "baseline"] as const) {
        const started = performance.now();
        single[system].push(await t.mutation(mutations[system], { count: 1, properties: PROPERTIES }));
        wallMs[system].push(performance.now() - started);
      }
    }
    for (let i = 0; i < BULK_MUTATIONS; i++) {
      for (const system of ["ours", "baseline"] as const) {
        bulk[system].push(await t.mutation(mutations[system], { count: BULK_SIZE, properties: PROPERTIES }));
      }
    }

    const summary = (system: System) => {
      const times = single[system].map((c) => c.elapsedMs).sort((a, b) => a - b);
      const perCapture = (name: keyof Cost) => mean(single[system].map((c) => c[name]));
      const bulkPer = (name: keyof Cost) => mean(bulk[system].map((c) => c[name])) / BULK_SIZE;
      return {
        captureMsMedian: median(times),
        captureMsP95: percentile(times, 95),
        mutationWallMsMedian: median(wallMs[system]),
        documentsWritten: perCapture("documentsWritten"),
        bytesWritten: perCapture("bytesWritten"),
        documentsRead: perCapture("documentsRead"),
        bytesRead: perCapture("bytesRead"),
        indexRanges: perCapture("indexRanges"),
        functionsScheduled: perCapture("functionsScheduled"),
        scheduledArgsBytes: perCapture("scheduledArgsBytes"),
        bulk: {
          captureMs: bulkPer("elapsedMs"),
          documentsWritten: bulkPer("documentsWritten"),
          bytesWritten: bulkPer("bytesWritten"),
          functionsScheduled: bulkPer("functionsScheduled"),
        },
      };
    };
    const ours = summary("ours");
    const baseline = summary("baseline");

    // The work happened: every capture wrote or scheduled something.
    expect(single.ours.every((c) => c.documentsWritten >= 2)).toBe(true);
    expect(single.baseline.every((c) => c.functionsScheduled + c.documentsWritten >= 1)).toBe(true);

    const rows: Array<[string, string, number, number]> = [
      ["capture call, median", "ms", ours.captureMsMedian, baseline.captureMsMedian],
      ["capture call, p95", "ms", ours.captureMsP95, baseline.captureMsP95],
      ["whole mutation (t.mutation), median", "ms", ours.mutationWallMsMedian, baseline.mutationWallMsMedian],
      ["documents written", "docs", ours.documentsWritten, baseline.documentsWritten],
      ["bytes written", "bytes", ours.bytesWritten, baseline.bytesWritten],
      ["documents read", "docs", ours.documentsRead, baseline.documentsRead],
      ["index ranges read", "ranges", ours.indexRanges, baseline.indexRanges],
      ["functions scheduled", "fns", ours.functionsScheduled, baseline.functionsScheduled],
      ["scheduled function arguments", "bytes", ours.scheduledArgsBytes, baseline.scheduledArgsBytes],
      [`${BULK_SIZE} captures in one mutation: time per capture`, "ms", ours.bulk.captureMs, baseline.bulk.captureMs],
      [`${BULK_SIZE} captures in one mutation: bytes written per capture`, "bytes", ours.bulk.bytesWritten, baseline.bulk.bytesWritten],
      [`${BULK_SIZE} captures in one mutation: functions scheduled per capture`, "fns", ours.bulk.functionsScheduled, baseline.bulk.functionsScheduled],
    ];
    const number = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(n < 10 ? 3 : 1));
    console.log(
      `\nCaller-side cost of one capture (${SINGLE_CAPTURES} mutations of 1 capture each, per capture; ${BULK_MUTATIONS} of ${BULK_SIZE})\n` +
        formatTable(
          ["metric", "unit", "convex-posthog", "@posthog/convex", "ours/baseline"],
          rows.map(([metric, unit, a, b]) => [metric, unit, number(a), number(b), formatRatio(b === 0 ? null : a / b)]),
        ),
    );
    writeResultsSection("captureCost", {
      machine: machineInfo(),
      properties: JSON.parse(PROPERTIES),
      singleCaptures: SINGLE_CAPTURES,
      bulk: { mutations: BULK_MUTATIONS, capturesPerMutation: BULK_SIZE },
      ours,
      baseline,
    });
  });
});
