// One query for the health of both halves: the event outbox and the flag definitions.
//
// Convex does not re-run a query as time passes, so the `...AgeMs` fields are ages as of the
// query's run and do not grow on a live subscription: a dashboard ages the `...At` timestamps
// itself.
import { query } from "./_generated/server.js";
import { vStatus, type Status } from "./validators.js";

/** Status counts stop here so the query stays far below Convex's read limits. */
export const STATUS_COUNT_LIMIT = 10_000;

export const get = query({
  args: {},
  returns: vStatus,
  handler: async (ctx): Promise<Status> => {
    const now = Date.now();
    const pending = await ctx.db
      .query("events")
      .withIndex("by_status", (q) => q.eq("status", "pending"))
      .take(STATUS_COUNT_LIMIT);
    const dead = await ctx.db
      .query("events")
      .withIndex("by_status", (q) => q.eq("status", "dead"))
      .take(STATUS_COUNT_LIMIT);
    const delivery = await ctx.db.query("deliveryState").first();
    const refresh = await ctx.db.query("refreshState").first();
    return {
      pending: pending.length,
      // by_status orders by creation time, so the first pending row is the oldest.
      oldestPendingAt: pending.length > 0 ? pending[0]._creationTime : null,
      oldestPendingAgeMs: pending.length > 0 ? Math.max(0, now - pending[0]._creationTime) : null,
      deadLettered: dead.length,
      countsTruncated: pending.length === STATUS_COUNT_LIMIT || dead.length === STATUS_COUNT_LIMIT,
      lastDelivery:
        delivery?.lastAttemptAt !== undefined && delivery.lastResult !== undefined
          ? {
              at: delivery.lastAttemptAt,
              result: delivery.lastResult,
              events: delivery.lastEvents ?? 0,
              ...(delivery.lastHttpStatus !== undefined ? { httpStatus: delivery.lastHttpStatus } : {}),
              ...(delivery.lastError !== undefined ? { error: delivery.lastError } : {}),
            }
          : null,
      lastSuccessAt: delivery?.lastSuccessAt ?? null,
      flags: {
        definitionsConfirmedAt: refresh?.lastConfirmedAt ?? null,
        definitionsAgeMs: refresh?.lastConfirmedAt !== undefined ? Math.max(0, now - refresh.lastConfirmedAt) : null,
        flagCount: refresh?.flagCount ?? 0,
        cohortCount: refresh?.cohortCount ?? 0,
        lastRefresh:
          refresh?.lastRefreshAt !== undefined && refresh.lastResult !== undefined
            ? {
                at: refresh.lastRefreshAt,
                result: refresh.lastResult,
                ...(refresh.lastHttpStatus !== undefined ? { httpStatus: refresh.lastHttpStatus } : {}),
                ...(refresh.lastError !== undefined ? { error: refresh.lastError } : {}),
              }
            : null,
      },
    };
  },
});
