// The local server's default answer to POST /flags: PostHog's v2 response, computed from the
// definitions the server also serves on /flags/definitions, with the project's pure evaluator.
//
// PostHog's /flags service knows more than local evaluation: stored person and group
// properties, cohort membership, experience-continuity overrides. This server only has what the
// request carries, and answers as PostHog would for a person it holds nothing about:
// * every active flag is evaluated (or only `flag_keys_to_evaluate`); inactive flags, keys
//   without a definition, flags for the other runtime (`evaluation_runtime`) and flags whose
//   evaluation tags do not meet the request's `evaluation_contexts` are omitted;
// * experience continuity: with no stored hash-key override the service hashes the distinct
//   id, so those flags are evaluated as if continuity were off;
// * anything else local evaluation cannot decide (a property the request does not send, a
//   static cohort, a definition it does not support) is answered the way PostHog answers a flag
//   it failed to compute: `{enabled: false, variant: null, failed: true}` with the undecided
//   reason as `reason.code`, and `errorsWhileComputingFlags: true`. `false` is also what PostHog
//   would most likely answer for a person without that property or cohort membership; the
//   error flag says the answer is a guess;
// * reasons follow PostHog's service: `condition_match` (with `condition_index` and
//   "Matched condition set N"), `no_condition_match`, `out_of_rollout_bound`, `no_group_type`,
//   `holdout_condition_value`; `metadata` carries `id`, `version` (0 when the definition has
//   none), `description: null`, `payload` (the stored JSON string of the matched value, null
//   when none) and `has_experiment`;
// * `requestId` (a uuid), `evaluatedAt` (now), `minimalFlagCalledEvents: true` when the
//   definitions set `minimal_flag_called_events`.
// Node-only (node:crypto), like the rest of the local server.
import { randomUUID } from "node:crypto";
import { FlagEvaluator } from "../core/flags/index.js";
import type {
  DefinitionSource,
  EvaluationContext,
  FlagDefinition,
  FlagResult,
  PropertyGroup,
} from "../core/flags/index.js";

export interface FlagDetailsV2 {
  key: string;
  enabled: boolean;
  variant: string | null;
  failed?: true;
  reason: { code: string; condition_index: number | null; description?: string };
  metadata: { id: number; version: number; description: null; payload: string | null; has_experiment: boolean };
}

export interface FlagsResponseV2 {
  flags: Record<string, FlagDetailsV2>;
  errorsWhileComputingFlags: boolean;
  requestId: string;
  evaluatedAt: number;
  minimalFlagCalledEvents?: true;
}

export interface EvaluateFlagsOptions {
  /** Epoch ms for relative dates and `evaluatedAt`. Default Date.now(). */
  now?: number;
  /** Default a random uuid. */
  requestId?: string;
}

type Json = Record<string, unknown>;

const isRecord = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);
const hasOwn = (object: object, key: string) => Object.prototype.hasOwnProperty.call(object, key);

/** A DefinitionSource over a parsed /flags/definitions body; malformed parts are skipped. */
export function definitionSource(definitions: unknown, override?: (flag: FlagDefinition) => FlagDefinition): DefinitionSource {
  const body = isRecord(definitions) ? definitions : {};
  const flags = new Map<string, FlagDefinition>();
  for (const flag of Array.isArray(body.flags) ? body.flags : []) {
    // A repeated key: the last wins, as in posthog-node's poller.
    if (isRecord(flag) && typeof flag.key === "string") flags.set(flag.key, flag as FlagDefinition);
  }
  const cohorts = isRecord(body.cohorts) ? body.cohorts : {};
  const mapping = isRecord(body.group_type_mapping) ? (body.group_type_mapping as Record<string, string>) : {};
  return {
    flag: (key) => {
      const flag = flags.get(key);
      return flag === undefined || override === undefined ? flag : override(flag);
    },
    cohort: (id) => (hasOwn(cohorts, id) && isRecord(cohorts[id]) ? (cohorts[id] as PropertyGroup) : undefined),
    groupTypeMapping: mapping,
    ...(typeof body.property_matching_version === "number" && {
      propertyMatchingVersion: body.property_matching_version,
    }),
  };
}

