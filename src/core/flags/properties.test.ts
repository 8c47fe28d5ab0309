import { describe, expect, it } from "vitest";
import { relativeDateTime } from "./dates.js";
import { matchProperty } from "./properties.js";
import type { MatchOutcome } from "./properties.js";
import { compilePattern } from "./regex.js";
import { caretRange, parseSemver, tildeRange, wildcardRange } from "./semver.js";
import type { FlagProperty } from "./types.js";
import type { EvaluatorReason } from "./unresolved.js";

const NOW = Date.UTC(2025, 2, 31, 12); // 2025-03-31T12:00:00Z

type Readable = boolean | EvaluatorReason | "regex";

/** The outcome as one word: true/false, or the unresolved reason ("regex" for unportable regexes). */
function match(
  operator: string | undefined,
  filter: unknown,
  actual: unknown,
  options: { version?: number; now?: number; absent?: boolean } = {},
): Readable {
  const property: FlagProperty = { key: "prop", value: filter, type: "person" };
  if (operator !== undefined) property.operator = operator;
  const values = options.absent ? {} : { prop: actual };
  const outcome: MatchOutcome = matchProperty(property, values, options.version, options.now ?? NOW);
  if (typeof outcome === "boolean") return outcome;
  return outcome.regex ? "regex" : outcome.reason;
}

describe("exact / is_not truth table (§4.8), legacy and property_matching_version 2", () => {
  const table: Array<[filter: unknown, actual: unknown, legacy: Readable, v2: Readable]> = [
    [false, "banana", true, false],
    [false, 0, true, false],
    [["true", "false"], "true", false, true],
    [["true", "false"], "pro", true, false],
    [[], true, true, true],
    [[], [], true, true],
    [true, [true], true, false],
    [false, "FALSE", true, true],
    [false, null, true, false],
    [false, "", true, false],
    [[], [true, ["TRUE", []]], true, true],
    [[], [true, false], false, false],
    [[], false, false, false],
    [[], 0, false, false],
    [[], "banana", false, false],
    [[true, "PRO"], "TRUE", true, true],
    [[false, "PRO"], "banana", false, false],
    [["FREE", "PRO"], "pro", true, true],
    ["Ä", "ä", true, true],
    ["5", 5, "missing_context", "missing_context"],
    ["1.5", 1.5, true, true],
    ["null", null, true, true],
  ];
  it.each(table)("exact %j vs %j: legacy %s, v2 %s", (filter, actual, legacy, v2) => {
    expect(match("exact", filter, actual)).toBe(legacy);
    expect(match("exact", filter, actual, { version: 1 })).toBe(legacy);
    expect(match("exact", filter, actual, { version: 2 })).toBe(v2);
    const negated = (outcome: Readable) => (typeof outcome === "boolean" ? !outcome : outcome);
    expect(match("is_not", filter, actual)).toBe(negated(legacy));
    expect(match("is_not", filter, actual, { version: 2 })).toBe(negated(v2));
  });

  it("treats a missing or empty operator as exact", () => {
    expect(match(undefined, "pro", "PRO")).toBe(true);
    expect(match("", "pro", "free")).toBe(false);
  });

  it("leaves integers unresolved: in the filter it is the definition, in the context the context", () => {
    expect(match("exact", 5, "5")).toBe("unsupported_definition");
    expect(match("exact", ["a", 5], "b")).toBe("unsupported_definition");
    expect(match("exact", ["a", 5], "a")).toBe(true); // a match before the integer decides
    expect(match("exact", ["42"], 42)).toBe("missing_context");
    expect(match("exact", 42, 42)).toBe("unsupported_definition"); // the definition outranks
    expect(match("exact", "x", [1.5, 2])).toBe("missing_context");
  });

  it("compares composites as canonical JSON with sorted keys", () => {
    expect(match("exact", '{"a":"x","b":1.5}', { b: 1.5, a: "x" })).toBe(true);
    expect(match("exact", '["A",true,null]', ["a", true, null])).toBe(true);
  });

  it("cannot spell lone surrogates or non-finite numbers", () => {
    expect(match("exact", "\ud800", "x")).toBe("unsupported_definition");
    expect(match("exact", "x", "\udc00")).toBe("missing_context");
    expect(match("exact", true, Number.NaN)).toBe("missing_context");
  });
});

