// The scanner that splits a /flags/definitions answer finds exactly the parts JSON.parse
// finds, on varied documents (escapes, unicode, nesting, odd whitespace), and refuses
// malformed ones; parseDefinitions keeps each definition as JSON.parse would read it.
import { describe, expect, test } from "vitest";
import { parseDefinitions, storedDefinition } from "./definitionsTransport.js";
import { evaluationForm, type FlagDefinition } from "./flags/index.js";
import { arrayElements, documentSpan, objectMembers, spanText } from "./jsonParts.js";
import { Random } from "../testing/random.js";

const utf8 = new TextEncoder();

const STRING_PIECES = ["plain", "", 'quote"inside', "back\\slash", "\\\"", "tab\t", "new\nline", "\u0000\u001f", "é€", "日本語", "😀 pair", "\ud83d", "}{][,:", "\\u0041", "/"];

function randomString(random: Random): string {
  return Array.from({ length: random.int(0, 3) }, () => random.pick(STRING_PIECES)).join("");
}

function randomValue(random: Random, depth: number): unknown {
  const roll = random.int(0, depth > 3 ? 4 : 6);
  switch (roll) {
    case 0:
      return randomString(random);
    case 1:
      return random.pick([0, -1, 1.5, 1e21, -2.5e-7, 123456789]);
    case 2:
      return random.pick([true, false]);
    case 3:
      return null;
    case 4:
      return random.int(0, 1000);
    case 5:
      return Array.from({ length: random.int(0, 4) }, () => randomValue(random, depth + 1));
    default:
      return Object.fromEntries(Array.from({ length: random.int(0, 4) }, () => [randomString(random), randomValue(random, depth + 1)]));
  }
}

/** JSON text with random whitespace between tokens (JSON.stringify's indent, then extra). */
function withWhitespace(random: Random, value: unknown): string {
  const indent = random.pick([undefined, 1, "\t", "  \r\n"] as const);
  return `${random.pick(["", " ", "\n\t "])}${JSON.stringify(value, null, indent as string | number | undefined)}${random.pick(["", " \n"])}`;
}

describe("the JSON scanner", () => {
  test("finds the same members and elements as JSON.parse, on 300 random documents", () => {
    const random = new Random(20_261_201);
    for (let round = 0; round < 300; round++) {
      const document = {
        flags: Array.from({ length: random.int(0, 6) }, () => randomValue(random, 1)),
        cohorts: Object.fromEntries(Array.from({ length: random.int(0, 4) }, () => [randomString(random), randomValue(random, 1)])),
        [randomString(random)]: randomValue(random, 0),
      };
      const text = withWhitespace(random, document);
      const bytes = utf8.encode(text);
      const parsed = JSON.parse(text) as Record<string, unknown>;
      const members = objectMembers(bytes, documentSpan(bytes));
      expect(members.map((m) => m.name)).toEqual(Object.keys(parsed));
      for (const { name, value } of members) expect(JSON.parse(spanText(bytes, value))).toEqual(parsed[name]);
      const flags = members.find((m) => m.name === "flags")!.value;
      expect(arrayElements(bytes, flags).map((span) => JSON.parse(spanText(bytes, span)))).toEqual(parsed.flags);
      const cohorts = objectMembers(bytes, members.find((m) => m.name === "cohorts")!.value);
      expect(Object.fromEntries(cohorts.map(({ name, value }) => [name, JSON.parse(spanText(bytes, value))]))).toEqual(parsed.cohorts);
    }
  });

  test("a byte-order mark and scalars at the top are read as JSON.parse reads them", () => {
    for (const text of ["\ufeff[1, 2]", " 42 ", '"a\\"b"', "[]", "{}", "[[], {}, [[]]]"]) {
      const bytes = utf8.encode(text);
      const span = documentSpan(bytes);
      expect(JSON.parse(spanText(bytes, span))).toEqual(JSON.parse(text.replace(/^\ufeff/, "")));
    }
    expect(arrayElements(utf8.encode("[[], {}, [[]]]"), { start: 0, end: 14 }).length).toBe(3);
  });

  test.each([
    ["unterminated string", '{"flags": ["abc]}'],
    ["unterminated object", '{"flags": []'],
    ["mismatched brackets", '{"flags": [}]'],
    ["missing comma", '{"flags": [1 2]}'],
    ["trailing comma", '{"flags": [1,]}'],
    ["missing colon", '{"flags" []}'],
    ["unquoted name", "{flags: []}"],
    ["data after the document", '{"flags": []} x'],
    ["empty", "  "],
  ])("refuses malformed JSON: %s", (_, text) => {
    const outcome = parseDefinitions(utf8.encode(text));
    expect(outcome).toEqual({ kind: "failed", failure: "invalid_response", httpStatus: 200, error: "invalid definitions response: not JSON" });
    expect(() => JSON.parse(text)).toThrow();
  });
});

