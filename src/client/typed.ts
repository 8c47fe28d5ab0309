// What the facade's methods accept and return once the app passes a flag registry
// (defineFlags) or an event taxonomy (defineEvents). Types only: the concern modules work on
// plain strings, and these narrow them. Without a registry or taxonomy every type here is
// exactly the untyped one, so existing apps compile as before.
import type { AnyFlagRegistry, RegistryFlagKey, RegistryFlagPayload, RegistryFlagValue } from "../core/flagRegistry.js";
import type { EventTaxonomy, TypedCaptureArgs } from "../core/eventTaxonomy.js";
import type { FlagValue } from "../core/flags/index.js";
import type { FeatureFlagEvaluations, ReadOptions } from "./snapshot.js";
import type { FlagReadResult, FlagsSnapshot, JsonType } from "./flags.js";
import type { AllFlagsArgs, CaptureArgs, FlagArgs } from "./types.js";

/** What a client's `flags` option may be: a registry, or nothing. */
export type FlagsOption = AnyFlagRegistry | undefined;
/** What a client's `events` option may be: a taxonomy, or nothing. */
export type EventsOption = EventTaxonomy<any, any> | undefined;

type Untyped<F> = string extends RegistryFlagKey<F> ? true : false;

/** A flag key the client accepts: a registered one, or any string without a registry. */
export type FlagKeyOf<F> = RegistryFlagKey<F>;
/** The flag's value: its declared variants or false, a boolean, or FlagValue untyped. */
export type FlagValueOf<F, K extends string> = RegistryFlagValue<F, K>;
/** The flag's payload: what its validator describes, else any JSON. */
export type FlagPayloadOf<F, K extends string> = RegistryFlagPayload<F, K>;

/** A single-flag read's arguments for key K. */
export type TypedFlagArgs<K extends string> = Omit<FlagArgs, "key"> & { key: K };
/** An all-flags read's arguments, limited to keys K when flagKeys is given. */
export type TypedAllFlagsArgs<K extends string> = Omit<AllFlagsArgs, "flagKeys"> & { flagKeys?: K[] };

/** A read's result, with the value, variant and payload typed for key K. */
export type TypedFlagResult<F, K extends string> =
  Untyped<F> extends true
    ? FlagReadResult
    : Omit<FlagReadResult, "key" | "value" | "variant" | "payload"> & {
        key: K;
        value: FlagValueOf<F, K> | undefined;
        variant: Extract<FlagValueOf<F, K>, string> | null;
        payload: FlagPayloadOf<F, K> | null;
      };

/** { key: value } for keys K; a flag PostHog could not decide is absent. */
export type FlagValues<F, K extends string> = Untyped<F> extends true ? Record<string, FlagValue> : { [P in K]?: FlagValueOf<F, P> };
/** Values and payloads for keys K, as getAllFlagsAndPayloads answers. */
export type FlagValuesAndPayloads<F, K extends string> =
  Untyped<F> extends true
    ? { featureFlags: Record<string, FlagValue>; featureFlagPayloads: Record<string, JsonType> }
    : { featureFlags: { [P in K]?: FlagValueOf<F, P> }; featureFlagPayloads: { [P in K]?: FlagPayloadOf<F, P> } };

/** A query's snapshot, its flags typed. */
export type TypedFlagsSnapshot<F> =
  Untyped<F> extends true ? FlagsSnapshot : Omit<FlagsSnapshot, "flags"> & { flags: { [K in FlagKeyOf<F>]?: TypedFlagResult<F, K> } };

/** A mutation's or action's snapshot, its accessors taking registered keys only. */
export type TypedFlagEvaluations<F> =
  Untyped<F> extends true
    ? FeatureFlagEvaluations
    : Omit<FeatureFlagEvaluations, "flags" | "isEnabled" | "getFlag" | "getFlagPayload" | "keys" | "onlyAccessed" | "only"> & {
        flags: { [K in FlagKeyOf<F>]?: TypedFlagResult<F, K> };
        isEnabled(key: FlagKeyOf<F>, options?: ReadOptions & { defaultValue?: boolean }): Promise<boolean>;
        getFlag<K extends FlagKeyOf<F>>(key: K, options?: ReadOptions): Promise<FlagValueOf<F, K> | undefined>;
        getFlagPayload<K extends FlagKeyOf<F>>(key: K): FlagPayloadOf<F, K> | undefined;
        readonly keys: FlagKeyOf<F>[];
        onlyAccessed(): TypedFlagEvaluations<F>;
        only(keys: FlagKeyOf<F>[]): TypedFlagEvaluations<F>;
      };

/** The capture arguments a taxonomy allows (CaptureArgs without one). */
export type CaptureArgsOf<E> = TypedCaptureArgs<E, CaptureArgs>;
