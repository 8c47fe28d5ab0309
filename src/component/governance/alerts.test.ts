// The alert outbox against the local server's Slack sink: what reaches Slack (once), retries,
// dead letters, the app's callback, and a sender that dies holding an alert.
/// <reference types="vite/client" />
import { convexTest } from "convex-test";
import { createFunctionHandle, makeFunctionReference } from "convex/server";
import { afterEach, expect, test, vi } from "vitest";
import { api, internal } from "../_generated/api.js";
import componentSchema from "../schema.js";
import { useLocalPostHog, waitFor } from "../../testing/setup.js";
import { failNext, received, resetSink } from "../../testing/alertSink.js";
import { guardianSlackMessage } from "../../core/governance/slack.js";
import { ALERT_RETENTION_MS, type AlertInput, type AlertSettings } from "./alerts.js";

const server = useLocalPostHog();
afterEach(() => resetSink());

const modules = {
  ...import.meta.glob("/src/component/**/*.ts"),
  "/src/component/governance/alertSinkForTests.ts": () => import("../../testing/alertSink.js"),
};
const initComponent = () => convexTest({ schema: componentSchema, modules, transactionLimits: true });
type T = ReturnType<typeof initComponent>;

const FAST = { requestTimeoutMs: 5000, retryInitialDelayMs: 20, retryMaxDelayMs: 200 };
const slackSettings = (): AlertSettings => ({ slackWebhookUrl: `${server.url}/_local/slack/alerts`, delivery: FAST });

const slack = guardianSlackMessage({
  severity: "critical",
  flagKey: "new-editor",
  flagName: "New editor",
  decision: "auto_disabled",
  enforced: true,
  reason: "error rate ratio 3.20x (3.20% vs 1.00%)",
  metrics: { treatmentErrorRate: 0.032, controlErrorRate: 0.01 },
  posthogFlagUrl: "https://us.posthog.com/project/1/feature_flags/2",
});
const alert = (dedupKey = "guardian:new-editor:auto_disabled:1"): AlertInput => ({
  dedupKey,
  kind: "guardian",
  key: "new-editor",
  slack,
  event: { kind: "guardian", key: "new-editor", decision: "auto_disabled", reason: "error rate ratio 3.20x", metrics: { treatment: { errorRate: 0.032 } } },
});

const list = (t: T, status?: "pending" | "sent" | "dead") => t.query(api.governance.alerts.list, status ? { status } : {});
const settled = async (t: T, count = 1) =>
  (await waitFor("the alerts to settle", async () => {
    const rows = await list(t);
    return rows.length >= count && rows.every((row) => row.status !== "pending") ? rows : undefined;
  }))!;

const sinkHandle = (t: T, type: "mutation" | "action") =>
  t.run(async () => ({
    handle: await createFunctionHandle(makeFunctionReference<typeof type>(`governance/alertSinkForTests:onAlert${type === "mutation" ? "Mutation" : "Action"}`)),
    type,
  }));

test("a queued alert reaches Slack once, with the exact body", async () => {
  const t = initComponent();
  expect(await t.mutation(internal.governance.alerts.enqueue, { alerts: [alert()], settings: slackSettings() })).toEqual({
    queued: ["guardian:new-editor:auto_disabled:1"],
    duplicates: [],
  });
  const [row] = await settled(t);
  expect(row).toMatchObject({ status: "sent", destination: "slack", kind: "guardian", key: "new-editor", attempts: 1 });
  await t.finishInProgressScheduledFunctions();
  expect(server.slackMessages().map((m) => [m.channel, m.body])).toEqual([["alerts", slack]]);
});

test("the same dedup key again is a no-op, before and after it was sent", async () => {
  const t = initComponent();
  await t.mutation(internal.governance.alerts.enqueue, { alerts: [alert(), alert()], settings: slackSettings() });
  expect(await t.mutation(internal.governance.alerts.enqueue, { alerts: [alert()] })).toEqual({ queued: [], duplicates: [alert().dedupKey] });
  await settled(t);
  expect(await t.mutation(internal.governance.alerts.enqueue, { alerts: [alert(), alert("other")] })).toEqual({
    queued: ["other"],
    duplicates: [alert().dedupKey],
  });
  await settled(t, 2);
  await t.finishInProgressScheduledFunctions();
  expect(server.slackMessages()).toHaveLength(2);
  expect(await list(t)).toHaveLength(2);
});

test("without a destination nothing is queued", async () => {
  const t = initComponent();
  expect(await t.mutation(internal.governance.alerts.enqueue, { alerts: [alert()], settings: {} })).toEqual({ queued: [], duplicates: [] });
  expect(await list(t)).toEqual([]);
});