/** The evaluation context a /flags request body describes. */
export function contextOfRequest(body: unknown, now: number): EvaluationContext {
  const request = isRecord(body) ? body : {};
  const groups: Record<string, string> = {};
  if (isRecord(request.groups)) {
    for (const [type, key] of Object.entries(request.groups)) {
      if (key !== null && key !== undefined) groups[type] = String(key);
    }
  }
  const personProperties: Json = isRecord(request.person_properties) ? { ...request.person_properties } : {};
  // The top-level $device_id is what the service buckets device-id flags by.
  if (request.$device_id !== undefined && request.$device_id !== null && personProperties.$device_id === undefined) {
    personProperties.$device_id = request.$device_id;
  }
  const groupProperties: Record<string, Json> = {};
  if (isRecord(request.group_properties)) {
    for (const [type, properties] of Object.entries(request.group_properties)) {
      if (isRecord(properties)) groupProperties[type] = properties;
    }
  }
  const distinctId = request.distinct_id;
  return {
    distinctId: typeof distinctId === "string" ? distinctId : distinctId == null ? "" : String(distinctId),
    groups,
    personProperties,
    groupProperties,
    now,
  };
}

/** Answers a parsed POST /flags body from parsed definitions, like PostHog's v2 /flags. */
export function evaluateFlagsRequest(body: unknown, definitions: unknown, options: EvaluateFlagsOptions = {}): FlagsResponseV2 {
  const now = options.now ?? Date.now();
  const request = isRecord(body) ? body : {};
  const context = contextOfRequest(request, now);
  // No stored continuity overrides: such flags hash the distinct id like any other.
  const withoutContinuity = (flag: FlagDefinition): FlagDefinition =>
    flag.ensure_experience_continuity ? { ...flag, ensure_experience_continuity: false } : flag;
  const source = definitionSource(definitions, withoutContinuity);
  const evaluator = new FlagEvaluator(source, context);

  const definitionBody = isRecord(definitions) ? definitions : {};
  const allKeys = (Array.isArray(definitionBody.flags) ? definitionBody.flags : [])
    .filter((flag): flag is FlagDefinition => isRecord(flag) && typeof flag.key === "string")
    .map((flag) => flag.key);
  const requested = Array.isArray(request.flag_keys_to_evaluate)
    ? request.flag_keys_to_evaluate.filter((key): key is string => typeof key === "string")
    : allKeys;

  const flags: Array<[string, FlagDetailsV2]> = [];
  let errors = false;
  for (const key of new Set(requested)) {
    const flag = source.flag(key);
    if (flag === undefined || !flag.active) continue;
    if (!servedTo(flag, request)) continue;
    const result = evaluator.evaluate(key);
    const details = detailsOf(flag, result, source, context);
    if (details.failed) errors = true;
    flags.push([key, details]);
  }
  return {
    flags: Object.fromEntries(flags),
    errorsWhileComputingFlags: errors,
    requestId: options.requestId ?? randomUUID(),
    evaluatedAt: now,
    ...(definitionBody.minimal_flag_called_events === true && { minimalFlagCalledEvents: true as const }),
  };
}

/** The service's runtime and evaluation-context filters. */
function servedTo(flag: FlagDefinition, request: Json): boolean {
  const runtime = request.evaluation_runtime;
  const flagRuntime = flag.evaluation_runtime;
  if ((runtime === "server" || runtime === "client") && (flagRuntime === "server" || flagRuntime === "client")) {
    if (flagRuntime !== runtime) return false;
  }
  const contexts = request.evaluation_contexts;
  if (Array.isArray(contexts) && contexts.length > 0) {
    const tags = flag.evaluation_contexts ?? flag.evaluation_tags;
    if (Array.isArray(tags) && tags.length > 0 && !tags.some((tag) => contexts.includes(tag))) return false;
  }
  return true;
}

