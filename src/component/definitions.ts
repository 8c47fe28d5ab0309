// Local-evaluation definitions: refreshed from PostHog by the app's cron, stored one row per
// flag and per cohort, and applied as a diff so unchanged flags keep their rows (and the
// queries that read them keep their cached results).
import { v } from "convex/values";
import { internal } from "./_generated/api.js";
import { action, internalMutation, internalQuery, type ActionCtx, type MutationCtx } from "./_generated/server.js";
import { fetchDefinitions, type DefinitionRow, type Definitions } from "../core/definitionsTransport.js";
import { vRefreshResult, type RefreshResult } from "./validators.js";

/** A definition must fit a Convex document with room for its key. */
export const MAX_DEFINITION_BYTES = 1024 * 1024 - 16 * 1024;
/** Keep each applying mutation well inside Convex's 16 MiB / 16,000 documents written. */
const APPLY_CHUNK_BYTES = 6 * 1024 * 1024;
const APPLY_CHUNK_ROWS = 2000;
const HASH_PAGE = 4000;
const DEFAULT_TIMEOUT_MS = 10_000;

type Kind = "flag" | "cohort";
const vKind = v.union(v.literal("flag"), v.literal("cohort"));
const vRow = v.object({ name: v.string(), definition: v.string(), hash: v.string() });

const utf8 = new TextEncoder();

/**
 * Fetch definitions and store them. Called by the app's cron through the client. The
 * personal API key arrives as an argument of this action only: it is never stored, logged
 * or passed to a scheduled function.
 */
export const refresh = action({
  args: {
    host: v.string(),
    apiKey: v.string(),
    personalApiKey: v.string(),
    timeoutMs: v.optional(v.number()),
  },
  returns: vRefreshResult,
  handler: async (ctx, args): Promise<RefreshResult> => {
    const { etag, version } = await ctx.runQuery(internal.definitions.refreshStart, {});
    const outcome = await fetchDefinitions({
      host: args.host,
      apiKey: args.apiKey,
      personalApiKey: args.personalApiKey,
      etag,
      timeoutMs: args.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    });
    let result: RefreshResult;
    switch (outcome.kind) {
      case "not_modified":
        result = { result: "not_modified", httpStatus: 304 };
        await ctx.runMutation(internal.definitions.recordRefresh, { ...result, confirmed: true, etag: outcome.etag ?? etag });
        return result;
      case "failed":
        result = { result: outcome.failure, error: outcome.error, ...(outcome.httpStatus ? { httpStatus: outcome.httpStatus } : {}) };
        await ctx.runMutation(internal.definitions.recordRefresh, { ...result, confirmed: false });
        return result;
      case "quota_limited":
        // As posthog-node on 402: drop every definition, so nothing is evaluated locally.
        await applyDefinitions(ctx, { flags: [], cohorts: [], groupTypeMapping: {} }, false, version);
        result = { result: "quota_limited", httpStatus: 402, error: outcome.error };
        await ctx.runMutation(internal.definitions.recordRefresh, { ...result, confirmed: false, etag: "" });
        return result;
      case "ok": {
        const applied = await applyDefinitions(ctx, outcome.definitions, true, version);
        if (applied === "superseded") {
          result = { result: "superseded", httpStatus: 200, error: "another refresh changed the definitions meanwhile; the next refresh applies these" };
          await ctx.runMutation(internal.definitions.recordRefresh, { ...result, confirmed: false });
          return result;
        }
        const { tooLarge, changes } = applied;
        result = {
          result: tooLarge.length > 0 ? "applied_with_errors" : "updated",
          httpStatus: 200,
          ...changes,
          ...(tooLarge.length > 0
            ? { error: `definitions too large to store (over ${MAX_DEFINITION_BYTES} bytes), kept as before: ${tooLarge.join(", ")}` }
            : {}),
        };
        await ctx.runMutation(internal.definitions.recordRefresh, {
          ...result,
          confirmed: true,
          etag: outcome.etag ?? "",
          flagCount: outcome.definitions.flags.length,
          cohortCount: outcome.definitions.cohorts.length,
        });
        return result;
      }
    }
  },
});

