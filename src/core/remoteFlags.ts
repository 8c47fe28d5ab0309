// Remote flag evaluation: one POST to PostHog's /flags/?v=2, read the way posthog-node 5.70
// reads it. Runs in a Convex action: fetch, AbortController and setTimeout only.
//
// What is matched (protocol reference §2, §5.2):
// * the JSON body, field for field and in the same order (remoteFlagsBody);
// * the request: POST {host}/flags/?v=2, Content-Type application/json, our User-Agent;
// * the deadline (3000 ms default, covering the body too) and the single retry after
//   retryDelayMs (3000 ms default) on a timeout, a network error other than a refused
//   connection, or HTTP 502/504. HTTP 200-399 is an answer; anything else fails at once;
// * the reading: v2 `flags` or the v1 `{featureFlags, featureFlagPayloads}` shape, quota
//   limiting ("feature_flags" in quotaLimited: no flags), errorsWhileComputingFlags (flags
//   kept), a `flags` that is not a plain object or holds a null entry (failed request), payload
//   strings JSON-parsed (the raw string when that fails), and the `$feature_flag_error` codes.
//
// One deliberate choice where posthog-node's own read paths disagree, for bodies PostHog does
// not send: an entry whose `enabled` is not a boolean and that has no string `variant` is left
// out (getAllFlags drops it; getFeatureFlag would answer `true`), and `enabled: false` with a
// variant reads as `false` (getFeatureFlag; getAllFlags would give the variant). Payloads follow
// the single-flag path (getFeatureFlagResult / getFeatureFlagPayload); for a v1-shaped answer
// posthog-node's getAllFlagsAndPayloads would instead show featureFlagPayloads as parsed, falsy
// ones included.
import { fetchWithDeadline, httpError, type HttpAttempt } from "./http.js";
import { LIB_NAME, LIB_VERSION } from "./version.js";

export interface RemoteFlagsRequest {
  host: string;
  apiKey: string;
  distinctId: string;
  groups?: Record<string, string | number>;
  personProperties?: Record<string, unknown>;
  groupProperties?: Record<string, Record<string, unknown>>;
  /** Default true, as posthog-node. */
  disableGeoip?: boolean;
  /** Sent as flag_keys_to_evaluate; a single-flag call sends [key]. */
  flagKeys?: string[];
  /** Per attempt, body included. Default 3000 (posthog-node's featureFlagsRequestTimeoutMs). */
  timeoutMs?: number;
  /** Pause before the one retry. Default 3000 (posthog-node's fetchRetryDelay). */
  retryDelayMs?: number;
}

export interface RemoteFlag {
  key: string;
  /** The variant when there is one, else `enabled`. */
  value: boolean | string;
  enabled: boolean;
  variant: string | null;
  /**
   * `metadata.payload` parsed (the raw string when it is not JSON), null when there is none.
   * Given even for a disabled flag, as getFeatureFlagResult does; the bulk APIs
   * (getAllFlagsAndPayloads) only show payloads of enabled flags whose raw payload is truthy.
   */
  payload: unknown;
  /**
   * Whether posthog-node's getAllFlagsAndPayloads lists this payload: the flag is enabled and
   * its raw payload is truthy, so "null" is listed (as null) and "" is not.
   */
  listsPayload: boolean;
  /** metadata.id: `$feature_flag_id`. */
  id?: number;
  /** metadata.version: `$feature_flag_version`. */
  version?: number;
  /** reason.description ?? reason.code: `$feature_flag_reason`. */
  reason?: string;
  /** metadata.has_experiment: `$feature_flag_has_experiment`. */
  hasExperiment?: boolean;
  /** The server could not compute this flag (it then reports enabled: false). */
  failed?: boolean;
}

export type RemoteFlagsResult =
  | {
      ok: true;
      /** Only the flags the server returned: a requested key that is absent is undefined to the caller. */
      flags: Record<string, RemoteFlag>;
      requestId?: string;
      evaluatedAt?: number;
      errorsWhileComputingFlags: boolean;
      quotaLimited: boolean;
      /** The server's gate for minimal `$feature_flag_called` events; false when absent. */
      minimalFlagCalledEvents?: boolean;
    }
  | {
      ok: false;
      error: "timeout" | "network_error" | "http_error" | "invalid_response";
      message: string;
      httpStatus?: number;
    };

export const REMOTE_FLAGS_DEFAULT_TIMEOUT_MS = 3000;
export const REMOTE_FLAGS_DEFAULT_RETRY_DELAY_MS = 3000;
/** posthog-node's featureFlagsRequestMaxRetries default. */
const MAX_RETRIES = 1;

