// The per-flag algorithm of posthog-node 5.70's local evaluation, synchronous and pure.
// One FlagEvaluator serves one evaluation context (one user, their groups and properties);
// flags evaluated through it share results, as posthog-node's getAllFlags run does.

import { matchCohortFilter } from "./cohorts.js";
import type { CohortScope } from "./cohorts.js";
import { bucketOf } from "./hash.js";
import { hasOwn, isUnusableFilter, matchProperty } from "./properties.js";
import type { MatchOutcome } from "./properties.js";
import { resolvePayload } from "./payload.js";
import type {
  DefinitionSource,
  EvaluationContext,
  FlagCondition,
  FlagDefinition,
  FlagFilters,
  FlagHoldout,
  FlagProperty,
  FlagResult,
  FlagValue,
  FlagVariant,
  PropertyGroup,
} from "./types.js";
import { UNSUPPORTED, higherReason, isUnresolved, unresolved } from "./unresolved.js";
import type { EvaluatorReason, Unresolved } from "./unresolved.js";

type Properties = Record<string, unknown>;
type FlagOutcome = FlagValue | Unresolved;
const EVALUATING = Symbol("evaluating");

/** What one release condition concluded. `excluded`: filters matched, the rollout did not. */
type ConditionOutcome = "match" | "no_match" | "excluded" | Unresolved;

export class FlagEvaluator {
  private readonly distinctId: string;
  private readonly groups: Record<string, string>;
  private readonly personProperties: Properties;
  private readonly groupProperties: Record<string, Properties>;
  private readonly now: number;
  private readonly propertyMatchingVersion: number | undefined;

  /**
   * Every flag outcome computed so far (outcomes depend only on the context, so reuse is safe),
   * and EVALUATING for flags whose evaluation is under way.
   */
  private readonly outcomes = new Map<string, FlagOutcome | typeof EVALUATING>();
  /**
   * Values of flags resolved as dependency-chain members: posthog-node's evaluation cache. A
   * dependency filter reads its target from here only, which matters when a malformed chain
   * does not end with the filter's key.
   */
  private dependencyValues: Map<string, FlagValue> | undefined;
  // Created on first use: evaluating a single simple flag should allocate next to nothing.
  private hashes: Map<string, number> | undefined;
  private definitionReasons: Map<string, EvaluatorReason | undefined> | undefined;
  private cohortScope: CohortScope | undefined;

  constructor(
    private readonly source: DefinitionSource,
    context: EvaluationContext,
  ) {
    this.distinctId = context.distinctId;
    this.now = context.now;
    this.propertyMatchingVersion = source.propertyMatchingVersion;
    this.groups = context.groups ?? {};
    // Filters on distinct_id work locally; a caller-supplied distinct_id wins.
    this.personProperties = { distinct_id: context.distinctId, ...context.personProperties };
    // Only groups passed in `groups` get properties, each with its key as $group_key.
    this.groupProperties = {};
    for (const groupType of Object.keys(this.groups)) {
      this.groupProperties[groupType] = {
        $group_key: this.groups[groupType],
        ...context.groupProperties?.[groupType],
      };
    }
  }

  /** The value (and payload) of one flag, or why it cannot be decided locally. */
  evaluate(key: string): FlagResult {
    const flag = this.source.flag(key);
    if (flag == null) return { key, resolved: false, reason: "unknown_flag", serverRequired: false };
    const outcome = this.outcomeOf(flag);
    const flagId = typeof flag.id === "number" ? flag.id : undefined;
    if (isUnresolved(outcome)) {
      return {
        key,
        resolved: false,
        reason: outcome.reason,
        serverRequired: outcome.serverRequired,
        ...(flagId !== undefined && { flagId }),
      };
    }
    return {
      key,
      resolved: true,
      value: outcome,
      payload: resolvePayload(flag, outcome),
      ...(flagId !== undefined && { flagId }),
      ...(typeof flag.has_experiment === "boolean" && { hasExperiment: flag.has_experiment }),
    };
  }

  private outcomeOf(flag: FlagDefinition): FlagOutcome {
    const known = this.outcomes.get(flag.key);
    // A flag reached again while it is being evaluated has a cyclic dependency chain. The server
    // sends an empty chain for cycles, so this only guards against corrupt definitions.
    if (known === EVALUATING) return UNSUPPORTED;
    if (known !== undefined) return known;
    this.outcomes.set(flag.key, EVALUATING);
    let outcome: FlagOutcome;
    try {
      outcome = this.computeFlag(flag);
    } catch {
      // Malformed definitions (wrong JSON shapes) make posthog-node throw too; the flag is undecided.
      outcome = UNSUPPORTED;
    }
    this.outcomes.set(flag.key, outcome);
    return outcome;
  }

