/**
 * The server boots and answers on each runtime's own entry: /healthz, and one capture ingested
 * over HTTP and read back through the admin API.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { recordToJson } from '@aperture-export/codec';
import { afterAll, describe, expect, it } from 'vitest';
import { makeRecords } from '../../../packages/codec/test/fixtures.ts';
import { TSX_LOADER } from './helpers.ts';

const root = new URL('../../../', import.meta.url).pathname;
const bin = (name: string) => join(root, 'node_modules/.bin', name);
const entries = {
  node: [process.execPath, '--import', TSX_LOADER, 'apps/server/src/node.ts'],
  bun: [bin('bun'), 'apps/server/src/bun.ts'],
  deno: [bin('deno'), 'run', '-A', 'apps/server/src/deno.ts'],
};
const scratch = mkdtempSync(join(tmpdir(), 'boot-test-'));
const children: ChildProcess[] = [];
afterAll(() => {
  // Each server runs in its own process group: node_modules/.bin/{bun,deno} are shell scripts
  // that start the runtime as their child, which killing the script alone would leave running.
  for (const child of children) {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  rmSync(scratch, { recursive: true, force: true });
});

/** Starts an entry on a free port and resolves with its URL once it says where it listens. */
function boot(runtime: keyof typeof entries): Promise<string> {
  const [command, ...args] = entries[runtime];
  const dir = join(scratch, runtime);
  const child = spawn(
    command!,
    [...args, '--port', '0', '--data', join(dir, 'data'), '--config', join(dir, 'aperture.hujson')],
    {
      cwd: root,
      detached: true,
      env: {
        ...process.env,
        APERTURE_ADMIN_TOKEN: 'boot-admin',
        APERTURE_INGEST_TOKEN: 'boot-ingest',
      },
    },
  );
  children.push(child);
  return new Promise((resolve, reject) => {
    let output = '';
    child.stderr!.on('data', (chunk) => {
      output += chunk;
    });
    child.stdout!.on('data', (chunk) => {
      output += chunk;
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match) resolve(match[1]!);
    });
    child.on('exit', (code) =>
      reject(new Error(`${runtime} server exited with ${code}:\n${output}`)),
    );
  });
}

describe.each(Object.keys(entries) as Array<keyof typeof entries>)('server on %s', (runtime) => {
  it('answers /healthz and ingests a capture', async () => {
    const url = await boot(runtime);
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });

    const { id: _, ...capture } = recordToJson(makeRecords(1, 21)[0]!);
    const ingest = await fetch(`${url}/v1/captures`, {
      method: 'POST',
      headers: { authorization: 'Bearer boot-ingest', 'content-type': 'application/json' },
      body: JSON.stringify(capture),
    });
    expect(ingest.status).toBe(201);
    expect(await ingest.json()).toEqual({ ids: [1] });

    const usage = await fetch(`${url}/api/usage`, {
      headers: { authorization: 'Bearer boot-admin' },
    });
    const { records } = (await usage.json()) as { records: Array<{ id: number; model: string }> };
    expect(records.map((record) => [record.id, record.model])).toEqual([[1, capture.model]]);
  });
});
