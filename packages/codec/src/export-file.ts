/**
 * The export file: a CBOR sequence of records, compressed as ONE zstd frame that carries its
 * content size. Reading is more lenient: several concatenated frames, skippable frames and
 * frames without a content size are all accepted.
 */
import { decodeRecords, encodeRecords } from './cbor-seq.ts';
import type { ExportRecord } from './record.ts';
import {
  loadZstd,
  splitFrames,
  type ZstdEngine,
  ZstdFormatError,
  type ZstdPreference,
} from './zstd/index.ts';

/** zstd level of export files: the zstd CLI's default, a good speed/size balance. */
export const EXPORT_ZSTD_LEVEL = 3;

/** Refuse to inflate more than this by default (a guard against decompression bombs). */
export const DEFAULT_MAX_DECODED_BYTES = 1024 * 1024 * 1024;

export interface ZstdOptions {
  /** An engine already loaded (see loadZstd), or which one to load. Default `auto`. */
  zstd?: ZstdEngine | ZstdPreference;
}

async function engineFrom(options: ZstdOptions): Promise<ZstdEngine> {
  const { zstd = 'auto' } = options;
  return typeof zstd === 'string' ? loadZstd(zstd) : zstd;
}

/** Compresses an encoded CBOR sequence into an export file (one frame with its content size). */
export function compressSequence(
  cbor: Uint8Array,
  zstd: ZstdEngine,
  level = EXPORT_ZSTD_LEVEL,
): Uint8Array {
  return zstd.compress(cbor, level);
}

/** Decompresses every frame of a zstd stream and joins the content. */
export function decompressFile(
  file: Uint8Array,
  zstd: ZstdEngine,
  maxDecodedBytes = DEFAULT_MAX_DECODED_BYTES,
): Uint8Array {
  const frames = splitFrames(file).filter((frame) => !frame.skippable);
  const declared = frames.reduce(
    (sum, frame) => sum + (frame.contentSize ?? frame.decodedBound),
    0,
  );
  if (declared > maxDecodedBytes) {
    throw new ZstdFormatError(
      `content would exceed ${maxDecodedBytes} bytes (raise maxDecodedBytes to read this file)`,
    );
  }
  const parts = frames.map((frame) =>
    zstd.decompressFrame(file.subarray(frame.start, frame.end), frame.decodedBound),
  );
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

/** Encodes records into the bytes of one export file. */
export async function encodeExportFile(
  records: Iterable<ExportRecord>,
  options: ZstdOptions = {},
): Promise<Uint8Array> {
  return compressSequence(encodeRecords(records), await engineFrom(options));
}

export interface DecodeOptions extends ZstdOptions {
  /** Refuse files whose content would be larger than this. Default 1 GiB. */
  maxDecodedBytes?: number;
}

/** Reads the records of an export file. Throws naming the record and field when one is malformed. */
export async function decodeExportFile(
  file: Uint8Array,
  options: DecodeOptions = {},
): Promise<ExportRecord[]> {
  return decodeRecords(decompressFile(file, await engineFrom(options), options.maxDecodedBytes));
}
