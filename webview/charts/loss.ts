/** Loss over steps, and each layer's update ratio ‖ΔW‖/‖W‖ at the latest step. */
import type { StoreState } from '../store';
import { Store } from '../store';
import type { Theme } from '../theme';
import { withAlpha } from '../theme';
import { ChartView, bandPlugin, baseOptions, positive } from './base';

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

export class UpdateRatioChart extends ChartView<'bar'> {
  constructor(parent: HTMLElement, theme: Theme) {
    const opts = baseOptions({ title: 'layer', type: 'category' }, { title: '‖ΔW‖/‖W‖ (log)', log: true }) as Record<
      string,
      unknown
    > & { plugins: Record<string, unknown> };
    opts.parsing = true;
    opts.plugins.legend = { display: false };
    let self: UpdateRatioChart | null = null;
    super(
      parent,
      'chart-update',
      'Update ratio',
      {
        type: 'bar',
        data: { labels: [], datasets: [] },
        options: opts as never,
        plugins: [bandPlugin(() => (self ? { lo: 1e-4, hi: 1e-2, color: withAlpha(self.theme.band, 0.12) } : null))],
      },
      theme,
    );
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the plugin is built before `this` exists
    self = this;
  }

  render(s: StoreState): void {
    const latest = s.series.find((x) => x.latest)?.latest;
    this.chart.data.labels = latest ? latest.layers.map((l) => String(l.index)) : [];
    this.chart.data.datasets = latest
      ? ([
          {
            label: 'update ratio',
            data: latest.layers.map((l) => positive(l.updateRatio)),
            backgroundColor: this.theme.palette[1],
          },
        ] as never)
      : [];
    if (latest) this.setTitle(`Update ratio per layer — step ${latest.step} (healthy ≈ 1e-3)`);
    this.chart.update('none');
  }
}
