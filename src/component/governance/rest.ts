// PostHog's private REST API, for the governance actions (sync, release tracker, guardian).
//
// It lives on PostHog's app host (us.posthog.com), not the ingestion host events go to, and
// needs a personal API key with the right scopes. The key reaches these functions only as an
// action argument (AdminTarget): it is never stored, logged, scheduled or put in an error.
// Every answer is a value, never an exception: callers turn refusals (403 scope, 409 approval,
// 400 dependants, 429) into findings and outcomes instead of losing them.
import { v } from "convex/values";
import type { PostHogExperiment, PostHogFlag } from "../../core/governance/posthogRest.js";
import { parseRetryAfter } from "../../core/batchTransport.js";
import { fetchWithDeadline } from "../../core/http.js";

export const vAdminTarget = v.object({
  appHost: v.string(),
  projectId: v.string(),
  environmentId: v.string(),
  apiKey: v.string(),
});

export interface AdminTarget {
  /** PostHog's app host, e.g. https://us.posthog.com. */
  appHost: string;
  /** Flags and experiments are per project... */
  projectId: string;
  /** ...queries per environment (the same id for a project's first environment). */
  environmentId: string;
  /** A personal API key (phx_...) with feature_flag:write (sync, enforcement), query:read, experiment:read. */
  apiKey: string;
}

export type RestFailureKind =
  | "unauthorized"
  | "forbidden"
  | "payment_required"
  | "not_found"
  | "approval_required"
  | "change_request_pending"
  | "conflict"
  | "bad_request"
  | "rate_limited"
  | "server_error"
  | "network";

export interface RestFailure {
  kind: RestFailureKind;
  status?: number;
  /** PostHog's error `code` (e.g. "unique", "approval_required", "throttled"). */
  code?: string;
  /** PostHog's `detail` or `message`, or what went wrong on the way. */
  detail: string;
  /** The parsed error body (a 409's change_request_id, a 400's attr...). */
  body?: unknown;
  retryAfterMs?: number;
}

export type RestResult<T> = { ok: true; status: number; data: T } | { ok: false; failure: RestFailure };

