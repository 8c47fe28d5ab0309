// `$feature_flag_called`: when a flag read counts as an exposure, which exposures are the
// same (posthog-node's dedup key), and the properties posthog-node sends with one.
import { sha1Hex } from "./digest.js";
import type { FlagValue } from "./flags/index.js";

/**
 * posthog-node reports each `<flag>_<response>[_<sorted groups JSON>]` once per distinct id;
 * this is that identity, hashed to a fixed-size storage key.
 */
export function exposureDedupKey(
  distinctId: string,
  key: string,
  response: FlagValue | undefined,
  groups: Record<string, string | number> | undefined,
): string {
  const entries = Object.entries(groups ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const groupSuffix = entries.length > 0 ? `_${JSON.stringify(entries)}` : "";
  return sha1Hex(`${distinctId}\n${key}_${String(response)}${groupSuffix}`);
}

export interface ExposureFacts {
  key: string;
  /** The flag's value; undefined when it could not be decided. */
  response: FlagValue | undefined;
  locallyEvaluated: boolean;
  flagId?: number;
  flagVersion?: number;
  reason?: string;
  hasExperiment?: boolean;
  requestId?: string;
  /** Epoch ms: now for local results, the response's evaluatedAt for remote ones. */
  evaluatedAt?: number;
  /** Comma-joined error codes, as posthog-node's `$feature_flag_error`. */
  error?: string;
  /**
   * PostHog's gate for minimal `$feature_flag_called` events, from the /flags answer of the
   * read when there was one, else from the stored definitions (posthog-node's last writer).
   */
  minimalGate?: boolean;
}

/** posthog-node sends the minimal event when the gate is on and the flag has no experiment. */
export function isMinimalExposure(facts: ExposureFacts): boolean {
  return facts.minimalGate === true && facts.hasExperiment === false;
}

/** The properties of a `$feature_flag_called` event (undefined values vanish in JSON). */
export function flagCalledProperties(facts: ExposureFacts): Record<string, unknown> {
  const properties: Record<string, unknown> = {
    $feature_flag: facts.key,
    $feature_flag_response: facts.response,
    $feature_flag_id: facts.flagId,
    $feature_flag_version: facts.flagVersion,
    $feature_flag_reason: facts.reason,
    locally_evaluated: facts.locallyEvaluated,
    [`$feature/${facts.key}`]: facts.response,
    $feature_flag_request_id: facts.requestId,
    $feature_flag_evaluated_at: facts.evaluatedAt,
  };
  if (facts.hasExperiment !== undefined) properties.$feature_flag_has_experiment = facts.hasExperiment;
  if (facts.error) properties.$feature_flag_error = facts.error;
  // A minimal event keeps only posthog-node's allowlist: of these, `$feature/<key>` goes.
  if (isMinimalExposure(facts)) delete properties[`$feature/${facts.key}`];
  // Drop undefined entries here so property order and JSON agree with what is sent.
  for (const [name, value] of Object.entries(properties)) if (value === undefined) delete properties[name];
  return properties;
}

/** `$feature/<key>` for every flag and the sorted keys of enabled ones, as posthog-node attaches them. */
export function flagProperties(values: Record<string, FlagValue>): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  const active: string[] = [];
  for (const [key, value] of Object.entries(values)) {
    properties[`$feature/${key}`] = value;
    if (value !== false) active.push(key);
  }
  if (active.length > 0) properties.$active_feature_flags = active.sort();
  return properties;
}
