import { afterEach, describe, expect, it } from "vitest";
import {
  PostHogInputError,
  buildAliasMessage,
  buildCaptureMessage,
  buildExceptionMessage,
  buildGroupIdentifyMessage,
  buildIdentifyMessage,
  encodeMessage,
  MAX_MESSAGE_BYTES,
  resolveTimestamp,
  type BuildOptions,
  type PostHogMessage,
} from "./messages.js";
import { encodeJson } from "./json.js";

const NOW = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
const opts: BuildOptions = { lib: { name: "convex-posthog", version: "9.9.9" }, now: NOW };
const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const SDK_PROPS = { $lib: "convex-posthog", $lib_version: "9.9.9", $is_server: true, $geoip_disable: true };

/** The message as PostHog receives it. */
const roundTrip = (message: PostHogMessage): Record<string, any> => JSON.parse(encodeMessage(message));

function inputError(fn: () => unknown): PostHogInputError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(PostHogInputError);
    expect(error).toBeInstanceOf(Error);
    expect((error as PostHogInputError).kind).toBe("invalid_input");
    expect((error as PostHogInputError).name).toBe("PostHogInputError");
    return error as PostHogInputError;
  }
  throw new Error("expected a PostHogInputError");
}

describe("buildCaptureMessage", () => {
  it("builds the /batch/ message shape", () => {
    const message = buildCaptureMessage(
      { distinctId: "user-42", event: "order_placed", properties: { amount: 12.5 } },
      opts,
    );
    expect(message).toEqual({
      event: "order_placed",
      distinct_id: "user-42",
      properties: { amount: 12.5, ...SDK_PROPS },
      timestamp: "2026-01-02T03:04:05.678Z",
      uuid: expect.stringMatching(UUID_V7),
    });
    expect(Object.keys(message.properties)).toEqual(["amount", "$lib", "$lib_version", "$is_server", "$geoip_disable"]);
  });

  it("stamps SDK properties last so callers cannot override them", () => {
    const message = buildCaptureMessage(
      { distinctId: "u", event: "e", properties: { $lib: "mine", $lib_version: "0", $is_server: false, $geoip_disable: false } },
      opts,
    );
    expect(message.properties).toEqual(SDK_PROPS);
  });

  it("leaves $geoip_disable out (keeping the caller's) only when disableGeoip is false", () => {
    expect(buildCaptureMessage({ distinctId: "u", event: "e", disableGeoip: true }, opts).properties.$geoip_disable).toBe(true);
    const enabled = buildCaptureMessage({ distinctId: "u", event: "e", disableGeoip: false }, opts);
    expect(enabled.properties).not.toHaveProperty("$geoip_disable");
    const kept = buildCaptureMessage(
      { distinctId: "u", event: "e", disableGeoip: false, properties: { $geoip_disable: "custom" } },
      opts,
    );
    expect(kept.properties.$geoip_disable).toBe("custom");
  });

  it("adds $groups only for a non-empty groups map, replacing a caller's $groups", () => {
    const withGroups = buildCaptureMessage(
      { distinctId: "u", event: "e", groups: { company: "acme", team: 7 }, properties: { $groups: { old: "x" } } },
      opts,
    );
    expect(withGroups.properties.$groups).toEqual({ company: "acme", team: 7 });
    expect(buildCaptureMessage({ distinctId: "u", event: "e", groups: {} }, opts).properties).not.toHaveProperty("$groups");
    const callerOnly = buildCaptureMessage({ distinctId: "u", event: "e", groups: {}, properties: { $groups: { a: "b" } } }, opts);
    expect(callerOnly.properties.$groups).toEqual({ a: "b" });
  });

  it("keeps $-prefixed keys at every depth, through encoding", () => {
    const properties = {
      $set: { email: "a@b.c", $initial_referrer: "x" },
      $set_once: { $first_seen: "2025" },
      nested: { $deep: { $deeper: [{ $inArray: 1 }] } },
      $current_url: "https://example.com",
    };
    const received = roundTrip(buildCaptureMessage({ distinctId: "u", event: "e", properties }, opts));
    expect(received.properties).toEqual({ ...properties, ...SDK_PROPS });
  });

  it("does not modify the caller's properties object", () => {
    const properties = { a: 1 };
    buildCaptureMessage({ distinctId: "u", event: "e", properties, groups: { g: "k" } }, opts);
    expect(properties).toEqual({ a: 1 });
  });

  it("requires a non-empty distinctId and event name", () => {
    for (const distinctId of [undefined, "", "   ", 42, null]) {
      const error = inputError(() => buildCaptureMessage({ distinctId, event: "e" } as never, opts));
      expect(error.field).toBe("distinctId");
      expect(error.message).toMatch(/^distinctId: must be a non-empty string/);
    }
    for (const event of [undefined, "", "\t"]) {
      expect(inputError(() => buildCaptureMessage({ distinctId: "u", event } as never, opts)).field).toBe("event");
    }
    // sent as given, not trimmed
    expect(buildCaptureMessage({ distinctId: " u ", event: "e" }, opts).distinct_id).toBe(" u ");
  });

  it("rejects properties and groups of the wrong shape", () => {
    expect(inputError(() => buildCaptureMessage({ distinctId: "u", event: "e", properties: [1] } as never, opts)).field).toBe(
      "properties",
    );
    expect(inputError(() => buildCaptureMessage({ distinctId: "u", event: "e", properties: "x" } as never, opts)).field).toBe(
      "properties",
    );
    expect(inputError(() => buildCaptureMessage({ distinctId: "u", event: "e", groups: { company: {} } } as never, opts)).field).toBe(
      "groups.company",
    );
  });
});

