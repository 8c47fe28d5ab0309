// Fetching local-evaluation definitions from PostHog's /flags/definitions, and what each
// answer means. Runs in a Convex action: fetch, AbortController and setTimeout only.
import { sha1HexOfBytes } from "./digest.js";
import { evaluationForm, type FlagDefinition } from "./flags/index.js";
import { fetchWithDeadline, httpError } from "./http.js";
import { arrayElements, documentSpan, JsonScanError, objectMembers, spanText, type JsonSpan } from "./jsonParts.js";
import { LIB_NAME, LIB_VERSION } from "./version.js";

export interface DefinitionsRequest {
  host: string;
  apiKey: string;
  personalApiKey: string;
  etag?: string;
  timeoutMs: number;
}

/**
 * One definition of the answer: its name (flag key or cohort id), where its JSON lies in the
 * answer, and the size and hash of the form that is stored (`storedDefinition`).
 */
export interface DefinitionPart {
  name: string;
  span: JsonSpan;
  /** UTF-8 bytes of the stored form. */
  bytes: number;
  hash: string;
}

export interface Definitions {
  /** The answer as bytes: definitions are decoded from it one at a time, when they are written. */
  body: Uint8Array;
  flags: DefinitionPart[];
  cohorts: DefinitionPart[];
  groupTypeMapping: Record<string, string>;
  propertyMatchingVersion?: number;
  minimalFlagCalledEvents?: boolean;
}

/** No definitions at all (a 402). */
export const NO_DEFINITIONS: Definitions = { body: new Uint8Array(0), flags: [], cohorts: [], groupTypeMapping: {} };

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
  const attempt = await fetchWithDeadline(url, { headers }, request.timeoutMs, { bytes: true });
  if (attempt.kind !== "answered") return { kind: "failed", failure: attempt.kind, error: attempt.error };
  const etag = attempt.headers.get("ETag") ?? undefined;
  if (attempt.status === 304) return { kind: "not_modified", etag };
  if (attempt.status === 200) return parseDefinitions(attempt.bytes!, etag);
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

const utf8 = new TextEncoder();

/** What is stored of a definition: a flag's evaluation form, a cohort as sent (null as {}). */
function storedForm(kind: "flag" | "cohort", value: unknown): string {
  return JSON.stringify(kind === "flag" ? evaluationForm(value as FlagDefinition) : (value ?? {}));
}

/** The stored form of one definition of the answer (decoded from the answer's bytes again). */
export function storedDefinition(definitions: Definitions, kind: "flag" | "cohort", part: DefinitionPart): string {
  return storedForm(kind, JSON.parse(spanText(definitions.body, part.span)));
}

function partOf(kind: "flag" | "cohort", name: string, span: JsonSpan, value: unknown): DefinitionPart {
  const stored = utf8.encode(storedForm(kind, value));
  return { name, span, bytes: stored.length, hash: sha1HexOfBytes(stored) };
}

class InvalidDefinitions extends Error {}

/**
 * Check the shape posthog-node relies on; anything else keeps the last good definitions.
 * The answer is split into its definitions and each is parsed alone (and dropped): the whole
 * tree of a 15 MB answer would take most of an action's 64 MiB heap.
 */
export function parseDefinitions(body: Uint8Array, etag?: string): DefinitionsOutcome {
  try {
    return { kind: "ok", etag, definitions: splitDefinitions(body) };
  } catch (error) {
    const why = error instanceof InvalidDefinitions ? error.message : error instanceof JsonScanError || error instanceof SyntaxError ? "not JSON" : undefined;
    if (why === undefined) throw error;
    return { kind: "failed", failure: "invalid_response", httpStatus: 200, error: `invalid definitions response: ${why}` };
  }
}

function splitDefinitions(body: Uint8Array): Definitions {
  const whole = documentSpan(body);
  if (body[whole.start] !== 0x7b) {
    JSON.parse(spanText(body, whole)); // a non-JSON scalar is "not JSON"
    throw new InvalidDefinitions("not a JSON object");
  }
  // As JSON.parse: a repeated member name, the last wins.
  const members = new Map(objectMembers(body, whole).map(({ name, value }) => [name, value]));
  const small = (name: string): unknown => {
    const span = members.get(name);
    return span === undefined ? undefined : JSON.parse(spanText(body, span));
  };
  // Members this does not use are still checked, so a malformed answer is refused as a whole.
  for (const name of members.keys()) if (name !== "flags" && name !== "cohorts") small(name);

  const flagsSpan = members.get("flags");
  if (flagsSpan === undefined || body[flagsSpan.start] !== 0x5b) {
    if (flagsSpan !== undefined) small("flags");
    throw new InvalidDefinitions("no flags array");
  }
  const flags = new Map<string, DefinitionPart>();
  for (const [index, span] of arrayElements(body, flagsSpan).entries()) {
    const flag = JSON.parse(spanText(body, span)) as unknown;
    if (!isObject(flag) || typeof flag.key !== "string" || flag.key === "") throw new InvalidDefinitions(`flags[${index}] has no key`);
    flags.set(flag.key, partOf("flag", flag.key, span, flag)); // a repeated key: the last wins, as posthog-node
  }

  const cohortsSpan = members.get("cohorts");
  const cohorts: DefinitionPart[] = [];
  if (cohortsSpan !== undefined && body[cohortsSpan.start] === 0x7b) {
    const byId = new Map<string, DefinitionPart>();
    for (const { name, value } of objectMembers(body, cohortsSpan)) byId.set(name, partOf("cohort", name, value, JSON.parse(spanText(body, value))));
    cohorts.push(...byId.values());
  } else if (cohortsSpan !== undefined && small("cohorts") !== null) {
    throw new InvalidDefinitions("cohorts is not an object");
  }

  const mapping = small("group_type_mapping") ?? {};
  if (!isObject(mapping)) throw new InvalidDefinitions("group_type_mapping is not an object");
  const groupTypeMapping: Record<string, string> = {};
  for (const [index, name] of Object.entries(mapping)) {
    if (typeof name === "string") groupTypeMapping[index] = name;
  }
  const version = small("property_matching_version");
  // posthog-node reads either spelling, the snake_case one first.
  const minimal = small("minimal_flag_called_events") ?? small("minimalFlagCalledEvents");
  return {
    body,
    flags: [...flags.values()],
    cohorts,
    groupTypeMapping,
    ...(typeof version === "number" ? { propertyMatchingVersion: version } : {}),
    ...(typeof minimal === "boolean" ? { minimalFlagCalledEvents: minimal } : {}),
  };
}
