import {
  decodeExportFile,
  type ExportRecord,
  encodeExportFile,
  encodeRecords,
  loadZstd,
  parseExportObjectKey,
  type ZstdEngine,
  ZstdStreamError,
} from '@aperture-export/codec';
import { S3Error } from '@aperture-export/s3';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG, type S3ExporterConfig } from './config.ts';
import { Exporter, type ExporterOptions } from './exporter.ts';
import type { LogLevel } from './runtime.ts';
import { MemoryStore } from './store/memory.ts';
import { accessDenied, FakeClock, MemoryObjectStore, settle } from './testing/fakes.ts';
import { captures } from './testing/store-conformance.ts';

const zstd = await loadZstd('wasm');
/** The fake clock's start, in the seconds export keys use. */
const START_SECONDS = Math.floor(new FakeClock().now() / 1000);

function setup(overrides: Partial<S3ExporterConfig> = {}) {
  const store = new MemoryStore();
  const objects = new MemoryObjectStore();
  /** Buckets by endpoint and name; `objects` is the configured one's. */
  const buckets = new Map<string, MemoryObjectStore>([['|exports', objects]]);
  const bucket = (name: string, endpoint = '') => {
    const key = `${endpoint}|${name}`;
    if (!buckets.has(key)) buckets.set(key, new MemoryObjectStore());
    return buckets.get(key)!;
  };
  const clock = new FakeClock();
  const logs: Array<[LogLevel, string]> = [];
  let config: S3ExporterConfig = {
    ...DEFAULT_CONFIG.exporters.s3,
    bucket_name: 'exports',
    region: 'us-east-1',
    access_key_id: 'AKIA',
    access_secret: 'secret-value',
    prefix: 'prod',
    every: 60,
    limit: 10,
    ...overrides,
  };
  const make = (
    instanceId = 'exporter-1',
    engine: ZstdEngine = zstd,
    extra: Pick<ExporterOptions, 'afterFile' | 'maxFilesPerCycle' | 'maxFileBytes'> = {},
  ) =>
    new Exporter({
      ...extra,
      store,
      config: () => config,
      objectStore: (c) => bucket(c.bucket_name, c.endpoint),
      zstd: engine,
      clock,
      instanceId,
      claimLeaseMs: 60_000,
      log: (level, message) => logs.push([level, message]),
    });
  return {
    store,
    objects,
    bucket,
    clock,
    logs,
    make,
    setConfig: (next: Partial<S3ExporterConfig>) => {
      config = { ...config, ...next };
    },
  };
}

/** Every record in the bucket, file by file, in key order. */
async function bucketRecords(objects: MemoryObjectStore): Promise<ExportRecord[]> {
  const keys = [...objects.objects.keys()].sort();
  const files = await Promise.all(
    keys.map((key) => decodeExportFile(objects.objects.get(key)!.body, { zstd })),
  );
  return files.flat();
}

/**
 * An engine that compresses "elsewhere", as the threaded one does: owned frames, `threads`
 * files compressing at once and the others waiting (holding nothing) for a slot. It notes the
 * files in flight (from compressStream until the exporter hands the frame back) and the CBOR
 * being compressed at once.
 */
function offThreadEngine(threads: number) {
  const seen = {
    files: 0,
    maxFiles: 0,
    compressing: 0,
    maxCompressing: 0,
    compressingBytes: 0,
    maxCompressingBytes: 0,
    released: 0,
    events: [] as string[],
  };
  let started = 0;
  const slots: Array<() => void> = [];
  const engine: ZstdEngine = {
    name: 'wasm',
    threads,
    compress: (data, level) => zstd.compress(data, level),
    decompressFrame: (frame, bound) => zstd.decompressFrame(frame, bound),
    async compressStream(chunks, totalBytes, level) {
      seen.events.push(`compress ${++started}`);
      seen.maxFiles = Math.max(seen.maxFiles, ++seen.files);
      const content = new Uint8Array(totalBytes);
      let at = 0;
      for await (const chunk of chunks) {
        content.set(chunk, at);
        at += chunk.byteLength;
      }
      if (seen.compressing >= threads) await new Promise<void>((resolve) => slots.push(resolve));
      seen.maxCompressing = Math.max(seen.maxCompressing, ++seen.compressing);
      seen.compressingBytes += totalBytes;
      seen.maxCompressingBytes = Math.max(seen.maxCompressingBytes, seen.compressingBytes);
      const frame = zstd.compress(content, level);
      await new Promise((resolve) => setTimeout(resolve, 2));
      seen.compressing--;
      seen.compressingBytes -= totalBytes;
      slots.shift()?.();
      return frame;
    },
    release() {
      seen.released++;
      seen.files--;
    },
  };
  return { engine, seen };
}

