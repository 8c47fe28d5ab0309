// Exposures: the `$feature_flag_called` event a flag read in a mutation or action records,
// deduplicated by the component (same distinct id, flag, response and groups).
import { buildCaptureMessage, outboxMessage } from "../core/messages.js";
import { exposureDedupKey, flagCalledProperties, isMinimalExposure, type ExposureFacts } from "../core/exposures.js";
import { runBeforeSend } from "./beforeSend.js";
import type { ClientConfig } from "./config.js";
import { factsOf, type FeatureFlagResult } from "./flags.js";
import type { ExposureTarget, MutationOrActionCtx, RunMutationCtx, RunQueryCtx } from "./types.js";

/** Queue a `$feature_flag_called` event unless the same exposure was already sent. */
export async function sendExposure(config: ClientConfig, ctx: RunMutationCtx, who: ExposureTarget, facts: ExposureFacts): Promise<void> {
  const destination = config.configuredDestination();
  if (destination === undefined) return;
  const built = buildCaptureMessage(
    {
      distinctId: who.distinctId,
      event: "$feature_flag_called",
      properties: flagCalledProperties(facts),
      groups: who.groups,
      disableGeoip: who.disableGeoip,
    },
    config.buildOptions(),
  );
  const message = await runBeforeSend(config.options.beforeSend, built);
  if (message === null) return;
  await ctx.runMutation(config.component.exposures.record, {
    destination,
    ...outboxMessage(message),
    dedupKey: exposureDedupKey(who.distinctId, facts.key, facts.response, who.groups),
    ...(isMinimalExposure(facts) ? { minimal: true } : {}),
    ...(config.options.exposureDedupWindowMs !== undefined ? { dedupWindowMs: config.options.exposureDedupWindowMs } : {}),
    ...config.deliveryArgs(),
  });
}

/**
 * Record that a user saw a flag's value read in a query (queries cannot write): pass the
 * result the query returned. Deduplicated like every exposure.
 */
export async function captureExposure(
  config: ClientConfig,
  ctx: MutationOrActionCtx,
  args: ExposureTarget & { result: FeatureFlagResult },
): Promise<void> {
  const facts = factsOf(args.result);
  // Only a flag known to have no experiment can be sent minimal; then the stored gate decides.
  if (facts.hasExperiment === false && "runQuery" in ctx) {
    facts.minimalGate = await (ctx as RunMutationCtx & RunQueryCtx).runQuery(config.component.flags.minimalFlagCalledEvents, {});
  }
  await sendExposure(config, ctx, args, facts);
}
