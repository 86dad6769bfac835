/** The server on Bun: `bun apps/server/src/bun.ts [--port 8080]`. */

import { openSqliteStore } from '@aperture-export/core/sqlite-bun';
import { getConnInfo } from 'hono/bun';
import { entryOptions, runServer } from './host.ts';

declare const Bun: {
  gc(synchronous: boolean): void;
  serve(options: {
    fetch: (request: Request) => Response | Promise<Response>;
    port: number;
    hostname: string;
  }): {
    port: number;
    stop(): Promise<void> | void;
  };
};

await runServer({
  ...entryOptions(process.argv.slice(2)),
  openStore: openSqliteStore,
  s3Client: { streamUploads: true }, // Bun's fetch sends a stream's Content-Length
  // Bun frees memory lazily: collected after each file (~7 ms), an export's peak stays near one
  // file's worth instead of drifting up file after file (BENCHMARKS.md).
  afterExportFile: () => Bun.gc(true),
  peer: (c) => getConnInfo(c).remote,
  serve: async (fetch, port, hostname) => {
    const server = Bun.serve({ fetch, port, hostname });
    return {
      url: `http://${hostname}:${server.port}`,
      close: async () => void (await server.stop()),
    };
  },
});
