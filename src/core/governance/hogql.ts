// The guardian's HogQL source: ONE query per run for every watched flag, and its answer read
// back into per-variant counts (the same shape the local tallies give).
//
// Every value (flag keys, `$feature/<key>` properties, event names, the window) travels in
// `values` and fills a `{placeholder}`; nothing from the app or PostHog is spliced into the
// text, so no flag key or event name can change the query. Exposure events
// (`$feature_flag_called`) carry `$feature/<key>` too and are left out, as the local tallies
// leave them out. The template is the one the local server evaluates
// (src/local-server/queryApi.ts) and §5.3 of the governance reference; columns are read by
// their names, never their positions. Pure: no Convex runtime, no network.
import type { VariantCounts } from "./cohorts.js";

export interface GuardianQuery {
  query: string;
  values: Record<string, string>;
}

export interface GuardianQueryInput {
  keys: readonly string[];
  /** Window start (inclusive) and end (exclusive), epoch ms. */
  from: number;
  to: number;
  /** The success event and its boolean property; without one the success columns count nothing. */
  successEvent?: { event: string; property: string };
}

/** The column names the query gives its values and the parser reads. */
const COLUMNS = {
  flag: "flag",
  variant: "variant",
  events: "total_events",
  users: "unique_users",
  exceptions: "error_events",
  successes: "success_events",
  successTotal: "success_total",
} as const;

/**
 * One `SELECT` per flag joined by `UNION ALL`. Without a success event the success columns
 * look for an event named "" (no event has that name), so the shape stays the same.
 */
export function buildGuardianQuery(input: GuardianQueryInput): GuardianQuery {
  if (input.keys.length === 0) throw new Error("buildGuardianQuery needs at least one flag key");
  const values: Record<string, string> = {
    window_start: new Date(input.from).toISOString(),
    window_end: new Date(input.to).toISOString(),
    error_event: "$exception",
    exposure_event: "$feature_flag_called",
    success_event: input.successEvent?.event ?? "",
    success_prop: input.successEvent?.property ?? "success",
  };
  const blocks = input.keys.map((key, i) => {
    values[`key_${i}`] = key;
    values[`prop_${i}`] = `$feature/${key}`;
    return [
      `SELECT {key_${i}} AS ${COLUMNS.flag},`,
      `  toString(properties[{prop_${i}}]) AS ${COLUMNS.variant},`,
      `  count() AS ${COLUMNS.events},`,
      `  count(DISTINCT distinct_id) AS ${COLUMNS.users},`,
      `  countIf(event = {error_event}) AS ${COLUMNS.exceptions},`,
      `  countIf(event = {success_event} AND properties[{success_prop}] = true) AS ${COLUMNS.successes},`,
      `  countIf(event = {success_event}) AS ${COLUMNS.successTotal}`,
      `FROM events`,
      `WHERE timestamp >= toDateTime({window_start}) AND timestamp < toDateTime({window_end})`,
      `  AND event != {exposure_event} AND properties[{prop_${i}}] IS NOT NULL`,
      `GROUP BY ${COLUMNS.flag}, ${COLUMNS.variant}`,
    ].join("\n");
  });
  return { query: blocks.join("\nUNION ALL\n"), values };
}

export type ParsedGuardianResponse =
  | { ok: true; counts: Map<string, VariantCounts[]>; truncated: boolean }
  | { ok: false; problem: string };

/**
 * The answer as counts per flag key (keys of `keys` only; a flag without rows gets an empty
 * list). A missing column or a non-numeric count is a problem, never a guess.
 */
export function parseGuardianResponse(data: unknown, keys: readonly string[]): ParsedGuardianResponse {
  if (typeof data !== "object" || data === null) return { ok: false, problem: "the answer is not a JSON object" };
  const { results, columns, hasMore } = data as { results?: unknown; columns?: unknown; hasMore?: unknown };
  if (!Array.isArray(results)) return { ok: false, problem: "the answer has no `results` list" };
  if (!Array.isArray(columns)) return { ok: false, problem: "the answer has no `columns` list" };
  const at = {} as Record<keyof typeof COLUMNS, number>;
  for (const [name, column] of Object.entries(COLUMNS) as [keyof typeof COLUMNS, string][]) {
    const index = columns.indexOf(column);
    if (index < 0) return { ok: false, problem: `the answer has no column "${column}"` };
    at[name] = index;
  }
  const counts = new Map<string, VariantCounts[]>(keys.map((key) => [key, []]));
  for (const row of results) {
    if (!Array.isArray(row)) return { ok: false, problem: "a row of `results` is not a list" };
    const variants = counts.get(String(row[at.flag]));
    if (variants === undefined) continue;
    const numbers = {
      events: count(row[at.events]),
      uniqueUsers: count(row[at.users]),
      exceptions: count(row[at.exceptions]),
      successes: count(row[at.successes]),
      successTotal: count(row[at.successTotal]),
    };
    for (const [name, value] of Object.entries(numbers)) {
      if (value === undefined) return { ok: false, problem: `"${name}" of a row is not a count: ${JSON.stringify(row)}` };
    }
    variants.push({ variant: String(row[at.variant]), ...(numbers as Record<keyof typeof numbers, number>) });
  }
  return { ok: true, counts, truncated: hasMore === true };
}

/** ClickHouse's UInt64 may arrive as a number or as text. */
function count(value: unknown): number | undefined {
  const n = typeof value === "string" && value.trim() !== "" ? Number(value) : value;
  return typeof n === "number" && Number.isInteger(n) && n >= 0 ? n : undefined;
}
