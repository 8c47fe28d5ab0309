// The alert outbox: governance alerts to Slack and to the app's own callback, queued in the
// transaction that decided them and delivered by a leased sender, as events are (see
// ../README.md): every way into the sender passes a mutation that scheduled a watchdog, so a
// sender that dies only delays its alerts; a sent alert is never claimed again.
import { v, type Infer } from "convex/values";
import type { FunctionHandle } from "convex/server";
import type { Doc, Id } from "../_generated/dataModel.js";
import { internal } from "../_generated/api.js";
import { internalAction, internalMutation, mutation, query, type ActionCtx, type MutationCtx } from "../_generated/server.js";
import { parseRetryAfter } from "../../core/batchTransport.js";
import { fetchWithDeadline, httpError, retryDelay } from "../../core/http.js";
import { vAlertSettings } from "./tables.js";
import {
  vAlertInput,
  vAlertRow,
  vAlertStatus,
  vQueueResult,
  type AlertDelivery,
  type AlertEvent,
  type AlertInput,
  type AlertRow,
  type AlertSettings,
  type QueueResult,
} from "./alertValidators.js";

export * from "./alertValidators.js";

export const DEFAULT_ALERT_DELIVERY = {
  requestTimeoutMs: 10_000,
  retryInitialDelayMs: 5_000,
  retryMaxDelayMs: 15 * 60_000,
  /** About an hour of retries at the defaults. */
  maxAttempts: 12,
} satisfies Required<AlertDelivery>;

/** Sent and dead alerts are kept this long, so a repeated dedup key stays a no-op. */
export const ALERT_RETENTION_MS = 30 * 24 * 60 * 60_000;
const CLEANUP_CHUNK = 100;
const LEASE_MS = 5 * 60_000;
const LEASE_MARGIN_MS = 30_000;

function deliverySettings(settings: AlertSettings | null): Required<AlertDelivery> {
  const merged = { ...DEFAULT_ALERT_DELIVERY };
  for (const [name, value] of Object.entries(settings?.delivery ?? {})) {
    if (value !== undefined) merged[name as keyof AlertDelivery] = value;
  }
  return merged;
}

async function storedSettings(ctx: MutationCtx): Promise<Doc<"alertSettings"> | null> {
  return await ctx.db.query("alertSettings").first();
}

/** Store where alerts go; writes only when something changed. Returns whether it did. */
export async function configureAlerts(ctx: MutationCtx, settings: AlertSettings): Promise<boolean> {
  for (const [name, value] of Object.entries(settings.delivery ?? {})) {
    if (value !== undefined && (!Number.isFinite(value) || value < 0)) {
      throw new Error(`PostHog alert delivery option ${name} must be a non-negative number, got ${value}`);
    }
  }
  const current = await storedSettings(ctx);
  const wanted: AlertSettings = {
    ...(settings.slackWebhookUrl ? { slackWebhookUrl: settings.slackWebhookUrl } : {}),
    ...(settings.onAlert ? { onAlert: { handle: settings.onAlert.handle, type: settings.onAlert.type } } : {}),
    ...(settings.delivery ? { delivery: settings.delivery } : {}),
  };
  if (current === null) {
    await ctx.db.insert("alertSettings", wanted);
    return true;
  }
  const { _id, _creationTime, ...stored } = current;
  if (JSON.stringify(sortedKeys(stored)) === JSON.stringify(sortedKeys(wanted))) return false;
  await ctx.db.replace(_id, wanted);
  return true;
}

function sortedKeys(value: unknown): unknown {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((name) => [name, sortedKeys((value as Record<string, unknown>)[name])]),
  );
}

/**
 * Queue alerts for every configured destination, in the caller's transaction: one row per
 * (alert, destination). A dedup key already in the outbox, whatever its status, queues nothing.
 * Without a destination nothing is queued (the alerts are reported neither queued nor duplicate).
 */
