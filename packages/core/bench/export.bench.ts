/**
 * Export benchmark: realistic captures from the SQLite store to the strict local S3, in a child
 * process (export-child.ts) whose peak RSS is measured; beside it, the zstd CLI at -3 on the
 * same CBOR bytes (its best of three runs).
 *
 *   node --import tsx bench/export.bench.ts [--records 100000] [--budget-mib 64]
 *        [--limits 10000,1000] [--runtimes node,node:wasm:0,node24,bun,bun:wasm,deno,deno:wasm]
 *
 * The store is filled once; each run's exporter gets its own copy of it, so each exports the
 * same records. Every run goes once per record limit. A run is `runtime[:engine[:threads]]`, as
 * the server's APERTURE_ZSTD_ENGINE and APERTURE_ZSTD_THREADS: without an engine, the runtime's
 * default (Node 20: WASM zstd; Node 24, Bun and Deno: native zstd); the WASM engine compresses on 2
 * threads unless told otherwise (0: on the exporter's thread). Node runs the child bundled by esbuild, as `pnpm start`
 * runs the server (no TypeScript loader in the measured process); Bun and Deno run TypeScript.
 * `node` is the Node running the benchmark; `node24` is the one scripts/setup.sh installs in .node24/
 * (better-sqlite3 where it is built for it, else node:sqlite: see src/store/sqlite-node.ts).
 * MB are 10^6 bytes of CBOR (the records as exported, before compression) per second.
 */
import { execFileSync, fork, spawn } from 'node:child_process';
import {
  closeSync,
  copyFileSync,
  mkdtempSync,
  openSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_ZSTD_THREADS } from '@aperture-export/codec';
import { makeRecord, seededRandom } from '@aperture-export/codec/testing';
import { LOCAL_CREDENTIALS } from '@aperture-export/testcontainers';
import { build } from 'esbuild';
import { nodeSqliteBinding, openSqliteStore } from '../src/store/sqlite-node.ts';
import type { ChildInput, ChildResult } from './export-child.ts';

const childSource = new URL('export-child.ts', import.meta.url).pathname;
const bin = (name: string) =>
  new URL(`../../../node_modules/.bin/${name}`, import.meta.url).pathname;
const withNode24 = new URL('../../../scripts/with-node24.sh', import.meta.url).pathname;

/** The child as one JavaScript file for Node, with the same externals as `pnpm build`. */
async function bundleChild(): Promise<string> {
  const outfile = new URL('dist/export-child.mjs', import.meta.url).pathname;
  await build({
    entryPoints: [childSource],
    outfile,
    bundle: true,
    platform: 'node',
    // ESM builds first, as `pnpm build` does: jsonc-parser's CommonJS build requires at run time.
    mainFields: ['module', 'main'],
    format: 'esm',
    target: 'node20',
    // The Bun store is never loaded on Node.
    external: ['better-sqlite3', '@bokuweb/zstd-wasm', 'cbor-x', '*/sqlite-bun.ts'],
    logLevel: 'warning',
  });
  return outfile;
}

/** The command that runs the child on a runtime. */
function childCommand(runtime: string, nodeBundle: string): string[] {
  if (runtime === 'bun') return [bin('bun'), childSource];
  if (runtime === 'deno') return [bin('deno'), 'run', '-A', childSource];
  if (runtime === 'node') return [process.execPath, nodeBundle];
  // The script execs Node 24 in its own place: the measured process is Node's.
  if (runtime === 'node24') return ['bash', withNode24, 'node', nodeBundle];
  throw new Error(`unknown runtime "${runtime}" (node, node24, bun or deno)`);
}

function runChild(command: string[], input: ChildInput): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const measured = spawn(command[0]!, [...command.slice(1), JSON.stringify(input)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    measured.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    measured.on('exit', (code) =>
      code === 0
        ? resolve(JSON.parse(stdout.trim().split('\n').pop()!))
        : reject(new Error(`${command.join(' ')} exited ${code}`)),
    );
  });
}

/**
 * A local S3 for one run, in a process of its own (local-s3-child.ts): no run inherits the
 * state that the uploads of the runs before it left in a shared server. stop() answers the CPU
 * it used.
 */
function startLocalS3Process(): Promise<{ endpoint: string; stop(): Promise<number> }> {
  const child = fork(new URL('local-s3-child.ts', import.meta.url).pathname, {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  /** The child's next message, or why there will be none. */
  const nextMessage = () =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const gone = () =>
        new Error(
          `the local S3 exited (${child.exitCode ?? child.signalCode ?? 'channel closed'})`,
        );
      if (!child.connected) return reject(gone());
      const onMessage = (message: unknown) =>
        settle(() => resolve(message as Record<string, unknown>));
      const onExit = () => settle(() => reject(gone()));
      const onError = (error: Error) => settle(() => reject(error));
      const settle = (then: () => void) => {
        child.off('message', onMessage).off('exit', onExit).off('error', onError);
        then();
      };
      child.on('message', onMessage).on('exit', onExit).on('error', onError);
    });
  return nextMessage().then(({ endpoint }) => ({
    endpoint: endpoint as string,
    async stop() {
      const stopped = nextMessage();
      if (child.connected) child.send('stop');
      return (await stopped).cpuSeconds as number;
    },
  }));
}

const arg = (name: string, fallback: number) => {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
};