describe("presence, null and undefined", () => {
  it("leaves an absent key unresolved for every operator, is_not_set included", () => {
    for (const operator of ["exact", "is_set", "is_not_set", "icontains", "gt", "regex"]) {
      expect(match(operator, "x", undefined, { absent: true })).toBe("missing_context");
    }
  });

  it("reports an unusable filter before a missing key", () => {
    expect(match("is_date_exact", "2025-01-01", undefined, { absent: true })).toBe("unsupported_definition");
    expect(match("semver_eq", "01.2.3", undefined, { absent: true })).toBe("unsupported_definition");
  });

  it("is_set holds for any present key, null included; is_not_set never holds locally", () => {
    expect(match("is_set", "is_set", null)).toBe(true);
    expect(match("is_not_set", "is_not_set", null)).toBe(false);
    expect(match("is_not_set", "is_not_set", "x")).toBe(false);
  });

  it("reads null as the string 'null' for string operators and as false otherwise", () => {
    expect(match("icontains", "NUL", null)).toBe(true);
    expect(match("not_icontains", "x", null)).toBe(true);
    expect(match("regex", "^null$", null)).toBe(true);
    expect(match("gt", 1, null)).toBe(false);
    expect(match("is_date_before", "2025-01-01", null)).toBe(false);
    expect(match("semver_eq", "1.0.0", null)).toBe(false);
    expect(match("is_date_exact", "2025-01-01", null)).toBe(false); // even an unknown operator
  });

  it("blames the definition for an undefined value (posthog-node's choice)", () => {
    expect(match("exact", "x", undefined)).toBe("unsupported_definition");
  });

  it("leaves unknown operators unresolved", () => {
    for (const operator of ["is_date_exact", "in", "not_in", "min", "flag_evaluates_to"]) {
      expect(match(operator, "x", "x")).toBe("unsupported_definition");
    }
  });
});

describe("string operators", () => {
  it("fold ASCII case only", () => {
    expect(match("icontains", "EXAMPLE", "bob@example.com")).toBe(true);
    expect(match("icontains", "É", "é")).toBe(false);
    expect(match("starts_with", "BOB", "bob@x")).toBe(true);
    expect(match("ends_with", ".COM", "a.com")).toBe(true);
    expect(match("not_ends_with", ".com", "a.org")).toBe(true);
    expect(match("not_starts_with", "a", "abc")).toBe(false);
  });

  it("stringify non-strings like JavaScript's String()", () => {
    expect(match("icontains", "3", 323)).toBe(true);
    expect(match("icontains", "a,b", ["a", "b"])).toBe(true);
    expect(match("icontains", "object", { a: 1 })).toBe(true);
    expect(match("starts_with", "tru", true)).toBe(true);
  });
});

describe("numeric operators", () => {
  it("compare numbers when both sides parse, leading-number style", () => {
    expect(match("gt", 9, "10")).toBe(true);
    expect(match("gt", "100", "123aloha")).toBe(true);
    expect(match("lte", 42.5, 42.5)).toBe(true);
    expect(match("lt", "1e3", 999)).toBe(true);
  });

  it("fall back to UTF-16 string order otherwise", () => {
    expect(match("gt", "30", true)).toBe(true); // "true" > "30"
    expect(match("gt", "abc", "abd")).toBe(true);
    expect(match("lt", "abc", 5)).toBe(true); // "5" < "abc"
  });
});

