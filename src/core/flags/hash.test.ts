import { sha1 } from "@noble/hashes/legacy.js";
import { describe, expect, it } from "vitest";
import { FlagEvaluator } from "./evaluate.js";
import { bucketOf, flagHash, holdoutHash } from "./hash.js";
import type { FlagDefinition } from "./types.js";

// The cross-SDK consistency vectors (PostHog's "consistency tests"), derived here by running
// posthog-node 5.70.0 locally for distinct ids distinct_id_0 … distinct_id_999.
// simple-flag: T = true, F = false.
const SIMPLE_FLAG = [
  "FTTFTFFTFTFTTFTFFFTTFTFFTFTTFFFTTTTFFFFFFTTFTTFFFTTFFFFTFTFTFTTFTFTFTTFFTFFTFTFFTFFFTTFTTFTTTTTFTTFF",
  "TTTTFFTFTTTFFFFFTFFTTTFFTFTFFTFFFFFFFFTTFFTFFTTFFTFTFTTTFFFTFFFFTTFTTFTFTTFTFTTTFTFFTTFTFTTFFTTTTFTT",
  "FFTFTFFTTFTFTFFFFFFFTFTTFFTFTFFFTFTFFFTFFTFTTFFFFTFFFFFFFFFFFFFTTFTFTTFTFTFFFTTTTFFFFFTTTFFTTFFFFFTF",
  "TTTTFTTTFFTFTFFTTTFTFFFTTFTFTFTTTTTFFTFTFTTTFTFTTFTTTTTFFFFFTFTFFTTFFFTFTTTTFFFFTTFFTTFTTTTFTTTFFTTF",
  "FTFFTFFFFFFFFFFTTFFTFFTFTFFTFFFFFFTFFFFFFFFFTTTFFFTFTFFFTFFFFFFFTFFFFFFFFTFTFTTTFFFTTTFTFTTFFFTFFFFT",
  "FTFTTFTFFFTFFTTFTFFFFFFTTFFTFFTTTFFFTFFFFTFTFFFTFTTFTFTFTFFTFFTFTFTFTFFTTTTFTFFFFFTFFTFFTTFFFFTTTFFT",
  "FFTTTTFFFTFFFTFFTTTTFFTTFTFTFFTTFTTTTFFTFFTTFTFTFFTFFFFTTTFTFFTFFTFFFFTFTFTTFFTFTTTFFFFTTFTFFFTFFFFT",
  "TTFFFTTTTFTTFTTTFTFFTFTTTTFTFTFTFFTTFFTFTFFFFTFTFFFTTTFFFTFTTFFFFFTFTFFTTFTTTTFFTFFTFTFTTFFFTFTTFFFT",
  "FTFTTFTFFTFFFTTTFFFFFTFFTTTTTFFFFFFFFTTTFFTTFTTFTFTFFFTFFTFFTTTTFFTFTTFFTFFTTFTFFTTTFFFFFTFTFFFFFTTF",
  "TTTFFFFTTTTFTTFTFTFTFFFFTTTTFFTFTTFFFFFFTFTFTTFFTTTTFFTFTTFFTTTFTFFTTFFFTFFTFFFTTTTFTFTFTFTFFTFFTFTT",
].join("");
// multivariate-flag: 1…5 = first…fifth variant, F = false.
const MULTIVARIATE_FLAG = [
  "221FF21FFF13F121FF41F3FFF1111113F321F3FF12F112F1FF11121F22321F124F111F12F3FFFFFF15F212F33FFFF3FF11F3",
  "3F323FF21FF1FFFF111FFF11F11FFFFFFFFF111121112F2121F22F1FFF31FF1FFFF1FFFFFFF11311FF1FF52F2F13153FF4FF",
  "FF3FF3F1222F1311FFFFF1112FFF2FF1F1FF111131311233F21F21F1FF151FFFF112F233F13FF1F31F311F1221FFF2FF11F3",
  "F1F3F321FF13125FF1FFF3F21FFFF3FF3FF13FF1FF4432135F15F111FFF252112FF3F25F31FF4FF2FF1412FFF133F111F1F1",
  "33FF1FF22111F51FFF231413F11F3113F4511FFF111F1121F121F12F11F1F1F1FFF331FF2311FFF21F13F1FFF133FFFF3441",
  "2F1F213F3F113FFF421FF14F131FF3F1F11324F1FFFF212F1F11F1123111FFF3F111311215412F4FFF4FF3FFF1332121F1FF",
  "FFF11F2FF1F211132FF53FF1FFF1233FF1F31FFFF41FFF3FF21FF2311F11FF2323FF1FF1F2FFFF1F3F1FF2324111F1F2FFFF",
  "F1FFFFF1F2FFFF2F1F3FF13F3FF2F121FFFFF2FF13F1FFFFF12FFF115FFF1F3FF2FFFFF4212F2F2F1F11F2F1F5F11FFF1F13",
  "FF11FF5FF3F31133F1FFFFF1FFFF2121F51FF411FF41F23311FFF111F333FF11F2FF2F312511F15FFF31124121FFF23FF1FF",
  "FFFF11F3F1F3311F2F21FFF2F3F1511FF1FFF141115FFF2FFF11FF1121111131F2FF323F13213FF11FFF132111F323FF31F1",
].join("");

