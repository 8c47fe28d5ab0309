import { expect, test } from "vitest";
import { fromConvexSafe } from "convex-posthog";
import { api } from "./_generated/api.js";
import { initConvexTest, useLocalPostHog } from "./test.setup.js";

useLocalPostHog({
  definitions: true,
  env: { POSTHOG_PERSONAL_API_KEY: "phx_example", POSTHOG_WEBHOOK_SECRET: "example-webhook-secret" },
});

test("the webhook refreshes only with the secret; the flags query then answers the signed-in user's flags", async () => {
  const t = initConvexTest();
  const ada = t.withIdentity({ subject: "customer-42", country: "US" });
  const before = await ada.query(api.posthogApi.flags, {});
  expect(before).toMatchObject({ distinctID: "customer-42", isIdentifiedID: true, featureFlags: {} });
  expect(before.reasons.experiment_checkout_one_page).toBe("definitions_not_loaded");

  const refresh = (headers: Record<string, string>) => t.fetch("/posthog/flags-changed", { method: "POST", headers, body: "{}" });
  expect((await refresh({ authorization: "Bearer wrong" })).status).toBe(401);
  expect((await ada.query(api.posthogApi.flags, {})).reasons.experiment_checkout_one_page).toBe("definitions_not_loaded");
  const accepted = await refresh({ authorization: "Bearer example-webhook-secret" });
  expect(accepted.status).toBe(200);
  expect(await accepted.json()).toMatchObject({ result: "updated", flagsChanged: 4 });

  // The same answers the server's own reads give for this user and country.
  const answer = await ada.query(api.posthogApi.flags, {});
  const checkout = await t.query(api.flags.checkoutExperience, { customerId: "customer-42", country: "US" });
  const serverFlags = await t.query(api.flags.allFlags, { customerId: "customer-42" });
  expect(answer.featureFlags.experiment_checkout_one_page).toBe(checkout.variant);
  expect(fromConvexSafe(answer.featureFlagPayloads.experiment_checkout_one_page)).toEqual({ steps: checkout.steps });
  expect(answer.featureFlags.release_ui_dark_mode).toBe(serverFlags.release_ui_dark_mode);
  expect(answer.reasons).toMatchObject({ experiment_checkout_one_page: "evaluated_locally", release_ui_dark_mode: "evaluated_locally" });
  // Another country is outside the experiment.
  const french = await t.withIdentity({ subject: "customer-42", country: "FR" }).query(api.posthogApi.flag, { key: "experiment_checkout_one_page" });
  expect(french).toMatchObject({ value: false, reason: "evaluated_locally" });
});