function detailsOf(flag: FlagDefinition, result: FlagResult, source: DefinitionSource, context: EvaluationContext): FlagDetailsV2 {
  const metadata = {
    id: typeof flag.id === "number" ? flag.id : 0,
    version: typeof flag.version === "number" ? flag.version : 0,
    description: null,
    payload: null as string | null,
    has_experiment: flag.has_experiment === true,
  };
  if (!result.resolved) {
    return {
      key: flag.key,
      enabled: false,
      variant: null,
      failed: true,
      reason: {
        code: result.reason,
        condition_index: null,
        description: `The local server cannot decide this flag (${result.reason}) from the request alone`,
      },
      metadata,
    };
  }
  const value = result.value;
  if (value !== false) metadata.payload = storedPayload(flag, value);
  return {
    key: flag.key,
    enabled: value !== false,
    variant: typeof value === "string" ? value : null,
    reason: reasonOf(flag, value, source, context),
    metadata,
  };
}

/** The stored payload for a value as the service sends it: the JSON string, null when none. */
function storedPayload(flag: FlagDefinition, value: true | string): string | null {
  const payloads = flag.filters?.payloads;
  if (!isRecord(payloads)) return null;
  const slot = value === true ? "true" : value;
  const stored = hasOwn(payloads, slot) ? payloads[slot] : undefined;
  // posthog-node's local evaluation treats a falsy stored entry as no payload; so does this.
  if (!stored) return null;
  return typeof stored === "string" ? stored : JSON.stringify(stored);
}

function reasonOf(
  flag: FlagDefinition,
  value: true | false | string,
  source: DefinitionSource,
  context: EvaluationContext,
): FlagDetailsV2["reason"] {
  const filters = flag.filters ?? {};
  const holdoutId = isRecord(filters.holdout) ? filters.holdout.id : undefined;
  if (typeof value === "string" && holdoutId !== undefined && holdoutId !== null && value === `holdout-${holdoutId}`) {
    return { code: "holdout_condition_value", condition_index: null, description: "Holdout condition value" };
  }
  const conditions = Array.isArray(filters.groups) ? filters.groups : [];
  if (value !== false) {
    const index = firstMatchingPrefix(flag, source, context, conditions);
    return {
      code: "condition_match",
      condition_index: index,
      description: `Matched condition set ${(index ?? 0) + 1}`,
    };
  }
  const aggregation = filters.aggregation_group_type_index;
  if (aggregation !== undefined && aggregation !== null) {
    const groupType = source.groupTypeMapping[String(aggregation)];
    if (groupType !== undefined && !hasOwn(context.groups ?? {}, groupType)) {
      return { code: "no_group_type", condition_index: null, description: "No group type" };
    }
  }
  // Filters matched somewhere but the rollout left this user out.
  const fullRollout = conditions.map((condition) => ({ ...condition, rollout_percentage: null }));
  const excludedAt = firstMatchingPrefix(flag, source, context, fullRollout);
  if (excludedAt !== null) {
    return { code: "out_of_rollout_bound", condition_index: excludedAt, description: "Out of rollout bound" };
  }
  return { code: "no_condition_match", condition_index: null, description: "No matching condition set" };
}

/**
 * The index of the condition that decides a match: the shortest prefix of `conditions` with
 * which the flag evaluates to a non-false value (null when none does).
 */
function firstMatchingPrefix(
  flag: FlagDefinition,
  source: DefinitionSource,
  context: EvaluationContext,
  conditions: NonNullable<NonNullable<FlagDefinition["filters"]>["groups"]>,
): number | null {
  for (let index = 0; index < conditions.length; index++) {
    const variant: FlagDefinition = {
      ...flag,
      filters: { ...flag.filters, holdout: null, groups: conditions.slice(0, index + 1) },
    };
    const prefixSource: DefinitionSource = {
      ...source,
      flag: (key) => (key === flag.key ? variant : source.flag(key)),
    };
    const result = new FlagEvaluator(prefixSource, context).evaluate(flag.key);
    if (result.resolved && result.value !== false) return index;
  }
  return null;
}
