/**
 * The exporter end to end: SQLite store → export files → the S3 test target (MinIO, the strict
 * local S3, or S3_TEST_ENDPOINT), read back from the bucket alone.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeExportFile, type ExportRecord, loadZstd } from '@aperture-export/codec';
import { seededRandom } from '@aperture-export/codec/testing';
import type { S3Client } from '@aperture-export/s3';
import { S3_FAULTS, type S3Target, startS3Target } from '@aperture-export/testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, type S3ExporterConfig } from '../../src/config.ts';
import { Exporter } from '../../src/exporter.ts';
import { purgeOnce } from '../../src/retention.ts';
import { openSqliteStore } from '../../src/store/sqlite-node.ts';
import { captures } from '../../src/testing/store-conformance.ts';

const zstd = await loadZstd();
let target: S3Target;
let scratch: string;
beforeAll(async () => {
  target = await startS3Target();
  scratch = mkdtempSync(join(tmpdir(), 'export-it-'));
});
afterAll(async () => {
  await target?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

let run = 0;
/** A fresh store and prefix for one test. */
function fresh() {
  run++;
  return { db: join(scratch, `store-${run}.sqlite`), prefix: `${target.prefix}/export-${run}` };
}

function exporterConfig(prefix: string, endpoint: string, limit: number): S3ExporterConfig {
  return {
    ...DEFAULT_CONFIG.exporters.s3,
    endpoint,
    bucket_name: target.config.bucket,
    region: target.config.region,
    access_key_id: target.config.accessKeyId,
    access_secret: target.config.secretAccessKey,
    prefix,
    limit,
  };
}

/** Every record in the bucket under `prefix`, and how many times each id appears. */
async function readBucket(client: S3Client, prefix: string) {
  const records: ExportRecord[] = [];
  const keys: string[] = [];
  for await (const object of client.listAllObjects(`${prefix}/`)) {
    keys.push(object.key);
    records.push(...(await decodeExportFile(await client.getObject(object.key), { zstd })));
  }
  const seen = new Map<number, number>();
  for (const record of records) seen.set(record.id, (seen.get(record.id) ?? 0) + 1);
  if (process.env.DEBUG_BUCKET) {
    for (const key of keys) {
      const head = await client.headObject(key);
      const ids = (await decodeExportFile(await client.getObject(key), { zstd })).map((r) => r.id);
      console.log(key, head?.metadata, ids[0], ids.at(-1), ids.length);
    }
  }
  return { records, keys, seen };
}

function expectExactlyOnce(seen: Map<number, number>, ids: number[]) {
  const duplicated = [...seen].filter(([, count]) => count > 1).map(([id]) => id);
  const missing = ids.filter((id) => !seen.has(id));
  expect({ duplicated, missing, extra: seen.size - ids.length }).toEqual({
    duplicated: [],
    missing: [],
    extra: 0,
  });
}

