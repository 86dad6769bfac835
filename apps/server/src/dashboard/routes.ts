/**
 * The dashboard's routes on the app: sign-in and sign-out, the pages, and the built scripts
 * and styles. Pages need a session cookie (session.ts); without one they send the browser to
 * the sign-in page. What the pages change, they change through the admin API (app.ts), which
 * takes the session cookie with its CSRF token as well as the admin bearer token.
 */
import type { Context, Hono, MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { etag } from 'hono/etag';
import type { RequestIdVariables } from 'hono/request-id';
import type { ApertureService } from '../service.ts';
import {
  API_TYPES,
  exportPage,
  layout,
  loginPage,
  missingRequest,
  type RequestFilters,
  requestPage,
  requestsPage,
  settingsPage,
  usagePage,
} from './pages.ts';
import {
  CSRF_FIELD,
  SESSION_COOKIE,
  SESSION_MS,
  type Session,
  type SessionKeeper,
} from './session.ts';
import { chartData, grandTotal, totalsOf, usageWindow } from './usage.ts';

export type AppVariables = RequestIdVariables & { session?: Session };

/** The built scripts and styles (apps/server/dist/client), by file name; each host reads them its way. */
export type AssetSource = (name: string) => Promise<Uint8Array | undefined>;

export interface DashboardOptions {
  service: ApertureService;
  adminToken: string;
  sessions: SessionKeeper;
  assets?: AssetSource;
  sameText: (a: string, b: string) => boolean;
}

const ASSET_NAME = /^[a-z0-9-]+\.(js|css)$/;
const ASSET_TYPES: Record<string, string> = {
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
};
/** Pages load only their own scripts and styles; CodeMirror and uPlot set inline styles. */
const PAGE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";
const PAGE_SIZE = 50;

/** Where to go after signing in: a path on this server only. */
function safeNext(next: string | undefined): string {
  return next?.startsWith('/') && !next.startsWith('//') && !next.startsWith('/\\')
    ? next
    : '/usage';
}

/**
 * A form post from another site is refused: the browser says where it came from, in
 * Sec-Fetch-Site or else in Origin (a client that sends neither is not a browser).
 */
function sameOrigin(c: Context): boolean {
  const site = c.req.header('sec-fetch-site');
  if (site !== undefined) return site === 'same-origin' || site === 'none';
  const origin = c.req.header('origin');
  return origin === undefined || origin === new URL(c.req.url).origin;
}

/** `YYYY-MM-DDTHH:MM` (a datetime-local field), read as UTC; "" is no bound. */
function utcMs(value: string): number | undefined | 'bad' {
  if (value === '') return undefined;
  const ms = Date.parse(`${value.length === 16 ? `${value}:00` : value}Z`);
  return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(value) && !Number.isNaN(ms) ? ms : 'bad';
}

export function mountDashboard(app: Hono<{ Variables: AppVariables }>, options: DashboardOptions) {
  const { service, sessions } = options;

  const startSession = async (c: Context) => {
    const { cookie } = await sessions.create();
    setCookie(c, SESSION_COOKIE, cookie, {
      httpOnly: true,
      sameSite: 'Strict',
      secure: new URL(c.req.url).protocol === 'https:',
      path: '/',
      maxAge: SESSION_MS / 1000,
    });
  };

  const signedIn: MiddlewareHandler<{ Variables: AppVariables }> = async (c, next) => {
    const session = await sessions.read(getCookie(c, SESSION_COOKIE));
    if (!session) {
      const url = new URL(c.req.url);
      return c.redirect(`/login?next=${encodeURIComponent(url.pathname + url.search)}`, 303);
    }
    c.set('session', session);
    await next();
  };

  /** Every page, the sign-in page too: its own scripts only, never cached. */
  const pageHeaders: MiddlewareHandler = async (c, next) => {
    await next();
    c.header('content-security-policy', PAGE_CSP);
    c.header('cache-control', 'no-store');
  };

  // Registered before the routes: Hono runs a path's handlers in the order they were added.
  const pages = ['/usage', '/requests', '/requests/*', '/export', '/settings'];
  for (const path of ['/login', ...pages]) app.use(path, pageHeaders);
  for (const path of pages) app.use(path, signedIn);

  const page = (
    c: Context<{ Variables: AppVariables }>,
    title: string,
    body: ReturnType<typeof usagePage>,
    scripts?: string[],
  ) =>
    c.html(
      layout({ title, path: c.req.path, csrfToken: c.get('session')!.csrfToken, scripts }, body),
    );

  // The files change only with a new build: a browser that has one asks again with its ETag
  // (no-cache) and gets 304 without the body (settings.js is 420 KB).
  app.use('/assets/*', etag());
  app.get('/assets/:name', async (c) => {
    const name = c.req.param('name');
    const content = ASSET_NAME.test(name) ? await options.assets?.(name) : undefined;
    if (!content)
      return c.json({ error: `no asset ${name}: was the dashboard built (pnpm build)?` }, 404);
    c.header('content-type', ASSET_TYPES[name.split('.').pop()!]!);
    c.header('cache-control', 'no-cache');
    return c.body(content as Uint8Array<ArrayBuffer>);
  });

  app.get('/', (c) => c.redirect('/usage', 303));

  app.get('/login', async (c) => {
    const next = safeNext(c.req.query('next'));
    const code = c.req.query('code');
    if (code !== undefined) {
      if (sessions.useSignInCode(code)) {
        await startSession(c);
        return c.redirect(next, 303);
      }
      return c.html(
        loginPage({
          next,
          error: 'This sign-in link was used already or has expired: sign in with the admin token.',
        }),
        401,
      );
    }
    if (await sessions.read(getCookie(c, SESSION_COOKIE))) return c.redirect(next, 303);
    return c.html(loginPage({ next }));
  });

  app.post('/login', async (c) => {
    if (!sameOrigin(c)) return c.text('sign-in from another site is refused', 403);
    const form = await c.req.parseBody();
    const next = safeNext(typeof form.next === 'string' ? form.next : undefined);
    const token = typeof form.token === 'string' ? form.token.trim() : '';
    if (!options.sameText(token, options.adminToken))
      return c.html(loginPage({ next, error: 'That is not the admin token.' }), 401);
    await startSession(c);
    return c.redirect(next, 303);
  });

  app.post('/logout', async (c) => {
    const session = await sessions.read(getCookie(c, SESSION_COOKIE));
    if (!session) return c.redirect('/login', 303);
    const form = await c.req.parseBody();
    const token = typeof form[CSRF_FIELD] === 'string' ? form[CSRF_FIELD] : undefined;
    if (!sessions.checkCsrf(session, token))
      return c.text('a valid CSRF token is required to sign out', 403);
    sessions.revoke(session);
    deleteCookie(c, SESSION_COOKIE, { path: '/' });
    return c.redirect('/login', 303);
  });

  app.get('/usage', async (c) => {
    const query = c.req.query();
    let window = usageWindow(query, Date.now());
    let error: string | undefined;
    if ('error' in window) {
      error = window.error;
      window = usageWindow({ window: '24h' }, Date.now()) as Exclude<
        typeof window,
        { error: string }
      >;
    }
    const { sinceMs, untilMs, bucketMs } = window;
    // Two passes over the window's records; the totals are the series added up.
    const [modelPoints, loginPoints] = await Promise.all([
      service.store.usageSeries({ sinceMs, untilMs, bucketMs, groupBy: 'model' }),
      service.store.usageSeries({ sinceMs, untilMs, bucketMs, groupBy: 'login' }),
    ]);
    const summary = { byModel: totalsOf(modelPoints), byLogin: totalsOf(loginPoints) };
    const csv = new URLSearchParams({
      format: 'csv',
      since: new Date(sinceMs).toISOString(),
      until: new Date(untilMs).toISOString(),
    });
    return page(
      c,
      'Usage',
      usagePage({
        window,
        total: grandTotal(summary.byModel),
        byModel: summary.byModel,
        byLogin: summary.byLogin,
        chart: chartData(
          window,
          { points: modelPoints, totals: summary.byModel },
          { points: loginPoints, totals: summary.byLogin },
        ),
        csvHref: `/api/usage/summary?${csv}`,
        ...(error ? { error } : {}),
      }),
      ['usage.js'],
    );
  });

  app.get('/requests', async (c) => {
    const query = c.req.query();
    const filters: RequestFilters = {
      model: query.model ?? '',
      login: query.login ?? '',
      status: ['2', '4', '5'].includes(query.status ?? '') ? query.status! : '',
      api_type: (API_TYPES as readonly string[]).includes(query.api_type ?? '')
        ? query.api_type!
        : '',
      from: query.from ?? '',
      to: query.to ?? '',
    };
    const since = utcMs(filters.from);
    const until = utcMs(filters.to);
    const before = Number(query.before);
    const error =
      since === 'bad' || until === 'bad' ? 'From and To must be dates and times' : undefined;
    const records = error
      ? []
      : await service.store.recent({
          limit: PAGE_SIZE,
          ...(Number.isSafeInteger(before) && before > 0 ? { beforeId: before } : {}),
          ...(filters.model ? { model: filters.model } : {}),
          ...(filters.login ? { loginName: filters.login } : {}),
          ...(filters.status ? { statusClass: Number(filters.status) } : {}),
          ...(filters.api_type ? { apiType: filters.api_type } : {}),
          ...(typeof since === 'number' ? { sinceMs: since } : {}),
          ...(typeof until === 'number' ? { untilMs: until } : {}),
        });
    const { models, logins } = await service.store.filterValues();
    const withFilters = (extra: Record<string, string>) => {
      const params = new URLSearchParams(
        Object.entries({ ...filters, ...extra }).filter(([, value]) => value !== ''),
      );
      return `/requests${params.size ? `?${params}` : ''}`;
    };
    return page(
      c,
      'Requests',
      requestsPage({
        filters,
        models,
        logins,
        records,
        ...(records.length === PAGE_SIZE
          ? { olderHref: withFilters({ before: String(records.at(-1)!.id) }) }
          : {}),
        ...(query.before ? { newestHref: withFilters({}) } : {}),
        ...(error ? { error } : {}),
      }),
    );
  });

  const storedRecord = async (c: Context) => {
    const id = Number(c.req.param('id'));
    return Number.isSafeInteger(id) && id > 0 ? service.store.record(id) : undefined;
  };

  app.get('/requests/:id', async (c) => {
    const stored = await storedRecord(c);
    if (!stored) {
      c.status(404);
      return page(c, 'Not found', missingRequest(c.req.param('id')));
    }
    return page(c, `Request ${stored.record.id}`, requestPage(stored));
  });

  app.get('/requests/:id/raw/:which', async (c) => {
    const stored = await storedRecord(c);
    const which = c.req.param('which');
    const capture = stored?.record.capture;
    const raw =
      which === 'request'
        ? capture?.request.raw_body
        : which === 'response'
          ? capture?.response.raw_body
          : undefined;
    if (!stored || !raw) return c.text('no such body', 404);
    c.header('content-type', 'application/octet-stream');
    c.header(
      'content-disposition',
      `attachment; filename="record-${stored.record.id}-${which}.bin"`,
    );
    return c.body(raw as Uint8Array<ArrayBuffer>);
  });

  app.get('/export', async (c) => {
    const [status, claims, files] = await Promise.all([
      service.exportStatus(),
      service.claims(),
      service.store.recentFiles(20),
    ]);
    return page(c, 'Export', exportPage({ status, config: service.config, claims, files }));
  });

  app.get('/settings', (c) =>
    page(
      c,
      'Settings',
      settingsPage({ text: service.redactedConfigText(), config: service.config }),
      ['settings.js'],
    ),
  );
}
