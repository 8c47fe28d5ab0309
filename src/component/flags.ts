// Local flag evaluation in queries. Each call reads the shared meta row, the flags it
// evaluates and what they depend on (cohorts, dependency chains): a query that reads flag A
// re-runs when A, its dependencies or the meta row change, not when flag B does. Reads of
// every flag (or of many) read the packs instead: a few compressed rows hold all definitions.
import { v } from "convex/values";
import { query, type QueryCtx } from "./_generated/server.js";
import { unpack } from "./definitionPacks.js";
import {
  FlagEvaluator,
  referencesOfCohort,
  referencesOfFlag,
  resolvePayload,
  type DefinitionSource,
  type EvaluationContext,
  type FlagDefinition,
  type FlagResult,
  type PropertyGroup,
} from "../core/flags/index.js";
import { decodeFlagContext, defineOwn } from "../core/flagContext.js";

/** Evaluating more flags than this at once reads the packs: one row per flag would cost a range each. */
const KEYS_READ_ONE_BY_ONE = 64;

/** Why nothing could be evaluated at all. */
export type DefinitionsState = "loaded" | "not_loaded" | "quota_limited";

/**
 * A result, marked when an undecided flag is one PostHog evaluates only in clients, or when
 * the flag is killed (value false, whatever its definition says).
 */
export type EvaluatedFlag = FlagResult & { clientOnly?: boolean; killed?: boolean };

/** What `evaluate` returns, as JSON text (payloads and properties may hold `$` keys). */
export type Evaluation =
  /** killed: the killed flags among those asked for (all of them when all were): false even so. */
  | { state: "not_loaded" | "quota_limited"; killed?: string[] }
  /** minimalFlagCalledEvents: the definitions' gate for minimal `$feature_flag_called` events. */
  | { state: "loaded"; results: EvaluatedFlag[]; minimalFlagCalledEvents: boolean };

export const evaluate = query({
  args: {
    /** JSON of { distinctId, groups?, personProperties?, groupProperties? }. */
    context: v.string(),
    /** Flags to evaluate; all flags when absent. */
    keys: v.optional(v.array(v.string())),
  },
  returns: v.string(),
  handler: async (ctx, args): Promise<string> => {
    const loader = await DefinitionLoader.open(ctx);
    if (loader.state !== "loaded") {
      const killed = [...loader.killed].filter((key) => args.keys === undefined || args.keys.includes(key));
      return JSON.stringify({ state: loader.state, ...(killed.length > 0 ? { killed } : {}) } satisfies Evaluation);
    }
    const all = args.keys === undefined || args.keys.length > KEYS_READ_ONE_BY_ONE ? await loader.loadAll() : undefined;
    const keys = args.keys ?? all!;
    await loader.loadWithDependencies(keys);
    const context: Omit<EvaluationContext, "now"> = decodeFlagContext(args.context);
    const evaluator = new FlagEvaluator(loader.source(), { ...context, now: Date.now() });
    const results: EvaluatedFlag[] = keys.map((key) => {
      const result = evaluator.evaluate(key);
      if (loader.killed.has(key)) {
        const flagId = loader.source().flag(key)?.id;
        return { key, resolved: true, value: false, payload: null, ...(flagId !== undefined ? { flagId } : {}), killed: true };
      }
      // posthog-node never asks the server about flags that only clients evaluate.
      const clientOnly = !result.resolved && loader.source().flag(key)?.evaluation_runtime === "client";
      return clientOnly ? { ...result, clientOnly } : result;
    });
    const evaluation: Evaluation = { state: "loaded", results, minimalFlagCalledEvents: loader.minimalFlagCalledEvents };
    return JSON.stringify(evaluation);
  },
});

/** The stored definitions' gate for minimal `$feature_flag_called` events (false when none). */
export const minimalFlagCalledEvents = query({
  args: {},
  returns: v.boolean(),
  handler: async (ctx): Promise<boolean> => (await ctx.db.query("definitionsMeta").first())?.minimalFlagCalledEvents === true,
});

/** The payload a flag has for a given value, without evaluating it (posthog-node's matchValue). */
export const payloadFor = query({
  args: { key: v.string(), matchValue: v.union(v.boolean(), v.string()) },
  returns: v.string(),
  handler: async (ctx, { key, matchValue }): Promise<string> => {
    const loader = await DefinitionLoader.open(ctx);
    if (loader.state !== "loaded") return JSON.stringify({ state: loader.state });
    const flag = await loader.flag(key);
    return JSON.stringify({ state: "loaded", found: flag !== undefined, payload: flag ? resolvePayload(flag, matchValue) : null });
  },
});

/** What PostHog serves for one flag, as a registry compares it with what the code declares. */
export interface ServedFlag {
  key: string;
  /** False when the project has no such flag. */
  found: boolean;
  active?: boolean;
  /** Variant keys of a multivariate flag; null for a boolean flag. */
  variants?: string[] | null;
  /** Payload per value ("true" for a boolean flag, else the variant key), parsed. */
  payloads?: Record<string, unknown>;
}

/** The served shape of each named flag, as JSON text of ServedFlag[] (payloads may hold `$` keys). */
export const servedFlags = query({
  args: { keys: v.array(v.string()) },
  returns: v.string(),
  handler: async (ctx, { keys }): Promise<string> => {
    const loader = await DefinitionLoader.open(ctx);
    if (loader.state !== "loaded") return JSON.stringify({ state: loader.state });
    if (keys.length > KEYS_READ_ONE_BY_ONE) await loader.loadAll();
    const served: ServedFlag[] = [];
    for (const key of keys) {
      const flag = await loader.flag(key);
      if (!flag) {
        served.push({ key, found: false });
        continue;
      }
      const variants = flag.filters?.multivariate?.variants?.map((variant) => variant.key) ?? null;
      const payloads: Record<string, unknown> = {};
      for (const value of variants ?? ["true"]) {
        const payload = resolvePayload(flag, value === "true" && variants === null ? true : value);
        if (payload !== null) defineOwn(payloads, value, payload);
      }
      served.push({ key, found: true, active: flag.active !== false, variants, payloads });
    }
    return JSON.stringify({ state: "loaded", served });
  },
});

