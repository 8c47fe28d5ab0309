// Packs: every stored definition of a kind again, grouped a few hundred kilobytes at a time and
// compressed, for the reads that need all of them (getAllFlags and friends). Reading 5,000 rows
// of 3 KB would take most of a query's 16 MiB read limit; the packs of the same flags take a
// few dozen documents and a quarter of the bytes. Single-flag reads never read packs, so
// they still re-run only when their own rows change.
import { sha1Hex } from "../core/digest.js";
import { deflateSync, inflateSync } from "fflate";

/** Aim for this many bytes of definitions (before compression) per pack. */
export const PACK_BYTES = 256 * 1024;
/** A definition larger than this stays out of packs: readers read its row. */
export const PACK_MEMBER_MAX_BYTES = 64 * 1024;

export interface PackMember {
  name: string;
  hash: string;
  bytes: number;
}

export interface PackPlan {
  /** `${index}/${count}`: a change of the pack count renames (so rewrites) every pack. */
  name: string;
  hash: string;
  /** Sorted by name. */
  members: PackMember[];
  /** Upper bound of the pack's size: its definitions before compression. */
  bytes: number;
}

/** Which pack each definition goes to: by a hash of its name, so a change rewrites one pack. */
export function planPacks(members: PackMember[]): PackPlan[] {
  const total = members.reduce((sum, m) => sum + Math.min(m.bytes, PACK_MEMBER_MAX_BYTES), 0);
  let count = 1;
  while (count * PACK_BYTES < total) count *= 2;
  const packs = Array.from({ length: count }, () => [] as PackMember[]);
  for (const member of members) packs[count === 1 ? 0 : parseInt(sha1Hex(member.name).slice(0, 8), 16) % count]!.push(member);
  return packs
    .map((list, index) => {
      list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      const name = `${index}/${count}`;
      return {
        name,
        hash: sha1Hex(`${name}\n${list.map((m) => `${m.name}\t${m.hash}`).join("\n")}`),
        members: list,
        bytes: list.reduce((sum, m) => sum + (m.bytes > PACK_MEMBER_MAX_BYTES ? m.name.length : m.bytes + m.name.length) + 8, 2),
      };
    })
    .filter((pack) => pack.members.length > 0);
}

/**
 * A pack's data: the compressed JSON array of its members, each `[name, definition]`, or just
 * the name of a definition too large for packs.
 */
export function packData(pack: PackPlan, definitionOf: (name: string) => string): ArrayBuffer {
  const parts = pack.members.map((m) =>
    m.bytes > PACK_MEMBER_MAX_BYTES ? JSON.stringify(m.name) : `[${JSON.stringify(m.name)},${definitionOf(m.name)}]`,
  );
  const packed = deflateSync(new TextEncoder().encode(`[${parts.join(",")}]`));
  return packed.buffer.slice(packed.byteOffset, packed.byteOffset + packed.byteLength) as ArrayBuffer;
}

/** A pack's members: definitions by name, and the names whose rows must be read instead. */
export function unpack<T>(data: ArrayBuffer): { definitions: Array<[string, T]>; rowNames: string[] } {
  const members = JSON.parse(new TextDecoder().decode(inflateSync(new Uint8Array(data)))) as Array<[string, T] | string>;
  const definitions: Array<[string, T]> = [];
  const rowNames: string[] = [];
  for (const member of members) {
    if (typeof member === "string") rowNames.push(member);
    else definitions.push(member);
  }
  return { definitions, rowNames };
}
