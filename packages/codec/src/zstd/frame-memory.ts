/**
 * Memory that frames are written into, taken back once the caller is done with a frame
 * (ZstdEngine.release) so that later frames reuse it instead of new allocations: the native
 * and threaded engines keep theirs here.
 */
export class FrameMemory {
  /** Memory of frames handed out: only those are taken back. */
  readonly #handedOut = new WeakSet<ArrayBuffer>();
  /** Memory taken back, largest last; at most `keep` of it. */
  readonly #spare: ArrayBuffer[] = [];
  readonly #keep: number;

  constructor(keep: number) {
    this.#keep = keep;
  }

  /** The largest memory kept, if any, now the caller's (to write a frame into, or drop). */
  takeLargest(): ArrayBuffer | undefined {
    return this.#spare.pop();
  }

  /** Notes that a frame in this memory goes to the caller, who may hand it back. */
  handOut(memory: ArrayBuffer): void {
    this.#handedOut.add(memory);
  }

  /** Takes back the memory of a frame handed out (anything else is ignored). */
  release(frame: Uint8Array): void {
    const memory = frame.buffer as ArrayBuffer;
    if (!this.#handedOut.delete(memory)) return;
    this.keep(memory);
  }

  /** Keeps memory nobody else holds, dropping the smallest beyond `keep`. */
  keep(memory: ArrayBuffer): void {
    this.#spare.push(memory);
    this.#spare.sort((a, b) => a.byteLength - b.byteLength);
    if (this.#spare.length > this.#keep) this.#spare.shift();
  }
}
