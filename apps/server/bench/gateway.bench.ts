/**
 * Gateway benchmark: the same chat requests straight to a provider and through the gateway,
 * in one run. The provider is the fake one (its own process; `--delays` adds thinking time
 * before each answer, as a real model has); the gateway is the bundle `pnpm start` runs, in its
 * own process, recording every request to SQLite.
 *
 *   node --import tsx bench/gateway.bench.ts [--seconds 10] [--connections 16] [--delays 0,20]
 *        [--requests 300]
 *
 * - Whole responses, under load: wrk, 16 connections: requests/s and latency p50/p99, direct
 *   and through the gateway; added latency is the difference.
 * - Streams, one at a time: time to the first byte of the answer, direct and through the
 *   gateway (`--requests` of each, fetch from this process).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FAKE_KEYS, fakeGatewayConfig } from '@aperture-export/gateway/testing';
import {
  buildBundle,
  hasWrk,
  type Load,
  lua,
  runWrk,
  startBundledServer,
  WRK_DONE,
} from './harness.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string' },
    connections: { type: 'string' },
    delays: { type: 'string' },
    requests: { type: 'string' },
  },
});
const seconds = Number(values.seconds ?? 10);
const connections = Number(values.connections ?? 16);
const delays = (values.delays ?? '0,20').split(',').map(Number);
const streamRequests = Number(values.requests ?? 300);
const CLIENT = 'bench-gateway-client';
const CHAT = JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Weather?' }] });

/** The fake provider in a process of its own; resolves with its base URL. */
async function startProvider(delayMs: number) {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      new URL('fake-provider-child.ts', import.meta.url).pathname,
      String(delayMs),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const baseUrl = await new Promise<string>((resolve, reject) => {
    child.stdout!.once('data', (chunk) => resolve(String(chunk).trim()));
    child.on('exit', (code) => reject(new Error(`fake provider exited with ${code}`)));
  });
  return { baseUrl, stop: () => child.kill('SIGKILL') };
}

function chatScript(dir: string, token: string): string {
  const path = join(dir, `chat-${token}.lua`);
  writeFileSync(
    path,
    `wrk.method = "POST"
wrk.body = ${lua(CHAT)}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = ${lua(`Bearer ${token}`)}
${WRK_DONE}`,
  );
  return path;
}

/** Milliseconds to the first byte of a streamed answer, `count` requests one after another. */
async function firstBytes(url: string, token: string, count: number): Promise<number[]> {
  const times: number[] = [];
  const body = JSON.stringify({ ...JSON.parse(CHAT), stream: true });
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    const response = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body,
    });
    const reader = response.body!.getReader();
    await reader.read();
    times.push(performance.now() - started);
    while (!(await reader.read()).done);
  }
  return times;
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
};

if (!hasWrk()) {
  console.log('gateway bench skipped: wrk is not installed (Debian: apt-get install -y wrk)');
  process.exit(0);
}
buildBundle();
const scratch = mkdtempSync(join(tmpdir(), 'gateway-bench-'));
const rows: string[] = [];
try {
  for (const delay of delays) {
    const provider = await startProvider(delay);
    const dataDir = join(scratch, `data-${delay}`);
    const configPath = join(scratch, `config-${delay}.json`);
    writeFileSync(
      configPath,
      JSON.stringify(
        fakeGatewayConfig(provider.baseUrl, { token: CLIENT, login: 'bench@example.com' }),
      ),
    );
    const gateway = await startBundledServer({
      dataDir,
      configPath,
      env: { APERTURE_ADMIN_TOKEN: 'bench-admin', APERTURE_INGEST_TOKEN: 'bench-ingest' },
    });
    try {
      const load = (url: string, token: string): Load =>
        runWrk(url, { seconds, connections, script: chatScript(scratch, token) });
      const direct = load(`${provider.baseUrl}/chat/completions`, FAKE_KEYS.openai);
      const through = load(`${gateway.url}/v1/chat/completions`, CLIENT);
      const ttfbDirect = await firstBytes(
        `${provider.baseUrl}/chat/completions`,
        FAKE_KEYS.openai,
        streamRequests,
      );
      const ttfbGateway = await firstBytes(
        `${gateway.url}/v1/chat/completions`,
        CLIENT,
        streamRequests,
      );
      const line = {
        delayMs: delay,
        direct: {
          perSecond: Math.round(direct.perSecond),
          p50: direct.p50Ms,
          p99: direct.p99Ms,
          errors: direct.errors,
        },
        gateway: {
          perSecond: Math.round(through.perSecond),
          p50: through.p50Ms,
          p99: through.p99Ms,
          errors: through.errors,
        },
        ttfb: {
          directP50: percentile(ttfbDirect, 0.5),
          directP99: percentile(ttfbDirect, 0.99),
          gatewayP50: percentile(ttfbGateway, 0.5),
          gatewayP99: percentile(ttfbGateway, 0.99),
        },
      };
      console.log(JSON.stringify(line));
      const ms = (value: number) => value.toFixed(2);
      rows.push(
        `| ${delay} | ${line.direct.perSecond} | ${line.gateway.perSecond} | ${Math.round((100 * through.perSecond) / direct.perSecond)}% | ` +
          `${ms(direct.p50Ms)} / ${ms(direct.p99Ms)} | ${ms(through.p50Ms)} / ${ms(through.p99Ms)} | ` +
          `${ms(through.p50Ms - direct.p50Ms)} / ${ms(through.p99Ms - direct.p99Ms)} | ` +
          `${ms(line.ttfb.directP50)} / ${ms(line.ttfb.directP99)} | ${ms(line.ttfb.gatewayP50)} / ${ms(line.ttfb.gatewayP99)} | ` +
          `${ms(line.ttfb.gatewayP50 - line.ttfb.directP50)} | ${direct.errors + through.errors} |`,
      );
    } finally {
      await gateway.stop();
      provider.stop();
    }
  }
  console.log(
    `\nNode ${process.versions.node}, wrk -t2 -c${connections} ${seconds} s per load; ${streamRequests} streams one at a time\n`,
  );
  console.log(
    '| provider delay ms | direct req/s | gateway req/s | of direct | direct p50 / p99 ms | gateway p50 / p99 ms | added p50 / p99 ms | direct TTFB p50 / p99 ms | gateway TTFB p50 / p99 ms | added TTFB p50 ms | errors |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const row of rows) console.log(row);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
process.exit(0);
