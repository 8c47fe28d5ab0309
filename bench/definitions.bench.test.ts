/// <reference types="vite/client" />
// Definitions at scale (section `definitionsScale`): 5,000 flags of about 3 KB (a 15 MB
// /flags/definitions answer). Part 1: what reading every flag costs a query (getAllFlags,
// getAllFlagsAndPayloads, evaluateFlags) against Convex's read limits, in convex-test. Part 2:
// the peak heap growth of a refresh and of a read of all flags, as the smallest V8 heap each
// fits in (plain Node, one process per try, bench/definitionsMemory.ts), and the CPU time of
// the read of all flags.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import { startLocalPostHog, type LocalPostHog } from "../src/local-server/server.js";
import { api } from "../src/testing/app/_generated/api.js";
import { growFlags } from "../src/testing/largeProject.js";
import { initTestApp } from "../src/testing/setup.js";
import { generateProject } from "./flagsProject.js";
import { bundleForNode, formatTable, machineInfo, writeResultsSection } from "./harness.js";

const FLAGS = 5_000;
const FLAG_BYTES = 3_000;
const MiB = 2 ** 20;
const LIMITS = { bytesRead: 16 * MiB, documentsRead: 32_000, databaseQueries: 4_096 };
const TOKEN = "phc_bench_memory";
const run = promisify(execFile);

/** The smallest --max-old-space-size (MiB) under which `job` completes, by bisection. */
async function smallestHeap(bundle: string, job: string, url: string, packsFile: string): Promise<{ mib: number; result: Record<string, unknown> }> {
  const attempt = async (mib: number) => {
    try {
      const { stdout } = await run(process.execPath, [`--max-old-space-size=${mib}`, "--max-semi-space-size=1", "--expose-gc", bundle, job, url, String(FLAGS), String(FLAG_BYTES), packsFile], {
        maxBuffer: 16 * MiB,
      });
      const line = stdout.trim().split("\n").pop() ?? "";
      return line.startsWith("RESULT ") ? (JSON.parse(line.slice(7)) as Record<string, unknown>) : undefined;
    } catch {
      return undefined; // out of memory
    }
  };
  let high = 128;
  let result = await attempt(high);
  if (result === undefined) throw new Error(`${job} fails even with ${high} MiB`);
  let low = 4; // known to fail or the floor
  while (high - low > 1) {
    const mid = Math.floor((low + high) / 2);
    const outcome = await attempt(mid);
    if (outcome === undefined) low = mid;
    else [high, result] = [mid, outcome];
  }
  return { mib: high, result };
}

