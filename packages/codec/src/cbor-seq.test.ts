import { describe, expect, it } from 'vitest';
import { field, readSequence, tagsAndSimples } from '../test/cbor-inspect.ts';
import { vectorCbor, vectorRecords } from '../test/vectors.ts';
import { CborSequenceWriter, decodeRecords, encodeRecord, encodeRecords } from './cbor-seq.ts';
import { type ExportRecord, ExportRecordError } from './record.ts';
import { makeRecords } from './testing/fixtures.ts';

const concat = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
};

describe('CBOR sequence encoding', () => {
  it('matches the golden vectors byte for byte', () => {
    const expected = vectorCbor();
    vectorRecords().forEach((record, i) => {
      expect(Buffer.from(encodeRecord(record)).toString('hex')).toBe(
        Buffer.from(expected[i]!).toString('hex'),
      );
    });
  });

  it('gives each encoded record bytes of its own, which later encodings leave alone', () => {
    const [first, ...rest] = makeRecords(200);
    const bytes = encodeRecord(first!);
    const before = Buffer.from(bytes).toString('hex');
    for (const record of rest) encodeRecord(record);
    expect(Buffer.from(bytes).toString('hex')).toBe(before);
    // A plain Uint8Array the size of the record, not a view of a larger block.
    expect(Object.getPrototypeOf(bytes)).toBe(Uint8Array.prototype);
    expect(bytes.byteOffset).toBe(0);
    expect(bytes.buffer.byteLength).toBe(bytes.byteLength);
  });

  it('writes plain CBOR: only tag 1, no undefined, no cbor-x records', () => {
    const items = readSequence(encodeRecords([...vectorRecords(), ...makeRecords(50)]));
    const { tags, simples } = tagsAndSimples(items);
    expect([...tags]).toEqual([1]);
    expect(simples.has(23)).toBe(false); // undefined
    for (const item of items) expect(item.type).toBe('map');
  });

  it('writes the timestamp as tag 1 epoch seconds with milliseconds', () => {
    const [whole, fractional] = readSequence(encodeRecords(vectorRecords().slice(0, 2)));
    expect(field(whole, 'timestamp')).toEqual({
      type: 'tag',
      tag: 1,
      item: { type: 'uint', value: 1793534400n },
    });
    expect(field(fractional, 'timestamp')).toEqual({
      type: 'tag',
      tag: 1,
      item: { type: 'float', bits: 64, value: 1793534400.123 },
    });
  });

  it('keeps integers of 32 bits and more as CBOR integers, in records and bodies', () => {
    const [, big] = readSequence(encodeRecords(vectorRecords().slice(0, 2)));
    expect(field(big, 'id')).toEqual({ type: 'uint', value: 4294967296n });
    expect(field(field(big, 'usage'), 'input_tokens')).toEqual({
      type: 'uint',
      value: 5000000000n,
    });
    const metadata = field(field(field(field(big, 'capture'), 'request'), 'body'), 'metadata');
    expect(field(metadata, 'big')).toEqual({ type: 'uint', value: 1099511627776n });
    expect(field(metadata, 'negative')).toEqual({ type: 'nint', value: -5000000000n });
  });

  it('writes raw bodies as byte strings', () => {
    const [, full] = readSequence(encodeRecords(vectorRecords().slice(0, 2)));
    const request = field(field(full, 'capture'), 'request');
    expect(field(request, 'raw_body')).toEqual({ type: 'bytes', length: 7 });
  });

  it('drops absent fields instead of writing undefined', () => {
    const [record] = makeRecords(1);
    const withHoles = {
      ...record!,
      estimated_cost: undefined,
      capture: {
        ...record!.capture,
        request: {
          ...record!.capture.request,
          raw_body: undefined,
          body: { a: 1, gone: undefined, list: [undefined, 2] },
        },
      },
    } as unknown as ExportRecord;
    const [item] = readSequence(encodeRecord(withHoles));
    expect(field(item, 'estimated_cost')).toBeUndefined();
    expect(field(field(field(item, 'capture'), 'request'), 'raw_body')).toBeUndefined();
    const [decoded] = decodeRecords(encodeRecord(withHoles));
    expect(decoded!.capture!.request.body).toEqual({ a: 1, list: [null, 2] });
    expect('estimated_cost' in decoded!).toBe(false);
  });

  it('does not change the caller’s records', () => {
    const [record] = makeRecords(1);
    const body = { n: 2 ** 40, gone: undefined };
    record!.capture.request.body = body as never;
    encodeRecord(record!);
    expect(body).toEqual({ n: 2 ** 40, gone: undefined });
    expect(typeof body.n).toBe('number');
  });

  it('names the record and every bad field of an invalid record', () => {
    const [record] = makeRecords(1);
    const bad = {
      ...record!,
      usage: { ...record!.usage, input_tokens: -1 },
      model: 7,
      timestamp: new Date(Number.NaN),
    } as unknown as ExportRecord;
    expect(() => encodeRecord(bad)).toThrowError(ExportRecordError);
    expect(() => encodeRecord(bad)).toThrowError(
      /record id 1: timestamp: must be a valid Date, got an invalid Date; model: must be a string, got the integer 7; usage.input_tokens: must be a non-negative integer, got the integer -1/,
    );
  });

  it('names the path of a non-JSON value in a body', () => {
    const [record] = makeRecords(1);
    record!.capture.response.body = { choices: [{ at: new Date(0) }] } as never;
    expect(() => encodeRecord(record!)).toThrowError(
      /capture\.response\.body\.choices\[0\]\.at: must be JSON: got a Date/,
    );
    record!.capture.response.body = { score: Number.NaN };
    expect(() => encodeRecord(record!)).toThrowError(
      /capture\.response\.body\.score: must be JSON/,
    );
  });

  it('builds a sequence record by record with the same bytes as a whole encode', () => {
    const records = makeRecords(20);
    const writer = new CborSequenceWriter(16); // tiny start: forces growth
    const sizes = records.map((record) => writer.add(record));
    expect(writer.count).toBe(20);
    expect(writer.byteLength).toBe(sizes.reduce((a, b) => a + b, 0));
    const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
    expect(hex(writer.finish())).toBe(hex(encodeRecords(records)));
    expect(hex(writer.finish())).toBe(hex(concat(records.map(encodeRecord))));
  });
});

