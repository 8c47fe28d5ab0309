// The functions an app exports for its browser (posthog.exposeApi): flags through Convex
// queries, so a page re-renders when a flag it read changes; exposures and declared events
// recorded by mutations that decide on the server what they record; and the HTTP route
// PostHog calls when a flag changes, which refreshes the definitions at once.
import {
  httpActionGeneric,
  mutationGeneric,
  queryGeneric,
  type GenericActionCtx,
  type PublicHttpAction,
  type RegisteredMutation,
  type RegisteredQuery,
} from "convex/server";
import { v, type GenericValidator } from "convex/values";
import { toConvexSafe, type ConvexSafe } from "../core/convexSafe.js";
import type { FlagValue } from "../core/flags/index.js";
import { PostHogInputError } from "../core/messages.js";
import type { RefreshResult } from "../component/validators.js";
import type { TypedEvent } from "../core/eventTaxonomy.js";
import { refreshFlagDefinitions } from "./admin.js";
import type { ClientConfig } from "./config.js";
import * as events from "./events.js";
import type { FlagReason, JsonType } from "./flags.js";
import { getFeatureFlagResult, readFlagResults } from "./localFlags.js";
import type { EventsOption, FlagKeyOf, FlagPayloadOf, FlagValueOf, FlagsOption } from "./typed.js";
import type { IdentifyCtx } from "./types.js";

/** Who the browser's user is, decided on the server (from ctx.auth, usually). */
export interface BrowserIdentity {
  distinctId: string;
  personProperties?: Record<string, unknown>;
  groups?: Record<string, string>;
  groupProperties?: Record<string, Record<string, unknown>>;
}

export interface ExposeApiOptions<K extends string = string> {
  /**
   * Who is asking, from the function's ctx (e.g. `ctx.auth.getUserIdentity()`); null when
   * nobody is signed in. Default: the client's identify callback.
   */
  identify?: (ctx: IdentifyCtx) => Promise<BrowserIdentity | null | undefined> | BrowserIdentity | null | undefined;
  /**
   * With nobody identified: "deny" (default) answers every flag undecided (reason
   * "no_identity") and refuses exposures and events; "client-id" uses the `anonymousId` the
   * browser sends (posthog-js's `get_distinct_id()`), reported with `isIdentifiedID: false`.
   */
  anonymous?: "deny" | "client-id";
  /**
   * The flags the browser may read. Default ("client"): the registry's keys; without a
   * registry the list must be given. "all": any flag, and a `flags` call naming none reads
   * every flag (one read of every definition).
   */
  keys?: readonly K[] | "client" | "all";
  /** The secret PostHog's webhook sends. Default: the POSTHOG_WEBHOOK_SECRET environment variable. */
  webhookSecret?: string;
}

/** Why a flag has its value, or none; "no_identity": nobody identified and anonymous ids denied (or none sent). */
export type BrowserFlagReason = FlagReason | "no_identity";

type Untyped<F> = string extends FlagKeyOf<F> ? true : false;
type ValueOf<F, K extends string> = Untyped<F> extends true ? FlagValue : FlagValueOf<F, K>;
type PayloadOf<F, K extends string> = Untyped<F> extends true ? JsonType : FlagPayloadOf<F, K>;

/**
 * The flags query's answer, with posthog-js's `BootstrapConfig` field names. Payloads are
 * Convex-safe (a `$` key is carried as JSON text): read them with `fromConvexSafe`.
 */
export interface BrowserFlags<F = undefined, K extends string = string> {
  /** The distinct id the flags were evaluated for; null when nobody is identified. */
  distinctID: string | null;
  /** True for an identified user, false for an anonymous id from the browser (or nobody). */
  isIdentifiedID: boolean;
  /** Decided flags only. */
  featureFlags: { [P in K]?: ValueOf<F, P> };
  /** Payloads of decided flags that have one. */
  featureFlagPayloads: { [P in K]?: ConvexSafe<PayloadOf<F, P>> };
  /** Every requested flag's reason, decided or not. */
  reasons: { [P in K]?: BrowserFlagReason };
}

/** One flag's answer from the `flag` query; `value` is absent when the flag was not decided. */
export interface BrowserFlagResult<F = undefined, K extends string = string> {
  key: K;
  value?: ValueOf<F, K>;
  enabled: boolean;
  variant: Extract<ValueOf<F, K>, string> | null;
  /** Convex-safe: read it with `fromConvexSafe`. */
  payload: ConvexSafe<PayloadOf<F, K> | null>;
  reason: BrowserFlagReason;
}

type FlagsArgs<K extends string> = { keys?: K[]; anonymousId?: string };
type FlagArgs<K extends string> = { key: K; anonymousId?: string };

