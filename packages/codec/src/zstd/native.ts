/**
 * The runtime's own zstd, through the node:zlib API that Bun, Deno and Node >= 22.15 provide.
 * Looked up at run time (process.getBuiltinModule), so this module imports nothing from node:
 * and loads on runtimes without it, where createNativeZstd() returns undefined.
 */
import type { ZstdEngine } from './engine.ts';
import { withContentSize } from './frames.ts';

interface ZlibZstd {
  zstdCompressSync(data: Uint8Array, options: object): Uint8Array;
  zstdDecompressSync(data: Uint8Array, options: object): Uint8Array;
  constants: { ZSTD_c_compressionLevel: number };
}

function findZlibZstd(): ZlibZstd | undefined {
  const runtime = globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } };
  const getBuiltinModule = runtime.process?.getBuiltinModule;
  if (typeof getBuiltinModule !== 'function') return undefined;
  const zlib = getBuiltinModule('node:zlib') as Partial<ZlibZstd> | undefined;
  return typeof zlib?.zstdCompressSync === 'function' ? (zlib as ZlibZstd) : undefined;
}

const asUint8Array = (bytes: Uint8Array): Uint8Array =>
  new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);

export function createNativeZstd(): ZstdEngine | undefined {
  const zlib = findZlibZstd();
  if (!zlib) return undefined;
  return {
    name: 'native',
    compress(data, level) {
      const frame = zlib.zstdCompressSync(data, {
        params: { [zlib.constants.ZSTD_c_compressionLevel]: level },
        // Without the size up front a streaming encoder leaves Frame_Content_Size out.
        pledgedSrcSize: data.byteLength,
      });
      return withContentSize(asUint8Array(frame), data.byteLength);
    },
    decompressFrame: (frame, decodedBound) =>
      asUint8Array(zlib.zstdDecompressSync(frame, { maxOutputLength: Math.max(decodedBound, 1) })),
  };
}
