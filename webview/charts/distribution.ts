/**
 * Distributions of the layer chosen in the variance profile (click a layer; default the last
 * hidden one): its pre-activations, activations or ∂L/∂Z over the histogram steps as
 * TensorBoard-style bands (5–95 % and 25–75 % quantiles around the median), and the histogram of
 * the latest histogram step (32 bins; zeros, tails and NaN/Inf counted apart, in the title).
 */
import type { ChartDataset } from 'chart.js';
import type { Histogram } from '../../src/protocol/events';
import { layerLabel } from '../../src/protocol/events';
import type { HistQuantity, Series, StoreState } from '../store';
import type { Theme } from '../theme';
import { withAlpha } from '../theme';
import type { Point } from './base';
import { ChartView, baseOptions } from './base';

const NAMES: Record<HistQuantity, string> = { preact: 'Z', act: 'f(Z)', grad: '∂L/∂Z' };

/** The series with histograms, and the layer to show: the chosen one, else the last hidden layer. */
function chosen(s: StoreState): { ser: Series; layer: number } | null {
  const ser = s.series.find((x) => x.histogram);
  const h = ser?.histogram;
  if (!ser || !h || h.layers.length === 0) return null;
  const L = h.layers.length;
  const layer = s.layer !== null && s.layer >= 0 && s.layer < L ? s.layer : Math.max(0, L - 2);
  return { ser, layer };
}

/** Quantity buttons in a chart's title row (one shared choice for both charts). */
function quantityButtons(box: HTMLElement, onPick: (q: HistQuantity) => void): Map<HistQuantity, HTMLElement> {
  const bar = document.createElement('div');
  bar.className = 'quantity';
  const out = new Map<HistQuantity, HTMLElement>();
  for (const q of ['preact', 'act', 'grad'] as const) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = NAMES[q];
    b.dataset.quantity = q;
    b.addEventListener('click', () => onPick(q));
    bar.appendChild(b);
    out.set(q, b);
  }
  box.insertBefore(bar, box.children[1] ?? null);
  return out;
}

export class DistributionChart extends ChartView<'line'> {
  private readonly buttons: Map<HistQuantity, HTMLElement>;

  constructor(parent: HTMLElement, theme: Theme, onPick: (q: HistQuantity) => void) {
    const opts = baseOptions({ title: 'step' }, { title: 'value' }) as Record<string, unknown> & {
      plugins: { legend: { labels: Record<string, unknown> } };
    };
    // the two lower quantiles only bound the fills: the legend names the bands and the median
    opts.plugins.legend.labels.filter = (item: { text: string }) => item.text !== '5 %' && item.text !== '25 %';
    super(
      parent,
      'chart-distribution',
      'Distribution over steps',
      { type: 'line', data: { datasets: [] }, options: opts as never },
      theme,
    );
    this.buttons = quantityButtons(this.box, onPick);
  }

  render(s: StoreState): void {
    const c = chosen(s);
    for (const [q, b] of this.buttons) b.setAttribute('aria-pressed', String(q === s.quantity));
    if (!c) {
      this.chart.data.datasets = [];
      this.chart.update('none');
      return;
    }
    const q = s.quantity;
    const at = (k: number): Point[] => c.ser.bands.map((b) => ({ x: b.step, y: b.layers[c.layer]?.[q]?.[k] ?? null }));
    const color = this.theme.palette[0]!;
    const ds = (
      label: string,
      data: Point[],
      fill: number | false,
      alpha: number,
      width = 0,
    ): ChartDataset<'line', Point[]> => ({
      label,
      data,
      borderColor: withAlpha(color, width > 0 ? 1 : 0),
      backgroundColor: withAlpha(color, alpha),
      fill: fill === false ? false : { target: fill },
      pointRadius: 0,
      borderWidth: width,
      tension: 0,
      spanGaps: false,
    });
    // datasets 0..4: p5, p25, median, p75, p95; the 95 fills down to the 5, the 75 to the 25
    this.chart.data.datasets = [
      ds('5 %', at(0), false, 0),
      ds('25 %', at(1), false, 0),
      ds('median', at(2), false, 0, 1.5),
      ds('25–75 %', at(3), 1, 0.5),
      ds('5–95 %', at(4), 0, 0.25),
    ];
    this.setTitle(
      `Distribution of ${NAMES[q]} over steps — ${layerLabel(c.ser.start, c.layer)} (click a layer in the variance profile)`,
    );
    this.chart.update('none');
  }

  static hasData(s: StoreState): boolean {
    return chosen(s) !== null;
  }
}

/** "1.5e-3" or "0.25": bin labels short enough for a narrow panel. */
function short(x: number): string {
  const a = Math.abs(x);
  return a !== 0 && (a < 1e-2 || a >= 1e4) ? x.toExponential(1) : String(Number(x.toPrecision(2)));
}

export class HistogramChart extends ChartView<'bar'> {
  constructor(parent: HTMLElement, theme: Theme) {
    type Options = Record<string, unknown> & { plugins: Record<string, unknown> };
    const opts = baseOptions({ title: 'value', type: 'category' }, { title: 'count', whole: true }) as Options;
    opts.parsing = true;
    opts.plugins.legend = { display: false };
    super(
      parent,
      'chart-histogram',
      'Histogram',
      { type: 'bar', data: { labels: [], datasets: [] }, options: opts as never },
      theme,
    );
  }

  render(s: StoreState): void {
    const c = chosen(s);
    const h: Histogram | undefined = c?.ser.histogram?.layers[c.layer]?.[s.quantity];
    if (!c || !h) {
      this.chart.data.labels = [];
      this.chart.data.datasets = [];
      this.chart.update('none');
      return;
    }
    const n = h.counts.reduce((a, b) => a + b, 0) + h.zeros + h.below + h.above + h.nonFinite;
    const pct = (k: number): string => `${n > 0 ? ((100 * k) / n).toFixed(1) : '0'} %`;
    this.chart.data.labels = h.counts.map((_, j) => short((h.edges[j]! + h.edges[j + 1]!) / 2));
    this.chart.data.datasets = [
      {
        label: 'count',
        data: h.counts,
        backgroundColor: this.theme.palette[0],
        categoryPercentage: 1,
        barPercentage: 1,
      },
    ] as never;
    const apart = [
      `zeros ${pct(h.zeros)}`,
      ...(h.below ? [`below ${short(h.edges[0] ?? 0)}: ${h.below}`] : []),
      ...(h.above ? [`above ${short(h.edges.at(-1) ?? 0)}: ${h.above}`] : []),
      ...(h.nonFinite ? [`NaN/Inf: ${h.nonFinite}`] : []),
    ];
    this.setTitle(
      `Histogram of ${NAMES[s.quantity]} — ${layerLabel(c.ser.start, c.layer)}, step ${c.ser.histogram!.step} (${n} values; ${apart.join(', ')})`,
    );
    this.chart.update('none');
  }
}
