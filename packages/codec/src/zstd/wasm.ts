/**
 * The universal zstd engine: the zstd build that @bokuweb/zstd-wasm ships, run through our own
 * small glue rather than the package's functions. The glue lets a caller write its input
 * straight into the WebAssembly heap chunk by chunk (compressStream), so a file's content is
 * held once, inside the heap, instead of once in JavaScript and again in the heap; and the
 * frame it returns is a view of the heap, not a copy (valid until the engine's next call).
 *
 * The heap grows to the largest input plus output seen and never shrinks.
 */
import type { ZstdEngine } from './engine.ts';

/** The package whose zstd.wasm we run; its version is pinned, since the glue's export names are its build's. */
const WASM_PACKAGE = '@bokuweb/zstd-wasm';

/** The zstd.wasm bytes, read once. */
let bytes: Promise<Uint8Array<ArrayBuffer>> | undefined;
/** The compiled module, shared; every engine gets its own instance and heap. */
let compiled: Promise<WebAssembly.Module> | undefined;

/** The bytes of the zstd build (compression threads compile their own module from them). */
export function zstdWasmBytes(): Promise<Uint8Array<ArrayBuffer>> {
  bytes ??= readWasm();
  return bytes;
}

/** The zstd build, compiled once per process. */
export function zstdWasmModule(): Promise<WebAssembly.Module> {
  compiled ??= zstdWasmBytes().then((wasm) => WebAssembly.compile(wasm));
  return compiled;
}

/**
 * A WASM zstd engine with a heap of its own, so that the frame compressStream returns (a view
 * of that heap) is touched by nobody but its caller.
 */
export async function createWasmZstd(): Promise<ZstdEngine> {
  return wasmEngine(await zstdWasmModule());
}

/**
 * A zstd engine on a new instance of the compiled zstd build.
 *
 * This function must stay self-contained (no imports, no module-level names, no helpers a
 * transpiler would add): compression threads run its source text, since a thread cannot
 * import our TypeScript on every runtime we support (see thread-script.ts, which follows the
 * same rule). threaded.test.ts runs it there.
 */
export function wasmEngine(module: WebAssembly.Module): ZstdEngine {
  /** Minified export names of @bokuweb/zstd-wasm 0.0.27's zstd.wasm (see its dist/common/zstd.js). */
  const exportNames = {
    memory: 'f',
    callCtors: 'g',
    isError: 'h',
    compressBound: 'i',
    compress: 'm',
    decompress: 'r',
    malloc: 's',
    free: 't',
  } as const;
  /** A 32-bit WebAssembly heap ends at 2 GiB in this build. */
  const maxHeapBytes = 2 ** 31;
  const wasmPage = 65536;

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
      if (requested >>> 0 > maxHeapBytes) return 0;
      try {
        if (needed > 0) memory.grow(Math.ceil(needed / wasmPage));
        return 1;
      } catch {
        return 0;
      }
    },
  };
  const raw = new WebAssembly.Instance(module, { a: runtime }).exports;
  const zstd = Object.fromEntries(
    Object.entries(exportNames).map(([name, minified]) => {
      const value = raw[minified];
      if (value === undefined) {
        throw new Error(
          `@bokuweb/zstd-wasm: zstd.wasm has no export "${minified}" (${name}); the glue in wasm.ts fits version 0.0.27 only`,
        );
      }
      return [name, value];
    }),
  ) as unknown as {
    memory: WebAssembly.Memory;
    callCtors(): void;
    isError(code: number): number;
    compressBound(size: number): number;
    compress(dst: number, capacity: number, src: number, size: number, level: number): number;
    decompress(dst: number, capacity: number, src: number, size: number): number;
    malloc(size: number): number;
    free(pointer: number): void;
  };
  memory = zstd.memory;
  zstd.callCtors();

  const heap = () => new Uint8Array(zstd.memory.buffer);
  /** zstd returns errors as (size_t)-code; this build's size_t is 32 bits. */
  const errorCode = (result: number) => `error ${2 ** 32 - (result >>> 0)}`;
  /** The output compressStream last returned: freed at the engine's next call. */
  let lent = 0;
  const reclaim = () => {
    if (lent !== 0) zstd.free(lent);
    lent = 0;
  };
  /** An input that is the lent frame itself, handed back in, is copied out before reclaiming. */
  const own = (data: Uint8Array) => (data.buffer === zstd.memory.buffer ? data.slice() : data);

  /** malloc that fails loudly: 0 means the 2 GiB heap is full. */
  const allocate = (size: number, what: string) => {
    const pointer = zstd.malloc(Math.max(size, 1));
    if (pointer === 0)
      throw new RangeError(`zstd (wasm): no heap left for ${size} bytes of ${what}`);
    return pointer;
  };

  /**
   * Compresses `size` bytes already at `src` in the heap into one frame: copied out, or left
   * in the heap (lent) and returned as a view of it.
   */
  const compressAt = (src: number, size: number, level: number, lend: boolean) => {
    const capacity = zstd.compressBound(size);
    const dst = allocate(capacity, 'compressed output');
    try {
      const written = zstd.compress(dst, capacity, src, size, level);
      if (zstd.isError(written))
        throw new Error(`zstd (wasm): compression failed (${errorCode(written)})`);
      if (!lend) return heap().slice(dst, dst + written);
      lent = dst;
      return heap().subarray(dst, dst + written);
    } finally {
      if (lent !== dst) zstd.free(dst);
    }
  };

  return {
    name: 'wasm',
    threads: 0,
    compress(input, level) {
      const data = own(input);
      reclaim();
      const src = allocate(data.byteLength, 'input');
      try {
        heap().set(data, src);
        return compressAt(src, data.byteLength, level, false);
      } finally {
        zstd.free(src);
      }
    },
    async compressStream(chunks, totalBytes, level) {
      // Freed before the input is allocated, so the input can take its place: a lent output
      // still allocated would push every next file's input higher up the heap.
      reclaim();
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
        return compressAt(src, totalBytes, level, true);
      } finally {
        zstd.free(src);
      }
    },
    decompressFrame(input, decodedBound) {
      const frame = own(input);
      reclaim();
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

/** The zstd.wasm bytes: read from disk where there is a file system (Node, Bun, Deno), else fetched. */
async function readWasm(): Promise<Uint8Array<ArrayBuffer>> {
  const url = new URL('zstd.wasm', import.meta.resolve(WASM_PACKAGE));
  const runtime = globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } };
  const fs = runtime.process?.getBuiltinModule?.('node:fs') as
    | { readFileSync(path: URL): Uint8Array<ArrayBuffer> }
    | undefined;
  if (url.protocol === 'file:' && fs) return fs.readFileSync(url);
  const response = await fetch(url);
  if (!response.ok) throw new Error(`cannot load ${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}
