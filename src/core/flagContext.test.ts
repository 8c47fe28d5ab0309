// The flag context crossing into the component keeps properties given as undefined.
import { describe, expect, it } from "vitest";
import { decodeFlagContext, encodeFlagContext } from "./flagContext.js";

const has = (object: object | undefined, key: string) => object !== undefined && Object.prototype.hasOwnProperty.call(object, key);

describe("encodeFlagContext / decodeFlagContext", () => {
  it("person and group properties given as undefined come back present and undefined; others as JSON", () => {
    const decoded = decodeFlagContext(
      encodeFlagContext({
        distinctId: "u",
        groups: { company: "acme" },
        personProperties: { plan: undefined, seats: 3, nested: { gone: undefined } },
        groupProperties: { company: { tier: undefined, size: 10 }, other: { x: undefined } },
      }),
    );
    expect(has(decoded.personProperties, "plan")).toBe(true);
    expect(decoded.personProperties).toEqual({ plan: undefined, seats: 3, nested: {} });
    expect(has(decoded.personProperties!.nested as object, "gone")).toBe(false); // only top-level keys are matched
    expect(has(decoded.groupProperties!.company, "tier")).toBe(true);
    expect(decoded.groupProperties).toEqual({ company: { tier: undefined, size: 10 }, other: { x: undefined } });
  });

  it("a property named __proto__ stays a property, also when undefined", () => {
    const personProperties = JSON.parse('{"__proto__": 1}') as Record<string, unknown>;
    const decoded = decodeFlagContext(encodeFlagContext({ distinctId: "u", personProperties }));
    expect(has(decoded.personProperties, "__proto__")).toBe(true);
    const undefinedProto: Record<string, unknown> = {};
    Object.defineProperty(undefinedProto, "__proto__", { value: undefined, enumerable: true });
    const again = decodeFlagContext(encodeFlagContext({ distinctId: "u", personProperties: undefinedProto }));
    expect(has(again.personProperties, "__proto__")).toBe(true);
    expect(Object.getPrototypeOf(again.personProperties)).toBe(Object.prototype);
  });

  it("without undefined properties the text is the plain JSON of the context", () => {
    const context = { distinctId: "u", personProperties: { plan: "pro" } };
    expect(JSON.parse(encodeFlagContext(context))).toEqual(context);
  });
});
