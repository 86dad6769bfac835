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
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  captureFromJson,
  type ExportRecord,
  encodeRecord,
  recordToJson,
} from '@aperture-export/codec';
import { makeRecords } from '@aperture-export/codec/testing';
import type { NewCapture } from '@aperture-export/core';
import { openSqliteStore } from '@aperture-export/core/sqlite-node';
import { buildBundle, hasWrk, lua, runWrk, startBundledServer, WRK_DONE } from './harness.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string' },
    connections: { type: 'string' },
    // Writes a V8 CPU profile of each loaded server into this directory (node --cpu-prof).
    'cpu-prof': { type: 'string' },
    // Which loads to run, of healthz,1,100,store (all by default; store: the in-process references).
    loads: { type: 'string' },
  },
});
const seconds = Number(values.seconds ?? 10);
const connections = Number(values.connections ?? 16);
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
${WRK_DONE}`;
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

/**
 * Two of ingest's steps alone, in microseconds per capture (the last of three passes over 20,000
 * captures): checking a parsed capture (captureFromJson) and encoding its record's CBOR.
 */
function stepsAlone(): { checkUs: number; encodeUs: number } {
  const template = captureTemplate();
  const parsedJson = Array.from({ length: 20_000 }, (_, i) => ({
    ...template,
    capture_id: `steps-${i}`,
  }));
  const perCapture = (step: () => void) => {
    let us = 0;
    for (let pass = 0; pass < 3; pass++) {
      const started = performance.now();
      step();
      us = ((performance.now() - started) * 1000) / parsedJson.length;
    }
    return Number(us.toFixed(2));
  };
  let records: ExportRecord[] = [];
  const checkUs = perCapture(() => {
    records = parsedJson.map((json, i) => {
      const parsed = captureFromJson(json);
      if (!parsed.ok) throw new Error(`not a valid capture: ${parsed.issues[0]?.message}`);
      return { id: i + 1, ...parsed.capture } as ExportRecord;
    });
  });
  const encodeUs = perCapture(() => {
    for (const record of records) encodeRecord(record);
  });
  return { checkUs, encodeUs };
}

if (!hasWrk()) {
  console.log('ingest bench skipped: wrk is not installed (Debian: apt-get install -y wrk)');
  process.exit(0);
}
buildBundle();
const scratch = mkdtempSync(join(tmpdir(), 'ingest-bench-'));
const rows: string[] = [];
try {
  const loads = (values.loads ?? 'healthz,1,100,store').split(',');
  const runs = (
    [
      ['GET /healthz (reference)', undefined],
      ['1 capture per request', 1],
      ['100 captures per request', 100],
    ] as Array<[string, number | undefined]>
  ).filter(([, perRequest]) => loads.includes(String(perRequest ?? 'healthz')));
  for (const [name, perRequest] of runs) {
    const data = join(scratch, `data-${rows.length}`);
    const instance = await startBundledServer({
      dataDir: data,
      configPath: join(data, 'none.hujson'),
      env: { APERTURE_INGEST_TOKEN: TOKEN, APERTURE_ADMIN_TOKEN: `${TOKEN}-admin` },
      nodeFlags: values['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${values['cpu-prof']}`] : [],
    });
    try {
      let script: string | undefined;
      if (perRequest) {
        script = join(scratch, `post-${perRequest}.lua`);
        writeFileSync(script, wrkScript(perRequest));
      }
      const load = runWrk(`${instance.url}${perRequest ? '/v1/captures' : '/healthz'}`, {
        seconds,
        connections,
        script,
      });
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
  if (loads.includes('store')) {
    const steps = stepsAlone();
    console.log(JSON.stringify({ run: 'steps alone', ...steps }));
    rows.push(
      `| steps alone (reference: µs per capture, in process) | — | check ${steps.checkUs} µs, encode ${steps.encodeUs} µs | — | — | — | 0 |`,
    );
    const alone = Math.round(await storeAlone(scratch));
    console.log(JSON.stringify({ run: 'store alone', capturesPerSecond: alone }));
    rows.push(
      `| store alone (reference: 100 per append, in process) | — | ${alone} | 100 | — | — | 0 |`,
    );
  }
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
