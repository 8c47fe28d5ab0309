// In-memory PostHog projects for the local server: feature flags (in the shape PostHog's
// feature flag serializer answers), experiments, an activity log and change requests, with
// PostHog's validation and status rules. The REST routes (adminApi.ts) and the local-evaluation
// definitions (/flags/definitions) both read this store, so a flag created over the API is
// served to SDKs on their next refresh. Node-only, like the rest of the local server.
import { randomUUID } from "node:crypto";

/** A flag as the store keeps it; `serializeFlag` turns it into PostHog's answer. */
export interface StoredFlag {
  id: number;
  key: string;
  /** The flag's description ("name" is kept by PostHog for backwards compatibility). */
  name: string;
  filters: FlagFilters;
  active: boolean;
  deleted: boolean;
  tags: string[];
  created_at: string;
  updated_at: string;
  version: number;
  ensure_experience_continuity: boolean;
  evaluation_runtime: string;
  last_called_at: string | null;
  performed_rollback: boolean;
  rollback_conditions: unknown;
  is_remote_configuration: boolean;
  created_by: LocalUser | null;
  last_modified_by: LocalUser | null;
}

export interface FlagFilters {
  groups?: Array<{ properties?: Array<Record<string, unknown>>; rollout_percentage?: number | null; variant?: string | null }>;
  multivariate?: { variants?: Array<{ key: string; name?: string; rollout_percentage: number }> } | null;
  payloads?: Record<string, unknown>;
  aggregation_group_type_index?: number | null;
  [other: string]: unknown;
}

export interface LocalUser {
  id: number;
  uuid: string;
  distinct_id: string;
  first_name: string;
  email: string;
}

/** A seed for `seedFlags`: a key, and any stored field to set (dates too, to age a flag). */
export type FlagSeed = { key: string } & Partial<Omit<StoredFlag, "key">>;

export interface StoredExperiment {
  id: number;
  name: string;
  feature_flag_key: string | null;
  deleted: boolean;
  created_at: string;
  [field: string]: unknown;
}

export type ExperimentSeed = { name: string } & Partial<Omit<StoredExperiment, "name">>;

export interface ActivityEntry {
  id: string;
  user: LocalUser | null;
  activity: "created" | "updated";
  scope: "FeatureFlag";
  item_id: string;
  detail: {
    changes: Array<{ type: "FeatureFlag"; action: "changed"; field: string; before: unknown; after: unknown }> | null;
    name: string;
  };
  created_at: string;
}

export interface ChangeRequest {
  id: string;
  action_key: ApprovalAction;
  resource_type: "feature_flag";
  resource_id: string;
  intent: Record<string, unknown>;
  state: "pending";
  created_at: string;
}

export type ApprovalAction = "feature_flag.enable" | "feature_flag.disable" | "feature_flag.update";

export interface Project {
  id: string;
  /** Project API key whose /flags/definitions this store serves. */
  token?: string;
  groupTypeMapping: Record<string, string>;
  flags: StoredFlag[];
  experiments: StoredExperiment[];
  activity: ActivityEntry[];
  changeRequests: ChangeRequest[];
}

/** A PostHog validation error: becomes a 400 in PostHog's envelope. */
export class FlagValidationError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly attr: string | null,
  ) {
    super(message);
  }
}

/** The user every API write is attributed to. */
export const LOCAL_USER: LocalUser = {
  id: 1,
  uuid: "00000000-0000-4000-8000-000000000001",
  distinct_id: "local-user",
  first_name: "Local",
  email: "local@posthog.invalid",
};

const THIRTY_DAYS_MS = 30 * 24 * 60 * 60 * 1000;
const KEY_PATTERN = /^[a-zA-Z0-9_-]+$/;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** PostHog normalises tag names (trimmed, lower case); duplicates collapse. */
export function tagify(tags: unknown[]): string[] {
  return [...new Set(tags.map((tag) => String(tag).trim().toLowerCase()).filter((tag) => tag !== ""))];
}

