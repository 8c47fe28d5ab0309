// Local-evaluation definitions: refreshed from PostHog by the app's cron, stored one row per
// flag and per cohort (plus packs of all of them, see definitionPacks.ts), and applied as a
// diff so unchanged flags keep their rows (and the queries that read them keep their cached
// results).
import { v } from "convex/values";
import { internal } from "./_generated/api.js";
import { action, internalMutation, internalQuery, type ActionCtx, type MutationCtx } from "./_generated/server.js";
import type { Id } from "./_generated/dataModel.js";
import { fetchDefinitions, NO_DEFINITIONS, storedDefinition, type DefinitionPart, type Definitions } from "../core/definitionsTransport.js";
import { packData, planPacks } from "./definitionPacks.js";
import { vRefreshResult, type RefreshResult } from "./validators.js";

/** A definition must fit a Convex document with room for its key. */
export const MAX_DEFINITION_BYTES = 1024 * 1024 - 16 * 1024;
/**
 * What one applying mutation may cost, a quarter of each Convex transaction limit, so a diff
 * of any size is applied in as many mutations as it needs. On Convex a patch or delete of a
 * row not yet fetched by id costs an index range and a document read (of the old row's bytes).
 */
const CHUNK_BUDGET: Cost = {
  ranges: 1024,
  documentsRead: 8000,
  bytesRead: 4 * 1024 * 1024,
  documentsWritten: 4000,
  bytesWritten: 4 * 1024 * 1024,
};
/** What every applying mutation reads and writes besides the rows: version and meta rows. */
const CHUNK_OVERHEAD: Cost = { ranges: 8, documentsRead: 4, bytesRead: 8 * 1024, documentsWritten: 2, bytesWritten: 8 * 1024 };
/** Bytes of a row besides its definition (fields, ids, index entries), and of a hash row. */
const ROW_OVERHEAD = 256;
/** A row stored before sizes were recorded: assume this many bytes, at least 4 times the new size. */
const UNKNOWN_ROW_BYTES = 16 * 1024;
const HASH_PAGE = 4000;
const DEFAULT_TIMEOUT_MS = 10_000;

/** Stored rows: definitions (one per flag or cohort) and packs of each. */
type Kind = "flag" | "cohort" | "flagPack" | "cohortPack";
const vKind = v.union(v.literal("flag"), v.literal("cohort"), v.literal("flagPack"), v.literal("cohortPack"));
const vRowId = v.union(v.id("flagDefinitions"), v.id("cohortDefinitions"), v.id("definitionPacks"));
type RowId = Id<"flagDefinitions"> | Id<"cohortDefinitions"> | Id<"definitionPacks">;

interface Cost {
  ranges: number;
  documentsRead: number;
  bytesRead: number;
  documentsWritten: number;
  bytesWritten: number;
}

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
        await applyDefinitions(ctx, NO_DEFINITIONS, false, version);
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

/** What a refresh knows of a stored row, from its hash row. */
interface Stored {
  hash: string;
  hashId: Id<"definitionHashes">;
  /** The row's id and content size; absent for rows stored by an older version. */
  rowId?: RowId;
  bytes?: number;
}

/** One row to write or delete, with what it costs its mutation. */
interface Operation {
  kind: Kind;
  name: string;
  stored?: Stored;
  /** For writes: the new hash and the content, built only when its chunk is sent. */
  write?: { hash: string; bytes: number; content: () => string | ArrayBuffer };
  cost: Cost;
}

