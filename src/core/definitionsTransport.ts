// Fetching local-evaluation definitions from PostHog's /flags/definitions, and what each
// answer means. Runs in a Convex action: fetch, AbortController and setTimeout only.
import { sha1Hex } from "./digest.js";
import { fetchWithDeadline, httpError } from "./http.js";
import { LIB_NAME, LIB_VERSION } from "./version.js";

export interface DefinitionsRequest {
  host: string;
  apiKey: string;
  personalApiKey: string;
  etag?: string;
  timeoutMs: number;
}

/** One stored definition: its name (flag key or cohort id), JSON text and content hash. */
export interface DefinitionRow {
  name: string;
  definition: string;
  hash: string;
}

export interface Definitions {
  flags: DefinitionRow[];
  cohorts: DefinitionRow[];
  groupTypeMapping: Record<string, string>;
  propertyMatchingVersion?: number;
  minimalFlagCalledEvents?: boolean;
}

export type RefreshFailure =
  | "unauthorized" // 401
  | "forbidden" // 403
  | "rate_limited" // 429
  | "server_error" // 5xx, including 503 "Required data not found in cache"
  | "http_error" // any other unexpected status
  | "timeout"
  | "network_error"
  | "invalid_response"; // a 200 whose body is not definitions

export type DefinitionsOutcome =
  | { kind: "not_modified"; etag?: string }
  | { kind: "ok"; definitions: Definitions; etag?: string }
  | { kind: "quota_limited"; httpStatus: 402; error: string }
  | { kind: "failed"; failure: RefreshFailure; httpStatus?: number; error: string };

export async function fetchDefinitions(request: DefinitionsRequest): Promise<DefinitionsOutcome> {
  const headers: Record<string, string> = {
    "Content-Type": "application/json",
    Authorization: `Bearer ${request.personalApiKey}`,
    "User-Agent": `${LIB_NAME}/${LIB_VERSION}`,
  };
  if (request.etag) headers["If-None-Match"] = request.etag;
  const url = `${request.host}/flags/definitions?token=${request.apiKey}&send_cohorts`;
  const attempt = await fetchWithDeadline(url, { headers }, request.timeoutMs);
  if (attempt.kind !== "answered") return { kind: "failed", failure: attempt.kind, error: attempt.error };
  const etag = attempt.headers.get("ETag") ?? undefined;
  if (attempt.status === 304) return { kind: "not_modified", etag };
  if (attempt.status === 200) return parseDefinitions(attempt.text, etag);
  const error = httpError(attempt.status, attempt.text);
  if (attempt.status === 402) return { kind: "quota_limited", httpStatus: 402, error };
  return { kind: "failed", failure: failureOf(attempt.status), httpStatus: attempt.status, error };
}

function failureOf(status: number): RefreshFailure {
  if (status === 401) return "unauthorized";
  if (status === 403) return "forbidden";
  if (status === 429) return "rate_limited";
  if (status >= 500) return "server_error";
  return "http_error";
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** Check the shape posthog-node relies on; anything else keeps the last good definitions. */
export function parseDefinitions(text: string, etag?: string): DefinitionsOutcome {
  const invalid = (why: string): DefinitionsOutcome => ({
    kind: "failed",
    failure: "invalid_response",
    httpStatus: 200,
    error: `invalid definitions response: ${why}`,
  });
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return invalid("not JSON");
  }
  if (!isObject(body)) return invalid("not a JSON object");
  if (!Array.isArray(body.flags)) return invalid("no flags array");
  const flags = new Map<string, DefinitionRow>();
  for (const [index, flag] of body.flags.entries()) {
    if (!isObject(flag) || typeof flag.key !== "string" || flag.key === "") {
      return invalid(`flags[${index}] has no key`);
    }
    const definition = JSON.stringify(flag);
    flags.set(flag.key, { name: flag.key, definition, hash: sha1Hex(definition) });
  }
  const cohortsBody = body.cohorts ?? {};
  if (!isObject(cohortsBody)) return invalid("cohorts is not an object");
  const cohorts: DefinitionRow[] = Object.entries(cohortsBody).map(([id, group]) => {
    const definition = JSON.stringify(group ?? {});
    return { name: id, definition, hash: sha1Hex(definition) };
  });
  const mapping = body.group_type_mapping ?? {};
  if (!isObject(mapping)) return invalid("group_type_mapping is not an object");
  const groupTypeMapping: Record<string, string> = {};
  for (const [index, name] of Object.entries(mapping)) {
    if (typeof name === "string") groupTypeMapping[index] = name;
  }
  const version = body.property_matching_version;
  return {
    kind: "ok",
    etag,
    definitions: {
      flags: [...flags.values()],
      cohorts,
      groupTypeMapping,
      ...(typeof version === "number" ? { propertyMatchingVersion: version } : {}),
      // posthog-node reads either spelling, the snake_case one first.
      ...((body.minimal_flag_called_events ?? body.minimalFlagCalledEvents) !== undefined
        ? { minimalFlagCalledEvents: (body.minimal_flag_called_events ?? body.minimalFlagCalledEvents) === true }
        : {}),
    },
  };
}
