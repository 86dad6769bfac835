/**
 * The HTTP app, one for every host (Node, Bun, Deno, workers): ingestion, usage, export,
 * config, health and metrics. Everything but /healthz needs a bearer token: the ingest token
 * for POST /v1/captures, the admin token for the rest. No response or log line carries a secret.
 */
import { recordToJson } from '@aperture-export/codec';
import { formatIssues, type Logger, redactConfig, type UsageTotals } from '@aperture-export/core';
import { APIS, type Api, sameText } from '@aperture-export/gateway';
import { type Context, Hono, type MiddlewareHandler } from 'hono';
import { bearerAuth } from 'hono/bearer-auth';
import { bodyLimit } from 'hono/body-limit';
import { getCookie } from 'hono/cookie';
import { HTTPException } from 'hono/http-exception';
import { requestId } from 'hono/request-id';
import { secureHeaders } from 'hono/secure-headers';
import { type AppVariables, type AssetSource, mountDashboard } from './dashboard/routes.ts';
import { CSRF_HEADER, SESSION_COOKIE, SessionKeeper } from './dashboard/session.ts';
import { parseJsonBody } from './json-body.ts';
import { metricsText } from './metrics.ts';
import type { ApertureService } from './service.ts';

export interface AppOptions {
  service: ApertureService;
  adminToken: string;
  ingestToken: string;
  /** Largest ingestion request body. Default 32 MiB. */
  maxIngestBytes?: number;
  /** Where unexpected errors are logged, one line each. */
  log?: Logger;
  /** The peer's address and port, where the host knows them (the gateway's identity needs them). */
  peer?: (c: Context) => { address?: string; port?: number };
  /** The dashboard's built scripts and styles; without them the pages render unstyled. */
  assets?: AssetSource;
  /** A one-time code for the sign-in link a host prints at start (`/login?code=…`). */
  signInCode?: string;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Requires `Authorization: Bearer <token>` (RFC 6750): 401 without it or with another token,
 * 400 for a malformed header; the answer names the token wanted, never the token.
 */
function requireToken(token: string, realm: 'admin' | 'ingest') {
  const message = { error: `a valid ${realm} bearer token is required` };
  return bearerAuth({
    verifyToken: (given) => sameText(given, token),
    realm,
    noAuthenticationHeader: { message },
    invalidAuthenticationHeader: { message },
    invalidToken: { message },
  });
}

const WINDOW = /^(\d+)([hd])$/;

function windowMs(text: string): number | undefined {
  const match = WINDOW.exec(text);
  if (!match) return undefined;
  return Number(match[1]) * (match[2] === 'h' ? 3_600_000 : 86_400_000);
}

const CSV_COLUMNS = [
  'requests',
  'input_tokens',
  'output_tokens',
  'cached_tokens',
  'reasoning_tokens',
  'cost_usd',
  'unpriced_requests',
] as const;

const csvField = (value: string) =>
  /[",\n\r]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;

function summaryCsv(byModel: UsageTotals[], byLogin: UsageTotals[]): string {
  const lines = [['group', 'key', ...CSV_COLUMNS].join(',')];
  for (const [group, rows] of [
    ['model', byModel],
    ['login', byLogin],
  ] as const) {
    for (const row of rows)
      lines.push([group, csvField(row.key), ...CSV_COLUMNS.map((c) => String(row[c]))].join(','));
  }
  return `${lines.join('\n')}\n`;
}

function positiveInteger(
  value: string | undefined,
  fallback: number,
  max: number,
): number | undefined {
  if (value === undefined) return fallback;
  const number = Number(value);
  return Number.isInteger(number) && number > 0 ? Math.min(number, max) : undefined;
}

const badRequest = (c: Context, error: string) => c.json({ error }, 400);

/**
 * Refuses a body over `maxBytes` with 413. A declared Content-Length is checked as it is,
 * without touching the body: on Node, reading a body that nothing has wrapped takes
 * @hono/node-server's fast path, several times cheaper for small requests than the stream
 * hono/body-limit puts around it. A chunked body is counted by hono/body-limit as it arrives.
 */
function limitBody(maxBytes: number): MiddlewareHandler {
  const onError = (c: Context) =>
    c.json({ error: `request body is larger than ${maxBytes} bytes` }, 413);
  const counted = bodyLimit({ maxSize: maxBytes, onError });
  return async function limitBodySize(c, next) {
    const length = c.req.header('content-length');
    if (length === undefined || c.req.header('transfer-encoding') !== undefined)
      return counted(c, next);
    if (Number(length) > maxBytes) return onError(c);
    await next();
  };
}

export function createApp(options: AppOptions): Hono<{ Variables: AppVariables }> {
  const { service } = options;
  const log = options.log ?? (() => {});
  const app = new Hono<{ Variables: AppVariables }>();
  const sessions = new SessionKeeper(options.adminToken, { signInCode: options.signInCode });
  // Every answer names its request (X-Request-Id), so that a user can quote it and the one
  // log line of an unexpected error can be found.
  app.use(requestId());
  // same-origin rather than no-referrer: a browser then sends the Origin of the dashboard's
  // sign-in form (with no-referrer, some send "null"), and no other site sees a URL of ours.
  app.use(secureHeaders({ referrerPolicy: 'same-origin' }));
  app.onError((error, c) => {
    if (error instanceof HTTPException) return error.getResponse();
    const request_id = c.get('requestId');
    log('error', `${c.req.method} ${c.req.path} failed: ${error.message}`, {
      request_id,
      error: error.name,
    });
    return c.json({ error: 'internal error', request_id }, 500);
  });

  app.get('/healthz', (c) => c.json({ status: 'ok' }));

  app.post(
    '/v1/captures',
    requireToken(options.ingestToken, 'ingest'),
    limitBody(options.maxIngestBytes ?? 32 * 1024 * 1024),
    async (c) => {
      let body: unknown;
      try {
        body = parseJsonBody(new Uint8Array(await c.req.arrayBuffer()));
      } catch {
        return badRequest(c, 'request body is not valid JSON');
      }
      const items = Array.isArray(body) ? body : [body];
      if (items.length === 0) return badRequest(c, 'no captures in the request');
      const result = await service.ingest(items);
      if (!result.ok)
        return c.json(
          { error: 'invalid captures: nothing was stored', issues: result.issues },
          400,
        );
      // 201 when something was stored; 200 when every capture was stored before (a retry).
      const status = result.duplicates === result.ids.length ? 200 : 201;
      return c.json({ ids: result.ids, duplicates: result.duplicates }, status);
    },
  );

  // The gateway: each client is identified by its own key (or its tailnet identity), which
  // goes no further; the request goes to the provider serving its model.
  const identify = (c: Context) => {
    const peer = options.peer?.(c) ?? {};
    return service.identify({
      headers: c.req.raw.headers,
      remoteAddress: peer.address,
      remotePort: peer.port,
    });
  };
  const unknownClient = (c: Context, api: Api) =>
    c.json(
      api.error(401, 'the gateway does not know this client: send an API token it was given'),
      401,
    );
  for (const api of APIS) {
    app.post(api.path, async (c) => {
      const identity = await identify(c);
      if (!identity) return unknownClient(c, api);
      return service.gateway.handle(api, c.req.raw, identity);
    });
  }
  app.get('/v1/models', async (c) => {
    if (!(await identify(c))) return unknownClient(c, APIS[0]);
    return c.json(service.gateway.models() as object);
  });

  mountDashboard(app, {
    service,
    adminToken: options.adminToken,
    sessions,
    assets: options.assets,
    sameText,
  });

  // The admin API takes the admin token, or a dashboard session's cookie: then, for anything
  // but a read, with the session's CSRF token in X-CSRF-Token as well.
  const adminToken = requireToken(options.adminToken, 'admin');
  const adminOnly: MiddlewareHandler = async (c, next) => {
    if (c.req.header('authorization') === undefined) {
      const session = await sessions.read(getCookie(c, SESSION_COOKIE));
      if (session) {
        if (
          !SAFE_METHODS.has(c.req.method) &&
          !sessions.checkCsrf(session, c.req.header(CSRF_HEADER))
        )
          return c.json(
            { error: `a session's changes need its CSRF token in ${CSRF_HEADER}` },
            403,
          );
        return next();
      }
    }
    return adminToken(c, next);
  };
  app.use('/api/*', adminOnly);
  app.use('/metrics', adminOnly);

  app.get('/metrics', async (c) => {
    c.header('content-type', 'text/plain; version=0.0.4; charset=utf-8');
    return c.body(await metricsText(service));
  });

  app.get('/api/usage', async (c) => {
    const limit = positiveInteger(c.req.query('limit'), 50, 1000);
    const before = positiveInteger(
      c.req.query('before'),
      Number.MAX_SAFE_INTEGER,
      Number.MAX_SAFE_INTEGER,
    );
    if (limit === undefined) return badRequest(c, 'limit must be a whole number from 1 to 1000');
    if (before === undefined) return badRequest(c, 'before must be a record id');
    const records = await service.store.recent({
      limit,
      beforeId: before,
      model: c.req.query('model'),
      loginName: c.req.query('login'),
    });
    return c.json({
      records: records.map(recordToJson),
      next_before: records.length === limit ? records.at(-1)!.id : null,
    });
  });

  app.get('/api/usage/summary', async (c) => {
    // A window back from now (`window=24h`), or a range (`since` and `until`, ISO 8601).
    let window = c.req.query('window');
    let sinceMs: number;
    let untilMs: number | undefined;
    const since = c.req.query('since');
    if (since !== undefined) {
      sinceMs = Date.parse(since);
      const until = c.req.query('until');
      untilMs = until === undefined ? undefined : Date.parse(until);
      if (Number.isNaN(sinceMs) || Number.isNaN(untilMs))
        return badRequest(c, 'since and until must be ISO 8601 times, e.g. 2026-12-01T00:00:00Z');
      window = `${since.slice(0, 10)}_${(c.req.query('until') ?? 'now').slice(0, 10)}`;
    } else {
      window ??= '24h';
      const ms = windowMs(window);
      if (ms === undefined) return badRequest(c, 'window must be hours or days, e.g. 24h or 30d');
      sinceMs = Date.now() - ms;
    }
    const { byModel, byLogin } = await service.store.usageSummary(sinceMs, untilMs);
    if (c.req.query('format') === 'csv') {
      c.header('content-type', 'text/csv; charset=utf-8');
      c.header('content-disposition', `attachment; filename="usage-${window}.csv"`);
      return c.body(summaryCsv(byModel, byLogin));
    }
    return c.json({
      window,
      since: new Date(sinceMs).toISOString(),
      ...(untilMs === undefined ? {} : { until: new Date(untilMs).toISOString() }),
      by_model: byModel,
      by_login: byLogin,
    });
  });

  app.get('/api/export/status', async (c) => c.json(await service.exportStatus()));

  app.post('/api/export/run', async (c) => {
    const result = await service.exportNow();
    return c.json(result, result.error ? 502 : 200);
  });

  app.get('/api/export/claims', async (c) => c.json({ claims: await service.claims() }));

  app.post('/api/export/claims/:id/release', async (c) => {
    const result = await service.releaseClaim(c.req.param('id'));
    if (!result) return c.json({ error: `no claim ${c.req.param('id')}` }, 404);
    return c.json(result);
  });

  app.post('/api/export/test', async (c) => {
    const result = await service.testConnection(await c.req.text());
    return c.json(result, result.ok ? 200 : 'errors' in result ? 400 : 502);
  });

  app.get('/api/config', (c) =>
    c.json({ text: service.redactedConfigText(), config: redactConfig(service.config) }),
  );

  app.put('/api/config', async (c) => {
    const result = await service.updateConfig(await c.req.text());
    if (!result.ok) {
      return c.json(
        { error: formatIssues(result.errors), errors: result.errors, warnings: result.warnings },
        400,
      );
    }
    return c.json({ ok: true, warnings: result.warnings, config: redactConfig(service.config) });
  });

  return app;
}