test("429 with Retry-After: delivered once, after the wait", async () => {
  const t = initComponent();
  server.addFaults({ path: "/_local/slack", status: 429, headers: { "Retry-After": "1" }, times: 1 });
  const queuedAt = Date.now();
  await t.mutation(internal.governance.alerts.enqueue, { alerts: [alert()], settings: slackSettings() });
  const [row] = await settled(t);
  expect(row).toMatchObject({ status: "sent", attempts: 2 });
  await t.finishInProgressScheduledFunctions();
  const messages = server.slackMessages();
  expect(messages).toHaveLength(1);
  // The backoff alone would have retried within 200 ms.
  expect(messages[0]!.receivedAt - queuedAt).toBeGreaterThanOrEqual(1000);
});

test("5xx and network errors are retried until Slack takes the alert", async () => {
  const t = initComponent();
  server.addFaults(
    { path: "/_local/slack", status: 500, times: 1 },
    { path: "/_local/slack", reset: true, times: 1 },
    { path: "/_local/slack", status: 503, times: 1 },
  );
  await t.mutation(internal.governance.alerts.enqueue, { alerts: [alert()], settings: slackSettings() });
  const [row] = await settled(t);
  expect(row).toMatchObject({ status: "sent", attempts: 4 });
  await t.finishInProgressScheduledFunctions();
  expect(server.slackMessages()).toHaveLength(1);
});

test("another 4xx is dead at once, with the error, visible in list", async () => {
  const t = initComponent();
  server.addFaults({ path: "/_local/slack", status: 400, body: "invalid_blocks", times: 1 });
  await t.mutation(internal.governance.alerts.enqueue, { alerts: [alert()], settings: slackSettings() });
  await settled(t);
  await t.finishInProgressScheduledFunctions();
  expect(await list(t, "dead")).toEqual([
    expect.objectContaining({ dedupKey: alert().dedupKey, status: "dead", attempts: 1, lastError: "Slack: HTTP 400: invalid_blocks" }),
  ]);
  expect(await list(t, "pending")).toEqual([]);
  expect(server.slackMessages()).toEqual([]);
});

test("retries stop after maxAttempts: the alert is dead with the last error", async () => {
  const t = initComponent();
  server.addFaults({ path: "/_local/slack", status: 502 });
  const settings = { ...slackSettings(), delivery: { ...FAST, maxAttempts: 3 } };
  await t.mutation(internal.governance.alerts.enqueue, { alerts: [alert()], settings });
  const [row] = await settled(t);
  expect(row).toMatchObject({ status: "dead", attempts: 3 });
  expect(row!.lastError).toMatch(/^gave up after 3 attempts: Slack: HTTP 502/);
});

test("the app's onAlert mutation is called with the event, beside Slack", async () => {
  const t = initComponent();
  const onAlert = await sinkHandle(t, "mutation");
  await t.mutation(internal.governance.alerts.enqueue, { alerts: [alert()], settings: { ...slackSettings(), onAlert } });
  const rows = await settled(t, 2);
  expect(rows.map((row) => [row.destination, row.status]).sort()).toEqual([["callback", "sent"], ["slack", "sent"]]);
  expect(received).toEqual([{ via: "mutation", event: alert().event }]);
  await t.finishInProgressScheduledFunctions();
  expect(server.slackMessages()).toHaveLength(1);
});

test("an onAlert action that throws is retried, and dead after maxAttempts", async () => {
  const t = initComponent();
  const onAlert = await sinkHandle(t, "action");
  failNext(2);
  await t.mutation(internal.governance.alerts.enqueue, { alerts: [alert("a")], settings: { onAlert, delivery: { ...FAST, maxAttempts: 3 } } });
  expect(await settled(t)).toEqual([expect.objectContaining({ destination: "callback", status: "sent", attempts: 3 })]);
  expect(received).toEqual([{ via: "action", event: alert("a").event }]);

  failNext(3);
  await t.mutation(internal.governance.alerts.enqueue, { alerts: [alert("b")] });
  await settled(t, 2);
  expect(await list(t, "dead")).toEqual([
    expect.objectContaining({ dedupKey: "b", attempts: 3, lastError: expect.stringMatching(/^gave up after 3 attempts: onAlert threw: .*the pager is down/) }),
  ]);
  expect(received).toHaveLength(1);
});

