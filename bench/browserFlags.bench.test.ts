/// <reference types="vite/client" />
// Browser flags benchmark (posthog.exposeApi). Part 1: what the `flags` query reads for 1, 10
// and 50 requested keys, and the `flag` query for one, in projects of 50 and 5,000 flags,
// against getAllFlags (every flag's definition) at the same sizes. Part 2: the time from a
// flag change on the server to the flag query's new value with the webhook, against the
// README's cron interval. See bench/README.md.
import { convexTest } from "convex-test";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import ourSchema from "../src/component/schema.js";
import { startLocalPostHog, type LocalPostHog } from "../src/local-server/server.js";
import type { DefinitionsResponse } from "../src/testing/conformance.js";
import { api } from "./app/_generated/api.js";
import appSchema from "./app/schema.js";
import { cohortCountFor, flagKey, generateContexts, generateProject } from "./flagsProject.js";
import { formatRatio, formatTable, machineInfo, median, percentile, writeResultsSection } from "./harness.js";

const SIZES = [50, 5_000] as const;
type Size = (typeof SIZES)[number];
/** Requested keys per `flags` call: the first N flags, identical in every project. */
const KEY_COUNTS = [1, 10, 50] as const;
/** Flag changes timed per size. */
const WEBHOOK_CHANGES = 20;
/** The README's cron: `crons.interval(..., { minutes: 1 }, ...)`. */
const CRON_INTERVAL_MS = 60_000;
/** A change lands at a random moment of the interval: on average half of it before the next run. */
const CRON_EXPECTED_WAIT_MS = CRON_INTERVAL_MS / 2;
/** The flags query's reads at 5,000 flags at most this many times its reads at 50 ("flat"). */
const FLAT_FACTOR = 1.5;
const SECRET = "whsec_bench_flags_changed";
const WEBHOOK_PATH = "/posthog/flags-changed";
/** The flag the latency part changes: the first one, switched between everyone and no one. */
const WATCHED = flagKey(0);
const MiB = 2 ** 20;
const READ_LIMITS = { bytesRead: 16 * MiB, documentsRead: 32_000, indexRanges: 4_096 };

type ModuleMap = Record<string, () => Promise<unknown>>;
const appModules: ModuleMap = import.meta.glob("./app/**/*.ts");
const ourModules: ModuleMap = import.meta.glob("../src/component/**/*.ts");

/** Signed in as one generated person; person properties travel as JSON text in a custom claim. */
const PERSON = generateContexts(1)[0]!;
const IDENTITY = { subject: PERSON.distinctId, personProperties: JSON.stringify(PERSON.personProperties ?? {}) };

function newInstance() {
  // The real limits: a read that exceeded them would fail here as it would in Convex.
  const t = convexTest({ schema: appSchema, modules: appModules, transactionLimits: true });
  t.registerComponent("posthog", ourSchema, ourModules);
  return t;
}
type Instance = ReturnType<typeof newInstance>;

/** The project with the watched flag rolled out to everyone (true) or to no one (false). */
function withWatchedFlag(project: DefinitionsResponse, on: boolean): DefinitionsResponse {
  return {
    ...project,
    flags: project.flags.map((flag) =>
      flag.key === WATCHED
        ? { ...flag, active: true, filters: { groups: [{ properties: [], rollout_percentage: on ? 100 : 0 }], multivariate: null, payloads: {} } }
        : flag,
    ),
  };
}

interface Reads {
  documentsRead: number;
  bytesRead: number;
  indexRanges: number;
  /** Flags the read answered for (getAllFlags: the decided ones it returned). */
  answered: number;
}

interface ReadRow {
  read: string;
  /** Requested keys; null for getAllFlags. */
  keys: number | null;
  bySize: Record<Size, Reads>;
}

