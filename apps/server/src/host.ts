/**
 * What a self-hosted process needs around the service: a data directory with the SQLite store
 * and the tokens, the config file, a log on stderr, and an HTTP listener. node:fs works on
 * Node, Bun and Deno alike; each entry (node.ts, bun.ts, deno.ts) brings its SQLite binding
 * and its way of serving.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  DEFAULT_ZSTD_THREADS,
  loadZstd,
  type ZstdEngine,
  type ZstdPreference,
} from '@aperture-export/codec';
import {
  type CaptureStore,
  exporterEnabled,
  formatIssues,
  type Logger,
} from '@aperture-export/core';
import type { S3ClientOptions } from '@aperture-export/s3';
import { type AppOptions, createApp } from './app.ts';
import type { AssetSource } from './dashboard/routes.ts';
import { ApertureService, type ConfigSource, STOP_TIMEOUT_MS } from './service.ts';
import { localApiWhois } from './tailscale.ts';

export interface HostOptions {
  /** Default ./data */
  dataDir?: string;
  /** Default ./aperture.hujson */
  configPath?: string;
  openStore: (path: string) => CaptureStore;
  /** How the runtime's S3 clients send; see S3ClientOptions.streamUploads. */
  s3Client?: S3ClientOptions;
  /** Called after each exported file; see ExporterOptions.afterFile. */
  afterExportFile?: () => void;
  /** The gateway's fetch for its upstream calls; see ServiceOptions.gatewayFetch. */
  gatewayFetch?: typeof fetch;
  env?: Record<string, string | undefined>;
}

/** JSON lines on stderr. Callers never pass secrets in messages or fields. */
export const stderrLogger: Logger = (level, message, fields) => {
  process.stderr.write(
    `${JSON.stringify({ time: new Date().toISOString(), level, message, ...fields })}\n`,
  );
};

export function fileConfigSource(path: string): ConfigSource {
  return {
    async read() {
      return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
    },
    async write(text) {
      // Written aside and renamed: a crash never leaves half a config file.
      const temporary = `${path}.${process.pid}.tmp`;
      writeFileSync(temporary, text, { mode: 0o600 });
      renameSync(temporary, path);
    },
  };
}

/** What a bearer token may hold (RFC 6750's token68): anything else could never be sent. */
const TOKEN_CHARACTERS = /^[A-Za-z0-9._~+/-]+=*$/;

/** A token from the environment, or from a file in the data directory, created on first use. */
function token(
  dataDir: string,
  name: string,
  env: Record<string, string | undefined>,
  variable: string,
) {
  const fromEnv = env[variable];
  if (fromEnv) {
    if (!TOKEN_CHARACTERS.test(fromEnv))
      throw new Error(
        `${variable}: a bearer token may hold only letters, digits and -._~+/ (then = padding)`,
      );
    return { value: fromEnv, source: `$${variable}` };
  }
  const path = join(dataDir, name);
  if (!existsSync(path)) {
    writeFileSync(path, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600 });
    chmodSync(path, 0o600);
  }
  return { value: readFileSync(path, 'utf8').trim(), source: path };
}

/**
 * This data directory's exporter identity, made on first use: every process on it (a restarted
 * server, `aperture export --once`) finishes the claims another left, at once.
 */
function exporterIdentity(dataDir: string): string {
  const path = join(dataDir, 'exporter-id');
  if (!existsSync(path)) writeFileSync(path, `${crypto.randomUUID()}\n`, { mode: 0o600 });
  return readFileSync(path, 'utf8').trim();
}

const MAX_ZSTD_THREADS = 64;
const ZSTD_ENGINES = ['auto', 'native', 'wasm'] as const;

/**
 * The zstd engine, from APERTURE_ZSTD_ENGINE (auto: the runtime's native zstd where it has
 * one, else WebAssembly; native; wasm) and APERTURE_ZSTD_THREADS (threads the WASM engine
 * compresses on, default 2; 0 compresses on the main thread).
 */
