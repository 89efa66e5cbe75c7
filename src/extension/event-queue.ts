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
import { eventsIn, RowRate, rowsOf, tallySteps, thinEvents } from '../report/thinning';

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
/**
 * What a run's worker posts the extension host (RunRequest `postRates`): four times what the
 * panel is posted, so the host's queue still picks the spikes, and the host's thread does not
 * take in every step of a run of thousands a second (~30 % of a core on quick.mlp.json).
 */
export const HOST_RATES = {
  stepRows: 4 * STEP_ROWS_PER_SECOND,
  stepBurst: 2 * STEP_ROW_BURST,
  histogramRows: 4 * HISTOGRAM_ROWS_PER_SECOND,
  histogramBurst: 4 * HISTOGRAM_ROW_BURST,
};
/** Rows waiting in one series beyond which they are thinned where they wait. */
export const PENDING_ROWS = 2 * (STEP_ROW_BURST + HISTOGRAM_ROW_BURST);

type EventsMessage = Extract<HostMessage, { type: 'events' }>;

export class EventQueue {
  private pending = new Map<string, LayerwiseEvent[]>();
  /** Per series, the rows of the step and histogram events waiting. */
  private readonly pendingRows = new Map<string, number>();
  private readonly tallies = new Map<string, StepTally>();
  /** Series whose events came thinned already (kept runs): posted as they are. */
  private readonly thinned = new Set<string>();
  private readonly rates = new Map<string, RowRate>();

  /** Starts over (a new run): nothing queued, nothing tallied, full buckets. */
  clear(): void {
    this.pending.clear();
    this.pendingRows.clear();
    this.tallies.clear();
    this.thinned.clear();
    this.rates.clear();
  }

  /**
   * Queues events. `seen`: they came thinned already (a kept run), with the tally of all their
   * steps; they are posted as they are. `tally`: the exact tally of the series' steps up to the
   * last of these, where the sender left some out (a run's worker posts its host a rate).
   */
  add(series: string, events: readonly LayerwiseEvent[], seen?: StepTally, tally?: StepTally): void {
    let q = this.pending.get(series) ?? [];
    let rows = this.pendingRows.get(series) ?? 0;
    for (const e of events) {
      q.push(e);
      if (e.type === 'step' || e.type === 'histogram') rows += rowsOf(e);
    }
    this.tallies.set(series, seen ? { ...seen } : tally ? { ...tally } : tallySteps(events, this.tallies.get(series)));
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
    this.rates.delete(series);
  }

  /** The messages of one post at time `now` (ms); empties the queue. */
  take(now: number = Date.now()): EventsMessage[] {
    const out: EventsMessage[] = [];
    for (const [series, events] of this.pending) {
      if (!events.length) continue;
      let kept = events;
      if (!this.thinned.has(series)) {
        let r = this.rates.get(series);
        if (!r)
          this.rates.set(
            series,
            (r = new RowRate({
              stepRows: STEP_ROWS_PER_SECOND,
              stepBurst: STEP_ROW_BURST,
              histogramRows: HISTOGRAM_ROWS_PER_SECOND,
              histogramBurst: HISTOGRAM_ROW_BURST,
            })),
          );
        kept = r.thin(kept, now);
      }
      out.push({ type: 'events', series, events: kept, seen: { ...this.tallies.get(series)! } });
    }
    this.pending.clear();
    this.pendingRows.clear();
    return out;
  }
}
