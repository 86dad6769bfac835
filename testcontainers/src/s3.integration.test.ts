/**
 * The S3 client against a real S3 protocol peer, unchanged on every target: an external
 * server, MinIO in a container, or the strict local S3 (see target.ts for the choice).
 */
import { createHash } from 'node:crypto';
import { S3Error } from '@aperture-export/s3';
import { AwsClient } from 'aws4fetch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3_FAULTS } from './faults.ts';
import { dockerUnavailableReason, startMinio } from './minio.ts';
import { type S3Target, startS3Target } from './target.ts';

let target: S3Target;
beforeAll(async () => {
  target = await startS3Target();
});
afterAll(async () => {
  await target?.stop();
});

const key = (name: string) => `${target.prefix}/${name}`;
const text = (value: string) => new TextEncoder().encode(value);
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');
/** Instant backoff: these tests are about outcomes, not waiting. */
const fastRetries = { retryEnvironment: { random: () => 0, sleep: async () => {} } };

/** A fetch that counts the attempts the client makes. */
function countingFetch() {
  const counter = {
    calls: 0,
    fetch: (input: RequestInfo | URL, init?: RequestInit) => {
      counter.calls++;
      return fetch(input, init);
    },
  };
  return counter;
}

async function rejection(promise: Promise<unknown>): Promise<S3Error> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(S3Error);
  return error as S3Error;
}

