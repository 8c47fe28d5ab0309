// The local server's REST API and its /flags/definitions are one project: a flag created or
// disabled over the API reaches the component on its next refresh and changes what a query reads.
import { expect, test } from "vitest";
import { api } from "../testing/app/_generated/api.js";
import { initTestApp, useLocalPostHog } from "../testing/setup.js";

const TOKEN = "phc_admin_e2e";
const PERSONAL_KEY = "phx_admin_e2e";
const server = useLocalPostHog({ POSTHOG_API_KEY: TOKEN, POSTHOG_PERSONAL_API_KEY: PERSONAL_KEY });

async function rest(method: "POST" | "PATCH", path: string, body: unknown) {
  const res = await fetch(server.url + path, {
    method,
    headers: { Authorization: `Bearer ${PERSONAL_KEY}`, "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

test("create over the REST API → refresh → true in a query; PATCH active: false → refresh → false", async () => {
  const t = initTestApp();
  server.setProject("42", { token: TOKEN });
  const read = async () =>
    (await t.query(api.flags.readFlag, { key: "new-checkout", context: JSON.stringify({ distinctId: "user-1" }) })).value;

  const created = await rest("POST", "/api/projects/42/feature_flags/", {
    key: "new-checkout",
    filters: { groups: [{ properties: [], rollout_percentage: 100 }] },
  });
  expect(created.status).toBe(201);
  expect(await t.action(api.flags.refresh, {})).toMatchObject({ result: "updated", httpStatus: 200 });
  expect(await read()).toBe(true);

  const disabled = await rest("PATCH", `/api/projects/42/feature_flags/${created.body.id}/`, { active: false });
  expect(disabled).toMatchObject({ status: 200, body: { active: false, version: 2 } });
  expect(await t.action(api.flags.refresh, {})).toMatchObject({ result: "updated", httpStatus: 200 });
  expect(await read()).toBe(false);
  // Nothing changed since: the next refresh is a 304.
  expect(await t.action(api.flags.refresh, {})).toMatchObject({ result: "not_modified", httpStatus: 304 });
});
