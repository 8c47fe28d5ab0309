// Checks the evaluator against conformance vectors: files of definition sets and cases whose
// expected results posthog-node 5.70 produced (format: shared/conformance/README.md). Used by
// the vitest suite and by `npm run conformance -- <file>`, so both judge the same way.

import { FlagEvaluator } from "../core/flags/evaluate.js";
import type { DefinitionSource, EvaluationContext, FlagDefinition, FlagResult, PropertyGroup } from "../core/flags/types.js";

/** The vectors' stand-in for posthog-node's `undefined` ("not locally decidable"). */
export const INCONCLUSIVE = "INCONCLUSIVE";

export interface DefinitionsResponse {
  flags: FlagDefinition[];
  group_type_mapping?: Record<string, string>;
  cohorts?: Record<string, PropertyGroup>;
  property_matching_version?: number;
}

interface VectorCaseBase {
  distinctId: string;
  groups?: Record<string, string>;
  personProperties?: Record<string, unknown>;
  groupProperties?: Record<string, Record<string, unknown>>;
}

export type VectorCase =
  | (VectorCaseBase & { kind: "flag"; key: string; expected: unknown })
  | (VectorCaseBase & { kind: "payload"; key: string; expected: unknown })
  | (VectorCaseBase & {
      kind: "all";
      expected: Record<string, unknown>;
      expected_payloads?: Record<string, unknown>;
      unresolved_reasons?: Record<string, string>;
    });

export interface VectorSet {
  id: string;
  definitions: DefinitionsResponse;
  cases: VectorCase[];
}

export interface VectorFile {
  now: string;
  sets: VectorSet[];
}

export interface VectorFailure {
  setId: string;
  caseIndex: number;
  kind: VectorCase["kind"];
  key?: string;
  expected: unknown;
  got: unknown;
}

export interface VectorReport {
  passed: number;
  failed: number;
  failures: VectorFailure[];
}

/** A DefinitionSource over a whole `/flags/definitions` response. */
export function definitionSourceFromResponse(response: DefinitionsResponse): DefinitionSource {
  const flags = new Map<string, FlagDefinition>();
  for (const flag of response.flags) flags.set(flag.key, flag); // a repeated key: the last wins
  const cohorts = response.cohorts ?? {};
  return {
    flag: (key) => flags.get(key),
    cohort: (id) => (Object.prototype.hasOwnProperty.call(cohorts, id) ? cohorts[id] : undefined),
    groupTypeMapping: response.group_type_mapping ?? {},
    ...(response.property_matching_version !== undefined && {
      propertyMatchingVersion: response.property_matching_version,
    }),
  };
}

export function checkVectorFile(file: VectorFile): VectorReport {
  const now = Date.parse(file.now);
  const report: VectorReport = { passed: 0, failed: 0, failures: [] };
  for (const set of file.sets) {
    const setReport = checkVectorSet(set, now);
    report.passed += setReport.passed;
    report.failed += setReport.failed;
    report.failures.push(...setReport.failures);
  }
  return report;
}

export function checkVectorSet(set: VectorSet, now: number): VectorReport {
  const source = definitionSourceFromResponse(set.definitions);
  const report: VectorReport = { passed: 0, failed: 0, failures: [] };
  set.cases.forEach((vectorCase, caseIndex) => {
    const failure = checkCase(source, set.definitions, vectorCase, now);
    if (failure === undefined) {
      report.passed++;
    } else {
      report.failed++;
      report.failures.push({ setId: set.id, caseIndex, kind: vectorCase.kind, ...failure });
    }
  });
  return report;
}

function contextOf(vectorCase: VectorCaseBase, now: number): EvaluationContext {
  return {
    distinctId: vectorCase.distinctId,
    now,
    ...(vectorCase.groups !== undefined && { groups: vectorCase.groups }),
    ...(vectorCase.personProperties !== undefined && { personProperties: vectorCase.personProperties }),
    ...(vectorCase.groupProperties !== undefined && { groupProperties: vectorCase.groupProperties }),
  };
}

