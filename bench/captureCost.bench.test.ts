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
/** Captures per convex-test instance (see the measuring loop). */
const ROUND = 10;
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
const SYSTEMS = ["ours", "baseline"] as const;

function newInstance() {
  const t = convexTest({ schema: appSchema, modules: appModules });
  t.registerComponent("posthog", ourSchema, ourModules);
  t.registerComponent("baseline", baselineTest.schema, baselineTest.modules);
  return t;
}
type Instance = ReturnType<typeof newInstance>;

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;

describe.skipIf(!process.env.CONVEX_POSTHOG_BENCH)("capture cost in the caller's mutation", () => {
  let server: LocalPostHog;
  // The test setup guards `process` (code that runs in Convex may use only process.env) with
  // a stack trace on every access, about 1 ms each here, and a capture reads two environment
  // variables. In Convex, reading process.env is a plain property read, so this file reads
  // `process` directly; the tests keep the guard.
  const guardedProcess = Object.getOwnPropertyDescriptor(globalThis, "process");
  beforeAll(async () => {
    Object.defineProperty(globalThis, "process", { configurable: true, writable: true, value: globalThis.process });
    server = await startLocalPostHog();
    vi.stubEnv("POSTHOG_HOST", server.url);
    vi.stubEnv("POSTHOG_API_KEY", "phc_cost_ours");
    vi.stubEnv("POSTHOG_PROJECT_TOKEN", "phc_cost_baseline");
  });
  afterAll(async () => {
    vi.unstubAllEnvs();
    await server.close();
    if (guardedProcess) Object.defineProperty(globalThis, "process", guardedProcess);
  });

  test("one capture: time, documents and bytes written, what it schedules", async () => {
    const mutations = { ours: api.captureCost.costOurs, baseline: api.captureCost.costBaseline };
    const single: Record<System, Cost[]> = { ours: [], baseline: [] };
    const wallMs: Record<System, number[]> = { ours: [], baseline: [] };
    const bulk: Record<System, Cost[]> = { ours: [], baseline: [] };
    const capture = (t: Instance, system: System, count: number) => t.mutation(mutations[system], { count, properties: PROPERTIES });

    // Warm-up: module loading and the JIT, for both.
    const warm = newInstance();
    for (let i = 0; i < 30; i++) for (const system of SYSTEMS) await capture(warm, system, 1);

    // convex-test answers an indexed lookup by scanning every document of the component, so
    // its time would grow with the outbox, which Convex's indexes do not: a fresh instance
    // every ROUND captures keeps the outbox as small as a healthy deployment's (each
    // instance's first capture, which pays for its start-up, is not measured). The systems
    // take turns, so a busy machine slows both alike.
    for (let round = 0; round < SINGLE_CAPTURES / ROUND; round++) {
      const t = newInstance();
      for (const system of SYSTEMS) await capture(t, system, 1); // the instance's own start-up, not measured
      for (let i = 0; i < ROUND; i++) {
        for (const system of SYSTEMS) {
          const started = performance.now();
          single[system].push(await capture(t, system, 1));
          wallMs[system].push(performance.now() - started);
        }
      }
    }
    for (let i = 0; i < BULK_MUTATIONS; i++) {
      const t = newInstance();
      for (const system of SYSTEMS) bulk[system].push(await capture(t, system, BULK_SIZE));
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
      `\nCaller-side cost of one capture (${SINGLE_CAPTURES} mutations of 1 capture, ${ROUND} per fresh instance; ${BULK_MUTATIONS} mutations of ${BULK_SIZE}; per capture)\n` +
        formatTable(
          ["metric", "unit", "convex-posthog", "@posthog/convex", "ours/baseline"],
          rows.map(([metric, unit, a, b]) => [metric, unit, number(a), number(b), formatRatio(b === 0 ? null : a / b)]),
        ),
    );
    writeResultsSection("captureCost", {
      machine: machineInfo(),
      properties: JSON.parse(PROPERTIES),
      singleCaptures: SINGLE_CAPTURES,
      capturesPerInstance: ROUND,
      bulk: { mutations: BULK_MUTATIONS, capturesPerMutation: BULK_SIZE },
      ours,
      baseline,
    });
  });
});
