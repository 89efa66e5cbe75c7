/**
 * Loss over steps, smoothed by an exponential moving average (the slider's weight w, as
 * TensorBoard's: m ← w·m + (1 − w)·loss, shown debiased as m / (1 − wⁿ) after n points) with the
 * raw series kept faint behind it. w = 0 shows the raw loss alone. The held-out loss (data.validation),
 * where the run has one, is a dashed line of the same colour with a point per evaluation.
 */
import type { StoreState } from '../store';
import { Store } from '../store';
import type { Theme } from '../theme';
import { withAlpha } from '../theme';
import type { Point } from './base';
import { ChartView, baseOptions } from './base';

/** The debiased EMA of a series with weight w (non-finite values are gaps and do not enter it). */
function smooth(points: readonly Point[], w: number): Point[] {
  let m = 0,
    n = 0;
  return points.map((p) => {
    if (p.y === null || !Number.isFinite(p.y)) return { x: p.x, y: null };
    m = w * m + (1 - w) * p.y;
    n++;
    return { x: p.x, y: w > 0 ? m / (1 - Math.pow(w, n)) : p.y };
  });
}

export class LossChart extends ChartView<'line'> {
  private readonly slider: HTMLInputElement;
  private readonly value: HTMLElement;

  constructor(parent: HTMLElement, theme: Theme, onSmoothing: (w: number) => void) {
    const opts = baseOptions({ title: 'step' }, { title: 'loss' }) as Record<string, unknown> & {
      plugins: { legend: { labels: Record<string, unknown> } };
    };
    // the faint raw copies need no legend entry of their own
    opts.plugins.legend.labels.filter = (item: { text: string }) => !item.text.endsWith(' (raw)');
    super(parent, 'chart-loss', 'Loss', { type: 'line', data: { datasets: [] }, options: opts as never }, theme);
    const row = document.createElement('label');
    row.className = 'smoothing';
    row.textContent = 'Smoothing ';
    this.slider = document.createElement('input');
    this.slider.type = 'range';
    this.slider.min = '0';
    this.slider.max = '0.99';
    this.slider.step = '0.01';
    this.slider.id = 'loss-smoothing';
    this.slider.setAttribute('aria-label', 'Loss smoothing (exponential moving average weight)');
    this.value = document.createElement('span');
    row.append(this.slider, this.value);
    this.slider.addEventListener('input', () => onSmoothing(Number(this.slider.value)));
    this.box.insertBefore(row, this.box.children[1] ?? null);
  }

  /** Points of the loss series drawn (the faint raw copy behind the smoothed line not counted twice). */
  override pointCount(): number {
    return this.chart.data.datasets
      .filter((d) => !String(d.label).endsWith(' (raw)'))
      .reduce((n, d) => n + (d.data as (Point | null)[]).filter((p) => p !== null && p.y !== null).length, 0);
  }

  render(s: StoreState): void {
    const t = this.theme;
    const w = Math.min(0.99, Math.max(0, s.smoothing ?? 0.6));
    this.slider.value = String(w);
    this.value.textContent = ` ${w.toFixed(2)}`;
    const sets = s.series
      .filter((x) => x.latest)
      .flatMap((ser, k) => {
        const color = t.palette[k % t.palette.length]!;
        const raw: Point[] = Store.history(ser).map((p) => ({ x: p.step, y: Number.isFinite(p.loss) ? p.loss : null }));
        const per = Store.perSeries(s) !== null;
        const label = per ? ser.label : 'loss';
        const line = (name: string, data: Point[], c: string, width: number) => ({
          label: name,
          data,
          borderColor: c,
          backgroundColor: c,
          pointRadius: 0,
          borderWidth: width,
        });
        const train =
          w > 0
            ? [line(`${label} (raw)`, raw, withAlpha(color, 0.25), 1), line(label, smooth(raw, w), color, 1.5)]
            : [line(label, raw, color, 1.3)];
        if (!ser.validation.length) return train;
        const held = {
          ...line(
            per ? `${ser.label} held-out` : 'held-out',
            ser.validation.map((v) => ({ x: v.step, y: Number.isFinite(v.loss) ? v.loss : null })),
            color,
            1.5,
          ),
          borderDash: [5, 3],
          pointRadius: 2,
        };
        return [...train, held];
      });
    this.chart.data.datasets = sets as never;
    const ser = s.series.find((x) => x.latest);
    if (ser?.latest) {
      const v = ser.validation.at(-1);
      const held = v
        ? ` · held-out ${v.loss.toPrecision(4)}${v.accuracy !== null ? `, accuracy ${(100 * v.accuracy).toFixed(1)} %` : ''} at step ${v.step}`
        : '';
      this.setTitle(`Loss — ${ser.latest.loss.toPrecision(4)} at step ${ser.latest.step}${held}`);
    }
    this.chart.update('none');
  }
}
