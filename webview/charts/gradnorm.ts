/** Gradient norm before and after clipping over steps, the clip threshold as a line, clip events marked, the clip rate. */
import type { StoreState } from '../store';
import { Store } from '../store';
import type { Theme } from '../theme';
import { ChartView, baseOptions, positive } from './base';

export class GradNormChart extends ChartView<'line'> {
  constructor(parent: HTMLElement, theme: Theme) {
    super(
      parent,
      'chart-gradnorm',
      'Gradient norm',
      {
        type: 'line',
        data: { datasets: [] },
        options: baseOptions({ title: 'step' }, { title: '‖g‖ (log)', log: true }) as never,
      },
      theme,
    );
  }

  render(s: StoreState): void {
    const per = Store.perSeries(s);
    if (per) {
      // every scheme or run, one line each (before clipping), labelled
      const runs = s.series.filter((x) => x.latest);
      this.chart.data.datasets = runs.map((ser, k) => ({
        label: ser.label,
        data: Store.history(ser).map((p) => ({ x: p.step, y: positive(p.gradNorm) })),
        borderColor: this.theme.palette[k % this.theme.palette.length],
        backgroundColor: this.theme.palette[k % this.theme.palette.length],
        pointRadius: 0,
        borderWidth: 1.2,
      })) as never;
      this.setTitle(`Gradient norm per ${per} (before clipping)`);
      this.chart.update('none');
      return;
    }
    const ser = s.series.find((x) => x.latest);
    if (!ser) {
      this.chart.data.datasets = [];
      this.chart.update('none');
      return;
    }
    const hist = Store.history(ser);
    const t = this.theme;
    const sets = [
      {
        label: '‖g‖ before clipping',
        data: hist.map((p) => ({ x: p.step, y: positive(p.gradNorm) })),
        borderColor: t.palette[0],
        backgroundColor: t.palette[0],
        pointRadius: 0,
        borderWidth: 1.2,
      },
      {
        label: '‖g‖ after clipping',
        data: hist.map((p) => ({ x: p.step, y: positive(p.gradNormClipped) })),
        borderColor: t.palette[2],
        backgroundColor: t.palette[2],
        pointRadius: 0,
        borderWidth: 1.2,
      },
      {
        label: 'clip events',
        data: hist.filter((p) => p.clipped).map((p) => ({ x: p.step, y: positive(p.gradNorm) })),
        showLine: false,
        pointRadius: 2.5,
        pointStyle: 'crossRot',
        borderColor: t.error,
        backgroundColor: t.error,
      },
    ] as Record<string, unknown>[];
    if (s.clipMax !== null && hist.length > 0) {
      sets.push({
        label: `clip max ${s.clipMax}`,
        data: [
          { x: hist[0]!.step, y: s.clipMax },
          { x: hist.at(-1)!.step, y: s.clipMax },
        ],
        borderColor: t.warning,
        borderDash: [6, 4],
        pointRadius: 0,
        borderWidth: 1,
      } as never);
    }
    const rate = ser.stepsSeen ? (100 * ser.clippedSeen) / ser.stepsSeen : 0;
    this.setTitle(
      s.clipMax !== null
        ? `Gradient norm — clipped on ${rate.toFixed(1)} % of ${ser.stepsSeen} steps`
        : 'Gradient norm — no clipping',
    );
    this.chart.data.datasets = sets as never;
    this.chart.update('none');
  }
}
