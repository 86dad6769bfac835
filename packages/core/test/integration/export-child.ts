/**
 * An exporter process for the crash tests: opens the SQLite store and exports until nothing is
 * pending, then exits 0. The parent kills it at random moments, or it kills itself at a
 * chosen point (CRASH_AT) to land exactly between two steps of an export.
 *
 *   CHILD_CONFIG='{"db": "...", "s3": {...}, "limit": 10}' CRASH_AT=after-put node --import tsx export-child.ts
 *
 * With ZSTD_THREADS=N it compresses on N threads, so that several files are in flight at once.
 */
import { loadZstd } from '@aperture-export/codec';
import { S3Client } from '@aperture-export/s3';
import { DEFAULT_CONFIG, Exporter, type ObjectStore } from '../../src/index.ts';
import { openSqliteStore } from '../../src/store/sqlite-node.ts';

interface ChildConfig {
  db: string;
  s3: {
    endpoint: string;
    bucket: string;
    region: string;
    accessKeyId: string;
    secretAccessKey: string;
  };
  prefix: string;
  limit: number;
}

const config = JSON.parse(process.env.CHILD_CONFIG!) as ChildConfig;
const crashAt = process.env.CRASH_AT as 'before-put' | 'after-put' | undefined;
const die = () => process.kill(process.pid, 'SIGKILL');

const client = new S3Client(config.s3, {
  retry: { maxAttempts: 8, baseDelayMs: 5, maxDelayMs: 50 },
});
const objects: ObjectStore = {
  async putObject(key, body, options) {
    if (crashAt === 'before-put') die();
    const result = await client.putObject(key, body, options);
    if (crashAt === 'after-put') die();
    return result;
  },
  headObject: (key) => client.headObject(key),
  getObject: (key) => client.getObject(key),
};

const store = openSqliteStore(config.db);
const exporter = new Exporter({
  store,
  config: () => ({
    ...DEFAULT_CONFIG.exporters.s3,
    ...config.s3,
    bucket_name: config.s3.bucket,
    access_key_id: config.s3.accessKeyId,
    access_secret: config.s3.secretAccessKey,
    prefix: config.prefix,
    limit: config.limit,
  }),
  objectStore: () => objects,
  zstd: await loadZstd('wasm', { wasmThreads: Number(process.env.ZSTD_THREADS ?? 0) }),
  // Any process may finish a dead one's claim at once: safe, as the claim fixes key and content.
  claimLeaseMs: 0,
});

for (;;) {
  const result = await exporter.runNow();
  if (result.error) console.error(`cycle error: ${result.error.message}`);
  if ((await store.counts()).pendingRecords === 0) break;
}
await store.close();
