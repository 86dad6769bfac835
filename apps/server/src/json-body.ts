/**
 * A request body's JSON, parsed from its bytes. A large JSON array (a batch of captures) is
 * parsed item by item: as one string it would be one large object for the JS engine, and V8
 * makes a string of over 128 KiB (64 Ki characters once any is not ASCII) in memory mapped
 * for it alone, page-faulted in and unmapped again: on the machine measured, 0.6–3 ms for a
 * 200 KB body, where its items' strings took a tenth of that (BENCHMARKS.md).
 */

/** Bodies from this size on are split, when they are an array. */
export const SPLIT_FROM_BYTES = 64 * 1024;

/** The whole body: a leading byte-order mark is dropped, as a text() read drops it. */
const decoder = new TextDecoder();
/** An item: a byte-order mark within the body is text, which JSON.parse refuses. */
const itemDecoder = new TextDecoder('utf-8', { ignoreBOM: true });

/**
 * JSON.parse of the body as UTF-8 text, with the same result and the same failures (a
 * SyntaxError) for any input: an array is only split at its top-level commas, and each item
 * must parse on its own.
 */
export function parseJsonBody(bytes: Uint8Array): unknown {
  const items = bytes.byteLength >= SPLIT_FROM_BYTES ? arrayItems(bytes) : undefined;
  if (!items) return JSON.parse(decoder.decode(bytes));
  return items.map(([start, end]) => JSON.parse(itemDecoder.decode(bytes.subarray(start, end))));
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const isSpace = (byte: number | undefined) =>
  byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;

/**
 * Where each item of a top-level JSON array lies: [start, end) byte ranges, whitespace
 * around them included. Undefined when the bytes are not shaped as one array (another value,
 * a byte-order mark, unbalanced or trailing text): then the whole is parsed, and fails, as is.
 * Commas and brackets inside strings are skipped; each item's own validity is JSON.parse's.
 */
export function arrayItems(bytes: Uint8Array): Array<[number, number]> | undefined {
  let at = 0;
  while (isSpace(bytes[at])) at++;
  if (bytes[at] !== OPEN_ARRAY) return undefined;
  const items: Array<[number, number]> = [];
  let start = at + 1;
  let depth = 0;
  for (at = start; at < bytes.length; at++) {
    const byte = bytes[at];
    if (byte === QUOTE) {
      // To the string's closing quote: an escape takes the byte after it along.
      for (at++; at < bytes.length && bytes[at] !== QUOTE; at++) if (bytes[at] === BACKSLASH) at++;
    } else if (byte === OPEN_ARRAY || byte === OPEN_OBJECT) {
      depth++;
    } else if (byte === CLOSE_ARRAY || byte === CLOSE_OBJECT) {
      if (depth > 0) {
        depth--;
        continue;
      }
      if (byte !== CLOSE_ARRAY) return undefined;
      for (let rest = at + 1; rest < bytes.length; rest++)
        if (!isSpace(bytes[rest])) return undefined;
      items.push([start, at]);
      // `[ ]`: no items, not one empty one.
      if (items.length === 1 && isBlank(bytes, start, at)) return [];
      return items;
    } else if (byte === COMMA && depth === 0) {
      items.push([start, at]);
      start = at + 1;
    }
  }
  return undefined;
}

function isBlank(bytes: Uint8Array, start: number, end: number): boolean {
  for (let at = start; at < end; at++) if (!isSpace(bytes[at])) return false;
  return true;
}
