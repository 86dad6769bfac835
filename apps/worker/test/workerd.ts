/**
 * The worker in workerd, through Miniflare: bundled as wrangler would (scripts/build.ts), with
 * a D1 database of its own (kept in `persistDir` when given, so that a second instance finds
 * what the first left), the migration applied, and the bindings a deployment would have.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { Miniflare } from 'miniflare';
import { buildWorker } from '../scripts/build.ts';
import { MIGRATION } from '../scripts/write-migration.ts';

/** What wrangler.toml's compatibility_date says; Miniflare's workerd supports it. */
export const COMPATIBILITY_DATE = '2026-08-01';

const builds = new Map<string, Promise<string>>();
/** Builds each entry once per test process. */
export function built(entry = '../src/index.ts', name = 'worker'): Promise<string> {
  if (!builds.has(name)) builds.set(name, buildWorker(entry, name));
  return builds.get(name)!;
}

export interface WorkerOptions {
  script?: string;
  bindings?: Record<string, string>;
  /** Where D1 keeps its data; in memory when unset. */
  persistDir?: string;
  /** Leave the database empty (no migration). */
  noMigration?: boolean;
  /** Serve this directory as Workers Static Assets (the ASSETS binding), as wrangler.toml does. */
  assetsDir?: string;
}

export async function startWorker(options: WorkerOptions = {}) {
  const scriptPath = options.script ?? (await built());
  const mf = new Miniflare({
    scriptPath,
    modules: true,
    modulesRules: [
      { type: 'ESModule', include: ['**/*.mjs'] },
      { type: 'CompiledWasm', include: ['**/*.wasm'] },
    ],
    compatibilityDate: COMPATIBILITY_DATE,
    compatibilityFlags: ['nodejs_compat'],
    d1Databases: { DB: 'aperture-test' },
    ...(options.persistDir ? { d1Persist: options.persistDir } : {}),
    bindings: options.bindings ?? {},
    ...(options.assetsDir
      ? {
          assets: {
            directory: options.assetsDir,
            binding: 'ASSETS',
            routerConfig: { has_user_worker: true, invoke_user_worker_ahead_of_assets: true },
          },
        }
      : {}),
  });
  const db = await mf.getD1Database('DB');
  if (!options.noMigration) {
    const tables = await db.prepare("SELECT name FROM sqlite_master WHERE name = 'captures'").all();
    if (tables.results.length === 0) {
      const statements = readFileSync(MIGRATION, 'utf8')
        .split(';\n')
        .map((sql) => sql.replace(/^--.*$/gm, '').trim())
        .filter((sql) => sql !== '');
      await db.batch(statements.map((sql) => db.prepare(sql)));
    }
  }
  return {
    mf,
    db,
    fetch: (path: string, init?: RequestInit) =>
      mf.dispatchFetch(`http://worker.test${path}`, init as never) as unknown as Promise<Response>,
    async scheduled() {
      // Miniflare's Fetcher has scheduled(); its types do not say so.
      const worker = (await mf.getWorker()) as unknown as {
        scheduled(options: { cron: string }): Promise<{ outcome: string }>;
      };
      return worker.scheduled({ cron: '*/5 * * * *' });
    },
    stop: () => mf.dispose(),
  };
}

export type WorkerUnderTest = Awaited<ReturnType<typeof startWorker>>;

/** The workerd processes this process started (Miniflare runs one per instance), newest last. */
export function workerdPids(): number[] {
  const out = execFileSync('ps', ['--ppid', String(process.pid), '-o', 'pid=,comm='], {
    encoding: 'utf8',
  });
  return out
    .trim()
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([, comm]) => comm === 'workerd')
    .map(([pid]) => Number(pid));
}

/** A process's CPU time so far (user + system, ms), and its resident and peak memory (bytes). */
export function processStats(pid: number): { cpuMs: number; rssBytes: number; peakBytes: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command (which may hold spaces) : utime and stime are the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // clock ticks: 100 a second on Linux
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)![1]) * 1024;
  return { cpuMs: (ticks * 1000) / 100, rssBytes: kb('VmRSS'), peakBytes: kb('VmHWM') };
}

/** Starts a process's peak memory (VmHWM) over from its current size (Linux, clear_refs 5). */
export function resetPeak(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}
