/**
 * The server boots and answers on each runtime's own entry: /healthz, one capture ingested over
 * HTTP and read back through the admin API, then exported on demand to the S3 test target
 * (each runtime's fetch sends the upload its own way: see S3ClientOptions.streamUploads).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeExportFile } from '@aperture-export/codec';
import { nodeSqliteBinding, openSqliteStore } from '@aperture-export/core/sqlite-node';
import { type FakeProvider, startFakeProvider } from '@aperture-export/gateway/testing';
import { type S3Target, startS3Target } from '@aperture-export/testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  expectDashboard,
  expectGatewayServes,
  expectServes,
  exporterConfig,
  GATEWAY_CLIENT_TOKEN,
  gatewayConfig,
  type ServerProcess,
  startServer,
  TOKENS,
  TSX_LOADER,
} from './helpers.ts';

const root = new URL('../../../', import.meta.url).pathname;
const bin = (name: string) => join(root, 'node_modules/.bin', name);
const entries = {
  node: [process.execPath, '--import', TSX_LOADER, 'apps/server/src/node.ts'],
  bun: [bin('bun'), 'apps/server/src/bun.ts'],
  deno: [bin('deno'), 'run', '-A', 'apps/server/src/deno.ts'],
};
/** The runtimes' own binaries, not node_modules/.bin's wrapper scripts: signals reach the server. */
const direct = {
  node: entries.node,
  bun: [join(root, 'node_modules/bun/bin/bun.exe'), 'apps/server/src/bun.ts'],
  deno: [join(root, 'node_modules/deno/deno'), 'run', '-A', 'apps/server/src/deno.ts'],
};
/** Each runtime's SQLite binding; Node's is the one this Node (the server's too) picks. */
const sqlite = { node: nodeSqliteBinding().name, bun: 'bun:sqlite', deno: 'node:sqlite' };
const scratch = mkdtempSync(join(tmpdir(), 'boot-test-'));
const servers: ServerProcess[] = [];
let target: S3Target;
let provider: FakeProvider;
beforeAll(async () => {
  [target, provider] = await Promise.all([startS3Target(), startFakeProvider()]);
});
afterAll(async () => {
  for (const server of servers) server.stop();
  await Promise.all([target?.stop(), provider?.stop()]);
  rmSync(scratch, { recursive: true, force: true });
});

/** Writes `dir`/aperture.hujson with `config`, and starts `command` on it. */
function serveWith(command: string[], dir: string, config: object, ...args: string[]) {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'aperture.hujson');
  writeFileSync(file, JSON.stringify(config));
  const server = startServer(
    [...command, '--port', '0', '--data', join(dir, 'data'), '--config', file, ...args],
    root,
  );
  servers.push(server);
  return server;
}

describe.each(Object.keys(entries) as Array<keyof typeof entries>)('server on %s', (runtime) => {
  it('answers /healthz, ingests a capture and exports it to S3', async () => {
    const dir = join(scratch, runtime);
    const prefix = `${target.prefix}/boot-${runtime}`;
    const server = serveWith(entries[runtime], dir, {
      exporters: { s3: exporterConfig(target, { prefix }) },
    });
    const url = await server.url;
    await expectServes(url);
    await expectDashboard(url, server.output());
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
    // startup, which a Deno release could take away (the Deno entry warns then).
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

  it('serves the gateway: a streamed chat through a provider becomes one record', async () => {
    const login = `${runtime}@example.com`;
    const server = serveWith(
      entries[runtime],
      join(scratch, `${runtime}-gateway`),
      gatewayConfig(provider, login),
    );
    await expectGatewayServes(await server.url, login);
  });

  it('on SIGTERM, answers a gateway request in flight and keeps its record', async () => {
    // The provider answers after the signal: the request ends while the listener closes.
    const late = await startFakeProvider({ delayMs: 500 });
    const login = `${runtime}-late@example.com`;
    const dir = join(scratch, `${runtime}-late`);
    const server = serveWith(direct[runtime], dir, gatewayConfig(late, login));
    try {
      const url = await server.url;
      const answer = fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${GATEWAY_CLIENT_TOKEN}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify({ model: 'gpt-4o', messages: [] }),
      });
      await new Promise((resolve) => setTimeout(resolve, 200));
      server.signal('SIGTERM');
      const signalled = Date.now();
      const response = await answer;
      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ object: 'chat.completion' });
      expect(await server.exited).toBe(0);
      // Once answered, it stops: its client's idle keep-alive connection holds nothing up
      // (the listener's grace for requests in flight is 2 s).
      expect(Date.now() - signalled).toBeLessThan(1_800);
      const store = openSqliteStore(join(dir, 'data', 'captures.sqlite'));
      const [record] = await store.recent({ limit: 10 });
      expect(record).toMatchObject({ identity: { login_name: login }, status_code: 200 });
      await store.close();
    } finally {
      await late.stop();
    }
  });

  it('refuses a wrong command line in one line, with exit code 2', () => {
    for (const [args, message] of [
      [['--port', 'abc'], '--port must be a port number from 0 to 65535, got "abc"'],
      [['--stop-timeout', 'soon'], '--stop-timeout must be seconds, such as 10 or 2.5, got "soon"'],
      [['--prot', '80'], "Unknown option '--prot'"],
    ]) {
      const result = spawnSync(direct[runtime][0]!, [...direct[runtime].slice(1), ...args!], {
        cwd: root,
        encoding: 'utf8',
      });
      expect(result.status).toBe(2);
      expect(result.stderr.startsWith(`aperture: ${message}`), result.stderr).toBe(true);
      expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    }
  });

  it('on SIGTERM, cancels an export stuck on a silent S3 at --stop-timeout and exits 0', async () => {
    // An S3 endpoint that takes requests and never answers.
    let requests = 0;
    const silent = createServer(() => void requests++);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const server = serveWith(
      direct[runtime],
      join(scratch, `${runtime}-silent`),
      {
        exporters: {
          s3: {
            endpoint: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`,
            bucket_name: 'silent',
            region: 'us-east-1',
            access_key_id: 'AKIASILENT',
            access_secret: 'silent-secret',
          },
        },
      },
      ...['--stop-timeout', '1'],
    );
    try {
      await expectServes(await server.url);
      void fetch(`${await server.url}/api/export/run`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKENS.admin}` },
      }).catch(() => {});
      for (let waited = 0; requests === 0; waited += 50) {
        if (waited > 20_000)
          throw new Error(`no upload reached the silent S3:\n${server.output()}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const signalled = Date.now();
      server.signal('SIGTERM');
      expect(await server.exited).toBe(0);
      // The deadline (1 s), a second for the cancelled cycle to end, and some start-up slack.
      expect(Date.now() - signalled).toBeLessThan(4_000);
      expect(server.output()).toContain('export stopped after 1000 ms');
      // Nothing was lost: the capture waits, claimed, for the next start.
      const store = openSqliteStore(join(scratch, `${runtime}-silent`, 'data', 'captures.sqlite'));
      expect(await store.counts()).toMatchObject({ records: 1, pendingRecords: 1 });
      await store.close();
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });
});
