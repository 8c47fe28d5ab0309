// The outbox's public face: enqueue (inside the caller's transaction), status, dead letters.
import { ConvexError, v } from "convex/values";
import { mutation, query, type MutationCtx } from "./_generated/server.js";
import { scheduleDelivery } from "./delivery.js";
import {
  vDeadLetter,
  vDeliveryOptions,
  vDestination,
  type DeadLetter,
  type DeliveryOptions,
  type Destination,
} from "./validators.js";

/**
 * Largest encoded message we store. A Convex document holds at most 1 MiB; the rest of the
 * row (keys, uuid, bookkeeping) needs a little room.
 */
export const MAX_MESSAGE_BYTES = 1024 * 1024 - 8 * 1024;

const utf8 = new TextEncoder();

/**
 * Queue one encoded PostHog message. Called from the app's mutation (it commits or rolls
 * back with it) or action (it commits at once). Writes only its own row, plus the slot's
 * trigger row when it is the slot's first event.
 */
export const enqueue = mutation({
  args: {
    destination: vDestination,
    message: v.string(),
    options: v.optional(vDeliveryOptions),
  },
  returns: v.null(),
  handler: async (ctx, { destination, message, options }) => {
    await enqueueMessage(ctx, destination, message, options);
    return null;
  },
});

/** Insert the outbox rows of one message and make sure a delivery is scheduled. */
export async function enqueueMessage(
  ctx: MutationCtx,
  destination: Destination,
  message: string,
  options: DeliveryOptions | undefined,
): Promise<void> {
  const bytes = utf8.encode(message).length;
  if (bytes > MAX_MESSAGE_BYTES) {
    throw new ConvexError({
      kind: "invalid_input",
      message: `PostHog event is ${bytes} bytes once encoded; the most a Convex document can hold is ${MAX_MESSAGE_BYTES}`,
    });
  }
  const parsed = parseMessage(message);
  const now = Date.now();
  const body = await ctx.db.insert("eventBodies", { message });
  await ctx.db.insert("events", {
    host: destination.host,
    apiKey: destination.apiKey,
    uuid: parsed.uuid,
    event: parsed.event,
    body,
    bytes,
    status: "pending",
    retrying: false,
    nextAttemptAt: now,
    attempts: 0,
  });
  await scheduleDelivery(ctx, now, options);
}

function parseMessage(message: string): { uuid: string; event: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(message);
  } catch {
    throw new ConvexError({ kind: "invalid_input", message: "PostHog message is not valid JSON" });
  }
  const m = parsed as Record<string, unknown> | null;
  for (const field of ["event", "distinct_id", "uuid", "timestamp"]) {
    if (typeof m?.[field] !== "string" || m[field] === "") {
      throw new ConvexError({ kind: "invalid_input", message: `PostHog message needs a non-empty string ${field}` });
    }
  }
  return { uuid: m!.uuid as string, event: m!.event as string };
}

export const listDeadLetters = query({
  args: { limit: v.optional(v.number()) },
  returns: v.array(vDeadLetter),
  handler: async (ctx, { limit }): Promise<DeadLetter[]> => {
    const rows = await ctx.db
      .query("events")
      .withIndex("by_status", (q) => q.eq("status", "dead"))
      .take(Math.min(limit ?? 100, 1000));
    return rows.map((row) => ({
      id: row._id,
      uuid: row.uuid,
      event: row.event,
      host: row.host,
      attempts: row.attempts,
      error: row.lastError ?? "",
      deadLetteredAt: row.deadLetteredAt ?? row._creationTime,
    }));
  },
});

/**
 * Most dead letters one `resendDeadLetters` call re-queues (also its default). Each costs
 * one index range (patching a row read by a query reads it again by id), so at the cap the
 * call uses about a quarter of a transaction's 4,096 ranges and leaves the calling mutation
 * the rest; call again for more.
 */
export const RESEND_LIMIT = 1000;

/**
 * Put dead-lettered events back in the queue, sent to `destination` (the client's current
 * host and key, so fixing a wrong key and re-sending works). Same uuids: PostHog dedups.
 */
export const resendDeadLetters = mutation({
  args: {
    destination: vDestination,
    options: v.optional(vDeliveryOptions),
    limit: v.optional(v.number()),
  },
  returns: v.number(),
  handler: async (ctx, { destination, options, limit }) => {
    const now = Date.now();
    const rows = await ctx.db
      .query("events")
      .withIndex("by_status", (q) => q.eq("status", "dead"))
      .take(Math.min(limit ?? RESEND_LIMIT, RESEND_LIMIT));
    for (const row of rows) {
      await ctx.db.patch(row._id, {
        status: "pending",
        retrying: false,
        host: destination.host,
        apiKey: destination.apiKey,
        nextAttemptAt: now,
        attempts: 0,
        deadLetteredAt: undefined,
      });
    }
    if (rows.length > 0) await scheduleDelivery(ctx, now, options);
    return rows.length;
  },
});
