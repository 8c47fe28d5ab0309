// The class an app instantiates in convex/posthog.ts. It runs inside the app's own
// functions: it builds each PostHog message (so hooks see it and `$` keys survive as JSON
// text) and hands it to the component, which queues and delivers it.
import type { ComponentApi } from "../component/_generated/component.js";
import type { DeadLetter, DeliveryOptions, FlushResult, RefreshResult, Status as ComponentStatus } from "../component/validators.js";
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
import { FeatureFlagEvaluations } from "./snapshot.js";
import type { OverrideFeatureFlagsOptions } from "./overrides.js";
import { ClientConfig, type PostHogOptions } from "./config.js";
import {
  stringGroups,
  type FeatureFlagResult,
  type FlagReadResult,
  type FlagReason,
  type FlagsSnapshot,
  type JsonType,
  type UnresolvedFlagReason,
} from "./flags.js";
import { runBeforeSend } from "./beforeSend.js";
import { captureExposure } from "./exposures.js";
import * as localFlags from "./localFlags.js";
import * as remoteFlags from "./remoteFlags.js";
import type {
  AliasArgs,
  AllFlagsArgs,
  CaptureArgs,
  CaptureExceptionArgs,
  EventFlagsArgs,
  FlagArgs,
  GroupIdentifyArgs,
  IdentifyArgs,
  MutationOrActionCtx,
  Properties,
  RunActionCtx,
  RunMutationCtx,
  RunQueryCtx,
} from "./types.js";

export { PostHogInputError };
export { toConvexSafe, fromConvexSafe, type ConvexSafe } from "../core/convexSafe.js";
export type { DeadLetter, DeliveryOptions, FlushResult, PostHogMessage, FlagValue, RefreshResult };
export type { FeatureFlagResult, FlagReadResult, FlagReason, FlagsSnapshot, JsonType, OverrideFeatureFlagsOptions, UnresolvedFlagReason };
export { FeatureFlagEvaluations };
export { DEFAULT_HOST, type PostHogOptions } from "./config.js";
export type { BeforeSendEvent, BeforeSendFn, BeforeSendHook, BeforeSendResult, PostHogEvent } from "./beforeSend.js";
export type {
  AliasArgs,
  AllFlagsArgs,
  CaptureArgs,
  CaptureExceptionArgs,
  EventFlagsArgs,
  FlagArgs,
  FlagContext,
  FlagReadOptions,
  GroupIdentifyArgs,
  IdentifyArgs,
  IdentifyCtx,
  IdentifyFn,
  MutationOrActionCtx,
  RunActionCtx,
  RunMutationCtx,
  RunQueryCtx,
} from "./types.js";
/** @posthog/convex's name for a flag's value: true/false or a variant key. */
export type FeatureFlagValue = FlagValue;

/** Queue health (see PostHog.status), and whether this client sends anything at all. */
export type Status = ComponentStatus & {
  /**
   * "enabled"; "not_configured" when there is no project API key (captures are skipped, with
   * one warning); "disabled" when the client was created with `disabled: true`.
   */
  analytics: "enabled" | "not_configured" | "disabled";
};

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

export class PostHog {
  readonly #config: ClientConfig;

  constructor(
    public component: ComponentApi,
    options: PostHogOptions = {},
  ) {
    this.#config = new ClientConfig(component, options);
  }

