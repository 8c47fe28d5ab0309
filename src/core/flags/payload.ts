import { hasOwn } from "./properties.js";
import type { FlagDefinition, FlagValue } from "./types.js";

/**
 * The payload a flag carries for `value`, null for none. Payloads are stored by value ("true"
 * or a variant key), usually as JSON strings: a string that is not JSON is returned as is, and
 * a falsy stored entry ("", 0, false) means no payload. A `false` flag never has one.
 */
export function resolvePayload(flag: FlagDefinition, value: FlagValue | undefined): unknown {
  if (value === false || value === undefined || value === null) return null;
  const payloads = flag.filters?.payloads;
  if (!payloads) return null;
  const slot = value === true ? "true" : String(value);
  const stored = hasOwn(payloads, slot) ? payloads[slot] : undefined;
  if (!stored) return null;
  if (typeof stored !== "string") return stored;
  try {
    return JSON.parse(stored) as unknown;
  } catch {
    return stored;
  }
}