describe('export to the S3 test target', () => {
  it('writes files that decode to exactly the records ingested', async () => {
    const { db, prefix } = fresh();
    const store = openSqliteStore(db);
    const appended = [
      ...(await store.append(captures(150, 1))),
      ...(await store.append(captures(150, 2))),
    ];
    const config = exporterConfig(prefix, target.config.endpoint, 40);
    const exporter = new Exporter({
      store,
      config: () => config,
      objectStore: () => target.client(),
      zstd,
    });
    const result = await exporter.runNow();
    expect(result).toMatchObject({ files: 8, records: 300 });
    expect(result.error).toBeUndefined();
    const { records, keys } = await readBucket(target.client(), prefix);
    expect(keys).toHaveLength(8);
    expect(keys.every((key) => /\/ts-aperture-export-\d+\.cbor\.zstd$/.test(key))).toBe(true);
    expect(records.sort((a, b) => a.id - b.id)).toEqual(appended);
    expect(await exporter.status()).toMatchObject({
      pendingRecords: 0,
      exportedFiles: 8,
      exportedRecords: 300,
    });
    await store.close();
  });

  it('survives injected S3 faults: errors, dropped connections, slow replies', async () => {
    const { db, prefix } = fresh();
    const proxy = await target.withFaults();
    proxy.faults.add({ rate: 0.25, fault: S3_FAULTS.slowDown });
    proxy.faults.add({ rate: 0.1, fault: { kind: 'reset' } });
    proxy.faults.add({ rate: 0.1, fault: { kind: 'delay', ms: 50 } });
    const store = openSqliteStore(db);
    const appended = await store.append(captures(200, 3));
    const config = exporterConfig(prefix, proxy.endpoint, 10);
    const client = target.client(
      { retry: { maxAttempts: 6, baseDelayMs: 1, maxDelayMs: 20 } },
      { endpoint: proxy.endpoint },
    );
    const exporter = new Exporter({ store, config: () => config, objectStore: () => client, zstd });
    for (let cycle = 0; cycle < 10 && (await store.counts()).pendingRecords > 0; cycle++)
      await exporter.runNow();
    expect(proxy.requests.filter((request) => request.fault).length).toBeGreaterThan(10);
    const { seen } = await readBucket(target.client(), prefix);
    expectExactlyOnce(
      seen,
      appended.map((record) => record.id),
    );
    await store.close();
  });

  it('keeps taking captures while an export is uploading', async () => {
    const { db, prefix } = fresh();
    const proxy = await target.withFaults();
    proxy.faults.add({ methods: ['PUT'], fault: { kind: 'delay', ms: 400 } });
    const store = openSqliteStore(db);
    const first = await store.append(captures(20, 7));
    const config = exporterConfig(prefix, proxy.endpoint, 50);
    const client = target.client({}, { endpoint: proxy.endpoint });
    const exporter = new Exporter({ store, config: () => config, objectStore: () => client, zstd });
    let exportDone = false;
    const running = exporter.runNow().then((result) => {
      exportDone = true;
      return result;
    });
    await new Promise((resolve) => setTimeout(resolve, 100)); // the upload is in flight now
    const during = await store.append(captures(5, 8));
    expect(exportDone).toBe(false);
    expect(during.map((record) => record.id)).toEqual([21, 22, 23, 24, 25]);
    expect(await running).toMatchObject({ records: 25 });
    const { records } = await readBucket(target.client(), prefix);
    expect(records.map((record) => record.id).sort((a, b) => a - b)).toEqual(
      [...first, ...during].map((r) => r.id),
    );
    await store.close();
  });

  it('keeps every unexported record through the retention gate while S3 is down', async () => {
    const { db, prefix } = fresh();
    const proxy = await target.withFaults();
    proxy.faults.add({ fault: S3_FAULTS.serviceUnavailable });
    const store = openSqliteStore(db);
    const appended = await store.append(captures(30, 4));
    const config = exporterConfig(prefix, proxy.endpoint, 10);
    const client = target.client(
      { retry: { maxAttempts: 2, baseDelayMs: 1 } },
      { endpoint: proxy.endpoint },
    );
    const exporter = new Exporter({ store, config: () => config, objectStore: () => client, zstd });
    const failed = await exporter.runNow();
    expect(failed.error).toMatchObject({ code: 'ServiceUnavailable' });
    const retention = { duration: '1h', durationMs: 3_600_000, require_export: true };
    const muchLater = Date.UTC(2040, 0, 1);
    expect(await purgeOnce(store, retention, muchLater)).toBe(0);
    expect(
      (await store.recent({ limit: 30 })).every((record) => record.capture !== undefined),
    ).toBe(true);

    proxy.faults.clear();
    expect(await exporter.runNow()).toMatchObject({ records: 30 });
    expect(await purgeOnce(store, retention, muchLater)).toBe(30);
    const { records } = await readBucket(target.client(), prefix);
    expect(records.sort((a, b) => a.id - b.id)).toEqual(appended);
    await store.close();
  });
});

