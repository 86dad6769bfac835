/** The Usage page's charts: uPlot, drawn from the numbers the server put in the page. */
import uPlot from 'uplot';

interface ChartData {
  x: number[];
  tokens: Record<string, number[]>;
  costByModel: Record<string, number[]>;
  costByLogin: Record<string, number[]>;
}

const PALETTE = [
  '#2563eb',
  '#16a34a',
  '#d97706',
  '#9333ea',
  '#dc2626',
  '#0891b2',
  '#db2777',
  '#64748b',
];
const dark = () => matchMedia('(prefers-color-scheme: dark)').matches;

const compact = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });
const dollars = (value: number) =>
  `$${value.toLocaleString('en-US', { maximumFractionDigits: value < 1 ? 4 : 2 })}`;

function draw(target: HTMLElement, x: number[], series: Record<string, number[]>, money: boolean) {
  const names = Object.keys(series);
  const axisColor = dark() ? '#cbd5e1' : '#334155';
  const gridColor = dark() ? 'rgba(148,163,184,0.15)' : 'rgba(51,65,85,0.1)';
  const axis = {
    stroke: axisColor,
    grid: { stroke: gridColor },
    ticks: { stroke: gridColor },
  };
  const options: uPlot.Options = {
    width: Math.max(280, target.clientWidth),
    height: 220,
    scales: { x: { time: true } },
    axes: [
      axis,
      {
        ...axis,
        size: 64,
        values: (_, ticks) => ticks.map((t) => (money ? dollars(t) : compact.format(t))),
      },
    ],
    series: [
      {},
      ...names.map((name, i) => ({
        label: name,
        stroke: PALETTE[i % PALETTE.length],
        width: 2,
        points: { show: x.length < 40 },
        value: (_: uPlot, v: number | null) =>
          v === null ? '—' : money ? dollars(v) : v.toLocaleString('en-US'),
      })),
    ],
  };
  if (names.length === 0) {
    target.textContent = 'No requests in this window.';
    target.classList.add('empty');
    return undefined;
  }
  const plot = new uPlot(options, [x, ...names.map((name) => series[name]!)], target);
  target.dataset.drawn = 'true';
  return plot;
}

const source = document.getElementById('chart-data');
if (source?.textContent) {
  const data = JSON.parse(source.textContent) as ChartData;
  let plots: uPlot[] = [];
  const drawAll = () => {
    for (const plot of plots) plot.destroy();
    plots = [];
    for (const target of document.querySelectorAll<HTMLElement>('[data-chart]')) {
      const which = target.dataset.chart as 'tokens' | 'costByModel' | 'costByLogin';
      const plot = draw(target, data.x, data[which], which !== 'tokens');
      if (plot) plots.push(plot);
    }
  };
  drawAll();
  // For the benchmark (bench/dashboard.bench.ts): when the charts were drawn.
  performance.mark('charts-drawn');
  // Axes and grid in the colours of the scheme the system switches to.
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', drawAll);
  // Charts follow their box's width (phone, laptop, a resized window).
  new ResizeObserver(() => {
    for (const plot of plots) {
      const box = plot.root.parentElement!;
      if (Math.abs(box.clientWidth - plot.width) > 4)
        plot.setSize({ width: Math.max(280, box.clientWidth), height: 220 });
    }
  }).observe(document.querySelector('.charts')!);
}
