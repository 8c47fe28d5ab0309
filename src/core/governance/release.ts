// Release-tracker rules over PostHog's REST flags: released to everyone, stale, overdue sunset.
//
// Two release rules. Ours, "constant_for_everyone", asks what evaluation would do (the same
// walk as src/core/flags/evaluate.ts): is there one value that every evaluation returns? The
// toolkit's, reproduced for compatibility, counts a flag as released when every group is at
// 100% (null counting as 100%), whatever the groups' properties; so "internal users at 100%" is
// a release for it and "[everyone at 100%, beta at 0%]" is not. Pure: no Convex runtime.

import type { FlagCondition, FlagFilters, FlagValue, FlagVariant } from "../flags/types.js";
import { PostHogInputError } from "../json.js";
import type { PostHogFlag } from "./posthogRest.js";

export type ReleaseRule = "constant_for_everyone" | "toolkit";

const DAY_MS = 24 * 60 * 60 * 1000;

export function isReleasedToEveryone(flag: PostHogFlag, rule: ReleaseRule = "constant_for_everyone"): boolean {
  return rule === "toolkit" ? toolkitReleased(flag) : releasedValue(flag) !== undefined;
}

/** posthog-flag-toolkit's `isFullyReleased`. */
function toolkitReleased(flag: PostHogFlag): boolean {
  if (!flag.active || flag.deleted) return false;
  const groups = flag.filters?.groups ?? [];
  return groups.length > 0 && groups.every((group) => (group.rollout_percentage ?? 100) === 100);
}

/**
 * The value every evaluation of the flag returns, or undefined when some evaluations can differ
 * (or the flag is off). Evaluation takes the first group that matches, so the flag is constant
 * when some group matches everyone (no properties, 100%) and every group before it that can
 * match anyone gives that same value. It is not constant with a holdout (held-out users get
 * their own value), with super groups, or, under `early_exit`, when an earlier group can
 * exclude someone (they get `false`). A group-aggregated flag counts as constant when it is
 * for every group of its type.
 */
export function releasedValue(flag: PostHogFlag): FlagValue | undefined {
  if (!flag.active || flag.deleted) return undefined;
  const filters: FlagFilters = flag.filters ?? {};
  if (holdsAnyoneOut(filters) || hasSuperGroups(filters)) return undefined;

  const variants = filters.multivariate?.variants ?? [];
  const earlyExit = filters.early_exit === true;
  let value: FlagValue | undefined;
  for (const group of filters.groups ?? []) {
    const rollout = effectiveRollout(group);
    if (rollout <= 0 && !earlyExit) continue; // matches no one
    if (rollout < 100 && earlyExit) return undefined; // someone is excluded, and gets false
    const groupValue = valueOfMatch(group, variants);
    if (groupValue === undefined || (value !== undefined && groupValue !== value)) return undefined;
    value = groupValue;
    if (matchesEveryone(group, filters)) return value;
  }
  return undefined; // someone can fall through every group and get false
}

/** Null or absent means 100%, as evaluation reads it. */
function effectiveRollout(group: FlagCondition): number {
  const rollout = group.rollout_percentage;
  return rollout === null || rollout === undefined ? 100 : Number(rollout);
}

function matchesEveryone(group: FlagCondition, filters: FlagFilters): boolean {
  if ((group.properties ?? []).length > 0 || effectiveRollout(group) < 100) return false;
  // A group aggregated by another group type than the flag applies only to callers with that group.
  const aggregation = group.aggregation_group_type_index;
  return aggregation === undefined || aggregation === null || aggregation === filters.aggregation_group_type_index;
}

/** What everyone matching the group gets: its variant override, else the variant at 100%. */
function valueOfMatch(group: FlagCondition, variants: readonly FlagVariant[]): FlagValue | undefined {
  if (variants.length === 0) return true;
  const override = group.variant;
  if (override && variants.some((variant) => variant.key === override)) return override;
  return variants.find((variant) => Number(variant.rollout_percentage) >= 100)?.key;
}