function checkCase(
  source: DefinitionSource,
  definitions: DefinitionsResponse,
  vectorCase: VectorCase,
  now: number,
): Pick<VectorFailure, "key" | "expected" | "got"> | undefined {
  const evaluator = new FlagEvaluator(source, contextOf(vectorCase, now));
  switch (vectorCase.kind) {
    case "flag": {
      const result = evaluator.evaluate(vectorCase.key);
      const got = result.resolved ? result.value : INCONCLUSIVE;
      return sameJson(got, vectorCase.expected)
        ? undefined
        : { key: vectorCase.key, expected: vectorCase.expected, got };
    }
    case "payload": {
      const result = evaluator.evaluate(vectorCase.key);
      const got = result.resolved ? result.payload : INCONCLUSIVE;
      return sameJson(got, vectorCase.expected)
        ? undefined
        : { key: vectorCase.key, expected: vectorCase.expected, got };
    }
    case "all": {
      const got = allFlags(evaluator, definitions, vectorCase.distinctId);
      // Report only the entries that differ, per map, so a failure reads at a glance.
      const expectedDiff: Record<string, Record<string, unknown>> = {};
      const gotDiff: Record<string, Record<string, unknown>> = {};
      const compare = (
        name: string,
        expected: Record<string, unknown> | undefined,
        actual: Record<string, unknown>,
      ) => {
        if (expected === undefined) return;
        for (const key of new Set([...Object.keys(expected), ...Object.keys(actual)])) {
          const inExpected = Object.prototype.hasOwnProperty.call(expected, key);
          const inActual = Object.prototype.hasOwnProperty.call(actual, key);
          if (inExpected === inActual && sameJson(expected[key], actual[key])) continue;
          (expectedDiff[name] ??= {})[key] = inExpected ? expected[key] : "(absent)";
          (gotDiff[name] ??= {})[key] = inActual ? actual[key] : "(absent)";
        }
      };
      compare("values", vectorCase.expected, got.values);
      compare("payloads", vectorCase.expected_payloads, got.payloads);
      compare("reasons", vectorCase.unresolved_reasons, got.reasons);
      return Object.keys(expectedDiff).length === 0 ? undefined : { expected: expectedDiff, got: gotDiff };
    }
  }
}

/**
 * What posthog-node's getAllFlags / getAllFlagsAndPayloads / evaluateFlags report for one
 * context with onlyEvaluateLocally, every key filled in (undecided => INCONCLUSIVE).
 */
function allFlags(evaluator: FlagEvaluator, definitions: DefinitionsResponse, distinctId: string) {
  const values: Record<string, unknown> = {};
  const payloads: Record<string, unknown> = {};
  const reasons: Record<string, string> = {};
  for (const flag of definitions.flags) {
    // Quirk of the caller, not of evaluation: posthog-node's getAllFlags answers {} for an
    // empty distinct id ("distinctId is required") while getFeatureFlag evaluates it normally.
    if (distinctId === "") {
      values[flag.key] = INCONCLUSIVE;
      continue;
    }
    const result: FlagResult = evaluator.evaluate(flag.key);
    if (result.resolved) {
      values[flag.key] = result.value;
      // getAllFlagsAndPayloads leaves out every falsy payload (0, false, "", null).
      if (result.payload) payloads[flag.key] = result.payload;
    } else {
      values[flag.key] = INCONCLUSIVE;
      reasons[flag.key] = result.reason;
    }
  }
  return { values, payloads, reasons };
}

/** Deep equality of JSON values, object key order ignored. */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) {
    return typeof a === "number" && typeof b === "number" && Number.isNaN(a) && Number.isNaN(b);
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((item, index) => sameJson(item, b[index]));
  }
  const aKeys = Object.keys(a);
  const bKeys = Object.keys(b);
  if (aKeys.length !== bKeys.length) return false;
  return aKeys.every(
    (key) =>
      Object.prototype.hasOwnProperty.call(b, key) &&
      sameJson((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]),
  );
}
