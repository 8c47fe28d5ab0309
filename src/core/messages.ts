// Builds PostHog /batch/ messages exactly as posthog-node 5.70 builds them (see
// shared/reference/posthog-protocol.md §1.3–§1.6), apart from deliberate differences listed on
// each builder. Pure: the only inputs besides the arguments are a fresh UUIDv7 when the caller
// gave no usable uuid, and the optional POSTHOG_RELEASE_ID environment variable for exceptions.
//
// Runs inside the Convex runtime: no Node APIs.
import { uuidv7 } from "uuidv7";
import { buildExceptionList } from "./exception.js";
import { PostHogInputError, childPath, encodeJson, requireWellFormed, utf8Length } from "./json.js";

export { PostHogInputError } from "./json.js";
export type { ExceptionEntry, ExceptionMechanism, StackFrame } from "./exception.js";

/** Identifies this SDK in `$lib` / `$lib_version`. */
export interface LibInfo {
  name: string;
  version: string;
}

/** One element of a /batch/ request's `batch` array. */
export interface PostHogMessage {
  event: string;
  distinct_id: string;
  properties: Record<string, unknown>;
  /** ISO-8601 UTC. */
  timestamp: string;
  uuid: string;
}

/** A Date, an ISO-8601 (or other Date-parsable) string, or epoch milliseconds. */
export type TimestampInput = Date | string | number;

interface CommonInput {
  /** Default: `BuildOptions.now`. */
  timestamp?: TimestampInput;
  /** Used when it is a valid UUID (any version); otherwise a fresh UUIDv7 is generated. */
  uuid?: string;
  /** PostHog skips GeoIP enrichment unless this is `false` (posthog-node's default). */
  disableGeoip?: boolean;
}

export interface CaptureInput extends CommonInput {
  distinctId: string;
  event: string;
  properties?: Record<string, unknown>;
  /** Sent as `$groups` when not empty. */
  groups?: Record<string, string | number>;
}

export interface IdentifyInput extends CommonInput {
  distinctId: string;
  /**
   * Person properties. `$set` / `$set_once` are used as given; without `$set`, every other
   * property (except `$set_once` and `$anon_distinct_id`) becomes `$set`.
   */
  properties?: Record<string, unknown>;
}

export interface AliasInput extends CommonInput {
  distinctId: string;
  alias: string;
}

export interface GroupIdentifyInput extends CommonInput {
  groupType: string;
  groupKey: string | number;
  properties?: Record<string, unknown>;
  /** Default: `$<groupType>_<groupKey>`. */
  distinctId?: string;
}

export interface ExceptionInput extends CommonInput {
  /** An Error, a string, or any value (objects with `message`/`name` are described by them). */
  error: unknown;
  /** Default: a fresh UUIDv7, with `$process_person_profile: false` (as posthog-node). */
  distinctId?: string;
  /** Added after the exception properties, so they can override e.g. `$exception_level`. */
  additionalProperties?: Record<string, unknown>;
}

export interface BuildOptions {
  lib: LibInfo;
  /** Epoch milliseconds: the timestamp of messages that give none. */
  now: number;
}

// ---------------------------------------------------------------------------------------------
// Input checks

/** Required text: a string that is not empty or only whitespace (sent as given, not trimmed). */
function requireText(value: unknown, field: string): string {
  if (typeof value !== "string") {
    throw new PostHogInputError(field, `must be a non-empty string (got ${describeType(value)})`);
  }
  if (value.trim() === "") throw new PostHogInputError(field, "must be a non-empty string");
  requireWellFormed(value, field);
  return value;
}

/** An optional distinct id: absent (undefined or null), or required text. */
function optionalDistinctId(value: unknown): string | undefined {
  return value === undefined || value === null ? undefined : requireText(value, "distinctId");
}

function describeType(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value;
}

/** An optional property map: absent, or a non-array object. Returns a shallow copy. */
function propertyMap(value: unknown, field: string): Record<string, unknown> {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new PostHogInputError(field, `must be an object (got ${describeType(value)})`);
  }
  return { ...(value as Record<string, unknown>) };
}

function groupsMap(value: unknown): Record<string, string | number> | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "object" || Array.isArray(value)) {
    throw new PostHogInputError("groups", `must be an object of group type to group key (got ${describeType(value)})`);
  }
  const groups = value as Record<string, unknown>;
  for (const [type, key] of Object.entries(groups)) {
    if (typeof key !== "string" && !(typeof key === "number" && Number.isFinite(key))) {
      throw new PostHogInputError(childPath("groups", type), `a group key must be a string or a number (got ${describeType(key)})`);
    }
  }
  const keys = Object.keys(groups);
  return keys.length > 0 ? (groups as Record<string, string | number>) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Timestamps and ids

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The caller's uuid when it is a valid UUID of any version (as posthog-node), else a new UUIDv7. */
export function resolveUuid(uuid: unknown): string {
  return typeof uuid === "string" && UUID.test(uuid) ? uuid : uuidv7();
}

