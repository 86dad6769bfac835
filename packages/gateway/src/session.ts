/**
 * Sessions: the requests of one person to one model, close together. A client may name its
 * session in a header (SESSION_HEADER); otherwise a request joins the last session of its
 * login and model if that saw a request within the idle window, and starts a new one if not.
 */

/** The header a client names its session in. */
export const SESSION_HEADER = 'x-aperture-session-id';

export class SessionTracker {
  readonly #idleMs: () => number;
  readonly #sessions = new Map<string, { id: string; lastMs: number }>();

  /** `idleMs`: the window now (config may change it). */
  constructor(idleMs: () => number) {
    this.#idleMs = idleMs;
  }

  /** The session of a request by `login` to `model` at `nowMs`. */
  sessionFor(login: string, model: string, nowMs: number): string {
    const key = `${login}\u0000${model}`;
    const last = this.#sessions.get(key);
    if (last && nowMs - last.lastMs <= this.#idleMs()) {
      last.lastMs = nowMs;
      return last.id;
    }
    const id = crypto.randomUUID();
    this.#sessions.set(key, { id, lastMs: nowMs });
    if (this.#sessions.size > 10_000) this.#forgetIdle(nowMs);
    return id;
  }

  /** Drops sessions past their idle window, so that the map follows the active ones. */
  #forgetIdle(nowMs: number): void {
    for (const [key, session] of this.#sessions)
      if (nowMs - session.lastMs > this.#idleMs()) this.#sessions.delete(key);
  }
}
