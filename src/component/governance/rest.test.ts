// The governance REST helper against the local server's PostHog API over real HTTP: paging,
// retries, refusals as values, and the admin key kept to the configured app host.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { startLocalPostHog, type LocalPostHog } from "../../local-server/server.js";
import { createFlag, describeFailure, listAllFlags, patchFlag, runHogQL, type AdminTarget } from "./rest.js";

let server: LocalPostHog;
let target: AdminTarget;
beforeAll(async () => {
  server = await startLocalPostHog();
  target = { appHost: server.url, projectId: "7", environmentId: "7", apiKey: "phx_admin" };
});
afterAll(() => server.close());
afterEach(() => server.reset());

describe("governance REST helper", () => {
  test("listAllFlags follows `next` past 100 flags and returns every flag once", async () => {
    server.seedFlags("7", Array.from({ length: 250 }, (_, i) => ({ key: `flag_${i}` })));
    const listed = await listAllFlags(target);
    expect(listed.ok).toBe(true);
    if (!listed.ok) return;
    expect(listed.data).toHaveLength(250);
    expect(new Set(listed.data.map((flag) => flag.key)).size).toBe(250);
    const pages = server.requests().filter((r) => r.path === "/api/projects/7/feature_flags/");
    expect(pages).toHaveLength(3);
    expect(pages.every((r) => r.headers.authorization === "Bearer phx_admin")).toBe(true);
  });

  test("a 429 is retried after Retry-After; a refusal comes back as a value naming PostHog's code", async () => {
    server.addFaults({ path: "/api/projects/7/feature_flags/", status: 429, headers: { "Retry-After": "0" }, times: 2 });
    const created = await createFlag(target, { key: "release_ui_x", name: "x", filters: { groups: [{ properties: [], rollout_percentage: 0 }] } });
    expect(created.ok).toBe(true);
    expect(server.requests().filter((r) => r.method === "POST").map((r) => r.status)).toEqual([429, 429, 201]);
    const again = await createFlag(target, { key: "release_ui_x", name: "x", filters: { groups: [{ properties: [], rollout_percentage: 0 }] } });
    expect(again.ok).toBe(false);
    if (again.ok) return;
    expect(again.failure).toMatchObject({ kind: "bad_request", status: 400, code: "unique" });
    expect(describeFailure(again.failure)).not.toContain("phx_admin");
  });

  test("a missing scope is `forbidden`, an approval policy `approval_required`, both with PostHog's details", async () => {
    const [flag] = server.seedFlags("7", [{ key: "release_ui_y" }]);
    server.setAdminPolicy({ approvals: { "feature_flag.disable": "require_approval" } });
    const refused = await patchFlag(target, flag!.id, { active: false });
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.failure.kind).toBe("approval_required");
    server.setAdminPolicy({ personalApiKeys: { phx_admin: ["feature_flag:read"] } });
    const forbidden = await patchFlag(target, flag!.id, { active: false });
    expect(forbidden.ok).toBe(false);
    if (!forbidden.ok) expect(forbidden.failure).toMatchObject({ kind: "forbidden", status: 403, detail: "API key missing required scope 'feature_flag:write'" });
  });

  test("the query helper does not retry a 429: the guardian skips the run instead", async () => {
    server.setAdminPolicy({ throttles: { query: "1/hour" } });
    const first = await runHogQL(target, "SELECT 1", {});
    expect(first.ok).toBe(false); // the local server answers only the guardian's template
    const throttled = await runHogQL(target, "SELECT 1", {});
    expect(throttled.ok).toBe(false);
    if (!throttled.ok) expect(throttled.failure).toMatchObject({ kind: "rate_limited", status: 429 });
    expect(server.requests().filter((r) => r.path === "/api/environments/7/query/")).toHaveLength(2);
  });

  test("a `next` link to another host is refused, so the admin key never leaves the app host", async () => {
    server.addFaults({
      path: "/api/projects/7/feature_flags/",
      status: 200,
      body: JSON.stringify({ results: [], next: "https://evil.example/api/projects/7/feature_flags/?offset=100" }),
      times: 1,
    });
    const listed = await listAllFlags(target);
    expect(listed.ok).toBe(false);
    if (!listed.ok) expect(listed.failure.detail).toContain("evil.example");
  });
});
