/**
 * Files written by the codec, read by readers that share no code with it: the zstd CLI and
 * Python's cbor2 + zstandard. The records they see must be the records we wrote, with the
 * types the format promises.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type ExportRecord, encodeExportFile, loadZstd, recordToJson } from '../src/index.ts';
import { makeRecords } from '../src/testing/fixtures.ts';
import { createNativeZstd } from '../src/zstd/native.ts';
import { PYTHON, pythonReadersMissing, zstdCliMissing } from './external-tools.ts';
import { vectorRecords } from './vectors.ts';

const scratch = mkdtempSync(join(tmpdir(), 'codec-interop-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const reader = new URL('./interop/read_export.py', import.meta.url).pathname;

interface PythonView {
  records: unknown[];
  types: Array<Record<string, unknown>>;
  problems: string[];
}

function readWithPython(mode: 'single-call' | 'cbor', file: string): PythonView {
  const out = execFileSync(PYTHON, [reader, mode, file], { maxBuffer: 1 << 30 });
  return JSON.parse(out.toString('utf8')) as PythonView;
}

/** Our JSON mapping, through JSON text, so numbers compare as both sides print them. */
const asJson = (records: ExportRecord[]) =>
  JSON.parse(JSON.stringify(records.map(recordToJson))) as unknown[];

const interopRecords = [...vectorRecords(), ...makeRecords(60)];

describe.skipIf(pythonReadersMissing || zstdCliMissing)(
  `independent readers ${pythonReadersMissing ?? zstdCliMissing ?? ''}`,
  () => {
    // Node 20 has no native zstd: Bun and Deno cover that engine (runtime-tests/).
    const engines = createNativeZstd() ? (['wasm', 'native'] as const) : (['wasm'] as const);

    it.each(engines)(
      'decode a file from the %s engine with one zstandard decompress() call and with zstd -d',
      async (engineName) => {
        const engine = await loadZstd(engineName);
        const file = join(scratch, `${engineName}.cbor.zstd`);
        writeFileSync(file, await encodeExportFile(interopRecords, { zstd: engine }));
        const expected = asJson(interopRecords);

        const single = readWithPython('single-call', file);
        expect(single.problems).toEqual([]);
        expect(single.records).toEqual(expected);

        const cborFile = join(scratch, `${engineName}.cbor`);
        execFileSync('zstd', ['-d', '-q', '-f', file, '-o', cborFile]);
        const viaCli = readWithPython('cbor', cborFile);
        expect(viaCli.problems).toEqual([]);
        expect(viaCli.records).toEqual(expected);
      },
    );

    it('gives Python the promised types: datetime in UTC, bytes, ints that stay ints', async () => {
      const file = join(scratch, 'types.cbor.zstd');
      writeFileSync(file, await encodeExportFile(vectorRecords()));
      const { types } = readWithPython('single-call', file);
      for (const seen of types) {
        expect(seen).toMatchObject({
          id: 'int',
          timestamp: 'datetime',
          timestamp_tz: 'UTC',
          usage: ['int'],
          duration_ms: 'int',
          status_code: 'int',
        });
      }
      expect(types.map((seen) => seen.raw_body)).toEqual([null, 'bytes', null]);
      expect(types.map((seen) => seen.estimated_cost)).toEqual([null, 'float', 'int']);
    });

    it('the zstd CLI checks the frame and its declared size', async () => {
      const file = join(scratch, 'test.cbor.zstd');
      writeFileSync(file, await encodeExportFile(makeRecords(20)));
      execFileSync('zstd', ['-t', '-q', file]);
      const listing = execFileSync('zstd', ['-l', '-v', file]).toString();
      expect(listing).toMatch(/# Zstandard Frames: 1/);
      expect(listing).toMatch(/Decompressed Size: .*\(\d+ B\)/);
    });
  },
);
