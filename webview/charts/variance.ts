/**
 * Variance profile: per-layer Var(z), Var(a) and Var(∂L/∂z) on a log axis, predicted beside
 * measured, with the healthy band around the input variance (the seed's goal Var(z_l) ≈ Var(a_{l−1})
 * keeps every layer near it) and the vanishing/exploding thresholds.
 */
import type { ChartDataset } from 'chart.js';
import type { AnalysisEvent } from '../../src/protocol/events';
import { gradReferences } from '../../src/protocol/events';
import type { Series, StoreState } from '../store';
import type { Theme } from '../theme';
import { withAlpha } from '../theme';
import type { Point } from './base';
import { ChartView, bandPlugin, baseOptions, positive } from './base';

type LineDs = ChartDataset<'line', Point[]>;

export class VarianceChart extends ChartView<'line'> {
  private q0 = 1;

  /** `onLayer`: a click on the chart picks the nearest layer (for the distribution charts). */
  constructor(parent: HTMLElement, theme: Theme, onLayer?: (layer: number) => void) {
    let self: VarianceChart | null = null;
    const options = baseOptions({ title: 'layer' }, { title: 'variance (log)', log: true }) as Record<
      string,
      unknown
    > & {
      plugins: { legend: { labels: Record<string, unknown> } };
    };
    // a comparison: one legend entry per init (its two lines share its colour)
    options.plugins.legend.labels.filter = (item: { text: string }) => !item.text.endsWith(' ∂z');
    options.onClick = (
      e: { x: number | null },
      _: unknown,
      chart: { scales: { x?: { getValueForPixel(p: number): number | undefined } } },
    ) => {
      const v = e.x === null ? undefined : chart.scales.x?.getValueForPixel(e.x);
      if (v !== undefined && Number.isFinite(v)) onLayer?.(Math.max(0, Math.round(v)));
    };
    super(
      parent,
      'chart-variance',
      'Variance profile',
      {
        type: 'line',
        data: { datasets: [] },
        options: options as never,
        plugins: [
          bandPlugin(() =>
            self ? { lo: self.q0 / 10, hi: self.q0 * 10, color: withAlpha(self.theme.band, 0.12) } : null,
          ),
        ],
      },
      theme,
    );
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the plugin is built before `this` exists
    self = this;
  }

  render(s: StoreState): void {
    const t = this.theme;
    const sets: LineDs[] = [];
    const compare = s.mode === 'compare';
    // a run with kept runs overlaid: the profile is the run's own (the first series)
    const shown = compare ? s.series : s.series.slice(0, 1);
    shown.forEach((ser, k) => {
      const color = t.palette[k % t.palette.length]!;
      const a = ser.analysis;
      type AL = AnalysisEvent['layers'][number];
      const pts = (f: (l: AL) => number | undefined): Point[] =>
        a ? a.layers.map((l) => ({ x: l.index, y: positive(f(l)) })) : [];
      if (a) this.q0 = a.inputVar > 0 ? a.inputVar : 1;
      if (compare) {
        if (!a) return;
        sets.push(
          line(
            ser.label,
            pts((l) => l.predicted.preactVar),
            color,
            [5, 4],
          ),
        );
        sets.push(
          line(
            `${ser.label} ∂z`,
            pts((l) => l.predicted.gradVar),
            withAlpha(color, 0.55),
            [2, 3],
          ),
        );
        return;
      }
      if (a)
        sets.push(
          line(
            'Var(z) predicted',
            pts((l) => l.predicted.preactVar),
            t.palette[5]!,
            [5, 4],
          ),
        );
      const step = ser.latest;
      if (!a && step?.inputVar !== undefined && step.inputVar > 0) this.q0 = step.inputVar;
      if (step) {
        // a run: measured at the latest step
        const l = step.layers;
        sets.push(
          line(
            'Var(z)',
            l.map((x) => ({ x: x.index, y: positive(x.preact.var) })),
            t.palette[0]!,
          ),
        );
        sets.push(
          line(
            'Var(a)',
            l.map((x) => ({ x: x.index, y: positive(x.act.var) })),
            t.palette[1]!,
          ),
        );
        sets.push(
          line(
            'Var(∂W)',
            l.map((x) => ({ x: x.index, y: positive(x.weightGrad.var) })),
            t.palette[2]!,
            [2, 3],
          ),
        );
        // relative to the output layer's, as the analysis shows it (∂L/∂z scales with 1/batch); in
        // a PyTorch log whose layers' rows differ (pooled before the head), to the last layer over
        // the same rows, as the gradient warnings judge it
        const ref = gradReferences(
          l.length,
          l.map((x) => x.rows),
          step.samples,
        );
        const over = (i: number) => l[ref[i]!]?.grad?.var ?? 0;
        if (l.some((_, i) => over(i) > 0))
          sets.push(
            line(
              ref.every((j) => j === l.length - 1) ? 'Var(∂z) ÷ output' : 'Var(∂z) ÷ last layer, same rows',
              l.map((x, i) => ({ x: x.index, y: positive(x.grad && over(i) > 0 ? x.grad.var / over(i) : undefined) })),
              t.palette[3]!,
            ),
          );
      } else if (a) {
        // an analysis: measured on one batch
        sets.push(
          line(
            'Var(z) measured',
            pts((l) => l.measured?.preactVar),
            t.palette[0]!,
          ),
        );
        sets.push(
          line(
            'Var(a) measured',
            pts((l) => l.measured?.actVar),
            t.palette[1]!,
          ),
        );
        sets.push(
          line(
            'Var(∂z) predicted',
            pts((l) => l.predicted.gradVar),
            t.palette[4]!,
            [5, 4],
          ),
        );
        sets.push(
          line(
            'Var(∂z) measured',
            pts((l) => l.measured?.gradVar),
            t.palette[3]!,
          ),
        );
      }
    });
    const latest = s.series.find((x) => x.latest)?.latest;
    const title = compare
      ? 'Variance profile — predicted per init: Var(z) dashed, Var(∂z) dotted (relative to the output layer)'
      : latest
        ? `Variance profile — step ${latest.step}`
        : 'Variance profile — healthy band: Var(zₗ) ≈ Var(aₗ₋₁) ≈ input';
    this.setTitle(title);
    this.chart.data.datasets = sets;
    this.chart.update('none');
  }

  static hasData(s: Series): boolean {
    return s.analysis !== null || s.latest !== null;
  }
}

function line(label: string, data: Point[], color: string, dash: number[] = []): LineDs {
  return {
    label,
    data,
    borderColor: color,
    backgroundColor: color,
    borderDash: dash,
    pointRadius: 2,
    borderWidth: 1.5,
    spanGaps: false,
    tension: 0,
  };
}
