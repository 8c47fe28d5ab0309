// Usage: npm run conformance -- <vectors.json>
//
// Evaluates every case of a conformance vector file (format: shared/conformance/README.md) with
// the clock at the file's `now`, prints each failure and a final "N passed, M failed" line, and
// exits with 1 when anything failed. The checking logic is shared with the vitest suite
// (src/core/flags/conformance.ts). Note the `all` cases: posthog-node's getAllFlags returns {}
// for an empty distinct id, so the checker reports every key INCONCLUSIVE there; that is the
// caller's rule (getFeatureFlag does evaluate ""), and the evaluator itself has no such rule.

// Vectors read date-times without an offset as UTC, as the Convex runtime does. Node applies a
// TZ change at once, before any date is parsed below.
process.env.TZ = "UTC";

import { readFileSync } from "node:fs";
import { checkVectorFile } from "../src/testing/conformance.js";
import type { VectorFile } from "../src/testing/conformance.js";

const path = process.argv[2];
if (!path) {
  console.error("usage: npm run conformance -- <vectors.json>");
  process.exit(2);
}

const file = JSON.parse(readFileSync(path, "utf8")) as VectorFile;
const report = checkVectorFile(file);
for (const failure of report.failures) {
  const target = failure.key !== undefined ? ` key=${failure.key}` : "";
  console.log(`FAIL ${failure.setId} case ${failure.caseIndex} (${failure.kind}${target})`);
  console.log(`  expected: ${JSON.stringify(failure.expected)}`);
  console.log(`  got:      ${JSON.stringify(failure.got)}`);
}
console.log(`${report.passed} passed, ${report.failed} failed`);
process.exit(report.failed > 0 ? 1 : 0);
