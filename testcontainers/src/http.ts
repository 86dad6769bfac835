/** Node HTTP plumbing shared by the local S3 server and the fault proxy. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Rejection } from './sigv4-verifier.ts';

export async function readBody(request: IncomingMessage): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks);
  return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
}

/** Request headers with lower-case names and repeated values joined. */
export function headersOf(request: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}

const escapeXml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!,
  );

let nextRequestId = 1;

/** Answers with an S3 REST error body. */
export function sendS3Error(response: ServerResponse, { status, code, message }: Rejection): void {
  const requestId = `LOCAL${(nextRequestId++).toString(16).padStart(12, '0').toUpperCase()}`;
  const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${escapeXml(code)}</Code><Message>${escapeXml(message)}</Message><RequestId>${requestId}</RequestId></Error>`;
  response.writeHead(status, {
    'content-type': 'application/xml',
    'content-length': Buffer.byteLength(body),
    'x-amz-request-id': requestId,
  });
  response.end(body);
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-encoding']);

/** Copies a fetch Response onto a Node response. */
export async function relay(upstream: Response, response: ServerResponse): Promise<void> {
  const headers: Record<string, string> = {};
  upstream.headers.forEach((value, name) => {
    if (!HOP_BY_HOP.has(name)) headers[name] = value;
  });
  const body = Buffer.from(await upstream.arrayBuffer());
  if (body.length > 0 || !('content-length' in headers))
    headers['content-length'] = String(body.length);
  response.writeHead(upstream.status, headers);
  response.end(body);
}

/** The object key a path-style request addresses (`/<bucket>/<key>`), or '' for bucket requests. */
export function keyOf(url: string): string {
  const path = new URL(url, 'http://placeholder').pathname;
  const [, , ...key] = path.split('/');
  return key.map(decodeURIComponent).join('/');
}
