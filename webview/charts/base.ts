/** Shared Chart.js set-up: no animation for live data, theme colours, log or linear axes. */
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  LogarithmicScale,
  PointElement,
  ScatterController,
  Tooltip,
} from 'chart.js';
import type { ChartConfiguration, ChartType, Plugin } from 'chart.js';
import type { Theme } from '../theme';

// Only what the charts use (a smaller bundle boots faster in the webview).
Chart.register(
  LineController,
  BarController,
  ScatterController,
  LineElement,
  BarElement,
  PointElement,
  LinearScale,
  LogarithmicScale,
  CategoryScale,
  Legend,
  Tooltip,
  Filler,
);

export type Point = { x: number; y: number | null };

/** A chart in its own titled box; `render` updates its data, `applyTheme` its colours. */
export abstract class ChartView<T extends ChartType = ChartType> {
  readonly chart: Chart<T>;
  readonly box: HTMLElement;
  protected readonly titleEl: HTMLElement;

  constructor(
    parent: HTMLElement,
    id: string,
    title: string,
    config: ChartConfiguration<T>,
    protected theme: Theme,
  ) {
    this.box = document.createElement('section');
    this.box.className = 'chart-box';
    this.box.id = id;
    this.titleEl = document.createElement('h3');
    this.titleEl.textContent = title;
    const holder = document.createElement('div');
    holder.className = 'chart-holder';
    const canvas = document.createElement('canvas');
    canvas.setAttribute('role', 'img');
    canvas.setAttribute('aria-label', title);
    holder.appendChild(canvas);
    this.box.append(this.titleEl, holder);
    parent.appendChild(this.box);
    this.chart = new Chart(canvas, config);
    this.applyTheme(theme);
  }

  setTitle(t: string): void {
    this.titleEl.textContent = t;
  }

  get title(): string {
    return this.titleEl.textContent ?? '';
  }

  /** Number of data points drawn, over all datasets (for tests and the empty state). */
  pointCount(): number {
    return this.chart.data.datasets.reduce(
      (n, d) => n + (d.data as unknown[]).filter((p) => p !== null && (p as Point).y !== null).length,
      0,
    );
  }

  applyTheme(t: Theme): void {
    this.theme = t;
    const o = this.chart.options as Record<string, unknown> & {
      scales?: Record<string, { ticks?: { color?: string }; grid?: { color?: string }; title?: { color?: string } }>;
      plugins?: { legend?: { labels?: { color?: string } } };
    };
    for (const s of Object.values(o.scales ?? {})) {
      s.ticks = { ...s.ticks, color: t.muted };
      s.grid = { ...s.grid, color: t.grid };
      s.title = { ...s.title, color: t.muted };
    }
    if (o.plugins?.legend) o.plugins.legend.labels = { ...o.plugins.legend.labels, color: t.fg };
    Chart.defaults.font.family = t.font;
    Chart.defaults.color = t.fg;
    this.chart.update('none');
  }
}

export function baseOptions(
  x: { title: string; type?: 'linear' | 'category' },
  y: { title: string; log?: boolean; include?: readonly [number, number]; whole?: boolean },
): Record<string, unknown> {
  return {
    animation: false,
    responsive: true,
    maintainAspectRatio: false,
    parsing: false,
    normalized: true,
    interaction: { mode: 'nearest', intersect: false },
    plugins: {
      legend: { display: true, position: 'bottom', labels: { boxWidth: 10, boxHeight: 10, font: { size: 10 } } },
      tooltip: { enabled: true },
    },
    scales: {
      x: {
        type: x.type ?? 'linear',
        title: { display: true, text: x.title, font: { size: 10 } },
        ticks: {
          font: { size: 10 },
          maxRotation: 0,
          autoSkip: true,
          ...(x.title === 'layer' ? { stepSize: 1, precision: 0 } : x.title === 'step' ? { precision: 0 } : {}),
        },
      },
      y: {
        type: y.log ? 'logarithmic' : 'linear',
        title: { display: true, text: y.title, font: { size: 10 } },
        ticks: { font: { size: 10 }, ...(y.log ? { callback: logTick } : y.whole ? { precision: 0 } : {}) },
        ...(y.log ? { afterDataLimits: (scale: { min: number; max: number }) => decades(scale, y.include) } : {}),
      },
    },
  };
}

/**
 * A log axis's limits widened to whole decades (and to `include`, a band the chart draws), so at
 * least two power-of-ten labels show however narrow the data is (1e-4…1e-2 for an update ratio
 * of 3e-4 on every layer, not one lone "1e-4").
 */
function decades(scale: { min: number; max: number }, include?: readonly [number, number]): void {
  let lo = scale.min,
    hi = scale.max;
  if (include) {
    lo = lo > 0 ? Math.min(lo, include[0]) : include[0];
    hi = hi > 0 ? Math.max(hi, include[1]) : include[1];
  }
  if (!(lo > 0) || !(hi > 0) || !Number.isFinite(lo) || !Number.isFinite(hi)) return;
  const a = Math.floor(Math.log10(lo) + 1e-9);
  const b = Math.max(a + 1, Math.ceil(Math.log10(hi) - 1e-9));
  scale.min = 10 ** a;
  scale.max = 10 ** b;
}

/** Log-axis ticks: powers of ten only, as 1e-3 … 1e3 (1, 10, 0.1 written plainly). */
function logTick(value: number | string): string {
  const v = Number(value);
  if (!(v > 0)) return '';
  const e = Math.log10(v);
  if (Math.abs(e - Math.round(e)) > 1e-9) return '';
  const n = Math.round(e);
  return n >= -1 && n <= 2 ? String(Number(v.toPrecision(1))) : `1e${n}`;
}

/** Positive values only (log axes); others become gaps. */
export function positive(v: number | null | undefined): number | null {
  return v !== null && v !== undefined && Number.isFinite(v) && v > 0 ? v : null;
}

/** A horizontal band between two y values, drawn under the datasets. */
export function bandPlugin(get: () => { lo: number; hi: number; color: string } | null): Plugin {
  return {
    id: 'layerwiseBand',
    beforeDatasetsDraw(chart) {
      const b = get();
      const y = chart.scales.y;
      if (!b || !y) return;
      const { ctx, chartArea } = chart;
      const top = Math.max(chartArea.top, Math.min(chartArea.bottom, y.getPixelForValue(b.hi)));
      const bottom = Math.max(chartArea.top, Math.min(chartArea.bottom, y.getPixelForValue(b.lo)));
      ctx.save();
      ctx.fillStyle = b.color;
      ctx.fillRect(chartArea.left, top, chartArea.right - chartArea.left, bottom - top);
      ctx.restore();
    },
  };
}

/** A number in a title: three significant digits, exponents (with `digits` decimals) from 1e4 up and below 1e-2. */
export function shortNumber(x: number, digits = 1): string {
  return Math.abs(x) >= 1e4 || (x !== 0 && Math.abs(x) < 1e-2)
    ? x.toExponential(digits)
    : String(Number(x.toPrecision(3)));
}
