import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { recordToJson } from '@aperture-export/codec';
import { makeRecords } from '@aperture-export/codec/testing';
import { FAKE_USAGE, type FakeProvider, fakeGatewayConfig } from '@aperture-export/gateway/testing';
import type { S3Target } from '@aperture-export/testcontainers';
import { expect } from 'vitest';

/** tsx's loader by absolute URL: child processes may run in a directory without node_modules. */
export const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/**
 * The exporter's config (`exporters.s3`) for the S3 test target; `overrides` change or add
 * fields (a fault proxy's endpoint, a prefix, `env:` secrets).
 */
export function exporterConfig(target: S3Target, overrides: Record<string, unknown> = {}) {
  const { config } = target;
  return {
    endpoint: config.endpoint,
    bucket_name: config.bucket,
    region: config.region,
    access_key_id: config.accessKeyId,
    access_secret: config.secretAccessKey,
    ...overrides,
  };
}

export const GATEWAY_CLIENT_TOKEN = 'test-gateway-client';

/** Config for a gateway in front of the fake provider, with one client token. */
export const gatewayConfig = (provider: FakeProvider, login: string) =>
  fakeGatewayConfig(provider.baseUrl, { token: GATEWAY_CLIENT_TOKEN, login });

/** A streamed chat through a server's gateway (gatewayConfig) becomes one record for `login`. */
export async function expectGatewayServes(url: string, login: string): Promise<void> {
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${GATEWAY_CLIENT_TOKEN}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify({ model: 'gpt-4o', messages: [], stream: true }),
  });
  const text = await response.text();
  expect(response.headers.get('content-type')).toContain('text/event-stream');
  expect(text).toContain('data: [DONE]');
  expect(text).not.toContain('"usage":{'); // asked for by the gateway, kept from the client
  for (let i = 0; i < 100; i++) {
    const usage = await fetch(`${url}/api/usage`, {
      headers: { authorization: `Bearer ${TOKENS.admin}` },
    });
    const { records } = (await usage.json()) as {
      records: Array<{ identity: { login_name: string } }>;
    };
    const record = records.find((candidate) => candidate.identity.login_name === login);
    if (record) {
      expect(record).toMatchObject({
        api_type: 'oai_completions',
        usage: { input_tokens: FAKE_USAGE.openai.input, output_tokens: FAKE_USAGE.openai.output },
      });
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error('the gateway request left no record');
}

const serverDir = new URL('..', import.meta.url).pathname;

/** The bundle's `serve`, as `pnpm start` runs it, on a data directory and config file, any port. */
export const bundleServe = (dataDir: string, configPath: string): string[] => [
  process.execPath,
  join(serverDir, 'dist/aperture.mjs'),
  'serve',
  '--port',
  '0',
  '--data',
  dataDir,
  '--config',
  configPath,
];

/** The tokens test servers run with. */
export const TOKENS = { admin: 'test-admin', ingest: 'test-ingest' };

export interface ServerProcess {
  /** Resolves with the server's URL once it says where it listens; rejects if it exits first. */
  url: Promise<string>;
  /** What the server has printed so far, stdout and stderr together. */
  output(): string;
  /** The process's exit code (null if a signal ended it), once it has exited. */
  exited: Promise<number | null>;
  /** Sends a signal to the server process itself (not its group). */
  signal(name: NodeJS.Signals): void;
  /** Kills the server and whatever it started. */
  stop(): void;
}

/**
 * Starts a server process (`command` and its arguments). It runs in its own process group:
 * node_modules/.bin/{bun,deno} are shell scripts that start the runtime as their child, which
 * killing the script alone would leave running.
 */
export function startServer(command: string[], cwd: string): ServerProcess {
  const [file, ...args] = command;
  const child: ChildProcess = spawn(file!, args, {
    cwd,
    detached: true,
    env: {
      ...process.env,
      APERTURE_ADMIN_TOKEN: TOKENS.admin,
      APERTURE_INGEST_TOKEN: TOKENS.ingest,
      // Each runtime's default engine, whatever the environment running the tests says.
      APERTURE_ZSTD_ENGINE: undefined,
      APERTURE_ZSTD_THREADS: undefined,
    },
  });
  let output = '';
  const url = new Promise<string>((resolve, reject) => {
    const listen = (chunk: Buffer) => {
      output += chunk;
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match) resolve(match[1]!);
    };
    child.stdout!.on('data', listen);
    child.stderr!.on('data', listen);
    child.on('exit', (code) => reject(new Error(`${file} exited with ${code}:\n${output}`)));
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  return {
    url,
    output: () => output,
    exited,
    signal: (name) => child.kill(name),
    stop() {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    },
  };
}

/** What every way of running the server must do: /healthz, one capture in, read back. */
export async function expectServes(url: string): Promise<void> {
  const health = await fetch(`${url}/healthz`);
  expect(health.status).toBe(200);
  expect(await health.json()).toEqual({ status: 'ok' });

  const { id: _, ...capture } = recordToJson(makeRecords(1, 21)[0]!);
  const ingest = await fetch(`${url}/v1/captures`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKENS.ingest}`, 'content-type': 'application/json' },
    body: JSON.stringify(capture),
  });
  expect(ingest.status).toBe(201);
  expect(await ingest.json()).toEqual({ ids: [1], duplicates: 0 });

  const usage = await fetch(`${url}/api/usage`, {
    headers: { authorization: `Bearer ${TOKENS.admin}` },
  });
  const { records } = (await usage.json()) as { records: Array<{ id: number; model: string }> };
  expect(records.map((record) => [record.id, record.model])).toEqual([[1, capture.model]]);
}

/**
 * What every way of running the server must do for the dashboard: the printed sign-in link
 * opens a session, the pages render with their data, the built scripts and styles are served.
 */
export async function expectDashboard(url: string, output: string): Promise<void> {
  const link = /dashboard:\s+(http\S+)/.exec(output)?.[1];
  expect(link, 'the start banner has a sign-in link').toBeDefined();
  const signIn = await fetch(link!, { redirect: 'manual' });
  expect(signIn.status).toBe(303);
  const cookie = /aperture_session=[^;]+/.exec(signIn.headers.get('set-cookie') ?? '')?.[0];
  expect(cookie).toBeDefined();
  for (const path of ['/usage', '/requests', '/export', '/settings']) {
    const page = await fetch(`${url}${path}`, { headers: { cookie: cookie! } });
    expect(page.status, path).toBe(200);
    expect(await page.text()).toContain('<nav aria-label="Main">');
  }
  for (const asset of ['dashboard.css', 'dashboard.js', 'usage.js', 'settings.js']) {
    const response = await fetch(`${url}/assets/${asset}`);
    expect(response.status, asset).toBe(200);
    expect((await response.arrayBuffer()).byteLength).toBeGreaterThan(100);
  }
}
