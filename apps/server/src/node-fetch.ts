/**
 * The gateway's upstream requests on Node, through node:http and node:https with keep-alive
 * connections, answered as Web Responses. Node's own fetch (undici) took 1.9 ms a request to a
 * local provider and topped out near 1,000 requests/s here; node:http takes 0.6 ms and passes
 * 3,800 (BENCHMARKS.md). Bun's and Deno's fetch are their own and fast: they keep it.
 * A compressed answer is decoded as fetch would.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { pipeline, type Readable, type Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';

/** A fetch for the gateway's upstream calls (POST with a string body, or none). */
export function nodeHttpFetch(): typeof fetch {
  const agents = {
    'http:': new HttpAgent({ keepAlive: true, maxSockets: 256 }),
    'https:': new HttpsAgent({ keepAlive: true, maxSockets: 256 }),
  };
  return ((input: RequestInfo | URL, init: RequestInit = {}) =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(input instanceof Request ? input.url : String(input));
      const protocol = url.protocol as 'http:' | 'https:';
      const send = protocol === 'https:' ? httpsRequest : httpRequest;
      const headers: Record<string, string> = {};
      new Headers(init.headers).forEach((value, name) => {
        headers[name] = value;
      });
      const { signal } = init;
      if (signal?.aborted) return reject(signal.reason);
      const outgoing = send(
        url,
        { method: init.method ?? 'GET', headers, agent: agents[protocol] },
        (incoming) => resolve(toResponse(incoming)),
      );
      outgoing.on('error', reject);
      if (signal) {
        // An abort ends the request, or the answer's body while it is read. Listened to here
        // rather than handed to node:http as its `signal` option, whose stream plumbing was 3%
        // of the gateway's CPU per request.
        const abort = () => outgoing.destroy(signal.reason);
        signal.addEventListener('abort', abort, { once: true });
        outgoing.once('close', () => signal.removeEventListener('abort', abort));
      }
      outgoing.end(typeof init.body === 'string' ? init.body : undefined);
    })) as typeof fetch;
}

const DECODERS: Record<string, () => Transform> = {
  gzip: createGunzip,
  'x-gzip': createGunzip,
  deflate: createInflate,
  br: createBrotliDecompress,
};

function toResponse(incoming: IncomingMessage): Response {
  const headers = new Headers();
  for (const [name, value] of Object.entries(incoming.headers)) {
    if (value === undefined) continue;
    for (const one of Array.isArray(value) ? value : [value]) headers.append(name, one);
  }
  const decode = DECODERS[(incoming.headers['content-encoding'] ?? '').toLowerCase()];
  // pipeline, not pipe: the upstream's failure fails the decoded body too.
  const source = decode ? pipeline(incoming, decode(), () => {}) : incoming;
  const noBody = incoming.statusCode === 204 || incoming.statusCode === 304;
  return new Response(noBody ? null : webStream(source), {
    status: incoming.statusCode ?? 502,
    statusText: incoming.statusMessage,
    headers,
  });
}

/**
 * A Node stream as a web stream, its chunks passed on as they are (views, not copies):
 * Readable.toWeb copies each chunk and watches the stream through end-of-stream plumbing.
 */
function webStream(source: Readable): ReadableStream<Uint8Array> {
  let settled = false;
  return new ReadableStream<Uint8Array>({
    start(controller) {
      const fail = (error: unknown) => {
        if (settled) return;
        settled = true;
        controller.error(error);
      };
      source.on('data', (chunk: Buffer) => {
        controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
        if ((controller.desiredSize ?? 0) <= 0) source.pause();
      });
      source.once('end', () => {
        if (settled) return;
        settled = true;
        controller.close();
      });
      source.once('error', fail);
      // Closed before its end without an error of its own: the connection went away.
      source.once('close', () => {
        if (!source.readableEnded)
          fail(source.errored ?? new Error('the upstream answer ended before its end'));
      });
    },
    pull() {
      source.resume();
    },
    cancel(reason) {
      settled = true;
      source.destroy(reason instanceof Error ? reason : undefined);
    },
  });
}
