// The client: keys and host resolution, bad input, hooks, identify callback.
import { describe, expect, test, vi } from "vitest";
import { api } from "../testing/app/_generated/api.js";

const server = useLocalPostHog({ POSTHOG_API_KEY: "phc_client" });
import { flushAndDrain, initTestApp, useLocalPostHog } from "../testing/setup.js";


type T = ReturnType<typeof initTestApp>;
async function flushAndReceive(t: T) {
  await flushAndDrain(t);
  return server.events();
}

describe("configuration", () => {
  test("keys and host come from the environment when a method runs, trimmed", async () => {
    const t = initTestApp();
    vi.stubEnv("POSTHOG_API_KEY", "  phc_trimmed \n");
    vi.stubEnv("POSTHOG_HOST", ` ${server.url}/// `);
    await t.mutation(api.events.captureMany, { event: "e", count: 1, distinctId: "u" });
    const [event] = await flushAndReceive(t);
    expect(event).toMatchObject({ apiKey: "phc_trimmed", event: "e" });
  });

  test("a missing API key skips the capture without failing the caller, and queues nothing", async () => {
    const t = initTestApp();
    vi.stubEnv("POSTHOG_API_KEY", "");
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    await t.mutation(api.events.captureMany, { event: "e", count: 1, distinctId: "u" });
    warn.mockRestore();
    expect(await t.query(api.events.status, {})).toMatchObject({ pending: 0, analytics: "not_configured" });
  });
});

describe("bad input", () => {
  test.each([
    ["an empty distinctId", { event: "e", count: 1, distinctId: "" }, /distinctId/],
    ["an empty event name", { event: "", count: 1, distinctId: "u" }, /event/],
  ])("%s is rejected by the call, naming the field", async (_what, args, message) => {
    const t = initTestApp();
    await expect(t.mutation(api.events.captureMany, args)).rejects.toThrow(message);
  });

  test.each([
    ["function", /properties\.nested\.\$deep\.value.*function/i],
    ["symbol", /properties\.nested\.\$deep\.value.*symbol/i],
    ["bigint", /properties\.nested\.\$deep\.value.*BigInt/i],
    ["cyclic", /properties\.nested\.\$deep\.value\.self.*cycl/i],
    ["huge", /^.*properties\.nested\.\$deep\.value: the event is \d+ bytes once encoded, \d+ of them here; one event can be at most 1040384 bytes/],
  ])("a %s value is rejected with a clear error and the queue is untouched", async (kind, message) => {
    const t = initTestApp();
    await t.mutation(api.events.captureMany, { event: "before", count: 2, distinctId: "u" });
    await expect(t.mutation(api.hooks.captureOdd, { kind })).rejects.toThrow(message);
    const events = await flushAndReceive(t);
    expect(events.map((e) => e.event)).toEqual(["before", "before"]);
    expect(await t.query(api.events.status, {})).toMatchObject({ pending: 0, deadLettered: 0 });
  });

  test("an oversized event is refused by the client, naming the field, before the component is called", async () => {
    const t = initTestApp();
    await t.mutation(api.events.captureMany, { event: "before", count: 1, distinctId: "u" });
    const blob = JSON.stringify({ plan: "team", blob: "x".repeat(1_100_000) });
    await expect(t.mutation(api.events.captureMany, { event: "big", count: 1, distinctId: "u", propertiesJson: blob })).rejects.toEqual(
      expect.objectContaining({ name: "PostHogInputError", field: "properties.blob", message: expect.stringMatching(/^properties\.blob: the event is 11\d{5} bytes once encoded/) }),
    );
    expect(await t.query(api.events.status, {})).toMatchObject({ pending: 1 });
    expect((await flushAndReceive(t)).map((e) => e.event)).toEqual(["before"]);
  });

  test.each(["event", "distinctId", "key", "value"] as const)(
    "text cut inside an emoji (half a surrogate pair) in the %s is refused, naming the field",
    async (field) => {
      const named = { event: "event", distinctId: "distinctId", key: 'properties.title["launch \\ud83d"]', value: "properties.title.name" }[field];
      const t = initTestApp();
      await t.mutation(api.events.captureMany, { event: "before", count: 1, distinctId: "u" });
      await expect(t.mutation(api.events.captureCutText, { field })).rejects.toEqual(
        expect.objectContaining({ name: "PostHogInputError", field: named, message: expect.stringMatching(/half of a UTF-16 surrogate pair/) }),
      );
      expect((await flushAndReceive(t)).map((e) => e.event)).toEqual(["before"]);
      expect(await t.query(api.events.status, {})).toMatchObject({ pending: 0, deadLettered: 0 });
    },
  );

  test("Date values become ISO strings, and $ keys at any depth survive", async () => {
    const t = initTestApp();
    await t.mutation(api.hooks.captureOdd, { kind: "date" });
    const [event] = await flushAndReceive(t);
    expect(event.properties.nested).toEqual({ $deep: { value: "2024-05-06T07:08:09.123Z" } });
  });
});

describe("hooks", () => {
  test("beforeSend hooks run in order, may change the event, and null drops it", async () => {
    const t = initTestApp();
    await t.mutation(api.hooks.capture, { event: "visible", distinctId: "u1" });
    await t.mutation(api.hooks.capture, { event: "secret", distinctId: "u1" });
    const events = await flushAndReceive(t);
    expect(events.map((e) => e.event)).toEqual(["visible"]);
    expect(events[0].properties).toMatchObject({ $set: { hooked: true }, seenUuid: events[0].uuid });
  });

  test("a throwing beforeSend drops the event without failing the caller", async () => {
    const t = initTestApp();
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    await t.mutation(api.hooks.capture, { event: "explode", distinctId: "u1" });
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('beforeSend threw for event "explode"'), expect.any(Error));
    expect(await flushAndReceive(t)).toEqual([]);
    warn.mockRestore();
  });

  test("a hook that leaves the event without a distinct id gets a PostHogInputError, and nothing is queued", async () => {
    const t = initTestApp();
    await expect(t.mutation(api.hooks.capture, { event: "anonymise", distinctId: "u1" })).rejects.toEqual(
      expect.objectContaining({ name: "PostHogInputError", field: "distinct_id", message: expect.stringMatching(/beforeSend hook returned ""/) }),
    );
    expect(await t.query(api.events.status, {})).toMatchObject({ pending: 0 });
  });

  test("identify supplies the distinctId only when the call gives none", async () => {
    const t = initTestApp();
    await t.mutation(api.hooks.capture, { event: "implicit" });
    await t.mutation(api.hooks.capture, { event: "explicit", distinctId: "admin-acting-for-user" });
    const events = await flushAndReceive(t);
    expect(events.map((e) => [e.event, e.distinct_id])).toEqual([
      ["implicit", "from-identify"],
      ["explicit", "admin-acting-for-user"],
    ]);
  });
});
