// The evaluation context as it crosses into the component's `flags.evaluate` query, as JSON.
//
// JSON drops a property whose value is undefined, yet `{ plan: undefined }` says something:
// posthog-node decides `is_set` (true) and `is_not_set` (false) on it, since the key is
// present. So the names of such properties travel beside the JSON and are put back, as
// present-but-undefined, on the other side.
import { encodeJson } from "./json.js";
import type { EvaluationContext } from "./flags/index.js";

export type FlagContextInput = Omit<EvaluationContext, "now">;

interface EncodedContext extends FlagContextInput {
  /** Person properties given as undefined. */
  undefinedPersonProperties?: string[];
  /** Group type to its properties given as undefined. */
  undefinedGroupProperties?: Record<string, string[]>;
}

/** JSON text of the context, keeping the names of properties that are undefined. */
export function encodeFlagContext(context: FlagContextInput): string {
  const encoded: EncodedContext = {
    distinctId: context.distinctId,
    groups: context.groups,
    personProperties: context.personProperties,
    groupProperties: context.groupProperties,
  };
  const person = undefinedKeys(context.personProperties);
  if (person.length > 0) encoded.undefinedPersonProperties = person;
  const byGroup: Array<[string, string[]]> = Object.entries(context.groupProperties ?? {})
    .map(([type, properties]): [string, string[]] => [type, undefinedKeys(properties)])
    .filter(([, keys]) => keys.length > 0);
  if (byGroup.length > 0) encoded.undefinedGroupProperties = Object.fromEntries(byGroup);
  return encodeJson(encoded, "");
}

/** The context encodeFlagContext wrote, undefined properties present again. */
export function decodeFlagContext(text: string): FlagContextInput {
  const { undefinedPersonProperties, undefinedGroupProperties, ...context } = JSON.parse(text) as EncodedContext;
  if (undefinedPersonProperties) {
    context.personProperties = withUndefined(context.personProperties ?? {}, undefinedPersonProperties);
  }
  if (undefinedGroupProperties) {
    const groupProperties = { ...context.groupProperties };
    for (const [type, keys] of Object.entries(undefinedGroupProperties)) {
      defineOwn(groupProperties, type, withUndefined(groupProperties[type] ?? {}, keys));
    }
    context.groupProperties = groupProperties;
  }
  return context;
}

function undefinedKeys(properties: Record<string, unknown> | undefined): string[] {
  if (typeof properties !== "object" || properties === null) return [];
  return Object.keys(properties).filter((key) => properties[key] === undefined);
}

function withUndefined(properties: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  const copy = { ...properties };
  for (const key of keys) defineOwn(copy, key, undefined);
  return copy;
}

/**
 * Set `key` as an own, enumerable property, also when it is "__proto__" (a plain assignment
 * would change the object's prototype instead, or do nothing).
 */
export function defineOwn<T>(target: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}
