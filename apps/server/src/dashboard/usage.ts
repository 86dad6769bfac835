/**
 * The usage page's numbers: which time window a request asks for, how it is cut into buckets,
 * and the series the charts draw, filled so that every bucket has a value.
 */
import {
  addUsageTotals,
  emptyUsageTotals,
  type UsagePoint,
  type UsageTotals,
} from '@aperture-export/core';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/** Bucket sizes, smallest first; a window takes the smallest that keeps it to MAX_BUCKETS. */
const BUCKETS_MS = [HOUR_MS, 6 * HOUR_MS, DAY_MS, 7 * DAY_MS, 30 * DAY_MS];
const MAX_BUCKETS = 180;
/** The longest custom window: ten years. */
const MAX_WINDOW_MS = 3660 * DAY_MS;
/** How many models or logins a chart shows by name; the rest are added up as "other". */
const MAX_SERIES = 7;

export const WINDOWS = { '24h': DAY_MS, '7d': 7 * DAY_MS, '30d': 30 * DAY_MS } as const;
export type WindowName = keyof typeof WINDOWS | 'custom';

export interface UsageWindow {
  name: WindowName;
  sinceMs: number;
  untilMs: number;
  bucketMs: number;
  /** A custom window's first and last day (YYYY-MM-DD, UTC), as the form shows them. */
  from: string;
  to: string;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

function bucketFor(spanMs: number): number {
  return BUCKETS_MS.find((ms) => spanMs / ms <= MAX_BUCKETS) ?? BUCKETS_MS.at(-1)!;
}

/**
 * The window a request asks for: `window` 24h, 7d or 30d (ending with the current bucket),
 * or `custom` from one UTC day to another, both included. An error names the bad field.
 */
export function usageWindow(
  query: { window?: string; from?: string; to?: string },
  nowMs: number,
): UsageWindow | { error: string } {
  const name = (query.window || '24h') as WindowName;
  if (name === 'custom') {
    const { from = '', to = '' } = query;
    if (!DATE.test(from) || Number.isNaN(Date.parse(from)))
      return { error: 'from must be a date (YYYY-MM-DD)' };
    if (!DATE.test(to) || Number.isNaN(Date.parse(to)))
      return { error: 'to must be a date (YYYY-MM-DD)' };
    const sinceMs = Date.parse(from);
    const untilMs = Date.parse(to) + DAY_MS;
    if (untilMs <= sinceMs) return { error: 'to must not be before from' };
    if (untilMs - sinceMs > MAX_WINDOW_MS) return { error: 'a window may span at most 3660 days' };
    return { name, sinceMs, untilMs, bucketMs: bucketFor(untilMs - sinceMs), from, to };
  }
  if (!Object.hasOwn(WINDOWS, name)) return { error: 'window must be 24h, 7d, 30d or custom' };
  const spanMs = WINDOWS[name as keyof typeof WINDOWS];
  const bucketMs = bucketFor(spanMs);
  const untilMs = Math.ceil((nowMs + 1) / bucketMs) * bucketMs;
  const sinceMs = untilMs - spanMs;
  return { name, sinceMs, untilMs, bucketMs, from: day(sinceMs), to: day(untilMs - 1) };
}

/** What the charts draw (uPlot's shape: x in unix seconds, one array per series). */
export interface ChartData {
  x: number[];
  tokens: { input: number[]; output: number[]; cached: number[]; reasoning: number[] };
  costByModel: Record<string, number[]>;
  costByLogin: Record<string, number[]>;
}

function bucketStarts(window: UsageWindow): number[] {
  const starts: number[] = [];
  for (let ms = window.sinceMs; ms < window.untilMs; ms += window.bucketMs) starts.push(ms);
  return starts;
}

/** Cost per bucket for the costliest keys, the rest as "other". */
function costSeries(
  points: UsagePoint[],
  totals: UsageTotals[],
  index: Map<number, number>,
  length: number,
) {
  const named = new Set(totals.slice(0, MAX_SERIES).map((t) => t.key));
  const series: Record<string, number[]> = {};
  for (const point of points) {
    const key = named.has(point.key) ? point.key : 'other';
    series[key] ??= new Array(length).fill(0);
    series[key]![index.get(point.bucketStartMs)!]! += point.cost_usd;
  }
  return series;
}

export function chartData(
  window: UsageWindow,
  byModel: { points: UsagePoint[]; totals: UsageTotals[] },
  byLogin: { points: UsagePoint[]; totals: UsageTotals[] },
): ChartData {
  const starts = bucketStarts(window);
  const index = new Map(starts.map((ms, i) => [ms, i]));
  const zeros = () => new Array<number>(starts.length).fill(0);
  const tokens = { input: zeros(), output: zeros(), cached: zeros(), reasoning: zeros() };
  for (const point of byModel.points) {
    const i = index.get(point.bucketStartMs)!;
    tokens.input[i]! += point.input_tokens;
    tokens.output[i]! += point.output_tokens;
    tokens.cached[i]! += point.cached_tokens;
    tokens.reasoning[i]! += point.reasoning_tokens;
  }
  return {
    x: starts.map((ms) => ms / 1000),
    tokens,
    costByModel: costSeries(byModel.points, byModel.totals, index, starts.length),
    costByLogin: costSeries(byLogin.points, byLogin.totals, index, starts.length),
  };
}

/** The grand totals of a list of per-key totals. */
export function grandTotal(rows: UsageTotals[]): UsageTotals {
  return rows.reduce(addUsageTotals, emptyUsageTotals('total'));
}

/** Per-key totals of a series (its points added up), costliest first, as usageSummary orders them. */
export function totalsOf(points: UsagePoint[]): UsageTotals[] {
  const byKey = new Map<string, UsageTotals>();
  for (const point of points) {
    const sum = byKey.get(point.key) ?? emptyUsageTotals(point.key);
    byKey.set(point.key, addUsageTotals(sum, point));
  }
  return [...byKey.values()].sort(
    (a, b) => b.cost_usd - a.cost_usd || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0),
  );
}
