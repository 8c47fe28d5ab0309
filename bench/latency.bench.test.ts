/// <reference types="vite/client" />
// Latency benchmark: steady streams of captures at 10, 50, 250 and 1,000 events per second,
// each event captured by its own mutation through convex-posthog with its default delivery
// options, delivered over real HTTP to the local PostHog-compatible server. Measures each
// event's capture-to-arrival latency (median, p95, max) and the requests sent per 1,000
// events. Section `latency` of bench/results.json; see bench/README.md.
import { convexTest } from "convex-test";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import ourSchema from "../src/component/schema.js";
import { DEFAULT_DELIVERY } from "../src/component/validators.js";
import { startLocalPostHog, type LocalPostHog, type ReceivedEvent } from "../src/local-server/server.js";
import { api } from "./app/_generated/api.js";
import appSchema from "./app/schema.js";
import { formatTable, machineInfo, median, percentile, sleep, writeResultsSection } from "./harness.js";

const RATES = [10, 50, 250, 1000];
/** How long each rate's stream runs. */
const STREAM_MS = 4_000;
/** After the stream, how long to wait for every event to arrive. */
const DRAIN_TIMEOUT_MS = 30_000;

const appModules = import.meta.glob("./app/**/*.ts");
const ourModules = import.meta.glob("../src/component/**/*.ts");

function newInstance() {
  const t = convexTest({ schema: appSchema, modules: appModules });
  t.registerComponent("posthog", ourSchema, ourModules);
  return t;
}

interface RateResult {
  targetPerSecond: number;
  achievedPerSecond: number;
  events: number;
  requests: number;
  requestsPer1000Events: number;
  eventsPerRequest: { median: number; max: number };
  latencyMs: { median: number; p95: number; max: number };
}

/** Capture at `rate` events/s for STREAM_MS (each event its own mutation), then wait for all to arrive. */
async function runRate(server: LocalPostHog, rate: number): Promise<RateResult> {
  const apiKey = `phc_latency_${rate}`;
  vi.stubEnv("POSTHOG_API_KEY", apiKey);
  const t = newInstance();
  const start = Date.now();
  let captured = 0;
  // Event i is due at start + i / rate; a capture that falls behind goes at once.
  while (Date.now() - start < STREAM_MS) {
    const dueAt = start + (captured * 1000) / rate;
    if (dueAt > Date.now()) await sleep(dueAt - Date.now());
    await t.mutation(api.capture.captureOurs, { distinctId: "u", event: "tick", index: captured });
    captured++;
  }
  const streamMs = Date.now() - start;
  const arrived = () => firstArrivals(server.events(apiKey));
  const deadline = Date.now() + DRAIN_TIMEOUT_MS;
  while (arrived().length < captured) {
    if (Date.now() > deadline) throw new Error(`rate ${rate}/s: ${arrived().length} of ${captured} events arrived`);
    await sleep(25);
  }
  const events = arrived();
  expect(new Set(events.map((e) => e.properties.bench_index)).size).toBe(captured);
  const latencies = events.map((e) => e.receivedAt - (e.properties.bench_captured_at as number)).sort((a, b) => a - b);
  const batchSizes = server.batches(apiKey).map((b) => b.events.length);
  const requests = server.requests().filter((r) => r.apiKey === apiKey).length;
  return {
    targetPerSecond: rate,
    achievedPerSecond: Math.round((captured * 1000) / streamMs),
    events: captured,
    requests,
    requestsPer1000Events: Math.round(((requests * 1000) / captured) * 10) / 10,
    eventsPerRequest: { median: median(batchSizes), max: Math.max(...batchSizes) },
    latencyMs: {
      median: Math.round(median(latencies)),
      p95: Math.round(percentile(latencies, 95)),
      max: Math.round(latencies[latencies.length - 1]!),
    },
  };
}

function firstArrivals(events: ReceivedEvent[]) {
  const byUuid = new Map<string, ReceivedEvent>();
  for (const event of events) if (!byUuid.has(event.uuid)) byUuid.set(event.uuid, event);
  return [...byUuid.values()];
}

describe.skipIf(!process.env.CONVEX_POSTHOG_BENCH)("latency benchmark", () => {
  let server: LocalPostHog;
  beforeAll(async () => {
    server = await startLocalPostHog();
    vi.stubEnv("POSTHOG_HOST", server.url);
  });
  afterAll(async () => {
    vi.unstubAllEnvs();
    await server?.close();
  });

  test(`steady streams at ${RATES.join(", ")} events/s`, async () => {
    await runRate(server, 20); // warm-up: load every module and let the JIT settle
    const results: RateResult[] = [];
    for (const rate of RATES) results.push(await runRate(server, rate));

    const rows = results.map((r) => [
      `${r.targetPerSecond}/s`,
      `${r.achievedPerSecond}/s`,
      String(r.events),
      String(r.latencyMs.median),
      String(r.latencyMs.p95),
      String(r.latencyMs.max),
      String(r.requestsPer1000Events),
      `${r.eventsPerRequest.median} / ${r.eventsPerRequest.max}`,
    ]);
    console.log(
      `\nLatency benchmark: ${STREAM_MS / 1000} s steady streams, each event from its own mutation, default delivery ` +
        `(flushDelayMs ${DEFAULT_DELIVERY.flushDelayMs}, maxBatchWaitMs ${DEFAULT_DELIVERY.maxBatchWaitMs}, batchSize ${DEFAULT_DELIVERY.batchSize})\n\n` +
        formatTable(
          ["target", "achieved", "events", "median ms", "p95 ms", "max ms", "requests / 1,000 events", "events/request median / max"],
          rows,
          1,
        ) +
        "\n",
    );
    writeResultsSection("latency", {
      date: new Date().toISOString(),
      machine: machineInfo(),
      setup: {
        streamMs: STREAM_MS,
        delivery: DEFAULT_DELIVERY,
        runtime: "convex-test 0.0.60 (vitest edge-runtime), real timers, local PostHog-compatible server on 127.0.0.1, all in one process",
        latency: "server arrival time minus Date.now() inside the capturing mutation",
      },
      rates: results,
    });
  });
});
