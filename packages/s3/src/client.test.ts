import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { S3Client } from './client.ts';

const config = {
  endpoint: 'http://127.0.0.1:9',
  bucket: 'exports',
  region: 'auto',
  accessKeyId: 'AKIACLIENTTEST',
  secretAccessKey: 'client-test-secret',
};
const instant = { retryEnvironment: { random: () => 0, sleep: async () => {} } };

/** Records the requests the client sends and answers with `reply`. */
function recorder(reply: (request: Request) => Response | Promise<Response>) {
  const requests: Request[] = [];
  const fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    requests.push(request);
    return reply(request);
  };
  return { requests, fetch: fetch as typeof globalThis.fetch };
}

describe('S3Client', () => {
  it('signs for service s3 in the configured region, with the real SHA-256 of the body', async () => {
    const { requests, fetch } = recorder(
      () => new Response(null, { status: 200, headers: { etag: '"abc"' } }),
    );
    const client = new S3Client(config, { fetch });
    const body = new TextEncoder().encode('file bytes');
    expect(await client.putObject('prod/a b+c.cbor.zstd', body, { createOnly: true })).toEqual({
      etag: '"abc"',
    });
    const [request] = requests;
    expect(request!.method).toBe('PUT');
    expect(request!.url).toBe('http://127.0.0.1:9/exports/prod/a%20b%2Bc.cbor.zstd');
    expect(request!.headers.get('authorization')).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIACLIENTTEST\/\d{8}\/auto\/s3\/aws4_request, SignedHeaders=host;if-none-match;x-amz-content-sha256;x-amz-date, Signature=[0-9a-f]{64}$/,
    );
    expect(request!.headers.get('x-amz-content-sha256')).toBe(
      createHash('sha256').update(body).digest('hex'),
    );
    expect(request!.headers.get('if-none-match')).toBe('*');
    // No checksum headers that R2 and B2 reject.
    expect(
      [...request!.headers.keys()].filter((name) => name.startsWith('x-amz-checksum')),
    ).toEqual([]);
  });

  it('makes one request per attempt, with aws4fetch’s own retries off', async () => {
    const { requests, fetch } = recorder(
      () =>
        new Response('<Error><Code>SlowDown</Code><Message>m</Message></Error>', { status: 503 }),
    );
    const client = new S3Client(config, { fetch, retry: { maxAttempts: 3 }, ...instant });
    await expect(client.deleteObject('k')).rejects.toMatchObject({
      code: 'SlowDown',
      retryable: true,
    });
    expect(requests).toHaveLength(3);
  });

  it('times out an attempt that gets no reply, and retries it', async () => {
    let calls = 0;
    const fetch = ((_input: RequestInfo | URL, init?: RequestInit) => {
      calls++;
      return new Promise<Response>((_, reject) => {
        init?.signal?.addEventListener('abort', () => reject(init.signal?.reason));
      });
    }) as typeof globalThis.fetch;
    const client = new S3Client(config, {
      fetch,
      attemptTimeoutMs: 20,
      retry: { maxAttempts: 2 },
      ...instant,
    });
    await expect(client.getObject('k')).rejects.toMatchObject({
      code: 'Timeout',
      status: 0,
      retryable: true,
    });
    expect(calls).toBe(2);
  });

  it('parses a ListObjectsV2 page and asks for the next one with the token', async () => {
    const page = `<?xml version="1.0"?><ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>t/1+=</NextContinuationToken>
      <Contents><Key>p/a&amp;b</Key><LastModified>2026-11-28T03:00:00.000Z</LastModified><ETag>&quot;e1&quot;</ETag><Size>12</Size></Contents></ListBucketResult>`;
    const { requests, fetch } = recorder(() => new Response(page));
    const client = new S3Client(config, { fetch });
    const result = await client.listObjects({ prefix: 'p/ q', continuationToken: 'tok en' });
    expect(result).toEqual({
      objects: [
        {
          key: 'p/a&b',
          size: 12,
          etag: '"e1"',
          lastModified: new Date('2026-11-28T03:00:00.000Z'),
        },
      ],
      nextContinuationToken: 't/1+=',
    });
    expect(new URL(requests[0]!.url).search).toBe(
      '?list-type=2&prefix=p%2F%20q&continuation-token=tok%20en',
    );
  });

  it('keeps the secret out of everything it shows', () => {
    const client = new S3Client({ ...config, sessionToken: 'session-secret' });
    const shown =
      JSON.stringify(client) + JSON.stringify(client.config) + String(Object.values(client));
    expect(shown).not.toContain('client-test-secret');
    expect(shown).not.toContain('session-secret');
  });

  it('names a missing credential', () => {
    expect(() => new S3Client({ ...config, secretAccessKey: '' })).toThrowError(
      'S3 config: secretAccessKey is required',
    );
  });

  it('cancels a call on its signal: the request is aborted and not retried, backoff included', async () => {
    // A real HTTP server that takes requests and never answers.
    let requests = 0;
    const server = createServer(() => void requests++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const client = new S3Client(
        { ...config, endpoint: `http://127.0.0.1:${port}` },
        { retry: { maxAttempts: 5 } },
      );
      const controller = new AbortController();
      setTimeout(() => controller.abort(new Error('shutting down')), 200);
      const started = Date.now();
      const put = client.putObject('k', new Uint8Array(10), { signal: controller.signal });
      await expect(put).rejects.toMatchObject({
        code: 'Aborted',
        retryable: false,
        message: 'Aborted: cancelled: shutting down',
      });
      expect(Date.now() - started).toBeLessThan(5_000);
      expect(requests).toBe(1);
      // Already cancelled: nothing is sent.
      await expect(client.getObject('k', { signal: controller.signal })).rejects.toMatchObject({
        code: 'Aborted',
      });
      expect(requests).toBe(1);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('a cancelled call does not wait out its backoff', async () => {
    const { requests, fetch } = recorder(
      () =>
        new Response('<Error><Code>SlowDown</Code><Message>m</Message></Error>', { status: 503 }),
    );
    const controller = new AbortController();
    const client = new S3Client(config, {
      fetch,
      retry: { maxAttempts: 5 },
      retryEnvironment: {
        random: () => 1,
        // The first backoff cancels the call, then would wait an hour.
        sleep: (ms) => {
          controller.abort(new Error('stop'));
          return new Promise((resolve) => setTimeout(resolve, ms * 3600));
        },
      },
    });
    await expect(client.headObject('k', { signal: controller.signal })).rejects.toMatchObject({
      code: 'Aborted',
    });
    expect(requests.length).toBe(1);
  });

  it('gives an upload attemptTimeoutMs plus its body’s time at minUploadBytesPerSecond', async () => {
    // An S3 that takes 300 ms to take any request, and honours cancellation.
    const fetch = (async (_input: RequestInfo | URL, init?: RequestInit) => {
      await new Promise((resolve, reject) => {
        const timer = setTimeout(resolve, 300);
        init?.signal?.addEventListener('abort', () => {
          clearTimeout(timer);
          reject(init.signal!.reason);
        });
      });
      return new Response(null, { status: 200 });
    }) as typeof globalThis.fetch;
    const options = {
      fetch,
      attemptTimeoutMs: 100,
      minUploadBytesPerSecond: 1000,
      retry: { maxAttempts: 1 },
    };
    const client = new S3Client(config, options);
    // 10 bytes: 100 + 10 ms, too short.
    await expect(client.putObject('small', new Uint8Array(10))).rejects.toMatchObject({
      code: 'Timeout',
      message: expect.stringContaining('took longer than 110 ms'),
    });
    // 1,000 bytes: 100 + 1,000 ms, time enough.
    await expect(client.putObject('large', new Uint8Array(1000))).resolves.toBeDefined();
    // No body: attemptTimeoutMs alone.
    await expect(client.headObject('k')).rejects.toMatchObject({ code: 'Timeout' });
  });
});