/** Write what changed, in as few mutations as the limits allow (usually one). */
async function applyDefinitions(ctx: ActionCtx, definitions: Definitions, available: boolean, version: number) {
  const tooLarge: string[] = [];
  const changes = { flagsChanged: 0, flagsRemoved: 0, cohortsChanged: 0, cohortsRemoved: 0 };
  const upserts: Array<{ kind: Kind; row: DefinitionRow; isNew: boolean }> = [];
  const deletes: Array<{ kind: Kind; name: string }> = [];
  for (const [kind, rows] of [["flag", definitions.flags], ["cohort", definitions.cohorts]] as const) {
    const stored = await storedHashes(ctx, kind);
    for (const row of rows) {
      if (stored.get(row.name) === row.hash) continue;
      if (utf8.encode(row.definition).length > MAX_DEFINITION_BYTES) {
        tooLarge.push(`${kind} ${row.name}`);
        continue;
      }
      upserts.push({ kind, row, isNew: !stored.has(row.name) });
    }
    const wanted = new Set(rows.map((r) => r.name));
    for (const name of stored.keys()) if (!wanted.has(name)) deletes.push({ kind, name });
  }
  for (const { kind } of upserts) changes[kind === "flag" ? "flagsChanged" : "cohortsChanged"] += 1;
  for (const { kind } of deletes) changes[kind === "flag" ? "flagsRemoved" : "cohortsRemoved"] += 1;

  // Chunk by bytes and rows; the last chunk also writes the shared meta row.
  const chunks: Array<{ upserts: typeof upserts; deletes: typeof deletes }> = [{ upserts: [], deletes: [] }];
  let bytes = 0;
  const current = () => chunks[chunks.length - 1]!;
  const rowsIn = (c: (typeof chunks)[number]) => c.upserts.length + c.deletes.length;
  for (const upsert of upserts) {
    const size = upsert.row.definition.length + 200;
    if (rowsIn(current()) > 0 && (bytes + size > APPLY_CHUNK_BYTES || rowsIn(current()) >= APPLY_CHUNK_ROWS)) {
      chunks.push({ upserts: [], deletes: [] });
      bytes = 0;
    }
    current().upserts.push(upsert);
    bytes += size;
  }
  for (const del of deletes) {
    if (rowsIn(current()) >= APPLY_CHUNK_ROWS) chunks.push({ upserts: [], deletes: [] });
    current().deletes.push(del);
  }
  const meta = {
    groupTypeMapping: JSON.stringify(definitions.groupTypeMapping),
    available,
    ...(definitions.propertyMatchingVersion !== undefined ? { propertyMatchingVersion: definitions.propertyMatchingVersion } : {}),
    ...(definitions.minimalFlagCalledEvents !== undefined ? { minimalFlagCalledEvents: definitions.minimalFlagCalledEvents } : {}),
  };
  for (const [index, chunk] of chunks.entries()) {
    const applied: boolean = await ctx.runMutation(internal.definitions.applyChunk, {
      upserts: chunk.upserts,
      deletes: chunk.deletes,
      meta: index === chunks.length - 1 ? meta : undefined,
      expectedVersion: version + index,
    });
    if (!applied) return "superseded" as const;
  }
  return { tooLarge, changes };
}

async function storedHashes(ctx: ActionCtx, kind: Kind): Promise<Map<string, string>> {
  const hashes = new Map<string, string>();
  let after: string | undefined;
  for (;;) {
    const page: Array<{ name: string; hash: string }> = await ctx.runQuery(internal.definitions.hashPage, { kind, after });
    for (const { name, hash } of page) hashes.set(name, hash);
    if (page.length < HASH_PAGE) return hashes;
    after = page[page.length - 1]!.name;
  }
}

export const hashPage = internalQuery({
  args: { kind: vKind, after: v.optional(v.string()) },
  returns: v.array(v.object({ name: v.string(), hash: v.string() })),
  handler: async (ctx, { kind, after }) => {
    const rows = await ctx.db
      .query("definitionHashes")
      .withIndex("by_kind_name", (q) => (after === undefined ? q.eq("kind", kind) : q.eq("kind", kind).gt("name", after)))
      .take(HASH_PAGE);
    return rows.map((r) => ({ name: r.name, hash: r.hash }));
  },
});

/** The ETag to send, and the version of the stored definitions the diff is computed against. */
export const refreshStart = internalQuery({
  args: {},
  returns: v.object({ etag: v.optional(v.string()), version: v.number() }),
  handler: async (ctx) => {
    const state = await ctx.db.query("refreshState").first();
    return { ...(state?.etag ? { etag: state.etag } : {}), version: state?.definitionsVersion ?? 0 };
  },
});