export async function zstdFromEnv(env: Record<string, string | undefined>): Promise<ZstdEngine> {
  const engine = env.APERTURE_ZSTD_ENGINE?.trim() || 'auto';
  if (!(ZSTD_ENGINES as readonly string[]).includes(engine)) {
    throw new Error(
      `APERTURE_ZSTD_ENGINE: must be one of ${ZSTD_ENGINES.join(', ')}, got "${engine}"`,
    );
  }
  const threads = env.APERTURE_ZSTD_THREADS?.trim() || String(DEFAULT_ZSTD_THREADS);
  if (!/^\d+$/.test(threads) || Number(threads) > MAX_ZSTD_THREADS) {
    throw new Error(
      `APERTURE_ZSTD_THREADS: must be a whole number from 0 to ${MAX_ZSTD_THREADS}, got "${threads}"`,
    );
  }
  return loadZstd(engine as ZstdPreference, { wasmThreads: Number(threads) });
}

/** How an engine compresses, for the start banner. */
export const describeZstd = (zstd: ZstdEngine): string =>
  zstd.name === 'native'
    ? "native (the runtime's own)"
    : zstd.threads > 0
      ? `wasm on ${zstd.threads} thread${zstd.threads === 1 ? '' : 's'}`
      : 'wasm on the main thread';

export interface Host {
  service: ApertureService;
  /** The zstd engine export files are compressed with. */
  zstd: ZstdEngine;
  adminToken: { value: string; source: string };
  ingestToken: { value: string; source: string };
  dataDir: string;
  configPath: string;
  /**
   * Closes the store once the gateway's last records are written: those of requests answered
   * while the listener closed, after the service had stopped, too.
   */
  close(): Promise<void>;
}

export async function openHost(options: HostOptions): Promise<Host> {
  const env = options.env ?? process.env;
  const dataDir = resolve(options.dataDir ?? './data');
  const configPath = resolve(options.configPath ?? './aperture.hujson');
  mkdirSync(dataDir, { recursive: true });
  const zstd = await zstdFromEnv(env);
  const store = options.openStore(join(dataDir, 'captures.sqlite'));
  const { service, warnings } = await ApertureService.open({
    store,
    configSource: fileConfigSource(configPath),
    zstd,
    s3Client: options.s3Client,
    afterExportFile: options.afterExportFile,
    exporterId: exporterIdentity(dataDir),
    whois: localApiWhois,
    gatewayFetch: options.gatewayFetch,
    env,
    log: stderrLogger,
  });
  if (warnings.length > 0) stderrLogger('warn', formatIssues(warnings, 'config: '));
  return {
    service,
    zstd,
    adminToken: token(dataDir, 'admin-token', env, 'APERTURE_ADMIN_TOKEN'),
    ingestToken: token(dataDir, 'ingest-token', env, 'APERTURE_INGEST_TOKEN'),
    dataDir,
    configPath,
    async close() {
      await service.settled();
      await store.close();
    },
  };
}

export type Serve = (
  fetch: (request: Request) => Response | Promise<Response>,
  port: number,
  hostname: string,
) => Promise<{
  url: string;
  close(): Promise<void>;
}>;

/** A wrong command line: the entry says so in one line and exits 2. */
export class UsageError extends Error {}

/** The command-line options of a server entry (node.ts, bun.ts, deno.ts) and `aperture serve`. */
export const SERVE_ARGS = {
  port: { type: 'string' },
  host: { type: 'string' },
  data: { type: 'string' },
  config: { type: 'string' },
  'stop-timeout': { type: 'string' },
} as const;

export interface ServeOptions {
  port: number;
  hostname?: string;
  dataDir?: string;
  configPath?: string;
  /** How long SIGTERM lets a running export cycle finish its files. */
  stopTimeoutMs: number;
}

type ServeArgs = { [name in keyof typeof SERVE_ARGS]?: string };