describe("timestamps", () => {
  it("defaults to opts.now", () => {
    expect(buildCaptureMessage({ distinctId: "u", event: "e" }, opts).timestamp).toBe("2026-01-02T03:04:05.678Z");
  });

  it("converts Dates, ISO strings and epoch milliseconds to UTC ISO-8601", () => {
    const at = (timestamp: Date | string | number) => buildCaptureMessage({ distinctId: "u", event: "e", timestamp }, opts).timestamp;
    expect(at(new Date(Date.UTC(2024, 4, 6, 7, 8, 9, 10)))).toBe("2024-05-06T07:08:09.010Z");
    expect(at("2024-05-06T09:08:09.010+02:00")).toBe("2024-05-06T07:08:09.010Z");
    expect(at("2024-05-06T07:08:09Z")).toBe("2024-05-06T07:08:09.000Z");
    expect(at(Date.UTC(2020, 0, 1))).toBe("2020-01-01T00:00:00.000Z");
    expect(at(0)).toBe("1970-01-01T00:00:00.000Z");
  });

  it("keeps more than three fractional digits of a string, as posthog-node", () => {
    expect(resolveTimestamp("2024-05-06T07:08:09.123456Z", NOW)).toBe("2024-05-06T07:08:09.123456Z");
    expect(resolveTimestamp("2024-05-06T09:08:09.123456789+02:00", NOW)).toBe("2024-05-06T07:08:09.123456789Z");
    expect(resolveTimestamp("2024-05-06T07:08:09.12Z", NOW)).toBe("2024-05-06T07:08:09.120Z");
  });

  it("rejects values that are not a point in time", () => {
    for (const timestamp of ["not a date", "", new Date(Number.NaN), Number.NaN, Infinity, true, {}]) {
      const error = inputError(() => buildCaptureMessage({ distinctId: "u", event: "e", timestamp } as never, opts));
      expect(error.field).toBe("timestamp");
    }
  });
});

describe("uuid", () => {
  it("keeps a caller's valid UUID of any version, as given", () => {
    for (const uuid of [
      "0190b2a4-7c3e-7d2f-9e4b-1a2b3c4d5e6f",
      "3F2504E0-4F89-41D3-9A0C-0305E82C3301",
      "00000000-0000-0000-0000-000000000000",
    ]) {
      expect(buildCaptureMessage({ distinctId: "u", event: "e", uuid }, opts).uuid).toBe(uuid);
    }
  });

  it("generates a fresh UUIDv7 otherwise", () => {
    const a = buildCaptureMessage({ distinctId: "u", event: "e", uuid: "not-a-uuid" }, opts).uuid;
    const b = buildCaptureMessage({ distinctId: "u", event: "e" }, opts).uuid;
    expect(a).toMatch(UUID_V7);
    expect(b).toMatch(UUID_V7);
    expect(a).not.toBe(b);
  });
});

