import { describe, expect, it } from 'vitest';
import { arrayItems, parseJsonBody, SPLIT_FROM_BYTES } from './json-body.ts';

const bytes = (text: string) => new TextEncoder().encode(text);
/** Pads `text` with trailing spaces to the size that is split. */
const large = (text: string) => bytes(text.padEnd(SPLIT_FROM_BYTES + 10, ' '));
const items = (text: string) =>
  arrayItems(bytes(text))?.map(([start, end]) => text.slice(start, end));

describe('arrayItems', () => {
  it('splits a top-level array at its own commas only', () => {
    expect(items('[1, "a,b", {"c": [2, 3]}, [4, {"d": "]"}] ]')).toEqual([
      '1',
      ' "a,b"',
      ' {"c": [2, 3]}',
      ' [4, {"d": "]"}] ',
    ]);
    expect(items(' \n[ ] \t')).toEqual([]);
    // Escaped quotes and backslashes inside strings.
    expect(items('["a\\"],[", "b\\\\", "c"]')).toEqual(['"a\\"],["', ' "b\\\\"', ' "c"']);
  });

  it('leaves anything not shaped as one array to JSON.parse', () => {
    for (const text of [
      '{"a": [1, 2]}',
      '\ufeff[1]',
      '[1, 2',
      '[1, 2]]',
      '[1, 2] x',
      '[{"a": 1}}',
      '["open]',
      '',
    ])
      expect(items(text), text).toBeUndefined();
  });
});

describe('parseJsonBody', () => {
  it('gives what JSON.parse gives, for large arrays split and for everything else', () => {
    const batch = JSON.stringify(
      Array.from({ length: 400 }, (_, i) => ({
        i,
        text: `Zoë ✓ "quoted", [bracketed] {braced} \\ ${'x'.repeat(200)}`,
        nested: { list: [i, [i, { deep: '],[' }]] },
      })),
    );
    expect(batch.length).toBeGreaterThan(SPLIT_FROM_BYTES);
    expect(parseJsonBody(bytes(batch))).toEqual(JSON.parse(batch));
    for (const text of ['[]', '{"a": 1}', '"text"', '[1, 2]', 'null'])
      expect(parseJsonBody(large(text))).toEqual(JSON.parse(text));
    // A leading byte-order mark is dropped, as a text() read of the body drops it.
    expect(parseJsonBody(large('\ufeff[1, 2]'))).toEqual([1, 2]);
    // A "__proto__" member stays data, as JSON.parse keeps it.
    const proto = parseJsonBody(large('[{"__proto__": {"polluted": true}}]')) as object[];
    expect(Object.keys(proto[0]!)).toEqual(['__proto__']);
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
  });

  it('fails as JSON.parse fails, on invalid JSON however it is shaped', () => {
    // A byte-order mark is refused inside the body (an item's decoding must not drop it).
    for (const text of [
      '[1, ]',
      '[, 1]',
      '[1 2]',
      '[{"a": 1]',
      '[[1}, {2]]',
      '[1, 2] x',
      '[1, 2',
      '[\ufeff1]',
      '[1,\ufeff2]',
    ])
      expect(() => parseJsonBody(large(text)), text).toThrow(SyntaxError);
  });
});
