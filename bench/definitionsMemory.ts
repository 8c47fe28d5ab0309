// Heap and CPU of the definitions paths in plain Node (V8, as Convex runs them), one job per
// process. definitions.bench.test.ts bundles this file with esbuild and runs it with `node`,
// under a given --max-old-space-size to find the smallest heap a job fits in:
//   node <bundle>.mjs <job> <definitions url> <flags> <flag bytes> [<packs file>]
// Jobs:
//   fetchOnly   the refresh's fetch of the answer, nothing more (the baseline of `refresh`)
//   refresh     the refresh action, fetch to the last applying mutation's arguments (a first
//               refresh: every definition written), with a stand-in ctx that serializes each
//               mutation's arguments as Convex sends them
//   wholeTree   what refreshes did before: JSON.parse of the whole answer, every flag
//               re-serialized and hashed, chunks of 6 MB of arguments
//   packsOnly   the packs of all flags and cohorts, read from the packs file (writePacksFile)
//               as a query receives them from the database (the baseline of `allFlags`)
//   allFlags    evaluate's read of every flag from those packs: decompress, parse, evaluate,
//               results as JSON text (what getAllFlags asks the component for)
//   cpu         CPU time of allFlags against reading one row per flag (median of rounds, process CPU time)
// The last line of stdout is `RESULT <json>`.
import { readFileSync, writeFileSync } from "node:fs";
import { getFunctionName } from "convex/server";
import { convexToJson, type Value } from "convex/values";
import { refresh } from "../src/component/definitions.js";
import { packData, planPacks, unpack } from "../src/component/definitionPacks.js";
import { sha1Hex } from "../src/core/digest.js";
import { parseDefinitions, storedDefinition } from "../src/core/definitionsTransport.js";
import { FlagEvaluator, type FlagDefinition, type PropertyGroup } from "../src/core/flags/index.js";
import { growFlags } from "../src/testing/largeProject.js";
import { generateProject } from "./flagsProject.js";

const [job, url, flagCount, flagBytes, packsFile] = process.argv.slice(2) as [string, string, string, string, string | undefined];
const MiB = 2 ** 20;
let peakHeapUsed = 0;
const sample = () => (peakHeapUsed = Math.max(peakHeapUsed, process.memoryUsage().heapUsed));

/** A stand-in for the action's ctx: a first refresh, mutations' arguments serialized and dropped. */
const ctx = {
  runQuery: async (ref: unknown) => {
    const name = getFunctionName(ref as never);
    if (name.endsWith("refreshStart")) return { version: 0 };
    if (name.endsWith("hashPage")) return [];
    throw new Error(`unexpected query ${name}`);
  },
  runMutation: async (ref: unknown, args: Record<string, Value>) => {
    const wire = JSON.stringify(convexToJson(args));
    sample();
    if (wire.length === 0) throw new Error("empty arguments");
    return getFunctionName(ref as never).endsWith("applyChunk") ? true : null;
  },
};

async function fetchBytes() {
  const response = await fetch(url, { headers: { Authorization: "Bearer phx_bench" } });
  return new Uint8Array(await response.arrayBuffer());
}

function project() {
  return growFlags(generateProject(Number(flagCount)), Number(flagBytes));
}

/** The packs a refresh stores for this project, and the cohorts (as the cohort packs hold them). */
function packs() {
  const outcome = parseDefinitions(new TextEncoder().encode(JSON.stringify(project())));
  if (outcome.kind !== "ok") throw new Error(outcome.kind);
  const { definitions } = outcome;
  const build = (kind: "flag" | "cohort", parts: typeof definitions.flags) => {
    const byName = new Map(parts.map((part) => [part.name, part]));
    return planPacks(parts).map((plan) => packData(plan, (name) => storedDefinition(definitions, kind, byName.get(name)!)));
  };
  return { flags: build("flag", definitions.flags), cohorts: build("cohort", definitions.cohorts), groupTypeMapping: definitions.groupTypeMapping };
}

/** The packs as a file: JSON of { flags: [byte lengths], cohorts: [...], groupTypeMapping }, a newline, the packs' bytes. */
function writePacksFile(file: string) {
  const stored = packs();
  const header = JSON.stringify({ flags: stored.flags.map((d) => d.byteLength), cohorts: stored.cohorts.map((d) => d.byteLength), groupTypeMapping: stored.groupTypeMapping });
  const parts = [new TextEncoder().encode(`${header}\n`), ...[...stored.flags, ...stored.cohorts].map((d) => new Uint8Array(d))];
  const bytes = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  parts.reduce((at, p) => (bytes.set(p, at), at + p.length), 0);
  writeFileSync(file, bytes);
}

