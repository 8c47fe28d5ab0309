import { expect, test } from "vitest";
import { api, internal } from "./_generated/api.js";
import { initConvexTest, useLocalPostHog } from "./test.setup.js";

const posthogServer = useLocalPostHog({ definitions: true, env: { POSTHOG_PERSONAL_API_KEY: "phx_example" } });

test("the cron's refresh loads definitions; the query reads the flag", async () => {
  const t = initConvexTest();
  expect(await t.query(api.flags.checkoutExperience, { customerId: "c1", country: "US" })).toMatchObject({
    variant: "control",
    reason: "definitions_not_loaded",
  });
  expect(await t.action(internal.flags.refreshFlagDefinitions, {})).toMatchObject({ result: "updated", flagsChanged: 4 });
  const us = await t.query(api.flags.checkoutExperience, { customerId: "c1", country: "US" });
  expect(us.reason).toBe("evaluated_locally");
  expect(["control", "one-page"]).toContain(us.variant);
  expect(us.steps).toBe(us.variant === "control" ? 3 : 1);
  expect(await t.query(api.flags.checkoutExperience, { customerId: "c1", country: "FR" })).toMatchObject({ variant: false });
});

test("what PostHog serves agrees with the flag registry in analytics.ts", async () => {
  const t = initConvexTest();
  expect((await t.query(api.orders.analyticsStatus, {})).registry).toEqual({ definitions: "not_loaded", findings: [] });
  await t.action(internal.flags.refreshFlagDefinitions, {});
  expect((await t.query(api.orders.analyticsStatus, {})).registry).toEqual({ definitions: "loaded", findings: [] });
});

test("an action asks PostHog for what only it can decide; each exposure is sent once", async () => {
  const t = initConvexTest();
  await t.action(internal.flags.refreshFlagDefinitions, {});
  expect(await t.action(api.flags.personalizeOnboarding, { customerId: "c9" })).toEqual({ onboarding: "guided", checkout: expect.any(String) });
  await t.action(api.flags.personalizeOnboarding, { customerId: "c9" });
  await t.mutation(api.flags.checkoutFailed, { customerId: "c9", reason: "declined", country: "US" });
  await t.action(api.orders.flushAnalytics, {});
  const deadline = Date.now() + 10_000;
  while ((await t.query(api.orders.analyticsStatus, {})).pending > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  const events = posthogServer.events("phc_example");
  expect(events.filter((e) => e.event === "$feature_flag_called").map((e) => e.properties.$feature_flag).sort()).toEqual([
    "experiment_checkout_one_page",
    "experiment_onboarding_flow",
  ]);
  const failed = events.find((e) => e.event === "checkout failed")!;
  const checkoutExposure = events.find((e) => e.properties.$feature_flag === "experiment_checkout_one_page")!;
  expect(failed.properties["$feature/experiment_checkout_one_page"]).toBe(checkoutExposure.properties.$feature_flag_response);
});
