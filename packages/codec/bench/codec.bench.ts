/**
 * Codec benchmark: encode (CBOR) + compress (zstd level 3) throughput of realistic records,
 * beside the zstd CLI compressing the same CBOR bytes in the same run, and the peak RSS of
 * writing one 10,000-record file.
 *
 *   node --import tsx bench/codec.bench.ts        WASM engine (Node 20 has no native zstd)
 *   bun bench/codec.bench.ts                      native + WASM
 *   deno run -A bench/codec.bench.ts              native + WASM
 *
 * MB are 10^6 bytes of CBOR (uncompressed) per second. Each figure is the median of
 * RUNS timed runs after one warm-up. Prints Markdown rows for BENCHMARKS.md.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CborSequenceWriter } from '../src/cbor-seq.ts';
import { compressSequence, encodeRecords, loadZstd, type ZstdEngine } from '../src/index.ts';
import { makeRecord, makeRecords, seededRandom } from '../src/testing/fixtures.ts';

const RUNS = 5;
const RECORDS = 2_000;
const RSS_RECORDS = 10_000;

const runtime =
  'Bun' in globalThis
    ? `Bun ${(globalThis as unknown as { Bun: { version: string } }).Bun.version}`
    : 'Deno' in globalThis
      ? `Deno ${(globalThis as unknown as { Deno: { version: { deno: string } } }).Deno.version.deno}`
      : `Node ${process.versions.node}`;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function time(fn: () => void): number {
  fn(); // warm-up
  const seconds: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const start = performance.now();
    fn();
    seconds.push((performance.now() - start) / 1000);
  }
  return median(seconds);
}

/** Peak resident set of this process so far, in MB (Linux VmHWM: works on every runtime). */
function peakRssMb(): number {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]);
  return kb / 1024;
}

const mb = (bytes: number) => bytes / 1e6;

async function throughput(): Promise<void> {
  const records = makeRecords(RECORDS);
  const cbor = encodeRecords(records).slice();
  const scratch = mkdtempSync(join(tmpdir(), 'codec-bench-'));
  const cborFile = join(scratch, 'records.cbor');
  writeFileSync(cborFile, cbor);

  // The reference: the zstd CLI at the same level, reading the same CBOR from a file.
  const cliSeconds = time(() => {
    execFileSync('zstd', ['-3', '-q', '-c', cborFile], { maxBuffer: 1 << 30 });
  });
  const cliVersion = execFileSync('zstd', ['--version'])
    .toString()
    .match(/v[\d.]+/)?.[0];
  const cliMbps = mb(cbor.length) / cliSeconds;
  rmSync(scratch, { recursive: true, force: true });

  const reusedWriter = new CborSequenceWriter();
  const encodeSeconds = time(() => {
    reusedWriter.reset();
    for (const record of records) reusedWriter.add(record);
  });
  const engines: ZstdEngine[] = [await loadZstd('wasm')];
  const native = await loadZstd('native').catch(() => undefined);
  if (native) engines.unshift(native);

  console.log(
    `\n${runtime}: ${RECORDS} records, ${mb(cbor.length).toFixed(1)} MB of CBOR; ` +
      `zstd CLI ${cliVersion} -3: ${cliMbps.toFixed(0)} MB/s; CBOR encode alone: ${(mb(cbor.length) / encodeSeconds).toFixed(0)} MB/s\n`,
  );
  console.log(
    '| runtime | engine | compress MB/s | encode+compress MB/s | zstd -3 CLI MB/s | ratio to CLI | file MB |',
  );
  console.log('|---|---|---|---|---|---|---|');
  for (const engine of engines) {
    let size = 0;
    const compressSeconds = time(() => {
      size = compressSequence(cbor, engine).length;
    });
    // As the exporter does: one writer whose buffer is reused from file to file.
    const writer = new CborSequenceWriter();
    const totalSeconds = time(() => {
      writer.reset();
      for (const record of records) writer.add(record);
      compressSequence(writer.finish(), engine);
    });
    const totalMbps = mb(cbor.length) / totalSeconds;
    console.log(
      `| ${runtime} | ${engine.name} | ${(mb(cbor.length) / compressSeconds).toFixed(0)} | ${totalMbps.toFixed(0)} | ` +
        `${cliMbps.toFixed(0)} | ${(totalMbps / cliMbps).toFixed(2)}x | ${mb(size).toFixed(1)} |`,
    );
  }
}

/** One 10,000-record file, records generated one at a time (as the exporter streams them). */
async function peakRss(engineName: 'wasm' | 'native'): Promise<void> {
  const engine = await loadZstd(engineName);
  const before = peakRssMb();
  const random = seededRandom(7);
  const writer = new CborSequenceWriter();
  for (let i = 0; i < RSS_RECORDS; i++) writer.add(makeRecord(i, random));
  const file = compressSequence(writer.finish(), engine);
  const after = peakRssMb();
  console.log(
    JSON.stringify({
      runtime,
      engine: engine.name,
      records: RSS_RECORDS,
      cborMb: mb(writer.byteLength),
      fileMb: mb(file.length),
      rssBeforeMb: before,
      peakRssMb: after,
    }),
  );
}

const mode = process.argv.find((arg) => arg.startsWith('--rss='));
if (mode) {
  await peakRss(mode.slice('--rss='.length) as 'wasm' | 'native');
} else {
  await throughput();
  if (process.argv.includes('--no-rss')) process.exit(0);
  // Peak RSS is per process, so each engine's 10,000-record file gets a fresh one.
  const self = process.argv[1]!;
  const engines = (await loadZstd('native').catch(() => undefined)) ? ['native', 'wasm'] : ['wasm'];
  console.log('\n| runtime | engine | records | CBOR MB | file MB | RSS before MB | peak RSS MB |');
  console.log('|---|---|---|---|---|---|---|');
  for (const engine of engines) {
    const [command, ...args] = runtimeCommand(self, `--rss=${engine}`);
    const child = spawnSync(command!, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
    if (child.status !== 0) throw new Error(`peak RSS run failed: ${child.stderr}`);
    const row = JSON.parse(child.stdout.trim().split('\n').pop()!);
    console.log(
      `| ${row.runtime} | ${row.engine} | ${row.records} | ${row.cborMb.toFixed(0)} | ${row.fileMb.toFixed(0)} | ` +
        `${row.rssBeforeMb.toFixed(0)} | ${row.peakRssMb.toFixed(0)} |`,
    );
  }
}

/** The command that runs this script again on the same runtime. */
function runtimeCommand(script: string, arg: string): string[] {
  if ('Bun' in globalThis) return [process.execPath, script, arg];
  if ('Deno' in globalThis) return [process.execPath, 'run', '-A', script, arg];
  return [process.execPath, ...process.execArgv, script, arg];
}
