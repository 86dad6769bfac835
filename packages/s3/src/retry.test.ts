import { describe, expect, it } from 'vitest';
import { S3Error } from './errors.ts';
import { backoffMs, withRetry } from './retry.ts';

const policy = { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 1000 };
const slowDown = () => new S3Error({ status: 503, code: 'SlowDown', message: 'slow down' });

describe('retries', () => {
  it('back off exponentially with full jitter, capped', () => {
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffMs(policy, n, () => 0.999999))).toEqual([
      99, 199, 399, 799, 999, 999,
    ]);
    expect(backoffMs(policy, 3, () => 0)).toBe(0);
    expect(backoffMs(policy, 3, () => 0.5)).toBe(200);
  });

  it('retry retryable errors until success, sleeping between attempts', async () => {
    const sleeps: number[] = [];
    let calls = 0;
    const result = await withRetry(
      async () => {
        calls++;
        if (calls < 3) throw slowDown();
        return 'done';
      },
      policy,
      { random: () => 0.5, sleep: async (ms) => void sleeps.push(ms) },
    );
    expect(result).toBe('done');
    expect(sleeps).toEqual([50, 100]);
  });

  it('stop at the last attempt and at the first permanent error', async () => {
    const instant = { random: () => 0, sleep: async () => {} };
    let calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw slowDown();
        },
        policy,
        instant,
      ),
    ).rejects.toThrowError('SlowDown');
    expect(calls).toBe(4);
    calls = 0;
    await expect(
      withRetry(
        async () => {
          calls++;
          throw new S3Error({ status: 403, code: 'AccessDenied', message: 'no' });
        },
        policy,
        instant,
      ),
    ).rejects.toThrowError('AccessDenied');
    expect(calls).toBe(1);
  });
});
