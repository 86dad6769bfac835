/**
 * The aperture CLI as real processes, against the S3 test target: ingest → export --once →
 * read gives back the ingested records with their ids.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { recordToJson } from '@aperture-export/codec';
import { makeRecords } from '@aperture-export/codec/testing';
import { openSqliteStore } from '@aperture-export/core/sqlite-node';
import { type FakeProvider, startFakeProvider } from '@aperture-export/gateway/testing';
import { S3_FAULTS, type S3Target, startS3Target } from '@aperture-export/testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  expectDashboard,
  expectGatewayServes,
  expectServes,
  exporterConfig,
  gatewayConfig,
  startServer,
  TSX_LOADER,
} from './helpers.ts';

const server = new URL('..', import.meta.url).pathname;
/** The CLI two ways: the TypeScript source through tsx, and the bundle `pnpm start` runs. */
const commands = {
  source: [process.execPath, '--import', TSX_LOADER, join(server, 'src/cli.ts')],
  bundle: [process.execPath, join(server, 'dist/aperture.mjs')],
};
let target: S3Target;
let provider: FakeProvider;
let root: string;
let dir: string;
let command: string[];
beforeAll(async () => {
  [target, provider] = await Promise.all([startS3Target(), startFakeProvider()]);
  root = mkdtempSync(join(tmpdir(), 'cli-test-'));
}, 60_000);
afterAll(async () => {
  await Promise.all([target?.stop(), provider?.stop()]);
  rmSync(root, { recursive: true, force: true });
});

