// Crash safety: a sender that dies holding events must not strand them.
import { expect, test } from "vitest";
import { api, internal } from "./_generated/api.js";
import { initComponent, useLocalPostHog, waitFor } from "../testing/setup.js";

const server = useLocalPostHog();

const message = (i: number) => {
  const uuid = `0190a0a0-0000-7000-8000-00000000000${i}`;
  const event = "orphan";
  return { event, uuid, message: JSON.stringify({ event, distinct_id: "u", properties: { i, $lib: "test" }, timestamp: new Date().toISOString(), uuid }) };
};

test("events held by a sender that died are sent again by the watchdog when its lease runs out", async () => {
  const t = initComponent();
  const destination = { host: server.url, apiKey: "phc_lease" };
  const options = { flushDelayMs: 60_000 }; // no slot delivery during the test
  for (let i = 0; i < 4; i++) await t.mutation(api.events.enqueue, { destination, ...message(i), options });

  // A sender takes a lease and claims the batch, then dies without answering.
  const leaseId = await t.mutation(internal.delivery.acquireLease, { options });
  const claim = await t.mutation(internal.delivery.claimBatch, { leaseId, options, scope: "all", runStartedAt: Date.now() });
  expect(claim?.events).toHaveLength(4);
  const lease = await t.run(async (ctx) => await ctx.db.get(leaseId));
  const watchdog = await t.run(async (ctx) => await ctx.db.system.get(lease!.watchdog));
  expect(watchdog).toMatchObject({ name: "delivery:kick", state: { kind: "pending" }, scheduledTime: lease!.expiresAt });

  // While the lease lives, nobody else takes the events.
  await t.mutation(internal.delivery.kick, { options });
  await t.finishInProgressScheduledFunctions();
  expect(server.events("phc_lease")).toHaveLength(0);

  // The lease runs out (moved to the past here instead of waiting minutes): the watchdog's kick delivers.
  await t.run(async (ctx) => {
    await ctx.db.patch(leaseId, { expiresAt: Date.now() - 1 });
    for (const row of await ctx.db.query("events").collect()) await ctx.db.patch(row._id, { nextAttemptAt: Date.now() - 1 });
  });
  await t.mutation(internal.delivery.kick, { options });
  await waitFor("re-delivery", () => server.events("phc_lease").length === 4);
  await t.finishInProgressScheduledFunctions();
  expect(new Set(server.events("phc_lease").map((e) => e.uuid)).size).toBe(4);
  expect(await t.query(api.status.get, {})).toMatchObject({ pending: 0 });

  // The dead sender finally reports: its lease is gone, so it changes nothing.
  const ids = claim!.events.map((e) => e.id);
  await t.mutation(internal.delivery.completeBatch, { leaseId, options, results: [{ ids, outcome: "retry", error: "late" }] });
  expect(await t.query(api.status.get, {})).toMatchObject({ pending: 0, deadLettered: 0 });
});

test("a capture writes only rows it creates, and reads no row a sender rewrites", async () => {
  const t = initComponent();
  const destination = { host: server.url, apiKey: "phc_rows" };
  const options = { flushDelayMs: 60_000 };
  await t.mutation(api.events.enqueue, { destination, ...message(1), options });
  const snapshot = () =>
    t.run(async (ctx) => {
      const rows: Record<string, unknown> = {};
      for (const table of ["events", "eventBodies", "deliveryTriggers", "leases", "deliveryState"] as const) {
        for (const row of await ctx.db.query(table).collect()) rows[row._id] = row;
      }
      return rows;
    });
  const before = await snapshot();
  await t.mutation(api.events.enqueue, { destination, ...message(2), options });
  const after = await snapshot();
  // Every row that existed is unchanged; the capture added exactly its event and body.
  for (const [id, row] of Object.entries(before)) expect(after[id]).toEqual(row);
  expect(Object.keys(after).length - Object.keys(before).length).toBe(2);
});
