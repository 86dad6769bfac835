/**
 * The worker entry: the server's Hono app and service on Cloudflare Workers. D1 is the capture
 * store; the config is the APERTURE_CONFIG variable (HuJSON, its secrets `env:` references to
 * Worker secrets); the export runs from the cron trigger, one at a time (a lease row in D1),
 * at most a few files per invocation, the rest left for the next trigger. zstd is the WASM
 * engine on a module the runtime compiled (workerd's own zstd fails past ~40 KiB of output).
 */
import { wasmEngine } from '@aperture-export/codec/zstd-wasm';
import { type CycleResult, type Logger, purgeOnce } from '@aperture-export/core';
import { type D1Database, D1Store } from '@aperture-export/core/d1';
import { createApp } from '@aperture-export/server';
import { ApertureService } from '@aperture-export/server/service';
// The .wasm as a module compiled by the runtime (wrangler's default rule for .wasm; the tests'
// esbuild build copies it, and Miniflare loads it as CompiledWasm). By path: the package's
// exports map does not list it.
import zstdModule from '../node_modules/@bokuweb/zstd-wasm/dist/esm/zstd.wasm';
import {
  DEFAULT_EXPORT_LEASE_SECONDS,
  DEFAULT_FILES_PER_INVOCATION,
  WORKER_MAX_FILE_BYTES,
} from './limits.ts';

export interface Env {
  DB: D1Database;
  /** The config, HuJSON (as aperture.hujson on a server). */
  APERTURE_CONFIG?: string;
  APERTURE_ADMIN_TOKEN?: string;
  APERTURE_INGEST_TOKEN?: string;
  /** Most files one cron invocation exports (default 4). */
  APERTURE_FILES_PER_INVOCATION?: string;
  /** How long an export holds its lease without renewing it (default 60). */
  APERTURE_EXPORT_LEASE_SECONDS?: string;
  /** Workers Static Assets: the dashboard's built scripts and styles. */
  ASSETS?: { fetch(request: Request): Promise<Response> };
  [name: string]: unknown;
}

export interface ExecutionContext {
  waitUntil(promise: Promise<unknown>): void;
}

/** Claims made on a Worker belong to every invocation: the next one finishes them at once. */
const EXPORTER_ID = 'cloudflare-worker';
const CONFIG_READ_ONLY =
  'on Cloudflare Workers the config is the APERTURE_CONFIG variable: change it in wrangler.toml (or the dashboard) and deploy';

const log: Logger = (level, message, fields) =>
  console[level === 'error' ? 'error' : level === 'warn' ? 'warn' : 'log'](
    JSON.stringify({ level, message, ...fields }),
  );

interface Running {
  service: ApertureService;
  store: D1Store;
  app: ReturnType<typeof createApp>;
  /** Exports one cycle under the lease, or says why not. */
  runExport(): Promise<CycleResult | { skipped: string }>;
}

type Opened = Running | { error: string; errors: string[] };

/** Environment values that are text: what `env:NAME` references in the config read. */
function textEnv(env: Env): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
  );
}

