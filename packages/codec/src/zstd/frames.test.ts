import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { vectorCbor, zstdVector } from '../../test/vectors.ts';
import { splitFrames, withContentSize, ZstdFormatError } from './frames.ts';

const cliDecompress = (file: Uint8Array) =>
  new Uint8Array(execFileSync('zstd', ['-d', '-q', '-c'], { input: file }));
/** From a pipe, so the CLI streams and leaves the content size out. */
const cliCompress = (data: Uint8Array, ...args: string[]) =>
  new Uint8Array(execFileSync('zstd', ['-q', '-c', ...args], { input: data }));
const totalCbor = vectorCbor().reduce((n, part) => n + part.length, 0);

describe('splitFrames', () => {
  it('reads the content size and bounds of a CLI frame with a checksum', () => {
    const file = zstdVector('cli-checksum');
    const [frame, ...rest] = splitFrames(file);
    expect(rest).toEqual([]);
    expect(frame).toMatchObject({
      start: 0,
      end: file.length,
      skippable: false,
      contentSize: totalCbor,
    });
    expect(frame!.decodedBound).toBe(totalCbor);
  });

  it('bounds a frame without a content size from its blocks', () => {
    const file = zstdVector('cli-no-content-size');
    const [frame] = splitFrames(file);
    expect(frame!.contentSize).toBeUndefined();
    expect(frame!.end).toBe(file.length);
    expect(frame!.decodedBound).toBeGreaterThanOrEqual(totalCbor);
  });

  it('finds every frame of a multi-frame file, skippable ones included', () => {
    const frames = splitFrames(zstdVector('multi-frame'));
    expect(frames.map((f) => f.skippable)).toEqual([false, true, false]);
    expect(frames[0]!.contentSize).toBe(vectorCbor()[0]!.length);
    expect(frames[2]!.contentSize).toBeUndefined();
    expect(frames[0]!.end).toBe(frames[1]!.start);
    expect(frames[1]!.end).toBe(frames[2]!.start);
  });

  it('bounds a large multi-block frame from above', () => {
    const data = new Uint8Array(3_000_000).map((_, i) => (i * 7919) % 251);
    const [frame] = splitFrames(cliCompress(data, '-1', '--no-content-size'));
    expect(frame!.decodedBound).toBeGreaterThanOrEqual(data.length);
    expect(frame!.decodedBound).toBeLessThan(data.length + 256 * 1024);
  });

  it('rejects data that is not zstd, and truncated frames, with the byte offset', () => {
    expect(() => splitFrames(new TextEncoder().encode('hello world'))).toThrowError(
      /not a valid zstd stream: no zstd magic number at byte 0/,
    );
    const file = zstdVector('cli-checksum');
    expect(() => splitFrames(file.subarray(0, file.length - 10))).toThrowError(ZstdFormatError);
    const twice = new Uint8Array([...file, 0x28, 0xb5]);
    expect(() => splitFrames(twice)).toThrowError(`trailing 2 bytes`);
  });
});

describe('withContentSize', () => {
  it('adds the content size to a frame without one, which the CLI and Python then accept', () => {
    const data = new Uint8Array(300_000).map((_, i) => (i * 31) % 97);
    const streamed = cliCompress(data, '-3', '--no-content-size');
    expect(splitFrames(streamed)[0]!.contentSize).toBeUndefined();
    const sized = withContentSize(streamed, data.length);
    expect(splitFrames(sized)[0]!.contentSize).toBe(data.length);
    expect(Buffer.from(cliDecompress(sized)).equals(Buffer.from(data))).toBe(true);
  });

  it('keeps a frame that already has the right size, and refuses a wrong one', () => {
    const file = zstdVector('cli-checksum');
    expect(withContentSize(file, totalCbor)).toBe(file);
    expect(() => withContentSize(file, totalCbor + 1)).toThrowError(
      /declares \d+ bytes of content/,
    );
  });
});
