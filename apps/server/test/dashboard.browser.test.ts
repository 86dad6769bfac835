/// <reference lib="dom" />
/**
 * The dashboard in headless Chromium, against the server as `pnpm start` runs it (the bundle,
 * a real SQLite file, real HTTP) and the S3 test target: a new user's path from the printed
 * sign-in link to a bucket configured, tested and exported to, and usage seen. Screenshots
 * of every page, at laptop and phone widths, light and dark, go to test-output/screenshots.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { recordToJson } from '@aperture-export/codec';
import { makeRecords } from '@aperture-export/codec/testing';
import { type S3Target, startS3Target } from '@aperture-export/testcontainers';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumMissing, launchChromium, screenshot, unlabelledControls } from './browser.ts';
import { bundleServe, type ServerProcess, startServer, TOKENS } from './helpers.ts';

if (chromiumMissing) console.warn(`skipping the dashboard's browser tests: ${chromiumMissing}`);

const CAPTURES = 40;
let target: S3Target;
let processes: ServerProcess;
let url: string;
let signInLink: string;
let dir: string;
let configPath: string;
let browser: Browser;
let context: BrowserContext;
let page: Page;

/** The config a user would write for the test bucket, as text with a comment. */
function configText(overrides: { prefix?: string; secret?: string } = {}) {
  const c = target.config;
  return `{
  // the bucket the exporter writes to
  "exporters": {
    "s3": {
      "endpoint": "${c.endpoint}",
      "bucket_name": "${c.bucket}",
      "region": "${c.region}",
      "access_key_id": "${c.accessKeyId}",
      "access_secret": "${overrides.secret ?? c.secretAccessKey}",
      "prefix": "${overrides.prefix ?? `${target.prefix}dash`}",
    },
  },
}
`;
}

