// JSON encoding with safety checks, for values that will be stored and later sent to PostHog.
//
// JSON.stringify silently drops or mangles some values (functions vanish, BigInt throws a bare
// TypeError, cycles throw without saying where). Events are written now and delivered later, so
// a bad value must be reported at the call site, naming where it sits, and nothing may be
// half-written. This module walks the value itself, applies JSON's own rules for everything
// JSON can represent, and throws PostHogInputError for the rest.
//
// Runs inside the Convex runtime: no Node APIs.

/** Any JSON value: what a flag payload can be. */
export type JsonType = string | number | boolean | null | JsonType[] | { [key: string]: JsonType };

/** A caller gave a value the SDK cannot send. `field` names where it is (e.g. `properties.user.callback`). */
export class PostHogInputError extends Error {
  readonly kind = "invalid_input" as const;
  readonly field: string;

  constructor(field: string, problem: string) {
    super(`${field}: ${problem}`);
    this.name = "PostHogInputError";
    this.field = field;
  }
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** `parent.key`, or `parent["odd key"]` when the key is not an identifier. */
export function childPath(parent: string, key: string): string {
  if (IDENTIFIER.test(key)) return parent === "" ? key : `${parent}.${key}`;
  return `${parent}[${JSON.stringify(key)}]`;
}

function indexPath(parent: string, index: number): string {
  return `${parent}[${index}]`;
}

const objectTag = (value: unknown): string => Object.prototype.toString.call(value);

function isDate(value: unknown): value is Date {
  return value instanceof Date || objectTag(value) === "[object Date]";
}

/** A UTF-16 surrogate without its other half: text that has no UTF-8 form. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Throws PostHogInputError naming `field` when `text` is not well-formed Unicode. JavaScript
 * strings may hold half of a surrogate pair (usually text cut in the middle of an emoji);
 * JSON.stringify escapes it as `\udXXX`, which Convex cannot store as a string and strict
 * JSON parsers refuse.
 */
export function requireWellFormed(text: string, field: string): void {
  if (LONE_SURROGATE.test(text)) {
    throw new PostHogInputError(field, "holds half of a UTF-16 surrogate pair (text cut inside a character?), which cannot be sent to PostHog");
  }
}

/** Bytes of `text` in UTF-8, without encoding it (a lone surrogate counts as U+FFFD, 3 bytes). */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

export interface EncodeOptions {
  /** Throw PostHogInputError for text (values and keys) that is not well-formed Unicode. */
  requireWellFormed?: boolean;
}

/**
 * Encodes `value` as JSON text. Follows JSON.stringify (toJSON methods, Dates as ISO strings,
 * undefined members omitted, undefined array slots and holes as null, non-finite numbers as
 * null) and, like posthog-node, turns Error values into `{name, message, stack}`. Throws
 * PostHogInputError naming the path for functions, symbols, BigInt, cyclic references and
 * invalid Dates.
 *
 * @param rootPath how to name `value` itself in error messages ("" for a whole message).
 */
export function encodeJson(value: unknown, rootPath = "", options: EncodeOptions = {}): string {
  const encoder = new SafeJsonEncoder(options.requireWellFormed ?? false);
  const text = encoder.encode("", value, rootPath === "" ? "(value)" : rootPath, rootPath);
  return text ?? "null";
}

class SafeJsonEncoder {
  /** Objects currently being encoded: the chain from the root to the current value. */
  private readonly openObjects: object[] = [];

  constructor(private readonly requireWellFormed: boolean) {}

  private checkText(text: string, label: string): void {
    if (this.requireWellFormed) requireWellFormed(text, label);
  }

  /**
   * Returns the JSON text for one value, or undefined when JSON would leave it out
   * (an undefined object member).
   *
   * @param key the member name or index JSON.stringify would pass to toJSON.
   * @param label how to name the value in messages; `path` is the prefix for its children.
   */
  encode(key: string, input: unknown, label: string, path: string): string | undefined {
    let value = input;

    // Step 1, as JSON.stringify does: let the value describe itself.
    if (isDate(value) && Number.isNaN(value.getTime())) {
      throw new PostHogInputError(label, "an invalid Date cannot be sent to PostHog");
    }
    if ((typeof value === "object" && value !== null) || typeof value === "bigint") {
      const toJSON = (value as { toJSON?: unknown }).toJSON;
      if (typeof toJSON === "function") value = toJSON.call(value, key);
    }

    // Step 2, as posthog-node's serializer does: Errors carry their name, message and stack.
    if (value instanceof Error) {
      value = { name: value.name, message: value.message, stack: value.stack };
    }

    switch (typeof value) {
      case "undefined":
        return undefined;
      case "string":
        this.checkText(value, label);
        return JSON.stringify(value);
      case "boolean":
        return JSON.stringify(value);
      case "number":
        return Number.isFinite(value) ? JSON.stringify(value) : "null";
      case "bigint":
        throw new PostHogInputError(
          label,
          "BigInt values cannot be sent to PostHog (convert to a number or a string first)",
        );
      case "symbol":
        throw new PostHogInputError(label, "symbols cannot be sent to PostHog");
      case "function":
        throw new PostHogInputError(label, "functions cannot be sent to PostHog");
    }
    if (value === null) return "null";

    const obj = value as object;
    // Boxed primitives are written as the primitive they hold.
    if (obj instanceof Number) return this.encode(key, Number(obj), label, path);
    if (obj instanceof String) return this.encode(key, String(obj), label, path);
    if (obj instanceof Boolean) return JSON.stringify(obj.valueOf());
    if (objectTag(obj) === "[object BigInt]") {
      throw new PostHogInputError(
        label,
        "BigInt values cannot be sent to PostHog (convert to a number or a string first)",
      );
    }

    if (this.openObjects.includes(obj)) {
      throw new PostHogInputError(
        label,
        "a cyclic reference (an object that contains itself) cannot be sent to PostHog",
      );
    }
    this.openObjects.push(obj);
    try {
      return Array.isArray(obj) ? this.encodeArray(obj, path) : this.encodeObject(obj, path);
    } finally {
      this.openObjects.pop();
    }
  }

  private encodeArray(array: readonly unknown[], path: string): string {
    const items: string[] = [];
    for (let i = 0; i < array.length; i++) {
      const itemPath = indexPath(path, i);
      items.push(this.encode(String(i), array[i], itemPath, itemPath) ?? "null");
    }
    return `[${items.join(",")}]`;
  }

  private encodeObject(obj: object, path: string): string {
    const members: string[] = [];
    for (const key of Object.keys(obj)) {
      const memberPath = childPath(path, key);
      this.checkText(key, memberPath);
      const text = this.encode(key, (obj as Record<string, unknown>)[key], memberPath, memberPath);
      if (text !== undefined) members.push(`${JSON.stringify(key)}:${text}`);
    }
    return `{${members.join(",")}}`;
  }
}
