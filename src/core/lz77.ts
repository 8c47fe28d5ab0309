// A small LZ77 byte compressor (LZ4's block layout) for definition packs. Queries decompress
// every pack to read all flags, so decoding speed matters more than ratio: this decodes with
// plain byte copies, several times faster than inflate in JavaScript, and still shrinks
// definition JSON three to five times. The Convex runtime has no DecompressionStream.
//
// Layout: the decompressed size (4 bytes, little endian), then sequences of
//   token (literal count << 4 | match length - 4), extra count bytes, literals,
//   match offset (2 bytes, little endian), extra match length bytes
// with counts of 15 or more continued in bytes of 255 and a last byte below 255. The last
// sequence has literals only.

const MIN_MATCH = 4;
const MAX_OFFSET = 65_535;
const HASH_BITS = 16;

export class CorruptDataError extends Error {}

export function compress(input: Uint8Array): Uint8Array {
  const n = input.length;
  const out = new Uint8Array(4 + n + Math.ceil(n / 255) + 16);
  writeSize(out, n);
  let op = 4;
  const table = new Int32Array(1 << HASH_BITS).fill(-1);
  const read32 = (at: number) => input[at]! | (input[at + 1]! << 8) | (input[at + 2]! << 16) | (input[at + 3]! << 24);
  let anchor = 0;
  let i = 0;
  while (i + MIN_MATCH < n) {
    const sequence = read32(i);
    const slot = Math.imul(sequence, 2_654_435_761) >>> (32 - HASH_BITS);
    const candidate = table[slot]!;
    table[slot] = i;
    if (candidate < 0 || i - candidate > MAX_OFFSET || read32(candidate) !== sequence) {
      i++;
      continue;
    }
    let length = MIN_MATCH;
    while (i + length < n && input[candidate + length] === input[i + length]) length++;
    op = writeSequence(out, op, input, anchor, i - anchor, length);
    out[op++] = (i - candidate) & 0xff;
    out[op++] = (i - candidate) >>> 8;
    op = writeCount(out, op, length - MIN_MATCH);
    i += length;
    anchor = i;
  }
  op = writeSequence(out, op, input, anchor, n - anchor, 0);
  return out.slice(0, op);
}

export function decompress(input: Uint8Array): Uint8Array {
  if (input.length < 5) throw new CorruptDataError("too short");
  const size = (input[0]! | (input[1]! << 8) | (input[2]! << 16) | (input[3]! << 24)) >>> 0;
  const out = new Uint8Array(size);
  let ip = 4;
  let op = 0;
  for (;;) {
    const token = input[ip++]!;
    let literals = token >>> 4;
    if (literals === 15) {
      let byte: number;
      do literals += byte = input[ip++]!;
      while (byte === 255);
    }
    if (op + literals > size || ip + literals > input.length) throw new CorruptDataError("literals past the end");
    if (literals > 16) {
      out.set(input.subarray(ip, ip + literals), op);
      ip += literals;
      op += literals;
    } else for (let k = 0; k < literals; k++) out[op++] = input[ip++]!;
    if (ip >= input.length) break;
    const offset = input[ip]! | (input[ip + 1]! << 8);
    ip += 2;
    let length = (token & 15) + MIN_MATCH;
    if ((token & 15) === 15) {
      let byte: number;
      do length += byte = input[ip++]!;
      while (byte === 255);
    }
    let from = op - offset;
    if (offset === 0 || from < 0 || op + length > size) throw new CorruptDataError("match out of range");
    if (offset >= length && length > 16) {
      out.copyWithin(op, from, from + length);
      op += length;
    } else for (let k = 0; k < length; k++) out[op++] = out[from++]!; // may overlap what it writes (a run)
  }
  if (op !== size) throw new CorruptDataError("size mismatch");
  return out;
}

function writeSize(out: Uint8Array, size: number) {
  out[0] = size & 0xff;
  out[1] = (size >>> 8) & 0xff;
  out[2] = (size >>> 16) & 0xff;
  out[3] = (size >>> 24) & 0xff;
}

/** A token, the literal count's extra bytes and the literals; the match part follows (unless last). */
function writeSequence(out: Uint8Array, op: number, input: Uint8Array, start: number, literals: number, matchLength: number): number {
  const matchCode = matchLength === 0 ? 0 : matchLength - MIN_MATCH;
  out[op++] = (Math.min(literals, 15) << 4) | Math.min(matchCode, 15);
  if (literals >= 15) op = writeExtra(out, op, literals - 15);
  out.set(input.subarray(start, start + literals), op);
  return op + literals;
}

/** The match length's extra bytes (after the offset), when its code is 15 or more. */
function writeCount(out: Uint8Array, op: number, code: number): number {
  return code >= 15 ? writeExtra(out, op, code - 15) : op;
}

function writeExtra(out: Uint8Array, op: number, rest: number): number {
  while (rest >= 255) {
    out[op++] = 255;
    rest -= 255;
  }
  out[op++] = rest;
  return op;
}
