// The class an app instantiates in convex/posthog.ts. It runs inside the app's own
// functions: it builds each PostHog message (so hooks see it and `$` keys survive as JSON
// text) and hands it to the component, which queues and delivers it.
import type { FunctionArgs, FunctionReference, FunctionReturnType } from "convex/server";
import type { ComponentApi } from "../component/_generated/component.js";
import type { DeadLetter, DeliveryOptions, FlushResult, RefreshResult, Status } from "../component/validators.js";
import {
  buildAliasMessage,
  buildCaptureMessage,
  buildExceptionMessage,
  buildGroupIdentifyMessage,
  buildIdentifyMessage,
  encodeMessage,
  PostHogInputError,
  type PostHogMessage,
} from "../core/messages.js";
import { LIB_NAME, LIB_VERSION } from "../core/version.js";
import { encodeJson } from "../core/json.js";
import type { FlagValue } from "../core/flags/index.js";
import type { Evaluation } from "../component/flags.js";
import { exposureDedupKey, flagCalledProperties, flagProperties, type ExposureFacts } from "../core/exposures.js";
import { fetchRemoteFlags, type RemoteFlagsResult } from "../core/remoteFlags.js";
import {
  canFetch,
  canWrite,
  factsOf,
  localDecision,
  remoteDecision,
  stringGroups,
  type Decision,
  type FeatureFlagResult,
  type FlagReason,
  type FlagsSnapshot,
  type JsonType,
} from "./flags.js";

export { PostHogInputError };
export type { DeadLetter, DeliveryOptions, FlushResult, Status, PostHogMessage, FlagValue, RefreshResult };
export type { FeatureFlagResult, FlagReason, FlagsSnapshot, JsonType };

export interface FlagContext {
  distinctId?: string;
  groups?: Record<string, string>;
  /** Person properties to match on; `$` keys (e.g. `$device_id`) included. */
  personProperties?: Record<string, unknown>;
  /** Group type name to that group's properties. */
  groupProperties?: Record<string, Record<string, unknown>>;
}
/** How a read behaves, with posthog-node's option names. */
export interface FlagReadOptions {
  /** Never ask PostHog's /flags endpoint (actions only ever would). */
  onlyEvaluateLocally?: boolean;
  /** Whether this read queues a `$feature_flag_called` exposure (mutations and actions). */
  sendFeatureFlagEvents?: boolean;
  disableGeoip?: boolean;
}
export interface FlagArgs extends FlagContext, FlagReadOptions {
  key: string;
}
export interface AllFlagsArgs extends FlagContext, FlagReadOptions {
  /** Only these flags. */
  flagKeys?: string[];
}

export const DEFAULT_HOST = "https://us.i.posthog.com";

/** Contexts by what they can do: mutations and actions can enqueue, anything can query. */
export type RunMutationCtx = {
  runMutation<M extends FunctionReference<"mutation", "internal">>(mutation: M, args: FunctionArgs<M>): Promise<FunctionReturnType<M>>;
};
export type RunQueryCtx = {
  runQuery<Q extends FunctionReference<"query", "internal">>(query: Q, args: FunctionArgs<Q>): Promise<FunctionReturnType<Q>>;
};
export type RunActionCtx = {
  runAction<A extends FunctionReference<"action", "internal">>(action: A, args: FunctionArgs<A>): Promise<FunctionReturnType<A>>;
};

/** An event as it will be sent, handed to `beforeSend` hooks. */
export interface BeforeSendEvent {
  event: string;
  distinctId: string;
  properties: Record<string, unknown>;
  timestamp: string;
  uuid: string;
}
/** Return the event (changed or not) to send it, or null to drop it. */
export type BeforeSendFn = (event: BeforeSendEvent) => BeforeSendEvent | null | Promise<BeforeSendEvent | null>;
/** Supplies a distinctId when a call gives none (an explicit distinctId always wins). */
export type IdentifyFn = (ctx: unknown) => Promise<{ distinctId: string } | null | undefined> | { distinctId: string } | null | undefined;