// ---- status (PostHog's FeatureFlagStatusChecker) ----------------------------------------

function groupFullyRolledOut(group: NonNullable<FlagFilters["groups"]>[number]): boolean {
  return group.rollout_percentage === 100 && (group.properties ?? []).length === 0;
}

/**
 * An active flag every user gets the same value from: a boolean flag with a group at exactly
 * 100% and no properties (or no filters at all), or a multivariate flag with such a group and
 * either a variant at 100% or a variant override on that group.
 */
export function isFullyRolledOut(flag: StoredFlag): boolean {
  if (!flag.active) return false;
  const groups = flag.filters.groups ?? [];
  const variants = flag.filters.multivariate?.variants ?? [];
  if (flag.filters.multivariate) {
    const fullGroups = groups.filter(groupFullyRolledOut);
    const override = fullGroups.some((group) => typeof group.variant === "string" && group.variant !== "");
    return fullGroups.length > 0 && (override || variants.some((variant) => variant.rollout_percentage === 100));
  }
  if (Object.keys(flag.filters).length === 0) return true;
  return groups.some(groupFullyRolledOut);
}

function olderThanThirtyDays(iso: string, now: number): boolean {
  return Date.parse(iso) < now - THIRTY_DAYS_MS;
}

/** PostHog's stale rule, also used by `?active=STALE`: fully rolled out and over 30 days old. */
export function isStale(flag: StoredFlag, now = Date.now()): boolean {
  return isFullyRolledOut(flag) && olderThanThirtyDays(flag.created_at, now);
}

/** PostHog's status: DELETED, then INACTIVE (not called for 30 days), then STALE, else ACTIVE. */
export function flagStatus(flag: StoredFlag, now = Date.now()): { status: string; reason: string } {
  if (flag.deleted) return { status: "DELETED", reason: "Flag has been deleted" };
  if (flag.last_called_at === null && olderThanThirtyDays(flag.created_at, now)) {
    return { status: "INACTIVE", reason: "Flag has never been called and is over 30 days old" };
  }
  if (flag.last_called_at !== null && olderThanThirtyDays(flag.last_called_at, now)) {
    const days = Math.floor((now - Date.parse(flag.last_called_at)) / (24 * 60 * 60 * 1000));
    return { status: "INACTIVE", reason: `Flag has not been called in ${days} days` };
  }
  if (isStale(flag, now)) return { status: "STALE", reason: rolledOutReason(flag) };
  return { status: "ACTIVE", reason: "Flag is active and being evaluated" };
}

function rolledOutReason(flag: StoredFlag): string {
  if (!flag.filters.multivariate) return 'This boolean flag will always evaluate to "true"';
  const override = (flag.filters.groups ?? []).find((g) => groupFullyRolledOut(g) && g.variant)?.variant;
  const variant = override ?? flag.filters.multivariate.variants?.find((v) => v.rollout_percentage === 100)?.key ?? "";
  return `This flag will always use the variant "${variant}"`;
}

// ---- serializer shape ------------------------------------------------------------------

/** The flag as PostHog's FeatureFlagSerializer answers it. */
export function serializeFlag(project: Project, flag: StoredFlag, tagging: boolean): Record<string, unknown> {
  const groups = flag.filters.groups ?? [];
  const simple =
    groups.length === 1 && (groups[0]!.properties ?? []).length === 0 && flag.filters.aggregation_group_type_index == null;
  return {
    id: flag.id,
    name: flag.name,
    key: flag.key,
    filters: flag.filters,
    deleted: flag.deleted,
    active: flag.active,
    created_by: flag.created_by,
    created_at: flag.created_at,
    updated_at: flag.updated_at,
    version: flag.version,
    last_modified_by: flag.last_modified_by,
    is_simple_flag: simple,
    rollout_percentage: simple ? groups[0]!.rollout_percentage ?? null : null,
    ensure_experience_continuity: flag.ensure_experience_continuity,
    experiment_set: project.experiments.filter((e) => !e.deleted && e.feature_flag_key === flag.key).map((e) => e.id),
    surveys: [],
    features: [],
    rollback_conditions: flag.rollback_conditions,
    performed_rollback: flag.performed_rollback,
    can_edit: true,
    tags: tagging ? flag.tags : [],
    evaluation_tags: [],
    usage_dashboard: null,
    analytics_dashboards: [],
    has_enriched_analytics: false,
    user_access_level: "editor",
    is_remote_configuration: flag.is_remote_configuration,
    has_encrypted_payloads: false,
    status: flagStatus(flag).status,
    evaluation_runtime: flag.evaluation_runtime,
    bucketing_identifier: null,
    last_called_at: flag.last_called_at,
  };
}

