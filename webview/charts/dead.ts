/** Dead units: per layer now (bars, % with the count in the tooltip) and over steps (lines). */
import type { ChartDataset } from 'chart.js';
import { layerLabel } from '../../src/protocol/events';
import type { StoreState } from '../store';
import { Store } from '../store';
import type { Theme } from '../theme';
import type { Point } from './base';
import { ChartView, baseOptions } from './base';

export class DeadNowChart extends ChartView<'bar'> {
  constructor(parent: HTMLElement, theme: Theme) {
    const opts = baseOptions({ title: 'layer', type: 'category' }, { title: 'dead units (%)' }) as Record<
      string,
      unknown
    > & { scales: { y: Record<string, unknown> }; plugins: Record<string, unknown> };
    opts.scales.y.min = 0;
    opts.scales.y.max = 100;
    opts.parsing = true;
    // one entry per colour: below the warning's threshold, and flagged (≥ 50 % dead)
    opts.plugins.legend = {
      display: true,
      position: 'bottom',
      labels: {
        boxWidth: 10,
        boxHeight: 10,
        font: { size: 10 },
        generateLabels: (chart: { data: { datasets: { label?: string; backgroundColor?: unknown }[] } }) => {
          const t = self?.theme;
          // a comparison: one entry per init
          if (t && chart.data.datasets.length > 1)
            return chart.data.datasets.map((d, i) => ({
              text: String(d.label),
              fillStyle: d.backgroundColor,
              strokeStyle: d.backgroundColor,
              fontColor: t.fg,
              lineWidth: 0,
              datasetIndex: i,
            }));
          return t
            ? [
                { text: 'dead %', fillStyle: t.palette[0], strokeStyle: t.palette[0], fontColor: t.fg, lineWidth: 0 },
                {
                  text: 'flagged: ≥ 50 % dead (dying_relu)',
                  fillStyle: t.error,
                  strokeStyle: t.error,
                  fontColor: t.fg,
                  lineWidth: 0,
                },
              ]
            : [];
        },
      },
    };
    let self: DeadNowChart | null = null;
    opts.plugins.tooltip = {
      callbacks: {
        label: (c: { raw: unknown; dataIndex: number; chart: { data: { datasets: { counts?: string[] }[] } } }) =>
          (c.chart.data.datasets[0]?.counts ?? [])[c.dataIndex] ?? '',
      },
    };
    super(
      parent,
      'chart-dead',
      'Dead units',
      { type: 'bar', data: { labels: [], datasets: [] }, options: opts as never },
      theme,
    );
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the legend is built before `this` exists
    self = this;
  }

  render(s: StoreState): void {
    if (s.mode === 'compare') {
      const runs = s.series.filter((x) => x.latest && x.start);
      const first = runs[0];
      this.chart.data.labels = first
        ? first.latest!.layers.filter((l) => l.dead !== null).map((l) => String(l.index))
        : [];
      this.chart.data.datasets = runs.map((ser, k) => ({
        label: ser.label,
        data: ser
          .latest!.layers.filter((l) => l.dead !== null)
          .map((l) => (100 * l.dead!) / ser.start!.layers[l.index]!.units),
        backgroundColor: this.theme.palette[k % this.theme.palette.length],
        counts: ser.latest!.layers.filter((l) => l.dead !== null).map((l) => `${ser.label}: ${l.dead} units dead`),
      })) as never;
      this.setTitle('Dead units per layer, per init');
      this.chart.update('none');
      return;
    }
    const ser = s.series.find((x) => x.latest);
    const start = ser?.start;
    const latest = ser?.latest;
    if (!ser || !start || !latest) {
      this.chart.data.labels = [];
      this.chart.data.datasets = [];
      this.chart.update('none');
      return;
    }
    const rows = latest.layers.filter((l) => l.dead !== null);
    const pct = rows.map((l) => (100 * l.dead!) / start.layers[l.index]!.units);
    const total = rows.reduce((a, l) => a + l.dead!, 0);
    const units = rows.reduce((a, l) => a + start.layers[l.index]!.units, 0);
    this.setTitle(
      rows.length
        ? `Dead units — ${total} of ${units} (${units ? ((100 * total) / units).toFixed(1) : 0} %) at step ${latest.step}`
        : 'Dead units — no ReLU layers',
    );
    this.chart.data.labels = rows.map((l) => String(l.index));
    const ds = {
      label: 'dead %',
      data: pct,
      backgroundColor: pct.map((p) => (p >= 50 ? this.theme.error : this.theme.palette[0]!)),
      counts: rows.map((l) => `${l.dead} of ${start.layers[l.index]!.units} units dead`),
    };
    this.chart.data.datasets = [ds as never];
    this.chart.update('none');
  }
}

