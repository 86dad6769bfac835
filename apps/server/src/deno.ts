/** The server on Deno: `deno run -A apps/server/src/deno.ts [--port 8080]`. */

import { denoGarbageCollector } from '@aperture-export/core/gc-deno';
import { openSqliteStore } from '@aperture-export/core/sqlite-node-sqlite';
import { getConnInfo } from 'hono/deno';
import { entryOptions, runServer, stderrLogger } from './host.ts';

declare const Deno: {
  serve(
    options: { port: number; hostname: string; onListen?: (address: { port: number }) => void },
    handler: (request: Request) => Response | Promise<Response>,
  ): { shutdown(): Promise<void> };
};

const collectGarbage = denoGarbageCollector();
if (!collectGarbage)
  stderrLogger(
    'warn',
    'no way to collect garbage on this Deno: export memory peaks may run higher (docs/exporter.md, Memory)',
  );

await runServer({
  ...entryOptions(process.argv.slice(2)),
  openStore: openSqliteStore,
  // As on Bun: collected after each file, an export's peak stays near one file's worth
  // (BENCHMARKS.md); Deno's fetch copies each upload, which leaves more behind than on Node.
  afterExportFile: collectGarbage,
  peer: (c) => getConnInfo(c).remote,
  serve: (fetch, port, hostname) =>
    new Promise((resolve) => {
      const server = Deno.serve(
        {
          port,
          hostname,
          onListen: (address) =>
            resolve({ url: `http://${hostname}:${address.port}`, close: () => server.shutdown() }),
        },
        fetch,
      );
    }),
});
