import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { encodeRecords } from '../cbor-seq.ts';
import { makeRecords } from '../testing/fixtures.ts';
import { splitFrames } from './frames.ts';
import { type CompressionThread, nodeThreads } from './thread-node.ts';
import { createThreadedZstd, type ThreadedZstd } from './threaded.ts';
import { createWasmZstd } from './wasm.ts';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const cbor = encodeRecords(makeRecords(40));
const reference = await createWasmZstd();

async function* chunksOf(bytes: Uint8Array, size: number) {
  for (let at = 0; at < bytes.byteLength; at += size) yield bytes.subarray(at, at + size);
}

const engines: ThreadedZstd[] = [];
async function threaded(
  threads: number,
  spawn?: typeof nodeThreads extends () => infer S ? S : never,
) {
  const engine = await createThreadedZstd({ threads, spawn });
  if (!engine) throw new Error('this runtime starts no threads');
  engines.push(engine);
  return engine;
}
afterAll(() => Promise.all(engines.map((engine) => engine.close())));

describe('threaded WASM zstd engine', () => {
  it('compresses on a thread to the same single sized frame as on this thread', async () => {
    const zstd = await threaded(1);
    expect(zstd.threads).toBe(1);
    const frame = await zstd.compressStream(chunksOf(cbor, 4099), cbor.byteLength, 3);
    expect(hex(frame)).toBe(hex(reference.compress(cbor, 3)));
    const frames = splitFrames(frame);
    expect(frames).toHaveLength(1);
    expect(frames[0]!.contentSize).toBe(cbor.byteLength);
    expect(hex(zstd.decompressFrame(frame, cbor.byteLength))).toBe(hex(cbor));
  });

  it('compresses several files at once, each to its own frame', async () => {
    const zstd = await threaded(2);
    const inputs = [1, 2, 3, 4, 5].map((n) => encodeRecords(makeRecords(10 * n)));
    const frames = await Promise.all(
      inputs.map((input) => zstd.compressStream(chunksOf(input, 10_000), input.byteLength, 3)),
    );
    frames.forEach((frame, i) => {
      expect(hex(reference.decompressFrame(frame, inputs[i]!.byteLength))).toBe(hex(inputs[i]!));
    });
  });

  it('writes the next frame into the memory of a frame handed back', async () => {
    const zstd = await threaded(1);
    const first = await zstd.compressStream(chunksOf(cbor, 8192), cbor.byteLength, 3);
    const kept = await zstd.compressStream(chunksOf(cbor, 8192), cbor.byteLength, 3);
    zstd.release?.(first);
    const second = await zstd.compressStream(chunksOf(cbor, 8192), cbor.byteLength, 3);
    // The memory handed back carried the next file to the thread (and so left this one)...
    expect(first.byteLength).toBe(0);
    // ...while a frame not handed back is never touched.
    expect(kept.byteLength).toBeGreaterThan(0);
    expect(hex(second)).toBe(hex(kept));
  });

  it('rejects a stream shorter or longer than announced, and goes on with the next', async () => {
    const zstd = await threaded(1);
    // More failures than the pieces there are: each must give its pieces back.
    for (let i = 0; i < 3; i++) {
      await expect(
        zstd.compressStream(chunksOf(cbor, 1000), cbor.byteLength + 1, 3),
      ).rejects.toThrow(
        `expected ${cbor.byteLength + 1} bytes to compress, got ${cbor.byteLength}`,
      );
      await expect(
        zstd.compressStream(chunksOf(cbor, 1000), cbor.byteLength - 1, 3),
      ).rejects.toThrow('got more');
    }
    const frame = await zstd.compressStream(chunksOf(cbor, 1000), cbor.byteLength, 3);
    expect(hex(reference.decompressFrame(frame, cbor.byteLength))).toBe(hex(cbor));
  });

  it('sends a file many pieces long while pieces come back for reuse', async () => {
    const zstd = await threaded(1);
    // 40 MiB: ten pieces, more than exist at once.
    const big = new Uint8Array(40 * 1024 * 1024);
    for (let at = 0; at < big.byteLength; at += cbor.byteLength)
      big.set(cbor.subarray(0, Math.min(cbor.byteLength, big.byteLength - at)), at);
    const frame = await zstd.compressStream(chunksOf(big, 30_000), big.byteLength, 3);
    expect(hex(frame)).toBe(hex(reference.compress(big, 3)));
  });

  it('fails the files of a thread that died, and starts a new thread for the next', async () => {
    const spawned: CompressionThread[] = [];
    const spawnNode = nodeThreads()!;
    const zstd = await threaded(1, (body) => {
      const thread = spawnNode(body);
      spawned.push(thread);
      return thread;
    });
    await zstd.compressStream(chunksOf(cbor, 8192), cbor.byteLength, 3);
    const big = new Uint8Array(64 * 1024 * 1024).fill(3);
    const pending = zstd.compressStream(chunksOf(big, 1 << 20), big.byteLength, 19);
    await spawned[0]!.terminate();
    await expect(pending).rejects.toThrow(/zstd \(wasm\) thread failed: the thread exited/);
    const frame = await zstd.compressStream(chunksOf(cbor, 8192), cbor.byteLength, 3);
    expect(spawned).toHaveLength(2);
    expect(hex(reference.decompressFrame(frame, cbor.byteLength))).toBe(hex(cbor));
  });

  /** Runs a module script in a Node process, from this package's directory. */
  const runScript = (script: string) =>
    spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: new URL('../..', import.meta.url).pathname,
      encoding: 'utf8',
      timeout: 30_000,
    });

  it('lets a process exit when its threads are idle, without close()', () => {
    const child = runScript(`
      import { createThreadedZstd } from './src/zstd/threaded.ts';
      const zstd = await createThreadedZstd({ threads: 2 });
      async function* one() { yield new Uint8Array(100_000).fill(1); }
      const frame = await zstd.compressStream(one(), 100_000, 3);
      console.log(frame.byteLength > 0 ? 'compressed' : 'empty');
    `);
    expect(child.stderr).toBe('');
    expect(child.stdout.trim()).toBe('compressed');
    expect(child.status).toBe(0);
  });

  it('keeps its thread holding the process while a file is still being sent, even after a refusal', async () => {
    // 20 MiB announced as 1 byte: the thread refuses at once, but the pieces still travel there
    // and back; a process with nothing else to do must not exit while the sender waits for them.
    const timeline: string[] = [];
    const spawnNode = nodeThreads()!;
    const zstd = await threaded(1, (body) => {
      const thread = spawnNode(body);
      return {
        ...thread,
        keepAlive(alive) {
          timeline.push(`keepAlive ${alive}`);
          thread.keepAlive(alive);
        },
      };
    });
    async function* big() {
      for (let i = 0; i < 20; i++) yield new Uint8Array(1 << 20).fill(i);
      timeline.push('all sent');
    }
    await expect(zstd.compressStream(big(), 1, 3)).rejects.toThrow(
      'expected 1 bytes to compress, got more',
    );
    // Let go only once everything was sent and every piece came back.
    await vi.waitFor(() => expect(timeline).toContain('keepAlive false'));
    expect(timeline.indexOf('keepAlive false')).toBeGreaterThan(timeline.indexOf('all sent'));
  });

  it('compresses nothing more once closed', async () => {
    const zstd = await threaded(1);
    await zstd.compressStream(chunksOf(cbor, 8192), cbor.byteLength, 3);
    await zstd.close();
    await expect(zstd.compressStream(chunksOf(cbor, 8192), cbor.byteLength, 3)).rejects.toThrow(
      'zstd (wasm) threads closed',
    );
  });

  it('refuses a thread count that is not a whole number of at least 1', async () => {
    await expect(createThreadedZstd({ threads: 0 })).rejects.toThrow(
      'zstd threads must be a whole number >= 1, got 0',
    );
  });
});
