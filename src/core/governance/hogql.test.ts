// The guardian's one HogQL query: built with every value as a placeholder, answered by the local
// server's evaluator over events it received, and read back by column names.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { startLocalPostHog, type LocalPostHog } from "../../local-server/server.js";
import { runHogQL, type AdminTarget } from "../../component/governance/rest.js";
import { buildGuardianQuery, parseGuardianResponse } from "./hogql.js";

let server: LocalPostHog;
let target: AdminTarget;
beforeAll(async () => {
  server = await startLocalPostHog();
  target = { appHost: server.url, projectId: "7", environmentId: "7", apiKey: "phx_admin" };
});
afterAll(() => server.close());
afterEach(() => server.reset());

const NOW = Date.parse("2026-12-01T12:00:00.000Z");
const at = (minutesAgo: number) => new Date(NOW - minutesAgo * 60_000).toISOString();

async function send(events: { event: string; distinct_id: string; timestamp: string; properties: Record<string, unknown> }[]) {
  const response = await fetch(`${server.url}/batch/`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ api_key: "phc_test", batch: events }),
  });
  expect(response.status).toBe(200);
}

describe("buildGuardianQuery", () => {
  test("one UNION ALL block per flag; keys, properties, events and the window only in `values`", () => {
    const { query, values } = buildGuardianQuery({
      keys: ["release_ui_a", "x' OR 1=1 --"],
      from: NOW - 20 * 60_000,
      to: NOW,
      successEvent: { event: "order placed", property: "ok" },
    });
    expect(query.split("UNION ALL")).toHaveLength(2);
    expect(query).not.toContain("release_ui_a");
    expect(query).not.toContain("OR 1=1");
    expect(query).not.toContain("order placed");
    expect(query).not.toContain("$exception");
    expect(query).not.toContain("'");
    expect(values).toMatchObject({
      key_0: "release_ui_a",
      prop_0: "$feature/release_ui_a",
      key_1: "x' OR 1=1 --",
      prop_1: "$feature/x' OR 1=1 --",
      success_event: "order placed",
      success_prop: "ok",
      error_event: "$exception",
      exposure_event: "$feature_flag_called",
      window_start: "2026-12-01T11:40:00.000Z",
      window_end: "2026-12-01T12:00:00.000Z",
    });
    expect(query).toContain("event != {exposure_event}");
  });

  test("no keys is a programming error, not an empty query", () => {
    expect(() => buildGuardianQuery({ keys: [], from: 0, to: 1 })).toThrow(/at least one flag key/);
  });
});

describe("the query against the local server's evaluator", () => {
  test("counts per (flag, variant): events without exposures, users, exceptions, successes, within the window", async () => {
    const a = "$feature/release_ui_a";
    const b = "$feature/experiment_ui_b";
    await send([
      { event: "page", distinct_id: "u1", timestamp: at(5), properties: { [a]: true, [b]: "control" } },
      { event: "$exception", distinct_id: "u1", timestamp: at(4), properties: { [a]: true } },
      { event: "$feature_flag_called", distinct_id: "u1", timestamp: at(4), properties: { [a]: true, $feature_flag: "release_ui_a" } },
      { event: "order placed", distinct_id: "u2", timestamp: at(3), properties: { [a]: false, ok: true, [b]: "fast" } },
      { event: "order placed", distinct_id: "u3", timestamp: at(3), properties: { [a]: false, ok: false } },
      { event: "page", distinct_id: "u4", timestamp: at(30), properties: { [a]: true } }, // before the window
      { event: "page", distinct_id: "u5", timestamp: at(1), properties: {} }, // no flag
    ]);
    const { query, values } = buildGuardianQuery({
      keys: ["release_ui_a", "experiment_ui_b", "release_ui_unseen"],
      from: NOW - 20 * 60_000,
      to: NOW,
      successEvent: { event: "order placed", property: "ok" },
    });
    const answer = await runHogQL(target, query, values);
    expect(answer.ok).toBe(true);
    if (!answer.ok) return;
    const request = server.requests().find((r) => r.path === "/api/environments/7/query/");
    expect(request?.body).toMatchObject({ query: { kind: "HogQLQuery", query, values }, refresh: "force_blocking" });

    const parsed = parseGuardianResponse(answer.data, ["release_ui_a", "experiment_ui_b", "release_ui_unseen"]);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.counts.get("release_ui_a")).toEqual([
      { variant: "false", events: 2, uniqueUsers: 2, exceptions: 0, successes: 1, successTotal: 2 },
      { variant: "true", events: 2, uniqueUsers: 1, exceptions: 1, successes: 0, successTotal: 0 },
    ]);
    expect(parsed.counts.get("experiment_ui_b")).toEqual([
      { variant: "control", events: 1, uniqueUsers: 1, exceptions: 0, successes: 0, successTotal: 0 },
      { variant: "fast", events: 1, uniqueUsers: 1, exceptions: 0, successes: 1, successTotal: 1 },
    ]);
    expect(parsed.counts.get("release_ui_unseen")).toEqual([]);
  });
});

describe("parseGuardianResponse", () => {
  const row = { flag: "k", variant: "true", total_events: 10, unique_users: 5, error_events: 1, success_events: 2, success_total: 3 };

  test("reads columns by name, in any order, and counts sent as text", () => {
    const columns = Object.keys(row).reverse();
    const parsed = parseGuardianResponse(
      { results: [columns.map((c) => (c === "total_events" ? "10" : row[c as keyof typeof row]))], columns, hasMore: true },
      ["k"],
    );
    expect(parsed).toEqual({
      ok: true,
      truncated: true,
      counts: new Map([["k", [{ variant: "true", events: 10, uniqueUsers: 5, exceptions: 1, successes: 2, successTotal: 3 }]]]),
    });
  });

  test("rows of flags not asked for are ignored", () => {
    const parsed = parseGuardianResponse({ results: [Object.values({ ...row, flag: "other" })], columns: Object.keys(row) }, ["k"]);
    expect(parsed.ok && parsed.counts.get("k")).toEqual([]);
  });

  test("a missing column or a count that is not one is a problem, not a guess", () => {
    expect(parseGuardianResponse({ results: [], columns: ["flag", "variant"] }, ["k"])).toEqual({
      ok: false,
      problem: 'the answer has no column "total_events"',
    });
    const bad = parseGuardianResponse({ results: [Object.values({ ...row, error_events: "many" })], columns: Object.keys(row) }, ["k"]);
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.problem).toContain('"exceptions" of a row is not a count');
    expect(parseGuardianResponse("nope", ["k"])).toEqual({ ok: false, problem: "the answer is not a JSON object" });
  });
});
