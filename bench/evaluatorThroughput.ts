// Evaluator throughput in plain Node (no vitest, no edge-runtime, no loader): our FlagEvaluator
// against posthog-node 5.70's local evaluation, on the same generated definitions and the same
// (flag, context) calls, evaluated one after another.
//
// flags.bench.test.ts bundles this file with esbuild and runs the bundle with `node`:
//   node <bundle>.mjs run <flagCount>[,<flagCount>...] [calls] [rounds]
// The last line of stdout is `THROUGHPUT <json>` (a ThroughputResult per flag count).
// Timings are reported, never judged here; every call's value is compared between the two
// systems (they must agree) and the disagreements are counted.
import { PostHog } from "posthog-node";
import { FlagEvaluator } from "../src/core/flags/index.js";
import { definitionSourceFromResponse, INCONCLUSIVE } from "../src/testing/conformance.js";
import { generateContexts, generateProject, planCall } from "./flagsProject.js";
import { median } from "./harness.js";

export interface ThroughputSide {
  /** Evaluations per second in each timed round. */
  roundRates: number[];
  /** The median of roundRates. */
  medianRate: number;
  /** Evaluations timed, over all rounds. */
  evaluations: number;
}

export interface ThroughputResult {
  flags: number;
  cohorts: number;
  /** Distinct (flag, context) calls; each round evaluates all of them. */
  calls: number;
  contexts: number;
  rounds: number;
  ours: ThroughputSide;
  posthogNode: ThroughputSide;
  /** Calls whose values differ between the two systems; must be 0. */
  disagreements: number;
  firstDisagreements: Array<{ key: string; distinctId: string; ours: unknown; posthogNode: unknown }>;
  /** How the calls' values split: true/false, a variant key, or not locally decidable. */
  valueMix: { true: number; false: number; variant: number; inconclusive: number };
}

/** Minimum time of each round's run of ours. */
const OURS_ROUND_MS = 250;

export async function measureThroughput(flagCount: number, callCount = 4_000, rounds = 5): Promise<ThroughputResult> {
  const definitions = generateProject(flagCount);
  const contexts = generateContexts(500);
  const calls = Array.from({ length: callCount }, (_, i) => planCall(i, flagCount, contexts));

  // Ours: definitions indexed once (as posthog-node's poller holds them), and one new
  // evaluator per call, as posthog-node evaluates each getFeatureFlag call on its own.
  const source = definitionSourceFromResponse(definitions);
  const evaluateOurs = (i: number): unknown => {
    const { key, context } = calls[i]!;
    const result = new FlagEvaluator(source, { ...context, now: Date.now() }).evaluate(key);
    return result.resolved ? result.value : INCONCLUSIVE;
  };

  // posthog-node: local evaluation only, definitions from a fake fetch, nothing sent.
  const body = JSON.stringify(definitions);
  const client = new PostHog("phc_bench_throughput", {
    personalApiKey: "phx_bench_throughput",
    fetch: (async (url: string) => {
      if (!new URL(url).pathname.endsWith("/flags/definitions")) throw new Error(`offline bench: unexpected request to ${url}`);
      return { status: 200, headers: { get: () => null }, json: async () => JSON.parse(body), text: async () => body };
    }) as never,
    featureFlagsPollingInterval: 86_400_000,
    fetchRetryCount: 0,
    disableGeoip: true,
  });
  await client.reloadFeatureFlags();
  const evaluateNode = async (i: number): Promise<unknown> => {
    const { key, context } = calls[i]!;
    const value = await client.getFeatureFlag(key, context.distinctId, {
      ...(context.groups && { groups: context.groups }),
      ...(context.personProperties && { personProperties: context.personProperties as Record<string, string> }),
      ...(context.groupProperties && { groupProperties: context.groupProperties as Record<string, Record<string, string>> }),
      onlyEvaluateLocally: true,
      sendFeatureFlagEvents: false,
    });
    return value === undefined ? INCONCLUSIVE : value;
  };

  const oursValues: unknown[] = new Array(callCount);
  const nodeValues: unknown[] = new Array(callCount);

  // Warm-up (JIT, posthog-node's lazy setup): a fifth of the calls each.
  for (let i = 0; i < callCount / 5; i++) evaluateOurs(i);
  for (let i = 0; i < callCount / 5; i++) await evaluateNode(i);

  // Timed rounds. The machine may be busy with other work, so the two systems take turns:
  // each round runs one posthog-node pass over all calls, then as many passes of ours as
  // fill OURS_ROUND_MS (ours is much faster: one pass would be too short to time well).
  const oursRates: number[] = [];
  const nodeRates: number[] = [];
  let oursEvaluations = 0;
  for (let round = 0; round < rounds; round++) {
    let start = performance.now();
    for (let i = 0; i < callCount; i++) nodeValues[i] = await evaluateNode(i);
    nodeRates.push((callCount / (performance.now() - start)) * 1000);

    let evaluated = 0;
    start = performance.now();
    do {
      for (let i = 0; i < callCount; i++) oursValues[i] = evaluateOurs(i);
      evaluated += callCount;
    } while (performance.now() - start < OURS_ROUND_MS);
    oursRates.push((evaluated / (performance.now() - start)) * 1000);
    oursEvaluations += evaluated;
  }
  await client.shutdown();

  // Every call's value, as each system last computed it.
  const firstDisagreements: ThroughputResult["firstDisagreements"] = [];
  let disagreements = 0;
  const valueMix = { true: 0, false: 0, variant: 0, inconclusive: 0 };
  for (let i = 0; i < callCount; i++) {
    const ours = oursValues[i];
    if (ours === true) valueMix.true++;
    else if (ours === false) valueMix.false++;
    else if (ours === INCONCLUSIVE) valueMix.inconclusive++;
    else valueMix.variant++;
    if (ours !== nodeValues[i]) {
      disagreements++;
      if (firstDisagreements.length < 10) {
        firstDisagreements.push({ key: calls[i]!.key, distinctId: calls[i]!.context.distinctId, ours, posthogNode: nodeValues[i] });
      }
    }
  }
  const side = (rates: number[], evaluations: number): ThroughputSide => ({
    roundRates: rates.map(Math.round),
    medianRate: Math.round(median(rates)),
    evaluations,
  });
  return {
    flags: flagCount,
    cohorts: Object.keys(definitions.cohorts ?? {}).length,
    calls: callCount,
    contexts: contexts.length,
    rounds,
    ours: side(oursRates, oursEvaluations),
    posthogNode: side(nodeRates, rounds * callCount),
    disagreements,
    firstDisagreements,
    valueMix,
  };
}

// As a script: `run <flagCount>[,<flagCount>...] [calls] [rounds]`, one JSON line at the end.
if (process.argv[2] === "run") {
  const flagCounts = (process.argv[3] ?? "1000").split(",").map(Number);
  const callCount = Number(process.argv[4] ?? 4_000);
  const rounds = Number(process.argv[5] ?? 5);
  // posthog-node may log on some paths; stdout is kept for the result line.
  console.log = console.info = console.warn = console.debug = () => {};
  const results: ThroughputResult[] = [];
  for (const flagCount of flagCounts) results.push(await measureThroughput(flagCount, callCount, rounds));
  process.stdout.write(`THROUGHPUT ${JSON.stringify({ node: process.version, results })}\n`);
}