  /** Queue an event. In a mutation it commits or rolls back with the mutation. */
  async capture(ctx: MutationOrActionCtx, args: CaptureArgs): Promise<void> {
    if (this.#config.disabled) return;
    const distinctId = await this.#config.resolveDistinctId(ctx, args.distinctId);
    const { flags, sendFeatureFlags, ...event } = args;
    // The caller's own $feature/* properties win over computed ones.
    const stamped = await this.eventFlagProperties(ctx, { flags, sendFeatureFlags }, distinctId, event);
    const properties = stamped ? { ...stamped, ...event.properties } : event.properties;
    await this.enqueue(ctx, buildCaptureMessage({ ...event, properties, distinctId }, this.#config.buildOptions()));
  }

  async identify(ctx: MutationOrActionCtx, args: IdentifyArgs): Promise<void> {
    if (this.#config.disabled) return;
    const distinctId = await this.#config.resolveDistinctId(ctx, args.distinctId);
    await this.enqueue(ctx, buildIdentifyMessage({ ...args, distinctId }, this.#config.buildOptions()));
  }

  async alias(ctx: MutationOrActionCtx, args: AliasArgs): Promise<void> {
    if (this.#config.disabled) return;
    const distinctId = await this.#config.resolveDistinctId(ctx, args.distinctId);
    await this.enqueue(ctx, buildAliasMessage({ ...args, distinctId }, this.#config.buildOptions()));
  }

  /** Set group properties. Without a distinctId PostHog's `$<type>_<key>` is used. */
  async groupIdentify(ctx: MutationOrActionCtx, args: GroupIdentifyArgs): Promise<void> {
    if (this.#config.disabled) return;
    await this.enqueue(ctx, buildGroupIdentifyMessage(args, this.#config.buildOptions()));
  }

  /** Capture an Error, a string, or any object with a `message`, as a `$exception` event. */
  async captureException(ctx: MutationOrActionCtx, args: CaptureExceptionArgs): Promise<void> {
    if (this.#config.disabled) return;
    const distinctId = await this.#config.findDistinctId(ctx, args.distinctId);
    const { flags, sendFeatureFlags, ...exception } = args;
    // Flags need someone to evaluate them for: without a distinct id, sendFeatureFlags stamps nothing.
    const stamped =
      distinctId === undefined && flags === undefined
        ? undefined
        : await this.eventFlagProperties(ctx as RunMutationCtx & RunQueryCtx, { flags, sendFeatureFlags }, distinctId ?? "", exception);
    const additionalProperties = stamped ? { ...stamped, ...exception.additionalProperties } : exception.additionalProperties;
    await this.enqueue(ctx, buildExceptionMessage({ ...exception, additionalProperties, distinctId }, this.#config.buildOptions()));
  }

  /**
   * `$feature/*` and `$active_feature_flags` for an event, or undefined when none were asked
   * for. As posthog-node: a snapshot wins over sendFeatureFlags; sendFeatureFlags evaluates
   * locally when definitions are loaded (no request), otherwise, in an action, asks /flags once.
   */
  private async eventFlagProperties(
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
      flags ??
      (await localFlags.evaluateForCapture(this.#config, ctx, { ...how, distinctId, groups: stringGroups(event.groups), disableGeoip: event.disableGeoip }));
    const values: Record<string, FlagValue> = {};
    for (const [key, result] of Object.entries(snapshot.flags)) defineOwn(values, key, result.value!);
    return flagProperties(values);
  }

  /** Deliver everything queued now (including events waiting to retry); say how it went. */
  async flush(ctx: RunActionCtx): Promise<FlushResult> {
    return await ctx.runAction(this.component.delivery.flush, this.#config.deliveryArgs());
  }

  /** Queue health: pending count and age, dead letters, last delivery outcome, configuration. */
  async status(ctx: RunQueryCtx): Promise<Status> {
    const analytics = this.#config.disabled ? "disabled" : this.#config.projectApiKey() === undefined ? "not_configured" : "enabled";
    return { ...(await ctx.runQuery(this.component.status.get, {})), analytics };
  }

  /** Events PostHog rejected permanently (bad key, malformed...), with the error. */
  async listDeadLetters(ctx: RunQueryCtx, args: { limit?: number } = {}): Promise<DeadLetter[]> {
    return await ctx.runQuery(this.component.events.listDeadLetters, args);
  }

  /**
   * Queue dead-lettered events again, to the current host and key: at most 1,000 per call
   * (`limit`, default 1,000), which leaves the calling mutation most of its transaction.
   * Returns how many; call again while it returns 1,000.
   */
  async resendDeadLetters(ctx: MutationOrActionCtx, args: { limit?: number } = {}): Promise<number> {
    return await ctx.runMutation(this.component.events.resendDeadLetters, {
      ...args,
      destination: this.#config.destination(),
      ...this.#config.deliveryArgs(),
    });
  }

  /**
   * Fetch flag definitions from PostHog into the component (action). Call it from your
   * own cron; PostHog bills each poll as 10 flag requests. Needs the personal API key.
   */
  async refreshFlagDefinitions(ctx: RunActionCtx, args: { timeoutMs?: number } = {}): Promise<RefreshResult> {
    if (this.#config.disabled) return { result: "disabled" };
    const personalApiKey = this.#config.personalApiKey();
    if (personalApiKey === undefined) {
      throw new PostHogInputError(
        "personalApiKey",
        "local flag evaluation needs a personal API key: pass personalApiKey to new PostHog(...) or set POSTHOG_PERSONAL_API_KEY",
      );
    }
    return await ctx.runAction(this.component.definitions.refresh, { ...this.#config.destination(), personalApiKey, ...args });
  }

  /** posthog-node's (and @posthog/convex's) name for refreshFlagDefinitions. */
  async reloadFeatureFlags(ctx: RunActionCtx): Promise<RefreshResult> {
    return await this.refreshFlagDefinitions(ctx);
  }

  // --- feature flags (queries, mutations and actions) ---

  /** The flag's value (true/false or a variant key), or undefined if it cannot be decided. */
  async getFeatureFlag(ctx: RunQueryCtx, args: FlagArgs): Promise<FlagValue | undefined> {
    return await localFlags.getFeatureFlag(this.#config, ctx, args);
  }

  async isFeatureEnabled(ctx: RunQueryCtx, args: FlagArgs): Promise<boolean | undefined> {
    return await localFlags.isFeatureEnabled(this.#config, ctx, args);
  }

  /**
   * Value, payload and the reason: why it has that value, or why it has none. In a mutation
   * or action this read is an exposure: a `$feature_flag_called` event is queued (once per
   * distinct id, flag, response and groups) unless `sendFeatureFlagEvents: false`.
   */
  async getFeatureFlagResult(ctx: RunQueryCtx, args: FlagArgs): Promise<FlagReadResult> {
    return await localFlags.getFeatureFlagResult(this.#config, ctx, args);
  }

  /**
   * The payload for the flag's value: null when there is none, undefined when the flag
   * cannot be decided. With `matchValue`, the payload for that value without evaluating.
   * Never an exposure, as in posthog-node.
   */
  async getFeatureFlagPayload(
    ctx: RunQueryCtx,
    args: FlagArgs & { matchValue?: FlagValue },
  ): Promise<JsonType | null | undefined> {
    return await localFlags.getFeatureFlagPayload(this.#config, ctx, args);
  }

  /** Every decidable flag (undecidable ones are left out), as { key: value }. */
  async getAllFlags(ctx: RunQueryCtx, args: AllFlagsArgs = {}): Promise<Record<string, FlagValue>> {
    return await localFlags.getAllFlags(this.#config, ctx, args);
  }

  /** Values and payloads of every decidable flag; payloads only where truthy, as posthog-node. */
  async getAllFlagsAndPayloads(
    ctx: RunQueryCtx,
    args: AllFlagsArgs = {},
  ): Promise<{ featureFlags: Record<string, FlagValue>; featureFlagPayloads: Record<string, JsonType> }> {
    return await localFlags.getAllFlagsAndPayloads(this.#config, ctx, args);
  }

  /**
   * Evaluate flags once and keep the answers: read values from `snapshot.flags`, pass the
   * snapshot to `capture({ flags })` to stamp `$feature/<key>` on an event with no further
   * evaluation, or to `captureExposure` to record what was shown. Plain data: a query can
   * return it to the client, which passes it to a mutation.
   */
  async evaluateFlags(ctx: RunMutationCtx & RunQueryCtx, args?: AllFlagsArgs): Promise<FeatureFlagEvaluations>;
  async evaluateFlags(ctx: RunQueryCtx, args?: AllFlagsArgs): Promise<FlagsSnapshot>;
  async evaluateFlags(ctx: RunQueryCtx, args: AllFlagsArgs = {}): Promise<FlagsSnapshot> {
    return await localFlags.evaluateFlags(this.#config, ctx, args);
  }

  /**
   * Answer flag reads with these values instead of evaluating (handy in tests), as
   * posthog-node: `false` clears; a list of keys sets them to true; `{ flags, payloads }` sets
   * either part; any other object maps keys to values (`undefined`: the flag does not exist).
   * Overridden single-flag reads send no exposure. Kept by this client object, in this isolate.
   */
  overrideFeatureFlags(overrides: OverrideFeatureFlagsOptions): void {
    this.#config.overrides.set(overrides);
  }

  // --- remote evaluation (actions) ---

  /**
   * One flag from PostHog's /flags endpoint: what PostHog knows that local evaluation
   * cannot (experience continuity, static cohorts, stored properties). `null` when the
   * flag does not exist or PostHog could not be reached. An exposure, like getFeatureFlag.
   */
  async evaluateFlag(ctx: RunActionCtx, args: FlagArgs): Promise<FlagValue | null> {
    return await remoteFlags.evaluateFlag(this.#config, ctx, args);
  }

  /** As evaluateFlag, with payload and the reason (evaluated_remotely, flag_missing, remote_error, quota_limited). */
  async evaluateFlagResult(ctx: RunActionCtx, args: FlagArgs): Promise<FlagReadResult> {
    return await remoteFlags.evaluateFlagResult(this.#config, ctx, args);
  }

  /** The flag's payload from PostHog's /flags endpoint, or null. Never an exposure. */
  async evaluateFlagPayload(ctx: RunActionCtx, args: FlagArgs): Promise<JsonType | null> {
    return await remoteFlags.evaluateFlagPayload(this.#config, ctx, args);
  }

  /** Every flag from one /flags request; empty maps when PostHog could not be reached. */
  async evaluateAllFlags(
    ctx: RunActionCtx,
    args: AllFlagsArgs = {},
  ): Promise<{ featureFlags: Record<string, FlagValue>; featureFlagPayloads: Record<string, JsonType> }> {
    return await remoteFlags.evaluateAllFlags(this.#config, ctx, args);
  }

  /**
   * The payload of a remote config flag, from PostHog's remote config endpoint (action; needs
   * the personal or secret API key). Undefined when PostHog cannot be reached or says no.
   */
  async getRemoteConfigPayload(ctx: RunActionCtx, args: { key: string; timeoutMs?: number }): Promise<JsonType | undefined> {
    return await remoteFlags.getRemoteConfigPayload(this.#config, ctx, args);
  }

  // --- exposures ---

  /**
   * Record that a user saw a flag's value read in a query (queries cannot write): pass the
   * result the query returned. Deduplicated like every exposure.
   */
  async captureExposure(
    ctx: MutationOrActionCtx,
    args: { distinctId: string; result: FeatureFlagResult; groups?: Record<string, string>; disableGeoip?: boolean },
  ): Promise<void> {
    await captureExposure(this.#config, ctx, args);
  }

  // --- internals ---

  private async enqueue(ctx: RunMutationCtx, built: PostHogMessage): Promise<void> {
    const message = await runBeforeSend(this.#config.options.beforeSend, built);
    if (message === null) return;
    const encoded = outboxMessage(message); // bad input throws even when nothing would be sent
    const destination = this.#config.configuredDestination();
    if (destination === undefined) return;
    await ctx.runMutation(this.component.events.enqueue, { destination, ...encoded, ...this.#config.deliveryArgs() });
  }

  /** Host and key, read when a method runs (env vars may change between deployments). */
  destination(): { host: string; apiKey: string } {
    return this.#config.destination();
  }

  /** Personal API key for flag definitions; never stored by the component. */
  personalApiKey(): string | undefined {
    return this.#config.personalApiKey();
  }
}
