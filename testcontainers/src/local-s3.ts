/// <reference path="./s3rver.d.ts" />
/**
 * A strict S3 server on 127.0.0.1 for machines without Docker: s3rver stores and lists, and
 * a front checks signatures with AWS's signer, enforces create-only writes and injects faults.
 * s3rver alone accepts any signature and lets `If-None-Match: *` overwrite.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';
import { type S3Front, startS3Front } from './s3-front.ts';
import { SigV4Verifier } from './sigv4-verifier.ts';

export interface LocalS3Options {
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

export interface LocalS3 extends S3Front {
  /** Where s3rver keeps the objects. */
  directory: string;
}

/** Headers s3rver should not see: the front has already acted on them. */
const CONSUMED = new Set([
  'authorization',
  'host',
  'connection',
  'content-length',
  'if-none-match',
  'x-goog-if-generation-match',
]);

export async function startLocalS3(options: LocalS3Options): Promise<LocalS3> {
  const directory = mkdtempSync(join(tmpdir(), 'aperture-local-s3-'));
  const storage = new S3rver({
    port: 0,
    address: '127.0.0.1',
    silent: true,
    directory,
    configureBuckets: [{ name: options.bucket, configs: [] }],
  });
  const { port } = await storage.run();
  const storageUrl = `http://127.0.0.1:${port}`;

  const front = await startS3Front({
    verifier: new SigV4Verifier([options], options.region),
    // Verified above, so s3rver gets the request unsigned (it would check its own key id).
    forward: async ({ method, url, headers, body }) => {
      const forwarded: Record<string, string> = {};
      for (const [name, value] of Object.entries(headers))
        if (!CONSUMED.has(name)) forwarded[name] = value;
      return fetch(`${storageUrl}${url}`, {
        method,
        headers: forwarded,
        body: method === 'GET' || method === 'HEAD' ? undefined : (body as BodyInit),
      });
    },
    enforceCreateOnly: async ({ url }) => {
      const existing = await fetch(`${storageUrl}${url.split('?')[0]}`, { method: 'HEAD' });
      await existing.body?.cancel();
      return existing.status === 404;
    },
  });
  return {
    ...front,
    directory,
    async stop() {
      await front.stop();
      await storage.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
