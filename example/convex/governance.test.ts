// The example's governance crons against the local server's PostHog API: the guardian watches
// release_checkout_fast_pay (enforce), Amex payments fail on its fast path, and the next tick
// turns it off in Convex and in PostHog, with one Slack alert.
import { expect, test, vi } from "vitest";
import { api, internal } from "./_generated/api.js";
import { exampleDefinitions, initConvexTest, useLocalPostHog } from "./test.setup.js";

const posthogServer = useLocalPostHog({
  env: { POSTHOG_PERSONAL_API_KEY: "phx_example", POSTHOG_PROJECT_ID: "1", POSTHOG_ADMIN_API_KEY: "phx_admin" },
});

async function delivered(t: ReturnType<typeof initConvexTest>) {
  const deadline = Date.now() + 20_000;
  while ((await t.query(api.orders.analyticsStatus, {})).pending > 0) {
    if (Date.now() > deadline) throw new Error("events were not delivered");
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

test("the guardian cron kills the fast-pay flag once its fast path declines Amex cards", { timeout: 120_000 }, async () => {
  vi.stubEnv("POSTHOG_ALERTS_SLACK_WEBHOOK", `${posthogServer.url}/_local/slack/flags`);
  posthogServer.setProject("1", { token: "phc_example" });
  const anHourAgo = new Date(Date.now() - 3_600_000).toISOString();
  posthogServer.seedFlags(
    "1",
    exampleDefinitions().flags.map(({ key, active, filters }: { key: string; active: boolean; filters: object }) => ({ key, active, filters, created_at: anHourAgo })),
  );
  const t = initConvexTest();
  await t.action(internal.flags.refreshFlagDefinitions, {});
  const first = await t.action(internal.governance.guardFlags, {});
  expect(first.outcomes).toEqual([{ flag_key: "release_checkout_fast_pay", decision: "insufficient_data", reason: "sample_size" }]);

  const onFastPath: string[] = [];
  for (let i = 0; i < 300; i++) {
    const paid = await t.mutation(api.orders.payWithCard, { customerId: `shopper-${i}`, amount: 20, card: i % 5 === 0 ? "amex" : "visa" });
    if (paid.fastPath) onFastPath.push(`shopper-${i}`);
  }
  await t.action(api.orders.flushAnalytics, {});
  await delivered(t);
  expect(await t.query(api.flags.fastPay, { customerId: onFastPath[0]! })).toEqual({ enabled: true, reason: "evaluated_locally" });

  const next = await t.action(internal.governance.guardFlags, {});
  expect(next.outcomes).toEqual([{ flag_key: "release_checkout_fast_pay", decision: "auto_disabled", reason: expect.stringMatching(/vs control 0%/) }]);
  expect(await t.query(api.flags.fastPay, { customerId: onFastPath[0]! })).toEqual({ enabled: false, reason: "killed" });
  const patches = posthogServer.requests().filter((r) => r.method === "PATCH");
  expect(patches.map((r) => r.body)).toEqual([{ active: false }]);
  const report = await t.query(api.governance.report, {});
  expect(report.guardian).toEqual([expect.objectContaining({ key: "release_checkout_fast_pay", lastDecision: "auto_disabled", enforcement: "patched" })]);
  const deadline = Date.now() + 10_000;
  while (posthogServer.slackMessages().length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
  expect(posthogServer.slackMessages().map((m) => JSON.stringify(m.body))).toEqual([expect.stringContaining("FLAG AUTO-DISABLED")]);
});