/** Checks the serve options' values; a wrong one is a UsageError naming it. */
export function serveOptions(args: ServeArgs): ServeOptions {
  const port = args.port ?? '8080';
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535)
    throw new UsageError(`--port must be a port number from 0 to 65535, got "${port}"`);
  const stopTimeout = args['stop-timeout'] ?? String(STOP_TIMEOUT_MS / 1000);
  if (!/^\d+(\.\d+)?$/.test(stopTimeout))
    throw new UsageError(`--stop-timeout must be seconds, such as 10 or 2.5, got "${stopTimeout}"`);
  return {
    port: Number(port),
    hostname: args.host,
    dataDir: args.data,
    configPath: args.config,
    stopTimeoutMs: Number(stopTimeout) * 1000,
  };
}

/**
 * A server entry's command line (`--port`, `--host`, `--data`, `--config`, `--stop-timeout`).
 * A wrong one is said in one line on stderr, and the process exits 2.
 */
export function entryOptions(argv: string[]): ServeOptions {
  try {
    const { values } = parseArgs({ args: argv, options: SERVE_ARGS, strict: true });
    return serveOptions(values);
  } catch (error) {
    process.stderr.write(`aperture: ${(error as Error).message}\n`);
    process.exit(2);
  }
}

/**
 * The dashboard's built scripts and styles, from apps/server/dist/client: beside the bundle
 * (dist/aperture.mjs) or, running from source, one level up from src/.
 */
export function dashboardAssets(): AssetSource {
  const dir = [new URL('./client/', import.meta.url), new URL('../dist/client/', import.meta.url)]
    .map((url) => fileURLToPath(url))
    .find((candidate) => existsSync(join(candidate, 'dashboard.css')));
  // Read once each: they change only with a new build, which a restart brings. Names that are
  // not there are not kept (anyone may ask for any name).
  const files = new Map<string, Promise<Uint8Array | undefined>>();
  return (name) => {
    if (!dir) return Promise.resolve(undefined);
    let file = files.get(name);
    if (!file) {
      file = readFile(join(dir, name)).then(
        (content) => new Uint8Array(content),
        () => {
          files.delete(name);
          return undefined;
        },
      );
      files.set(name, file);
    }
    return file;
  };
}

/** How long requests still running at shutdown get, once the exporter has stopped. */
const CLOSE_GRACE_MS = 2000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Opens the host, starts the exporter and retention worker, and serves the app. */
export async function runServer(
  options: HostOptions & ServeOptions & { serve: Serve; peer?: AppOptions['peer'] },
) {
  const host = await openHost(options);
  const signInCode = randomBytes(24).toString('base64url');
  const app = createApp({
    service: host.service,
    adminToken: host.adminToken.value,
    ingestToken: host.ingestToken.value,
    log: stderrLogger,
    peer: options.peer,
    assets: dashboardAssets(),
    signInCode,
  });
  host.service.start();
  const server = await options.serve(app.fetch, options.port, options.hostname ?? '127.0.0.1');
  const s3 = host.service.config.exporters.s3;
  const exporter = exporterEnabled(s3)
    ? `exporting to bucket ${s3.bucket_name}`
    : 'exporter off until a bucket is configured';
  process.stdout.write(
    `aperture-export listening on ${server.url}\n` +
      `  dashboard:    ${server.url}/login?code=${signInCode} (sign-in link, works once for an hour)\n` +
      `  admin token:  ${host.adminToken.source}\n` +
      `  ingest token: ${host.ingestToken.source}\n` +
      `  config:       ${host.configPath} (${exporter})\n` +
      `  zstd:         ${describeZstd(host.zstd)}\n` +
      `  store:        ${host.service.store.description}\n` +
      `  data:         ${host.dataDir}\n`,
  );
  const shutdown = async () => {
    // The exporter first: an "export now" request waits for its cycle, and the listener's
    // close waits for that request. Neither waits long: the exporter has its deadline, and
    // requests left after it get a moment.
    await host.service.stop({ timeoutMs: options.stopTimeoutMs });
    await Promise.race([server.close(), sleep(CLOSE_GRACE_MS)]);
    await host.close();
    process.exit(0);
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  return { host, server };
}