  private computeFlag(flag: FlagDefinition): FlagOutcome {
    // Inactive wins over everything, experience continuity included.
    if (!flag.active) return false;
    // Continuity relies on hash-key overrides stored on the server.
    if (flag.ensure_experience_continuity) return unresolved("experience_continuity");

    const filters: FlagFilters = flag.filters || {};
    const aggregation = filters.aggregation_group_type_index;
    if (aggregation !== undefined && aggregation !== null) {
      const groupType = this.source.groupTypeMapping[String(aggregation)];
      if (!groupType) return UNSUPPORTED;
      // Without the group the flag is off, conclusively (posthog-node does not fall back).
      if (!hasOwn(this.groups, groupType)) return false;
      // Group flags bucket by group key; bucketing_identifier does not apply.
      return this.matchConditions(flag, filters, String(this.groups[groupType]), this.groupProperties[groupType]!);
    }

    let bucketingValue: string = this.distinctId;
    if (flag.bucketing_identifier === "device_id") {
      const deviceId = this.personProperties.$device_id;
      if (deviceId === undefined || deviceId === null || deviceId === "") {
        // Nothing can be checked without it, so a definition problem anywhere outranks it.
        return unresolved(this.definitionReason(flag) ?? "missing_context");
      }
      bucketingValue = String(deviceId);
    }
    return this.matchConditions(flag, filters, bucketingValue, this.personProperties);
  }

  /** Holdout, then the release conditions in order: the first match decides. */
  private matchConditions(
    flag: FlagDefinition,
    filters: FlagFilters,
    bucketingValue: string,
    properties: Properties,
  ): FlagOutcome {
    const heldOut = this.holdoutVariant(filters.holdout, bucketingValue);
    if (heldOut !== undefined) return heldOut;

    const flagAggregation = filters.aggregation_group_type_index;
    const earlyExit = filters.early_exit ?? false;
    let reason: EvaluatorReason | undefined;
    // Values the conditions with an unportable regex would have produced had they matched.
    let regexAlternatives: FlagValue[] | undefined;
    let matched: FlagValue | undefined;

    for (const condition of filters.groups || []) {
      let conditionBucketingValue = bucketingValue;
      let conditionProperties = properties;

      // Mixed targeting: a condition may aggregate by a group type of its own.
      const aggregation =
        condition.aggregation_group_type_index !== undefined ? condition.aggregation_group_type_index : flagAggregation;
      if (aggregation !== flagAggregation && aggregation !== null && aggregation !== undefined) {
        const groupType = this.source.groupTypeMapping[String(aggregation)];
        if (!groupType || !hasOwn(this.groups, groupType)) continue; // cannot apply: no match
        if (!hasOwn(this.groupProperties, groupType)) {
          reason = higherReason(reason, "missing_context");
          continue;
        }
        conditionProperties = this.groupProperties[groupType]!;
        conditionBucketingValue = String(this.groups[groupType]);
      }

      const outcome = this.matchCondition(flag, condition, conditionBucketingValue, conditionProperties);
      if (outcome === "match") {
        matched = this.matchedValue(flag, filters, condition, conditionBucketingValue);
        break;
      }
      if (outcome === "excluded" && earlyExit) {
        // Later conditions cannot change the answer, unless an earlier one was undecided.
        if (reason !== undefined) break;
        return false;
      }
      if (!isUnresolved(outcome)) continue;

      if (outcome.serverRequired) {
        // posthog-node stops here and falls back to the server; later conditions are skipped, so
        // a higher reason hidden in them is taken from the definition.
        const stopReason = higherReason(
          higherReason(reason, outcome.reason),
          this.definitionReason(flag) ?? outcome.reason,
        );
        return unresolved(stopReason, true);
      }
      reason = higherReason(reason, outcome.reason);
      if (outcome.regex) {
        regexAlternatives ??= [];
        const rollout = condition.rollout_percentage;
        const excluded =
          earlyExit &&
          rollout !== undefined &&
          rollout !== null &&
          this.hashOf(`${flag.key}.${conditionBucketingValue}`) > Number(rollout) / 100;
        regexAlternatives.push(excluded ? false : this.matchedValue(flag, filters, condition, conditionBucketingValue));
      }
    }

    // A match stands only if every earlier undecided regex condition would have agreed with it.
    if (matched !== undefined && (regexAlternatives?.every((value) => value === matched) ?? true)) return matched;
    if (reason !== undefined) return unresolved(reason, false, regexAlternatives !== undefined);
    return false;
  }

