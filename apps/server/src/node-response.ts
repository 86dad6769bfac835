/**
 * Node's ServerResponse, sending a streamed answer in as few writes as its timing allows.
 * @hono/node-server flushes a stream's headers at once, then writes each chunk and the
 * stream's end: a system call each, and each wakes the client. Here the headers wait for the
 * first chunk (or the end of their turn of the event loop) and leave with it, at once: the
 * first byte is never held back. Later chunks are corked until the turn's callbacks have run
 * (setImmediate), so those written in one turn, and the end, leave together; a chunk never
 * waits past its turn. A whole answer (one end() with its body) goes out in one write at once.
 */
import { ServerResponse } from 'node:http';

export class CoalescingResponse extends ServerResponse {
  #corked = false;
  #firstChunkSent = false;

  #corkForTurn(): void {
    if (this.#corked) return;
    this.#corked = true;
    this.cork();
    setImmediate(() => this.#release());
  }

  #release(): void {
    if (!this.#corked) return;
    this.#corked = false;
    this.uncork();
  }

  override flushHeaders(): void {
    this.#corkForTurn();
    super.flushHeaders();
  }

  // biome-ignore lint/suspicious/noExplicitAny: ServerResponse.write's overloads, passed on.
  override write(...args: any[]): boolean {
    const write = super.write as (...rest: unknown[]) => boolean;
    if (this.#firstChunkSent) {
      this.#corkForTurn();
      return write.apply(this, args);
    }
    // The first chunk leaves now, with the headers held for it. (A turn's callbacks can run
    // long: the rest of a stream that arrived at once, and its record.)
    this.#firstChunkSent = true;
    const written = write.apply(this, args);
    this.#release();
    return written;
  }
}
