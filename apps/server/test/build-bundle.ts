/**
 * Builds the bundle `pnpm start` runs (dist/aperture.mjs) once, before the server's tests:
 * the CLI and crash tests run it, and two builds at once would write the same file.
 */
import { execFileSync } from 'node:child_process';

export default function buildBundle(): void {
  execFileSync('pnpm', ['run', 'build'], {
    cwd: new URL('..', import.meta.url).pathname,
    stdio: 'inherit',
  });
}
