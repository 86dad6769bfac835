/**
 * Export benchmark: realistic captures from the SQLite store to the strict local S3, in a child
 * process whose peak RSS is measured; beside it, the zstd CLI at -3 on the same CBOR bytes.
 *
 *   node --import tsx bench/export.bench.ts [--records 100000] [--budget-mib 64] [--limit 10000]
 *        [--runtimes node,bun,bun:wasm,deno,deno:wasm]
 *
 * The store is filled once; each run's exporter gets its own copy of it, so each exports the
 * same records. A run is `runtime[:engine]`: without an engine, the runtime's default (Node 20:
 * WASM zstd; Bun and Deno: native zstd).
 * MB are 10^6 bytes of CBOR (the records as exported, before compression) per second.
 */
import { execFileSync, spawn } from 'node:child_process';
import {
  closeSync,
  copyFileSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOCAL_CREDENTIALS, startLocalS3 } from '@aperture-export/testcontainers';
import { makeRecord, seededRandom } from '../../codec/test/fixtures.ts';
import { DEFAULT_CONFIG, Exporter } from '../src/index.ts';

const arg = (name: string, fallback: number) => {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
};

/** Peak resident set of this process so far, in MB (Linux VmHWM). */
const peakRssMb = () =>
  Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]) / 1024;

interface ChildInput {
  db: string;
  endpoint: string;
  prefix: string;
  limit: number;
  budgetBytes: number;
  engine: 'auto' | 'native' | 'wasm';
}

/** The SQLite store of the runtime this process runs on. */
async function openStore(path: string) {
  if ('Bun' in globalThis)
    return (await import('../src/store/sqlite-bun.ts')).openSqliteStore(path);
  if ('Deno' in globalThis)
    return (await import('../src/store/sqlite-deno.ts')).openSqliteStore(path);
  return (await import('../src/store/sqlite-node.ts')).openSqliteStore(path);
}

const runtimeName = () =>
  'Bun' in globalThis
    ? `Bun ${process.versions.bun}`
    : 'Deno' in globalThis
      ? `Deno ${process.versions.deno}`
      : `Node ${process.versions.node}`;

/** The measured process: one exporter cycle that drains the store. */
async function child(input: ChildInput): Promise<void> {
  const { loadZstd } = await import('@aperture-export/codec');
  const { S3Client } = await import('@aperture-export/s3');
  const store = await openStore(input.db);
  const zstd = await loadZstd(input.engine);
  const client = new S3Client({ ...LOCAL_CREDENTIALS, endpoint: input.endpoint });
  const config = {
    ...DEFAULT_CONFIG.exporters.s3,
    endpoint: input.endpoint,
    bucket_name: LOCAL_CREDENTIALS.bucket,
    region: LOCAL_CREDENTIALS.region,
    access_key_id: LOCAL_CREDENTIALS.accessKeyId,
    access_secret: LOCAL_CREDENTIALS.secretAccessKey,
    prefix: input.prefix,
    limit: input.limit,
    max_file_bytes: input.budgetBytes,
  };
  const exporter = new Exporter({
    store,
    config: () => config,
    objectStore: () => client,
    zstd,
    log: (level, message) => {
      if (level !== 'info') console.error(`${runtimeName()} exporter ${level}: ${message}`);
    },
  });
  const rssBefore = peakRssMb();
  const started = performance.now();
  const result = await exporter.runNow();
  const seconds = (performance.now() - started) / 1000;
  if (result.error) throw new Error(`export failed: ${result.error.message}`);
  const totals = await store.exportTotals();
  await store.close();
  console.log(
    JSON.stringify({
      runtime: runtimeName(),
      engine: zstd.name,
      seconds,
      rssBefore,
      peakRss: peakRssMb(),
      ...totals,
    }),
  );
}