async function open(env: Env): Promise<Opened> {
  const missing = (['APERTURE_ADMIN_TOKEN', 'APERTURE_INGEST_TOKEN'] as const)
    .filter((name) => !env[name])
    .map((name) => `${name} is not set: wrangler secret put ${name}`);
  if (missing.length) return { error: 'the worker is missing secrets', errors: missing };
  const whole = (
    name: 'APERTURE_FILES_PER_INVOCATION' | 'APERTURE_EXPORT_LEASE_SECONDS',
    fallback: number,
  ) => {
    const value = Number(env[name] ?? fallback);
    return Number.isInteger(value) && value >= 1
      ? value
      : `${name} must be a whole number of at least 1, got "${env[name]}"`;
  };
  const files = whole('APERTURE_FILES_PER_INVOCATION', DEFAULT_FILES_PER_INVOCATION);
  const leaseSeconds = whole('APERTURE_EXPORT_LEASE_SECONDS', DEFAULT_EXPORT_LEASE_SECONDS);
  const invalid = [files, leaseSeconds].filter((value) => typeof value === 'string');
  if (typeof files === 'string' || typeof leaseSeconds === 'string')
    return { error: 'invalid environment', errors: invalid };
  const store = new D1Store(env.DB);
  let leaseOwner: string | undefined;
  const lease = (owner: string) => store.acquireExportLease(owner, Date.now(), leaseSeconds * 1000);
  const underLease = async (cycle: () => Promise<CycleResult>) => {
    const owner = crypto.randomUUID();
    if (!(await lease(owner))) return { skipped: 'another export is running' };
    leaseOwner = owner;
    try {
      return await cycle();
    } finally {
      leaseOwner = undefined;
      await store.releaseExportLease(owner);
    }
  };
  let service: ApertureService;
  try {
    ({ service } = await ApertureService.open({
      store,
      configSource: {
        read: async () => env.APERTURE_CONFIG ?? '',
        write: async () => {
          throw new Error(CONFIG_READ_ONLY);
        },
        readOnly: CONFIG_READ_ONLY,
      },
      zstd: wasmEngine(zstdModule),
      env: textEnv(env),
      log,
      exporterId: EXPORTER_ID,
      exporterLimits: { maxFilesPerCycle: files, maxFileBytes: WORKER_MAX_FILE_BYTES },
      // Each file renews the lease: a long export keeps it, an aborted one loses it in a minute.
      afterExportFile: () => {
        if (leaseOwner) void lease(leaseOwner);
      },
      runExport: async (cycle) => {
        const result = await underLease(cycle);
        if ('skipped' in result)
          return {
            files: 0,
            records: 0,
            bytes: 0,
            blocked: 0,
            error: { code: 'ExportRunning', message: result.skipped, at: new Date() },
          };
        return result;
      },
    }));
  } catch (error) {
    const [headline = 'invalid config', ...errors] = (error as Error).message.split('\n');
    return { error: headline.replace(/:$/, ''), errors };
  }
  const app = createApp({
    service,
    adminToken: env.APERTURE_ADMIN_TOKEN!,
    ingestToken: env.APERTURE_INGEST_TOKEN!,
    log,
    ...(env.ASSETS ? { assets: assetsFrom(env.ASSETS) } : {}),
  });
  return {
    service,
    store,
    app,
    runExport: () => underLease(() => service.exporter.runNow()),
  };
}

function assetsFrom(assets: NonNullable<Env['ASSETS']>) {
  return async (name: string) => {
    const response = await assets.fetch(new Request(`https://assets.local/${name}`));
    return response.ok ? new Uint8Array(await response.arrayBuffer()) : undefined;
  };
}

/** One service per isolate (per Env: a new deployment is a new isolate). */
let current: { env: Env; opened: Promise<Opened> } | undefined;

function openFor(env: Env): Promise<Opened> {
  if (current?.env !== env) current = { env, opened: open(env) };
  return current.opened;
}

/** Calls `done` once a response's body has been read to its end (or the reader went away). */
function whenSent(response: Response, done: () => void): Response {
  if (!response.body) {
    done();
    return response;
  }
  const body = response.body.pipeThrough(new TransformStream({ flush: done }));
  return new Response(body, response);
}

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    const opened = await openFor(env);
    if ('error' in opened) return Response.json(opened, { status: 503 });
    const response = await opened.app.fetch(request);
    // The gateway writes a request's record after the last byte is sent: the invocation
    // stays alive until it is written.
    let sent!: () => void;
    const finished = new Promise<void>((resolve) => {
      sent = resolve;
    });
    ctx.waitUntil(finished.then(() => opened.service.settled()));
    return whenSent(response, sent);
  },

  async scheduled(_controller: unknown, env: Env, ctx: ExecutionContext): Promise<void> {
    const work = (async () => {
      const opened = await openFor(env);
      if ('error' in opened) {
        log('error', `not exporting: ${opened.error}`, { errors: opened.errors.join('; ') });
        return;
      }
      const result = await opened.runExport();
      log(
        'skipped' in result ? 'warn' : result.error ? 'error' : 'info',
        'export from the cron trigger',
        {
          ...('skipped' in result
            ? { skipped: result.skipped }
            : {
                files: result.files,
                records: result.records,
                bytes: result.bytes,
                error: result.error?.message,
              }),
        },
      );
      await purgeOnce(opened.store, opened.service.config.database.retention, Date.now());
    })();
    ctx.waitUntil(work);
    await work;
  },
};