export interface RequestOptions {
  /** Retry a 429 (at most 3 times, honouring Retry-After up to 30 s). Default true; the guardian's query skips instead. */
  retryRateLimited?: boolean;
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const MAX_RATE_LIMIT_RETRIES = 3;
const MAX_RETRY_WAIT_MS = 30_000;
const MAX_SERVER_RETRIES = 2;
/** A project with more flags than this many pages is not listed further (a loop guard). */
const MAX_PAGES = 1_000;

/** One request to the app host, with the retries PostHog's throttles and hiccups call for. */
export async function adminRequest<T>(
  target: AdminTarget,
  method: "GET" | "POST" | "PATCH",
  pathOrUrl: string,
  body?: unknown,
  options: RequestOptions = {},
): Promise<RestResult<T>> {
  const url = pathOrUrl.startsWith("/") ? `${trimHost(target.appHost)}${pathOrUrl}` : pathOrUrl;
  const init: RequestInit = {
    method,
    headers: {
      Authorization: `Bearer ${target.apiKey}`,
      ...(body !== undefined ? { "Content-Type": "application/json" } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  };
  let rateLimited = 0;
  let serverErrors = 0;
  for (;;) {
    const attempt = await fetchWithDeadline(url, init, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    if (attempt.kind !== "answered") {
      if (serverErrors < MAX_SERVER_RETRIES) {
        await sleep(backoffMs(serverErrors++));
        continue;
      }
      return { ok: false, failure: { kind: "network", detail: attempt.error } };
    }
    const parsed = parseJson(attempt.text);
    if (attempt.status >= 200 && attempt.status < 300) return { ok: true, status: attempt.status, data: parsed as T };
    const failure = toFailure(attempt.status, parsed, attempt.text, attempt.headers);
    if (failure.kind === "rate_limited" && options.retryRateLimited !== false && rateLimited < MAX_RATE_LIMIT_RETRIES) {
      await sleep(Math.min(failure.retryAfterMs ?? backoffMs(rateLimited), MAX_RETRY_WAIT_MS));
      rateLimited++;
      continue;
    }
    if (failure.kind === "server_error" && serverErrors < MAX_SERVER_RETRIES) {
      await sleep(backoffMs(serverErrors++));
      continue;
    }
    return { ok: false, failure };
  }
}

/**
 * Every flag of the project (PostHog leaves deleted ones out), following `next` page by page;
 * with `search`, only those whose key, name or experiment name contains it.
 */
export async function listAllFlags(target: AdminTarget, options: { search?: string } = {}): Promise<RestResult<PostHogFlag[]>> {
  const search = options.search !== undefined ? `&search=${encodeURIComponent(options.search)}` : "";
  return await listAll<PostHogFlag>(target, `/api/projects/${encodeURIComponent(target.projectId)}/feature_flags/?limit=100${search}`);
}

/** Every experiment of the project (needs experiment:read). */
export async function listExperiments(target: AdminTarget): Promise<RestResult<PostHogExperiment[]>> {
  return await listAll<PostHogExperiment>(target, `/api/projects/${encodeURIComponent(target.projectId)}/experiments/?limit=100`);
}

export async function createFlag(target: AdminTarget, body: Record<string, unknown>): Promise<RestResult<PostHogFlag>> {
  return await adminRequest<PostHogFlag>(target, "POST", `${flagsPath(target)}`, body);
}

export async function patchFlag(
  target: AdminTarget,
  flagId: number,
  patch: Record<string, unknown>,
): Promise<RestResult<PostHogFlag>> {
  return await adminRequest<PostHogFlag>(target, "PATCH", `${flagsPath(target)}${flagId}/`, patch);
}

/** The flags that depend on this one: why PostHog refuses to disable it. */
export async function getDependentFlags(
  target: AdminTarget,
  flagId: number,
): Promise<RestResult<{ id: number; key: string; name?: string | null }[]>> {
  return await adminRequest(target, "GET", `${flagsPath(target)}${flagId}/dependent_flags/`);
}

export interface HogQLResponse {
  results: unknown[][];
  columns?: string[];
  types?: unknown[];
}

/**
 * One HogQL query, always computed (`force_blocking`: cached answers would hide the last
 * minutes). Values fill `{placeholders}`; nothing is interpolated into the text. A 429 is
 * answered at once (the caller skips the run) rather than retried against the hourly budget.
 */
export async function runHogQL(
  target: AdminTarget,
  query: string,
  values: Record<string, unknown>,
): Promise<RestResult<HogQLResponse>> {
  return await adminRequest<HogQLResponse>(
    target,
    "POST",
    `/api/environments/${encodeURIComponent(target.environmentId)}/query/`,
    { query: { kind: "HogQLQuery", query, values }, name: "convex-posthog guardian", refresh: "force_blocking" },
    { retryRateLimited: false },
  );
}

/** A short text for findings and errors: what failed, never the key. */
export function describeFailure(failure: RestFailure): string {
  const status = failure.status !== undefined ? `HTTP ${failure.status} ` : "";
  return `${status}${failure.kind}${failure.code ? ` (${failure.code})` : ""}: ${failure.detail}`;
}

function flagsPath(target: AdminTarget): string {
  return `/api/projects/${encodeURIComponent(target.projectId)}/feature_flags/`;
}

async function listAll<T>(target: AdminTarget, firstPath: string): Promise<RestResult<T[]>> {
  const origin = new URL(trimHost(target.appHost)).origin;
  const items: T[] = [];
  let next: string | null = firstPath;
  for (let page = 0; next !== null; page++) {
    if (page >= MAX_PAGES) return { ok: false, failure: { kind: "bad_request", detail: `more than ${MAX_PAGES} pages` } };
    // `next` is an absolute URL; the key goes only to the app host it was configured for.
    if (!next.startsWith("/") && new URL(next).origin !== origin) {
      return { ok: false, failure: { kind: "bad_request", detail: `refusing to follow "next" to another host: ${new URL(next).origin}` } };
    }
    const answer: RestResult<{ results?: T[]; next?: string | null }> = await adminRequest(target, "GET", next);
    if (!answer.ok) return answer;
    items.push(...(answer.data.results ?? []));
    next = answer.data.next ?? null;
  }
  return { ok: true, status: 200, data: items };
}

function toFailure(status: number, parsed: unknown, text: string, headers: Headers): RestFailure {
  const record = typeof parsed === "object" && parsed !== null ? (parsed as Record<string, unknown>) : {};
  const code = typeof record.code === "string" ? record.code : undefined;
  const detail =
    typeof record.detail === "string" ? record.detail : typeof record.message === "string" ? record.message : text.slice(0, 300);
  const base = { status, detail, body: parsed, ...(code !== undefined ? { code } : {}) };
  if (status === 401) return { kind: "unauthorized", ...base };
  if (status === 402) return { kind: "payment_required", ...base };
  if (status === 403) return { kind: "forbidden", ...base };
  if (status === 404) return { kind: "not_found", ...base };
  if (status === 409) {
    const kind = code === "approval_required" ? "approval_required" : code === "change_request_pending" ? "change_request_pending" : "conflict";
    return { kind, ...base };
  }
  if (status === 429) return { kind: "rate_limited", ...base, ...retryAfter(headers) };
  if (status >= 500) return { kind: "server_error", ...base };
  return { kind: "bad_request", ...base };
}

function retryAfter(headers: Headers): { retryAfterMs?: number } {
  const retryAfterMs = parseRetryAfter(headers.get("retry-after"), Date.now());
  return retryAfterMs !== undefined ? { retryAfterMs } : {};
}

function parseJson(text: string): unknown {
  try {
    return text === "" ? null : JSON.parse(text);
  } catch {
    return text;
  }
}

function backoffMs(attempt: number): number {
  return Math.min(500 * 2 ** attempt, MAX_RETRY_WAIT_MS);
}

function trimHost(host: string): string {
  return host.trim().replace(/\/+$/, "");
}

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}
