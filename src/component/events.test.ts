// events.enqueue: the client hands over the encoded message with its uuid and event name, and
// the component stores them without parsing the text again. What it checks protects the
// outbox from callers other than the client.
import { expect, test } from "vitest";
import { api } from "./_generated/api.js";
import { initComponent } from "../testing/setup.js";

const destination = { host: "http://127.0.0.1:9", apiKey: "phc_events" };
const options = { flushDelayMs: 60_000 };
const uuid = "0190a0a0-0000-7000-8000-000000000001";
const body = (id: string) => JSON.stringify({ event: "signed up", distinct_id: "u", properties: {}, timestamp: "2026-01-01T00:00:00.000Z", uuid: id });

test("the row shows the uuid and event it was given, the body is stored as sent", async () => {
  const t = initComponent();
  await t.mutation(api.events.enqueue, { destination, message: body(uuid), uuid, event: "signed up", options });
  const [row] = await t.run(async (ctx) => await ctx.db.query("events").collect());
  expect(row).toMatchObject({ uuid, event: "signed up", status: "pending", bytes: body(uuid).length });
  expect(await t.run(async (ctx) => (await ctx.db.get(row!.body))?.message)).toBe(body(uuid));
});

test.each([
  ["a body that is not one JSON object", "[1]", uuid, "signed up", /must be the JSON object encodeMessage made/],
  ["a uuid the body does not carry", body(uuid), "0190a0a0-0000-7000-8000-000000000002", "signed up", /with the same uuid/],
  ["an empty event name", body(uuid), uuid, "", /non-empty uuid and event/],
])("%s is refused and nothing is queued", async (_what, message, id, event, error) => {
  const t = initComponent();
  await expect(t.mutation(api.events.enqueue, { destination, message, uuid: id, event, options })).rejects.toThrow(error);
  expect(await t.run(async (ctx) => await ctx.db.query("events").collect())).toEqual([]);
});
