import type { ZstdEngine } from './engine.ts';
import { createNativeZstd } from './native.ts';
import { createWasmZstd } from './wasm.ts';

export { type ZstdEngine, ZstdStreamError } from './engine.ts';
export { splitFrames, withContentSize, ZstdFormatError, type ZstdFrame } from './frames.ts';

/** `auto` takes the runtime's native zstd where it has one, else WebAssembly. */
export type ZstdPreference = 'auto' | 'native' | 'wasm';

/**
 * Loads a zstd engine. Both engines write the same format and read each other's output;
 * the native one is faster where the runtime has it (Bun, Deno, Node >= 22.15).
 */
export async function loadZstd(preference: ZstdPreference = 'auto'): Promise<ZstdEngine> {
  if (preference === 'wasm') return createWasmZstd();
  const native = createNativeZstd();
  if (native) return native;
  if (preference === 'native') {
    throw new Error(
      'zstd engine "native" is not available on this runtime (it needs Bun, Deno or Node >= 22.15); use "auto" or "wasm"',
    );
  }
  return createWasmZstd();
}