function run(file: string, args: string[], cwd: string, input?: Uint8Array, env = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(file, args, { cwd, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.stdin.end(input);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * Runs the CLI as a process. Asynchronously: the local S3 target serves from this very
 * process, so a blocking spawn would starve it.
 */
function aperture(
  args: string[],
  options: { input?: Uint8Array; env?: Record<string, string> } = {},
) {
  const [file, ...rest] = command;
  return run(file!, [...rest, ...args], dir, options.input, options.env);
}

const ndjson = (records: ReturnType<typeof makeRecords>) =>
  `${records.map((record) => JSON.stringify((({ id: _, ...rest }) => rest)(recordToJson(record)))).join('\n')}\n`;

describe.each(Object.keys(commands) as Array<keyof typeof commands>)(
  'aperture CLI (%s)',
  (mode) => {
    beforeAll(() => {
      command = commands[mode];
      dir = join(root, mode);
      mkdirSync(dir);
    });

    it('config check: exit 0 with warnings on stderr; exit 1 listing every error', async () => {
      writeFileSync(
        join(dir, 'good.hujson'),
        '{ "exporters": { "s3": { "limit": 20000, } } } // capped',
      );
      const good = await aperture(['config', 'check', 'good.hujson']);
      expect(good).toMatchObject({ code: 0, stdout: 'good.hujson: OK\n' });
      expect(good.stderr).toBe('warning: exporters.s3.limit: 20000 is above 10000; using 10000\n');
      writeFileSync(
        join(dir, 'bad.hujson'),
        '{ "exporters": { "s3": { "prefix": "a/", "every": 0, "nope": 1 } } }',
      );
      const bad = await aperture(['config', 'check', 'bad.hujson']);
      expect(bad.code).toBe(1);
      expect(bad.stderr.trim().split('\n').sort()).toEqual([
        'exporters.s3.every: must be a whole number of at least 1',
        'exporters.s3.nope: unknown key',
        'exporters.s3.prefix: must not end with "/"',
      ]);
    });

    it('serve: answers /healthz, ingests a capture, serves the gateway and the dashboard', async () => {
      writeFileSync(join(dir, 'gateway.hujson'), JSON.stringify(gatewayConfig(provider, mode)));
      const server = startServer(
        [...command, 'serve', '--port', '0', '--data', 'data-serve', '--config', 'gateway.hujson'],
        dir,
      );
      try {
        const url = await server.url;
        await expectServes(url);
        await expectGatewayServes(url, mode);
        await expectDashboard(url, server.output());
      } finally {
        server.stop();
      }
    });

    it('ingest → export --once → read gives back the records with their ids', async () => {
      const data = join(dir, 'data-roundtrip');
      const prefix = `${target.prefix}/cli-${mode}`;
      writeFileSync(
        join(dir, 'aperture.hujson'),
        JSON.stringify({
          exporters: {
            s3: exporterConfig(target, {
              access_key_id: 'env:TEST_S3_KEY',
              access_secret: 'env:TEST_S3_SECRET',
              prefix,
              limit: 5,
            }),
          },
          database: { retention: { duration: '0', require_export: true } },
        }),
      );
      const env = {
        TEST_S3_KEY: target.config.accessKeyId,
        TEST_S3_SECRET: target.config.secretAccessKey,
        // Three files: the bundle compresses them on its default two threads, the next ones
        // while one uploads; the source, on its main thread, one after the other.
        ...(mode === 'source' ? { APERTURE_ZSTD_THREADS: '0' } : {}),
      };
      const records = makeRecords(15, 9);
      writeFileSync(join(dir, 'captures.ndjson'), ndjson(records));

      const ingest = await aperture(['ingest', 'captures.ndjson', '--data', data], { env });
      expect(ingest.code).toBe(0);
      const ids = records.map((r) => r.id);
      expect(JSON.parse(ingest.stdout)).toEqual({ ingested: 15, duplicates: 0, ids });
      // The same file again (a retried job): nothing new, the same ids.
      const again = await aperture(['ingest', 'captures.ndjson', '--data', data], { env });
      expect(JSON.parse(again.stdout)).toEqual({ ingested: 0, duplicates: 15, ids });

      const exported = await aperture(['export', '--once', '--data', data], { env });
      expect(exported.code, exported.stderr).toBe(0);
      expect(exported.stderr).toContain('"message":"exported 5 records to');
      expect(JSON.parse(exported.stdout)).toMatchObject({ files: 3, records: 15 });

      const status = JSON.parse((await aperture(['status', '--data', data], { env })).stdout);
      expect(status).toMatchObject({
        export: { pendingRecords: 0, exportedRecords: 15 },
        store: { records: 15 },
      });

      const keys = [];
      for await (const object of target.client().listAllObjects(`${prefix}/`))
        keys.push(object.key);
      expect(keys).toHaveLength(3);
      const lines = [];
      for (const key of keys.sort()) {
        const read = await aperture(['read', `s3://${target.config.bucket}/${key}`], { env });
        expect(read.code).toBe(0);
        lines.push(
          ...read.stdout
            .trim()
            .split('\n')
            .map((line) => JSON.parse(line)),
        );
      }
      expect(lines).toEqual(JSON.parse(JSON.stringify(records.map(recordToJson))));

      const purge = await aperture(['purge', '--once', '--data', data], { env });
      expect(JSON.parse(purge.stdout)).toEqual({ purged: 15 });
    });

    it('export --once: a second run after a failed one exports at once, and any run names what it left', async () => {
      const data = join(dir, 'data-restart');
      const proxy = await target.withFaults();
      const prefix = `${target.prefix}/restart-${mode}`;
      writeFileSync(
        join(dir, 'restart.hujson'),
        JSON.stringify({
          exporters: {
            s3: exporterConfig(target, {
              endpoint: proxy.endpoint,
              access_secret: 'env:TEST_S3_SECRET',
              prefix,
              limit: 10,
            }),
          },
        }),
      );
      const env = { TEST_S3_SECRET: target.config.secretAccessKey };
      const run = (...args: string[]) =>
        aperture([...args, '--data', data, '--config', 'restart.hujson'], { env });
      writeFileSync(join(dir, 'restart.ndjson'), ndjson(makeRecords(30, 31)));
      expect((await run('ingest', 'restart.ndjson')).code).toBe(0);

      // S3 refuses: the run fails, names S3's error and the permission, and exits 1.
      proxy.faults.add({ methods: ['PUT'], fault: S3_FAULTS.accessDenied });
      const refused = await run('export', '--once');
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain(
        'aperture: export failed: AccessDenied: Access Denied (PutObject',
      );
      expect(refused.stderr).toContain('the exporter needs s3:PutObject');
      // S3 is back: the next run finishes what the first one claimed, at once.
      proxy.faults.clear();
      const again = await run('export', '--once');
      expect(again.code, again.stderr).toBe(0);
      expect(JSON.parse(again.stdout)).toMatchObject({ files: 3, records: 30 });

      // A claim that another live process holds is named, with a non-zero exit.
      writeFileSync(join(dir, 'more.ndjson'), ndjson(makeRecords(5, 32)));
      await run('ingest', 'more.ndjson');
      const store = openSqliteStore(join(data, 'captures.sqlite'));
      await store.claimNext({
        owner: 'another-process',
        destination: { endpoint: proxy.endpoint, bucket: target.config.bucket, prefix },
        limit: 10,
        maxBytes: 1 << 30,
        nowMs: Date.now(),
        leaseMs: 600_000,
      });
      await store.close();
      const held = await run('export', '--once');
      expect(held.code).toBe(1);
      expect(held.stderr).toMatch(
        /^aperture: not exported: 5 records \(claim \S+\) are being exported by another process \(exporter another-process, lease until /,
      );
    });

    it('export --test checks every permission; claims lists what waits, and releases one on purpose', async () => {
      const data = join(dir, 'data-claims');
      const proxy = await target.withFaults();
      const s3 = exporterConfig(target, {
        endpoint: proxy.endpoint,
        prefix: `${target.prefix}/claims-${mode}`,
      });
      writeFileSync(join(dir, 'claims.hujson'), JSON.stringify({ exporters: { s3 } }));
      const run = (...args: string[]) =>
        aperture([...args, '--data', data, '--config', 'claims.hujson']);
      const ok = await run('export', '--test');
      expect(ok.code, ok.stderr).toBe(0);
      expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, warnings: [] });
      proxy.faults.add({ methods: ['HEAD'], fault: S3_FAULTS.accessDenied });
      const writeOnly = await run('export', '--test');
      expect(writeOnly.code).toBe(1);
      expect(writeOnly.stderr).toMatch(
        /^aperture: connection test failed: read: AccessDenied: .*\(needs s3:GetObject\)\n$/,
      );
      proxy.faults.clear();

      // A claim made for a bucket whose writes are then refused, and a new bucket configured.
      writeFileSync(join(dir, 'claims.ndjson'), ndjson(makeRecords(4, 41)));
      await run('ingest', 'claims.ndjson');
      proxy.faults.add({ methods: ['PUT'], fault: S3_FAULTS.accessDenied });
      expect((await run('export', '--once')).code).toBe(1);
      const listed = await run('claims');
      const [claim] = listed.stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));
      expect(claim).toMatchObject({
        bucket: target.config.bucket,
        recordCount: 4,
        lastError: { code: 'AccessDenied', permission: 's3:PutObject' },
      });
      const released = await run('claims', 'release', claim.claimId);
      expect(released.code).toBe(0);
      expect(JSON.parse(released.stdout)).toEqual({ released: claim.claimId, records: 4 });
      expect(released.stderr).toMatch(
        new RegExp(
          `^released claim ${claim.claimId}: its 4 records \\(ids 1-4\\) will be exported again, to the current destination\\. If its file is at .* those records will be in both\\.\\n$`,
        ),
      );
      expect((await run('claims', 'release', claim.claimId)).stderr).toBe(
        `aperture: no claim ${claim.claimId} (aperture claims lists them)\n`,
      );
      proxy.faults.clear();
      const exported = await run('export', '--once');
      expect(exported.code, exported.stderr).toBe(0);
      expect(JSON.parse(exported.stdout)).toMatchObject({ records: 4 });
      expect((await run('claims')).stdout).toBe('');
    });

    it('reads an export file from a path and from standard input', async () => {
      const { encodeExportFile } = await import('@aperture-export/codec');
      const records = makeRecords(4, 3);
      const file = await encodeExportFile(records);
      writeFileSync(join(dir, 'local.cbor.zstd'), file);
      const fromFile = await aperture(['read', 'local.cbor.zstd']);
      const fromStdin = await aperture(['read', '-'], { input: file });
      const expected = JSON.parse(JSON.stringify(records.map(recordToJson)));
      const lines = (text: string) =>
        text
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line));
      expect(lines(fromFile.stdout)).toEqual(expected);
      expect(lines(fromStdin.stdout)).toEqual(expected);
    });

    it('says what is wrong in one line and exits non-zero, storing nothing', async () => {
      const data = join(dir, 'data-errors');
      const records = makeRecords(2, 4);
      const broken = ndjson(records).replace(/"model":"[^"]*"/, '"model":7');
      writeFileSync(join(dir, 'broken.ndjson'), `${broken}{oops\n`);
      const ingest = await aperture(['ingest', 'broken.ndjson', '--data', data]);
      expect(ingest.code).toBe(1);
      expect(ingest.stderr).toBe(
        'aperture: nothing ingested: line 1: model: must be a string, got the integer 7 (and 1 more problems)\n',
      );
      const status = await aperture(['status', '--data', data, '--config', 'none.hujson']);
      expect(JSON.parse(status.stdout).store.records).toBe(0);

      for (const [args, message] of [
        [['read', 'missing.cbor.zstd'], 'aperture: cannot read missing.cbor.zstd: ENOENT\n'],
        [
          ['read', 'broken.ndjson'],
          'aperture: not a valid zstd stream: no zstd magic number at byte 0\n',
        ],
        [['frobnicate'], 'aperture: unknown command "frobnicate" (aperture --help lists them)\n'],
        [
          ['serve', '--port', 'abc'],
          'aperture: --port must be a port number from 0 to 65535, got "abc"\n',
        ],
        [
          ['export', '--data', data],
          'aperture: export runs with --once or --test (the server exports on its schedule)\n',
        ],
        [
          ['export', '--once', '--data', data, '--config', 'none.hujson'],
          'aperture: no bucket configured (exporters.s3.bucket_name)\n',
        ],
      ] as const) {
        const result = await aperture([...args]);
        expect(result.stderr).toBe(message);
        expect(result.code).not.toBe(0);
      }
      for (const [env, message] of [
        [{ APERTURE_ZSTD_THREADS: 'two' }, 'must be a whole number from 0 to 64, got "two"'],
        [{ APERTURE_ZSTD_ENGINE: 'fast' }, 'must be one of auto, native, wasm, got "fast"'],
      ] as const) {
        const result = await aperture(['status', '--data', data, '--config', 'none.hujson'], {
          env,
        });
        expect(result.stderr).toBe(`aperture: ${Object.keys(env)[0]}: ${message}\n`);
        expect(result.code).not.toBe(0);
      }
    });
  },
);
