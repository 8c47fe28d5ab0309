// The shapes the client's methods take: which Convex ctx each needs (by what it can run),
// the identify callback, and the arguments of event and flag calls. Keys are plain strings
// here; typed flag keys and event names belong to the PostHog facade.
import type { Auth, FunctionArgs, FunctionReference, FunctionReturnType } from "convex/server";
import type { FlagValue } from "../core/flags/index.js";
import type { FlagsSnapshot, JsonType } from "./flags.js";

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

/**
 * Contexts that can queue events: a mutation's or an action's ctx. Events are written to the
 * component's outbox with ctx.runMutation (and capture reads flags with ctx.runQuery), so
 * `Pick<MutationCtx, "scheduler">`, which @posthog/convex 2.x took, is not enough: pass the ctx.
 */
export interface MutationOrActionCtx extends RunMutationCtx, RunQueryCtx {}

/** What every Convex ctx has: the identify callback's ctx unless it names its own type. */
export interface IdentifyCtx {
  auth: Auth;
  // Anything else the caller's ctx has (db, runQuery...), untyped as in @posthog/convex.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  [key: string]: any;
}
type Identified = { distinctId: string } | null | undefined;
/**
 * Supplies a distinctId when a call gives none (an explicit distinctId always wins). It gets
 * the ctx the method was called with; annotate it with your own type, e.g.
 * `identify: async (ctx: QueryCtx) => ...` (any ctx type with `auth` is accepted).
 */
export type IdentifyFn<Ctx = IdentifyCtx> = {
  // Method syntax: a callback declared for a narrower ctx (QueryCtx) is accepted.
  bivarianceHack(ctx: Ctx): Promise<Identified> | Identified;
}["bivarianceHack"];

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
/** What the all-flags reads answer: values, and payloads where a flag lists one. */
export interface AllFlagsAndPayloads {
  featureFlags: Record<string, FlagValue>;
  featureFlagPayloads: Record<string, JsonType>;
}
/** Who saw a flag: the distinct id and groups an exposure is recorded for. */
export interface ExposureTarget {
  distinctId: string;
  groups?: Record<string, string>;
  disableGeoip?: boolean;
}

export type Properties = Record<string, unknown>;
type EventIdentity = { timestamp?: Date | string | number; uuid?: string; disableGeoip?: boolean };

/** Flags to stamp on an event, as `$feature/<key>` and `$active_feature_flags`. */
export interface EventFlagsArgs {
  /** Stamp the flags of a snapshot from evaluateFlags. */
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
export interface CaptureArgs extends EventIdentity, EventFlagsArgs {
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
export interface CaptureExceptionArgs extends EventIdentity, EventFlagsArgs {
  error: unknown;
  distinctId?: string;
  additionalProperties?: Properties;
}
