import { describe, expect, it } from 'vitest';
import { encodeRecords } from '../cbor-seq.ts';
import { makeRecords } from '../testing/fixtures.ts';
import { splitFrames } from './frames.ts';
import { createWasmZstd } from './wasm.ts';

const zstd = await createWasmZstd();
/** Bytes as hex: vitest compares long strings fast, long typed arrays element by element. */
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const cbor = encodeRecords(makeRecords(40));

async function* chunksOf(bytes: Uint8Array, size: number, between?: () => void) {
  for (let at = 0; at < bytes.byteLength; at += size) {
    yield bytes.subarray(at, at + size);
    between?.();
  }
}

describe('WASM zstd engine', () => {
  it('compresses chunks written into its heap to the same single sized frame as a whole buffer', async () => {
    const whole = zstd.compress(cbor, 3);
    const streamed = await zstd.compressStream(chunksOf(cbor, 4099), cbor.byteLength, 3);
    expect(hex(streamed)).toBe(hex(whole));
    const frames = splitFrames(streamed);
    expect(frames).toHaveLength(1);
    expect(frames[0]!.contentSize).toBe(cbor.byteLength);
    expect(hex(zstd.decompressFrame(streamed, cbor.byteLength))).toBe(hex(cbor));
  });

  it('keeps a stream intact when the heap grows between chunks', async () => {
    // A large compression between chunks grows the heap, which replaces its ArrayBuffer.
    const large = new Uint8Array(48 * 1024 * 1024).fill(7);
    let grew = false;
    const streamed = await zstd.compressStream(
      chunksOf(cbor, 50_000, () => {
        if (!grew) zstd.compress(large, 1);
        grew = true;
      }),
      cbor.byteLength,
      3,
    );
    expect(grew).toBe(true);
    expect(hex(zstd.decompressFrame(streamed, cbor.byteLength))).toBe(hex(cbor));
  });

  it('lends the frame from its own heap until its next call, and takes it back as input', async () => {
    const other = await createWasmZstd();
    const lent = await zstd.compressStream(chunksOf(cbor, 8192), cbor.byteLength, 3);
    const copy = lent.slice();
    // Another engine's work, however large, leaves this engine's heap (and the frame) alone.
    other.compress(new Uint8Array(48 * 1024 * 1024).fill(9), 1);
    expect(hex(other.decompressFrame(other.compress(cbor, 3), cbor.byteLength))).toBe(hex(cbor));
    expect(hex(lent)).toBe(hex(copy));
    // Handed back to its own engine, the lent frame is read before the engine reuses its memory.
    expect(hex(zstd.decompressFrame(lent, cbor.byteLength))).toBe(hex(cbor));
    const again = await zstd.compressStream(chunksOf(cbor, 8192), cbor.byteLength, 3);
    expect(hex(zstd.compress(again, 1))).toBe(hex(other.compress(copy, 1)));
  });

  it('rejects a stream shorter or longer than announced', async () => {
    await expect(zstd.compressStream(chunksOf(cbor, 1000), cbor.byteLength + 1, 3)).rejects.toThrow(
      `expected ${cbor.byteLength + 1} bytes to compress, got ${cbor.byteLength}`,
    );
    await expect(zstd.compressStream(chunksOf(cbor, 1000), cbor.byteLength - 1, 3)).rejects.toThrow(
      'got more',
    );
    // The heap is still usable afterwards.
    expect(hex(zstd.decompressFrame(zstd.compress(cbor, 3), cbor.byteLength))).toBe(hex(cbor));
  });

  it('names a corrupt or truncated frame', () => {
    const file = zstd.compress(cbor, 3);
    expect(() => zstd.decompressFrame(file.subarray(0, 200), cbor.byteLength)).toThrow(
      /zstd \(wasm\): cannot decompress the frame \(error \d+\)/,
    );
  });
});
