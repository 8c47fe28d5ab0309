// A local PostHog-compatible HTTP server for tests, benchmarks and development.
//
// It speaks the parts of the PostHog protocol a server-side SDK uses (capture on /batch/,
// remote flags on /flags, local-evaluation definitions on /flags/definitions), keeps what it
// receives so tests can assert on it, and injects faults on demand. Node-only: this code never
// runs inside Convex.
import { createServer } from "node:http";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { evaluateFlagsRequest } from "./flagsEndpoint.js";
import { ADMIN_PATH, createAdminApi, type AdminPolicy } from "./adminApi.js";
import { QUERY_PATH, createQueryApi, type QueryResponse } from "./queryApi.js";
import {
  ProjectStore,
  definitionsOf,
  type ChangeRequest,
  type ExperimentSeed,
  type FlagSeed,
  type StoredExperiment,
  type StoredFlag,
} from "./projectStore.js";

export type { AdminPolicy, AdminRouteClass } from "./adminApi.js";
export type { ChangeRequest, ExperimentSeed, FlagSeed, StoredExperiment, StoredFlag } from "./projectStore.js";

export interface LocalPostHogOptions {
  /** 0 = a random free port. Default 0. */
  port?: number;
  /** Default "127.0.0.1": the server binds loopback unless told otherwise. */
  hostname?: string;
  /** Default body for GET /flags/definitions (survives reset()). */
  definitions?: unknown;
  /** A JSON file served on GET /flags/definitions, re-read on every request. */
  definitionsFile?: string;
  /** Called with one line per received event and per faulted or rejected request. */
  log?: (line: string) => void;
  /**
   * Answers POST /flags when no canned response was set with setFlagsResponse.
   * Receives the parsed request body and the definitions that GET /flags/definitions would
   * serve for the body's token (parsed JSON). Default: evaluateFlagsRequest (flagsEndpoint.ts),
   * a v2 answer computed from those definitions.
   */
  evaluateFlags?: (body: any, definitions: unknown) => unknown;
}

export interface ReceivedEvent {
  apiKey: string;
  event: string;
  distinct_id: string;
  uuid: string;
  timestamp: string;
  properties: Record<string, unknown>;
  /** The whole message as received. */
  message: Record<string, unknown>;
  receivedAt: number;
  /** Index of the request that carried this event in the unfiltered batches() list. */
  batchIndex: number;
}

export interface ReceivedBatch {
  apiKey: string;
  path: string;
  gzip: boolean;
  headers: Record<string, string>;
  /** Body size on the wire (compressed size when gzipped). */
  bodyBytes: number;
  sentAt?: string;
  historicalMigration?: boolean;
  events: ReceivedEvent[];
  status: number;
  receivedAt: number;
}

export interface RequestRecord {
  method: string;
  path: string;
  /** Query string without the leading "?". */
  query: string;
  apiKey?: string;
  /** "hang": a hangMs fault held the request and the client left (or the server closed) first. */
  status: number | "reset" | "hang";
  bodyBytes: number;
  receivedAt: number;
  headers: Record<string, string>;
  /** Parsed JSON body (after gunzip) when there was one. */
  body?: unknown;
}

export type FaultRule = {
  /** Request path the rule applies to; default: every data path. See pathMatches. */
  path?: string;
  /** Only requests carrying this project key (body api_key / body token / ?token=). */
  apiKey?: string;
  /** Apply to this many matching requests, then the rule expires (default: until cleared). */
  times?: number;
  /** Apply for this long after the rule is installed. */
  forMs?: number;
} & (
  | { status: number; body?: string; headers?: Record<string, string> }
  | { reset: true }
  | { hangMs: number }
  | { maxBodyBytes: number; status?: number }
);

/** A JSON body received on POST /_local/slack/:channel (a Slack incoming-webhook stand-in). */
export interface SlackMessage {
  channel: string;
  body: unknown;
  receivedAt: number;
}

