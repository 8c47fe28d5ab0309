// Governance alerts: where they go (the client's `alerts` option, turned into the settings
// each runner action passes the component) and the outbox for the report.
import { createFunctionHandle, type FunctionReference } from "convex/server";
import type { AlertDelivery, AlertRow, AlertSettings } from "../component/governance/alertValidators.js";
import { PostHogInputError } from "../core/messages.js";
import { readEnv, type ClientConfig } from "./config.js";
import type { RunQueryCtx } from "./types.js";

/**
 * Where governance alerts go. `onAlert` is called with an AlertEvent (validate its args with
 * `vAlertEvent`): an internal mutation as it is, an internal action as `{ action: ref }`.
 */
export interface AlertsOption {
  /** A Slack incoming webhook. Default: the POSTHOG_ALERTS_SLACK_WEBHOOK environment variable. */
  slackWebhookUrl?: string;
  onAlert?: FunctionReference<"mutation", "internal"> | { action: FunctionReference<"action", "internal"> };
  /** Timeout, retry backoff and attempts of alert delivery (default 10 s; 5 s doubling to 15 min; 12 attempts). */
  delivery?: AlertDelivery;
}

/**
 * The settings a runner action passes the component. Runs in the app's function, where
 * createFunctionHandle can name the app's callback for the component to call.
 */
export async function alertSettings(config: ClientConfig): Promise<AlertSettings> {
  const option = config.options.alerts ?? {};
  const slackWebhookUrl = (option.slackWebhookUrl ?? readEnv("POSTHOG_ALERTS_SLACK_WEBHOOK") ?? "").trim();
  if (slackWebhookUrl !== "" && !/^https?:\/\//.test(slackWebhookUrl)) {
    throw new PostHogInputError("alerts.slackWebhookUrl", `must be an http(s) URL, got ${JSON.stringify(slackWebhookUrl)}`);
  }
  const { onAlert } = option;
  const onAlertSetting =
    onAlert === undefined
      ? undefined
      : "action" in onAlert
        ? { handle: await createFunctionHandle(onAlert.action), type: "action" as const }
        : { handle: await createFunctionHandle(onAlert), type: "mutation" as const };
  return {
    ...(slackWebhookUrl !== "" ? { slackWebhookUrl } : {}),
    ...(onAlertSetting ? { onAlert: onAlertSetting } : {}),
    ...(option.delivery ? { delivery: option.delivery } : {}),
  };
}

/** The alert outbox, newest first (pending, sent within 30 days, dead). */
export async function listAlerts(
  config: ClientConfig,
  ctx: RunQueryCtx,
  args: { status?: "pending" | "sent" | "dead"; limit?: number },
): Promise<AlertRow[]> {
  return await ctx.runQuery(config.component.governance.alerts.list, args);
}

