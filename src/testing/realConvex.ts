// The real-Convex test mode: makes convex-test 0.0.60 enforce what the Convex backend
// enforces where the two differ (see ../shared/reference/convex-runtime.md), on by default.
//
// `realConvexPlugin()` (used by vitest.config.ts) rewrites convex-test's dist/index.js as it is
// loaded so that it calls the hooks below; it fails loudly when a piece of code it expects is
// missing (a new convex-test version), instead of silently testing less. What the mode adds:
//
// - Index ranges counted as the backend counts them: `db.patch`, `db.replace` and `db.delete`
//   read the document by id first, costing one index range (and one document read) unless the
//   same id was already fetched in the transaction; repeated gets of one id cost one range.
//   The transaction is the top-level one: a component's nested mutation counts toward its caller.
// - The backend's read and write limits enforced (convex-test's `transactionLimits`) unless an
//   instance asks for `transactionLimits: false`.
// - A running scheduled mutation sees its own `_scheduled_functions` row as `pending`, as on
//   Convex (actions still see `inProgress`).
// - On request (`recordReadRanges`), the index ranges that queries read, so a test can show that
//   two transactions would not conflict (convex-test runs transactions one at a time).
import { compareValues, jsonToConvex, type Value } from "convex/values";

/** Settings of the mode. Tests may turn one off only with a comment saying why. */
export const realConvexMode = {
  /** Count an index range for a patch/replace/delete of a document not yet fetched by id. */
  countWriteRanges: true,
  /** Default of convexTest's `transactionLimits`. */
  transactionLimits: true,
  /** A running scheduled mutation reads its own job as `pending`, never `inProgress`. */
  scheduledMutationsPending: true,
};

/** Run `body` with some settings changed, then restore them. */
export async function withRealConvexMode<T>(settings: Partial<typeof realConvexMode>, body: () => Promise<T>): Promise<T> {
  const saved = { ...realConvexMode };
  Object.assign(realConvexMode, settings);
  try {
    return await body();
  } finally {
    Object.assign(realConvexMode, saved);
  }
}

// ---- Hooks called by the rewritten convex-test (names must match the plugin's patches) ----

/** convex-test's per-transaction metrics tracker (one object per top-level transaction). */
type Tracker = { trackIndexRange(): void } | null | undefined;
/** convex-test's per-component database. */
type Database = { _componentPath: string };

/** Ids fetched so far, per top-level transaction. */
const fetchedIds = new WeakMap<object, Set<string>>();

function countFirstFetch(tracker: Tracker, db: Database, id: string) {
  if (!tracker) return;
  let fetched = fetchedIds.get(tracker);
  if (fetched === undefined) fetchedIds.set(tracker, (fetched = new Set()));
  const key = `${db._componentPath}/${id}`;
  if (fetched.has(key)) return;
  fetched.add(key);
  tracker.trackIndexRange();
}

/** `db.get`: one index range per distinct id in the transaction (convex-test: one per call). */
export function countGet(tracker: Tracker, db: Database, id: string) {
  if (realConvexMode.countWriteRanges) countFirstFetch(tracker, db, id);
  else tracker?.trackIndexRange();
}

/** `db.patch`/`replace`/`delete` read the document by id first (convex-test: no range). */
export function countWrite(tracker: Tracker, db: Database, id: string) {
  if (realConvexMode.countWriteRanges) countFirstFetch(tracker, db, id);
}

export function defaultTransactionLimits(): boolean {
  return realConvexMode.transactionLimits;
}

/** Whether a scheduled function should be marked `inProgress` while it runs. */
export function marksInProgress(func: { isMutation?: boolean }): boolean {
  return !(realConvexMode.scheduledMutationsPending && func.isMutation === true);
}

// ---- Read ranges ----

type RangeExpression = { type: "Eq" | "Gt" | "Gte" | "Lt" | "Lte"; fieldPath: string; value: unknown };
type SerializedQuery = {
  source:
    | { type: "IndexRange"; indexName: string; range: RangeExpression[] }
    | { type: "FullTableScan"; tableName: string }
    | { type: "Search"; indexName: string };
};

/** One query's index range: every document whose fields satisfy all of `bounds` is in it. */
export type ReadRange = {
  componentPath: string;
  table: string;
  index: string;
  bounds: Array<{ type: RangeExpression["type"]; field: string; value: Value | undefined }>;
};

let recorder: ReadRange[] | null = null;

/** Start recording the index ranges queries read (whole ranges: an over-approximation). */
export function recordReadRanges(): { ranges: ReadRange[]; stop(): void } {
  const ranges: ReadRange[] = [];
  recorder = ranges;
  return {
    ranges,
    stop: () => {
      if (recorder === ranges) recorder = null;
    },
  };
}

export function recordQuery(db: Database, query: SerializedQuery) {
  if (recorder === null) return;
  const { source } = query;
  if (source.type === "FullTableScan") {
    recorder.push({ componentPath: db._componentPath, table: source.tableName, index: "by_creation_time", bounds: [] });
    return;
  }
  const [table, index] = source.indexName.split(".") as [string, string];
  const bounds =
    source.type === "IndexRange"
      ? source.range.map((r) => ({ type: r.type, field: r.fieldPath, value: queryValue(r.value) }))
      : []; // a search reads its whole index, as far as conflicts are concerned
  recorder.push({ componentPath: db._componentPath, table, index, bounds });
}

