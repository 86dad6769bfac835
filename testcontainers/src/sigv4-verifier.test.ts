import { AwsClient } from 'aws4fetch';
import { describe, expect, it } from 'vitest';
import { type IncomingS3Request, SigV4Verifier } from './sigv4-verifier.ts';

const credentials = { accessKeyId: 'AKIAVERIFIERTEST0001', secretAccessKey: 'verifier-secret' };
const verifier = new SigV4Verifier([credentials], 'eu-west-1');
const body = new TextEncoder().encode('payload');
const bodyHash = '239f59ed55e737c77147cf55ad0c1b030b6d7ee748a7426952f9b852d5a935e5';

/** Signs with aws4fetch (the client's signer) and turns the result into what the server sees. */
async function signed(
  url: string,
  init: { method?: string; headers?: Record<string, string> } = {},
  signer = new AwsClient({ ...credentials, service: 's3', region: 'eu-west-1', retries: 0 }),
): Promise<IncomingS3Request> {
  const request = await signer.sign(url, {
    method: init.method ?? 'PUT',
    headers: { 'x-amz-content-sha256': bodyHash, ...init.headers },
    body,
  });
  const target = new URL(request.url);
  const headers: Record<string, string> = { host: target.host };
  request.headers.forEach((value, name) => {
    headers[name] = value;
  });
  return { method: request.method, url: `${target.pathname}${target.search}`, headers, body };
}

describe('SigV4Verifier', () => {
  it('accepts a correctly signed request, with special characters in key and query', async () => {
    const request = await signed(
      'http://127.0.0.1:9000/bucket/dir/a%2Bb%20c%26d%C3%BC?x-id=PutObject&prefix=a%2Fb%20c',
    );
    expect(await verifier.verify(request)).toBeUndefined();
  });

  it('rejects a signature made with another secret', async () => {
    const other = new AwsClient({
      ...credentials,
      secretAccessKey: 'wrong',
      service: 's3',
      region: 'eu-west-1',
    });
    const request = await signed('http://127.0.0.1:9000/bucket/key', {}, other);
    expect(await verifier.verify(request)).toMatchObject({
      status: 403,
      code: 'SignatureDoesNotMatch',
    });
  });

  it('rejects a request whose signed parts changed on the way', async () => {
    const request = await signed('http://127.0.0.1:9000/bucket/key', {
      headers: { 'if-none-match': '*' },
    });
    for (const changed of [
      { ...request, method: 'DELETE' },
      { ...request, url: '/bucket/other-key' },
      { ...request, url: '/bucket/key?extra=1' },
      { ...request, headers: { ...request.headers, 'if-none-match': 'etag' } },
      { ...request, headers: { ...request.headers, host: '127.0.0.1:9001' } },
    ]) {
      expect(await verifier.verify(changed)).toMatchObject({
        status: 403,
        code: 'SignatureDoesNotMatch',
      });
    }
  });

  it('rejects a body that does not match the signed hash', async () => {
    const request = await signed('http://127.0.0.1:9000/bucket/key');
    const tampered = { ...request, body: new TextEncoder().encode('PAYLOAD') };
    expect(await verifier.verify(tampered)).toMatchObject({
      status: 400,
      code: 'XAmzContentSHA256Mismatch',
    });
  });

  it('rejects a raw + in the path that the signer read as a space, as S3 does', async () => {
    // aws4fetch decodes "+" in a path to a space before signing; S3 keeps it a "+".
    const request = await signed('http://127.0.0.1:9000/bucket/a+b');
    expect(await verifier.verify(request)).toMatchObject({ code: 'SignatureDoesNotMatch' });
  });

  it('names the problem with the credential scope, key id, date and anonymous requests', async () => {
    const usEast = new AwsClient({ ...credentials, service: 's3', region: 'us-east-1' });
    expect(await verifier.verify(await signed('http://h/bucket/key', {}, usEast))).toMatchObject({
      status: 400,
      code: 'AuthorizationHeaderMalformed',
      message: expect.stringContaining("the region 'us-east-1' is wrong; expecting 'eu-west-1'"),
    });
    const stranger = new AwsClient({
      ...credentials,
      accessKeyId: 'AKIASTRANGER',
      service: 's3',
      region: 'eu-west-1',
    });
    expect(await verifier.verify(await signed('http://h/bucket/key', {}, stranger))).toMatchObject({
      status: 403,
      code: 'InvalidAccessKeyId',
    });
    const request = await signed('http://h/bucket/key');
    const later = new Date(Date.now() + 20 * 60 * 1000);
    expect(await verifier.verify(request, later)).toMatchObject({
      status: 403,
      code: 'RequestTimeTooSkewed',
    });
    const { authorization: _, ...unsigned } = request.headers;
    expect(await verifier.verify({ ...request, headers: unsigned })).toMatchObject({
      status: 403,
      code: 'AccessDenied',
    });
  });
});
