// The alert outbox's shapes, shared by the component (alerts.ts) and the client (which
// re-exports vAlertEvent for the app's onAlert function). No Convex functions here.
import { v, type Infer } from "convex/values";
import { vAlertDelivery, vAlertSettings } from "./tables.js";

export type AlertSettings = Infer<typeof vAlertSettings>;
export type AlertDelivery = Infer<typeof vAlertDelivery>;

export const vAlertKind = v.union(v.literal("guardian"), v.literal("enforcement"), v.literal("digest"), v.literal("finding"));

/** What the app's `onAlert` function is called with. */
export const vAlertEvent = v.object({
  kind: vAlertKind,
  key: v.optional(v.string()),
  decision: v.optional(v.string()),
  reason: v.string(),
  /** The guardian's EvaluationMetrics, or other figures. */
  metrics: v.optional(v.any()),
  posthogFlagUrl: v.optional(v.string()),
  detail: v.optional(v.any()),
});
export type AlertEvent = Infer<typeof vAlertEvent>;

export const vAlertInput = v.object({
  /** The same key again (while the first is kept) queues nothing. */
  dedupKey: v.string(),
  kind: vAlertKind,
  key: v.optional(v.string()),
  /** The Slack message body (core/governance/slack.ts). */
  slack: v.any(),
  event: vAlertEvent,
});
export type AlertInput = Infer<typeof vAlertInput>;

export const vQueueResult = v.object({ queued: v.array(v.string()), duplicates: v.array(v.string()) });
export type QueueResult = Infer<typeof vQueueResult>;

export const vAlertStatus = v.union(v.literal("pending"), v.literal("sent"), v.literal("dead"));

export const vAlertRow = v.object({
  dedupKey: v.string(),
  destination: v.union(v.literal("slack"), v.literal("callback")),
  kind: v.string(),
  key: v.optional(v.string()),
  status: vAlertStatus,
  attempts: v.number(),
  createdAt: v.number(),
  nextAttemptAt: v.optional(v.number()),
  sentAt: v.optional(v.number()),
  lastError: v.optional(v.string()),
});
export type AlertRow = Infer<typeof vAlertRow>;
