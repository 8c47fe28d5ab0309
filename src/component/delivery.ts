// Batch delivery from the outbox to PostHog's /batch/.
//
// Every way into a sender goes through a mutation that first takes a lease whose watchdog
// (a scheduled mutation) restarts delivery when the lease runs out, so an action that
// crashes or times out mid-batch only delays its events. See README.md for the design.
import { v } from "convex/values";
import type { Doc, Id } from "./_generated/dataModel.js";
import { internal } from "./_generated/api.js";
import {
  action,
  internalAction,
  internalMutation,
  type ActionCtx,
  type MutationCtx,
} from "./_generated/server.js";
import { postBatch } from "../core/batchTransport.js";
import { retryDelay } from "../core/http.js";
import { forgetExpiredExposures } from "./exposures.js";
import { Tallier, type BatchTally } from "../core/governance/tally.js";
import {
  forgetOldTallies,
  mergeTally,
  readTallyWatch,
  vBatchTally,
  vTallyWatch,
  type TallyWatchConfig,
} from "./governance/tallies.js";
import {
  deliverySettings,
  vDeliveryOptions,
  vFlushResult,
  type DeliveryOptions,
  type FlushResult,
} from "./validators.js";

/** How long a sender may hold events before a watchdog hands them to another sender. */
const MIN_LEASE_MS = 5 * 60_000;
/** Ample room for database calls between HTTP attempts. */
const LEASE_MARGIN_MS = 30_000;
/** Keep one request body well under PostHog's limits and the action's 64 MiB of memory. */
const MAX_BATCH_BYTES = 5 * 1024 * 1024;
/** Rows examined per claim: enough to fill a batch past events of other destinations. */
const CLAIM_SCAN_LIMIT = 1000;

type Scope = "due" | "all";
const vScope = v.union(v.literal("due"), v.literal("all"));

function leaseLength(options: DeliveryOptions | undefined): number {
  const { requestTimeoutMs } = deliverySettings(options);
  return Math.max(MIN_LEASE_MS, requestTimeoutMs * 8) + LEASE_MARGIN_MS;
}

/**
 * Make sure a delivery runs at the end of the flush slot holding `at`: called by every
 * enqueue (at = now) and for every retry (at = its retry time), so each waiting event has a
 * delivery scheduled at or after the time it is due. Reads one trigger row that is written
 * once per slot, never updated.
 */
export async function scheduleDelivery(
  ctx: MutationCtx,
  at: number,
  options: DeliveryOptions | undefined,
): Promise<void> {
  const { flushDelayMs } = deliverySettings(options);
  const runAt = flushDelayMs > 0 ? (Math.floor(at / flushDelayMs) + 1) * flushDelayMs : at;
  const trigger = await ctx.db
    .query("deliveryTriggers")
    .withIndex("by_runAt", (q) => q.eq("runAt", runAt))
    .first();
  if (trigger !== null) return;
  await ctx.db.insert("deliveryTriggers", { runAt });
  await ctx.scheduler.runAt(runAt, internal.delivery.kick, { options });
}

async function createLease(
  ctx: MutationCtx,
  now: number,
  options: DeliveryOptions | undefined,
): Promise<Id<"leases">> {
  const expiresAt = now + leaseLength(options);
  const watchdog: Id<"_scheduled_functions"> = await ctx.scheduler.runAt(expiresAt, internal.delivery.kick, { options });
  return await ctx.db.insert("leases", { expiresAt, watchdog });
}

/** Start a sender if anything is due. Scheduled by slot triggers (captures, retries) and watchdogs. */
export const kick = internalMutation({
  args: { options: v.optional(vDeliveryOptions) },
  returns: v.null(),
  handler: async (ctx, { options }): Promise<null> => {
    const now = Date.now();
    await forgetPast(ctx, now);
    await forgetExpiredExposures(ctx, now);
    await forgetOldTallies(ctx, now);
    await adoptUnmarkedEvents(ctx, now, options);
    for (const retrying of [true, false]) {
      const due = await ctx.db
        .query("events")
        .withIndex("by_status_retrying_due", (q) =>
          q.eq("status", "pending").eq("retrying", retrying).lte("nextAttemptAt", now),
        )
        .first();
      if (due !== null) {
        const leaseId = await createLease(ctx, now, options);
        await ctx.scheduler.runAfter(0, internal.delivery.deliver, { leaseId, options });
        break;
      }
    }
    return null;
  },
});