/** Write what changed, in as many mutations as the limits need (usually one). */
async function applyDefinitions(ctx: ActionCtx, definitions: Definitions, available: boolean, version: number) {
  const tooLarge: string[] = [];
  const changes = { flagsChanged: 0, flagsRemoved: 0, cohortsChanged: 0, cohortsRemoved: 0 };
  const operations: Operation[] = [];
  const packOperations: Operation[] = [];
  for (const [kind, packKind, parts] of [["flag", "flagPack", definitions.flags], ["cohort", "cohortPack", definitions.cohorts]] as const) {
    const stored = await storedRows(ctx, kind);
    const byName = new Map<string, DefinitionPart>();
    for (const part of parts) {
      byName.set(part.name, part);
      const old = stored.get(part.name);
      if (old?.hash === part.hash) continue;
      if (part.bytes > MAX_DEFINITION_BYTES) {
        tooLarge.push(`${kind} ${part.name}`);
        continue;
      }
      changes[kind === "flag" ? "flagsChanged" : "cohortsChanged"] += 1;
      operations.push(writeOperation(kind, part.name, old, part.hash, part.bytes, () => storedDefinition(definitions, kind, part)));
    }
    for (const [name, old] of stored) {
      if (byName.has(name)) continue;
      changes[kind === "flag" ? "flagsRemoved" : "cohortsRemoved"] += 1;
      operations.push(deleteOperation(kind, name, old));
    }

    // Packs hold every definition as received, except those too large to store (their rows kept as before).
    const members = parts.filter((part) => part.bytes <= MAX_DEFINITION_BYTES || stored.has(part.name));
    const definitionOf = (name: string) => storedDefinition(definitions, kind, byName.get(name)!);
    const storedPacks = await storedRows(ctx, packKind);
    const plans = planPacks(members);
    for (const plan of plans) {
      const old = storedPacks.get(plan.name);
      if (old?.hash === plan.hash) continue;
      packOperations.push(writeOperation(packKind, plan.name, old, plan.hash, plan.bytes, () => packData(plan, definitionOf)));
    }
    const planned = new Set(plans.map((plan) => plan.name));
    for (const [name, old] of storedPacks) if (!planned.has(name)) packOperations.push(deleteOperation(packKind, name, old));
  }

  // Rows first, then packs, the meta row with the last chunk. A diff that needs several
  // mutations becomes visible mutation by mutation; the next refresh diffs against what is stored.
  const chunks = chunkByCost([...operations, ...packOperations]);
  const meta = {
    groupTypeMapping: JSON.stringify(definitions.groupTypeMapping),
    available,
    packed: true,
    ...(definitions.propertyMatchingVersion !== undefined ? { propertyMatchingVersion: definitions.propertyMatchingVersion } : {}),
    ...(definitions.minimalFlagCalledEvents !== undefined ? { minimalFlagCalledEvents: definitions.minimalFlagCalledEvents } : {}),
  };
  for (const [index, chunk] of chunks.entries()) {
    const applied: boolean = await ctx.runMutation(internal.definitions.applyChunk, {
      writes: chunk
        .filter((op) => op.write !== undefined)
        .map(({ kind, name, stored, write }) => {
          const content = write!.content();
          return {
            kind,
            name,
            hash: write!.hash,
            ...(typeof content === "string" ? { definition: content } : { data: content }),
            bytes: typeof content === "string" ? write!.bytes : content.byteLength,
            ...storedIds(stored),
          };
        }),
      deletes: chunk.filter((op) => op.write === undefined).map(({ kind, name, stored }) => ({ kind, name, ...storedIds(stored) })),
      meta: index === chunks.length - 1 ? meta : undefined,
      expectedVersion: version + index,
    });
    if (!applied) return "superseded" as const;
  }
  return { tooLarge, changes };
}

function storedIds(stored: Stored | undefined) {
  if (stored === undefined) return {};
  return { hashId: stored.hashId, ...(stored.rowId !== undefined ? { rowId: stored.rowId } : {}) };
}

/** The old row is read before it is replaced (an index range and its bytes), unless it is new. */
function writeOperation(kind: Kind, name: string, stored: Stored | undefined, hash: string, bytes: number, content: () => string | ArrayBuffer): Operation {
  const cost = { ranges: 0, documentsRead: 0, bytesRead: 0, documentsWritten: 2, bytesWritten: bytes + 2 * ROW_OVERHEAD };
  if (stored !== undefined) addReadOfOld(cost, stored, bytes);
  else cost.ranges = 2; // inserts count no range by themselves; counted anyway, in case a later read of the same index counts them
  return { kind, name, stored, write: { hash, bytes, content }, cost };
}

function deleteOperation(kind: Kind, name: string, stored: Stored): Operation {
  const cost = { ranges: 0, documentsRead: 0, bytesRead: 0, documentsWritten: 2, bytesWritten: 0 };
  addReadOfOld(cost, stored, 0);
  return { kind, name, stored, cost };
}