/** A flag as PostHog's local-evaluation endpoint serves it to SDKs. */
export function definitionOf(flag: StoredFlag): Record<string, unknown> {
  return {
    id: flag.id,
    name: flag.name,
    key: flag.key,
    filters: flag.filters,
    deleted: flag.deleted,
    active: flag.active,
    ensure_experience_continuity: flag.ensure_experience_continuity,
    has_encrypted_payloads: false,
    version: flag.version,
    evaluation_runtime: flag.evaluation_runtime,
  };
}

/** The body /flags/definitions answers for a project: every flag not deleted, active or not. */
export function definitionsOf(project: Project): Record<string, unknown> {
  return {
    flags: project.flags.filter((flag) => !flag.deleted).map(definitionOf),
    group_type_mapping: project.groupTypeMapping,
    cohorts: {},
  };
}

export function serializeExperiment(project: Project, experiment: StoredExperiment): Record<string, unknown> {
  const flag = project.flags.find((f) => !f.deleted && f.key === experiment.feature_flag_key);
  return {
    description: "",
    start_date: null,
    end_date: null,
    holdout: null,
    holdout_id: null,
    parameters: {},
    metrics: [],
    metrics_secondary: [],
    exposure_criteria: null,
    archived: false,
    status: "draft",
    conclusion: null,
    conclusion_comment: null,
    type: "product",
    updated_at: experiment.created_at,
    ...experiment,
    feature_flag: flag === undefined ? null : { id: flag.id, key: flag.key, name: flag.name, active: flag.active, filters: flag.filters },
  };
}

// ---- validation (PostHog's FeatureFlagSerializer) ---------------------------------------

function validateKey(project: Project, key: unknown, selfId?: number): string {
  if (typeof key !== "string" || key === "") {
    throw new FlagValidationError(key === undefined ? "This field is required." : "This field may not be blank.", key === undefined ? "required" : "blank", "key");
  }
  if (project.flags.some((flag) => !flag.deleted && flag.key === key && flag.id !== selfId)) {
    throw new FlagValidationError("There is already a feature flag with this key.", "unique", "key");
  }
  if (!KEY_PATTERN.test(key)) {
    throw new FlagValidationError("Only letters, numbers, hyphens (-) & underscores (_) are allowed.", "invalid_key", "key");
  }
  return key;
}