export async function queueAlerts(ctx: MutationCtx, alerts: AlertInput[]): Promise<QueueResult> {
  const settings = await storedSettings(ctx);
  const destinations: Array<"slack" | "callback"> = [];
  if (settings?.slackWebhookUrl) destinations.push("slack");
  if (settings?.onAlert) destinations.push("callback");
  const result: QueueResult = { queued: [], duplicates: [] };
  if (destinations.length === 0) return result;
  const now = Date.now();
  for (const alert of alerts) {
    const existing = await ctx.db
      .query("alerts")
      .withIndex("by_dedup_destination", (q) => q.eq("dedupKey", alert.dedupKey))
      .first();
    if (existing !== null || result.queued.includes(alert.dedupKey)) {
      result.duplicates.push(alert.dedupKey);
      continue;
    }
    for (const destination of destinations) {
      await ctx.db.insert("alerts", {
        dedupKey: alert.dedupKey,
        destination,
        kind: alert.kind,
        ...(alert.key !== undefined ? { key: alert.key } : {}),
        body: JSON.stringify(destination === "slack" ? alert.slack : alert.event),
        status: "pending",
        attempts: 0,
        nextAttemptAt: now,
        createdAt: now,
      });
    }
    result.queued.push(alert.dedupKey);
  }
  if (result.queued.length > 0) await ctx.scheduler.runAfter(0, internal.governance.alerts.kick, {});
  return result;
}

/** Queue alerts (for actions; a mutation calls queueAlerts itself), storing `settings` first when given. */
export const enqueue = internalMutation({
  args: { alerts: v.array(vAlertInput), settings: v.optional(vAlertSettings) },
  returns: vQueueResult,
  handler: async (ctx, { alerts, settings }): Promise<QueueResult> => {
    if (settings !== undefined) await configureAlerts(ctx, settings);
    return await queueAlerts(ctx, alerts);
  },
});

/** Where alerts go (from the client's `alerts` option); written only when it changed. */
export const configure = mutation({
  args: vAlertSettings,
  returns: v.boolean(),
  handler: async (ctx, settings): Promise<boolean> => await configureAlerts(ctx, settings),
});

/** The outbox, newest first: pending, sent and dead alerts (the governance report). */
export const list = query({
  args: { status: v.optional(vAlertStatus), limit: v.optional(v.number()) },
  returns: v.array(vAlertRow),
  handler: async (ctx, { status, limit }): Promise<AlertRow[]> => {
    const take = Math.max(1, Math.min(Math.floor(limit ?? 100), 1000));
    const rows =
      status === undefined
        ? await ctx.db.query("alerts").order("desc").take(take)
        : await ctx.db
            .query("alerts")
            .withIndex("by_status_due", (q) => q.eq("status", status))
            .order("desc")
            .take(take);
    return rows.map((row) => ({
      dedupKey: row.dedupKey,
      destination: row.destination,
      kind: row.kind,
      ...(row.key !== undefined ? { key: row.key } : {}),
      status: row.status,
      attempts: row.attempts,
      createdAt: row.createdAt,
      ...(row.status === "pending" ? { nextAttemptAt: row.nextAttemptAt } : {}),
      ...(row.sentAt !== undefined ? { sentAt: row.sentAt } : {}),
      ...(row.lastError !== undefined ? { lastError: row.lastError } : {}),
    }));
  },
});

/** Start a sender if an alert is due. Scheduled by queueing, retries and watchdogs. */
export const kick = internalMutation({
  args: {},
  returns: v.null(),
  handler: async (ctx): Promise<null> => {
    const now = Date.now();
    await forgetPast(ctx, now);
    const next = await ctx.db
      .query("alerts")
      .withIndex("by_status_due", (q) => q.eq("status", "pending"))
      .first();
    if (next === null) return null;
    if (next.nextAttemptAt <= now) {
      const leaseId = await createLease(ctx, now);
      await ctx.scheduler.runAfter(0, internal.governance.alerts.send, { leaseId });
    } else if (next.leaseId === undefined) {
      // A retry's kick that ran before the retry was due (timers may fire a little early):
      // wake again at its time. Alerts held by a sender have its watchdog instead.
      await ctx.scheduler.runAt(next.nextAttemptAt, internal.governance.alerts.kick, {});
    }
    return null;
  },
});

