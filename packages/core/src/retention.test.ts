import { describe, expect, it } from 'vitest';
import type { RetentionConfig } from './config.ts';
import { purgeOnce, RetentionWorker } from './retention.ts';
import { MemoryStore } from './store/memory.ts';
import { FakeClock } from './testing/fakes.ts';
import { captures } from './testing/store-conformance.ts';

const HOUR = 3_600_000;
const policy = (durationMs: number | undefined, require_export: boolean): RetentionConfig => ({
  duration: 'x',
  durationMs,
  require_export,
});

describe('retention gate', () => {
  it('purges content older than the duration, by the record’s own timestamp, keeping usage', async () => {
    const store = new MemoryStore();
    const records = await store.append(captures(10));
    const newest = records.at(-1)!.timestamp.getTime();
    // Fixture records are 1.337 s apart: an hour after the newest, all ten are old enough.
    expect(await purgeOnce(store, policy(HOUR, false), newest + HOUR - 5_000)).toBe(6);
    expect(await purgeOnce(store, policy(HOUR, false), newest + HOUR + 1)).toBe(4);
    const kept = await store.recent({ limit: 10 });
    expect(kept.every((record) => record.capture === undefined)).toBe(true);
    expect(kept.map((record) => record.usage)).toEqual(
      records.map((record) => record.usage).reverse(),
    );
  });

  it('with require_export never purges what was not exported, whatever its age', async () => {
    const store = new MemoryStore();
    await store.append(captures(5));
    const farFuture = Date.UTC(2040, 0, 1);
    expect(await purgeOnce(store, policy(HOUR, true), farFuture)).toBe(0);
    expect((await store.counts()).contentPurged).toBe(0);
    const claim = (await store.claimNext({
      owner: 'o',
      destination: { endpoint: '', bucket: 'b', prefix: '' },
      limit: 2,
      maxBytes: 1e9,
      nowMs: farFuture,
      leaseMs: 1,
    }))!;
    await store.completeClaim(claim, farFuture, 1);
    expect(await purgeOnce(store, policy(HOUR, true), farFuture)).toBe(2);
  });

  it('zero retention purges at once; no duration keeps everything', async () => {
    const store = new MemoryStore();
    const records = await store.append(captures(3));
    const now = records.at(-1)!.timestamp.getTime() + 1;
    expect(await purgeOnce(store, policy(undefined, false), now)).toBe(0);
    expect(await purgeOnce(store, policy(0, false), now)).toBe(3);
  });

  it('runs on its timer', async () => {
    const store = new MemoryStore();
    const records = await store.append(captures(2));
    const clock = new FakeClock(records.at(-1)!.timestamp.getTime() + 2 * HOUR);
    const worker = new RetentionWorker({
      store,
      retention: () => policy(HOUR, false),
      intervalMs: 60_000,
      clock,
    });
    worker.start();
    expect((await store.counts()).contentPurged).toBe(0);
    await clock.advance(60_000);
    expect((await store.counts()).contentPurged).toBe(2);
    await worker.stop();
  });
});