/** Checks filters as PostHog does and returns them with dict payloads stringified. */
function validateFilters(project: Project, filters: unknown, selfKey: string): FlagFilters {
  const invalid = (message: string) => new FlagValidationError(message, "invalid_input", "filters");
  if (!isRecord(filters)) throw invalid('Expected a dictionary of items but got type "' + typeof filters + '".');
  const groups = filters.groups;
  if (!Array.isArray(groups) || groups.length === 0) {
    throw new FlagValidationError("Feature flags must have at least one condition set (group).", "invalid_input", null);
  }
  if (!groups.every(isRecord)) throw invalid("Each condition set (group) must be an object.");
  const properties = groups.flatMap((group) => (Array.isArray(group.properties) ? group.properties : [])).filter(isRecord);
  const groupIndex = filters.aggregation_group_type_index;
  if (groupIndex === undefined || groupIndex === null) {
    if (!properties.every((p) => ["person", "cohort", "flag"].includes(String(p.type ?? "person")))) {
      throw invalid("Filters are not valid (can only use person, cohort, and flag properties)");
    }
    if (!properties.every((p) => p.type !== "flag" || p.operator === "flag_evaluates_to")) {
      throw invalid("Flag properties must use the 'flag_evaluates_to' operator");
    }
    for (const p of properties.filter((prop) => prop.type === "flag")) {
      const dependency = project.flags.find((flag) => !flag.deleted && String(flag.id) === String(p.key));
      if (dependency === undefined) throw invalid(`Flag dependency references non-existent flag with ID ${String(p.key)}`);
      if (dependency.key === selfKey) throw invalid(`Feature flag '${selfKey}' cannot depend on itself`);
    }
  } else if (!properties.every((p) => p.type === "group" && p.group_type_index === groupIndex)) {
    throw invalid("Filters are not valid (can only use group properties)");
  }
  const multivariate = isRecord(filters.multivariate) ? filters.multivariate : undefined;
  const variantList = multivariate && Array.isArray(multivariate.variants) ? multivariate.variants.filter(isRecord) : [];
  const variantKeys = new Set(variantList.map((variant) => String(variant.key)));
  if (variantList.length > 0) {
    const sum = variantList.reduce((total, variant) => total + (Number(variant.rollout_percentage) || 0), 0);
    if (sum !== 100) throw invalid("Invalid variant definitions: Variant rollout percentages must sum to 100.");
  }
  for (const group of groups) {
    if (group.variant && !variantKeys.has(String(group.variant))) {
      throw invalid("Filters are not valid (variant override does not exist)");
    }
  }
  const payloads = filters.payloads ?? {};
  if (!isRecord(payloads)) throw invalid("Payloads must be passed as a dictionary");
  const stringified: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(payloads)) {
    if (typeof value === "string") {
      try {
        JSON.parse(value);
      } catch {
        throw invalid("Payload value is not valid JSON");
      }
      stringified[key] = value;
    } else {
      stringified[key] = JSON.stringify(value);
    }
  }
  const keys = Object.keys(stringified);
  if (multivariate) {
    if (!keys.every((key) => variantKeys.has(key))) throw invalid("Payload keys must match a variant key for multivariate flags");
  } else if (keys.length > 1 || keys.some((key) => key !== "true")) {
    throw invalid("Payload keys must be 'true' for boolean flags");
  }
  return { ...filters, ...(filters.payloads === undefined ? {} : { payloads: stringified }) } as FlagFilters;
}

