// The flag guardian end to end. Local source: real captures (and captureExceptions) stamped with
// the flags they ran under, delivered to the local PostHog server and tallied by the sender.
// HogQL source: events PostHog received, answered by the server's query API. Then
// runFlagGuardian, and the kill, the PATCH, the refresh and the Slack alerts observed where
// they land.
import { beforeEach, describe, expect, test, vi } from "vitest";
import { api } from "../testing/app/_generated/api.js";
import { flushAndDrain, initTestApp, useLocalPostHog, waitFor } from "../testing/setup.js";

const TOKEN = "phc_guardian";
const PROJECT = "42";
const server = useLocalPostHog({ POSTHOG_API_KEY: TOKEN, POSTHOG_PERSONAL_API_KEY: "phx_guardian", POSTHOG_PROJECT_ID: PROJECT });

const ENFORCED = "release_checkout_fast";
const WATCHED = "release_checkout_watched";
const MULTIVARIATE = "experiment_checkout_layout";
const half = { groups: [{ properties: [], rollout_percentage: 50 }] };
/** Exceptions per user: the treatment's error rate per event is more than twice the control's. */
const REGRESSING = { treatment: 0.8, control: 0.25 };
const SCENARIO = { timeout: 120_000 };
let enforcedFlagId = 0;

beforeEach(() => {
  vi.stubEnv("POSTHOG_ALERTS_SLACK_WEBHOOK", `${server.url}/_local/slack/guardian`);
  server.setProject(PROJECT, { token: TOKEN });
  const anHourAgo = new Date(Date.now() - 60 * 60_000).toISOString();
  [{ id: enforcedFlagId }] = server.seedFlags(PROJECT, [
    { key: ENFORCED, name: "Faster checkout", filters: half, created_at: anHourAgo },
    { key: WATCHED, name: "Checkout copy", filters: half, created_at: anHourAgo },
    {
      key: MULTIVARIATE,
      name: "Checkout layout",
      created_at: anHourAgo,
      filters: {
        groups: [{ properties: [], rollout_percentage: 100 }],
        multivariate: { variants: [{ key: "control", rollout_percentage: 50 }, { key: "compact", rollout_percentage: 50 }] },
      },
    },
  ]);
});

type T = ReturnType<typeof initTestApp>;
const users = (count: number) => Array.from({ length: count }, (_, i) => `user-${i}`);

/** The app with definitions loaded, after a first guardian run (which starts the tallies). */
async function app(): Promise<T> {
  const t = initTestApp();
  await t.action(api.guardian.refresh, {});
  const first = await guard(t);
  expect(first.result.outcomes.map((outcome) => outcome.decision)).toEqual(["insufficient_data", "insufficient_data", "insufficient_data"]);
  return t;
}

const guard = async (t: T, args: { source?: "local" | "hogql" | "both"; dryRun?: boolean } = {}) => await t.action(api.guardian.runGuardian, args);

/** Users browse (two page views each) under `key` and throw exceptions at `rates`; all delivered. */
async function traffic(t: T, key: string, who: string[], rates = REGRESSING) {
  const seen = { treatment: 0, control: 0, treatmentUsers: [] as string[] };
  for (let i = 0; i < who.length; i += 50) {
    const chunk = await t.mutation(api.guardian.traffic, { users: who.slice(i, i + 50), key, views: 2, exceptionsPerUser: rates });
    seen.treatment += chunk.treatment;
    seen.control += chunk.control;
    seen.treatmentUsers.push(...chunk.treatmentUsers);
  }
  await flushAndDrain(t);
  return seen;
}

/** What PostHog received from elsewhere (the browser, say), sent straight to the server: for the HogQL source. */
async function receivedByPostHog(key: string, userCount: number, rates = REGRESSING) {
  const timestamp = new Date(Date.now() - 60_000).toISOString();
  const batch = [];
  for (let i = 0; i < userCount; i++) {
    const cohort = i % 2 === 0 ? "treatment" : "control";
    const properties = { [`$feature/${key}`]: cohort === "treatment" };
    const n = Math.floor(i / 2);
    const exceptions = Math.floor((n + 1) * rates[cohort]) - Math.floor(n * rates[cohort]);
    for (let view = 0; view < 2; view++) batch.push({ event: "page viewed", distinct_id: `web-${i}`, timestamp, properties });
    for (let e = 0; e < exceptions; e++) batch.push({ event: "$exception", distinct_id: `web-${i}`, timestamp, properties });
  }
  const response = await fetch(`${server.url}/batch/`, { method: "POST", body: JSON.stringify({ api_key: TOKEN, batch }) });
  expect(response.status).toBe(200);
}

