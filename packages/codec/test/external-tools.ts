/**
 * The independent readers the interop tests run: the zstd CLI and Debian's Python with cbor2
 * and zstandard (scripts/setup.sh installs them). Missing on a developer machine, the tests
 * skip and say what to install; on CI (CI=true) a missing reader is an error, not a skip.
 */
import { spawnSync } from 'node:child_process';

/** Debian's Python: the first python3 on PATH may be a build without Debian's modules. */
export const PYTHON = process.env.APERTURE_TEST_PYTHON ?? '/usr/bin/python3';

function probe(command: string, args: string[]): boolean {
  const result = spawnSync(command, args, { stdio: 'ignore' });
  return result.status === 0;
}

function availability(name: string, ok: boolean, install: string): string | undefined {
  if (ok) return undefined;
  const reason = `${name} is not installed (${install})`;
  if (process.env.CI) throw new Error(`CI must have every interop reader: ${reason}`);
  return reason;
}

export const zstdCliMissing = availability(
  'the zstd CLI',
  probe('zstd', ['--version']),
  'apt-get install -y zstd',
);

export const pythonReadersMissing = availability(
  'Python cbor2 + zstandard',
  probe(PYTHON, ['-c', 'import cbor2, zstandard']),
  'apt-get install -y python3-cbor2 python3-zstandard',
);
