// PostHog's private REST API for feature flags and experiments, as the local server answers
// it: /api/projects/:pid/feature_flags/ (list, create, get, patch, status, dependent flags,
// activity) and /api/projects/:pid/experiments/, over the in-memory projects of
// projectStore.ts. Personal API key scopes, PostHog's throttles, the tagging licence and
// approval policies are switchable with `setPolicy`. Node-only, like the rest of the server.
import {
  type ApprovalAction,
  FlagValidationError,
  type Project,
  ProjectStore,
  type StoredFlag,
  dependentFlags,
  flagStatus,
  isStale,
  serializeExperiment,
  serializeFlag,
} from "./projectStore.js";

/** The route classes a throttle can be set for. */
export type AdminRouteClass = "feature_flags" | "experiments" | "activity_log" | "query";

export interface AdminPolicy {
  /**
   * Known personal API keys and their scopes (`feature_flag:read`, `feature_flag:write`,
   * `experiment:read`, `activity_log:read`, `*`; a `:write` scope includes `:read`). Other keys
   * get 401. Absent: any Bearer key holds every scope.
   */
  personalApiKeys?: Record<string, string[]>;
  /** false: the organisation lacks PostHog's tagging feature; tag writes are dropped, reads give []. Default true. */
  tagging?: boolean;
  /** Flag changes behind PostHog's approval gate: 409 approval_required (then change_request_pending), or 403. */
  approvals?: Partial<Record<ApprovalAction, "require_approval" | "deny">>;
  /**
   * Rates per route class and personal key, e.g. `{ feature_flags: ["480/minute", "4800/hour"] }`
   * or `{ query: "120/hour" }` (the query API); excess → 429 with Retry-After.
   */
  throttles?: Partial<Record<AdminRouteClass, string | string[]>>;
}

export interface AdminRequest {
  method: string;
  /** URL path, e.g. "/api/projects/1/feature_flags/". */
  path: string;
  query: URLSearchParams;
  authorization: string | undefined;
  /** The parsed JSON body (undefined when empty), or why it could not be parsed. */
  body: { ok: true; value: unknown } | { ok: false; error: string };
  /** "http://host:port", for the absolute `next`/`previous` links PostHog answers. */
  baseUrl: string;
}

