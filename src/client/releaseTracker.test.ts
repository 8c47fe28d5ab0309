// runReleaseTracker through the client, from an app's action: the registry and admin target
// reach the component, the toolkit's callbacks run with PostHog's flags, bad input is refused
// before anything is asked of PostHog.
import { afterEach, describe, expect, test, vi } from "vitest";
import { digestSlackMessage } from "../core/governance/slack.js";
import { api, components } from "../testing/app/_generated/api.js";
import { initTestApp, useLocalPostHog, waitFor } from "../testing/setup.js";
import { PostHog } from "./index.js";

const server = useLocalPostHog({ POSTHOG_PROJECT_ID: "7", POSTHOG_ADMIN_API_KEY: "phx_admin" });
const DAY = 24 * 60 * 60 * 1000;
const everyone = (rollout: number) => ({ groups: [{ properties: [], rollout_percentage: rollout }] });
const adminRequests = () => server.requests().filter((request) => request.path.startsWith("/api/"));

afterEach(() => vi.useRealTimers());

describe("runReleaseTracker", () => {
  test("callbacks run in the toolkit's order with PostHog's flags; a second run repeats only orphans and violations", async () => {
    const [done] = server.seedFlags("7", [
      { key: "release_ui_done", filters: everyone(100), name: "The new checkout" },
      { key: "release_ui_half", filters: everyone(50) },
      { key: "Stray", filters: everyone(50) },
    ]);
    const t = initTestApp();
    const first = await t.action(api.releases.track, {});
    expect(first.result).toMatchObject({ flags_checked: 3, new_flag_releases: 1, orphans: 1, naming_violations: 1, dryRun: false });
    expect(first.result.digest.overdueSunsets).toEqual([{ key: "release_ui_done", sunsetTarget: "2026-01-31", daysOverdue: expect.any(Number) }]);
    expect(first.result.findings).toContainEqual({ kind: "overdue_sunset", key: "release_ui_done", detail: expect.objectContaining({ owner: "@web" }) });
    expect(first.calls.map((call) => call.slice(0, 2))).toEqual([
      ["onOrphan", "Stray"],
      ["onNamingViolation", "Stray"],
      ["onNewRelease", "release_ui_done"],
      ["onDigestReady", expect.anything()],
    ]);
    expect(first.calls[2]).toEqual(["onNewRelease", "release_ui_done", done!.id, "flag"]);
    expect(first.calls[3]![1]).toMatchObject({
      newFlagReleases: [{ key: "release_ui_done", name: "The new checkout", type: "flag" }],
      orphans: [{ key: "Stray" }],
      namingViolations: [{ key: "Stray" }],
    });

    const second = await t.action(api.releases.track, {});
    expect(second.result).toMatchObject({ new_flag_releases: 0, orphans: 1, naming_violations: 1 });
    expect(second.calls).toEqual([
      ["onOrphan", "Stray"],
      ["onNamingViolation", "Stray"],
    ]);
    expect(adminRequests().every((request) => request.method === "GET" && request.headers.authorization === "Bearer phx_admin")).toBe(true);
  });

  test("onStale gets the flag and the days since its release", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const start = Date.now();
    server.seedFlags("7", [{ key: "release_ui_done", filters: everyone(100) }]);
    const t = initTestApp();
    await t.action(api.releases.track, { staleThresholdDays: 7 });
    vi.setSystemTime(start + 8 * DAY);
    const later = await t.action(api.releases.track, { staleThresholdDays: 7 });
    expect(later.result.stale_flags_notified).toBe(1);
    expect(later.calls.filter((call) => call[0] === "onStale")).toEqual([["onStale", "release_ui_done", 8]]);
  });

  test("a dry run still calls back, and the next run reports the same release", async () => {
    server.seedFlags("7", [{ key: "release_ui_done", filters: everyone(100) }]);
    const t = initTestApp();
    const dry = await t.action(api.releases.track, { dryRun: true });
    expect(dry.calls.filter((call) => call[0] === "onNewRelease")).toHaveLength(1);
    const real = await t.action(api.releases.track, {});
    expect(real.result.new_flag_releases).toBe(1);
  });

  test("the digest reaches Slack through the alert outbox in the digest layout, once a day; a dry run queues none", async () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const start = Date.UTC(2026, 11, 1, 8);
    vi.setSystemTime(start);
    vi.stubEnv("POSTHOG_ALERTS_SLACK_WEBHOOK", `${server.url}/_local/slack/flags`);
    server.seedFlags("7", [{ key: "release_ui_done", filters: everyone(100) }]);
    const t = initTestApp();
    const outbox = () => t.run(async (ctx) => await new PostHog(components.posthog).alerts(ctx));

    await t.action(api.releases.track, { dryRun: true });
    expect(await outbox()).toEqual([]);

    const first = await t.action(api.releases.track, {});
    await waitFor("the digest in Slack", () => server.slackMessages("flags").length === 1);
    expect(server.slackMessages("flags").map((message) => message.body)).toEqual([JSON.parse(JSON.stringify(digestSlackMessage(first.result.digest)))]);
    expect(await outbox()).toEqual([expect.objectContaining({ dedupKey: "digest:2026-12-01", destination: "slack", kind: "digest" })]);

    // More news the same day: remembered, but no second digest that day.
    server.seedFlags("7", [{ key: "release_ui_more", filters: everyone(100) }]);
    const sameDay = await t.action(api.releases.track, {});
    expect(sameDay.result.new_flag_releases).toBe(1);
    expect((await outbox()).map((alert) => alert.dedupKey)).toEqual(["digest:2026-12-01"]);

    // The next day's news gets the next day's digest; a day without news sends none.
    vi.setSystemTime(start + DAY);
    server.seedFlags("7", [{ key: "release_ui_third", filters: everyone(100) }]);
    const nextDay = await t.action(api.releases.track, {});
    await waitFor("the second digest", () => server.slackMessages("flags").length === 2);
    expect(server.slackMessages("flags")[1]!.body).toEqual(JSON.parse(JSON.stringify(digestSlackMessage(nextDay.result.digest))));
    expect(nextDay.result.digest.newFlagReleases.map((release) => release.key)).toEqual(["release_ui_third"]);
    vi.setSystemTime(start + 2 * DAY);
    await t.action(api.releases.track, {});
    expect((await outbox()).map((alert) => alert.dedupKey).sort()).toEqual(["digest:2026-12-01", "digest:2026-12-02"]);
    await t.finishInProgressScheduledFunctions();
  });

  test.each([
    [{ registry: false }, /^flags: runReleaseTracker needs the flag registry/],
    [{ staleThresholdDays: -1 }, /^staleThresholdDays: must be a number of days ≥ 0, got -1/],
    [{ releaseRule: "everyone" }, /^releaseRule: must be "constant_for_everyone" or "toolkit"/],
  ])("bad input %o is refused with a PostHogInputError naming it, before any request", async (args, message) => {
    const t = initTestApp();
    await expect(t.action(api.releases.track, args)).rejects.toThrow(message);
    expect(adminRequests()).toEqual([]);
  });

  test("without a project id the admin target is refused", async () => {
    vi.stubEnv("POSTHOG_PROJECT_ID", "");
    const t = initTestApp();
    await expect(t.action(api.releases.track, {})).rejects.toThrow(/^projectId: flag governance needs the PostHog project id/);
    expect(adminRequests()).toEqual([]);
  });
});
