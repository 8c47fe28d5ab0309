// Semver operators with posthog-node's default "strict" parsing: an optional v/V prefix,
// pre-release and build suffixes ignored, missing parts read as 0, parts past the third ignored,
// and numeric parts must be plain digits without a leading zero.

import { BoundedCache } from "./memo.js";

export type Semver = readonly [major: number, minor: number, patch: number];

/** Versions from `lower` (inclusive) to `upper` (exclusive). */
export interface SemverRange {
  readonly lower: Semver;
  readonly upper: Semver;
}

const DIGITS = /^\d+$/;
const parsedVersions = new BoundedCache<string, Semver | null>(4096);

function numericPart(part: string): number | undefined {
  if (!DIGITS.test(part) || (part.length > 1 && part[0] === "0")) return undefined;
  return parseInt(part, 10);
}

function stripPrefix(value: string): string {
  const text = value.trim();
  return text[0] === "v" || text[0] === "V" ? text.slice(1) : text;
}

function parseUncached(value: string): Semver | null {
  const base = stripPrefix(value).split("-")[0]!.split("+")[0]!;
  if (base === "" || base[0] === ".") return null;
  const parts = base.split(".");
  const version: number[] = [];
  for (let index = 0; index < 3; index++) {
    const part = parts[index];
    if (part === undefined || part === "") {
      version.push(0);
      continue;
    }
    const number = numericPart(part);
    if (number === undefined) return null;
    version.push(number);
  }
  return [version[0]!, version[1]!, version[2]!];
}

/** The (major, minor, patch) of a version string, or undefined when it is not one. */
export function parseSemver(value: string): Semver | undefined {
  let parsed = parsedVersions.get(value);
  if (parsed === undefined) parsed = parsedVersions.set(value, parseUncached(value));
  return parsed ?? undefined;
}

export function compareSemver(a: Semver, b: Semver): number {
  for (let index = 0; index < 3; index++) {
    if (a[index]! !== b[index]!) return a[index]! < b[index]! ? -1 : 1;
  }
  return 0;
}

export function isWithin(version: Semver, range: SemverRange): boolean {
  return compareSemver(version, range.lower) >= 0 && compareSemver(version, range.upper) < 0;
}

/** `~X.Y.Z`: the same minor version. */
export function tildeRange(value: string): SemverRange | undefined {
  const v = parseSemver(value);
  return v && { lower: v, upper: [v[0], v[1] + 1, 0] };
}

/** `^X.Y.Z`: no change of the leftmost non-zero part. */
export function caretRange(value: string): SemverRange | undefined {
  const v = parseSemver(value);
  if (v === undefined) return undefined;
  const [major, minor, patch] = v;
  const upper: Semver = major > 0 ? [major + 1, 0, 0] : minor > 0 ? [0, minor + 1, 0] : [0, 0, patch + 1];
  return { lower: v, upper };
}

/** `X.*` or `X.Y.*` (the `.*` is optional; parts after the second are ignored). */
export function wildcardRange(value: string): SemverRange | undefined {
  const text = stripPrefix(value).replace(/\.\*$/, "").replace(/\*$/, "");
  if (text === "") return undefined;
  const parts = text.split(".");
  const major = numericPart(parts[0]!);
  if (major === undefined) return undefined;
  if (parts.length === 1) return { lower: [major, 0, 0], upper: [major + 1, 0, 0] };
  const minor = numericPart(parts[1]!);
  if (minor === undefined) return undefined;
  return { lower: [major, minor, 0], upper: [major, minor + 1, 0] };
}
