// The guardian's local source: what the sender tallies of the events it delivers (per flag,
// variant and time bucket), and the last exposure per flag (the usage signal). The watch
// singleton says what to tally; only the leased sender writes tallies and usage, so captures
// never conflict with them (README.md, "Tallies").
import { v, type Infer } from "convex/values";
import { internal } from "../_generated/api.js";
import { internalMutation, query, type MutationCtx, type QueryCtx } from "../_generated/server.js";
import { PostHogInputError } from "../../core/messages.js";
import { shortHash, type BatchTally, type FlagTally } from "../../core/governance/tally.js";
import { governanceTables, vGuardianMode } from "./tables.js";

/** Distinct user hashes kept per (flag, variant, bucket); beyond it the row says usersCapped. */
export const USERS_CAP = 1000;
/** A flag's lastExposureAt moves at most this often: one write per flag per hour at most. */
export const USAGE_RESOLUTION_MS = 60 * 60_000;
/** Buckets merged per mutation; the rest goes to a scheduled one (bounded reads). */
const MERGE_BUCKETS_PER_MUTATION = 100;
/** Old buckets deleted per kick. */
const FORGET_PER_KICK = 200;
/** Bucket and retention when only usage is tracked (no guardian watch written yet). */
const DEFAULT_BUCKET_MS = 60_000;
const DEFAULT_RETAIN_MS = 24 * 60 * 60_000;

/** What a sender tallies: the watch singleton as claimBatch hands it to the sender. */
export const vTallyWatch = v.object({
  keys: v.array(v.string()),
  successEvent: v.optional(v.object({ event: v.string(), property: v.string() })),
  bucketMs: v.number(),
  retainMs: v.number(),
  usage: v.boolean(),
});
export type TallyWatchConfig = Infer<typeof vTallyWatch>;

/** One batch's counts for a (flag, variant, bucket): a guardianTallies row before it is capped. */
const vFlagTally = governanceTables.guardianTallies.validator.omit("usersCapped");
export const vBatchTally = v.object({
  counts: v.array(vFlagTally),
  exposures: v.array(v.object({ key: v.string(), at: v.number() })),
});
({}) as BatchTally satisfies Infer<typeof vBatchTally>;

const vWatchArgs = {
  flags: v.array(v.object({ key: v.string(), mode: vGuardianMode })),
  successEvent: v.optional(v.object({ event: v.string(), property: v.string() })),
  bucketMs: v.number(),
  retainMs: v.number(),
};

/**
 * Set what the sender tallies (guardian runs). Writes the singleton only when the config's
 * hash changes, so a run every few minutes writes nothing. Returns whether it changed.
 */
export const watch = internalMutation({
  args: vWatchArgs,
  returns: v.boolean(),
  handler: async (ctx, { flags, successEvent, bucketMs, retainMs }): Promise<boolean> => {
    if (!Number.isInteger(bucketMs) || bucketMs < 1_000) {
      throw new PostHogInputError("bucketMs", `must be a whole number of milliseconds, at least 1000 (got ${bucketMs})`);
    }
    if (!Number.isFinite(retainMs) || retainMs < bucketMs) {
      throw new PostHogInputError("retainMs", `must be at least bucketMs (${bucketMs}) (got ${retainMs})`);
    }
    const sorted = [...flags].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const config = { flags: sorted.map(({ key, mode }) => ({ key, mode })), ...(successEvent ? { successEvent } : {}), bucketMs, retainMs };
    const hash = shortHash(JSON.stringify(config));
    const row = await ctx.db.query("guardianWatch").first();
    if (row === null) {
      await ctx.db.insert("guardianWatch", { ...config, hash });
      return true;
    }
    if (row.hash === hash) return false;
    await ctx.db.replace(row._id, { ...config, hash, ...(row.usage !== undefined ? { usage: row.usage } : {}) });
    return true;
  },
});