describe("dates", () => {
  const at = (iso: string) => Date.parse(iso);

  it("reads relative filters back from now, the sign meaning nothing", () => {
    expect(relativeDateTime("-7d", NOW)).toBe(at("2025-03-24T12:00:00Z"));
    expect(relativeDateTime("7d", NOW)).toBe(at("2025-03-24T12:00:00Z"));
    expect(relativeDateTime("12h", NOW)).toBe(at("2025-03-31T00:00:00Z"));
    expect(relativeDateTime("-2w", NOW)).toBe(at("2025-03-17T12:00:00Z"));
    expect(relativeDateTime("9999h", NOW)).toBe(NOW - 9999 * 3_600_000);
  });

  it("clamps the day after every month step", () => {
    expect(relativeDateTime("-1m", NOW)).toBe(at("2025-02-28T12:00:00Z"));
    expect(relativeDateTime("-2m", NOW)).toBe(at("2025-01-28T12:00:00Z"));
    expect(relativeDateTime("-13m", NOW)).toBe(at("2024-02-28T12:00:00Z"));
    expect(relativeDateTime("-1y", Date.UTC(2024, 1, 29, 6))).toBe(at("2023-02-28T06:00:00Z"));
    expect(relativeDateTime("-4y", Date.UTC(2024, 1, 29, 6))).toBe(at("2020-02-28T06:00:00Z"));
  });

  it("does not read other forms as relative", () => {
    for (const text of ["10000d", "7x", "-1D", "d", "1.5d", " 7d"]) expect(relativeDateTime(text, NOW)).toBeUndefined();
  });

  it("compares strictly", () => {
    expect(match("is_date_before", "-1m", "2025-02-28T11:59:59Z")).toBe(true);
    expect(match("is_date_before", "-1m", "2025-02-28T12:00:00Z")).toBe(false);
    expect(match("is_date_after", "2025-03-01", "2025-03-01T00:00:00.001Z")).toBe(true);
    expect(match("is_date_after", "2025-03-01", "2025-03-01")).toBe(false);
  });

  it("accepts what the platform Date parser accepts, and epoch milliseconds", () => {
    expect(match("is_date_after", "2025-03-01", "Mon, 03 Mar 2025 10:00:00 GMT")).toBe(true);
    expect(match("is_date_after", "2025-03-01", Date.UTC(2025, 2, 2))).toBe(true);
    expect(match("is_date_before", Date.UTC(2025, 0, 1), "2024-12-31")).toBe(true);
    expect(match("is_date_before", "2025-01-01T00:00:00+02:00", "2024-12-31T23:00:00Z")).toBe(false);
  });

  it("blames an unusable filter on the definition and an unusable value on the context", () => {
    expect(match("is_date_before", "not a date", "2025-01-01")).toBe("unsupported_definition");
    expect(match("is_date_before", "10000d", "2025-01-01")).toBe("unsupported_definition");
    expect(match("is_date_before", true, "2025-01-01")).toBe("unsupported_definition");
    expect(match("is_date_before", "-7d", "yesterday")).toBe("missing_context");
    expect(match("is_date_before", "-7d", true)).toBe("missing_context");
    expect(match("is_date_before", "nope", "nope")).toBe("unsupported_definition");
  });
});

