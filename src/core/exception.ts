// `$exception_list` construction, producing what posthog-node 5.70 sends for the same input.
//
// posthog-node resolves to its "edge" build under the `convex` export condition, which is what
// runs inside the Convex runtime: it parses V8 stack text but adds no `module`, no source
// context lines and does not rewrite file names (those need the file system and process.cwd()).
// This module reproduces that behaviour: the same coercion of arbitrary thrown values into
// exception entries (with `cause` chains and AggregateError members flattened into one list),
// the same V8 stack-line parsing, the same collapsing of recursion cycles, and the same limits.
//
// Runs inside the Convex runtime: no Node APIs.

export interface StackFrame {
  platform: "node:javascript";
  filename?: string;
  function?: string;
  lineno?: number;
  colno?: number;
  in_app?: boolean;
}

export interface ExceptionMechanism {
  type: string;
  handled?: boolean;
  source?: "cause" | "member";
  synthetic: boolean;
  exception_id: number;
  parent_id?: number;
}

export interface ExceptionEntry {
  type: string;
  value: string;
  mechanism: ExceptionMechanism;
  stacktrace?: { type: "raw"; frames: StackFrame[] };
}

const PLATFORM = "node:javascript";
const UNKNOWN_FUNCTION = "?";
/** Entries in one `$exception_list`. */
const MAX_EXCEPTIONS = 50;
/** AggregateError members examined in total (duplicates and cycles included). */
const MAX_MEMBER_INSPECTIONS = 1000;
const MAX_PROTOTYPE_DEPTH = 100;
/** Frames kept per stack trace. */
const MAX_FRAMES = 50;
/** Stack lines read per stack trace. */
const MAX_STACK_LINES = 1000;
/** Longer lines are ignored: they are not frames, and matching them would be slow. */
const MAX_LINE_LENGTH = 1024;
/** Longest repeating run of frames recognised as recursion. */
const MAX_CYCLE_LENGTH = 10;

// ---------------------------------------------------------------------------------------------
// One stack line

interface LineParts {
  /** Text before ` (` — the function as V8 names it. */
  name?: string;
  /** `path:line:col` form. */
  file?: string;
  line?: string;
  column?: string;
  /** A location without a position, e.g. `native` or `<anonymous>`. */
  location?: string;
}

