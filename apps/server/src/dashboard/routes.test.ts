/**
 * The dashboard's routes through app.request(): sign-in, the session cookie and CSRF checks,
 * and what the pages say (the browser tests in test/dashboard.browser.test.ts draw them).
 */
import { loadZstd, recordToJson } from '@aperture-export/codec';
import { makeRecords } from '@aperture-export/codec/testing';
import { MemoryStore, parseConfig } from '@aperture-export/core';
import { beforeEach, describe, expect, it } from 'vitest';
import { createApp } from '../app.ts';
import { ApertureService } from '../service.ts';
import { CONFIG_TEMPLATE } from './pages.ts';

const ADMIN = 'admin-token-for-dashboard-tests';
const CODE = 'one-time-code-for-tests';
let service: ApertureService;
let app: ReturnType<typeof createApp>;

beforeEach(async () => {
  ({ service } = await ApertureService.open({
    store: new MemoryStore(),
    configSource: { read: async () => '', write: async () => {} },
    zstd: await loadZstd(),
  }));
  app = createApp({ service, adminToken: ADMIN, ingestToken: 'ingest', signInCode: CODE });
});

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

function cookieOf(response: Response): string {
  const header = response.headers.get('set-cookie') ?? '';
  return /aperture_session=[^;]*/.exec(header)?.[0] ?? '';
}

async function signIn(): Promise<{ cookie: string; csrf: string }> {
  const response = await app.request('/login', {
    method: 'POST',
    headers: FORM,
    body: form({ token: ADMIN, next: '/usage' }),
  });
  expect(response.status).toBe(303);
  const cookie = cookieOf(response);
  const page = await (await app.request('/usage', { headers: { cookie } })).text();
  const csrf = /name="csrf-token" content="([^"]+)"/.exec(page)![1]!;
  return { cookie, csrf };
}

