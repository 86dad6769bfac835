/**
 * The server boots and answers on each runtime's own entry: /healthz, one capture ingested over
 * HTTP and read back through the admin API, then exported on demand to the S3 test target
 * (each runtime's fetch sends the upload its own way: see S3ClientOptions.streamUploads).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeExportFile } from '@aperture-export/codec';
import { nodeSqliteBinding } from '@aperture-export/core/sqlite-node';
import { type S3Target, startS3Target } from '@aperture-export/testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectServes, type ServerProcess, startServer, TOKENS, TSX_LOADER } from './helpers.ts';

const root = new URL('../../../', import.meta.url).pathname;
const bin = (name: string) => join(root, 'node_modules/.bin', name);
const entries = {
  node: [process.execPath, '--import', TSX_LOADER, 'apps/server/src/node.ts'],
  bun: [bin('bun'), 'apps/server/src/bun.ts'],
  deno: [bin('deno'), 'run', '-A', 'apps/server/src/deno.ts'],
};
/** Each runtime's SQLite binding; Node's is the one this Node (the server's too) picks. */
const sqlite = { node: nodeSqliteBinding().name, bun: 'bun:sqlite', deno: 'node:sqlite' };
const scratch = mkdtempSync(join(tmpdir(), 'boot-test-'));
const servers: ServerProcess[] = [];
let target: S3Target;
beforeAll(async () => {
  target = await startS3Target();
});
afterAll(async () => {
  for (const server of servers) server.stop();
  await target?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

describe.each(Object.keys(entries) as Array<keyof typeof entries>)('server on %s', (runtime) => {
  it('answers /healthz, ingests a capture and exports it to S3', async () => {
    const dir = join(scratch, runtime);
    const prefix = `${target.prefix}/boot-${runtime}`;
    const { config } = target;
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'aperture.hujson'),
      JSON.stringify({
        exporters: {
          s3: {
            endpoint: config.endpoint,
            bucket_name: config.bucket,
            region: config.region,
            access_key_id: config.accessKeyId,
            access_secret: config.secretAccessKey,
            prefix,
          },
        },
      }),
    );
    const server = startServer(
      [
        ...entries[runtime],
        ...['--port', '0', '--data', join(dir, 'data'), '--config', join(dir, 'aperture.hujson')],
      ],
      root,
    );
    servers.push(server);
    const url = await server.url;
    await expectServes(url);
    // Each runtime's default engine: native zstd where it has one (Bun, Deno, Node >= 22.15),
    // else WASM on two threads (Node 20).
    const nodeHasZstd =
      typeof (process.getBuiltinModule?.('node:zlib') as { zstdCompressSync?: unknown })
        ?.zstdCompressSync === 'function';
    const native = runtime !== 'node' || nodeHasZstd;
    expect(server.output()).toContain(
      `  zstd:         ${native ? "native (the runtime's own)" : 'wasm on 2 threads'}\n`,
    );
    expect(server.output()).toContain(`  store:        SQLite (${sqlite[runtime]})\n`);
    // Bun and Deno collect garbage after each exported file; Deno's way in is a V8 flag set at
    // startup, which a Deno release could take away (deno-gc.ts warns then).
    expect(server.output()).not.toContain('no way to collect garbage');

    const run = await fetch(`${url}/api/export/run`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKENS.admin}` },
    });
    expect(await run.json()).toMatchObject({ files: 1, records: 1 });
    const client = target.client();
    const keys = [];
    for await (const object of client.listAllObjects(`${prefix}/`)) keys.push(object.key);
    expect(keys).toHaveLength(1);
    const records = await decodeExportFile(await client.getObject(keys[0]!));
    expect(records.map((record) => record.id)).toEqual([1]);
  });
});
