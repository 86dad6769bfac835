/**
 * A streaming compression that did not give one frame (Deno's zlib has been seen to end
 * frames early under load): callers compress the buffered input instead.
 */
export class ZstdStreamError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ZstdStreamError';
  }
}

/** What the codec needs from a zstd implementation. */
export interface ZstdEngine {
  readonly name: 'wasm' | 'native';
  /**
   * How many compressStream calls run at once, each on a thread of its own. 0: compression runs
   * on the caller's thread, blocking it, and its frame may be lent (see compressStream). Above
   * 0 the frame is always the caller's own, so a caller may compress one file while it
   * uploads another.
   */
  readonly threads: number;
  /** Compresses into exactly one zstd frame. */
  compress(data: Uint8Array, level: number): Uint8Array;
  /**
   * Compresses `totalBytes` arriving in chunks into one frame that declares its size, without
   * the caller joining them first: native zstd streams them; the WASM engine copies each chunk
   * straight into its heap, where it holds the input once.
   *
   * The frame may be a view of the engine's own memory (the WASM engine's heap), valid only
   * until the engine's next call: use it, or copy it, before calling the engine again. An
   * exporter uploads each file before compressing the next, so no file is copied twice.
   */
  compressStream(
    chunks: AsyncIterable<Uint8Array>,
    totalBytes: number,
    level: number,
  ): Promise<Uint8Array>;
  /**
   * Hands back a frame from compressStream that the caller is done with, so that its memory
   * serves a later frame (the threaded and native engines reuse it; the WASM engine on the
   * caller's thread lends its frames instead).
   */
  release?(frame: Uint8Array): void;
  /** Decompresses one frame whose decoded size is at most `decodedBound` bytes. */
  decompressFrame(frame: Uint8Array, decodedBound: number): Uint8Array;
}
