/**
 * The events waiting for a webview's next post, per series, and what that post carries: at most
 * ~STEPS_PER_SECOND step events and ~HISTOGRAMS_PER_SECOND histogram events a second per series
 * (thinning.ts keeps the spikes, the non-finite losses and the latest), with the exact tally of
 * every step event queued since the reset. A run of thousands of steps a second would otherwise
 * post megabytes a second the charts cannot show (in a remote window, through the editor's own
 * connection). Pure: no VS Code.
 */
import type { LayerwiseEvent } from '../protocol/events';
import type { HostMessage } from '../protocol/webview-messages';
import type { StepTally } from '../report/thinning';
import { tallySteps, thinEvents } from '../report/thinning';

/** Step events posted per second per series, at most (about). */
export const STEPS_PER_SECOND = 1000;
/** Histogram events posted per second per series, at most (about). */
export const HISTOGRAMS_PER_SECOND = 10;

type EventsMessage = Extract<HostMessage, { type: 'events' }>;

export class EventQueue {
  private pending = new Map<string, LayerwiseEvent[]>();
  private readonly tallies = new Map<string, StepTally>();

  /** Starts over (a new run): nothing queued, nothing tallied. */
  clear(): void {
    this.pending.clear();
    this.tallies.clear();
  }

  add(series: string, events: readonly LayerwiseEvent[]): void {
    const q = this.pending.get(series) ?? [];
    for (const e of events) q.push(e);
    this.pending.set(series, q);
    this.tallies.set(series, tallySteps(events, this.tallies.get(series)));
  }

  /** The messages of one post, `postsPerSecond` of which are sent a second; empties the queue. */
  take(postsPerSecond: number): EventsMessage[] {
    const perPost = (perSecond: number): number => Math.max(2, Math.ceil(perSecond / Math.max(1, postsPerSecond)));
    const out: EventsMessage[] = [];
    for (const [series, events] of this.pending) {
      if (!events.length) continue;
      const kept = thinEvents(
        thinEvents(events, 'step', perPost(STEPS_PER_SECOND)),
        'histogram',
        perPost(HISTOGRAMS_PER_SECOND),
      );
      out.push({ type: 'events', series, events: kept, seen: { ...this.tallies.get(series)! } });
    }
    this.pending.clear();
    return out;
  }
}
