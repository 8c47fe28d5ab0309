// The class an app instantiates in convex/posthog.ts. It runs inside the app's own
// functions: it builds each PostHog message (so hooks see it and `$` keys survive as JSON
// text) and hands it to the component, which queues and delivers it.
import type { FunctionArgs, FunctionReference, FunctionReturnType } from "convex/server";
import type { ComponentApi } from "../component/_generated/component.js";
import type { DeadLetter, DeliveryOptions, FlushResult, Status } from "../component/validators.js";
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
import type { FlagResult, FlagValue } from "../core/flags/index.js";
import type { Evaluation } from "../component/flags.js";
import type { RefreshResult } from "../component/validators.js";

export { PostHogInputError };
export type { DeadLetter, DeliveryOptions, FlushResult, Status, PostHogMessage, FlagValue, RefreshResult };

/** Any JSON value: what a flag payload can be. */
export type JsonType = string | number | boolean | null | JsonType[] | { [key: string]: JsonType };

/** Why a flag has the value it has, or why it has none. */
export type FlagReason =
  | "evaluated_locally"
  /** No definitions stored yet: refreshFlagDefinitions has not succeeded. */
  | "definitions_not_loaded"
  /** PostHog answered 402 to the last refresh: no flag is evaluated locally. */
  | "quota_limited"
  | "unknown_flag"
  | "experience_continuity"
  | "missing_context"
  | "unsupported_definition"
  | "unresolved_dependency";

export interface FeatureFlagResult {
  key: string;
  /** The flag's value; undefined when it could not be decided locally (see reason). */
  value: FlagValue | undefined;
  enabled: boolean | undefined;
  /** The variant key for a multivariate flag, null for a boolean one. */
  variant: string | null | undefined;
  /** Parsed payload for the value; null when the flag has none for it. */
  payload: JsonType | null | undefined;
  reason: FlagReason;
  /** PostHog's id of the flag, when its definition is known. */
  flagId?: number;
}

export interface FlagContext {
  distinctId?: string;
  groups?: Record<string, string>;
  /** Person properties to match on; `$` keys (e.g. `$device_id`) included. */
  personProperties?: Record<string, unknown>;
  /** Group type name to that group's properties. */
  groupProperties?: Record<string, Record<string, unknown>>;
}
export interface FlagArgs extends FlagContext {
  key: string;
}
export interface AllFlagsArgs extends FlagContext {
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
}

type Properties = Record<string, unknown>;
type EventIdentity = { timestamp?: Date | string | number; uuid?: string; disableGeoip?: boolean };

export interface CaptureArgs extends EventIdentity {
  distinctId?: string;
  event: string;
  properties?: Properties;
  groups?: Record<string, string | number>;
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
  async capture(ctx: RunMutationCtx, args: CaptureArgs): Promise<void> {
    const distinctId = await this.resolveDistinctId(ctx, args.distinctId);
    await this.enqueue(ctx, buildCaptureMessage({ ...args, distinctId }, this.buildOptions()));
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

  /** Queue dead-lettered events again, to the current host and key. Returns how many. */
  async resendDeadLetters(ctx: RunMutationCtx, args: { limit?: number } = {}): Promise<number> {
    return await ctx.runMutation(this.component.events.resendDeadLetters, {
      ...args,
      destination: this.destination(),
      ...this.deliveryArgs(),
    });
  }

  // --- local feature flags (queries, mutations and actions) ---

  /** The flag's value (true/false or a variant key), or undefined if it cannot be decided locally. */
  async getFeatureFlag(ctx: RunQueryCtx, args: FlagArgs): Promise<FlagValue | undefined> {
    return (await this.getFeatureFlagResult(ctx, args)).value;
  }

  async isFeatureEnabled(ctx: RunQueryCtx, args: FlagArgs): Promise<boolean | undefined> {
    return (await this.getFeatureFlagResult(ctx, args)).enabled;
  }

  /**
   * The payload for the flag's value: null when there is none, undefined when the flag
   * cannot be decided. With `matchValue`, the payload for that value without evaluating.
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
    return (await this.getFeatureFlagResult(ctx, args)).payload;
  }

  /** Value, payload and the reason: why it has that value, or why it has none. */
  async getFeatureFlagResult(ctx: RunQueryCtx, args: FlagArgs): Promise<FeatureFlagResult> {
    const [result] = await this.evaluateLocally(ctx, args, [args.key]);
    return result!;
  }

  /** Every flag decidable locally (undecidable ones are left out), as { key: value }. */
  async getAllFlags(ctx: RunQueryCtx, args: AllFlagsArgs = {}): Promise<Record<string, FlagValue>> {
    return (await this.getAllFlagsAndPayloads(ctx, args)).featureFlags;
  }

  /** Values and payloads of every flag decidable locally; payloads only where truthy, as posthog-node. */
  async getAllFlagsAndPayloads(
    ctx: RunQueryCtx,
    args: AllFlagsArgs = {},
  ): Promise<{ featureFlags: Record<string, FlagValue>; featureFlagPayloads: Record<string, JsonType> }> {
    const featureFlags: Record<string, FlagValue> = {};
    const featureFlagPayloads: Record<string, JsonType> = {};
    const distinctId = await this.findDistinctId(ctx, args.distinctId);
    if (distinctId === undefined) return { featureFlags, featureFlagPayloads }; // as posthog-node for ""
    for (const result of await this.evaluateLocally(ctx, { ...args, distinctId }, args.flagKeys)) {
      if (result.value === undefined) continue;
      featureFlags[result.key] = result.value;
      if (result.payload) featureFlagPayloads[result.key] = result.payload;
    }
    return { featureFlags, featureFlagPayloads };
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

  private async evaluateLocally(ctx: RunQueryCtx, args: FlagContext, keys: string[] | undefined): Promise<FeatureFlagResult[]> {
    // As posthog-node, an explicit "" is evaluated like any other id.
    const distinctId = args.distinctId ?? (await this.resolveDistinctId(ctx, undefined));
    const context = encodeJson(
      { distinctId, groups: args.groups, personProperties: args.personProperties, groupProperties: args.groupProperties },
      "",
    );
    const evaluation = JSON.parse(await ctx.runQuery(this.component.flags.evaluate, { context, keys })) as Evaluation;
    if (evaluation.state !== "loaded") {
      const reason = evaluation.state === "not_loaded" ? "definitions_not_loaded" : "quota_limited";
      return (keys ?? []).map((key) => unresolvedResult(key, reason));
    }
    return evaluation.results.map(toFeatureFlagResult);
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

function unresolvedResult(key: string, reason: FlagReason, flagId?: number): FeatureFlagResult {
  return { key, value: undefined, enabled: undefined, variant: undefined, payload: undefined, reason, ...(flagId !== undefined ? { flagId } : {}) };
}

function toFeatureFlagResult(result: FlagResult): FeatureFlagResult {
  if (!result.resolved) return unresolvedResult(result.key, result.reason, result.flagId);
  return {
    key: result.key,
    value: result.value,
    enabled: result.value !== false,
    variant: typeof result.value === "string" ? result.value : null,
    payload: (result.payload ?? null) as JsonType | null,
    reason: "evaluated_locally",
    ...(result.flagId !== undefined ? { flagId: result.flagId } : {}),
  };
}
