/**
 * What a webview needs to catch up after it was hidden (and destroyed) or reloaded: the last
 * reset, status and problems, every event that is not periodic, and per series at most about
 * REPLAY_STEPS step events and REPLAY_STEPS sharpness and validation events, REPLAY_HISTOGRAMS
 * histogram events — fewer of a deep net's, whose events are larger: REPLAY_STEP_ROWS and
 * REPLAY_HISTOGRAM_ROWS rows (thinning.ts `rowsOf`), and never fewer than a floor — older ones
 * thinned by half each time a bound is passed, the newest kept, with the exact tally of the step
 * events added. Bounded memory for runs of any length and depth. Pure: no VS Code.
 */
import type { LayerwiseEvent } from '../protocol/events';
import type { HostMessage } from '../protocol/webview-messages';
import type { StepTally } from '../report/thinning';
import { fitting, rowsOf } from '../report/thinning';

export const REPLAY_STEPS = 4000;
/** Histogram events are large (three histograms a layer): fewer are kept. */
export const REPLAY_HISTOGRAMS = 400;
/** Rows of step events kept (4000 steps of a 3-layer net, 500 of a 31-layer one), and the floor. */
const REPLAY_STEP_ROWS = 16000;
const LEAST_STEPS = 200;
/** Rows of histogram events kept (400 of a 3-layer net), and the floor. */
const REPLAY_HISTOGRAM_ROWS = 1600;
const LEAST_HISTOGRAMS = 20;

type Periodic = 'step' | 'histogram' | 'sharpness' | 'validation';
const isPeriodic = (t: string): t is Periodic =>
  t === 'step' || t === 'histogram' || t === 'sharpness' || t === 'validation';

/** How many events like `e` (of a periodic type) a series keeps. */
function boundOf(type: Periodic, e: LayerwiseEvent): number {
  const rows = rowsOf(e);
  const n =
    type === 'step'
      ? fitting(REPLAY_STEP_ROWS, rows, LEAST_STEPS, REPLAY_STEPS)
      : type === 'histogram'
        ? fitting(REPLAY_HISTOGRAM_ROWS, rows, LEAST_HISTOGRAMS, REPLAY_HISTOGRAMS)
        : REPLAY_STEPS;
  return 2 * Math.floor(n / 2);
}

type Reset = Extract<HostMessage, { type: 'reset' }>;

export class ReplayLog {
  private reset: Reset | null = null;
  private other: HostMessage[] = [];
  private events = new Map<string, LayerwiseEvent[]>();
  /** Per series and periodic type, the events of that type kept. */
  private counts = new Map<string, number>();
  /** Per series, every step event added (kept or thinned). */
  private tallies = new Map<string, StepTally>();

  start(m: Reset): void {
    this.reset = m;
    this.other = [];
    this.events.clear();
    this.counts.clear();
    this.tallies.clear();
  }

  /** Problems, status and the followed log: the latest of each kind. */
  note(m: Extract<HostMessage, { type: 'problems' | 'status' | 'log' }>): void {
    this.other = [...this.other.filter((x) => x.type !== m.type), m];
  }

  add(series: string, e: LayerwiseEvent): void {
    const list = this.events.get(series) ?? [];
    list.push(e);
    this.events.set(series, list);
    if (e.type === 'step') {
      const t = this.tallies.get(series) ?? { steps: 0, clipped: 0 };
      t.steps++;
      if (e.clipped) t.clipped++;
      this.tallies.set(series, t);
    }
    const type = e.type;
    if (!isPeriodic(type)) return;
    const key = `${series}\u0000${type}`,
      bound = boundOf(type, e);
    const n = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, n);
    if (n > bound * 1.5) {
      // halve the older events of this type (keep every second one), keep the newest bound / 2 as they are
      const idx = list.map((x, i) => (x.type === type ? i : -1)).filter((i) => i >= 0);
      const keepFrom = idx[idx.length - bound / 2]!;
      let k = 0;
      const thinned = list.filter((x, i) => x.type !== type || i >= keepFrom || k++ % 2 === 0);
      this.events.set(series, thinned);
      this.counts.set(key, thinned.filter((x) => x.type === type).length);
    }
  }

  /** The messages that bring a fresh webview to the present, events in batches of ≤ 2000. */
  messages(): HostMessage[] {
    if (!this.reset) return [];
    const out: HostMessage[] = [this.reset, ...this.other];
    for (const [series, list] of this.events)
      for (let i = 0; i < list.length; i += 2000)
        out.push({
          type: 'events',
          series,
          events: list.slice(i, i + 2000),
          ...(i + 2000 >= list.length ? { seen: this.tally(series) } : {}),
        });
    return out;
  }

  /** Forgets a series (an overlay taken off). */
  removeSeries(series: string): void {
    this.events.delete(series);
    this.tallies.delete(series);
    for (const k of [...this.counts.keys()]) if (k.startsWith(`${series}\u0000`)) this.counts.delete(k);
  }

  /** Sets a series' tally (its events came thinned, with the tally of all of them). */
  setTally(series: string, t: StepTally): void {
    this.tallies.set(series, { ...t });
  }

  /** The exact tally of a series' step events (those kept and those thinned). */
  tally(series: string): StepTally {
    return { ...(this.tallies.get(series) ?? { steps: 0, clipped: 0 }) };
  }

  get lastReset(): Reset | null {
    return this.reset;
  }

  /** Every kept event per series (for the report). */
  allEvents(): Map<string, LayerwiseEvent[]> {
    return new Map([...this.events].map(([k, v]) => [k, [...v]]));
  }

  /** Number of events kept (for tests of the bound). */
  get size(): number {
    let n = 0;
    for (const v of this.events.values()) n += v.length;
    return n;
  }
}
