// Flag results as the client hands them to apps, and the facts an exposure event carries.
import type { ExposureFacts } from "../core/exposures.js";
import type { FlagResult, FlagValue } from "../core/flags/index.js";
import { remoteFlagError, type RemoteFlagsResult } from "../core/remoteFlags.js";

import type { JsonType } from "../core/json.js";
export type { JsonType };

/** Why a flag has the value it has, or why it has none. */
export type FlagReason =
  | "evaluated_locally"
  /** Decided by PostHog's /flags endpoint (remote evaluation, or an action's fallback). */
  | "evaluated_remotely"
  /** PostHog's /flags answer did not include the flag. */
  | "flag_missing"
  /** PostHog's /flags endpoint could not be reached or failed (timeout, network, 5xx...). */
  | "remote_error"
  /** No definitions stored yet: refreshFlagDefinitions has not succeeded. */
  | "definitions_not_loaded"
  /** PostHog answered 402 to the last refresh: no flag is evaluated locally. */
  | "quota_limited"
  /** The client was created with `disabled: true`: nothing is evaluated, as posthog-node. */
  | "disabled"
  /** No project API key: remote evaluation (which needs one) was not attempted. */
  | "not_configured"
  | "unknown_flag"
  /** Local evaluation could not decide a flag it has (see UNRESOLVED_FLAG_REASONS). */
  | UnresolvedFlagReason
  /** Set by overrideFeatureFlags. */
  | "overridden"
  /** Killed by disableFlagLocally: false at once, whatever the definition or PostHog says. */
  | "killed";

/** Why local evaluation could not decide a flag that has a definition (posthog-node's names). */
export const UNRESOLVED_FLAG_REASONS = ["experience_continuity", "unsupported_definition", "missing_context", "unresolved_dependency"] as const;
export type UnresolvedFlagReason = (typeof UNRESOLVED_FLAG_REASONS)[number];

/**
 * A flag's answer: @posthog/convex's shape (key, enabled, variant, payload) plus `value` and
 * `reason`. Those two are optional here so that an object written for @posthog/convex is a
 * FeatureFlagResult; every result the client returns has them (see FlagReadResult).
 */
export interface FeatureFlagResult {
  key: string;
  /** False when the value is false, and when the flag could not be decided (see reason). */
  enabled: boolean;
  /** The variant key for a multivariate flag, null otherwise. */
  variant: string | null;
  /** Parsed payload for the value; null when the flag has none, or was not decided. */
  payload: JsonType | null;
  /** The flag's value; undefined when it could not be decided. */
  value?: FlagValue | undefined;
  /** Why it has that value, or why it has none. */
  reason?: FlagReason;
  /** PostHog's id of the flag, when its definition is known. */
  flagId?: number;
  /** Whether the flag belongs to an experiment, when known. */
  hasExperiment?: boolean;
}

/** What a flag read returns: `value` is undefined exactly when the flag was not decided. */
export interface FlagReadResult extends FeatureFlagResult {
  value: FlagValue | undefined;
  reason: FlagReason;
}

/** Flags evaluated once for one person: see PostHog.evaluateFlags. */
export interface FlagsSnapshot {
  distinctId: string;
  groups?: Record<string, string>;
  /** Decided flags only. */
  flags: Record<string, FlagReadResult>;
  /** Flags with a definition that nothing decided, and why local evaluation could not. */
  unresolvedFlags?: Record<string, UnresolvedFlagReason>;
}

/** A result and what its exposure event says about it. */
export interface Decision {
  result: FlagReadResult;
  facts: ExposureFacts;
  /** Undecided locally, but only clients evaluate it: never worth asking PostHog. */
  clientOnly?: boolean;
  /** Whether posthog-node's getAllFlagsAndPayloads lists its payload. */
  listsPayload: boolean;
}

