/**
 * Browser: a measure over time. The x axis is time (gaps between results in proportion to the days
 * between them), one point per result with its date on hover, the arm's target band across the whole
 * axis however many results there are, the baseline as a dashed line; an empty measure says so in
 * words instead of drawing an empty frame.
 */
import { Chart, type ChartDataset, registerables } from 'chart.js';
import { el } from './dom.ts';

Chart.register(...registerables);

const DAY = 86_400_000;
const charts: Record<string, Chart> = {};
// The browser tests read the charts' geometry from here.
Object.assign(window, { trialCharts: charts });

export interface TimePoint {
  date: string;
  value: number;
}

export interface TimeChartOptions {
  id: string;
  name: string;
  unit: string;
  decimals: number;
  points: readonly TimePoint[];
  band?: { low: number; high: number } | undefined;
  baseline?: number | undefined;
}

const dateOf = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

export function timeChart(o: TimeChartOptions): HTMLElement {
  if (o.points.length === 0) return el('p', { class: 'empty', id: `${o.id}-empty` }, ['No results yet']);
  const xs = o.points.map((p) => Date.parse(p.date));
  const pad = Math.max(3 * DAY, (Math.max(...xs) - Math.min(...xs)) * 0.05);
  const min = Math.min(...xs) - pad;
  const max = Math.max(...xs) + pad;
  const across = (y: number) => [
    { x: min, y },
    { x: max, y },
  ];
  const datasets: ChartDataset<'line', { x: number; y: number }[]>[] = [];
  if (o.band) {
    datasets.push(
      { label: 'Target', data: across(o.band.low), borderColor: '#2d6a4f', borderDash: [6, 4], pointRadius: 0 },
      {
        label: `Target ${o.band.low}-${o.band.high} ${o.unit}`,
        data: across(o.band.high),
        borderColor: '#2d6a4f',
        borderDash: [6, 4],
        pointRadius: 0,
        backgroundColor: 'rgba(45,106,79,0.15)',
        fill: '-1',
      },
    );
  }
  if (o.baseline !== undefined) {
    datasets.push({
      label: `Baseline ${o.baseline.toFixed(o.decimals)} ${o.unit}`,
      data: across(o.baseline),
      borderColor: '#6c757d',
      borderDash: [2, 3],
      pointRadius: 0,
    });
  }
  const valueIndex = datasets.length;
  datasets.push({
    label: `${o.name} (${o.unit})`,
    data: o.points.map((p, i) => ({ x: xs[i] as number, y: p.value })),
    borderColor: '#003f88',
    backgroundColor: '#003f88',
    pointRadius: 4,
    pointHoverRadius: 7,
  });
  const label = `${o.name} over time${o.band ? `, target ${o.band.low}-${o.band.high} ${o.unit}` : ''}${
    o.baseline !== undefined ? `, baseline ${o.baseline.toFixed(o.decimals)} ${o.unit}` : ''
  }`;
  const canvas = el('canvas', { id: o.id, role: 'img', 'aria-label': label, 'data-points': String(o.points.length) });
  queueMicrotask(() => {
    charts[o.id] = new Chart(canvas, {
      type: 'line',
      data: { datasets },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        interaction: { mode: 'nearest', intersect: false, axis: 'x' },
        scales: {
          x: { type: 'linear', min, max, ticks: { maxTicksLimit: 5, callback: (v) => dateOf(Number(v)) } },
          y: { title: { display: true, text: o.unit } },
        },
        plugins: {
          legend: { labels: { boxWidth: 12, filter: (item) => item.text !== 'Target' } },
          tooltip: {
            filter: (item) => item.datasetIndex === valueIndex,
            callbacks: {
              title: (items) => dateOf(items[0]?.parsed.x ?? 0),
              label: (item) => `${(item.parsed.y ?? 0).toFixed(o.decimals)} ${o.unit}`,
            },
          },
        },
      },
    });
  });
  return el('figure', { class: 'chart-box' }, [el('div', { class: 'chart' }, [canvas]), el('figcaption', {}, [label])]);
}