export interface BrowserApiCore<F, K extends string> {
  /** The caller's flags (the allowed ones, or `keys`), reading only those flags' definitions. */
  flags: RegisteredQuery<"public", FlagsArgs<K>, Promise<BrowserFlags<F, K>>>;
  /** One flag's result, reading only that flag's definition. */
  flag: RegisteredQuery<"public", FlagArgs<K>, Promise<BrowserFlagResult<F, K>>>;
  /**
   * Records `$feature_flag_called` for the caller: the server evaluates the flag again (the
   * browser sends no value), deduplicated like every exposure. Returns the value (null: undecided).
   */
  reportExposure: RegisteredMutation<"public", FlagArgs<K>, Promise<ValueOf<F, K> | null>>;
  /** For convex/http.ts: PostHog's webhook when a flag changes; refreshes the definitions at once. */
  refreshHook: PublicHttpAction;
}

type TrackArgs<E> = E extends { readonly events: infer D; readonly common: infer C extends Record<string, GenericValidator> }
  ? TypedEvent<D, C> & { anonymousId?: string }
  : never;

/** The functions exposeApi returns; `track` only for a client with an event taxonomy. */
export type BrowserApi<F, E, K extends string> = BrowserApiCore<F, K> &
  ([E] extends [undefined] ? {} : { track: RegisteredMutation<"public", TrackArgs<E>, Promise<null>> });

const NO_KEYS =
  'exposeApi needs the flags the browser may read: pass keys: ["flag-a", ...] (or "all"), or give the client a flag registry (flags: defineFlags(...))';

export function exposeApi<F extends FlagsOption, E extends EventsOption, K extends string>(
  config: ClientConfig,
  options: ExposeApiOptions<K>,
): BrowserApi<F, E, K> {
  const allowed = allowedKeys(config, options.keys ?? "client");
  const anonymous = options.anonymous ?? "deny";
  if (anonymous !== "deny" && anonymous !== "client-id") {
    throw new PostHogInputError("anonymous", `must be "deny" or "client-id", got ${JSON.stringify(anonymous)}`);
  }

  /** The caller, from identify; else the browser's anonymous id when the policy allows it. */
  async function whoIsAsking(ctx: IdentifyCtx, anonymousId: string | undefined) {
    const identified = options.identify ? await options.identify(ctx) : await config.options.identify?.(ctx);
    if (identified?.distinctId) return { identity: identified as BrowserIdentity, isIdentified: true };
    if (anonymous === "client-id" && anonymousId !== undefined && anonymousId.trim() !== "") {
      return { identity: { distinctId: anonymousId }, isIdentified: false };
    }
    return undefined;
  }
  async function requireCaller(ctx: IdentifyCtx, anonymousId: string | undefined): Promise<BrowserIdentity> {
    const caller = await whoIsAsking(ctx, anonymousId);
    if (caller) return caller.identity;
    throw new PostHogInputError(
      "identity",
      anonymous === "deny"
        ? "nobody is signed in and exposeApi's anonymous policy is \"deny\""
        : "nobody is signed in and no anonymousId was sent",
    );
  }
  function checkAllowed(key: string): void {
    if (allowed !== "all" && !allowed.has(key)) {
      throw new PostHogInputError("key", `flag "${key}" is not exposed to the browser: add it to exposeApi's keys`);
    }
  }

  const flags = queryGeneric({
    args: { keys: v.optional(v.array(v.string())), anonymousId: v.optional(v.string()) },
    handler: async (ctx, args): Promise<BrowserFlags> => {
      args.keys?.forEach(checkAllowed);
      const keys = args.keys ?? (allowed === "all" ? undefined : [...allowed]);
      const caller = await whoIsAsking(ctx, args.anonymousId);
      const answer: BrowserFlags = { distinctID: null, isIdentifiedID: false, featureFlags: {}, featureFlagPayloads: {}, reasons: {} };
      if (!caller) {
        for (const key of keys ?? []) answer.reasons[key] = "no_identity";
        return answer;
      }
      answer.distinctID = caller.identity.distinctId;
      answer.isIdentifiedID = caller.isIdentified;
      for (const result of await readFlagResults(config, ctx, caller.identity, keys)) {
        answer.reasons[result.key] = result.reason;
        if (result.value === undefined) continue;
        answer.featureFlags[result.key] = result.value;
        if (result.payload !== null) answer.featureFlagPayloads[result.key] = toConvexSafe(result.payload);
      }
      return answer;
    },
  });

  const flag = queryGeneric({
    args: { key: v.string(), anonymousId: v.optional(v.string()) },
    handler: async (ctx, { key, anonymousId }): Promise<BrowserFlagResult> => {
      checkAllowed(key);
      const caller = await whoIsAsking(ctx, anonymousId);
      if (!caller) return { key, enabled: false, variant: null, payload: toConvexSafe(null), reason: "no_identity" };
      const result = await getFeatureFlagResult(config, ctx, { ...caller.identity, key });
      return {
        key,
        ...(result.value !== undefined ? { value: result.value } : {}),
        enabled: result.enabled,
        variant: result.variant,
        payload: toConvexSafe(result.payload),
        reason: result.reason,
      };
    },
  });

  const reportExposure = mutationGeneric({
    args: { key: v.string(), anonymousId: v.optional(v.string()) },
    handler: async (ctx, { key, anonymousId }): Promise<FlagValue | null> => {
      checkAllowed(key);
      const identity = await requireCaller(ctx, anonymousId);
      // A read in a mutation records the exposure of the value the server decided.
      const result = await getFeatureFlagResult(config, ctx, { ...identity, key, sendFeatureFlagEvents: true });
      return result.value ?? null;
    },
  });

  const refreshHook = httpActionGeneric(async (ctx, request) => await answerWebhook(config, ctx, request, options.webhookSecret));

  const api: Record<string, unknown> = { flags, flag, reportExposure, refreshHook };
  const taxonomy = config.options.events;
  if (taxonomy !== undefined) api.track = trackMutation(taxonomy, requireCaller, config);
  return api as unknown as BrowserApi<F, E, K>;
}

