import { expect, test } from "vitest";
import { api } from "./_generated/api.js";
import { initConvexTest, useLocalPostHog } from "./test.setup.js";

const posthogServer = useLocalPostHog();

async function delivered(t: ReturnType<typeof initConvexTest>) {
  const deadline = Date.now() + 10_000;
  while ((await t.query(api.orders.analyticsStatus, {})).pending > 0) {
    if (Date.now() > deadline) throw new Error("events were not delivered");
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

test("an order and its event are committed together and reach PostHog", async () => {
  const t = initConvexTest();
  await t.mutation(api.orders.placeOrder, { customerId: "c1", item: "lamp", amount: 30, company: "acme" });
  await delivered(t);
  const [event] = posthogServer.events("phc_example");
  expect(event).toMatchObject({ event: "order placed", distinct_id: "c1" });
  expect(event.properties).toMatchObject({ item: "lamp", amount: 30, channel: "web", $groups: { company: "acme" }, $lib: "convex-posthog" });
});

test("a webhook's order with an amount of the wrong type is refused by the event taxonomy and nothing is queued", async () => {
  const t = initConvexTest();
  const post = (order: object) => t.fetch("/webhooks/partner-order", { method: "POST", body: JSON.stringify(order) });
  const refused = await post({ customerId: "c3", item: "lamp", amount: "30" });
  expect(refused.status).toBe(400);
  expect(await refused.text()).toContain("properties.amount: expected number, got string");
  expect(await t.query(api.orders.analyticsStatus, {})).toMatchObject({ pending: 0 });

  expect((await post({ customerId: "c3", item: "lamp", amount: 30 })).status).toBe(202);
  await delivered(t);
  const events = posthogServer.events("phc_example");
  expect(events.map((e) => [e.event, e.properties.amount, e.properties.channel])).toEqual([["order placed", 30, "partner"]]);
});

test("a rejected order queues no event", async () => {
  const t = initConvexTest();
  await expect(t.mutation(api.orders.placeOrder, { customerId: "c1", item: "lamp", amount: 0 })).rejects.toThrow(/positive/);
  expect(await t.query(api.orders.analyticsStatus, {})).toMatchObject({ pending: 0 });
  expect(await t.run((ctx) => ctx.db.query("orders").collect())).toEqual([]);
});

test("sign-up sends identify, alias and groupidentify; a failed charge sends an exception", async () => {
  const t = initConvexTest();
  await t.mutation(api.orders.signUp, { anonymousId: "anon-1", customerId: "c2", email: "c2@example.com", company: "acme" });
  expect(await t.action(api.orders.chargeCard, { customerId: "c2", amount: 5 })).toBe(false);
  await t.action(api.orders.flushAnalytics, {});
  await delivered(t); // a scheduled delivery may have taken some of them first
  const events = posthogServer.events("phc_example");
  expect(events.map((e) => e.event)).toEqual(["$identify", "$create_alias", "$groupidentify", "$exception"]);
  expect(events[0].properties).toMatchObject({ $set: { email: "c2@example.com" }, $anon_distinct_id: "anon-1" });
  expect(events[3].properties.$exception_list).toMatchObject([{ type: "Error", value: "card declined for 5" }]);
});