/** Turn the usage signal (flagUsage) on or off (release tracker runs). Returns whether it changed. */
export const trackUsage = internalMutation({
  args: { on: v.boolean() },
  returns: v.boolean(),
  handler: async (ctx, { on }): Promise<boolean> => {
    const row = await ctx.db.query("guardianWatch").first();
    if ((row?.usage ?? false) === on) return false;
    if (row === null) {
      await ctx.db.insert("guardianWatch", { flags: [], bucketMs: DEFAULT_BUCKET_MS, retainMs: DEFAULT_RETAIN_MS, hash: "", usage: on });
    } else {
      await ctx.db.patch(row._id, { usage: on });
    }
    return true;
  },
});

const vVariantMetrics = v.object({
  variant: v.string(),
  events: v.number(),
  exceptions: v.number(),
  successTotal: v.number(),
  successes: v.number(),
  uniqueUsers: v.number(),
  usersCapped: v.boolean(),
});
const vFlagMetrics = v.object({ key: v.string(), variants: v.array(vVariantMetrics) });
export type FlagWindowMetrics = Infer<typeof vFlagMetrics>;

/**
 * Delivered events per flag and variant over the buckets starting in [from, to).
 * uniqueUsers is the size of the union of the buckets' user hashes (a lower bound when
 * usersCapped). Reads the window's buckets: (to - from) / bucketMs rows per variant and flag.
 */
export const windowMetrics = query({
  args: { keys: v.array(v.string()), from: v.number(), to: v.number() },
  returns: v.array(vFlagMetrics),
  handler: async (ctx, { keys, from, to }): Promise<FlagWindowMetrics[]> => {
    const result: FlagWindowMetrics[] = [];
    for (const key of keys) {
      const rows = await ctx.db
        .query("guardianTallies")
        .withIndex("by_key_bucket", (q) => q.eq("key", key).gte("bucketStart", from).lt("bucketStart", to))
        .collect();
      const byVariant = new Map<string, Infer<typeof vVariantMetrics> & { users: Set<string> }>();
      for (const row of rows) {
        let sum = byVariant.get(row.variant);
        if (sum === undefined) {
          sum = { variant: row.variant, events: 0, exceptions: 0, successTotal: 0, successes: 0, uniqueUsers: 0, usersCapped: false, users: new Set() };
          byVariant.set(row.variant, sum);
        }
        sum.events += row.events;
        sum.exceptions += row.exceptions;
        sum.successTotal += row.successTotal;
        sum.successes += row.successes;
        sum.usersCapped ||= row.usersCapped;
        for (const user of row.users) sum.users.add(user);
      }
      const variants = [...byVariant.values()]
        .map(({ users, ...sum }) => ({ ...sum, uniqueUsers: users.size }))
        .sort((a, b) => (a.variant < b.variant ? -1 : a.variant > b.variant ? 1 : 0));
      result.push({ key, variants });
    }
    return result;
  },
});

/** The last `$feature_flag_called` delivered per flag (to the hour), or null when none was. */
export const usage = query({
  args: { keys: v.array(v.string()) },
  returns: v.array(v.object({ key: v.string(), lastExposureAt: v.union(v.number(), v.null()) })),
  handler: async (ctx, { keys }) => {
    const result: { key: string; lastExposureAt: number | null }[] = [];
    for (const key of keys) {
      const row = await ctx.db
        .query("flagUsage")
        .withIndex("by_key", (q) => q.eq("key", key))
        .first();
      result.push({ key, lastExposureAt: row?.lastExposureAt ?? null });
    }
    return result;
  },
});

/** The watch as a sender uses it, or undefined when there is nothing to tally (nothing is parsed then). */
export async function readTallyWatch(ctx: QueryCtx): Promise<TallyWatchConfig | undefined> {
  const row = await ctx.db.query("guardianWatch").first();
  if (row === null) return undefined;
  const usage = row.usage ?? false;
  if (row.flags.length === 0 && !usage) return undefined;
  return {
    keys: row.flags.map((flag) => flag.key),
    ...(row.successEvent ? { successEvent: row.successEvent } : {}),
    bucketMs: row.bucketMs,
    retainMs: row.retainMs,
    usage,
  };
}

