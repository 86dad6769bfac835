/**
 * The server boots and answers on each runtime's own entry: /healthz, and one capture ingested
 * over HTTP and read back through the admin API.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, it } from 'vitest';
import { expectServes, type ServerProcess, startServer, TSX_LOADER } from './helpers.ts';

const root = new URL('../../../', import.meta.url).pathname;
const bin = (name: string) => join(root, 'node_modules/.bin', name);
const entries = {
  node: [process.execPath, '--import', TSX_LOADER, 'apps/server/src/node.ts'],
  bun: [bin('bun'), 'apps/server/src/bun.ts'],
  deno: [bin('deno'), 'run', '-A', 'apps/server/src/deno.ts'],
};
const scratch = mkdtempSync(join(tmpdir(), 'boot-test-'));
const servers: ServerProcess[] = [];
afterAll(() => {
  for (const server of servers) server.stop();
  rmSync(scratch, { recursive: true, force: true });
});

describe.each(Object.keys(entries) as Array<keyof typeof entries>)('server on %s', (runtime) => {
  it('answers /healthz and ingests a capture', async () => {
    const dir = join(scratch, runtime);
    const server = startServer(
      [
        ...entries[runtime],
        ...['--port', '0', '--data', join(dir, 'data'), '--config', join(dir, 'aperture.hujson')],
      ],
      root,
    );
    servers.push(server);
    await expectServes(await server.url);
  });
});