function readPacksFile(file: string): ReturnType<typeof packs> {
  const bytes = new Uint8Array(readFileSync(file));
  const newline = bytes.indexOf(0x0a);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(0, newline))) as { flags: number[]; cohorts: number[]; groupTypeMapping: Record<string, string> };
  let at = newline + 1;
  const take = (length: number) => bytes.slice(at, (at += length)).buffer as ArrayBuffer;
  return { flags: header.flags.map(take), cohorts: header.cohorts.map(take), groupTypeMapping: header.groupTypeMapping };
}

const CONTEXT = { distinctId: "user-1", personProperties: { email: "alice@acme.com", country: "US", plan: "pro", age: 30 }, groups: { company: "company-1" } };

/** What flags.evaluate does for all flags, from already-read pack data. */
function evaluateAll(stored: ReturnType<typeof packs>) {
  const flags = new Map<string, FlagDefinition>();
  const cohorts = new Map<string, PropertyGroup>();
  for (const data of stored.flags) for (const [key, flag] of unpack<FlagDefinition>(data).definitions) flags.set(key, flag);
  for (const data of stored.cohorts) for (const [id, cohort] of unpack<PropertyGroup>(data).definitions) cohorts.set(id, cohort);
  return evaluateWith(flags, cohorts, stored.groupTypeMapping);
}

function evaluateWith(flags: Map<string, FlagDefinition>, cohorts: Map<string, PropertyGroup>, groupTypeMapping: Record<string, string>) {
  const evaluator = new FlagEvaluator({ flag: (k) => flags.get(k), cohort: (id) => cohorts.get(id), groupTypeMapping }, { ...CONTEXT, now: Date.now() });
  return JSON.stringify({ state: "loaded", results: [...flags.keys()].map((key) => evaluator.evaluate(key)) });
}

async function main(): Promise<Record<string, unknown>> {
  switch (job) {
    case "fetchOnly": {
      const bytes = await fetchBytes();
      sample();
      return { answerBytes: bytes.length };
    }
    case "refresh": {
      const handler = (refresh as unknown as { _handler: (c: unknown, a: unknown) => Promise<{ result: string; flagsChanged?: number }> })._handler;
      const result = await handler(ctx, { host: url.replace(/\/flags\/definitions.*$/, ""), apiKey: "phc_bench_memory", personalApiKey: "phx_bench", timeoutMs: 300_000 });
      if (result.result !== "updated" || result.flagsChanged !== Number(flagCount)) throw new Error(JSON.stringify(result));
      return { result };
    }
    case "wholeTree": {
      const text = new TextDecoder().decode(await fetchBytes());
      const body = JSON.parse(text) as { flags: FlagDefinition[] };
      const rows = body.flags.map((flag) => {
        const definition = JSON.stringify(flag);
        return { name: flag.key, definition, hash: sha1Hex(definition) };
      });
      for (let start = 0, bytes = 0, chunk: typeof rows = []; start <= rows.length; start++) {
        const row = rows[start];
        if (row === undefined || (bytes + row.definition.length > 6 * MiB && chunk.length > 0)) {
          await ctx.runMutation("definitions:applyChunk", { upserts: chunk.map((r) => ({ kind: "flag", row: r, isNew: true })) });
          chunk = [];
          bytes = 0;
        }
        if (row === undefined) break;
        chunk.push(row);
        bytes += row.definition.length;
      }
      return { flags: rows.length };
    }
    case "writePacks": {
      writePacksFile(packsFile!);
      return {};
    }
    case "packsOnly": {
      const stored = readPacksFile(packsFile!);
      sample();
      return { packBytes: stored.flags.reduce((sum, data) => sum + data.byteLength, 0) };
    }
    case "allFlags": {
      const stored = readPacksFile(packsFile!);
      const text = evaluateAll(stored);
      sample();
      return { resultBytes: text.length };
    }
    case "cpu": {
      const stored = packs();
      const rows = project().flags.map((flag) => JSON.stringify(flag));
      const cohorts = new Map(Object.entries(project().cohorts ?? {}));
      // CPU time of this process (user + system), not wall time: other processes on the machine do not count.
      const time = (run: () => unknown) => {
        const start = process.cpuUsage();
        run();
        const used = process.cpuUsage(start);
        return (used.user + used.system) / 1000;
      };
      const fromPacks: number[] = [];
      const fromRows: number[] = [];
      for (let round = 0; round < 7; round++) {
        fromPacks.push(time(() => evaluateAll(stored)));
        fromRows.push(
          time(() => {
            const flags = new Map<string, FlagDefinition>();
            for (const row of rows) {
              const flag = JSON.parse(row) as FlagDefinition;
              flags.set(flag.key, flag);
            }
            return evaluateWith(flags, cohorts, stored.groupTypeMapping);
          }),
        );
      }
      const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
      return { packsMs: median(fromPacks), rowsMs: median(fromRows), packsRuns: fromPacks, rowsRuns: fromRows };
    }
    default:
      throw new Error(`unknown job ${job}`);
  }
}

const result = await main();
sample();
console.log(`RESULT ${JSON.stringify({ job, ...result, peakHeapUsedSampled: peakHeapUsed })}`);
