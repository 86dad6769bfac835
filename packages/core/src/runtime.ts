/** Time and logging, handed in so tests can use a fake clock and capture log lines. */

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const handle = setTimeout(fn, ms) as unknown as { unref?: () => void };
    // A pending export must not keep a CLI process alive (Node, Bun, Deno all have unref).
    handle.unref?.();
    return handle;
  },
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Structured log line. Messages and fields never carry secrets. */
export type Logger = (level: LogLevel, message: string, fields?: Record<string, unknown>) => void;