describe('S3 client on the test target', () => {
  it('puts, heads, gets and deletes an object', async () => {
    const client = target.client();
    const body = text('{"hello": "bucket"}');
    await client.putObject(key('basic.json'), body, {
      contentType: 'application/json',
      metadata: { 'aperture-claim': 'claim-1' },
    });
    expect(await client.headObject(key('basic.json'))).toMatchObject({
      size: body.length,
      metadata: { 'aperture-claim': 'claim-1' },
    });
    expect(sha256(await client.getObject(key('basic.json')))).toBe(sha256(body));
    await client.deleteObject(key('basic.json'));
    expect(await client.headObject(key('basic.json'))).toBeUndefined();
    const missing = await rejection(client.getObject(key('basic.json')));
    expect(missing).toMatchObject({ status: 404, code: 'NoSuchKey', retryable: false });
  });

  it('reports a wrong secret as a permanent SignatureDoesNotMatch, without retrying', async () => {
    const counter = countingFetch();
    const client = target.client(
      { fetch: counter.fetch, ...fastRetries },
      { secretAccessKey: 'not-the-secret' },
    );
    const error = await rejection(client.putObject(key('wrong-secret'), text('x')));
    expect(error).toMatchObject({ status: 403, code: 'SignatureDoesNotMatch', retryable: false });
    expect(error.message).toMatch(/^SignatureDoesNotMatch: /);
    expect(error.message).not.toContain('not-the-secret');
    expect(counter.calls).toBe(1);
  });

  it('reports an unknown access key as InvalidAccessKeyId', async () => {
    const client = target.client(fastRetries, { accessKeyId: 'AKIAUNKNOWN000000000' });
    const error = await rejection(client.putObject(key('unknown-key'), text('x')));
    expect(error).toMatchObject({ status: 403, code: 'InvalidAccessKeyId', retryable: false });
  });

  it('rejects a body that does not match its signed SHA-256', async () => {
    const { config } = target;
    const signer = new AwsClient({ ...config, service: 's3', region: config.region, retries: 0 });
    const url = `${config.endpoint}/${config.bucket}/${encodeURIComponent(key('tampered'))}`;
    const signed = await signer.sign(url, {
      method: 'PUT',
      headers: { 'x-amz-content-sha256': sha256(text('the signed body')) },
      body: text('another body'),
    });
    const response = await fetch(signed);
    expect(response.status).toBe(400);
    expect(await response.text()).toContain('XAmzContentSHA256Mismatch');
    expect(await target.client().headObject(key('tampered'))).toBeUndefined();
  });

  it('round-trips keys with +, spaces, &, unicode and reserved characters', async () => {
    const client = target.client();
    const names = [
      'plus+sign',
      'with space',
      'a&b=c?d#e',
      "quote's (paren) *star* !bang ~tilde",
      'ünïcødé/日本語/emoji 🚀',
      'percent%20literal',
      'colon:semi;comma,at@dollar$',
    ];
    for (const name of names) await client.putObject(key(`special/${name}`), text(name));
    for (const name of names)
      expect(new TextDecoder().decode(await client.getObject(key(`special/${name}`)))).toBe(name);
    const listed = [];
    for await (const object of client.listAllObjects(key('special/'))) listed.push(object.key);
    expect(listed.sort()).toEqual(names.map((name) => key(`special/${name}`)).sort());
  });

  it('refuses a create-only write to an existing key with 412, keeping the first content', async () => {
    const client = target.client(fastRetries);
    await client.putObject(key('create-only'), text('first'), { createOnly: true });
    const error = await rejection(
      client.putObject(key('create-only'), text('second'), { createOnly: true }),
    );
    expect(error).toMatchObject({ status: 412, code: 'PreconditionFailed', retryable: false });
    expect(new TextDecoder().decode(await client.getObject(key('create-only')))).toBe('first');
  });

  it('lets exactly one of several racing create-only writes win', async () => {
    const client = target.client(fastRetries);
    const results = await Promise.allSettled(
      Array.from({ length: 6 }, (_, i) =>
        client.putObject(key('race'), text(`writer ${i}`), { createOnly: true }),
      ),
    );
    expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
    for (const result of results) {
      if (result.status === 'rejected')
        expect((result.reason as S3Error).code).toBe('PreconditionFailed');
    }
  });

  it('lists 2,500 keys across pages of at most 1,000', async () => {
    const client = target.client();
    const names = Array.from({ length: 2500 }, (_, i) => key(`many/${String(i).padStart(5, '0')}`));
    for (let i = 0; i < names.length; i += 50) {
      await Promise.all(names.slice(i, i + 50).map((name) => client.putObject(name, text(name))));
    }
    const pages = [];
    let continuationToken: string | undefined;
    do {
      const page = await client.listObjects({ prefix: key('many/'), continuationToken });
      pages.push(page.objects.length);
      continuationToken = page.nextContinuationToken;
    } while (continuationToken);
    expect(pages).toEqual([1000, 1000, 500]);
    const listed = [];
    for await (const object of client.listAllObjects(key('many/'))) listed.push(object.key);
    expect(listed).toEqual(names);
  });

  it('round-trips a 64 MiB object', async () => {
    const client = target.client();
    const body = new Uint8Array(64 * 1024 * 1024);
    for (let i = 0; i < body.length; i += 4096) body[i] = (i / 4096) % 251;
    await client.putObject(key('big.bin'), body);
    expect((await client.headObject(key('big.bin')))?.size).toBe(body.length);
    expect(sha256(await client.getObject(key('big.bin')))).toBe(sha256(body));
  });

  it('streams an upload with its Content-Length (streamUploads); a chunked one gets 411', async () => {
    const body = new Uint8Array(3 * 1024 * 1024 + 17);
    for (let i = 0; i < body.length; i += 512) body[i] = (i / 512) % 253;
    await target.client({ streamUploads: true }).putObject(key('streamed.bin'), body, {
      createOnly: true,
    });
    expect(sha256(await target.client().getObject(key('streamed.bin')))).toBe(sha256(body));

    // The same body as a stream without a length goes chunked, as Deno's fetch sends it.
    const { config } = target;
    const signer = new AwsClient({ ...config, service: 's3', region: config.region, retries: 0 });
    const url = `${config.endpoint}/${config.bucket}/${encodeURIComponent(key('chunked.bin'))}`;
    const signed = await signer.sign(url, {
      method: 'PUT',
      headers: { 'x-amz-content-sha256': sha256(body) },
    });
    const response = await fetch(signed.url, {
      method: 'PUT',
      headers: signed.headers,
      body: new Blob([body]).stream(),
      duplex: 'half',
    } as RequestInit);
    expect(response.status).toBe(411);
    expect(await response.text()).toContain('MissingContentLength');
    expect(await target.client().headObject(key('chunked.bin'))).toBeUndefined();
  });

  it('checks a connection, and names the failing step and S3 code', async () => {
    expect(await target.client().checkConnection(target.prefix)).toMatchObject({
      ok: true,
      warnings: [],
    });
    const denied = await target
      .client(fastRetries, { secretAccessKey: 'wrong' })
      .checkConnection(target.prefix);
    expect(denied).toMatchObject({
      ok: false,
      step: 'write',
      error: { code: 'SignatureDoesNotMatch' },
    });
    const noBucket = await target
      .client(fastRetries, { bucket: 'no-such-bucket-aperture' })
      .checkConnection();
    expect(noBucket).toMatchObject({
      ok: false,
      step: 'write',
      error: { code: 'NoSuchBucket', retryable: false },
    });
  });
});

