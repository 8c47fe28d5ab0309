// posthog-node's overrideFeatureFlags: values (and payloads) a client answers without
// evaluating, for tests and local development.
import type { ExposureFacts } from "../core/exposures.js";
import type { FlagValue } from "../core/flags/index.js";
import { defineOwn } from "../core/flagContext.js";
import { undecidedResult, type FlagReadResult, type JsonType } from "./flags.js";

/**
 * `false` clears every override; a list sets those flags to true; `{ flags, payloads }` sets
 * either part (each `false` clears that part); any other object maps flag keys to values.
 * A flag overridden to `undefined` reads as if it did not exist.
 */
export type OverrideFeatureFlagsOptions =
  | false
  | string[]
  | Record<string, FlagValue | undefined>
  | { flags?: false | string[] | Record<string, FlagValue | undefined>; payloads?: false | Record<string, JsonType> };

export class FlagOverrides {
  flags: Record<string, FlagValue | undefined> | undefined;
  payloads: Record<string, JsonType> | undefined;

  set(overrides: OverrideFeatureFlagsOptions): void {
    if (overrides === false) {
      this.flags = undefined;
      this.payloads = undefined;
    } else if (Array.isArray(overrides)) {
      this.flags = allTrue(overrides);
    } else if (isOptionsForm(overrides)) {
      if ("flags" in overrides) {
        if (overrides.flags === false) this.flags = undefined;
        else if (Array.isArray(overrides.flags)) this.flags = allTrue(overrides.flags);
        else if (overrides.flags !== undefined) this.flags = copy(overrides.flags);
      }
      if ("payloads" in overrides) {
        if (overrides.payloads === false) this.payloads = undefined;
        else if (overrides.payloads !== undefined) this.payloads = copy(overrides.payloads);
      }
    } else {
      this.flags = copy(overrides as Record<string, FlagValue | undefined>);
    }
  }

  hasFlag(key: string): boolean {
    return this.flags !== undefined && Object.prototype.hasOwnProperty.call(this.flags, key);
  }

  hasPayload(key: string): boolean {
    return this.payloads !== undefined && Object.prototype.hasOwnProperty.call(this.payloads, key);
  }

  /** The result of an overridden flag (value undefined: as if the flag did not exist). */
  result(key: string): FlagReadResult {
    const value = this.flags![key];
    if (value === undefined) return undecidedResult(key, "overridden");
    const payload = this.hasPayload(key) ? this.payloads![key]! : null;
    return { key, value, enabled: value !== false, variant: typeof value === "string" ? value : null, payload, reason: "overridden" };
  }

  /** A payload override replaces the payload of an evaluated flag. */
  withPayload(result: FlagReadResult): FlagReadResult {
    if (result.value === undefined || !this.hasPayload(result.key)) return result;
    return { ...result, payload: this.payloads![result.key]! };
  }

  /** getAllFlagsAndPayloads: overrides last, over everything evaluated (flagKeys does not limit them). */
  applyToMaps(featureFlags: Record<string, FlagValue>, featureFlagPayloads: Record<string, JsonType>): void {
    for (const [key, value] of Object.entries(this.flags ?? {})) {
      if (value === undefined) delete featureFlags[key];
      else defineOwn(featureFlags, key, value);
    }
    for (const [key, payload] of Object.entries(this.payloads ?? {})) defineOwn(featureFlagPayloads, key, payload);
  }

  /**
   * evaluateFlags: a value replaces the flag's (keeping its payload and what its exposure
   * says), undefined removes it, a payload replaces that of a flag present; only `flagKeys`.
   */
  applyToSnapshot(flags: Record<string, FlagReadResult>, facts: Map<string, ExposureFacts>, flagKeys: string[] | undefined): void {
    for (const [key, value] of Object.entries(this.flags ?? {})) {
      if (flagKeys !== undefined && !flagKeys.includes(key)) continue;
      if (value === undefined) {
        delete flags[key];
        continue;
      }
      const existing = Object.prototype.hasOwnProperty.call(flags, key) ? flags[key] : undefined;
      defineOwn(flags, key, { ...this.result(key), ...(existing ? { payload: existing.payload, reason: existing.reason } : {}) });
      if (!facts.has(key)) facts.set(key, { key, response: value, locallyEvaluated: false });
    }
    for (const [key, payload] of Object.entries(this.payloads ?? {})) {
      if (Object.prototype.hasOwnProperty.call(flags, key)) defineOwn(flags, key, { ...flags[key]!, payload });
    }
  }
}

/**
 * As posthog-node: the two-part form when `flags` holds false, a list or an object, or
 * `payloads` holds false or an object; `{ flags: true }` is a flag named "flags".
 */
function isOptionsForm(overrides: object): overrides is { flags?: unknown; payloads?: unknown } {
  const part = (name: string) => (overrides as Record<string, unknown>)[name];
  const isPart = (value: unknown) => value === false || (typeof value === "object" && value !== null);
  return ("flags" in overrides && isPart(part("flags"))) || ("payloads" in overrides && isPart(part("payloads")));
}

function allTrue(keys: string[]): Record<string, FlagValue> {
  const flags: Record<string, FlagValue> = {};
  for (const key of keys) defineOwn(flags, key, true);
  return flags;
}

function copy<T>(record: Record<string, T>): Record<string, T> {
  const out: Record<string, T> = {};
  for (const key of Object.keys(record)) defineOwn(out, key, record[key]!);
  return out;
}
