/**
 * Sharpness: λmax of the loss's Hessian over steps against the optimiser's divergence threshold
 * (2/η for sgd, (2 + 2β)/η with momentum): above the line, the loss oscillates or diverges along
 * the sharpest direction; training often settles just below it.
 */
import type { StoreState } from '../store';
import type { Theme } from '../theme';
import type { Point } from './base';
import { ChartView, baseOptions, positive, shortNumber } from './base';

export class SharpnessChart extends ChartView<'line'> {
  constructor(parent: HTMLElement, theme: Theme) {
    super(
      parent,
      'chart-sharpness',
      'Sharpness',
      {
        type: 'line',
        data: { datasets: [] },
        options: baseOptions({ title: 'step' }, { title: 'λmax (log)', log: true }) as never,
      },
      theme,
    );
  }

  render(s: StoreState): void {
    if (s.mode === 'compare') {
      // one λmax line per init; the threshold (the same run settings) once
      const runs = s.series.filter((x) => x.sharpness?.length);
      const t = this.theme;
      const thr = this.spanSteps(
        runs.flatMap((r) => r.sharpness.map((p) => p.step)),
        runs[0]?.sharpness.map((p) => ({ x: p.step, y: positive(p.threshold) })) ?? [],
      );
      this.chart.data.datasets = [
        ...runs.map((ser, k) => ({
          label: ser.label,
          data: ser.sharpness.map((p) => ({ x: p.step, y: positive(p.lambdaMax) })),
          borderColor: t.palette[k % t.palette.length],
          backgroundColor: t.palette[k % t.palette.length],
          pointRadius: 3,
          borderWidth: 1.5,
        })),
        ...thresholdLine(thr, t.error),
      ] as never;
      this.setTitle(
        `Sharpness per init — ${runs.map((r) => `${r.label} λmax ${fmt(r.sharpness.at(-1)!.lambdaMax)}`).join(', ')}`,
      );
      this.chart.update('none');
      return;
    }
    const ser = s.series.find((x) => x.sharpness?.length);
    const pts = ser?.sharpness ?? [];
    const t = this.theme;
    const lam: Point[] = pts.map((p) => ({ x: p.step, y: positive(p.lambdaMax) }));
    const thr = this.spanSteps(
      pts.map((p) => p.step),
      pts.map((p) => ({ x: p.step, y: positive(p.threshold) })),
    );
    this.chart.data.datasets = [
      {
        label: 'λmax',
        data: lam,
        borderColor: t.palette[0],
        backgroundColor: t.palette[0],
        pointRadius: 2,
        borderWidth: 1.5,
      },
      ...thresholdLine(thr, t.error),
    ] as never;
    const last = pts.at(-1);
    this.setTitle(
      last
        ? `Sharpness — λmax ${fmt(last.lambdaMax)} at step ${last.step}${
            last.threshold === null
              ? ser?.start?.source === 'pytorch'
                ? ' (no threshold for this optimizer)'
                : ' (adam: no threshold)'
              : last.lambdaMax > last.threshold
                ? `, above the threshold ${fmt(last.threshold)}: the loss oscillates or diverges`
                : `, ${fmt((100 * last.lambdaMax) / last.threshold)} % of the threshold ${fmt(last.threshold)}`
          }`
        : 'Sharpness',
    );
    this.chart.update('none');
  }

  /**
   * Where λmax is known at one step only (an analysis, a run's first evaluation), the step axis is
   * that step ± ½ with the one whole-number label, and the threshold is drawn across it (a line of
   * one point would not show); otherwise the axis fits the steps and `thr` is returned as it is.
   */
  private spanSteps(steps: number[], thr: Point[]): Point[] {
    const x = (this.chart.options.scales as Record<string, { min?: number; max?: number; ticks?: object }>).x!;
    const one = steps.length > 0 && steps.every((s) => s === steps[0]) ? steps[0]! : null;
    x.min = one === null ? undefined : one - 0.5;
    x.max = one === null ? undefined : one + 0.5;
    x.ticks = { ...x.ticks, includeBounds: one === null };
    if (one === null) return thr;
    const y = thr[0]?.y ?? null;
    return [
      { x: one - 0.5, y },
      { x: one + 0.5, y },
    ];
  }

  static hasData(s: StoreState): boolean {
    return s.series.some((x) => (x.sharpness?.length ?? 0) > 0);
  }
}

/** The divergence threshold as a dashed line (none where the optimiser has none). */
function thresholdLine(thr: Point[], color: string): Record<string, unknown>[] {
  return thr.some((p) => p.y !== null)
    ? [
        {
          label: 'divergence threshold',
          data: thr,
          borderColor: color,
          backgroundColor: color,
          borderDash: [5, 4],
          pointRadius: 0,
          borderWidth: 1.2,
        },
      ]
    : [];
}

const fmt = (x: number): string => shortNumber(x, 2);