/**
 * Pending events queued by a version without `retrying` (before an upgrade): mark them as
 * waiting for a retry, which every sender reads, and give the future ones their slot's
 * delivery. Captures never write this range, so reading it conflicts with nothing.
 */
async function adoptUnmarkedEvents(ctx: MutationCtx, now: number, options: DeliveryOptions | undefined) {
  const unmarked = await ctx.db
    .query("events")
    .withIndex("by_status_retrying_due", (q) => q.eq("status", "pending").eq("retrying", undefined))
    .take(100);
  for (const event of unmarked) await ctx.db.patch(event._id, { retrying: true });
  const later = new Set(unmarked.map((e) => e.nextAttemptAt).filter((at) => at > now));
  for (const at of later) await scheduleDelivery(ctx, at, options);
  if (unmarked.length === 100) await ctx.scheduler.runAfter(0, internal.delivery.kick, { options });
}

/** Drop trigger rows of past slots and leases that ran out (their watchdog already fired). */
async function forgetPast(ctx: MutationCtx, now: number) {
  const triggers = await ctx.db
    .query("deliveryTriggers")
    .withIndex("by_runAt", (q) => q.lte("runAt", now))
    .take(100);
  for (const trigger of triggers) await ctx.db.delete(trigger._id);
  const leases = await ctx.db
    .query("leases")
    .withIndex("by_expiresAt", (q) => q.lt("expiresAt", now))
    .take(100);
  for (const lease of leases) await ctx.db.delete(lease._id);
}

export const acquireLease = internalMutation({
  args: { options: v.optional(vDeliveryOptions) },
  returns: v.id("leases"),
  handler: async (ctx, { options }): Promise<Id<"leases">> => await createLease(ctx, Date.now(), options),
});

export const deliver = internalAction({
  args: { leaseId: v.id("leases"), options: v.optional(vDeliveryOptions) },
  returns: vFlushResult,
  handler: async (ctx, { leaseId, options }): Promise<FlushResult> =>
    await sendUnderLease(ctx, leaseId, options, "due"),
});

/** Deliver everything queued now, including events waiting for a retry, and say how it went. */
export const flush = action({
  args: { options: v.optional(vDeliveryOptions) },
  returns: vFlushResult,
  handler: async (ctx, { options }): Promise<FlushResult> => {
    const leaseId: Id<"leases"> = await ctx.runMutation(internal.delivery.acquireLease, { options });
    return await sendUnderLease(ctx, leaseId, options, "all");
  },
});

const vClaim = v.object({
  host: v.string(),
  apiKey: v.string(),
  events: v.array(v.object({ id: v.id("events"), message: v.string() })),
  /** What to tally of the events delivered, when the guardian or the usage signal asks. */
  watch: v.optional(vTallyWatch),
});
type Claim = {
  host: string;
  apiKey: string;
  events: Array<{ id: Id<"events">; message: string }>;
  watch?: TallyWatchConfig;
};

const vBatchResult = v.object({
  ids: v.array(v.id("events")),
  outcome: v.union(v.literal("delivered"), v.literal("retry"), v.literal("dead")),
  httpStatus: v.optional(v.number()),
  error: v.optional(v.string()),
  retryAfterMs: v.optional(v.number()),
  /** With a watch, the sender's tallies of a delivered result's messages. */
  tally: v.optional(vBatchTally),
});
type BatchResult = {
  ids: Id<"events">[];
  outcome: "delivered" | "retry" | "dead";
  httpStatus?: number;
  error?: string;
  retryAfterMs?: number;
  tally?: BatchTally;
};