interface LatencyResult {
  flags: number;
  changes: number;
  /** From the change on the server to the flag query's new value: the webhook call and the query after it. */
  totalMs: { median: number; p95: number; max: number; runs: number[] };
  /** The webhook call (t.fetch): the refresh action fetching the definitions and writing the changed flag. */
  webhookMs: { median: number; p95: number };
  /** The flag query run after the webhook returned. */
  queryMs: { median: number; p95: number };
  /** Flag queries needed until the new value: 1 each time means the webhook's refresh was done when it answered. */
  queriesUntilNewValue: number[];
  refreshResults: string[];
  vsCronExpectedWait: number;
  vsCronInterval: number;
}

const round = (value: number, digits = 2) => Number(value.toFixed(digits));

async function loadProject(t: Instance, server: LocalPostHog, project: DefinitionsResponse, token: string) {
  server.setDefinitions(project, { token });
  vi.stubEnv("POSTHOG_API_KEY", token);
  const loaded = await t.action(api.flags.refreshOurs, {});
  expect(loaded).toMatchObject({ result: "updated", flagsChanged: project.flags.length, cohortsChanged: cohortCountFor(project.flags.length) });
}

/** Part 1 for one size: the reads of each query, and the values checked against getAllFlags. */
async function measureReads(server: LocalPostHog, size: Size) {
  const t = newInstance();
  await loadProject(t, server, generateProject(size), `phc_bench_browser_reads_${size}`);
  const asUser = t.withIdentity(IDENTITY);
  const all = await asUser.query(api.browserFlags.allFlagsReadCost, {});
  const everyValue = JSON.parse(all.values) as Record<string, unknown>;
  // The work happened: getAllFlags decided most of the project, and each browser read
  // answered every requested key with getAllFlags's value for it.
  expect(all.answered).toBeGreaterThan(size / 2);
  const reads: Record<string, Reads> = { getAllFlags: pick(all) };
  const check = (answer: { answered: number; values: string }, keys: string[]) => {
    expect(answer.answered).toBe(keys.length);
    const values = JSON.parse(answer.values) as Record<string, unknown>;
    for (const key of keys) expect(values[key], key).toEqual(everyValue[key]);
  };
  for (const count of KEY_COUNTS) {
    const keys = Array.from({ length: count }, (_, i) => flagKey(i));
    const answer = await asUser.query(api.browserFlags.flagsReadCost, { keys });
    check(answer, keys);
    reads[`flags ${count}`] = pick(answer);
  }
  const one = await asUser.query(api.browserFlags.flagReadCost, { key: WATCHED });
  check(one, [WATCHED]);
  reads.flag = pick(one);
  return reads;
}

function pick(answer: Reads): Reads {
  return { documentsRead: answer.documentsRead, bytesRead: answer.bytesRead, indexRanges: answer.indexRanges, answered: answer.answered };
}