test("an alert held by a sender that died is sent by the watchdog, once", async () => {
  const t = initComponent();
  // Scheduled functions stay unrun while setTimeout is faked: the sender never starts.
  vi.useFakeTimers({ toFake: ["setTimeout"] });
  let leaseId;
  try {
    await t.mutation(internal.governance.alerts.enqueue, { alerts: [alert()], settings: slackSettings() });
    await t.mutation(internal.governance.alerts.kick, {});
    leaseId = (await t.run(async (ctx) => await ctx.db.query("alertLeases").first()))!._id;
  } finally {
    vi.useRealTimers();
  }
  // The sender claims the alert, then dies before answering.
  const claimed = await t.mutation(internal.governance.alerts.claim, { leaseId, runStartedAt: Date.now() });
  expect(claimed?.target).toEqual({ kind: "slack", url: slackSettings().slackWebhookUrl });
  const lease = await t.run(async (ctx) => await ctx.db.get(leaseId));
  expect(await t.run(async (ctx) => await ctx.db.system.get(lease!.watchdog))).toMatchObject({
    name: "governance/alerts:kick",
    state: { kind: "pending" },
    scheduledTime: lease!.expiresAt,
  });

  // While the lease lives, nobody else takes it.
  await t.mutation(internal.governance.alerts.kick, {});
  await t.finishInProgressScheduledFunctions();
  expect(await list(t, "pending")).toHaveLength(1);

  // The lease runs out (moved to the past instead of waiting minutes): the watchdog's kick sends it.
  await t.run(async (ctx) => {
    await ctx.db.patch(leaseId, { expiresAt: Date.now() - 1 });
    await ctx.db.patch(claimed!.id, { nextAttemptAt: Date.now() - 1 });
  });
  await t.mutation(internal.governance.alerts.kick, {});
  expect(await settled(t)).toEqual([expect.objectContaining({ status: "sent", attempts: 2 })]);

  // The dead sender reports late, either way: nothing changes and nothing is sent again.
  await t.mutation(internal.governance.alerts.complete, { leaseId, id: claimed!.id, result: { outcome: "retry", error: "late" } });
  await t.mutation(internal.governance.alerts.complete, { leaseId, id: claimed!.id, result: { outcome: "sent" } });
  await t.mutation(internal.governance.alerts.kick, {});
  await t.finishInProgressScheduledFunctions();
  expect(await list(t)).toEqual([expect.objectContaining({ status: "sent", attempts: 2 })]);
  expect(server.slackMessages()).toHaveLength(1);
});

test("configure writes the settings only when they change", async () => {
  const t = initComponent();
  const settings = slackSettings();
  expect(await t.mutation(api.governance.alerts.configure, settings)).toBe(true);
  expect(await t.mutation(api.governance.alerts.configure, { delivery: FAST, slackWebhookUrl: settings.slackWebhookUrl })).toBe(false);
  expect(await t.mutation(api.governance.alerts.configure, { slackWebhookUrl: settings.slackWebhookUrl })).toBe(true);
  expect(await t.run(async (ctx) => await ctx.db.query("alertSettings").collect())).toEqual([
    expect.objectContaining({ slackWebhookUrl: settings.slackWebhookUrl }),
  ]);
  await expect(t.mutation(api.governance.alerts.configure, { delivery: { maxAttempts: -1 } })).rejects.toThrow(/maxAttempts must be a non-negative number/);
});

test("settled alerts are forgotten after the retention period, in bounded chunks; pending ones stay", async () => {
  const t = initComponent();
  await t.mutation(api.governance.alerts.configure, slackSettings());
  const old = Date.now() - ALERT_RETENTION_MS - 1;
  await t.run(async (ctx) => {
    for (let i = 0; i < 120; i++) {
      const status = i === 0 ? "pending" : i % 2 ? "sent" : "dead";
      await ctx.db.insert("alerts", { dedupKey: `old${i}`, destination: "slack", kind: "finding", body: "{}", status, attempts: 1, nextAttemptAt: Date.now() + 60_000, createdAt: old });
    }
  });
  await t.mutation(internal.governance.alerts.kick, {});
  expect((await list(t, "sent")).length + (await list(t, "dead")).length).toBe(20);
  await t.mutation(internal.governance.alerts.kick, {});
  expect((await list(t)).map((row) => row.dedupKey)).toEqual(["old0"]);
  // Forgotten, the key may be queued again.
  expect(await t.mutation(internal.governance.alerts.enqueue, { alerts: [alert("old1")] })).toEqual({ queued: ["old1"], duplicates: [] });
  await waitFor("the new alert", () => server.slackMessages().length === 1);
  await t.finishInProgressScheduledFunctions();
});