describe('Exporter', () => {
  it('drains the backlog into files of at most `limit` records, each record once', async () => {
    const { store, objects, make } = setup({ limit: 10 });
    const appended = await store.append(captures(35));
    const result = await make().runNow();
    expect(result).toMatchObject({ files: 4, records: 35 });
    expect([...objects.objects.keys()]).toEqual(
      [0, 1, 2, 3].map((i) => `prod/ts-aperture-export-${START_SECONDS + i}.cbor.zstd`),
    );
    expect(await bucketRecords(objects)).toEqual(appended);
    expect(await store.counts()).toMatchObject({ pendingRecords: 0, exportedRecords: 35 });
  });

  it('calls afterFile once per file, after the file is marked exported', async () => {
    const { store, make } = setup({ limit: 10 });
    await store.append(captures(25));
    const seen: number[] = [];
    const exporter = make('exporter-1', zstd, {
      afterFile: () => {
        void store.counts().then((counts) => seen.push(counts.exportedRecords));
      },
    });
    expect(await exporter.runNow()).toMatchObject({ files: 3, records: 25 });
    await settle();
    expect(seen).toEqual([10, 20, 25]);
  });

  it('goes on exporting when afterFile throws, and says so', async () => {
    const { store, make, logs } = setup({ limit: 10 });
    await store.append(captures(25));
    const exporter = make('exporter-1', zstd, {
      afterFile: () => {
        throw new Error('hook broke');
      },
    });
    const result = await exporter.runNow();
    expect(result).toMatchObject({ files: 3, records: 25 });
    expect(result.error).toBeUndefined();
    const warnings = logs.filter(
      ([level, line]) => level === 'warn' && line === 'afterFile failed: hook broke',
    );
    expect(warnings).toHaveLength(3);
  });

  it('keeps files under the byte budget', async () => {
    const { store, objects, make } = setup({ limit: 1000, max_file_bytes: 100_000 });
    await store.append(captures(30));
    await make().runNow();
    for (const object of objects.objects.values()) {
      const records = await decodeExportFile(object.body, { zstd });
      const { encodeRecords } = await import('@aperture-export/codec');
      expect(records.length === 1 || encodeRecords(records).byteLength <= 100_000).toBe(true);
    }
    expect(objects.objects.size).toBeGreaterThan(3);
  });

  it('writes at most maxFilesPerCycle files a cycle; the next cycle goes on, each record once', async () => {
    const { store, objects, make } = setup({ limit: 10 });
    const appended = await store.append(captures(35));
    const exporter = make('exporter-1', zstd, { maxFilesPerCycle: 2 });
    expect(await exporter.runNow()).toMatchObject({ files: 2, records: 20 });
    expect(await store.counts()).toMatchObject({ pendingRecords: 15 });
    expect(await exporter.runNow()).toMatchObject({ files: 2, records: 15 });
    expect(await bucketRecords(objects)).toEqual(appended);
  });

  it("holds files to the host's maxFileBytes when the config allows more", async () => {
    const { store, objects, make } = setup({ limit: 1000, max_file_bytes: 64 * 1024 * 1024 });
    await store.append(captures(30));
    await make('exporter-1', zstd, { maxFileBytes: 100_000 }).runNow();
    for (const object of objects.objects.values()) {
      const records = await decodeExportFile(object.body, { zstd });
      expect(records.length === 1 || encodeRecords(records).byteLength <= 100_000).toBe(true);
    }
    expect(objects.objects.size).toBeGreaterThan(3);
  });

  it('does nothing while no bucket is configured', async () => {
    const { store, objects, make } = setup({ bucket_name: '' });
    await store.append(captures(3));
    expect(await make().runNow()).toEqual({ files: 0, records: 0, bytes: 0, blocked: 0 });
    expect(objects.calls).toEqual([]);
  });

  it('stops on a permanent error, keeps every record, and reports S3’s code and message', async () => {
    const { store, objects, make, logs } = setup();
    const appended = await store.append(captures(15));
    objects.failures.push(accessDenied());
    const exporter = make();
    const result = await exporter.runNow();
    expect(result.error).toMatchObject({
      code: 'AccessDenied',
      message: 'AccessDenied: Access Denied (PutObject k): the exporter needs s3:PutObject',
      permission: 's3:PutObject',
    });
    const status = await exporter.status();
    expect(status).toMatchObject({
      pendingRecords: 15,
      exportedFiles: 0,
      lastError: { code: 'AccessDenied' },
    });
    expect(
      logs.some(
        ([level, line]) => level === 'error' && line.includes('AccessDenied: Access Denied'),
      ),
    ).toBe(true);
    expect(JSON.stringify(logs)).not.toContain('secret-value');

    const retry = await exporter.runNow();
    expect(retry).toMatchObject({ files: 2, records: 15 });
    expect(retry.error).toBeUndefined();
    expect((await exporter.status()).lastError).toBeUndefined();
    expect(await bucketRecords(objects)).toEqual(appended);
  });

  it('after a crash between upload and marking, finishes the same file instead of writing another', async () => {
    const { store, objects, make } = setup();
    const appended = await store.append(captures(8));
    objects.failAfterPut = new Error('process killed');
    const first = await make('before-crash').runNow();
    expect(first.error?.message).toBe('process killed');
    expect(objects.objects.size).toBe(1);
    expect((await store.counts()).exportedRecords).toBe(0);

    // Another process: the failed cycle released its lease, so the claim is free at once.
    const restarted = make('after-crash');
    expect(await restarted.runNow()).toMatchObject({ files: 1, records: 8 });
    expect(objects.objects.size).toBe(1);
    expect(objects.calls.filter((call) => call.startsWith('PUT'))).toHaveLength(2);
    expect(await bucketRecords(objects)).toEqual(appended);
    expect(await store.counts()).toMatchObject({ pendingRecords: 0 });
  });

  it('recognises its own upload by content where the provider keeps no metadata', async () => {
    const { store, objects, clock, make } = setup();
    const appended = await store.append(captures(6));
    objects.dropMetadata = true;
    objects.failAfterPut = new Error('process killed');
    await make('before-crash').runNow();
    await clock.advance(60_000);
    expect(await make('after-crash').runNow()).toMatchObject({ files: 1, records: 6 });
    expect(objects.objects.size).toBe(1);
    expect(
      objects.calls.filter((call) => call.startsWith('GET')),
      objects.calls.join(', '),
    ).toHaveLength(1);
    expect(await bucketRecords(objects)).toEqual(appended);
  });

  it('streams records into an engine that can stream, without a whole-file buffer', async () => {
    const { store, objects, clock, make } = setup({ limit: 4 });
    const chunkCounts: number[] = [];
    // A streaming engine over the WASM one: records one at a time, as native zstd takes them.
    const streaming = {
      ...zstd,
      async compressStream(chunks: AsyncIterable<Uint8Array>, totalBytes: number, level: number) {
        const parts: Uint8Array[] = [];
        for await (const chunk of chunks) parts.push(chunk.slice());
        chunkCounts.push(parts.length);
        const joined = new Uint8Array(totalBytes);
        let at = 0;
        for (const part of parts) {
          joined.set(part, at);
          at += part.byteLength;
        }
        return zstd.compress(joined, level);
      },
    };
    const appended = await store.append(captures(10));
    objects.dropMetadata = true;
    objects.failAfterPut = new Error('process killed');
    await make('one', streaming).runNow();
    await clock.advance(60_000);
    expect(await make('two', streaming).runNow()).toMatchObject({ files: 3, records: 10 });
    expect(chunkCounts.slice(0, 2)).toEqual([4, 4]);
    expect(await bucketRecords(objects)).toEqual(appended);
    expect(objects.objects.size).toBe(3);
  });

  it('falls back to whole-file compression when streaming does not give one frame', async () => {
    const { store, objects, make, logs } = setup({ limit: 3 });
    let streamed = 0;
    const flaky = {
      ...zstd,
      async compressStream(chunks: AsyncIterable<Uint8Array>) {
        streamed++;
        for await (const _ of chunks) break;
        throw new ZstdStreamError('streaming zstd wrote 2 frames, not one');
      },
    };
    const appended = await store.append(captures(7));
    const exporter = make('exporter-1', flaky);
    expect(await exporter.runNow()).toMatchObject({ files: 3, records: 7 });
    expect(streamed).toBe(1);
    expect(
      logs.filter(([level, line]) => level === 'warn' && line.includes('compressing whole files')),
    ).toHaveLength(1);
    expect(await bucketRecords(objects)).toEqual(appended);
  });

  it('the same process resumes its own claim at once', async () => {
    const { store, objects, make } = setup();
    const appended = await store.append(captures(5));
    objects.failures.push(accessDenied());
    const exporter = make();
    await exporter.runNow();
    expect(await exporter.runNow()).toMatchObject({ files: 1, records: 5 });
    expect(await bucketRecords(objects)).toEqual(appended);
  });

  it('writes under a new key when the key holds someone else’s object', async () => {
    const { store, objects, make, logs } = setup();
    const appended = await store.append(captures(3));
    const taken = `prod/ts-aperture-export-${START_SECONDS}.cbor.zstd`;
    const next = `prod/ts-aperture-export-${START_SECONDS + 1}.cbor.zstd`;
    objects.objects.set(taken, {
      body: new Uint8Array([1]),
      metadata: { 'aperture-claim': 'another-store' },
    });
    await make().runNow();
    expect([...objects.objects.keys()].sort()).toEqual([taken, next]);
    expect(await decodeExportFile(objects.objects.get(next)!.body)).toEqual(appended);
    expect(
      logs.some(([level, line]) => level === 'warn' && line.includes("is someone else's")),
    ).toBe(true);
  });

  it('treats an object without metadata and with other content as someone else’s', async () => {
    const { store, objects, make } = setup();
    const appended = await store.append(captures(2));
    objects.dropMetadata = true;
    const taken = `prod/ts-aperture-export-${START_SECONDS}.cbor.zstd`;
    const foreign = await encodeExportFile(
      (await store.recent({ limit: 1 })).map((r) => ({ ...r, id: 999 })),
    );
    objects.objects.set(taken, { body: foreign, metadata: {} });
    expect(await make().runNow()).toMatchObject({ files: 1, records: 2 });
    expect(objects.objects.size).toBe(2);
    expect(objects.calls.filter((call) => call.startsWith('GET'))).toEqual([`GET ${taken}`]);
    // Comparing contents used the engine; the file uploaded after it is still the right one.
    const next = `prod/ts-aperture-export-${START_SECONDS + 1}.cbor.zstd`;
    expect(await decodeExportFile(objects.objects.get(next)!.body)).toEqual(appended);
  });

  it('never reuses a key, even for many files in one second', async () => {
    const { store, objects, make } = setup({ limit: 1 });
    await store.append(captures(25));
    await make().runNow();
    const seconds = [...objects.objects.keys()].map(
      (key) => parseExportObjectKey(key)!.unixSeconds,
    );
    expect(new Set(seconds).size).toBe(25);
  });

  it('runs every `every` seconds, applies a new `every` from the next cycle, and never overlaps', async () => {
    const { store, objects, clock, make, setConfig } = setup({ every: 60 });
    const exporter = make();
    exporter.start();
    await store.append(captures(2));
    await clock.advance(59_000);
    expect(objects.objects.size).toBe(0);
    await clock.advance(1_000);
    expect(objects.objects.size).toBe(1);
    setConfig({ every: 10 });
    await store.append(captures(1, 2));
    await clock.advance(60_000); // the cycle scheduled with the old `every`
    expect(objects.objects.size).toBe(2);
    await store.append(captures(1, 3));
    await clock.advance(10_000);
    expect(objects.objects.size).toBe(3);
    await exporter.stop();
    await exporter.stop();
    expect(clock.pendingTimers).toBe(0);
  });

  it('with a threaded engine, compresses the next files while one uploads, and uploads in order', async () => {
    const { store, objects, make } = setup({ limit: 5 });
    const appended = await store.append(captures(30));
    const { engine, seen } = offThreadEngine(2);
    const put = objects.putObject.bind(objects);
    let uploads = 0;
    objects.putObject = async (...args) => {
      const n = ++uploads;
      seen.events.push(`upload ${n}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
      const stored = await put(...args);
      seen.events.push(`uploaded ${n}`);
      return stored;
    };
    const result = await make('exporter-1', engine).runNow();
    expect(result).toMatchObject({ files: 6, records: 30 });
    expect(result.error).toBeUndefined();
    // While the first file uploads, the next two compress; a fourth waits for room.
    const before = seen.events.slice(0, seen.events.indexOf('uploaded 1'));
    expect(before).toEqual(['compress 1', 'compress 2', 'compress 3', 'upload 1']);
    expect(seen.maxFiles).toBe(3);
    // Uploaded in claim order: keys ascend with the records they hold.
    expect(await bucketRecords(objects)).toEqual(appended);
    expect(seen.released).toBe(6);
    expect(seen.files).toBe(0);
  });

  it('with a threaded engine, compresses no more CBOR at once than one file’s budget', async () => {
    // The sizes of the 5-record files that 40 captures make.
    const probe = new MemoryStore();
    await probe.append(captures(40));
    const sizes: number[] = [];
    for (;;) {
      const claim = await probe.claimNext({
        owner: 'probe',
        destination: { endpoint: '', bucket: 'exports', prefix: '' },
        limit: 5,
        maxBytes: 1 << 30,
        nowMs: 0,
        leaseMs: 60_000,
      });
      if (!claim) break;
      sizes.push(claim.cborBytes);
    }
    const [smallest, largest] = [Math.min(...sizes), Math.max(...sizes)];
    // Any two files fit in the first budget; no two in the second, which still holds any one.
    const oneAtATime = Math.floor(smallest * 1.9);
    expect(oneAtATime).toBeGreaterThanOrEqual(largest);
    for (const [threads, budget, together] of [
      [4, largest * 2, 2],
      [4, oneAtATime, 1],
      [2, largest * 2, 2],
      [2, oneAtATime, 1],
      [1, oneAtATime, 1],
    ] as const) {
      const { store, objects, make } = setup({ limit: 5, max_file_bytes: budget });
      const appended = await store.append(captures(40));
      const { engine, seen } = offThreadEngine(threads);
      await make('exporter-1', engine).runNow();
      expect(seen.maxCompressingBytes).toBeLessThanOrEqual(budget);
      expect(seen.maxCompressing).toBe(together);
      // Either way, the next file is read while one uploads.
      expect(seen.maxFiles).toBeGreaterThan(together);
      expect(await bucketRecords(objects)).toEqual(appended);
    }
  });

  it('with a threaded engine, a file waiting for a thread compresses within the budget too', async () => {
    // One record per file: two small ones, then larger ones (a longer session id). The third
    // file would wait for a thread while the first two compress, then compress beside the second.
    const { store, objects, make, setConfig } = setup({ limit: 1 });
    const plain = captures(6);
    const size = (capture: (typeof plain)[number]) =>
      encodeRecords([{ ...capture, id: 1 }]).byteLength;
    const small = Math.max(size(plain[0]!), size(plain[1]!));
    // Each larger one about 1.5 times a small one.
    const records = plain.map((capture, i) =>
      i < 2
        ? capture
        : {
            ...capture,
            session_id: 'x'.repeat(Math.max(0, Math.ceil(small * 1.5) - size(capture))),
          },
    );
    const large = Math.max(...records.slice(2).map(size));
    const appended = await store.append(records);
    // Two small files fit together, a small and a large one do not; a large one fits alone.
    const budget = small * 2 + 100;
    expect(small + large).toBeGreaterThan(budget);
    expect(large).toBeLessThanOrEqual(budget);
    setConfig({ max_file_bytes: budget });
    const { engine, seen } = offThreadEngine(2);
    await make('exporter-1', engine).runNow();
    expect(seen.maxCompressingBytes).toBeLessThanOrEqual(budget);
    expect(seen.maxCompressing).toBe(2); // the two small ones
    expect(await bucketRecords(objects)).toEqual(appended);
  });

  it('with a threaded engine, a store error while a file uploads ends the cycle, and nothing is lost', async () => {
    const { store, objects, make } = setup({ limit: 4 });
    const appended = await store.append(captures(20));
    const claimNext = store.claimNext.bind(store);
    let calls = 0;
    store.claimNext = async (request) => {
      // The fourth claim is taken in the background, after a compression ended.
      if (++calls === 4) throw new Error('database is locked');
      return claimNext(request);
    };
    const { engine } = offThreadEngine(2);
    const exporter = make('exporter-1', engine);
    const failed = await exporter.runNow();
    expect(failed.error).toMatchObject({ code: 'ExportFailed', message: 'database is locked' });
    expect(failed.files).toBeGreaterThan(0);
    const retry = await exporter.runNow();
    expect(retry.error).toBeUndefined();
    expect(failed.records + retry.records).toBe(20);
    expect(await bucketRecords(objects)).toEqual(appended);
  });

  it('with files in flight, a permanent error leaves every claim to the next cycle, in order', async () => {
    const { store, objects, make } = setup({ limit: 4 });
    const appended = await store.append(captures(20));
    const { engine, seen } = offThreadEngine(2);
    objects.failures.push(accessDenied());
    const exporter = make('exporter-1', engine);
    const failed = await exporter.runNow();
    expect(failed.error).toMatchObject({ code: 'AccessDenied' });
    expect(failed.files).toBe(0);
    expect(seen.events.filter((event) => event.startsWith('compress'))).toHaveLength(3);
    expect(await store.counts()).toMatchObject({ pendingRecords: 20, exportedRecords: 0 });
    const retry = await exporter.runNow();
    expect(retry).toMatchObject({ files: 5, records: 20 });
    expect(await bucketRecords(objects)).toEqual(appended);
  });

  it('stop() ends a draining cycle after its current file, leaving the rest pending', async () => {
    const { store, objects, make } = setup({ limit: 1 });
    await store.append(captures(20));
    const exporter = make();
    exporter.start();
    const put = objects.putObject.bind(objects);
    let stopping: Promise<boolean> | undefined;
    objects.putObject = async (...args) => {
      stopping ??= exporter.stop();
      return put(...args);
    };
    const cycle = exporter.runNow();
    await stopping;
    expect((await cycle).files).toBe(1);
    expect(await store.counts()).toMatchObject({ exportedRecords: 1, pendingRecords: 19 });
  });

  it('stop({ timeoutMs }) cancels a cycle stuck on a slow S3 at its deadline; the claim waits for the next start', async () => {
    const { store, objects, clock, make, logs } = setup();
    await store.append(captures(3));
    const exporter = make();
    exporter.start();
    const put = objects.putObject.bind(objects);
    let cancelled = false;
    // An S3 that never answers, until the request is cancelled.
    objects.putObject = (key, _body, options) =>
      new Promise((_, reject) => {
        options?.signal?.addEventListener('abort', () => {
          cancelled = true;
          reject(new S3Error({ status: 0, code: 'Aborted', message: 'cancelled', operation: key }));
        });
      });
    const cycle = exporter.runNow();
    await settle();
    let stopped: boolean | undefined;
    const stopping = exporter.stop({ timeoutMs: 30_000 }).then((result) => {
      stopped = result;
    });
    await clock.advance(29_999);
    expect({ stopped, cancelled }).toEqual({ stopped: undefined, cancelled: false });
    await clock.advance(1);
    await stopping;
    expect({ stopped, cancelled }).toEqual({ stopped: true, cancelled: true });
    expect((await cycle).error?.code).toBe('Aborted');
    expect(logs).toContainEqual(['warn', expect.stringContaining('stopped after 30000 ms')]);
    expect(await store.counts()).toMatchObject({ pendingRecords: 3, exportedRecords: 0 });
    // The same exporter identity finishes the claim when it starts again.
    objects.putObject = put;
    expect(await make().runNow()).toMatchObject({ files: 1, records: 3 });
    expect(await bucketRecords(objects)).toHaveLength(3);
  });

  it('stop({ timeoutMs }) returns false, not never, when a cycle ignores the cancellation', async () => {
    const { store, objects, clock, make } = setup();
    await store.append(captures(1));
    const exporter = make();
    objects.putObject = () => new Promise(() => {}); // deaf to its signal
    void exporter.runNow();
    await settle();
    let stopped: boolean | undefined;
    const stopping = exporter.stop({ timeoutMs: 5_000 }).then((result) => {
      stopped = result;
    });
    await clock.advance(5_000);
    expect(stopped).toBeUndefined(); // a grace second to end once cancelled
    await clock.advance(1_000);
    await stopping;
    expect(stopped).toBe(false);
    expect(await store.counts()).toMatchObject({ pendingRecords: 1 });
  });

  it('queues "export now" behind a running cycle instead of overlapping', async () => {
    const { store, objects, make } = setup({ limit: 1 });
    await store.append(captures(3));
    const exporter = make();
    let concurrent = 0;
    let maxConcurrent = 0;
    const put = objects.putObject.bind(objects);
    objects.putObject = async (...args) => {
      maxConcurrent = Math.max(maxConcurrent, ++concurrent);
      await settle();
      concurrent--;
      return put(...args);
    };
    const [a, b] = await Promise.all([exporter.runNow(), exporter.runNow()]);
    expect(a.records + b.records).toBe(3);
    expect(maxConcurrent).toBe(1);
  });

  it('reports status: pending, totals, last attempt and success', async () => {
    const { store, make } = setup();
    await store.append(captures(4));
    const exporter = make();
    expect(await exporter.status()).toMatchObject({
      enabled: true,
      pendingRecords: 4,
      lastAttemptAt: undefined,
    });
    await exporter.runNow();
    const status = await exporter.status();
    expect(status).toMatchObject({
      pendingRecords: 0,
      exportedFiles: 1,
      exportedRecords: 4,
      running: false,
    });
    expect(status.lastSuccessAt).toBeInstanceOf(Date);
    expect(status.exportedBytes).toBeGreaterThan(0);
  });
});

describe('Exporter, exactly once under faults', () => {
  const timeout = (key: string) =>
    new S3Error({
      status: 0,
      code: 'Timeout',
      message: 'no reply in time',
      operation: `PutObject ${key}`,
    });

  it('keeps its lease while it works: another exporter leaves a long upload alone', async () => {
    const { store, objects, clock, make } = setup();
    await store.append(captures(3));
    const put = objects.putObject.bind(objects);
    let release: (() => void) | undefined;
    // A slow S3: the first upload takes 3 leases' time.
    objects.putObject = (...args) =>
      new Promise((resolve, reject) => {
        release = () => put(...args).then(resolve, reject);
      });
    const a = make('exporter-a');
    const cycle = a.runNow();
    await settle();
    await clock.advance(180_000);
    const b = make('exporter-b');
    expect(await b.runNow()).toMatchObject({ files: 0, records: 0 });
    objects.putObject = put;
    release!();
    expect(await cycle).toMatchObject({ files: 1, records: 3 });
    expect(objects.objects.size).toBe(1);
  });

  it('takes a dead exporter’s claims once their lease ends; its own identity takes them at once', async () => {
    const { store, objects, clock, make } = setup();
    const appended = await store.append(captures(4));
    // A process that claimed and was killed: no release.
    await store.claimNext({
      owner: 'killed',
      destination: { endpoint: '', bucket: 'exports', prefix: 'prod' },
      limit: 10,
      maxBytes: 1 << 30,
      nowMs: clock.now(),
      leaseMs: 60_000,
    });
    expect(await make('another').runNow()).toMatchObject({ files: 0 });
    expect(await make('killed').runNow()).toMatchObject({ files: 1, records: 4 });
    expect(await bucketRecords(objects)).toEqual(appended);
  });

  it('never moves a claim on an S3 error: a GET that fails while checking its key waits', async () => {
    const { store, objects, make } = setup();
    const appended = await store.append(captures(5));
    objects.dropMetadata = true;
    objects.failAfterPut = new Error('process killed'); // the upload landed, its reply did not
    await make().runNow();
    const get = objects.getObject.bind(objects);
    objects.getObject = async (key) => {
      throw new S3Error({
        status: 500,
        code: 'InternalError',
        message: 'm',
        operation: `GetObject ${key}`,
      });
    };
    const failed = await make().runNow();
    expect(failed.error).toMatchObject({ code: 'InternalError' });
    expect(objects.objects.size).toBe(1);
    objects.getObject = get;
    expect(await make().runNow()).toMatchObject({ files: 1, records: 5 });
    expect(objects.objects.size).toBe(1);
    expect(await bucketRecords(objects)).toEqual(appended);
  });

  it('finishes a claim under its own prefix after a prefix change, where a slow upload may still land', async () => {
    const { store, objects, make, setConfig } = setup();
    const appended = await store.append(captures(3));
    const put = objects.putObject.bind(objects);
    let late: (() => Promise<unknown>) | undefined;
    objects.putObject = async (key, body, options) => {
      late = () => put(key, body, options); // lands later
      throw timeout(key);
    };
    expect((await make().runNow()).error).toMatchObject({ code: 'Timeout' });
    objects.putObject = put;
    setConfig({ prefix: 'moved' });
    const resumed = make().runNow();
    await late!(); // the timed-out upload lands now, or already did
    expect(await resumed).toMatchObject({ files: 1, records: 3 });
    expect([...objects.objects.keys()]).toEqual([
      `prod/ts-aperture-export-${START_SECONDS}.cbor.zstd`,
    ]);
    expect(await bucketRecords(objects)).toEqual(appended);
    // New claims go under the new prefix.
    await store.append(captures(1, 2));
    await make().runNow();
    expect([...objects.objects.keys()].filter((key) => key.startsWith('moved/'))).toHaveLength(1);
  });

  it('finishes a claim in the bucket it was made for after a bucket change', async () => {
    const { store, objects, bucket, make, setConfig } = setup();
    const appended = await store.append(captures(3));
    objects.failures.push(timeout('k'));
    expect((await make().runNow()).error).toBeDefined();
    setConfig({ bucket_name: 'other', endpoint: 'https://elsewhere.example' });
    await store.append(captures(2, 2));
    expect(await make().runNow()).toMatchObject({ files: 2, records: 5 });
    expect(await bucketRecords(objects)).toEqual(appended);
    expect(await bucketRecords(bucket('other', 'https://elsewhere.example'))).toHaveLength(2);
  });

  it('a claim its old bucket refuses waits, shown with S3’s error, while new files go out; a release sends it again', async () => {
    const { store, objects, bucket, make, setConfig } = setup();
    await store.append(captures(3));
    objects.failures.push(timeout('k'));
    const exporter = make();
    await exporter.runNow();
    // The old bucket's credentials are gone; the config points at a new bucket.
    setConfig({ bucket_name: 'new' });
    const denied = new S3Error({
      status: 403,
      code: 'AccessDenied',
      message: 'Access Denied',
      operation: 'PutObject k',
    });
    objects.failures.push(denied, denied);
    await store.append(captures(2, 2));
    const cycle = await exporter.runNow();
    expect(cycle).toMatchObject({ files: 1, records: 2, blocked: 1 });
    expect(cycle.error).toBeUndefined();
    const { blockedClaims } = await exporter.status();
    expect(blockedClaims).toMatchObject([
      {
        bucket: 'exports',
        records: 3,
        error: { code: 'AccessDenied', permission: 's3:PutObject' },
      },
    ]);
    expect(blockedClaims[0]!.error.message).toContain('the exporter needs s3:PutObject');
    // Released on purpose: the records go to the current bucket.
    await store.releaseClaim(blockedClaims[0]!.claimId);
    expect(await exporter.runNow()).toMatchObject({ files: 1, records: 3, blocked: 0 });
    expect(await bucketRecords(bucket('new'))).toHaveLength(5);
    expect((await exporter.status()).blockedClaims).toEqual([]);
  });

  it('with write-only credentials, names the permission a claim needs to be verified', async () => {
    const { store, objects, make } = setup();
    await store.append(captures(2));
    objects.failAfterPut = new Error('process killed');
    await make().runNow();
    objects.headObject = async (key) => {
      throw new S3Error({
        status: 403,
        code: 'AccessDenied',
        message: 'Forbidden',
        operation: `HeadObject ${key}`,
      });
    };
    const exporter = make();
    const cycle = await exporter.runNow();
    expect(cycle.error).toMatchObject({ code: 'AccessDenied', permission: 's3:GetObject' });
    expect((await exporter.status()).blockedClaims).toMatchObject([
      { records: 2, error: { permission: 's3:GetObject' } },
    ]);
    expect(objects.objects.size).toBe(1); // not moved, not written twice
  });

  it('releases its leases when a cycle fails and when it stops', async () => {
    const { store, objects, make } = setup();
    await store.append(captures(2));
    objects.failures.push(timeout('k'));
    await make('a').runNow();
    // Another exporter may take the claim at once.
    expect((await store.resumableClaims('b', Date.now() - 1e12)).length).toBe(1);
    const a = make('a');
    a.start();
    await store.leaseClaim((await store.listClaims())[0]!.claimId, 'a', Date.now(), 60_000);
    await a.stop();
    expect((await store.listClaims())[0]!.leaseUntil).toBe(0);
  });
});