/** Part 2 for one size: change the watched flag on the server, call the webhook, query until the new value. */
async function measureWebhook(server: LocalPostHog, size: Size): Promise<LatencyResult> {
  const token = `phc_bench_browser_webhook_${size}`;
  const project = generateProject(size);
  const versions = { on: withWatchedFlag(project, true), off: withWatchedFlag(project, false) };
  const t = newInstance();
  await loadProject(t, server, versions.on, token);
  const asUser = t.withIdentity(IDENTITY);
  expect((await asUser.query(api.browserFlags.flag, { key: WATCHED })).value).toBe(true);
  const webhook = () =>
    t.fetch(WEBHOOK_PATH, { method: "POST", headers: { authorization: `Bearer ${SECRET}`, "content-type": "application/json" }, body: "{}" });
  // Warm-up: one change each way, not timed (module loading, the JIT).
  for (const on of [false, true]) {
    server.setDefinitions(on ? versions.on : versions.off, { token });
    expect((await webhook()).status).toBe(200);
    expect((await asUser.query(api.browserFlags.flag, { key: WATCHED })).value).toBe(on);
  }

  const total: number[] = [];
  const webhookMs: number[] = [];
  const queryMs: number[] = [];
  const queries: number[] = [];
  const refreshResults: string[] = [];
  for (let change = 0; change < WEBHOOK_CHANGES; change++) {
    const on = change % 2 === 1; // starts from true: off, on, off, ...
    server.setDefinitions(on ? versions.on : versions.off, { token });
    // The flag has changed on the server: the clock starts.
    const start = performance.now();
    const response = await webhook();
    const answered = performance.now();
    expect(response.status).toBe(200);
    const refresh = (await response.json()) as { result: string; flagsChanged: number };
    refreshResults.push(`${refresh.result}:${refresh.flagsChanged}`);
    let value: unknown;
    let attempts = 0;
    do {
      attempts++;
      value = (await asUser.query(api.browserFlags.flag, { key: WATCHED })).value;
    } while (value !== on && attempts < 50);
    const end = performance.now();
    expect(value).toBe(on);
    total.push(end - start);
    webhookMs.push(answered - start);
    queryMs.push(end - answered);
    queries.push(attempts);
  }
  const summary = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    return { median: round(median(values)), p95: round(percentile(sorted, 95)) };
  };
  const totalSummary = summary(total);
  return {
    flags: size,
    changes: WEBHOOK_CHANGES,
    totalMs: { ...totalSummary, max: round(Math.max(...total)), runs: total.map((ms) => round(ms)) },
    webhookMs: summary(webhookMs),
    queryMs: summary(queryMs),
    queriesUntilNewValue: queries,
    refreshResults,
    vsCronExpectedWait: totalSummary.median / CRON_EXPECTED_WAIT_MS,
    vsCronInterval: totalSummary.median / CRON_INTERVAL_MS,
  };
}

const count = (value: number) => value.toLocaleString("en-US");
const READ_NAMES: Record<string, string> = {
  "flags 1": "flags, 1 key",
  "flags 10": "flags, 10 keys",
  "flags 50": "flags, 50 keys",
  flag: "flag, 1 key",
  getAllFlags: "getAllFlags (every flag)",
};

