import type { ZstdEngine } from './engine.ts';
import { createNativeZstd } from './native.ts';
import { createThreadedZstd } from './threaded.ts';
import { createWasmZstd } from './wasm.ts';

export { type ZstdEngine, ZstdStreamError } from './engine.ts';
export { splitFrames, ZstdFormatError } from './frames.ts';
export { DEFAULT_ZSTD_THREADS } from './threaded.ts';

/** `auto` takes the runtime's native zstd where it has one, else WebAssembly. */
export type ZstdPreference = 'auto' | 'native' | 'wasm';

export interface LoadZstdOptions {
  /**
   * Threads for the WASM engine's compressStream (see createThreadedZstd); 0, or a runtime
   * without threads, compresses on the caller's thread. Default 0.
   */
  wasmThreads?: number;
}

/**
 * Loads a zstd engine. Both engines write the same format and read each other's output;
 * the native one is faster where the runtime has it (Bun, Deno, Node >= 22.15).
 */
export async function loadZstd(
  preference: ZstdPreference = 'auto',
  options: LoadZstdOptions = {},
): Promise<ZstdEngine> {
  const wasm = async () => {
    const threads = options.wasmThreads ?? 0;
    return (threads > 0 && (await createThreadedZstd({ threads }))) || createWasmZstd();
  };
  if (preference === 'wasm') return wasm();
  const native = createNativeZstd();
  if (native) return native;
  if (preference === 'native') {
    throw new Error(
      'zstd engine "native" is not available on this runtime (it needs Bun, Deno or Node >= 22.15); use "auto" or "wasm"',
    );
  }
  return wasm();
}
