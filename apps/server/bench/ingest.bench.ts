/**
 * Ingest benchmark: the server as `pnpm start` runs it (the bundle, on Node), loaded by wrk
 * from another process. Captures of about 2 KB in the JSON mapping, each with its own
 * capture_id: one per request (what a gateway sends, one per LLM request), and batches of 100.
 * The reference, in the same run: GET /healthz, the most requests this server answers at all.
 *
 *   node --import tsx bench/ingest.bench.ts [--seconds 10] [--connections 16]
 *
 * Needs wrk (Debian: apt-get install -y wrk). The store is a fresh SQLite file in a temporary
 * directory (synchronous = FULL: every answered capture is on disk). A second reference: the
 * store alone, in this process, appending the same captures 100 at a time (no HTTP, no JSON).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { captureFromJson, recordToJson } from '@aperture-export/codec';
import { makeRecords } from '@aperture-export/codec/testing';
import type { NewCapture } from '@aperture-export/core';
import { openSqliteStore } from '@aperture-export/core/sqlite-node';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string' },
    connections: { type: 'string' },
    // Writes a V8 CPU profile of each loaded server into this directory (node --cpu-prof).
    'cpu-prof': { type: 'string' },
  },
});
const seconds = Number(values.seconds ?? 10);
const connections = Number(values.connections ?? 16);
const server = new URL('..', import.meta.url).pathname;
const TOKEN = 'bench-ingest-token';

/** A capture of about 2 KB as a client sends it: the JSON mapping, without id. */
function captureTemplate(): Record<string, unknown> {
  const { id: _, ...json } = recordToJson(makeRecords(1, 7)[0]!) as Record<string, unknown>;
  const prompt = 'Summarise the quarterly revenue forecast for the audit. '.repeat(12);
  const answer = 'Revenue grows in the second quarter; the forecast holds. '.repeat(12);
  json.capture = {
    request: {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'openai-python/2.3.0' },
      body: { model: json.model, messages: [{ role: 'user', content: prompt }] },
    },
    response: {
      headers: { 'content-type': 'application/json' },
      body: { choices: [{ index: 0, message: { role: 'assistant', content: answer } }] },
    },
    tool_uses: [],
  };
  return json;
}

/**
 * A wrk script posting `perRequest` captures per request, each with a capture_id of its own
 * (thread number and a counter), so that none is taken for a retry of another.
 */
function wrkScript(perRequest: number): string {
  const template = JSON.stringify({ ...captureTemplate(), capture_id: '@ID@' });
  if (perRequest === 1) console.error(`capture: ${template.length} bytes of JSON`);
  const [before, after] = template.split('"@ID@"');
  const lua = (text: string) => JSON.stringify(text); // a JSON string is a valid Lua string here
  return `
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local counter = 0
local before = ${lua(before!)}
local after = ${lua(after!)}
function request()
  local parts = {}
  for i = 1, ${perRequest} do
    counter = counter + 1
    parts[i] = before .. '"cap-' .. tid .. '-' .. counter .. '"' .. after
  end
  local body = ${perRequest === 1 ? 'parts[1]' : '"[" .. table.concat(parts, ",") .. "]"'}
  return wrk.format("POST", "/v1/captures", {
    ["content-type"] = "application/json",
    ["authorization"] = "Bearer ${TOKEN}",
  }, body)
end
function done(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %.3f %.3f %.3f\\n", summary.requests,
    summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.duration, latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
`;
}