function evaluate(flag: FlagDefinition, distinctId: string) {
  const evaluator = new FlagEvaluator(
    { flag: (key) => (key === flag.key ? flag : undefined), cohort: () => undefined, groupTypeMapping: {} },
    { distinctId, now: 0 },
  );
  const result = evaluator.evaluate(flag.key);
  if (!result.resolved) throw new Error(`unresolved: ${result.reason}`);
  return result.value;
}

describe("bucketing hash", () => {
  it("is SHA-1", () => {
    const hex = Array.from(sha1(new TextEncoder().encode("abc")), (byte) => byte.toString(16).padStart(2, "0")).join(
      "",
    );
    expect(hex).toBe("a9993e364706816aba3e25717850c26c9cd0d89d");
  });

  it("matches the golden values", () => {
    expect(flagHash("flag", "user")).toBe(0.4357368498163313);
    expect(flagHash("flag", "user", "variant")).toBe(0.4727021985667222);
    expect(flagHash("beta-feature", "distinct-id")).toBe(0.2299884300760246);
  });

  it("reads the first 15 hex digits exactly as parseInt does, then divides by 2^60", () => {
    for (const input of ["flag.user", "x.y", "holdout-abc", "ünïcode.ßtring", "", "a.b".repeat(50)]) {
      const hex = Array.from(sha1(new TextEncoder().encode(input)), (byte) => byte.toString(16).padStart(2, "0")).join(
        "",
      );
      expect(bucketOf(input)).toBe(parseInt(hex.slice(0, 15), 16) / 0xfffffffffffffff);
    }
  });

  it("reads the digest right for many inputs: lengths across block edges, UTF-8, lone surrogates", () => {
    const alphabet = ["a", "Z", "0", ".", "-", "é", "ß", "😀", "\ud800", "\udfff", "中", "\u0000", "\r"];
    let state = 12345;
    const next = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0);
    const inputs = [
      "",
      "abc",
      "a".repeat(55),
      "a".repeat(56),
      "a".repeat(63),
      "a".repeat(64),
      "a".repeat(119),
      "é".repeat(40),
    ];
    for (let count = 0; count < 3000; count++) {
      let text = "";
      const length = next() % 150;
      for (let index = 0; index < length; index++) text += alphabet[next() % (next() % 4 === 0 ? alphabet.length : 5)];
      inputs.push(text);
    }
    for (const input of inputs) {
      const digest = sha1(new TextEncoder().encode(input));
      const hex = Array.from(digest, (byte) => byte.toString(16).padStart(2, "0")).join("");
      expect(bucketOf(input), JSON.stringify(input)).toBe(parseInt(hex.slice(0, 15), 16) / 0xfffffffffffffff);
    }
  });

  it("hashes holdouts without the flag key", () => {
    expect(holdoutHash("user")).toBe(bucketOf("holdout-user"));
    expect(holdoutHash("user")).not.toBe(flagHash("holdout", "user"));
  });
});

describe("cross-SDK consistency vectors", () => {
  it("simple-flag, 45 % rollout", () => {
    const flag: FlagDefinition = {
      key: "simple-flag",
      active: true,
      filters: { groups: [{ properties: [], rollout_percentage: 45 }] },
    };
    const got = Array.from({ length: 1000 }, (_, index) => (evaluate(flag, `distinct_id_${index}`) ? "T" : "F")).join(
      "",
    );
    expect(got.slice(0, 10)).toBe("FTTFTFFTFT"); // as listed in the reference spec
    expect(got).toBe(SIMPLE_FLAG);
  });

  it("multivariate-flag, 55 % rollout over five variants", () => {
    const variants = ["first", "second", "third", "fourth", "fifth"];
    const flag: FlagDefinition = {
      key: "multivariate-flag",
      active: true,
      filters: {
        groups: [{ properties: [], rollout_percentage: 55 }],
        multivariate: {
          variants: [50, 20, 20, 5, 5].map((rollout_percentage, index) => ({
            key: `${variants[index]}-variant`,
            rollout_percentage,
          })),
        },
      },
    };
    const got = Array.from({ length: 1000 }, (_, index) => {
      const value = evaluate(flag, `distinct_id_${index}`);
      return value === false ? "F" : String(variants.indexOf(String(value).replace("-variant", "")) + 1);
    }).join("");
    expect(got.slice(0, 10)).toBe("221FF21FFF");
    expect(got).toBe(MULTIVARIATE_FLAG);
  });
});
