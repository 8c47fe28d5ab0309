// posthog-node's overrideFeatureFlags: values (and payloads) a client answers without
// evaluating, for tests and local development.
import type { FlagValue } from "../core/flags/index.js";
import { defineOwn } from "../core/flagContext.js";
import type { JsonType } from "./flags.js";

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