const LOCATION_WITH_POSITION = /^(.+):(\d+):(\d*)/;
const LOCATION_WITHOUT_POSITION = /^[^)]+/;
const OPENING_PAREN = /^\s+\(/;
/** Characters that `.` in a regular expression does not match. */
const LINE_BREAK = /[\n\r\u2028\u2029]/;
/** From here on, does the text hold `) (`, i.e. is `async (...)` followed by another parenthesis? */
const LATER_CALL = /^.*\)\s+\(/;

function splitLocation(text: string): LineParts | undefined {
  const positioned = LOCATION_WITH_POSITION.exec(text);
  if (positioned) return { file: positioned[1], line: positioned[2], column: positioned[3] };
  const bare = LOCATION_WITHOUT_POSITION.exec(text);
  return bare ? { location: bare[0] } : undefined;
}

/** `name (location)`, taking the shortest name that leaves a usable location; else a bare location. */
function splitCall(text: string): LineParts | undefined {
  for (let nameEnd = 1; nameEnd < text.length; nameEnd++) {
    // A name never spans a line break.
    if (LINE_BREAK.test(text[nameEnd - 1]!)) break;
    const name = text.slice(0, nameEnd);
    const paren = OPENING_PAREN.exec(text.slice(nameEnd));
    if (!paren) continue;
    const location = splitLocation(text.slice(nameEnd + paren[0].length));
    if (location) return { name, ...location };
  }
  return splitLocation(text);
}

/** An `async ` prefix is a keyword unless it is itself the called name, as in `at async (file:1:2)`. */
function startsWithAsyncKeyword(text: string): boolean {
  if (!text.startsWith("async ")) return false;
  const after = text.slice("async ".length);
  return !after.startsWith("(") || LATER_CALL.test(after);
}

/** Finds the frame text after the first `at ` that yields one. */
function splitFrameLine(line: string): LineParts | undefined {
  for (let at = line.indexOf("at "); at !== -1; at = line.indexOf("at ", at + 1)) {
    const rest = line.slice(at + 3);
    const parts =
      (startsWithAsyncKeyword(rest) ? splitCall(rest.slice("async ".length)) : undefined) ?? splitCall(rest);
    if (parts) return parts;
  }
  return undefined;
}

/** V8 names a method `Type.method`; `Type.<anonymous>` becomes `Type.?`. */
function functionLabel(name: string | undefined): string {
  if (name === undefined) return UNKNOWN_FUNCTION;
  let dot = name.lastIndexOf(".");
  if (name[dot - 1] === ".") dot--;
  if (dot <= 0) return name;
  let receiver = name.slice(0, dot);
  const method = name.slice(dot + 1);
  let label = name;
  const moduleAt = receiver.indexOf(".Module");
  if (moduleAt > 0) {
    label = name.slice(moduleAt + 1);
    receiver = receiver.slice(0, moduleAt);
  }
  return method === "<anonymous>" ? `${receiver}.${UNKNOWN_FUNCTION}` : label;
}

const WINDOWS_DRIVE_AFTER_SLASH = /\/[A-Z]:/;
const WINDOWS_DRIVE = /^[A-Z]:/;
const URL_SCHEME = /^[a-zA-Z][a-zA-Z0-9.+-]*:\/\//;

/** App code: absolute or dot-relative paths and URLs, but nothing native, internal or from node_modules. */
function isInApp(filename: string, native: boolean): boolean {
  if (native) return false;
  const looksLikeAppPath =
    filename === "" ||
    filename.startsWith("/") ||
    WINDOWS_DRIVE.test(filename) ||
    filename.startsWith(".") ||
    URL_SCHEME.test(filename);
  return looksLikeAppPath && !filename.includes("node_modules/");
}

function positiveInt(digits: string | undefined): number | undefined {
  return parseInt(digits ?? "", 10) || undefined;
}

const PROMISE_COMBINATOR = /^Promise\.(?:all|any)$/;
const PROMISE_INDEX = /^index \d+$/;
const SEPARATOR_LINE = /^\s*-{4,}$/;

/** One frame from one (already cleaned) stack line, or undefined when the line is not a frame. */
function frameFromLine(line: string): StackFrame | undefined {
  const parts = splitFrameLine(line);
  if (!parts) {
    return SEPARATOR_LINE.test(line) ? { filename: line, platform: PLATFORM } : undefined;
  }
  const fn = functionLabel(parts.name);
  const native = parts.location === "native";
  let filename = parts.file;
  if (filename?.startsWith("file://")) filename = filename.slice("file://".length);
  if (filename !== undefined && WINDOWS_DRIVE_AFTER_SLASH.test(filename)) filename = filename.slice(1);
  if (!filename && parts.location !== undefined && !native) filename = parts.location;
  // Promise.all/any frames name the input's index, not a file.
  if (PROMISE_COMBINATOR.test(fn) && PROMISE_INDEX.test(filename ?? "")) filename = "node:internal/promise";

  const frame: Partial<StackFrame> = {};
  // decodeURI throws on malformed escapes; that makes the whole trace unusable, as in posthog-node.
  if (filename) frame.filename = decodeURI(filename);
  frame.function = fn;
  const lineno = positiveInt(parts.line);
  const colno = positiveInt(parts.column);
  if (lineno !== undefined) frame.lineno = lineno;
  if (colno !== undefined) frame.colno = colno;
  frame.in_app = isInApp(filename ?? "", native);
  frame.platform = PLATFORM;
  return frame as StackFrame;
}

// ---------------------------------------------------------------------------------------------
// Recursion cycles
//
// A deep recursion fills the trace with copies of the same few frames, and where the runtime cut
// the trace would decide which frames survive. Exactly repeated runs are folded to one copy as
// frames are read; afterwards the partial copies left at either end of each run are removed.

interface Cycle {
  /** Index of the kept copy's first frame (frames are innermost-first while reading). */
  start: number;
  length: number;
}

function sameFrame(a: StackFrame | undefined, b: StackFrame | undefined): boolean {
  return (
    a !== undefined &&
    b !== undefined &&
    a.filename === b.filename &&
    a.function === b.function &&
    a.lineno === b.lineno &&
    a.colno === b.colno
  );
}

/** If the newest frames end with two equal runs, drops the older run and describes the one kept. */
function foldRepeatAtEnd(frames: StackFrame[]): Cycle | undefined {
  for (let length = 1; length <= MAX_CYCLE_LENGTH; length++) {
    const start = frames.length - 2 * length;
    if (start < 0) return undefined;
    let repeats = true;
    for (let k = 0; k < length && repeats; k++) {
      repeats = sameFrame(frames[start + k], frames[start + length + k]);
    }
    if (repeats) {
      frames.splice(start, length);
      return { start, length };
    }
  }
  return undefined;
}

/** Frames just before the kept copy that repeat its tail. */
function partialBefore(frames: StackFrame[], cycle: Cycle): number {
  let count = 0;
  while (
    cycle.start - count > 0 &&
    sameFrame(frames[cycle.start - count - 1], frames[cycle.start - count - 1 + cycle.length])
  ) {
    count++;
  }
  return count;
}

/** Frames just after the kept copy that repeat its head. */
function partialAfter(frames: StackFrame[], cycle: Cycle): number {
  const end = cycle.start + cycle.length;
  let count = 0;
  while (end + count < frames.length && sameFrame(frames[end + count], frames[end + count - cycle.length])) {
    count++;
  }
  return count;
}

/** How many frames will remain once the partial copies are removed. */
function framesAfterTrimming(frames: StackFrame[], cycles: Cycle[]): number {
  let remaining = frames.length;
  if (cycles.length > 0) remaining -= partialBefore(frames, cycles[0]!);
  for (const cycle of cycles) remaining -= partialAfter(frames, cycle);
  return remaining;
}

function rotationKey(frame: StackFrame): string {
  // The trailing field stands for the frame's module, which this runtime never knows.
  return `${frame.function}|${frame.filename}|${frame.lineno}|${frame.colno}|undefined`;
}

/** When the trace is nothing but one copy of a cycle, start it at a fixed rotation. */
function canonicalRotation(frames: StackFrame[]): StackFrame[] {
  const keys = frames.map(rotationKey);
  const n = keys.length;
  const precedes = (candidate: number, best: number): boolean => {
    for (let k = 0; k < n; k++) {
      const left = keys[(candidate + k) % n]!;
      const right = keys[(best + k) % n]!;
      if (left !== right) return left < right;
    }
    return false;
  };
  let best = 0;
  for (let i = 1; i < n; i++) if (precedes(i, best)) best = i;
  return [...frames.slice(best), ...frames.slice(0, best)];
}

function removeLeftovers(frames: StackFrame[], cycles: Cycle[]): StackFrame[] {
  if (cycles.length === 0) return frames;
  // Work from the outermost run inwards so the positions of the runs not yet handled stay valid.
  const outermostFirst = [...cycles].sort((a, b) => b.start - a.start);
  const innermost = outermostFirst[outermostFirst.length - 1]!;
  const before = partialBefore(frames, innermost);
  frames.splice(innermost.start - before, before);
  for (const cycle of cycles) cycle.start -= before;

  for (const cycle of outermostFirst) {
    const after = partialAfter(frames, cycle);
    if (after === 0) continue;
    const end = cycle.start + cycle.length;
    // A leftover that reaches the end of the trace is cut; elsewhere the copy's head goes, so
    // the frame outside the cycle stays next to the call that entered it.
    frames.splice(end + after === frames.length ? end : cycle.start, after);
  }

  if (cycles.some((cycle) => cycle.start === 0 && cycle.length === frames.length)) {
    return canonicalRotation(frames);
  }
  return frames;
}

// ---------------------------------------------------------------------------------------------
// Whole stack

/** Unwraps webpack's `(error: ...)` wrapper around a location. */
const WEBPACK_WRAPPER = /\(error: (.*)\)/;

/**
 * Parses V8 stack text into PostHog frames, outermost call first (the throwing frame last),
 * at most 50. Throws URIError when a file name holds a malformed %-escape.
 *
 * @param skipLines leading lines to ignore (1 for a synthetic error's own message line).
 */
export function parseStack(stack: string, skipLines = 0): StackFrame[] {
  const lines = stack.split("\n");
  const lastLine = Math.min(lines.length, skipLines + MAX_STACK_LINES);
  let frames: StackFrame[] = [];
  const cycles: Cycle[] = [];

  for (let i = skipLines; i < lastLine; i++) {
    const raw = lines[i]!;
    if (raw.length > MAX_LINE_LENGTH) continue;
    const line = raw.replace(WEBPACK_WRAPPER, "$1");
    // Message lines (including continuation lines naming an error) are not frames.
    if (line.includes("Error: ")) continue;
    const frame = frameFromLine(line);
    if (!frame) continue;

    frames.push(frame);
    const cycle = foldRepeatAtEnd(frames);
    if (cycle) {
      while (cycles.length > 0) {
        const last = cycles[cycles.length - 1]!;
        if (last.start + last.length <= cycle.start) break;
        cycles.pop(); // overlapped by the fold just made
      }
      cycles.push(cycle);
    }
    if (framesAfterTrimming(frames, cycles) >= MAX_FRAMES) break;
  }

  frames = removeLeftovers(frames, cycles);
  if (frames.length === 0) return [];
  const innermostFile = frames[0]!.filename;
  return frames
    .reverse()
    .slice(0, MAX_FRAMES)
    .map((frame) => ({
      ...frame,
      filename: frame.filename || innermostFile,
      function: frame.function || UNKNOWN_FUNCTION,
    }));
}

// ---------------------------------------------------------------------------------------------
// Turning any thrown value into exception entries

interface Coerced {
  type: string;
  value: string;
  stack?: string;
  synthetic: boolean;
  cause?: Coerced;
  members?: Coerced[];
}

/** Marks a value that must not produce an entry (already seen elsewhere in this tree). */
const SKIP = Symbol("skip");
type Outcome = Coerced | typeof SKIP;

const tagOf = (value: unknown): string => Object.prototype.toString.call(value);

function safeInstanceOf(value: unknown, ctor: unknown): boolean {
  try {
    return typeof ctor === "function" && value instanceof (ctor as new () => unknown);
  } catch {
    return false;
  }
}

/** Errors, including ones from other realms and DOM exceptions (same test as posthog-node). */
function isErrorLike(value: unknown): value is Error {
  switch (tagOf(value)) {
    case "[object Error]":
    case "[object Exception]":
    case "[object DOMException]":
    case "[object DOMError]":
    case "[object WebAssembly.Exception]":
      return true;
    default:
      return safeInstanceOf(value, Error);
  }
}

function isDomEvent(value: unknown): value is Event {
  return typeof Event !== "undefined" && safeInstanceOf(value, Event);
}

/** `errors` of an AggregateError (found by constructor name, so other realms work too). */
function aggregateMembers(value: unknown): unknown[] | undefined {
  try {
    if (!isErrorLike(value)) return undefined;
    let proto: unknown = Object.getPrototypeOf(value);
    for (let depth = 0; proto && depth < MAX_PROTOTYPE_DEPTH; depth++) {
      const ctor: unknown = Object.getOwnPropertyDescriptor(proto, "constructor")?.value;
      if (typeof ctor === "function" && ctor.name === "AggregateError") {
        const errors = (value as { errors?: unknown }).errors;
        return Array.isArray(errors) ? errors : undefined;
      }
      proto = Object.getPrototypeOf(proto);
    }
  } catch {
    // A hostile prototype chain must not lose the root exception.
  }
  return undefined;
}

/** Sorted own keys, as many as fit in 40 characters. */
function describeKeys(value: object): string {
  const keys = Object.keys(value).sort();
  if (keys.length === 0) return "[object has no keys]";
  let text = "";
  for (const key of keys) {
    const next = text === "" ? key : `${text}, ${key}`;
    if (next.length > 40) break;
    text = next;
  }
  return text;
}

function className(value: object): string | undefined {
  try {
    const proto = Object.getPrototypeOf(value) as { constructor: { name: string } } | null;
    return proto ? proto.constructor.name : undefined;
  } catch {
    return undefined;
  }
}

function nonEmptyString(value: unknown): value is string {
  return typeof value === "string" && value.length > 0;
}

/** `stacktrace` (some engines) or `stack`, when it is a non-empty string. */
function ownStack(value: { stack?: unknown; stacktrace?: unknown }): string | undefined {
  try {
    if (nonEmptyString(value.stacktrace)) return value.stacktrace;
    return nonEmptyString(value.stack) ? value.stack : undefined;
  } catch {
    return undefined;
  }
}

const STRING_ERROR = /^(?:uncaught (?:exception: )?)?(?:((?:eval|internal|range|reference|syntax|type|uri)?error): )?(.*)$/i;

/**
 * Walks a thrown value and everything it links to (causes, AggregateError members), with the
 * budgets posthog-node applies: 50 entries, 1000 member inspections, each object at most once.
 */
class ExceptionCollector {
  private entries = 0;
  private memberInspections = 0;
  private aggregateSeen = false;
  private readonly seen = new Set<unknown>();

  constructor(private readonly syntheticStack: () => string | undefined) {}

  collectRoot(input: unknown): Coerced {
    const outcome = this.collect(input, 0, false);
    return outcome === SKIP ? this.placeholder(0) : outcome;
  }

  /** Stands in for a value that could not be described. */
  private placeholder(depth: number): Coerced {
    return { type: "Error", value: "Unknown error", stack: this.callSiteStack(depth), synthetic: true };
  }

  /** Only the value given to captureException borrows the stack of the capture call. */
  private callSiteStack(depth: number): string | undefined {
    return depth === 0 ? this.syntheticStack() : undefined;
  }

  /**
   * @param unwrapped true when `input` was found inside an object that is being described by it;
   *   such a value does not take an entry of its own.
   */
  private collect(input: unknown, depth: number, unwrapped: boolean): Outcome {
    const isReference = (typeof input === "object" && input !== null) || typeof input === "function";
    if ((!unwrapped && this.entries >= MAX_EXCEPTIONS) || (isReference && this.seen.has(input))) return SKIP;
    if (isReference) this.seen.add(input);
    if (!unwrapped) this.entries++;

    const members = aggregateMembers(input);
    if (members) this.aggregateSeen = true;

    let described: Outcome;
    try {
      described = this.describe(input, depth);
    } catch (error) {
      // Inside an AggregateError a value that cannot be described becomes a placeholder;
      // otherwise the failure reaches the caller.
      if (!this.aggregateSeen) throw error;
      described = this.placeholder(depth);
    }
    if (described === SKIP) {
      if (!unwrapped) this.entries--;
      return SKIP;
    }
    if (!members || this.entries >= MAX_EXCEPTIONS) return described;

    let length: number;
    try {
      length = members.length;
    } catch {
      return described;
    }
    if (!Number.isInteger(length) || length < 0 || length > 0xffffffff) return described;

    const children: Coerced[] = [];
    for (
      let index = 0;
      this.entries < MAX_EXCEPTIONS && this.memberInspections < MAX_MEMBER_INSPECTIONS && index < length;
      index++
    ) {
      this.memberInspections++;
      let child: Outcome;
      try {
        child = this.collect(members[index], depth + 1, false);
      } catch {
        this.entries++;
        child = this.placeholder(depth + 1);
      }
      if (child !== SKIP) children.push(child);
    }
    return { ...described, members: children };
  }

  private describe(input: unknown, depth: number): Outcome {
    if (isDomEvent(input)) {
      const name = input.constructor.name;
      return {
        type: name,
        value: `${name} captured as exception with keys: ${describeKeys(input)}`,
        stack: this.callSiteStack(depth),
        synthetic: true,
      };
    }
    if (isErrorLike(input)) return this.describeError(input, depth);
    if (typeof input === "object" && input !== null) return this.describeObject(input, depth);
    if (typeof input === "string") return this.describeString(input, depth);
    // Everything else, functions included, is reported by its string form.
    return {
      type: "Error",
      value: `Primitive value captured as exception: ${String(input)}`,
      stack: this.callSiteStack(depth),
      synthetic: true,
    };
  }

  private describeError(error: Error, depth: number): Coerced {
    const own = ownStack(error as { stack?: unknown; stacktrace?: unknown });
    const borrowed = own === undefined ? this.callSiteStack(depth) : undefined;
    const type = error.name || error.constructor.name;
    // Some libraries put an error object in `message`; its own message is the one worth showing.
    const message = error.message as unknown as { error?: { message?: unknown } };
    const value =
      message.error && typeof message.error.message === "string" ? String(message.error.message) : String(message);
    const cause = error.cause ? this.collect(error.cause, depth + 1, false) : SKIP;
    const coerced: Coerced = { type, value, stack: own ?? borrowed, synthetic: !!borrowed };
    if (cause !== SKIP) coerced.cause = cause;
    return coerced;
  }

  private describeObject(obj: object, depth: number): Outcome {
    // An object carrying an Error (e.g. `{ error }`) is described by that Error.
    for (const key in obj) {
      if (!Object.prototype.hasOwnProperty.call(obj, key)) continue;
      const member = (obj as Record<string, unknown>)[key];
      if (isErrorLike(member)) return this.collect(member, depth, true);
    }

    const record = obj as { name?: unknown; message?: unknown; stack?: unknown; stacktrace?: unknown };
    const name = "name" in obj ? record.name : undefined;
    const type = typeof name === "string" && name.trim() !== "" ? name : "Error";
    let value: string;
    if ("name" in obj && typeof record.name === "string") {
      value = `'${record.name}' captured as exception`;
      if ("message" in obj && typeof record.message === "string") value += ` with message: '${record.message}'`;
    } else if ("message" in obj && typeof record.message === "string") {
      value = record.message;
    } else {
      const cls = className(obj);
      value = `${cls && cls !== "Object" ? `'${cls}'` : "Object"} captured as exception with keys: ${describeKeys(obj)}`;
    }
    return { type, value, stack: ownStack(record) ?? this.callSiteStack(depth), synthetic: true };
  }

  private describeString(text: string, depth: number): Coerced {
    const match = STRING_ERROR.exec(text);
    return {
      type: match?.[1] ?? "Error",
      value: match ? match[2]! : text,
      stack: this.callSiteStack(depth),
      synthetic: true,
    };
  }
}

function framesOf(exception: Coerced): StackFrame[] | undefined {
  if (exception.stack === undefined || exception.stack === "") return undefined;
  try {
    // A borrowed stack starts with the capture's own message line.
    return parseStack(exception.stack, exception.synthetic ? 1 : 0);
  } catch {
    return undefined; // a malformed trace must not lose the exception itself
  }
}

/**
 * The `$exception_list` posthog-node would send for `error` via captureException.
 *
 * @param syntheticStack stack text of an Error created at the capture call, used for values that
 *   carry no stack of their own; its first line is skipped. Called at most once.
 */
export function buildExceptionList(error: unknown, syntheticStack: () => string | undefined): ExceptionEntry[] {
  let cached: { stack: string | undefined } | undefined;
  const callSite = (): string | undefined => (cached ??= { stack: syntheticStack() }).stack;
  const collector = new ExceptionCollector(callSite);
  let root: Coerced;
  try {
    root = collector.collectRoot(error);
  } catch {
    // posthog-node drops the event when a thrown value cannot even be inspected (throwing
    // getters and the like); reporting a placeholder is more useful than losing the error.
    root = { type: "Error", value: "Unknown error", stack: callSite(), synthetic: true };
  }

  const list: ExceptionEntry[] = [];
  const append = (exception: Coerced, parent?: { id: number; source: "cause" | "member" }): void => {
    const id = list.length;
    const mechanism: ExceptionMechanism = parent
      ? { type: "chained", source: parent.source, synthetic: exception.synthetic, exception_id: id, parent_id: parent.id }
      : { type: "generic", handled: true, synthetic: exception.synthetic, exception_id: id };
    const entry: ExceptionEntry = { type: exception.type, value: exception.value, mechanism };
    const frames = framesOf(exception);
    if (frames) entry.stacktrace = { type: "raw", frames };
    list.push(entry);
    if (exception.cause) append(exception.cause, { id, source: "cause" });
    for (const member of exception.members ?? []) append(member, { id, source: "member" });
  };
  append(root);
  return list;
}
