"use client";
// convex-posthog/react: feature flags in the browser, read live from the app's Convex functions
// (the ones `posthog.exposeApi(...)` returns), and posthog-js kept in step with them.
//
// The hooks never evaluate a flag themselves: the server decides, the browser subscribes, and a
// flag changed on the server re-renders every mounted hook that read it. Exposures are recorded
// by a mutation that evaluates the flag again on the server, so a client cannot forge a value.
import { useCallback, useEffect, useMemo, useRef } from "react";
import { useMutation, useQuery } from "convex/react";
import type { FunctionArgs, FunctionReference, FunctionReturnType } from "convex/server";
import { fromConvexSafe, type ConvexSafe } from "../core/convexSafe.js";

type PublicQuery = FunctionReference<"query", "public", any, any>;
type PublicMutation = FunctionReference<"mutation", "public", any, any>;

/** The app's functions useFeatureFlag needs: the exposed `flag` query and `reportExposure` mutation. */
export interface FeatureFlagApi {
  flag: PublicQuery;
  reportExposure: PublicMutation;
}

/** The app's function useFeatureFlags and usePostHogFlagSync need: the exposed `flags` query. */
export interface FeatureFlagsApi {
  flags: PublicQuery;
}

/** When useFeatureFlag records `$feature_flag_called`. */
export type ExposureMode = "on-read" | "manual" | "none";

export interface UseFeatureFlagOptions {
  /**
   * "on-read" (default): once per (key, value) for as long as the hook is mounted, as soon as
   * the server decided a value. "manual": only when you call `reportExposure()`. "none": never (let
   * posthog-js report instead).
   */
  exposure?: ExposureMode;
  /** The signed-out visitor's id (posthog-js `get_distinct_id()`), if the app allows anonymous ids. */
  anonymousId?: string;
}

export interface UseFeatureFlagsOptions<Key extends string = string> {
  /** Only these flags; the server's allowed keys when left out. */
  keys?: Key[];
  /** The signed-out visitor's id (posthog-js `get_distinct_id()`), if the app allows anonymous ids. */
  anonymousId?: string;
}

/** `T` as the app sees it once a Convex-safe value is decoded. */
export type Decoded<T> = T extends ConvexSafe<infer U> ? U : T;

/** The flag keys the `flag` query accepts: the registry's keys when the server API is typed. */
export type FlagKeyOfApi<Api extends FeatureFlagApi> = FunctionArgs<Api["flag"]> extends { key: infer K extends string } ? K : string;

type FlagAnswer<Api extends FeatureFlagApi> = NonNullable<FunctionReturnType<Api["flag"]>>;
type Field<T, Name extends string> = T extends { [P in Name]: infer V } ? V : T extends { [P in Name]?: infer V } ? V | undefined : unknown;
/** The member of a per-key union answer whose `key` is `Key`, or never. */
type KeyedAnswer<Api extends FeatureFlagApi, Key extends string> = Extract<FlagAnswer<Api>, { key: Key }>;
/** The `flags` query's per-key map `Map` (featureFlags or featureFlagPayloads), when `api` has that query. */
type FlagsMap<Api, Map extends string> = Api extends { flags: infer Q extends PublicQuery } ? NonNullable<Field<FunctionReturnType<Q>, Map>> : never;

/**
 * Flag `Key`'s value type. The `flag` query's answer names every key's values together, so the
 * per-key type comes from a per-key union answer, else from the `flags` query's per-key map
 * when `api` is the whole exposed object, else from the answer as it is.
 */
export type FlagValueFor<Api extends FeatureFlagApi, Key extends string> = [KeyedAnswer<Api, Key>] extends [never]
  ? Key extends keyof FlagsMap<Api, "featureFlags">
    ? NonNullable<FlagsMap<Api, "featureFlags">[Key]>
    : NonNullable<Field<FlagAnswer<Api>, "value">>
  : NonNullable<Field<KeyedAnswer<Api, Key>, "value">>;

/** Flag `Key`'s payload type, decoded (null: no payload), found the same way as its value. */
export type FlagPayloadFor<Api extends FeatureFlagApi, Key extends string> = [KeyedAnswer<Api, Key>] extends [never]
  ? Key extends keyof FlagsMap<Api, "featureFlagPayloads">
    ? Decoded<NonNullable<FlagsMap<Api, "featureFlagPayloads">[Key]>> | null
    : Decoded<Field<FlagAnswer<Api>, "payload">>
  : Decoded<Field<KeyedAnswer<Api, Key>, "payload">>;