describe("buildIdentifyMessage", () => {
  it("treats plain properties as $set", () => {
    const message = buildIdentifyMessage({ distinctId: "user-1", properties: { email: "a@b.c", plan: "pro" } }, opts);
    expect(message).toMatchObject({ event: "$identify", distinct_id: "user-1" });
    expect(message.properties).toEqual({ $set: { email: "a@b.c", plan: "pro" }, $set_once: {}, ...SDK_PROPS });
  });

  it("uses $set and $set_once as given, and drops other plain properties (as posthog-node)", () => {
    const message = buildIdentifyMessage(
      { distinctId: "u", properties: { $set: { a: 1 }, $set_once: { b: 2 }, ignored: true } },
      opts,
    );
    expect(message.properties).toEqual({ $set: { a: 1 }, $set_once: { b: 2 }, ...SDK_PROPS });
  });

  it("passes $anon_distinct_id through when given", () => {
    const message = buildIdentifyMessage({ distinctId: "u", properties: { $anon_distinct_id: "anon-1", name: "N" } }, opts);
    expect(message.properties).toEqual({ $set: { name: "N" }, $set_once: {}, $anon_distinct_id: "anon-1", ...SDK_PROPS });
    const none = buildIdentifyMessage({ distinctId: "u", properties: { $anon_distinct_id: null } }, opts);
    expect(none.properties).not.toHaveProperty("$anon_distinct_id");
  });

  it("works without properties and requires a distinctId", () => {
    expect(buildIdentifyMessage({ distinctId: "u" }, opts).properties).toEqual({ $set: {}, $set_once: {}, ...SDK_PROPS });
    expect(inputError(() => buildIdentifyMessage({ distinctId: "" }, opts)).field).toBe("distinctId");
  });
});

describe("buildAliasMessage", () => {
  it("builds $create_alias", () => {
    const message = buildAliasMessage({ distinctId: "user-1", alias: "anon-9", disableGeoip: false }, opts);
    expect(message).toMatchObject({ event: "$create_alias", distinct_id: "user-1" });
    expect(message.properties).toEqual({
      distinct_id: "user-1",
      alias: "anon-9",
      $lib: "convex-posthog",
      $lib_version: "9.9.9",
      $is_server: true,
    });
  });

  it("requires both ids", () => {
    expect(inputError(() => buildAliasMessage({ distinctId: "u", alias: " " }, opts)).field).toBe("alias");
    expect(inputError(() => buildAliasMessage({ distinctId: "", alias: "a" }, opts)).field).toBe("distinctId");
  });
});

describe("buildGroupIdentifyMessage", () => {
  it("sends as $<type>_<key> without a distinctId", () => {
    const message = buildGroupIdentifyMessage({ groupType: "company", groupKey: "acme", properties: { seats: 5 } }, opts);
    expect(message).toMatchObject({ event: "$groupidentify", distinct_id: "$company_acme" });
    expect(message.properties).toEqual({
      $group_type: "company",
      $group_key: "acme",
      $group_set: { seats: 5 },
      ...SDK_PROPS,
    });
  });

  it("uses a given distinctId, defaults $group_set to {}, accepts numeric keys", () => {
    const message = buildGroupIdentifyMessage({ groupType: "team", groupKey: 12, distinctId: "user-1" }, opts);
    expect(message.distinct_id).toBe("user-1");
    expect(message.properties).toMatchObject({ $group_key: 12, $group_set: {} });
    expect(buildGroupIdentifyMessage({ groupType: "team", groupKey: 12 }, opts).distinct_id).toBe("$team_12");
  });

  it("validates its fields", () => {
    expect(inputError(() => buildGroupIdentifyMessage({ groupType: "", groupKey: "k" }, opts)).field).toBe("groupType");
    expect(inputError(() => buildGroupIdentifyMessage({ groupType: "t", groupKey: "" }, opts)).field).toBe("groupKey");
    expect(inputError(() => buildGroupIdentifyMessage({ groupType: "t", groupKey: "k", distinctId: "" }, opts)).field).toBe(
      "distinctId",
    );
  });
});