/**
 * Convex takes only an object as a function's arguments, so the taxonomy's union of events
 * cannot be them: Convex checks the name and that the properties are one declared event's,
 * and the handler checks they are this event's before anything is queued.
 */
function trackMutation(
  taxonomy: NonNullable<EventsOption>,
  requireCaller: (ctx: IdentifyCtx, anonymousId: string | undefined) => Promise<BrowserIdentity>,
  config: ClientConfig,
) {
  const names = taxonomy.names as readonly string[];
  if (names.length === 0) throw new PostHogInputError("events", "exposeApi's track needs an event taxonomy that declares at least one event");
  const oneOf = (validators: GenericValidator[]) => (validators.length === 1 ? validators[0]! : v.union(...validators));
  return mutationGeneric({
    args: {
      event: oneOf(names.map((name) => v.literal(name))),
      properties: v.optional(oneOf(names.map((name) => taxonomy.validator(name)))),
      anonymousId: v.optional(v.string()),
    },
    handler: async (ctx, { event, properties, anonymousId }: { event: string; properties?: Record<string, unknown>; anonymousId?: string }) => {
      const problems = taxonomy.check(event, properties ?? {});
      if (problems.length > 0) throw new PostHogInputError("properties", `event "${event}": ${problems.join("; ")}`);
      const identity = await requireCaller(ctx, anonymousId);
      await events.capture(config, ctx, { distinctId: identity.distinctId, event, ...(properties ? { properties } : {}) });
      return null;
    },
  });
}

function allowedKeys(config: ClientConfig, keys: readonly string[] | "client" | "all"): Set<string> | "all" {
  if (keys === "all") return "all";
  if (keys === "client") {
    const registry = config.options.flags;
    if (registry === undefined) throw new PostHogInputError("keys", NO_KEYS);
    return new Set(registry.keys as readonly string[]);
  }
  if (!Array.isArray(keys)) throw new PostHogInputError("keys", `${NO_KEYS}; got ${JSON.stringify(keys)}`);
  return new Set(keys);
}

// ---- the webhook ---------------------------------------------------------------------------

const SECRET_HEADER = "x-posthog-webhook-secret";

async function answerWebhook(config: ClientConfig, ctx: GenericActionCtx<any>, request: Request, option: string | undefined): Promise<Response> {
  const secret = (option ?? readEnv("POSTHOG_WEBHOOK_SECRET") ?? "").trim();
  if (secret === "") {
    return text(503, "PostHog flags webhook: no secret is configured (set POSTHOG_WEBHOOK_SECRET or pass webhookSecret to exposeApi); refusing every call");
  }
  const bearer = /^Bearer\s+(.+)$/i.exec(request.headers.get("authorization") ?? "")?.[1]?.trim();
  const sent = [bearer, request.headers.get(SECRET_HEADER)?.trim()].filter((value): value is string => value !== undefined && value !== "");
  // Every candidate is compared, so the time taken does not say which header was close.
  let matches = false;
  for (const candidate of sent) matches = sameSecret(candidate, secret) || matches;
  if (!matches) return text(401, "PostHog flags webhook: missing or wrong secret");
  try {
    const result: RefreshResult = await refreshFlagDefinitions(config, ctx, {});
    return new Response(JSON.stringify(result), { status: 200, headers: { "content-type": "application/json" } });
  } catch (error) {
    return text(500, `PostHog flags webhook: the refresh failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Constant-time comparison: every byte is looked at whatever differs first. */
function sameSecret(sent: string, expected: string): boolean {
  const a = new TextEncoder().encode(sent);
  const b = new TextEncoder().encode(expected);
  let difference = a.length ^ b.length;
  for (let i = 0; i < b.length; i++) difference |= (a[i % Math.max(a.length, 1)] ?? 0) ^ b[i]!;
  return difference === 0;
}

function text(status: number, message: string): Response {
  return new Response(message, { status, headers: { "content-type": "text/plain; charset=utf-8" } });
}

function readEnv(name: string): string | undefined {
  return typeof process === "undefined" ? undefined : process.env[name];
}