/** Leases that ran out (their watchdog fired), and settled alerts past retention, in bounded chunks. */
async function forgetPast(ctx: MutationCtx, now: number) {
  const leases = await ctx.db
    .query("alertLeases")
    .withIndex("by_expiresAt", (q) => q.lt("expiresAt", now))
    .take(CLEANUP_CHUNK);
  for (const lease of leases) await ctx.db.delete(lease._id);
  const old = await ctx.db
    .query("alerts")
    .withIndex("by_createdAt", (q) => q.lt("createdAt", now - ALERT_RETENTION_MS))
    .take(CLEANUP_CHUNK);
  for (const row of old) if (row.status !== "pending") await ctx.db.delete(row._id);
}

async function createLease(ctx: MutationCtx, now: number): Promise<Id<"alertLeases">> {
  const expiresAt = now + LEASE_MS;
  const watchdog = await ctx.scheduler.runAt(expiresAt, internal.governance.alerts.kick, {});
  return await ctx.db.insert("alertLeases", { expiresAt, watchdog });
}

const vClaim = v.object({
  id: v.id("alerts"),
  body: v.string(),
  requestTimeoutMs: v.number(),
  target: v.union(
    v.object({ kind: v.literal("slack"), url: v.string() }),
    v.object({ kind: v.literal("callback"), handle: v.string(), type: v.union(v.literal("mutation"), v.literal("action")) }),
  ),
});
type Claim = Infer<typeof vClaim>;

const vOutcome = v.union(
  v.object({ outcome: v.literal("sent") }),
  v.object({ outcome: v.literal("retry"), error: v.string(), retryAfterMs: v.optional(v.number()) }),
  v.object({ outcome: v.literal("dead"), error: v.string() }),
);
type Outcome = Infer<typeof vOutcome>;

/**
 * The next due alert for this lease's sender, held until the lease ends, or null when there is
 * none (or the lease is gone: a watchdog took over). Alerts due after the run started wait for
 * their own kick, so a run tries each alert at most once.
 */
export const claim = internalMutation({
  args: { leaseId: v.id("alertLeases"), runStartedAt: v.number() },
  returns: v.union(vClaim, v.null()),
  handler: async (ctx, { leaseId, runStartedAt }): Promise<Claim | null> => {
    const now = Date.now();
    const lease = await ctx.db.get(leaseId);
    if (lease === null || lease.expiresAt <= now) return null;
    const settings = await storedSettings(ctx);
    const delivery = deliverySettings(settings);
    for (;;) {
      const row = await ctx.db
        .query("alerts")
        .withIndex("by_status_due", (q) => q.eq("status", "pending").lte("nextAttemptAt", runStartedAt))
        .first();
      if (row === null) return null;
      const target: Claim["target"] | undefined =
        row.destination === "slack"
          ? settings?.slackWebhookUrl
            ? { kind: "slack", url: settings.slackWebhookUrl }
            : undefined
          : settings?.onAlert
            ? { kind: "callback", ...settings.onAlert }
            : undefined;
      const unfinished = row.attempts >= delivery.maxAttempts;
      if (target === undefined || unfinished) {
        const error =
          target === undefined
            ? `no ${row.destination === "slack" ? "Slack webhook URL" : "onAlert callback"} is configured any more`
            : `gave up after ${row.attempts} attempts (the last did not finish)${row.lastError ? `; before: ${row.lastError}` : ""}`;
        await ctx.db.patch(row._id, { status: "dead", leaseId: undefined, lastError: error });
        continue;
      }
      await ctx.db.patch(row._id, { leaseId, nextAttemptAt: lease.expiresAt, attempts: row.attempts + 1 });
      return { id: row._id, body: row.body, requestTimeoutMs: delivery.requestTimeoutMs, target };
    }
  },
});