describe.skipIf(chromiumMissing !== undefined)('the dashboard in Chromium', () => {
  beforeAll(async () => {
    target = await startS3Target();
    dir = mkdtempSync(join(tmpdir(), 'dashboard-test-'));
    configPath = join(dir, 'aperture.hujson');
    writeFileSync(configPath, '// nothing configured yet\n{}\n');
    processes = startServer(bundleServe(join(dir, 'data'), configPath), dir);
    url = await processes.url;
    signInLink = /dashboard:\s+(\S+)/.exec(processes.output())![1]!;
    // Usage of the last hours, as a gateway would have sent it.
    const captures = makeRecords(CAPTURES, 31).map((record, i) => {
      const { id: _, ...json } = recordToJson(record);
      return { ...json, timestamp: new Date(Date.now() - i * 17 * 60_000).toISOString() };
    });
    const ingest = await fetch(`${url}/v1/captures`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKENS.ingest}`, 'content-type': 'application/json' },
      body: JSON.stringify(captures),
    });
    expect(ingest.status).toBe(201);
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    page.setDefaultTimeout(10_000);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    processes?.stop();
    await target?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Screenshots of the current page at laptop and phone widths, light and dark. */
  async function screenshots(name: string) {
    for (const colorScheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme });
      for (const width of [1280, 390]) {
        await page.setViewportSize({ width, height: width > 800 ? 900 : 844 });
        await screenshot(page, name);
      }
    }
    await page.emulateMedia({ colorScheme: 'light' });
    await page.setViewportSize({ width: 1280, height: 900 });
  }

  it('sends a stranger to sign in, and signs in with the link the server printed', async () => {
    await page.goto(`${url}/usage`);
    expect(new URL(page.url()).pathname).toBe('/login');
    await page.getByLabel('Admin token').fill('not-the-token');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toContain('not the admin token');
    await screenshots('login');
    await page.goto(signInLink);
    expect(new URL(page.url()).pathname).toBe('/usage');
    const [cookie] = await context.cookies();
    expect(cookie).toMatchObject({ name: 'aperture_session', httpOnly: true, sameSite: 'Strict' });
    // The link works once.
    const stranger = await browser.newContext();
    const other = await stranger.newPage();
    await other.goto(signInLink);
    expect(new URL(other.url()).pathname).toBe('/login');
    await expect(other.getByRole('alert').textContent()).resolves.toContain('used already');
    await stranger.close();
  });

  it('draws usage: totals, three charts, tables by model and login', async () => {
    await page.goto(`${url}/usage?window=24h`);
    await page.waitForSelector('[data-chart="costByLogin"][data-drawn]');
    const requests = await page
      .locator('.cards .card', { hasText: 'Requests' })
      .locator('dd')
      .first();
    expect(await requests.textContent()).toBe(String(CAPTURES));
    // Each chart's canvas has pixels drawn on it, not just a blank box.
    const painted = await page.$$eval('.plot canvas', (canvases) =>
      (canvases as HTMLCanvasElement[]).map((canvas) => {
        const { data } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
        let count = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i]! > 0) count++;
        return count;
      }),
    );
    expect(painted).toHaveLength(3);
    for (const count of painted) expect(count).toBeGreaterThan(500);
    // uPlot's legend names every model in the cost chart; the table adds them up.
    const modelRows = await page
      .locator('table', { hasText: 'By model' })
      .locator('tbody tr')
      .count();
    expect(modelRows).toBeGreaterThan(1);
    expect(await unlabelledControls(page)).toEqual([]);
    await screenshots('usage');
    // The CSV of the same window, downloaded.
    const download = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: 'Download CSV' }).click(),
    ]).then(([file]) => file.path());
    const csv = readFileSync(download, 'utf8').trim().split('\n');
    const byModel = csv.filter((line) => line.startsWith('model,'));
    expect(byModel.reduce((sum, line) => sum + Number(line.split(',')[2]), 0)).toBe(CAPTURES);
  });

  it('lists requests with filters, and shows one with its capture', async () => {
    await page.goto(`${url}/requests`);
    const model = (await page
      .locator('table.requests tbody tr td:nth-child(3)')
      .first()
      .textContent())!;
    await page.getByLabel('Model').selectOption(model);
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/model=/);
    const models = await page.locator('table.requests tbody tr td:nth-child(3)').allTextContents();
    expect(models.length).toBeGreaterThan(0);
    expect(new Set(models)).toEqual(new Set([model]));
    expect(await unlabelledControls(page)).toEqual([]);
    await screenshots('requests');
    // A request with a tool use: its page shows the tool, the headers and the bodies.
    const withTool = makeRecords(CAPTURES, 31).findIndex(
      (record) => record.capture.tool_uses.length > 0,
    );
    await page.goto(`${url}/requests/${withTool + 1}`);
    await expect(page.locator('.tools li strong').first().textContent()).resolves.toBe(
      'search_docs',
    );
    await expect(page.locator('table.headers').first().textContent()).resolves.toContain(
      'user-agent',
    );
    const body = JSON.parse((await page.locator('pre.json').nth(1).textContent())!);
    expect(body.messages[0].role).toBe('system');
    await screenshots('request');
  });

  it('shows a bad prefix at its line and saves nothing; saves a good config and applies it', async () => {
    await page.goto(`${url}/settings`);
    const editor = page.locator('.cm-content');
    await editor.fill(configText());
    // Typed by hand: the prefix becomes one S3 cannot address.
    await page.locator('.cm-line', { hasText: '"prefix"' }).locator('text=dash').dblclick();
    await page.keyboard.type('x/../y');
    await page.getByRole('button', { name: 'Save' }).click();
    const problem = page.locator('#config-problems li[data-path="exporters.s3.prefix"]');
    await problem.waitFor();
    const prefixLine =
      configText()
        .split('\n')
        .findIndex((line) => line.includes('"prefix"')) + 1;
    await expect(problem.textContent()).resolves.toContain(`line ${prefixLine}`);
    // The editor marks that line.
    await page.locator('.cm-lintRange-error').waitFor();
    const marked = await page.locator('.cm-line:has(.cm-lintRange-error)').textContent();
    expect(marked).toContain('"prefix"');
    expect(readFileSync(configPath, 'utf8')).toBe('// nothing configured yet\n{}\n');
    await screenshots('settings-error');

    await editor.fill(configText());
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('#config-problems .success', { hasText: 'Saved and applied' }).waitFor();
    const saved = readFileSync(configPath, 'utf8');
    expect(saved).toContain('// the bucket the exporter writes to');
    expect(saved).toContain(target.config.secretAccessKey);

    // Shown again, the secret is redacted; saved as shown, it is kept.
    await page.reload();
    const shown = (await editor.textContent())!;
    expect(shown).not.toContain(target.config.secretAccessKey);
    expect(shown).toContain('<redacted>');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.locator('#config-problems .success').waitFor();
    expect(readFileSync(configPath, 'utf8')).toContain(target.config.secretAccessKey);
    expect(await unlabelledControls(page)).toEqual([]);
    // The editor's gutter takes the page's colours, dark as light (not CodeMirror's own grey).
    for (const colorScheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme });
      const [gutter, codeBg] = await page.evaluate(() => {
        const probe = document.createElement('div');
        probe.style.background = 'var(--code-bg)';
        document.body.append(probe);
        const colours = [
          getComputedStyle(document.querySelector('.cm-gutters')!).backgroundColor,
          getComputedStyle(probe).backgroundColor,
        ];
        probe.remove();
        return colours;
      });
      expect(gutter, colorScheme).toBe(codeBg);
    }
    await page.emulateMedia({ colorScheme: 'light' });
    await screenshots('settings');

    await page.goto(`${url}/export`);
    await expect(page.locator('#state').textContent()).resolves.toContain(
      `bucket ${target.config.bucket}`,
    );
  });

  it("tests the connection: success, then S3's error for a wrong secret", async () => {
    await page.goto(`${url}/settings`);
    await page.getByRole('button', { name: 'Test connection' }).click();
    await page.locator('#config-problems .success', { hasText: 'Connection works' }).waitFor();
    await page.locator('.cm-content').fill(configText({ secret: 'wrong-secret' }));
    await page.getByRole('button', { name: 'Test connection' }).click();
    const failure = page.locator('#config-problems .alert');
    await failure.waitFor();
    expect(await failure.textContent()).toMatch(/Connection failed at ".+": SignatureDoesNotMatch/);
    // S3's code once, and one full stop at the end of its message.
    expect(await failure.textContent()).not.toMatch(
      /SignatureDoesNotMatch: SignatureDoesNotMatch|\.\./,
    );
    // Edited and tested, the editor keeps its own look (its class was lost here once).
    expect(await page.locator('.cm-editor.editor').count()).toBe(1);
    await screenshots('settings-test-failed');
    // Nothing was saved by testing.
    expect(readFileSync(configPath, 'utf8')).toContain(target.config.secretAccessKey);
  });

  it('exports now, and lists the file written', async () => {
    await page.goto(`${url}/export`);
    await expect(page.locator('[data-field="pending"]').textContent()).resolves.toMatch(
      new RegExp(`^${CAPTURES} records`),
    );
    await page.getByRole('button', { name: 'Export now' }).click();
    await page
      .locator('[data-result="export-now"]', { hasText: `Wrote 1 file with ${CAPTURES} records.` })
      .waitFor();
    await expect(page.locator('[data-field="pending"]').textContent()).resolves.toMatch(
      /^0 records/,
    );
    const key = (await page.locator('table.files tbody tr td code').first().textContent())!;
    expect(key).toMatch(new RegExp(`^${target.prefix}dash/ts-aperture-export-\\d+\\.cbor\\.zstd$`));
    const cells = await page
      .locator('table.files tbody tr')
      .first()
      .locator('td')
      .allTextContents();
    expect(cells[2]).toBe(String(CAPTURES));
    const object = await target.client().getObject(key);
    expect(cells[3]).toMatch(/KiB|MiB/);
    expect(object.byteLength).toBeGreaterThan(0);
    expect(await unlabelledControls(page)).toEqual([]);
    await screenshots('export');
  });

  it('refuses a change without the CSRF token, and signs out', async () => {
    await page.goto(`${url}/export`);
    const statuses = await page.evaluate(async () => {
      const forged = await fetch('/api/export/run', { method: 'POST' });
      const wrong = await fetch('/api/export/run', {
        method: 'POST',
        headers: { 'x-csrf-token': 'not-it' },
      });
      return [forged.status, wrong.status];
    });
    expect(statuses).toEqual([403, 403]);
    // Keyboard only: Tab reaches the sign-out button; Enter presses it.
    await page.locator('body').focus();
    for (let i = 0; i < 10; i++) {
      await page.keyboard.press('Tab');
      const focused = await page.evaluate(() => document.activeElement?.textContent?.trim());
      if (focused === 'Sign out') break;
    }
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/login$/);
    await page.goto(`${url}/usage`);
    expect(new URL(page.url()).pathname).toBe('/login');
  });
});
