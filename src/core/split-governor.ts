/**
 * Whether a step is split over two threads, decided by what the split is worth right now.
 *
 * A batch split pays only while the second core is free: when another process takes it, every
 * hand-off waits for a thread that is not running, and a split step can take several times as
 * long as the same step on one thread. The governor measures instead of guessing. It times PROBE
 * steps on one thread, then up to PROBE split, and runs the faster (by median step time; the split
 * must win by MARGIN) for a while. The first split step of a probe is not timed: it wakes the
 * helper, asleep since the last split step (on a VM that can take as long as the step). Two split
 * probe steps in a row slower than ABORT times one thread's median end the probe at once, so a
 * busy machine pays for three slow steps, not PROBE. While it runs
 * split it keeps timing: once a window's median is slower than one thread's, it measures one
 * thread again and decides anew. While it runs on one thread it keeps one thread's median current
 * and probes the split again after `hold` steps, doubling `hold` each time one thread wins again
 * (MIN_HOLD up to MAX_HOLD), so a machine that stays busy pays for few probes. Both ways compute
 * the same step (the split's statistics agree within float32 rounding), so switching changes
 * only the speed.
 *
 * The first WARMUP steps run on one thread, untimed (the JIT compiles; caches fill). Times come
 * from the trainer's injected clock; the governor itself reads none.
 */

/** Steps a probe times each way. */
const PROBE = 6;
/** Untimed steps at the start of a run. */
const WARMUP = 3;
/** The split is chosen only when its median step is at most this fraction of one thread's. */
const MARGIN = 0.95;
/** A split probe step this many times one thread's median ends the probe at once. */
const ABORT = 1.5;
/** Steps on one thread before the split is probed again: the first hold, and the most. */
const MIN_HOLD = 32;
const MAX_HOLD = 256;

/** Decides, step by step, whether to split; told how long each step took. */
export interface SplitPolicy {
  /** Whether to split the next step. */
  next(): boolean;
  /** How long the step just run took (in the clock's unit), split as `next()` said. */
  record(time: number): void;
  /** Steps run split so far. */
  readonly splitSteps: number;
}

type Phase = 'warmup' | 'probe-one' | 'probe-split' | 'split' | 'one';

export class SplitGovernor implements SplitPolicy {
  private phase: Phase = 'warmup';
  /** Steps into the current phase. */
  private n = 0;
  private times: number[] = [];
  private splitMedian = Infinity;
  private oneMedian = Infinity;
  private hold = MIN_HOLD;
  private oneWonLast = false;
  /** Steps run split and on one thread (for the run's summary). */
  splitSteps = 0;
  oneSteps = 0;

  /** Whether to split the next step. */
  next(): boolean {
    return this.phase === 'probe-split' || this.phase === 'split';
  }

  /** Records how long the step just run took (any unit), split as `next()` said. */
  record(time: number): void {
    if (this.next()) this.splitSteps++;
    else this.oneSteps++;
    this.n++;
    switch (this.phase) {
      case 'warmup':
        if (this.n >= WARMUP) this.enter('probe-one');
        return;
      case 'probe-one':
        if (this.sample(time)) {
          this.oneMedian = this.median();
          this.enter('probe-split');
        }
        return;
      case 'probe-split':
        // the first split step wakes the helper (asleep since the last split step): not timed
        if (this.n === 1) return;
        // two split steps in a row far slower than one thread: the other core is taken
        if (time > ABORT * this.oneMedian && (this.times.at(-1) ?? 0) > ABORT * this.oneMedian) {
          this.splitMedian = time;
          this.decide();
        } else if (this.sample(time)) {
          this.splitMedian = this.median();
          this.decide();
        }
        return;
      case 'split':
        // a window of split steps slower than one thread was: measure one thread again
        if (this.sample(time)) {
          this.splitMedian = this.median();
          if (this.splitMedian > this.oneMedian) this.enter('probe-one');
          else this.times = [];
        }
        return;
      case 'one':
        // one thread's time stays current, for the next probe of the split to be judged by
        if (this.sample(time)) {
          this.oneMedian = this.median();
          this.times = [];
        }
        if (this.n >= this.hold) this.enter('probe-split');
        return;
    }
  }

  private decide(): void {
    const one = this.splitMedian > MARGIN * this.oneMedian;
    this.hold = one && this.oneWonLast ? Math.min(MAX_HOLD, this.hold * 2) : MIN_HOLD;
    this.oneWonLast = one;
    this.enter(one ? 'one' : 'split');
  }

  private enter(p: Phase): void {
    this.phase = p;
    this.n = 0;
    this.times = [];
  }

  /** Adds a time; true once PROBE are in. */
  private sample(t: number): boolean {
    this.times.push(t);
    return this.times.length >= PROBE;
  }

  private median(): number {
    const s = [...this.times].sort((a, b) => a - b),
      m = s.length >> 1;
    return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
  }
}