/** The exact JSON body posthog-node 5.70 sends for these inputs. */
export function remoteFlagsBody(request: RemoteFlagsRequest): Record<string, unknown> {
  const groups = request.groups ?? {};
  // Sent as given: keys starting with "$" ($device_id, $set...) stay as they are.
  const personProperties: Record<string, unknown> = { ...(request.personProperties ?? {}) };
  // Only the groups in `groups` carry properties, each with its key as $group_key (caller wins).
  const groupProperties: Record<string, Record<string, unknown>> = {};
  for (const groupType of Object.keys(groups)) {
    groupProperties[groupType] = { $group_key: groups[groupType], ...(request.groupProperties?.[groupType] || {}) };
  }
  const body: Record<string, unknown> = {
    token: request.apiKey,
    distinct_id: request.distinctId,
    groups,
    person_properties: personProperties,
    group_properties: groupProperties,
    geoip_disable: request.disableGeoip ?? true,
  };
  if (request.flagKeys) body.flag_keys_to_evaluate = request.flagKeys;
  // Copied to the top level for device bucketing, when truthy.
  if (personProperties.$device_id) body.$device_id = personProperties.$device_id;
  // posthog-node declares its runtime so the server returns `server` and `all` flags.
  body.evaluation_runtime = "server";
  return body;
}

export function remoteFlagsUrl(host: string): string {
  return `${host.trim().replace(/\/+$/, "")}/flags/?v=2`;
}

type AttemptOutcome = { result: RemoteFlagsResult; retryable: boolean };

export async function fetchRemoteFlags(request: RemoteFlagsRequest): Promise<RemoteFlagsResult> {
  const url = remoteFlagsUrl(request.host);
  const init: RequestInit = {
    method: "POST",
    headers: { "User-Agent": `${LIB_NAME}/${LIB_VERSION}`, "Content-Type": "application/json" },
    body: JSON.stringify(remoteFlagsBody(request)),
  };
  const timeoutMs = request.timeoutMs ?? REMOTE_FLAGS_DEFAULT_TIMEOUT_MS;
  const retryDelayMs = request.retryDelayMs ?? REMOTE_FLAGS_DEFAULT_RETRY_DELAY_MS;
  let outcome: AttemptOutcome | undefined;
  for (let attempt = 0; attempt <= MAX_RETRIES; attempt++) {
    if (attempt > 0) await new Promise<void>((resolve) => setTimeout(resolve, retryDelayMs));
    outcome = outcomeOf(await fetchWithDeadline(url, init, timeoutMs));
    if (!outcome.retryable) break;
  }
  return outcome!.result;
}

function outcomeOf(attempt: HttpAttempt): AttemptOutcome {
  switch (attempt.kind) {
    case "timeout":
      return { result: { ok: false, error: "timeout", message: attempt.error }, retryable: true };
    case "network_error":
      // posthog-node retries every transport failure except a refused connection.
      return {
        result: { ok: false, error: "network_error", message: attempt.error },
        retryable: !attempt.refused,
      };
    case "answered": {
      const { status, text } = attempt;
      if (status < 200 || status >= 400) {
        return {
          result: { ok: false, error: "http_error", message: httpError(status, text), httpStatus: status },
          retryable: status === 502 || status === 504,
        };
      }
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (error) {
        const message = `/flags answered ${status} with a body that is not JSON: ${(error as Error).message}`;
        return { result: { ok: false, error: "invalid_response", message }, retryable: false };
      }
      return { result: parseRemoteFlagsResponse(json), retryable: false };
    }
  }
}

const hasOwn = (object: object, key: string) => Object.prototype.hasOwnProperty.call(object, key);
const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  Object.prototype.toString.call(value) === "[object Object]";
const invalid = (message: string): RemoteFlagsResult => ({ ok: false, error: "invalid_response", message });

