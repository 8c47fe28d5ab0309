/** @vitest-environment jsdom */
// The example page rendered against the example app's real functions (convex-test through a
// React client), with flags from example/flag-definitions.json on the local PostHog server.
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { ConvexProvider, type ConvexReactClient } from "convex/react";
import { afterAll, afterEach, beforeAll, expect, test, vi } from "vitest";
import { startLocalPostHog, type LocalPostHog } from "../../src/local-server/server.js";
import { ConvexTestReactClient } from "../../src/testing/convexTestReactClient.js";
import { api, internal } from "../convex/_generated/api.js";
import { initConvexTest } from "../convex/test.setup.js";
import { App } from "./App.js";

// (A path, not a URL: under jsdom, URL is the DOM's, which node:fs refuses.)
const definitionsFile = path.join(path.dirname(fileURLToPath(import.meta.url)), "..", "flag-definitions.json");

let posthogServer: LocalPostHog;
beforeAll(async () => {
  posthogServer = await startLocalPostHog();
  posthogServer.setDefinitions(JSON.parse(readFileSync(definitionsFile, "utf8")));
  vi.stubEnv("POSTHOG_API_KEY", "phc_example_web");
  vi.stubEnv("POSTHOG_HOST", posthogServer.url);
  vi.stubEnv("POSTHOG_PERSONAL_API_KEY", "phx_example_web");
});
afterAll(async () => await posthogServer.close());
afterEach(cleanup);

test("the page shows the signed-in user's checkout variant, payload and flags; its exposure and order event reach PostHog", async () => {
  const t = initConvexTest();
  await t.action(internal.flags.refreshFlagDefinitions, {});
  const client = new ConvexTestReactClient(t.withIdentity({ subject: "customer-42", country: "US" }));
  const expected = await t.query(api.flags.checkoutExperience, { customerId: "customer-42", country: "US" });

  render(
    <ConvexProvider client={client as unknown as ConvexReactClient}>
      <App />
    </ConvexProvider>,
  );
  expect(await screen.findByText(`Checkout (variant "${expected.variant}")`)).toBeTruthy();
  expect(screen.getByText(`${expected.steps} step${expected.steps === 1 ? "" : "s"} to pay`)).toBeTruthy();
  expect(await screen.findByText("Flags for customer-42")).toBeTruthy();
  const rows = screen.getAllByRole("row").map((row) => [...row.querySelectorAll("td")].map((cell) => cell.textContent));
  expect(rows).toContainEqual(["experiment_checkout_one_page", JSON.stringify(expected.variant), "evaluated_locally"]);
  expect(rows).toContainEqual(["experiment_onboarding_flow", "null", "experience_continuity"]);

  fireEvent.click(screen.getByText("Place order"));
  await waitFor(() => expect(client.sent.some((call) => call.name === "posthogApi:track")).toBe(true));
  await t.action(api.orders.flushAnalytics, {});
  await waitFor(async () => expect((await t.query(api.orders.analyticsStatus, {})).pending).toBe(0), { timeout: 10_000 });
  const events = posthogServer.events("phc_example_web");
  expect(events.filter((e) => e.event === "$feature_flag_called").map((e) => [e.distinct_id, e.properties.$feature_flag, e.properties.$feature_flag_response])).toEqual([
    ["customer-42", "experiment_checkout_one_page", expected.variant], // dark mode is read with exposure "none"
  ]);
  expect(events.find((e) => e.event === "order placed")).toMatchObject({ distinct_id: "customer-42", properties: { item: "keyboard", amount: 25, channel: "web" } });
});
