// status: what a dashboard subscribed to it can show. Convex does not re-run a query as time
// passes, so status gives timestamps the dashboard ages itself.
import { expect, test } from "vitest";
import { api } from "../testing/app/_generated/api.js";
import { initTestApp, useLocalPostHog, waitFor } from "../testing/setup.js";

const TOKEN = "phc_status";
const server = useLocalPostHog({ POSTHOG_API_KEY: TOKEN, POSTHOG_PERSONAL_API_KEY: "phx_status" });

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test("oldestPendingAt is when the oldest waiting event was captured, the same on every read", async () => {
  const t = initTestApp();
  expect(await t.query(api.events.status, {})).toMatchObject({ pending: 0, oldestPendingAt: null, oldestPendingAgeMs: null });

  const before = Date.now();
  await t.mutation(api.events.captureMany, { event: "first", count: 1, distinctId: "u", options: { flushDelayMs: 60_000 } });
  const after = Date.now();
  await pause(30);
  await t.mutation(api.events.captureMany, { event: "second", count: 1, distinctId: "u", options: { flushDelayMs: 60_000 } });

  const first = await t.query(api.events.status, {});
  expect(first.pending).toBe(2);
  expect(first.oldestPendingAt).toBeGreaterThanOrEqual(before);
  expect(first.oldestPendingAt).toBeLessThanOrEqual(after);
  await pause(30);
  const later = await t.query(api.events.status, {});
  expect(later.oldestPendingAt).toBe(first.oldestPendingAt);
});

test("flags.definitionsConfirmedAt is when PostHog last confirmed the definitions", async () => {
  const t = initTestApp();
  expect((await t.query(api.events.status, {})).flags).toMatchObject({ definitionsConfirmedAt: null });
  server.setDefinitions({ flags: [], group_type_mapping: {}, cohorts: {} }, { token: TOKEN });

  const before = Date.now();
  expect(await t.action(api.flags.refresh, {})).toMatchObject({ result: "updated" });
  const after = Date.now();
  const { flags } = await t.query(api.events.status, {});
  expect(flags.definitionsConfirmedAt).toBeGreaterThanOrEqual(before);
  expect(flags.definitionsConfirmedAt).toBeLessThanOrEqual(after);
  expect(flags.definitionsConfirmedAt).toBe(flags.lastRefresh?.at);

  // A failed refresh does not confirm anything: the timestamp stays.
  server.addFaults({ path: "/flags/definitions", status: 500, times: 5 });
  await waitFor("a failed refresh", async () => (await t.action(api.flags.refresh, {})).result !== "updated");
  expect((await t.query(api.events.status, {})).flags.definitionsConfirmedAt).toBe(flags.definitionsConfirmedAt);
});
