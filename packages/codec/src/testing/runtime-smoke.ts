/**
 * The codec on Bun and Deno, whose own test runners call this suite from runtime-tests/
 * (vitest runs on Node only). It covers what differs by runtime: the native zstd engine,
 * compression threads, byte-identical CBOR, and that an independent reader accepts what the
 * native engine writes.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toHex, vectorCbor, vectorRecords, ZSTD_VECTORS, zstdVector } from '../../test/vectors.ts';
import { encodeRecord, encodeRecords } from '../cbor-seq.ts';
import { decodeExportFile, encodeExportFile } from '../export-file.ts';
import { recordToJson } from '../json-mapping.ts';
import { splitFrames } from '../zstd/frames.ts';
import { loadZstd } from '../zstd/index.ts';
import { createThreadedZstd } from '../zstd/threaded.ts';
import { makeRecords } from './fixtures.ts';

type Test = (name: string, fn: () => Promise<void> | void) => void;

const PYTHON = '/usr/bin/python3';
const reader = new URL('../../test/interop/read_export.py', import.meta.url).pathname;

export function codecSmokeTests(test: Test): void {
  test('encodes the golden vectors to the same bytes as on Node', () => {
    const expected = vectorCbor();
    vectorRecords().forEach((record, i) => {
      assert.equal(toHex(encodeRecord(record)), toHex(expected[i]!));
    });
  });

  test('picks the native zstd engine automatically', async () => {
    assert.equal((await loadZstd()).name, 'native');
  });

  test('the WASM engine compresses on threads of its own, and idle threads are closed', async () => {
    const threaded = await createThreadedZstd({ threads: 2 });
    assert.ok(threaded, 'this runtime starts threads through node:worker_threads');
    try {
      const wasm = await loadZstd('wasm');
      const inputs = [10, 20, 30].map((n) => encodeRecords(makeRecords(n)));
      const frames = await Promise.all(
        inputs.map((input) => {
          async function* one() {
            yield input;
          }
          return threaded.compressStream(one(), input.byteLength, 3);
        }),
      );
      frames.forEach((frame, i) => {
        assert.equal(toHex(frame), toHex(wasm.compress(inputs[i]!, 3)));
      });
    } finally {
      await threaded.close();
    }
  });

  test('the native engine writes the next frame into the memory of a frame handed back', async () => {
    const native = await loadZstd('native');
    // The second file is the smaller, so that the first one's memory fits it.
    const inputs = [31, 30].map((n) => encodeRecords(makeRecords(n)));
    async function* one(input: Uint8Array) {
      yield input;
    }
    const first = await native.compressStream(one(inputs[0]!), inputs[0]!.byteLength, 3);
    const kept = first.slice();
    native.release?.(first);
    const second = await native.compressStream(one(inputs[1]!), inputs[1]!.byteLength, 3);
    assert.ok(second.buffer === first.buffer, 'the memory handed back is reused');
    const wasm = await loadZstd('wasm');
    assert.equal(toHex(wasm.decompressFrame(kept, inputs[0]!.byteLength)), toHex(inputs[0]!));
    assert.equal(toHex(wasm.decompressFrame(second, inputs[1]!.byteLength)), toHex(inputs[1]!));
  });

  test('native and WASM engines write one sized frame and read each other', async () => {
    const native = await loadZstd('native');
    const wasm = await loadZstd('wasm');
    const records = makeRecords(40);
    const fromNative = await encodeExportFile(records, { zstd: native });
    const frames = splitFrames(fromNative);
    assert.equal(frames.length, 1);
    assert.ok(frames[0]!.contentSize! > 0);
    assert.deepEqual(await decodeExportFile(fromNative, { zstd: wasm }), records);
    const fromWasm = await encodeExportFile(records, { zstd: wasm });
    assert.deepEqual(await decodeExportFile(fromWasm, { zstd: native }), records);
  });

  test('both engines decode the zstd CLI’s files: checksums, no content size, several frames', async () => {
    for (const engine of [await loadZstd('native'), await loadZstd('wasm')]) {
      for (const name of ZSTD_VECTORS) {
        assert.deepEqual(
          await decodeExportFile(zstdVector(name), { zstd: engine }),
          vectorRecords(),
          `${engine.name} ${name}`,
        );
      }
    }
  });

  test('replaces lone surrogates in short and long strings, as on Node', async () => {
    const [record] = makeRecords(1);
    record!.model = 'm\ud800';
    record!.capture!.response.body = { 'k\udc00': `${'long '.repeat(20)}\ud800` };
    for (const engine of [await loadZstd('native'), await loadZstd('wasm')]) {
      const [decoded] = await decodeExportFile(await encodeExportFile([record!], { zstd: engine }));
      assert.equal(decoded!.model, 'm\ufffd');
      assert.deepEqual(decoded!.capture!.response.body, {
        'k\ufffd': `${'long '.repeat(20)}\ufffd`,
      });
    }
  });

  test('native streaming compression writes one sized frame from chunks', async () => {
    const native = await loadZstd('native');
    // Several megabytes, so zlib gets several full staging buffers, in chunks smaller and
    // larger than one buffer.
    const cbor = encodeRecords(makeRecords(150));
    assert.ok(cbor.length > 4 * 1024 * 1024, `${cbor.length} bytes`);
    const sizes = [10_000, 1_500_000, 777, 2_100_000];
    async function* chunks() {
      for (let at = 0, i = 0; at < cbor.length; i++) {
        const size = sizes[i % sizes.length]!;
        yield cbor.subarray(at, at + size);
        at += size;
      }
    }
    const file = await native.compressStream(chunks(), cbor.length, 3);
    const [frame, ...more] = splitFrames(file);
    assert.equal(more.length, 0);
    assert.equal(frame!.contentSize, cbor.length);
    assert.deepEqual(
      await decodeExportFile(file, { zstd: await loadZstd('wasm') }),
      makeRecords(150),
    );
    await assert.rejects(
      native.compressStream(chunks(), cbor.length + 1, 3),
      /expected \d+ bytes to compress/,
    );
  });

  test('Python reads a native-engine file with one zstandard decompress() call', async () => {
    const probe = spawnSync(PYTHON, ['-c', 'import cbor2, zstandard'], { stdio: 'ignore' });
    assert.equal(
      probe.status,
      0,
      'Python cbor2 + zstandard are needed (scripts/setup.sh installs them)',
    );
    const scratch = mkdtempSync(join(tmpdir(), 'codec-runtime-'));
    try {
      const records = [...vectorRecords(), ...makeRecords(20)];
      const file = join(scratch, 'native.cbor.zstd');
      writeFileSync(file, await encodeExportFile(records, { zstd: await loadZstd('native') }));
      const seen = JSON.parse(execFileSync(PYTHON, [reader, 'single-call', file]).toString());
      assert.deepEqual(seen.problems, []);
      assert.deepEqual(seen.records, JSON.parse(JSON.stringify(records.map(recordToJson))));
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });
}