/** Record how an attempt went. A sent alert is final, even if this sender's lease lapsed. */
export const complete = internalMutation({
  args: { leaseId: v.id("alertLeases"), id: v.id("alerts"), result: vOutcome },
  returns: v.null(),
  handler: async (ctx, { leaseId, id, result }): Promise<null> => {
    const now = Date.now();
    const row = await ctx.db.get(id);
    if (row === null) return null;
    if (result.outcome === "sent") {
      if (row.status !== "sent") await ctx.db.patch(id, { status: "sent", sentAt: now, leaseId: undefined, lastError: undefined });
      return null;
    }
    if (row.leaseId !== leaseId || row.status !== "pending") return null; // no longer ours
    const delivery = deliverySettings(await storedSettings(ctx));
    if (result.outcome === "dead" || row.attempts >= delivery.maxAttempts) {
      const error = result.outcome === "dead" ? result.error : `gave up after ${row.attempts} attempts: ${result.error}`;
      await ctx.db.patch(id, { status: "dead", leaseId: undefined, lastError: error });
      return null;
    }
    const retryAt = now + retryDelay(row.attempts, result.retryAfterMs, delivery);
    await ctx.db.patch(id, { leaseId: undefined, lastError: result.error, nextAttemptAt: retryAt });
    await ctx.scheduler.runAt(retryAt, internal.governance.alerts.kick, {});
    return null;
  },
});

/** End of a sender run: cancel the watchdog, and continue in a fresh run if work remains. */
export const releaseLease = internalMutation({
  args: { leaseId: v.id("alertLeases"), continueSending: v.boolean() },
  returns: v.null(),
  handler: async (ctx, { leaseId, continueSending }): Promise<null> => {
    const lease = await ctx.db.get(leaseId);
    if (lease !== null) {
      if ((await ctx.db.system.get(lease.watchdog))?.state.kind === "pending") await ctx.scheduler.cancel(lease.watchdog);
      await ctx.db.delete(leaseId);
    }
    if (continueSending) await ctx.scheduler.runAfter(0, internal.governance.alerts.kick, {});
    return null;
  },
});

/** The sender: one alert at a time (alerts are few), under the lease. */
export const send = internalAction({
  args: { leaseId: v.id("alertLeases") },
  returns: v.null(),
  handler: async (ctx, { leaseId }): Promise<null> => {
    const runStartedAt = Date.now();
    let more = false;
    for (;;) {
      const next: Claim | null = await ctx.runMutation(internal.governance.alerts.claim, { leaseId, runStartedAt });
      if (next === null) break;
      const result = await attempt(ctx, next);
      await ctx.runMutation(internal.governance.alerts.complete, { leaseId, id: next.id, result });
      // Leave time for one more attempt inside the lease; otherwise hand over to a fresh run.
      if (Date.now() > runStartedAt + LEASE_MS - LEASE_MARGIN_MS - 2 * next.requestTimeoutMs) {
        more = true;
        break;
      }
    }
    await ctx.runMutation(internal.governance.alerts.releaseLease, { leaseId, continueSending: more });
    return null;
  },
});

async function attempt(ctx: ActionCtx, claimed: Claim): Promise<Outcome> {
  const { target } = claimed;
  if (target.kind === "slack") return await postToSlack(target.url, claimed.body, claimed.requestTimeoutMs);
  const event = JSON.parse(claimed.body) as AlertEvent;
  try {
    if (target.type === "mutation") await ctx.runMutation(target.handle as FunctionHandle<"mutation">, event);
    else await ctx.runAction(target.handle as FunctionHandle<"action">, event);
    return { outcome: "sent" };
  } catch (error) {
    return { outcome: "retry", error: `onAlert threw: ${error instanceof Error ? error.message : String(error)}` };
  }
}

/** 2xx sent; 408, 429, 5xx, timeouts and network errors retried; any other answer is final. */
async function postToSlack(url: string, body: string, timeoutMs: number): Promise<Outcome> {
  const answer = await fetchWithDeadline(url, { method: "POST", headers: { "Content-Type": "application/json" }, body }, timeoutMs);
  if (answer.kind !== "answered") return { outcome: "retry", error: answer.error };
  if (answer.status >= 200 && answer.status < 300) return { outcome: "sent" };
  const error = `Slack: ${httpError(answer.status, answer.text)}`;
  if (answer.status === 408 || answer.status === 429 || answer.status >= 500) {
    const retryAfterMs = parseRetryAfter(answer.headers.get("Retry-After"), Date.now());
    return { outcome: "retry", error, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
  }
  return { outcome: "dead", error };
}