export interface LocalPostHog {
  /** "http://127.0.0.1:PORT" */
  url: string;
  /** Stops listening and destroys open and hanging sockets. */
  close(): Promise<void>;
  /** Accepted events (answered 2xx), in arrival order. */
  events(apiKey?: string): ReceivedEvent[];
  /** Accepted capture requests. */
  batches(apiKey?: string): ReceivedBatch[];
  /** Every data request, including faulted and rejected ones (not the /_local control API). */
  requests(): RequestRecord[];
  /** Forgets received data, faults, definitions set by setDefinitions and canned /flags answers. */
  reset(): void;
  /** Rules are checked in order; the first matching active rule applies. */
  addFaults(...rules: FaultRule[]): void;
  clearFaults(): void;
  /** Body for GET /flags/definitions, for one token or (without token) the default for all. `undefined` removes it. */
  setDefinitions(definitions: unknown, options?: { token?: string; etag?: string }): void;
  /** Canned answer for POST /flags; a function receives the parsed body. `undefined` removes it. */
  setFlagsResponse(response: unknown | ((body: any) => unknown), options?: { token?: string }): void;
  /**
   * Links a project of the REST API (/api/projects/:id/...) to a project API key: from then on
   * /flags/definitions?token=<token> serves that project's flags (unless setDefinitions set some).
   */
  setProject(projectId: string, options: { token?: string; groupTypeMapping?: Record<string, string> }): void;
  /** Adds flags to a project as they are (no validation, no activity entry). */
  seedFlags(projectId: string, flags: FlagSeed[]): StoredFlag[];
  seedExperiments(projectId: string, experiments: ExperimentSeed[]): StoredExperiment[];
  /** A project's flags as stored, deleted ones included. */
  projectFlags(projectId: string): StoredFlag[];
  /** Change requests opened by the approval policy, in order. */
  changeRequests(projectId: string): ChangeRequest[];
  /** Scopes, tagging, approvals and throttles of the REST API; `undefined` restores the default (all allowed). */
  setAdminPolicy(policy: AdminPolicy | undefined): void;
  /**
   * Canned answer for the query API (/api/projects/:id/query/), filled out to PostHog's
   * HogQLQueryResponse shape; a function receives the parsed body. `undefined` goes back to the
   * built-in evaluator of the guardian's query (queryApi.ts).
   */
  setQueryResponse(response: QueryResponse): void;
  /** Bodies received on POST /_local/slack/:channel, in order. */
  slackMessages(channel?: string): SlackMessage[];
}

const SLACK_PATH = "/_local/slack";
const EMPTY_DEFINITIONS = { flags: [], group_type_mapping: {}, cohorts: {} };
const MAX_BODY_BYTES = 64 * 1024 * 1024;

const CAPTURE_PATHS = new Set(["/batch", "/capture", "/e", "/i/v0/e"]);
const FLAGS_PATHS = new Set(["/flags"]);
const DEFINITIONS_PATHS = new Set(["/flags/definitions", "/api/feature_flag/local_evaluation"]);
const ENDPOINT_PATHS = new Set([...CAPTURE_PATHS, ...FLAGS_PATHS, ...DEFINITIONS_PATHS]);

type Route = "capture" | "flags" | "definitions" | "remote_config" | "admin" | "query" | "unknown";

/** GET /api/projects/@current/feature_flags/{key}/remote_config: the flag key, URL-decoded. */
const REMOTE_CONFIG_PATH = /^\/api\/projects\/[^/]+\/feature_flags\/([^/]+)\/remote_config$/;

interface ServedDefinitions {
  text: string;
  etag: string;
}

interface InstalledFault {
  rule: FaultRule;
  remaining?: number;
  expiresAt?: number;
}

type DecodedBody =
  | { ok: true; gzip: boolean; value: unknown /* undefined when the body is empty */ }
  | { ok: false; gzip: boolean; error: string };

/** Raised by the control API for a bad request; becomes a 400. */
class BadRequest extends Error {}

function stripTrailingSlashes(path: string): string {
  const stripped = path.replace(/\/+$/, "");
  return stripped === "" ? "/" : stripped;
}

/**
 * A rule path that names an endpoint ("/batch/", "/flags", "/flags/definitions", an alias)
 * matches that endpoint only, with or without its trailing slash, so "/flags" does not also
 * fault "/flags/definitions". Any other rule path is a plain prefix ("/i/", "/api/").
 */
function pathMatches(rulePath: string, requestPath: string): boolean {
  const rule = stripTrailingSlashes(rulePath);
  if (ENDPOINT_PATHS.has(rule)) return stripTrailingSlashes(requestPath) === rule;
  return requestPath.startsWith(rulePath);
}

