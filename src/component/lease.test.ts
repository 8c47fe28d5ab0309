// The sender's mutations, driven one by one: crash safety (a sender that dies holding events
// must not strand them), what a capture and a flush read and write (conflicts), and when a
// partial batch may wait.
import { expect, test } from "vitest";
import { api, internal } from "./_generated/api.js";
import { initComponent, useLocalPostHog, waitFor } from "../testing/setup.js";
import { inReadRange, recordReadRanges } from "../testing/realConvex.js";

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

test("a flush reads no index range that a concurrent capture writes into (issue 7, defect 6)", async () => {
  const t = initComponent();
  const destination = { host: server.url, apiKey: "phc_flush" };
  const options = { flushDelayMs: 60_000, retryInitialDelayMs: 60_000 }; // no delivery but the flushes
  // Queued before the flush: events waiting for a retry, and events never tried.
  server.addFaults({ path: "/batch/", status: 503, times: 1 });
  for (let i = 0; i < 3; i++) await t.mutation(api.events.enqueue, { destination, ...message(i), options });
  expect(await t.action(api.delivery.flush, { options })).toMatchObject({ retrying: 3 });
  for (let i = 3; i < 6; i++) await t.mutation(api.events.enqueue, { destination, ...message(i), options });

  const recording = recordReadRanges();
  try {
    expect(await t.action(api.delivery.flush, { options })).toEqual({ delivered: 6, retrying: 0, deadLettered: 0 });
  } finally {
    recording.stop();
  }
  expect(recording.ranges.some((range) => range.table === "events")).toBe(true);

  // On Convex, captures run while the flush's mutations do, and a flush mutation whose read
  // ranges a capture wrote into is retried (and fails after repeated conflicts). convex-test
  // runs one transaction at a time, so the captures run after the flush here, and the test
  // checks that none of the rows they insert lies in a range the flush's mutations read.
  // (Reads by id are not recorded: a capture's rows are new ids, which no flush read.)
  const rows = async () =>
    await t.run(async (ctx) => {
      const all: Array<{ table: string; doc: Record<string, unknown> }> = [];
      for (const table of ["events", "eventBodies", "deliveryTriggers"] as const) {
        for (const doc of await ctx.db.query(table).collect()) all.push({ table, doc });
      }
      return all;
    });
  const before = new Set((await rows()).map((row) => row.doc._id));
  const later = { flushDelayMs: 1000 }; // captures in a new slot: they insert a trigger row too
  for (let i = 6; i < 9; i++) await t.mutation(api.events.enqueue, { destination, ...message(i), options: later });
  const inserted = (await rows()).filter((row) => !before.has(row.doc._id));
  expect(inserted.map((row) => row.table).sort()).toEqual([
    "deliveryTriggers", "eventBodies", "eventBodies", "eventBodies", "events", "events", "events",
  ]);
  for (const { table, doc } of inserted) {
    for (const range of recording.ranges) expect(inReadRange(range, table, doc), `${table} row in ${JSON.stringify(range)}`).toBe(false);
  }
});

test("a partial batch waits for the next slot's delivery only if that starts within maxBatchWaitMs of its oldest capture (issue 7, defect 11)", async () => {
  const t = initComponent();
  const destination = { host: server.url, apiKey: "phc_wait" };
  const options = { flushDelayMs: 60_000, maxBatchWaitMs: 10_000 };
  for (let i = 0; i < 3; i++) await t.mutation(api.events.enqueue, { destination, ...message(i), options });
  const claimDue = async () => {
    const leaseId = await t.mutation(internal.delivery.acquireLease, { options });
    return await t.mutation(internal.delivery.claimBatch, { leaseId, options, scope: "due", runStartedAt: Date.now() });
  };
  /** Stand in for captures that scheduled the next slot's delivery `inMs` from now. */
  const nextSlotIn = (inMs: number) =>
    t.run(async (ctx) => {
      for (const row of await ctx.db.query("deliveryTriggers").collect()) await ctx.db.delete(row._id);
      await ctx.db.insert("deliveryTriggers", { runAt: Date.now() + inMs });
    });

  await nextSlotIn(1_000);
  expect(await claimDue()).toBeNull(); // left to that delivery, to go out in a fuller batch
  await nextSlotIn(30_000);
  expect((await claimDue())?.events).toHaveLength(3); // that one is too late: sent now
});

test("rows queued before an upgrade (no `retrying`, a single retry wake-up in deliveryState) are still delivered", async () => {
  const t = initComponent();
  const destination = { host: server.url, apiKey: "phc_upgrade" };
  const options = { flushDelayMs: 100, retryInitialDelayMs: 20 };
  // What the previous version left: a never-tried event, one waiting for a retry a moment
  // from now, and its wake-up bookkeeping. The schema must still accept all of it.
  await t.run(async (ctx) => {
    const now = Date.now();
    for (const [i, nextAttemptAt, attempts] of [[1, now - 1000, 0], [2, now + 300, 1]] as const) {
      const { uuid, event, message: text } = message(i);
      const body = await ctx.db.insert("eventBodies", { message: text });
      await ctx.db.insert("events", { ...destination, uuid, event, body, bytes: text.length, status: "pending", nextAttemptAt, attempts });
    }
    const retryJob = await ctx.scheduler.runAfter(3_600_000, internal.delivery.kick, { options });
    await ctx.db.insert("deliveryState", { retryAt: now + 3_600_000, retryJob });
  });
  // Any kick after the upgrade (here the first slot's) takes them over; nothing else is captured.
  await t.mutation(internal.delivery.kick, { options });
  await waitFor("both events", () => server.events("phc_upgrade").length === 2);
  expect(new Set(server.events("phc_upgrade").map((e) => e.uuid)).size).toBe(2);
  await waitFor("an empty outbox", async () => (await t.query(api.status.get, {})).pending === 0);
});