export const applyChunk = internalMutation({
  args: {
    /** isNew: no row exists yet, so insert without looking one up. */
    upserts: v.array(v.object({ kind: vKind, row: vRow, isNew: v.boolean() })),
    deletes: v.array(v.object({ kind: vKind, name: v.string() })),
    meta: v.optional(
      v.object({
        groupTypeMapping: v.string(),
        available: v.boolean(),
        propertyMatchingVersion: v.optional(v.number()),
        minimalFlagCalledEvents: v.optional(v.boolean()),
      }),
    ),
    /**
     * Each applied chunk bumps the definitions version. A chunk computed against another
     * version is refused, so two refreshes never interleave (and isNew stays true).
     */
    expectedVersion: v.number(),
  },
  returns: v.boolean(),
  handler: async (ctx, { upserts, deletes, meta, expectedVersion }) => {
    const state = await ctx.db.query("refreshState").first();
    if ((state?.definitionsVersion ?? 0) !== expectedVersion) return false;
    if (state === null) await ctx.db.insert("refreshState", { definitionsVersion: expectedVersion + 1 });
    else await ctx.db.patch(state._id, { definitionsVersion: expectedVersion + 1 });
    for (const { kind, row, isNew } of upserts) await writeDefinition(ctx, kind, row, isNew);
    for (const { kind, name } of deletes) await deleteDefinition(ctx, kind, name);
    if (meta !== undefined) {
      const existing = await ctx.db.query("definitionsMeta").first();
      if (existing === null) await ctx.db.insert("definitionsMeta", meta);
      else if (!sameMeta(existing, meta)) await ctx.db.replace(existing._id, meta);
    }
    return true;
  },
});

function sameMeta(a: Record<string, unknown>, b: Record<string, unknown>) {
  return ["groupTypeMapping", "available", "propertyMatchingVersion", "minimalFlagCalledEvents"].every((k) => a[k] === b[k]);
}

function findHash(ctx: MutationCtx, kind: Kind, name: string) {
  return ctx.db
    .query("definitionHashes")
    .withIndex("by_kind_name", (q) => q.eq("kind", kind).eq("name", name))
    .unique();
}

function findDefinition(ctx: MutationCtx, kind: Kind, name: string) {
  return kind === "flag"
    ? ctx.db.query("flagDefinitions").withIndex("by_key", (q) => q.eq("key", name)).unique()
    : ctx.db.query("cohortDefinitions").withIndex("by_cohortId", (q) => q.eq("cohortId", name)).unique();
}

/** Store a changed definition and its hash; `isNew` skips looking for rows that cannot exist. */
async function writeDefinition(ctx: MutationCtx, kind: Kind, row: DefinitionRow, isNew: boolean) {
  const hash = isNew ? null : await findHash(ctx, kind, row.name);
  if (hash === null) await ctx.db.insert("definitionHashes", { kind, name: row.name, hash: row.hash });
  else await ctx.db.patch(hash._id, { hash: row.hash });
  const existing = isNew ? null : await findDefinition(ctx, kind, row.name);
  if (existing !== null) await ctx.db.patch(existing._id, { definition: row.definition });
  else if (kind === "flag") await ctx.db.insert("flagDefinitions", { key: row.name, definition: row.definition });
  else await ctx.db.insert("cohortDefinitions", { cohortId: row.name, definition: row.definition });
}

async function deleteDefinition(ctx: MutationCtx, kind: Kind, name: string) {
  const hash = await findHash(ctx, kind, name);
  if (hash !== null) await ctx.db.delete(hash._id);
  const row = await findDefinition(ctx, kind, name);
  if (row !== null) await ctx.db.delete(row._id);
}

export const recordRefresh = internalMutation({
  args: {
    ...vRefreshResult.fields,
    confirmed: v.boolean(),
    etag: v.optional(v.string()),
    flagCount: v.optional(v.number()),
    cohortCount: v.optional(v.number()),
  },
  returns: v.null(),
  handler: async (ctx, args) => {
    const now = Date.now();
    const state = await ctx.db.query("refreshState").first();
    const update = {
      lastRefreshAt: now,
      lastResult: args.result,
      lastHttpStatus: args.httpStatus,
      lastError: args.error,
      ...(args.confirmed ? { lastConfirmedAt: now } : {}),
      ...(args.httpStatus === 200 && args.confirmed ? { lastLoadedAt: now } : {}),
      ...(args.etag !== undefined ? { etag: args.etag } : {}),
      ...(args.flagCount !== undefined ? { flagCount: args.flagCount } : {}),
      ...(args.cohortCount !== undefined ? { cohortCount: args.cohortCount } : {}),
      ...(args.result === "quota_limited" ? { flagCount: 0, cohortCount: 0 } : {}),
    };
    if (state === null) await ctx.db.insert("refreshState", update);
    else await ctx.db.patch(state._id, update);
    return null;
  },
});
