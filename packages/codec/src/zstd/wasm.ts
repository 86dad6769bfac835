/**
 * The universal zstd engine: zstd compiled to WebAssembly (@bokuweb/zstd-wasm). Runs wherever
 * WebAssembly does. Its heap grows to the largest input and output seen and never shrinks.
 */
import { compress, decompress, init } from '@bokuweb/zstd-wasm';
import type { ZstdEngine } from './engine.ts';

let initialized: Promise<void> | undefined;

export async function createWasmZstd(): Promise<ZstdEngine> {
  initialized ??= init();
  await initialized;
  return {
    name: 'wasm',
    compress: (data, level) => compress(data, level),
    // The library sizes its output from the frame's content size, or from defaultHeapSize
    // when the frame has none: the bound from the block headers is always large enough.
    decompressFrame: (frame, decodedBound) =>
      decompress(frame, { defaultHeapSize: Math.max(decodedBound, 1) }),
  };
}
