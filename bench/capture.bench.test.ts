/// <reference types="vite/client" />
// Capture benchmark: 1,000 events, each captured by its own mutation, through convex-posthog
// and then through @posthog/convex 2.1.5 (the baseline), both delivering over real HTTP to
// the local PostHog-compatible server, on real timers. See bench/README.md for what each
// metric means and how to read the ratios.
import { AsyncLocalStorage } from "node:async_hooks";
import baselineTest from "@posthog/convex/test";
import { convexTest } from "convex-test";
import { anyApi, componentsGeneric, queryGeneric, type FunctionReference } from "convex/server";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import ourSchema from "../src/component/schema.js";
import { startLocalPostHog, type LocalPostHog, type ReceivedEvent } from "../src/local-server/server.js";
import { api } from "./app/_generated/api.js";
import appSchema from "./app/schema.js";
import { formatRatio, formatTable, machineInfo, percentile, sleep, writeResultsSection } from "./harness.js";

const EVENTS = 1_000;
const WARMUP_EVENTS = 20;

type ModuleMap = Record<string, () => Promise<unknown>>;
const appModules: ModuleMap = import.meta.glob("./app/**/*.ts");
const ourModules: ModuleMap = import.meta.glob("../src/component/**/*.ts");
const baselineModules = baselineTest.modules as ModuleMap;

// ---------------------------------------------------------------------------------------
// Counting function executions.
//
// convex-test runs a registered function by calling its `_handler`. Each module map given
// to convex-test is wrapped so every exported function's handler is counted when it runs.
// Each execution is classified by what called it, tracked with an AsyncLocalStorage frame:
//  - "harness":  called by this file (the capturing mutations, status polls);
//  - "nested":   run inside a still-running mutation (ctx.runMutation/runQuery from a
//                mutation): part of that mutation's transaction, not a separate execution;
//  - "separate": its own execution (scheduled, or called from an action).
// A scheduled function's timer is created inside the scheduling mutation and so inherits
// its frame, but runs only after that mutation committed (convex-test serializes
// transactions; actions are never nested in mutations): the frame's `done` flag tells it.
// ---------------------------------------------------------------------------------------
type Kind = "query" | "mutation" | "action";
type Role = "harness" | "nested" | "separate";
type Frame = { kind: Kind | "harness"; done: boolean };
const frames = new AsyncLocalStorage<Frame>();
const HARNESS: Frame = { kind: "harness", done: false };
const harness = <T>(call: () => Promise<T>) => frames.run(HARNESS, call);

class ExecutionCounter {
  active = false;
  /** "component|module:function|kind|role" -> executions */
  readonly counts = new Map<string, number>();

