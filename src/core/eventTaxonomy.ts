// A typed event taxonomy: the events an app captures, with their properties as Convex validators.
//
// The compiler checks `capture` calls against it (TypedCaptureArgs) and `check` validates the
// properties at run time, because they often come from outside the type system (a client, a
// webhook). `$`-prefixed properties are PostHog's own (`$set`, `$current_url`, ...): always
// allowed, never checked, and refused as custom names (Convex refuses `$` field names in
// function arguments too). Pure apart from building validators with `v`.

import { v, type GenericValidator, type ObjectType, type PropertyValidators, type Validator } from "convex/values";
import { PostHogInputError, childPath } from "./json.js";
import { describeValidator, validateFields } from "./validate.js";

export interface EventDefinition {
  properties?: PropertyValidators;
  description?: string;
  owner?: string;
  /** Whether undeclared (non-`$`) properties are problems; defaults to the taxonomy's `strict`. */
  strict?: boolean;
}

/** PostHog's own properties: any `$` key, untyped apart from the common ones. */
export type DollarProperties = {
  $set?: Record<string, unknown>;
  $set_once?: Record<string, unknown>;
  $unset?: string[];
  $current_url?: string;
  $ip?: string;
  [key: `$${string}`]: unknown;
};

// An event's validators: the common ones and its own.
type FieldsOf<D, C extends PropertyValidators> = C & (D extends { readonly properties: infer P extends PropertyValidators } ? P : {});
/** The properties of event N, as TypeScript. */
export type EventProperties<D, C extends PropertyValidators = {}> = ObjectType<FieldsOf<D, C>>;
// `properties` may be left out when nothing in it is required.
type PropertiesArgument<P> = {} extends P ? { properties?: P & DollarProperties } : { properties: P & DollarProperties };

/** One declared event as the union validator describes it. */
export type TypedEvent<E, C extends PropertyValidators = {}> = {
  [N in keyof E & string]: { event: N } & PropertiesArgument<EventProperties<E[N], C>>;
}[keyof E & string];

export interface EventTaxonomy<
  E extends Record<string, EventDefinition> = Record<string, EventDefinition>,
  C extends PropertyValidators = {},
> {
  readonly events: E;
  readonly common: C;
  readonly names: readonly (keyof E & string)[];
  /** Problems with an event's properties, each naming its path; `[]` when it conforms. `$` keys are skipped. */
  check(event: string, properties: unknown): string[];
  /** `v.object` of the event's properties (common ones included), for an app's function arguments. */
  validator<N extends keyof E & string>(name: N): Validator<EventProperties<E[N], C>, "required", string>;
  /** `v.union` of `v.object({ event: v.literal(name), properties })` over every event. */
  union(): Validator<TypedEvent<E, C>, "required", string>;
}

/** The untyped default: any event name, any properties. */
export type UntypedEventTaxonomy = EventTaxonomy;

/**
 * The capture arguments a taxonomy allows: per declared event, `Base` with that `event` and its
 * properties. Exactly `Base` for the untyped default (or no taxonomy). Base stays a parameter so
 * this module needs no client types.
 */
export type TypedCaptureArgs<T, Base> = [T] extends [{ readonly events: infer E; readonly common: infer C extends PropertyValidators }]
  ? string extends keyof E
    ? Base
    : { [N in keyof E & string]: Omit<Base, "event" | "properties"> & { event: N } & PropertiesArgument<EventProperties<E[N], C>> }[keyof E &
        string]
  : Base;

// A `$` property name gets this message as its expected type, so the compiler error names it.
type NoDollarNames<P> = { [K in keyof P]: K extends `$${string}` ? `custom property "${K}" must not start with "$"` : P[K] };
type CheckedEvents<E> = { [N in keyof E]: E[N] extends { readonly properties: infer P } ? { properties: NoDollarNames<P> } : E[N] };

/** Declares the app's events. Throws PostHogInputError naming the problem when the taxonomy is bad. */
export function defineEvents<const E extends Record<string, EventDefinition>, const C extends PropertyValidators = {}>(config: {
  common?: C & NoDollarNames<C>;
  events: E & CheckedEvents<E>;
  /** Whether undeclared (non-`$`) properties are problems (default true). */
  strict?: boolean;
}): EventTaxonomy<E, C> {
  const common: PropertyValidators = config.common ?? {};
  checkFields("common", common);
  const fieldsByEvent = new Map<string, PropertyValidators>();
  for (const [name, definition] of Object.entries(config.events)) {
    if (name === "") throw new PostHogInputError('events[""]', "event name must not be empty");
    const properties = definition.properties ?? {};
    const path = childPath(childPath("events", name), "properties");
    checkFields(path, properties);
    for (const [property, validator] of Object.entries(properties)) {
      const shared = common[property];
      if (shared !== undefined && fieldText(shared) !== fieldText(validator)) {
        throw new PostHogInputError(
          childPath(path, property),
          `redeclares the common property ${fieldText(shared)} as ${fieldText(validator)}`,
        );
      }
    }
    fieldsByEvent.set(name, { ...common, ...properties });
  }

  const fieldsOf = (name: string): PropertyValidators => {
    const fields = fieldsByEvent.get(name);
    if (!fields) throw new PostHogInputError("event", `event "${name}" is not declared in the event taxonomy`);
    return fields;
  };
  const propertiesValidator = (name: string): GenericValidator => {
    const object = v.object(fieldsOf(name));
    // Optional when nothing in it is required, as in TypedCaptureArgs.
    return Object.values(fieldsOf(name)).every((field) => field.isOptional === "optional") ? v.optional(object) : object;
  };

  return {
    events: config.events,
    common: (config.common ?? {}) as C,
    names: [...fieldsByEvent.keys()],
    check(event, properties) {
      if (!fieldsByEvent.has(event)) return [`event "${event}" is not declared in the event taxonomy`];
      const strict = config.events[event]!.strict ?? config.strict ?? true;
      const own = isObject(properties) ? Object.fromEntries(Object.entries(properties).filter(([key]) => !key.startsWith("$"))) : properties;
      return validateFields(fieldsOf(event), own ?? {}, { path: "properties", allowUndeclaredFields: !strict });
    },
    validator: (name) => v.object(fieldsOf(name)) as never,
    union: () => v.union(...[...fieldsByEvent.keys()].map((name) => v.object({ event: v.literal(name), properties: propertiesValidator(name) }))) as never,
  };
}

function checkFields(path: string, fields: PropertyValidators) {
  for (const [name, validator] of Object.entries(fields)) {
    if (name.startsWith("$")) {
      throw new PostHogInputError(childPath(path, name), 'custom property names must not start with "$" (PostHog reserves them)');
    }
    if ((validator as { isConvexValidator?: unknown } | undefined)?.isConvexValidator !== true) {
      throw new PostHogInputError(childPath(path, name), "must be a Convex validator (v.string(), v.number(), ...)");
    }
  }
}

/** `optional string` or `number`: a field's validator with its optionality, to compare and to show. */
function fieldText(validator: GenericValidator): string {
  return `${validator.isOptional === "optional" ? "optional " : ""}${describeValidator(validator)}`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
