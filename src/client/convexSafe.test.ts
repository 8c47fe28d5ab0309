// Flag results and payloads returned from Convex functions. Convex refuses `$` and non-ASCII
// field names in returned values (convex-test applies the same rules), and flag payloads are
// any JSON: toConvexSafe / fromConvexSafe carry them through intact.
import { describe, expect, test } from "vitest";
import { api } from "../testing/app/_generated/api.js";
import { flushAndDrain, initTestApp, useLocalPostHog } from "../testing/setup.js";
import { fromConvexSafe, toConvexSafe, type FlagsSnapshot } from "./index.js";

const TOKEN = "phc_convex_safe";
const server = useLocalPostHog({ POSTHOG_API_KEY: TOKEN, POSTHOG_PERSONAL_API_KEY: "phx_convex_safe" });

const THEME = { $theme: "dark", "prix€": 1, layout: { columns: 3, $density: ["compact", { "größe": "L" }] } };
const definitions = {
  flags: [
    { id: 1, key: "theme", active: true, filters: { groups: [{ properties: [], rollout_percentage: 100 }], payloads: { true: JSON.stringify(THEME) } } },
    { id: 2, key: "plain", active: true, filters: { groups: [{ properties: [], rollout_percentage: 100 }], payloads: { true: JSON.stringify({ limit: 5 }) } } },
  ],
  group_type_mapping: {},
  cohorts: {},
};
const user = JSON.stringify({ distinctId: "user-1" });

async function ready() {
  server.setDefinitions(definitions, { token: TOKEN });
  const t = initTestApp();
  await t.action(api.flags.refresh, {});
  return t;
}

describe("returning flags from a query", () => {
  test("a snapshot whose payload has $ and non-ASCII keys cannot be returned as it is", async () => {
    const t = await ready();
    await expect(t.query(api.flags.rawSnapshot, { context: user })).rejects.toThrow(/Field name \$theme starts with a '\$'/);
  });

  test("a Convex-safe snapshot is returned and the caller gets every payload back intact", async () => {
    const t = await ready();
    const returned = await t.query(api.flags.safeSnapshot, { context: user });
    const snapshot = fromConvexSafe(returned);
    expect(snapshot.distinctId).toBe("user-1");
    expect(snapshot.flags.theme).toMatchObject({ key: "theme", value: true, reason: "evaluated_locally", payload: THEME });
    // What Convex can hold stays readable as it is; only the payload it cannot hold is text.
    expect((returned as unknown as FlagsSnapshot).flags.plain!.payload).toEqual({ limit: 5 });
  });

  test("a single result, a payload and getAllFlagsAndPayloads come back intact too", async () => {
    const t = await ready();
    const { result, payload, all } = await t.query(api.flags.safeReads, { key: "theme", context: user });
    expect(fromConvexSafe(result)).toMatchObject({ key: "theme", value: true, payload: THEME });
    expect(fromConvexSafe(payload)).toEqual(THEME);
    expect(fromConvexSafe(all)).toEqual({ featureFlags: { theme: true, plain: true }, featureFlagPayloads: { theme: THEME, plain: { limit: 5 } } });
  });

  test("the snapshot a browser got from the query, passed back as it came, stamps the event", async () => {
    const t = await ready();
    const returned = await t.query(api.flags.safeSnapshot, { context: user });
    await t.mutation(api.flags.captureWithSafeSnapshot, { distinctId: "user-1", event: "checkout", flags: returned });
    await flushAndDrain(t);
    const [event] = server.events(TOKEN).filter((e) => e.event === "checkout");
    expect(event!.properties).toMatchObject({ "$feature/theme": true, "$feature/plain": true, $active_feature_flags: ["plain", "theme"] });
  });
});

describe("toConvexSafe and fromConvexSafe", () => {
  const roundTrips: Array<[string, unknown]> = [
    ["plain JSON", { a: 1, b: [true, null, "x"], c: { d: "e" } }],
    ["$ keys at any depth", { ok: { $set: { $x: 1 } }, list: [{ $y: 2 }] }],
    ["non-ASCII, control and empty keys", { "é": 1, "a\nb": 2, "": 3, "🚀": [4] }],
    ["an object that has the marker's own field", { convexSafeJson: "not a marker", other: 1 }],
    ["an object that looks like a marker", { convexSafeJson: "{}" }],
    ["a long array", Array.from({ length: 9000 }, (_, i) => i)],
    ["an object with many fields", Object.fromEntries(Array.from({ length: 1100 }, (_, i) => [`k${i}`, i]))],
    ["deep nesting", JSON.parse("[".repeat(70) + "{\"$d\":1}" + "]".repeat(70))],
    ["a scalar", "text"],
    ["null", null],
  ];
  test.each(roundTrips)("%s round-trips", (_what, value) => {
    expect(fromConvexSafe(toConvexSafe(value))).toEqual(value);
  });

  test("parts Convex accepts are left as they are; undefined fields are left out", () => {
    expect(toConvexSafe({ key: "a", value: undefined, payload: { limit: 5 } })).toEqual({ key: "a", payload: { limit: 5 } });
    expect(toConvexSafe({ outer: { $x: 1 } })).toEqual({ outer: { convexSafeJson: '{"$x":1}' } });
    expect(fromConvexSafe(undefined)).toBeUndefined();
  });
});
