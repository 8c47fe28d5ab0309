// A flag registry in code: every flag an app reads, with its owner, its variants and the shape of
// its payloads, so reads can be typed and what PostHog serves can be checked against it.
//
// Compatible with posthog-flag-toolkit's `createRegistry` / `FlagDefinition` (same naming regex,
// `NAMING_REGEX`, `getLifecycle`, `getArea`, `flag`, and a toolkit-shaped view both ways), plus
// what the toolkit lacks: declared variants, payload validators and a checked sunset date.
// A bad registry throws when the module defining it loads, naming the key. Pure: no Convex runtime.

import type { GenericValidator, Infer, Validator } from "convex/values";
import { PostHogInputError, childPath, type JsonType } from "./json.js";
import { validateValue } from "./validate.js";

export const DEFAULT_LIFECYCLES = ["release", "experiment", "ops", "tier"] as const;
export type DefaultLifecycle = (typeof DEFAULT_LIFECYCLES)[number];
export const DEFAULT_NAMING_EXEMPT_TAG = "naming-exempt";

/** `true` means "monitor", as in the toolkit; "enforce" lets the guardian turn the flag off. */
export type Guardian = boolean | "monitor" | "enforce";

/** What the guardian does with a flag: watch it ("monitor"), enforce, or nothing (undefined). */
export function guardianMode(guardian: Guardian | undefined): "monitor" | "enforce" | undefined {
  if (guardian === undefined || guardian === false) return undefined;
  return guardian === "enforce" ? "enforce" : "monitor";
}

type PayloadValidator = Validator<any, "required", any>;

/** One flag. `key`, when given, must equal the key it is registered under. */
export interface FlagDefinition {
  key?: string;
  description: string;
  /** Slack handle or email, as in the toolkit. */
  owner: string;
  tags?: readonly string[];
  guardian?: Guardian;
  /** When the flag should be gone: an ISO date (`2026-06-30`) or date-time with a zone. */
  sunsetTarget?: string;
  /** The variant keys of a multivariate flag; absent for a boolean flag. */
  variants?: readonly string[];
  /** One validator for every payload, or one per value: `"true"` for a boolean flag, else a variant key. */
  payload?: PayloadValidator | { readonly [value: string]: PayloadValidator };
}

/** posthog-flag-toolkit's `FlagDefinition`, exactly. */
export interface ToolkitFlagDefinition<K extends string = string> {
  key: K;
  description: string;
  owner: string;
  tags?: readonly string[];
  guardian?: boolean;
  sunsetTarget?: string;
}

export interface FlagRegistry<
  A extends string = string,
  L extends string = string,
  F extends Record<string, FlagDefinition> = Record<string, FlagDefinition>,
> {
  /** The flags as declared, keyed by flag key. */
  readonly flags: F;
  readonly keys: readonly (keyof F & string)[];
  readonly areas: readonly A[];
  readonly lifecycles: readonly L[];
  readonly namingExemptTag: string;
  /** `^(<lifecycles>)_(<areas>)_[a-z0-9_]+$`, the toolkit's `buildNamingRegex`. */
  readonly namingRegex: RegExp;
  /** The toolkit's name for `namingRegex`. */
  readonly NAMING_REGEX: RegExp;
  /** The lifecycle a key starts with; undefined when the key breaks the naming rule. */
  getLifecycle(key: string): L | undefined;
  /** The area a key names; undefined when the key breaks the naming rule. */
  getArea(key: string): A | undefined;
  /** The key itself, checked: the toolkit's `flag(name, registry)` for a registry keyed by flag key. */
  flag<K extends keyof F & string>(name: K): K;
  /** The toolkit's shape, keyed by flag key; `guardian: "enforce"` becomes `guardian: true` and the `guardian-enforce` tag. */
  toToolkitRegistry(): Record<keyof F & string, ToolkitFlagDefinition>;
}

