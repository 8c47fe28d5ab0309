// Operating the client: delivering now, queue health, dead letters, loading flag definitions
// (from the app's cron), and the kill switch (local only, or enforced in PostHog too).
import type { EnforcementOutcome } from "../component/governance/enforcement.js";
import type { DeadLetter, FlushResult, RefreshResult, Status as ComponentStatus } from "../component/validators.js";
import { PostHogInputError } from "../core/messages.js";
import type { ClientConfig } from "./config.js";
import { registryStatus, type RegistryStatus } from "./contracts.js";
import { alertSettings } from "./alerts.js";
import { canFetch } from "./flags.js";
import type { MutationOrActionCtx, RunActionCtx, RunQueryCtx } from "./types.js";

/** Queue health (see PostHog.status), and whether this client sends anything at all. */
export type Status = ComponentStatus & {
  /**
   * "enabled"; "not_configured" when there is no project API key (captures are skipped, with
   * one warning); "disabled" when the client was created with `disabled: true`.
   */
  analytics: "enabled" | "not_configured" | "disabled";
  /** With a flag registry: what PostHog serves that the registry does not declare, and the reverse. */
  registry?: RegistryStatus;
  /** Flags killed with disableFlagLocally (false everywhere until clearKillSwitch). */
  killedFlags: KilledFlag[];
};

/** A flag killed locally: its key, the reason given, and when (epoch ms). */
export interface KilledFlag {
  key: string;
  reason?: string;
  at: number;
}

export async function flush(config: ClientConfig, ctx: RunActionCtx): Promise<FlushResult> {
  return await ctx.runAction(config.component.delivery.flush, config.deliveryArgs());
}

export async function status(config: ClientConfig, ctx: RunQueryCtx): Promise<Status> {
  const analytics = config.disabled ? "disabled" : config.projectApiKey() === undefined ? "not_configured" : "enabled";
  const registry = await registryStatus(config, ctx);
  const killedFlags = await ctx.runQuery(config.component.killSwitch.list, {});
  return { ...(await ctx.runQuery(config.component.status.get, {})), analytics, killedFlags, ...(registry ? { registry } : {}) };
}

export async function disableFlagLocally(config: ClientConfig, ctx: MutationOrActionCtx, args: { key: string; reason?: string }): Promise<void> {
  if (typeof args.key !== "string" || args.key === "") throw new PostHogInputError("key", "disableFlagLocally needs the flag's key");
  await ctx.runMutation(config.component.killSwitch.kill, { key: args.key, ...(args.reason !== undefined ? { reason: args.reason } : {}) });
}

/** What disableFlag did in PostHog: see EnforcementOutcome's `enforcement` values in the README. */
export type { EnforcementOutcome };

export async function disableFlag(config: ClientConfig, ctx: MutationOrActionCtx, args: { key: string; reason?: string }): Promise<EnforcementOutcome> {
  if (typeof args.key !== "string" || args.key === "") throw new PostHogInputError("key", "disableFlag needs the flag's key");
  const kill = { key: args.key, ...(args.reason !== undefined ? { reason: args.reason } : {}) };
  if (!canFetch(ctx)) return await ctx.runMutation(config.component.governance.enforcement.disableFlagAtNextRun, kill);
  const admin = config.adminTarget();
  // A refusal is alerted where the runners' alerts go.
  const alerts = await alertSettings(config);
  const outcome = await (ctx as MutationOrActionCtx & RunActionCtx).runAction(config.component.governance.enforcement.disableFlagNow, { admin, alerts, ...kill });
  await refreshAfterEnforcement(config, ctx as MutationOrActionCtx & RunActionCtx, [outcome]);
  return outcome;
}

/**
 * After PostHog turned flags off, load the definitions again so the stored ones say inactive
 * too (the kill keeps them off meanwhile). Needs the personal API key; without one (no local
 * evaluation) there is nothing to refresh.
 */
export async function refreshAfterEnforcement(config: ClientConfig, ctx: RunActionCtx, outcomes: EnforcementOutcome[]): Promise<void> {
  if (!outcomes.some((outcome) => outcome.enforcement === "patched")) return;
  if (config.disabled || config.personalApiKey() === undefined) return;
  await refreshFlagDefinitions(config, ctx, {});
}

export async function clearKillSwitch(config: ClientConfig, ctx: MutationOrActionCtx, args: { key: string }): Promise<boolean> {
  return await ctx.runMutation(config.component.killSwitch.clear, { key: args.key });
}

export async function listDeadLetters(config: ClientConfig, ctx: RunQueryCtx, args: { limit?: number }): Promise<DeadLetter[]> {
  return await ctx.runQuery(config.component.events.listDeadLetters, args);
}

export async function resendDeadLetters(config: ClientConfig, ctx: MutationOrActionCtx, args: { limit?: number }): Promise<number> {
  return await ctx.runMutation(config.component.events.resendDeadLetters, {
    ...args,
    destination: config.destination(),
    ...config.deliveryArgs(),
  });
}

export async function refreshFlagDefinitions(config: ClientConfig, ctx: RunActionCtx, args: { timeoutMs?: number }): Promise<RefreshResult> {
  if (config.disabled) return { result: "disabled" };
  const personalApiKey = config.personalApiKey();
  if (personalApiKey === undefined) {
    throw new PostHogInputError(
      "personalApiKey",
      "local flag evaluation needs a personal API key: pass personalApiKey to new PostHog(...) or set POSTHOG_PERSONAL_API_KEY",
    );
  }
  return await ctx.runAction(config.component.definitions.refresh, { ...config.destination(), personalApiKey, ...args });
}
