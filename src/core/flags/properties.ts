// Matching one property filter against a map of person or group properties, with the
// operator semantics of posthog-node 5.70 (@posthog/core 1.67.3). Anything the server might
// decide differently is reported as unresolved rather than guessed.

import { contextDateTime, filterDateTime, isUsableDateFilter } from "./dates.js";
import { compilePattern, isPortableSubject } from "./regex.js";
import { caretRange, compareSemver, isWithin, parseSemver, tildeRange, wildcardRange } from "./semver.js";
import type { Semver, SemverRange } from "./semver.js";
import type { FlagProperty } from "./types.js";
import { MISSING_CONTEXT, UNSUPPORTED, UNSUPPORTED_REGEX } from "./unresolved.js";
import type { Unresolved } from "./unresolved.js";

export type MatchOutcome = boolean | Unresolved;

// A null property value is the string "null" for these; every other operator is false on null.
const NULL_AS_STRING_OPERATORS = new Set([
  "exact",
  "is_not",
  "icontains",
  "not_icontains",
  "starts_with",
  "not_starts_with",
  "ends_with",
  "not_ends_with",
  "regex",
  "not_regex",
]);

export function hasOwn(object: object, key: PropertyKey): boolean {
  return Object.prototype.hasOwnProperty.call(object, key);
}

/**
 * Match `property` against `values` (which must already hold `distinct_id` / `$group_key`).
 * `propertyMatchingVersion` 2 turns off the legacy true/false folding of `exact`; `now` anchors
 * relative dates.
 */
export function matchProperty(
  property: FlagProperty,
  values: Record<string, unknown>,
  propertyMatchingVersion: number | undefined,
  now: number,
): MatchOutcome {
  const operator = property.operator || "exact";
  // Absent is unresolved for every operator, `is_not_set` included: the server may know it.
  if (!hasOwn(values, property.key)) return isUnusableFilter(property) ? UNSUPPORTED : MISSING_CONTEXT;
  if (operator === "is_not_set") return false;
  if (operator === "is_set") return true;

  const actual = values[property.key];
  // posthog-node blames the definition here, not the context (JSON cannot carry undefined).
  if (actual === undefined) return UNSUPPORTED;
  if (actual === null && !NULL_AS_STRING_OPERATORS.has(operator)) return false;

  const outcome = matchValue(operator, property.value, actual, propertyMatchingVersion, now);
  // An unusable filter outranks a bad context value.
  if (outcome === MISSING_CONTEXT && isUnusableFilter(property)) return UNSUPPORTED;
  return outcome;
}

function matchValue(
  operator: string,
  filter: unknown,
  actual: unknown,
  propertyMatchingVersion: number | undefined,
  now: number,
): MatchOutcome {
  switch (operator) {
    case "exact":
      return exactMatch(filter, actual, propertyMatchingVersion);
    case "is_not": {
      const outcome = exactMatch(filter, actual, propertyMatchingVersion);
      return typeof outcome === "boolean" ? !outcome : outcome;
    }
    case "icontains":
      return asciiLowercase(String(actual)).includes(asciiLowercase(String(filter)));
    case "not_icontains":
      return !asciiLowercase(String(actual)).includes(asciiLowercase(String(filter)));
    case "starts_with":
      return asciiLowercase(String(actual)).startsWith(asciiLowercase(String(filter)));
    case "not_starts_with":
      return !asciiLowercase(String(actual)).startsWith(asciiLowercase(String(filter)));
    case "ends_with":
      return asciiLowercase(String(actual)).endsWith(asciiLowercase(String(filter)));
    case "not_ends_with":
      return !asciiLowercase(String(actual)).endsWith(asciiLowercase(String(filter)));
    case "regex":
    case "not_regex":
      return regexMatch(operator === "regex", String(filter), String(actual));
    case "gt":
    case "gte":
    case "lt":
    case "lte":
      return numericMatch(operator, filter, actual);
    case "is_date_before":
    case "is_date_after": {
      const filterTime = filterDateTime(filter, now);
      if (filterTime === undefined) return UNSUPPORTED;
      const actualTime = contextDateTime(actual);
      if (actualTime === undefined) return MISSING_CONTEXT;
      return operator === "is_date_before" ? actualTime < filterTime : actualTime > filterTime;
    }
    case "semver_eq":
    case "semver_neq":
    case "semver_gt":
    case "semver_gte":
    case "semver_lt":
    case "semver_lte": {
      const filterVersion = parseSemver(String(filter));
      if (filterVersion === undefined) return UNSUPPORTED;
      const actualVersion = parseSemver(String(actual));
      if (actualVersion === undefined) return MISSING_CONTEXT;
      return semverComparison(operator, compareSemver(actualVersion, filterVersion));
    }
    case "semver_tilde":
      return semverRangeMatch(tildeRange(String(filter)), actual);
    case "semver_caret":
      return semverRangeMatch(caretRange(String(filter)), actual);
    case "semver_wildcard":
      return semverRangeMatch(wildcardRange(String(filter)), actual);
    default:
      return UNSUPPORTED; // unknown operator, e.g. is_date_exact
  }
}