describe("semver", () => {
  it("parses strictly", () => {
    expect(parseSemver("1.2.3")).toEqual([1, 2, 3]);
    expect(parseSemver(" V1.3 ")).toEqual([1, 3, 0]);
    expect(parseSemver("1.2.3-rc.1+build")).toEqual([1, 2, 3]);
    expect(parseSemver("1.2.3.4")).toEqual([1, 2, 3]);
    expect(parseSemver("1..2")).toEqual([1, 0, 2]);
    expect(parseSemver("10")).toEqual([10, 0, 0]);
    for (const invalid of ["01.2.3", "1.02", "", ".1", "abc", "1.x", "-1.2", "v"]) {
      expect(parseSemver(invalid)).toBeUndefined();
    }
  });

  it("computes tilde, caret and wildcard ranges", () => {
    expect(tildeRange("1.2.3")).toEqual({ lower: [1, 2, 3], upper: [1, 3, 0] });
    expect(caretRange("1.2.3")).toEqual({ lower: [1, 2, 3], upper: [2, 0, 0] });
    expect(caretRange("0.2.3")).toEqual({ lower: [0, 2, 3], upper: [0, 3, 0] });
    expect(caretRange("0.0.3")).toEqual({ lower: [0, 0, 3], upper: [0, 0, 4] });
    expect(wildcardRange("1.*")).toEqual({ lower: [1, 0, 0], upper: [2, 0, 0] });
    expect(wildcardRange("v1.2.*")).toEqual({ lower: [1, 2, 0], upper: [1, 3, 0] });
    expect(wildcardRange("1.2.3")).toEqual({ lower: [1, 2, 0], upper: [1, 3, 0] });
    expect(wildcardRange("*")).toBeUndefined();
    expect(wildcardRange("1.*.*")).toBeUndefined();
  });

  it("applies the operators", () => {
    expect(match("semver_eq", "1.2.3", "v1.2.3-beta")).toBe(true);
    expect(match("semver_neq", "1.2.3", "1.2.4")).toBe(true);
    expect(match("semver_gt", "1.2.3", "1.10.0")).toBe(true);
    expect(match("semver_lte", "1.2", "1.2.0")).toBe(true);
    expect(match("semver_tilde", "1.2.3", "1.2.9")).toBe(true);
    expect(match("semver_tilde", "1.2.3", "1.3.0")).toBe(false);
    expect(match("semver_caret", "0.2.3", "0.2.9")).toBe(true);
    expect(match("semver_caret", "0.2.3", "0.3.0")).toBe(false);
    expect(match("semver_wildcard", "2.*", "2.9.9")).toBe(true);
    expect(match("semver_eq", "3", 3)).toBe(true);
  });

  it("blames a bad filter before a bad value", () => {
    expect(match("semver_eq", "01.2.3", "1.2.3")).toBe("unsupported_definition");
    expect(match("semver_eq", "1.2.3", "01.2.3")).toBe("missing_context");
    expect(match("semver_caret", "x", "y")).toBe("unsupported_definition");
    expect(match("semver_wildcard", "1.*", "abc")).toBe("missing_context");
  });
});

describe("regex portability (§4.11)", () => {
  it.each([
    ["^a", "portable"],
    ["foo|bar", "portable"],
    ["\\d+\\.\\w*", "portable"],
    ["[a-z]+@[\\w.]+", "portable"],
    ["(?:ab)+", "portable"],
    ["x{2,3}", "portable"],
    ["\\x41", "portable"],
    ["[\\b]", "portable"],
    ["", "everything"],
    ["(", "invalid"],
    ["a{2", "server"], // Rust reads it literally, JavaScript does not
    ["\\", "invalid"],
    ["(?i)abc", "server"],
    ["(?=x)", "server"],
    ["(?<name>x)", "server"],
    ["\\bword", "server"],
    ["\\p{L}", "server"],
    ["é", "server"],
    ["a{2}+", "server"],
    ["a*+", "server"],
    ["[[a]]", "server"],
    ["[a&&b]", "server"],
    ["[]", "server"],
    ["[^]", "server"],
    ["{2}", "server"],
    ["a|{2}", "server"],
    ["^?", "server"],
    ["()*", "server"],
    ["(?:)+", "server"],
    ["[\\s-9]", "server"],
    ["a{4294967296}", "server"],
    ["\\xZZ", "server"],
  ])("%j is %s", (pattern, kind) => {
    expect(compilePattern(pattern).kind).toBe(kind);
  });

  it("decides portable patterns on ASCII subjects, and defers everything else", () => {
    expect(match("regex", "^a.c$", "abc")).toBe(true);
    expect(match("not_regex", "^a.c$", "abc")).toBe(false);
    expect(match("regex", "abc", "ABC")).toBe(false); // case-sensitive
    expect(match("regex", "b", "abc")).toBe(true); // unanchored search
    expect(match("regex", "abc", "héllo")).toBe("regex");
    expect(match("regex", "abc", "a\rb")).toBe("regex");
    expect(match("regex", "(?i)abc", "abc")).toBe("regex");
    expect(match("regex", "", "héllo")).toBe(true); // the empty pattern is decided first
    expect(match("not_regex", "", "x")).toBe(false);
  });

  it("makes both regex and not_regex false for a pattern JavaScript cannot compile", () => {
    expect(match("regex", "(", "(")).toBe(false);
    expect(match("not_regex", "(", "x")).toBe(false);
  });
});
