/**
 * What a compression thread runs. This file is not imported by the thread: threaded.ts sends
 * serveCompression to it as source text (see THREAD_SOURCE there), together with wasmEngine
 * from wasm.ts, because a thread cannot load our TypeScript on every runtime we support.
 *
 * Hence the rule for this file: it imports types only, and serveCompression uses nothing
 * outside its own body (no imports, no module-level names, no helpers a transpiler would add);
 * whatever it needs comes in as an argument. threaded.test.ts, the Bun and Deno suites and the
 * bundled CLI's tests run it as each of our toolchains transpiles it.
 */
import type { ZstdEngine } from './engine.ts';

/** Messages to a thread. */
export type ToThread =
  | { kind: 'start'; wasm: ArrayBuffer }
  /** A file of `size` bytes begins; `frame`, if any, is memory to return its frame in. */
  | { kind: 'begin'; id: number; size: number; level: number; frame?: ArrayBuffer }
  | { kind: 'piece'; id: number; piece: ArrayBuffer; length: number }
  | { kind: 'end'; id: number };

/** Messages from a thread. */
export type FromThread =
  | { kind: 'piece'; piece: ArrayBuffer }
  | { kind: 'frame'; id: number; frame: ArrayBuffer; size: number }
  | { kind: 'error'; id: number; message: string };

/**
 * What each thread runs: it builds an engine from the zstd bytes it is sent first, then streams
 * each file's pieces into the engine as they arrive, returning every piece once copied, and
 * answers with the frame. The engine comes from `makeEngine`: wasmEngine, whose source the
 * thread receives as well.
 */
export function serveCompression(
  port: {
    on(listener: (message: ToThread) => void): void;
    post(message: FromThread, transfer?: ArrayBuffer[]): void;
  },
  makeEngine: (module: WebAssembly.Module) => ZstdEngine,
) {
  let engine: ZstdEngine | undefined;
  let startup = '';
  const files = new Map<number, { add(piece: ArrayBuffer, length: number): void; end(): void }>();

  const compress = async (id: number, size: number, level: number, spare?: ArrayBuffer) => {
    const pieces: Array<{ piece: ArrayBuffer; length: number }> = [];
    /** The piece the engine is copying from. */
    let current: ArrayBuffer | undefined;
    const giveBack = (piece: ArrayBuffer) => port.post({ kind: 'piece', piece }, [piece]);
    let ended = false;
    let waiting: (() => void) | undefined;
    const wake = () => {
      const resume = waiting;
      waiting = undefined;
      resume?.();
    };
    files.set(id, {
      add(piece, length) {
        pieces.push({ piece, length });
        wake();
      },
      end() {
        ended = true;
        wake();
      },
    });
    async function* content() {
      for (;;) {
        const next = pieces.shift();
        if (!next) {
          if (ended) return;
          await new Promise<void>((resolve) => {
            waiting = resolve;
          });
          continue;
        }
        current = next.piece;
        yield new Uint8Array(next.piece, 0, next.length);
        // The engine has copied the piece into its heap: back it goes, for the next one.
        current = undefined;
        giveBack(next.piece);
      }
    }
    try {
      if (!engine) throw new Error(`zstd (wasm) did not start in its thread: ${startup}`);
      const frame = await engine.compressStream(content(), size, level);
      // Room to spare, so that the memory serves the next, slightly larger frames too.
      const memory =
        spare && spare.byteLength >= frame.byteLength
          ? spare
          : new ArrayBuffer(Math.ceil((frame.byteLength * 1.0625) / 65536) * 65536);
      new Uint8Array(memory).set(frame);
      port.post({ kind: 'frame', id, frame: memory, size: frame.byteLength }, [memory]);
    } catch (error) {
      port.post({
        kind: 'error',
        id,
        message: error instanceof Error ? error.message : String(error),
      });
    } finally {
      files.delete(id);
      // A file that failed part way gives back what it held and what was still to come.
      if (current) giveBack(current);
      for (const left of pieces) giveBack(left.piece);
    }
  };

  port.on((message) => {
    if (message.kind === 'start') {
      try {
        engine = makeEngine(new WebAssembly.Module(message.wasm));
      } catch (error) {
        startup = error instanceof Error ? error.message : String(error);
      }
    } else if (message.kind === 'begin') {
      void compress(message.id, message.size, message.level, message.frame);
    } else if (message.kind === 'piece') {
      const file = files.get(message.id);
      if (file) file.add(message.piece, message.length);
      else port.post({ kind: 'piece', piece: message.piece }, [message.piece]);
    } else {
      files.get(message.id)?.end();
    }
  });
}