describe('crash test: exporter processes killed at any point', () => {
  const child = new URL('./export-child.ts', import.meta.url).pathname;

  function startChild(
    db: string,
    prefix: string,
    endpoint: string,
    crashAt?: string,
    zstdThreads = 0,
  ): ChildProcess {
    const childConfig = {
      db,
      prefix,
      limit: 7,
      s3: { ...target.config, endpoint },
    };
    return spawn(process.execPath, ['--import', 'tsx', child], {
      env: {
        ...process.env,
        CHILD_CONFIG: JSON.stringify(childConfig),
        ZSTD_THREADS: String(zstdThreads),
        ...(crashAt ? { CRASH_AT: crashAt } : {}),
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  }

  const exited = (process: ChildProcess) =>
    new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      if (process.exitCode !== null || process.signalCode !== null) {
        resolve({ code: process.exitCode, signal: process.signalCode });
      } else process.once('exit', (code, signal) => resolve({ code, signal }));
    });

  it('crashing right before and right after an upload loses and duplicates nothing', async () => {
    const { db, prefix } = fresh();
    const store = openSqliteStore(db);
    const ids = (await store.append(captures(30, 5))).map((record) => record.id);
    await store.close();
    for (const crashAt of ['after-put', 'before-put', 'after-put', 'after-put']) {
      const { signal } = await exited(startChild(db, prefix, target.config.endpoint, crashAt));
      expect(signal).toBe('SIGKILL');
    }
    const finisher = startChild(db, prefix, target.config.endpoint);
    expect(await exited(finisher)).toEqual({ code: 0, signal: null });
    const { seen } = await readBucket(target.client(), prefix);
    expectExactlyOnce(seen, ids);
  });

  it('two exporter processes on one store write each record once, under distinct keys', async () => {
    const { db, prefix } = fresh();
    const store = openSqliteStore(db);
    const ids = (await store.append(captures(140, 10))).map((record) => record.id);
    // One compresses on its own thread, with several files in flight.
    const [a, b] = [
      startChild(db, prefix, target.config.endpoint),
      startChild(db, prefix, target.config.endpoint, undefined, 2),
    ];
    expect(await Promise.all([exited(a), exited(b)])).toEqual([
      { code: 0, signal: null },
      { code: 0, signal: null },
    ]);
    const { seen, keys } = await readBucket(target.client(), prefix);
    expectExactlyOnce(seen, ids);
    expect(new Set(keys).size).toBe(keys.length);
    expect((await store.counts()).pendingRecords).toBe(0);
    await store.close();
  });

  it('SIGKILL at random moments, many times, while captures keep arriving: every record exactly once', async () => {
    const { db, prefix } = fresh();
    // Slow some requests down so kills land during uploads as well as between them.
    const proxy = await target.withFaults();
    proxy.faults.add({ rate: 0.5, fault: { kind: 'delay', ms: 40 } });
    const store = openSqliteStore(db);
    const ids = (await store.append(captures(120, 6))).map((record) => record.id);
    const random = seededRandom(20261128);
    let kills = 0;
    for (let round = 0; round < 25; round++) {
      ids.push(...(await store.append(captures(40, 100 + round))).map((record) => record.id));
      // Every other process compresses on threads: killed with several files in flight.
      const child = startChild(db, prefix, proxy.endpoint, undefined, round % 2 === 0 ? 0 : 2);
      const lifetime = 100 + Math.floor(random() * 900);
      const outcome = await Promise.race([
        exited(child),
        new Promise<'kill'>((resolve) => setTimeout(() => resolve('kill'), lifetime)),
      ]);
      if (outcome === 'kill') {
        child.kill('SIGKILL');
        await exited(child);
        kills++;
      }
    }
    const finisher = startChild(db, prefix, proxy.endpoint);
    expect(await exited(finisher)).toEqual({ code: 0, signal: null });
    console.log(`crash test: ${kills} of 25 exporter processes killed`);
    expect(kills).toBeGreaterThan(8);
    expect((await store.counts()).pendingRecords).toBe(0);
    const { seen, keys } = await readBucket(target.client(), prefix);
    expectExactlyOnce(seen, ids);
    expect(new Set(keys).size).toBe(keys.length);
    await store.close();
  }, 180_000);
});