async function main(): Promise<void> {
  const records = arg('records', 100_000);
  const budgetMib = arg('budget-mib', 64);
  const limitsAt = process.argv.indexOf('--limits');
  const limits = (limitsAt > 0 ? process.argv[limitsAt + 1]! : '10000,1000').split(',').map(Number);
  const runtimesAt = process.argv.indexOf('--runtimes');
  const runs = (
    runtimesAt > 0
      ? process.argv[runtimesAt + 1]!
      : 'node,node:wasm:0,node24,bun,bun:wasm,deno,deno:wasm'
  ).split(',');
  const scratch = mkdtempSync(join(tmpdir(), 'export-bench-'));
  const db = join(scratch, 'captures.sqlite');
  const cborFile = join(scratch, 'records.cbor');
  try {
    // Ingest, as the server would: batches of 500 captures.
    const store = await openSqliteStore(db);
    const random = seededRandom(11);
    const ingestStarted = performance.now();
    for (let i = 0; i < records; i += 500) {
      const batch = [];
      for (let j = i; j < Math.min(records, i + 500); j++) {
        const { id: _, ...capture } = makeRecord(j, random);
        batch.push(capture);
      }
      await store.append(batch);
    }
    const ingestSeconds = (performance.now() - ingestStarted) / 1000;
    await store.close();

    const nodeBundle = runs.some((run) => run.startsWith('node')) ? await bundleChild() : '';
    const results: Array<ChildResult & { limit: number; s3Cpu: number }> = [];
    for (const limit of limits) {
      for (const run of runs) {
        const [runtime, engine = 'auto', threads = String(DEFAULT_ZSTD_THREADS)] = run.split(
          ':',
        ) as [string, ChildInput['engine']?, string?];
        const index = results.length;
        const copy = join(scratch, `export-${index}.sqlite`);
        copyFileSync(db, copy);
        const s3 = await startLocalS3Process();
        let result: ChildResult;
        try {
          result = await runChild(childCommand(runtime, nodeBundle), {
            db: copy,
            endpoint: s3.endpoint,
            prefix: `bench-${index + 1}-${runtime}-${engine}-${threads}`,
            limit,
            budgetBytes: budgetMib * 1024 * 1024,
            engine,
            wasmThreads: Number(threads),
            credentials: LOCAL_CREDENTIALS,
          });
        } catch (error) {
          await s3.stop().catch(() => {}); // its objects go with it; the run's error is the one to see
          throw error;
        }
        const s3Cpu = await s3.stop();
        console.error(`${run} limit ${limit}: ${JSON.stringify(result)}`);
        results.push({ ...result, limit, s3Cpu });
        rmSync(copy, { force: true });
      }
    }

    // The reference: the same CBOR bytes (the stored records, joined) through the zstd CLI.
    const fd = openSync(cborFile, 'w');
    let readBack = 0;
    // Through this Node's binding (better-sqlite3 or node:sqlite), a page at a time.
    const raw = nodeSqliteBinding().open(db);
    for (let after = 0; ; ) {
      const page = raw.all<{ id: number; record: Uint8Array }>(
        'SELECT id, record FROM capture_records WHERE id > ? ORDER BY id LIMIT 1000',
        [after],
      );
      if (page.length === 0) break;
      for (const row of page) writeSync(fd, row.record);
      readBack += page.length;
      after = page.at(-1)!.id;
    }
    raw.close();
    closeSync(fd);
    const cborBytes = statSync(cborFile).size;
    // The CLI's best of three: its time varies from run to run (341-378 MB/s on this machine's
    // kind), and the fastest is the strictest reference.
    let cliSeconds = Number.POSITIVE_INFINITY;
    for (let attempt = 0; attempt < 3; attempt++) {
      const cliStarted = performance.now();
      execFileSync('sh', ['-c', `zstd -3 -q -c '${cborFile}' > /dev/null`]);
      cliSeconds = Math.min(cliSeconds, (performance.now() - cliStarted) / 1000);
    }

    const mb = (bytes: number) => bytes / 1e6;
    const cliMbps = mb(cborBytes) / cliSeconds;
    console.log(
      `\n${records} records (${readBack} read back), ${mb(cborBytes).toFixed(0)} MB of CBOR; ` +
        `ingest on Node ${process.versions.node}: ${ingestSeconds.toFixed(1)} s (${(records / ingestSeconds).toFixed(0)} records/s); ` +
        `file budget ${budgetMib} MiB\n`,
    );
    console.log(
      '| limit | runtime | engine | files | export MB/s | zstd -3 CLI MB/s | ratio | read / compress / upload s | longest stall ms | CPU s (export / local S3) | RSS before MB | peak RSS MB | RSS target MB |',
    );
    console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
    for (const run of results) {
      const exportMbps = mb(run.cborBytes) / run.seconds;
      const { read, compress, upload } = run.stages;
      console.log(
        `| ${run.limit} | ${run.runtime} | ${run.engine} | ${run.files} | ${exportMbps.toFixed(0)} | ${cliMbps.toFixed(0)} | ` +
          `${(exportMbps / cliMbps).toFixed(2)}x | ${[read, compress, upload].map((s) => s.toFixed(1)).join(' / ')} | ` +
          `${run.maxStallMs.toFixed(0)} | ${run.cpuSeconds.toFixed(1)} / ${run.s3Cpu.toFixed(1)} | ` +
          `${run.rssBefore.toFixed(0)} | ${run.peakRss.toFixed(0)} | ` +
          `< ${(3 * budgetMib * 1.048576 + 100).toFixed(0)} |`,
      );
      if (run.cborBytes !== cborBytes)
        throw new Error(
          `${run.runtime} exported ${run.cborBytes} CBOR bytes, store holds ${cborBytes}`,
        );
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

await main();
