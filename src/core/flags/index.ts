// Local feature-flag evaluation identical to posthog-node 5.70, as pure synchronous code that
// runs anywhere (Convex queries included): no Node APIs, no network, no clock of its own.

export type {
  DefinitionSource,
  EvaluationContext,
  FlagCondition,
  FlagDefinition,
  FlagFilters,
  FlagHoldout,
  FlagProperty,
  FlagResult,
  FlagValue,
  FlagVariant,
  PropertyGroup,
  UnresolvedReason,
} from "./types.js";
export { FlagEvaluator } from "./evaluate.js";
export { evaluationForm } from "./evaluationForm.js";
export { resolvePayload } from "./payload.js";
export { referencesOfCohort, referencesOfFlag } from "./references.js";
export type { References } from "./references.js";
