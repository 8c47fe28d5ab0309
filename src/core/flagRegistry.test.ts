// The flag registry: module-load errors naming the key, the toolkit's regex and shape, typed reads,
// and the findings when PostHog serves something the registry does not declare.
import { v } from "convex/values";
import { describe, expect, expectTypeOf, it } from "vitest";
import type { JsonType } from "./json.js";
import {
  buildNamingRegex,
  checkDefinitions,
  checkServedFlag,
  defineFlags,
  fromToolkitRegistry,
  type AnyFlagRegistry,
  type FlagRegistry,
  type RegistryFlagKey,
  type RegistryFlagPayload,
  type RegistryFlagValue,
} from "./flagRegistry.js";

const flags = defineFlags({
  areas: ["studio", "billing"],
  flags: {
    release_studio_new_editor: { description: "Gates the new editor.", owner: "@ana", tags: ["studio"], guardian: "enforce" },
    experiment_billing_paywall: {
      description: "Annual-first paywall.",
      owner: "@bo",
      variants: ["control", "annual_first"],
      payload: v.object({ headline: v.string() }),
      guardian: true,
      sunsetTarget: "2026-06-30",
    },
    experiment_billing_trial: {
      description: "Trial length.",
      owner: "@bo",
      variants: ["short", "long"],
      payload: { short: v.object({ days: v.number() }), long: v.object({ days: v.number(), reminder: v.boolean() }) },
    },
    ops_studio_banner: { description: "Banner text.", owner: "@ops", payload: { true: v.string() } },
    LegacyFlag: { description: "From before the rule.", owner: "@ops", tags: ["naming-exempt"] },
  },
});
type Flags = typeof flags;

// A small config for the error cases, with one flag replaced.
const withFlag = (key: string, definition: Record<string, unknown>) => () =>
  defineFlags({ areas: ["studio"], flags: { [key]: { description: "d", owner: "o", ...definition } } as never });

describe("defineFlags: the naming rule", () => {
  it("builds the toolkit's regex and reads lifecycle and area from its groups", () => {
    expect(flags.namingRegex.source).toBe("^(release|experiment|ops|tier)_(studio|billing)_[a-z0-9_]+$");
    expect(flags.NAMING_REGEX).toBe(flags.namingRegex);
    expect(flags.getLifecycle("experiment_billing_paywall")).toBe("experiment");
    expect(flags.getArea("experiment_billing_paywall")).toBe("billing");
    expect(flags.getLifecycle("LegacyFlag")).toBeUndefined();
    expect(flags.getArea("release_search_x")).toBeUndefined();
    expect(flags.keys).toEqual([
      "release_studio_new_editor", "experiment_billing_paywall", "experiment_billing_trial", "ops_studio_banner", "LegacyFlag",
    ]);
  });

  it("lifecycles are configurable and names are regex-escaped", () => {
    const registry = defineFlags({ areas: ["a1"], lifecycles: ["beta"], flags: { beta_a1_x: { description: "d", owner: "o" } } });
    expect(registry.namingRegex.source).toBe("^(beta)_(a1)_[a-z0-9_]+$");
    expect(buildNamingRegex(["a.b"]).source).toBe("^(release|experiment|ops|tier)_(a\\.b)_[a-z0-9_]+$");
  });

  it("a key outside the rule throws naming the key, unless tagged with the exempt tag", () => {
    expect(withFlag("release_search_x", {})).toThrow(
      'flags.release_search_x: key does not match ^(release|experiment|ops|tier)_(studio)_[a-z0-9_]+$ (tag it "naming-exempt" to exempt it)',
    );
    expect(withFlag("release_studio_X", {})).toThrow("flags.release_studio_X: key does not match");
    expect(withFlag("release_studio_X", { tags: ["naming-exempt"] })).not.toThrow();
    const custom = () =>
      defineFlags({ areas: ["studio"], namingExemptTag: "legacy", flags: { Old: { description: "d", owner: "o", tags: ["legacy"] } } });
    expect(custom).not.toThrow();
  });

  it("areas and lifecycles must be [a-z0-9]+, listed once, and not empty", () => {
    expect(() => defineFlags({ areas: [], flags: {} })).toThrow("areas: must list at least one name");
    expect(() => defineFlags({ areas: ["my_area"], flags: {} })).toThrow('areas[0]: "my_area" must be lowercase letters and digits ([a-z0-9]+)');
    expect(() => defineFlags({ areas: ["a", ""], flags: {} })).toThrow('areas[1]: "" must be lowercase');
    expect(() => defineFlags({ areas: ["a", "a"], flags: {} })).toThrow('areas[1]: "a" is listed twice');
    expect(() => defineFlags({ areas: ["a"], lifecycles: ["Beta"], flags: {} })).toThrow('lifecycles[0]: "Beta" must be lowercase');
  });
});

