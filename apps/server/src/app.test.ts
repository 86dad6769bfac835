import { decodeExportFile, recordToJson } from '@aperture-export/codec';
import { makeRecords } from '@aperture-export/codec/testing';
import { MemoryStore } from '@aperture-export/core';
import { S3_FAULTS, type S3Target, startS3Target } from '@aperture-export/testcontainers';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApp } from './app.ts';
import { SPLIT_FROM_BYTES } from './json-body.ts';
import { ApertureService } from './service.ts';

const ADMIN = 'admin-token-for-tests';
const INGEST = 'ingest-token-for-tests';
let target: S3Target;
beforeAll(async () => {
  target = await startS3Target();
});
afterAll(async () => {
  await target?.stop();
});

/** A capture as a client sends it: the JSON mapping without id. */
const captureJson = (i = 0) => {
  const { id: _, ...json } = recordToJson(makeRecords(i + 1, 5)[i]!);
  return json;
};

let app: ReturnType<typeof createApp>;
let service: ApertureService;
let configText: string;
const responses: string[] = [];

async function call(
  method: string,
  path: string,
  options: { token?: string; body?: unknown; raw?: string } = {},
) {
  const headers: Record<string, string> = {};
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  const body =
    options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  const response = await app.request(path, { method, headers, body });
  const text = await response.text();
  responses.push(text);
  return { status: response.status, headers: response.headers, text, json: () => JSON.parse(text) };
}

const s3Config = (prefix: string, secret = target.config.secretAccessKey) => `{
  // written by the test
  "exporters": {
    "s3": {
      "endpoint": "${target.config.endpoint}",
      "bucket_name": "${target.config.bucket}",
      "region": "${target.config.region}",
      "access_key_id": "${target.config.accessKeyId}",
      "access_secret": "${secret}",
      "prefix": "${prefix}",
      "limit": 5,
    },
  },
}`;

beforeEach(async () => {
  configText = '';
  ({ service } = await ApertureService.open({
    store: new MemoryStore(),
    configSource: {
      read: async () => configText,
      write: async (text) => {
        configText = text;
      },
    },
    zstd: await (await import('@aperture-export/codec')).loadZstd(),
  }));
  app = createApp({ service, adminToken: ADMIN, ingestToken: INGEST, maxIngestBytes: 1024 * 1024 });
});

afterAll(() => {
  // No response, whatever the route or error, ever carried the S3 secret.
  for (const text of responses) expect(text).not.toContain(target.config.secretAccessKey);
});

