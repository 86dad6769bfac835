/**
 * Regenerates the golden vectors from records.json. Run only when the format changes on
 * purpose, then review the diff: `pnpm --filter @aperture-export/codec vectors`.
 *
 * - records.cbor.hex: our encoding, one record per line (pinned: every runtime must match).
 * - *.zst.hex: files written by the zstd CLI in shapes our own encoder never writes
 *   (checksum, no content size, several frames, a skippable frame): the decoder must read them.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeRecord, recordFromJson } from '../../src/index.ts';

const here = new URL('./', import.meta.url);
const json = JSON.parse(readFileSync(new URL('records.json', here), 'utf8')) as unknown[];
const encoded = json.map((value, i) => {
  const parsed = recordFromJson(value);
  if (!parsed.ok) throw new Error(`records.json #${i}: ${JSON.stringify(parsed.issues)}`);
  return encodeRecord(parsed.record);
});
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
writeFileSync(new URL('records.cbor.hex', here), `${encoded.map(hex).join('\n')}\n`);

// The CLI writes the content size when it reads a file, not when it reads a pipe.
const scratch = mkdtempSync(join(tmpdir(), 'codec-vectors-'));
const zstd = (input: Uint8Array, ...args: string[]) => {
  const path = join(scratch, 'input');
  writeFileSync(path, input);
  return new Uint8Array(execFileSync('zstd', ['-q', '-c', ...args, path]));
};
const all = Buffer.concat(encoded);
const skippable = Buffer.from('502a4d1805000000736b697021', 'hex'); // magic 0x184D2A50, 5 bytes
const vectors = {
  'cli-checksum': zstd(all, '-3', '--check'),
  'cli-no-content-size': zstd(all, '-3', '--no-content-size'),
  'multi-frame': Buffer.concat([
    zstd(encoded[0]!, '-1'),
    skippable,
    zstd(Buffer.concat(encoded.slice(1)), '-19', '--no-content-size'),
  ]),
};
for (const [name, bytes] of Object.entries(vectors)) {
  writeFileSync(new URL(`${name}.zst.hex`, here), `${hex(bytes)}\n`);
}
rmSync(scratch, { recursive: true });
console.log(`wrote ${encoded.length} records and ${Object.keys(vectors).length} zstd vectors`);
