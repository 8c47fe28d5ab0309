// What validating one event costs by itself: `taxonomy.check` of the capture-cost bench's
// "page viewed" event in a tight loop, in plain Node (no vitest, no edge-runtime, no loader).
//
// captureCost.bench.test.ts bundles this file with esbuild and runs the bundle with `node`:
//   node <bundle>.mjs run [checks] [rounds]
// The last line of stdout is `TAXONOMY_CHECK <json>` (a TaxonomyCheckResult).
import { median } from "./harness.js";
import { PAGE_VIEWED_PROPERTIES, pageViewedEvents } from "./pageViewed.js";

export interface TaxonomyCheckResult {
  checks: number;
  rounds: number;
  /** Microseconds per check in each timed round. */
  roundMicrosPerCheck: number[];
  /** The median of roundMicrosPerCheck. */
  microsPerCheck: number;
  /** The fastest round: the least disturbed by other work on the machine. */
  fastestMicrosPerCheck: number;
  /** Problems found over all timed checks of the conforming event; must be 0. */
  problems: number;
  /** What check says about a breaking event (a string where a number belongs): must not be empty. */
  breakingEventProblems: string[];
}

export function measureTaxonomyCheck(checks = 10_000, rounds = 9): TaxonomyCheckResult {
  // One object per check, as each capture brings its own (built before the clock starts).
  const events = Array.from({ length: checks }, (_, i) => ({ ...PAGE_VIEWED_PROPERTIES, i }));
  const pass = () => {
    let problems = 0;
    const started = performance.now();
    for (const properties of events) problems += pageViewedEvents.check("page viewed", properties).length;
    return { micros: ((performance.now() - started) * 1000) / checks, problems };
  };
  for (let i = 0; i < 3; i++) pass(); // warm-up: the JIT
  const timed = Array.from({ length: rounds }, pass);
  const roundMicrosPerCheck = timed.map((round) => round.micros);
  return {
    checks,
    rounds,
    roundMicrosPerCheck,
    microsPerCheck: median(roundMicrosPerCheck),
    fastestMicrosPerCheck: Math.min(...roundMicrosPerCheck),
    problems: timed.reduce((sum, round) => sum + round.problems, 0),
    breakingEventProblems: pageViewedEvents.check("page viewed", { ...PAGE_VIEWED_PROPERTIES, seats: "25", i: 0 }),
  };
}

if (process.argv[2] === "run") {
  const result = measureTaxonomyCheck(Number(process.argv[3] ?? 10_000), Number(process.argv[4] ?? 9));
  console.log(`TAXONOMY_CHECK ${JSON.stringify(result)}`);
}
