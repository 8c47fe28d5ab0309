// The governance report query over rows the other tools write: findings (open only), lifecycle,
// guardian state, kills, the last run per tool and alert counts, each read bounded.
import { describe, expect, test } from "vitest";
import { initComponent } from "../../testing/setup.js";
import { api, internal } from "../_generated/api.js";
import { REPORT_LIMIT } from "./report.js";

describe("governance report", () => {
  test("open findings, lifecycle and guardian rows by key, kills, the last run of each tool, alert counts", async () => {
    const t = initComponent();
    await t.mutation(internal.governance.records.recordFindings, {
      source: "guardian",
      findings: [{ kind: "approval_required", key: "release_checkout_v2", detail: '{"changeRequestId":7}' }],
      complete: false,
    });
    await t.mutation(internal.governance.records.recordFindings, { source: "sync", findings: [{ kind: "orphan", key: "old", detail: "{}" }], complete: false });
    // A complete sync run without the orphan resolves it: the report shows open findings only.
    await t.mutation(internal.governance.records.recordFindings, { source: "sync", findings: [], complete: true, kinds: ["orphan"] });
    const first = await t.mutation(internal.governance.records.startRun, { tool: "guardian" });
    await t.mutation(internal.governance.records.finishRun, { runId: first, status: "ok", result: '{"flags_evaluated":1}' });
    await t.mutation(internal.governance.records.startRun, { tool: "guardian" });
    await t.mutation(api.killSwitch.kill, { key: "release_checkout_v2", reason: "error rate ratio 2.00x" });
    await t.run(async (ctx) => {
      await ctx.db.insert("flagLifecycle", { key: "release_z", releasedAt: 5, releasedValue: "true", releaseKind: "flag" });
      await ctx.db.insert("flagLifecycle", { key: "release_a", releasedAt: 6, releasedValue: '"blue"', releaseKind: "experiment", experimentConclusion: "won" });
      await ctx.db.insert("guardianState", {
        key: "release_checkout_v2",
        mode: "enforce",
        lastDecision: "auto_disabled",
        lastReason: "error rate ratio 2.00x (10.00% vs 5.00%)",
        enforcement: "approval_requested",
        killedAt: 9,
      });
      const alert = { destination: "slack" as const, kind: "guardian", body: "{}", attempts: 0, nextAttemptAt: 0, createdAt: 0 };
      await ctx.db.insert("alerts", { ...alert, dedupKey: "a", status: "pending" });
      await ctx.db.insert("alerts", { ...alert, dedupKey: "b", status: "sent" });
      await ctx.db.insert("alerts", { ...alert, dedupKey: "c", status: "dead" });
    });

    const report = await t.query(api.governance.report.get, {});
    expect(report.findings).toEqual([
      {
        source: "guardian",
        kind: "approval_required",
        key: "release_checkout_v2",
        detail: '{"changeRequestId":7}',
        firstSeenAt: expect.any(Number),
        lastSeenAt: expect.any(Number),
      },
    ]);
    expect(report.lifecycle.map((row) => row.key)).toEqual(["release_a", "release_z"]);
    expect(report.lifecycle[0]).toEqual({ key: "release_a", releasedAt: 6, releasedValue: '"blue"', releaseKind: "experiment", experimentConclusion: "won" });
    expect(report.guardian).toEqual([
      {
        key: "release_checkout_v2",
        mode: "enforce",
        lastDecision: "auto_disabled",
        lastReason: "error rate ratio 2.00x (10.00% vs 5.00%)",
        enforcement: "approval_requested",
        killedAt: 9,
      },
    ]);
    expect(report.killed).toEqual([{ key: "release_checkout_v2", reason: "error rate ratio 2.00x", at: expect.any(Number) }]);
    // The newest guardian run (still running), and nothing for tools that never ran.
    expect(report.lastRuns).toEqual([{ tool: "guardian", startedAt: expect.any(Number), status: "running" }]);
    expect(report.alerts).toEqual({ pending: { count: 1, truncated: false }, dead: { count: 1, truncated: false } });
  });

  test("lists and counts stop at the limit and say so", async () => {
    const t = initComponent();
    await t.run(async (ctx) => {
      for (let i = 0; i <= REPORT_LIMIT; i++) {
        await ctx.db.insert("governanceFindings", { source: "sync", kind: "orphan", key: `flag_${i}`, detail: "{}", firstSeenAt: i, lastSeenAt: i });
        await ctx.db.insert("alerts", { dedupKey: `d${i}`, destination: "callback", kind: "finding", body: "{}", status: "dead", attempts: 5, nextAttemptAt: 0, createdAt: 0 });
      }
    });
    const report = await t.query(api.governance.report.get, {});
    expect(report.findings).toHaveLength(REPORT_LIMIT);
    expect(report.findingsTruncated).toBe(true);
    expect(report.alerts.dead).toEqual({ count: REPORT_LIMIT, truncated: true });
  });
});
