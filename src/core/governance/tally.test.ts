// Tallies of delivered messages: per (flag, variant, bucket) counts from `$feature/<key>`,
// exposures for the usage signal, and the prefilter that leaves other messages unparsed.
import { describe, expect, it } from "vitest";
import { buildCaptureMessage, buildExceptionMessage, encodeMessage } from "../messages.js";
import { Tallier, tallyMessages, userHash, watchIsActive, type TallyWatch } from "./tally.js";

const MINUTE = 60_000;
const T0 = Date.parse("2026-12-01T12:00:00Z");
const opts = { lib: { name: "convex-posthog", version: "0.0.0" }, now: T0 };
const watch: TallyWatch = {
  keys: ["checkout", "layout"],
  successEvent: { event: "order placed", property: "paid" },
  bucketMs: MINUTE,
  usage: true,
};

const capture = (distinctId: string, event: string, properties: Record<string, unknown>, at = T0) =>
  encodeMessage(buildCaptureMessage({ distinctId, event, properties, timestamp: at }, opts));

describe("tallyMessages", () => {
  it("counts events, exceptions, successes and users per flag, variant and bucket", () => {
    const messages = [
      capture("u1", "page viewed", { "$feature/checkout": true, "$feature/layout": "wide" }),
      capture("u1", "order placed", { "$feature/checkout": true, paid: true }, T0 + 5_000),
      capture("u2", "order placed", { "$feature/checkout": true, paid: false }),
      capture("u3", "order placed", { "$feature/checkout": false, paid: "yes" }),
      encodeMessage(buildExceptionMessage({ error: new Error("boom"), distinctId: "u2", additionalProperties: { "$feature/checkout": true } }, opts)),
      capture("u4", "page viewed", { "$feature/checkout": true }, T0 + MINUTE + 1),
    ];
    const { counts, exposures } = tallyMessages(messages, watch);
    const sorted = counts.sort((a, b) => JSON.stringify([a.key, a.variant, a.bucketStart]).localeCompare(JSON.stringify([b.key, b.variant, b.bucketStart])));
    expect(sorted).toEqual([
      { key: "checkout", variant: "false", bucketStart: T0, events: 1, exceptions: 0, successTotal: 1, successes: 0, users: [userHash("u3")] },
      { key: "checkout", variant: "true", bucketStart: T0, events: 4, exceptions: 1, successTotal: 2, successes: 1, users: [userHash("u1"), userHash("u2")] },
      { key: "checkout", variant: "true", bucketStart: T0 + MINUTE, events: 1, exceptions: 0, successTotal: 0, successes: 0, users: [userHash("u4")] },
      { key: "layout", variant: "wide", bucketStart: T0, events: 1, exceptions: 0, successTotal: 0, successes: 0, users: [userHash("u1")] },
    ]);
    expect(exposures).toEqual([]);
  });

  it("takes exposures from $feature_flag_called, which is not counted as an event", () => {
    const messages = [
      capture("u1", "$feature_flag_called", { $feature_flag: "checkout", $feature_flag_response: true, "$feature/checkout": true }, T0),
      capture("u2", "$feature_flag_called", { $feature_flag: "checkout", "$feature/checkout": true }, T0 + 9_000),
      capture("u2", "$feature_flag_called", { $feature_flag: "unwatched" }, T0 + 1_000),
    ];
    const { counts, exposures } = tallyMessages(messages, watch);
    expect(counts).toEqual([]);
    expect(exposures).toEqual([{ key: "checkout", at: T0 + 9_000 }, { key: "unwatched", at: T0 + 1_000 }]);
    expect(tallyMessages(messages, { ...watch, usage: false }).exposures).toEqual([]);
  });

  it("ignores events without the flag, values that are not a flag's answer, and unwatched flags", () => {
    const messages = [
      capture("u1", "page viewed", {}),
      capture("u1", "page viewed", { "$feature/checkout": null, "$feature/layout": 3 }),
      capture("u1", "page viewed", { "$feature/other": true }),
    ];
    expect(tallyMessages(messages, watch)).toEqual({ counts: [], exposures: [] });
  });

  it("parses only messages that name a watched flag or may be an exposure", () => {
    let parses = 0;
    const realParse = JSON.parse;
    JSON.parse = ((text: string, reviver?: Parameters<typeof realParse>[1]) => {
      parses++;
      return realParse(text, reviver);
    }) as typeof JSON.parse;
    try {
      const tallier = new Tallier({ ...watch, usage: false });
      tallier.add(capture("u1", "page viewed", { "$feature/other": true }));
      tallier.add(capture("u1", "$feature_flag_called", { $feature_flag: "other" }));
      expect(parses).toBe(0);
      tallier.add(capture("u1", "page viewed", { "$feature/layout": "wide" }));
      expect(parses).toBe(1);
    } finally {
      JSON.parse = realParse;
    }
  });

  it("merging the tallies of parts gives the tallies of the whole", () => {
    const messages = [
      capture("u1", "page viewed", { "$feature/layout": "wide", "$feature/checkout": true }),
      capture("u2", "$exception", { "$feature/layout": "wide" }),
      capture("u1", "$feature_flag_called", { $feature_flag: "layout" }),
      capture("u1", "page viewed", { "$feature/layout": "wide" }), // a user already in the first part
    ];
    const whole = tallyMessages(messages, watch);
    const tallier = new Tallier(watch);
    tallier.merge(tallyMessages(messages.slice(0, 2), watch));
    tallier.merge(tallyMessages(messages.slice(2), watch));
    const byId = (a: { key: string; variant: string }, b: { key: string; variant: string }) =>
      `${a.key}/${a.variant}`.localeCompare(`${b.key}/${b.variant}`);
    const merged = tallier.result();
    expect(merged.counts.sort(byId)).toEqual(whole.counts.sort(byId));
    expect(merged.exposures).toEqual(whole.exposures);
    expect(merged.counts.find((c) => c.key === "layout" && c.variant === "wide")).toMatchObject({ events: 3, exceptions: 1, users: [userHash("u1"), userHash("u2")] });
  });

  it("a watch with no flags and usage off is inactive", () => {
    expect(watchIsActive(undefined)).toBe(false);
    expect(watchIsActive({ keys: [], bucketMs: MINUTE, usage: false })).toBe(false);
    expect(watchIsActive({ keys: [], bucketMs: MINUTE, usage: true })).toBe(true);
    expect(watchIsActive({ keys: ["a"], bucketMs: MINUTE, usage: false })).toBe(true);
  });
});

describe("userHash", () => {
  it("is 8 hex characters, stable, and tells ids apart", () => {
    expect(userHash("user-1")).toMatch(/^[0-9a-f]{8}$/);
    expect(userHash("user-1")).toBe(userHash("user-1"));
    const hashes = new Set(Array.from({ length: 10_000 }, (_, i) => userHash(`user-${i}`)));
    expect(hashes.size).toBeGreaterThan(9_990);
    expect(userHash("")).toBe("811c9dc5");
  });
});
