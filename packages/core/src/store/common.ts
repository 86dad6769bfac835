/** Logic every store shares: which records make a file, the next key, purged records. */
import {
  decodeRecords,
  type ExportRecord,
  encodeRecord,
  exportObjectKey,
} from '@aperture-export/codec';
import type { NewCapture, UsageTotals } from './types.ts';

/**
 * How many of `sizes` (CBOR bytes of the next records, in id order) go in one file: at most
 * `limit` records and `maxBytes` bytes, but always at least one, so an oversized record
 * still leaves in a file of its own instead of blocking the queue.
 */
export function batchLength(sizes: number[], limit: number, maxBytes: number): number {
  let bytes = 0;
  let count = 0;
  for (const size of sizes) {
    if (count >= limit || (count > 0 && bytes + size > maxBytes)) break;
    bytes += size;
    count++;
  }
  return count;
}

/** Key timestamps never repeat: a file written in the same second as the last one takes the next. */
export function nextKeySeconds(lastKeySeconds: number, nowMs: number): number {
  return Math.max(Math.floor(nowMs / 1000), lastKeySeconds + 1);
}

export function claimKey(prefix: string, keySeconds: number): string {
  return exportObjectKey(keySeconds, prefix);
}

export function newClaimId(): string {
  return crypto.randomUUID();
}

/** The stored form of a capture: its export record, CBOR-encoded, with its id. */
export function storedRecord(
  capture: NewCapture,
  id: number,
): { record: ExportRecord; cbor: Uint8Array } {
  const record = { id, ...capture } as ExportRecord;
  return { record, cbor: encodeRecord(record) };
}

/** The record without its captured content, re-encoded. */
export function withoutContent(cbor: Uint8Array): Uint8Array {
  const [record] = decodeRecords(cbor);
  const { capture: _, ...rest } = record!;
  return encodeRecord(rest as ExportRecord);
}

export function decodeStored(cbor: Uint8Array): ExportRecord {
  return decodeRecords(cbor)[0]!;
}

/** Totals of nothing yet, for `key`. */
export const emptyUsageTotals = (key: string): UsageTotals => ({
  key,
  requests: 0,
  input_tokens: 0,
  output_tokens: 0,
  cached_tokens: 0,
  reasoning_tokens: 0,
  cost_usd: 0,
  unpriced_requests: 0,
});

/** Adds `more` into `sum` (every count and the cost; not the key). */
export function addUsageTotals(sum: UsageTotals, more: UsageTotals): UsageTotals {
  sum.requests += more.requests;
  sum.input_tokens += more.input_tokens;
  sum.output_tokens += more.output_tokens;
  sum.cached_tokens += more.cached_tokens;
  sum.reasoning_tokens += more.reasoning_tokens;
  sum.cost_usd += more.cost_usd;
  sum.unpriced_requests += more.unpriced_requests;
  return sum;
}
