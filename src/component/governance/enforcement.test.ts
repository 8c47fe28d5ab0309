// Enforcing a kill against the local PostHog server over real HTTP: the local kill comes first,
// then the PATCH; every refusal is recorded with what a person needs; a PATCH still owed is
// finished later; the admin key is never written anywhere.
import { beforeEach, describe, expect, test } from "vitest";
import type { PostHogFlag } from "../../core/governance/posthogRest.js";
import { initComponent, useLocalPostHog, waitFor } from "../../testing/setup.js";
import { api, internal } from "../_generated/api.js";
import schema from "../schema.js";
import type { AlertInput } from "./alerts.js";
import { enforceKill, finishPendingEnforcements } from "./enforcement.js";
import { listAllFlags, type AdminTarget } from "./rest.js";

const TOKEN = "phc_enforce";
const PID = "7";
const ADMIN_KEY = "phx_admin_key_never_stored_4c1d";
const server = useLocalPostHog();
const everyone = { groups: [{ properties: [], rollout_percentage: 100 }] };
const FAST_ALERTS = { requestTimeoutMs: 500, retryInitialDelayMs: 20, retryMaxDelayMs: 200 };
let admin: AdminTarget;

beforeEach(() => {
  server.setProject(PID, { token: TOKEN });
  admin = { appHost: server.url, projectId: PID, environmentId: PID, apiKey: ADMIN_KEY };
});

type T = ReturnType<typeof initComponent>;

async function refresh(t: T) {
  return await t.action(api.definitions.refresh, { host: server.url, apiKey: TOKEN, personalApiKey: "phx_read" });
}
async function evaluate(t: T, key: string) {
  const evaluation = JSON.parse(await t.query(api.flags.evaluate, { context: JSON.stringify({ distinctId: "user-1" }), keys: [key] }));
  return evaluation.results[0];
}
/** A fresh listing, as the guardian reads it at the start of a run. */
async function postHogFlag(key: string): Promise<PostHogFlag | undefined> {
  const listed = await listAllFlags(admin);
  if (!listed.ok) throw new Error(listed.failure.detail);
  return listed.data.find((flag) => flag.key === key);
}
async function enforce(t: T, key: string, reason = "errors doubled") {
  const flag = await postHogFlag(key);
  return await t.action(async (ctx) => await enforceKill(ctx, admin, { key, flag, reason, source: "guardian" }));
}
async function stateOf(t: T, key: string) {
  return await t.run(async (ctx) => await ctx.db.query("guardianState").withIndex("by_key", (q) => q.eq("key", key)).first());
}
const patches = (flagId: number) => server.requests().filter((r) => r.method === "PATCH" && r.path === `/api/projects/${PID}/feature_flags/${flagId}/`);
const storedFlag = (key: string) => server.projectFlags(PID).find((flag) => flag.key === key)!;

