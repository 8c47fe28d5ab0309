/// <reference types="vite/client" />
// Caller-side cost of one capture: what the capturing mutation itself pays, through
// convex-posthog (a nested component mutation that writes the outbox rows) and through
// @posthog/convex 2.1.5 (the baseline: one scheduler.runAfter per event), and through
// convex-posthog with an event taxonomy ("typed": the same capture, validated first), with
// `taxonomy.check` alone timed in plain Node. Section `captureCost` of bench/results.json; see
// bench/README.md.
import baselineTest from "@posthog/convex/test";
import { convexTest } from "convex-test";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import ourSchema from "../src/component/schema.js";
import { startLocalPostHog, type LocalPostHog } from "../src/local-server/server.js";
import { api } from "./app/_generated/api.js";
import appSchema from "./app/schema.js";
import { bundleForNode, formatRatio, formatTable, machineInfo, median, percentile, writeResultsSection } from "./harness.js";
import { PAGE_VIEWED_PROPERTIES } from "./pageViewed.js";
import type { TaxonomyCheckResult } from "./taxonomyCheck.js";

const appModules = import.meta.glob("./app/**/*.ts");
const ourModules = import.meta.glob("../src/component/**/*.ts");

/** A typical server-side event: a dozen properties, about 400 bytes once encoded. */
const PROPERTIES = JSON.stringify(PAGE_VIEWED_PROPERTIES);
const SINGLE_CAPTURES = 300;
/** Captures per convex-test instance (see the measuring loop). */
const ROUND = 10;
const BULK_MUTATIONS = 30;
const BULK_SIZE = 100;
/** taxonomy.check in plain Node: checks per timed round, and rounds. */
const CHECKS = 10_000;
const CHECK_ROUNDS = 9;

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
/** "typed": ours through a client with an event taxonomy (bench/pageViewed.ts). */
const SYSTEMS = ["ours", "typed", "baseline"] as const;
type System = (typeof SYSTEMS)[number];

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
    const mutations = { ours: api.captureCost.costOurs, typed: api.captureCost.costTyped, baseline: api.captureCost.costBaseline };
    const single: Record<System, Cost[]> = { ours: [], typed: [], baseline: [] };
    const wallMs: Record<System, number[]> = { ours: [], typed: [], baseline: [] };
    const bulk: Record<System, Cost[]> = { ours: [], typed: [], baseline: [] };
    const capture = (t: Instance, system: System, count: number, properties = PROPERTIES) =>
      t.mutation(mutations[system], { count, properties });
    // A fresh instance per system: ours and typed share the `posthog` component, and neither
    // should scan the other's outbox rows. Its first capture pays for its start-up and is not measured.
    const freshInstances = async () => {
      const instances = { ours: newInstance(), typed: newInstance(), baseline: newInstance() };
      for (const system of SYSTEMS) await capture(instances[system], system, 1);
      return instances;
    };

    // Warm-up: module loading and the JIT, for all three.
    const warm = await freshInstances();
    for (let i = 0; i < 30; i++) for (const system of SYSTEMS) await capture(warm[system], system, 1);
    // The typed client does validate: a capture that breaks its taxonomy is refused.
    await expect(capture(warm.typed, "typed", 1, JSON.stringify({ ...PAGE_VIEWED_PROPERTIES, seats: "25" }))).rejects.toThrow(
      /breaks the event taxonomy: properties\.seats: expected number, got string/,
    );

    // The systems take turns, so a busy machine slows them alike, and who goes first rotates:
    // a capture right after another system's is not always the same system's.
    const turns = (n: number) => [...SYSTEMS.slice(n % SYSTEMS.length), ...SYSTEMS.slice(0, n % SYSTEMS.length)];

    // convex-test answers an indexed lookup by scanning every document of the component, so
    // its time would grow with the outbox, which Convex's indexes do not: fresh instances
    // every ROUND captures keep the outbox as small as a healthy deployment's.
    for (let round = 0; round < SINGLE_CAPTURES / ROUND; round++) {
      const instances = await freshInstances();
      for (let i = 0; i < ROUND; i++) {
        for (const system of turns(round * ROUND + i)) {
          const started = performance.now();
          single[system].push(await capture(instances[system], system, 1));
          wallMs[system].push(performance.now() - started);
        }
      }
    }
    for (let i = 0; i < BULK_MUTATIONS; i++) {
      const instances = await freshInstances();
      for (const system of turns(i)) bulk[system].push(await capture(instances[system], system, BULK_SIZE));
    }
    const check = await plainNodeTaxonomyCheck();

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
          captureMsMedian: median(bulk[system].map((c) => c.elapsedMs / BULK_SIZE)),
          documentsWritten: bulkPer("documentsWritten"),
          bytesWritten: bulkPer("bytesWritten"),
          functionsScheduled: bulkPer("functionsScheduled"),
        },
      };
    };
    const ours = summary("ours");
    const typed = summary("typed");
    const baseline = summary("baseline");

    // The work happened: every capture wrote or scheduled something, and every check passed.
    expect(single.ours.every((c) => c.documentsWritten >= 2)).toBe(true);
    expect(single.typed.every((c) => c.documentsWritten >= 2)).toBe(true);
    expect(bulk.typed.every((c) => c.documentsWritten >= 2 * BULK_SIZE)).toBe(true);
    expect(check.problems).toBe(0);
    expect(check.breakingEventProblems).toEqual(["properties.seats: expected number, got string"]);
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

    // Typed against untyped: the ratio and the difference per capture, in µs. The paired
    // difference is the median of typed minus untyped over captures (bulk: mutations) measured
    // one right after the other, which a machine's changing load affects less.
    const pairedMedianDiffMicros = (typedMs: number[], oursMs: number[]) => median(typedMs.map((ms, i) => ms - oursMs[i]!)) * 1000;
    const versus = (typedMs: number, oursMs: number, pairedDiffMicros: number | null) => ({
      ratio: typedMs / oursMs,
      diffMicros: (typedMs - oursMs) * 1000,
      pairedDiffMicros,
    });
    const singleMs = (system: System) => single[system].map((c) => c.elapsedMs);
    const bulkMs = (system: System) => bulk[system].map((c) => c.elapsedMs / BULK_SIZE);
    const singlePaired = pairedMedianDiffMicros(singleMs("typed"), singleMs("ours"));
    const bulkPaired = pairedMedianDiffMicros(bulkMs("typed"), bulkMs("ours"));
    const vsUntyped = {
      captureMedian: versus(typed.captureMsMedian, ours.captureMsMedian, singlePaired),
      captureP95: versus(typed.captureMsP95, ours.captureMsP95, null),
      mutationWallMedian: versus(typed.mutationWallMsMedian, ours.mutationWallMsMedian, pairedMedianDiffMicros(wallMs.typed, wallMs.ours)),
      bulkPerCapture: versus(typed.bulk.captureMs, ours.bulk.captureMs, bulkPaired),
      bulkPerCaptureMedian: versus(typed.bulk.captureMsMedian, ours.bulk.captureMsMedian, bulkPaired),
    };
    const typedRows: Array<[string, number, number, { ratio: number; diffMicros: number; pairedDiffMicros: number | null }]> = [
      ["capture call, median", ours.captureMsMedian, typed.captureMsMedian, vsUntyped.captureMedian],
      ["capture call, p95", ours.captureMsP95, typed.captureMsP95, vsUntyped.captureP95],
      ["whole mutation (t.mutation), median", ours.mutationWallMsMedian, typed.mutationWallMsMedian, vsUntyped.mutationWallMedian],
      [`${BULK_SIZE} captures in one mutation: time per capture, mean`, ours.bulk.captureMs, typed.bulk.captureMs, vsUntyped.bulkPerCapture],
      [`${BULK_SIZE} captures in one mutation: time per capture, median`, ours.bulk.captureMsMedian, typed.bulk.captureMsMedian, vsUntyped.bulkPerCaptureMedian],
    ];
    const micros = (ms: number) => (ms * 1000).toFixed(1);
    console.log(
      `\nTyped capture (an event taxonomy validates each capture's properties) against untyped, same run\n` +
        formatTable(
          ["metric", "unit", "untyped", "typed", "typed/untyped", "typed - untyped", "paired difference"],
          typedRows.map(([metric, a, b, vs]) => [
            metric,
            "µs",
            micros(a),
            micros(b),
            formatRatio(vs.ratio),
            vs.diffMicros.toFixed(1),
            vs.pairedDiffMicros === null ? "" : vs.pairedDiffMicros.toFixed(1),
          ]),
        ) +
        `\ntaxonomy.check alone (plain Node, ${CHECKS.toLocaleString("en-US")} checks x ${CHECK_ROUNDS} rounds): ` +
        `${check.microsPerCheck.toFixed(2)} µs per check (median round), ${check.fastestMicrosPerCheck.toFixed(2)} µs in the fastest`,
    );
    writeResultsSection("captureCost", {
      machine: machineInfo(),
      properties: JSON.parse(PROPERTIES),
      singleCaptures: SINGLE_CAPTURES,
      capturesPerInstance: ROUND,
      bulk: { mutations: BULK_MUTATIONS, capturesPerMutation: BULK_SIZE },
      ours,
      typed: { ...typed, vsUntyped, taxonomyCheck: check },
      baseline,
    });
  });
});

/**
 * `taxonomy.check` alone in plain Node: bench/taxonomyCheck.ts bundled by esbuild (no loader, no
 * vitest) and run by `node` in a child process.
 */
async function plainNodeTaxonomyCheck(): Promise<TaxonomyCheckResult> {
  const root = fileURLToPath(new URL("..", import.meta.url));
  const dir = mkdtempSync(path.join(os.tmpdir(), "convex-posthog-bench-"));
  const bundle = path.join(dir, "taxonomyCheck.mjs");
  try {
    await bundleForNode("taxonomyCheck.ts", bundle);
    const { stdout } = await promisify(execFile)(process.execPath, [bundle, "run", String(CHECKS), String(CHECK_ROUNDS)], { cwd: root });
    const line = stdout.trim().split("\n").pop() ?? "";
    if (!line.startsWith("TAXONOMY_CHECK ")) throw new Error(`unexpected output of the taxonomy check run: ${stdout.slice(-500)}`);
    return JSON.parse(line.slice("TAXONOMY_CHECK ".length));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
