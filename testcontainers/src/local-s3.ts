/// <reference path="./s3rver.d.ts" />
/**
 * A strict S3 server on 127.0.0.1 for machines without Docker: s3rver stores and lists, and
 * a front checks signatures with AWS's signer, enforces create-only writes and injects faults.
 * s3rver alone accepts any signature and lets `If-None-Match: *` overwrite.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
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
  'transfer-encoding',
  'expect',
  'if-none-match',
  'x-goog-if-generation-match',
]);

/**
 * One request to s3rver, its body written as it is: fetch would copy it first, and at the
 * benchmark's sizes that copy (and its collection) was most of this process's work.
 */
function send(
  url: string,
  method: string,
  headers: Record<string, string>,
  body: Uint8Array,
): Promise<Response> {
  return new Promise((resolve, reject) => {
    const sized =
      body.byteLength > 0 || method === 'PUT' || method === 'POST'
        ? { ...headers, 'content-length': String(body.byteLength) }
        : headers;
    const outgoing = request(url, { method, headers: sized }, (incoming) => {
      const chunks: Buffer[] = [];
      incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
      incoming.on('error', reject);
      incoming.on('end', () => {
        const responseHeaders = new Headers();
        for (const [name, value] of Object.entries(incoming.headers)) {
          if (value !== undefined)
            responseHeaders.set(name, Array.isArray(value) ? value.join(', ') : value);
        }
        const status = incoming.statusCode ?? 500;
        const bodyless = method === 'HEAD' || [204, 205, 304].includes(status);
        resolve(
          new Response(bodyless ? null : Buffer.concat(chunks), {
            status,
            headers: responseHeaders,
          }),
        );
      });
    });
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

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
      const sent = method === 'GET' || method === 'HEAD' ? new Uint8Array(0) : body;
      return send(`${storageUrl}${url}`, method, forwarded, sent);
    },
    enforceCreateOnly: async ({ url }) => {
      const existing = await send(
        `${storageUrl}${url.split('?')[0]}`,
        'HEAD',
        {},
        new Uint8Array(0),
      );
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