describe('health and auth', () => {
  it('answers /healthz without a token, with secure headers', async () => {
    const response = await call('GET', '/healthz');
    expect(response.status).toBe(200);
    expect(response.json()).toEqual({ status: 'ok' });
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('refuses everything else without the right bearer token', async () => {
    for (const [method, path] of [
      ['GET', '/api/usage'],
      ['GET', '/api/config'],
      ['POST', '/api/export/run'],
      ['GET', '/metrics'],
    ]) {
      expect((await call(method!, path!)).status).toBe(401);
      expect((await call(method!, path!, { token: INGEST })).status).toBe(401);
    }
    expect((await call('POST', '/v1/captures', { token: ADMIN, body: captureJson() })).status).toBe(
      401,
    );
  });

  it('answers 401 with a challenge naming the realm, and 400 for a malformed header', async () => {
    const wrong = await call('GET', '/api/config', { token: 'not-the-token' });
    expect(wrong.status).toBe(401);
    expect(wrong.json()).toEqual({ error: 'a valid admin bearer token is required' });
    expect(wrong.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    const none = await call('GET', '/api/config');
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="admin"');
    const malformed = await app.request('/api/config', {
      headers: { authorization: `Basic ${btoa(`admin:${ADMIN}`)}` },
    });
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toEqual({ error: 'a valid admin bearer token is required' });
  });
});

describe('POST /v1/captures', () => {
  it('stores one capture or an array and answers the assigned ids', async () => {
    expect(
      (await call('POST', '/v1/captures', { token: INGEST, body: captureJson(0) })).json(),
    ).toEqual({ ids: [1], duplicates: 0 });
    const many = await call('POST', '/v1/captures', {
      token: INGEST,
      body: [captureJson(1), captureJson(2)],
    });
    expect(many.status).toBe(201);
    expect(many.json()).toEqual({ ids: [2, 3], duplicates: 0 });
    const [stored] = await service.store.recent({ limit: 1 });
    expect(stored!.model).toBe(captureJson(2).model);
  });

  it('stores a large batch (parsed item by item) in order, and refuses one with a JSON error', async () => {
    const batch = Array.from({ length: 8 }, (_, i) => captureJson(i));
    const text = JSON.stringify(batch);
    expect(text.length).toBeGreaterThan(SPLIT_FROM_BYTES);
    const broken = await call('POST', '/v1/captures', {
      token: INGEST,
      raw: `${text.slice(0, -1)},]`,
    });
    expect([broken.status, broken.json()]).toEqual([
      400,
      { error: 'request body is not valid JSON' },
    ]);
    expect((await service.store.counts()).records).toBe(0);
    const stored = await call('POST', '/v1/captures', { token: INGEST, raw: text });
    expect([stored.status, stored.json()]).toEqual([
      201,
      { ids: [1, 2, 3, 4, 5, 6, 7, 8], duplicates: 0 },
    ]);
    const records = await service.store.recent({ limit: 8 });
    expect(records.reverse().map((record) => recordToJson(record))).toEqual(
      batch.map((json, i) => ({ id: i + 1, ...json })),
    );
  });

  it('stores a capture sent again (a known capture_id) once, and answers the id it has', async () => {
    const first = await call('POST', '/v1/captures', { token: INGEST, body: captureJson(0) });
    expect([first.status, first.json()]).toEqual([201, { ids: [1], duplicates: 0 }]);
    // The client's retry after a lost reply, alone and beside a new capture.
    const retry = await call('POST', '/v1/captures', { token: INGEST, body: captureJson(0) });
    expect([retry.status, retry.json()]).toEqual([200, { ids: [1], duplicates: 1 }]);
    const mixed = await call('POST', '/v1/captures', {
      token: INGEST,
      body: [captureJson(0), captureJson(1)],
    });
    expect([mixed.status, mixed.json()]).toEqual([201, { ids: [1, 2], duplicates: 1 }]);
    expect((await service.store.counts()).records).toBe(2);
    const metrics = (await call('GET', '/metrics', { token: ADMIN })).text;
    expect(metrics).toContain('aperture_captures_ingested_total 2\n');
    expect(metrics).toContain('aperture_captures_duplicate_total 2\n');
    // Three requests, one after another: three transactions.
    expect(metrics).toContain('aperture_ingest_transactions_total 3\n');
  });

  it('accepts epoch milliseconds for the timestamp', async () => {
    const body = { ...captureJson(), timestamp: Date.UTC(2026, 10, 28) };
    expect((await call('POST', '/v1/captures', { token: INGEST, body })).status).toBe(201);
    expect((await service.store.recent({ limit: 1 }))[0]!.timestamp.toISOString()).toBe(
      '2026-11-28T00:00:00.000Z',
    );
  });

  it('names each bad field, and stores nothing of a request with one bad capture', async () => {
    const bad = { ...captureJson(1), model: 42, usage: { input_tokens: -1 } };
    const response = await call('POST', '/v1/captures', {
      token: INGEST,
      body: [captureJson(0), bad],
    });
    expect(response.status).toBe(400);
    const { issues } = response.json();
    expect(issues).toContainEqual({
      index: 1,
      path: 'model',
      message: 'must be a string, got the integer 42',
    });
    expect(issues).toContainEqual({
      index: 1,
      path: 'usage.input_tokens',
      message: expect.stringContaining('non-negative'),
    });
    expect(issues.every((issue: { index: number }) => issue.index === 1)).toBe(true);
    expect((await service.store.counts()).records).toBe(0);
    expect(
      (await call('POST', '/v1/captures', { token: INGEST, raw: '{not json' })).json(),
    ).toEqual({
      error: 'request body is not valid JSON',
    });
  });

  it('answers 413 to a body over the size limit, declared or streamed', async () => {
    const big = { ...captureJson(), model: 'x'.repeat(2 * 1024 * 1024) };
    expect((await call('POST', '/v1/captures', { token: INGEST, body: big })).status).toBe(413);
    const bytes = new TextEncoder().encode(JSON.stringify(big));
    const headers = { authorization: `Bearer ${INGEST}` };
    // Declared: refused on its Content-Length, unread.
    const declared = await app.request('/v1/captures', {
      method: 'POST',
      headers: { ...headers, 'content-length': String(bytes.byteLength) },
      body: bytes,
    });
    expect([declared.status, await declared.json()]).toEqual([
      413,
      { error: 'request body is larger than 1048576 bytes' },
    ]);
    // Streamed without a length: counted as it arrives.
    const streamed = await app.request('/v1/captures', {
      method: 'POST',
      headers: { ...headers, 'transfer-encoding': 'chunked' },
      body: new Blob([bytes]).stream(),
      duplex: 'half',
    } as RequestInit);
    expect(streamed.status).toBe(413);
    expect((await service.store.counts()).records).toBe(0);
    expect((await service.store.counts()).records).toBe(0);
  });
});

describe('usage API', () => {
  beforeEach(async () => {
    await call('POST', '/v1/captures', {
      token: INGEST,
      body: Array.from({ length: 8 }, (_, i) => captureJson(i)),
    });
  });

  it('lists recent records, newest first, with paging and filters', async () => {
    const first = (await call('GET', '/api/usage?limit=3', { token: ADMIN })).json();
    expect(first.records.map((r: { id: number }) => r.id)).toEqual([8, 7, 6]);
    expect(first.next_before).toBe(6);
    const next = (await call('GET', '/api/usage?limit=3&before=6', { token: ADMIN })).json();
    expect(next.records.map((r: { id: number }) => r.id)).toEqual([5, 4, 3]);
    const model = first.records[0].model;
    const filtered = (
      await call('GET', `/api/usage?model=${encodeURIComponent(model)}`, { token: ADMIN })
    ).json();
    expect(filtered.records.every((r: { model: string }) => r.model === model)).toBe(true);
    expect((await call('GET', '/api/usage?limit=0', { token: ADMIN })).status).toBe(400);
  });

  it('sums tokens and cost by model and login, as JSON and CSV', async () => {
    const summary = (await call('GET', '/api/usage/summary?window=3650d', { token: ADMIN })).json();
    expect(
      summary.by_model.reduce((n: number, row: { requests: number }) => n + row.requests, 0),
    ).toBe(8);
    expect(summary.by_login.length).toBeGreaterThan(1);
    const csv = await call('GET', '/api/usage/summary?window=3650d&format=csv', { token: ADMIN });
    expect(csv.headers.get('content-type')).toContain('text/csv');
    const lines = csv.text.trim().split('\n');
    expect(lines[0]).toBe(
      'group,key,requests,input_tokens,output_tokens,cached_tokens,reasoning_tokens,cost_usd,unpriced_requests',
    );
    expect(lines.length).toBe(1 + summary.by_model.length + summary.by_login.length);
    expect((await call('GET', '/api/usage/summary?window=soon', { token: ADMIN })).status).toBe(
      400,
    );
  });
});

describe('config API', () => {
  it('shows secrets redacted, keeps them when the placeholder comes back, and applies without a restart', async () => {
    expect((await call('GET', '/api/export/status', { token: ADMIN })).json().enabled).toBe(false);
    const put = await call('PUT', '/api/config', { token: ADMIN, raw: s3Config('cfg') });
    expect(put.status).toBe(200);
    expect((await call('GET', '/api/export/status', { token: ADMIN })).json().enabled).toBe(true);
    const shown = (await call('GET', '/api/config', { token: ADMIN })).json();
    expect(shown.text).toContain('"access_secret": "<redacted>"');
    expect(shown.text).toContain('// written by the test');
    expect(shown.config.exporters.s3.access_secret).toBe('<redacted>');
    // The settings page sends back what it was shown, with one change.
    const edited = shown.text.replace('"limit": 5', '"limit": 7');
    const saved = await call('PUT', '/api/config', { token: ADMIN, raw: edited });
    expect(saved.status, saved.text).toBe(200);
    expect(service.config.exporters.s3).toMatchObject({
      limit: 7,
      access_secret: target.config.secretAccessKey,
    });
    expect(configText).toContain(target.config.secretAccessKey);
  });

  it('refuses an invalid config, listing every error, and keeps the old one', async () => {
    const response = await call('PUT', '/api/config', {
      token: ADMIN,
      raw: '{"exporters": {"s3": {"bucket_name": "b", "prefix": "p/"}}}',
    });
    expect(response.status).toBe(400);
    const { errors } = response.json();
    expect(errors.map((e: { path: string }) => e.path).sort()).toEqual([
      'exporters.s3.access_key_id',
      'exporters.s3.access_secret',
      'exporters.s3.prefix',
      'exporters.s3.region',
    ]);
    expect(service.config.exporters.s3.bucket_name).toBe('');
  });
});

describe('bad input and unexpected errors', () => {
  it('refuses a capture nested 5,000 levels deep with a 400 naming the path', async () => {
    const capture = captureJson() as { capture: { request: { body: unknown } } };
    capture.capture.request.body = 'DEEP';
    const body = JSON.stringify(capture).replace(
      '"DEEP"',
      `${'['.repeat(5000)}1${']'.repeat(5000)}`,
    );
    const response = await call('POST', '/v1/captures', { token: INGEST, raw: body });
    expect(response.status, response.text).toBe(400);
    expect(response.json().issues).toEqual([
      {
        index: 0,
        path: `capture.request.body${'[0]'.repeat(128)}`,
        message: 'must be JSON nested at most 128 levels deep',
      },
    ]);
  });

  it('answers an unexpected error with JSON and a request id, and logs one line without a stack', async () => {
    const logs: Array<[string, string, Record<string, unknown> | undefined]> = [];
    const failing = new MemoryStore();
    failing.append = async () => {
      throw new Error('disk I/O error');
    };
    const { service: broken } = await ApertureService.open({
      store: failing,
      configSource: { read: async () => '', write: async () => {} },
      zstd: await (await import('@aperture-export/codec')).loadZstd(),
    });
    const brokenApp = createApp({
      service: broken,
      adminToken: ADMIN,
      ingestToken: INGEST,
      log: (level, message, fields) => logs.push([level, message, fields]),
    });
    const response = await brokenApp.request('/v1/captures', {
      method: 'POST',
      headers: { authorization: `Bearer ${INGEST}` },
      body: JSON.stringify(captureJson()),
    });
    expect(response.status).toBe(500);
    const requestId = response.headers.get('x-request-id');
    expect(requestId).toMatch(/^[\w-]{8,}$/);
    const text = await response.text();
    expect(JSON.parse(text)).toEqual({ error: 'internal error', request_id: requestId });
    expect(text).not.toContain('disk I/O');
    expect(logs).toEqual([
      [
        'error',
        'POST /v1/captures failed: disk I/O error',
        { request_id: requestId, error: 'Error' },
      ],
    ]);
  });
});

describe('/metrics', () => {
  it('counts captures taken and refused, and export cycles as running totals', async () => {
    await call('POST', '/v1/captures', { token: INGEST, body: [captureJson(0), captureJson(1)] });
    await call('POST', '/v1/captures', { token: INGEST, body: [captureJson(2), { model: 1 }] });
    await call('PUT', '/api/config', { token: ADMIN, raw: s3Config(`${target.prefix}/metrics`) });
    // More cycles than the quantiles' window: _count and _sum still count every one.
    for (let i = 0; i < 1001; i++) await service.exportNow();
    const metrics = (await call('GET', '/metrics', { token: ADMIN })).text;
    expect(metrics).toContain('aperture_captures_ingested_total 2\n');
    expect(metrics).toContain('aperture_captures_rejected_total 2\n');
    expect(metrics).toContain('aperture_export_cycles_total 1001\n');
    expect(metrics).toContain('aperture_export_duration_seconds_count 1001\n');
    const sum = Number(/aperture_export_duration_seconds_sum (\S+)/.exec(metrics)![1]);
    expect(sum).toBeGreaterThan(0);
  });
});

describe('export API, against the S3 test target', () => {
  it('exports now, reports status, and the files hold the ingested records', async () => {
    await call('PUT', '/api/config', { token: ADMIN, raw: s3Config(`${target.prefix}/api`) });
    await call('POST', '/v1/captures', {
      token: INGEST,
      body: Array.from({ length: 12 }, (_, i) => captureJson(i)),
    });
    const run = await call('POST', '/api/export/run', { token: ADMIN });
    expect(run.status).toBe(200);
    expect(run.json()).toMatchObject({ files: 3, records: 12 });
    expect((await call('GET', '/api/export/status', { token: ADMIN })).json()).toMatchObject({
      pendingRecords: 0,
      exportedFiles: 3,
      exportedRecords: 12,
    });
    const client = target.client();
    const ids = [];
    for await (const object of client.listAllObjects(`${target.prefix}/api/`)) {
      ids.push(
        ...(await decodeExportFile(await client.getObject(object.key))).map((record) => record.id),
      );
    }
    expect(ids.sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    const metrics = (await call('GET', '/metrics', { token: ADMIN })).text;
    expect(metrics).toContain('aperture_export_records_total 12');
    expect(metrics).toContain('aperture_captures_pending 0');
    expect(metrics).toMatch(/aperture_export_duration_seconds_count 1\n/);
  });

  it('tests the current config and a proposed one, naming S3’s error code', async () => {
    await call('PUT', '/api/config', { token: ADMIN, raw: s3Config(`${target.prefix}/probe`) });
    expect((await call('POST', '/api/export/test', { token: ADMIN })).json()).toMatchObject({
      ok: true,
    });
    const wrong = await call('POST', '/api/export/test', {
      token: ADMIN,
      raw: s3Config('probe', 'wrong-secret'),
    });
    expect(wrong.status).toBe(502);
    expect(wrong.json()).toMatchObject({
      ok: false,
      step: 'write',
      error: { code: 'SignatureDoesNotMatch' },
    });
    const invalid = await call('POST', '/api/export/test', {
      token: ADMIN,
      raw: '{"exporters": {"s3": {"every": 0}}}',
    });
    expect(invalid.status).toBe(400);
  });

  it('lists claims that wait at their destination, with S3’s error, and releases one', async () => {
    const proxy = await target.withFaults();
    const viaProxy = (prefix: string) =>
      s3Config(prefix).replace(target.config.endpoint, proxy.endpoint);
    await call('PUT', '/api/config', { token: ADMIN, raw: viaProxy(`${target.prefix}/old`) });
    await call('POST', '/v1/captures', { token: INGEST, body: [captureJson(0), captureJson(1)] });
    proxy.faults.add({ methods: ['PUT'], fault: S3_FAULTS.accessDenied });
    expect((await call('POST', '/api/export/run', { token: ADMIN })).status).toBe(502);
    // The prefix changes: the claim stays at the old one, where writes are refused.
    await call('PUT', '/api/config', { token: ADMIN, raw: viaProxy(`${target.prefix}/new`) });
    await call('POST', '/v1/captures', { token: INGEST, body: captureJson(2) });
    proxy.faults.clear();
    proxy.faults.add({ methods: ['PUT'], nth: [1], fault: S3_FAULTS.accessDenied });
    const run = await call('POST', '/api/export/run', { token: ADMIN });
    expect(run.json()).toMatchObject({ files: 1, records: 1, blocked: 1 });
    const status = (await call('GET', '/api/export/status', { token: ADMIN })).json();
    expect(status.blockedClaims).toMatchObject([
      { records: 2, error: { code: 'AccessDenied', permission: 's3:PutObject' } },
    ]);
    const { claims } = (await call('GET', '/api/export/claims', { token: ADMIN })).json();
    expect(claims).toMatchObject([{ prefix: `${target.prefix}/old`, recordCount: 2 }]);
    const released = await call('POST', `/api/export/claims/${claims[0].claimId}/release`, {
      token: ADMIN,
    });
    expect(released.status).toBe(200);
    expect(released.json().warning).toContain('will be in both');
    const again = await call('POST', `/api/export/claims/${claims[0].claimId}/release`, {
      token: ADMIN,
    });
    expect(again.status).toBe(404);
    expect((await call('POST', '/api/export/run', { token: ADMIN })).json()).toMatchObject({
      records: 2,
      blocked: 0,
    });
  });

  it('reports a failed export with S3’s code, and keeps the records', async () => {
    await call('PUT', '/api/config', { token: ADMIN, raw: s3Config('denied', 'wrong-secret') });
    await call('POST', '/v1/captures', { token: INGEST, body: captureJson() });
    const run = await call('POST', '/api/export/run', { token: ADMIN });
    expect(run.status).toBe(502);
    expect(run.json().error).toMatchObject({ code: 'SignatureDoesNotMatch' });
    expect((await call('GET', '/api/export/status', { token: ADMIN })).json()).toMatchObject({
      pendingRecords: 1,
      lastError: { code: 'SignatureDoesNotMatch' },
    });
  });
});
