// Flag results and payloads in a form a Convex function can return (or take as an argument),
// and back.
//
// Convex values follow rules JSON does not: a field name must be non-empty, printable ASCII,
// at most 1,024 characters and must not start with `$`; an object holds at most 1,024 fields,
// an array 8,192 elements, and values nest at most 64 deep. Flag payloads are any JSON
// (`{"$theme": "dark"}`, `{"prix€": 1}`), so a query that returns a result or a snapshot as
// is can fail. toConvexSafe keeps every part Convex accepts as it is, so it stays readable,
// and carries each object or array it cannot hold as JSON text in a one-field marker object;
// fromConvexSafe turns the markers back. Pure: no Convex imports, so browsers can use it too.

/** The field of the marker object that carries a part as JSON text. */
const JSON_FIELD = "convexSafeJson";

const MAX_FIELD_NAME_LENGTH = 1024;
const MAX_FIELDS = 1024;
const MAX_ARRAY_LENGTH = 8192;
/** Below Convex's 64, leaving room for the value's place in the function's result. */
const MAX_DEPTH = 48;

declare const convexSafeOf: unique symbol;
/** A value toConvexSafe made safe for Convex; fromConvexSafe gives back the original `T`. */
export type ConvexSafe<T> = { readonly [convexSafeOf]: T };

/** Whether Convex accepts `name` as a field name of a returned or stored object. */
function isConvexFieldName(name: string): boolean {
  if (name === "" || name.length > MAX_FIELD_NAME_LENGTH || name.startsWith("$")) return false;
  for (let i = 0; i < name.length; i++) {
    const code = name.charCodeAt(i);
    if (code < 32 || code >= 127) return false;
  }
  return true;
}

/**
 * `value` in a form Convex accepts as a function's return value or argument: objects and
 * arrays Convex cannot hold (a `$` or non-ASCII key, too many fields or elements, too deep)
 * become `{ convexSafeJson: "<JSON text>" }`, everything else stays as it is. Undefined
 * object fields are left out, as Convex does. Meant for JSON data: flag results, payloads,
 * snapshots, getAllFlagsAndPayloads.
 */
export function toConvexSafe<T>(value: T): ConvexSafe<T> {
  return safe(value, 0) as ConvexSafe<T>;
}

function safe(value: unknown, depth: number): unknown {
  if (typeof value !== "object" || value === null) return value;
  const asText = () => ({ [JSON_FIELD]: JSON.stringify(value) });
  if (depth >= MAX_DEPTH) return asText();
  if (Array.isArray(value)) {
    return value.length > MAX_ARRAY_LENGTH ? asText() : value.map((item) => safe(item ?? null, depth + 1));
  }
  const keys = Object.keys(value);
  // An object that has the marker's field is carried as text too, so a marker is never ambiguous.
  if (keys.length > MAX_FIELDS || keys.some((key) => key === JSON_FIELD || !isConvexFieldName(key))) return asText();
  const copy: Record<string, unknown> = {};
  for (const key of keys) {
    const member = (value as Record<string, unknown>)[key];
    if (member !== undefined) copy[key] = safe(member, depth + 1);
  }
  return copy;
}

/** The value toConvexSafe was given (undefined stays undefined, for a query still loading). */
export function fromConvexSafe<T>(value: ConvexSafe<T>): T;
export function fromConvexSafe<T>(value: ConvexSafe<T> | undefined): T | undefined;
export function fromConvexSafe<T>(value: ConvexSafe<T> | undefined): T | undefined {
  return restore(value) as T | undefined;
}

function restore(value: unknown): unknown {
  if (typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) return value.map(restore);
  const keys = Object.keys(value);
  const text = (value as Record<string, unknown>)[JSON_FIELD];
  if (keys.length === 1 && typeof text === "string") return JSON.parse(text);
  return Object.fromEntries(keys.map((key) => [key, restore((value as Record<string, unknown>)[key])]));
}
