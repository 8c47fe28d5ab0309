// The capture pipeline end to end: the test app's mutations capture through the client,
// the component delivers to the local PostHog-compatible server over real HTTP.
import { describe, expect, test, vi } from "vitest";
import { api } from "../testing/app/_generated/api.js";

const server = useLocalPostHog({ POSTHOG_API_KEY: "phc_delivery" });
import { FAST_DELIVERY, initTestApp, useLocalPostHog, waitFor } from "../testing/setup.js";


type T = ReturnType<typeof initTestApp>;
const drained = (t: T) => async () => {
  const status = await t.query(api.events.status, {});
  return status.pending === 0 ? status : null;
};

function uuidsOnce(expected: number) {
  const uuids = server.events().map((e) => e.uuid);
  expect(uuids).toHaveLength(expected);
  expect(new Set(uuids).size).toBe(expected);
}

describe("delivery", () => {
  test("events captured in mutations arrive in one gzip batch and leave the outbox", async () => {
    const t = initTestApp();
    for (let i = 0; i < 5; i++) {
      await t.mutation(api.events.captureMany, { event: "clicked", count: 2, distinctId: `user-${i}`, options: FAST_DELIVERY });
    }
    expect((await t.query(api.events.status, {})).pending).toBe(10);
    expect(server.events()).toHaveLength(0); // nothing is sent from inside the mutation

    await waitFor("delivery", drained(t));
    uuidsOnce(10);
    const batches = server.batches();
    expect(batches).toHaveLength(1);
    expect(batches[0]).toMatchObject({ apiKey: "phc_delivery", gzip: true, path: "/batch/" });
    expect(batches[0].headers["content-encoding"]).toBe("gzip");
    expect(batches[0].events.map((e) => e.distinct_id).sort()).toEqual(
      ["user-0", "user-0", "user-1", "user-1", "user-2", "user-2", "user-3", "user-3", "user-4", "user-4"],
    );
    const status = await t.query(api.events.status, {});
    expect(status).toMatchObject({ pending: 0, deadLettered: 0, oldestPendingAgeMs: null });
    expect(status.lastDelivery).toMatchObject({ result: "delivered", events: 10, httpStatus: 200 });
  });

  test("batches hold at most batchSize events", async () => {
    const t = initTestApp();
    const options = { ...FAST_DELIVERY, batchSize: 40, flushDelayMs: 300 };
    await t.mutation(api.events.captureMany, { event: "viewed", count: 100, distinctId: "u", options });
    await waitFor("delivery", drained(t));
    uuidsOnce(100);
    expect(server.batches().map((b) => b.events.length)).toEqual([40, 40, 20]);
  });

  test("a steady stream of captures goes out in full batches", async () => {
    const t = initTestApp();
    const options = { ...FAST_DELIVERY, batchSize: 10, flushDelayMs: 250 };
    for (let i = 0; i < 60; i++) {
      await t.mutation(api.events.captureMany, { event: "tick", count: 4, distinctId: "u", options });
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await waitFor("delivery", drained(t));
    uuidsOnce(240);
    // Each slot's delivery leaves its last partial batch to the next slot while captures
    // continue, so at most the stream's end (or a rare busy moment) falls short of 10.
    // (Sending each slot's remainder at once gave 4 partial batches of 24 here.)
    const partial = server.batches().filter((b) => b.events.length < 10);
    expect(partial.length).toBeLessThanOrEqual(2);
  });

  test("under a steady trickle with a short maxBatchWaitMs, every event arrives, still in batches (issue 7, defect 11)", async () => {
    const t = initTestApp();
    // Batches never fill at this rate, so each delivery's last batch is partial; it may be
    // left to the next slot's delivery only while that starts within maxBatchWaitMs of its
    // oldest capture. (Holding it until a batch filled kept these events for seconds.)
    const options = { ...FAST_DELIVERY, requestTimeoutMs: 10_000, batchSize: 1000, flushDelayMs: 50, maxBatchWaitMs: 200 };
    const trickleEnd = Date.now() + 3_000;
    let captured = 0;
    while (Date.now() < trickleEnd) {
      await t.mutation(api.events.captureMany, { event: "tick", count: 1, distinctId: "u", options });
      captured++;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await waitFor("delivery", drained(t));
    uuidsOnce(captured);
    // How long each waited is a timing, measured in `npm run bench` (latency); the rule that
    // bounds it is pinned step by step in lease.test.ts.
    // The events still travel in batches, not one request each.
    expect(server.batches().length).toBeLessThan(captured / 2);
  }, 30_000);

  test("a mutation that captures and then throws leaves nothing queued and nothing sent", async () => {
    const t = initTestApp();
    await expect(
      t.mutation(api.events.placeOrder, { item: "book", distinctId: "u1", fail: true, options: FAST_DELIVERY }),
    ).rejects.toThrow(/payment declined/);
    expect(await t.query(api.events.status, {})).toMatchObject({ pending: 0, deadLettered: 0 });
    expect(await t.run((ctx) => ctx.db.query("orders").collect())).toEqual([]);

    await t.mutation(api.events.placeOrder, { item: "pen", distinctId: "u1", fail: false, options: FAST_DELIVERY });
    await waitFor("delivery", drained(t));
    await new Promise((resolve) => setTimeout(resolve, 200)); // room for a stray delivery to show up
    expect(server.events().map((e) => e.properties.item)).toEqual(["pen"]);
  });

  test("a capture in an action is queued at once and delivered", async () => {
    const t = initTestApp();
    await t.action(api.events.captureFromAction, { event: "exported", distinctId: "u2", options: FAST_DELIVERY });
    await waitFor("delivery", drained(t));
    expect(server.events().map((e) => [e.event, e.distinct_id])).toEqual([["exported", "u2"]]);
  });

  test("flush delivers what is queued now", async () => {
    const t = initTestApp();
    const slow = { ...FAST_DELIVERY, flushDelayMs: 60_000 };
    await t.mutation(api.events.captureMany, { event: "queued", count: 3, distinctId: "u", options: slow });
    expect(await t.action(api.events.flush, { options: slow })).toEqual({ delivered: 3, retrying: 0, deadLettered: 0 });
    uuidsOnce(3);
    expect((await t.query(api.events.status, {})).pending).toBe(0);
  });
});

describe("faults", () => {
  test("1,000 events from 100 mutations survive 503s, 429s, resets, hangs and 413s: each arrives, repeated only as an identical re-send after a timeout", async () => {
    const t = initTestApp();
    // The server shares this process with the whole backend, so a timeout shorter than a
    // busy moment would make the client give up on requests the server then accepts.
    const options = { ...FAST_DELIVERY, requestTimeoutMs: 2_000 };
    server.addFaults(
      { path: "/batch/", status: 503, body: "unavailable", times: 4 },
      { path: "/batch/", status: 429, headers: { "Retry-After": "1" }, times: 2 },
      { path: "/batch/", reset: true, times: 3 },
      { path: "/batch/", hangMs: 2_500, times: 2 },
      { path: "/batch/", maxBodyBytes: 2_500 },
    );
    for (let i = 0; i < 100; i++) {
      await t.mutation(api.events.captureMany, { event: "load", count: 10, distinctId: `user-${i}`, options });
    }
    await waitFor("all events delivered", drained(t), 60_000);

    // Every event arrived. A request the client gave up on (its timeout) may still have been
    // accepted by a busy server: the retry then re-sends those events with the same uuid and
    // timestamp, which PostHog deduplicates. Nothing else may arrive twice.
    const events = server.events();
    expect(new Set(events.map((e) => e.uuid)).size).toBe(1000);
    const first = new Map<string, unknown>();
    for (const { receivedAt: _, ...event } of events) {
      if (first.has(event.uuid)) expect(event).toEqual(first.get(event.uuid));
      else first.set(event.uuid, event);
    }
    const timedOut = server.requests().filter((r) => r.status === "hang").length;
    expect(events.length - 1000).toBeLessThanOrEqual(timedOut * 100); // 100: the default batchSize
    const outcomes = server.requests().map((r) => r.status);
    for (const fault of [503, 429, "reset", "hang", 413]) expect(outcomes).toContain(fault);
    const status = await t.query(api.events.status, {});
    expect(status).toMatchObject({ pending: 0, deadLettered: 0 });
    // every accepted request fit under the size limit: the 413s split batches, nothing was dropped
    expect(Math.max(...server.batches().map((b) => b.bodyBytes))).toBeLessThanOrEqual(2_500);
  }, 90_000);

  test("events waiting for a later retry are not stranded when an earlier wake-up fires", async () => {
    const t = initTestApp();
    const soon = { ...FAST_DELIVERY, retryInitialDelayMs: 600, retryMaxDelayMs: 600 }; // retry in 0.3-0.6 s
    const later = { ...FAST_DELIVERY, retryInitialDelayMs: 3000, retryMaxDelayMs: 3000 }; // retry in 1.5-3 s
    server.addFaults({ path: "/batch/", status: 503, times: 2 });
    await t.mutation(api.events.captureMany, { event: "first", count: 1, distinctId: "u", options: soon });
    await waitFor("first failure", () => server.requests().length === 1);
    await t.mutation(api.events.captureMany, { event: "second", count: 1, distinctId: "u", options: later });
    await waitFor("second failure", () => server.requests().length === 2);
    // The first retry's wake-up fires first and finds only "first" due.
    await waitFor("both delivered", drained(t), 10_000);
    expect(server.events().map((e) => e.event).sort()).toEqual(["first", "second"]);
  }, 15_000);

  test("a retry due after another's wake-up is sent with no further captures (issue 7, defect 1)", async () => {
    const t = initTestApp();
    // B goes out on its own (not held back to join A's retry in a fuller batch).
    const options = { ...FAST_DELIVERY, maxBatchWaitMs: 0 };
    server.addFaults(
      { path: "/batch/", status: 429, headers: { "Retry-After": "1" }, times: 1 },
      { path: "/batch/", status: 429, headers: { "Retry-After": "3" }, times: 1 },
    );
    await t.mutation(api.events.captureMany, { event: "A", count: 1, distinctId: "u", options });
    await waitFor("A refused", () => server.requests().length === 1);
    await t.mutation(api.events.captureMany, { event: "B", count: 1, distinctId: "u", options });
    await waitFor("B refused", () => server.requests().length === 2);
    // A's retry runs first; B's, two seconds later, needs a delivery of its own.
    await waitFor("both delivered", drained(t), 10_000);
    expect(server.events().map((e) => e.event).sort()).toEqual(["A", "B"]);
    expect(server.requests().map((r) => r.status)).toEqual([429, 429, 200, 200]);
  }, 15_000);

  test("after an outage with mixed faults, 1,000 events captured before it all arrive with no further traffic", async () => {
    const t = initTestApp();
    const options = { ...FAST_DELIVERY, requestTimeoutMs: 10_000 };
    server.addFaults(
      { path: "/batch/", status: 503, times: 3 },
      { path: "/batch/", reset: true, times: 3 },
      { path: "/batch/", status: 429, headers: { "Retry-After": "3" }, times: 3 },
      { path: "/batch/", status: 500, times: 3 },
      { path: "/batch/", status: 429, headers: { "Retry-After": "1" }, times: 3 },
    );
    for (let i = 0; i < 10; i++) {
      await t.mutation(api.events.captureMany, { event: "load", count: 100, distinctId: `user-${i}`, options });
    }
    await waitFor("all events delivered", drained(t), 60_000);
    // Every event arrived (a request that timed out on a busy machine may have arrived too:
    // exactly-once on the wire is not promised, PostHog deduplicates by uuid).
    expect(new Set(server.events().map((e) => e.uuid)).size).toBe(1000);
    expect(server.requests().filter((r) => r.status !== 200)).toHaveLength(15);
    expect(await t.query(api.events.status, {})).toMatchObject({ pending: 0, deadLettered: 0 });
  }, 90_000);

  test("Retry-After is honoured before the next attempt", async () => {
    const t = initTestApp();
    server.addFaults({ path: "/batch/", status: 429, headers: { "Retry-After": "1" }, times: 1 });
    await t.mutation(api.events.captureMany, { event: "e", count: 1, distinctId: "u", options: FAST_DELIVERY });
    await waitFor("delivery", drained(t));
    const [refused, accepted] = server.requests();
    expect(refused.status).toBe(429);
    expect(accepted.status).toBe(200);
    expect(accepted.receivedAt - refused.receivedAt).toBeGreaterThanOrEqual(950);
  });

  test("401 dead-letters the events with the error; re-sending after the key is fixed delivers them once", async () => {
    const t = initTestApp();
    vi.stubEnv("POSTHOG_API_KEY", "phc_wrong");
    server.addFaults({ path: "/batch/", apiKey: "phc_wrong", status: 401, body: '{"detail":"invalid API key"}' });
    await t.mutation(api.events.captureMany, { event: "signup", count: 3, distinctId: "u", options: FAST_DELIVERY });
    const dead = await waitFor("dead letters", async () => {
      const s = await t.query(api.events.status, {});
      return s.deadLettered === 3 ? s : null;
    });
    expect(dead!).toMatchObject({ pending: 0, lastDelivery: { result: "dead_lettered", httpStatus: 401 } });
    expect(dead!.lastDelivery?.error).toMatch(/401.*invalid API key/);
    const letters = await t.query(api.events.deadLetters, {});
    expect(letters).toHaveLength(3);
    expect(letters[0]).toMatchObject({ event: "signup", attempts: 1 });
    expect(letters[0].error).toMatch(/HTTP 401/);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(server.requests()).toHaveLength(1); // a permanent rejection is not retried
    expect(server.events()).toHaveLength(0);

    vi.stubEnv("POSTHOG_API_KEY", "phc_fixed");
    expect(await t.mutation(api.events.resendDeadLetters, { options: FAST_DELIVERY })).toBe(3);
    await waitFor("re-delivery", drained(t));
    const events = server.events("phc_fixed");
    expect(events.map((e) => e.uuid).sort()).toEqual(letters.map((l) => l.uuid).sort());
    expect(await t.query(api.events.status, {})).toMatchObject({ pending: 0, deadLettered: 0 });
  });

  test("re-sending dead letters at the cap leaves the calling mutation room for its own work (issue 7, defect 2)", async () => {
    const t = initTestApp();
    // A busy machine must not time requests out: this test is about transaction room.
    const options = { ...FAST_DELIVERY, requestTimeoutMs: 10_000 };
    const slow = { ...options, flushDelayMs: 60_000 };
    server.addFaults({ path: "/batch/", status: 400, body: "bad request" });
    await t.mutation(api.events.captureMany, { event: "lost", count: 1200, distinctId: "u", options: slow });
    await t.action(api.events.flush, { options: slow });
    await waitFor("dead letters", async () => (await t.query(api.events.status, {})).deadLettered === 1200);
    server.clearFaults();
    await t.run(async (ctx) => {
      for (let i = 0; i < 3000; i++) await ctx.db.insert("orders", { item: `item-${i}` });
    });

    // Asked for more than the cap (4,000 was the old one), it re-queues 1,000, using at most a
    // quarter of every limit; the caller then patches 3,000 rows of its own (3,001 index ranges)
    // in the same transaction.
    const first = await t.mutation(api.realConvex.resendDeadLettersThenWork, { limit: 4000, options });
    expect(first).toMatchObject({ resent: 1000, ordersPatched: 3000 });
    for (const [limit, share] of Object.entries(first.usedByResend)) {
      expect(share, `${limit} used by the resend`).toBeLessThanOrEqual(0.25);
    }
    expect(await t.mutation(api.realConvex.resendDeadLettersThenWork, { options })).toMatchObject({ resent: 200 });
    await waitFor("re-delivery", drained(t), 60_000);
    expect(new Set(server.events().map((e) => e.uuid)).size).toBe(1200);
    expect(await t.query(api.events.status, {})).toMatchObject({ pending: 0, deadLettered: 0 });
  }, 120_000);

  test("a single event PostHog refuses as too large is dead-lettered, the rest of its batch delivered", async () => {
    const t = initTestApp();
    server.addFaults({ path: "/batch/", maxBodyBytes: 20_000 });
    const huge = JSON.stringify({ blob: Array.from({ length: 4000 }, (_, i) => `${i}-${Math.random()}`).join() });
    await t.mutation(api.events.captureMany, { event: "small", count: 3, distinctId: "u", options: FAST_DELIVERY });
    await t.mutation(api.events.captureMany, { event: "huge", count: 1, distinctId: "u", propertiesJson: huge, options: FAST_DELIVERY });
    await waitFor("delivery", drained(t));
    expect(server.events().map((e) => e.event).sort()).toEqual(["small", "small", "small"]);
    const letters = await t.query(api.events.deadLetters, {});
    expect(letters.map((l) => l.event)).toEqual(["huge"]);
    expect(letters[0].error).toMatch(/413/);
  });
});