// ---------------------------------------------------------------------------------------------
// exact / is_not

/**
 * exact is the subtle one. In legacy matching (version ≠ 2) a boolean-like filter (true/false,
 * "true"/"false" in any case, or a list of those) compares truthiness, so `false` matches
 * "banana". An empty list filter always compares truthiness. Otherwise both sides are
 * stringified like the flags service (JSON for composites) and compared Unicode-lowercased;
 * integers are unresolved because JavaScript cannot tell 5 from 5.0, which the service can.
 */
function exactMatch(filter: unknown, actual: unknown, propertyMatchingVersion: number | undefined): MatchOutcome {
  const legacy = propertyMatchingVersion !== 2;
  const filterIsBooleanLike = isBooleanLike(filter);
  if ((legacy && filterIsBooleanLike) || (Array.isArray(filter) && filter.length === 0)) {
    if (!isJsonRepresentable(actual, new Set())) return MISSING_CONTEXT;
    return isTrueLike(filter) === isTrueLike(actual);
  }
  // No spelling of a number equals a boolean-like filter, so this mismatch is conclusive.
  if (!legacy && typeof actual === "number" && filterIsBooleanLike) {
    return Number.isFinite(actual) ? false : MISSING_CONTEXT;
  }
  if (Array.isArray(filter)) {
    const actualText = exactText(actual);
    if (actualText === undefined) return MISSING_CONTEXT;
    const wanted = actualText.toLowerCase();
    for (let index = 0; index < filter.length; index++) {
      if (!(index in filter)) continue;
      const itemText = exactText(filter[index]);
      if (itemText === undefined) return UNSUPPORTED;
      if (itemText.toLowerCase() === wanted) return true;
    }
    return false;
  }
  const filterText = exactText(filter);
  if (filterText === undefined) return UNSUPPORTED;
  const actualText = exactText(actual);
  if (actualText === undefined) return MISSING_CONTEXT;
  return filterText.toLowerCase() === actualText.toLowerCase();
}

function isBooleanLike(value: unknown): boolean {
  if (typeof value === "boolean") return true;
  if (typeof value === "string") {
    const lower = value.toLowerCase();
    return lower === "true" || lower === "false";
  }
  if (!Array.isArray(value)) return false;
  for (let index = 0; index < value.length; index++) {
    if (!(index in value) || !isBooleanLike(value[index])) return false;
  }
  return true;
}

/** true, "true" in any case, or a list of only those (the empty list included). */
function isTrueLike(value: unknown): boolean {
  if (typeof value === "boolean") return value;
  if (typeof value === "string") return value.toLowerCase() === "true";
  if (!Array.isArray(value)) return false;
  for (let index = 0; index < value.length; index++) {
    if (!(index in value) || !isTrueLike(value[index])) return false;
  }
  return true;
}

