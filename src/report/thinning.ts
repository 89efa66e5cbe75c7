/**
 * How many events a view is sent. A view draws a few thousand points a chart, so a run of
 * thousands of steps a second is thinned before it is posted (the extension's webview channel)
 * or inlined (the HTML report), and the counts the panel states ("clipped on 3.1 % of 1,000,000
 * steps") travel beside the kept events as exact totals. Pure: no VS Code, no DOM.
 */

/** Step events of a series up to some point: how many, and how many of those clipped. */
export interface StepTally {
  steps: number;
  clipped: number;
}

interface Thinnable {
  type: string;
  loss?: number;
  clipped?: boolean;
  layers?: readonly unknown[];
}

/**
 * An event's size in rows: one, and one per layer it has statistics of. Its JSON's length goes
 * with it (a step event ~0.45 kB a row, a histogram event ~2.6 kB), so the bounds on what is
 * posted and kept are in rows: a net of 31 layers keeps an eighth of the steps a net of 3 does,
 * in the same bytes.
 */
export function rowsOf(e: Thinnable): number {
  return 1 + (e.layers?.length ?? 0);
}

/**
 * How many events of `type` fit in `rows`, by the size of the last one in `events` (a series'
 * events of one type all have the same layers), at least `least`, at most `most`.
 */
export function eventsIn(
  events: readonly Thinnable[],
  type: string,
  rows: number,
  least: number,
  most = Infinity,
): number {
  let size = 1;
  for (let i = events.length - 1; i >= 0; i--)
    if (events[i]!.type === type) {
      size = rowsOf(events[i]!);
      break;
    }
  return fitting(rows, size, least, most);
}

/** How many events of `size` rows fit in `rows`, at least `least`, at most `most`. */
export function fitting(rows: number, size: number, least: number, most = Infinity): number {
  return Math.min(most, Math.max(least, Math.floor(rows / size)));
}

/** Adds `events`' step events to `t` (in place) and returns it. */
export function tallySteps(events: readonly Thinnable[], t: StepTally = { steps: 0, clipped: 0 }): StepTally {
  for (const e of events)
    if (e.type === 'step') {
      t.steps++;
      if (e.clipped) t.clipped++;
    }
  return t;
}

/**
 * Keeps at most about `max` events of type `type` (and every event of another type, in order):
 * of each bucket of consecutive events of that type, the one with the smallest and the one with
 * the largest finite loss (so a spike survives), every event whose loss is not finite, and the
 * last event. Events without a loss (histograms) keep the last of each bucket of ⌈n/max⌉.
 */
export function thinEvents<T extends Thinnable>(events: readonly T[], type: string, max: number): T[] {
  const idx: number[] = [];
  for (let i = 0; i < events.length; i++) if (events[i]!.type === type) idx.push(i);
  if (idx.length <= max) return [...events];
  const withLoss = idx.some((i) => events[i]!.loss !== undefined);
  const size = Math.ceil(((withLoss ? 2 : 1) * idx.length) / Math.max(1, max));
  const keep = new Set<number>([idx.at(-1)!]);
  for (let b = 0; b < idx.length; b += size) {
    let lo = -1,
      hi = -1;
    for (let k = b; k < Math.min(b + size, idx.length); k++) {
      const i = idx[k]!,
        loss = events[i]!.loss;
      if (loss === undefined) continue;
      if (!Number.isFinite(loss)) keep.add(i);
      else {
        if (lo < 0 || loss < events[lo]!.loss!) lo = i;
        if (hi < 0 || loss > events[hi]!.loss!) hi = i;
      }
    }
    if (lo < 0) keep.add(idx[Math.min(b + size, idx.length) - 1]!);
    else keep.add(lo).add(hi);
  }
  return events.filter((e, i) => e.type !== type || keep.has(i));
}

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
  /** How many may go at `now` (ms). */
  available(now: number): number {
    if (this.at !== null) this.tokens = Math.min(this.cap, this.tokens + ((now - this.at) / 1000) * this.rate);
    this.at = now;
    return Math.floor(this.tokens);
  }
  spend(n: number): void {
    this.tokens = Math.max(0, this.tokens - n);
  }
}

/** Rows a second and rows at once (a full bucket) of step and of histogram events. */
interface RowRates {
  stepRows: number;
  stepBurst: number;
  histogramRows: number;
  histogramBurst: number;
}

/**
 * One stream's step and histogram events at about a rate in rows (`rowsOf`): a token bucket each,
 * full at first (a short run goes whole), the rest thinned by `thinEvents` (spikes, non-finite
 * losses and the latest step kept); every other event goes.
 */
export class RowRate {
  private readonly step: Bucket;
  private readonly histogram: Bucket;
  constructor(r: RowRates) {
    this.step = new Bucket(r.stepRows, r.stepBurst);
    this.histogram = new Bucket(r.histogramRows, r.histogramBurst);
  }

  /** What of `events` goes at `now` (ms): the latest step always; a histogram once its rows' tokens are in. */
  thin<T extends Thinnable>(events: readonly T[], now: number): T[] {
    const steps = eventsIn(events, 'step', this.step.available(now), 1),
      hists = eventsIn(events, 'histogram', this.histogram.available(now), 0);
    let kept = thinEvents(events, 'step', steps);
    kept = hists > 0 ? thinEvents(kept, 'histogram', hists) : kept.filter((e) => e.type !== 'histogram');
    let stepRows = 0,
      histRows = 0;
    for (const e of kept)
      if (e.type === 'step') stepRows += rowsOf(e);
      else if (e.type === 'histogram') histRows += rowsOf(e);
    this.step.spend(stepRows);
    this.histogram.spend(histRows);
    return kept;
  }
}