  private holdoutVariant(holdout: FlagHoldout | null | undefined, bucketingValue: string): string | undefined {
    if (holdout === null || holdout === undefined) return undefined;
    if (holdout.id === null || holdout.id === undefined) return undefined;
    if (holdout.exclusion_percentage === null || holdout.exclusion_percentage === undefined) return undefined;
    // The server reads the percentage as a float: anything else means no holdout, not 100 %.
    const raw = Number(holdout.exclusion_percentage);
    if (!Number.isFinite(raw)) return undefined;
    const percentage = Math.min(Math.max(raw, 0), 100);
    // Holdouts hash "holdout-<value>", without the flag key, so one holdout spans its flags.
    if (percentage !== 100 && this.hashOf(`holdout-${bucketingValue}`) > percentage / 100) return undefined;
    return `holdout-${holdout.id}`;
  }

  /** A matching condition's value: its variant override if the flag has it, else hashed. */
  private matchedValue(
    flag: FlagDefinition,
    filters: FlagFilters,
    condition: FlagCondition,
    bucketingValue: string,
  ): FlagValue {
    const variants = filters.multivariate?.variants || [];
    const override = condition.variant;
    if (override && variants.some((variant) => variant.key === override)) return override;
    return this.hashedVariant(flag.key, bucketingValue, variants) || true;
  }

  /** Variants own consecutive [min, max) slices of the variant hash; a gap means `true`. */
  private hashedVariant(flagKey: string, bucketingValue: string, variants: readonly FlagVariant[]): string | undefined {
    if (variants.length === 0) return undefined;
    const hash = this.hashOf(`${flagKey}.${bucketingValue}variant`);
    let min = 0;
    for (const variant of variants) {
      const max = min + variant.rollout_percentage / 100;
      if (hash >= min && hash < max) return variant.key;
      min = max;
    }
    return undefined;
  }

  /**
   * All filters of a condition are AND-ed and all are examined: a decisive non-match wins over
   * any undecided filter. A filter needing the server ends the flag only if it is the first
   * undecided filter of the condition; after another one it is just one more reason.
   */
  private matchCondition(
    flag: FlagDefinition,
    condition: FlagCondition,
    bucketingValue: string,
    properties: Properties,
  ): ConditionOutcome {
    const filters = condition.properties || [];
    if (filters.length > 0) {
      let reason: EvaluatorReason | undefined;
      let regex = false;
      let serverRequired: Unresolved | undefined;
      for (const filter of filters) {
        let outcome: MatchOutcome;
        if (filter.type === "cohort") {
          outcome = matchCohortFilter(filter, properties, this.scopeForCohorts());
        } else if (filter.type === "flag") {
          outcome = this.matchFlagDependency(filter);
        } else {
          outcome = this.matchProperty(filter, properties);
        }
        if (isUnresolved(outcome)) {
          if (outcome.serverRequired && reason === undefined) serverRequired ??= outcome;
          if (outcome.regex) regex = true;
          reason = higherReason(reason, outcome.reason);
          continue;
        }
        if (!outcome) return "no_match";
      }
      if (serverRequired !== undefined) return serverRequired;
      if (reason !== undefined) return unresolved(reason, false, regex);
    }
    const rollout = condition.rollout_percentage;
    if (rollout === undefined || rollout === null) return "match";
    // Inclusive bound: rollout 0 still includes a hash of exactly 0.
    return this.hashOf(`${flag.key}.${bucketingValue}`) > Number(rollout) / 100 ? "excluded" : "match";
  }

  private matchProperty(property: FlagProperty, values: Properties): MatchOutcome {
    return matchProperty(property, values, this.propertyMatchingVersion, this.now);
  }

