// Checks a value against a Convex validator (`v.string()`, `v.object({...})`, ...) and says where
// it fails, e.g. `properties.amount: expected number, got string`.
//
// Convex validates function arguments itself, but event properties and flag payloads never cross a
// function boundary typed by their validator: they arrive as JSON from the app or from PostHog. So
// this walks the validator's public shape (`kind`, `fields`, `element`, `members`, ...) the way
// Convex would, and returns every problem instead of stopping at the first. Pure: no Convex runtime.

import type { GenericValidator } from "convex/values";
import { childPath } from "./json.js";

export interface ValidateOptions {
  /** Path of the value itself in the messages (default `value`). */
  path?: string;
  /** Whether objects may hold fields their validator does not declare (Convex: no; default false). */
  allowUndeclaredFields?: boolean;
}

/** Every way `value` fails `validator`, each as `path: problem`; `[]` when it conforms. */
export function validateValue(validator: GenericValidator, value: unknown, options: ValidateOptions = {}): string[] {
  const problems: string[] = [];
  check(validator, value, options.path ?? "value", options.allowUndeclaredFields ?? false, problems);
  return problems;
}

/** Like `validateValue` for `v.object(fields)`, without building the object validator. */
export function validateFields(
  fields: Record<string, GenericValidator>,
  value: unknown,
  options: ValidateOptions = {},
): string[] {
  const problems: string[] = [];
  const path = options.path ?? "value";
  if (!isPlainObject(value)) problems.push(`${path}: expected object, got ${describeValue(value)}`);
  else checkFields(fields, value, path, options.allowUndeclaredFields ?? false, problems);
  return problems;
}

/** A short name for what a value is, for "got ...": `string`, `number`, `array`, `undefined`, ... */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (isBytes(value)) return "bytes";
  return typeof value;
}

/** What a validator accepts, in TypeScript-like text: `string`, `"free" | "pro"`, `{ sku: string }`. */
export function describeValidator(validator: GenericValidator): string {
  switch (validator.kind) {
    case "float64":
      return "number";
    case "int64":
    case "commitTs":
      return "bigint";
    case "id":
      return `id of "${validator.tableName}"`;
    case "literal":
      return literalText(validator.value);
    case "array":
      return `${describeValidator(validator.element)}[]`;
    case "record":
      return `record<${describeValidator(validator.key)}, ${describeValidator(validator.value)}>`;
    case "union":
      return validator.members.map(describeValidator).join(" | ");
    case "object": {
      const fields = Object.entries(validator.fields).map(
        ([name, field]) => `${name}${field.isOptional === "optional" ? "?" : ""}: ${describeValidator(field)}`,
      );
      return fields.length === 0 ? "{}" : `{ ${fields.join("; ")} }`;
    }
    default:
      return validator.kind; // string, boolean, null, any, bytes
  }
}

// The JavaScript type each primitive kind holds (an id is its string form).
const PRIMITIVE_TYPES = { string: "string", id: "string", float64: "number", int64: "bigint", commitTs: "bigint", boolean: "boolean" };

function check(validator: GenericValidator, value: unknown, path: string, allowUndeclared: boolean, problems: string[]) {
  const mismatch = () => problems.push(`${path}: expected ${describeValidator(validator)}, got ${gotText(validator, value)}`);
  switch (validator.kind) {
    case "any":
      return;
    case "string":
    case "id":
    case "float64":
    case "int64":
    case "commitTs":
    case "boolean":
      if (typeof value !== PRIMITIVE_TYPES[validator.kind]) mismatch();
      return;
    case "null":
      if (value !== null) mismatch();
      return;
    case "bytes":
      if (!isBytes(value)) mismatch();
      return;
    case "literal":
      if (value !== validator.value) mismatch();
      return;
    case "array":
      if (!Array.isArray(value)) return void mismatch();
      value.forEach((element, index) => check(validator.element, element, `${path}[${index}]`, allowUndeclared, problems));
      return;
    case "record":
      if (!isPlainObject(value)) return void mismatch();
      for (const [key, fieldValue] of Object.entries(value)) {
        const keyProblems = validateValue(validator.key, key);
        if (keyProblems.length > 0) problems.push(`${childPath(path, key)}: key not allowed, expected ${describeValidator(validator.key)}`);
        else check(validator.value, fieldValue, childPath(path, key), allowUndeclared, problems);
      }
      return;
    case "union":
      // Conforming to any member is enough; when none fits, name the whole union once.
      if (!validator.members.some((member) => validateValue(member, value, { allowUndeclaredFields: allowUndeclared }).length === 0)) mismatch();
      return;
    case "object":
      if (!isPlainObject(value)) return void mismatch();
      checkFields(validator.fields, value, path, allowUndeclared, problems);
      return;
  }
}

function checkFields(
  fields: Record<string, GenericValidator>,
  value: Record<string, unknown>,
  path: string,
  allowUndeclared: boolean,
  problems: string[],
) {
  for (const [name, field] of Object.entries(fields)) {
    const fieldValue = Object.prototype.hasOwnProperty.call(value, name) ? value[name] : undefined;
    // Convex treats a field set to undefined as absent.
    if (fieldValue === undefined) {
      if (field.isOptional !== "optional") problems.push(`${childPath(path, name)}: missing, expected ${describeValidator(field)}`);
      continue;
    }
    check(field, fieldValue, childPath(path, name), allowUndeclared, problems);
  }
  if (allowUndeclared) return;
  for (const name of Object.keys(value)) {
    if (!Object.prototype.hasOwnProperty.call(fields, name) && value[name] !== undefined) {
      problems.push(`${childPath(path, name)}: not declared`);
    }
  }
}

/** For literal expectations the value itself says more than its type: `got "gold"`. */
function gotText(validator: GenericValidator, value: unknown): string {
  const literalExpected =
    validator.kind === "literal" || (validator.kind === "union" && validator.members.every((member) => member.kind === "literal"));
  const primitive = typeof value === "string" || typeof value === "number" || typeof value === "boolean" || typeof value === "bigint";
  return literalExpected && primitive ? literalText(value) : describeValue(value);
}

function literalText(value: string | number | boolean | bigint): string {
  return typeof value === "bigint" ? `${value}n` : JSON.stringify(value);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !isBytes(value);
}

function isBytes(value: unknown): value is ArrayBuffer {
  return value instanceof ArrayBuffer || Object.prototype.toString.call(value) === "[object ArrayBuffer]";
}
