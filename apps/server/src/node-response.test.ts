import { createServer, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { CoalescingResponse } from './node-response.ts';

/** A server whose responses are CoalescingResponses, running `handle` for each request. */
async function serverWith(handle: (response: ServerResponse) => void) {
  const server = createServer(
    { ServerResponse: CoalescingResponse as typeof ServerResponse },
    (_request, response) => handle(response),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/`, close: () => server.close() };
}

/** Counts the writes that reach the response's socket (a corked socket writes once, with _writev). */
function countSocketWrites(response: ServerResponse): { count: number } {
  const counted = { count: 0 };
  const socket = response.socket as unknown as Record<
    '_write' | '_writev',
    (...args: unknown[]) => void
  >;
  for (const method of ['_write', '_writev'] as const) {
    const original = socket[method].bind(socket);
    socket[method] = (...args: unknown[]) => {
      counted.count++;
      original(...args);
    };
  }
  return counted;
}

let close: (() => void) | undefined;
afterEach(() => close?.());

describe('CoalescingResponse', () => {
  it('sends the headers with the first chunk at once, the rest of the turn in one write', async () => {
    let writes: { count: number } | undefined;
    const server = await serverWith((response) => {
      writes = countSocketWrites(response);
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.flushHeaders();
      expect(writes.count).toBe(0);
      response.write('data: one\n\n');
      // The first chunk is not held for the turn's end: it left now, the headers with it.
      expect(writes.count).toBe(1);
      response.write('data: two\n\n');
      response.write('data: three\n\n');
      expect(writes.count).toBe(1);
      // end() sends what is corked, itself included.
      response.end();
      expect(writes.count).toBe(2);
    });
    close = server.close;
    const body = await new Promise<string>((resolve, reject) => {
      request(server.url, (incoming) => {
        let text = '';
        incoming.on('data', (chunk) => {
          text += chunk;
        });
        incoming.on('end', () => resolve(text));
      })
        .on('error', reject)
        .end();
    });
    expect(body).toBe('data: one\n\ndata: two\n\ndata: three\n\n');
    expect(writes!.count).toBe(2);
  });

  it('sends the headers at the end of their turn when no chunk comes with them', async () => {
    let finish: (() => void) | undefined;
    const server = await serverWith((response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.flushHeaders();
      finish = () => response.end('data: late\n\n');
    });
    close = server.close;
    const body = await new Promise<string>((resolve, reject) => {
      request(server.url, (incoming) => {
        // The headers are here while the body is still to come.
        expect(incoming.statusCode).toBe(200);
        let text = '';
        incoming.on('data', (chunk) => {
          text += chunk;
        });
        incoming.on('end', () => resolve(text));
        finish!();
      })
        .on('error', reject)
        .end();
    });
    expect(body).toBe('data: late\n\n');
  });

  it('sends a chunk within its turn: the client reads it before the stream goes on', async () => {
    let next: (() => void) | undefined;
    const server = await serverWith((response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' });
      response.flushHeaders();
      response.write('data: first\n\n');
      // The second event is written only once the client has the first.
      next = () => response.end('data: second\n\n');
    });
    close = server.close;
    const seen: string[] = [];
    await new Promise<void>((resolve, reject) => {
      request(server.url, (incoming) => {
        incoming.on('data', (chunk) => {
          seen.push(String(chunk));
          if (seen.length === 1) next!();
        });
        incoming.on('end', () => resolve());
      })
        .on('error', reject)
        .end();
    });
    expect(seen).toEqual(['data: first\n\n', 'data: second\n\n']);
  });

  it('sends a whole answer at once, uncorked', async () => {
    let writes: { count: number } | undefined;
    const server = await serverWith((response) => {
      writes = countSocketWrites(response);
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{"ok":true}');
      // Written by end() itself, before this turn is over.
      expect(writes.count).toBe(1);
    });
    close = server.close;
    await new Promise<void>((resolve, reject) => {
      request(server.url, (incoming) => {
        incoming.resume();
        incoming.on('end', () => resolve());
      })
        .on('error', reject)
        .end();
    });
    expect(writes!.count).toBe(1);
  });
});
