/**
 * The measured process of the export benchmark (export.bench.ts starts it): one exporter cycle
 * that drains a SQLite store to the local S3, then a line of JSON with its time, where the time
 * went and its peak RSS. It takes everything as one JSON argument, so that it runs as
 * TypeScript (Bun, Deno) or bundled to JavaScript (Node, as `pnpm start` runs the server).
 */
import { readFileSync } from 'node:fs';
import { loadZstd, type ZstdEngine } from '@aperture-export/codec';
import { S3Client } from '@aperture-export/s3';
import { denoGarbageCollector } from '../src/gc-deno.ts';
import { DEFAULT_CONFIG, Exporter } from '../src/index.ts';
import type { CaptureStore } from '../src/store/types.ts';

export interface ChildInput {
  db: string;
  endpoint: string;
  prefix: string;
  limit: number;
  budgetBytes: number;
  engine: 'auto' | 'native' | 'wasm';
  /** Threads for the WASM engine (0: on the exporter's thread), as APERTURE_ZSTD_THREADS. */
  wasmThreads: number;
  credentials: { bucket: string; region: string; accessKeyId: string; secretAccessKey: string };
}

/** What the child prints: totals from the store, with time, stages and memory. */
export interface ChildResult {
  runtime: string;
  engine: string;
  /** The store and its binding, e.g. "SQLite (node:sqlite)". */
  store: string;
  seconds: number;
  stages: Stages;
  rssBefore: number;
  peakRss: number;
  /** The longest the process's event loop was blocked during the export (ingestion waits that long). */
  maxStallMs: number;
  /** CPU seconds of the export, all of the process's threads (user + system). */
  cpuSeconds: number;
  files: number;
  records: number;
  bytes: number;
  cborBytes: number;
}

/** Seconds spent reading records from the store, compressing (reads excluded) and uploading. */
interface Stages {
  read: number;
  compress: number;
  upload: number;
}

/** Peak resident set of this process so far, in MB (Linux VmHWM). */
const peakRssMb = () =>
  Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]) / 1024;

const cpuSince = (before: { user: number; system: number }) => {
  const { user, system } = process.cpuUsage(before);
  return (user + system) / 1e6;
};

/** What the runtime's server entry does after each exported file (apps/server/src/bun.ts, deno.ts). */
function afterFileForRuntime(): (() => void) | undefined {
  if ('Bun' in globalThis)
    return () => (globalThis as unknown as { Bun: { gc(sync: boolean): void } }).Bun.gc(true);
  if ('Deno' in globalThis) return denoGarbageCollector();
  return undefined;
}

/** The SQLite store of the runtime this process runs on. */
async function openStore(path: string): Promise<CaptureStore> {
  if ('Bun' in globalThis)
    return (await import('../src/store/sqlite-bun.ts')).openSqliteStore(path);
  if ('Deno' in globalThis)
    return (await import('../src/store/sqlite-node-sqlite.ts')).openSqliteStore(path);
  return (await import('../src/store/sqlite-node.ts')).openSqliteStore(path);
}

const runtimeName = () =>
  'Bun' in globalThis
    ? `Bun ${process.versions.bun}`
    : 'Deno' in globalThis
      ? `Deno ${process.versions.deno}`
      : `Node ${process.versions.node}`;

/** Wraps the store's reads, the engine's compression and the client's uploads with timers. */
function timeStages(store: CaptureStore, zstd: ZstdEngine, client: S3Client): Stages {
  const stages = { read: 0, compress: 0, upload: 0 };
  const seconds = (since: number) => (performance.now() - since) / 1000;
  const claimRecords = store.claimRecords.bind(store);
  store.claimRecords = async function* (claim) {
    const records = claimRecords(claim)[Symbol.asyncIterator]();
    for (;;) {
      const started = performance.now();
      const next = await records.next();
      stages.read += seconds(started);
      if (next.done) return;
      yield next.value;
    }
  };
  const compressStream = zstd.compressStream.bind(zstd);
  zstd.compressStream = async (chunks, totalBytes, level) => {
    const [started, readBefore] = [performance.now(), stages.read];
    try {
      return await compressStream(chunks, totalBytes, level);
    } finally {
      stages.compress += seconds(started) - (stages.read - readBefore);
    }
  };
  const putObject = client.putObject.bind(client);
  client.putObject = async (...args) => {
    const started = performance.now();
    try {
      return await putObject(...args);
    } finally {
      stages.upload += seconds(started);
    }
  };
  return stages;
}

async function child(input: ChildInput): Promise<void> {
  const store = await openStore(input.db);
  const zstd = await loadZstd(input.engine, { wasmThreads: input.wasmThreads });
  const { credentials } = input;
  const client = new S3Client(
    { ...credentials, endpoint: input.endpoint },
    // As the server's entries send uploads: streamed where fetch keeps the Content-Length.
    { streamUploads: !('Deno' in globalThis) },
  );
  const stages = timeStages(store, zstd, client);
  const config = {
    ...DEFAULT_CONFIG.exporters.s3,
    endpoint: input.endpoint,
    bucket_name: credentials.bucket,
    region: credentials.region,
    access_key_id: credentials.accessKeyId,
    access_secret: credentials.secretAccessKey,
    prefix: input.prefix,
    limit: input.limit,
    max_file_bytes: input.budgetBytes,
  };
  const exporter = new Exporter({
    store,
    config: () => config,
    objectStore: () => client,
    zstd,
    // As the Bun and Deno entries do (apps/server/src/bun.ts, deno.ts).
    afterFile: afterFileForRuntime(),
    log: (level, message) => {
      if (level !== 'info') console.error(`${runtimeName()} exporter ${level}: ${message}`);
    },
  });
  const rssBefore = peakRssMb();
  const cpuBefore = process.cpuUsage();
  // A timer every 5 ms: any longer gap is time the event loop (and an ingest request) waited.
  let maxStallMs = 0;
  let tick = performance.now();
  const watch = setInterval(() => {
    const now = performance.now();
    maxStallMs = Math.max(maxStallMs, now - tick - 5);
    tick = now;
  }, 5);
  const started = performance.now();
  const result = await exporter.runNow();
  const seconds = (performance.now() - started) / 1000;
  clearInterval(watch);
  if (result.error) throw new Error(`export failed: ${result.error.message}`);
  const totals = await store.exportTotals();
  await store.close();
  const output: ChildResult = {
    runtime: runtimeName(),
    store: store.description,
    engine:
      zstd.threads > 0
        ? `${zstd.name} (${zstd.threads} thread${zstd.threads === 1 ? '' : 's'})`
        : zstd.name,
    seconds,
    stages,
    rssBefore,
    peakRss: peakRssMb(),
    cpuSeconds: cpuSince(cpuBefore),
    maxStallMs,
    ...totals,
  };
  console.log(JSON.stringify(output));
}

await child(JSON.parse(process.argv[2]!) as ChildInput);
