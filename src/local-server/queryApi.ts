// PostHog's query API (`POST /api/projects/:id/query/`, `/api/environments/:id/query/`) as the
// local server answers it, in three tiers:
//
// 1. A canned answer set with `setResponse` (a value, or a function of the request body),
//    filled out to PostHog's `HogQLQueryResponse` shape.
// 2. A built-in evaluator for exactly the flag guardian's query, over the events the server
//    received on its capture endpoints. One block per flag, joined by `UNION ALL`:
//
//      SELECT {key_0} AS flag,
//             toString(properties[{prop_0}]) AS variant,
//             count() AS total_events,
//             count(DISTINCT distinct_id) AS unique_users,
//             countIf(event = '$exception') AS error_events,
//             countIf(event = {success_event} AND properties[{success_prop}] = true) AS success_events,
//             countIf(event = {success_event}) AS success_total
//      FROM events
//      WHERE timestamp >= toDateTime({window_start}) AND timestamp < toDateTime({window_end})
//        [AND event != {exposure_event}] AND properties[{prop_0}] IS NOT NULL
//      GROUP BY flag, variant
//      UNION ALL
//      SELECT {key_1} AS flag, ... {prop_1} ...
//
//    with `values: {key_0: "checkout", prop_0: "$feature/checkout", success_event: "order_placed",
//    success_prop: "ok", window_start: "<ISO>", window_end: "<ISO>"}`. Placeholder names are
//    free; every operand may be a `{placeholder}` or a '...' literal, so posthog-flag-toolkit's
//    single-flag form (no `flag` column, literals, `properties.<name>` for the success
//    property) is answered too. Placeholder values are looked up, never spliced into text.
//    The optional `event != ...` leaves one event out (the guardian's `$feature_flag_called`).
//    Results: one row per (flag, variant) with events in [start, end) whose property is not
//    null; the variant is the property value as text; rows in block order, variants sorted.
// 3. Anything else: 400 `query_error` "Unsupported by the local server: ...". A backtick
//    identifier inside `[...]` (the toolkit's ``properties[`$feature/x`]``) is HogQL's
//    "Unable to resolve field: $feature/x" 400, as PostHog answers it.
//
// Authentication, the `query:read` scope and the `query` throttle class are the admin API's.
// Node-only, like the rest of the server.
import type { AdminApi, AdminRequest, AdminResponse } from "./adminApi.js";

/** Paths of the query API; the first group is the project (or environment) id. */
export const QUERY_PATH = /^\/api\/(?:projects|environments)\/([^/]+)\/query\/?$/;

/** What the evaluator reads of a received event. */
export interface QueryableEvent {
  event: string;
  distinct_id: string;
  /** ISO timestamp as sent; when empty the arrival time counts. */
  timestamp: string;
  receivedAt: number;
  properties: Record<string, unknown>;
}

/** A canned answer: a value, or a function of the parsed request body. */
export type QueryResponse = unknown | ((body: any) => unknown);

export interface QueryApi {
  handle(request: AdminRequest): AdminResponse;
  /** Canned answer for every query; `undefined` goes back to the evaluator. */
  setResponse(response: QueryResponse): void;
  reset(): void;
}

const DEFAULT_LIMIT = 100;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

class QueryError extends Error {
  constructor(
    message: string,
    readonly code = "query_error",
  ) {
    super(message);
  }
}

const unsupported = (what: string) => new QueryError(`Unsupported by the local server: ${what}`);

/** The response fields PostHog sends around `results`. */
function envelope(hogql: string, columns: string[], types: [string, string][], rows: unknown[][]): Record<string, unknown> {
  return {
    results: rows.slice(0, DEFAULT_LIMIT),
    columns,
    types,
    hogql,
    clickhouse: null,
    query: hogql,
    limit: DEFAULT_LIMIT,
    offset: 0,
    hasMore: rows.length > DEFAULT_LIMIT,
    timings: [],
    modifiers: {},
    error: null,
    is_cached: false,
    last_refresh: new Date().toISOString(),
  };
}