export interface AdminResponse {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

/** Paths the admin API answers (everything under /api/projects/ except remote_config). */
export const ADMIN_PATH = /^\/api\/projects\/([^/]+)\/(feature_flags|experiments)(?:\/([^/]+))?(?:\/([^/]+))?\/?$/;

const SCOPE_BY_ROUTE = {
  list: "feature_flag:read",
  get: "feature_flag:read",
  status: "feature_flag:read",
  dependent_flags: "feature_flag:read",
  create: "feature_flag:write",
  patch: "feature_flag:write",
  activity: "activity_log:read",
  experiments: "experiment:read",
  experiment: "experiment:read",
} as const;

type RouteName = keyof typeof SCOPE_BY_ROUTE;

const DEFAULT_PAGE_SIZE = 100;
const DEFAULT_ACTIVITY_PAGE_SIZE = 10;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** PostHog's error envelope. */
function error(status: number, type: string, code: string, detail: string, attr: string | null = null): AdminResponse {
  return { status, body: { type, code, detail, attr } };
}

const notFound = () => error(404, "invalid_request", "not_found", "Not found.");

function parseRate(rate: string): { count: number; ms: number } {
  const match = /^(\d+)\/(second|minute|hour|day)$/.exec(rate.trim());
  if (match === null) throw new TypeError(`a throttle rate looks like "480/minute": ${JSON.stringify(rate)}`);
  const unitMs = { second: 1000, minute: 60_000, hour: 3_600_000, day: 86_400_000 }[match[2] as "second"];
  return { count: Number(match[1]), ms: unitMs };
}

function validatePolicy(policy: AdminPolicy): void {
  for (const rates of Object.values(policy.throttles ?? {})) {
    for (const rate of typeof rates === "string" ? [rates] : rates ?? []) parseRate(rate);
  }
}

function hasScope(scopes: string[], required: string): boolean {
  const [object] = required.split(":");
  return scopes.includes("*") || scopes.includes(required) || (required.endsWith(":read") && scopes.includes(`${object}:write`));
}

/** limit/offset paging with absolute `next`/`previous`, as DRF's LimitOffsetPagination. */
function limitOffsetPage(request: AdminRequest, items: unknown[]): Record<string, unknown> {
  const limit = Math.max(1, Number.parseInt(request.query.get("limit") ?? "", 10) || DEFAULT_PAGE_SIZE);
  const offset = Math.max(0, Number.parseInt(request.query.get("offset") ?? "", 10) || 0);
  const link = (at: number) => {
    const query = new URLSearchParams(request.query);
    query.set("limit", String(limit));
    if (at > 0) query.set("offset", String(at));
    else query.delete("offset");
    return `${request.baseUrl}${request.path}?${query}`;
  };
  return {
    count: items.length,
    next: offset + limit < items.length ? link(offset + limit) : null,
    previous: offset > 0 ? link(Math.max(0, offset - limit)) : null,
    results: items.slice(offset, offset + limit),
  };
}

export interface AdminApi {
  handle(request: AdminRequest): AdminResponse;
  /**
   * The personal-key check of the SDK endpoints that need `feature_flag:read`
   * (/flags/definitions, remote_config): an error answer, or undefined when allowed.
   */
  checkFlagReader(authorization: string | undefined): AdminResponse | undefined;
  /**
   * Authentication, scope and throttle of another REST route (the query API): an error answer
   * (401, 403, 429 with Retry-After), or undefined when allowed (and counted against the throttle).
   */
  gate(authorization: string | undefined, scope: string, routeClass: AdminRouteClass): AdminResponse | undefined;
  setPolicy(policy: AdminPolicy | undefined): void;
  /** Forgets the policy and throttle history. */
  reset(): void;
}

export function createAdminApi(store: ProjectStore): AdminApi {
  let policy: AdminPolicy = {};
  let throttleHistory = new Map<string, number[]>();

  const tagging = () => policy.tagging !== false;

  /** Seconds until the request may be retried, or undefined when it is allowed (and counted). */
  function throttle(routeClass: AdminRouteClass, apiKey: string): number | undefined {
    const configured = policy.throttles?.[routeClass];
    if (configured === undefined) return undefined;
    const now = Date.now();
    const rates = (typeof configured === "string" ? [configured] : configured).map(parseRate);
    let waitMs = 0;
    for (const { count, ms } of rates) {
      const id = `${routeClass} ${count}/${ms} ${apiKey}`;
      const history = (throttleHistory.get(id) ?? []).filter((at) => at > now - ms);
      throttleHistory.set(id, history);
      if (history.length >= count) waitMs = Math.max(waitMs, history[0]! + ms - now);
    }
    if (waitMs > 0) return Math.max(1, Math.ceil(waitMs / 1000));
    for (const { count, ms } of rates) throttleHistory.get(`${routeClass} ${count}/${ms} ${apiKey}`)!.push(now);
    return undefined;
  }

  /** 401 without a Bearer key or with one the policy does not know; 403 when it lacks `scope`. */
  function authorize(authorization: string | undefined, scope: string): AdminResponse | { apiKey: string } {
    const match = /^Bearer\s+(\S+)/i.exec(authorization ?? "");
    if (match === null) {
      return error(401, "authentication_error", "not_authenticated", "Authentication credentials were not provided.");
    }
    const apiKey = match[1]!;
    if (policy.personalApiKeys !== undefined) {
      const scopes = policy.personalApiKeys[apiKey];
      if (scopes === undefined) {
        const detail = "Personal API key found in request Authorization header is invalid.";
        return error(401, "authentication_error", "authentication_failed", detail);
      }
      if (!hasScope(scopes, scope)) {
        return error(403, "authentication_error", "permission_denied", `API key missing required scope '${scope}'`);
      }
    }
    return { apiKey };
  }

  function gate(authorization: string | undefined, scope: string, routeClass: AdminRouteClass): AdminResponse | undefined {
    const authorized = authorize(authorization, scope);
    if ("status" in authorized) return authorized;
    const retryAfter = throttle(routeClass, authorized.apiKey);
    if (retryAfter !== undefined) {
      const detail = `Request was throttled. Expected available in ${retryAfter} second${retryAfter === 1 ? "" : "s"}.`;
      return { ...error(429, "throttled_error", "throttled", detail), headers: { "Retry-After": String(retryAfter) } };
    }
    return undefined;
  }

  function listFlags(request: AdminRequest, project: Project): AdminResponse {
    const q = request.query;
    let flags = project.flags.filter((flag) => !flag.deleted);
    const active = q.get("active");
    if (active === "STALE") flags = flags.filter((flag) => isStale(flag));
    else if (active === "true" || active === "false") flags = flags.filter((flag) => flag.active === (active === "true"));
    const search = q.get("search")?.toLowerCase();
    if (search) {
      const experimentKeys = new Set(
        project.experiments.filter((e) => !e.deleted && e.name.toLowerCase().includes(search)).map((e) => e.feature_flag_key),
      );
      flags = flags.filter(
        (flag) => flag.key.toLowerCase().includes(search) || flag.name.toLowerCase().includes(search) || experimentKeys.has(flag.key),
      );
    }
    const type = q.get("type");
    if (type === "boolean") flags = flags.filter((flag) => !flag.filters.multivariate && !flag.is_remote_configuration);
    else if (type === "multivariant") flags = flags.filter((flag) => Boolean(flag.filters.multivariate));
    else if (type === "remote_config") flags = flags.filter((flag) => flag.is_remote_configuration);
    else if (type === "experiment") {
      const keys = new Set(project.experiments.filter((e) => !e.deleted).map((e) => e.feature_flag_key));
      flags = flags.filter((flag) => keys.has(flag.key));
    }
    const runtime = q.get("evaluation_runtime");
    if (runtime) flags = flags.filter((flag) => flag.evaluation_runtime === runtime);
    const tags = jsonList(q.get("tags"));
    // A value that is not a JSON list filters nothing, as in PostHog.
    if (tags !== undefined) flags = flags.filter((flag) => flag.tags.some((tag) => tags.includes(tag)));
    const ordered = [...flags].sort((a, b) => b.created_at.localeCompare(a.created_at) || b.id - a.id);
    const page = limitOffsetPage(request, ordered);
    const results = (page.results as StoredFlag[]).map((flag) => serializeFlag(project, flag, tagging()));
    return { status: 200, body: { ...page, results } };
  }

  function createFlag(request: AdminRequest, project: Project): AdminResponse {
    const flag = store.createFlag(project, jsonObject(request), tagging());
    return { status: 201, body: serializeFlag(project, flag, tagging()) };
  }

  function patchFlag(request: AdminRequest, project: Project, flag: StoredFlag): AdminResponse {
    const body = jsonObject(request);
    const validated = store.validatePatch(project, flag, body);
    const action = ProjectStore.approvalAction(flag, body);
    const gate = policy.approvals?.[action];
    if (gate === "deny") {
      const detail = `This action is not allowed by approval policy: ${action} is denied`;
      return error(403, "authentication_error", "permission_denied", detail);
    }
    if (gate === "require_approval") {
      const { request: changeRequest, duplicate } = store.requestChange(project, action, flag, body);
      const common = { resource_type: "feature_flag", resource_id: String(flag.id), change_request_id: changeRequest.id };
      if (duplicate) {
        const message = "A pending approval request already exists for this action";
        return { status: 409, body: { code: "change_request_pending", error: message, ...common, existing_change_request: changeRequest } };
      }
      return {
        status: 409,
        body: {
          code: "approval_required",
          status: "approval_required",
          message: "Approval required",
          ...common,
          change_request: changeRequest,
          required_approvers: {},
        },
      };
    }
    store.checkDependants(project, flag, validated);
    store.applyPatch(flag, validated, tagging(), project);
    return { status: 200, body: serializeFlag(project, flag, tagging()) };
  }

  function activity(request: AdminRequest, project: Project, flag: StoredFlag): AdminResponse {
    const limit = Math.max(1, Number.parseInt(request.query.get("limit") ?? "", 10) || DEFAULT_ACTIVITY_PAGE_SIZE);
    const page = Math.max(1, Number.parseInt(request.query.get("page") ?? "", 10) || 1);
    const entries = project.activity.filter((entry) => entry.item_id === String(flag.id)).reverse();
    const link = (to: number) => {
      const query = new URLSearchParams(request.query);
      query.set("page", String(to));
      query.set("limit", String(limit));
      return `${request.baseUrl}${request.path}?${query}`;
    };
    return {
      status: 200,
      body: {
        results: entries.slice((page - 1) * limit, page * limit),
        next: page * limit < entries.length ? link(page + 1) : null,
        previous: page > 1 ? link(page - 1) : null,
        total_count: entries.length,
      },
    };
  }

  function handle(request: AdminRequest): AdminResponse {
    const match = ADMIN_PATH.exec(request.path);
    if (match === null) return notFound();
    const [, rawProjectId, collection, id, action] = match;
    const method = request.method;
    let route: RouteName | undefined;
    if (collection === "experiments") route = id === undefined ? "experiments" : action === undefined ? "experiment" : undefined;
    else if (id === undefined) route = method === "POST" ? "create" : "list";
    else if (action === undefined) route = method === "PATCH" ? "patch" : "get";
    else if (action === "activity" || action === "status" || action === "dependent_flags") route = action;
    if (route === undefined) return notFound();
    const routeClass: AdminRouteClass = route === "experiments" || route === "experiment" ? "experiments" : route === "activity" ? "activity_log" : "feature_flags";
    const denied = gate(request.authorization, SCOPE_BY_ROUTE[route], routeClass);
    if (denied !== undefined) return denied;
    const allowed = route === "create" || route === "list" ? ["GET", "POST"] : route === "patch" || route === "get" ? ["GET", "PATCH"] : ["GET"];
    if (!allowed.includes(method)) return error(405, "invalid_request", "method_not_allowed", `Method "${method}" not allowed.`);

    const project = store.project(decodeURIComponent(rawProjectId!));
    try {
      if (route === "experiments") {
        const experiments = project.experiments.filter((e) => !e.deleted).sort((a, b) => b.created_at.localeCompare(a.created_at) || b.id - a.id);
        const page = limitOffsetPage(request, experiments);
        return { status: 200, body: { ...page, results: (page.results as typeof experiments).map((e) => serializeExperiment(project, e)) } };
      }
      if (route === "experiment") {
        const experiment = project.experiments.find((e) => !e.deleted && String(e.id) === id);
        return experiment === undefined ? notFound() : { status: 200, body: serializeExperiment(project, experiment) };
      }
      if (route === "list") return listFlags(request, project);
      if (route === "create") return createFlag(request, project);
      const flag = /^\d+$/.test(id!) ? project.flags.find((f) => f.id === Number(id)) : undefined;
      if (flag === undefined) return notFound();
      switch (route) {
        case "get":
          return { status: 200, body: serializeFlag(project, flag, tagging()) };
        case "patch":
          return patchFlag(request, project, flag);
        case "status":
          return { status: 200, body: flagStatus(flag) };
        case "dependent_flags":
          return { status: 200, body: dependentFlags(project, flag).map(({ id, key, name }) => ({ id, key, name })) };
        case "activity":
          return activity(request, project, flag);
      }
    } catch (caught) {
      if (caught instanceof FlagValidationError) return error(400, "validation_error", caught.code, caught.message, caught.attr);
      throw caught;
    }
  }

  return {
    handle,
    gate,
    checkFlagReader(authorization) {
      const authorized = authorize(authorization, "feature_flag:read");
      return "status" in authorized ? authorized : undefined;
    },
    setPolicy(next) {
      const value = next ?? {};
      validatePolicy(value);
      policy = value;
      throttleHistory = new Map();
    },
    reset() {
      policy = {};
      throttleHistory = new Map();
    },
  };
}

/** A request's JSON object body; anything else is PostHog's 400. */
function jsonObject(request: AdminRequest): Record<string, unknown> {
  if (!request.body.ok) throw new FlagValidationError(`JSON parse error - ${request.body.error}`, "parse_error", null);
  const value = request.body.value ?? {};
  if (!isRecord(value)) throw new FlagValidationError("Invalid data. Expected a dictionary.", "invalid_input", null);
  return value;
}

/** `?tags=["a","b"]` as a list of strings; anything else is ignored (undefined), like PostHog. */
function jsonList(raw: string | null): string[] | undefined {
  if (raw === null) return undefined;
  try {
    const parsed: unknown = JSON.parse(raw);
    return Array.isArray(parsed) ? parsed.map(String) : undefined;
  } catch {
    return undefined;
  }
}