  /**
   * `type: "flag"` filters. The server lists the whole dependency chain in evaluation order; an
   * absent or empty chain (the server's mark for a cycle), or a member missing from the
   * definitions, leaves the filter undecided.
   */
  private matchFlagDependency(property: FlagProperty): MatchOutcome {
    const chain = property.dependency_chain;
    if (!Array.isArray(chain) || chain.length === 0) return UNSUPPORTED;
    const members: FlagDefinition[] = [];
    for (const key of chain) {
      const member = this.source.flag(String(key));
      // A missing member outranks an undecided one, so check them all before evaluating any.
      if (member == null) return UNSUPPORTED;
      members.push(member);
    }
    for (let index = 0; index < members.length; index++) {
      const outcome = this.outcomeOf(members[index]!);
      if (isUnresolved(outcome)) {
        // Keep the kind: a dependency that needs the server makes the dependent need it too.
        return outcome.serverRequired
          ? unresolved("unresolved_dependency", true)
          : unresolved("unresolved_dependency", false, outcome.regex);
      }
      (this.dependencyValues ??= new Map()).set(String(chain[index]), outcome);
    }
    return flagEvaluatesTo(property.value, this.dependencyValues?.get(property.key));
  }

  private scopeForCohorts(): CohortScope {
    return (this.cohortScope ??= {
      cohort: (id) => this.source.cohort(id),
      matchProperty: (property, values) => this.matchProperty(property, values),
      matchFlagDependency: (property) => this.matchFlagDependency(property),
    });
  }

  /** Conditions of one flag usually share the rollout hash; compute each input once. */
  private hashOf(input: string): number {
    const hashes = (this.hashes ??= new Map());
    let hash = hashes.get(input);
    if (hash === undefined) {
      hash = bucketOf(input);
      hashes.set(input, hash);
    }
    return hash;
  }

  /**
   * The reason that comes from the definition alone (known without any context), or undefined.
   * posthog-node consults it when it stops early, so that a problem in a condition it never
   * reached still ranks.
   */
  private definitionReason(flag: FlagDefinition): EvaluatorReason | undefined {
    const known = (this.definitionReasons ??= new Map());
    if (known.has(flag.key)) return known.get(flag.key);
    let reason: EvaluatorReason | undefined;
    try {
      reason = this.computeDefinitionReason(flag);
    } catch {
      reason = undefined; // a malformed definition must not hide the reason already found
    }
    known.set(flag.key, reason);
    return reason;
  }

  private computeDefinitionReason(flag: FlagDefinition): EvaluatorReason | undefined {
    if (!flag.active) return undefined;
    if (flag.ensure_experience_continuity) return "experience_continuity";
    const filters: FlagFilters = flag.filters || {};
    const aggregation = filters.aggregation_group_type_index;
    if (aggregation !== undefined && aggregation !== null && !this.source.groupTypeMapping[String(aggregation)]) {
      return "unsupported_definition";
    }
    const visitedCohorts = new Set<string>();
    for (const condition of filters.groups || []) {
      for (const property of condition.properties || []) {
        if (this.isUnsupportedInDefinition(property, visitedCohorts)) return "unsupported_definition";
      }
    }
    return undefined;
  }

  private isUnsupportedInDefinition(property: FlagProperty, visitedCohorts: Set<string>): boolean {
    if (property.type === "flag") {
      const chain = property.dependency_chain;
      if (!Array.isArray(chain) || chain.length === 0) return true;
      return chain.some((key) => this.source.flag(String(key)) == null);
    }
    if (property.type !== "cohort") return isUnusableFilter(property);
    const cohortId = String(property.value);
    const group = this.source.cohort(cohortId);
    if (group === undefined) return true;
    if (visitedCohorts.has(cohortId)) return false;
    visitedCohorts.add(cohortId);
    return this.isUnsupportedGroup(group, visitedCohorts);
  }

  private isUnsupportedGroup(group: PropertyGroup | null, visitedCohorts: Set<string>): boolean {
    return (group?.values ?? []).some((member) =>
      "values" in member
        ? this.isUnsupportedGroup(member as PropertyGroup, visitedCohorts)
        : this.isUnsupportedInDefinition(member as FlagProperty, visitedCohorts),
    );
  }
}

/**
 * `flag_evaluates_to`: true matches true or any non-empty variant, false matches only false,
 * a string matches only that exact variant. Other expected values never match.
 */
function flagEvaluatesTo(expected: unknown, value: FlagValue | undefined): boolean {
  if (typeof expected === "boolean") {
    return expected === value || (expected && typeof value === "string" && value !== "");
  }
  if (typeof expected === "string") return value === expected;
  return false;
}
