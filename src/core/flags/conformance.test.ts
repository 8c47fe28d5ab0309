// Every case of the conformance vectors (computed by posthog-node 5.70.0), one test per set.
import { describe, expect, it } from "vitest";
import vectorsJson from "../../testing/fixtures/conformance-vectors.json?raw";
import { checkVectorSet } from "../../testing/conformance.js";
import type { VectorFile } from "../../testing/conformance.js";

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