async function sendUnderLease(
  ctx: ActionCtx,
  leaseId: Id<"leases">,
  options: DeliveryOptions | undefined,
  scope: Scope,
): Promise<FlushResult> {
  const settings = deliverySettings(options);
  const startedAt = Date.now();
  // Stop claiming while there is still time to finish a batch, even one split many times.
  const stopClaimingAt = startedAt + leaseLength(options) - LEASE_MARGIN_MS - settings.requestTimeoutMs * 4;
  const totals: FlushResult = { delivered: 0, retrying: 0, deadLettered: 0 };
  let more = false;
  for (;;) {
    if (Date.now() > stopClaimingAt) {
      more = true;
      break;
    }
    const claim: Claim | null = await ctx.runMutation(internal.delivery.claimBatch, {
      leaseId,
      options,
      scope,
      runStartedAt: startedAt,
    });
    if (claim === null) break;
    const results = await sendSplittingOnTooLarge(claim, claim.events, settings.requestTimeoutMs);
    if (claim.watch) tallyDelivered(results, claim.events, claim.watch);
    await ctx.runMutation(internal.delivery.completeBatch, { leaseId, options, results, watch: claim.watch });
    for (const result of results) {
      if (result.outcome === "delivered") totals.delivered += result.ids.length;
      else if (result.outcome === "retry") totals.retrying += result.ids.length;
      else totals.deadLettered += result.ids.length;
    }
  }
  await ctx.runMutation(internal.delivery.releaseLease, { leaseId, options, continueDelivery: more });
  return totals;
}

/**
 * Tally each delivered result from the messages the sender already holds, so that
 * completeBatch need not read the events' bodies again.
 */
function tallyDelivered(results: BatchResult[], events: Claim["events"], watch: TallyWatchConfig): void {
  const messages = new Map(events.map((e) => [e.id, e.message]));
  for (const result of results) {
    if (result.outcome !== "delivered") continue;
    const tallier = new Tallier(watch);
    for (const id of result.ids) tallier.add(messages.get(id)!);
    result.tally = tallier.result();
  }
}

/** Send a batch; on 413 send each half on its own, down to single events. */
async function sendSplittingOnTooLarge(
  destination: { host: string; apiKey: string },
  events: Claim["events"],
  timeoutMs: number,
): Promise<BatchResult[]> {
  const ids = events.map((e) => e.id);
  const outcome = await postBatch({
    host: destination.host,
    apiKey: destination.apiKey,
    messages: events.map((e) => e.message),
    timeoutMs,
  });
  switch (outcome.kind) {
    case "delivered":
      return [{ ids, outcome: "delivered", httpStatus: outcome.httpStatus }];
    case "retry":
      return [{ ids, outcome: "retry", httpStatus: outcome.httpStatus, error: outcome.error, retryAfterMs: outcome.retryAfterMs }];
    case "rejected":
      return [{ ids, outcome: "dead", httpStatus: outcome.httpStatus, error: outcome.error }];
    case "too_large": {
      if (events.length === 1) {
        const error = `${outcome.error} (PostHog refused this single event as too large)`;
        return [{ ids, outcome: "dead", httpStatus: outcome.httpStatus, error }];
      }
      const middle = Math.ceil(events.length / 2);
      const first = await sendSplittingOnTooLarge(destination, events.slice(0, middle), timeoutMs);
      const second = await sendSplittingOnTooLarge(destination, events.slice(middle), timeoutMs);
      return [...first, ...second];
    }
  }
}

/**
 * Take the next batch for one destination under the lease: due events (or, for a flush,
 * every pending event nobody holds), each at most once per sender run.
 */