describe('"Test connection" checks every permission the exporter uses', () => {
  const denied = (methods: string[]) => ({ methods, fault: S3_FAULTS.accessDenied });

  it('names the permission a write-only key lacks: s3:GetObject, for HEAD and GET', async () => {
    const proxy = await target.withFaults();
    const client = target.client(fastRetries, { endpoint: proxy.endpoint });
    proxy.faults.add(denied(['HEAD']));
    expect(await client.checkConnection(target.prefix)).toMatchObject({
      ok: false,
      step: 'read',
      permission: 's3:GetObject',
      error: { code: 'AccessDenied' },
    });
    proxy.faults.clear();
    proxy.faults.add(denied(['GET']));
    expect(await client.checkConnection(target.prefix)).toMatchObject({
      ok: false,
      step: 'read',
      permission: 's3:GetObject',
    });
    proxy.faults.clear();
    proxy.faults.add(denied(['PUT']));
    expect(await client.checkConnection(target.prefix)).toMatchObject({
      ok: false,
      step: 'write',
      permission: 's3:PutObject',
    });
  });

  it('passes without s3:DeleteObject, which the exporter never needs, and says the probe stays', async () => {
    const proxy = await target.withFaults();
    const client = target.client(fastRetries, { endpoint: proxy.endpoint });
    proxy.faults.add(denied(['DELETE']));
    const check = await client.checkConnection(target.prefix);
    expect(check).toMatchObject({ ok: true });
    expect(check.ok && check.warnings).toEqual([
      expect.stringMatching(/^the probe .* stays in the bucket: s3:DeleteObject is denied/),
    ]);
    expect(await client.headObject((check as { key: string }).key)).toBeDefined();
  });

  it('fails a service that overwrites despite If-None-Match: *', async () => {
    // Such a service answers the second create-only write as if it were the first.
    const proxy = await target.withFaults();
    const client = target.client(fastRetries, { endpoint: proxy.endpoint });
    const put = client.putObject.bind(client);
    let writes = 0;
    client.putObject = async (key, body, options) =>
      ++writes === 2 ? { etag: undefined } : put(key, body, options);
    expect(await client.checkConnection(target.prefix)).toMatchObject({
      ok: false,
      step: 'create-only',
      error: { code: 'CreateOnlyIgnored' },
    });
  });
});

