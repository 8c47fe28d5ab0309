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
import type { Evaluation } from "../component/flags.js";
import { flagProperties, type ExposureFacts } from "../core/exposures.js";
import { fetchRemoteFlags, type RemoteFlagsResult } from "../core/remoteFlags.js";
import { fetchRemoteConfigPayload } from "../core/remoteConfig.js";
import { defineOwn, encodeFlagContext } from "../core/flagContext.js";
import { FeatureFlagEvaluations, snapshotParts, type SnapshotResponse } from "./snapshot.js";
import type { OverrideFeatureFlagsOptions } from "./overrides.js";
import { ClientConfig, type PostHogOptions } from "./config.js";
import {
  canFetch,
  canWrite,
  localDecision,
  remoteDecision,
  stringGroups,
  undecidedResult,
  type Decision,
  type FeatureFlagResult,
  type FlagReadResult,
  type FlagReason,
  type FlagsSnapshot,
  type JsonType,
  type UnresolvedFlagReason,
} from "./flags.js";
import { runBeforeSend } from "./beforeSend.js";
import { captureExposure, sendExposure } from "./exposures.js";
import type {
  AliasArgs,
  AllFlagsArgs,
  CaptureArgs,
  CaptureExceptionArgs,
  EventFlagsArgs,
  ExposureTarget,
  FlagArgs,
  FlagContext,
  FlagReadOptions,
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
      (await this.snapshot(ctx, { ...how, distinctId, groups: stringGroups(event.groups), disableGeoip: event.disableGeoip }, "capture"));
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

  // --- feature flags (queries, mutations and actions) ---

  /** The flag's value (true/false or a variant key), or undefined if it cannot be decided. */
  async getFeatureFlag(ctx: RunQueryCtx, args: FlagArgs): Promise<FlagValue | undefined> {
    return (await this.getFeatureFlagResult(ctx, args)).value;
  }

  async isFeatureEnabled(ctx: RunQueryCtx, args: FlagArgs): Promise<boolean | undefined> {
    const result = await this.getFeatureFlagResult(ctx, args);
    return result.value === undefined ? undefined : result.enabled;
  }

  /**
   * Value, payload and the reason: why it has that value, or why it has none. In a mutation
   * or action this read is an exposure: a `$feature_flag_called` event is queued (once per
   * distinct id, flag, response and groups) unless `sendFeatureFlagEvents: false`.
   */
  async getFeatureFlagResult(ctx: RunQueryCtx, args: FlagArgs): Promise<FlagReadResult> {
    if (this.#config.disabled) return undecidedResult(args.key, "disabled");
    // As posthog-node: an overridden flag is answered without evaluation or exposure.
    if (this.#config.overrides.hasFlag(args.key)) return this.#config.overrides.result(args.key);
    const distinctId = await this.#config.flagDistinctId(ctx, args.distinctId);
    const { decisions } = await this.decide(ctx, { ...args, distinctId }, [args.key], args, "one");
    const decision = decisions[0]!;
    if (canWrite(ctx) && this.#config.sendsExposures(args)) {
      await sendExposure(this.#config, ctx, { ...args, distinctId }, decision.facts);
    }
    return this.#config.overrides.withPayload(decision.result);
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
    if (this.#config.disabled) return undefined;
    if (this.#config.overrides.hasPayload(args.key)) return this.#config.overrides.payloads![args.key];
    if (args.matchValue !== undefined) {
      const answer = JSON.parse(
        await ctx.runQuery(this.component.flags.payloadFor, { key: args.key, matchValue: args.matchValue }),
      ) as { state: string; found?: boolean; payload?: JsonType | null };
      if (answer.state === "loaded" && answer.found) return answer.payload ?? null;
      // As posthog-node: with no local definition, an action asks /flags (matchValue unused there).
      if (!canFetch(ctx) || args.onlyEvaluateLocally) return undefined;
      const distinctId = await this.#config.flagDistinctId(ctx, args.distinctId);
      return remoteDecision(args.key, await this.askPostHog(distinctId, args, [args.key])).result.payload;
    }
    if (this.#config.overrides.hasFlag(args.key)) {
      const overridden = this.#config.overrides.result(args.key);
      return overridden.value === undefined ? undefined : overridden.payload;
    }
    const distinctId = await this.#config.flagDistinctId(ctx, args.distinctId);
    const { decisions } = await this.decide(ctx, { ...args, distinctId }, [args.key], args, "one");
    const { result } = decisions[0]!;
    return result.value === undefined ? undefined : result.payload;
  }

  /** Every decidable flag (undecidable ones are left out), as { key: value }. */
  async getAllFlags(ctx: RunQueryCtx, args: AllFlagsArgs = {}): Promise<Record<string, FlagValue>> {
    return (await this.getAllFlagsAndPayloads(ctx, args)).featureFlags;
  }

  /** Values and payloads of every decidable flag; payloads only where truthy, as posthog-node. */
  async getAllFlagsAndPayloads(
    ctx: RunQueryCtx,
    args: AllFlagsArgs = {},
  ): Promise<{ featureFlags: Record<string, FlagValue>; featureFlagPayloads: Record<string, JsonType> }> {
    const featureFlags: Record<string, FlagValue> = {};
    const featureFlagPayloads: Record<string, JsonType> = {};
    const distinctId = await this.#config.findDistinctId(ctx, args.distinctId);
    // As posthog-node: nothing without a distinct id, nor when disabled.
    if (distinctId === undefined || this.#config.disabled) return { featureFlags, featureFlagPayloads };
    const { decisions } = await this.decide(ctx, { ...args, distinctId }, args.flagKeys, args, "all");
    for (const { result, listsPayload } of decisions) {
      if (result.value === undefined) continue;
      defineOwn(featureFlags, result.key, result.value);
      if (listsPayload) defineOwn(featureFlagPayloads, result.key, result.payload!);
    }
    this.#config.overrides.applyToMaps(featureFlags, featureFlagPayloads);
    return { featureFlags, featureFlagPayloads };
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
    const { snapshot, facts, response } = await this.evaluateSnapshot(ctx, args, "snapshot");
    if (!canWrite(ctx)) return snapshot;
    // In a mutation or action, reads through the snapshot's accessors record exposures.
    const recorder = {
      sends: (perRead: boolean | undefined) => this.#config.sendsExposures({ sendFeatureFlagEvents: perRead }),
      record: (who: ExposureTarget, what: ExposureFacts) =>
        sendExposure(this.#config, ctx as unknown as RunMutationCtx, who, what),
    };
    return new FeatureFlagEvaluations({
      ...snapshot,
      unresolvedFlags: snapshot.unresolvedFlags ?? {},
      disableGeoip: args.disableGeoip,
      facts,
      response,
      recorder,
    });
  }

  private async snapshot(ctx: RunQueryCtx, args: AllFlagsArgs, mode: "snapshot" | "capture"): Promise<FlagsSnapshot> {
    return (await this.evaluateSnapshot(ctx, args, mode)).snapshot;
  }

  /** The decided flags as a snapshot, with each one's exposure facts and what /flags said overall. */
  private async evaluateSnapshot(
    ctx: RunQueryCtx,
    args: AllFlagsArgs,
    mode: "snapshot" | "capture",
  ): Promise<{ snapshot: FlagsSnapshot; facts: Map<string, ExposureFacts>; response: SnapshotResponse }> {
    const distinctId = await this.#config.findDistinctId(ctx, args.distinctId);
    const groups = args.groups ? { groups: args.groups } : {};
    // posthog-node answers {} without a distinct id, when disabled, or for an empty flagKeys, asking nothing.
    if (distinctId === undefined || this.#config.disabled || (mode === "snapshot" && args.flagKeys?.length === 0)) {
      const { facts, response } = snapshotParts([]);
      return { snapshot: { distinctId: distinctId ?? "", flags: {}, ...groups }, facts, response };
    }
    const { decisions, answer, minimalGate } = await this.decide(ctx, { ...args, distinctId }, args.flagKeys, args, mode);
    const { flags, unresolvedFlags, facts, response } = snapshotParts(decisions, answer, minimalGate);
    // As posthog-node: overrides apply to local evaluations (a capture's remote answer has none);
    // a capture evaluates like getAllFlags, whose overrides flagKeys does not limit.
    if (mode === "snapshot") this.#config.overrides.applyToSnapshot(flags, facts, args.flagKeys);
    else if (answer === undefined) this.#config.overrides.applyToSnapshot(flags, facts, undefined);
    for (const key of Object.keys(flags)) delete unresolvedFlags[key];
    const snapshot: FlagsSnapshot = { distinctId, flags, ...groups, ...(mode === "snapshot" ? { unresolvedFlags } : {}) };
    return { snapshot, facts, response };
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

  /**
   * The payload of a remote config flag, from PostHog's remote config endpoint (action; needs
   * the personal or secret API key). Undefined when PostHog cannot be reached or says no.
   */
  async getRemoteConfigPayload(ctx: RunActionCtx, args: { key: string; timeoutMs?: number }): Promise<JsonType | undefined> {
    void ctx; // an action's ctx: only actions may make network requests
    const personalApiKey = this.#config.personalApiKey();
    if (personalApiKey === undefined) {
      throw new PostHogInputError(
        "personalApiKey",
        "remote config payloads need a personal API key: pass secretKey (or personalApiKey) to new PostHog(...) or set POSTHOG_PERSONAL_API_KEY",
      );
    }
    return (await fetchRemoteConfigPayload({ ...this.#config.destination(), personalApiKey, ...args })) as JsonType | undefined;
  }

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

  /**
   * Decide flags from the stored definitions, then, in an action, ask PostHog's /flags for
   * what that left undecided, exactly when posthog-node would:
   * - "one": a single flag read; any undecided flag is asked for by key.
   * - "all": getAllFlags; one request when definitions are missing or a flag PostHog
   *   evaluates server-side is undecided; PostHog's values then overwrite local ones.
   * - "snapshot": evaluateFlags; local values stand, PostHog fills in the rest, and a
   *   requested key with no local definition also asks.
   * - "capture": sendFeatureFlags; asks only when there are no definitions at all.
   */
  private async decide(
    ctx: RunQueryCtx,
    context: FlagContext & { distinctId: string },
    keys: string[] | undefined,
    how: FlagReadOptions,
    mode: "one" | "all" | "snapshot" | "capture",
  ): Promise<{ decisions: Decision[]; answer?: RemoteFlagsResult; minimalGate: boolean }> {
    const encoded = encodeFlagContext({
      distinctId: context.distinctId,
      groups: context.groups,
      personProperties: context.personProperties,
      groupProperties: context.groupProperties,
    });
    const evaluation = JSON.parse(await ctx.runQuery(this.component.flags.evaluate, { context: encoded, keys })) as Evaluation;
    const loaded = evaluation.state === "loaded";
    if (evaluation.state === "not_loaded") this.#config.warnDefinitionsNotLoaded();
    const local = loaded
      ? evaluation.results.map(localDecision)
      : (keys ?? []).map((key) =>
          localDecision({ key, resolved: false, reason: evaluation.state === "not_loaded" ? "definitions_not_loaded" : "quota_limited", serverRequired: false }),
        );
    const storedGate = loaded && evaluation.minimalFlagCalledEvents;
    const settle = (decisions: Decision[], answer?: RemoteFlagsResult) => {
      // posthog-node's gate is its last writer: this read's /flags answer, else the definitions.
      const minimalGate = answer?.ok ? answer.minimalFlagCalledEvents === true : storedGate;
      for (const decision of decisions) decision.facts.minimalGate = minimalGate;
      return { decisions, ...(answer ? { answer } : {}), minimalGate };
    };
    if (how.onlyEvaluateLocally || !canFetch(ctx) || this.#config.projectApiKey() === undefined) return settle(local);
    const noFlags = !loaded || (keys === undefined && local.length === 0);
    const undecided = local.some((d) => d.result.value === undefined && !d.clientOnly);
    const ask =
      noFlags ||
      (mode !== "capture" && undecided) ||
      (mode === "snapshot" && local.some((d) => d.result.reason === "unknown_flag"));
    if (!ask) return settle(local);

    // A capture's fallback asks for every flag, as posthog-node's (its flagKeys is local-only).
    const answer = await this.askPostHog(context.distinctId, { ...context, ...how }, mode === "capture" ? undefined : keys);
    if (mode === "one") return settle(local.map((d) => (d.result.value === undefined ? remoteDecision(d.result.key, answer) : d)), answer);
    if (!answer.ok) return settle(local, answer);
    const merged = new Map(local.map((d) => [d.result.key, d]));
    for (const key of Object.keys(answer.flags)) {
      const mine = merged.get(key);
      if (mode === "snapshot" && mine?.result.value !== undefined) continue; // local stands
      merged.set(key, remoteDecision(key, answer));
    }
    return settle([...merged.values()], answer);
  }

  // --- remote evaluation (actions) ---

  /**
   * One flag from PostHog's /flags endpoint: what PostHog knows that local evaluation
   * cannot (experience continuity, static cohorts, stored properties). `null` when the
   * flag does not exist or PostHog could not be reached. An exposure, like getFeatureFlag.
   */
  async evaluateFlag(ctx: RunActionCtx, args: FlagArgs): Promise<FlagValue | null> {
    return (await this.evaluateFlagResult(ctx, args)).value ?? null;
  }

  /** As evaluateFlag, with payload and the reason (evaluated_remotely, flag_missing, remote_error, quota_limited). */
  async evaluateFlagResult(ctx: RunActionCtx, args: FlagArgs): Promise<FlagReadResult> {
    if (this.#config.disabled) return undecidedResult(args.key, "disabled");
    if (this.#config.overrides.hasFlag(args.key)) return this.#config.overrides.result(args.key);
    if (this.#config.projectApiKey() === undefined) return undecidedResult(args.key, "not_configured");
    const distinctId = await this.#config.flagDistinctId(ctx, args.distinctId);
    const answer = await this.askPostHog(distinctId, args, [args.key]);
    const decision = remoteDecision(args.key, answer);
    decision.facts.minimalGate = answer.ok && answer.minimalFlagCalledEvents === true;
    if (canWrite(ctx) && this.#config.sendsExposures(args)) {
      await sendExposure(this.#config, ctx, { ...args, distinctId }, decision.facts);
    }
    return this.#config.overrides.withPayload(decision.result);
  }

  /** The flag's payload from PostHog's /flags endpoint, or null. Never an exposure. */
  async evaluateFlagPayload(ctx: RunActionCtx, args: FlagArgs): Promise<JsonType | null> {
    if (this.#config.disabled) return null;
    if (this.#config.overrides.hasPayload(args.key)) return this.#config.overrides.payloads![args.key]!;
    if (this.#config.overrides.hasFlag(args.key)) return this.#config.overrides.result(args.key).payload ?? null;
    if (this.#config.projectApiKey() === undefined) return null;
    const distinctId = await this.#config.flagDistinctId(ctx, args.distinctId);
    return remoteDecision(args.key, await this.askPostHog(distinctId, args, [args.key])).result.payload ?? null;
  }

  /** Every flag from one /flags request; empty maps when PostHog could not be reached. */
  async evaluateAllFlags(
    ctx: RunActionCtx,
    args: AllFlagsArgs = {},
  ): Promise<{ featureFlags: Record<string, FlagValue>; featureFlagPayloads: Record<string, JsonType> }> {
    const featureFlags: Record<string, FlagValue> = {};
    const featureFlagPayloads: Record<string, JsonType> = {};
    if (this.#config.disabled || this.#config.projectApiKey() === undefined) return { featureFlags, featureFlagPayloads };
    const distinctId = await this.#config.flagDistinctId(ctx, args.distinctId);
    const answer = await this.askPostHog(distinctId, args, args.flagKeys);
    if (answer.ok) {
      for (const [key, flag] of Object.entries(answer.flags)) {
        defineOwn(featureFlags, key, flag.value);
        if (flag.listsPayload) defineOwn(featureFlagPayloads, key, flag.payload as JsonType);
      }
    }
    this.#config.overrides.applyToMaps(featureFlags, featureFlagPayloads);
    return { featureFlags, featureFlagPayloads };
  }

  private async askPostHog(distinctId: string, args: FlagContext & FlagReadOptions, flagKeys: string[] | undefined): Promise<RemoteFlagsResult> {
    return await fetchRemoteFlags({
      ...this.#config.destination(),
      distinctId,
      groups: args.groups,
      personProperties: args.personProperties,
      groupProperties: args.groupProperties,
      disableGeoip: args.disableGeoip,
      ...(flagKeys ? { flagKeys } : {}),
      ...this.#config.remoteTimings(),
    });
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