describe("buildExceptionMessage", () => {
  afterEach(() => {
    delete process.env.POSTHOG_RELEASE_ID;
  });

  it("builds $exception with the exception list and level", () => {
    const error = new TypeError("bad thing", { cause: new Error("root cause") });
    const message = buildExceptionMessage({ error, distinctId: "user-1" }, opts);
    expect(message).toMatchObject({ event: "$exception", distinct_id: "user-1" });
    const list = message.properties.$exception_list as Array<Record<string, any>>;
    expect(list.map((entry) => [entry.type, entry.value, entry.mechanism.type])).toEqual([
      ["TypeError", "bad thing", "generic"],
      ["Error", "root cause", "chained"],
    ]);
    expect(message.properties.$exception_level).toBe("error");
    expect(message.properties).not.toHaveProperty("$process_person_profile");
    expect(message.properties).toMatchObject(SDK_PROPS);
  });

  it("generates an anonymous id without person processing when no distinctId is given", () => {
    const message = buildExceptionMessage({ error: "oops" }, opts);
    expect(message.distinct_id).toMatch(UUID_V7);
    expect(message.properties.$process_person_profile).toBe(false);
    expect(inputError(() => buildExceptionMessage({ error: "oops", distinctId: " " }, opts)).field).toBe("distinctId");
  });

  it("lets additional properties override the exception's own", () => {
    const message = buildExceptionMessage(
      { error: new Error("x"), distinctId: "u", additionalProperties: { $exception_level: "warning", route: "/a" } },
      opts,
    );
    expect(message.properties).toMatchObject({ $exception_level: "warning", route: "/a" });
  });

  it("adds $release_id from POSTHOG_RELEASE_ID", () => {
    process.env.POSTHOG_RELEASE_ID = "  rel-123 ";
    expect(buildExceptionMessage({ error: "x", distinctId: "u" }, opts).properties.$release_id).toBe("rel-123");
  });

  it("gives values without a stack the stack of the code that asked for the capture", () => {
    const message = buildExceptionMessage({ error: "just a string", distinctId: "u" }, opts);
    const [entry] = message.properties.$exception_list as Array<Record<string, any>>;
    expect(entry).toMatchObject({ type: "Error", value: "just a string", mechanism: { synthetic: true } });
    const frames = entry.stacktrace.frames as Array<Record<string, any>>;
    // Outermost first: the innermost frame is this test, not the SDK.
    expect(frames[frames.length - 1]!.filename).toMatch(/messages\.test\.ts$/);
    expect(frames.some((frame) => /core[/\\]messages\.ts$/.test(frame.filename))).toBe(false);
  });

  it("describes plain objects as posthog-node does", () => {
    const list = (input: unknown) =>
      buildExceptionMessage({ error: input, distinctId: "u" }, opts).properties.$exception_list as Array<Record<string, any>>;
    expect(list({ message: "quota" })[0]).toMatchObject({ type: "Error", value: "quota" });
    expect(list({ name: "Quota", message: "m" })[0]).toMatchObject({
      type: "Quota",
      value: "'Quota' captured as exception with message: 'm'",
    });
    expect(list({ a: 1 })[0]).toMatchObject({ value: "Object captured as exception with keys: a" });
  });
});

