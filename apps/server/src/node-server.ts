/** The server on Node (@hono/node-server), for the node.ts entry and the CLI's `serve`. */
import { openSqliteStore } from '@aperture-export/core/sqlite-node';
import { serve } from '@hono/node-server';
import { runServer } from './host.ts';

export function startNodeServer(options: {
  port?: number;
  hostname?: string;
  dataDir?: string;
  configPath?: string;
}) {
  return runServer({
    ...options,
    openStore: openSqliteStore,
    s3Client: { streamUploads: true }, // Node's and Bun's fetch send its Content-Length
    serve: (fetch, port, hostname) =>
      new Promise((resolve) => {
        const server = serve({ fetch, port, hostname }, (info) => {
          resolve({
            url: `http://${hostname}:${info.port}`,
            close: () => new Promise<void>((done) => server.close(() => done())),
          });
        });
      }),
  });
}