describe("defineFlags: definitions", () => {
  it("variants must be non-empty, distinct, and not named true or false", () => {
    expect(withFlag("release_studio_x", { variants: [] })).toThrow("flags.release_studio_x: variants must list at least one variant");
    expect(withFlag("release_studio_x", { variants: ["a", ""] })).toThrow("flags.release_studio_x: variant 1 must be a non-empty string");
    expect(withFlag("release_studio_x", { variants: ["a", "b", "a"] })).toThrow('flags.release_studio_x: variant "a" is declared twice');
    expect(withFlag("release_studio_x", { variants: ["true", "b"] })).toThrow('flags.release_studio_x: variant "true" is reserved');
    expect(withFlag("release_studio_x", { variants: ["false"] })).toThrow('variant "false" is reserved');
  });

  it("a key field must equal its record key", () => {
    expect(withFlag("release_studio_x", { key: "release_studio_y" })).toThrow(
      'flags.release_studio_x: key field "release_studio_y" differs from the key it is registered under',
    );
    expect(withFlag("release_studio_x", { key: "release_studio_x" })).not.toThrow();
  });

  it("sunsetTarget must be an existing ISO date or date-time", () => {
    for (const good of ["2026-06-30", "2028-02-29", "2026-06-30T12:00Z", "2026-06-30T12:00:00.5+02:00"]) {
      expect(withFlag("release_studio_x", { sunsetTarget: good })).not.toThrow();
    }
    for (const bad of ["2026-02-30", "30/06/2026", "2026-6-30", "2026-06-30T25:00Z", "2026-06-30T12:00", "soon"]) {
      expect(withFlag("release_studio_x", { sunsetTarget: bad })).toThrow(
        `flags.release_studio_x: sunsetTarget "${bad}" is not an ISO date`,
      );
    }
  });

  it("a payload record names only values of the flag, each with a validator", () => {
    expect(withFlag("release_studio_x", { payload: { control: v.string() } })).toThrow(
      'flags.release_studio_x: payload names "control", which is not a value of this flag ("true")',
    );
    expect(withFlag("release_studio_x", { variants: ["a"], payload: { b: v.string() } })).toThrow('payload names "b"');
    expect(withFlag("release_studio_x", { variants: ["a"], payload: { a: "string" } })).toThrow('payload for "a" must be a Convex validator');
    expect(withFlag("release_studio_x", { payload: v.optional(v.string()) })).toThrow("payload validator must not be optional");
    expect(withFlag("release_studio_x", { guardian: "always" })).toThrow('guardian must be true, false, "monitor" or "enforce"');
  });

  it("flag(name) returns the declared key and refuses others", () => {
    expect(flags.flag("experiment_billing_paywall")).toBe("experiment_billing_paywall");
    expect(() => flags.flag("nope" as never)).toThrow('key: flag "nope" is not declared in the registry');
  });
});