describe('CBOR sequence decoding', () => {
  it('decodes the golden vectors to the records they came from', () => {
    expect(decodeRecords(concat(vectorCbor()))).toEqual(vectorRecords());
  });

  it('returns raw bodies as plain Uint8Arrays, even from a Node Buffer', () => {
    const [, full] = decodeRecords(Buffer.from(concat(vectorCbor())));
    const raw = full!.capture!.request.raw_body!;
    expect(Object.getPrototypeOf(raw)).toBe(Uint8Array.prototype);
    expect([...raw]).toEqual([0, 1, 2, 3, 254, 253, 252]);
  });

  it('reads an empty sequence as no records', () => {
    expect(decodeRecords(new Uint8Array())).toEqual([]);
  });

  it('names the record that is not a valid version-2 record', () => {
    const cbor = concat(vectorCbor());
    const broken = concat([cbor, new Uint8Array([0xa1, 0x63, 0x76, 0x65, 0x72, 0x01])]); // {"ver": 1}
    expect(() => decodeRecords(broken)).toThrowError(
      /record #3 is not a valid version-2 record: id: is required/,
    );
  });

  it('reports a truncated sequence as invalid CBOR', () => {
    const cbor = concat(vectorCbor());
    expect(() => decodeRecords(cbor.subarray(0, cbor.length - 3))).toThrowError(
      /not a valid CBOR sequence/,
    );
  });
});