  record(component: string, fn: string, kind: Kind, role: Role) {
    if (!this.active) return;
    const key = `${component}|${fn}|${kind}|${role}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  total(filter: { kind?: Kind; role?: Role; component?: string; fn?: string }) {
    let sum = 0;
    for (const [key, n] of this.counts) {
      const [component, fn, kind, role] = key.split("|");
      if (filter.kind && filter.kind !== kind) continue;
      if (filter.role && filter.role !== role) continue;
      if (filter.component && filter.component !== component) continue;
      if (filter.fn && filter.fn !== fn) continue;
      sum += n;
    }
    return sum;
  }

  breakdown(): Record<string, number> {
    return Object.fromEntries([...this.counts].sort(([a], [b]) => a.localeCompare(b)));
  }
}

function kindOf(fn: Record<string, unknown>): Kind | undefined {
  if (fn.isQuery) return "query";
  if (fn.isMutation) return "mutation";
  if (fn.isAction) return "action";
  return undefined;
}

function modulesRoot(modules: ModuleMap): string {
  const generated = Object.keys(modules).find((path) => path.includes("_generated"));
  if (generated === undefined) throw new Error("module map without _generated/");
  return generated.split("_generated", 2)[0]!;
}

/** Lists this namespace's `_scheduled_functions` rows, grouped by function and state. */
const probeModule = {
  scheduled: queryGeneric({
    args: {},
    handler: async (ctx) => {
      const rows = await ctx.db.system.query("_scheduled_functions").collect();
      const byName: Record<string, Record<string, number>> = {};
      for (const row of rows) {
        const states = (byName[row.name] ??= {});
        states[row.state.kind] = (states[row.state.kind] ?? 0) + 1;
      }
      const pending = rows
        .filter((row) => row.state.kind === "pending")
        .map((row) => ({ name: row.name, inMs: Math.round(row.scheduledTime - Date.now()), args: row.args }));
      return { total: rows.length, byName, pending };
    },
  }),
};

/** The module map with every function's handler counted, plus the `benchProbe` module. */
function instrument(component: string, modules: ModuleMap, counter: ExecutionCounter): ModuleMap {
  const root = modulesRoot(modules);
  const wrapped: ModuleMap = {};
  for (const [path, load] of Object.entries(modules)) {
    const modulePath = path.slice(root.length).replace(/\.[^.]+$/, "");
    let cached: Promise<unknown> | undefined;
    wrapped[path] = () => (cached ??= load().then((module) => wrapModule(component, modulePath, module as object, counter)));
  }
  wrapped[`${root}benchProbe.ts`] = async () => probeModule;
  return wrapped;
}

function wrapModule(component: string, modulePath: string, module: object, counter: ExecutionCounter) {
  const result: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(module)) {
    const fn = value as Record<string, unknown>;
    const kind = typeof value === "function" ? kindOf(fn) : undefined;
    const handler = kind && typeof fn._handler === "function" ? (fn._handler as (ctx: unknown, args: unknown) => unknown) : undefined;
    if (kind === undefined || handler === undefined) {
      result[name] = value;
      continue;
    }
    const label = `${modulePath}:${name}`;
    const counted = async (ctx: unknown, args: unknown) => {
      const parent = frames.getStore();
      const role: Role =
        parent === HARNESS ? "harness" : parent !== undefined && !parent.done && parent.kind === "mutation" ? "nested" : "separate";
      counter.record(component, label, kind, role);
      const frame: Frame = { kind, done: false };
      try {
        return await frames.run(frame, () => handler(ctx, args));
      } finally {
        frame.done = true;
      }
    };
    result[name] = new Proxy(value as object, {
      get: (target, property, receiver) => (property === "_handler" ? counted : Reflect.get(target, property, receiver)),
    });
  }
  return result;
}

// ---------------------------------------------------------------------------------------
// One measured run.
// ---------------------------------------------------------------------------------------
type System = "ours" | "baseline";
const NAMESPACES = ["app", "posthog", "baseline"] as const;
type Scheduled = {
  total: number;
  byName: Record<string, Record<string, number>>;
  pending: Array<{ name: string; inMs: number; args: unknown }>;
};

interface RunResult {
  events: ReceivedEvent[];
  distinctUuids: number;
  httpRequests: number;
  /** Request bodies as sent (compressed size when gzipped). */
  requestBytes: number;
  gzippedRequests: number;
  requestStatuses: Record<string, number>;
  /** Events per accepted request, in arrival order. */
  batchSizes: number[];
  scheduled: Record<(typeof NAMESPACES)[number], Scheduled>;
  counter: ExecutionCounter;
  captureLoopMs: number;
  allArrivedMs: number;
  latencies: number[];
}

function newInstance(counter: ExecutionCounter) {
  const t = convexTest({ schema: appSchema, modules: instrument("app", appModules, counter) });
  t.registerComponent("posthog", ourSchema, instrument("posthog", ourModules, counter));
  t.registerComponent("baseline", baselineTest.schema, instrument("baseline", baselineModules, counter));
  return t;
}
type Instance = ReturnType<typeof newInstance>;

const probes: Record<(typeof NAMESPACES)[number], FunctionReference<"query", any>> = {
  app: anyApi.benchProbe!.scheduled as FunctionReference<"query", any>,
  posthog: componentsGeneric().posthog.benchProbe.scheduled as FunctionReference<"query", any>,
  baseline: componentsGeneric().baseline.benchProbe.scheduled as FunctionReference<"query", any>,
};

async function scheduledRows(t: Instance) {
  const entries = await Promise.all(NAMESPACES.map(async (ns) => [ns, (await harness(() => t.query(probes[ns], {}))) as Scheduled] as const));
  return Object.fromEntries(entries) as Record<(typeof NAMESPACES)[number], Scheduled>;
}

/** Jobs pending beyond this are not waited for: they are reported as "still scheduled". */
const LATER_MS = 10_000;

/** Jobs running, or pending and due soon, over all namespaces. */
function unfinished(scheduled: Record<string, Scheduled>) {
  let n = 0;
  for (const { byName, pending } of Object.values(scheduled)) {
    for (const states of Object.values(byName)) n += states.inProgress ?? 0;
    n += pending.filter((job) => job.inMs < LATER_MS).length;
  }
  return n;
}

/** Jobs still pending at the end (due later than LATER_MS), over all namespaces. */
function stillScheduled(scheduled: Record<string, Scheduled>) {
  return Object.values(scheduled).flatMap((s) => s.pending);
}

async function waitUntil(what: string, check: () => Promise<boolean> | boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

function firstArrivals(events: ReceivedEvent[]) {
  const byUuid = new Map<string, ReceivedEvent>();
  for (const event of events) if (!byUuid.has(event.uuid)) byUuid.set(event.uuid, event);
  return [...byUuid.values()];
}

/**
 * How the 1,000 capturing mutations are issued. Each is its own `t.mutation`, awaited.
 *  - paced: one every `intervalMs` on real timers (sleeping until the next one's time), so
 *    background work (scheduled functions, HTTP) runs between captures, as in a deployment
 *    where mutations from many clients interleave with delivery.
 *  - burst: back to back. convex-test runs a mutation without going through the timer
 *    queue, so no scheduled function starts until the burst is over: every event is queued
 *    before any delivery work begins (best case for batching, worst case for latency).
 */
interface Scenario {
  name: "paced" | "burst";
  description: string;
  intervalMs?: number;
}
const SCENARIOS: Scenario[] = [
  {
    name: "paced",
    intervalMs: 4,
    description: "250 captures/s (one mutation every 4 ms, 1,000 over ~4 s); background work runs between captures",
  },
  {
    name: "burst",
    description: "1,000 mutations back to back; no scheduled function starts until the burst is over",
  },
];

async function run(system: System, server: LocalPostHog, scenario: Scenario, count = EVENTS): Promise<RunResult> {
  const apiKey = `phc_bench_${scenario.name}_${system}${count === EVENTS ? "" : "_warmup"}`;
  vi.stubEnv(system === "ours" ? "POSTHOG_API_KEY" : "POSTHOG_PROJECT_TOKEN", apiKey);
  const capture = system === "ours" ? api.capture.captureOurs : api.capture.captureBaseline;
  const counter = new ExecutionCounter();
  const t = newInstance(counter);

  counter.active = true;
  const start = Date.now();
  for (let index = 0; index < count; index++) {
    if (scenario.intervalMs !== undefined) {
      const due = start + index * scenario.intervalMs;
      await sleep(Math.max(0, due - Date.now()));
    }
    await harness(() => t.mutation(capture, { distinctId: `user-${index % 50}`, event: "bench event", index }));
  }
  const captureLoopMs = Date.now() - start;

  await waitUntil(`${system}: ${count} events at the server`, () => firstArrivals(server.events(apiKey)).length >= count, 90_000);
  // Let the work that follows the last delivery (lease release, bookkeeping) finish, then
  // stop counting: everything each system does for these events has happened.
  await waitUntil(`${system}: scheduled work to finish`, async () => unfinished(await scheduledRows(t)) === 0, 30_000);
  await sleep(500);
  counter.active = false;

  const events = server.events(apiKey);
  const arrivals = firstArrivals(events);
  const requests = server.requests().filter((r) => r.apiKey === apiKey);
  const requestStatuses: Record<string, number> = {};
  for (const r of requests) requestStatuses[String(r.status)] = (requestStatuses[String(r.status)] ?? 0) + 1;
  const latencies = arrivals.map((e) => e.receivedAt - Number(e.properties.bench_captured_at)).sort((a, b) => a - b);
  return {
    events,
    distinctUuids: arrivals.length,
    httpRequests: requests.length,
    requestBytes: requests.reduce((sum, r) => sum + r.bodyBytes, 0),
    gzippedRequests: requests.filter((r) => /gzip/i.test(r.headers["content-encoding"] ?? "") || /compression=gzip/.test(r.query)).length,
    requestStatuses,
    batchSizes: server.batches(apiKey).map((b) => b.events.length),
    scheduled: await scheduledRows(t),
    counter,
    captureLoopMs,
    allArrivedMs: Math.max(...arrivals.map((e) => e.receivedAt)) - start,
    latencies,
  };
}

// ---------------------------------------------------------------------------------------
// Reporting.
// ---------------------------------------------------------------------------------------
interface Metric {
  name: string;
  unit: string;
  ours: number;
  baseline: number;
  ratio: number | null;
}

function metrics(ours: RunResult, baseline: RunResult): Metric[] {
  const rows: Array<[string, string, (r: RunResult) => number]> = [
    ["events received (distinct uuids)", "events", (r) => r.distinctUuids],
    ["events received (incl. duplicates)", "events", (r) => r.events.length],
    ["HTTP requests received by the server", "requests", (r) => r.httpRequests],
    ["request bytes on the wire (bodies, as sent)", "bytes", (r) => r.requestBytes],
    ["  of which gzip-encoded requests", "requests", (r) => r.gzippedRequests],
    ["scheduled functions created (app + components)", "jobs", (r) => NAMESPACES.reduce((s, ns) => s + r.scheduled[ns].total, 0)],
    ["  in the app namespace", "jobs", (r) => r.scheduled.app.total],
    ["  in the component namespace", "jobs", (r) => r.scheduled.posthog.total + r.scheduled.baseline.total],
    ["  still pending at the end, due later (not run, not counted below)", "jobs", (r) => stillScheduled(r.scheduled).length],
    ["action executions", "runs", (r) => r.counter.total({ kind: "action", role: "separate" })],
    ["mutation executions, background (excl. the capturing ones)", "runs", (r) => r.counter.total({ kind: "mutation", role: "separate" })],
    ["capturing mutations (app, called by the bench)", "runs", (r) => r.counter.total({ kind: "mutation", role: "harness", component: "app" })],
    ["component mutations inside the capturing mutations", "calls", (r) => r.counter.total({ kind: "mutation", role: "nested" })],
    ["queries run by the system (excl. the bench's polls)", "runs", (r) => r.counter.total({ kind: "query", role: "separate" }) + r.counter.total({ kind: "query", role: "nested" })],
    ["capture loop: issuing the 1,000 capturing mutations", "ms", (r) => r.captureLoopMs],
    ["time until every event arrived (first capture -> last arrival)", "ms", (r) => r.allArrivedMs],
    ["latency capture -> arrival, median", "ms", (r) => percentile(r.latencies, 50)],
    ["latency capture -> arrival, p95", "ms", (r) => percentile(r.latencies, 95)],
    ["latency capture -> arrival, max", "ms", (r) => r.latencies[r.latencies.length - 1]!],
  ];
  return rows.map(([name, unit, get]) => {
    const o = get(ours);
    const b = get(baseline);
    return { name, unit, ours: o, baseline: b, ratio: b === 0 ? null : o / b };
  });
}

function table(rows: Metric[]) {
  const header = ["metric", "unit", "convex-posthog", "@posthog/convex", "ours/baseline"];
  const body = rows.map((m) => [m.name, m.unit, String(m.ours), String(m.baseline), formatRatio(m.ratio)]);
  return formatTable(header, body);
}

/** "events per request: how many requests", largest first. */
function batchHistogram(sizes: number[]): Record<string, number> {
  const counts = new Map<number, number>();
  for (const size of sizes) counts.set(size, (counts.get(size) ?? 0) + 1);
  return Object.fromEntries([...counts].sort(([a], [b]) => b - a).map(([size, n]) => [String(size), n]));
}

function formatHistogram(sizes: number[]) {
  return Object.entries(batchHistogram(sizes))
    .sort(([a], [b]) => Number(b) - Number(a))
    .map(([size, n]) => `${n}×${size}`)
    .join(", ");
}

function details(r: RunResult) {
  return {
    requestStatuses: r.requestStatuses,
    eventsPerRequest: { first: r.batchSizes.slice(0, 20), histogram: batchHistogram(r.batchSizes) },
    scheduledFunctions: r.scheduled,
    executionsByFunction: r.counter.breakdown(),
  };
}

// ---------------------------------------------------------------------------------------
// The benchmark. Skipped unless run by `npm run bench` (bench/vitest.config.ts sets the
// variable), so a plain `vitest run` with the root config does not pick it up.
// ---------------------------------------------------------------------------------------
describe.skipIf(!process.env.CONVEX_POSTHOG_BENCH)("capture benchmark", () => {
  let server: LocalPostHog;
  beforeAll(async () => {
    server = await startLocalPostHog();
    vi.stubEnv("POSTHOG_HOST", server.url); // both systems; keys are set per run
  });
  afterAll(async () => {
    vi.unstubAllEnvs();
    await server?.close();
  });

  test(`${EVENTS} captures from ${EVENTS} mutations: convex-posthog vs @posthog/convex`, async () => {
    // Warm-up: load every module and let the JIT settle, so neither system pays for it.
    for (const system of ["ours", "baseline"] as const) await run(system, server, SCENARIOS[0]!, WARMUP_EVENTS);

    const sections: Record<string, unknown> = {};
    for (const scenario of SCENARIOS) {
      const ours = await run("ours", server, scenario);
      const baseline = await run("baseline", server, scenario);

      // The work happened: every event arrived, each under its own uuid, for both systems.
      for (const r of [ours, baseline]) {
        expect(r.distinctUuids).toBe(EVENTS);
        expect(new Set(r.events.map((e) => e.properties.bench_index)).size).toBe(EVENTS);
        expect(r.counter.total({ kind: "mutation", role: "harness", component: "app" })).toBe(EVENTS);
      }

      const rows = metrics(ours, baseline);
      const find = (name: string) => rows.find((m) => m.name.startsWith(name))!;
      const targets = {
        "at most 1 HTTP request per 100 events": find("HTTP requests").ours <= EVENTS / 100,
        "at most 1 action execution per 100 events": find("action executions").ours <= EVENTS / 100,
        "median latency within 2 s of the capturing mutation": find("latency capture -> arrival, median").ours <= 2_000,
      };
      console.log(
        `\nCapture benchmark, scenario "${scenario.name}": ${scenario.description}\n` +
          `${EVENTS} events, each from its own mutation; convex-test, real timers, local server\n\n` +
          table(rows) +
          "\n\nTargets for convex-posthog (reported, not asserted):\n" +
          Object.entries(targets)
            .map(([name, met]) => `  ${met ? "met    " : "MISSED "} ${name}`)
            .join("\n") +
          "\n\nRequests × events per request: convex-posthog " +
          formatHistogram(ours.batchSizes) +
          "; @posthog/convex " +
          formatHistogram(baseline.batchSizes) +
          "\n\nExecutions per function (component|function|kind|role):\n" +
          JSON.stringify({ ours: ours.counter.breakdown(), baseline: baseline.counter.breakdown() }, null, 2) +
          "\n",
      );
      sections[scenario.name] = {
        description: scenario.description,
        metrics: rows,
        targets,
        details: { ours: details(ours), baseline: details(baseline) },
      };
    }

    writeResultsSection("capture", {
      date: new Date().toISOString(),
      machine: machineInfo(),
      setup: {
        events: EVENTS,
        mutations: EVENTS,
        runtime: "convex-test 0.0.60 (vitest edge-runtime), real timers, local PostHog-compatible server on 127.0.0.1, all in one process",
        ours: "convex-posthog (this package, source), default delivery options",
        baseline: "@posthog/convex 2.1.5",
        ratio: "ours / baseline (below 1: ours does less or is faster)",
      },
      scenarios: sections,
    });
  });
});