const read = async (t: T, key: string, distinctId: string) =>
  JSON.parse((await t.query(api.flags.readFlag, { key, context: JSON.stringify({ distinctId }) })).result);
const patches = () => server.requests().filter((r) => r.method === "PATCH" && r.path.startsWith(`/api/projects/${PROJECT}/feature_flags/`));
const queries = () => server.requests().filter((r) => r.path === `/api/environments/${PROJECT}/query/`);
const evaluation = (run: { result: { evaluations: any[] } }, key: string) => run.result.evaluations.find((e) => e.key === key);
/** Slack messages about a flag (an earlier test's alert sender may still deliver its own). */
const slackTexts = (key: string) =>
  server
    .slackMessages("guardian")
    .map((message) => JSON.stringify(message.body))
    .filter((text) => text.includes(`\`${key}\``));
async function waitForSlack(key: string, count = 1): Promise<string[]> {
  await waitFor(`${count} Slack message(s) about ${key}`, () => slackTexts(key).length >= count);
  return slackTexts(key);
}

describe("runFlagGuardian, local source (tallied by the sender)", () => {
  test("a treatment throwing twice the exceptions is killed in one run after the sample floor: reads false at once, PostHog PATCHed, the refresh agrees", SCENARIO, async () => {
    const t = await app();
    const seen = await traffic(t, ENFORCED, users(200));
    expect(Math.min(seen.treatment, seen.control)).toBeGreaterThanOrEqual(50);
    const treated = seen.treatmentUsers[0]!;
    expect(await read(t, ENFORCED, treated)).toMatchObject({ value: true });

    const run = await guard(t);
    const judged = evaluation(run, ENFORCED);
    expect(judged).toMatchObject({ decision: "auto_disabled", enforced: true, source: "local", enforcement: { enforcement: "patched" } });
    expect(judged.reason).toMatch(/^error rate ratio \d+\.\d\dx \(/);
    expect(judged.pValue).toBeLessThan(0.01);
    expect(judged.metrics.treatment.uniqueUsers).toBe(seen.treatment);
    expect(judged.metrics.control.uniqueUsers).toBe(seen.control);
    expect(run.result).toMatchObject({ status: "ok", flags_evaluated: 3, regressions_detected: 1, auto_disabled: 1 });
    expect(run.callbacks).toEqual({ regressions: [ENFORCED], enforced: [ENFORCED] });

    expect(patches().map((r) => r.body)).toEqual([{ active: false }]);
    for (const user of seen.treatmentUsers.slice(0, 5)) expect((await read(t, ENFORCED, user)).value).toBe(false);
    await t.action(api.guardian.refresh, {});
    expect((await read(t, ENFORCED, treated)).value).toBe(false);
    expect((await waitForSlack(ENFORCED))[0]).toContain("FLAG AUTO-DISABLED");

    // The flag is off in PostHog now: the next run leaves it alone.
    const next = await guard(t);
    expect(evaluation(next, ENFORCED)).toBeUndefined();
    expect(patches()).toHaveLength(1);
  });

  test("a rename or tag edit after the guardian saw the flag starts no cooldown; a rollout change does", SCENARIO, async () => {
    const t = await app();
    // A sync (or a person) renames and tags the flag: PostHog's updated_at is now.
    const renamed = await fetch(`${server.url}/api/projects/${PROJECT}/feature_flags/${enforcedFlagId}/`, {
      method: "PATCH",
      headers: { Authorization: "Bearer phx_guardian", "Content-Type": "application/json" },
      body: JSON.stringify({ name: "Faster checkout, renamed", tags: ["guardian"] }),
    });
    expect(renamed.status).toBe(200);
    await traffic(t, ENFORCED, users(200));
    expect(evaluation(await guard(t, { dryRun: true }), ENFORCED)).toMatchObject({ decision: "regression_detected" });

    // Who gets the flag changes: the populations are new, so the toolkit's cooldown applies.
    const rolledOut = await fetch(`${server.url}/api/projects/${PROJECT}/feature_flags/${enforcedFlagId}/`, {
      method: "PATCH",
      headers: { Authorization: "Bearer phx_guardian", "Content-Type": "application/json" },
      body: JSON.stringify({ filters: { groups: [{ properties: [], rollout_percentage: 60 }] } }),
    });
    expect(rolledOut.status).toBe(200);
    expect(evaluation(await guard(t, { dryRun: true }), ENFORCED)).toMatchObject({ decision: "insufficient_data", reason: "cooldown" });
    expect(patches().filter((r) => (r.body as { active?: boolean }).active === false)).toEqual([]);
  });

  test("the same regression with too few users is not acted on: insufficient_data (sample_size), no kill, no PATCH", SCENARIO, async () => {
    const t = await app();
    const seen = await traffic(t, ENFORCED, users(60));
    const run = await guard(t);
    expect(evaluation(run, ENFORCED)).toMatchObject({ decision: "insufficient_data", reason: "sample_size", enforced: false });
    expect(patches()).toEqual([]);
    expect(await read(t, ENFORCED, seen.treatmentUsers[0]!)).toMatchObject({ value: true });
  });

  test("monitor mode alerts once and never kills; a flag whose cohorts err alike is left alone; no alert twice", SCENARIO, async () => {
    const t = await app();
    const seen = await traffic(t, WATCHED, users(200));
    const run = await guard(t);
    expect(evaluation(run, WATCHED)).toMatchObject({ decision: "regression_detected", enforced: false, mode: "monitor" });
    // The enforced flag split the same users independently of the exceptions: no regression.
    expect(evaluation(run, ENFORCED)).toMatchObject({ decision: "no_regression", reason: "all metrics within thresholds", enforced: false });
    expect(run.callbacks).toEqual({ regressions: [WATCHED], enforced: [] });
    expect(patches()).toEqual([]);
    expect(await read(t, WATCHED, seen.treatmentUsers[0]!)).toMatchObject({ value: true });
    expect((await waitForSlack(WATCHED))[0]).toContain("Regression detected (monitor mode)");

    // The next run finds the flag cooling down after its alert, and Slack hears nothing more.
    const again = await guard(t);
    expect(evaluation(again, WATCHED)).toMatchObject({ decision: "insufficient_data", reason: "cooldown" });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(slackTexts(WATCHED)).toHaveLength(1);
  });
});

describe("runFlagGuardian, HogQL source", () => {
  test("one query request per run for every watched flag, every value a placeholder; the regression is killed", SCENARIO, async () => {
    const t = await app();
    await receivedByPostHog(ENFORCED, 200);
    const before = queries().length;
    const run = await guard(t, { source: "hogql" });
    expect(queries()).toHaveLength(before + 1);
    const body = queries().at(-1)!.body as { query: { query: string; values: Record<string, string> }; refresh: string };
    expect(Object.values(body.query.values)).toEqual(expect.arrayContaining([ENFORCED, WATCHED, MULTIVARIATE, `$feature/${ENFORCED}`, "$feature_flag_called"]));
    for (const key of [ENFORCED, WATCHED, MULTIVARIATE, "$exception"]) expect(body.query.query).not.toContain(key);
    expect(body.refresh).toBe("force_blocking");
    expect(evaluation(run, ENFORCED)).toMatchObject({ decision: "auto_disabled", source: "hogql", enforcement: { enforcement: "patched" } });
    expect(evaluation(run, WATCHED)).toMatchObject({ decision: "insufficient_data", reason: "sample_size" });
    expect(patches().map((r) => r.body)).toEqual([{ active: false }]);
    await waitForSlack(ENFORCED);
  });

  test("a 429 on the query skips the run with a rate_limited finding and decides nothing", SCENARIO, async () => {
    const t = await app();
    await receivedByPostHog(ENFORCED, 200);
    server.setAdminPolicy({ throttles: { query: "1/hour" } });
    await guard(t, { source: "hogql", dryRun: true });
    const run = await guard(t, { source: "hogql" });
    expect(run.result).toMatchObject({ status: "skipped", evaluations: [], outcomes: [], flags_evaluated: 0 });
    expect(run.result.findings).toEqual([expect.objectContaining({ kind: "rate_limited", detail: expect.stringContaining("429") })]);
    expect(patches()).toEqual([]);
    expect(await read(t, ENFORCED, "web-0")).not.toMatchObject({ reason: "killed" });
  });

  test("both sources: the worse decision wins", SCENARIO, async () => {
    const t = await app();
    await receivedByPostHog(WATCHED, 200); // PostHog saw a regression the component never delivered
    const run = await guard(t, { source: "both" });
    expect(evaluation(run, WATCHED)).toMatchObject({ decision: "regression_detected", source: "hogql" });
    expect(evaluation(run, ENFORCED)).toMatchObject({ decision: "insufficient_data", source: "local" });
    await waitForSlack(WATCHED);
  });

  test("a dry run decides and alerts as a dry run, but neither kills nor PATCHes nor starts a cooldown; its alert is not repeated", SCENARIO, async () => {
    const t = await app();
    await receivedByPostHog(ENFORCED, 200);
    for (let i = 0; i < 2; i++) {
      const run = await guard(t, { source: "hogql", dryRun: true });
      expect(evaluation(run, ENFORCED)).toMatchObject({ decision: "regression_detected", enforced: false });
    }
    expect(patches()).toEqual([]);
    expect(await read(t, ENFORCED, "web-0")).not.toMatchObject({ reason: "killed" });
    expect((await waitForSlack(ENFORCED))[0]).toContain("Regression detected (dry-run)");
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(slackTexts(ENFORCED)).toHaveLength(1);
  });
});

describe("runFlagGuardian, enforcement PostHog refuses or never hears of", () => {
  test("a 409 (approval required) keeps the local kill and alerts", SCENARIO, async () => {
    const t = await app();
    await receivedByPostHog(ENFORCED, 200);
    server.setAdminPolicy({ approvals: { "feature_flag.disable": "require_approval" } });
    const run = await guard(t, { source: "hogql" });
    expect(evaluation(run, ENFORCED)).toMatchObject({ decision: "auto_disabled", enforced: true, enforcement: { enforcement: "approval_requested" } });
    expect(run.result.findings).toEqual(expect.arrayContaining([expect.objectContaining({ kind: "approval_requested", key: ENFORCED })]));
    expect(await read(t, ENFORCED, "web-0")).toMatchObject({ value: false, reason: "killed" });
    await t.action(api.guardian.refresh, {});
    expect(await read(t, ENFORCED, "web-0")).toMatchObject({ value: false, reason: "killed" });
    // The kill's alert, and one about the refusal with PostHog's change request.
    const alerts = (await waitForSlack(ENFORCED, 2)).join("\n");
    expect(alerts).toContain("FLAG AUTO-DISABLED");
    expect(alerts).toContain("requires an approval");
  });

  test("a crash between the kill and the PATCH is finished by the next run", SCENARIO, async () => {
    const t = await app();
    await receivedByPostHog(ENFORCED, 200);
    // The PATCH never gets an answer (three resets: the request and both retries).
    server.addFaults({ path: `/api/projects/${PROJECT}/feature_flags/${enforcedFlagId}/`, reset: true, times: 3 });
    const run = await guard(t, { source: "hogql" });
    expect(evaluation(run, ENFORCED)).toMatchObject({ decision: "auto_disabled", enforced: true });
    expect(evaluation(run, ENFORCED).enforcement.enforcement).not.toBe("patched");
    expect(await read(t, ENFORCED, "web-0")).toMatchObject({ value: false, reason: "killed" });

    const next = await guard(t, { source: "hogql" });
    expect(next.result.finishedEnforcements).toEqual([expect.objectContaining({ key: ENFORCED, enforcement: "patched" })]);
    expect(patches().filter((r) => r.status === 200).map((r) => r.body)).toEqual([{ active: false }]);
    await t.action(api.guardian.refresh, {});
    expect((await read(t, ENFORCED, "web-0")).value).toBe(false);
  });
});