/** Fraction digits of an ISO-like string's seconds, e.g. `123456` in `…:05.123456+02:00`. */
const FRACTION = /\.(\d+)(?:z|[+-]\d{2}:?\d{2})?$/i;

/**
 * ISO-8601 UTC text for a timestamp, as posthog-node writes it on the wire: a Date or a
 * parsable string becomes `toISOString()`, keeping more than three fractional digits of a
 * string. Epoch milliseconds are converted too (posthog-node would send the bare number).
 * Throws PostHogInputError for anything that is not a valid point in time.
 */
export function resolveTimestamp(timestamp: unknown, now: number): string {
  if (timestamp === undefined || timestamp === null) return isoFromDate(new Date(now), "now");
  if (timestamp instanceof Date || Object.prototype.toString.call(timestamp) === "[object Date]") {
    return isoFromDate(timestamp as Date, "timestamp");
  }
  if (typeof timestamp === "number") return isoFromDate(new Date(timestamp), "timestamp");
  if (typeof timestamp === "string") {
    const iso = isoFromDate(new Date(timestamp), "timestamp", timestamp);
    const fraction = FRACTION.exec(timestamp)?.[1];
    return fraction !== undefined && fraction.length > 3 ? iso.replace(/\.\d{3}Z$/, `.${fraction}Z`) : iso;
  }
  throw new PostHogInputError(
    "timestamp",
    `must be a Date, an ISO-8601 string or epoch milliseconds (got ${describeType(timestamp)})`,
  );
}

function isoFromDate(date: Date, field: string, original?: string): string {
  const time = date.getTime();
  if (!Number.isFinite(time)) {
    const shown = original === undefined ? "an invalid Date" : JSON.stringify(original);
    throw new PostHogInputError(field, `${shown} is not a valid point in time`);
  }
  return new Date(time).toISOString();
}

// ---------------------------------------------------------------------------------------------
// Assembly

/**
 * Stamps the SDK's own properties last, so callers cannot override them (posthog-node order:
 * caller properties, `$lib`, `$lib_version`, `$is_server`, then `$geoip_disable`).
 */
function assemble(
  event: string,
  distinctId: string,
  properties: Record<string, unknown>,
  input: CommonInput,
  opts: BuildOptions,
): PostHogMessage {
  const stamped: Record<string, unknown> = {
    ...properties,
    $lib: opts.lib.name,
    $lib_version: opts.lib.version,
    $is_server: true,
  };
  if (input.disableGeoip !== false) stamped.$geoip_disable = true;
  return {
    event,
    distinct_id: distinctId,
    properties: stamped,
    timestamp: resolveTimestamp(input.timestamp, opts.now),
    uuid: resolveUuid(input.uuid),
  };
}

/**
 * A custom event. Differences from posthog-node: `distinctId` and `event` must be non-empty
 * (posthog-node invents an anonymous id); invalid input throws PostHogInputError.
 */
export function buildCaptureMessage(input: CaptureInput, opts: BuildOptions): PostHogMessage {
  const distinctId = requireText(input.distinctId, "distinctId");
  const event = requireText(input.event, "event");
  const properties = propertyMap(input.properties, "properties");
  const groups = groupsMap(input.groups);
  // A `groups` argument replaces any `$groups` property; without one, a caller's `$groups` stays.
  if (groups) properties.$groups = groups;
  return assemble(event, distinctId, properties, input, opts);
}

/** `$identify`: `$set` (the caller's, or all plain properties), `$set_once`, and `$anon_distinct_id` if given. */
export function buildIdentifyMessage(input: IdentifyInput, opts: BuildOptions): PostHogMessage {
  const distinctId = requireText(input.distinctId, "distinctId");
  const { $set, $set_once, $anon_distinct_id, ...plain } = propertyMap(input.properties, "properties");
  const properties: Record<string, unknown> = { $set: $set || plain, $set_once: $set_once || {} };
  if ($anon_distinct_id !== undefined && $anon_distinct_id !== null) properties.$anon_distinct_id = $anon_distinct_id;
  return assemble("$identify", distinctId, properties, input, opts);
}

/** `$create_alias`: links `alias` to `distinctId`. */
export function buildAliasMessage(input: AliasInput, opts: BuildOptions): PostHogMessage {
  const distinctId = requireText(input.distinctId, "distinctId");
  const alias = requireText(input.alias, "alias");
  return assemble("$create_alias", distinctId, { distinct_id: distinctId, alias }, input, opts);
}

/** `$groupidentify`: sets a group's properties; sent as `$<groupType>_<groupKey>` unless a distinctId is given. */
export function buildGroupIdentifyMessage(input: GroupIdentifyInput, opts: BuildOptions): PostHogMessage {
  const groupType = requireText(input.groupType, "groupType");
  const groupKey: string | number =
    typeof input.groupKey === "number" && Number.isFinite(input.groupKey)
      ? input.groupKey
      : requireText(input.groupKey, "groupKey");
  const groupSet = propertyMap(input.properties, "properties");
  const distinctId = optionalDistinctId(input.distinctId) ?? `$${groupType}_${groupKey}`;
  const properties = { $group_type: groupType, $group_key: groupKey, $group_set: groupSet };
  return assemble("$groupidentify", distinctId, properties, input, opts);
}

