// Internal "could not decide" outcomes. Matching returns these instead of throwing, which keeps
// the hot path free of exceptions; the rules for combining them follow posthog-node 5.70.

import type { UnresolvedReason } from "./types.js";

export type EvaluatorReason = Exclude<UnresolvedReason, "unknown_flag">;

export interface Unresolved {
  readonly unresolved: true;
  readonly reason: EvaluatorReason;
  /**
   * Only PostHog can decide (static cohort, unsupported cohort group type, or a dependency on
   * such a flag). A condition that hits this first ends the whole flag instead of letting later
   * conditions decide it.
   */
  readonly serverRequired: boolean;
  /**
   * Somewhere below, a regex could not be evaluated portably. posthog-node then only keeps a
   * later match if the regex condition could not have produced a different value.
   */
  readonly regex: boolean;
}

// When several causes apply, every PostHog SDK reports the highest of these.
const REASONS: readonly EvaluatorReason[] = [
  "experience_continuity",
  "unsupported_definition",
  "unresolved_dependency",
  "missing_context",
];
const REASON_RANK = Object.fromEntries(REASONS.map((reason, rank) => [reason, rank])) as Record<
  EvaluatorReason,
  number
>;

// One frozen instance per combination, so producing an outcome allocates nothing.
const INSTANCES: readonly Unresolved[] = REASONS.flatMap((reason) =>
  [false, true].flatMap((serverRequired) =>
    [false, true].map((regex) => Object.freeze({ unresolved: true as const, reason, serverRequired, regex })),
  ),
);

export function unresolved(reason: EvaluatorReason, serverRequired = false, regex = false): Unresolved {
  return INSTANCES[REASON_RANK[reason] * 4 + (serverRequired ? 2 : 0) + (regex ? 1 : 0)]!;
}

export const MISSING_CONTEXT = unresolved("missing_context");
export const UNSUPPORTED = unresolved("unsupported_definition");
export const UNSUPPORTED_REGEX = unresolved("unsupported_definition", false, true);
export const REQUIRES_SERVER = unresolved("unsupported_definition", true);

export function isUnresolved(value: unknown): value is Unresolved {
  return typeof value === "object" && value !== null && (value as Unresolved).unresolved === true;
}

export function higherReason(current: EvaluatorReason | undefined, next: EvaluatorReason): EvaluatorReason {
  return current === undefined || REASON_RANK[next] < REASON_RANK[current] ? next : current;
}
