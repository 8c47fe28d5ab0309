// validateValue walks a Convex validator and names every path that does not conform.
import { v } from "convex/values";
import { describe, expect, it } from "vitest";
import { describeValidator, describeValue, validateFields, validateValue } from "./validate.js";

const order = v.object({
  amount: v.number(),
  plan: v.union(v.literal("free"), v.literal("pro")),
  coupon: v.optional(v.string()),
  items: v.array(v.object({ sku: v.string(), qty: v.int64() })),
});

describe("validateValue", () => {
  it("a conforming value has no problems, optional fields may be absent or undefined", () => {
    const value = { amount: 3, plan: "pro", items: [{ sku: "a", qty: 2n }], coupon: undefined };
    expect(validateValue(order, value, { path: "properties" })).toEqual([]);
  });

  it("names each failing path with what was expected and what was given", () => {
    const value = { amount: "3", plan: "gold", items: [{ sku: "a", qty: 1n }, { sku: "b", qty: 1n }, { qty: 2 }], cupon: "X" };
    expect(validateValue(order, value, { path: "properties" })).toEqual([
      "properties.amount: expected number, got string",
      'properties.plan: expected "free" | "pro", got "gold"',
      "properties.items[2].sku: missing, expected string",
      "properties.items[2].qty: expected bigint, got number",
      "properties.cupon: not declared",
    ]);
  });

  it("undeclared fields are allowed on request, at every depth", () => {
    const value = { amount: 1, plan: "free", items: [{ sku: "a", qty: 1n, color: "red" }], cupon: "X" };
    expect(validateValue(order, value, { path: "properties", allowUndeclaredFields: true })).toEqual([]);
  });

  it("checks every kind", () => {
    const cases: Array<[Parameters<typeof validateValue>[0], unknown, unknown]> = [
      [v.string(), "s", 1],
      [v.number(), 1.5, 1n],
      [v.int64(), 1n, 1],
      [v.boolean(), false, "false"],
      [v.null(), null, undefined],
      [v.literal(3), 3, 4],
      [v.id("users"), "abc", 5],
      [v.bytes(), new ArrayBuffer(2), new Uint8Array(2)],
      [v.array(v.string()), ["a"], ["a", 1]],
      [v.record(v.string(), v.number()), { a: 1 }, { a: "1" }],
      [v.object({}), {}, []],
    ];
    for (const [validator, good, bad] of cases) {
      expect(validateValue(validator, good)).toEqual([]);
      expect(validateValue(validator, bad)).toHaveLength(1);
    }
    expect(validateValue(v.any(), { anything: [1, "x"] })).toEqual([]);
  });

  it("messages for arrays, records, ids, bytes and unions of objects", () => {
    expect(validateValue(v.array(v.string()), ["a", 1], { path: "p" })).toEqual(["p[1]: expected string, got number"]);
    expect(validateValue(v.record(v.string(), v.number()), { "odd key": "1" }, { path: "p" })).toEqual([
      'p["odd key"]: expected number, got string',
    ]);
    expect(validateValue(v.record(v.literal("a"), v.number()), { b: 1 }, { path: "p" })).toEqual([
      'p.b: key not allowed, expected "a"',
    ]);
    expect(validateValue(v.id("users"), 1, { path: "p" })).toEqual(['p: expected id of "users", got number']);
    expect(validateValue(v.bytes(), "AA==", { path: "p" })).toEqual(["p: expected bytes, got string"]);
    expect(validateValue(v.union(v.object({ a: v.string() }), v.null()), { a: 1 }, { path: "p" })).toEqual([
      "p: expected { a: string } | null, got object",
    ]);
    expect(validateValue(v.literal(1n), 2n, { path: "p" })).toEqual(["p: expected 1n, got 2n"]);
  });

  it("a union member with extra fields matches only when undeclared fields are allowed", () => {
    const union = v.union(v.object({ a: v.string() }), v.string());
    expect(validateValue(union, { a: "x", b: 1 })).toHaveLength(1);
    expect(validateValue(union, { a: "x", b: 1 }, { allowUndeclaredFields: true })).toEqual([]);
  });
});

describe("validateFields", () => {
  it("checks a field map as an object validator would", () => {
    expect(validateFields({ a: v.string() }, { a: 1 }, { path: "properties" })).toEqual([
      "properties.a: expected string, got number",
    ]);
    expect(validateFields({ a: v.string() }, "x", { path: "properties" })).toEqual([
      "properties: expected object, got string",
    ]);
  });
});

describe("describeValue / describeValidator", () => {
  it("names values by kind", () => {
    expect([undefined, null, "s", 1, 1n, true, [], {}, new ArrayBuffer(1), () => 1].map(describeValue)).toEqual([
      "undefined", "null", "string", "number", "bigint", "boolean", "array", "object", "bytes", "function",
    ]);
  });

  it("writes validators as TypeScript-like text", () => {
    expect(describeValidator(order)).toBe(
      '{ amount: number; plan: "free" | "pro"; coupon?: string; items: { sku: string; qty: bigint }[] }',
    );
    expect(describeValidator(v.record(v.string(), v.any()))).toBe("record<string, any>");
  });
});