export function createQueryApi(adminApi: AdminApi, eventsOf: (projectId: string) => QueryableEvent[]): QueryApi {
  let canned: QueryResponse;

  function handle(request: AdminRequest): AdminResponse {
    const denied = adminApi.gate(request.authorization, "query:read", "query");
    if (denied !== undefined) return denied;
    if (request.method !== "POST") {
      return { status: 405, body: { type: "invalid_request", code: "method_not_allowed", detail: `Method "${request.method}" not allowed.`, attr: null } };
    }
    const projectId = decodeURIComponent(QUERY_PATH.exec(request.path)![1]!);
    try {
      if (!request.body.ok) throw new QueryError(`JSON parse error - ${request.body.error}`, "parse_error");
      const body = request.body.value;
      const query = isRecord(body) ? body.query : undefined;
      if (!isRecord(query)) throw new QueryError("Missing required field: query", "invalid_input");
      const text = typeof query.query === "string" ? query.query : "";
      if (canned !== undefined) {
        const answer = typeof canned === "function" ? (canned as (body: unknown) => unknown)(body) : canned;
        return { status: 200, body: isRecord(answer) ? { ...envelope(text, [], [], []), ...answer } : answer };
      }
      if (query.kind !== "HogQLQuery") throw unsupported(`query kind ${JSON.stringify(query.kind)} (only HogQLQuery)`);
      const values = isRecord(query.values) ? query.values : {};
      return { status: 200, body: evaluate(text, values, eventsOf(projectId)) };
    } catch (caught) {
      if (!(caught instanceof QueryError)) throw caught;
      return { status: 400, body: { type: "validation_error", code: caught.code, detail: caught.message, attr: null } };
    }
  }

  return {
    handle,
    setResponse(response) {
      canned = response;
    },
    reset() {
      canned = undefined;
    },
  };
}

// ---- the guardian template --------------------------------------------------------------

type Token = { kind: "word" | "symbol"; text: string } | { kind: "string" | "placeholder" | "backtick"; text: string };

const KEYWORDS = new Set(["select", "as", "from", "where", "and", "is", "not", "null", "group", "by", "union", "all", "distinct", "true"]);

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  const pattern = /\s+|'((?:[^'\\]|\\.)*)'|`([^`]*)`|\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_$][A-Za-z0-9_$]*|\d+)|(>=|<=|!=|[(),.=<>[\]*/+-])/gy;
  let match: RegExpExecArray | null;
  while (pattern.lastIndex < text.length && (match = pattern.exec(text)) !== null) {
    if (match[1] !== undefined) tokens.push({ kind: "string", text: match[1].replace(/\\(.)/g, "$1") });
    else if (match[2] !== undefined) tokens.push({ kind: "backtick", text: match[2] });
    else if (match[3] !== undefined) tokens.push({ kind: "placeholder", text: match[3] });
    else if (match[4] !== undefined) tokens.push({ kind: "word", text: KEYWORDS.has(match[4].toLowerCase()) ? match[4].toLowerCase() : match[4] });
    else if (match[5] !== undefined) tokens.push({ kind: "symbol", text: match[5] });
  }
  if (pattern.lastIndex < text.length) throw unsupported(`cannot read the query at ${JSON.stringify(text.slice(pattern.lastIndex, pattern.lastIndex + 20))}`);
  return tokens;
}

// A property is `properties[?N]` or `properties . name`; an operand is `?N`.
const PROP = String.raw`properties (?:\[ \?(\d+) \]|\. ([\w$]+))`;
const OPERAND = String.raw`\?(\d+)`;
const BLOCK = new RegExp(
  "^" +
    [
      String.raw`select(?: ${OPERAND} as (\w+) ,)?`,
      String.raw`toString \( ${PROP} \) as (\w+) ,`,
      String.raw`count \( \) as (\w+) ,`,
      String.raw`count \( distinct distinct_id \) as (\w+) ,`,
      String.raw`countIf \( event = ${OPERAND} \) as (\w+) ,`,
      String.raw`countIf \( event = ${OPERAND} and ${PROP} = true \) as (\w+) ,`,
      String.raw`countIf \( event = ${OPERAND} \) as (\w+)`,
      String.raw`from events where timestamp >= toDateTime \( ${OPERAND} \) and timestamp < toDateTime \( ${OPERAND} \)`,
      String.raw`(?:and event != ${OPERAND} )?and ${PROP} is not null group by [\w$ ,]+$`,
    ].join(" "),
);

