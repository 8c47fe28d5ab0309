// The governance tables (issue 10): sync, release tracker, guardian and alerts keep their state
// here, never in PostHog tags (a paid feature that silently disappears without the licence).
// None of these is read by flag evaluation: the only governance state evaluation sees is the
// kill list in definitionsMeta.
import { defineTable } from "convex/server";
import { v } from "convex/values";

export const vGovernanceTool = v.union(v.literal("sync"), v.literal("releases"), v.literal("guardian"));
export const vGuardianMode = v.union(v.literal("monitor"), v.literal("enforce"));
/** Where turning a killed flag off in PostHog stands (governance/enforcement.ts). */
export const vEnforcement = v.union(
  v.literal("pending_patch"),
  v.literal("patched"),
  v.literal("approval_requested"),
  v.literal("blocked_by_dependents"),
  v.literal("scope_missing"),
  v.literal("failed"),
);
export const vKillSource = v.union(v.literal("guardian"), v.literal("manual"));

/** Tuning of alert delivery; every field has a default (alerts.ts). */
export const vAlertDelivery = v.object({
  requestTimeoutMs: v.optional(v.number()),
  retryInitialDelayMs: v.optional(v.number()),
  retryMaxDelayMs: v.optional(v.number()),
  /** Attempts before an alert is dead-lettered. */
  maxAttempts: v.optional(v.number()),
});

/** Where alerts go: what each runner action passes, from the client's `alerts` option. */
export const vAlertSettings = v.object({
  slackWebhookUrl: v.optional(v.string()),
  /** The app's function, as a handle from createFunctionHandle, called with each AlertEvent. */
  onAlert: v.optional(v.object({ handle: v.string(), type: v.union(v.literal("mutation"), v.literal("action")) })),
  delivery: v.optional(vAlertDelivery),
});

