// Events: capture, identify, alias, groupIdentify and captureException. Each message is built
// here, in the app's function (so beforeSend hooks see it), and queued in the component's outbox.
import {
  buildAliasMessage,
  buildCaptureMessage,
  buildExceptionMessage,
  buildGroupIdentifyMessage,
  buildIdentifyMessage,
  outboxMessage,
  PostHogInputError,
  type PostHogMessage,
} from "../core/messages.js";
import type { FlagValue } from "../core/flags/index.js";
import { flagProperties } from "../core/exposures.js";
import { defineOwn } from "../core/flagContext.js";
import { runBeforeSend } from "./beforeSend.js";
import type { ClientConfig } from "./config.js";
import { acceptsEvent } from "./contracts.js";
import { stringGroups } from "./flags.js";
import { evaluateForCapture } from "./localFlags.js";
import type {
  AliasArgs,
  CaptureArgs,
  CaptureExceptionArgs,
  EventFlagsArgs,
  GroupIdentifyArgs,
  IdentifyArgs,
  MutationOrActionCtx,
  Properties,
  RunMutationCtx,
  RunQueryCtx,
} from "./types.js";

/** `allowUndeclared`: events outside the taxonomy pass (the untyped escape hatch). */
export async function capture(config: ClientConfig, ctx: MutationOrActionCtx, args: CaptureArgs, allowUndeclared = false): Promise<void> {
  if (config.disabled) return;
  // Before beforeSend: hooks see only events the taxonomy allows.
  if (!acceptsEvent(config, args, allowUndeclared)) return;
  const distinctId = await config.resolveDistinctId(ctx, args.distinctId);
  const { flags, sendFeatureFlags, ...event } = args;
  // The caller's own $feature/* properties win over computed ones.
  const stamped = await eventFlagProperties(config, ctx, { flags, sendFeatureFlags }, distinctId, event);
  const properties = stamped ? { ...stamped, ...event.properties } : event.properties;
  await enqueue(config, ctx, buildCaptureMessage({ ...event, properties, distinctId }, config.buildOptions()));
}

export async function identify(config: ClientConfig, ctx: MutationOrActionCtx, args: IdentifyArgs): Promise<void> {
  if (config.disabled) return;
  const distinctId = await config.resolveDistinctId(ctx, args.distinctId);
  await enqueue(config, ctx, buildIdentifyMessage({ ...args, distinctId }, config.buildOptions()));
}

export async function alias(config: ClientConfig, ctx: MutationOrActionCtx, args: AliasArgs): Promise<void> {
  if (config.disabled) return;
  const distinctId = await config.resolveDistinctId(ctx, args.distinctId);
  await enqueue(config, ctx, buildAliasMessage({ ...args, distinctId }, config.buildOptions()));
}

export async function groupIdentify(config: ClientConfig, ctx: MutationOrActionCtx, args: GroupIdentifyArgs): Promise<void> {
  if (config.disabled) return;
  await enqueue(config, ctx, buildGroupIdentifyMessage(args, config.buildOptions()));
}

export async function captureException(config: ClientConfig, ctx: MutationOrActionCtx, args: CaptureExceptionArgs): Promise<void> {
  if (config.disabled) return;
  const distinctId = await config.findDistinctId(ctx, args.distinctId);
  const { flags, sendFeatureFlags, ...exception } = args;
  // Flags need someone to evaluate them for: without a distinct id, sendFeatureFlags stamps nothing.
  const stamped =
    distinctId === undefined && flags === undefined
      ? undefined
      : await eventFlagProperties(config, ctx as RunMutationCtx & RunQueryCtx, { flags, sendFeatureFlags }, distinctId ?? "", exception);
  const additionalProperties = stamped ? { ...stamped, ...exception.additionalProperties } : exception.additionalProperties;
  await enqueue(config, ctx, buildExceptionMessage({ ...exception, additionalProperties, distinctId }, config.buildOptions()));
}

/** Message, stack and name of anything thrown (an Error, a string, an object with a message). */
export function normalizeError(error: unknown): { message: string; stack?: string; name?: string } {
  if (error instanceof Error) return { message: error.message, stack: error.stack, name: error.name };
  if (typeof error === "string") return { message: error };
  if (typeof error === "object" && error !== null && typeof (error as { message?: unknown }).message === "string") {
    const { message, stack, name } = error as { message: string; stack?: unknown; name?: unknown };
    return {
      message,
      ...(typeof stack === "string" ? { stack } : {}),
      ...(typeof name === "string" ? { name } : {}),
    };
  }
  return { message: String(error) };
}

/**
 * `$feature/*` and `$active_feature_flags` for an event, or undefined when none were asked
 * for. As posthog-node: a snapshot wins over sendFeatureFlags; sendFeatureFlags evaluates
 * locally when definitions are loaded (no request), otherwise, in an action, asks /flags once.
 */
async function eventFlagProperties(
  config: ClientConfig,
  ctx: RunMutationCtx & RunQueryCtx,
  { flags, sendFeatureFlags }: EventFlagsArgs,
  distinctId: string,
  event: { groups?: Record<string, string | number>; disableGeoip?: boolean },
): Promise<Properties | undefined> {
  if (flags === undefined && !sendFeatureFlags) return undefined;
  if (flags === undefined && !("runQuery" in ctx)) {
    throw new PostHogInputError("ctx", "sendFeatureFlags evaluates flags: pass the ctx of a mutation or an action");
  }
  const how = typeof sendFeatureFlags === "object" ? sendFeatureFlags : {};
  const snapshot =
    flags ?? (await evaluateForCapture(config, ctx, { ...how, distinctId, groups: stringGroups(event.groups), disableGeoip: event.disableGeoip }));
  const values: Record<string, FlagValue> = {};
  for (const [key, result] of Object.entries(snapshot.flags)) defineOwn(values, key, result.value!);
  return flagProperties(values);
}

/** Run the beforeSend hooks and queue what they keep in the component's outbox. */
async function enqueue(config: ClientConfig, ctx: RunMutationCtx, built: PostHogMessage): Promise<void> {
  const message = await runBeforeSend(config.options.beforeSend, built);
  if (message === null) return;
  const encoded = outboxMessage(message); // bad input throws even when nothing would be sent
  const destination = config.configuredDestination();
  if (destination === undefined) return;
  await ctx.runMutation(config.component.events.enqueue, { destination, ...encoded, ...config.deliveryArgs() });
}
