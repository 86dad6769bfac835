/**
 * Gateway benchmark: the same chat requests straight to a provider, through a minimal proxy
 * (the reference: the least any Node proxy adds here) and through the gateway, in one run. The
 * provider is the fake one (its own process; `--delays` adds thinking time before each answer,
 * as a real model has); the gateway is the bundle `pnpm start` runs, in its own process,
 * recording every request to SQLite.
 *
 *   node --import tsx bench/gateway.bench.ts [--seconds 10] [--connections 16] [--delays 0,20]
 *        [--requests 300]
 *
 * - Under load: wrk, 16 connections: requests/s and latency p50/p99 of whole answers.
 * - One at a time (`--requests` rounds, the three targets in turn in each round, so that a
 *   machine that slows down slows all three): the latency of a whole answer, and the time to
 *   the first byte of a streamed one's body. Added latency is the difference from direct.
 *   `--seconds 0` runs these alone, without the load (for comparing two bundles in turn,
 *   with BENCH_SKIP_BUILD=1).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
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
const rounds = Number(values.requests ?? 300);
const CLIENT = 'bench-gateway-client';
const CHAT = { model: 'gpt-4o', messages: [{ role: 'user', content: 'Weather?' }] };

/** A bench child process that prints its base URL on its first line. */
async function startChild(file: string, args: string[]) {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', new URL(file, import.meta.url).pathname, ...args],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const baseUrl = await new Promise<string>((resolve, reject) => {
    child.stdout!.once('data', (chunk) => resolve(String(chunk).trim()));
    child.on('exit', (code) => reject(new Error(`${file} exited with ${code}`)));
  });
  return { baseUrl, stop: () => child.kill('SIGKILL') };
}

function chatScript(dir: string, token: string): string {
  const path = join(dir, `chat-${token}.lua`);
  writeFileSync(
    path,
    `wrk.method = "POST"
wrk.body = ${lua(JSON.stringify(CHAT))}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = ${lua(`Bearer ${token}`)}
${WRK_DONE}`,
  );
  return path;
}

interface Target {
  name: string;
  url: string;
  token: string;
  /** One keep-alive connection for the requests one at a time. */
  agent: Agent;
  whole: number[];
  firstByte: number[];
}

/** One request: milliseconds to the first byte of the answer's body, and to its end. */
function timeOne(target: Target, stream: boolean): Promise<{ first: number; end: number }> {
  const body = JSON.stringify({ ...CHAT, stream });
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const outgoing = request(
      target.url,
      {
        method: 'POST',
        agent: target.agent,
        headers: {
          authorization: `Bearer ${target.token}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (incoming) => {
        let first = 0;
        incoming.on('data', () => {
          first ||= performance.now() - started;
        });
        incoming.on('end', () => resolve({ first, end: performance.now() - started }));
        incoming.on('error', reject);
      },
    );
    outgoing.on('error', reject);
    outgoing.end(body);
  });
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
    const provider = await startChild('fake-provider-child.ts', [String(delay)]);
    const proxy = await startChild('minimal-proxy-child.ts', [provider.baseUrl, FAKE_KEYS.openai]);
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
      const target = (name: string, url: string, token: string): Target => ({
        name,
        url,
        token,
        agent: new Agent({ keepAlive: true, maxSockets: 1 }),
        whole: [],
        firstByte: [],
      });
      const targets = [
        target('direct', `${provider.baseUrl}/chat/completions`, FAKE_KEYS.openai),
        target('minimal proxy (reference)', `${proxy.baseUrl}/v1/chat/completions`, 'unused'),
        target('gateway', `${gateway.url}/v1/chat/completions`, CLIENT),
      ];
      const loads = new Map<Target, Load>();
      const noLoad: Load = { requests: 0, perSecond: 0, p50Ms: 0, p99Ms: 0, maxMs: 0, errors: 0 };
      for (const one of targets)
        loads.set(
          one,
          seconds === 0
            ? noLoad
            : runWrk(one.url, { seconds, connections, script: chatScript(scratch, one.token) }),
        );
      for (let i = 0; i < rounds; i++) {
        for (const one of targets) {
          one.whole.push((await timeOne(one, false)).end);
          one.firstByte.push((await timeOne(one, true)).first);
        }
      }
      const direct = targets[0]!;
      const ms = (value: number) => value.toFixed(2);
      for (const one of targets) {
        const load = loads.get(one)!;
        const directLoad = loads.get(direct)!;
        const line = {
          delayMs: delay,
          target: one.name,
          perSecond: Math.round(load.perSecond),
          ofDirect: Math.round((100 * load.perSecond) / (directLoad.perSecond || 1)),
          loadP50: load.p50Ms,
          loadP99: load.p99Ms,
          p50: percentile(one.whole, 0.5),
          p99: percentile(one.whole, 0.99),
          firstByteP50: percentile(one.firstByte, 0.5),
          firstByteP99: percentile(one.firstByte, 0.99),
          errors: load.errors,
        };
        console.log(JSON.stringify(line));
        const added = (mine: number, theirs: number) => (one === direct ? '—' : ms(mine - theirs));
        rows.push(
          `| ${delay} | ${one.name} | ${line.perSecond} | ${line.ofDirect}% | ` +
            `${ms(line.loadP50)} / ${ms(line.loadP99)} | ${added(line.loadP50, directLoad.p50Ms)} / ${added(line.loadP99, directLoad.p99Ms)} | ` +
            `${ms(line.p50)} / ${ms(line.p99)} | ${added(line.p50, percentile(direct.whole, 0.5))} / ${added(line.p99, percentile(direct.whole, 0.99))} | ` +
            `${ms(line.firstByteP50)} / ${ms(line.firstByteP99)} | ${added(line.firstByteP50, percentile(direct.firstByte, 0.5))} | ${line.errors} |`,
        );
      }
    } finally {
      await gateway.stop();
      proxy.stop();
      provider.stop();
    }
  }
  console.log(
    `\nNode ${process.versions.node}; under load: wrk -t2 -c${connections} ${seconds} s; one at a time: ${rounds} rounds\n`,
  );
  console.log(
    '| provider delay ms | through | req/s under load | of direct | p50 / p99 ms under load | added p50 / p99 | one at a time p50 / p99 ms | added p50 / p99 | stream first byte p50 / p99 ms | added first byte p50 | errors |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const row of rows) console.log(row);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
process.exit(0);
