// Flag reads in queries, mutations and actions: evaluated by the component from the stored
// definitions; in an action, what that leaves undecided is asked of PostHog's /flags, exactly
// when posthog-node would. Reads in mutations and actions record exposures.
import type { FlagValue } from "../core/flags/index.js";
import type { Evaluation } from "../component/flags.js";
import type { ExposureFacts } from "../core/exposures.js";
import type { RemoteFlagsResult } from "../core/remoteFlags.js";
import { defineOwn, encodeFlagContext } from "../core/flagContext.js";
import type { ClientConfig } from "./config.js";
import { reportServed } from "./contracts.js";
import { sendExposure } from "./exposures.js";
import { askPostHog } from "./remoteFlags.js";
import { FeatureFlagEvaluations, snapshotParts, type SnapshotResponse } from "./snapshot.js";
import {
  canFetch,
  canWrite,
  localDecision,
  remoteDecision,
  undecidedResult,
  type Decision,
  type FlagReadResult,
  type FlagsSnapshot,
  type JsonType,
} from "./flags.js";
import type { AllFlagsAndPayloads, AllFlagsArgs, ExposureTarget, FlagArgs, FlagContext, FlagReadOptions, RunMutationCtx, RunQueryCtx } from "./types.js";

export async function getFeatureFlag(config: ClientConfig, ctx: RunQueryCtx, args: FlagArgs): Promise<FlagValue | undefined> {
  return (await getFeatureFlagResult(config, ctx, args)).value;
}

export async function isFeatureEnabled(config: ClientConfig, ctx: RunQueryCtx, args: FlagArgs): Promise<boolean | undefined> {
  const result = await getFeatureFlagResult(config, ctx, args);
  return result.value === undefined ? undefined : result.enabled;
}

export async function getFeatureFlagResult(config: ClientConfig, ctx: RunQueryCtx, args: FlagArgs): Promise<FlagReadResult> {
  const { overrides } = config;
  if (config.disabled) return undecidedResult(args.key, "disabled");
  // As posthog-node: an overridden flag is answered without evaluation or exposure.
  if (overrides.hasFlag(args.key)) return overrides.result(args.key);
  const distinctId = await config.flagDistinctId(ctx, args.distinctId);
  const { decisions } = await decide(config, ctx, { ...args, distinctId }, [args.key], args, "one");
  const decision = decisions[0]!;
  if (canWrite(ctx) && config.sendsExposures(args)) {
    await sendExposure(config, ctx, { ...args, distinctId }, decision.facts);
  }
  return overrides.withPayload(decision.result);
}

export async function getFeatureFlagPayload(
  config: ClientConfig,
  ctx: RunQueryCtx,
  args: FlagArgs & { matchValue?: FlagValue },
): Promise<JsonType | null | undefined> {
  const { overrides } = config;
  if (config.disabled) return undefined;
  if (overrides.hasPayload(args.key)) return overrides.payloads![args.key];
  if (args.matchValue !== undefined) {
    const answer = JSON.parse(
      await ctx.runQuery(config.component.flags.payloadFor, { key: args.key, matchValue: args.matchValue }),
    ) as { state: string; found?: boolean; payload?: JsonType | null };
    if (answer.state === "loaded" && answer.found) {
      const payload = answer.payload ?? null;
      reportServed(config, [{ key: args.key, value: args.matchValue, payload }]);
      return payload;
    }
    // As posthog-node: with no local definition, an action asks /flags (matchValue unused there).
    if (!canFetch(ctx) || args.onlyEvaluateLocally) return undefined;
    const distinctId = await config.flagDistinctId(ctx, args.distinctId);
    const { result } = remoteDecision(args.key, await askPostHog(config, distinctId, args, [args.key]));
    reportServed(config, [result]);
    return result.payload;
  }
  if (overrides.hasFlag(args.key)) {
    const overridden = overrides.result(args.key);
    return overridden.value === undefined ? undefined : overridden.payload;
  }
  const distinctId = await config.flagDistinctId(ctx, args.distinctId);
  const { decisions } = await decide(config, ctx, { ...args, distinctId }, [args.key], args, "one");
  const { result } = decisions[0]!;
  return result.value === undefined ? undefined : result.payload;
}

export async function getAllFlags(config: ClientConfig, ctx: RunQueryCtx, args: AllFlagsArgs): Promise<Record<string, FlagValue>> {
  return (await getAllFlagsAndPayloads(config, ctx, args)).featureFlags;
}

