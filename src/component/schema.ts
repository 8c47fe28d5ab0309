import { defineSchema, defineTable } from "convex/server";
import { v } from "convex/values";
import { governanceTables } from "./governance/tables.js";

export default defineSchema({
  /**
   * The outbox: one row per captured event, written in the capturing transaction and
   * deleted only after PostHog accepted it. Rows stay small (the message is in
   * `eventBodies`) so senders and `status` can scan many of them cheaply.
   */
  events: defineTable({
    host: v.string(),
    apiKey: v.string(),
    uuid: v.string(),
    event: v.string(),
    body: v.id("eventBodies"),
    bytes: v.number(),
    status: v.union(v.literal("pending"), v.literal("dead")),
    /**
     * Pending: false until an attempt fails and the event waits for a retry. Captures insert
     * only never-failed events, due at their capture time, so a sender can read the events
     * waiting for a retry, and the never-failed ones captured before it started, without
     * reading any range a concurrent capture writes into. Absent only on rows queued by a
     * version before it existed: `kick` marks those (delivery.ts, adoptUnmarkedEvents).
     */
    retrying: v.optional(v.boolean()),
    /** Pending: not to be sent before this time (capture time, lease end or retry time). */
    nextAttemptAt: v.number(),
    /** Set while a sender holds the event; a crashed sender's lease simply runs out. */
    leaseId: v.optional(v.id("leases")),
    attempts: v.number(),
    /** When a sender last took it, so one sender run tries an event at most once. */
    lastAttemptAt: v.optional(v.number()),
    lastError: v.optional(v.string()),
    deadLetteredAt: v.optional(v.number()),
  })
    .index("by_status", ["status"])
    .index("by_status_retrying_due", ["status", "retrying", "nextAttemptAt"]),

  /**
   * The encoded message of an outbox row, as JSON text: Convex rejects `$`-prefixed keys,
   * which PostHog events are full of.
   */
  eventBodies: defineTable({
    message: v.string(),
  }),

  /**
   * One row per flush slot that has a delivery scheduled (for captures or retries due in
   * it). A capture reads the row of its slot and only inserts one when it is missing; rows
   * are never updated, so captures do not conflict with each other once the slot exists.
   */
  deliveryTriggers: defineTable({
    runAt: v.number(),
  }).index("by_runAt", ["runAt"]),

  /** A sender's claim on events, with the delivery scheduled to take over if it dies. */
  leases: defineTable({
    expiresAt: v.number(),
    watchdog: v.id("_scheduled_functions"),
  }).index("by_expiresAt", ["expiresAt"]),

  /** Singleton written only by senders: the last outcome. */
  deliveryState: defineTable({
    lastAttemptAt: v.optional(v.number()),
    lastResult: v.optional(v.union(v.literal("delivered"), v.literal("retrying"), v.literal("dead_lettered"))),
    lastEvents: v.optional(v.number()),
    lastHttpStatus: v.optional(v.number()),
    lastError: v.optional(v.string()),
    lastSuccessAt: v.optional(v.number()),
    /** No longer written: kept so that rows from versions with a single retry wake-up still validate. */
    retryAt: v.optional(v.number()),
    retryJob: v.optional(v.id("_scheduled_functions")),
  }),

  /**
   * Feature flag definitions, one row per flag: what evaluation reads of the definition
   * posthog-node receives from /flags/definitions (JSON text: conditions are full of `$`
   * property names). Evaluating a flag reads its row and what it depends on, so a query
   * re-runs only when those change.
   */
  flagDefinitions: defineTable({
    key: v.string(),
    definition: v.string(),
  }).index("by_key", ["key"]),

  /** Cohort definitions (PropertyGroup JSON), one row per cohort id. */
  cohortDefinitions: defineTable({
    cohortId: v.string(),
    definition: v.string(),
  }).index("by_cohortId", ["cohortId"]),

  /**
   * Every flag (and every cohort) again, a few hundred kilobytes of definitions per row,
   * compressed: what reads of all flags read instead of thousands of rows (definitionPacks.ts).
   */
  definitionPacks: defineTable({
    kind: v.union(v.literal("flagPack"), v.literal("cohortPack")),
    /** "index/count". */
    name: v.string(),
    data: v.bytes(),
  }).index("by_kind_name", ["kind", "name"]),

  /**
   * A content hash per stored row (definitions and packs), for refreshes to find what
   * changed without reading the rows themselves, and the row's id and size, so a refresh
   * rewrites or deletes it by id. Evaluation never reads these.
   */
  definitionHashes: defineTable({
    kind: v.union(v.literal("flag"), v.literal("cohort"), v.literal("flagPack"), v.literal("cohortPack")),
    name: v.string(),
    hash: v.string(),
    /** Absent on rows stored before ids were kept: found by name then. */
    row: v.optional(v.union(v.id("flagDefinitions"), v.id("cohortDefinitions"), v.id("definitionPacks"))),
    /** Bytes of the row's definition or data. */
    bytes: v.optional(v.number()),
  }).index("by_kind_name", ["kind", "name"]),

  /**
   * Singleton read by every evaluation: what applies to all flags. Rewritten only when its
   * content changes, so refreshes that change other flags re-run no query through it.
   */
  definitionsMeta: defineTable({
    /** JSON of group_type_mapping: { "0": "company", ... }. */
    groupTypeMapping: v.string(),
    propertyMatchingVersion: v.optional(v.number()),
    minimalFlagCalledEvents: v.optional(v.boolean()),
    /** False after a 402 (quota): like posthog-node, no flag is evaluated locally then. */
    available: v.boolean(),
    /** Set once definitionPacks hold every definition; before, reads of all flags read the rows. */
    packed: v.optional(v.boolean()),
    /**
     * False only on a row created by a kill before any refresh: it holds the kill list and no
     * definitions yet (evaluation answers "not loaded"). The first refresh replaces it.
     */
    definitionsLoaded: v.optional(v.boolean()),
    /**
     * The local kill switch (killSwitch.ts): flags that evaluate to false at once, whatever
     * their definition says. Here because every evaluation reads this row anyway; refreshes
     * keep it. Kills are rare, so re-running every flag query on a kill is acceptable.
     */
    killed: v.optional(v.array(v.object({ key: v.string(), reason: v.optional(v.string()), at: v.number() }))),
  }),

  /**
   * Exposures already sent: one row per (distinct id, flag, response, groups) key, kept for
   * the dedup window. Expired rows are deleted by delivery kicks, which bounds the table.
   */
  exposures: defineTable({
    dedupKey: v.string(),
    expiresAt: v.number(),
  })
    .index("by_key", ["dedupKey"])
    .index("by_expiresAt", ["expiresAt"]),

  /** Singleton written by every refresh and read by `status` and refreshes, never by evaluation. */
  refreshState: defineTable({
    etag: v.optional(v.string()),
    /** Bumped by every applied chunk of definitions; refreshes diff against one version. */
    definitionsVersion: v.optional(v.number()),
    lastRefreshAt: v.optional(v.number()),
    lastResult: v.optional(v.string()),
    lastHttpStatus: v.optional(v.number()),
    lastError: v.optional(v.string()),
    /** Last time PostHog confirmed our definitions (200 applied or 304). */
    lastConfirmedAt: v.optional(v.number()),
    /** Last time definitions were fetched and applied (a 200): the exposure events' loaded-at. */
    lastLoadedAt: v.optional(v.number()),
    flagCount: v.optional(v.number()),
    cohortCount: v.optional(v.number()),
  }),

  ...governanceTables,
});