export const claimBatch = internalMutation({
  args: {
    leaseId: v.id("leases"),
    options: v.optional(vDeliveryOptions),
    scope: vScope,
    runStartedAt: v.number(),
  },
  returns: v.union(vClaim, v.null()),
  handler: async (ctx, { leaseId, options, scope, runStartedAt }): Promise<Claim | null> => {
    const now = Date.now();
    const lease = await ctx.db.get(leaseId);
    if (lease === null || lease.expiresAt <= now) return null; // a watchdog took over
    const { batchSize, maxBatchWaitMs } = deliverySettings(options);
    // A delivery takes what was due when it started; later captures belong to a later slot,
    // whose delivery then sends them in full batches instead of this one sending them singly.
    // Captures insert never-tried events due at their own (later) time, so neither range
    // read here holds them, even for a flush: a flush does not conflict with captures.
    const waitingForRetry = await ctx.db
      .query("events")
      .withIndex("by_status_retrying_due", (q) => {
        const retrying = q.eq("status", "pending").eq("retrying", true);
        return scope === "due" ? retrying.lte("nextAttemptAt", runStartedAt) : retrying;
      })
      .take(CLAIM_SCAN_LIMIT);
    const neverFailed = await ctx.db
      .query("events")
      .withIndex("by_status_retrying_due", (q) =>
        q.eq("status", "pending").eq("retrying", false).lte("nextAttemptAt", runStartedAt),
      )
      .take(CLAIM_SCAN_LIMIT);
    const candidates = [...waitingForRetry, ...neverFailed];
    const claimable = (e: Doc<"events">) =>
      !(e.leaseId !== undefined && e.nextAttemptAt > now) && // held by a live sender
      !(e.lastAttemptAt !== undefined && e.lastAttemptAt >= runStartedAt); // tried in this run
    const first = candidates.find(claimable);
    if (first === undefined) return null;
    const batch: Doc<"events">[] = [];
    let bytes = 0;
    for (const e of candidates) {
      if (batch.length >= batchSize) break;
      if (e.host !== first.host || e.apiKey !== first.apiKey || !claimable(e)) continue;
      if (batch.length > 0 && bytes + e.bytes > MAX_BATCH_BYTES) break;
      batch.push(e);
      bytes += e.bytes;
    }
    // A partial batch of events never tried yet waits for the next slot when one is
    // already scheduled, so that delivery sends them with its own in a fuller batch; but no
    // event waits for a delivery scheduled more than maxBatchWaitMs after its capture.
    // (Never-tried events are due from their capture time, and the batch's first is the oldest.)
    if (scope === "due" && batch.length < batchSize && batch.every((e) => e.lastAttemptAt === undefined)) {
      const nextSlot = await ctx.db
        .query("deliveryTriggers")
        .withIndex("by_runAt", (q) => q.gt("runAt", now))
        .first();
      if (nextSlot !== null && nextSlot.runAt <= batch[0]!.nextAttemptAt + maxBatchWaitMs) return null;
    }
    const events: Claim["events"] = [];
    for (const e of batch) {
      await ctx.db.patch(e._id, { leaseId, nextAttemptAt: lease.expiresAt, lastAttemptAt: now });
      const body = await ctx.db.get(e.body);
      events.push({ id: e._id, message: body!.message });
    }
    const watch = await readTallyWatch(ctx);
    return { host: first.host, apiKey: first.apiKey, events, ...(watch ? { watch } : {}) };
  },
});

/**
 * Record what PostHog said: accepted events leave the outbox; the rest wait or are
 * dead-lettered. With a watch, accepted events are tallied as their rows are deleted, in the
 * same transaction, so an event counts once, and only once PostHog has it.
 */
