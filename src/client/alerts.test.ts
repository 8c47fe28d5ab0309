// The client's `alerts` option: the settings runner actions pass the component (a function
// handle for the app's onAlert, the Slack webhook from the environment), and posthog.alerts.
import { afterEach, expect, test, vi } from "vitest";
import type { GenericMutationCtx, GenericDataModel } from "convex/server";
import { PostHog } from "./index.js";
import { ClientConfig, type PostHogOptions } from "./config.js";
import { alertSettings } from "./alerts.js";
import { queueAlerts } from "../component/governance/alerts.js";
import { components, internal } from "../testing/app/_generated/api.js";
import { receivedAlerts } from "../testing/app/alerts.js";
import { initTestApp, useLocalPostHog, waitFor } from "../testing/setup.js";

const server = useLocalPostHog();
afterEach(() => {
  receivedAlerts.length = 0;
});

const FAST = { requestTimeoutMs: 5000, retryInitialDelayMs: 20, retryMaxDelayMs: 200 };
const event = { kind: "finding" as const, key: "old-flag", reason: "in PostHog, not in the registry" };

async function settingsFor(t: ReturnType<typeof initTestApp>, alerts: PostHogOptions["alerts"]) {
  return await t.run(async () => await alertSettings(new ClientConfig(components.posthog, { alerts })));
}

/** What a runner does inside the component: store the settings, then queue in a mutation. */
async function queueFromComponent(t: ReturnType<typeof initTestApp>, dedupKey: string) {
  // convex-test runs a function inside a registered component with runInComponent (not in its typings).
  const inComponent = (t as unknown as { runInComponent: <T>(path: string, fn: (ctx: GenericMutationCtx<GenericDataModel>) => Promise<T>) => Promise<T> })
    .runInComponent;
  return await inComponent("posthog", async (ctx) =>
    // The component's own ctx, typed as the component's MutationCtx.
    queueAlerts(ctx as never, [{ dedupKey, kind: "finding", key: "old-flag", slack: { text: "old-flag" }, event }]),
  );
}

test("onAlert (an internal mutation) becomes a handle the component calls with the event", async () => {
  const t = initTestApp();
  const settings = await settingsFor(t, { onAlert: internal.alerts.onAlert, delivery: FAST });
  expect(settings).toEqual({ onAlert: { handle: expect.any(String), type: "mutation" }, delivery: FAST });
  expect(await t.mutation(components.posthog.governance.alerts.configure, settings)).toBe(true);
  expect(await queueFromComponent(t, "finding:old-flag")).toEqual({ queued: ["finding:old-flag"], duplicates: [] });
  await waitFor("the app's onAlert", () => receivedAlerts.length === 1);
  expect(receivedAlerts).toEqual([{ via: "mutation", event }]);
  const posthog = new PostHog(components.posthog);
  await waitFor("the alert to be marked sent", async () => (await t.run((ctx) => posthog.alerts(ctx, { status: "sent" }))).length === 1);
  expect(await t.run((ctx) => posthog.alerts(ctx))).toEqual([
    expect.objectContaining({ dedupKey: "finding:old-flag", destination: "callback", status: "sent", attempts: 1 }),
  ]);
  await t.finishInProgressScheduledFunctions();
});

test("an internal action is given as { action }; the Slack webhook defaults to POSTHOG_ALERTS_SLACK_WEBHOOK", async () => {
  const t = initTestApp();
  vi.stubEnv("POSTHOG_ALERTS_SLACK_WEBHOOK", `${server.url}/_local/slack/ops`);
  const settings = await settingsFor(t, { onAlert: { action: internal.alerts.onAlertAction }, delivery: FAST });
  expect(settings).toEqual({ slackWebhookUrl: `${server.url}/_local/slack/ops`, onAlert: { handle: expect.any(String), type: "action" }, delivery: FAST });
  await t.mutation(components.posthog.governance.alerts.configure, settings);
  await queueFromComponent(t, "finding:old-flag");
  await waitFor("both destinations", () => receivedAlerts.length === 1 && server.slackMessages("ops").length === 1);
  expect(receivedAlerts).toEqual([{ via: "action", event }]);
  expect(server.slackMessages("ops").map((m) => m.body)).toEqual([{ text: "old-flag" }]);
  await waitFor("both rows sent", async () => (await t.run((ctx) => new PostHog(components.posthog).alerts(ctx, { status: "sent" }))).length === 2);
  await t.finishInProgressScheduledFunctions();
});

test("the option wins over the environment; no destination gives empty settings; a bad URL is named", async () => {
  const t = initTestApp();
  vi.stubEnv("POSTHOG_ALERTS_SLACK_WEBHOOK", "https://hooks.slack.com/services/env");
  expect(await settingsFor(t, { slackWebhookUrl: "https://hooks.slack.com/services/option" })).toEqual({
    slackWebhookUrl: "https://hooks.slack.com/services/option",
  });
  vi.stubEnv("POSTHOG_ALERTS_SLACK_WEBHOOK", "");
  expect(await settingsFor(t, undefined)).toEqual({});
  await expect(settingsFor(t, { slackWebhookUrl: "hooks.slack.com/x" })).rejects.toThrow(/alerts\.slackWebhookUrl.*must be an http\(s\) URL/);
});
