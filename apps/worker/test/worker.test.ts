/**
 * The worker entry in workerd (Miniflare), against the S3 test target: captures in through
 * fetch, out through the cron trigger, read back from the bucket and decoded; files left for
 * the next trigger; an invocation aborted mid-export; config errors at startup; a record too
 * large for a D1 row.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  decodeExportFile,
  type ExportRecord,
  encodeRecords,
  recordToJson,
} from '@aperture-export/codec';
import { makeRecords } from '@aperture-export/codec/testing';
import { formatIssues, parseConfig } from '@aperture-export/core';
import { RAW_BODY_DROPPED_HEADER } from '@aperture-export/core/d1';
import {
  FAKE_KEYS,
  FAKE_USAGE,
  type FakeProvider,
  startFakeProvider,
} from '@aperture-export/gateway/testing';
import { type S3Target, startS3Target } from '@aperture-export/testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  processStats,
  resetPeak,
  startWorker,
  type WorkerUnderTest,
  workerdPids,
} from './workerd.ts';

const ADMIN = 'worker-admin-token';
const INGEST = 'worker-ingest-token';
let target: S3Target;
let provider: FakeProvider;
const workers: WorkerUnderTest[] = [];
const scratch = mkdtempSync(join(tmpdir(), 'worker-test-'));

beforeAll(async () => {
  [target, provider] = await Promise.all([startS3Target(), startFakeProvider()]);
});
afterAll(async () => {
  await Promise.allSettled(workers.map((worker) => worker.stop()));
  await Promise.all([target?.stop(), provider?.stop()]);
  rmSync(scratch, { recursive: true, force: true });
});

/** The config text a deployment would set, its secret an `env:` reference to a Worker secret. */
function config(prefix: string, s3: Record<string, unknown> = {}) {
  const c = target.config;
  return JSON.stringify({
    exporters: {
      s3: {
        endpoint: c.endpoint,
        bucket_name: c.bucket,
        region: c.region,
        access_key_id: c.accessKeyId,
        access_secret: 'env:S3_SECRET',
        prefix: `${target.prefix}${prefix}`,
        limit: 10,
        every: 3600,
        ...s3,
      },
    },
  });
}

async function start(bindings: Record<string, string>, persistDir?: string, assetsDir?: string) {
  const worker = await startWorker({
    ...(assetsDir ? { assetsDir } : {}),
    bindings: {
      APERTURE_ADMIN_TOKEN: ADMIN,
      APERTURE_INGEST_TOKEN: INGEST,
      S3_SECRET: target.config.secretAccessKey,
      ...bindings,
    },
    ...(persistDir ? { persistDir } : {}),
  });
  workers.push(worker);
  return worker;
}

/** Captures as a client sends them (the JSON mapping, without id), each with its own capture_id. */
function captures(count: number, seed: number) {
  return makeRecords(count, seed).map((record) => {
    const { id: _, ...json } = recordToJson(record);
    return json;
  });
}

async function ingest(worker: WorkerUnderTest, items: unknown[]) {
  const response = await worker.fetch('/v1/captures', {
    method: 'POST',
    headers: { authorization: `Bearer ${INGEST}`, 'content-type': 'application/json' },
    body: JSON.stringify(items),
  });
  expect(response.status).toBe(201);
  return ((await response.json()) as { ids: number[] }).ids;
}

/** Every record in the bucket under a prefix, file by file in key order, with the keys. */
async function bucket(prefix: string) {
  const client = target.client();
  const keys: string[] = [];
  for await (const object of client.listAllObjects(`${target.prefix}${prefix}/`))
    keys.push(object.key);
  keys.sort();
  const records: ExportRecord[] = [];
  for (const key of keys) records.push(...(await decodeExportFile(await client.getObject(key))));
  return { keys, records };
}

/** The records as the JSON mapping, without the ids the store gave them. */
const withoutIds = (records: ExportRecord[]) =>
  records.map((record) => {
    const { id: _, ...json } = recordToJson(record);
    return json;
  });