function holdsAnyoneOut(filters: FlagFilters): boolean {
  const holdout = filters.holdout;
  if (holdout === null || holdout === undefined || holdout.id === null || holdout.id === undefined) return false;
  const exclusion = Number(holdout.exclusion_percentage ?? Number.NaN);
  return Number.isFinite(exclusion) && exclusion > 0;
}

function hasSuperGroups(filters: FlagFilters): boolean {
  const superGroups = filters.super_groups;
  return Array.isArray(superGroups) && superGroups.length > 0;
}

/**
 * PostHog's STALE rule (`FeatureFlagStatusChecker`): active, "fully rolled out", and created
 * more than `days` days before `now` (PostHog uses 30). Fully rolled out means some group at
 * exactly 100 (null does not count here, unlike evaluation) with no properties; for a
 * multivariate flag, also a variant override on such a group or a variant at 100%. Earlier
 * groups and holdouts are not considered. PostHog reports such a flag as INACTIVE instead when
 * it has not been called for 30 days; this rule ignores usage.
 */
export function isStale(flag: PostHogFlag, now: number, days = 30): boolean {
  if (flag.deleted || !flag.active) return false;
  return posthogFullyRolledOut(flag.filters) && Date.parse(flag.created_at) < now - days * DAY_MS;
}

function posthogFullyRolledOut(filters: FlagFilters | null): boolean {
  if (filters === null || Object.keys(filters).length === 0) return true; // legacy flags with no conditions
  const fullGroups = (filters.groups ?? []).filter(
    (group) => group.rollout_percentage === 100 && (group.properties ?? []).length === 0,
  );
  const multivariate = filters.multivariate;
  if (!multivariate || Object.keys(multivariate).length === 0) return fullGroups.length > 0;
  // The first non-empty override among full groups, as PostHog picks it.
  const override = fullGroups.reduce<string | null | undefined>((found, group) => found || group.variant, undefined);
  const variantAtFull = (multivariate.variants ?? []).some((variant) => variant.rollout_percentage === 100);
  return fullGroups.length > 0 && ((override !== undefined && override !== null) || variantAtFull);
}

/** Whole days from `since` (epoch ms or ISO date-time) to `now`, rounded down. */
export function daysSince(since: number | string, now: number): number {
  const start = typeof since === "string" ? Date.parse(since) : since;
  return Math.floor((now - start) / DAY_MS);
}

/** A tracker option counted in days: a finite number ≥ 0, the fallback when absent, else a PostHogInputError naming it. */
export function checkDays(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new PostHogInputError(name, `must be a number of days ≥ 0, got ${String(value)}`);
  }
  return value;
}

/** The toolkit's stale rule, with our recorded release time: released at least `days` whole days ago. */
export function isStaleSinceRelease(releasedAt: number | string, now: number, days = 30): boolean {
  return daysSince(releasedAt, now) >= days;
}

export interface OverdueSunset {
  key: string;
  sunsetTarget: string;
  /** Whole days since the deadline passed: 0 during the first 24 hours overdue. */
  daysOverdue: number;
}

/**
 * A flag past its `sunsetTarget`. A date means "gone by the end of that day, UTC"; a date-time
 * is the deadline itself. Undefined when there is no target or it has not passed.
 */
export function overdueSunset(definition: { key: string; sunsetTarget?: string }, now: number): OverdueSunset | undefined {
  const { key, sunsetTarget } = definition;
  if (sunsetTarget === undefined) return undefined;
  const deadline = sunsetDeadline(key, sunsetTarget);
  if (now <= deadline) return undefined;
  return { key, sunsetTarget, daysOverdue: Math.floor((now - deadline - 1) / DAY_MS) };
}

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;

/** The last millisecond the flag may still exist. */
function sunsetDeadline(key: string, sunsetTarget: string): number {
  const dateOnly = DATE_ONLY.test(sunsetTarget);
  const instant = Date.parse(dateOnly ? `${sunsetTarget}T00:00:00Z` : sunsetTarget);
  if (!Number.isFinite(instant)) {
    throw new PostHogInputError(`flags.${key}.sunsetTarget`, `${JSON.stringify(sunsetTarget)} is not an ISO date`);
  }
  return dateOnly ? instant + DAY_MS - 1 : instant;
}