/** Patching or deleting the hash row and the row: each fetched by id first; found by its index if its id is unknown. */
function addReadOfOld(cost: Cost, stored: Stored, newBytes: number) {
  const rowBytes = stored.bytes ?? Math.max(UNKNOWN_ROW_BYTES, 4 * newBytes);
  const lookup = stored.rowId === undefined ? 1 : 0;
  cost.ranges += 2 + lookup;
  cost.documentsRead += 2 + lookup;
  cost.bytesRead += rowBytes * (1 + lookup) + 2 * ROW_OVERHEAD;
}

/** Operations in order, cut into chunks that each stay within CHUNK_BUDGET. */
function chunkByCost(operations: Operation[]): Operation[][] {
  const chunks: Operation[][] = [[]];
  let total = { ...CHUNK_OVERHEAD };
  const fields = Object.keys(CHUNK_BUDGET) as Array<keyof Cost>;
  for (const op of operations) {
    const fits = fields.every((f) => total[f] + op.cost[f] <= CHUNK_BUDGET[f]);
    if (!fits && chunks[chunks.length - 1]!.length > 0) {
      chunks.push([]);
      total = { ...CHUNK_OVERHEAD };
    }
    chunks[chunks.length - 1]!.push(op);
    for (const f of fields) total[f] += op.cost[f];
  }
  return chunks;
}

async function storedRows(ctx: ActionCtx, kind: Kind): Promise<Map<string, Stored>> {
  const rows = new Map<string, Stored>();
  let after: string | undefined;
  for (;;) {
    const page: Array<{ name: string } & Stored> = await ctx.runQuery(internal.definitions.hashPage, { kind, after });
    for (const { name, ...stored } of page) rows.set(name, stored);
    if (page.length < HASH_PAGE) return rows;
    after = page[page.length - 1]!.name;
  }
}

export const hashPage = internalQuery({
  args: { kind: vKind, after: v.optional(v.string()) },
  returns: v.array(
    v.object({ name: v.string(), hash: v.string(), hashId: v.id("definitionHashes"), rowId: v.optional(vRowId), bytes: v.optional(v.number()) }),
  ),
  handler: async (ctx, { kind, after }) => {
    const rows = await ctx.db
      .query("definitionHashes")
      .withIndex("by_kind_name", (q) => (after === undefined ? q.eq("kind", kind) : q.eq("kind", kind).gt("name", after)))
      .take(HASH_PAGE);
    return rows.map((r) => ({
      name: r.name,
      hash: r.hash,
      hashId: r._id,
      ...(r.row !== undefined ? { rowId: r.row } : {}),
      ...(r.bytes !== undefined ? { bytes: r.bytes } : {}),
    }));
  },
});

/** The ETag to send, and the version of the stored definitions the diff is computed against. */
export const refreshStart = internalQuery({
  args: {},
  returns: v.object({ etag: v.optional(v.string()), version: v.number() }),
  handler: async (ctx) => {
    const state = await ctx.db.query("refreshState").first();
    // Definitions stored by a version without packs: ask for the whole answer again (no
    // ETag), or PostHog's 304s would keep reads of every flag on one row per flag.
    const meta = await ctx.db.query("definitionsMeta").first();
    const etag = meta !== null && meta.available && meta.packed !== true ? undefined : state?.etag;
    return { ...(etag ? { etag } : {}), version: state?.definitionsVersion ?? 0 };
  },
});

const vMeta = v.object({
  groupTypeMapping: v.string(),
  available: v.boolean(),
  packed: v.boolean(),
  propertyMatchingVersion: v.optional(v.number()),
  minimalFlagCalledEvents: v.optional(v.boolean()),
});