describe("enforceKill", () => {
  test("the flag reads killed while the PATCH is still in flight; PostHog then gets {active: false}, and a refresh stores it inactive", async () => {
    const [flag] = server.seedFlags(PID, [{ key: "checkout", filters: everyone }]);
    const t = initComponent();
    await refresh(t);
    expect(await evaluate(t, "checkout")).toMatchObject({ value: true });

    server.addFaults({ path: `/api/projects/${PID}/feature_flags/${flag!.id}/`, hangMs: 1_500, times: 1 });
    const enforcing = enforce(t, "checkout");
    // Before PostHog has answered (or even applied) the PATCH, evaluation already says killed.
    await waitFor("the local kill", async () => (await evaluate(t, "checkout")).killed === true);
    expect(await evaluate(t, "checkout")).toMatchObject({ value: false, killed: true });
    expect(storedFlag("checkout").active).toBe(true);
    expect(await stateOf(t, "checkout")).toMatchObject({ enforcement: "pending_patch", killReason: "errors doubled", killSource: "guardian" });

    expect(await enforcing).toEqual({ key: "checkout", enforcement: "patched" });
    expect(patches(flag!.id).map((r) => r.body)).toEqual([{ active: false }]);
    expect(storedFlag("checkout").active).toBe(false);
    expect(await stateOf(t, "checkout")).toMatchObject({ enforcement: "patched", killedAt: expect.any(Number) });

    // The definitions catch up: with the kill cleared, the flag is off by its own definition.
    expect(await refresh(t)).toMatchObject({ result: "updated" });
    expect(await t.mutation(api.killSwitch.clear, { key: "checkout" })).toBe(true);
    expect(await evaluate(t, "checkout")).toMatchObject({ value: false });
    expect((await evaluate(t, "checkout")).killed).toBeUndefined();
  });

  test("an approval policy: 409 keeps the kill and records approval_requested with the change request; enforcing again keeps the first kill", async () => {
    const [flag] = server.seedFlags(PID, [{ key: "checkout", filters: everyone }]);
    server.setAdminPolicy({ approvals: { "feature_flag.disable": "require_approval" } });
    const t = initComponent();
    const first = await enforce(t, "checkout");
    const changeRequestId = server.changeRequests(PID)[0]!.id;
    expect(first).toMatchObject({ key: "checkout", enforcement: "approval_requested", changeRequestId });
    expect(first.detail).toContain("approval_required");
    const state = await stateOf(t, "checkout");
    expect(state).toMatchObject({ enforcement: "approval_requested", changeRequestId, killedAt: expect.any(Number) });
    // The governance report shows it.
    expect((await t.query(api.governance.report.get, {})).guardian).toMatchObject([{ key: "checkout", enforcement: "approval_requested", changeRequestId }]);
    expect(JSON.parse(await t.query(api.flags.evaluate, { context: "{}", keys: ["checkout"] }))).toEqual({ state: "not_loaded", killed: ["checkout"] });

    // The next run enforces again: PostHog says a change request is pending; the first kill's time stays.
    const again = await enforce(t, "checkout", "still regressing");
    expect(again).toMatchObject({ enforcement: "approval_requested", changeRequestId });
    expect(again.detail).toContain("change_request_pending");
    expect(await stateOf(t, "checkout")).toMatchObject({ killedAt: state!.killedAt, killReason: "errors doubled" });
    expect(storedFlag("checkout").active).toBe(true);
    expect(patches(flag!.id)).toHaveLength(2);
  });

  test("dependent flags: 400 keeps the kill and records blocked_by_dependents with their keys", async () => {
    const [base] = server.seedFlags(PID, [{ key: "checkout", filters: everyone }]);
    const dependsOn = { groups: [{ properties: [{ key: String(base!.id), type: "flag", value: true, operator: "flag_evaluates_to" }], rollout_percentage: 100 }] };
    server.seedFlags(PID, [
      { key: "checkout-banner", filters: dependsOn },
      { key: "checkout-footer", filters: dependsOn },
      { key: "checkout-old", active: false, filters: dependsOn },
    ]);
    const t = initComponent();
    await refresh(t);
    const outcome = await enforce(t, "checkout");
    expect(outcome).toMatchObject({ enforcement: "blocked_by_dependents", dependents: ["checkout-banner", "checkout-footer"] });
    expect(outcome.detail).toContain("Cannot disable this feature flag because other flags depend on it");
    expect(await stateOf(t, "checkout")).toMatchObject({ enforcement: "blocked_by_dependents", dependents: ["checkout-banner", "checkout-footer"] });
    expect(await evaluate(t, "checkout")).toMatchObject({ value: false, killed: true });
    expect(storedFlag("checkout").active).toBe(true);
  });

  test("a key without feature_flag:write: 403 records scope_missing on the state and as an open finding", async () => {
    server.seedFlags(PID, [{ key: "checkout", filters: everyone }]);
    server.setAdminPolicy({ personalApiKeys: { [ADMIN_KEY]: ["feature_flag:read"] } });
    const t = initComponent();
    const outcome = await enforce(t, "checkout");
    expect(outcome).toMatchObject({ enforcement: "scope_missing" });
    expect(outcome.detail).toContain("API key missing required scope 'feature_flag:write'");
    expect(await stateOf(t, "checkout")).toMatchObject({ enforcement: "scope_missing" });
    const findings = await t.run(async (ctx) => await ctx.db.query("governanceFindings").collect());
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ source: "guardian", kind: "scope_missing", key: "checkout" });
    expect(findings[0]!.resolvedAt).toBeUndefined();
    expect(JSON.parse(findings[0]!.detail)).toMatchObject({ needs: "feature_flag:write" });
  });

  test("PostHog failing (500 after the retries) leaves pending_patch; finishPendingEnforcements PATCHes it on the next run", async () => {
    const [flag] = server.seedFlags(PID, [{ key: "checkout", filters: everyone }]);
    const t = initComponent();
    server.addFaults({ path: `/api/projects/${PID}/feature_flags/${flag!.id}/`, status: 500, times: 3 });
    const outcome = await enforce(t, "checkout");
    expect(outcome).toMatchObject({ enforcement: "pending_patch", detail: expect.stringContaining("HTTP 500") });
    expect(patches(flag!.id).map((r) => r.status)).toEqual([500, 500, 500]);
    expect(await stateOf(t, "checkout")).toMatchObject({ enforcement: "pending_patch" });
    expect(storedFlag("checkout").active).toBe(true);

    const flags = await listAllFlags(admin);
    const finished = await t.action(async (ctx) => await finishPendingEnforcements(ctx, admin, flags.ok ? flags.data : []));
    expect(finished).toEqual([{ key: "checkout", enforcement: "patched" }]);
    expect(storedFlag("checkout").active).toBe(false);
    expect(await stateOf(t, "checkout")).toMatchObject({ enforcement: "patched" });
    // Nothing is owed any more: the next run PATCHes nothing.
    expect(await t.action(async (ctx) => await finishPendingEnforcements(ctx, admin, []))).toEqual([]);
    expect(patches(flag!.id)).toHaveLength(4);
  });

  test("a crash between the kill and the PATCH is finished by the next run; a flag found already inactive is not PATCHed again", async () => {
    // "search" was turned off in PostHog by someone meanwhile.
    const [a, b] = server.seedFlags(PID, [
      { key: "checkout", filters: everyone },
      { key: "search", active: false, filters: everyone },
    ]);
    const t = initComponent();
    await refresh(t);
    // The run died right after the kill: no PATCH was made.
    await t.mutation(internal.governance.enforcement.markKilled, { key: "checkout", reason: "crash test", source: "guardian" });
    await t.mutation(internal.governance.enforcement.markKilled, { key: "search", source: "guardian" });
    expect(await evaluate(t, "checkout")).toMatchObject({ value: false, killed: true });
    expect(server.requests().filter((r) => r.method === "PATCH")).toHaveLength(0);

    const flags = await listAllFlags(admin);
    const finished = await t.action(async (ctx) => await finishPendingEnforcements(ctx, admin, flags.ok ? flags.data : []));
    expect(finished).toEqual(
      expect.arrayContaining([
        { key: "checkout", enforcement: "patched" },
        { key: "search", enforcement: "patched", detail: "already inactive in PostHog" },
      ]),
    );
    expect(patches(a!.id).map((r) => r.body)).toEqual([{ active: false }]);
    expect(patches(b!.id)).toHaveLength(0);
  });

  test("a flag PostHog does not have: failed, with the reason; the local kill holds", async () => {
    const t = initComponent();
    const outcome = await t.action(async (ctx) => await enforceKill(ctx, admin, { key: "ghost", flag: undefined, source: "guardian" }));
    expect(outcome).toEqual({ key: "ghost", enforcement: "failed", detail: `PostHog has no flag "ghost" in project ${PID}` });
    expect(await stateOf(t, "ghost")).toMatchObject({ enforcement: "failed", enforcementDetail: outcome.detail });
    expect(await t.query(api.killSwitch.list, {})).toEqual([{ key: "ghost", at: expect.any(Number) }]);
  });

  test("clearing the kill forgets the enforcement; an outcome arriving after that is ignored", async () => {
    server.seedFlags(PID, [{ key: "checkout", filters: everyone }]);
    const t = initComponent();
    const { killedAt } = await t.mutation(internal.governance.enforcement.markKilled, { key: "checkout", source: "manual" });
    expect(await stateOf(t, "checkout")).toMatchObject({ mode: "monitor", killSource: "manual", enforcement: "pending_patch" });
    expect(await t.mutation(api.killSwitch.clear, { key: "checkout" })).toBe(true);
    expect(await stateOf(t, "checkout")).toBeNull(); // the row held only the kill
    expect(await t.query(api.killSwitch.list, {})).toEqual([]);
    const late = await t.mutation(internal.governance.enforcement.recordEnforcement, {
      killedAt,
      outcome: { key: "checkout", enforcement: "failed", detail: "late" },
      posthogFlagUrl: "https://us.posthog.com/project/7/feature_flags/1",
    });
    expect(late).toBe(false);
    expect(await stateOf(t, "checkout")).toBeNull();
    expect(await t.query(api.governance.alerts.list, {})).toEqual([]);
    expect(await t.mutation(api.killSwitch.clear, { key: "checkout" })).toBe(false);
  });

  test("a guardian row keeps its evaluation memory when the kill is cleared", async () => {
    const t = initComponent();
    await t.run(async (ctx) => await ctx.db.insert("guardianState", { key: "checkout", mode: "enforce", lastEvaluatedAt: 1, lastDecision: "regression" }));
    await t.mutation(internal.governance.enforcement.markKilled, { key: "checkout", source: "guardian" });
    await t.mutation(api.killSwitch.clear, { key: "checkout" });
    const state = await stateOf(t, "checkout");
    expect(state).toMatchObject({ key: "checkout", mode: "enforce", lastEvaluatedAt: 1, lastDecision: "regression" });
    expect(state!.killedAt).toBeUndefined();
    expect(state!.enforcement).toBeUndefined();
  });
});

