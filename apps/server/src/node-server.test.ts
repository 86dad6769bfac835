import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { closeServer } from './node-server.ts';

/** 16 MiB: far more than the sockets' buffers hold, so a slow reader has most of it to come. */
const ANSWER = Buffer.alloc(16 * 1024 * 1024, 'a');

describe('closeServer', () => {
  it('lets a request in flight finish, to a slow reader, and closes soon after', async () => {
    const server = createServer((_request, response) => {
      setTimeout(() => response.end(ANSWER), 200);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const agent = new Agent({ keepAlive: true });
    let received = 0;
    const answered = new Promise<string>((resolve) => {
      request({ host: '127.0.0.1', port, agent }, (incoming) => {
        incoming.pause();
        // A slow reader: 256 KiB every 5 ms.
        const reading = setInterval(() => {
          const chunk = incoming.read(256 * 1024) as Buffer | null;
          if (chunk) received += chunk.length;
        }, 5);
        incoming.on('end', () => {
          clearInterval(reading);
          resolve('end');
        });
        incoming.on('error', (error) => {
          clearInterval(reading);
          resolve(`error: ${error.message}`);
        });
      })
        .on('error', (error) => resolve(`error: ${error.message}`))
        .end();
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const closed = closeServer(server).then(() => Date.now());
    expect(await answered).toBe('end');
    const answeredAt = Date.now();
    expect(received).toBe(ANSWER.length);
    // Closed once the answer was out, not after the client's keep-alive (5 s).
    expect((await closed) - answeredAt).toBeLessThan(1_000);
    agent.destroy();
  });
});
