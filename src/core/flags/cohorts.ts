// Cohort filters (`type: "cohort"`): membership is the match of the cohort's PropertyGroup.
// Only dynamic cohorts are sent with the definitions; a cohort that is absent is static (or
// deleted) and needs the server.

import type { MatchOutcome } from "./properties.js";
import type { FlagProperty, PropertyGroup } from "./types.js";
import { REQUIRES_SERVER, UNSUPPORTED, higherReason, isUnresolved, unresolved } from "./unresolved.js";
import type { EvaluatorReason } from "./unresolved.js";

/** What cohort matching needs from the evaluator. */
export interface CohortScope {
  cohort(id: string): PropertyGroup | undefined;
  /** A person or group property filter against `values`. */
  matchProperty(property: FlagProperty, values: Record<string, unknown>): MatchOutcome;
  /** A flag dependency (`type: "flag"`) inside a cohort. */
  matchFlagDependency(property: FlagProperty): MatchOutcome;
}

/** `in` (any operator but `not_in`) or `not_in` the cohort whose id is the filter value. */
export function matchCohortFilter(
  property: FlagProperty,
  values: Record<string, unknown>,
  scope: CohortScope,
  openCohorts: Set<string> = new Set(),
): MatchOutcome {
  const cohortId = String(property.value);
  const group = scope.cohort(cohortId);
  if (group === undefined) return REQUIRES_SERVER;
  // A cohort that contains itself has no meaning; posthog-node overflows its stack on it.
  if (openCohorts.has(cohortId)) return UNSUPPORTED;
  openCohorts.add(cohortId);
  const member = matchPropertyGroup(group, values, scope, openCohorts);
  openCohorts.delete(cohortId);
  if (isUnresolved(member)) return member;
  return property.operator === "not_in" ? !member : member;
}

/**
 * AND stops at the first decisive non-match, OR at the first match. Unresolved members are
 * skipped; if nothing decided the group, it is unresolved with the highest reason. Anything
 * that needs the server ends the match at once.
 */
function matchPropertyGroup(
  group: PropertyGroup | null,
  values: Record<string, unknown>,
  scope: CohortScope,
  openCohorts: Set<string>,
): MatchOutcome {
  // `{}` (or null) is the backend's canonical empty group and matches everyone.
  if (group === null || typeof group !== "object" || Object.keys(group).length === 0) return true;
  const type = group.type === "property" ? "AND" : group.type;
  if (type !== "AND" && type !== "OR") return REQUIRES_SERVER;
  const members = group.values;
  if (!members || members.length === 0) return type === "AND";

  const isAnd = type === "AND";
  let reason: EvaluatorReason | undefined;
  let regex = false;
  // The first member decides whether this level holds nested groups or filters.
  const nested = "values" in members[0]!;
  for (const member of members) {
    let outcome: MatchOutcome;
    let negated = false;
    if (nested) {
      outcome = matchPropertyGroup(member as PropertyGroup, values, scope, openCohorts);
    } else {
      const property = member as FlagProperty;
      negated = Boolean(property.negation);
      if (property.type === "cohort") outcome = matchCohortFilter(property, values, scope, openCohorts);
      else if (property.type === "flag") outcome = scope.matchFlagDependency(property);
      else outcome = scope.matchProperty(property, values);
    }
    if (isUnresolved(outcome)) {
      if (outcome.serverRequired) return outcome;
      reason = higherReason(reason, outcome.reason);
      regex ||= outcome.regex;
      continue;
    }
    const holds = outcome !== negated;
    if (isAnd && !holds) return false;
    if (!isAnd && holds) return true;
  }
  if (reason !== undefined) return unresolved(reason, false, regex);
  return isAnd;
}
