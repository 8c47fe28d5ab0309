// Deterministic bucketing shared by every PostHog SDK and the server: the first 60 bits of the
// SHA-1 digest of a UTF-8 string, scaled to [0, 1]. Synchronous (@noble/hashes), so evaluation
// never awaits crypto.subtle.
import { sha1 } from "@noble/hashes/legacy.js";

const utf8 = new TextEncoder();

// PostHog divides by 0xFFFFFFFFFFFFFFF written as a double literal, which rounds to exactly 2^60.
const LONG_SCALE = 2 ** 60;
const TWO_POW_28 = 2 ** 28;

/** SHA-1 of the UTF-8 bytes of `text`, first 15 hex digits read as an integer, over 2^60. */
export function bucketOf(text: string): number {
  const d = sha1(utf8.encode(text));
  // 15 hex digits = the first 32-bit word and the top 28 bits of the second. Both parts are
  // exact; the one addition rounds the 60-bit integer to the nearest double, as parseInt does.
  const first = ((d[0]! << 24) | (d[1]! << 16) | (d[2]! << 8) | d[3]!) >>> 0;
  const second = ((d[4]! << 24) | (d[5]! << 16) | (d[6]! << 8) | d[7]!) >>> 0;
  return (first * TWO_POW_28 + (second >>> 4)) / LONG_SCALE;
}

/** The rollout (salt "") or variant (salt "variant") hash of a subject for a flag. */
export function flagHash(flagKey: string, bucketingValue: string, salt = ""): number {
  return bucketOf(`${flagKey}.${bucketingValue}${salt}`);
}

/** Holdouts hash "holdout-<value>": the flag key is not part of it, so holdouts span flags. */
export function holdoutHash(bucketingValue: string): number {
  return bucketOf(`holdout-${bucketingValue}`);
}