async function main(): Promise<void> {
  const records = arg('records', 100_000);
  const budgetMib = arg('budget-mib', 64);
  const limit = arg('limit', 10_000);
  const runtimesAt = process.argv.indexOf('--runtimes');
  const runs = (
    runtimesAt > 0 ? process.argv[runtimesAt + 1]! : 'node,bun,bun:wasm,deno,deno:wasm'
  ).split(',');
  const scratch = mkdtempSync(join(tmpdir(), 'export-bench-'));
  const db = join(scratch, 'captures.sqlite');
  const cborFile = join(scratch, 'records.cbor');
  const s3 = await startLocalS3(LOCAL_CREDENTIALS);
  try {
    // Ingest, as the server would: batches of 500 captures.
    const store = await openStore(db);
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

    const results = [];
    for (const run of runs) {
      const [runtime, engine = 'auto'] = run.split(':') as [string, ChildInput['engine']?];
      const copy = join(scratch, `export-${runtime}-${engine}.sqlite`);
      copyFileSync(db, copy);
      const input: ChildInput = {
        db: copy,
        endpoint: s3.endpoint,
        prefix: `bench-${runtime}-${engine}`,
        limit,
        budgetBytes: budgetMib * 1024 * 1024,
        engine,
      };
      const self = process.argv[1]!;
      const bin = (name: string) =>
        new URL(`../../../node_modules/.bin/${name}`, import.meta.url).pathname;
      const command =
        runtime === 'bun'
          ? [bin('bun'), self]
          : runtime === 'deno'
            ? [bin('deno'), 'run', '-A', self]
            : [process.execPath, ...process.execArgv, self];
      const output = await new Promise<string>((resolve, reject) => {
        const measured = spawn(
          command[0]!,
          [...command.slice(1), '--child', JSON.stringify(input)],
          {
            stdio: ['ignore', 'pipe', 'inherit'],
          },
        );
        let stdout = '';
        measured.stdout.on('data', (chunk) => {
          stdout += chunk;
        });
        measured.on('exit', (code) =>
          code === 0 ? resolve(stdout) : reject(new Error(`${runtime} child exited ${code}`)),
        );
      });
      const result = JSON.parse(output.trim().split('\n').pop()!);
      console.error(`${run}: ${JSON.stringify(result)}`);
      results.push(result);
      rmSync(copy, { force: true });
    }

    // The reference: the same CBOR bytes (the stored records, joined) through the zstd CLI.
    const fd = openSync(cborFile, 'w');
    let readBack = 0;
    const Database = (await import('better-sqlite3')).default;
    const raw = new Database(db, { readonly: true });
    for (const row of raw
      .prepare('SELECT record FROM capture_records ORDER BY id')
      .iterate() as Iterable<{
      record: Buffer;
    }>) {
      writeSync(fd, row.record);
      readBack++;
    }
    raw.close();
    closeSync(fd);
    const cborBytes = statSync(cborFile).size;
    const cliStarted = performance.now();
    execFileSync('sh', ['-c', `zstd -3 -q -c '${cborFile}' > /dev/null`]);
    const cliSeconds = (performance.now() - cliStarted) / 1000;

    const mb = (bytes: number) => bytes / 1e6;
    const cliMbps = mb(cborBytes) / cliSeconds;
    console.log(
      `\n${records} records (${readBack} read back), ${mb(cborBytes).toFixed(0)} MB of CBOR; ` +
        `ingest on Node ${process.versions.node}: ${ingestSeconds.toFixed(1)} s (${(records / ingestSeconds).toFixed(0)} records/s); ` +
        `file budget ${budgetMib} MiB, limit ${limit} records\n`,
    );
    console.log(
      '| runtime | engine | files | export MB/s | zstd -3 CLI MB/s | ratio | RSS before MB | peak RSS MB | RSS target MB |',
    );
    console.log('|---|---|---|---|---|---|---|---|---|');
    for (const run of results) {
      const exportMbps = mb(run.cborBytes) / run.seconds;
      console.log(
        `| ${run.runtime} | ${run.engine} | ${run.files} | ${exportMbps.toFixed(0)} | ${cliMbps.toFixed(0)} | ` +
          `${(exportMbps / cliMbps).toFixed(2)}x | ${run.rssBefore.toFixed(0)} | ${run.peakRss.toFixed(0)} | ` +
          `< ${(3 * budgetMib * 1.048576 + 100).toFixed(0)} |`,
      );
      if (run.cborBytes !== cborBytes)
        throw new Error(
          `${run.runtime} exported ${run.cborBytes} CBOR bytes, store holds ${cborBytes}`,
        );
    }
  } finally {
    await s3.stop();
    rmSync(scratch, { recursive: true, force: true });
  }
}

const childAt = process.argv.indexOf('--child');
if (childAt > 0) await child(JSON.parse(process.argv[childAt + 1]!) as ChildInput);
else await main();