describe('the worker in workerd', () => {
  it('ingests through fetch and exports from the cron trigger: each record once, as sent', async () => {
    const worker = await start({ APERTURE_CONFIG: config('cron') });
    const sent = captures(25, 61);
    expect(await ingest(worker, sent)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    expect((await worker.scheduled()).outcome).toBe('ok');
    const { keys, records } = await bucket('cron');
    expect(keys).toHaveLength(3);
    expect(records.map((record) => record.id)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    expect(withoutIds(records)).toEqual(sent);
    const status = await worker.fetch('/api/export/status', {
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    expect(await status.json()).toMatchObject({ pendingRecords: 0, exportedFiles: 3 });
    // Another trigger finds nothing to do.
    await worker.scheduled();
    expect((await bucket('cron')).keys).toHaveLength(3);
  });

  it('serves the dashboard with its assets, and says the config cannot be saved here', async () => {
    // What wrangler.toml's [assets] serves: the dashboard's built scripts and styles.
    const assets = join(scratch, 'assets');
    mkdirSync(assets);
    writeFileSync(join(assets, 'dashboard.css'), 'body { color: teal }');
    const worker = await start({ APERTURE_CONFIG: config('pages') }, undefined, assets);
    const css = await worker.fetch('/assets/dashboard.css');
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(await css.text()).toBe('body { color: teal }');
    expect((await worker.fetch('/assets/usage.js')).status).toBe(404);
    // The worker answers first: an asset's own path is not served around it.
    expect((await worker.fetch('/dashboard.css')).status).toBe(404);
    const login = await worker.fetch('/login', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `token=${ADMIN}`,
      redirect: 'manual',
    });
    expect(login.status).toBe(303);
    const cookie = /aperture_session=[^;]+/.exec(login.headers.get('set-cookie')!)![0];
    for (const path of ['/usage', '/requests', '/export', '/settings']) {
      const page = await worker.fetch(path, { headers: { cookie } });
      expect(page.status, path).toBe(200);
      expect(await page.text()).toContain('<nav aria-label="Main">');
    }
    const put = await worker.fetch('/api/config', {
      method: 'PUT',
      headers: { authorization: `Bearer ${ADMIN}` },
      body: '{}',
    });
    expect(put.status).toBe(400);
    expect(((await put.json()) as { error: string }).error).toContain('APERTURE_CONFIG variable');
  });

  it('serves the gateway: a streamed chat becomes a record, written after the answer', async () => {
    const worker = await start({
      APERTURE_CONFIG: JSON.stringify({
        providers: {
          fake: {
            baseurl: provider.baseUrl,
            apikey: 'env:PROVIDER_KEY',
            models: ['gpt-4o'],
            compatibility: { openai_chat: true },
          },
        },
        gateway: { tokens: [{ token: 'env:TEAM_TOKEN', login_name: 'edge@example.com' }] },
      }),
      PROVIDER_KEY: FAKE_KEYS.openai,
      TEAM_TOKEN: 'team-token',
    });
    const chat = await worker.fetch('/v1/chat/completions', {
      method: 'POST',
      headers: { authorization: 'Bearer team-token', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o', messages: [], stream: true }),
    });
    expect(chat.headers.get('content-type')).toContain('text/event-stream');
    expect(await chat.text()).toContain('data: [DONE]');
    let records: Array<{ identity: { login_name: string }; usage: { input_tokens: number } }> = [];
    for (let i = 0; i < 100 && records.length === 0; i++) {
      const usage = await worker.fetch('/api/usage', {
        headers: { authorization: `Bearer ${ADMIN}` },
      });
      ({ records } = (await usage.json()) as { records: typeof records });
      if (records.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(records).toMatchObject([
      {
        identity: { login_name: 'edge@example.com' },
        usage: { input_tokens: FAKE_USAGE.openai.input },
      },
    ]);
  });

  it('leaves files past APERTURE_FILES_PER_INVOCATION for the next trigger', async () => {
    const worker = await start({
      APERTURE_CONFIG: config('budget'),
      APERTURE_FILES_PER_INVOCATION: '2',
    });
    const sent = captures(35, 62);
    await ingest(worker, sent);
    await worker.scheduled();
    expect((await bucket('budget')).keys).toHaveLength(2);
    await worker.scheduled();
    const { keys, records } = await bucket('budget');
    expect(keys).toHaveLength(4);
    expect(withoutIds(records)).toEqual(sent);
  });

  it('after an invocation aborted mid-export, the next trigger exports every record exactly once', async () => {
    const front = await target.withFaults();
    const persistDir = join(scratch, 'aborted');
    const bindings = {
      APERTURE_CONFIG: config('aborted', { endpoint: front.endpoint }),
      APERTURE_EXPORT_LEASE_SECONDS: '1',
    };
    const first = await start(bindings, persistDir);
    const sent = captures(30, 63);
    await ingest(first, sent);
    // The second file's upload never gets an answer: the invocation is killed while it waits.
    front.faults.add({ fault: { kind: 'hang' }, methods: ['PUT'], nth: [2] });
    void first.scheduled().catch(() => {});
    for (let i = 0; i < 200 && front.requests.filter((r) => r.method === 'PUT').length < 2; i++)
      await new Promise((resolve) => setTimeout(resolve, 25));
    await first.stop();
    front.faults.clear();
    expect((await bucket('aborted')).keys).toHaveLength(1);

    const second = await start(bindings, persistDir);
    // The dead invocation's lease runs out (1 s here); its claim is finished where it was made.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    await second.scheduled();
    const { keys, records } = await bucket('aborted');
    expect(keys).toHaveLength(3);
    expect(records.map((record) => record.id)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    expect(withoutIds(records)).toEqual(sent);
  });

  it('refuses to start on a bad config or missing secrets, naming each as the server does', async () => {
    const text = config('bad', { prefix: 'a//b', every: 0 });
    const bad = await start({ APERTURE_CONFIG: text });
    const answer = await bad.fetch('/healthz');
    expect(answer.status).toBe(503);
    const parsed = parseConfig(text, { S3_SECRET: 'x' });
    expect(parsed.ok).toBe(false);
    expect(await answer.json()).toEqual({
      error: 'invalid config',
      errors: formatIssues(parsed.ok ? [] : parsed.errors).split('\n'),
    });
    const unsigned = await startWorker({ bindings: { APERTURE_CONFIG: '{}' } });
    workers.push(unsigned);
    expect(await (await unsigned.fetch('/healthz')).json()).toEqual({
      error: 'the worker is missing secrets',
      errors: [
        'APERTURE_ADMIN_TOKEN is not set: wrangler secret put APERTURE_ADMIN_TOKEN',
        'APERTURE_INGEST_TOKEN is not set: wrangler secret put APERTURE_INGEST_TOKEN',
      ],
    });
  });

  it('exports a file near its 16 MiB budget within the 128 MB a Worker has', async () => {
    const before = new Set(workerdPids());
    const worker = await start({ APERTURE_CONFIG: config('big', { limit: 10_000 }) });
    await worker.fetch('/healthz');
    const pid = workerdPids().find((candidate) => !before.has(candidate))!;
    const sent = captures(720, 65);
    for (let i = 0; i < sent.length; i += 120) await ingest(worker, sent.slice(i, i + 120));
    const status = await worker.fetch('/api/export/status', {
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    const { pendingBytes } = (await status.json()) as { pendingBytes: number };
    expect(pendingBytes).toBeGreaterThan(16 * 1024 * 1024);
    resetPeak(pid);
    const idle = processStats(pid);
    await worker.scheduled();
    const after = processStats(pid);
    const { keys, records } = await bucket('big');
    expect(keys).toHaveLength(2);
    expect(withoutIds(records)).toEqual(sent);
    const first = await decodeExportFile(await target.client().getObject(keys[0]!));
    const firstBytes = encodeRecords(first).byteLength;
    expect(firstBytes).toBeGreaterThan(15 * 1024 * 1024);
    expect(firstBytes).toBeLessThanOrEqual(16 * 1024 * 1024);
    // workerd's whole process grew by less than a Worker's memory limit while it exported.
    expect(after.peakBytes - idle.rssBytes).toBeLessThan(128 * 1024 * 1024);
  });

  it('keeps a capture too large for a D1 row without its raw body, and says so', async () => {
    const worker = await start({ APERTURE_CONFIG: config('large') });
    type Side = { headers: Record<string, string>; body: unknown; raw_body?: string };
    type Json = { capture: { request: Side; response: Side } };
    const [capture] = captures(1, 64) as unknown as Json[];
    const raw = new Uint8Array(2_500_000).map((_, i) => (i * 7919) % 251);
    capture!.capture.request.raw_body = Buffer.from(raw).toString('base64');
    const [id] = await ingest(worker, [capture]);
    const usage = await worker.fetch(`/api/usage?before=${id! + 1}&limit=1`, {
      headers: { authorization: `Bearer ${ADMIN}` },
    });
    const [record] = ((await usage.json()) as { records: Json[] }).records;
    expect(record!.capture.request.raw_body).toBeUndefined();
    expect(record!.capture.request.headers[RAW_BODY_DROPPED_HEADER]).toBe('2500000 bytes');
    expect(record!.capture.request.body).toEqual(capture!.capture.request.body);
    await worker.scheduled();
    const { records } = await bucket('large');
    expect(records).toHaveLength(1);
    expect(records[0]!.capture!.request.headers[RAW_BODY_DROPPED_HEADER]).toBe('2500000 bytes');
  });
});
