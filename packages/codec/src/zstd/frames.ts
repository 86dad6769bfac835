/**
 * Reading zstd frame headers (RFC 8878 §3.1) without decompressing: where each frame ends,
 * its declared content size, and an upper bound of its decompressed size. This lets every
 * engine decode concatenated frames and frames without a content size, one frame at a time.
 */

const ZSTD_MAGIC = 0xfd2fb528;
const SKIPPABLE_MAGIC_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;
const MAX_BLOCK_SIZE = 128 * 1024;

export interface ZstdFrame {
  /** Byte offset of the frame in the input. */
  start: number;
  /** Byte offset just past the frame. */
  end: number;
  /** Skippable frames carry no content and are passed over. */
  skippable: boolean;
  /** Frame_Content_Size from the header, when the encoder wrote it. */
  contentSize: number | undefined;
  /** The most bytes this frame can decompress to, from its blocks' headers. */
  decodedBound: number;
}

export class ZstdFormatError extends Error {
  constructor(message: string) {
    super(`not a valid zstd stream: ${message}`);
    this.name = 'ZstdFormatError';
  }
}

const u32 = (data: Uint8Array, at: number): number =>
  (data[at]! | (data[at + 1]! << 8) | (data[at + 2]! << 16) | (data[at + 3]! << 24)) >>> 0;

interface FrameHeader {
  descriptor: number;
  /** Offset of the first block header. */
  blocksStart: number;
  /** Where a content size field would go (after the window descriptor and dictionary id). */
  contentSizeAt: number;
  contentSize: number | undefined;
  windowSize: number;
  hasChecksum: boolean;
}

function readFrameHeader(data: Uint8Array, start: number): FrameHeader {
  if (start + 6 > data.length)
    throw new ZstdFormatError(`frame header at byte ${start} is truncated`);
  const descriptor = data[start + 4]!;
  if (descriptor & 0x08)
    throw new ZstdFormatError(`reserved bit set in frame header at byte ${start}`);
  const contentSizeFlag = descriptor >> 6;
  const singleSegment = (descriptor >> 5) & 1;
  const dictionaryIdSize = [0, 1, 2, 4][descriptor & 3]!;
  let at = start + 5;
  let windowSize = 0;
  if (!singleSegment) {
    const windowDescriptor = data[at++]!;
    const windowBase = 2 ** (10 + (windowDescriptor >> 3));
    windowSize = windowBase + (windowBase / 8) * (windowDescriptor & 7);
  }
  at += dictionaryIdSize;
  const contentSizeAt = at;
  const contentSizeBytes = contentSizeFlag === 0 ? singleSegment : [0, 2, 4, 8][contentSizeFlag]!;
  if (at + contentSizeBytes > data.length) {
    throw new ZstdFormatError(`frame header at byte ${start} is truncated`);
  }
  let contentSize: number | undefined;
  switch (contentSizeBytes) {
    case 1:
      contentSize = data[at]!;
      break;
    case 2:
      contentSize = (data[at]! | (data[at + 1]! << 8)) + 256;
      break;
    case 4:
      contentSize = u32(data, at);
      break;
    case 8:
      contentSize = u32(data, at) + u32(data, at + 4) * 2 ** 32;
      break;
  }
  if (singleSegment) windowSize = contentSize ?? 0;
  return {
    descriptor,
    blocksStart: at + contentSizeBytes,
    contentSizeAt,
    contentSize,
    windowSize,
    hasChecksum: ((descriptor >> 2) & 1) === 1,
  };
}

/** Lists the frames of a zstd stream (one or more frames back to back, RFC 8878 §3). */
export function splitFrames(data: Uint8Array): ZstdFrame[] {
  const frames: ZstdFrame[] = [];
  let start = 0;
  while (start < data.length) {
    if (start + 4 > data.length) throw new ZstdFormatError(`trailing ${data.length - start} bytes`);
    const magic = u32(data, start);
    if ((magic & SKIPPABLE_MAGIC_MASK) >>> 0 === SKIPPABLE_MAGIC) {
      if (start + 8 > data.length)
        throw new ZstdFormatError(`skippable frame at byte ${start} is truncated`);
      const end = start + 8 + u32(data, start + 4);
      if (end > data.length)
        throw new ZstdFormatError(`skippable frame at byte ${start} is truncated`);
      frames.push({ start, end, skippable: true, contentSize: 0, decodedBound: 0 });
      start = end;
      continue;
    }
    if (magic !== ZSTD_MAGIC) throw new ZstdFormatError(`no zstd magic number at byte ${start}`);
    const header = readFrameHeader(data, start);
    const maxBlockDecoded = Math.min(header.windowSize || MAX_BLOCK_SIZE, MAX_BLOCK_SIZE);
    let at = header.blocksStart;
    let decodedBound = 0;
    for (;;) {
      if (at + 3 > data.length)
        throw new ZstdFormatError(`block header at byte ${at} is truncated`);
      const blockHeader = data[at]! | (data[at + 1]! << 8) | (data[at + 2]! << 16);
      at += 3;
      const blockType = (blockHeader >> 1) & 3;
      const blockSize = blockHeader >>> 3;
      if (blockType === 0) {
        at += blockSize;
        decodedBound += blockSize;
      } else if (blockType === 1) {
        at += 1;
        decodedBound += blockSize;
      } else if (blockType === 2) {
        at += blockSize;
        decodedBound += maxBlockDecoded;
      } else {
        throw new ZstdFormatError(`reserved block type at byte ${at - 3}`);
      }
      if (at > data.length) throw new ZstdFormatError(`block ending at byte ${at} is truncated`);
      if (blockHeader & 1) break;
    }
    if (header.hasChecksum) at += 4;
    if (at > data.length)
      throw new ZstdFormatError(`frame checksum at byte ${at - 4} is truncated`);
    if (header.contentSize !== undefined) decodedBound = Math.min(decodedBound, header.contentSize);
    frames.push({
      start,
      end: at,
      skippable: false,
      contentSize: header.contentSize,
      decodedBound,
    });
    start = at;
  }
  return frames;
}

/**
 * Returns the frame with Frame_Content_Size in its header, adding the field when the encoder
 * left it out (a streaming encoder that was not told the size). Readers such as Python's
 * `zstandard.ZstdDecompressor().decompress()` refuse frames without it.
 */
export function withContentSize(frame: Uint8Array, contentSize: number): Uint8Array {
  const header = readFrameHeader(frame, 0);
  if (header.contentSize !== undefined) {
    if (header.contentSize !== contentSize) {
      throw new ZstdFormatError(
        `frame declares ${header.contentSize} bytes of content, expected ${contentSize}`,
      );
    }
    return frame;
  }
  // Not single-segment (those always carry the size): a 4- or 8-byte field fits any size.
  const wide = contentSize >= 2 ** 32;
  const fieldSize = wide ? 8 : 4;
  const out = new Uint8Array(frame.length + fieldSize);
  out.set(frame.subarray(0, header.contentSizeAt));
  out[4] = (header.descriptor & 0x3f) | ((wide ? 3 : 2) << 6);
  const view = new DataView(out.buffer);
  view.setUint32(header.contentSizeAt, contentSize >>> 0, true);
  if (wide) view.setUint32(header.contentSizeAt + 4, Math.floor(contentSize / 2 ** 32), true);
  out.set(frame.subarray(header.contentSizeAt), header.contentSizeAt + fieldSize);
  return out;
}