describe("encodeMessage", () => {
  const base = (properties: Record<string, unknown>) => buildCaptureMessage({ distinctId: "u", event: "e", properties }, opts);

  it("produces exactly JSON.stringify's text for plain JSON data", () => {
    const message = base({ s: "x\u2028\"", n: -0.5, b: false, z: null, a: [1, "2", [3]], o: { "k e y": { $x: 1 } }, e: "" });
    expect(encodeMessage(message)).toBe(JSON.stringify(message));
  });

  it("writes Dates anywhere as ISO strings", () => {
    const when = new Date(Date.UTC(2025, 1, 3, 4, 5, 6, 7));
    const received = roundTrip(base({ when, list: [when], deep: { when } }));
    expect(received.properties).toMatchObject({
      when: "2025-02-03T04:05:06.007Z",
      list: ["2025-02-03T04:05:06.007Z"],
      deep: { when: "2025-02-03T04:05:06.007Z" },
    });
  });

  it("follows JSON for undefined, holes, non-finite numbers and toJSON", () => {
    // eslint-disable-next-line no-sparse-arrays
    const received = roundTrip(base({ gone: undefined, arr: [undefined, , 1], nan: Number.NaN, inf: -Infinity, custom: { toJSON: () => "custom!" } }));
    expect(received.properties).not.toHaveProperty("gone");
    expect(received.properties).toMatchObject({ arr: [null, null, 1], nan: null, inf: null, custom: "custom!" });
  });

  it("sends Errors as name, message and stack (as posthog-node)", () => {
    const error = new RangeError("too big");
    expect(roundTrip(base({ error })).properties.error).toEqual({ name: "RangeError", message: "too big", stack: error.stack });
  });

  it("allows the same object twice when it is not a cycle", () => {
    const shared = { v: 1 };
    expect(roundTrip(base({ a: shared, b: [shared, shared] })).properties).toMatchObject({ a: { v: 1 }, b: [{ v: 1 }, { v: 1 }] });
  });

  const bad: Array<[string, Record<string, unknown>, string, RegExp]> = [
    ["a function", { user: { callback: () => 1 } }, "properties.user.callback", /functions cannot be sent to PostHog/],
    ["a symbol", { tags: ["ok", Symbol("no")] }, "properties.tags[1]", /symbols cannot be sent/],
    ["a BigInt", { big: { n: 10n } }, "properties.big.n", /BigInt values cannot be sent/],
    ["an invalid Date", { at: new Date("nope") }, "properties.at", /invalid Date/],
    ["a key that is not an identifier", { "odd key": { fn: () => 1 } }, 'properties["odd key"].fn', /functions/],
  ];
  for (const [what, properties, field, pattern] of bad) {
    it(`rejects ${what}, naming its path`, () => {
      const error = inputError(() => encodeMessage(base(properties)));
      expect(error.field).toBe(field);
      expect(error.message).toBe(`${field}: ${error.message.slice(field.length + 2)}`);
      expect(error.message).toMatch(pattern);
    });
  }

  it("rejects cyclic objects, naming where the cycle closes", () => {
    const user: Record<string, unknown> = { name: "n" };
    user.self = { again: user };
    const error = inputError(() => encodeMessage(base({ user })));
    expect(error.field).toBe("properties.user.self.again");
    expect(error.message).toMatch(/cyclic/);
    const list: unknown[] = [1];
    list.push(list);
    expect(inputError(() => encodeMessage(base({ list }))).field).toBe("properties.list[1]");
  });

  it("checks top-level fields too", () => {
    const message = { ...base({}), distinct_id: 5n } as unknown as PostHogMessage;
    expect(inputError(() => encodeMessage(message)).field).toBe("distinct_id");
  });

  it("keeps emoji and other complete surrogate pairs, and refuses half of one (a hook may add it)", () => {
    expect(roundTrip(base({ title: "launch 🚀", "🚀": 1 })).properties).toMatchObject({ title: "launch 🚀", "🚀": 1 });
    const cut = "launch 🚀".slice(0, 8);
    expect(inputError(() => encodeMessage(base({ list: ["ok", cut] }))).field).toBe("properties.list[1]");
    expect(inputError(() => encodeMessage({ ...base({}), distinct_id: "\udc00" })).field).toBe("distinct_id");
    // Flag contexts are not stored: encodeJson keeps its JSON.stringify behaviour there.
    expect(encodeJson({ name: cut })).toBe(JSON.stringify({ name: cut }));
  });

  it("refuses an event over MAX_MESSAGE_BYTES, naming where its bytes are", () => {
    const big = "é".repeat(MAX_MESSAGE_BYTES / 2);
    expect(encodeMessage(base({ big: big.slice(0, -200) }))).toContain('"big":"é');
    expect(inputError(() => encodeMessage(base({ note: "n", big }))).field).toBe("properties.big");
    const items = Array.from({ length: 3 }, () => "x".repeat(MAX_MESSAGE_BYTES / 2));
    expect(inputError(() => encodeMessage(base({ nested: { items } }))).field).toBe("properties.nested.items");
  });

  it("names the value itself when encoding a bare value", () => {
    expect(inputError(() => encodeJson(() => 1)).field).toBe("(value)");
    expect(inputError(() => encodeJson({ f: () => 1 }, "payload")).field).toBe("payload.f");
    expect(encodeJson(undefined)).toBe("null");
  });
});
