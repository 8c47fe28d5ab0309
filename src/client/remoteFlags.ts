// Remote evaluation, in actions: flags asked of PostHog's /flags endpoint (what PostHog knows
// that local evaluation cannot), and remote config payloads.
import { PostHogInputError } from "../core/messages.js";
import type { FlagValue } from "../core/flags/index.js";
import { defineOwn } from "../core/flagContext.js";
import { fetchRemoteFlags, type RemoteFlagsResult } from "../core/remoteFlags.js";
import { fetchRemoteConfigPayload } from "../core/remoteConfig.js";
import type { ClientConfig } from "./config.js";
import { reportServed } from "./contracts.js";
import { sendExposure } from "./exposures.js";
import { canWrite, factsOf, killedResult, remoteDecision, undecidedResult, type Decision, type FlagReadResult, type JsonType } from "./flags.js";
import type { AllFlagsAndPayloads, AllFlagsArgs, FlagArgs, FlagContext, FlagReadOptions, RunActionCtx, RunQueryCtx } from "./types.js";

/** One /flags request for this distinct id: the listed flags, or every flag. */
export async function askPostHog(
  config: ClientConfig,
  distinctId: string,
  args: FlagContext & FlagReadOptions,
  flagKeys: string[] | undefined,
): Promise<RemoteFlagsResult> {
  return await fetchRemoteFlags({
    ...config.destination(),
    distinctId,
    groups: args.groups,
    personProperties: args.personProperties,
    groupProperties: args.groupProperties,
    disableGeoip: args.disableGeoip,
    ...(flagKeys ? { flagKeys } : {}),
    ...config.remoteTimings(),
  });
}

export async function evaluateFlag(config: ClientConfig, ctx: RunActionCtx, args: FlagArgs): Promise<FlagValue | null> {
  return (await evaluateFlagResult(config, ctx, args)).value ?? null;
}

export async function evaluateFlagResult(config: ClientConfig, ctx: RunActionCtx, args: FlagArgs): Promise<FlagReadResult> {
  const { overrides } = config;
  if (config.disabled) return undecidedResult(args.key, "disabled");
  if (overrides.hasFlag(args.key)) return overrides.result(args.key);
  if (config.projectApiKey() === undefined) return undecidedResult(args.key, "not_configured");
  const distinctId = await config.flagDistinctId(ctx, args.distinctId);
  // A kill wins over PostHog here too: the switch is for turning a flag off everywhere at once.
  const killed = (await killedKeys(config, ctx)).has(args.key);
  const answer = killed ? undefined : await askPostHog(config, distinctId, args, [args.key]);
  const decision: Decision = answer ? remoteDecision(args.key, answer) : killedDecision(args.key);
  if (answer) decision.facts.minimalGate = answer.ok && answer.minimalFlagCalledEvents === true;
  reportServed(config, [decision.result]);
  if (canWrite(ctx) && config.sendsExposures(args)) {
    await sendExposure(config, ctx, { ...args, distinctId }, decision.facts);
  }
  return overrides.withPayload(decision.result);
}

export async function evaluateFlagPayload(config: ClientConfig, ctx: RunActionCtx, args: FlagArgs): Promise<JsonType | null> {
  const { overrides } = config;
  if (config.disabled) return null;
  if (overrides.hasPayload(args.key)) return overrides.payloads![args.key]!;
  if (overrides.hasFlag(args.key)) return overrides.result(args.key).payload ?? null;
  if (config.projectApiKey() === undefined) return null;
  if ((await killedKeys(config, ctx)).has(args.key)) return null;
  const distinctId = await config.flagDistinctId(ctx, args.distinctId);
  const { result } = remoteDecision(args.key, await askPostHog(config, distinctId, args, [args.key]));
  reportServed(config, [result]);
  return result.payload ?? null;
}

export async function evaluateAllFlags(
  config: ClientConfig,
  ctx: RunActionCtx,
  args: AllFlagsArgs,
): Promise<AllFlagsAndPayloads> {
  const { featureFlags, featureFlagPayloads }: AllFlagsAndPayloads = { featureFlags: {}, featureFlagPayloads: {} };
  if (config.disabled || config.projectApiKey() === undefined) return { featureFlags, featureFlagPayloads };
  const distinctId = await config.flagDistinctId(ctx, args.distinctId);
  const answer = await askPostHog(config, distinctId, args, args.flagKeys);
  if (answer.ok) {
    for (const [key, flag] of Object.entries(answer.flags)) {
      defineOwn(featureFlags, key, flag.value);
      if (flag.listsPayload) defineOwn(featureFlagPayloads, key, flag.payload as JsonType);
    }
    reportServed(config, Object.entries(answer.flags).map(([key, flag]) => ({ key, value: flag.value, payload: flag.payload })));
  }
  for (const key of await killedKeys(config, ctx)) {
    if (!Object.hasOwn(featureFlags, key)) continue;
    defineOwn(featureFlags, key, false);
    delete featureFlagPayloads[key];
  }
  config.overrides.applyToMaps(featureFlags, featureFlagPayloads);
  return { featureFlags, featureFlagPayloads };
}

export async function getRemoteConfigPayload(
  config: ClientConfig,
  ctx: RunActionCtx,
  args: { key: string; timeoutMs?: number },
): Promise<JsonType | undefined> {
  void ctx; // an action's ctx: only actions may make network requests
  const personalApiKey = config.personalApiKey();
  if (personalApiKey === undefined) {
    throw new PostHogInputError(
      "personalApiKey",
      "remote config payloads need a personal API key: pass secretKey (or personalApiKey) to new PostHog(...) or set POSTHOG_PERSONAL_API_KEY",
    );
  }
  return (await fetchRemoteConfigPayload({ ...config.destination(), personalApiKey, ...args })) as JsonType | undefined;
}

/** The flags killed with disableFlagLocally. */
async function killedKeys(config: ClientConfig, ctx: RunActionCtx): Promise<Set<string>> {
  // Every action's ctx can run queries; the declared type only promises runAction.
  if (!("runQuery" in ctx)) return new Set();
  const kills = await (ctx as RunActionCtx & RunQueryCtx).runQuery(config.component.killSwitch.list, {});
  return new Set(kills.map((kill) => kill.key));
}

function killedDecision(key: string): Decision {
  const result = killedResult(key);
  return { result, facts: factsOf(result), listsPayload: false };
}