describe("alerts", () => {
  const guardianAlert = (killedAt: string): AlertInput => ({
    dedupKey: `guardian:checkout:auto_disabled:${killedAt}`,
    kind: "guardian",
    key: "checkout",
    slack: { text: "checkout auto-disabled" },
    event: { kind: "guardian", key: "checkout", decision: "auto_disabled", reason: "errors doubled" },
  });

  test("a refused kill is alerted once, with the change request, however often it is enforced again; the kill's own alert once too", async () => {
    const [flag] = server.seedFlags(PID, [{ key: "checkout", filters: everyone }]);
    server.setAdminPolicy({ approvals: { "feature_flag.disable": "require_approval" } });
    const t = initComponent();
    await t.mutation(api.governance.alerts.configure, { slackWebhookUrl: `${server.url}/_local/slack/alerts`, delivery: FAST_ALERTS });
    for (const run of ["run-1", "run-2", "run-3"]) {
      const current = await postHogFlag("checkout");
      await t.action(async (ctx) => await enforceKill(ctx, admin, { key: "checkout", flag: current, reason: "errors doubled", source: "guardian", alert: guardianAlert(run) }));
    }
    expect(patches(flag!.id)).toHaveLength(3);
    const killedAt = (await stateOf(t, "checkout"))!.killedAt;
    const changeRequestId = server.changeRequests(PID)[0]!.id;
    const rows = await t.query(api.governance.alerts.list, {});
    expect(rows.map((row) => [row.kind, row.dedupKey]).sort()).toEqual([
      ["enforcement", `enforcement:checkout:approval_requested:${killedAt}`],
      ["guardian", "guardian:checkout:auto_disabled:run-1"],
    ]);
    const messages = await waitFor("both alerts in Slack", () => (server.slackMessages("alerts").length >= 2 ? server.slackMessages("alerts") : undefined));
    const texts = messages!.map((message) => JSON.stringify(message.body));
    expect(texts.filter((text) => text.includes("PostHog did not disable the flag"))).toHaveLength(1);
    expect(texts.find((text) => text.includes("PostHog did not disable the flag"))).toContain(changeRequestId);
    expect(texts.find((text) => text.includes("PostHog did not disable the flag"))).toContain(`/project/${PID}/feature_flags/${flag!.id}`);
    expect(texts.filter((text) => text.includes("checkout auto-disabled"))).toHaveLength(1);
  });

  test("a kill PostHog accepts, or one still owed, is not alerted as a refusal", async () => {
    server.seedFlags(PID, [{ key: "checkout", filters: everyone }, { key: "search", filters: everyone }]);
    const t = initComponent();
    await t.mutation(api.governance.alerts.configure, { slackWebhookUrl: `${server.url}/_local/slack/alerts`, delivery: FAST_ALERTS });
    expect(await enforce(t, "checkout")).toMatchObject({ enforcement: "patched" });
    server.addFaults({ path: `/api/projects/${PID}/feature_flags/`, status: 503 });
    expect(await t.action(api.governance.enforcement.disableFlagNow, { admin, key: "search" })).toMatchObject({ enforcement: "pending_patch" });
    expect(await t.query(api.governance.alerts.list, {})).toEqual([]);
  });
});