/** What a facade constrains its registry parameter to. */
export type AnyFlagRegistry = FlagRegistry<any, any, any>;

// ---- Types for typed reads ----------------------------------------------------------------

type FlagsOf<R> = R extends { readonly flags: infer F } ? F : never;
/** True when R is the untyped default (or no registry): any string is a key. */
type IsUntyped<R> = string extends keyof FlagsOf<R> ? true : false;

/** The registered keys; `string` without a typed registry. */
export type RegistryFlagKey<R> = IsUntyped<R> extends true ? string : keyof FlagsOf<R> & string;

/** The declared variants `| false` for a multivariate flag, `boolean` for a boolean one. */
export type RegistryFlagValue<R, K extends string> =
  IsUntyped<R> extends true
    ? string | boolean
    : K extends keyof FlagsOf<R>
      ? FlagsOf<R>[K] extends { readonly variants: readonly (infer V extends string)[] }
        ? V | false
        : boolean
      : never;

/** The type of the payload validator(s), else any JSON value. */
export type RegistryFlagPayload<R, K extends string> =
  IsUntyped<R> extends true
    ? JsonType
    : K extends keyof FlagsOf<R>
      ? PayloadOf<FlagsOf<R>[K]>
      : never;

type PayloadOf<D> = D extends { readonly payload: infer P }
  ? P extends GenericValidator
    ? Infer<P>
    : P extends Record<string, GenericValidator>
      ? Infer<P[keyof P]>
      : JsonType
  : JsonType;

// ---- defineFlags --------------------------------------------------------------------------

/** A key's required prefix: `<lifecycle>_<area>_`. */
export type FlagKeyPattern<A extends string, L extends string = DefaultLifecycle> = `${L}_${A}_${string}`;

// A key without the prefix (and without the exempt tag) gets this message as its expected type,
// so the compiler error names the key.
type NamingError<K> = `flag key "${K & string}" must start with "<lifecycle>_<area>_" or be tagged naming-exempt`;

type CheckedFlags<F, A extends string, L extends string, X extends string> = {
  [K in keyof F]: K extends FlagKeyPattern<A, L>
    ? F[K]
    : F[K] extends { readonly tags: readonly (infer T)[] }
      ? X extends T
        ? F[K]
        : NamingError<K>
      : NamingError<K>;
};

export interface FlagRegistryConfig {
  areas: readonly string[];
  lifecycles?: readonly string[];
  namingExemptTag?: string;
  flags: Record<string, FlagDefinition>;
}

/** Declares the app's flags. Throws PostHogInputError naming the key when the registry is bad. */
export function defineFlags<
  const A extends string,
  const F extends Record<string, FlagDefinition>,
  const L extends string = DefaultLifecycle,
  const X extends string = typeof DEFAULT_NAMING_EXEMPT_TAG,
>(config: {
  areas: readonly A[];
  lifecycles?: readonly L[];
  namingExemptTag?: X;
  flags: F & CheckedFlags<F, A, L, X>;
}): FlagRegistry<A, L, F> {
  return buildRegistry(config) as unknown as FlagRegistry<A, L, F>;
}

/** Builds a registry from a toolkit registry (keyed by any name; flags are re-keyed by their `key`). */
export function fromToolkitRegistry<
  const R extends Record<string, ToolkitFlagDefinition>,
  const A extends string,
  const L extends string = DefaultLifecycle,
>(
  registry: R,
  options: { areas: readonly A[]; lifecycles?: readonly L[]; namingExemptTag?: string },
): FlagRegistry<A, L, { [N in keyof R as R[N]["key"]]: R[N] }> {
  const flags: Record<string, FlagDefinition> = {};
  for (const [name, definition] of Object.entries(registry)) {
    if (Object.prototype.hasOwnProperty.call(flags, definition.key)) {
      throw new PostHogInputError(childPath("flags", name), `key "${definition.key}" is registered twice`);
    }
    const enforced = definition.guardian === true && (definition.tags ?? []).includes(GUARDIAN_ENFORCE_TAG);
    flags[definition.key] = { ...definition, ...(enforced ? { guardian: "enforce" as const } : {}) };
  }
  return buildRegistry({ ...options, flags }) as unknown as FlagRegistry<A, L, { [N in keyof R as R[N]["key"]]: R[N] }>;
}