/** The release id a build injected, as posthog-node reads it. */
function injectedReleaseId(): string | undefined {
  const fromEnv = typeof process !== "undefined" ? process.env?.POSTHOG_RELEASE_ID?.trim() : undefined;
  if (fromEnv) return fromEnv;
  const injected = (globalThis as { _posthogReleaseId?: unknown })._posthogReleaseId;
  return typeof injected === "string" && injected.length > 0 ? injected : undefined;
}

/** Stack text of an Error made here, starting at whoever called buildExceptionMessage. */
function callSiteStack(): string | undefined {
  const marker = new Error("PostHog syntheticException");
  const capture = (Error as { captureStackTrace?: (target: object, above?: Function) => void }).captureStackTrace;
  if (typeof capture === "function") capture(marker, buildExceptionMessage);
  return marker.stack;
}

/**
 * `$exception` with `$exception_list` as posthog-node builds it (no source context lines, which
 * need the file system). Values without a stack of their own (strings, plain objects) get the
 * stack of this call, starting at the function that called buildExceptionMessage.
 */
export function buildExceptionMessage(input: ExceptionInput, opts: BuildOptions): PostHogMessage {
  const givenDistinctId = optionalDistinctId(input.distinctId);
  const additional = propertyMap(input.additionalProperties, "additionalProperties");
  const properties: Record<string, unknown> = {
    $exception_list: buildExceptionList(input.error, callSiteStack),
    $exception_level: "error",
    ...additional,
  };
  const releaseId = injectedReleaseId();
  if (releaseId) properties.$release_id = releaseId;
  let distinctId = givenDistinctId;
  if (distinctId === undefined) {
    distinctId = uuidv7();
    properties.$process_person_profile = false;
  }
  return assemble("$exception", distinctId, properties, input, opts);
}

/**
 * Largest encoded message one event may be. It is stored in a Convex document, which holds
 * at most 1 MiB; the rest of the row needs a little room.
 */
export const MAX_MESSAGE_BYTES = 1024 * 1024 - 8 * 1024;

/**
 * JSON text of a message, for storage and transport. Throws PostHogInputError naming the path
 * (e.g. `properties.user.callback`) of a value JSON cannot carry: functions, symbols, BigInt,
 * cyclic references, invalid Dates, text with half a surrogate pair; and for a message larger
 * than MAX_MESSAGE_BYTES, naming the field that makes it so. Dates anywhere become ISO
 * strings; undefined members are left out and undefined array slots become null, as
 * JSON.stringify does.
 */
export function encodeMessage(message: PostHogMessage): string {
  const text = encodeJson(message, "", { requireWellFormed: true });
  const bytes = utf8Length(text);
  if (bytes > MAX_MESSAGE_BYTES) {
    const largest = largestPart(message, bytes);
    throw new PostHogInputError(
      largest.path,
      `the event is ${bytes} bytes once encoded, ${largest.bytes} of them here; one event can be at most ${MAX_MESSAGE_BYTES} bytes (a Convex document holds 1 MiB)`,
    );
  }
  return text;
}

/**
 * What the component's outbox takes for a message: its JSON text and the fields the outbox
 * row shows, so the component does not parse the text again. Checks what a beforeSend hook
 * may have changed since the message was built.
 */
export function outboxMessage(message: PostHogMessage): { message: string; uuid: string; event: string } {
  for (const field of ["event", "distinct_id", "uuid", "timestamp"] as const) {
    if (typeof message[field] !== "string" || message[field] === "") {
      throw new PostHogInputError(field, `must be a non-empty string (a beforeSend hook returned ${JSON.stringify(message[field]) ?? "undefined"})`);
    }
  }
  return { message: encodeMessage(message), uuid: message.uuid, event: message.event };
}

/**
 * Where an oversized message's bytes are: from the whole message, go down into the largest
 * member while it holds at least half of its parent. Runs only when a message is too large.
 */
function largestPart(message: PostHogMessage, totalBytes: number): { path: string; bytes: number } {
  let path = "";
  let value: unknown = message;
  let bytes = totalBytes;
  for (;;) {
    if (typeof value !== "object" || value === null) break;
    const members: Array<[string, unknown]> = Array.isArray(value)
      ? value.map((item, i) => [`${path}[${i}]`, item])
      : Object.entries(value).map(([key, item]) => [childPath(path, key), item]);
    let best: { path: string; value: unknown; bytes: number } | undefined;
    for (const [memberPath, item] of members) {
      const size = utf8Length(encodeJson(item, memberPath));
      if (best === undefined || size > best.bytes) best = { path: memberPath, value: item, bytes: size };
    }
    if (best === undefined || best.bytes * 2 < bytes) break;
    ({ path, value, bytes } = best);
  }
  return { path: path === "" ? "(event)" : path, bytes };
}
