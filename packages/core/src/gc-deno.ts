/**
 * Garbage collection on Deno, for hosts that collect after each exported file (the server's
 * Deno entry, the export benchmark). A runtime adapter like the store/sqlite-*.ts files: it imports
 * node:v8 and node:vm, so tsconfig.json leaves it out of the Web-only check.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * A full garbage collection on Deno, which has nothing like Bun.gc and no gc() unless started
 * with --v8-flags=--expose-gc: the flag is set now, and a context made after it sees gc().
 * Undefined where that does not work, so the server runs on without it.
 */
export function denoGarbageCollector(): (() => void) | undefined {
  try {
    setFlagsFromString('--expose-gc');
    const gc: unknown = runInNewContext('gc');
    return typeof gc === 'function' ? () => gc() : undefined;
  } catch {
    return undefined;
  }
}
