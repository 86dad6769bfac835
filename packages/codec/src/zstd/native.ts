/**
 * The runtime's own zstd, through the node:zlib API that Bun, Deno and Node >= 22.15 provide.
 * Looked up at run time (process.getBuiltinModule), so this module imports nothing from node:
 * and loads on runtimes without it, where createNativeZstd() returns undefined.
 */
import { type ZstdEngine, ZstdStreamError } from './engine.ts';
import { FrameMemory } from './frame-memory.ts';
import { splitFrames, withContentSize } from './frames.ts';

interface ZstdStream {
  write(chunk: Uint8Array, callback: () => void): boolean;
  end(): void;
  on(event: 'data', listener: (chunk: Uint8Array) => void): void;
  on(event: 'end' | 'drain', listener: () => void): void;
  on(event: 'error', listener: (error: Error) => void): void;
  once(event: 'drain', listener: () => void): void;
}

interface ZlibZstd {
  createZstdCompress(options: object): ZstdStream;
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

/** How much input compressStream hands zlib per write. */
const STREAM_WRITE_BYTES = 1024 * 1024;

/** zstd's bound on a frame's size for `size` bytes of input (ZSTD_COMPRESSBOUND), plus room. */
const frameBound = (size: number) => size + Math.ceil(size / 256) + 128 * 1024;

export function createNativeZstd(): ZstdEngine | undefined {
  const zlib = findZlibZstd();
  if (!zlib) return undefined;
  /**
   * The memory compressStream writes frames into, handed back (release) once a frame is
   * uploaded: zlib's output is copied into it as it comes, so a frame is never held twice.
   * It is sized for zstd's bound, but pages past the largest frame written are never touched,
   * so the bound costs nothing until a frame needs it.
   */
  const memory = new FrameMemory(1);
  return {
    name: 'native',
    threads: 0,
    compress(data, level) {
      const frame = zlib.zstdCompressSync(data, {
        params: { [zlib.constants.ZSTD_c_compressionLevel]: level },
        // Without the size up front a streaming encoder leaves Frame_Content_Size out.
        pledgedSrcSize: data.byteLength,
      });
      return withContentSize(asUint8Array(frame), data.byteLength);
    },
    async compressStream(chunks, totalBytes, level) {
      const stream = zlib.createZstdCompress({
        params: { [zlib.constants.ZSTD_c_compressionLevel]: level },
        pledgedSrcSize: totalBytes,
      });
      const bound = frameBound(totalBytes);
      const spare = memory.takeLargest();
      let out = new Uint8Array(spare && spare.byteLength >= bound ? spare : new ArrayBuffer(bound));
      let size = 0;
      let failure: Error | undefined;
      stream.on('data', (part) => {
        if (size + part.byteLength > out.byteLength) {
          // Only past zstd's bound (a trailing empty frame, say): grow.
          const grown = new Uint8Array(Math.max(out.byteLength * 2, size + part.byteLength));
          grown.set(out.subarray(0, size));
          out = grown;
        }
        out.set(part, size);
        size += part.byteLength;
      });
      stream.on('error', (error) => {
        failure = error;
      });
      const ended = new Promise<void>((resolve) => stream.on('end', resolve));
      // Records are small: they are gathered into one staging buffer and handed to zlib a
      // megabyte at a time, since every write is a round trip to zlib's thread. One write in
      // flight at a time: memory stays at one buffer, the buffer may be refilled once zlib has
      // taken it, and Deno's zlib, given several writes at once under load, ended frames early.
      const staging = new Uint8Array(STREAM_WRITE_BYTES);
      let staged = 0;
      const flush = async () => {
        if (staged === 0 || failure) return;
        const full = staging.subarray(0, staged);
        await new Promise<void>((resolve) => stream.write(full, () => resolve()));
        staged = 0;
      };
      let written = 0;
      for await (const chunk of chunks) {
        if (failure) break;
        written += chunk.byteLength;
        for (let at = 0; at < chunk.byteLength; ) {
          const take = Math.min(chunk.byteLength - at, staging.byteLength - staged);
          staging.set(chunk.subarray(at, at + take), staged);
          staged += take;
          at += take;
          if (staged === staging.byteLength) await flush();
        }
      }
      await flush();
      if (written !== totalBytes && !failure)
        failure = new Error(`expected ${totalBytes} bytes to compress, got ${written}`);
      stream.end();
      if (!failure) await ended;
      if (failure) {
        memory.keep(out.buffer as ArrayBuffer); // nobody else has it: the next file's
        throw failure;
      }
      const frame = out.subarray(0, size);
      // zlib may end the stream with an extra, empty frame after the pledged size was reached:
      // an export file is one frame, so it is cut off.
      const [first, ...rest] = splitFrames(frame);
      if (!first || rest.some((extra) => extra.contentSize !== 0)) {
        memory.keep(out.buffer as ArrayBuffer);
        throw new ZstdStreamError(`streaming zstd wrote ${rest.length + 1} frames, not one`);
      }
      const file = withContentSize(frame.subarray(0, first.end), totalBytes);
      if (file.buffer === out.buffer) memory.handOut(out.buffer as ArrayBuffer);
      return file;
    },
    release: (frame) => memory.release(frame),
    decompressFrame: (frame, decodedBound) =>
      asUint8Array(zlib.zstdDecompressSync(frame, { maxOutputLength: Math.max(decodedBound, 1) })),
  };
}
