/// <reference types="vite/client" />
// The flag guardian's reaction time: from the first regressing event to the killed flag, with
// the guardian on a 1-minute cron and the local source (tallies kept by the delivery path).
// A simulated timeline: the clock (Date only; timers stay real, so delivery and HTTP run for
// real) moves 10 s per tick; each tick a batch of users browse the checkout under a new flag at
// 50% whose treatment throws more than twice the exceptions, everything queued is delivered,
// and every 60 s the guardian runs. Then the wall time of one guardian run. Section `guardian`
// of bench/results.json; see bench/README.md.
import { afterEach, describe, expect, test, vi } from "vitest";
import { api } from "../src/testing/app/_generated/api.js";
import { flushAndDrain, initTestApp, useLocalPostHog } from "../src/testing/setup.js";
import { formatTable, machineInfo, median, writeResultsSection } from "./harness.js";

const TOKEN = "phc_guardian_bench";
const PROJECT = "42";
const server = useLocalPostHog({ POSTHOG_API_KEY: TOKEN, POSTHOG_PERSONAL_API_KEY: "phx_bench", POSTHOG_PROJECT_ID: PROJECT });

const FLAG = "release_checkout_fast";
const TICK_MS = 10_000;
const CRON_MS = 60_000;
/** Users starting a checkout per tick: 120 and 60 a minute. */
const USERS_PER_TICK = [20, 10];
const VIEWS_PER_USER = 3;
const REGRESSING = { treatment: 0.6, control: 0.25 };
/** Give up after this much simulated time. */
const MAX_SIMULATED_MS = 15 * 60_000;
const WALL_RUNS = 7;
/** The toolkit: a 20-minute window read by a cron every 5 minutes (its README's schedule). */
const TOOLKIT = { windowMinutes: 20, cronMinutes: 5 };

const enabled = process.env.CONVEX_POSTHOG_BENCH === "1";

function seedProject() {
  server.setProject(PROJECT, { token: TOKEN });
  const old = new Date(Date.now() - 60 * 60_000).toISOString();
  const half = { groups: [{ properties: [], rollout_percentage: 50 }] };
  server.seedFlags(PROJECT, [
    { key: FLAG, name: "Faster checkout", filters: half, created_at: old },
    { key: "release_checkout_watched", name: "Checkout copy", filters: half, created_at: old },
    {
      key: "experiment_checkout_layout",
      name: "Checkout layout",
      created_at: old,
      filters: {
        groups: [{ properties: [], rollout_percentage: 100 }],
        multivariate: { variants: [{ key: "control", rollout_percentage: 50 }, { key: "compact", rollout_percentage: 50 }] },
      },
    },
  ]);
}

afterEach(() => vi.useRealTimers());

/** One timeline: users arrive each tick, the guardian runs each minute; when is the flag killed? */
async function timeToKill(usersPerTick: number) {
  server.reset();
  const start = Date.parse("2026-12-01T12:00:00.000Z");
  vi.setSystemTime(start - 2 * 60 * 60_000);
  seedProject();
  const t = initTestApp();
  await t.action(api.guardian.refresh, {});
  // The cron has been running: the watch exists before the flag's first event.
  vi.setSystemTime(start - CRON_MS);
  await t.action(api.guardian.runGuardian, {});

  let killedAtMs: number | undefined;
  const ticks: string[][] = [];
  let userIndex = 0;
  for (let at = 0; at <= MAX_SIMULATED_MS && killedAtMs === undefined; at += TICK_MS) {
    vi.setSystemTime(start + at);
    const users = Array.from({ length: usersPerTick }, () => `user-${userIndex++}`);
    await t.mutation(api.guardian.traffic, { users, key: FLAG, views: VIEWS_PER_USER, exceptionsPerUser: REGRESSING });
    await flushAndDrain(t);
    if (at % CRON_MS !== 0) continue;
    const run = await t.action(api.guardian.runGuardian, {});
    const judged = run.result.evaluations.find((evaluation: { key: string }) => evaluation.key === FLAG)!;
    ticks.push([`${at / 1000} s`, judged.decision, judged.reason.slice(0, 60), String(userIndex)]);
    if (judged.decision === "auto_disabled") killedAtMs = at;
  }
  expect(killedAtMs).toBeDefined();
  const read = JSON.parse((await t.query(api.flags.readFlag, { key: FLAG, context: JSON.stringify({ distinctId: "user-0" }) })).result);
  expect(read.value).toBe(false);
  return { usersPerMinute: (usersPerTick * 60_000) / TICK_MS, simulatedMsToKill: killedAtMs!, ticks };
}

describe.skipIf(!enabled)("guardian", () => {
  test("time to kill with a 1-minute cron, and the wall time of one run", async () => {
    // --- the simulated timeline, at two traffic levels ---------------------------------------
    vi.useFakeTimers({ toFake: ["Date"] });
    const timelines = [];
    for (const usersPerTick of USERS_PER_TICK) timelines.push(await timeToKill(usersPerTick));
    vi.useRealTimers();

    // --- wall time of one run (3 watched flags, a full window of tallies) ---------------------
    server.reset();
    seedProject();
    const w = initTestApp();
    await w.action(api.guardian.refresh, {});
    await w.action(api.guardian.runGuardian, {});
    for (let i = 0; i < 240; i += 60) {
      const users = Array.from({ length: 60 }, (_, j) => `wall-${i + j}`);
      await w.mutation(api.guardian.traffic, { users, key: "experiment_checkout_layout", views: VIEWS_PER_USER, exceptionsPerUser: { treatment: 0.25, control: 0.25 } });
    }
    await flushAndDrain(w);
    const wall: Record<string, number> = {};
    for (const source of ["local", "hogql", "both"] as const) {
      const times: number[] = [];
      for (let i = 0; i < WALL_RUNS; i++) {
        const began = performance.now();
        await w.action(api.guardian.runGuardian, { source, dryRun: true });
        times.push(performance.now() - began);
      }
      wall[source] = median(times);
    }

    const toolkitWorstMinutes = TOOLKIT.windowMinutes + TOOLKIT.cronMinutes;
    const section = {
      machine: machineInfo(),
      timeline: {
        viewsPerUser: VIEWS_PER_USER,
        exceptionsPerUser: REGRESSING,
        cronMs: CRON_MS,
        goalMs: 2 * 60_000,
        toolkitWindowPlusCronMs: toolkitWorstMinutes * 60_000,
        runs: timelines.map(({ usersPerMinute, simulatedMsToKill }) => ({ usersPerMinute, simulatedMsToKill })),
      },
      wallMsPerRun: wall,
    };
    writeResultsSection("guardian", section);
    console.log(
      [
        `guardian: time from the first regressing event to the kill, 1-minute cron (goal < 120 s; the toolkit reads a ${TOOLKIT.windowMinutes}-minute window every ${TOOLKIT.cronMinutes} minutes: up to ${toolkitWorstMinutes} min)`,
        ...timelines.flatMap(({ usersPerMinute, simulatedMsToKill, ticks }) => [
          `${usersPerMinute} users a minute: killed ${simulatedMsToKill / 1000} s after the first regressing event (simulated)`,
          formatTable(["cron tick", "decision", "reason", "users so far"], ticks, 3),
          "",
        ]),
        formatTable(["source", "median wall ms per run"], Object.entries(wall).map(([source, ms]) => [source, ms.toFixed(0)]), 1),
      ].join("\n"),
    );
  });
});