describe.skipIf(!process.env.CONVEX_POSTHOG_BENCH)("definitions at scale", () => {
  let server: LocalPostHog;
  beforeAll(async () => {
    server = await startLocalPostHog();
    vi.stubEnv("POSTHOG_HOST", server.url);
    vi.stubEnv("POSTHOG_API_KEY", TOKEN);
    vi.stubEnv("POSTHOG_PERSONAL_API_KEY", "phx_bench");
  });
  afterAll(async () => {
    vi.unstubAllEnvs();
    await server?.close();
  });

  test("5,000 flags of 3 KB: reads of every flag, refresh heap, read heap and CPU", async () => {
    const started = Date.now();
    const project = growFlags(generateProject(FLAGS), FLAG_BYTES);
    const answerBytes = JSON.stringify(project).length;
    server.setDefinitions(project, { token: TOKEN });

    // Part 1: reads of every flag in a query.
    const t = initTestApp({ transactionLimits: true });
    expect(await t.action(api.flags.refresh, {})).toMatchObject({ result: "updated", flagsChanged: FLAGS });
    const context = JSON.stringify({ distinctId: "user-1", personProperties: { email: "alice@acme.com", country: "US", plan: "pro", age: 30 } });
    const reads: Record<string, { bytesRead: number; documentsRead: number; databaseQueries: number; flags: number }> = {};
    for (const method of ["getAllFlags", "getAllFlagsAndPayloads", "evaluateFlags"] as const) {
      const read = await t.query(api.flags.allFlagsWithMetrics, { context, method });
      const answer = JSON.parse(read.answer) as { featureFlags?: object; flags?: object };
      reads[method] = { bytesRead: read.bytesRead, documentsRead: read.documentsRead, databaseQueries: read.databaseQueries, flags: Object.keys(answer.featureFlags ?? answer.flags ?? {}).length };
      expect(reads[method]!.flags).toBeGreaterThan(1000);
    }

    // Part 2: heap and CPU in plain Node.
    const dir = mkdtempSync(path.join(os.tmpdir(), "convex-posthog-definitions-"));
    const bundle = path.join(dir, "definitionsMemory.mjs");
    const heap: Record<string, { mib: number; result: Record<string, unknown> }> = {};
    let cpu: Record<string, unknown>;
    try {
      await bundleForNode("definitionsMemory.ts", bundle);
      const url = `${server.url}/flags/definitions?token=${TOKEN}&send_cohorts`;
      const packsFile = path.join(dir, "packs.bin");
      await run(process.execPath, [bundle, "writePacks", url, String(FLAGS), String(FLAG_BYTES), packsFile], { maxBuffer: 16 * MiB });
      for (const job of ["fetchOnly", "refresh", "wholeTree", "packsOnly", "allFlags"]) heap[job] = await smallestHeap(bundle, job, url, packsFile);
      const { stdout } = await run(process.execPath, [bundle, "cpu", url, String(FLAGS), String(FLAG_BYTES)], { maxBuffer: 16 * MiB });
      cpu = JSON.parse(stdout.trim().split("\n").pop()!.slice(7));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const growth = {
      refresh: heap.refresh!.mib - heap.fetchOnly!.mib,
      wholeTree: heap.wholeTree!.mib - heap.fetchOnly!.mib,
      allFlags: heap.allFlags!.mib - heap.packsOnly!.mib,
    };
    const heapReport = Object.fromEntries(
      Object.entries(heap).map(([job, { mib, result }]) => [job, { smallestHeapMiB: mib, peakHeapUsedSampledMiB: Number(((result.peakHeapUsedSampled as number) / MiB).toFixed(1)) }]),
    );

    const pct = (used: number, limit: number) => `${((used / limit) * 100).toFixed(1)}%`;
    console.log(
      `\nDefinitions at scale: ${FLAGS.toLocaleString("en-US")} flags of about ${FLAG_BYTES.toLocaleString("en-US")} bytes (${(answerBytes / 1e6).toFixed(1)} MB answer).\n\n` +
        `Reads of every flag in one query (convex-test, ctx.meta.getTransactionMetrics):\n` +
        formatTable(
          ["method", "bytes read", "documents read", "index ranges"],
          Object.entries(reads).map(([method, r]) => [
            method,
            `${r.bytesRead.toLocaleString("en-US")} (${pct(r.bytesRead, LIMITS.bytesRead)})`,
            `${r.documentsRead} (${pct(r.documentsRead, LIMITS.documentsRead)})`,
            `${r.databaseQueries} (${pct(r.databaseQueries, LIMITS.databaseQueries)})`,
          ]),
          1,
        ) +
        `\n\nCPU of the component's read of every flag (plain Node, median of 7): packs (decompress, parse, evaluate, results as JSON) ${(cpu.packsMs as number).toFixed(0)} ms; ` +
        `one row per full definition (JSON.parse each, evaluate, results) ${(cpu.rowsMs as number).toFixed(0)} ms.\n` +
        `Smallest V8 heap (--max-old-space-size, MiB) each job fits in: ` +
        Object.entries(heap).map(([job, h]) => `${job} ${h.mib}`).join(", ") +
        `.\nPeak heap growth: refresh ${growth.refresh} MiB (goal: under 32), the old whole-tree parse ${growth.wholeTree} MiB, read of every flag ${growth.allFlags} MiB.\n` +
        `(definitions part: ${((Date.now() - started) / 1000).toFixed(0)} s)\n`,
    );

    writeResultsSection("definitionsScale", {
      date: new Date().toISOString(),
      machine: machineInfo(),
      setup: {
        flags: FLAGS,
        flagBytes: FLAG_BYTES,
        answerBytes,
        project: "bench/flagsProject.ts grown by src/testing/largeProject.ts: a payload of about a third of each flag, an email list for the rest",
        heap: "smallest --max-old-space-size (MiB, --max-semi-space-size=1) under which the job completes, by bisection; growth = job minus its baseline job",
      },
      reads,
      limits: LIMITS,
      cpu,
      heap: heapReport,
      heapGrowthMiB: growth,
    });
  }, 1_500_000);
});
