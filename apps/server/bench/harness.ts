/**
 * What the server's benchmarks share: wrk from another process (its results read back from a
 * Lua `done` hook), the bundled server as `pnpm start` runs it, in a process of its own.
 */
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';

const server = new URL('..', import.meta.url).pathname;

export interface Load {
  requests: number;
  errors: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** A Lua `done` hook printing what runWrk reads back. */
export const WRK_DONE = `
function done(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %.3f %.3f %.3f\\n", summary.requests,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.duration, latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
`;

/** A JSON string is a valid Lua string literal for what these scripts hold. */
export const lua = (text: string) => JSON.stringify(text);

/** Whether wrk is here; the benchmarks say so and skip when it is not. */
export function hasWrk(): boolean {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
  } catch (error) {
    // wrk prints its version and exits 1; only a missing binary throws ENOENT.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
  }
  return true;
}

/** wrk on `url` (2 threads), with a script ending in WRK_DONE, or plain GETs without one. */
export function runWrk(
  url: string,
  options: { seconds: number; connections: number; script?: string },
): Load {
  const args = ['-t2', `-c${options.connections}`, `-d${options.seconds}s`, '--latency'];
  if (options.script) args.push('-s', options.script);
  const output = execFileSync('wrk', [...args, url], { encoding: 'utf8' });
  const result = /RESULT (\d+) (\d+) (\d+) ([\d.]+) ([\d.]+) ([\d.]+)/.exec(output);
  if (!result) {
    // Without a script: wrk's own summary.
    const rate = /Requests\/sec:\s+([\d.]+)/.exec(output)!;
    const p99 = /99%\s+([\d.]+)(us|ms|s)/.exec(output)!;
    const scale = { us: 0.001, ms: 1, s: 1000 }[p99[2] as 'us' | 'ms' | 's'];
    const p50 = /50%\s+([\d.]+)(us|ms|s)/.exec(output)!;
    const scale50 = { us: 0.001, ms: 1, s: 1000 }[p50[2] as 'us' | 'ms' | 's'];
    return {
      requests: 0,
      errors: 0,
      perSecond: Number(rate[1]),
      p50Ms: Number(p50[1]) * scale50,
      p99Ms: Number(p99[1]) * scale,
      maxMs: 0,
    };
  }
  const [requests, errors, micros, p50, p99, max] = result.slice(1).map(Number) as number[];
  return {
    requests: requests!,
    errors: errors!,
    perSecond: requests! / (micros! / 1e6),
    p50Ms: p50!,
    p99Ms: p99!,
    maxMs: max!,
  };
}

/**
 * Builds the bundle `pnpm start` runs; BENCH_SKIP_BUILD=1 runs the one in dist/ as it is (to
 * compare two builds, copied in turn into dist/aperture.mjs).
 */
export function buildBundle(): void {
  if (process.env.BENCH_SKIP_BUILD === '1') return;
  execFileSync('pnpm', ['run', 'build'], { cwd: server, stdio: 'inherit' });
}

export interface ServerProcess {
  url: string;
  /** SIGTERM: the server stops as in production (and writes its profile, if asked). */
  stop(): Promise<void>;
}

/** The bundle's `serve` on `dataDir` and `configPath`, with these tokens and node flags. */
export async function startBundledServer(options: {
  dataDir: string;
  configPath: string;
  env?: Record<string, string>;
  nodeFlags?: string[];
}): Promise<ServerProcess> {
  const child = spawn(
    process.execPath,
    [
      ...(options.nodeFlags ?? []),
      join(server, 'dist/aperture.mjs'),
      'serve',
      '--port',
      '0',
      '--data',
      options.dataDir,
      '--config',
      options.configPath,
    ],
    { env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let output = '';
    child.stdout!.on('data', (chunk) => {
      output += chunk;
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match) resolve(match[1]!);
    });
    child.on('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        child.removeAllListeners('exit');
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}