/** Reads a parsed /flags body (v2, or the v1 shape) as posthog-node does. */
export function parseRemoteFlagsResponse(json: unknown): RemoteFlagsResult {
  if (typeof json !== "object" || json === null) return invalid("/flags answered a body that is not an object");
  const response = json as Record<string, unknown>;

  let details: Array<[string, unknown]>;
  let rawFlags: unknown;
  if ("flags" in response) {
    rawFlags = response.flags;
    details = entriesOf(rawFlags);
    // posthog-node reads every entry's fields while normalising: a null entry fails the request.
    if (details.some(([, detail]) => detail === null || detail === undefined)) {
      return invalid("/flags answered a null flag entry");
    }
  } else {
    // v1: {featureFlags: {key: value}, featureFlagPayloads: {key: payload}}.
    const values = response.featureFlags ?? {};
    const payloads = response.featureFlagPayloads || {};
    details = entriesOf(values).map(([key, value]) => [key, v1Detail(value, ownValue(payloads, key))]);
    rawFlags = {};
  }

  const quota = response.quotaLimited;
  let quotaLimited = false;
  if (quota !== undefined && quota !== null) {
    if (!Array.isArray(quota) && typeof quota !== "string") return invalid("/flags answered a malformed quotaLimited");
    quotaLimited = quota.includes("feature_flags");
  }
  const requestId = typeof response.requestId === "string" ? response.requestId : undefined;
  if (quotaLimited) {
    // No flags at all; posthog-node keeps only the request id from such an answer.
    return {
      ok: true,
      flags: {},
      ...(requestId !== undefined && { requestId }),
      errorsWhileComputingFlags: false,
      quotaLimited: true,
      minimalFlagCalledEvents: false,
    };
  }
  if (!isPlainObject(rawFlags)) return invalid("/flags answered a `flags` field that is not an object");

  const flags: Array<[string, RemoteFlag]> = [];
  for (const [key, detail] of details) {
    const flag = readDetail(key, detail);
    if (flag !== undefined) flags.push([key, flag]);
  }
  return {
    ok: true,
    // fromEntries defines own properties, so a key such as "__proto__" is kept as data.
    flags: Object.fromEntries(flags),
    ...(requestId !== undefined && { requestId }),
    ...(typeof response.evaluatedAt === "number" && { evaluatedAt: response.evaluatedAt }),
    errorsWhileComputingFlags: Boolean(response.errorsWhileComputingFlags),
    quotaLimited: false,
    minimalFlagCalledEvents: response.minimalFlagCalledEvents === true,
  };
}

/** Object.entries as posthog-node applies it: null/undefined read as {}. */
function entriesOf(value: unknown): Array<[string, unknown]> {
  if (value === null || value === undefined) return [];
  return Object.entries(value as object);
}

function ownValue(object: unknown, key: string): unknown {
  return typeof object === "object" && object !== null && hasOwn(object, key)
    ? (object as Record<string, unknown>)[key]
    : undefined;
}

/** A v1 value and payload as the v2 detail posthog-node builds from them. */
function v1Detail(value: unknown, rawPayload: unknown): Record<string, unknown> {
  // The payload is parsed, then re-encoded only when the parsed value is truthy.
  const parsed = parsePayload(rawPayload);
  return {
    enabled: typeof value === "string" ? true : value,
    variant: typeof value === "string" ? value : undefined,
    metadata: { payload: parsed ? JSON.stringify(parsed) : undefined },
  };
}

function readDetail(key: string, detail: unknown): RemoteFlag | undefined {
  const d = typeof detail === "object" && detail !== null ? (detail as Record<string, unknown>) : {};
  const variant = typeof d.variant === "string" ? d.variant : null;
  if (typeof d.enabled !== "boolean" && variant === null) return undefined;
  const enabled = d.enabled !== false;
  const metadata = typeof d.metadata === "object" && d.metadata !== null ? (d.metadata as Record<string, unknown>) : {};
  const reason = typeof d.reason === "object" && d.reason !== null ? (d.reason as Record<string, unknown>) : {};
  const reasonText = reason.description ?? reason.code;
  return {
    key,
    value: enabled ? (variant ?? true) : false,
    enabled,
    variant: enabled ? variant : null,
    payload: metadata.payload === undefined ? null : parsePayload(metadata.payload),
    listsPayload: d.enabled === true && Boolean(metadata.payload),
    ...(typeof metadata.id === "number" && { id: metadata.id }),
    ...(typeof metadata.version === "number" && { version: metadata.version }),
    ...(typeof reasonText === "string" && { reason: reasonText }),
    ...(typeof metadata.has_experiment === "boolean" && { hasExperiment: metadata.has_experiment }),
    ...(d.failed === true && { failed: true }),
  };
}

/** JSON-parse a payload string; a string that is not JSON, or any other value, is returned as is. */
export function parsePayload(raw: unknown): unknown {
  if (typeof raw !== "string") return raw;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}

/**
 * posthog-node's `$feature_flag_error` for a remote result and a requested key: comma-joined
 * errors_while_computing_flags, quota_limited, flag_missing, or unknown_error for a failed
 * request; undefined when there is nothing to report.
 */
export function remoteFlagError(result: RemoteFlagsResult, key: string): string | undefined {
  if (!result.ok) return "unknown_error";
  const errors: string[] = [];
  if (result.errorsWhileComputingFlags) errors.push("errors_while_computing_flags");
  if (result.quotaLimited) errors.push("quota_limited");
  if (!hasOwn(result.flags, key)) errors.push("flag_missing");
  return errors.length > 0 ? errors.join(",") : undefined;
}
