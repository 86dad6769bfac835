/**
 * The universal zstd engine: the zstd build that @bokuweb/zstd-wasm ships, run through our own
 * small glue rather than the package's functions. The glue lets a caller write its input
 * straight into the WebAssembly heap chunk by chunk (compressStream), so a file's content is
 * held once, inside the heap, instead of once in JavaScript and again in the heap.
 *
 * The heap grows to the largest input plus output seen and never shrinks.
 */
import type { ZstdEngine } from './engine.ts';

/** The package whose zstd.wasm we run; its version is pinned, since the export names below are its build's. */
const WASM_PACKAGE = '@bokuweb/zstd-wasm';

/** Minified export names of @bokuweb/zstd-wasm 0.0.27's zstd.wasm (see its dist/common/zstd.js). */
const EXPORT_NAMES = {
  memory: 'f',
  callCtors: 'g',
  isError: 'h',
  compressBound: 'i',
  compress: 'm',
  decompress: 'r',
  malloc: 's',
  free: 't',
} as const;

interface ZstdExports {
  memory: WebAssembly.Memory;
  callCtors(): void;
  isError(code: number): number;
  compressBound(size: number): number;
  compress(dst: number, capacity: number, src: number, size: number, level: number): number;
  decompress(dst: number, capacity: number, src: number, size: number): number;
  malloc(size: number): number;
  free(pointer: number): void;
}

/** A 32-bit WebAssembly heap ends at 2 GiB in this build. */
const MAX_HEAP_BYTES = 2 ** 31;
const WASM_PAGE = 65536;

let loaded: Promise<ZstdExports> | undefined;

export async function createWasmZstd(): Promise<ZstdEngine> {
  loaded ??= instantiate();
  const zstd = await loaded;
  const heap = () => new Uint8Array(zstd.memory.buffer);

  /** malloc that fails loudly: 0 means the 2 GiB heap is full. */
  const allocate = (size: number, what: string) => {
    const pointer = zstd.malloc(Math.max(size, 1));
    if (pointer === 0)
      throw new RangeError(`zstd (wasm): no heap left for ${size} bytes of ${what}`);
    return pointer;
  };

  /** Compresses `size` bytes already at `src` in the heap into one frame copied out. */
  const compressAt = (src: number, size: number, level: number) => {
    const capacity = zstd.compressBound(size);
    const dst = allocate(capacity, 'compressed output');
    try {
      const written = zstd.compress(dst, capacity, src, size, level);
      if (zstd.isError(written))
        throw new Error(`zstd (wasm): compression failed (${errorCode(written)})`);
      return heap().slice(dst, dst + written);
    } finally {
      zstd.free(dst);
    }
  };

  return {
    name: 'wasm',
    compress(data, level) {
      const src = allocate(data.byteLength, 'input');
      try {
        heap().set(data, src);
        return compressAt(src, data.byteLength, level);
      } finally {
        zstd.free(src);
      }
    },
    async compressStream(chunks, totalBytes, level) {
      const src = allocate(totalBytes, 'input');
      try {
        let written = 0;
        for await (const chunk of chunks) {
          if (written + chunk.byteLength > totalBytes) {
            throw new Error(`expected ${totalBytes} bytes to compress, got more`);
          }
          // A fresh view each time: the heap may have grown (and its buffer moved) meanwhile.
          heap().set(chunk, src + written);
          written += chunk.byteLength;
        }
        if (written !== totalBytes) {
          throw new Error(`expected ${totalBytes} bytes to compress, got ${written}`);
        }
        return compressAt(src, totalBytes, level);
      } finally {
        zstd.free(src);
      }
    },
    decompressFrame(frame, decodedBound) {
      const capacity = Math.max(decodedBound, 1);
      const src = allocate(frame.byteLength, 'compressed input');
      try {
        const dst = allocate(capacity, 'decompressed output');
        try {
          heap().set(frame, src);
          const size = zstd.decompress(dst, capacity, src, frame.byteLength);
          if (zstd.isError(size))
            throw new Error(`zstd (wasm): cannot decompress the frame (${errorCode(size)})`);
          return heap().slice(dst, dst + size);
        } finally {
          zstd.free(dst);
        }
      } finally {
        zstd.free(src);
      }
    },
  };
}

/** zstd returns errors as (size_t)-code; this build's size_t is 32 bits. */
const errorCode = (result: number) => `error ${2 ** 32 - (result >>> 0)}`;

async function instantiate(): Promise<ZstdExports> {
  let memory: WebAssembly.Memory | undefined;
  // What the build imports from its Emscripten runtime: exit/abort, a keep-alive and timer hook
  // it never uses for compression, and heap growth.
  const runtime = {
    a: (code: number) => {
      throw new Error(`zstd (wasm) exited with code ${code}`);
    },
    b: () => {},
    c: () => {
      throw new WebAssembly.RuntimeError('zstd (wasm) aborted');
    },
    d: () => 0,
    e: (requested: number) => {
      if (!memory) return 0;
      const needed = (requested >>> 0) - memory.buffer.byteLength;
      if (requested >>> 0 > MAX_HEAP_BYTES) return 0;
      try {
        if (needed > 0) memory.grow(Math.ceil(needed / WASM_PAGE));
        return 1;
      } catch {
        return 0;
      }
    },
  };
  const instance = await WebAssembly.instantiate(await WebAssembly.compile(await wasmBytes()), {
    a: runtime,
  });
  const raw = instance.exports;
  const exports = Object.fromEntries(
    Object.entries(EXPORT_NAMES).map(([name, minified]) => {
      const value = raw[minified];
      if (value === undefined) {
        throw new Error(
          `${WASM_PACKAGE}: zstd.wasm has no export "${minified}" (${name}); the glue in wasm.ts fits version 0.0.27 only`,
        );
      }
      return [name, value];
    }),
  ) as unknown as ZstdExports;
  memory = exports.memory;
  exports.callCtors();
  return exports;
}

/** The zstd.wasm bytes: read from disk where there is a file system (Node, Bun, Deno), else fetched. */
async function wasmBytes(): Promise<Uint8Array<ArrayBuffer> | ArrayBuffer> {
  const url = new URL('zstd.wasm', import.meta.resolve(WASM_PACKAGE));
  const runtime = globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } };
  const fs = runtime.process?.getBuiltinModule?.('node:fs') as
    | { readFileSync(path: URL): Uint8Array<ArrayBuffer> }
    | undefined;
  if (url.protocol === 'file:' && fs) return fs.readFileSync(url);
  const response = await fetch(url);
  if (!response.ok) throw new Error(`cannot load ${url}: HTTP ${response.status}`);
  return response.arrayBuffer();
}