/** One flag's answer from PostHog's /flags endpoint, as a result and exposure facts. */
export function remoteDecision(key: string, answer: RemoteFlagsResult): Decision {
  const error = remoteFlagError(answer, key);
  const flag = answer.ok ? answer.flags[key] : undefined;
  const common = { locallyEvaluated: false, ...(error ? { error } : {}) };
  if (!answer.ok || flag === undefined) {
    const reason: FlagReason = !answer.ok ? "remote_error" : answer.quotaLimited ? "quota_limited" : "flag_missing";
    return {
      result: undecidedResult(key, reason),
      facts: { key, response: undefined, ...common, ...(answer.ok ? { requestId: answer.requestId, evaluatedAt: answer.evaluatedAt } : {}) },
      listsPayload: false,
    };
  }
  return {
    result: {
      key,
      value: flag.value,
      enabled: flag.enabled,
      variant: flag.variant,
      payload: (flag.payload ?? null) as JsonType | null,
      reason: "evaluated_remotely",
      ...(flag.id !== undefined ? { flagId: flag.id } : {}),
      ...(flag.hasExperiment !== undefined ? { hasExperiment: flag.hasExperiment } : {}),
    },
    facts: {
      key,
      response: flag.value,
      ...common,
      flagId: flag.id,
      flagVersion: flag.version,
      reason: flag.reason,
      hasExperiment: flag.hasExperiment,
      requestId: answer.requestId,
      evaluatedAt: answer.evaluatedAt,
    },
    listsPayload: flag.listsPayload,
  };
}

export function localDecision(
  result: (FlagResult & { clientOnly?: boolean; killed?: boolean }) | { key: string; resolved: false; reason: FlagReason; serverRequired: boolean; flagId?: number },
): Decision {
  const converted = "killed" in result && result.killed ? killedResult(result.key, result.flagId) : toFeatureFlagResult(result);
  return {
    result: converted,
    facts: factsOf(converted),
    // Locally, posthog-node lists only truthy parsed payloads.
    listsPayload: Boolean(converted.payload),
    ...("clientOnly" in result && result.clientOnly ? { clientOnly: true } : {}),
  };
}

function toFeatureFlagResult(
  result: FlagResult | { key: string; resolved: false; reason: FlagReason; serverRequired: boolean; flagId?: number },
): FlagReadResult {
  const known = {
    ...(result.flagId !== undefined ? { flagId: result.flagId } : {}),
    ...("hasExperiment" in result && result.hasExperiment !== undefined ? { hasExperiment: result.hasExperiment } : {}),
  };
  if (!result.resolved) {
    return { ...undecidedResult(result.key, result.reason), ...known };
  }
  return {
    key: result.key,
    value: result.value,
    enabled: result.value !== false,
    variant: typeof result.value === "string" ? result.value : null,
    payload: (result.payload ?? null) as JsonType | null,
    reason: "evaluated_locally",
    ...known,
  };
}

/** A killed flag: false, with no payload. */
export function killedResult(key: string, flagId?: number): FlagReadResult {
  return { key, value: false, enabled: false, variant: null, payload: null, reason: "killed", ...(flagId !== undefined ? { flagId } : {}) };
}

/** A flag with no value: off, with no variant or payload, and the reason why. */
export function undecidedResult(key: string, reason: FlagReason): FlagReadResult {
  return { key, value: undefined, enabled: false, variant: null, payload: null, reason };
}

/** What posthog-node's exposure event says about a locally evaluated (or undecided) flag. */
export function factsOf(result: FeatureFlagResult): ExposureFacts {
  if (result.reason === "evaluated_remotely") {
    return { key: result.key, response: result.value, locallyEvaluated: false, flagId: result.flagId, hasExperiment: result.hasExperiment };
  }
  // A killed read is an exposure to false: the person saw the flag off, which analyses must count.
  if (result.reason === "killed") {
    return { key: result.key, response: false, locallyEvaluated: true, flagId: result.flagId, reason: "Killed locally", evaluatedAt: Date.now() };
  }
  const local = result.reason === "evaluated_locally";
  return {
    key: result.key,
    response: result.value,
    locallyEvaluated: local,
    ...(local ? { flagId: result.flagId, reason: "Evaluated locally", hasExperiment: result.hasExperiment, evaluatedAt: Date.now() } : {}),
  };
}

/** Only actions can make network requests. */
export function canFetch(ctx: object): boolean {
  return "runAction" in ctx;
}

/** Queries cannot write, so exposures are sent only from mutations and actions. */
export function canWrite(ctx: object): ctx is { runMutation: never } & object {
  return "runMutation" in ctx;
}

/** Flag evaluation takes group keys as strings. */
export function stringGroups(groups: Record<string, string | number> | undefined): Record<string, string> | undefined {
  return groups ? Object.fromEntries(Object.entries(groups).map(([type, key]) => [type, String(key)])) : undefined;
}