describe("the toolkit's shape", () => {
  it("toToolkitRegistry keeps the toolkit's fields, guardian as a boolean and enforce as its tag", () => {
    const toolkit = flags.toToolkitRegistry();
    expect(toolkit.release_studio_new_editor).toEqual({
      key: "release_studio_new_editor", description: "Gates the new editor.", owner: "@ana", tags: ["studio", "guardian-enforce"], guardian: true,
    });
    expect(toolkit.experiment_billing_paywall).toEqual({
      key: "experiment_billing_paywall", description: "Annual-first paywall.", owner: "@bo", guardian: true, sunsetTarget: "2026-06-30",
    });
    expect(toolkit.ops_studio_banner).toEqual({ key: "ops_studio_banner", description: "Banner text.", owner: "@ops" });
  });

  it("fromToolkitRegistry re-keys by flag key, checks the naming rule and round-trips enforce", () => {
    const registry = fromToolkitRegistry(
      {
        NEW_EDITOR: { key: "release_studio_new_editor", description: "d", owner: "o", guardian: true, tags: ["guardian-enforce"] },
        LOGIN: { key: "ops_auth_login", description: "d", owner: "o" },
      },
      { areas: ["studio", "auth"] },
    );
    expect(registry.keys).toEqual(["release_studio_new_editor", "ops_auth_login"]);
    expect(registry.flags.release_studio_new_editor.guardian).toBe("enforce");
    expect(registry.toToolkitRegistry().release_studio_new_editor).toEqual({
      key: "release_studio_new_editor", description: "d", owner: "o", guardian: true, tags: ["guardian-enforce"],
    });
    expectTypeOf<RegistryFlagKey<typeof registry>>().toEqualTypeOf<"release_studio_new_editor" | "ops_auth_login">();
    expect(() => fromToolkitRegistry({ A: { key: "ops_auth_x", description: "d", owner: "o" } }, { areas: ["studio"] })).toThrow(
      "flags.ops_auth_x: key does not match",
    );
    expect(() =>
      fromToolkitRegistry(
        { A: { key: "ops_auth_x", description: "d", owner: "o" }, B: { key: "ops_auth_x", description: "d", owner: "o" } },
        { areas: ["auth"] },
      ),
    ).toThrow('flags.B: key "ops_auth_x" is registered twice');
  });
});

describe("checkServedFlag", () => {
  it("agreeing values and payloads give no findings", () => {
    expect(checkServedFlag(flags, "experiment_billing_paywall", { value: "control", payload: { headline: "Save" } })).toEqual([]);
    expect(checkServedFlag(flags, "experiment_billing_paywall", { value: false, payload: null })).toEqual([]);
    expect(checkServedFlag(flags, "release_studio_new_editor", { value: true, payload: { any: "json" } })).toEqual([]);
    expect(checkServedFlag(flags, "ops_studio_banner", { value: true, payload: "Hello" })).toEqual([]);
    expect(checkServedFlag(flags, "experiment_billing_trial", { value: "long", payload: { days: 30, reminder: true } })).toEqual([]);
  });

  it("reports an undeclared flag, an undeclared variant, and boolean/multivariate disagreements", () => {
    expect(checkServedFlag(flags, "release_studio_other", { value: true, payload: null })).toEqual([
      { key: "release_studio_other", kind: "undeclared_flag", detail: 'flag "release_studio_other" is not declared in the registry' },
    ]);
    expect(checkServedFlag(flags, "experiment_billing_paywall", { value: "monthly_first", payload: null })).toEqual([
      {
        key: "experiment_billing_paywall",
        kind: "undeclared_variant",
        detail: 'PostHog served variant "monthly_first"; the registry declares "control", "annual_first"',
      },
    ]);
    expect(checkServedFlag(flags, "release_studio_new_editor", { value: "on", payload: null })).toEqual([
      { key: "release_studio_new_editor", kind: "not_multivariate", detail: 'declared boolean, but PostHog served variant "on"' },
    ]);
    expect(checkServedFlag(flags, "experiment_billing_paywall", { value: true, payload: null })[0]!.detail).toBe(
      'declared with variants "control", "annual_first", but PostHog served true',
    );
  });

  it("reports a payload failing its validator, per value", () => {
    expect(checkServedFlag(flags, "experiment_billing_trial", { value: "long", payload: { days: "30" } })).toEqual([
      { key: "experiment_billing_trial", kind: "payload_mismatch", detail: 'payload["long"].days: expected number, got string' },
      { key: "experiment_billing_trial", kind: "payload_mismatch", detail: 'payload["long"].reminder: missing, expected boolean' },
    ]);
    expect(checkServedFlag(flags, "ops_studio_banner", { value: true, payload: 5 })).toEqual([
      { key: "ops_studio_banner", kind: "payload_mismatch", detail: 'payload["true"]: expected string, got number' },
    ]);
  });
});

