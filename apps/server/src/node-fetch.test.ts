import { getEventListeners } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { nodeHttpFetch } from './node-fetch.ts';

/** 4 MiB that differ byte by byte: a chunk passed on out of place would show. */
const BIG = Buffer.from(
  Array.from({ length: 4 * 1024 * 1024 }, (_, i) => (i * 7 + (i >> 12)) & 255),
);

/**
 * A provider stand-in: /whole answers at once (gzipped if asked), /stall-* never finish,
 * /slow-body finishes after 50 ms, /drop-body drops the connection mid-body, /big is 4 MiB.
 */
const stalled: ServerResponse[] = [];
const server = createServer((request, response) => {
  if (request.url === '/stall-head') {
    stalled.push(response);
    return;
  }
  if (request.url === '/stall-body') {
    response.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
    response.write('{"half":');
    stalled.push(response);
    return;
  }
  if (request.url === '/slow-body') {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.write('{"half":');
    setTimeout(() => response.end('1}'), 50);
    return;
  }
  if (request.url === '/drop-body') {
    response.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
    response.write('{"half":', () => setTimeout(() => response.socket?.destroy(), 20));
    return;
  }
  if (request.url === '/big') {
    response.writeHead(200, { 'content-type': 'application/octet-stream' });
    response.end(BIG);
    return;
  }
  const body = JSON.stringify({ ok: true, method: request.method });
  if (request.url === '/gzip') {
    response.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    response.end(gzipSync(body));
    return;
  }
  response.writeHead(200, { 'content-type': 'application/json' });
  response.end(body);
});
let base = '';
beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => {
  for (const response of stalled) response.destroy();
  server.close();
});

describe('nodeHttpFetch', () => {
  const upstream = nodeHttpFetch();

  it('answers as fetch does, decoding a compressed body', async () => {
    const response = await upstream(`${base}/whole`, { method: 'POST', body: '{}' });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ ok: true, method: 'POST' });
    expect(await (await upstream(`${base}/gzip`)).json()).toEqual({ ok: true, method: 'GET' });
  });

  it('fails on an abort before the answer, and on one while its body is read', async () => {
    const early = new AbortController();
    const waiting = upstream(`${base}/stall-head`, { method: 'POST', signal: early.signal });
    setTimeout(() => early.abort(new Error('too slow to start')), 50);
    await expect(waiting).rejects.toThrow('too slow to start');

    const late = new AbortController();
    const response = await upstream(`${base}/stall-body`, { method: 'POST', signal: late.signal });
    expect(response.status).toBe(200);
    setTimeout(() => late.abort(), 50);
    await expect(response.text()).rejects.toThrow();

    const gone = new AbortController();
    gone.abort(new Error('aborted already'));
    await expect(upstream(`${base}/whole`, { signal: gone.signal })).rejects.toThrow(
      'aborted already',
    );
  });

  it('lets go of the signal once the answer is read', async () => {
    const controller = new AbortController();
    const response = await upstream(`${base}/slow-body`, { signal: controller.signal });
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    await response.json();
    // The request is over: nothing listens any more (a long-lived signal would pile them up).
    await vi.waitFor(() => expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0));
  });

  it('passes a large body on whole, and fails one whose connection drops mid-body', async () => {
    const big = new Uint8Array(await (await upstream(`${base}/big`)).arrayBuffer());
    expect(big.byteLength).toBe(BIG.byteLength);
    expect(Buffer.compare(big, BIG)).toBe(0);

    const dropped = await upstream(`${base}/drop-body`);
    expect(dropped.status).toBe(200);
    await expect(dropped.text()).rejects.toThrow();
  });
});
