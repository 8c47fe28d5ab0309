// One HTTP attempt with a deadline that covers the body too, for code running in Convex
// actions (fetch, AbortController and setTimeout only).

export type HttpAttempt =
  | {
      kind: "answered";
      status: number;
      /** The body as text; with `bytes: true`, only for a non-2xx answer (a 2xx body is in `bytes`). */
      text: string;
      /** With `bytes: true`: the body as bytes, never decoded as a whole (large answers are split first). */
      bytes?: Uint8Array;
      headers: Headers;
    }
  | { kind: "timeout"; error: string }
  | { kind: "network_error"; error: string; refused: boolean };

export async function fetchWithDeadline(
  url: string,
  init: RequestInit,
  timeoutMs: number,
  options: { bytes?: boolean } = {},
): Promise<HttpAttempt> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  try {
    const response = await fetch(url, { ...init, signal: controller.signal });
    // Read the body under the same deadline so a server that stalls mid-answer times out too.
    if (!options.bytes) return { kind: "answered", status: response.status, text: await response.text(), headers: response.headers };
    const bytes = new Uint8Array(await response.arrayBuffer());
    const text = response.ok ? "" : new TextDecoder().decode(bytes);
    return { kind: "answered", status: response.status, text, bytes, headers: response.headers };
  } catch (error) {
    if (controller.signal.aborted) return { kind: "timeout", error: `timed out after ${timeoutMs} ms` };
    const description = describeError(error);
    return { kind: "network_error", error: `network error: ${description}`, refused: isConnectionRefused(description) };
  } finally {
    clearTimeout(timer);
  }
}

/** fetch's own message is often just "fetch failed"; the cause says what happened. */
function describeError(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause;
    return cause instanceof Error ? `${error.message} (${cause.message})` : error.message;
  }
  return String(error);
}

/**
 * Whether fetch failed because nothing listens at the address. Node's fetch says
 * `ECONNREFUSED` (in its cause); the Convex runtime's fetch (Rust, reqwest) throws an Error
 * whose message is the error chain, e.g. "error sending request for url (...): client error
 * (Connect): tcp connect error: Connection refused (os error 111)"; Windows words it
 * "actively refused".
 */
export function isConnectionRefused(description: string): boolean {
  return /ECONNREFUSED|connection refused|actively refused/i.test(description);
}

/** The start of an error body, enough to say what PostHog objected to. */
export function httpError(status: number, text: string): string {
  return `HTTP ${status}${text ? `: ${text.slice(0, 300)}` : ""}`;
}

/** Retry-After is honoured up to this long. */
const MAX_RETRY_AFTER_MS = 60 * 60_000;

/**
 * The wait before a retry: exponential backoff from `retryInitialDelayMs` to `retryMaxDelayMs`,
 * with jitter (0 to 1) on the upper half; a Retry-After (up to an hour) is a floor. Shared by
 * event delivery and the alert outbox.
 */
export function retryDelay(
  attempts: number,
  retryAfterMs: number | undefined,
  backoff: { retryInitialDelayMs: number; retryMaxDelayMs: number },
  jitter: number = Math.random(),
): number {
  const exponential = Math.min(backoff.retryMaxDelayMs, backoff.retryInitialDelayMs * 2 ** Math.min(attempts - 1, 30));
  const jittered = exponential / 2 + jitter * (exponential / 2);
  return Math.max(jittered, Math.min(retryAfterMs ?? 0, MAX_RETRY_AFTER_MS));
}