describe("disableFlagNow (the client's disableFlag in an action)", () => {
  test("kills, reads the flag fresh and PATCHes it; a network failure leaves pending_patch", async () => {
    const [flag] = server.seedFlags(PID, [{ key: "checkout", filters: everyone }]);
    const t = initComponent();
    expect(await t.action(api.governance.enforcement.disableFlagNow, { admin, key: "checkout", reason: "on call" })).toEqual({
      key: "checkout",
      enforcement: "patched",
    });
    expect(patches(flag!.id).map((r) => r.body)).toEqual([{ active: false }]);
    const listing = server.requests().find((r) => r.method === "GET" && r.path === `/api/projects/${PID}/feature_flags/`);
    expect(new URLSearchParams(listing!.query).get("search")).toBe("checkout");

    server.seedFlags(PID, [{ key: "search", filters: everyone }]);
    server.addFaults({ path: `/api/projects/${PID}/feature_flags/`, reset: true });
    const offline = await t.action(api.governance.enforcement.disableFlagNow, { admin, key: "search" });
    expect(offline).toMatchObject({ key: "search", enforcement: "pending_patch", detail: expect.stringContaining("network") });
    expect(await t.query(api.killSwitch.list, {})).toEqual([
      { key: "checkout", reason: "on call", at: expect.any(Number) },
      { key: "search", at: expect.any(Number) },
    ]);
  });
});