/** The `flag` query's answer for `Key`, its value and payload typed for that key and the payload decoded. */
export type FlagResultFor<Api extends FeatureFlagApi, Key extends string> = Omit<FlagAnswer<Api>, "key" | "value" | "variant" | "payload"> & {
  key: Key;
  value?: FlagValueFor<Api, Key>;
  variant: Extract<FlagValueFor<Api, Key>, string> | null;
  payload: FlagPayloadFor<Api, Key>;
};

export interface FeatureFlagState<Value, Payload, Result> {
  /** The flag's value (a boolean or a variant), undefined while loading or when the server could not decide. */
  value: Value | undefined;
  /** The flag's payload, decoded (null: none); undefined while loading. */
  payload: Payload | undefined;
  /** True until the server's first answer arrives. */
  loading: boolean;
  /** The server's whole answer (reason, variant, ...), its payload decoded; undefined while loading. */
  result: Result | undefined;
  /** Records `$feature_flag_called` for this flag: the server evaluates it again and reports its own value. */
  reportExposure(): Promise<void>;
}

/** The `flags` query's answer with its payloads decoded. */
export type DecodedFlagsAnswer<Answer> = Omit<Answer, "featureFlagPayloads"> & {
  featureFlagPayloads: DecodedPayloads<NonNullable<Field<Answer, "featureFlagPayloads">>>;
};
/** A payloads map with each payload decoded (or the whole map, when it is Convex-safe as one). */
type DecodedPayloads<Map> = Map extends ConvexSafe<infer U> ? U : { [P in keyof Map]: Decoded<Map[P]> };

/** What posthog-js's `posthog.init({ bootstrap })` accepts (its `BootstrapConfig`), for server rendering. */
export interface PostHogBootstrap {
  /** Absent when nobody was identified: posthog-js then keeps its own anonymous id. */
  distinctID?: string;
  isIdentifiedID?: boolean;
  featureFlags: Record<string, boolean | string>;
  featureFlagPayloads: Record<string, unknown>;
}

/** The `flags` query's answer as the server gives it (payloads Convex-safe). */
export interface FlagsAnswer {
  distinctID: string | null;
  isIdentifiedID: boolean;
  featureFlags: { [key: string]: boolean | string | undefined };
  featureFlagPayloads: unknown;
}

/** The part of a posthog-js instance usePostHogFlagSync uses (so posthog-js is not a dependency of this package). */
export interface PostHogFlagTarget {
  updateFlags(flags: Record<string, boolean | string>, payloads?: Record<string, any>, options?: { merge?: boolean }): void;
}

/** Convex arguments leave out undefined fields. */
function withAnonymousId<T extends object>(args: T, anonymousId: string | undefined): T & { anonymousId?: string } {
  return anonymousId === undefined ? args : { ...args, anonymousId };
}

/**
 * One flag, live: the server's value and payload, re-rendered whenever the flag changes on the
 * server. Records an exposure according to `options.exposure` ("on-read" by default).
 *
 * `api` is the module that exports `posthog.exposeApi(...)`'s functions (`api.posthogApi`), or any
 * object with its `flag` query and `reportExposure` mutation. With a typed flag registry on the
 * server, `key`, `value` and `payload` are typed from it.
 */
export function useFeatureFlag<Api extends FeatureFlagApi, Key extends FlagKeyOfApi<Api>>(
  api: Api,
  key: Key,
  options: UseFeatureFlagOptions = {},
): FeatureFlagState<FlagValueFor<Api, Key>, FlagPayloadFor<Api, Key>, FlagResultFor<Api, Key>> {
  const { exposure = "on-read", anonymousId } = options;
  const answer = useQuery(api.flag, withAnonymousId({ key }, anonymousId)) as object | null | undefined;
  const sendExposure = useMutation(api.reportExposure);
  const result = useMemo(() => (answer == null ? undefined : (decodeFlagAnswer(answer) as FlagResultFor<Api, Key>)), [answer]);

  const reportExposure = useCallback(async () => {
    await sendExposure(withAnonymousId({ key }, anonymousId));
  }, [sendExposure, key, anonymousId]);

  // (key, value) pairs this mounted hook already reported on read.
  const reported = useRef(new Set<string>());
  const loading = answer === undefined;
  const value = result?.value;
  // An undecided flag (no value: nobody identified, or a condition local evaluation cannot decide) exposes nothing.
  const exposureKey = value === undefined ? undefined : JSON.stringify([key, value]);
  useEffect(() => {
    if (exposure !== "on-read" || exposureKey === undefined || reported.current.has(exposureKey)) return;
    reported.current.add(exposureKey);
    reportExposure().catch((error: unknown) => {
      // Let a later render try again, and keep the failure visible without breaking the page.
      reported.current.delete(exposureKey);
      console.warn(`convex-posthog: reporting the exposure of flag "${key}" failed`, error);
    });
  }, [exposure, exposureKey, reportExposure, key]);

  return {
    value,
    payload: result?.payload,
    loading,
    result,
    reportExposure,
  };
}

