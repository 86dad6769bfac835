/**
 * A fault proxy in front of any S3 server (MinIO, an external endpoint): it checks the client's
 * signature as the real server would, injects faults, then signs the request again for the
 * upstream host (a signature covers the Host header) and forwards it.
 */
import { AwsClient } from 'aws4fetch';
import { type S3Front, startS3Front } from './s3-front.ts';
import { SigV4Verifier } from './sigv4-verifier.ts';
import type { S3TargetConfig } from './types.ts';

/** Request headers that carry meaning upstream; the rest are the client's signature. */
const FORWARDED = [
  'content-type',
  'if-none-match',
  'x-goog-if-generation-match',
  'x-amz-content-sha256',
];

export async function startFaultProxy(upstream: S3TargetConfig): Promise<S3Front> {
  const signer = new AwsClient({
    accessKeyId: upstream.accessKeyId,
    secretAccessKey: upstream.secretAccessKey,
    service: 's3',
    region: upstream.region,
    retries: 0,
  });
  const base = upstream.endpoint.replace(/\/+$/, '');
  return startS3Front({
    verifier: new SigV4Verifier([upstream], upstream.region),
    forward: async ({ method, url, headers, body }) => {
      const forwarded: Record<string, string> = {};
      for (const [name, value] of Object.entries(headers)) {
        if (FORWARDED.includes(name) || name.startsWith('x-amz-meta-')) forwarded[name] = value;
      }
      const request = await signer.sign(`${base}${url}`, {
        method,
        headers: forwarded,
        body: method === 'GET' || method === 'HEAD' ? undefined : (body as BodyInit),
      });
      return fetch(request);
    },
  });
}