export interface PostHogOptions {
  /** Project API key (phc_...). Default: the POSTHOG_API_KEY environment variable. */
  apiKey?: string;
  /** Default: POSTHOG_HOST, else https://us.i.posthog.com. */
  host?: string;
  /** Personal API key for local flag evaluation. Default: POSTHOG_PERSONAL_API_KEY. */
  personalApiKey?: string;
  beforeSend?: BeforeSendFn | BeforeSendFn[];
  identify?: IdentifyFn;
  /** Batch size, flush delay, timeouts and retry backoff of delivery. */
  delivery?: DeliveryOptions;
  /** Default for every flag read: queue `$feature_flag_called` exposures (default true). */
  sendFeatureFlagEvents?: boolean;
  /** How long a sent exposure suppresses the same one (default 7 days). */
  exposureDedupWindowMs?: number;
  /** Timeout of a /flags request (remote evaluation), as posthog-node: default 3000 ms. */
  featureFlagsRequestTimeoutMs?: number;
  /** Delay before the one retry of a /flags request: default 3000 ms. */
  featureFlagsRetryDelayMs?: number;
}

type Properties = Record<string, unknown>;
type EventIdentity = { timestamp?: Date | string | number; uuid?: string; disableGeoip?: boolean };

export interface CaptureArgs extends EventIdentity {
  distinctId?: string;
  event: string;
  properties?: Properties;
  groups?: Record<string, string | number>;
  /** Stamp `$feature/<key>` and `$active_feature_flags` from a snapshot of evaluateFlags. */
  flags?: FlagsSnapshot;
  /**
   * Evaluate every flag now and stamp them: locally when definitions are loaded (no
   * network request). As posthog-node, the object form says what to evaluate with.
   */
  sendFeatureFlags?:
    | boolean
    | {
        personProperties?: Record<string, unknown>;
        groupProperties?: Record<string, Record<string, unknown>>;
        flagKeys?: string[];
        onlyEvaluateLocally?: boolean;
      };
}
export interface IdentifyArgs extends EventIdentity {
  distinctId?: string;
  properties?: Properties & { $set?: Properties; $set_once?: Properties; $anon_distinct_id?: string };
}
export interface AliasArgs extends EventIdentity {
  distinctId?: string;
  alias: string;
}
export interface GroupIdentifyArgs extends EventIdentity {
  groupType: string;
  groupKey: string | number;
  properties?: Properties;
  distinctId?: string;
}
export interface CaptureExceptionArgs extends EventIdentity {
  error: unknown;
  distinctId?: string;
  additionalProperties?: Properties;
}

export class PostHog {
  constructor(
    public component: ComponentApi,
    private options: PostHogOptions = {},
  ) {}

  /** Queue an event. In a mutation it commits or rolls back with the mutation. */
  async capture(ctx: RunMutationCtx & RunQueryCtx, args: CaptureArgs): Promise<void> {
    const distinctId = await this.resolveDistinctId(ctx, args.distinctId);
    const { flags, sendFeatureFlags, ...event } = args;
    let properties = event.properties;
    if (flags !== undefined || sendFeatureFlags) {
      // As posthog-node: a snapshot wins over sendFeatureFlags, and the caller's own
      // $feature/* properties win over computed ones.
      // sendFeatureFlags: local when definitions are loaded (no request); otherwise, in an
      // action, one /flags request, as posthog-node.
      const how = typeof sendFeatureFlags === "object" ? sendFeatureFlags : {};
      const snapshot =
        flags ??
        (await this.snapshot(ctx, { ...how, distinctId, groups: stringGroups(event.groups) }, "capture"));
      const values = Object.fromEntries(Object.entries(snapshot.flags).map(([key, r]) => [key, r.value!]));
      properties = { ...flagProperties(values), ...properties };
    }
    await this.enqueue(ctx, buildCaptureMessage({ ...event, properties, distinctId }, this.buildOptions()));
  }

  async identify(ctx: RunMutationCtx, args: IdentifyArgs): Promise<void> {
    const distinctId = await this.resolveDistinctId(ctx, args.distinctId);
    await this.enqueue(ctx, buildIdentifyMessage({ ...args, distinctId }, this.buildOptions()));
  }