function queryValue(json: unknown): Value | undefined {
  if (typeof json === "object" && json !== null && "$undefined" in json) return undefined;
  return jsonToConvex(json as Parameters<typeof jsonToConvex>[0]);
}

/** Whether `doc`, a document of `table`, lies inside the read range (so writing it would conflict). */
export function inReadRange(range: ReadRange, table: string, doc: Record<string, unknown>): boolean {
  if (range.table !== table) return false;
  return range.bounds.every(({ type, field, value }) => {
    const order = compareValues(doc[field] as Value, value as Value);
    if (type === "Eq") return order === 0;
    if (type === "Gt") return order > 0;
    if (type === "Gte") return order >= 0;
    if (type === "Lt") return order < 0;
    return order <= 0;
  });
}

// ---- The vitest plugin ----

const HOOKS = JSON.stringify(new URL(import.meta.url).pathname);

/** Each patch: code that must occur exactly once in convex-test's dist/index.js, and its replacement. */
const PATCHES: Array<[what: string, find: string, replace: string]> = [
  [
    "hooks import",
    `import { TransactionMetricsTracker, } from "./transactionMetrics.js";`,
    `import { TransactionMetricsTracker, } from "./transactionMetrics.js";\nimport * as __realConvex from ${HOOKS};`,
  ],
  [
    "db.get range",
    `case "1.0/get": {\n                const { table, id } = args;\n                tracker?.trackIndexRange();`,
    `case "1.0/get": {\n                const { table, id } = args;\n                __realConvex.countGet(tracker, db, id);`,
  ],
  ...(["shallowMerge", "replace"] as const).map((op): [string, string, string] => [
    `db.${op} range`,
    `case "1.0/${op}": {\n                const { table, id, value } = args;\n`,
    `case "1.0/${op}": {\n                const { table, id, value } = args;\n                __realConvex.countWrite(tracker, db, id);\n`,
  ]),
  [
    "db.delete range",
    `case "1.0/remove": {\n                const { table, id } = args;\n`,
    `case "1.0/remove": {\n                const { table, id } = args;\n                __realConvex.countWrite(tracker, db, id);\n`,
  ],
  [
    "query range recording",
    `tracker?.trackIndexRange();\n                const queryId = db.startQuery(query);`,
    `tracker?.trackIndexRange();\n                __realConvex.recordQuery(db, query);\n                const queryId = db.startQuery(query);`,
  ],
  [
    "paginated query range recording",
    `const { page, isDone, continueCursor, splitCursor, pageStatus } = db.paginate({`,
    `__realConvex.recordQuery(db, query);\n                const { page, isDone, continueCursor, splitCursor, pageStatus } = db.paginate({`,
  ],
  [
    "default transactionLimits (legacy signature)",
    `let limitsConfig = false;`,
    `let limitsConfig = __realConvex.defaultTransactionLimits();`,
  ],
  [
    "default transactionLimits (options)",
    `limitsConfig = opts.transactionLimits ?? false;`,
    `limitsConfig = opts.transactionLimits ?? __realConvex.defaultTransactionLimits();`,
  ],
  [
    "scheduled function start state",
    `            db.patch("_scheduled_functions", jobId, {\n                state: { kind: "inProgress" },\n            });\n            return false;`,
    `            const { func } = await resolveFunction(functionPath, "any");\n` +
      `            if (__realConvex.marksInProgress(func)) {\n` +
      `                db.patch("_scheduled_functions", jobId, {\n                    state: { kind: "inProgress" },\n                });\n            }\n` +
      `            return false;`,
  ],
  [
    "scheduled function end state",
    `if (job.state.kind !== "inProgress") {\n                throw new Error(\`\\\`convexTest\\\` invariant error: Unexpected scheduled function state after it finished running`,
    `if (job.state.kind === "canceled") {\n                return; // a mutation that canceled its own job (it read as pending)\n            }\n` +
      `            if (job.state.kind !== "inProgress" && job.state.kind !== "pending") {\n                throw new Error(\`\\\`convexTest\\\` invariant error: Unexpected scheduled function state after it finished running`,
  ],
];

/** Apply the patches to convex-test's source, or throw naming the first one that no longer applies. */
export function patchConvexTest(code: string): string {
  for (const [what, find, replace] of PATCHES) {
    const at = code.indexOf(find);
    if (at === -1 || code.indexOf(find, at + 1) !== -1) {
      throw new Error(
        `real-Convex test mode: cannot patch convex-test (${what}): the code it rewrites was ${at === -1 ? "not found" : "found more than once"}. ` +
          `Update src/testing/realConvex.ts for this convex-test version.`,
      );
    }
    code = code.slice(0, at) + replace + code.slice(at + find.length);
  }
  return code;
}

/** Vitest plugin: load convex-test through Vite (`server.deps.inline`) and patch it. */
export function realConvexPlugin() {
  return {
    name: "real-convex-test-mode",
    enforce: "pre" as const,
    config: () => ({ test: { server: { deps: { inline: ["convex-test"] } } } }),
    transform(code: string, id: string) {
      if (!/[\\/]node_modules[\\/]convex-test[\\/]dist[\\/]index\.js$/.test(id.split("?")[0]!)) return null;
      return { code: patchConvexTest(code), map: null };
    },
  };
}
