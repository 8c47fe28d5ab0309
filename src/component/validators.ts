import { v, type Infer, type ObjectType } from "convex/values";

/** Where a batch goes: PostHog host and project API key. Events are grouped by it. */
export const vDestination = v.object({
  host: v.string(),
  apiKey: v.string(),
});
export type Destination = Infer<typeof vDestination>;

/**
 * One message for the outbox, as the client hands it over: the JSON text to send (made by
 * encodeMessage) and the two fields the outbox row shows, so the component need not parse it.
 */
export const vOutboxMessage = {
  message: v.string(),
  uuid: v.string(),
  event: v.string(),
};
export type OutboxMessage = ObjectType<typeof vOutboxMessage>;

/** Tuning of batch delivery; every field has a default (see DEFAULT_DELIVERY). */
export const vDeliveryOptions = v.object({
  /** Most events in one request to /batch/. */
  batchSize: v.optional(v.number()),
  /** Deliveries run at the end of slots this long: a capture waits at most this for the first. */
  flushDelayMs: v.optional(v.number()),
  /**
   * Longest a never-tried event is held back to fill a batch: a delivery leaves a last
   * partial batch to the next slot's delivery only if that one is scheduled within this
   * long of the batch's oldest capture.
   */
  maxBatchWaitMs: v.optional(v.number()),
  /** Abort an HTTP attempt after this long. */
  requestTimeoutMs: v.optional(v.number()),
  /** First retry delay; doubles per attempt, with jitter. */
  retryInitialDelayMs: v.optional(v.number()),
  /** Cap of the retry delay. */
  retryMaxDelayMs: v.optional(v.number()),
});
export type DeliveryOptions = Infer<typeof vDeliveryOptions>;

export const DEFAULT_DELIVERY = {
  batchSize: 100,
  flushDelayMs: 1000,
  maxBatchWaitMs: 3000,
  requestTimeoutMs: 10_000,
  retryInitialDelayMs: 1000,
  retryMaxDelayMs: 5 * 60_000,
} satisfies Required<DeliveryOptions>;

export function deliverySettings(options: DeliveryOptions | undefined): Required<DeliveryOptions> {
  const settings = { ...DEFAULT_DELIVERY };
  for (const [name, value] of Object.entries(options ?? {})) {
    if (value === undefined) continue;
    if (!Number.isFinite(value) || value < 0) {
      throw new Error(`PostHog delivery option ${name} must be a non-negative number, got ${value}`);
    }
    settings[name as keyof DeliveryOptions] = value;
  }
  settings.batchSize = Math.max(1, Math.floor(settings.batchSize));
  return settings;
}

export const vDeliveryResult = v.union(
  v.literal("delivered"),
  v.literal("retrying"),
  v.literal("dead_lettered"),
);

export const vStatus = v.object({
  /** Events waiting to be delivered (counted up to STATUS_COUNT_LIMIT). */
  pending: v.number(),
  /** When the oldest waiting event was captured (epoch ms), or null when nothing waits. */
  oldestPendingAt: v.union(v.number(), v.null()),
  /** Its age as of the query's run: not live, a subscription does not re-run as time passes. */
  oldestPendingAgeMs: v.union(v.number(), v.null()),
  /** Events PostHog rejected permanently; kept until re-sent. */
  deadLettered: v.number(),
  /** True when a count reached STATUS_COUNT_LIMIT and is a lower bound. */
  countsTruncated: v.boolean(),
  lastDelivery: v.union(
    v.null(),
    v.object({
      at: v.number(),
      result: vDeliveryResult,
      events: v.number(),
      httpStatus: v.optional(v.number()),
      error: v.optional(v.string()),
    }),
  ),
  lastSuccessAt: v.union(v.number(), v.null()),
  /** Local-evaluation definitions. */
  flags: v.object({
    /** When PostHog last confirmed our definitions (a 200 applied or a 304), epoch ms; null if never. */
    definitionsConfirmedAt: v.union(v.number(), v.null()),
    /** Its age as of the query's run (not live, as oldestPendingAgeMs). */
    definitionsAgeMs: v.union(v.number(), v.null()),
    flagCount: v.number(),
    cohortCount: v.number(),
    lastRefresh: v.union(
      v.null(),
      v.object({
        at: v.number(),
        result: v.string(),
        httpStatus: v.optional(v.number()),
        error: v.optional(v.string()),
      }),
    ),
  }),
});
export type Status = Infer<typeof vStatus>;

export const vDeadLetter = v.object({
  id: v.string(),
  uuid: v.string(),
  event: v.string(),
  host: v.string(),
  attempts: v.number(),
  error: v.string(),
  deadLetteredAt: v.number(),
});
export type DeadLetter = Infer<typeof vDeadLetter>;

export const vFlushResult = v.object({
  delivered: v.number(),
  retrying: v.number(),
  deadLettered: v.number(),
});
export type FlushResult = Infer<typeof vFlushResult>;

export const vRefreshResult = v.object({
  /**
   * updated | applied_with_errors | not_modified | quota_limited | unauthorized | forbidden |
   * rate_limited | server_error | http_error | timeout | network_error | invalid_response |
   * superseded (another refresh applied meanwhile)
   */
  result: v.string(),
  httpStatus: v.optional(v.number()),
  error: v.optional(v.string()),
  flagsChanged: v.optional(v.number()),
  flagsRemoved: v.optional(v.number()),
  cohortsChanged: v.optional(v.number()),
  cohortsRemoved: v.optional(v.number()),
});
export type RefreshResult = Infer<typeof vRefreshResult>;