/**
 * Add a batch's tallies (delivered events only) to guardianTallies and flagUsage. Called by
 * the leased sender's completeBatch; buckets already past retention are dropped. Merges up
 * to MERGE_BUCKETS_PER_MUTATION buckets here, each one index range holding every flag's rows
 * of that bucket, and schedules the rest, so a batch spanning many buckets stays within a
 * transaction's limits.
 */
export async function mergeTally(ctx: MutationCtx, tally: BatchTally, retention: Retention): Promise<void> {
  const buckets = new Map<number, FlagTally[]>();
  for (const count of tally.counts) {
    if (count.bucketStart <= retentionEdge(Date.now(), retention)) continue;
    buckets.set(count.bucketStart, [...(buckets.get(count.bucketStart) ?? []), count]);
  }
  const entries = [...buckets.values()];
  for (const bucket of entries.slice(0, MERGE_BUCKETS_PER_MUTATION)) {
    const bucketStart = bucket[0]!.bucketStart;
    const rows = await ctx.db
      .query("guardianTallies")
      .withIndex("by_bucket", (q) => q.eq("bucketStart", bucketStart))
      .collect();
    for (const count of bucket) {
      const row = rows.find((r) => r.key === count.key && r.variant === count.variant);
      if (row === undefined) {
        const users = count.users.slice(0, USERS_CAP);
        await ctx.db.insert("guardianTallies", { ...count, users, usersCapped: users.length < count.users.length });
        continue;
      }
      const users = new Set(row.users);
      let usersCapped = row.usersCapped;
      for (const user of count.users) {
        if (users.has(user)) continue;
        if (users.size >= USERS_CAP) usersCapped = true;
        else users.add(user);
      }
      await ctx.db.patch(row._id, {
        events: row.events + count.events,
        exceptions: row.exceptions + count.exceptions,
        successTotal: row.successTotal + count.successTotal,
        successes: row.successes + count.successes,
        ...(users.size > row.users.length ? { users: [...users] } : {}),
        usersCapped,
      });
    }
  }
  for (const { key, at } of tally.exposures) {
    const row = await ctx.db
      .query("flagUsage")
      .withIndex("by_key", (q) => q.eq("key", key))
      .first();
    if (row === null) await ctx.db.insert("flagUsage", { key, lastExposureAt: at });
    else if (at >= row.lastExposureAt + USAGE_RESOLUTION_MS) await ctx.db.patch(row._id, { lastExposureAt: at });
  }
  const rest = entries.slice(MERGE_BUCKETS_PER_MUTATION).flat();
  if (rest.length > 0) {
    await ctx.scheduler.runAfter(0, internal.governance.tallies.mergeRest, {
      tally: { counts: rest, exposures: [] },
      retention,
    });
  }
}

/** The part of a batch's tallies one completeBatch left (a batch spanning very many buckets). */
export const mergeRest = internalMutation({
  args: { tally: vBatchTally, retention: v.object({ bucketMs: v.number(), retainMs: v.number() }) },
  returns: v.null(),
  handler: async (ctx, { tally, retention }): Promise<null> => {
    await mergeTally(ctx, tally, retention);
    return null;
  },
});

type Retention = { bucketMs: number; retainMs: number };

/** Buckets starting at or before this ended more than retainMs ago. */
function retentionEdge(now: number, { bucketMs, retainMs }: Retention): number {
  return now - retainMs - bucketMs;
}

/** Retention, called by every delivery kick: delete buckets that ended before now - retainMs. */
export async function forgetOldTallies(ctx: MutationCtx, now: number): Promise<void> {
  const row = await ctx.db.query("guardianWatch").first();
  if (row === null) return;
  const old = await ctx.db
    .query("guardianTallies")
    .withIndex("by_bucket", (q) => q.lte("bucketStart", retentionEdge(now, row)))
    .take(FORGET_PER_KICK);
  for (const bucket of old) await ctx.db.delete(bucket._id);
}
