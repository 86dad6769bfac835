import { describe, expect, it } from 'vitest';
import {
  deniedPermission,
  errorFromFailure,
  errorFromResponse,
  isRetryable,
  S3Error,
} from './errors.ts';

const xmlError = (code: string, message: string) =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>REQ123</RequestId></Error>`;

describe('S3 errors', () => {
  it('read code, message and request id from the XML body', async () => {
    const error = await errorFromResponse(
      new Response(xmlError('AccessDenied', 'Access Denied &amp; more'), { status: 403 }),
      'PutObject k',
    );
    expect(error).toMatchObject({
      status: 403,
      code: 'AccessDenied',
      requestId: 'REQ123',
      operation: 'PutObject k',
      retryable: false,
    });
    expect(error.message).toBe('AccessDenied: Access Denied & more');
  });

  it('fall back to the status when there is no body (HEAD)', async () => {
    const error = await errorFromResponse(
      new Response(null, { status: 404, statusText: 'Not Found' }),
      'HeadObject k',
    );
    expect(error).toMatchObject({ code: 'NotFound', message: 'NotFound: Not Found' });
  });

  it.each([
    [503, 'SlowDown', true],
    [500, 'InternalError', true],
    [429, 'TooManyRequests', true],
    [400, 'RequestTimeout', true],
    [409, 'ConditionalRequestConflict', true],
    [0, 'NetworkError', true],
    [0, 'Timeout', true],
    [403, 'AccessDenied', false],
    [403, 'InvalidAccessKeyId', false],
    [403, 'SignatureDoesNotMatch', false],
    [404, 'NoSuchBucket', false],
    [412, 'PreconditionFailed', false],
    [400, 'InvalidArgument', false],
  ])('classify %i %s as retryable: %s', (status, code, retryable) => {
    expect(isRetryable(status, code)).toBe(retryable);
  });

  it('call a failure without a reply a NetworkError, or a Timeout when the attempt timed out', () => {
    expect(errorFromFailure(new TypeError('fetch failed'), 'GetObject k', false)).toMatchObject({
      status: 0,
      code: 'NetworkError',
      retryable: true,
    });
    expect(errorFromFailure(new Error('aborted'), 'GetObject k', true)).toMatchObject({
      code: 'Timeout',
    });
  });

  it('names the permission a denied request needed', () => {
    const denied = (operation: string, status = 403) =>
      deniedPermission(new S3Error({ status, code: 'AccessDenied', message: 'm', operation }));
    expect(denied('PutObject prod/a')).toBe('s3:PutObject');
    expect(denied('HeadObject prod/a')).toBe('s3:GetObject');
    expect(denied('GetObject prod/a')).toBe('s3:GetObject');
    expect(denied('DeleteObject prod/a')).toBe('s3:DeleteObject');
    expect(denied('PutObject prod/a', 404)).toBeUndefined();
    const badSignature = new S3Error({
      status: 403,
      code: 'SignatureDoesNotMatch',
      message: 'm',
      operation: 'PutObject prod/a',
    });
    expect(deniedPermission(badSignature)).toBeUndefined();
  });
});