export const governanceTables = {
  /** One row per run of a tool, the last few kept: what the report shows as "last runs". */
  governanceRuns: defineTable({
    tool: vGovernanceTool,
    startedAt: v.number(),
    finishedAt: v.optional(v.number()),
    status: v.union(v.literal("running"), v.literal("ok"), v.literal("failed"), v.literal("skipped")),
    dryRun: v.optional(v.boolean()),
    /** The run's result, JSON. */
    result: v.optional(v.string()),
    error: v.optional(v.string()),
  }).index("by_tool_started", ["tool", "startedAt"]),

  /**
   * What a tool found that needs a person: an orphan flag, a naming violation, a variant
   * mismatch, a missing scope, tags unsupported, an enforcement PostHog refused... Open while
   * `resolvedAt` is unset; a run that no longer sees an open finding of its own resolves it.
   */
  governanceFindings: defineTable({
    source: vGovernanceTool,
    kind: v.string(),
    /** The flag it is about, or "" for the project. */
    key: v.string(),
    /** Details, JSON. */
    detail: v.string(),
    firstSeenAt: v.number(),
    lastSeenAt: v.number(),
    resolvedAt: v.optional(v.number()),
  })
    .index("by_source_kind_key", ["source", "kind", "key"])
    .index("by_resolved", ["resolvedAt"]),

  /** The release tracker's memory per flag (instead of the toolkit's tags). */
  flagLifecycle: defineTable({
    key: v.string(),
    posthogId: v.optional(v.number()),
    /** First run that saw the flag released to everyone, and the value everyone gets (JSON). */
    releasedAt: v.optional(v.number()),
    releasedValue: v.optional(v.string()),
    releaseKind: v.optional(v.union(v.literal("flag"), v.literal("experiment"))),
    experimentId: v.optional(v.number()),
    experimentConclusion: v.optional(v.string()),
    /** When the flag was last reported stale, overdue or unused (renotification spacing). */
    lastStaleNoticeAt: v.optional(v.number()),
    lastSunsetNoticeAt: v.optional(v.number()),
    lastUnusedNoticeAt: v.optional(v.number()),
    /** First run that watched the flag's usage: "no exposure for N days" needs N days of watching. */
    usageWatchedSince: v.optional(v.number()),
  }).index("by_key", ["key"]),

  /**
   * Last `$feature_flag_called` delivered per flag, written by the leased sender only (so
   * captures never conflict), at most once per hour per flag: the usage signal for "unused".
   */
  flagUsage: defineTable({
    key: v.string(),
    lastExposureAt: v.number(),
  }).index("by_key", ["key"]),

  /**
   * Singleton: the flags the guardian watches and what the sender tallies for them. Written by
   * guardian runs only when its hash changes; read by the sender once per batch.
   */
  guardianWatch: defineTable({
    flags: v.array(
      v.object({
        key: v.string(),
        mode: vGuardianMode,
      }),
    ),
    successEvent: v.optional(v.object({ event: v.string(), property: v.string() })),
    bucketMs: v.number(),
    /** Buckets older than this are deleted (the largest window the guardian reads). */
    retainMs: v.number(),
    hash: v.string(),
    /** Record the last `$feature_flag_called` per flag in flagUsage (the release tracker turns it on). */
    usage: v.optional(v.boolean()),
  }),

  /**
   * Counts of delivered events per (flag, variant, time bucket), from `$feature/<key>` on each
   * event, merged by the leased sender for delivered events only.
   */
  guardianTallies: defineTable({
    key: v.string(),
    /** The flag's value on the events, as a string: "true", "false" or a variant key. */
    variant: v.string(),
    bucketStart: v.number(),
    /** Events other than `$feature_flag_called`. */
    events: v.number(),
    exceptions: v.number(),
    successTotal: v.number(),
    successes: v.number(),
    /** Short hashes of the distinct ids seen, capped (usersCapped then). */
    users: v.array(v.string()),
    usersCapped: v.boolean(),
  })
    .index("by_key_bucket", ["key", "bucketStart"])
    .index("by_bucket", ["bucketStart"]),

  /** The guardian's memory per watched flag. */
  guardianState: defineTable({
    key: v.string(),
    mode: vGuardianMode,
    lastEvaluatedAt: v.optional(v.number()),
    lastDecision: v.optional(v.string()),
    lastReason: v.optional(v.string()),
    /** EvaluationMetrics of the last evaluation, JSON. */
    lastMetrics: v.optional(v.string()),
    cooldownUntil: v.optional(v.number()),
    /**
     * A hash of the flag's `active` and `filters` as last seen, and when they last changed: the
     * toolkit's cooldown after an edit counts only edits that change who gets what, so a sync
     * renaming or tagging the flag does not blind the guardian.
     */
    populationHash: v.optional(v.string()),
    populationChangedAt: v.optional(v.number()),
    /**
     * Enforcement: the local kill is written first, then PostHog is PATCHed. `pending_patch`
     * means the kill is in place and the PATCH is still owed (a crash, or a kill from a
     * mutation): the next run with the admin key finishes it.
     */
    enforcement: v.optional(vEnforcement),
    enforcementDetail: v.optional(v.string()),
    /** approval_requested: PostHog's change request (a UUID). */
    changeRequestId: v.optional(v.string()),
    /** blocked_by_dependents: the keys of the active flags that depend on this one. */
    dependents: v.optional(v.array(v.string())),
    killedAt: v.optional(v.number()),
    killReason: v.optional(v.string()),
    /** Who killed it: a guardian run, or a person (disableFlag). */
    killSource: v.optional(vKillSource),
  })
    .index("by_key", ["key"])
    .index("by_enforcement", ["enforcement"]),

  /**
   * The alert outbox: one row per (alert, destination), delivered and retried by a leased
   * sender like events. `dedupKey` makes a repeated alert a no-op.
   */
  alerts: defineTable({
    dedupKey: v.string(),
    destination: v.union(v.literal("slack"), v.literal("callback")),
    kind: v.string(),
    key: v.optional(v.string()),
    /** What is sent, JSON: the Slack message, or the callback's argument. */
    body: v.string(),
    status: v.union(v.literal("pending"), v.literal("sent"), v.literal("dead")),
    attempts: v.number(),
    nextAttemptAt: v.number(),
    createdAt: v.number(),
    sentAt: v.optional(v.number()),
    lastError: v.optional(v.string()),
    leaseId: v.optional(v.id("alertLeases")),
  })
    .index("by_dedup_destination", ["dedupKey", "destination"])
    .index("by_status_due", ["status", "nextAttemptAt"])
    .index("by_createdAt", ["createdAt"]),

  alertLeases: defineTable({
    expiresAt: v.number(),
    watchdog: v.id("_scheduled_functions"),
  }).index("by_expiresAt", ["expiresAt"]),

  /**
   * Singleton: where alerts go. The Slack webhook URL and the app's callback (a function
   * handle), written by the runs that pass them when they change. No PostHog key is stored.
   */
  alertSettings: defineTable(vAlertSettings),
};