export const applyChunk = internalMutation({
  args: {
    /**
     * Rows to store, with the ids of the old rows when there are some (so each is fetched by
     * id: one index range each on Convex, where a lookup by name would cost two).
     */
    writes: v.array(
      v.object({
        kind: vKind,
        name: v.string(),
        hash: v.string(),
        /** A flag's or cohort's JSON text, or a pack's data. */
        definition: v.optional(v.string()),
        data: v.optional(v.bytes()),
        bytes: v.number(),
        hashId: v.optional(v.id("definitionHashes")),
        rowId: v.optional(vRowId),
      }),
    ),
    deletes: v.array(v.object({ kind: vKind, name: v.string(), hashId: v.optional(v.id("definitionHashes")), rowId: v.optional(vRowId) })),
    meta: v.optional(vMeta),
    /**
     * Each applied chunk bumps the definitions version. A chunk computed against another
     * version is refused, so two refreshes never interleave (and the ids stay valid).
     */
    expectedVersion: v.number(),
  },
  returns: v.boolean(),
  handler: async (ctx, { writes, deletes, meta, expectedVersion }) => {
    const state = await ctx.db.query("refreshState").first();
    if ((state?.definitionsVersion ?? 0) !== expectedVersion) return false;
    if (state === null) await ctx.db.insert("refreshState", { definitionsVersion: expectedVersion + 1 });
    else await ctx.db.patch(state._id, { definitionsVersion: expectedVersion + 1 });
    for (const write of writes) {
      const rowId = write.hashId === undefined ? undefined : (write.rowId ?? (await findRow(ctx, write.kind, write.name)));
      const row = await writeRow(ctx, write, rowId);
      const hashRow = { kind: write.kind, name: write.name, hash: write.hash, row, bytes: write.bytes };
      if (write.hashId === undefined) await ctx.db.insert("definitionHashes", hashRow);
      else await ctx.db.replace(write.hashId, hashRow);
    }
    for (const { kind, name, hashId, rowId } of deletes) {
      if (hashId !== undefined) await ctx.db.delete(hashId);
      const id = rowId ?? (await findRow(ctx, kind, name));
      if (id !== undefined) await ctx.db.delete(id);
    }
    if (meta !== undefined) {
      const existing = await ctx.db.query("definitionsMeta").first();
      if (existing === null) await ctx.db.insert("definitionsMeta", meta);
      // The kill list is not PostHog's: a refresh keeps it.
      else if (!sameMeta(existing, meta)) await ctx.db.replace(existing._id, { ...meta, ...(existing.killed ? { killed: existing.killed } : {}) });
    }
    return true;
  },
});

function sameMeta(a: Record<string, unknown>, b: Record<string, unknown>) {
  return ["groupTypeMapping", "available", "packed", "propertyMatchingVersion", "minimalFlagCalledEvents", "definitionsLoaded"].every((k) => a[k] === b[k]);
}

/** A row stored by an older version, whose hash row does not name it. */
async function findRow(ctx: MutationCtx, kind: Kind, name: string): Promise<RowId | undefined> {
  const row =
    kind === "flag"
      ? await ctx.db.query("flagDefinitions").withIndex("by_key", (q) => q.eq("key", name)).unique()
      : kind === "cohort"
        ? await ctx.db.query("cohortDefinitions").withIndex("by_cohortId", (q) => q.eq("cohortId", name)).unique()
        : await ctx.db.query("definitionPacks").withIndex("by_kind_name", (q) => q.eq("kind", kind).eq("name", name)).unique();
  return row?._id;
}

/** Replace the row (fetched by id) or insert it; returns its id. */
async function writeRow(
  ctx: MutationCtx,
  write: { kind: Kind; name: string; definition?: string; data?: ArrayBuffer },
  rowId: RowId | undefined,
): Promise<RowId> {
  const { kind, name } = write;
  if (kind === "flagPack" || kind === "cohortPack") {
    const pack = { kind, name, data: write.data! };
    if (rowId === undefined) return await ctx.db.insert("definitionPacks", pack);
    await ctx.db.replace(rowId as Id<"definitionPacks">, pack);
    return rowId;
  }
  const definition = write.definition!;
  if (kind === "flag") {
    if (rowId === undefined) return await ctx.db.insert("flagDefinitions", { key: name, definition });
    await ctx.db.replace(rowId as Id<"flagDefinitions">, { key: name, definition });
    return rowId;
  }
  if (rowId === undefined) return await ctx.db.insert("cohortDefinitions", { cohortId: name, definition });
  await ctx.db.replace(rowId as Id<"cohortDefinitions">, { cohortId: name, definition });
  return rowId;
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
