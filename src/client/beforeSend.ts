// The app's beforeSend hooks: each sees an event as it will be sent and may change or drop it.
// Events and exposures both pass through them.
import type { PostHogMessage } from "../core/messages.js";

/** An event as @posthog/convex hands it to hooks and takes it back. */
export interface PostHogEvent {
  event: string;
  distinctId: string;
  properties?: Record<string, unknown>;
}
/** An event as it will be sent, handed to `beforeSend` hooks. */
export interface BeforeSendEvent extends PostHogEvent {
  properties: Record<string, unknown>;
  timestamp: string;
  uuid: string;
}
/**
 * A `beforeSend` hook: return the event (changed or not) to send it, or null to drop it. A
 * returned event without `timestamp` or `uuid` keeps the original ones; without `properties`
 * it has none. May be async.
 */
export type BeforeSendHook = (
  event: BeforeSendEvent,
) => BeforeSendResult | null | undefined | Promise<BeforeSendResult | null | undefined>;
/** @posthog/convex's hook type, exactly (so its hooks can be called and chained as before); a BeforeSendHook. */
export type BeforeSendFn = (event: PostHogEvent) => PostHogEvent | null;
export type BeforeSendResult = PostHogEvent & { timestamp?: string; uuid?: string };

/** The message after every hook, or null when one dropped it (or threw). */
export async function runBeforeSend(
  hooks: BeforeSendHook | BeforeSendHook[] | undefined,
  message: PostHogMessage,
): Promise<PostHogMessage | null> {
  if (hooks === undefined) return message;
  let event: BeforeSendResult | null | undefined = {
    event: message.event,
    distinctId: message.distinct_id,
    properties: message.properties,
    timestamp: message.timestamp,
    uuid: message.uuid,
  };
  for (const hook of Array.isArray(hooks) ? hooks : [hooks]) {
    try {
      event = await hook({
        ...event,
        properties: event.properties ?? {},
        timestamp: event.timestamp ?? message.timestamp,
        uuid: event.uuid ?? message.uuid,
      });
    } catch (error) {
      // As posthog-node: a failing hook drops the event rather than the caller's work.
      console.warn(`PostHog: beforeSend threw for event "${message.event}", dropping it:`, error);
      return null;
    }
    if (event === null || event === undefined) return null;
  }
  // A hook written for @posthog/convex returns no timestamp or uuid: keep the originals.
  return {
    event: event.event,
    distinct_id: event.distinctId,
    properties: event.properties ?? {},
    timestamp: event.timestamp ?? message.timestamp,
    uuid: event.uuid ?? message.uuid,
  };
}
