// `regex` / `not_regex`. PostHog's server evaluates patterns with Rust's regex crate; JavaScript
// agrees with it only on a shared ASCII subset. Like posthog-node 5.70, a pattern or subject
// outside that subset is left to the server rather than risk a different answer.

import { BoundedCache } from "./memo.js";

export type CompiledPattern =
  /** The empty pattern matches every subject, portable or not. */
  | { readonly kind: "everything" }
  /** Outside the portable subset: only the server can decide. */
  | { readonly kind: "server" }
  /** JavaScript cannot compile it: both `regex` and `not_regex` are false. */
  | { readonly kind: "invalid" }
  | { readonly kind: "portable"; readonly regex: RegExp };

const EVERYTHING: CompiledPattern = { kind: "everything" };
const SERVER: CompiledPattern = { kind: "server" };
const INVALID: CompiledPattern = { kind: "invalid" };

const compiledPatterns = new BoundedCache<string, CompiledPattern>(1024);

// Escapes that mean the same in both engines: shorthand classes and control characters, and
// escaped ASCII punctuation or space taken literally (Rust reads \< and \> as word boundaries).
const SHARED_ESCAPES = "dDsSwWbBfnrtv";
const LITERAL_ESCAPE = /[\x20-\x2f:;=?@\x5b-\x60\x7b-\x7e]/;
const TWO_HEX_DIGITS = /^[0-9a-fA-F]{2}$/;
const COUNTED_REPETITION = /^\{(\d+)(?:,(\d*))?\}/;
const MAX_REPETITION = 0xffffffff;

// What came before the current character, outside character classes.
const START = "";
const LITERAL = "literal";
const EMPTY_GROUP = "empty group";

/**
 * Scans a pattern for syntax the two engines read differently. Returns the character classes
 * it contains (they get one more check), or null when the pattern is not portable.
 */
function portableCharacterClasses(pattern: string): string[] | null {
  const classes: string[] = [];
  let classStart = -1;
  let previous = START;
  for (let index = 0; index < pattern.length; index++) {
    const character = pattern[index]!;
    if (character.charCodeAt(0) > 0x7f) return null;

    if (character === "\\") {
      index++;
      if (index >= pattern.length) break; // a trailing backslash: JavaScript rejects the pattern
      const escaped = pattern[index]!;
      if (escaped === "x") {
        if (!TWO_HEX_DIGITS.test(pattern.slice(index + 1, index + 3))) return null;
        index += 2;
      } else if (!SHARED_ESCAPES.includes(escaped) && !LITERAL_ESCAPE.test(escaped)) {
        return null;
      }
      // Outside a class, word boundaries can exhaust the server's backtracking budget.
      if (classStart === -1 && (escaped === "b" || escaped === "B")) return null;
      previous = LITERAL;
      continue;
    }

    if (character === "[") {
      if (classStart !== -1) return null; // nested classes are set notation in Rust
      classStart = index;
    } else if (character === "]" && classStart !== -1) {
      const contentStart = classStart + (pattern[classStart + 1] === "^" ? 2 : 1);
      if (index === contentStart) return null; // `[]` and `[^]` differ between the engines
      classes.push(pattern.slice(classStart, index + 1));
      classStart = -1;
      previous = LITERAL;
      continue;
    } else if (classStart !== -1) {
      const pair = pattern.slice(index, index + 2);
      if (pair === "&&" || pair === "--" || pair === "~~") return null; // Rust class set operations
      continue;
    } else if (character === "(" && pattern[index + 1] === "?") {
      if (pattern[index + 2] !== ":") return null; // lookarounds, named groups, inline flags
      index += 2;
    } else if (character === "{") {
      // Rust reads `{n}` after nothing as literal text (JavaScript rejects it), and rejects
      // counts above 2^32 − 1 (JavaScript accepts them).
      const repetition = COUNTED_REPETITION.exec(pattern.slice(index));
      if (
        repetition === null ||
        previous === START ||
        previous === "|" ||
        previous === "(" ||
        Number(repetition[1]) > MAX_REPETITION ||
        Number(repetition[2]) > MAX_REPETITION
      ) {
        return null;
      }
    } else if ("*+?}".includes(character)) {
      const next = pattern[index + 1];
      if (next === "+" || next === "{") return null; // possessive or stacked quantifiers
    }

    // A quantified anchor is an error in JavaScript; a quantified empty group is one in Rust.
    if ("*+?{".includes(character) && (previous === "^" || previous === "$" || previous === EMPTY_GROUP)) {
      return null;
    }
    previous = character === ")" && (previous === "(" || previous === EMPTY_GROUP) ? EMPTY_GROUP : character;
  }
  return classes;
}

function compileUncached(pattern: string): CompiledPattern {
  if (pattern === "") return EVERYTHING;
  const classes = portableCharacterClasses(pattern);
  if (classes === null) return SERVER;
  let regex: RegExp;
  try {
    regex = new RegExp(pattern);
  } catch (error) {
    return error instanceof SyntaxError ? INVALID : SERVER;
  }
  for (const characterClass of classes) {
    try {
      // Unicode mode rejects legacy class ranges such as [\s-9], which Rust rejects too.
      new RegExp(characterClass, "u");
    } catch {
      return SERVER;
    }
  }
  return { kind: "portable", regex };
}

export function compilePattern(pattern: string): CompiledPattern {
  return compiledPatterns.get(pattern) ?? compiledPatterns.set(pattern, compileUncached(pattern));
}

/** Subjects must be ASCII without carriage returns for both engines to agree. */
export function isPortableSubject(subject: string): boolean {
  for (let index = 0; index < subject.length; index++) {
    const code = subject.charCodeAt(index);
    if (code > 0x7f || code === 0x0d) return false;
  }
  return true;
}
