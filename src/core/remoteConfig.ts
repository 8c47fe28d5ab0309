// posthog-node's getRemoteConfigPayload: the payload of a remote config flag, from
// GET {host}/api/projects/@current/feature_flags/{key}/remote_config. Runs in a Convex action.
import { fetchWithDeadline } from "./http.js";
import { LIB_NAME, LIB_VERSION } from "./version.js";

export interface RemoteConfigRequest {
  host: string;
  apiKey: string;
  personalApiKey: string;
  key: string;
  /** posthog-node's requestTimeout default. */
  timeoutMs?: number;
}

export const REMOTE_CONFIG_DEFAULT_TIMEOUT_MS = 10_000;

export function remoteConfigUrl(host: string, key: string, apiKey: string): string {
  const base = host.trim().replace(/\/+$/, "");
  return `${base}/api/projects/@current/feature_flags/${encodeURIComponent(key)}/remote_config?token=${encodeURIComponent(apiKey)}`;
}

/**
 * The payload, or undefined when PostHog could not be reached or did not answer 2xx
 * (posthog-node would hand back a parsed error body as if it were the payload).
 */
export async function fetchRemoteConfigPayload(request: RemoteConfigRequest): Promise<unknown> {
  const attempt = await fetchWithDeadline(
    remoteConfigUrl(request.host, request.key, request.apiKey),
    {
      method: "GET",
      headers: {
        "User-Agent": `${LIB_NAME}/${LIB_VERSION}`,
        "Content-Type": "application/json",
        Authorization: `Bearer ${request.personalApiKey}`,
      },
    },
    request.timeoutMs ?? REMOTE_CONFIG_DEFAULT_TIMEOUT_MS,
  );
  if (attempt.kind !== "answered" || attempt.status < 200 || attempt.status >= 300) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(attempt.text);
  } catch {
    return undefined;
  }
  // The stored payload is JSON text, so the answer is JSON of JSON: decode twice when it can be.
  if (typeof parsed !== "string") return parsed;
  try {
    return JSON.parse(parsed) as unknown;
  } catch {
    return parsed;
  }
}
