/** What the codec needs from a zstd implementation. */
export interface ZstdEngine {
  readonly name: 'wasm' | 'native';
  /** Compresses into exactly one zstd frame. */
  compress(data: Uint8Array, level: number): Uint8Array;
  /** Decompresses one frame whose decoded size is at most `decodedBound` bytes. */
  decompressFrame(frame: Uint8Array, decodedBound: number): Uint8Array;
}
