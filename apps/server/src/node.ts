/** The server on Node: `node --import tsx apps/server/src/node.ts [--port 8080]`. */

import { openSqliteStore } from '@aperture-export/core/sqlite-node';
import { serve } from '@hono/node-server';
import { entryOptions, runServer } from './host.ts';

export function startNodeServer(options: {
  port?: number;
  hostname?: string;
  dataDir?: string;
  configPath?: string;
}) {
  return runServer({
    ...options,
    openStore: openSqliteStore,
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

if (import.meta.url === `file://${process.argv[1]}`) {
  await startNodeServer(entryOptions(process.argv.slice(2)));
}
