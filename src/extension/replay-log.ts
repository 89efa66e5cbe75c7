/**
 * What a webview needs to catch up after it was hidden (and destroyed) or reloaded: the last
 * reset, status and problems, every non-step event, and at most ~REPLAY_STEPS step events per
 * series (older ones thinned by half each time the bound is passed, the newest kept). Bounded
 * memory for runs of any length. Pure: no VS Code.
 */
import type { LayerwiseEvent } from '../protocol/events';
import type { HostMessage } from '../protocol/webview-messages';

export const REPLAY_STEPS = 4000;

type Reset = Extract<HostMessage, { type: 'reset' }>;

export class ReplayLog {
  private reset: Reset | null = null;
  private other: HostMessage[] = [];
  private events = new Map<string, LayerwiseEvent[]>();
  private steps = new Map<string, number>();

  start(m: Reset): void {
    this.reset = m;
    this.other = [];
    this.events.clear();
    this.steps.clear();
  }

  /** Problems, status and the followed log: the latest of each kind. */
  note(m: Extract<HostMessage, { type: 'problems' | 'status' | 'log' }>): void {
    this.other = [...this.other.filter((x) => x.type !== m.type), m];
  }

  add(series: string, e: LayerwiseEvent): void {
    const list = this.events.get(series) ?? [];
    list.push(e);
    this.events.set(series, list);
    if (e.type !== 'step') return;
    const n = (this.steps.get(series) ?? 0) + 1;
    this.steps.set(series, n);
    if (n > REPLAY_STEPS * 1.5) {
      // halve the older step events (keep every second one), keep the newest REPLAY_STEPS / 2 as they are
      const stepIdx = list.map((x, i) => (x.type === 'step' ? i : -1)).filter((i) => i >= 0);
      const keepFrom = stepIdx[stepIdx.length - REPLAY_STEPS / 2]!;
      let k = 0;
      const thinned = list.filter((x, i) => x.type !== 'step' || i >= keepFrom || k++ % 2 === 0);
      this.events.set(series, thinned);
      this.steps.set(series, thinned.filter((x) => x.type === 'step').length);
    }
  }

  /** The messages that bring a fresh webview to the present, events in batches of ≤ 2000. */
  messages(): HostMessage[] {
    if (!this.reset) return [];
    const out: HostMessage[] = [this.reset, ...this.other];
    for (const [series, list] of this.events)
      for (let i = 0; i < list.length; i += 2000) out.push({ type: 'events', series, events: list.slice(i, i + 2000) });
    return out;
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