function evaluate(text: string, values: Record<string, unknown>, events: QueryableEvent[]): Record<string, unknown> {
  const tokens = tokenize(text);
  tokens.forEach((token, i) => {
    if (token.kind === "backtick" && tokens[i - 1]?.text === "[") throw new QueryError(`Unable to resolve field: ${token.text}`);
  });
  const operands: unknown[] = [];
  const canonical = tokens
    .map((token) => {
      if (token.kind === "string") return `?${operands.push(token.text) - 1}`;
      if (token.kind === "placeholder") {
        if (!Object.prototype.hasOwnProperty.call(values, token.text)) throw new QueryError(`Placeholder {${token.text}} has no value in "values"`);
        return `?${operands.push(values[token.text]) - 1}`;
      }
      return token.text;
    })
    .join(" ");

  let columns: string[] | undefined;
  const rows: unknown[][] = [];
  for (const block of canonical.split(" union all ")) {
    const m = BLOCK.exec(block);
    if (m === null) throw unsupported("only the flag guardian's query is evaluated (see src/local-server/queryApi.ts)");
    const [, flagAt, flagAlias, variantAt, variantName, variantAlias, totalAlias, usersAlias, errorAt, errorAlias] = m;
    const [successAt, successPropAt, successPropName, successAlias, totalSuccessAt, successTotalAlias, startAt, endAt, excludedAt, whereAt, whereName] =
      m.slice(10);
    const operand = (at: string | undefined, what: string): string => {
      const value = operands[Number(at)];
      if (typeof value !== "string") throw new QueryError(`${what} must be a string, got ${JSON.stringify(value)}`);
      return value;
    };
    const property = (at: string | undefined, name: string | undefined, what: string) => (at !== undefined ? operand(at, what) : name!);
    const variantProperty = property(variantAt, variantName, "the variant property");
    if (property(whereAt, whereName, "the IS NOT NULL property") !== variantProperty) {
      throw unsupported("toString(...) and IS NOT NULL must read the same property");
    }
    const successEvent = operand(successAt, "the success event");
    if (operand(totalSuccessAt, "the success event") !== successEvent) throw unsupported("both success countIfs must name the same event");
    const successProperty = property(successPropAt, successPropName, "the success property");
    const errorEvent = operand(errorAt, "the error event");
    const excludedEvent = excludedAt === undefined ? undefined : operand(excludedAt, "the excluded event");
    const start = time(operand(startAt, "the window start"));
    const end = time(operand(endAt, "the window end"));
    const blockColumns = [...(flagAt === undefined ? [] : [flagAlias!]), variantAlias!, totalAlias!, usersAlias!, errorAlias!, successAlias!, successTotalAlias!];
    if (columns !== undefined && columns.join() !== blockColumns.join()) throw unsupported("UNION ALL blocks with different columns");
    columns = blockColumns;

    const byVariant = new Map<string, { total: number; users: Set<string>; errors: number; successes: number; successTotal: number }>();
    for (const event of events) {
      const value = event.properties[variantProperty];
      if (value === undefined || value === null || event.event === excludedEvent) continue;
      const at = event.timestamp === "" ? event.receivedAt : Date.parse(event.timestamp);
      if (!(at >= start && at < end)) continue;
      const variant = typeof value === "string" ? value : JSON.stringify(value);
      let tally = byVariant.get(variant);
      if (tally === undefined) byVariant.set(variant, (tally = { total: 0, users: new Set(), errors: 0, successes: 0, successTotal: 0 }));
      tally.total += 1;
      tally.users.add(event.distinct_id);
      if (event.event === errorEvent) tally.errors += 1;
      if (event.event === successEvent) {
        tally.successTotal += 1;
        const outcome = event.properties[successProperty];
        if (outcome === true || outcome === "true") tally.successes += 1;
      }
    }
    const flag = flagAt === undefined ? [] : [operand(flagAt, "the flag column")];
    for (const [variant, t] of [...byVariant].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      rows.push([...flag, variant, t.total, t.users.size, t.errors, t.successes, t.successTotal]);
    }
  }
  const types = columns!.map((name, i): [string, string] => [name, i < columns!.length - 5 ? "String" : "UInt64"]);
  return envelope(text, columns!, types, rows);
}

function time(iso: string): number {
  const at = Date.parse(iso);
  if (Number.isNaN(at)) throw new QueryError(`Cannot parse ${JSON.stringify(iso)} as a DateTime`);
  return at;
}