/** The toolkit's naming regex, with the names regex-escaped. */
export function buildNamingRegex(areas: readonly string[], lifecycles: readonly string[] = DEFAULT_LIFECYCLES): RegExp {
  const alternatives = (names: readonly string[]) => names.map(escapeRegex).join("|");
  return new RegExp(`^(${alternatives(lifecycles)})_(${alternatives(areas)})_[a-z0-9_]+$`);
}

const GUARDIAN_ENFORCE_TAG = "guardian-enforce";
const NAME = /^[a-z0-9]+$/;
// Payloads are keyed by `String(value)` in PostHog, so a variant "true" would share the boolean's slot.
const RESERVED_VARIANTS = new Set(["true", "false"]);

function buildRegistry(config: FlagRegistryConfig): FlagRegistry {
  const areas = checkNames("areas", config.areas);
  const lifecycles = checkNames("lifecycles", config.lifecycles ?? DEFAULT_LIFECYCLES);
  const namingExemptTag = config.namingExemptTag ?? DEFAULT_NAMING_EXEMPT_TAG;
  const namingRegex = buildNamingRegex(areas, lifecycles);
  const flags = config.flags;
  for (const [key, definition] of Object.entries(flags)) checkDefinition(key, definition, namingRegex, namingExemptTag);
  const has = (key: string) => Object.prototype.hasOwnProperty.call(flags, key);

  return {
    flags,
    keys: Object.keys(flags),
    areas,
    lifecycles,
    namingExemptTag,
    namingRegex,
    NAMING_REGEX: namingRegex,
    getLifecycle: (key) => namingRegex.exec(key)?.[1],
    getArea: (key) => namingRegex.exec(key)?.[2],
    flag(name) {
      if (!has(name)) throw new PostHogInputError("key", `flag "${name}" is not declared in the registry`);
      return name;
    },
    toToolkitRegistry() {
      const toolkit: Record<string, ToolkitFlagDefinition> = {};
      for (const [key, { description, owner, tags, guardian, sunsetTarget }] of Object.entries(flags)) {
        const enforce = guardian === "enforce" && !(tags ?? []).includes(GUARDIAN_ENFORCE_TAG);
        toolkit[key] = {
          key,
          description,
          owner,
          ...(tags !== undefined || enforce ? { tags: [...(tags ?? []), ...(enforce ? [GUARDIAN_ENFORCE_TAG] : [])] } : {}),
          ...(guardian !== undefined ? { guardian: guardian !== false } : {}),
          ...(sunsetTarget !== undefined ? { sunsetTarget } : {}),
        };
      }
      return toolkit;
    },
  };
}

function checkNames(field: "areas" | "lifecycles", names: readonly string[]): readonly string[] {
  if (!Array.isArray(names) || names.length === 0) throw new PostHogInputError(field, "must list at least one name");
  names.forEach((name, index) => {
    if (typeof name !== "string" || !NAME.test(name)) {
      throw new PostHogInputError(`${field}[${index}]`, `${JSON.stringify(name)} must be lowercase letters and digits ([a-z0-9]+)`);
    }
    if (names.indexOf(name) !== index) throw new PostHogInputError(`${field}[${index}]`, `"${name}" is listed twice`);
  });
  return names;
}

