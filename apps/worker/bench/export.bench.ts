/**
 * The worker's export benchmark: one cron invocation in workerd (Miniflare) writing a file at
 * the Worker's 16 MiB budget to the local S3 target. Reports the captures it exported, the
 * invocation's CPU time (workerd's user + system time across it: D1's simulator, which runs in
 * the same process, included), its wall time and how much workerd's memory grew. The reference,
 * in the same run: Node encoding and compressing the same records with the same WASM zstd.
 *
 *   node --import tsx bench/export.bench.ts [--runs 3]
 */
import { parseArgs } from 'node:util';
import { encodeExportFile, loadZstd, recordToJson } from '@aperture-export/codec';
import { makeRecords } from '@aperture-export/codec/testing';
import { startS3Target } from '@aperture-export/testcontainers';
import { processStats, resetPeak, startWorker, workerdPids } from '../test/workerd.ts';

const { values } = parseArgs({ options: { runs: { type: 'string' } } });
const RUNS = Number(values.runs ?? 3);
const RECORDS = 720; // about 17 MiB of CBOR: a first file at the 16 MiB budget, a small second
const median = (list: number[]) => [...list].sort((a, b) => a - b)[list.length >> 1]!;

const target = await startS3Target();
const records = makeRecords(RECORDS, 65);
const sent = records.map((record) => {
  const { id: _, ...json } = recordToJson(record);
  return json;
});
const rows: Array<{
  files: number;
  records: number;
  cpuMs: number;
  wallMs: number;
  growthMb: number;
}> = [];
try {
  for (let run = 0; run < RUNS; run++) {
    const before = new Set(workerdPids());
    const worker = await startWorker({
      bindings: {
        APERTURE_ADMIN_TOKEN: 'bench-admin',
        APERTURE_INGEST_TOKEN: 'bench-ingest',
        S3_SECRET: target.config.secretAccessKey,
        APERTURE_FILES_PER_INVOCATION: '1',
        APERTURE_CONFIG: JSON.stringify({
          exporters: {
            s3: {
              endpoint: target.config.endpoint,
              bucket_name: target.config.bucket,
              region: target.config.region,
              access_key_id: target.config.accessKeyId,
              access_secret: 'env:S3_SECRET',
              prefix: `${target.prefix}bench-${run}`,
              limit: 10_000,
            },
          },
        }),
      },
    });
    await worker.fetch('/healthz');
    const pid = workerdPids().find((candidate) => !before.has(candidate))!;
    for (let i = 0; i < sent.length; i += 120) {
      const response = await worker.fetch('/v1/captures', {
        method: 'POST',
        headers: { authorization: 'Bearer bench-ingest', 'content-type': 'application/json' },
        body: JSON.stringify(sent.slice(i, i + 120)),
      });
      if (response.status !== 201) throw new Error(`ingest answered ${response.status}`);
    }
    resetPeak(pid);
    const idle = processStats(pid);
    const started = performance.now();
    await worker.scheduled();
    const wallMs = performance.now() - started;
    const after = processStats(pid);
    const status = (await (
      await worker.fetch('/api/export/status', { headers: { authorization: 'Bearer bench-admin' } })
    ).json()) as { exportedFiles: number; exportedRecords: number };
    rows.push({
      files: status.exportedFiles,
      records: status.exportedRecords,
      cpuMs: after.cpuMs - idle.cpuMs,
      wallMs,
      growthMb: (after.peakBytes - idle.rssBytes) / 2 ** 20,
    });
    await worker.stop();
  }
  // The reference: the first file's records, encoded and compressed by Node with WASM zstd.
  const zstd = await loadZstd('wasm');
  const first = records.slice(0, rows[0]!.records);
  const reference: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    const started = performance.now();
    await encodeExportFile(first, { zstd });
    reference.push(performance.now() - started);
  }
  console.log(
    '| captures exported (one invocation) | invocation CPU | wall | workerd memory growth | reference: Node encode + WASM zstd, same records |',
  );
  console.log('| --- | --- | --- | --- | --- |');
  console.log(
    `| ${rows[0]!.records} in ${rows[0]!.files} file | ${median(rows.map((r) => r.cpuMs)).toFixed(0)} ms | ${median(rows.map((r) => r.wallMs)).toFixed(0)} ms | ${median(rows.map((r) => r.growthMb)).toFixed(0)} MB | ${median(reference).toFixed(0)} ms |`,
  );
  console.log(
    `\n(median of ${RUNS} runs; each run: ${rows.map((r) => `${r.cpuMs.toFixed(0)} ms CPU, ${r.growthMb.toFixed(0)} MB`).join('; ')})`,
  );
} finally {
  await target.stop();
}