function routeOf(path: string): Route {
  const p = stripTrailingSlashes(path);
  if (CAPTURE_PATHS.has(p)) return "capture";
  if (FLAGS_PATHS.has(p)) return "flags";
  if (DEFINITIONS_PATHS.has(p)) return "definitions";
  if (REMOTE_CONFIG_PATH.test(p)) return "remote_config";
  if (ADMIN_PATH.test(path)) return "admin";
  if (QUERY_PATH.test(path)) return "query";
  return "unknown";
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function nonEmptyString(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

function headerRecord(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  return out;
}

function strongEtag(text: string): string {
  return `"${createHash("sha256").update(text).digest("hex").slice(0, 40)}"`;
}

function quoteEtag(etag: string): string {
  return /^(W\/)?".*"$/.test(etag) ? etag : `"${etag}"`;
}

function etagMatches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false;
  const bare = (tag: string) => tag.trim().replace(/^W\//, "");
  return ifNoneMatch.split(",").some((tag) => tag.trim() === "*" || bare(tag) === bare(etag));
}

function decodeBody(raw: Buffer, headers: IncomingMessage["headers"]): DecodedBody {
  const declaredGzip = /gzip/i.test(headers["content-encoding"] ?? "");
  const gzip = declaredGzip || (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b);
  let bytes = raw;
  if (gzip) {
    try {
      bytes = gunzipSync(raw);
    } catch (error) {
      return { ok: false, gzip, error: `could not gunzip the request body: ${(error as Error).message}` };
    }
  }
  const text = bytes.toString("utf8");
  if (text.trim() === "") return { ok: true, gzip, value: undefined };
  try {
    return { ok: true, gzip, value: JSON.parse(text) };
  } catch (error) {
    return { ok: false, gzip, error: `malformed JSON body: ${(error as Error).message}` };
  }
}

/** The project key a data request carries: body api_key / token, then ?token=. */
function apiKeyOf(body: unknown, query: URLSearchParams): string | undefined {
  const first = Array.isArray(body) ? body[0] : body;
  if (isRecord(first)) {
    const key =
      nonEmptyString(first.api_key) ??
      nonEmptyString(first.token) ??
      (isRecord(first.properties) ? nonEmptyString(first.properties.token) : undefined);
    if (key !== undefined) return key;
  }
  return nonEmptyString(query.get("token")) ?? nonEmptyString(query.get("api_key"));
}

function validateFault(rule: FaultRule): void {
  if (!isRecord(rule)) throw new TypeError("a fault rule must be an object");
  const r = rule as Record<string, unknown>;
  const kinds = [
    r.reset === true,
    typeof r.hangMs === "number",
    typeof r.maxBodyBytes === "number",
    typeof r.status === "number" && r.maxBodyBytes === undefined,
  ].filter(Boolean).length;
  if (kinds !== 1) {
    throw new TypeError(
      `a fault rule needs exactly one of status, reset: true, hangMs or maxBodyBytes: ${JSON.stringify(rule)}`,
    );
  }
  if (r.status !== undefined && (typeof r.status !== "number" || r.status < 100 || r.status > 599)) {
    throw new TypeError(`fault status must be an HTTP status code: ${JSON.stringify(rule)}`);
  }
}

function errorType(status: number): string {
  if (status === 400) return "validation_error";
  if (status === 401 || status === 403) return "authentication_error";
  return status >= 500 ? "server_error" : "invalid_request";
}

function errorBody(type: string, code: string, detail: string): string {
  return JSON.stringify({ type, code, detail, attr: null });
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export async function startLocalPostHog(options: LocalPostHogOptions = {}): Promise<LocalPostHog> {
  const hostname = options.hostname ?? "127.0.0.1";
  const log = options.log ?? (() => {});

  let events: ReceivedEvent[] = [];
  let batches: ReceivedBatch[] = [];
  let requests: RequestRecord[] = [];
  let faults: InstalledFault[] = [];
  let defaultDefinitions: ServedDefinitions | undefined;
  let definitionsByToken = new Map<string, ServedDefinitions>();
  let defaultFlagsResponse: unknown;
  let flagsResponseByToken = new Map<string, unknown>();
  let slackMessages: SlackMessage[] = [];
  const projects = new ProjectStore();
  const adminApi = createAdminApi(projects);
  // A project linked to a token (setProject) sees that token's events; any other project sees all.
  const queryApi = createQueryApi(adminApi, (projectId) => {
    const token = projects.project(projectId).token;
    return token === undefined ? events : events.filter((e) => e.apiKey === token);
  });
  let storeDefinitions: { revision: number; token: string; served: ServedDefinitions } | undefined;

  const sockets = new Set<Socket>();
  const pendingHangs = new Set<() => void>();
  let closed = false;

  const optionDefinitions =
    options.definitions === undefined ? undefined : served(JSON.stringify(options.definitions));

  function served(text: string, etag?: string): ServedDefinitions {
    return { text, etag: etag === undefined ? strongEtag(text) : quoteEtag(etag) };
  }

  function definitionsFor(token: string | undefined): ServedDefinitions {
    const set = (token !== undefined ? definitionsByToken.get(token) : undefined) ?? defaultDefinitions;
    if (set !== undefined) return set;
    const fromStore = token === undefined ? undefined : projectDefinitions(token);
    if (fromStore !== undefined) return fromStore;
    if (optionDefinitions !== undefined) return optionDefinitions;
    if (options.definitionsFile !== undefined) {
      // Re-read on every request so edits show up without a restart; parse to validate.
      const text = readFileSync(options.definitionsFile, "utf8");
      JSON.parse(text);
      return served(text);
    }
    return served(JSON.stringify(EMPTY_DEFINITIONS));
  }

  /** The definitions of the project linked to `token`, regenerated when the store changed. */
  function projectDefinitions(token: string): ServedDefinitions | undefined {
    const project = projects.projectForToken(token);
    if (project === undefined) return undefined;
    if (storeDefinitions?.revision !== projects.revision || storeDefinitions.token !== token) {
      storeDefinitions = { revision: projects.revision, token, served: served(JSON.stringify(definitionsOf(project))) };
    }
    return storeDefinitions.served;
  }

  function setDefinitions(definitions: unknown, opts: { token?: string; etag?: string } = {}): void {
    const entry = definitions === undefined ? undefined : served(JSON.stringify(definitions), opts.etag);
    if (opts.token === undefined) defaultDefinitions = entry;
    else if (entry === undefined) definitionsByToken.delete(opts.token);
    else definitionsByToken.set(opts.token, entry);
  }

  function setFlagsResponse(response: unknown, opts: { token?: string } = {}): void {
    if (opts.token === undefined) defaultFlagsResponse = response;
    else if (response === undefined) flagsResponseByToken.delete(opts.token);
    else flagsResponseByToken.set(opts.token, response);
  }

  function addFaults(...rules: FaultRule[]): void {
    rules.forEach(validateFault);
    const now = Date.now();
    for (const rule of rules) {
      faults.push({
        rule,
        remaining: rule.times,
        expiresAt: rule.forMs === undefined ? undefined : now + rule.forMs,
      });
    }
  }

  function clearFaults(): void {
    faults = [];
  }

  function reset(): void {
    events = [];
    batches = [];
    requests = [];
    faults = [];
    defaultDefinitions = undefined;
    definitionsByToken = new Map();
    defaultFlagsResponse = undefined;
    flagsResponseByToken = new Map();
    slackMessages = [];
    projects.clear();
    adminApi.reset();
    queryApi.reset();
  }

  /** The first active rule matching the request; counts it against the rule's `times`. */
  function takeFault(path: string, apiKey: string | undefined, bodyBytes: number): FaultRule | undefined {
    const now = Date.now();
    faults = faults.filter((f) => f.remaining !== 0 && (f.expiresAt === undefined || now < f.expiresAt));
    // The Slack sink is not a PostHog path: only rules naming it apply there.
    const slack = path.startsWith(SLACK_PATH);
    for (const fault of faults) {
      const { rule } = fault;
      if (slack && !rule.path?.startsWith(SLACK_PATH)) continue;
      if (rule.path !== undefined && !pathMatches(rule.path, path)) continue;
      if (rule.apiKey !== undefined && rule.apiKey !== apiKey) continue;
      // A size rule only applies to bodies above its limit; smaller ones go on as normal.
      if ("maxBodyBytes" in rule && bodyBytes <= rule.maxBodyBytes) continue;
      if (fault.remaining !== undefined) fault.remaining -= 1;
      return rule;
    }
    return undefined;
  }

  /** Resolves after `ms`, or early when the server closes. */
  function hang(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        pendingHangs.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      pendingHangs.add(done);
    });
  }

  function send(
    res: ServerResponse,
    record: RequestRecord | undefined,
    status: number,
    body: string,
    headers: Record<string, string> = {},
  ): void {
    if (record !== undefined) record.status = status;
    const noBody = status === 204 || status === 304 || status < 200;
    const hasType = Object.keys(headers).some((h) => h.toLowerCase() === "content-type");
    const allHeaders: Record<string, string> = {
      ...(noBody || hasType ? {} : { "Content-Type": "application/json" }),
      ...headers,
    };
    res.writeHead(status, allHeaders);
    res.end(noBody ? undefined : body);
  }

  function readBody(req: IncomingMessage): Promise<{ raw: Buffer; tooLarge: boolean }> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      let ended = false;
      req.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size <= MAX_BODY_BYTES) chunks.push(chunk);
      });
      req.on("end", () => {
        ended = true;
        resolve({ raw: Buffer.concat(chunks), tooLarge: size > MAX_BODY_BYTES });
      });
      req.on("error", reject);
      req.on("close", () => {
        if (!ended) reject(new Error("client closed the request"));
      });
    });
  }

  // ---- data endpoints -------------------------------------------------------------------

  interface DataRequest {
    req: IncomingMessage;
    res: ServerResponse;
    url: URL;
    record: RequestRecord;
    decoded: DecodedBody;
  }

  async function handleData(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const receivedAt = Date.now();
    const { raw, tooLarge } = await readBody(req);
    const decoded: DecodedBody = tooLarge ? { ok: true, gzip: false, value: undefined } : decodeBody(raw, req.headers);
    const apiKey = apiKeyOf(decoded.ok ? decoded.value : undefined, url.searchParams);
    const record: RequestRecord = {
      method: req.method ?? "GET",
      path: url.pathname,
      query: url.search.replace(/^\?/, ""),
      apiKey,
      status: 0,
      bodyBytes: raw.length,
      receivedAt,
      headers: headerRecord(req),
      ...(decoded.ok && decoded.value !== undefined ? { body: decoded.value } : {}),
    };
    requests.push(record);
    const request: DataRequest = { req, res, url, record, decoded };
    try {
      if (await applyFault(request)) return;
      if (tooLarge) return reject(request, 413, "payload_too_large", "Payload too large");
      answer(request);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (res.headersSent || req.socket.destroyed) req.socket.destroy();
      else reject(request, 500, "error", message);
    }
  }

  /** Applies the first matching fault; true when it answered (or dropped) the request. */
  async function applyFault({ req, res, record }: DataRequest): Promise<boolean> {
    const { method, path } = record;
    const fault = takeFault(path, record.apiKey, record.bodyBytes);
    if (fault === undefined) return false;
    if ("reset" in fault) {
      record.status = "reset";
      log(`${method} ${path} -> reset (fault)`);
      req.socket.destroy();
      return true;
    }
    if ("hangMs" in fault) {
      record.status = "hang";
      log(`${method} ${path} -> hang ${fault.hangMs}ms (fault)`);
      await hang(fault.hangMs);
      if (closed || req.socket.destroyed) {
        req.socket.destroy();
        return true;
      }
      return false; // held long enough and the client is still there: answer normally
    }
    if ("maxBodyBytes" in fault) {
      const status = fault.status ?? 413;
      log(`${method} ${path} -> ${status}: body ${record.bodyBytes} > ${fault.maxBodyBytes} bytes (fault)`);
      send(res, record, status, errorBody(errorType(status), "payload_too_large", "Payload too large"));
      return true;
    }
    log(`${method} ${path} -> ${fault.status} (fault)`);
    const body = fault.body ?? errorBody(errorType(fault.status), "fault", "Fault injected by convex-posthog-local");
    const type = fault.body === undefined || isJson(fault.body) ? "application/json" : "text/plain";
    send(res, record, fault.status, body, { "Content-Type": type, ...fault.headers });
    return true;
  }

  /** Answers a PostHog-style JSON error. */
  function reject({ res, record }: DataRequest, status: number, code: string, detail: string): void {
    log(`${record.method} ${record.path} -> ${status} ${detail}`);
    send(res, record, status, errorBody(errorType(status), code, detail));
  }

  function answer(request: DataRequest): void {
    const { method, path } = request.record;
    const expect = (wanted: string) => {
      if (method === wanted) return true;
      reject(request, 405, "method_not_allowed", `Use ${wanted} ${path}`);
      return false;
    };
    switch (routeOf(path)) {
      case "capture":
        if (expect("POST")) acceptCapture(request);
        return;
      case "flags":
        if (expect("POST")) answerFlags(request);
        return;
      case "definitions":
        if (expect("GET")) serveDefinitions(request);
        return;
      case "remote_config":
        if (expect("GET")) serveRemoteConfig(request);
        return;
      case "admin":
        return answerAdmin(request);
      case "query":
        return answerAdmin(request, queryApi.handle);
      case "unknown":
        reject(request, 404, "not_found", `No endpoint ${method} ${path}`);
    }
  }

  function acceptCapture(request: DataRequest): void {
    const { res, record, decoded } = request;
    if (!decoded.ok) return reject(request, 400, "invalid_payload", decoded.error);
    const body = decoded.value;
    let messages: unknown[];
    if (Array.isArray(body)) messages = body;
    else if (isRecord(body) && Array.isArray(body.batch)) messages = body.batch;
    else if (isRecord(body) && typeof body.event === "string") messages = [body];
    else {
      const detail = "expected {api_key, batch: [...]} or a single event";
      return reject(request, 400, "invalid_payload", detail);
    }
    const apiKey = record.apiKey;
    if (apiKey === undefined) {
      const detail = "API key not provided. You can find your project API key in your PostHog project settings.";
      return reject(request, 401, "invalid_api_key", detail);
    }
    const badIndex = messages.findIndex((m) => !isRecord(m) || typeof m.event !== "string" || m.event === "");
    if (badIndex !== -1) {
      const detail = `batch[${badIndex}] is not an event with a name`;
      return reject(request, 400, "invalid_payload", detail);
    }
    const batchIndex = batches.length;
    const accepted = (messages as Record<string, unknown>[]).map((message): ReceivedEvent => {
      const properties = isRecord(message.properties) ? message.properties : {};
      return {
        apiKey,
        event: message.event as string,
        distinct_id: String(message.distinct_id ?? properties.distinct_id ?? ""),
        uuid: typeof message.uuid === "string" ? message.uuid : "",
        timestamp: typeof message.timestamp === "string" ? message.timestamp : "",
        properties,
        message,
        receivedAt: record.receivedAt,
        batchIndex,
      };
    });
    const envelope = isRecord(body) ? body : {};
    batches.push({
      apiKey,
      path: record.path,
      gzip: decoded.gzip,
      headers: record.headers,
      bodyBytes: record.bodyBytes,
      ...(typeof envelope.sent_at === "string" ? { sentAt: envelope.sent_at } : {}),
      ...(envelope.historical_migration === true ? { historicalMigration: true } : {}),
      events: accepted,
      status: 200,
      receivedAt: record.receivedAt,
    });
    events.push(...accepted);
    for (const e of accepted) log(`${e.event}  distinct_id=${e.distinct_id}  uuid=${e.uuid}`);
    send(res, record, 200, JSON.stringify({ status: "Ok" }));
  }

  function answerFlags(request: DataRequest): void {
    const { res, record, decoded } = request;
    if (!decoded.ok) return reject(request, 400, "invalid_payload", decoded.error);
    const token = record.apiKey;
    if (token === undefined) {
      return reject(request, 401, "invalid_api_key", "API key not provided.");
    }
    const body = isRecord(decoded.value) ? decoded.value : {};
    const canned = flagsResponseByToken.has(token) ? flagsResponseByToken.get(token) : defaultFlagsResponse;
    let response: unknown;
    if (canned !== undefined) {
      response = typeof canned === "function" ? (canned as (body: unknown) => unknown)(body) : canned;
    } else {
      // Default: evaluate the definitions served for this token, as PostHog's v2 /flags would.
      const evaluate = options.evaluateFlags ?? evaluateFlagsRequest;
      response = evaluate(body, JSON.parse(definitionsFor(token).text));
    }
    send(res, record, 200, JSON.stringify(response));
  }

  function serveDefinitions(request: DataRequest): void {
    const { req, res, record, url } = request;
    if (denyFlagReader(request)) return;
    let current: ServedDefinitions;
    try {
      current = definitionsFor(nonEmptyString(url.searchParams.get("token")));
    } catch (error) {
      const detail = `definitions file: ${(error as Error).message}`;
      return reject(request, 500, "definitions_unavailable", detail);
    }
    if (etagMatches(req.headers["if-none-match"], current.etag)) {
      return send(res, record, 304, "", { ETag: current.etag });
    }
    send(res, record, 200, current.text, { ETag: current.etag });
  }

  /**
   * The personal API key check of /flags/definitions and remote_config: a Bearer key, and with
   * a `personalApiKeys` policy a known one holding `feature_flag:read`. True when it answered.
   */
  function denyFlagReader(request: DataRequest): boolean {
    const denied = adminApi.checkFlagReader(request.req.headers.authorization);
    if (denied === undefined) return false;
    const { detail } = denied.body as { detail: string };
    log(`${request.record.method} ${request.record.path} -> ${denied.status} ${detail}`);
    send(request.res, request.record, denied.status, JSON.stringify(denied.body));
    return true;
  }

  /** PostHog's REST API for flags and experiments (adminApi.ts). */
  function answerAdmin(request: DataRequest, handle = adminApi.handle): void {
    const { req, res, record, url, decoded } = request;
    const answer = handle({
      method: record.method,
      path: url.pathname,
      query: url.searchParams,
      authorization: req.headers.authorization,
      body: decoded.ok ? { ok: true, value: decoded.value } : { ok: false, error: decoded.error },
      baseUrl: `http://${req.headers.host ?? "127.0.0.1"}`,
    });
    if (answer.status >= 400) log(`${record.method} ${record.path} -> ${answer.status}`);
    send(res, record, answer.status, JSON.stringify(answer.body), answer.headers);
  }

  /**
   * A flag's remote config payload: its stored `true` payload (JSON text), JSON-encoded as
   * PostHog sends it. The flag is looked up in the definitions served for `?token=`.
   */
  function serveRemoteConfig(request: DataRequest): void {
    const { record, url } = request;
    if (denyFlagReader(request)) return;
    const key = decodeURIComponent(REMOTE_CONFIG_PATH.exec(stripTrailingSlashes(url.pathname))![1]!);
    const body = JSON.parse(definitionsFor(nonEmptyString(url.searchParams.get("token"))).text) as { flags?: unknown };
    const flag = (Array.isArray(body.flags) ? body.flags : []).find((f): f is Record<string, unknown> => isRecord(f) && f.key === key);
    if (flag === undefined) return reject(request, 404, "not_found", "Not found.");
    const payloads = isRecord(flag.filters) && isRecord(flag.filters.payloads) ? flag.filters.payloads : {};
    send(request.res, record, 200, JSON.stringify(Object.prototype.hasOwnProperty.call(payloads, "true") ? payloads.true : null));
  }

  // ---- control API and page -------------------------------------------------------------

  async function handleControl(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const route = `${req.method} ${stripTrailingSlashes(url.pathname)}`;
    const apiKey = nonEmptyString(url.searchParams.get("api_key")) ?? nonEmptyString(url.searchParams.get("token"));
    const json = (value: unknown) => send(res, undefined, 200, JSON.stringify(value));
    const readJson = async (): Promise<unknown> => {
      const { raw } = await readBody(req);
      const decoded = decodeBody(raw, req.headers);
      if (!decoded.ok) throw new BadRequest(decoded.error);
      if (decoded.value === undefined) throw new BadRequest("expected a JSON body");
      return decoded.value;
    };
    switch (route) {
      case "GET /_local/events":
        return json(api.events(apiKey));
      case "GET /_local/batches":
        return json(api.batches(apiKey));
      case "GET /_local/requests":
        return json(api.requests());
      case "POST /_local/reset":
        api.reset();
        return json({ ok: true });
      case "POST /_local/faults": {
        const body = await readJson();
        const rules = (Array.isArray(body) ? body : [body]) as FaultRule[];
        try {
          addFaults(...rules);
        } catch (error) {
          throw new BadRequest((error as Error).message);
        }
        return json({ ok: true, faults: faults.length });
      }
      case "DELETE /_local/faults":
        clearFaults();
        return json({ ok: true });
      case "PUT /_local/definitions": {
        const body = await readJson();
        setDefinitions(body, {
          token: nonEmptyString(url.searchParams.get("token")),
          etag: nonEmptyString(url.searchParams.get("etag")),
        });
        return json({ ok: true });
      }
      case "GET /_local/slack":
        return json(api.slackMessages(nonEmptyString(url.searchParams.get("channel"))));
      case "PUT /_local/policy":
        try {
          adminApi.setPolicy((await readJson()) as AdminPolicy);
        } catch (error) {
          if (error instanceof BadRequest) throw error;
          throw new BadRequest((error as Error).message);
        }
        return json({ ok: true });
      case "PUT /_local/query-response":
        queryApi.setResponse(await readJson());
        return json({ ok: true });
      case "DELETE /_local/query-response":
        queryApi.setResponse(undefined);
        return json({ ok: true });
      case "PUT /_local/flags-response": {
        const body = await readJson();
        setFlagsResponse(body, { token: nonEmptyString(url.searchParams.get("token")) });
        return json({ ok: true });
      }
      default: {
        const slack = /^POST \/_local\/slack\/([^/]+)$/.exec(route);
        if (slack !== null) return receiveSlack(req, res, url, decodeURIComponent(slack[1]!));
        const project = /^(GET|PUT|POST) \/_local\/projects\/([^/]+)(?:\/(flags|experiments))?$/.exec(route);
        if (project !== null) return json(await projectControl(project[1]!, decodeURIComponent(project[2]!), project[3], readJson));
        send(res, undefined, 404, errorBody("invalid_request", "not_found", `No control endpoint ${route}`));
      }
    }
  }

  /**
   * POST /_local/slack/:channel: records the JSON body and answers "ok" as Slack's incoming
   * webhooks do. Fault rules whose path starts with /_local/slack apply (not recorded in requests()).
   */
  async function receiveSlack(req: IncomingMessage, res: ServerResponse, url: URL, channel: string): Promise<void> {
    const { raw } = await readBody(req);
    const decoded = decodeBody(raw, req.headers);
    const record: RequestRecord = {
      method: "POST",
      path: url.pathname,
      query: url.search.replace(/^\?/, ""),
      status: 0,
      bodyBytes: raw.length,
      receivedAt: Date.now(),
      headers: headerRecord(req),
    };
    if (await applyFault({ req, res, url, record, decoded })) return;
    if (!decoded.ok || decoded.value === undefined) {
      return send(res, undefined, 400, "invalid_payload", { "Content-Type": "text/plain" });
    }
    slackMessages.push({ channel, body: decoded.value, receivedAt: record.receivedAt });
    send(res, undefined, 200, "ok", { "Content-Type": "text/plain" });
  }

  /** PUT /_local/projects/:pid {token, groupTypeMapping}; POST/GET .../flags and .../experiments. */
  async function projectControl(method: string, projectId: string, part: string | undefined, readJson: () => Promise<unknown>) {
    const list = async () => {
      const body = await readJson();
      if (!Array.isArray(body)) throw new BadRequest("expected a JSON array");
      return body;
    };
    if (part === undefined && method === "PUT") {
      const body = await readJson();
      if (!isRecord(body)) throw new BadRequest("expected {token?, groupTypeMapping?}");
      api.setProject(projectId, body as { token?: string; groupTypeMapping?: Record<string, string> });
      return { ok: true };
    }
    if (part === "flags" && method === "POST") return api.seedFlags(projectId, (await list()) as FlagSeed[]);
    if (part === "flags" && method === "GET") return api.projectFlags(projectId);
    if (part === "experiments" && method === "POST") return api.seedExperiments(projectId, (await list()) as ExperimentSeed[]);
    if (part === "experiments" && method === "GET") return projects.project(projectId).experiments;
    throw new BadRequest(`No control endpoint ${method} /_local/projects/${projectId}${part ? `/${part}` : ""}`);
  }

  function page(res: ServerResponse): void {
    const shown = events.slice(-500).reverse();
    const rows = shown
      .map((e) => {
        const props = JSON.stringify(e.properties, null, 1);
        return `<tr><td>${escapeHtml(new Date(e.receivedAt).toISOString())}</td><td><b>${escapeHtml(e.event)}</b></td><td>${escapeHtml(e.distinct_id)}</td><td>${escapeHtml(e.apiKey)}</td><td><pre>${escapeHtml(props.length > 4000 ? props.slice(0, 4000) + "\n…" : props)}</pre></td></tr>`;
      })
      .join("\n");
    const html = `<!doctype html>
<html><head><meta charset="utf-8"><title>convex-posthog-local</title>
<style>body{font-family:system-ui,sans-serif;margin:1.5em}table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:4px 8px;vertical-align:top;text-align:left}pre{margin:0;font-size:12px;white-space:pre-wrap}</style>
</head><body>
<h1>convex-posthog-local</h1>
<p>${events.length} events in ${batches.length} batches, ${requests.length} requests. Newest first${
      events.length > shown.length ? ` (latest ${shown.length})` : ""
    }. JSON: <a href="/_local/events">/_local/events</a>, <a href="/_local/requests">/_local/requests</a>.</p>
<table><thead><tr><th>received</th><th>event</th><th>distinct_id</th><th>api key</th><th>properties</th></tr></thead>
<tbody>
${rows || `<tr><td colspan="5">No events yet.</td></tr>`}
</tbody></table>
</body></html>
`;
    send(res, undefined, 200, html, { "Content-Type": "text/html; charset=utf-8" });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = req.url ?? "/";
    // Concatenate rather than resolve, so a path such as "//batch/" stays a path.
    const url = target.startsWith("/") ? new URL(`http://localhost${target}`) : new URL(target);
    if (url.pathname === "/_local" || url.pathname.startsWith("/_local/")) return handleControl(req, res, url);
    if (req.method === "GET" && url.pathname === "/") return page(res);
    return handleData(req, res, url);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      // One bad request never takes the server down: answer 400/500 if still possible.
      const message = error instanceof Error ? error.message : String(error);
      if (res.headersSent || req.socket.destroyed) {
        req.socket.destroy();
        return;
      }
      const status = error instanceof BadRequest ? 400 : 500;
      if (status === 500) log(`${req.method} ${req.url} -> 500 ${message}`);
      try {
        send(res, undefined, status, errorBody(errorType(status), "error", message));
      } catch {
        req.socket.destroy();
      }
    });
  });
  // Keep idle connections longer than any client pause (like PostHog's load balancers), so
  // a client never reuses a socket the server is closing at that instant.
  server.keepAliveTimeout = 65_000;
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  server.on("clientError", (_error, socket) => {
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
    socket.destroy();
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : options.port ?? 0;
  const urlHost = hostname.includes(":") ? `[${hostname}]` : hostname;

  let closing: Promise<void> | undefined;
  const api: LocalPostHog = {
    url: `http://${urlHost}:${port}`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        closed = true;
        for (const release of [...pendingHangs]) release();
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
    events: (apiKey) => (apiKey === undefined ? [...events] : events.filter((e) => e.apiKey === apiKey)),
    batches: (apiKey) => (apiKey === undefined ? [...batches] : batches.filter((b) => b.apiKey === apiKey)),
    requests: () => requests.map((r) => ({ ...r })),
    reset,
    addFaults,
    clearFaults,
    setDefinitions,
    setFlagsResponse,
    setProject: (projectId, projectOptions) => projects.configure(projectId, projectOptions),
    seedFlags: (projectId, flags) => projects.seedFlags(projectId, flags).map((flag) => structuredClone(flag)),
    seedExperiments: (projectId, experiments) => projects.seedExperiments(projectId, experiments).map((e) => structuredClone(e)),
    projectFlags: (projectId) => structuredClone(projects.project(projectId).flags),
    changeRequests: (projectId) => structuredClone(projects.project(projectId).changeRequests),
    setAdminPolicy: (policy) => adminApi.setPolicy(policy),
    setQueryResponse: (response) => queryApi.setResponse(response),
    slackMessages: (channel) => slackMessages.filter((m) => channel === undefined || m.channel === channel),
  };
  return api;
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