/**
 * Several flags at once, live: the `flags` query's answer (distinct id, values, payloads decoded,
 * reasons), or undefined while loading. Records no exposure.
 */
export function useFeatureFlags<Api extends FeatureFlagsApi>(
  api: Api,
  options: UseFeatureFlagsOptions<FlagsKeyOfApi<Api>> = {},
): DecodedFlagsAnswer<FunctionReturnType<Api["flags"]>> | undefined {
  const { keys, anonymousId } = options;
  const answer = useQuery(api.flags, withAnonymousId(keys === undefined ? {} : { keys }, anonymousId)) as
    | FunctionReturnType<Api["flags"]>
    | undefined;
  return useMemo(() => (answer == null ? undefined : decodeFlagsAnswer(answer)), [answer]);
}

/** The flag keys the `flags` query accepts. */
export type FlagsKeyOfApi<Api extends FeatureFlagsApi> = FunctionArgs<Api["flags"]> extends { keys?: (infer K extends string)[] }
  ? K
  : string;

/**
 * Keeps a posthog-js instance's flags equal to the live Convex values: calls
 * `posthog.updateFlags(featureFlags, featureFlagPayloads)` with the first answer and on every
 * change, so client-side events carry `$feature/<key>` without posthog-js asking PostHog's
 * `/flags`. With `keys`, the update merges into posthog-js's other flags instead of replacing them.
 */
export function usePostHogFlagSync<Api extends FeatureFlagsApi>(
  api: Api,
  posthog: PostHogFlagTarget | null | undefined,
  options: UseFeatureFlagsOptions<FlagsKeyOfApi<Api>> = {},
): void {
  const answer = useFeatureFlags(api, options) as { featureFlags: Record<string, boolean | string>; featureFlagPayloads: Record<string, unknown> } | undefined;
  const merge = options.keys !== undefined;
  // `answer` changes identity only when the query's answer changed.
  useEffect(() => {
    if (!posthog || answer === undefined) return;
    if (merge) posthog.updateFlags(answer.featureFlags, answer.featureFlagPayloads, { merge: true });
    else posthog.updateFlags(answer.featureFlags, answer.featureFlagPayloads);
  }, [posthog, answer, merge]);
}

/**
 * posthog-js's `bootstrap` config from the `flags` query's answer as the server gives it (for
 * example from `fetchQuery` while rendering on the server):
 * `posthog.init(key, { bootstrap: toBootstrap(answer), advanced_disable_feature_flags: true })`.
 */
export function toBootstrap(answer: FlagsAnswer): PostHogBootstrap {
  const featureFlags: Record<string, boolean | string> = {};
  for (const [key, value] of Object.entries(answer.featureFlags)) if (value !== undefined) featureFlags[key] = value;
  const flags = { featureFlags, featureFlagPayloads: decodePayloads(answer.featureFlagPayloads) };
  return answer.distinctID === null ? flags : { distinctID: answer.distinctID, isIdentifiedID: answer.isIdentifiedID, ...flags };
}

function decodePayloads(payloads: unknown): Record<string, unknown> {
  return (fromConvexSafe(payloads as ConvexSafe<Record<string, unknown>> | undefined) ?? {}) as Record<string, unknown>;
}

function decodeFlagAnswer(answer: object): unknown {
  const payload = (answer as { payload?: unknown }).payload;
  return { ...answer, payload: payload === undefined ? null : fromConvexSafe(payload as ConvexSafe<unknown>) };
}

function decodeFlagsAnswer<Answer>(answer: Answer): DecodedFlagsAnswer<Answer> {
  const payloads = (answer as { featureFlagPayloads?: unknown }).featureFlagPayloads;
  return { ...answer, featureFlagPayloads: decodePayloads(payloads) } as DecodedFlagsAnswer<Answer>;
}
