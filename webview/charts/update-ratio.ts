/** Each layer's update ratio ‖ΔW‖/‖W‖ at the latest step, with the healthy band around 1e-3. */
import type { StoreState } from '../store';
import type { Theme } from '../theme';
import { withAlpha } from '../theme';
import { ChartView, bandPlugin, baseOptions, positive } from './base';

export class UpdateRatioChart extends ChartView<'bar'> {
  constructor(parent: HTMLElement, theme: Theme) {
    const opts = baseOptions(
      { title: 'layer', type: 'category' },
      { title: '‖ΔW‖/‖W‖ (log)', log: true, include: [1e-4, 1e-2] },
    ) as Record<string, unknown> & { plugins: Record<string, unknown> };
    opts.parsing = true;
    // hidden in a run, shown per init in a comparison: the base legend's place and type either way
    (opts.plugins.legend as { display: boolean }).display = false;
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
    if (s.mode === 'compare') {
      const runs = s.series.filter((x) => x.latest);
      this.chart.data.labels = runs[0] ? runs[0].latest!.layers.map((l) => String(l.index)) : [];
      this.chart.data.datasets = runs.map((ser, k) => ({
        label: ser.label,
        data: ser.latest!.layers.map((l) => positive(l.updateRatio)),
        backgroundColor: this.theme.palette[k % this.theme.palette.length],
      })) as never;
      (this.chart.options.plugins as { legend: { display: boolean } }).legend.display = runs.length > 1;
      this.setTitle('Update ratio per layer, per init (healthy ≈ 1e-3)');
      this.chart.update('none');
      return;
    }
    (this.chart.options.plugins as { legend: { display: boolean } }).legend.display = false;
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
