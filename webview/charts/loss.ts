/** Loss over steps. */
import type { StoreState } from '../store';
import { Store } from '../store';
import type { Theme } from '../theme';
import { ChartView, baseOptions } from './base';

export class LossChart extends ChartView<'line'> {
  constructor(parent: HTMLElement, theme: Theme) {
    super(
      parent,
      'chart-loss',
      'Loss',
      { type: 'line', data: { datasets: [] }, options: baseOptions({ title: 'step' }, { title: 'loss' }) as never },
      theme,
    );
  }

  render(s: StoreState): void {
    const t = this.theme;
    this.chart.data.datasets = s.series
      .filter((x) => x.latest)
      .map((ser, k) => ({
        label: s.mode === 'compare' ? ser.label : 'loss',
        data: Store.history(ser).map((p) => ({ x: p.step, y: Number.isFinite(p.loss) ? p.loss : null })),
        borderColor: t.palette[k % t.palette.length],
        backgroundColor: t.palette[k % t.palette.length],
        pointRadius: 0,
        borderWidth: 1.3,
      })) as never;
    const ser = s.series.find((x) => x.latest);
    if (ser?.latest) this.setTitle(`Loss — ${ser.latest.loss.toPrecision(4)} at step ${ser.latest.step}`);
    this.chart.update('none');
  }
}
