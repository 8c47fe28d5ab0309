// The pack compressor gives back exactly what it was given, on data of every shape: empty,
// tiny, incompressible, long runs (overlapping matches), long literal and match lengths.
import { expect, test } from "vitest";
import { compress, CorruptDataError, decompress } from "./lz77.js";
import { Random } from "../testing/random.js";

const utf8 = new TextEncoder();

function roundTrip(input: Uint8Array) {
  const packed = compress(input);
  const output = decompress(packed);
  expect(output.length).toBe(input.length);
  expect(output.findIndex((byte, i) => byte !== input[i])).toBe(-1); // (toEqual is slow on large arrays)
  return packed;
}

test("round-trips empty, tiny and incompressible inputs", () => {
  for (const size of [0, 1, 3, 4, 5, 8, 15, 16, 17, 270, 271, 1000]) {
    const random = new Random(size);
    roundTrip(Uint8Array.from({ length: size }, () => random.int(0, 255)));
  }
});

test("round-trips runs, repeats and long matches, and shrinks them", () => {
  expect(roundTrip(new Uint8Array(100_000).fill(7)).length).toBeLessThan(1000);
  expect(roundTrip(utf8.encode("ab".repeat(50_000))).length).toBeLessThan(1000);
  const random = new Random(99);
  const block = Uint8Array.from({ length: 300 }, () => random.int(0, 255));
  const repeated = new Uint8Array(300 * 40);
  for (let i = 0; i < 40; i++) repeated.set(block, i * 300);
  expect(roundTrip(repeated).length).toBeLessThan(1000);
});

test("round-trips JSON definitions, unicode included, and shrinks them several times", () => {
  const random = new Random(5);
  const flags = Array.from({ length: 2000 }, (_, i) => ({
    key: `flag-${i}-é😀`,
    filters: { groups: [{ properties: [{ key: "email", operator: "exact", value: Array.from({ length: 5 }, () => `${random.next().toString(36).slice(2, 8)}@acme.com`) }] }] },
  }));
  const input = utf8.encode(JSON.stringify(flags));
  expect(roundTrip(input).length).toBeLessThan(input.length / 3);
});

test("refuses corrupt data instead of returning garbage", () => {
  const packed = compress(utf8.encode("hello hello hello hello hello"));
  expect(() => decompress(packed.subarray(0, 3))).toThrow(CorruptDataError);
  const wrongSize = packed.slice();
  wrongSize[0] = wrongSize[0]! + 1;
  expect(() => decompress(wrongSize)).toThrow(CorruptDataError);
});