describe('signing in', () => {
  it('sends a browser without a session to the sign-in page, and back after it', async () => {
    const page = await app.request('/requests?model=x');
    expect(page.status).toBe(303);
    expect(page.headers.get('location')).toBe('/login?next=%2Frequests%3Fmodel%3Dx');
    expect((await app.request('/')).headers.get('location')).toBe('/usage');
    const login = await app.request('/login?next=%2Frequests');
    expect(await login.text()).toContain('<label for="token">Admin token</label>');
    // The form's post carries its Origin; the page runs its own scripts only.
    expect(login.headers.get('referrer-policy')).toBe('same-origin');
    expect(login.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
    expect(login.headers.get('cache-control')).toBe('no-store');
    const response = await app.request('/login', {
      method: 'POST',
      headers: FORM,
      body: form({ token: ADMIN, next: '/requests?model=x' }),
    });
    expect(response.headers.get('location')).toBe('/requests?model=x');
    const setCookie = response.headers.get('set-cookie')!;
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    expect(setCookie).toMatch(/Path=\//);
    expect(
      (await app.request('/requests', { headers: { cookie: cookieOf(response) } })).status,
    ).toBe(200);
  });

  it('refuses a wrong token, a post from another site, and a next page elsewhere', async () => {
    const wrong = await app.request('/login', {
      method: 'POST',
      headers: FORM,
      body: form({ token: 'nope' }),
    });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('set-cookie')).toBeNull();
    expect(await wrong.text()).toContain('That is not the admin token.');
    const foreign = await app.request('http://localhost/login', {
      method: 'POST',
      headers: { ...FORM, origin: 'https://evil.example' },
      body: form({ token: ADMIN }),
    });
    expect(foreign.status).toBe(403);
    expect(foreign.headers.get('set-cookie')).toBeNull();
    const crossSite = await app.request('/login', {
      method: 'POST',
      headers: { ...FORM, 'sec-fetch-site': 'cross-site', origin: 'null' },
      body: form({ token: ADMIN }),
    });
    expect(crossSite.status).toBe(403);
    for (const next of ['//evil.example/x', 'https://evil.example', '/\\evil.example']) {
      const response = await app.request('/login', {
        method: 'POST',
        headers: FORM,
        body: form({ token: ADMIN, next }),
      });
      expect(response.headers.get('location')).toBe('/usage');
    }
  });

  it('takes the printed sign-in link once', async () => {
    const first = await app.request(`/login?code=${CODE}&next=%2Fexport`);
    expect(first.status).toBe(303);
    expect(first.headers.get('location')).toBe('/export');
    expect(cookieOf(first)).not.toBe('');
    const again = await app.request(`/login?code=${CODE}`);
    expect(again.status).toBe(401);
    expect(again.headers.get('set-cookie')).toBeNull();
    expect(await again.text()).toContain('used already or has expired');
    expect((await app.request('/login?code=guess')).status).toBe(401);
  });

  it('refuses a forged or altered session cookie', async () => {
    const { cookie } = await signIn();
    const [, expires, id, signature] = /=(\d+)\.([^.]+)\.(.+)$/.exec(cookie)!;
    for (const forged of [
      `aperture_session=${Number(expires) + 1000}.${id}.${signature}`,
      `aperture_session=${expires}.${'A'.repeat(24)}.${signature}`,
      'aperture_session=garbage',
    ]) {
      expect((await app.request('/usage', { headers: { cookie: forged } })).status).toBe(303);
      expect(
        (await app.request('/api/export/status', { headers: { cookie: forged } })).status,
      ).toBe(401);
    }
    // A session made with another admin token is not this server's.
    const other = createApp({ service, adminToken: 'another', ingestToken: 'ingest' });
    expect((await other.request('/usage', { headers: { cookie } })).status).toBe(303);
  });
});

describe('the admin API with a session', () => {
  it('reads with the cookie alone; changes need its CSRF token too', async () => {
    const { cookie, csrf } = await signIn();
    expect((await app.request('/api/export/status', { headers: { cookie } })).status).toBe(200);
    const put = (headers: Record<string, string>) =>
      app.request('/api/config', { method: 'PUT', headers: { cookie, ...headers }, body: '{}' });
    const missing = await put({});
    expect(missing.status).toBe(403);
    expect(await missing.json()).toEqual({
      error: "a session's changes need its CSRF token in x-csrf-token",
    });
    expect((await put({ 'x-csrf-token': `${csrf}x` })).status).toBe(403);
    expect((await put({ 'x-csrf-token': csrf })).status).toBe(200);
    // Another session's token is not this one's.
    const other = await signIn();
    expect((await put({ 'x-csrf-token': other.csrf })).status).toBe(403);
    // The bearer token works as before, with no CSRF token.
    expect(
      (
        await app.request('/api/config', {
          method: 'PUT',
          headers: { authorization: `Bearer ${ADMIN}` },
          body: '{}',
        })
      ).status,
    ).toBe(200);
  });

  it('signs out only with the CSRF token, and the cookie then opens nothing', async () => {
    const { cookie, csrf } = await signIn();
    const forged = await app.request('/logout', {
      method: 'POST',
      headers: { ...FORM, cookie },
      body: form({}),
    });
    expect(forged.status).toBe(403);
    expect((await app.request('/usage', { headers: { cookie } })).status).toBe(200);
    const out = await app.request('/logout', {
      method: 'POST',
      headers: { ...FORM, cookie },
      body: form({ _csrf: csrf }),
    });
    expect(out.status).toBe(303);
    expect(out.headers.get('set-cookie')).toMatch(/aperture_session=;.*Max-Age=0/);
    expect((await app.request('/usage', { headers: { cookie } })).status).toBe(303);
    expect((await app.request('/api/export/status', { headers: { cookie } })).status).toBe(401);
  });
});

describe('pages', () => {
  const captures = (count: number) =>
    makeRecords(count, 9).map((record, i) => {
      const { id: _, ...json } = recordToJson(record);
      return { ...json, timestamp: new Date(Date.now() - i * 60_000).toISOString() };
    });

  it('escape what captures hold', async () => {
    const [capture] = captures(1);
    await service.ingest([{ ...capture, model: '<script>alert(1)</script>' }]);
    const { cookie } = await signIn();
    for (const path of ['/usage', '/requests', '/requests/1']) {
      const text = await (await app.request(path, { headers: { cookie } })).text();
      expect(text).not.toContain('<script>alert(1)</script>');
      expect(text).toContain('alert(1)');
    }
    const usage = await app.request('/usage', { headers: { cookie } });
    expect(usage.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
    // The charts' numbers sit in a JSON script element: no "</script>" can end it early.
    expect(await usage.text()).toContain('\\u003cscript>alert(1)\\u003c/script>');
  });

  it("say when a record's content was purged, and offer raw bodies for download", async () => {
    const [withRaw, purged] = captures(2);
    const raw = Buffer.from([0, 1, 2, 250]).toString('base64');
    (
      withRaw as unknown as { capture: { request: { raw_body?: string } } }
    ).capture.request.raw_body = raw;
    await service.ingest([withRaw, { ...purged, timestamp: '2020-01-01T00:00:00.000Z' }]);
    await service.store.purgeContent({ olderThanMs: Date.UTC(2021, 0), requireExported: false });
    const { cookie } = await signIn();
    const page = await (await app.request('/requests/2', { headers: { cookie } })).text();
    expect(page).toContain('was removed by the retention policy');
    const first = await (await app.request('/requests/1', { headers: { cookie } })).text();
    expect(first).toContain('Raw body as sent: 4 B');
    const download = await app.request('/requests/1/raw/request', { headers: { cookie } });
    expect(download.headers.get('content-disposition')).toContain('record-1-request.bin');
    expect([...new Uint8Array(await download.arrayBuffer())]).toEqual([0, 1, 2, 250]);
    expect((await app.request('/requests/1/raw/response', { headers: { cookie } })).status).toBe(
      404,
    );
    expect((await app.request('/requests/99', { headers: { cookie } })).status).toBe(404);
  });

  it('filter requests by status, and page through them', async () => {
    const all = captures(60).map((capture, i) => ({ ...capture, status_code: i % 3 ? 200 : 502 }));
    await service.ingest(all);
    const { cookie } = await signIn();
    const errors = await (await app.request('/requests?status=5', { headers: { cookie } })).text();
    const statuses = [...errors.matchAll(/class="status s(\d)">(\d+)</g)].map((m) => m[2]);
    expect(statuses).toHaveLength(20);
    expect(new Set(statuses)).toEqual(new Set(['502']));
    const first = await (await app.request('/requests', { headers: { cookie } })).text();
    const older = /href="([^"]+)" rel="next"/.exec(first)![1]!.replace(/&amp;/g, '&');
    expect(older).toBe('/requests?before=11');
    const second = await (await app.request(older, { headers: { cookie } })).text();
    expect([...second.matchAll(/href="\/requests\/(\d+)"/g)].map((m) => Number(m[1]))).toEqual([
      10, 9, 8, 7, 6, 5, 4, 3, 2, 1,
    ]);
  });

  it('show a bad custom window as an error, and link a CSV of the window shown', async () => {
    await service.ingest(captures(5));
    const { cookie } = await signIn();
    const bad = await app.request('/usage?window=custom&from=2026-13-01&to=x', {
      headers: { cookie },
    });
    expect(bad.status).toBe(200);
    expect(await bad.text()).toContain('from must be a date (YYYY-MM-DD)');
    const page = await (await app.request('/usage?window=7d', { headers: { cookie } })).text();
    const href = /href="(\/api\/usage\/summary\?[^"]+)"/.exec(page)![1]!.replace(/&amp;/g, '&');
    const csv = await (await app.request(href, { headers: { cookie } })).text();
    const lines = csv.trim().split('\n');
    expect(lines[0]).toBe(
      'group,key,requests,input_tokens,output_tokens,cached_tokens,reasoning_tokens,cost_usd,unpriced_requests',
    );
    const modelRequests = lines
      .filter((line) => line.startsWith('model,'))
      .reduce((sum, line) => sum + Number(line.split(',')[2]), 0);
    expect(modelRequests).toBe(5);
  });

  it('start Settings from a valid template while there is no config', async () => {
    const { cookie } = await signIn();
    const page = await (await app.request('/settings', { headers: { cookie } })).text();
    expect(page).toContain('There is no configuration yet');
    const text = /<textarea[^>]*>([^<]*)<\/textarea>/
      .exec(page)![1]!
      .replace(/&quot;/g, '"')
      .replace(/&#39;/g, "'")
      .replace(/&amp;/g, '&');
    expect(text).toBe(CONFIG_TEMPLATE);
    expect(parseConfig(text)).toMatchObject({ ok: true });
  });

  it('serve the built assets, and nothing else under /assets', async () => {
    const assets = async (name: string) =>
      name === 'dashboard.css' ? new TextEncoder().encode('body{}') : undefined;
    const withAssets = createApp({ service, adminToken: ADMIN, ingestToken: 'i', assets });
    const css = await withAssets.request('/assets/dashboard.css');
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(await css.text()).toBe('body{}');
    const tag = css.headers.get('etag')!;
    const again = await withAssets.request('/assets/dashboard.css', {
      headers: { 'if-none-match': tag },
    });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
    expect((await withAssets.request('/assets/..%2Fadmin-token')).status).toBe(404);
    expect((await withAssets.request('/assets/usage.js')).status).toBe(404);
  });
});
