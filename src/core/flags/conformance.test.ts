// Every case of the conformance vectors (computed by posthog-node 5.70.0), one test per set.
import { describe, expect, it } from "vitest";
import vectorsJson from "../../testing/fixtures/conformance-vectors.json?raw";
import { checkVectorSet } from "../../testing/conformance.js";
import type { DefinitionsResponse, VectorFile } from "../../testing/conformance.js";
import { parseDefinitions, storedDefinition } from "../definitionsTransport.js";
import type { FlagDefinition, PropertyGroup } from "./index.js";

const vectors = JSON.parse(vectorsJson) as VectorFile;
const now = Date.parse(vectors.now);

describe("conformance vectors", () => {
  it("runs where a date-time without an offset is UTC, as in Convex and the vectors", () => {
    // If this fails, run the tests with TZ=UTC.
    expect(new Date("2025-06-01 10:00:00").getTime()).toBe(Date.UTC(2025, 5, 1, 10));
  });

  it("covers the whole file", () => {
    expect(vectors.sets).toHaveLength(200);
    expect(vectors.sets.reduce((total, set) => total + set.cases.length, 0)).toBe(7752);
  });

  for (const set of vectors.sets) {
    it(`${set.id} (${set.cases.length} cases)`, () => {
      const report = checkVectorSet(set, now);
      expect(report.failures).toEqual([]);
      expect(report.passed).toBe(set.cases.length);
    });
  }
});

// The same cases on what a refresh stores: each answer split by the scanner and reduced to
// the evaluation form (definitionsTransport.ts), as the component's rows and packs hold it.
describe("conformance vectors on the stored definitions", () => {
  const utf8 = new TextEncoder();
  for (const set of vectors.sets) {
    it(`${set.id} (${set.cases.length} cases)`, () => {
      const outcome = parseDefinitions(utf8.encode(JSON.stringify(set.definitions)));
      if (outcome.kind !== "ok") throw new Error(JSON.stringify(outcome));
      const { definitions } = outcome;
      const stored: DefinitionsResponse = {
        flags: definitions.flags.map((part) => JSON.parse(storedDefinition(definitions, "flag", part)) as FlagDefinition),
        cohorts: Object.fromEntries(definitions.cohorts.map((part) => [part.name, JSON.parse(storedDefinition(definitions, "cohort", part)) as PropertyGroup])),
        group_type_mapping: definitions.groupTypeMapping,
        ...(definitions.propertyMatchingVersion !== undefined && { property_matching_version: definitions.propertyMatchingVersion }),
      };
      const report = checkVectorSet({ ...set, definitions: stored }, now);
      expect(report.failures).toEqual([]);
      expect(report.passed).toBe(set.cases.length);
    });
  }
});
