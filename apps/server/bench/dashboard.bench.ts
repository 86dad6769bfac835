/// <reference lib="dom" />
/**
 * Dashboard benchmark: how long the Usage page takes with 100,000 records in the store, in
 * headless Chromium against the bundled server (as `pnpm start` runs it). Two numbers per
 * window: the server's answer for the page (the store's totals and time series, rendered),
 * and the whole page in the browser, from navigation to its three charts drawn. The
 * reference, in the same run: the same page on an empty store.
 *
 *   node --import tsx bench/dashboard.bench.ts [--records 100000] [--runs 7]
 *
 * Records are spread evenly over the last 30 days, with small captures (the page reads only
 * the records' usage columns; their content sits in another table). Needs Chromium
 * (apt-get install -y chromium); says so and skips without it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { makeRecords } from '@aperture-export/codec/testing';
import type { NewCapture } from '@aperture-export/core';
import { openSqliteStore } from '@aperture-export/core/sqlite-node';
import { chromiumMissing, launchChromium } from '../test/browser.ts';
import { buildBundle, startBundledServer } from './harness.ts';

const { values } = parseArgs({
  options: { records: { type: 'string' }, runs: { type: 'string' } },
});
const RECORDS = Number(values.records ?? 100_000);
const RUNS = Number(values.runs ?? 7);
const ADMIN = 'bench-admin-token';
const DAY_MS = 86_400_000;

function captures(count: number): NewCapture[] {
  const templates = makeRecords(40, 3);
  const now = Date.now();
  return Array.from({ length: count }, (_unused, i) => {
    const { id: _, capture, ...record } = templates[i % templates.length]!;
    return {
      ...record,
      timestamp: new Date(now - Math.floor((i / count) * 30 * DAY_MS)),
      capture_id: `bench-${i}`,
      capture: {
        request: { method: 'POST', headers: {}, body: { model: record.model, messages: [] } },
        response: { headers: {}, body: { ok: true } },
        tool_uses: [],
      },
    };
  });
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;

async function measure(dataDir: string, label: string) {
  const configPath = join(dataDir, 'aperture.hujson');
  writeFileSync(configPath, '{}');
  const server = await startBundledServer({
    dataDir,
    configPath,
    env: { APERTURE_ADMIN_TOKEN: ADMIN },
  });
  const browser = await launchChromium();
  try {
    const login = await fetch(`${server.url}/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `token=${ADMIN}`,
      redirect: 'manual',
    });
    const [name, value] = /aperture_session=[^;]+/
      .exec(login.headers.get('set-cookie')!)![0]
      .split('=');
    const context = await browser.newContext();
    await context.addCookies([{ name: name!, value: value!, url: server.url }]);
    const page = await context.newPage();
    const rows = [];
    for (const window of ['24h', '30d']) {
      const path = `${server.url}/usage?window=${window}`;
      const serverMs: number[] = [];
      const pageMs: number[] = [];
      for (let run = 0; run < RUNS + 1; run++) {
        const started = performance.now();
        const response = await fetch(path, { headers: { cookie: `${name}=${value}` } });
        await response.text();
        const answered = performance.now() - started;
        await page.goto(path);
        await page.waitForFunction(() => performance.getEntriesByName('charts-drawn').length > 0);
        // Milliseconds from the start of navigation to the charts drawn (usage.ts marks it).
        const drawn = await page.evaluate(
          () => performance.getEntriesByName('charts-drawn')[0]!.startTime,
        );
        if (run === 0) continue; // warm-up
        serverMs.push(answered);
        pageMs.push(drawn);
      }
      rows.push({ label, window, serverMs: median(serverMs), pageMs: median(pageMs) });
    }
    // The Requests page: its first 50 records and the filter lists (30 days of models and logins).
    const requestsMs: number[] = [];
    for (let run = 0; run < RUNS + 1; run++) {
      const started = performance.now();
      await (
        await fetch(`${server.url}/requests`, { headers: { cookie: `${name}=${value}` } })
      ).text();
      if (run > 0) requestsMs.push(performance.now() - started);
    }
    console.log(`${label}: /requests answered in ${median(requestsMs).toFixed(0)} ms (median)`);
    return rows;
  } finally {
    await browser.close();
    await server.stop();
  }
}

if (chromiumMissing) {
  console.log(`dashboard benchmark skipped: ${chromiumMissing}`);
} else {
  buildBundle();
  const full = mkdtempSync(join(tmpdir(), 'dashboard-bench-'));
  const empty = mkdtempSync(join(tmpdir(), 'dashboard-bench-empty-'));
  try {
    const store = openSqliteStore(join(full, 'captures.sqlite'));
    const all = captures(RECORDS);
    const seeding = performance.now();
    for (let i = 0; i < all.length; i += 1000) await store.append(all.slice(i, i + 1000));
    await store.close();
    console.log(
      `seeded ${RECORDS} records in ${((performance.now() - seeding) / 1000).toFixed(1)} s`,
    );
    const rows = [
      ...(await measure(empty, 'empty store (reference)')),
      ...(await measure(full, `${RECORDS.toLocaleString('en-US')} records`)),
    ];
    console.log('\n| store | window | server answer (median) | page with charts drawn (median) |');
    console.log('| --- | --- | --- | --- |');
    for (const row of rows)
      console.log(
        `| ${row.label} | ${row.window} | ${row.serverMs.toFixed(0)} ms | ${row.pageMs.toFixed(0)} ms |`,
      );
    console.log(`\n(${RUNS} runs each after a warm-up; Node ${process.versions.node})`);
  } finally {
    rmSync(full, { recursive: true, force: true });
    rmSync(empty, { recursive: true, force: true });
  }
}
