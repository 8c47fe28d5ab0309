// `$feature_flag_called` exposure events, deduplicated in storage across every function
// execution (posthog-node keeps its dedup set in one process's memory, so many workers or
// isolates send duplicates).
import { v } from "convex/values";
import { mutation, type MutationCtx } from "./_generated/server.js";
import { enqueueMessage } from "./events.js";
import { vDeliveryOptions, vDestination, vOutboxMessage } from "./validators.js";

/** How long an exposure suppresses the same one, unless the client says otherwise. */
export const DEFAULT_EXPOSURE_DEDUP_MS = 7 * 24 * 60 * 60 * 1000;

/**
 * Queue the exposure event unless the same (distinct id, flag, response, groups) was sent
 * within the dedup window. Returns whether it was queued.
 */
export const record = mutation({
  args: {
    destination: vDestination,
    /** The `$feature_flag_called` message, built and encoded by the client. */
    ...vOutboxMessage,
    /** Identifies (distinct id, flag, response, groups), as posthog-node's dedup key. */
    dedupKey: v.string(),
    dedupWindowMs: v.optional(v.number()),
    options: v.optional(vDeliveryOptions),
    /** A minimal event (posthog-node's allowlist): nothing is added to it. */
    minimal: v.optional(v.boolean()),
  },
  returns: v.boolean(),
  handler: async (ctx, { destination, dedupKey, dedupWindowMs, options, minimal, ...message }) => {
    const now = Date.now();
    const seen = await ctx.db
      .query("exposures")
      .withIndex("by_key", (q) => q.eq("dedupKey", dedupKey))
      .unique();
    if (seen !== null && seen.expiresAt > now) return false;
    const expiresAt = now + (dedupWindowMs ?? DEFAULT_EXPOSURE_DEDUP_MS);
    if (seen === null) await ctx.db.insert("exposures", { dedupKey, expiresAt });
    else await ctx.db.patch(seen._id, { expiresAt });
    await enqueueMessage(
      ctx,
      destination,
      minimal ? message : { ...message, message: await withDefinitionsLoadedAt(ctx, message.message) },
      options,
    );
    return true;
  },
});

/** posthog-node stamps locally evaluated exposures with when definitions were last fetched. */
async function withDefinitionsLoadedAt(ctx: MutationCtx, message: string): Promise<string> {
  const parsed = JSON.parse(message) as { properties: Record<string, unknown> };
  if (parsed.properties.locally_evaluated !== true) return message;
  const loadedAt = (await ctx.db.query("refreshState").first())?.lastLoadedAt;
  if (loadedAt === undefined) return message;
  parsed.properties.$feature_flag_definitions_loaded_at = loadedAt;
  return JSON.stringify(parsed);
}

/** Retention: drop dedup rows past their window (called by every delivery kick). */
export async function forgetExpiredExposures(ctx: MutationCtx, now: number): Promise<void> {
  const expired = await ctx.db
    .query("exposures")
    .withIndex("by_expiresAt", (q) => q.lte("expiresAt", now))
    .take(200);
  for (const row of expired) await ctx.db.delete(row._id);
}