/** Reads definitions on demand and remembers them for one evaluation. */
class DefinitionLoader {
  private flags = new Map<string, FlagDefinition | undefined>();
  private cohorts = new Map<string, PropertyGroup | undefined>();
  /** Everything stored is loaded: what is missing does not exist, no need to look for its row. */
  private complete = false;

  private constructor(
    private ctx: QueryCtx,
    readonly state: DefinitionsState,
    private groupTypeMapping: Record<string, string>,
    private propertyMatchingVersion: number | undefined,
    private packed: boolean,
    /** Killed flags: evaluated as inactive, so flags depending on them see false too. */
    readonly killed: Set<string>,
    readonly minimalFlagCalledEvents = false,
  ) {}

  static async open(ctx: QueryCtx): Promise<DefinitionLoader> {
    const meta = await ctx.db.query("definitionsMeta").first();
    if (meta === null) return new DefinitionLoader(ctx, "not_loaded", {}, undefined, false, new Set());
    const killed = new Set((meta.killed ?? []).map((kill) => kill.key));
    const state = meta.definitionsLoaded === false ? "not_loaded" : meta.available ? "loaded" : "quota_limited";
    return new DefinitionLoader(
      ctx,
      state,
      JSON.parse(meta.groupTypeMapping),
      meta.propertyMatchingVersion,
      meta.packed === true,
      killed,
      meta.minimalFlagCalledEvents === true,
    );
  }

  async flag(key: string): Promise<FlagDefinition | undefined> {
    if (!this.flags.has(key) && !this.complete) {
      const row = await this.ctx.db.query("flagDefinitions").withIndex("by_key", (q) => q.eq("key", key)).unique();
      this.remember(key, row ? (JSON.parse(row.definition) as FlagDefinition) : undefined);
    }
    return this.flags.get(key);
  }

  private remember(key: string, flag: FlagDefinition | undefined) {
    this.flags.set(key, flag && this.killed.has(key) ? { ...flag, active: false } : flag);
  }

  private async cohort(id: string): Promise<PropertyGroup | undefined> {
    if (!this.cohorts.has(id) && !this.complete) {
      const row = await this.ctx.db.query("cohortDefinitions").withIndex("by_cohortId", (q) => q.eq("cohortId", id)).unique();
      this.cohorts.set(id, row ? (JSON.parse(row.definition) as PropertyGroup) : undefined);
    }
    return this.cohorts.get(id);
  }

  /** Every flag and cohort (for getAllFlags), from the packs; returns the flag keys. */
  async loadAll(): Promise<string[]> {
    if (!this.packed) {
      // Stored by an older version, until the next refresh writes the packs: the rows.
      for (const row of await this.ctx.db.query("flagDefinitions").collect()) {
        this.remember(row.key, JSON.parse(row.definition) as FlagDefinition);
      }
      return [...this.flags.keys()];
    }
    const keys: string[] = [];
    for (const pack of await this.ctx.db.query("definitionPacks").withIndex("by_kind_name", (q) => q.eq("kind", "flagPack")).collect()) {
      const { definitions, rowNames } = unpack<FlagDefinition>(pack.data);
      for (const [key, flag] of definitions) this.remember(key, flag);
      for (const key of rowNames) await this.flag(key);
      keys.push(...definitions.map(([key]) => key), ...rowNames);
    }
    for (const pack of await this.ctx.db.query("definitionPacks").withIndex("by_kind_name", (q) => q.eq("kind", "cohortPack")).collect()) {
      const { definitions, rowNames } = unpack<PropertyGroup>(pack.data);
      for (const [id, cohort] of definitions) this.cohorts.set(id, cohort);
      for (const id of rowNames) await this.cohort(id);
    }
    this.complete = true;
    return keys.filter((key) => this.flags.get(key) !== undefined);
  }

  /** Load the flags and, transitively, the flags and cohorts they reference. */
  async loadWithDependencies(keys: string[]): Promise<void> {
    const flagQueue = [...keys];
    const cohortQueue: string[] = [];
    const seenFlags = new Set<string>();
    const seenCohorts = new Set<string>();
    while (flagQueue.length > 0 || cohortQueue.length > 0) {
      const key = flagQueue.pop();
      if (key !== undefined) {
        if (seenFlags.has(key)) continue;
        seenFlags.add(key);
        const flag = await this.flag(key);
        if (flag) enqueue(referencesOfFlag(flag));
        continue;
      }
      const id = cohortQueue.pop()!;
      if (seenCohorts.has(id)) continue;
      seenCohorts.add(id);
      const cohort = await this.cohort(id);
      if (cohort) enqueue(referencesOfCohort(cohort));
    }
    function enqueue(refs: { flagKeys: string[]; cohortIds: string[] }) {
      flagQueue.push(...refs.flagKeys);
      cohortQueue.push(...refs.cohortIds);
    }
  }

  source(): DefinitionSource {
    return {
      flag: (key) => this.flags.get(key),
      cohort: (id) => this.cohorts.get(id),
      groupTypeMapping: this.groupTypeMapping,
      propertyMatchingVersion: this.propertyMatchingVersion,
    };
  }
}
