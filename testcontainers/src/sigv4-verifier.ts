/**
 * Checks an incoming request's AWS Signature Version 4 the way S3 does, with AWS's own signer
 * (@smithy/signature-v4): the request is signed again with the known secret over exactly the
 * headers the client listed, and the two signatures must match.
 */
import { createHash } from 'node:crypto';
import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
}

export interface IncomingS3Request {
  method: string;
  /** The raw request target: path and query, as received. */
  url: string;
  /** Lower-case header names. */
  headers: Record<string, string>;
  body: Uint8Array;
}

/** A rejection as S3 would answer it. */
export interface Rejection {
  status: number;
  code: string;
  message: string;
}

const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;
const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;

const reject = (status: number, code: string, message: string): Rejection => ({
  status,
  code,
  message,
});

/**
 * S3 decodes the path to get the bucket and key (`%2F` is a slash like any other), then signs
 * them encoded once per RFC 3986, slashes left as they are.
 */
function canonicalPath(rawPath: string): string {
  return decodeURIComponent(rawPath)
    .split('/')
    .map((segment) =>
      encodeURIComponent(segment).replace(
        /[!'()*]/g,
        (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
      ),
    )
    .join('/');
}

function parseAmzDate(value: string): Date | undefined {
  const match = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!match) return undefined;
  const [, y, mo, d, h, mi, s] = match.map(Number) as number[];
  return new Date(Date.UTC(y!, mo! - 1, d!, h!, mi!, s!));
}

/** node:crypto, not @aws-crypto's pure-JS hash: bodies of 64 MiB pass through here. */
function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

export class SigV4Verifier {
  readonly #credentials: Map<string, string>;
  readonly #region: string;

  constructor(credentials: Credentials[], region: string) {
    this.#credentials = new Map(credentials.map((c) => [c.accessKeyId, c.secretAccessKey]));
    this.#region = region;
  }

  /** Undefined when the request is properly signed; otherwise the answer S3 would give. */
  async verify(request: IncomingS3Request, now = new Date()): Promise<Rejection | undefined> {
    const authorization = request.headers.authorization;
    if (!authorization)
      return reject(403, 'AccessDenied', 'Anonymous access is not allowed; sign the request');
    const match = AUTHORIZATION.exec(authorization);
    if (!match)
      return reject(400, 'AuthorizationHeaderMalformed', 'The authorization header is malformed');
    const [, accessKeyId, scopeDate, region, service, signedHeaderList, signature] =
      match as unknown as string[];
    const secret = this.#credentials.get(accessKeyId!);
    if (secret === undefined) {
      return reject(
        403,
        'InvalidAccessKeyId',
        'The AWS Access Key Id you provided does not exist in our records.',
      );
    }
    if (region !== this.#region) {
      return reject(
        400,
        'AuthorizationHeaderMalformed',
        `The authorization header is malformed; the region '${region}' is wrong; expecting '${this.#region}'`,
      );
    }
    if (service !== 's3') {
      return reject(
        400,
        'AuthorizationHeaderMalformed',
        `The authorization header is malformed; service '${service}' is not s3`,
      );
    }
    const amzDate = request.headers['x-amz-date'];
    const signedAt = amzDate ? parseAmzDate(amzDate) : undefined;
    if (!signedAt || amzDate!.slice(0, 8) !== scopeDate) {
      return reject(
        403,
        'AccessDenied',
        'x-amz-date is missing or does not match the credential scope',
      );
    }
    if (Math.abs(now.getTime() - signedAt.getTime()) > MAX_CLOCK_SKEW_MS) {
      return reject(
        403,
        'RequestTimeTooSkewed',
        'The difference between the request time and the current time is too large.',
      );
    }
    const payloadHash = request.headers['x-amz-content-sha256'];
    if (!payloadHash)
      return reject(
        400,
        'InvalidRequest',
        'Missing required header for this request: x-amz-content-sha256',
      );

    const signedHeaders = signedHeaderList!.split(';');
    if (!signedHeaders.includes('host'))
      return reject(403, 'AccessDenied', 'host must be a signed header');
    const headers: Record<string, string> = {};
    for (const name of signedHeaders) {
      const value = request.headers[name];
      if (value === undefined)
        return reject(403, 'SignatureDoesNotMatch', `signed header ${name} is missing`);
      headers[name] = value;
    }
    const target = new URL(request.url, 'http://placeholder');
    const query: Record<string, string | string[]> = {};
    for (const [key, value] of target.searchParams) {
      const existing = query[key];
      query[key] = existing === undefined ? value : ([] as string[]).concat(existing, value);
    }
    const signer = new SignatureV4({
      credentials: { accessKeyId: accessKeyId!, secretAccessKey: secret },
      region: this.#region,
      service: 's3',
      sha256: Sha256,
      uriEscapePath: false,
      applyChecksum: false,
    });
    const signed = await signer.sign(
      {
        method: request.method,
        protocol: 'http:',
        hostname: headers.host!,
        path: canonicalPath(target.pathname),
        query,
        headers,
        body: undefined,
      },
      { signingDate: signedAt, signableHeaders: new Set(signedHeaders) },
    );
    const expected = /Signature=([0-9a-f]{64})/.exec(String(signed.headers.authorization))?.[1];
    if (expected !== signature) {
      return reject(
        403,
        'SignatureDoesNotMatch',
        'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
      );
    }
    // The signature covers the declared hash; the body must then match it.
    if (payloadHash !== 'UNSIGNED-PAYLOAD' && payloadHash !== sha256Hex(request.body)) {
      return reject(
        400,
        'XAmzContentSHA256Mismatch',
        "The provided 'x-amz-content-sha256' header does not match what was computed.",
      );
    }
    return undefined;
  }
}
