/** Loads the golden vectors in test/vectors (see generate.ts there). */
import { readFileSync } from 'node:fs';
import { type CapturedRecord, recordFromJson } from '../src/index.ts';

const dir = new URL('./vectors/', import.meta.url);

export const fromHex = (hex: string): Uint8Array =>
  Uint8Array.from(hex.trim().match(/../g) ?? [], (pair) => Number.parseInt(pair, 16));

export const toHex = (bytes: Uint8Array): string =>
  Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');

export function vectorRecords(): CapturedRecord[] {
  const json = JSON.parse(readFileSync(new URL('records.json', dir), 'utf8')) as unknown[];
  return json.map((value, i) => {
    const parsed = recordFromJson(value);
    if (!parsed.ok) throw new Error(`records.json #${i}: ${JSON.stringify(parsed.issues)}`);
    return parsed.record as CapturedRecord;
  });
}

/** The pinned CBOR encoding of each record in records.json. */
export function vectorCbor(): Uint8Array[] {
  return readFileSync(new URL('records.cbor.hex', dir), 'utf8').trim().split('\n').map(fromHex);
}

export const ZSTD_VECTORS = ['cli-checksum', 'cli-no-content-size', 'multi-frame'] as const;

export function zstdVector(name: (typeof ZSTD_VECTORS)[number]): Uint8Array {
  return fromHex(readFileSync(new URL(`${name}.zst.hex`, dir), 'utf8'));
}