/** Active flags, other than `flag`, with a condition on it (PostHog's find_dependent_flags). */
export function dependentFlags(project: Project, flag: StoredFlag): StoredFlag[] {
  return project.flags
    .filter((other) => other.id !== flag.id && !other.deleted && other.active)
    .filter((other) =>
      (other.filters.groups ?? []).some((group) =>
        (group.properties ?? []).some((p) => p.type === "flag" && String(p.key) === String(flag.id)),
      ),
    )
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

function dependentsError(action: "disable" | "delete", dependents: StoredFlag[]): FlagValidationError {
  let names = dependents.slice(0, 5).map((f) => `${f.key} (ID: ${f.id})`).join(", ");
  if (dependents.length > 5) names += `, and ${dependents.length - 5} more`;
  return new FlagValidationError(
    `Cannot ${action} this feature flag because other flags depend on it: ${names}. Please update or disable the dependent flags first.`,
    "invalid_input",
    null,
  );
}

// ---- the store -------------------------------------------------------------------------

const TRACKED_FIELDS = ["key", "name", "filters", "active", "deleted", "tags", "ensure_experience_continuity", "evaluation_runtime"] as const;

export class ProjectStore {
  private projects = new Map<string, Project>();
  private nextFlagId = 1;
  private nextExperimentId = 1;
  /** Bumped on every change; the definitions cache key. */
  revision = 0;

  project(id: string): Project {
    let project = this.projects.get(id);
    if (project === undefined) {
      project = { id, groupTypeMapping: {}, flags: [], experiments: [], activity: [], changeRequests: [] };
      this.projects.set(id, project);
    }
    return project;
  }

  /** The project whose definitions are served for this project API key, if one is linked. */
  projectForToken(token: string): Project | undefined {
    return [...this.projects.values()].find((project) => project.token === token);
  }

  configure(id: string, options: { token?: string; groupTypeMapping?: Record<string, string> }): void {
    const project = this.project(id);
    if (options.token !== undefined) project.token = options.token;
    if (options.groupTypeMapping !== undefined) project.groupTypeMapping = { ...options.groupTypeMapping };
    this.revision++;
  }

  clear(): void {
    this.projects = new Map();
    this.nextFlagId = 1;
    this.nextExperimentId = 1;
    this.revision++;
  }

  /** Adds flags as they are (no validation, no activity), for a test's starting state. */
  seedFlags(projectId: string, seeds: FlagSeed[]): StoredFlag[] {
    const project = this.project(projectId);
    const now = new Date().toISOString();
    const added = seeds.map((seed): StoredFlag => {
      const createdAt = seed.created_at ?? now;
      const flag: StoredFlag = {
        name: "",
        filters: { groups: [{ properties: [], rollout_percentage: 0 }] },
        active: true,
        deleted: false,
        created_at: createdAt,
        updated_at: createdAt,
        version: 1,
        ensure_experience_continuity: false,
        evaluation_runtime: "all",
        last_called_at: null,
        performed_rollback: false,
        rollback_conditions: null,
        is_remote_configuration: false,
        created_by: null,
        last_modified_by: null,
        ...seed,
        id: seed.id ?? this.nextFlagId,
        tags: tagify(seed.tags ?? []),
      };
      this.nextFlagId = Math.max(this.nextFlagId, flag.id + 1);
      return flag;
    });
    project.flags.push(...added);
    this.revision++;
    return added;
  }

  seedExperiments(projectId: string, seeds: ExperimentSeed[]): StoredExperiment[] {
    const project = this.project(projectId);
    const added = seeds.map((seed): StoredExperiment => {
      const experiment: StoredExperiment = {
        feature_flag_key: null,
        deleted: false,
        created_at: new Date().toISOString(),
        ...seed,
        id: typeof seed.id === "number" ? seed.id : this.nextExperimentId,
      };
      this.nextExperimentId = Math.max(this.nextExperimentId, experiment.id + 1);
      return experiment;
    });
    project.experiments.push(...added);
    this.revision++;
    return added;
  }

  /** POST /feature_flags/: validates like PostHog and stores version 1. */
  createFlag(project: Project, body: Record<string, unknown>, tagging: boolean): StoredFlag {
    const key = validateKey(project, body.key);
    const filters = validateFilters(project, body.filters ?? {}, key);
    // PostHog hard-deletes a soft-deleted flag with the same key first.
    project.flags = project.flags.filter((flag) => !(flag.deleted && flag.key === key));
    const now = new Date().toISOString();
    const flag: StoredFlag = {
      id: this.nextFlagId++,
      key,
      name: typeof body.name === "string" ? body.name : "",
      filters,
      active: typeof body.active === "boolean" ? body.active : true,
      deleted: false,
      tags: tagging && Array.isArray(body.tags) ? tagify(body.tags) : [],
      created_at: now,
      updated_at: now,
      version: 1,
      ensure_experience_continuity: body.ensure_experience_continuity === true,
      evaluation_runtime: typeof body.evaluation_runtime === "string" ? body.evaluation_runtime : "all",
      last_called_at: null,
      performed_rollback: false,
      rollback_conditions: body.rollback_conditions ?? null,
      is_remote_configuration: body.is_remote_configuration === true,
      created_by: LOCAL_USER,
      last_modified_by: LOCAL_USER,
    };
    project.flags.push(flag);
    project.activity.push(this.activityEntry(flag, "created", null));
    this.revision++;
    return flag;
  }

  /** The approval action a PATCH body performs on a flag. */
  static approvalAction(flag: StoredFlag, body: Record<string, unknown>): ApprovalAction {
    if (body.active === false && flag.active) return "feature_flag.disable";
    if (body.active === true && !flag.active) return "feature_flag.enable";
    return "feature_flag.update";
  }

  /** Validates a PATCH body against the flag without changing anything. */
  validatePatch(project: Project, flag: StoredFlag, body: Record<string, unknown>): Partial<StoredFlag> {
    const changes: Partial<StoredFlag> = {};
    if ("key" in body) changes.key = validateKey(project, body.key, flag.id);
    // Without groups, PostHog keeps the current filters.
    if (isRecord(body.filters) && "groups" in body.filters) {
      changes.filters = validateFilters(project, body.filters, changes.key ?? flag.key);
    }
    if (typeof body.name === "string") changes.name = body.name;
    for (const field of ["active", "deleted", "ensure_experience_continuity", "is_remote_configuration"] as const) {
      if (typeof body[field] === "boolean") changes[field] = body[field] as boolean;
    }
    if (typeof body.evaluation_runtime === "string") changes.evaluation_runtime = body.evaluation_runtime;
    if ("rollback_conditions" in body) changes.rollback_conditions = body.rollback_conditions;
    if (Array.isArray(body.tags)) changes.tags = tagify(body.tags);
    return changes;
  }

  /** PostHog refuses to disable or delete a flag other active flags depend on (checked after the approval gate). */
  checkDependants(project: Project, flag: StoredFlag, changes: Partial<StoredFlag>): void {
    if (changes.active === false && flag.active) {
      const dependents = dependentFlags(project, flag);
      if (dependents.length > 0) throw dependentsError("disable", dependents);
    }
    if (changes.deleted === true && !flag.deleted) {
      const dependents = dependentFlags(project, flag);
      if (dependents.length > 0) throw dependentsError("delete", dependents);
    }
  }

  /** Applies validated changes: bumps `version`, logs the changed fields. */
  applyPatch(flag: StoredFlag, changes: Partial<StoredFlag>, tagging: boolean, project: Project): StoredFlag {
    if (!tagging) delete changes.tags; // PostHog drops tag writes silently without the licence
    if (changes.active === true) changes.performed_rollback = false;
    const logged = TRACKED_FIELDS.filter(
      (field) => field in changes && JSON.stringify(changes[field]) !== JSON.stringify(flag[field]),
    ).map((field) => ({ type: "FeatureFlag" as const, action: "changed" as const, field, before: flag[field], after: changes[field] }));
    Object.assign(flag, changes, {
      version: flag.version + 1,
      updated_at: new Date().toISOString(),
      last_modified_by: LOCAL_USER,
    });
    if (logged.length > 0) project.activity.push(this.activityEntry(flag, "updated", logged));
    this.revision++;
    return flag;
  }

  /** A pending change request for (action, flag): the gate's duplicate check, or a new one. */
  requestChange(
    project: Project,
    action: ApprovalAction,
    flag: StoredFlag,
    intent: Record<string, unknown>,
  ): { request: ChangeRequest; duplicate: boolean } {
    const resourceId = String(flag.id);
    const existing = project.changeRequests.find((r) => r.action_key === action && r.resource_id === resourceId);
    if (existing !== undefined) return { request: existing, duplicate: true };
    const request: ChangeRequest = {
      id: randomUUID(),
      action_key: action,
      resource_type: "feature_flag",
      resource_id: resourceId,
      intent,
      state: "pending",
      created_at: new Date().toISOString(),
    };
    project.changeRequests.push(request);
    return { request, duplicate: false };
  }

  allProjects(): Project[] {
    return [...this.projects.values()];
  }

  private activityEntry(
    flag: StoredFlag,
    activity: ActivityEntry["activity"],
    changes: ActivityEntry["detail"]["changes"],
  ): ActivityEntry {
    return {
      id: randomUUID(),
      user: LOCAL_USER,
      activity,
      scope: "FeatureFlag",
      item_id: String(flag.id),
      detail: { changes, name: flag.key },
      created_at: new Date().toISOString(),
    };
  }
}
