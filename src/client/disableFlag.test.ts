// The manual kill switch that reaches PostHog: disableFlag kills a flag in Convex at once and
// turns it off in PostHog (now from an action, at the next guardian run from a mutation);
// clearKillSwitch lifts the kill without touching PostHog.
import { beforeEach, describe, expect, test, vi } from "vitest";
import { api } from "../testing/app/_generated/api.js";
import { initRefreshedApp, initTestApp, useLocalPostHog, waitFor } from "../testing/setup.js";

const TOKEN = "phc_disable";
const PID = "12";
const server = useLocalPostHog({
  POSTHOG_API_KEY: TOKEN,
  POSTHOG_PERSONAL_API_KEY: "phx_read",
  POSTHOG_ADMIN_API_KEY: "phx_admin",
  POSTHOG_PROJECT_ID: PID,
});
const everyone = { groups: [{ properties: [], rollout_percentage: 100 }] };
const user = JSON.stringify({ distinctId: "user-1" });

let checkoutId: number;
beforeEach(() => {
  server.setProject(PID, { token: TOKEN });
  [{ id: checkoutId }] = server.seedFlags(PID, [
    { key: "checkout", filters: everyone },
    { key: "other", filters: everyone },
  ]) as [{ id: number }, unknown];
});

type T = ReturnType<typeof initTestApp>;
const read = async (t: T, key: string) => JSON.parse((await t.query(api.flags.readFlag, { key, context: user })).result);
const patches = () => server.requests().filter((r) => r.method === "PATCH");
const definitionsFetches = () => server.requests().filter((r) => r.path.startsWith("/flags/definitions")).length;
const active = (key: string) => server.projectFlags(PID).find((flag) => flag.key === key)!.active;

describe("disableFlag", () => {
  test("from an action: killed at once, PostHog PATCHed with the admin key, then the definitions refreshed to say inactive", async () => {
    const t = await initRefreshedApp();
    expect(await read(t, "checkout")).toMatchObject({ value: true, reason: "evaluated_locally" });
    const fetchesBefore = definitionsFetches();

    const outcome = await t.action(api.flags.disableFlag, { key: "checkout", reason: "checkout errors" });
    expect(outcome).toEqual({ key: "checkout", enforcement: "patched" });
    expect(patches()).toMatchObject([
      { path: `/api/projects/${PID}/feature_flags/${checkoutId}/`, body: { active: false }, headers: { authorization: "Bearer phx_admin" } },
    ]);
    expect(active("checkout")).toBe(false);
    expect(definitionsFetches()).toBe(fetchesBefore + 1);
    expect(await read(t, "checkout")).toMatchObject({ value: false, reason: "killed" });
    expect(await read(t, "other")).toMatchObject({ value: true });
    expect(await t.query(api.flags.killedFlags, {})).toEqual([{ key: "checkout", reason: "checkout errors", at: expect.any(Number) }]);

    // Clearing the kill does not re-enable the flag in PostHog: its refreshed definition keeps it off.
    expect(await t.mutation(api.flags.clearKill, { key: "checkout" })).toBe(true);
    expect(await read(t, "checkout")).toMatchObject({ value: false });
    expect((await read(t, "checkout")).reason).not.toBe("killed");
    expect(active("checkout")).toBe(false);
    expect(patches()).toHaveLength(1);
  });

  test("from a mutation: killed at once, nothing sent to PostHog, the PATCH left pending for the next guardian run", async () => {
    const t = await initRefreshedApp();
    const outcome = await t.mutation(api.flags.disableFlagInMutation, { key: "checkout", reason: "page on fire" });
    expect(outcome).toEqual({ key: "checkout", enforcement: "pending_patch" });
    expect(await read(t, "checkout")).toMatchObject({ value: false, reason: "killed" });
    expect(patches()).toHaveLength(0);
    expect(active("checkout")).toBe(true);
    // clearKillSwitch lifts it, and with it what was owed to PostHog.
    expect(await t.mutation(api.flags.clearKill, { key: "checkout" })).toBe(true);
    expect(await read(t, "checkout")).toMatchObject({ value: true, reason: "evaluated_locally" });
  });

  test("PostHog requiring approval: the kill holds, the outcome carries the change request, and the alerts option gets one alert", async () => {
    vi.stubEnv("POSTHOG_ALERTS_SLACK_WEBHOOK", `${server.url}/_local/slack/ops`);
    server.setAdminPolicy({ approvals: { "feature_flag.disable": "require_approval" } });
    const t = await initRefreshedApp();
    const outcome = await t.action(api.flags.disableFlag, { key: "checkout" });
    const changeRequestId = server.changeRequests(PID)[0]!.id;
    expect(outcome).toMatchObject({ key: "checkout", enforcement: "approval_requested", changeRequestId });
    expect(await read(t, "checkout")).toMatchObject({ value: false, reason: "killed" });
    expect(active("checkout")).toBe(true);
    // Asked again: PostHog says the change request is pending; no second alert.
    expect(await t.action(api.flags.disableFlag, { key: "checkout" })).toMatchObject({ enforcement: "approval_requested", changeRequestId });
    const [alert] = (await waitFor("the Slack alert", () => (server.slackMessages("ops").length > 0 ? server.slackMessages("ops") : undefined)))!;
    expect(JSON.stringify(alert!.body)).toContain("PostHog did not disable the flag");
    expect(JSON.stringify(alert!.body)).toContain(changeRequestId);
    expect((await t.query(api.flags.alertOutbox, {})).map((row) => row.kind)).toEqual(["enforcement"]);
  });

  test("without a project id: a PostHogInputError naming it, and nothing killed", async () => {
    vi.stubEnv("POSTHOG_PROJECT_ID", "");
    const t = await initRefreshedApp();
    await expect(t.action(api.flags.disableFlag, { key: "checkout" })).rejects.toThrow(/projectId/);
    expect(await read(t, "checkout")).toMatchObject({ value: true });
    expect(server.requests().filter((r) => r.path.startsWith("/api/"))).toHaveLength(0);
  });

  test("an empty key is refused", async () => {
    const t = initTestApp();
    await expect(t.mutation(api.flags.disableFlagInMutation, { key: "" })).rejects.toThrow(/key/);
  });
});