export async function getAllFlagsAndPayloads(
  config: ClientConfig,
  ctx: RunQueryCtx,
  args: AllFlagsArgs,
): Promise<AllFlagsAndPayloads> {
  const { featureFlags, featureFlagPayloads }: AllFlagsAndPayloads = { featureFlags: {}, featureFlagPayloads: {} };
  const distinctId = await config.findDistinctId(ctx, args.distinctId);
  // As posthog-node: nothing without a distinct id, nor when disabled.
  if (distinctId === undefined || config.disabled) return { featureFlags, featureFlagPayloads };
  const { decisions } = await decide(config, ctx, { ...args, distinctId }, args.flagKeys, args, "all");
  for (const { result, listsPayload } of decisions) {
    if (result.value === undefined) continue;
    defineOwn(featureFlags, result.key, result.value);
    if (listsPayload) defineOwn(featureFlagPayloads, result.key, result.payload!);
  }
  config.overrides.applyToMaps(featureFlags, featureFlagPayloads);
  return { featureFlags, featureFlagPayloads };
}

/**
 * The results of the named flags (every flag when `keys` is undefined), from the stored
 * definitions only, overrides applied: what the browser API's flags query answers. No exposure.
 */
export async function readFlagResults(
  config: ClientConfig,
  ctx: RunQueryCtx,
  context: FlagContext & { distinctId: string },
  keys: string[] | undefined,
): Promise<FlagReadResult[]> {
  if (config.disabled) return (keys ?? []).map((key) => undecidedResult(key, "disabled"));
  if (keys?.length === 0) return [];
  const { decisions } = await decide(config, ctx, context, keys, { onlyEvaluateLocally: true }, "all");
  const { overrides } = config;
  return decisions.map(({ result }) => (overrides.hasFlag(result.key) ? overrides.result(result.key) : overrides.withPayload(result)));
}

/** A snapshot of the flags; in a mutation or action, one whose reads record exposures. */
export async function evaluateFlags(config: ClientConfig, ctx: RunQueryCtx, args: AllFlagsArgs): Promise<FlagsSnapshot> {
  const { snapshot, facts, response } = await evaluateSnapshot(config, ctx, args, "snapshot");
  if (!canWrite(ctx)) return snapshot;
  // In a mutation or action, reads through the snapshot's accessors record exposures.
  const recorder = {
    sends: (perRead: boolean | undefined) => config.sendsExposures({ sendFeatureFlagEvents: perRead }),
    record: (who: ExposureTarget, what: ExposureFacts) => sendExposure(config, ctx as unknown as RunMutationCtx, who, what),
  };
  return new FeatureFlagEvaluations({
    ...snapshot,
    unresolvedFlags: snapshot.unresolvedFlags ?? {},
    disableGeoip: args.disableGeoip,
    facts,
    response,
    recorder,
  });
}

/** The flags a capture's sendFeatureFlags stamps on its event. */
export async function evaluateForCapture(config: ClientConfig, ctx: RunQueryCtx, args: AllFlagsArgs): Promise<FlagsSnapshot> {
  return (await evaluateSnapshot(config, ctx, args, "capture")).snapshot;
}

/** The decided flags as a snapshot, with each one's exposure facts and what /flags said overall. */
async function evaluateSnapshot(
  config: ClientConfig,
  ctx: RunQueryCtx,
  args: AllFlagsArgs,
  mode: "snapshot" | "capture",
): Promise<{ snapshot: FlagsSnapshot; facts: Map<string, ExposureFacts>; response: SnapshotResponse }> {
  const distinctId = await config.findDistinctId(ctx, args.distinctId);
  const groups = args.groups ? { groups: args.groups } : {};
  // posthog-node answers {} without a distinct id, when disabled, or for an empty flagKeys, asking nothing.
  if (distinctId === undefined || config.disabled || (mode === "snapshot" && args.flagKeys?.length === 0)) {
    const { facts, response } = snapshotParts([]);
    return { snapshot: { distinctId: distinctId ?? "", flags: {}, ...groups }, facts, response };
  }
  const { decisions, answer, minimalGate } = await decide(config, ctx, { ...args, distinctId }, args.flagKeys, args, mode);
  const { flags, unresolvedFlags, facts, response } = snapshotParts(decisions, answer, minimalGate);
  // As posthog-node: overrides apply to local evaluations (a capture's remote answer has none);
  // a capture evaluates like getAllFlags, whose overrides flagKeys does not limit.
  if (mode === "snapshot") config.overrides.applyToSnapshot(flags, facts, args.flagKeys);
  else if (answer === undefined) config.overrides.applyToSnapshot(flags, facts, undefined);
  for (const key of Object.keys(flags)) delete unresolvedFlags[key];
  const snapshot: FlagsSnapshot = { distinctId, flags, ...groups, ...(mode === "snapshot" ? { unresolvedFlags } : {}) };
  return { snapshot, facts, response };
}

