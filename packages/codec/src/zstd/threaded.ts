/**
 * The WASM engine on threads of its own. compressStream sends a file's content to one of
 * `threads` threads in pieces of a few MiB, moved rather than copied; the thread writes each
 * piece straight into the heap of its own zstd instance and sends the piece back for reuse, then
 * sends the frame back the same way. The caller's thread stays free to read the next file or
 * upload the last one while a thread compresses, and several files compress at once.
 *
 * Memory: a thread's heap holds one file and its frame, as the engine on this thread does; this
 * thread holds a few pieces and the frames not yet handed back (release), whose memory carries
 * the next frames.
 *
 * The synchronous calls (compress, decompressFrame) run on the caller's thread, on an instance
 * made when first needed: they serve rare paths (checking an object already in the bucket).
 */
import type { ZstdEngine } from './engine.ts';
import { FrameMemory } from './frame-memory.ts';
import { type CompressionThread, nodeThreads, type SpawnThread } from './thread-node.ts';
import { type FromThread, serveCompression, type ToThread } from './thread-script.ts';
import { wasmEngine, zstdWasmBytes, zstdWasmModule } from './wasm.ts';

/**
 * The threads a host gives the WASM engine unless told otherwise: two files compress at once
 * (within the exporter's byte budget) while a third uploads.
 */
export const DEFAULT_ZSTD_THREADS = 2;

export interface ThreadedZstdOptions {
  /** How many threads compress at once (at least 1). */
  threads: number;
  /** How threads start. Default: node:worker_threads (Node, Bun, Deno). */
  spawn?: SpawnThread;
}

/** A threaded engine, with a way to end its threads (idle ones never keep a process alive). */
export interface ThreadedZstd extends ZstdEngine {
  close(): Promise<void>;
}

/** The size of the pieces a file's content travels in. */
const PIECE_BYTES = 4 * 1024 * 1024;
/**
 * Pieces in existence at most, and on their way to one thread at most: sending waits for one to
 * come back, so a busy thread holds the reading back instead of pieces piling up, and a file
 * waiting for a busy thread leaves pieces for the others.
 */
const MAX_PIECES = 4;
const PIECES_PER_THREAD = 2;

interface Job {
  resolve(frame: Uint8Array): void;
  reject(error: Error): void;
}

interface Worker {
  thread: CompressionThread;
  jobs: Map<number, Job>;
  /** Pieces sent and not yet back. */
  piecesOut: number;
  /** Files being sent. */
  sends: number;
  /** Why the thread is gone, once it is. */
  failed?: Error;
  /** The file being sent: one at a time, so that the thread takes files whole and in turn. */
  sending: Promise<void>;
}

/**
 * The thread's script: the two functions' source text. esbuild, when told to keep function names
 * (tsx does), wraps functions in a `__name` helper defined outside them; the script defines a
 * harmless one so that source still runs. Any other helper a transpiler adds would break it:
 * a target below ES2018 (async generators), or coverage instrumentation (thread-script.ts).
 */
const THREAD_SOURCE = `const __name = (target) => target;
const wasmEngine = ${wasmEngine.toString()};
(${serveCompression.toString()})(port, wasmEngine);
`;

/**
 * A WASM engine compressing streams on `threads` threads, or undefined where this runtime
 * starts no threads (edge runtimes): use createWasmZstd there.
 */
