// Splitting a large JSON document (UTF-8 bytes) into the texts of its parts, without building
// its whole tree: a refresh reads a /flags/definitions answer of many megabytes in a 64 MiB
// heap, so it parses one flag at a time. The scanner only finds where each part begins and
// ends (brackets, strings, commas); every part it returns is then checked by JSON.parse.

/** Where a value lies in the bytes: [start, end). */
export interface JsonSpan {
  start: number;
  end: number;
}

export class JsonScanError extends Error {}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

const decoder = new TextDecoder();

const isWhitespace = (byte: number | undefined) => byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;

/** The text of a span, decoded from UTF-8. */
export function spanText(bytes: Uint8Array, span: JsonSpan): string {
  return decoder.decode(bytes.subarray(span.start, span.end));
}

/** The span of the whole document's value (a leading byte-order mark and surrounding whitespace left out). */
export function documentSpan(bytes: Uint8Array): JsonSpan {
  let start = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0;
  start = skipWhitespace(bytes, start, bytes.length);
  if (start === bytes.length) throw new JsonScanError("empty document");
  const end = valueEnd(bytes, start, bytes.length);
  if (skipWhitespace(bytes, end, bytes.length) !== bytes.length) throw new JsonScanError(`unexpected data at byte ${end}`);
  return { start, end };
}

/** The members of the object at `span`, in order: name and value span. */
export function objectMembers(bytes: Uint8Array, span: JsonSpan): Array<{ name: string; value: JsonSpan }> {
  if (bytes[span.start] !== OPEN_OBJECT) throw new JsonScanError(`expected an object at byte ${span.start}`);
  const members: Array<{ name: string; value: JsonSpan }> = [];
  forEachPart(bytes, span, CLOSE_OBJECT, (at) => {
    if (bytes[at] !== QUOTE) throw new JsonScanError(`expected a member name at byte ${at}`);
    const nameEnd = stringEnd(bytes, at, span.end);
    const name = JSON.parse(spanText(bytes, { start: at, end: nameEnd })) as string;
    const colon = skipWhitespace(bytes, nameEnd, span.end);
    if (bytes[colon] !== COLON) throw new JsonScanError(`expected ':' at byte ${colon}`);
    const start = skipWhitespace(bytes, colon + 1, span.end);
    const end = valueEnd(bytes, start, span.end);
    members.push({ name, value: { start, end } });
    return end;
  });
  return members;
}

/** The elements of the array at `span`, in order. */
export function arrayElements(bytes: Uint8Array, span: JsonSpan): JsonSpan[] {
  if (bytes[span.start] !== OPEN_ARRAY) throw new JsonScanError(`expected an array at byte ${span.start}`);
  const elements: JsonSpan[] = [];
  forEachPart(bytes, span, CLOSE_ARRAY, (start) => {
    const end = valueEnd(bytes, start, span.end);
    elements.push({ start, end });
    return end;
  });
  return elements;
}

/** Calls `part` at the start of each comma-separated part of a container; it returns where the part ends. */
function forEachPart(bytes: Uint8Array, span: JsonSpan, close: number, part: (at: number) => number) {
  const last = span.end - 1;
  let at = skipWhitespace(bytes, span.start + 1, last);
  if (at === last) return; // empty
  for (;;) {
    at = skipWhitespace(bytes, part(at), last);
    if (at === last) break;
    if (bytes[at] !== COMMA) throw new JsonScanError(`expected ',' at byte ${at}`);
    at = skipWhitespace(bytes, at + 1, last);
    if (at === last) throw new JsonScanError(`trailing ',' before byte ${at}`);
  }
  if (bytes[last] !== close) throw new JsonScanError(`unterminated container at byte ${span.start}`);
}

function skipWhitespace(bytes: Uint8Array, at: number, end: number): number {
  while (at < end && isWhitespace(bytes[at])) at++;
  return at;
}

/** End of the string whose opening quote is at `at`. UTF-8 continuation bytes never equal '"' or '\'. */
function stringEnd(bytes: Uint8Array, at: number, end: number): number {
  for (let i = at + 1; i < end; i++) {
    const byte = bytes[i];
    if (byte === BACKSLASH) i++;
    else if (byte === QUOTE) return i + 1;
  }
  throw new JsonScanError(`unterminated string at byte ${at}`);
}

/** End of the value starting at `at`: a container up to its matching bracket, a scalar up to a delimiter. */
function valueEnd(bytes: Uint8Array, at: number, end: number): number {
  const first = bytes[at];
  if (first === QUOTE) return stringEnd(bytes, at, end);
  if (first === OPEN_OBJECT || first === OPEN_ARRAY) {
    const open: number[] = [];
    for (let i = at; i < end; i++) {
      const byte = bytes[i]!;
      if (byte === QUOTE) i = stringEnd(bytes, i, end) - 1;
      else if (byte === OPEN_OBJECT || byte === OPEN_ARRAY) open.push(byte);
      else if (byte === CLOSE_OBJECT || byte === CLOSE_ARRAY) {
        if (open.pop() !== (byte === CLOSE_OBJECT ? OPEN_OBJECT : OPEN_ARRAY)) throw new JsonScanError(`mismatched bracket at byte ${i}`);
        if (open.length === 0) return i + 1;
      }
    }
    throw new JsonScanError(`unterminated container at byte ${at}`);
  }
  let i = at;
  while (i < end && !isWhitespace(bytes[i]) && bytes[i] !== COMMA && bytes[i] !== CLOSE_OBJECT && bytes[i] !== CLOSE_ARRAY) i++;
  if (i === at) throw new JsonScanError(`expected a value at byte ${at}`);
  return i;
}
