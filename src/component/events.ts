// The outbox's public face: enqueue (inside the caller's transaction), status, dead letters.
import { ConvexError, v } from "convex/values";
import { mutation, query, type MutationCtx } from "./_generated/server.js";
import { utf8Length } from "../core/json.js";
import { MAX_MESSAGE_BYTES } from "../core/messages.js";
import { scheduleDelivery } from "./delivery.js";
import {
  vDeadLetter,
  vDeliveryOptions,
  vDestination,
  vOutboxMessage,
  type DeadLetter,
  type DeliveryOptions,
  type Destination,
  type OutboxMessage,
} from "./validators.js";

/**
 * Queue one encoded PostHog message. Called from the app's mutation (it commits or rolls
 * back with it) or action (it commits at once). Writes only its own row, plus the slot's
 * trigger row when it is the slot's first event.
 */
export const enqueue = mutation({
  args: {
    destination: vDestination,
    ...vOutboxMessage,
    options: v.optional(vDeliveryOptions),
  },
  returns: v.null(),
  handler: async (ctx, { destination, options, ...message }) => {
    await enqueueMessage(ctx, destination, message, options);
    return null;
  },
});

/**
 * Insert the outbox rows of one message and make sure a delivery is scheduled. The client
 * has encoded and checked the message in the caller's function (and names what is wrong);
 * it is not parsed again here. What is checked protects the outbox: the size a document
 * holds, and a body that is one JSON object carrying the row's uuid.
 */
export async function enqueueMessage(
  ctx: MutationCtx,
  destination: Destination,
  { message, uuid, event }: OutboxMessage,
  options: DeliveryOptions | undefined,
): Promise<void> {
  const bytes = utf8Length(message);
  if (bytes > MAX_MESSAGE_BYTES) {
    invalid(`PostHog event is ${bytes} bytes once encoded; the most a Convex document can hold is ${MAX_MESSAGE_BYTES}`);
  }
  if (uuid === "" || event === "") invalid("PostHog message needs a non-empty uuid and event");
  if (!message.startsWith("{") || !message.endsWith("}") || !message.includes(`"uuid":${JSON.stringify(uuid)}`)) {
    invalid("PostHog message must be the JSON object encodeMessage made, with the same uuid");
  }
  const now = Date.now();
  const body = await ctx.db.insert("eventBodies", { message });
  await ctx.db.insert("events", {
    host: destination.host,
    apiKey: destination.apiKey,
    uuid,
    event,
    body,
    bytes,
    status: "pending",
    retrying: false,
    nextAttemptAt: now,
    attempts: 0,
  });
  await scheduleDelivery(ctx, now, options);
}

function invalid(message: string): never {
  throw new ConvexError({ kind: "invalid_input", message });
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
