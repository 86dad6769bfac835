/** The server on Node (@hono/node-server), for the node.ts entry and the CLI's `serve`. */

import type { Server, ServerResponse } from 'node:http';
import { openSqliteStore } from '@aperture-export/core/sqlite-node';
import { serve } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import { type HostOptions, runServer, type ServeOptions } from './host.ts';
import { nodeHttpFetch } from './node-fetch.ts';
import { CoalescingResponse } from './node-response.ts';

/** What every Node host (this server and the CLI) opens its store and S3 clients with. */
export const NODE_HOST: Pick<HostOptions, 'openStore' | 's3Client' | 'gatewayFetch'> = {
  openStore: openSqliteStore,
  s3Client: { streamUploads: true }, // Node's fetch sends a stream's Content-Length
  gatewayFetch: nodeHttpFetch(),
};

/**
 * Stops taking connections, and resolves once the requests in flight are answered. close()
 * alone ends the keep-alive connections idle as it is called; one still being answered would
 * stay open for its client's keep-alive (5 s) after its answer. With the shortest keep-alive,
 * it closes as soon as its answer has been handed to the system in full: ending it as soon as
 * Node counts it idle would cut a slow reader off mid-answer.
 */
export function closeServer(server: Server): Promise<void> {
  server.keepAliveTimeout = 1;
  return new Promise((done) => server.close(() => done()));
}

export function startNodeServer(options: ServeOptions) {
  return runServer({
    ...options,
    ...NODE_HOST,
    peer: (c) => getConnInfo(c).remote,
    serve: (fetch, port, hostname) =>
      new Promise((resolve) => {
        const serverOptions = { ServerResponse: CoalescingResponse as typeof ServerResponse };
        const server = serve({ fetch, port, hostname, serverOptions }, (info) => {
          resolve({
            url: `http://${hostname}:${info.port}`,
            close: () => closeServer(server as Server),
          });
        });
      }),
  });
}
