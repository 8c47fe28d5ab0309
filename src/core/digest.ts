// Content digests for keys: fixed-size, stable identities of arbitrary text.
import { sha1 } from "@noble/hashes/legacy.js";
import { bytesToHex } from "@noble/hashes/utils.js";

const utf8 = new TextEncoder();

/** SHA-1 of the UTF-8 text, as 40 hex digits. */
export function sha1Hex(text: string): string {
  return sha1HexOfBytes(utf8.encode(text));
}

/** SHA-1 of bytes, as 40 hex digits. */
export function sha1HexOfBytes(bytes: Uint8Array): string {
  return bytesToHex(sha1(bytes));
}