export const completeBatch = internalMutation({
  args: {
    leaseId: v.id("leases"),
    options: v.optional(vDeliveryOptions),
    results: v.array(vBatchResult),
    watch: v.optional(vTallyWatch),
  },
  returns: v.null(),
  handler: async (ctx, { leaseId, options, results, watch }): Promise<null> => {
    const now = Date.now();
    const settings = deliverySettings(options);
    const tallier = watch ? new Tallier(watch) : undefined;
    const retryTimes = new Set<number>();
    for (const result of results) {
      if (result.outcome === "delivered") {
        await deleteDelivered(ctx, result, tallier);
        continue;
      }
      // One jitter per request: its events retry together, in as few slots as their attempt counts.
      const jitter = Math.random();
      for (const id of result.ids) {
        const event = await ctx.db.get(id);
        if (event === null) continue;
        if (event.leaseId !== leaseId || event.status !== "pending") continue; // no longer ours
        const attempts = event.attempts + 1;
        if (result.outcome === "dead") {
          await ctx.db.patch(id, {
            status: "dead",
            attempts,
            leaseId: undefined,
            lastError: result.error,
            deadLetteredAt: now,
          });
          continue;
        }
        const retryAt = now + retryDelay(attempts, result.retryAfterMs, settings, jitter);
        retryTimes.add(retryAt);
        await ctx.db.patch(id, {
          attempts,
          retrying: true,
          leaseId: undefined,
          lastError: result.error,
          nextAttemptAt: retryAt,
        });
      }
    }
    // Each retry gets the delivery of its slot: no wake-up to keep track of, none to lose.
    for (const retryAt of retryTimes) await scheduleDelivery(ctx, retryAt, options);
    await recordOutcome(ctx, now, results);
    if (tallier && watch) await mergeTally(ctx, tallier.result(), watch);
    return null;
  },
});

/**
 * Delete the events of a result PostHog accepted (final, even if our lease lapsed and another
 * sender holds them now) and tally them. The sender's tally of the result holds when every
 * event is still here. Events already gone were delivered, and counted, by another sender
 * after a lease lapse (rare): then only the events still here are tallied, from their bodies.
 */
async function deleteDelivered(ctx: MutationCtx, result: BatchResult, tallier: Tallier | undefined): Promise<void> {
  const present: Doc<"events">[] = [];
  for (const id of result.ids) {
    const event = await ctx.db.get(id);
    if (event !== null) present.push(event);
  }
  if (tallier && result.tally && present.length === result.ids.length) {
    tallier.merge(result.tally);
  } else if (tallier) {
    for (const event of present) {
      const body = await ctx.db.get(event.body);
      if (body !== null) tallier.add(body.message);
    }
  }
  for (const event of present) {
    await ctx.db.delete(event.body);
    await ctx.db.delete(event._id);
  }
}

async function deliveryState(ctx: MutationCtx) {
  const state = await ctx.db.query("deliveryState").first();
  if (state !== null) return state;
  const id = await ctx.db.insert("deliveryState", {});
  return (await ctx.db.get(id))!;
}

async function isPending(ctx: MutationCtx, job: Id<"_scheduled_functions">): Promise<boolean> {
  return (await ctx.db.system.get(job))?.state.kind === "pending";
}

async function recordOutcome(ctx: MutationCtx, now: number, results: BatchResult[]) {
  if (results.length === 0) return;
  const worst =
    results.find((r) => r.outcome === "dead") ?? results.find((r) => r.outcome === "retry") ?? results[0];
  const state = await deliveryState(ctx);
  const anyDelivered = results.some((r) => r.outcome === "delivered");
  await ctx.db.patch(state._id, {
    lastAttemptAt: now,
    lastResult: worst.outcome === "dead" ? "dead_lettered" : worst.outcome === "retry" ? "retrying" : "delivered",
    lastEvents: results.reduce((n, r) => n + r.ids.length, 0),
    lastHttpStatus: worst.httpStatus,
    lastError: worst.error,
    ...(anyDelivered ? { lastSuccessAt: now } : {}),
  });
}

/** End of a sender run: cancel the watchdog, and continue in a fresh run if work remains. */
export const releaseLease = internalMutation({
  args: { leaseId: v.id("leases"), options: v.optional(vDeliveryOptions), continueDelivery: v.boolean() },
  returns: v.null(),
  handler: async (ctx, { leaseId, options, continueDelivery }): Promise<null> => {
    const lease = await ctx.db.get(leaseId);
    if (lease !== null) {
      if (await isPending(ctx, lease.watchdog)) await ctx.scheduler.cancel(lease.watchdog);
      await ctx.db.delete(leaseId);
    }
    if (continueDelivery) await ctx.scheduler.runAfter(0, internal.delivery.kick, { options });
    return null;
  },
});