function checkDefinition(key: string, definition: FlagDefinition, namingRegex: RegExp, namingExemptTag: string) {
  const field = childPath("flags", key);
  const fail = (problem: string) => {
    throw new PostHogInputError(field, problem);
  };
  if (definition.key !== undefined && definition.key !== key) fail(`key field "${definition.key}" differs from the key it is registered under`);
  if (!namingRegex.test(key) && !(definition.tags ?? []).includes(namingExemptTag)) {
    fail(`key does not match ${namingRegex.source} (tag it "${namingExemptTag}" to exempt it)`);
  }
  const guardian: unknown = definition.guardian;
  if (guardian !== undefined && typeof guardian !== "boolean" && guardian !== "monitor" && guardian !== "enforce") {
    fail(`guardian must be true, false, "monitor" or "enforce" (got ${JSON.stringify(guardian)})`);
  }
  if (definition.sunsetTarget !== undefined && !isIsoDate(definition.sunsetTarget)) {
    fail(`sunsetTarget ${JSON.stringify(definition.sunsetTarget)} is not an ISO date (2026-06-30 or 2026-06-30T12:00:00Z)`);
  }
  const variants = definition.variants;
  if (variants !== undefined) {
    if (!Array.isArray(variants) || variants.length === 0) fail("variants must list at least one variant (omit it for a boolean flag)");
    variants.forEach((variant, index) => {
      if (typeof variant !== "string" || variant === "") fail(`variant ${index} must be a non-empty string`);
      if (RESERVED_VARIANTS.has(variant)) fail(`variant "${variant}" is reserved: PostHog keys a boolean flag's payload by "true"`);
      if (variants.indexOf(variant) !== index) fail(`variant "${variant}" is declared twice`);
    });
  }
  const payload = definition.payload;
  if (payload === undefined) return;
  if (isValidator(payload)) {
    // A read already says "no payload" with null; an optional validator would blur that.
    if ((payload as GenericValidator).isOptional === "optional") fail("payload validator must not be optional");
    return;
  }
  const values = variants ?? ["true"];
  for (const [value, validator] of Object.entries(payload)) {
    if (!values.includes(value)) fail(`payload names "${value}", which is not a value of this flag (${values.map((x) => `"${x}"`).join(", ")})`);
    if (!isValidator(validator)) fail(`payload for "${value}" must be a Convex validator`);
  }
}

// `YYYY-MM-DD`, or a date-time with seconds optional and a zone; the date must exist.
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})(?:T([01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2}))?$/;

function isIsoDate(text: string): boolean {
  const match = typeof text === "string" ? ISO_DATE.exec(text) : null;
  if (!match) return false;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const date = new Date(Date.UTC(year, month - 1, day));
  return date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
}