function hasLoneSurrogate(text: string): boolean {
  for (let index = 0; index < text.length; index++) {
    const unit = text.charCodeAt(index);
    if (unit < 0xd800 || unit > 0xdfff) continue;
    if (unit >= 0xdc00) return true;
    const next = text.charCodeAt(index + 1);
    if (!(next >= 0xdc00 && next <= 0xdfff)) return true;
    index++;
  }
  return false;
}

function isPlainObject(value: object): boolean {
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** Could the flags service see this value at all (finite numbers, paired surrogates, plain data)? */
function isJsonRepresentable(value: unknown, ancestors: Set<object>): boolean {
  if (value === null || typeof value === "boolean") return true;
  if (typeof value === "string") return !hasLoneSurrogate(value);
  if (typeof value === "number") return Number.isFinite(value);
  if (typeof value !== "object") return false;
  if (ancestors.has(value)) return false;
  if (Array.isArray(value)) {
    ancestors.add(value);
    for (let index = 0; index < value.length; index++) {
      if (index in value && !isJsonRepresentable(value[index], ancestors)) return false;
    }
  } else {
    if (!isPlainObject(value)) return false;
    ancestors.add(value);
    for (const key of Object.keys(value)) {
      if (hasLoneSurrogate(key) || !isJsonRepresentable((value as Record<string, unknown>)[key], ancestors)) {
        return false;
      }
    }
  }
  ancestors.delete(value);
  return true;
}

/** A top-level string as is; anything else as the flags service spells it. */
function exactText(value: unknown): string | undefined {
  if (typeof value === "string") return hasLoneSurrogate(value) ? undefined : value;
  return canonicalJson(value, new Set());
}

/** Compact JSON with object keys in code point order; undefined for what cannot be spelled. */
function canonicalJson(value: unknown, ancestors: Set<object>): string | undefined {
  if (value === null) return "null";
  switch (typeof value) {
    case "string":
      return hasLoneSurrogate(value) ? undefined : JSON.stringify(value);
    case "boolean":
      return value ? "true" : "false";
    case "number":
      // Integers are ambiguous (5 vs 5.0); non-finite numbers have no JSON spelling.
      return Number.isFinite(value) && !Number.isInteger(value) ? String(value) : undefined;
    case "object":
      break;
    default:
      return undefined;
  }
  if (ancestors.has(value)) return undefined;
  const parts: string[] = [];
  if (Array.isArray(value)) {
    ancestors.add(value);
    for (let index = 0; index < value.length; index++) {
      const item = index in value ? canonicalJson(value[index], ancestors) : "null";
      if (item === undefined) return undefined;
      parts.push(item);
    }
    ancestors.delete(value);
    return `[${parts.join(",")}]`;
  }
  if (!isPlainObject(value)) return undefined;
  ancestors.add(value);
  const keys = Object.keys(value);
  for (const key of keys) if (hasLoneSurrogate(key)) return undefined;
  keys.sort(compareCodePoints);
  for (const key of keys) {
    const item = canonicalJson((value as Record<string, unknown>)[key], ancestors);
    if (item === undefined) return undefined;
    parts.push(`${JSON.stringify(key)}:${item}`);
  }
  ancestors.delete(value);
  return `{${parts.join(",")}}`;
}

/** Code point order (Rust's string order), which differs from UTF-16 order above U+FFFF. */
function compareCodePoints(left: string, right: string): number {
  let l = 0;
  let r = 0;
  while (l < left.length && r < right.length) {
    const a = left.codePointAt(l)!;
    const b = right.codePointAt(r)!;
    if (a !== b) return a - b;
    l += a > 0xffff ? 2 : 1;
    r += b > 0xffff ? 2 : 1;
  }
  return left.length - right.length;
}

// ---------------------------------------------------------------------------------------------
// Other operators

/** The flags service folds only A-Z for substring, prefix and suffix operators. */
function asciiLowercase(text: string): string {
  for (let index = 0; index < text.length; index++) {
    const unit = text.charCodeAt(index);
    if (unit >= 65 && unit <= 90) return text.replace(/[A-Z]+/g, (run) => run.toLowerCase());
  }
  return text;
}

function regexMatch(positive: boolean, pattern: string, subject: string): MatchOutcome {
  const compiled = compilePattern(pattern);
  switch (compiled.kind) {
    case "everything":
      return positive;
    case "invalid":
      return false; // neither regex nor not_regex holds for a pattern that does not compile
    case "server":
      return UNSUPPORTED_REGEX;
    case "portable":
      if (!isPortableSubject(subject)) return UNSUPPORTED_REGEX;
      return compiled.regex.test(subject) === positive;
  }
}

/** Numeric when both sides parse as numbers (leading-number parsing), else UTF-16 string order. */
function numericMatch(operator: "gt" | "gte" | "lt" | "lte", filter: unknown, actual: unknown): boolean {
  const filterNumber = typeof filter === "number" ? filter : parseFloat(String(filter));
  const actualNumber = typeof actual === "number" ? actual : parseFloat(String(actual));
  if (Number.isFinite(filterNumber) && Number.isFinite(actualNumber)) {
    return compareWith(operator, actualNumber, filterNumber);
  }
  return compareWith(operator, String(actual), String(filter));
}

function compareWith<T extends number | string>(operator: "gt" | "gte" | "lt" | "lte", left: T, right: T): boolean {
  switch (operator) {
    case "gt":
      return left > right;
    case "gte":
      return left >= right;
    case "lt":
      return left < right;
    case "lte":
      return left <= right;
  }
}

function semverComparison(operator: string, order: number): boolean {
  switch (operator) {
    case "semver_eq":
      return order === 0;
    case "semver_neq":
      return order !== 0;
    case "semver_gt":
      return order > 0;
    case "semver_gte":
      return order >= 0;
    case "semver_lt":
      return order < 0;
    default:
      return order <= 0;
  }
}

function semverRangeMatch(range: SemverRange | undefined, actual: unknown): MatchOutcome {
  if (range === undefined) return UNSUPPORTED;
  const version: Semver | undefined = parseSemver(String(actual));
  if (version === undefined) return MISSING_CONTEXT;
  return isWithin(version, range);
}

// ---------------------------------------------------------------------------------------------
// Filters that can never match locally

const unusableFilters = new WeakMap<object, boolean>();

/**
 * Whether local evaluation cannot use this filter whatever the context holds: an unknown
 * operator, or a filter value its operator cannot read. Reported as unsupported_definition,
 * which outranks missing context. Regex portability is not part of it (the subject matters).
 */
export function isUnusableFilter(property: FlagProperty): boolean {
  let unusable = unusableFilters.get(property);
  if (unusable === undefined) {
    unusable = !isUsableFilter(property.operator || "exact", property.value);
    unusableFilters.set(property, unusable);
  }
  return unusable;
}

function isUsableFilter(operator: string, value: unknown): boolean {
  switch (operator) {
    case "exact":
    case "is_not":
      return (Array.isArray(value) ? value : [value]).every((item) => exactText(item) !== undefined);
    case "is_set":
    case "is_not_set":
    case "icontains":
    case "not_icontains":
    case "starts_with":
    case "not_starts_with":
    case "ends_with":
    case "not_ends_with":
    case "regex":
    case "not_regex":
    case "gt":
    case "gte":
    case "lt":
    case "lte":
      return true;
    case "is_date_before":
    case "is_date_after":
      return isUsableDateFilter(value);
    case "semver_eq":
    case "semver_neq":
    case "semver_gt":
    case "semver_gte":
    case "semver_lt":
    case "semver_lte":
    case "semver_tilde":
    case "semver_caret":
      return parseSemver(String(value)) !== undefined;
    case "semver_wildcard":
      return wildcardRange(String(value)) !== undefined;
    default:
      return false;
  }
}