describe("parseDefinitions on bytes", () => {
  test("keeps each flag's evaluation form and each cohort as JSON.parse reads them, last repeated key winning", () => {
    const flags: FlagDefinition[] = [
      { id: 1, key: "a", name: "drop me", team_id: 2, active: true, filters: { groups: [{ properties: [{ key: "$email", type: "person", value: "é\"😀" }] }], payloads: { true: '{"$x":1}' } } },
      { id: 2, key: "日本", active: false, evaluation_tags: ["x"], evaluation_runtime: "client", ensure_experience_continuity: true },
      { id: 3, key: "a", active: true, has_experiment: true, bucketing_identifier: "device_id", filters: {} },
    ];
    const cohorts = { "7": { type: "OR", values: [{ type: "AND", values: [{ key: "plan", value: ["pro"] }] }] }, "8": null };
    const text = JSON.stringify({ flags, group_type_mapping: { "0": "company", "1": 5 }, cohorts, property_matching_version: 2, minimal_flag_called_events: true }, null, 2);
    const outcome = parseDefinitions(utf8.encode(text), "etag-1");
    if (outcome.kind !== "ok") throw new Error(JSON.stringify(outcome));
    const { definitions } = outcome;
    expect(outcome.etag).toBe("etag-1");
    expect(definitions.flags.map((part) => part.name)).toEqual(["a", "日本"]);
    expect(definitions.flags.map((part) => JSON.parse(storedDefinition(definitions, "flag", part)))).toEqual([evaluationForm(flags[2]!), evaluationForm(flags[1]!)]);
    expect(JSON.parse(storedDefinition(definitions, "flag", definitions.flags[1]!))).toEqual({
      id: 2,
      key: "日本",
      active: false,
      evaluation_runtime: "client",
      ensure_experience_continuity: true,
    });
    expect(Object.fromEntries(definitions.cohorts.map((part) => [part.name, JSON.parse(storedDefinition(definitions, "cohort", part))]))).toEqual({
      "7": cohorts["7"],
      "8": {},
    });
    expect(definitions.groupTypeMapping).toEqual({ "0": "company" });
    expect(definitions.propertyMatchingVersion).toBe(2);
    expect(definitions.minimalFlagCalledEvents).toBe(true);
    // Sizes and hashes are those of the stored text.
    const stored = storedDefinition(definitions, "flag", definitions.flags[0]!);
    expect(definitions.flags[0]!.bytes).toBe(utf8.encode(stored).length);
    expect(new Set(definitions.flags.map((part) => part.hash)).size).toBe(2);
  });

  test.each([
    ["no flags array", '{"flags": {}}', "no flags array"],
    ["a flag without key", '{"flags": [{"key": "a"}, {"id": 1}]}', "flags[1] has no key"],
    ["cohorts not an object", '{"flags": [], "cohorts": [1]}', "cohorts is not an object"],
    ["a mapping that is not an object", '{"flags": [], "group_type_mapping": "x"}', "group_type_mapping is not an object"],
    ["not an object", "[1]", "not a JSON object"],
    ["invalid JSON inside a flag", '{"flags": [{"key": "a", "x": tru}]}', "not JSON"],
    ["invalid JSON in a member nobody reads", '{"flags": [], "other": [01]}', "not JSON"],
  ])("refuses %s", (_, text, why) => {
    expect(parseDefinitions(utf8.encode(text))).toMatchObject({ kind: "failed", failure: "invalid_response", error: `invalid definitions response: ${why}` });
  });
});
