// One HTTP attempt at PostHog's /batch/ endpoint, and what its outcome means for the events.
// Runs inside Convex actions: fetch, AbortController and setTimeout only; gzip via fflate
// because the Convex runtime has no CompressionStream.
import { gzipSync, strToU8 } from "fflate";
import { fetchWithDeadline, httpError } from "./http.js";
import { LIB_NAME, LIB_VERSION } from "./version.js";

export type BatchOutcome =
  | { kind: "delivered"; httpStatus: number }
  /** Worth trying again later: network error, timeout, 408, 429, 5xx. */
  | { kind: "retry"; httpStatus?: number; error: string; retryAfterMs?: number }
  /** 413: the batch must be split (or, for one event, it can never be accepted). */
  | { kind: "too_large"; httpStatus: number; error: string }
  /** Any other answer: PostHog will never accept these events as they are. */
  | { kind: "rejected"; httpStatus: number; error: string };

export interface BatchRequest {
  host: string;
  apiKey: string;
  /** Messages already encoded as JSON text. */
  messages: string[];
  timeoutMs: number;
}

/** The /batch/ body, assembled from stored JSON text without re-parsing it. */
export function batchBody(apiKey: string, messages: string[], sentAt: Date): string {
  return `{"api_key":${JSON.stringify(apiKey)},"batch":[${messages.join(",")}],"sent_at":${JSON.stringify(sentAt.toISOString())}}`;
}

export async function postBatch(request: BatchRequest): Promise<BatchOutcome> {
  const body = gzipSync(strToU8(batchBody(request.apiKey, request.messages, new Date())));
  const attempt = await fetchWithDeadline(
    `${request.host}/batch/`,
    {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        "Content-Encoding": "gzip",
        "User-Agent": `${LIB_NAME}/${LIB_VERSION}`,
      },
      body,
    },
    request.timeoutMs,
  );
  if (attempt.kind !== "answered") return { kind: "retry", error: attempt.error };
  return classifyResponse(attempt.status, attempt.text, attempt.headers.get("Retry-After"));
}

export function classifyResponse(status: number, body: string, retryAfter: string | null): BatchOutcome {
  if (status >= 200 && status < 300) return { kind: "delivered", httpStatus: status };
  const error = httpError(status, body);
  if (status === 413) return { kind: "too_large", httpStatus: status, error };
  if (status === 408 || status === 429 || status >= 500) {
    return { kind: "retry", httpStatus: status, error, retryAfterMs: parseRetryAfter(retryAfter, Date.now()) };
  }
  return { kind: "rejected", httpStatus: status, error };
}

/** Retry-After is either delay-seconds or an HTTP date. */
export function parseRetryAfter(header: string | null, now: number): number | undefined {
  if (!header) return undefined;
  const trimmed = header.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