export async function createThreadedZstd(
  options: ThreadedZstdOptions,
): Promise<ThreadedZstd | undefined> {
  const spawn = options.spawn ?? nodeThreads();
  if (!spawn) return undefined;
  if (!Number.isInteger(options.threads) || options.threads < 1) {
    throw new RangeError(`zstd threads must be a whole number >= 1, got ${options.threads}`);
  }
  const [module, wasm] = await Promise.all([zstdWasmModule(), zstdWasmBytes()]);
  const workers: Worker[] = [];
  let nextId = 1;
  let local: ZstdEngine | undefined;
  const onThisThread = () => {
    local ??= wasmEngine(module);
    return local;
  };
  /** Pieces back from the threads, and frames' memory handed back (release), for reuse. */
  const pieces: ArrayBuffer[] = [];
  let piecesMade = 0;
  // One frame's memory for each thread and one uploading: more kept would only be memory.
  const frames = new FrameMemory(options.threads + 1);
  let closed = false;
  /** Senders waiting for a piece to come back. */
  let waiting: Array<() => void> = [];
  const wakeSenders = () => {
    const woken = waiting;
    waiting = [];
    for (const wake of woken) wake();
  };

  const post = (worker: Worker, message: ToThread, transfer: ArrayBuffer[] = []) =>
    worker.thread.post(message, transfer);

  /** A piece to fill for `worker`, once it has fewer than its share on the way. */
  const takePiece = async (worker: Worker): Promise<ArrayBuffer> => {
    for (;;) {
      if (worker.failed) throw worker.failed;
      if (worker.piecesOut < PIECES_PER_THREAD) {
        const spare = pieces.pop();
        if (spare) return spare;
        if (piecesMade < MAX_PIECES) {
          piecesMade++;
          return new ArrayBuffer(PIECE_BYTES);
        }
      }
      await new Promise<void>((resolve) => waiting.push(resolve));
    }
  };
  const givePiece = (piece: ArrayBuffer) => {
    pieces.push(piece);
    wakeSenders();
  };

  /** A thread keeps the process alive while it has anything of ours: a file, or pieces. */
  const refreshKeepAlive = (worker: Worker) =>
    worker.thread.keepAlive(worker.jobs.size > 0 || worker.sends > 0 || worker.piecesOut > 0);

  const settle = (worker: Worker, id: number) => {
    const job = worker.jobs.get(id);
    worker.jobs.delete(id);
    refreshKeepAlive(worker);
    return job;
  };

  const start = (): Worker => {
    const worker: Worker = {
      thread: spawn(THREAD_SOURCE),
      jobs: new Map(),
      piecesOut: 0,
      sends: 0,
      sending: Promise.resolve(),
    };
    worker.thread.listen(
      (message) => {
        const reply = message as FromThread;
        if (reply.kind === 'piece') {
          worker.piecesOut--;
          givePiece(reply.piece);
          refreshKeepAlive(worker);
        } else if (reply.kind === 'frame') {
          frames.handOut(reply.frame);
          settle(worker, reply.id)?.resolve(new Uint8Array(reply.frame, 0, reply.size));
        } else {
          settle(worker, reply.id)?.reject(new Error(reply.message));
        }
      },
      (error) => {
        // A thread that failed is dropped with its files; the next file starts a new one.
        if (worker.failed) return;
        worker.failed = new Error(`zstd (wasm) thread failed: ${error.message}`);
        const at = workers.indexOf(worker);
        if (at >= 0) workers.splice(at, 1);
        for (const job of worker.jobs.values()) job.reject(worker.failed);
        worker.jobs.clear();
        // Its pieces are gone with it: others may be made in their place.
        piecesMade -= worker.piecesOut;
        worker.piecesOut = 0;
        worker.thread.keepAlive(false);
        wakeSenders();
      },
    );
    // Each thread compiles its own copy: a compiled module cannot be sent on every runtime.
    const bytes = new Uint8Array(wasm).buffer;
    post(worker, { kind: 'start', wasm: bytes }, [bytes]);
    workers.push(worker);
    return worker;
  };

  /** The idle thread, or a new one while fewer than `threads` run, or the least busy. */
  const pick = (): Worker => {
    const idle = workers.find((worker) => worker.jobs.size === 0);
    if (idle) return idle;
    if (workers.length < options.threads) return start();
    return workers.reduce((least, worker) => (worker.jobs.size < least.jobs.size ? worker : least));
  };

  /** Sends a file's content in pieces; the thread checks that it is `size` bytes. */
  const send = async (
    worker: Worker,
    id: number,
    chunks: AsyncIterable<Uint8Array>,
    size: number,
    level: number,
  ) => {
    const frame = frames.takeLargest();
    post(worker, { kind: 'begin', id, size, level, frame }, frame ? [frame] : []);
    /** The piece being filled: taken when there is something to put in it. */
    let piece: Uint8Array | undefined;
    let used = 0;
    const ship = () => {
      if (worker.failed) throw worker.failed;
      const memory = piece!.buffer as ArrayBuffer;
      worker.piecesOut++;
      post(worker, { kind: 'piece', id, piece: memory, length: used }, [memory]);
      piece = undefined;
      used = 0;
    };
    worker.sends++;
    refreshKeepAlive(worker);
    try {
      for await (const chunk of chunks) {
        for (let at = 0; at < chunk.byteLength; ) {
          piece ??= new Uint8Array(await takePiece(worker));
          const take = Math.min(chunk.byteLength - at, piece.byteLength - used);
          piece.set(chunk.subarray(at, at + take), used);
          used += take;
          at += take;
          if (used === piece.byteLength) ship();
        }
      }
      if (piece && used > 0) ship();
    } finally {
      if (piece) givePiece(piece.buffer as ArrayBuffer);
      post(worker, { kind: 'end', id });
      worker.sends--;
      refreshKeepAlive(worker);
    }
  };

  return {
    name: 'wasm',
    threads: options.threads,
    compress: (data, level) => onThisThread().compress(data, level),
    decompressFrame: (frame, decodedBound) => onThisThread().decompressFrame(frame, decodedBound),
    async compressStream(chunks, totalBytes, level) {
      if (closed) throw new Error('zstd (wasm) threads closed');
      const worker = pick();
      const id = nextId++;
      const frame = new Promise<Uint8Array>((resolve, reject) =>
        worker.jobs.set(id, { resolve, reject }),
      );
      frame.catch(() => {}); // met below, unless reading the content failed first
      const sent = worker.sending.then(() => send(worker, id, chunks, totalBytes, level));
      worker.sending = sent.catch(() => {});
      try {
        await sent;
      } catch (error) {
        settle(worker, id); // the thread's answer (a short file) is not the news
        throw error;
      }
      return frame;
    },
    release: (frame) => frames.release(frame),
    async close() {
      closed = true;
      const closing = workers.splice(0);
      for (const worker of closing) {
        for (const job of worker.jobs.values()) job.reject(new Error('zstd (wasm) threads closed'));
        worker.jobs.clear();
      }
      await Promise.all(closing.map((worker) => worker.thread.terminate()));
    },
  };
}
