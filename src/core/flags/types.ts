// Shapes of PostHog's local-evaluation definitions (`/flags/definitions`) and of the evaluator's
// inputs and outputs. Definitions come from JSON, so every field is optional and read defensively.

export type FlagValue = boolean | string;

/** Why a flag could not be decided locally. The first four are posthog-node's own reason codes. */
export type UnresolvedReason =
  "experience_continuity" | "unsupported_definition" | "unresolved_dependency" | "missing_context" | "unknown_flag";

/** A filter inside a release condition or a cohort. */
export interface FlagProperty {
  key: string;
  value?: unknown;
  /** Absent, null or "" means `exact`. */
  operator?: string | null;
  /** "person" | "group" | "cohort" | "flag"; anything but cohort/flag is matched as a property. */
  type?: string;
  /** Inverts the filter, honoured inside cohorts only. */
  negation?: boolean;
  /** For `type: "flag"`: the server-computed evaluation order, ending with `key`. */
  dependency_chain?: unknown;
  group_type_index?: number | null;
  [extra: string]: unknown;
}

export interface FlagCondition {
  properties?: FlagProperty[] | null;
  /** null or absent means 100. */
  rollout_percentage?: number | null;
  variant?: string | null;
  /** Mixed targeting: this condition aggregates by another group type than the flag. */
  aggregation_group_type_index?: number | null;
  [extra: string]: unknown;
}

export interface FlagVariant {
  key: string;
  name?: string;
  rollout_percentage: number;
  [extra: string]: unknown;
}

export interface FlagHoldout {
  id?: number | string | null;
  exclusion_percentage?: unknown;
  [extra: string]: unknown;
}

export interface FlagFilters {
  groups?: FlagCondition[] | null;
  multivariate?: { variants?: FlagVariant[] | null; [extra: string]: unknown } | null;
  /** Payloads by value: "true" or a variant key, usually as JSON strings. */
  payloads?: Record<string, unknown> | null;
  aggregation_group_type_index?: number | null;
  holdout?: FlagHoldout | null;
  early_exit?: boolean | null;
  [extra: string]: unknown;
}

export interface FlagDefinition {
  id?: number;
  key: string;
  active?: boolean;
  ensure_experience_continuity?: boolean;
  bucketing_identifier?: string | null;
  has_experiment?: boolean;
  evaluation_runtime?: string | null;
  filters?: FlagFilters;
  [extra: string]: unknown;
}

/** A cohort definition: nested groups, or filters (person properties, cohorts, flags). */
export interface PropertyGroup {
  type?: "AND" | "OR" | "property" | string;
  values?: Array<PropertyGroup | FlagProperty> | null;
  [extra: string]: unknown;
}

/**
 * What the evaluator may read. Loaded lazily by the caller: it must contain every flag and
 * cohort that the evaluated flags reference (transitively) and that exists in the project;
 * anything absent is treated as absent from the project (static cohort => server required,
 * missing dependency => inconclusive).
 */
export interface DefinitionSource {
  flag(key: string): FlagDefinition | undefined;
  cohort(id: string): PropertyGroup | undefined;
  /** Group type index (as a string) to group type name, e.g. {"0": "company"}. */
  groupTypeMapping: Record<string, string>;
  /** 2 switches `exact`/`is_not` to explicit equality; anything else is legacy matching. */
  propertyMatchingVersion?: number;
}

export interface EvaluationContext {
  distinctId: string;
  /** Group type name to group key. */
  groups?: Record<string, string>;
  personProperties?: Record<string, unknown>;
  /** Group type name to that group's properties; types absent from `groups` are ignored. */
  groupProperties?: Record<string, Record<string, unknown>>;
  /** Epoch milliseconds, the instant relative date filters ("-7d") count back from. */
  now: number;
}

export type FlagResult =
  | {
      key: string;
      resolved: true;
      value: FlagValue;
      /** The parsed payload for `value`, null when there is none. */
      payload: unknown;
      flagId?: number;
      hasExperiment?: boolean;
    }
  | {
      key: string;
      resolved: false;
      reason: UnresolvedReason;
      /**
       * True when the cause is data only PostHog holds (a static cohort, a cohort shape local
       * evaluation does not support, or a dependency needing either). posthog-node asks `/flags`
       * for every unresolved flag either way; this only says whether supplying more context
       * could ever help.
       */
      serverRequired: boolean;
      flagId?: number;
    };
