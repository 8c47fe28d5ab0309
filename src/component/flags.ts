// Local flag evaluation in queries. Each call reads the shared meta row, the flags it
// evaluates and what they depend on (cohorts, dependency chains): a query that reads flag A
// re-runs when A, its dependencies or the meta row change, not when flag B does.
import { v } from "convex/values";
import { query, type QueryCtx } from "./_generated/server.js";
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
import { decodeFlagContext } from "../core/flagContext.js";

/** Why nothing could be evaluated at all. */
export type DefinitionsState = "loaded" | "not_loaded" | "quota_limited";

/** A result, marked when an undecided flag is one PostHog evaluates only in clients. */
export type EvaluatedFlag = FlagResult & { clientOnly?: boolean };

/** What `evaluate` returns, as JSON text (payloads and properties may hold `$` keys). */
export type Evaluation =
  | { state: "not_loaded" | "quota_limited" }
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
    if (loader.state !== "loaded") return JSON.stringify({ state: loader.state } satisfies Evaluation);
    const keys = args.keys ?? (await loader.loadAllFlags());
    await loader.loadWithDependencies(keys);
    const context: Omit<EvaluationContext, "now"> = decodeFlagContext(args.context);
    const evaluator = new FlagEvaluator(loader.source(), { ...context, now: Date.now() });
    const results: EvaluatedFlag[] = keys.map((key) => {
      const result = evaluator.evaluate(key);
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

/** Reads definitions on demand and remembers them for one evaluation. */
class DefinitionLoader {
  private flags = new Map<string, FlagDefinition | undefined>();
  private cohorts = new Map<string, PropertyGroup | undefined>();

  private constructor(
    private ctx: QueryCtx,
    readonly state: DefinitionsState,
    private groupTypeMapping: Record<string, string>,
    private propertyMatchingVersion: number | undefined,
    readonly minimalFlagCalledEvents = false,
  ) {}

  static async open(ctx: QueryCtx): Promise<DefinitionLoader> {
    const meta = await ctx.db.query("definitionsMeta").first();
    if (meta === null) return new DefinitionLoader(ctx, "not_loaded", {}, undefined);
    const state = meta.available ? "loaded" : "quota_limited";
    return new DefinitionLoader(ctx, state, JSON.parse(meta.groupTypeMapping), meta.propertyMatchingVersion, meta.minimalFlagCalledEvents === true);
  }

  async flag(key: string): Promise<FlagDefinition | undefined> {
    if (!this.flags.has(key)) {
      const row = await this.ctx.db.query("flagDefinitions").withIndex("by_key", (q) => q.eq("key", key)).unique();
      this.flags.set(key, row ? (JSON.parse(row.definition) as FlagDefinition) : undefined);
    }
    return this.flags.get(key);
  }

  private async cohort(id: string): Promise<PropertyGroup | undefined> {
    if (!this.cohorts.has(id)) {
      const row = await this.ctx.db.query("cohortDefinitions").withIndex("by_cohortId", (q) => q.eq("cohortId", id)).unique();
      this.cohorts.set(id, row ? (JSON.parse(row.definition) as PropertyGroup) : undefined);
    }
    return this.cohorts.get(id);
  }

  /** Every flag (for getAllFlags): the one case that reads all flag rows. */
  async loadAllFlags(): Promise<string[]> {
    for (const row of await this.ctx.db.query("flagDefinitions").collect()) {
      this.flags.set(row.key, JSON.parse(row.definition) as FlagDefinition);
    }
    return [...this.flags.keys()];
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
