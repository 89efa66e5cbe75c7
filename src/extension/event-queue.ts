/**
 * The events waiting for a webview's next post, per series, and what that post carries: step and
 * histogram events go through a token bucket per series (STEPS_PER_SECOND refilling up to
 * STEP_BURST; HISTOGRAMS_PER_SECOND up to HISTOGRAM_BURST), so a short run is posted whole and a
 * long fast one at about those rates, thinned (thinning.ts keeps the spikes, the non-finite losses
 * and the latest); every post carries the exact tally of every step queued since the reset. A run
 * of thousands of steps a second would otherwise post megabytes a second the charts cannot show
 * (in a remote window, through the editor's own connection). Events waiting longer (the webview
 * has not acknowledged the posts before: post-window.ts) are thinned where they wait, to a burst's
 * worth, so the queue stays bounded however long the webview lags. Pure: no VS Code.
 */
import type { LayerwiseEvent } from '../protocol/events';
import type { HostMessage } from '../protocol/webview-messages';
import type { StepTally } from '../report/thinning';
import { tallySteps, thinEvents } from '../report/thinning';

/**
 * Step events posted per second per series, at most (about). A step event of a 3-layer net is
 * ~1.5 kB of JSON: 250 a second is ~0.4 MB/s, which a chart of a few hundred pixels cannot tell
 * from more, and which a busy machine's renderer (or a remote window's link) keeps up with.
 */
export const STEPS_PER_SECOND = 250;
/** Step events posted at once when the bucket is full (a run this short is posted whole). */
export const STEP_BURST = 2000;
/** Histogram events posted per second per series, at most (about). */
export const HISTOGRAMS_PER_SECOND = 10;
export const HISTOGRAM_BURST = 50;
/** Events waiting in one series beyond which they are thinned where they wait. */
export const PENDING_CAP = 2 * STEP_BURST + 2 * HISTOGRAM_BURST;

/** Tokens refilling at `rate` a second up to `cap`; full at first. */
class Bucket {
  private tokens: number;
  private at: number | null = null;
  constructor(
    private readonly rate: number,
    private readonly cap: number,
  ) {
    this.tokens = cap;
  }
  /** How many may go now. */
  available(now: number): number {
    if (this.at !== null) this.tokens = Math.min(this.cap, this.tokens + ((now - this.at) / 1000) * this.rate);
    this.at = now;
    return Math.floor(this.tokens);
  }
  spend(n: number): void {
    this.tokens = Math.max(0, this.tokens - n);
  }
}

type EventsMessage = Extract<HostMessage, { type: 'events' }>;

export class EventQueue {
  private pending = new Map<string, LayerwiseEvent[]>();
  private readonly tallies = new Map<string, StepTally>();
  /** Series whose events came thinned already (kept runs): posted as they are. */
  private readonly thinned = new Set<string>();
  private readonly buckets = new Map<string, { step: Bucket; histogram: Bucket }>();

  /** Starts over (a new run): nothing queued, nothing tallied, full buckets. */
  clear(): void {
    this.pending.clear();
    this.tallies.clear();
    this.thinned.clear();
    this.buckets.clear();
  }

  /**
   * Queues events. `seen`: they came thinned already (a kept run), with the tally of all their
   * steps; they are posted as they are.
   */
  add(series: string, events: readonly LayerwiseEvent[], seen?: StepTally): void {
    let q = this.pending.get(series) ?? [];
    for (const e of events) q.push(e);
    this.tallies.set(series, seen ? { ...seen } : tallySteps(events, this.tallies.get(series)));
    if (seen) this.thinned.add(series);
    else if (q.length > PENDING_CAP && !this.thinned.has(series))
      q = thinEvents(thinEvents(q, 'step', STEP_BURST), 'histogram', HISTOGRAM_BURST);
    this.pending.set(series, q);
  }

  /** Whether any event waits to be posted. */
  get hasPending(): boolean {
    for (const q of this.pending.values()) if (q.length > 0) return true;
    return false;
  }

  /** Drops a series (an overlay taken off). */
  remove(series: string): void {
    this.pending.delete(series);
    this.tallies.delete(series);
    this.thinned.delete(series);
    this.buckets.delete(series);
  }

  /** The messages of one post at time `now` (ms); empties the queue. */
  take(now: number = Date.now()): EventsMessage[] {
    const out: EventsMessage[] = [];
    for (const [series, events] of this.pending) {
      if (!events.length) continue;
      let kept = events;
      if (!this.thinned.has(series)) {
        let b = this.buckets.get(series);
        if (!b)
          this.buckets.set(
            series,
            (b = {
              step: new Bucket(STEPS_PER_SECOND, STEP_BURST),
              histogram: new Bucket(HISTOGRAMS_PER_SECOND, HISTOGRAM_BURST),
            }),
          );
        // the latest step always goes (the panel shows it); histograms wait for a token
        const steps = Math.max(1, b.step.available(now)),
          hists = b.histogram.available(now);
        kept = thinEvents(kept, 'step', steps);
        kept = hists > 0 ? thinEvents(kept, 'histogram', hists) : kept.filter((e) => e.type !== 'histogram');
        b.step.spend(kept.filter((e) => e.type === 'step').length);
        b.histogram.spend(kept.filter((e) => e.type === 'histogram').length);
      }
      out.push({ type: 'events', series, events: kept, seen: { ...this.tallies.get(series)! } });
    }
    this.pending.clear();
    return out;
  }
}