describe.skipIf(!process.env.CONVEX_POSTHOG_BENCH)("browser flags benchmark", () => {
  let server: LocalPostHog;
  beforeAll(async () => {
    server = await startLocalPostHog();
    vi.stubEnv("POSTHOG_HOST", server.url);
    vi.stubEnv("POSTHOG_PERSONAL_API_KEY", "phx_bench_browser");
    vi.stubEnv("POSTHOG_WEBHOOK_SECRET", SECRET);
  });
  afterAll(async () => {
    vi.unstubAllEnvs();
    await server?.close();
  });

  test("flags/flag query reads at 50 and 5,000 flags; webhook refresh to new value against the cron", async () => {
    const started = Date.now();
    const readsBySize = {} as Record<Size, Record<string, Reads>>;
    for (const size of SIZES) readsBySize[size] = await measureReads(server, size);
    const latency: LatencyResult[] = [];
    for (const size of SIZES) latency.push(await measureWebhook(server, size));

    const [small, large] = SIZES;
    const rows: ReadRow[] = Object.keys(READ_NAMES).map((read) => ({
      read,
      keys: read === "getAllFlags" ? null : read === "flag" ? 1 : Number(read.split(" ")[1]),
      bySize: { [small]: readsBySize[small][read]!, [large]: readsBySize[large][read]! } as Record<Size, Reads>,
    }));
    const allAtLarge = readsBySize[large].getAllFlags!;
    const flat = rows
      .filter((r) => r.read !== "getAllFlags")
      .map((r) => ({
        read: r.read,
        bytesGrowth: r.bySize[large].bytesRead / r.bySize[small].bytesRead,
        documentsGrowth: r.bySize[large].documentsRead / r.bySize[small].documentsRead,
      }));
    const flatMet = flat.every((f) => f.bytesGrowth <= FLAT_FACTOR && f.documentsGrowth <= FLAT_FACTOR);

    const readsTable = formatTable(
      ["read", "flags", "documents read", "bytes read", "index ranges", "bytes vs getAllFlags at 5,000"],
      rows.flatMap((r) =>
        SIZES.map((size) => {
          const reads = r.bySize[size];
          return [
            READ_NAMES[r.read]!,
            count(size),
            count(reads.documentsRead),
            count(reads.bytesRead),
            count(reads.indexRanges),
            formatRatio(reads.bytesRead / allAtLarge.bytesRead),
          ];
        }),
      ),
    );
    const flatTable = formatTable(
      ["read", "bytes 5,000/50", "documents 5,000/50"],
      flat.map((f) => [READ_NAMES[f.read]!, formatRatio(f.bytesGrowth), formatRatio(f.documentsGrowth)]),
      1,
    );
    const latencyTable = formatTable(
      ["flags", "changes", "median ms", "p95 ms", "max ms", "webhook call median", "query median", "vs cron expected wait (30 s)", "vs cron interval (60 s)"],
      latency.map((l) => [
        count(l.flags),
        String(l.changes),
        l.totalMs.median.toFixed(1),
        l.totalMs.p95.toFixed(1),
        l.totalMs.max.toFixed(1),
        l.webhookMs.median.toFixed(1),
        l.queryMs.median.toFixed(1),
        formatRatio(l.vsCronExpectedWait),
        formatRatio(l.vsCronInterval),
      ]),
      0,
    );
    console.log(
      `\nBrowser flags (exposeApi), signed in as one generated person; reads are the query's transaction metrics (convex-test, transactionLimits on).\n\n` +
        readsTable +
        `\n\nGrowth from 50 to 5,000 flags (goal: flat, at most ${FLAT_FACTOR}x): ${flatMet ? "met" : "MISSED"}\n` +
        flatTable +
        `\n\ngetAllFlags at 5,000 flags uses ${((allAtLarge.bytesRead / READ_LIMITS.bytesRead) * 100).toFixed(1)}% of 16 MiB read, ` +
        `${((allAtLarge.documentsRead / READ_LIMITS.documentsRead) * 100).toFixed(1)}% of 32,000 documents.\n\n` +
        `Flag change to new value with the webhook (${WEBHOOK_CHANGES} changes per size; the query run after the webhook returns, convex-test has no subscriptions), ` +
        `against a ${CRON_INTERVAL_MS / 60_000}-minute cron:\n` +
        latencyTable +
        `\nQueries until the new value: ${latency.map((l) => `${count(l.flags)} flags max ${Math.max(...l.queriesUntilNewValue)}`).join(", ")}.\n` +
        `(browserFlags: ${((Date.now() - started) / 1000).toFixed(0)} s)\n`,
    );

    // The work happened: every change was refreshed as one changed flag and seen by the first query.
    for (const l of latency) {
      expect(l.refreshResults.every((r) => r === "updated:1"), l.refreshResults.join(", ")).toBe(true);
      expect(l.queriesUntilNewValue.every((n) => n === 1)).toBe(true);
    }

    writeResultsSection("browserFlags", {
      measuredAt: new Date().toISOString(),
      machine: machineInfo(),
      person: { distinctId: PERSON.distinctId },
      reads: rows,
      flat: { factor: FLAT_FACTOR, met: flatMet, growth: flat.map((f) => ({ ...f, bytesGrowth: round(f.bytesGrowth, 3), documentsGrowth: round(f.documentsGrowth, 3) })) },
      webhook: {
        cronIntervalMs: CRON_INTERVAL_MS,
        cronExpectedWaitMs: CRON_EXPECTED_WAIT_MS,
        results: latency.map((l) => ({ ...l, vsCronExpectedWait: Number(l.vsCronExpectedWait.toPrecision(3)), vsCronInterval: Number(l.vsCronInterval.toPrecision(3)) })),
      },
    });
  });
});