describe("checkDefinitions", () => {
  it("compares PostHog's definitions with the registry both ways", () => {
    const findings = checkDefinitions(flags, [
      { key: "release_studio_new_editor", variants: null, payloads: {} },
      { key: "experiment_billing_paywall", variants: ["control", "monthly_first"], payloads: { control: { headline: 1 } } },
      { key: "experiment_billing_trial", variants: null, payloads: {} },
      { key: "ops_studio_banner", variants: ["a"], payloads: { a: "x" } },
      { key: "release_studio_unknown", variants: null, payloads: {} },
    ]);
    expect(findings).toEqual([
      { key: "experiment_billing_paywall", kind: "undeclared_variant", detail: 'PostHog has variant "monthly_first"; the registry declares "control", "annual_first"' },
      { key: "experiment_billing_paywall", kind: "missing_variant", detail: 'variant "annual_first" is declared but PostHog does not have it' },
      { key: "experiment_billing_paywall", kind: "payload_mismatch", detail: 'payload["control"].headline: expected string, got number' },
      { key: "experiment_billing_trial", kind: "not_multivariate", detail: 'declared with variants "short", "long", but boolean in PostHog' },
      { key: "ops_studio_banner", kind: "not_multivariate", detail: 'declared boolean, but PostHog has variants "a"' },
      { key: "ops_studio_banner", kind: "payload_mismatch", detail: 'PostHog has a payload for "a", which declares none' },
      { key: "release_studio_unknown", kind: "undeclared_flag", detail: 'PostHog has flag "release_studio_unknown", which the registry does not declare' },
      { key: "LegacyFlag", kind: "missing_flag", detail: 'flag "LegacyFlag" is declared but PostHog does not have it' },
    ]);
  });
});

describe("types", () => {
  it("keys, values and payloads are typed from the registry", () => {
    expectTypeOf<RegistryFlagKey<Flags>>().toEqualTypeOf<
      "release_studio_new_editor" | "experiment_billing_paywall" | "experiment_billing_trial" | "ops_studio_banner" | "LegacyFlag"
    >();
    expectTypeOf<RegistryFlagValue<Flags, "experiment_billing_paywall">>().toEqualTypeOf<"control" | "annual_first" | false>();
    expectTypeOf<RegistryFlagValue<Flags, "release_studio_new_editor">>().toEqualTypeOf<boolean>();
    expectTypeOf<RegistryFlagPayload<Flags, "experiment_billing_paywall">>().toEqualTypeOf<{ headline: string }>();
    expectTypeOf<RegistryFlagPayload<Flags, "experiment_billing_trial">>().toEqualTypeOf<
      { days: number } | { days: number; reminder: boolean }
    >();
    expectTypeOf<RegistryFlagPayload<Flags, "ops_studio_banner">>().toEqualTypeOf<string>();
    expectTypeOf<RegistryFlagPayload<Flags, "release_studio_new_editor">>().toEqualTypeOf<JsonType>();
    expectTypeOf(flags.getArea).returns.toEqualTypeOf<"studio" | "billing" | undefined>();
    expectTypeOf(flags.getLifecycle).returns.toEqualTypeOf<"release" | "experiment" | "ops" | "tier" | undefined>();
    expectTypeOf(flags).toMatchTypeOf<AnyFlagRegistry>();
  });

  it("without a typed registry, keys are strings, values string | boolean and payloads JSON", () => {
    expectTypeOf<RegistryFlagKey<FlagRegistry>>().toEqualTypeOf<string>();
    expectTypeOf<RegistryFlagValue<FlagRegistry, string>>().toEqualTypeOf<string | boolean>();
    expectTypeOf<RegistryFlagPayload<FlagRegistry, string>>().toEqualTypeOf<JsonType>();
    expectTypeOf<RegistryFlagKey<undefined>>().toEqualTypeOf<string>();
  });

  it("an unknown key and a wrong prefix are compile errors", () => {
    // @ts-expect-error: not a registered key
    expect(() => flags.flag("experiment_billing_paywal")).toThrow("is not declared in the registry");
    const wrongPrefix = () =>
      defineFlags({
        areas: ["studio"],
        // @ts-expect-error: "beta" is not a lifecycle
        flags: { beta_studio_x: { description: "d", owner: "o" } },
      });
    const wrongArea = () =>
      defineFlags({
        areas: ["studio"],
        // @ts-expect-error: "search" is not an area
        flags: { release_search_x: { description: "d", owner: "o" } },
      });
    expect(wrongPrefix).toThrow("flags.beta_studio_x: key does not match");
    expect(wrongArea).toThrow("flags.release_search_x: key does not match");
    // @ts-expect-error: a variant outside the union
    const variant: RegistryFlagValue<Flags, "experiment_billing_paywall"> = "monthly_first";
    expect(variant).toBe("monthly_first");
  });
});
