/**
 * Node's ServerResponse, sending what a streamed answer writes within one turn of the event
 * loop in one write. @hono/node-server flushes a stream's headers at once, then writes each
 * chunk and the stream's end: a system call each, and each wakes the client. Corked from the
 * headers or a chunk until the turn's callbacks have run (setImmediate), they leave together
 * when the stream's first chunk is already there, and a chunk never waits past its turn.
 * A whole answer (one end() with its body) goes out as before, in one write at once.
 */
import { ServerResponse } from 'node:http';

export class CoalescingResponse extends ServerResponse {
  #corked = false;

  #corkForTurn(): void {
    if (this.#corked) return;
    this.#corked = true;
    this.cork();
    setImmediate(() => {
      this.#corked = false;
      this.uncork();
    });
  }

  override flushHeaders(): void {
    this.#corkForTurn();
    super.flushHeaders();
  }

  // biome-ignore lint/suspicious/noExplicitAny: ServerResponse.write's overloads, passed on.
  override write(...args: any[]): boolean {
    this.#corkForTurn();
    return (super.write as (...rest: unknown[]) => boolean)(...args);
  }
}