  async alias(ctx: RunMutationCtx, args: AliasArgs): Promise<void> {
    const distinctId = await this.resolveDistinctId(ctx, args.distinctId);
    await this.enqueue(ctx, buildAliasMessage({ ...args, distinctId }, this.buildOptions()));
  }

  /** Set group properties. Without a distinctId PostHog's `$<type>_<key>` is used. */
  async groupIdentify(ctx: RunMutationCtx, args: GroupIdentifyArgs): Promise<void> {
    await this.enqueue(ctx, buildGroupIdentifyMessage(args, this.buildOptions()));
  }

  /** Capture an Error, a string, or any object with a `message`, as a `$exception` event. */
  async captureException(ctx: RunMutationCtx, args: CaptureExceptionArgs): Promise<void> {
    const distinctId = await this.findDistinctId(ctx, args.distinctId);
    await this.enqueue(ctx, buildExceptionMessage({ ...args, distinctId }, this.buildOptions()));
  }

  /** Deliver everything queued now (including events waiting to retry); say how it went. */
  async flush(ctx: RunActionCtx): Promise<FlushResult> {
    return await ctx.runAction(this.component.delivery.flush, this.deliveryArgs());
  }

  /** Queue health: pending count and age, dead letters, last delivery outcome. */
  async status(ctx: RunQueryCtx): Promise<Status> {
    return await ctx.runQuery(this.component.status.get, {});
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
  async resendDeadLetters(ctx: RunMutationCtx, args: { limit?: number } = {}): Promise<number> {
    return await ctx.runMutation(this.component.events.resendDeadLetters, {
      ...args,
      destination: this.destination(),
      ...this.deliveryArgs(),
    });
  }

  // --- feature flags (queries, mutations and actions) ---

  /** The flag's value (true/false or a variant key), or undefined if it cannot be decided. */
  async getFeatureFlag(ctx: RunQueryCtx, args: FlagArgs): Promise<FlagValue | undefined> {
    return (await this.getFeatureFlagResult(ctx, args)).value;
  }

  async isFeatureEnabled(ctx: RunQueryCtx, args: FlagArgs): Promise<boolean | undefined> {
    return (await this.getFeatureFlagResult(ctx, args)).enabled;
  }

  /**
   * Value, payload and the reason: why it has that value, or why it has none. In a mutation
   * or action this read is an exposure: a `$feature_flag_called` event is queued (once per
   * distinct id, flag, response and groups) unless `sendFeatureFlagEvents: false`.
   */
  async getFeatureFlagResult(ctx: RunQueryCtx, args: FlagArgs): Promise<FeatureFlagResult> {
    const distinctId = await this.flagDistinctId(ctx, args.distinctId);
    const [decision] = await this.decide(ctx, { ...args, distinctId }, [args.key], args, "one");
    if (canWrite(ctx) && this.sendsExposures(args)) {
      await this.sendExposure(ctx, { ...args, distinctId }, decision!.facts);
    }
    return decision!.result;
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
    if (args.matchValue !== undefined) {
      const answer = JSON.parse(
        await ctx.runQuery(this.component.flags.payloadFor, { key: args.key, matchValue: args.matchValue }),
      ) as { state: string; found?: boolean; payload?: JsonType | null };
      return answer.state === "loaded" && answer.found ? (answer.payload ?? null) : undefined;
    }
    const distinctId = await this.flagDistinctId(ctx, args.distinctId);
    const [decision] = await this.decide(ctx, { ...args, distinctId }, [args.key], args, "one");
    return decision!.result.payload;
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
    const snapshot = await this.snapshot(ctx, args, "all");
    const featureFlags: Record<string, FlagValue> = {};
    const featureFlagPayloads: Record<string, JsonType> = {};
    for (const [key, result] of Object.entries(snapshot.flags)) {
      featureFlags[key] = result.value!;
      if (result.payload) featureFlagPayloads[key] = result.payload;
    }
    return { featureFlags, featureFlagPayloads };
  }

  /**
   * Evaluate flags once and keep the answers: read values from `snapshot.flags`, pass the
   * snapshot to `capture({ flags })` to stamp `$feature/<key>` on an event with no further
   * evaluation, or to `captureExposure` to record what was shown. Plain data: a query can
   * return it to the client, which passes it to a mutation.
   */
  async evaluateFlags(ctx: RunQueryCtx, args: AllFlagsArgs = {}): Promise<FlagsSnapshot> {
    return await this.snapshot(ctx, args, "snapshot");
  }

  private async snapshot(ctx: RunQueryCtx, args: AllFlagsArgs, mode: "all" | "snapshot" | "capture"): Promise<FlagsSnapshot> {
    const distinctId = await this.findDistinctId(ctx, args.distinctId);
    const snapshot: FlagsSnapshot = { distinctId: distinctId ?? "", flags: {}, ...(args.groups ? { groups: args.groups } : {}) };
    if (distinctId === undefined) return snapshot; // posthog-node answers {} without a distinct id
    for (const { result } of await this.decide(ctx, { ...args, distinctId }, args.flagKeys, args, mode)) {
      if (result.value !== undefined) snapshot.flags[result.key] = result;
    }
    return snapshot;
  }

  /**
   * Record that a user saw a flag's value read in a query (queries cannot write): pass the
   * result the query returned. Deduplicated like every exposure.
   */
  async captureExposure(
    ctx: RunMutationCtx,
    args: { distinctId: string; result: FeatureFlagResult; groups?: Record<string, string>; disableGeoip?: boolean },
  ): Promise<void> {
    await this.sendExposure(ctx, args, factsOf(args.result));
  }

  /**
   * Fetch flag definitions from PostHog into the component (action). Call it from your
   * own cron; PostHog bills each poll as 10 flag requests. Needs the personal API key.
   */
  async refreshFlagDefinitions(ctx: RunActionCtx, args: { timeoutMs?: number } = {}): Promise<RefreshResult> {
    const personalApiKey = this.personalApiKey();
    if (personalApiKey === undefined) {
      throw new PostHogInputError(
        "personalApiKey",
        "local flag evaluation needs a personal API key: pass personalApiKey to new PostHog(...) or set POSTHOG_PERSONAL_API_KEY",
      );
    }
    return await ctx.runAction(this.component.definitions.refresh, { ...this.destination(), personalApiKey, ...args });
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
  ): Promise<Decision[]> {
    const encoded = encodeJson(
      {
        distinctId: context.distinctId,
        groups: context.groups,
        personProperties: context.personProperties,
        groupProperties: context.groupProperties,
      },
      "",
    );
    const evaluation = JSON.parse(await ctx.runQuery(this.component.flags.evaluate, { context: encoded, keys })) as Evaluation;
    const loaded = evaluation.state === "loaded";
    const local = loaded
      ? evaluation.results.map(localDecision)
      : (keys ?? []).map((key) =>
          localDecision({ key, resolved: false, reason: evaluation.state === "not_loaded" ? "definitions_not_loaded" : "quota_limited", serverRequired: false }),
        );
    if (how.onlyEvaluateLocally || !canFetch(ctx)) return local;
    const noFlags = !loaded || (keys === undefined && local.length === 0);
    const undecided = local.some((d) => d.result.value === undefined && !d.clientOnly);
    const ask =
      noFlags ||
      (mode !== "capture" && undecided) ||
      (mode === "snapshot" && local.some((d) => d.result.reason === "unknown_flag"));
    if (!ask) return local;

    const answer = await this.askPostHog(context.distinctId, { ...context, ...how }, keys);
    if (mode === "one") return local.map((d) => (d.result.value === undefined ? remoteDecision(d.result.key, answer) : d));
    if (!answer.ok) return local;
    const merged = new Map(local.map((d) => [d.result.key, d]));
    for (const key of Object.keys(answer.flags)) {
      const mine = merged.get(key);
      if (mode === "snapshot" && mine?.result.value !== undefined) continue; // local stands
      merged.set(key, remoteDecision(key, answer));
    }
    return [...merged.values()];
  }

  private remoteTimings() {
    return {
      ...(this.options.featureFlagsRequestTimeoutMs !== undefined ? { timeoutMs: this.options.featureFlagsRequestTimeoutMs } : {}),
      ...(this.options.featureFlagsRetryDelayMs !== undefined ? { retryDelayMs: this.options.featureFlagsRetryDelayMs } : {}),
    };
  }

  // --- remote evaluation (actions) ---

  /**
   * One flag from PostHog's /flags endpoint: what PostHog knows that local evaluation
   * cannot (experience continuity, static cohorts, stored properties). `null` when the
   * flag does not exist or PostHog could not be reached. An exposure, like getFeatureFlag.
   */
  async evaluateFlag(ctx: RunActionCtx & RunMutationCtx, args: FlagArgs): Promise<FlagValue | null> {
    return (await this.evaluateFlagResult(ctx, args)).value ?? null;
  }

  /** As evaluateFlag, with payload and the reason (evaluated_remotely, flag_missing, remote_error, quota_limited). */
  async evaluateFlagResult(ctx: RunActionCtx & RunMutationCtx, args: FlagArgs): Promise<FeatureFlagResult> {
    const distinctId = await this.flagDistinctId(ctx, args.distinctId);
    const decision = remoteDecision(args.key, await this.askPostHog(distinctId, args, [args.key]));
    if (this.sendsExposures(args)) {
      await this.sendExposure(ctx, { ...args, distinctId }, decision.facts);
    }
    return decision.result;
  }

  /** The flag's payload from PostHog's /flags endpoint, or null. Never an exposure. */
  async evaluateFlagPayload(ctx: RunActionCtx, args: FlagArgs): Promise<JsonType | null> {
    const distinctId = await this.flagDistinctId(ctx, args.distinctId);
    return remoteDecision(args.key, await this.askPostHog(distinctId, args, [args.key])).result.payload ?? null;
  }

  /** Every flag from one /flags request; empty maps when PostHog could not be reached. */
  async evaluateAllFlags(
    ctx: RunActionCtx,
    args: AllFlagsArgs = {},
  ): Promise<{ featureFlags: Record<string, FlagValue>; featureFlagPayloads: Record<string, JsonType> }> {
    const distinctId = await this.flagDistinctId(ctx, args.distinctId);
    const answer = await this.askPostHog(distinctId, args, args.flagKeys);
    const featureFlags: Record<string, FlagValue> = {};
    const featureFlagPayloads: Record<string, JsonType> = {};
    if (answer.ok) {
      for (const [key, flag] of Object.entries(answer.flags)) {
        featureFlags[key] = flag.value;
        if (flag.enabled && flag.payload !== null && flag.payload !== undefined) featureFlagPayloads[key] = flag.payload as JsonType;
      }
    }
    return { featureFlags, featureFlagPayloads };
  }

  private async askPostHog(distinctId: string, args: FlagContext & FlagReadOptions, flagKeys: string[] | undefined): Promise<RemoteFlagsResult> {
    return await fetchRemoteFlags({
      ...this.destination(),
      distinctId,
      groups: args.groups,
      personProperties: args.personProperties,
      groupProperties: args.groupProperties,
      disableGeoip: args.disableGeoip,
      ...(flagKeys ? { flagKeys } : {}),
      ...this.remoteTimings(),
    });
  }

  /** Queue a `$feature_flag_called` event unless the same exposure was already sent. */
  private async sendExposure(
    ctx: RunMutationCtx,
    who: { distinctId: string; groups?: Record<string, string>; disableGeoip?: boolean },
    facts: ExposureFacts,
  ): Promise<void> {
    const built = buildCaptureMessage(
      {
        distinctId: who.distinctId,
        event: "$feature_flag_called",
        properties: flagCalledProperties(facts),
        groups: who.groups,
        disableGeoip: who.disableGeoip,
      },
      this.buildOptions(),
    );
    const message = await this.runBeforeSend(built);
    if (message === null) return;
    await ctx.runMutation(this.component.exposures.record, {
      destination: this.destination(),
      message: encodeMessage(message),
      dedupKey: exposureDedupKey(who.distinctId, facts.key, facts.response, who.groups),
      ...(this.options.exposureDedupWindowMs !== undefined ? { dedupWindowMs: this.options.exposureDedupWindowMs } : {}),
      ...this.deliveryArgs(),
    });
  }

  // --- internals ---

  private async enqueue(ctx: RunMutationCtx, built: PostHogMessage): Promise<void> {
    const destination = this.destination(); // fail on missing keys before anything else
    const message = await this.runBeforeSend(built);
    if (message === null) return;
    await ctx.runMutation(this.component.events.enqueue, {
      destination,
      message: encodeMessage(message),
      ...this.deliveryArgs(),
    });
  }

  private async runBeforeSend(message: PostHogMessage): Promise<PostHogMessage | null> {
    const hooks = this.options.beforeSend;
    if (hooks === undefined) return message;
    let event: BeforeSendEvent | null = {
      event: message.event,
      distinctId: message.distinct_id,
      properties: message.properties,
      timestamp: message.timestamp,
      uuid: message.uuid,
    };
    for (const hook of Array.isArray(hooks) ? hooks : [hooks]) {
      try {
        event = await hook(event);
      } catch (error) {
        // As posthog-node: a failing hook drops the event rather than the caller's work.
        console.warn(`PostHog: beforeSend threw for event "${message.event}", dropping it:`, error);
        return null;
      }
      if (event === null || event === undefined) return null;
    }
    return {
      event: event.event,
      distinct_id: event.distinctId,
      properties: event.properties,
      timestamp: event.timestamp,
      uuid: event.uuid,
    };
  }

  /** Flag reads: as posthog-node, an explicit "" is evaluated like any other id. */
  private async flagDistinctId(ctx: unknown, explicit: string | undefined): Promise<string> {
    return explicit ?? (await this.resolveDistinctId(ctx, undefined));
  }

  /** Whether a flag read queues an exposure: the call's option, then the client's, then yes. */
  private sendsExposures(args: FlagReadOptions): boolean {
    return args.sendFeatureFlagEvents ?? this.options.sendFeatureFlagEvents ?? true;
  }

  /** An explicit distinctId wins; otherwise the identify callback's, if any. */
  private async findDistinctId(ctx: unknown, explicit: string | undefined): Promise<string | undefined> {
    if (explicit !== undefined && explicit !== "") return explicit;
    const identified = await this.options.identify?.(ctx);
    return identified?.distinctId || undefined;
  }

  private async resolveDistinctId(ctx: unknown, explicit: string | undefined): Promise<string> {
    const distinctId = await this.findDistinctId(ctx, explicit);
    if (distinctId !== undefined) return distinctId;
    throw new PostHogInputError(
      "distinctId",
      "required: pass distinctId, or configure an identify callback that returns one",
    );
  }

  private buildOptions() {
    return { lib: { name: LIB_NAME, version: LIB_VERSION }, now: Date.now() };
  }

  private deliveryArgs(): { options?: DeliveryOptions } {
    return this.options.delivery ? { options: this.options.delivery } : {};
  }

  /** Host and key, read when a method runs (env vars may change between deployments). */
  destination(): { host: string; apiKey: string } {
    const apiKey = (this.options.apiKey ?? readEnv("POSTHOG_API_KEY") ?? "").trim();
    if (apiKey === "") {
      throw new PostHogInputError(
        "apiKey",
        "no PostHog project API key: pass apiKey to new PostHog(...) or set the POSTHOG_API_KEY environment variable",
      );
    }
    const host = (this.options.host ?? readEnv("POSTHOG_HOST") ?? DEFAULT_HOST).trim().replace(/\/+$/, "");
    return { host: host === "" ? DEFAULT_HOST : host, apiKey };
  }

  /** Personal API key for flag definitions; never stored by the component. */
  personalApiKey(): string | undefined {
    const key = (this.options.personalApiKey ?? readEnv("POSTHOG_PERSONAL_API_KEY") ?? "").trim();
    return key === "" ? undefined : key;
  }
}

function readEnv(name: string): string | undefined {
  return typeof process === "undefined" ? undefined : process.env[name];
}