/**
 * Decide flags from the stored definitions, then, in an action, ask PostHog's /flags for
 * what that left undecided, exactly when posthog-node would:
 * - "one": a single flag read; any undecided flag is asked for by key.
 * - "all": getAllFlags; one request when definitions are missing or a flag PostHog
 *   evaluates server-side is undecided; PostHog's values then overwrite local ones.
 * - "snapshot": evaluateFlags; local values stand, PostHog fills in the rest, and a
 *   requested key with no local definition also asks.
 * - "capture": sendFeatureFlags; asks only when there are no definitions at all.
 */
async function decide(
  config: ClientConfig,
  ctx: RunQueryCtx,
  context: FlagContext & { distinctId: string },
  keys: string[] | undefined,
  how: FlagReadOptions,
  mode: "one" | "all" | "snapshot" | "capture",
): Promise<{ decisions: Decision[]; answer?: RemoteFlagsResult; minimalGate: boolean }> {
  const encoded = encodeFlagContext({
    distinctId: context.distinctId,
    groups: context.groups,
    personProperties: context.personProperties,
    groupProperties: context.groupProperties,
  });
  const evaluation = JSON.parse(await ctx.runQuery(config.component.flags.evaluate, { context: encoded, keys })) as Evaluation;
  const loaded = evaluation.state === "loaded";
  if (evaluation.state === "not_loaded") config.warnDefinitionsNotLoaded();
  const killedBeforeLoad = new Set(loaded ? [] : (evaluation.killed ?? []));
  const local = loaded
    ? evaluation.results.map(localDecision)
    : [...new Set([...(keys ?? []), ...killedBeforeLoad])].map((key) =>
        killedBeforeLoad.has(key)
          ? localDecision({ key, resolved: true, value: false, payload: null, killed: true })
          : localDecision({ key, resolved: false, reason: evaluation.state === "not_loaded" ? "definitions_not_loaded" : "quota_limited", serverRequired: false }),
      );
  const storedGate = loaded && evaluation.minimalFlagCalledEvents;
  const settle = (decisions: Decision[], answer?: RemoteFlagsResult) => {
    // posthog-node's gate is its last writer: this read's /flags answer, else the definitions.
    const minimalGate = answer?.ok ? answer.minimalFlagCalledEvents === true : storedGate;
    for (const decision of decisions) decision.facts.minimalGate = minimalGate;
    reportServed(config, decisions.map((decision) => decision.result));
    return { decisions, ...(answer ? { answer } : {}), minimalGate };
  };
  if (how.onlyEvaluateLocally || !canFetch(ctx) || config.projectApiKey() === undefined) return settle(local);
  // Killed flags are decided even without definitions: asking about them alone is pointless.
  const noFlags = (!loaded && (keys === undefined || local.some((d) => d.result.reason !== "killed"))) || (keys === undefined && local.length === 0);
  const undecided = local.some((d) => d.result.value === undefined && !d.clientOnly);
  const ask =
    noFlags ||
    (mode !== "capture" && undecided) ||
    (mode === "snapshot" && local.some((d) => d.result.reason === "unknown_flag"));
  if (!ask) return settle(local);

  // A capture's fallback asks for every flag, as posthog-node's (its flagKeys is local-only).
  const answer = await askPostHog(config, context.distinctId, { ...context, ...how }, mode === "capture" ? undefined : keys);
  if (mode === "one") return settle(local.map((d) => (d.result.value === undefined ? remoteDecision(d.result.key, answer) : d)), answer);
  if (!answer.ok) return settle(local, answer);
  const merged = new Map(local.map((d) => [d.result.key, d]));
  for (const key of Object.keys(answer.flags)) {
    const mine = merged.get(key);
    if (mine?.result.reason === "killed") continue; // a kill wins over PostHog's answer
    if (mode === "snapshot" && mine?.result.value !== undefined) continue; // local stands
    merged.set(key, remoteDecision(key, answer));
  }
  return settle([...merged.values()], answer);
}
