/**
 * The Python and Go readers printed in docs/export-format.md, run as they are written against
 * a file from the codec: the documentation stays true to the format.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeExportFile } from '../src/index.ts';
import { makeRecords } from '../src/testing/fixtures.ts';
import { PYTHON, pythonReadersMissing } from './external-tools.ts';
import { vectorRecords } from './vectors.ts';

const doc = readFileSync(new URL('../../../docs/export-format.md', import.meta.url), 'utf8');
const snippet = (language: string): string => {
  const match = new RegExp(`\`\`\`${language}\\n([\\s\\S]*?)\`\`\``).exec(doc);
  if (!match) throw new Error(`docs/export-format.md has no ${language} snippet`);
  return match[1]!;
};

const scratch = mkdtempSync(join(tmpdir(), 'codec-docs-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const records = [...vectorRecords(), ...makeRecords(10)];
const exportFile = join(scratch, 'ts-aperture-export-1764288000.cbor.zstd');
writeFileSync(exportFile, await encodeExportFile(records));

/** Go and the two libraries, from Debian's packages (golang-go, golang-github-*-dev). */
const GOCODE = '/usr/share/gocode/src/github.com';
const goMissing =
  spawnSync('go', ['version'], { stdio: 'ignore' }).status === 0 &&
  spawnSync('test', ['-d', `${GOCODE}/fxamacker/cbor`]).status === 0 &&
  spawnSync('test', ['-d', `${GOCODE}/klauspost/compress`]).status === 0
    ? undefined
    : 'Go with fxamacker/cbor and klauspost/compress is not installed (scripts/setup.sh)';
if (goMissing && process.env.CI) throw new Error(`CI must run the Go snippet: ${goMissing}`);

describe('docs/export-format.md', () => {
  it.skipIf(pythonReadersMissing)(
    `Python snippet reads an export file ${pythonReadersMissing ?? ''}`,
    () => {
      const script = join(scratch, 'read.py');
      writeFileSync(script, snippet('python'));
      const lines = execFileSync(PYTHON, [script, exportFile]).toString().trim().split('\n');
      expect(lines).toHaveLength(records.length);
      lines.forEach((line, i) => {
        const record = records[i]!;
        const iso = record.timestamp.toISOString().slice(0, 19);
        expect(line.startsWith(`${record.id} ${iso}`)).toBe(true);
        expect(line).toContain(
          ` ${record.model} ${record.usage.input_tokens} ${record.usage.output_tokens} `,
        );
      });
    },
  );

  it.skipIf(goMissing)(`Go snippet reads an export file ${goMissing ?? ''}`, () => {
    const dir = join(scratch, 'go');
    execFileSync('mkdir', ['-p', dir]);
    writeFileSync(join(dir, 'main.go'), snippet('go'));
    // Offline: the modules come from Debian's source packages, not a module proxy.
    writeFileSync(
      join(dir, 'go.mod'),
      `module snippet\n\ngo 1.19\n\nrequire (\n\tgithub.com/fxamacker/cbor/v2 v2.4.0\n\tgithub.com/klauspost/compress v1.15.12\n)\n\n` +
        `require (\n\tgithub.com/cespare/xxhash v1.1.0 // indirect\n\tgithub.com/x448/float16 v0.8.4 // indirect\n)\n\n` +
        `replace (\n\tgithub.com/fxamacker/cbor/v2 => ${GOCODE}/fxamacker/cbor\n\tgithub.com/klauspost/compress => ${GOCODE}/klauspost/compress\n` +
        `\tgithub.com/x448/float16 => ${GOCODE}/x448/float16\n\tgithub.com/cespare/xxhash => ${GOCODE}/cespare/xxhash\n)\n`,
    );
    const output = execFileSync('go', ['run', '.', exportFile], {
      cwd: dir,
      env: {
        ...process.env,
        GOPROXY: 'off',
        GOFLAGS: '-mod=mod',
        GOCACHE: join(tmpdir(), 'aperture-go-cache'),
      },
    });
    const expected = records.map((record) => {
      const at = record.timestamp.toISOString().replace(/\.?0+Z$/, 'Z');
      const rawLength = record.capture?.request.raw_body?.length ?? 0;
      return `${record.id} ${at} ${record.model} ${record.usage.input_tokens} ${rawLength}`;
    });
    expect(output.toString().trim().split('\n')).toEqual(expected);
  });
});