export class DeadOverTimeChart extends ChartView<'line'> {
  constructor(parent: HTMLElement, theme: Theme) {
    const opts = baseOptions({ title: 'step' }, { title: 'dead units (%)' }) as Record<string, unknown> & {
      scales: { y: Record<string, unknown> };
    };
    opts.scales.y.min = 0;
    opts.scales.y.max = 100;
    super(
      parent,
      'chart-dead-steps',
      'Dead units over steps',
      { type: 'line', data: { datasets: [] }, options: opts as never },
      theme,
    );
  }

  render(s: StoreState): void {
    const per = Store.perSeries(s);
    if (per) {
      // the share of all ReLU units that are dead, one line per init or run
      const runs = s.series.filter((x) => x.latest && x.start);
      this.chart.data.datasets = runs.map((ser, k) => {
        const relu = ser.start!.layers.filter((l) => l.activation === 'relu' || l.activation === 'leaky_relu');
        const units = relu.reduce((a, l) => a + l.units, 0);
        return {
          label: ser.label,
          data: Store.history(ser).map((p) => ({
            x: p.step,
            y: units > 0 ? (100 * relu.reduce((a, l) => a + (p.dead[l.index] ?? 0), 0)) / units : null,
          })),
          borderColor: this.theme.palette[k % this.theme.palette.length],
          backgroundColor: this.theme.palette[k % this.theme.palette.length],
          pointRadius: 0,
          borderWidth: 1.2,
          tension: 0,
        };
      }) as never;
      this.setTitle(`Dead units over steps, all ReLU layers, per ${per}`);
      this.chart.update('none');
      return;
    }
    const ser = s.series.find((x) => x.latest);
    const start = ser?.start;
    if (!ser || !start) {
      this.chart.data.datasets = [];
      this.chart.update('none');
      return;
    }
    const hist = Store.history(ser);
    const layers = start.layers.filter((l) => l.activation === 'relu' || l.activation === 'leaky_relu');
    this.setTitle(layers.length ? 'Dead units over steps' : 'Dead units over steps — no ReLU layers');
    // the layers with the most dead units at the latest step, at most 6 lines
    const latest = hist.at(-1);
    const ranked = [...layers]
      .sort((a, b) => (latest?.dead[b.index] ?? 0) / b.units - (latest?.dead[a.index] ?? 0) / a.units)
      .slice(0, 6)
      .sort((a, b) => a.index - b.index); // the legend in layer order
    const sets: ChartDataset<'line', Point[]>[] = ranked.map((l, k) => ({
      label: layerLabel(start, l.index),
      data: hist.map((p) => ({
        x: p.step,
        y: p.dead[l.index] === null || p.dead[l.index] === undefined ? null : (100 * p.dead[l.index]!) / l.units,
      })),
      borderColor: this.theme.palette[k % this.theme.palette.length],
      backgroundColor: this.theme.palette[k % this.theme.palette.length],
      pointRadius: 0,
      borderWidth: 1.2,
      tension: 0,
    }));
    this.chart.data.datasets = sets;
    this.chart.update('none');
  }
}