describe('S3 client through injected faults', () => {
  it('retries 5xx, SlowDown and dropped connections, then succeeds', async () => {
    const proxy = await target.withFaults();
    const client = target.client(fastRetries, { endpoint: proxy.endpoint });
    proxy.faults.add({ nth: [1], fault: S3_FAULTS.slowDown });
    proxy.faults.add({ nth: [2], fault: S3_FAULTS.internalError });
    proxy.faults.add({ nth: [3], fault: { kind: 'reset' } });
    await client.putObject(key('faulty'), text('made it'));
    expect(proxy.requests.map((r) => r.fault ?? r.status)).toEqual([
      'SlowDown',
      'InternalError',
      'reset',
      200,
    ]);
    expect(new TextDecoder().decode(await client.getObject(key('faulty')))).toBe('made it');
  });

  it('survives a 30% fault rate over many requests', async () => {
    const proxy = await target.withFaults();
    const client = target.client(
      { ...fastRetries, retry: { maxAttempts: 10 } },
      { endpoint: proxy.endpoint },
    );
    proxy.faults.add({ rate: 0.3, fault: S3_FAULTS.serviceUnavailable });
    for (let i = 0; i < 40; i++) await client.putObject(key(`rate/${i}`), text(String(i)));
    const injected = proxy.requests.filter((r) => r.fault).length;
    expect(injected).toBeGreaterThan(5);
    proxy.faults.clear();
    let count = 0;
    for await (const _ of client.listAllObjects(key('rate/'))) count++;
    expect(count).toBe(40);
  });

  it('gives up after the last attempt with the last retryable error', async () => {
    const proxy = await target.withFaults();
    const client = target.client(
      { ...fastRetries, retry: { maxAttempts: 3 } },
      { endpoint: proxy.endpoint },
    );
    proxy.faults.add({ fault: S3_FAULTS.slowDown });
    const error = await rejection(client.putObject(key('never'), text('x')));
    expect(error).toMatchObject({ status: 503, code: 'SlowDown', retryable: true });
    expect(proxy.requests).toHaveLength(3);
  });

  it('does not retry a permanent error', async () => {
    const proxy = await target.withFaults();
    const client = target.client(fastRetries, { endpoint: proxy.endpoint });
    proxy.faults.add({ fault: S3_FAULTS.accessDenied });
    const error = await rejection(client.putObject(key('denied'), text('x')));
    expect(error).toMatchObject({ status: 403, code: 'AccessDenied', retryable: false });
    expect(proxy.requests).toHaveLength(1);
  });

  it('ends a hung request in a Timeout, not a hang', async () => {
    const proxy = await target.withFaults();
    const client = target.client(
      { ...fastRetries, attemptTimeoutMs: 300, retry: { maxAttempts: 2 } },
      { endpoint: proxy.endpoint },
    );
    proxy.faults.add({ fault: { kind: 'hang' } });
    const started = Date.now();
    const error = await rejection(client.putObject(key('hung'), text('x')));
    expect(error).toMatchObject({ status: 0, code: 'Timeout', retryable: true });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(proxy.requests).toHaveLength(2);
  });

  it('waits out a slow reply that is within the attempt timeout', async () => {
    const proxy = await target.withFaults();
    const client = target.client(
      { ...fastRetries, attemptTimeoutMs: 5_000 },
      { endpoint: proxy.endpoint },
    );
    proxy.faults.add({ nth: [1], fault: { kind: 'delay', ms: 300 } });
    await client.putObject(key('slow'), text('eventually'));
    expect(proxy.requests).toHaveLength(1);
  });
});

const dockerProblem = await dockerUnavailableReason();

describe('MinIO target', () => {
  it.skipIf(dockerProblem !== undefined)(
    `starts MinIO in a container when Docker answers (skipped here: ${dockerProblem ?? 'Docker available'})`,
    async () => {
      const minio = await startMinio('aperture-minio-check');
      try {
        const { S3Client } = await import('@aperture-export/s3');
        const client = new S3Client(minio.config);
        await client.createBucket();
        await client.putObject('probe', text('minio'), { createOnly: true });
        expect(new TextDecoder().decode(await client.getObject('probe'))).toBe('minio');
      } finally {
        await minio.stop();
      }
    },
  );
});