interface Load {
  requests: number;
  errors: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

function runWrk(url: string, script?: string): Load {
  const args = ['-t2', `-c${connections}`, `-d${seconds}s`, '--latency'];
  if (script) args.push('-s', script);
  const output = execFileSync('wrk', [...args, url], { encoding: 'utf8' });
  const result = /RESULT (\d+) (\d+) (\d+) ([\d.]+) ([\d.]+) ([\d.]+)/.exec(output);
  if (!result) {
    // /healthz runs without a script: read wrk's own summary.
    const rate = /Requests\/sec:\s+([\d.]+)/.exec(output)!;
    const p99 = /99%\s+([\d.]+)(us|ms|s)/.exec(output)!;
    const scale = { us: 0.001, ms: 1, s: 1000 }[p99[2] as 'us' | 'ms' | 's'];
    return {
      requests: 0,
      errors: 0,
      perSecond: Number(rate[1]),
      p50Ms: 0,
      p99Ms: Number(p99[1]) * scale,
      maxMs: 0,
    };
  }
  const [requests, errors, micros, p50, p99, max] = result.slice(1).map(Number) as number[];
  return {
    requests: requests!,
    errors: errors!,
    perSecond: requests! / (micros! / 1e6),
    p50Ms: p50!,
    p99Ms: p99!,
    maxMs: max!,
  };
}

async function startServer(dataDir: string): Promise<{ url: string; stop(): Promise<void> }> {
  const profile = values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`] : [];
  const child = spawn(
    process.execPath,
    [
      ...profile,
      join(server, 'dist/aperture.mjs'),
      'serve',
      '--port',
      '0',
      '--data',
      dataDir,
      '--config',
      join(dataDir, 'none.hujson'),
    ],
    {
      env: { ...process.env, APERTURE_INGEST_TOKEN: TOKEN, APERTURE_ADMIN_TOKEN: `${TOKEN}-admin` },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const url = await new Promise<string>((resolve, reject) => {
    let output = '';
    child.stdout!.on('data', (chunk) => {
      output += chunk;
      const match = /listening on (http:\/\/\S+)/.exec(output);
      if (match) resolve(match[1]!);
    });
    child.on('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  return {
    url,
    // SIGTERM: the server stops as in production (and writes its profile, if asked).
    stop: () =>
      new Promise<void>((resolve) => {
        child.removeAllListeners('exit');
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** The store's own speed: the same captures, parsed once, appended 100 at a time. */
async function storeAlone(dir: string): Promise<number> {
  const template = captureTemplate();
  const captures: NewCapture[] = Array.from({ length: 20_000 }, (_, i) => {
    const parsed = captureFromJson({ ...template, capture_id: `store-${i}` });
    if (!parsed.ok)
      throw new Error(`the template is not a valid capture: ${parsed.issues[0]?.message}`);
    return parsed.capture;
  });
  const store = openSqliteStore(join(dir, 'store-alone.sqlite'));
  const started = performance.now();
  for (let i = 0; i < captures.length; i += 100) await store.append(captures.slice(i, i + 100));
  const perSecond = captures.length / ((performance.now() - started) / 1000);
  await store.close();
  return perSecond;
}

try {
  execFileSync('wrk', ['--version'], { stdio: 'ignore' });
} catch (error) {
  // wrk prints its version and exits 1; only a missing binary throws ENOENT.
  if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
    console.log('ingest bench skipped: wrk is not installed (Debian: apt-get install -y wrk)');
    process.exit(0);
  }
}
execFileSync('pnpm', ['run', 'build'], { cwd: server, stdio: 'inherit' });
const scratch = mkdtempSync(join(tmpdir(), 'ingest-bench-'));
const rows: string[] = [];
try {
  const runs: Array<[string, number | undefined]> = [
    ['GET /healthz (reference)', undefined],
    ['1 capture per request', 1],
    ['100 captures per request', 100],
  ];
  for (const [name, perRequest] of runs) {
    const data = join(scratch, `data-${rows.length}`);
    const instance = await startServer(data);
    try {
      let script: string | undefined;
      if (perRequest) {
        script = join(scratch, `post-${perRequest}.lua`);
        writeFileSync(script, wrkScript(perRequest));
      }
      const load = runWrk(`${instance.url}${perRequest ? '/v1/captures' : '/healthz'}`, script);
      const metrics = await (
        await fetch(`${instance.url}/metrics`, {
          headers: { authorization: `Bearer ${TOKEN}-admin` },
        })
      ).text();
      const counter = (name: string) =>
        Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1]);
      const perTransaction =
        counter('aperture_captures_ingested_total') / counter('aperture_ingest_transactions_total');
      const captures = perRequest ? Math.round(load.perSecond * perRequest) : undefined;
      const line = {
        run: name,
        requestsPerSecond: Math.round(load.perSecond),
        capturesPerSecond: captures,
        p50Ms: load.p50Ms,
        p99Ms: load.p99Ms,
        maxMs: load.maxMs,
        errors: load.errors,
        capturesPerTransaction: perRequest ? Number(perTransaction.toFixed(1)) : undefined,
      };
      console.log(JSON.stringify(line));
      rows.push(
        `| ${name} | ${line.requestsPerSecond} | ${captures ?? '—'} | ${line.capturesPerTransaction ?? '—'} | ${perRequest ? load.p50Ms.toFixed(1) : '—'} | ${load.p99Ms.toFixed(1)} | ${load.errors} |`,
      );
    } finally {
      await instance.stop();
    }
  }
  const alone = Math.round(await storeAlone(scratch));
  console.log(JSON.stringify({ run: 'store alone', capturesPerSecond: alone }));
  rows.push(
    `| store alone (reference: 100 per append, in process) | — | ${alone} | 100 | — | — | 0 |`,
  );
  console.log(
    `\nNode ${process.versions.node}, ${connections} connections, ${seconds} s each, wrk -t2\n`,
  );
  console.log(
    '| run | requests/s | captures/s | captures per transaction | p50 ms | p99 ms | errors |',
  );
  console.log('|---|---|---|---|---|---|---|');
  for (const row of rows) console.log(row);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
