/**
 * The server as users run it, killed: `aperture serve` (the bundle) is SIGKILLed a dozen times
 * at random moments while captures keep arriving and it exports every second through an S3
 * that fails every 9th request; then one fresh server. Every capture a client sent (retrying
 * with the same capture_id until it was answered) is in the bucket exactly once, within a minute.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeExportFile, recordToJson } from '@aperture-export/codec';
import { makeRecords, seededRandom } from '@aperture-export/codec/testing';
import { S3_FAULTS, type S3Target, startS3Target } from '@aperture-export/testcontainers';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { bundleServe, exporterConfig, type ServerProcess, startServer, TOKENS } from './helpers.ts';

const scratch = mkdtempSync(join(tmpdir(), 'crash-test-'));
let target: S3Target;
beforeAll(async () => {
  target = await startS3Target(); // the bundle is built by test/build-bundle.ts
});
afterAll(async () => {
  await target?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

it('serve, SIGKILLed a dozen times while exporting through a faulty S3: every capture once', async () => {
  const random = seededRandom(13);
  const proxy = await target.withFaults();
  // Every 9th request fails (S3's 500): the client retries it.
  proxy.faults.add({
    nth: Array.from({ length: 5000 }, (_, i) => 9 * (i + 1)),
    fault: S3_FAULTS.internalError,
  });
  const prefix = `${target.prefix}/crash-serve`;
  const config = join(scratch, 'aperture.hujson');
  writeFileSync(
    config,
    JSON.stringify({
      exporters: {
        s3: exporterConfig(target, { endpoint: proxy.endpoint, prefix, every: 1, limit: 7 }),
      },
    }),
  );
  const data = join(scratch, 'data');
  mkdirSync(data);
  const start = () => startServer(bundleServe(data, config), scratch);

  // The captures clients send, each until it is answered (a retry keeps its capture_id).
  const sent = makeRecords(400, 17).map(({ id: _, ...record }) =>
    recordToJson({ id: 0, ...record }),
  );
  const answered = new Map<string, number>(); // capture_id -> id
  let next = 0;
  /** Sends captures (1-3 per request) until `stop`; what failed is sent again later. */
  const feed = async (url: string, stop: { now: boolean }) => {
    while (!stop.now && next < sent.length) {
      const batch = sent.slice(next, next + 1 + Math.floor(random() * 3));
      const body = batch.map(({ id: _, ...capture }) => capture);
      try {
        const response = await fetch(`${url}/v1/captures`, {
          method: 'POST',
          headers: { authorization: `Bearer ${TOKENS.ingest}`, 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
        if (!response.ok) throw new Error(`status ${response.status}`);
        const { ids } = (await response.json()) as { ids: number[] };
        batch.forEach((capture, i) => {
          const known = answered.get(capture.capture_id as string);
          // A retry is answered with the id the first delivery got.
          if (known !== undefined) expect(ids[i]).toBe(known);
          answered.set(capture.capture_id as string, ids[i]!);
        });
        next += batch.length;
      } catch {
        return; // the server died: the same batch goes again to the next one
      }
      await sleep(5);
    }
  };

  const servers: ServerProcess[] = [];
  try {
    for (let kill = 0; kill < 12; kill++) {
      const running = start();
      servers.push(running);
      const url = await running.url;
      const stop = { now: false };
      const feeding = feed(url, stop);
      await sleep(300 + Math.floor(random() * 1500));
      running.stop(); // SIGKILL, wherever it is: ingesting, claiming, uploading, marking
      stop.now = true;
      await feeding;
      await running.exited;
    }
    // A fresh server: the rest of the captures, then everything exported within a minute.
    const last = start();
    servers.push(last);
    const url = await last.url;
    while (next < sent.length) await feed(url, { now: false });
    expect(answered.size).toBe(sent.length);
    const deadline = Date.now() + 60_000;
    for (;;) {
      const status = await (
        await fetch(`${url}/api/export/status`, {
          headers: { authorization: `Bearer ${TOKENS.admin}` },
        })
      ).json();
      if (status.pendingRecords === 0) break;
      if (Date.now() > deadline)
        throw new Error(`still pending after a minute: ${JSON.stringify(status)}`);
      await sleep(250);
    }
  } finally {
    for (const running of servers) running.stop();
  }

  // The bucket alone: every capture sent, exactly once, with the id it was answered with.
  const client = target.client();
  const seen = new Map<string, number[]>();
  for await (const object of client.listAllObjects(`${prefix}/`)) {
    for (const record of await decodeExportFile(await client.getObject(object.key))) {
      seen.set(record.capture_id, [...(seen.get(record.capture_id) ?? []), record.id]);
    }
  }
  const twice = [...seen].filter(([, ids]) => ids.length > 1);
  const missing = sent.filter((capture) => !seen.has(capture.capture_id as string));
  expect({ twice, missing: missing.length, total: seen.size }).toEqual({
    twice: [],
    missing: 0,
    total: sent.length,
  });
  for (const [captureId, [id]] of seen) expect(id).toBe(answered.get(captureId));
  // The faults really happened, and the uploads went through them.
  expect(
    proxy.requests.filter((request) => request.fault === 'InternalError').length,
  ).toBeGreaterThan(5);
}, 180_000);
