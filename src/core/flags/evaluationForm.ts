// What evaluation reads of a flag definition. PostHog sends more (name, team, version, tags,
// descriptions...); storing only this keeps the rows every getAllFlags reads small.
import type { FlagDefinition } from "./types.js";

/** Every top-level field the evaluator (and the component's clientOnly check) reads. */
const EVALUATED_FIELDS = [
  "id",
  "key",
  "active",
  "ensure_experience_continuity",
  "bucketing_identifier",
  "has_experiment",
  "evaluation_runtime",
  "filters",
] as const;

/** The flag with only the fields evaluation reads, values untouched: evaluates exactly as the full definition. */
export function evaluationForm(flag: FlagDefinition): FlagDefinition {
  const form: Record<string, unknown> = {};
  for (const field of EVALUATED_FIELDS) {
    if (Object.prototype.hasOwnProperty.call(flag, field)) form[field] = flag[field];
  }
  return form as FlagDefinition;
}