function isValidator(value: unknown): value is GenericValidator {
  return typeof value === "object" && value !== null && (value as { isConvexValidator?: unknown }).isConvexValidator === true;
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

// ---- Checking what PostHog serves ---------------------------------------------------------

export type FlagFindingKind =
  /** PostHog has (or the app read) a flag the registry does not declare. */
  | "undeclared_flag"
  /** PostHog serves a variant the registry does not declare. */
  | "undeclared_variant"
  /** The registry declares a variant PostHog does not serve. */
  | "missing_variant"
  /** The registry declares a flag PostHog does not have. */
  | "missing_flag"
  /** One side has the flag boolean, the other multivariate. */
  | "not_multivariate"
  /** A payload fails its declared validator, or has none declared for its value. */
  | "payload_mismatch";

export interface FlagFinding {
  key: string;
  kind: FlagFindingKind;
  detail: string;
}

/** What a served value or payload contradicts in the registry; `[]` when it agrees. */
export function checkServedFlag(
  registry: AnyFlagRegistry,
  key: string,
  served: { value: string | boolean | undefined; payload: unknown },
): FlagFinding[] {
  const definition = declared(registry, key);
  if (!definition) return [{ key, kind: "undeclared_flag", detail: `flag "${key}" is not declared in the registry` }];
  const { value } = served;
  if (value === undefined || value === false) return [];
  const findings: FlagFinding[] = [];
  const variants = definition.variants;
  if (typeof value === "string" && !variants) {
    findings.push({ key, kind: "not_multivariate", detail: `declared boolean, but PostHog served variant "${value}"` });
  } else if (typeof value === "string" && !variants!.includes(value)) {
    findings.push({ key, kind: "undeclared_variant", detail: `PostHog served variant "${value}"; the registry declares ${listOf(variants!)}` });
  } else if (value === true && variants) {
    findings.push({ key, kind: "not_multivariate", detail: `declared with variants ${listOf(variants)}, but PostHog served true` });
  }
  return [...findings, ...payloadFindings(key, definition, String(value), served.payload)];
}

/** Compares PostHog's flag definitions with the registry, both ways. Payloads are parsed JSON, keyed by value. */
export function checkDefinitions(
  registry: AnyFlagRegistry,
  definitions: ReadonlyArray<{ key: string; variants: readonly string[] | null; payloads: Record<string, unknown> }>,
): FlagFinding[] {
  const findings: FlagFinding[] = [];
  for (const { key, variants: served, payloads } of definitions) {
    const definition = declared(registry, key);
    if (!definition) {
      findings.push({ key, kind: "undeclared_flag", detail: `PostHog has flag "${key}", which the registry does not declare` });
      continue;
    }
    findings.push(...compareVariants(key, definition.variants ?? null, served));
    for (const [value, payload] of Object.entries(payloads)) findings.push(...payloadFindings(key, definition, value, payload));
  }
  const inPostHog = new Set(definitions.map((definition) => definition.key));
  for (const key of registry.keys as readonly string[]) {
    if (!inPostHog.has(key)) findings.push({ key, kind: "missing_flag", detail: `flag "${key}" is declared but PostHog does not have it` });
  }
  return findings;
}

/**
 * Declared variants (null: a boolean flag) against PostHog's (null: boolean there), as sets:
 * `[]` when they agree, else what differs.
 */
export function compareVariants(key: string, variants: readonly string[] | null, served: readonly string[] | null): FlagFinding[] {
  if (variants && served === null) {
    return [{ key, kind: "not_multivariate", detail: `declared with variants ${listOf(variants)}, but boolean in PostHog` }];
  }
  if (!variants && served !== null) {
    return [{ key, kind: "not_multivariate", detail: `declared boolean, but PostHog has variants ${listOf(served)}` }];
  }
  if (!variants || served === null) return [];
  return [
    ...served
      .filter((x) => !variants.includes(x))
      .map((variant): FlagFinding => ({ key, kind: "undeclared_variant", detail: `PostHog has variant "${variant}"; the registry declares ${listOf(variants)}` })),
    ...variants
      .filter((x) => !served.includes(x))
      .map((variant): FlagFinding => ({ key, kind: "missing_variant", detail: `variant "${variant}" is declared but PostHog does not have it` })),
  ];
}

function declared(registry: AnyFlagRegistry, key: string): FlagDefinition | undefined {
  return Object.prototype.hasOwnProperty.call(registry.flags, key) ? (registry.flags[key] as FlagDefinition) : undefined;
}

function payloadFindings(key: string, definition: FlagDefinition, value: string, payload: unknown): FlagFinding[] {
  if (definition.payload === undefined || payload === null || payload === undefined) return [];
  const validator = isValidator(definition.payload)
    ? definition.payload
    : Object.prototype.hasOwnProperty.call(definition.payload, value)
      ? definition.payload[value]
      : undefined;
  if (!validator) return [{ key, kind: "payload_mismatch", detail: `PostHog has a payload for "${value}", which declares none` }];
  const path = `payload[${JSON.stringify(value)}]`;
  return validateValue(validator, payload, { path }).map((detail) => ({ key, kind: "payload_mismatch", detail }));
}

function listOf(values: readonly string[]): string {
  return values.map((value) => `"${value}"`).join(", ");
}
