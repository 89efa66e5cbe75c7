/**
 * The events waiting for a webview's next post, per series, and what that post carries: step and
 * histogram events go through a token bucket per series, counted in rows (thinning.ts `rowsOf`:
 * one and one per layer, what an event's JSON length goes with) — STEP_ROWS_PER_SECOND refilling
 * up to STEP_ROW_BURST, HISTOGRAM_ROWS_PER_SECOND up to HISTOGRAM_ROW_BURST — so a short run is
 * posted whole and a long fast one at about those rates, thinned (thinning.ts keeps the spikes,
 * the non-finite losses and the latest), a deep net's in as many bytes as a shallow one's; every
 * post carries the exact tally of every step queued since the reset. A run of thousands of steps a
 * second would otherwise post megabytes a second the charts cannot show (in a remote window,
 * through the editor's own connection). Events waiting longer (the webview has not acknowledged
 * the posts before: post-window.ts) are thinned where they wait, to a burst's worth, so the queue
 * stays bounded however long the webview lags. Pure: no VS Code.
 */
import type { LayerwiseEvent } from '../protocol/events';
import type { HostMessage } from '../protocol/webview-messages';
import type { StepTally } from '../report/thinning';
import { eventsIn, rowsOf, tallySteps, thinEvents } from '../report/thinning';

/**
 * Rows of step events posted per second per series, at most (about): 250 step events of a 3-layer
 * net (~1.5 kB of JSON each), 31 of a 31-layer net (~14 kB): ~0.4 MB/s, which a chart of a few
 * hundred pixels cannot tell from more, and which a busy machine's renderer (or a remote window's
 * link) keeps up with.
 */
export const STEP_ROWS_PER_SECOND = 1000;
/** Rows of step events posted at once when the bucket is full (2000 steps of a 3-layer net: a run this short is posted whole). */
export const STEP_ROW_BURST = 8000;
/** Rows of histogram events posted per second per series, at most (about): 10 a second of a 3-layer net. */
export const HISTOGRAM_ROWS_PER_SECOND = 40;
export const HISTOGRAM_ROW_BURST = 200;
/** Rows waiting in one series beyond which they are thinned where they wait. */
export const PENDING_ROWS = 2 * (STEP_ROW_BURST + HISTOGRAM_ROW_BURST);

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
  /** Per series, the rows of the step and histogram events waiting. */
  private readonly pendingRows = new Map<string, number>();
  private readonly tallies = new Map<string, StepTally>();
  /** Series whose events came thinned already (kept runs): posted as they are. */
  private readonly thinned = new Set<string>();
  private readonly buckets = new Map<string, { step: Bucket; histogram: Bucket }>();

  /** Starts over (a new run): nothing queued, nothing tallied, full buckets. */
  clear(): void {
    this.pending.clear();
    this.pendingRows.clear();
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
    let rows = this.pendingRows.get(series) ?? 0;
    for (const e of events) {
      q.push(e);
      if (e.type === 'step' || e.type === 'histogram') rows += rowsOf(e);
    }
    this.tallies.set(series, seen ? { ...seen } : tallySteps(events, this.tallies.get(series)));
    if (seen) this.thinned.add(series);
    else if (rows > PENDING_ROWS && !this.thinned.has(series)) {
      q = thinEvents(q, 'step', eventsIn(q, 'step', STEP_ROW_BURST, 1));
      q = thinEvents(q, 'histogram', eventsIn(q, 'histogram', HISTOGRAM_ROW_BURST, 1));
      rows = 0;
      for (const e of q) if (e.type === 'step' || e.type === 'histogram') rows += rowsOf(e);
    }
    this.pending.set(series, q);
    this.pendingRows.set(series, rows);
  }

  /** Whether any event waits to be posted. */
  get hasPending(): boolean {
    for (const q of this.pending.values()) if (q.length > 0) return true;
    return false;
  }

  /** Drops a series (an overlay taken off). */
  remove(series: string): void {
    this.pending.delete(series);
    this.pendingRows.delete(series);
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
              step: new Bucket(STEP_ROWS_PER_SECOND, STEP_ROW_BURST),
              histogram: new Bucket(HISTOGRAM_ROWS_PER_SECOND, HISTOGRAM_ROW_BURST),
            }),
          );
        // the latest step always goes (the panel shows it); a histogram waits for its rows' tokens
        const steps = eventsIn(kept, 'step', b.step.available(now), 1),
          hists = eventsIn(kept, 'histogram', b.histogram.available(now), 0);
        kept = thinEvents(kept, 'step', steps);
        kept = hists > 0 ? thinEvents(kept, 'histogram', hists) : kept.filter((e) => e.type !== 'histogram');
        let stepRows = 0,
          histRows = 0;
        for (const e of kept)
          if (e.type === 'step') stepRows += rowsOf(e);
          else if (e.type === 'histogram') histRows += rowsOf(e);
        b.step.spend(stepRows);
        b.histogram.spend(histRows);
      }
      out.push({ type: 'events', series, events: kept, seen: { ...this.tallies.get(series)! } });
    }
    this.pending.clear();
    this.pendingRows.clear();
    return out;
  }
}
