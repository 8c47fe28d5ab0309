// `npm run example`: the example app end to end, with no PostHog account and no keys.
// It starts the project's local PostHog-compatible server, runs the example's Convex
// functions under convex-test (an in-memory Convex backend), and prints what "PostHog"
// received.
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { convexTest } from "convex-test";
import { startLocalPostHog } from "../src/local-server/server.js";
import componentSchema from "../src/component/schema.js";
import schema from "./convex/schema.js";
import { api, internal } from "./convex/_generated/api.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const convexDir = path.join(here, "convex");
const componentDir = path.join(here, "..", "src", "component");

/** What `import.meta.glob("./**\/*.ts")` gives inside vitest, built by hand for plain Node. */
function modulesOf(dir: string, prefix: string): Record<string, () => Promise<unknown>> {
  const modules: Record<string, () => Promise<unknown>> = {};
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !/^[^.]+\.ts$/.test(entry.name)) continue; // no tests, no .d.ts
    const file = path.join(entry.parentPath, entry.name);
    const key = `${prefix}/${path.relative(dir, file).split(path.sep).join("/")}`;
    modules[key] = () => import(pathToFileURL(file).href);
  }
  return modules;
}

async function main() {
  const server = await startLocalPostHog({ definitionsFile: path.join(here, "flag-definitions.json") });
  process.env.POSTHOG_API_KEY = "phc_example_project";
  process.env.POSTHOG_HOST = server.url;
  process.env.POSTHOG_PERSONAL_API_KEY = "phx_example_personal_key";
  process.env.POSTHOG_WEBHOOK_SECRET = "example-webhook-secret";
  console.log(`Local PostHog-compatible server at ${server.url}\n`);

  const t = convexTest({ schema, modules: modulesOf(convexDir, "./convex") });
  // What `import posthogTest from "convex-posthog/test"; posthogTest.register(t)` does in vitest.
  t.registerComponent("posthog", componentSchema, modulesOf(componentDir, "./component"));

  console.log("1. signUp: identify, alias and groupIdentify in one mutation");
  await t.mutation(api.orders.signUp, {
    anonymousId: "anon-7f3a",
    customerId: "customer-42",
    email: "ada@example.com",
    company: "acme",
  });
  console.log("2. placeOrder x3: each order and its event commit together");
  for (const item of ["keyboard", "mouse", "monitor"]) {
    await t.mutation(api.orders.placeOrder, { customerId: "customer-42", item, amount: 25, company: "acme" });
  }
  console.log("3. placeOrder with a bad amount: the mutation throws, so its event is never queued");
  await t.mutation(api.orders.placeOrder, { customerId: "customer-42", item: "nothing", amount: -1 }).catch((e: Error) => {
    console.log(`   (rejected: ${e.message.split("\n")[0]})`);
  });
  console.log("4. chargeCard (an action): captureException");
  await t.action(api.orders.chargeCard, { customerId: "customer-42", amount: 99 });

  console.log("5. A partner's webhook posts an order with the amount as text: the event taxonomy refuses it, nothing is queued");
  const refused = await t.fetch("/webhooks/partner-order", {
    method: "POST",
    body: JSON.stringify({ customerId: "customer-9", item: "desk", amount: "120" }),
  });
  console.log(`   (HTTP ${refused.status}: ${await refused.text()})`);

  console.log("\nQueued:", await t.query(api.orders.analyticsStatus, {}));
  console.log("Waiting for the scheduled delivery (within about a second)...\n");
  const deadline = Date.now() + 15_000;
  while ((await t.query(api.orders.analyticsStatus, {})).pending > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await t.finishInProgressScheduledFunctions();

  const batches = server.batches();
  const events = server.events();
  console.log(`PostHog received ${events.length} events in ${batches.length} request(s) to /batch/ (gzip: ${batches.every((b) => b.gzip)}):`);
  for (const e of events) {
    const props = Object.fromEntries(Object.entries(e.properties).filter(([k]) => !["$lib", "$lib_version", "$is_server", "$geoip_disable"].includes(k)));
    console.log(`  ${e.event.padEnd(16)} ${e.distinct_id.padEnd(14)} ${e.uuid}  ${JSON.stringify(props).slice(0, 110)}`);
  }
  const status = await t.query(api.orders.analyticsStatus, {});
  console.log("\nStatus after delivery:", { ...status, flags: undefined, registry: undefined });

  console.log("\n6. Feature flags: the cron's refresh copies definitions (example/flag-definitions.json) into the component");
  console.log("   refresh:", await t.action(internal.flags.refreshFlagDefinitions, {}));
  console.log("   again (unchanged, so PostHog answers 304):", await t.action(internal.flags.refreshFlagDefinitions, {}));
  const us = await t.query(api.flags.checkoutExperience, { customerId: "customer-42", country: "US" });
  const fr = await t.query(api.flags.checkoutExperience, { customerId: "customer-42", country: "FR" });
  const unknown = await t.query(api.flags.checkoutExperience, { customerId: "customer-42" });
  console.log("   experiment_checkout_one_page for a US customer:", us);
  console.log("   experiment_checkout_one_page for a French customer:", fr);
  console.log("   experiment_checkout_one_page without a country:", unknown);
  console.log("   all flags:", await t.query(api.flags.allFlags, { customerId: "customer-42" }));
  const { flags, registry } = await t.query(api.orders.analyticsStatus, {});
  console.log("   status.flags:", flags);
  console.log("   status.registry (PostHog's definitions against example/convex/analytics.ts):", registry);

  console.log("\n7. Remote evaluation, exposures and flags on events");
  console.log("   personalizeOnboarding (an action; experiment_onboarding_flow needs PostHog, so it asks /flags):");
  console.log("  ", await t.action(api.flags.personalizeOnboarding, { customerId: "customer-42" }));
  await t.action(api.flags.personalizeOnboarding, { customerId: "customer-42" }); // same exposures again: deduplicated
  await t.mutation(api.flags.checkoutShown, { customerId: "customer-7", country: "CA" });
  await t.mutation(api.flags.checkoutFailed, { customerId: "customer-42", reason: "card declined", country: "US" });
  await t.action(api.orders.flushAnalytics, {});
  while ((await t.query(api.orders.analyticsStatus, {})).pending > 0) await new Promise((resolve) => setTimeout(resolve, 50));
  const flagRequests = server.requests().filter((r) => r.path === "/flags/");
  console.log(`   /flags requests: ${flagRequests.length} (bodies carry flag_keys_to_evaluate: ${flagRequests.map((r) => JSON.stringify((r.body as { flag_keys_to_evaluate?: string[] }).flag_keys_to_evaluate)).join(", ")})`);
  const later = server.events().slice(events.length);
  for (const e of later) {
    const p = e.properties;
    const detail =
      e.event === "$feature_flag_called"
        ? `${p.$feature_flag} = ${JSON.stringify(p.$feature_flag_response)} (locally_evaluated: ${p.locally_evaluated})`
        : Object.entries(p).filter(([k]) => k.startsWith("$feature/") || k === "$active_feature_flags").map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(" ");
    console.log(`   ${e.event.padEnd(22)} ${e.distinct_id.padEnd(12)} ${detail}`);
  }
  const exposures = later.filter((e) => e.event === "$feature_flag_called");

  console.log("\n8. The browser's API (convex/posthogApi.ts, read by example/web): flags for the signed-in user, and PostHog's webhook");
  const browserFlags = await t.withIdentity({ subject: "customer-42", country: "US" }).query(api.posthogApi.flags, {});
  console.log("   flags query as customer-42 in the US:", JSON.stringify(browserFlags));
  const hook = (secret: string) => t.fetch("/posthog/flags-changed", { method: "POST", headers: { authorization: `Bearer ${secret}` }, body: "{}" });
  const wrongSecret = await hook("guess");
  const webhook = await hook("example-webhook-secret");
  const webhookResult = await webhook.json();
  console.log(`   /posthog/flags-changed with a wrong secret: HTTP ${wrongSecret.status}; with POSTHOG_WEBHOOK_SECRET: HTTP ${webhook.status} ${JSON.stringify(webhookResult)} (PostHog: nothing changed)`);

  console.log("\n9. Flag governance against the local server's PostHog API: sync, then the guardian kills a regressing flag");
  // PostHog's project 1 now holds the example's flags (as a person made them, two hours ago)
  // and serves them to /flags/definitions; the governance crons use its REST API.
  const definitionsFile = JSON.parse(readFileSync(path.join(here, "flag-definitions.json"), "utf8")) as {
    flags: { key: string; active: boolean; filters: Record<string, unknown> }[];
  };
  const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000).toISOString();
  const described = { release_checkout_fast_pay: "A faster card payment path, rolled out to half of the customers" } as Record<string, string>;
  server.setProject("1", { token: "phc_example_project" });
  server.seedFlags(
    "1",
    definitionsFile.flags.map(({ key, active, filters }) => ({ key, active, filters, name: described[key] ?? key, created_at: twoHoursAgo })),
  );
  process.env.POSTHOG_PROJECT_ID = "1";
  process.env.POSTHOG_ADMIN_API_KEY = "phx_example_admin_key";
  process.env.POSTHOG_ALERTS_SLACK_WEBHOOK = `${server.url}/_local/slack/flag-alerts`;
  // The guardian's first tick starts the sender's tallies; then the sync cron renames the flags
  // to their registry descriptions (a rename changes nobody's flag, so it starts no cooldown).
  const firstTick = await t.action(internal.governance.guardFlags, {});
  const sync = await t.action(internal.governance.syncFlags, {});
  console.log(`   guardian's first tick: ${firstTick.outcomes.map((o: { flag_key: string; decision: string; reason: string }) => `${o.flag_key} ${o.decision} (${o.reason})`).join(", ")}`);
  console.log(`   sync: ${sync.registry_size} registry flags, ${sync.posthog_size} in PostHog, created ${sync.created}, reconciled ${sync.reconciled} (${sync.reconciled_keys.join(", ")}), orphans ${sync.orphans}`);
  await t.action(internal.flags.refreshFlagDefinitions, {});
  const onFastPath: string[] = [];
  let declined = 0;
  for (let i = 0; i < 300; i++) {
    const paid = await t.mutation(api.orders.payWithCard, { customerId: `shopper-${i}`, amount: 20, card: i % 5 === 0 ? "amex" : "visa" });
    if (paid.fastPath) onFastPath.push(`shopper-${i}`);
    if (!paid.paid) declined++;
  }
  await t.action(api.orders.flushAnalytics, {});
  console.log(`   300 shoppers paid: ${onFastPath.length} on the fast path, ${declined} declined there with a $exception (Amex cards)`);
  const shopper = onFastPath[0]!;
  const beforeRun = await t.query(api.flags.fastPay, { customerId: shopper });
  const guard = await t.action(internal.governance.guardFlags, {}); // the next tick
  const fastPayOutcome = guard.outcomes.find((o: { flag_key: string }) => o.flag_key === "release_checkout_fast_pay");
  console.log(`   guardian (the 1-minute cron): ${JSON.stringify(fastPayOutcome)}`);
  const killedRead = await t.query(api.flags.fastPay, { customerId: shopper });
  console.log(`   release_checkout_fast_pay for ${shopper}: before the run ${JSON.stringify(beforeRun)}, right after it ${JSON.stringify(killedRead)}`);
  const patches = server.requests().filter((r) => r.method === "PATCH" && r.path.startsWith("/api/projects/1/feature_flags/"));
  console.log(`   PATCH requests to PostHog: ${patches.map((r) => JSON.stringify(r.body)).join(", ")}`);
  await waitForAlerts(() => server.slackMessages().length > 0);
  const slack = server.slackMessages();
  console.log(`   Slack alerts: ${slack.length} (${slack.map((m) => JSON.stringify(m.body).match(/\*FLAG AUTO-DISABLED\*|Regression detected[^*]*/)?.[0]).join(", ")})`);
  const report = await t.query(api.governance.report, {});
  const state = report.guardian.find((g: { key: string }) => g.key === "release_checkout_fast_pay");
  console.log(`   governance report: ${JSON.stringify({ decision: state?.lastDecision, enforcement: state?.enforcement, killed: report.killed.map((k: { key: string }) => k.key) })}`);
  await server.close();
  const governanceOk =
    sync.created === 0 &&
    beforeRun.enabled &&
    fastPayOutcome?.decision === "auto_disabled" &&
    killedRead.enabled === false &&
    killedRead.reason === "killed" &&
    patches.some((r) => (r.body as { active?: boolean }).active === false) &&
    slack.length >= 1;
  const flagsOk =
    us.reason === "evaluated_locally" &&
    fr.variant === false &&
    unknown.reason === "missing_context" &&
    registry?.definitions === "loaded" &&
    registry.findings.length === 0 &&
    exposures.length === 3 && // the onboarding and checkout flags once each for customer-42, one for customer-7
    later.some((e) => e.event === "checkout failed" && e.properties["$feature/experiment_checkout_one_page"] !== undefined);
  const browserOk =
    browserFlags.featureFlags.experiment_checkout_one_page === us.variant && wrongSecret.status === 401 && webhook.status === 200 && webhookResult.result === "not_modified";
  const ok = governanceOk && refused.status === 400 && events.length === 7 && status.pending === 0 && flagsOk && browserOk;
  console.log(ok ? "\nExample finished: every event arrived exactly once." : "\nExample FAILED: unexpected result.");
  process.exit(ok ? 0 : 1);
}

async function waitForAlerts(done: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!done() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
