import { makeRecords } from '@aperture-export/codec/testing';
import { MemoryStore } from '@aperture-export/core';
import { describe, expect, it } from 'vitest';
import { chartData, grandTotal, totalsOf, type UsageWindow, usageWindow } from './usage.ts';

const HOUR = 3_600_000;
const NOW = Date.UTC(2026, 11, 2, 10, 20);

describe('usageWindow', () => {
  it('ends a named window with the current bucket, cut to at most 180 buckets', () => {
    expect(usageWindow({}, NOW)).toMatchObject({
      name: '24h',
      untilMs: Date.UTC(2026, 11, 2, 11),
      sinceMs: Date.UTC(2026, 11, 1, 11),
      bucketMs: HOUR,
    });
    expect(usageWindow({ window: '7d' }, NOW)).toMatchObject({ bucketMs: HOUR });
    const month = usageWindow({ window: '30d' }, NOW) as UsageWindow;
    expect(month.bucketMs).toBe(6 * HOUR);
    expect((month.untilMs - month.sinceMs) / month.bucketMs).toBe(120);
  });

  it('takes whole UTC days for a custom window, both ends included', () => {
    expect(usageWindow({ window: 'custom', from: '2026-01-01', to: '2026-03-31' }, NOW)).toEqual({
      name: 'custom',
      sinceMs: Date.UTC(2026, 0, 1),
      untilMs: Date.UTC(2026, 3, 1),
      bucketMs: 24 * HOUR,
      from: '2026-01-01',
      to: '2026-03-31',
    });
    // A year: weeks.
    expect(
      usageWindow({ window: 'custom', from: '2026-01-01', to: '2026-12-31' }, NOW),
    ).toMatchObject({ bucketMs: 7 * 24 * HOUR });
    expect(
      usageWindow({ window: 'custom', from: '2026-03-01', to: '2026-03-01' }, NOW),
    ).toMatchObject({ bucketMs: HOUR, untilMs: Date.UTC(2026, 2, 2) });
  });

  it('names the field that is wrong', () => {
    expect(usageWindow({ window: '1y' }, NOW)).toEqual({
      error: 'window must be 24h, 7d, 30d or custom',
    });
    expect(usageWindow({ window: 'custom', from: '2026-1-1', to: '2026-01-02' }, NOW)).toEqual({
      error: 'from must be a date (YYYY-MM-DD)',
    });
    expect(usageWindow({ window: 'custom', from: '2026-01-02', to: '2026-02-30x' }, NOW)).toEqual({
      error: 'to must be a date (YYYY-MM-DD)',
    });
    expect(usageWindow({ window: 'custom', from: '2026-01-02', to: '2026-01-01' }, NOW)).toEqual({
      error: 'to must not be before from',
    });
    expect(usageWindow({ window: 'custom', from: '2000-01-01', to: '2026-01-01' }, NOW)).toEqual({
      error: 'a window may span at most 3660 days',
    });
    expect(usageWindow({ window: 'toString' }, NOW)).toHaveProperty('error');
  });
});

describe('chart series and totals', () => {
  it('match the store summary, fill empty buckets with 0, and fold small keys into "other"', async () => {
    const store = new MemoryStore();
    const window = usageWindow({ window: '24h' }, NOW) as UsageWindow;
    // Ten logins (more than a chart names), one record every 2 hours.
    const records = makeRecords(12, 4).map(({ id: _, ...record }, i) => ({
      ...record,
      timestamp: new Date(window.sinceMs + i * 2 * HOUR + 60_000),
      identity: { ...record.identity, login_name: `user${i % 10}@example.com` },
    }));
    await store.append(records);
    const query = { sinceMs: window.sinceMs, untilMs: window.untilMs, bucketMs: window.bucketMs };
    const models = await store.usageSeries({ ...query, groupBy: 'model' });
    const logins = await store.usageSeries({ ...query, groupBy: 'login' });
    const summary = await store.usageSummary(window.sinceMs, window.untilMs);
    expect(totalsOf(models)).toEqual(summary.byModel);
    expect(totalsOf(logins)).toEqual(summary.byLogin);

    const chart = chartData(
      window,
      { points: models, totals: summary.byModel },
      { points: logins, totals: summary.byLogin },
    );
    expect(chart.x).toHaveLength(24);
    expect(chart.x[0]).toBe(window.sinceMs / 1000);
    expect(chart.tokens.input.filter((v) => v > 0)).toHaveLength(12);
    expect(chart.tokens.input[1]).toBe(0);
    expect(chart.tokens.output.reduce((a, b) => a + b)).toBe(
      grandTotal(summary.byModel).output_tokens,
    );
    expect(Object.keys(chart.costByLogin)).toHaveLength(8); // seven by name, then "other"
    expect(chart.costByLogin).toHaveProperty('other');
    const costs = (series: Record<string, number[]>) =>
      Object.values(series)
        .flat()
        .reduce((a, b) => a + b, 0);
    expect(costs(chart.costByLogin)).toBeCloseTo(grandTotal(summary.byLogin).cost_usd, 12);
    expect(costs(chart.costByModel)).toBeCloseTo(grandTotal(summary.byModel).cost_usd, 12);
  });
});