test("the admin key is written to no table and no scheduled function", async () => {
  const [flag] = server.seedFlags(PID, [{ key: "checkout", filters: everyone }, { key: "search", filters: everyone }]);
  server.setAdminPolicy({ approvals: { "feature_flag.disable": "require_approval" } });
  const t = initComponent();
  await t.mutation(api.governance.alerts.configure, { slackWebhookUrl: `${server.url}/_local/slack/alerts`, delivery: FAST_ALERTS });
  await refresh(t);
  await enforce(t, "checkout");
  server.setAdminPolicy({ personalApiKeys: { [ADMIN_KEY]: ["feature_flag:read"] } });
  await t.action(api.governance.enforcement.disableFlagNow, { admin, key: "search" });
  server.addFaults({ path: `/api/projects/${PID}/feature_flags/${flag!.id}/`, status: 503 });
  await t.mutation(api.governance.enforcement.disableFlagAtNextRun, { key: "other" });
  await t.action(async (ctx) => await finishPendingEnforcements(ctx, admin, []));

  const everything = await t.run(async (ctx) => {
    const tables: Record<string, unknown[]> = {};
    for (const table of Object.keys(schema.tables)) tables[table] = await ctx.db.query(table as keyof typeof schema.tables).collect();
    tables._scheduled_functions = await ctx.db.system.query("_scheduled_functions").collect();
    return tables;
  });
  // The scan saw the enforcement state and the refusals' alerts.
  expect(everything.guardianState!.length).toBeGreaterThanOrEqual(3);
  expect(everything.alerts!.length).toBeGreaterThanOrEqual(2);
  expect(JSON.stringify(everything)).not.toContain(ADMIN_KEY);
});
