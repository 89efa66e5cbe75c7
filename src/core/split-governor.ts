/**
 * Whether a step is split over two threads, decided by what the split is worth right now.
 *
 * A batch split pays only while the second core is free: when another process takes it, every
 * hand-off waits for a thread that is not running, and a split step can take several times as
 * long as the same step on one thread. The governor measures instead of guessing. It times PROBE
 * steps on one thread, then up to PROBE split, and runs the faster (by each window's typical step,
 * its lower quartile; the split must win by MARGIN) for a while. The first split step of a probe
 * is not timed: it wakes the helper, asleep since the last split step (on a VM that can take as
 * long as the step). Two split probe steps in a row slower than ABORT times one thread's typical
 * step end the probe at once, so a busy machine pays for three slow steps, not PROBE. While it
 * runs split it keeps timing: once a window's typical step is slower than one thread's by the
 * margin, it measures one thread again and decides anew; and once the split's mean step over
 * LONG_MS is over LONG_FACTOR times one thread's typical step (with a quarter of its steps slow,
 * not one stall of the host), or its mean over MEAN_MS over one thread's mean by the margin, the
 * split has lost as a probe does.
 * While it runs on one thread it keeps one thread's typical step current and probes the split
 * again once one thread has run for the probe's cost over PROBE_SHARE (what the probe's split
 * steps took beyond one thread's typical step, first step included), within bounds that double
 * with each probe in a row that one thread wins: 32–64 of one thread's steps after the first,
 * 64–128 after the second, up to MAX_HOLD. One unlucky probe on a free machine costs few steps; a
 * split that only breaks even (where every switch also slows the steps around it) is probed ever
 * more rarely; a machine that stays busy spends about PROBE_SHARE of its time on probes and finds
 * a freed core again within seconds. Both ways compute the same step (the split's statistics
 * agree within float32 rounding), so switching changes only the speed.
 *
 * The first steps, until WARMUP steps and WARMUP_MS have passed, are not judged: V8 compiles the
 * hot JavaScript and WebAssembly on background threads for about half a second, and on two cores
 * those threads take the core a split step needs (split steps measured 3-7× one thread's then,
 * 0.7× after). They alternate between one thread and the split, so that both ways' code is
 * compiled and the helper is awake when the probes begin: with the warm-up on one thread only,
 * the first probes of a W5 run measured split steps 2-3× one thread's and were lost, though the
 * split ran 1.45× faster once it settled, and `auto` ran on one thread for most of a 3 s run. On
 * a busy machine the alternation stops once WARM_GIVE_UP shows (the split's median warm-up step
 * over twice one thread's), so a short run there pays for a few slow steps only.
 *
 * V8 compiles the split's code only as the split runs it, and for the first second or two of a
 * run (W1 and W3: 1.1 s of CPU, as 160 functions reach the optimising tier) each compile job takes
 * a core that a split thread needs: split steps then take 4-6 ms instead of 0.5, and a governor
 * judging by time alone ran one thread, so the split's code stayed cold and its probes kept
 * losing (W1 and W3 in `auto`, 1.5–3 s into a run: 0.74–1.07× one thread in 7 runs of 9; with
 * the rule below 1.13–1.29× in 6 of 6). Where the host gives the process's CPU time, a split
 * slowed while the process kept both cores busy (OWN_CORES) is slowed by its own work, not
 * another process's, and is kept while the run is young (HEAT_STEPS, HEAT_MS; the warm-up does not
 * give up on it either); after that, or where another process takes a core, time alone decides.
 *
 * Where the host also tells the machine's idle CPU time (all cores), a probe is not run while the
 * one-thread steps since the last split step (IDLE_MS at least) left under FREE_CORE of a core
 * free (idle, or used by the process's own threads beyond the training thread: V8's compiling,
 * soon over): another process holds the core a split needs, and a probe would only pay its slow
 * steps (and heat the split's code on the core the training thread shares). It looks again every
 * IDLE_MS, so a freed core is found within half a second, and probes all the same after
 * MAX_WAIT_MS. Beside a busy process that takes the probes' cost (~3 %) and the compiling they
 * bring off a run.
 *
 * Times come from the trainer's injected clocks, in milliseconds: step times through `record`,
 * and the clocks (GovernorClocks) read once a hold is over.
 */

/** Steps a probe times each way. */
const PROBE = 6;
/** Untimed steps at the start of a run: at least this many, and this long (ms). */
const WARMUP = 3;
const WARMUP_MS = 600;
/**
 * The warm-up stops splitting once WARM_SAMPLES steps each way are in and the split's median is
 * this many times one thread's.
 */
const WARM_GIVE_UP = 2;
const WARM_SAMPLES = 6;
/** The split is chosen only when its typical step is at most this fraction of one thread's. */
const MARGIN = 0.95;
/** Two split probe steps in a row this many times one thread's typical step end the probe at once. */
const ABORT = 1.5;
/** The share of a run's time that probes of a split which does not pay may take. */
const PROBE_SHARE = 0.03;
/**
 * While it runs split, every LONG_MS (and PROBE steps at least) the split's mean step is checked:
 * over LONG_FACTOR times one thread's typical step, the split has lost, whatever its fast steps.
 */
const LONG_MS = 30;
const LONG_FACTOR = 2;
/**
 * ... and at least this share of those steps were each over ABORT times one thread's typical
 * step: a core another process takes slows many split steps (W1 beside a busy process: over half),
 * while a stall of the host (a VM's vCPU descheduled for 20–40 ms, the process's CPU time held as
 * when a core is taken) slows one, whose length alone can lift a 30 ms mean over the factor and
 * held W1 on one thread for 1024 steps (0.57 s) in 2 of 7 runs of 3 s on a quiet machine.
 */
const LONG_SLOW_SHARE = 0.25;
/**
 * And every MEAN_MS (4·PROBE steps at least) against one thread's mean step (an average over its
 * last ~MEAN_SPAN timed steps, outside the warm-up): over it by the margin, the split has lost
 * (its fast steps won the probe, but a tail of slow ones, a split's two threads each exposed to
 * the host's pauses, made it slower on average: W5 in a spell where it paid 0.88×, a lower
 * quartile 1.95 ms against one thread's 2.4, a mean 2.5 against 2.3). Only a split that passes
 * this check resets the holds' floor.
 */
const MEAN_MS = 250;
const MEAN_SPAN = 32;
/** Steps on one thread before the split is probed again: the least, and the most. */
const MIN_HOLD = 32;
const MAX_HOLD = 1024;
/**
 * With the process's CPU time (`record`'s `cpu`): split steps during which the process used at
 * least OWN_CORES times their wall time had both cores (W1 and W3 split on two free cores: 1.3–2.0
 * while V8 compiles, ~2 after; beside a busy process: 1.0–1.1), so what slowed them was the
 * process's own work. Until HEAT_STEPS steps have been split, and for the run's first HEAT_MS of
 * timed steps (V8's compiling ends by then: ~1.25 s into a CLI run, ~2.25 s at V8's default
 * budget), such a split is kept though slower; a split that does not pay on a free machine (W5
 * in a spell where it ran 0.85× one thread) costs no more than that.
 */
const OWN_CORES = 1.3;
const HEAT_STEPS = 1000;
const HEAT_MS = 1500;
/**
 * Once the run is no longer young, a running split's CPU time is read around one step in
 * CPU_SAMPLE only (`wantsCpu`; the sums' CPU share is that of the steps read): it then decides only
 * how long a lost split is held off, and each read is costly. The process's CPU time sums its
 * threads', which the kernel takes from the other core while the helper runs there: the two reads
 * a step cost W1's split steps 3–5.5 % (one process, a policy that always splits, 250 ms windows
 * with and without the reads in turn; ~2 µs a read alone).
 */
const CPU_SAMPLE = 8;
/**
 * With the machine's idle time: a probe waits while the one-thread steps since the last split
 * step, over IDLE_MS of wall time at least, left under FREE_CORE of a core idle (the process's
 * own threads beyond the training thread counted as free: V8's compiling is over soon).
 */
const FREE_CORE = 0.5;
const IDLE_MS = 250;
/**
 * The longest a probe waits so (of one thread's steps): a process of lower priority looks as busy
 * but yields its core to the split's threads, which only a probe can tell.
 */
const MAX_WAIT_MS = 8000;

/** Clocks the governor reads once a hold is over (injected: the core uses no host API), in ms. */
export interface GovernorClocks {
  /** Wall clock. */
  now: () => number;
  /** The CPU time the whole process has used, all its threads. */
  cpuNow?: () => number;
  /** The machine's idle CPU time, summed over its cores (NaN where the host cannot tell). */
  idleNow: () => number;
}

/** Decides, step by step, whether to split; told how long each step took. */
export interface SplitPolicy {
  /** Whether to split the next step. */
  next(): boolean;
  /**
   * The step just run (split as `next()` said) took `time` (ms); null when it did other work too
   * (histograms, λmax, the held-out loss), so its time says nothing of the split. `cpu`: the CPU
   * time (ms) the whole process used meanwhile, where the host can tell and it was read.
   */
  record(time: number | null, cpu?: number): void;
  /**
   * Whether the next step's CPU time is wanted (read around it only then; a policy without this
   * method wants every step's).
   */
  wantsCpu?(): boolean;
  /** Steps run split so far. */
  readonly splitSteps: number;
}

type Phase = 'warmup' | 'probe-one' | 'probe-split' | 'split' | 'one';

export class SplitGovernor implements SplitPolicy {
  private phase: Phase = 'warmup';
  /** Steps into the current phase. */
  private n = 0;
  private times: number[] = [];
  private splitTypical = Infinity;
  private oneTypical = Infinity;
  /** Time to run on one thread before the next probe, and the time run so far. */
  private hold = 0;
  private held = 0;
  /** What the current probe's split steps took beyond one thread's typical step. */
  private probeCost = 0;
  /** The fewest steps the next lost probe's hold lasts (doubles with each loss in a row). */
  private floor = MIN_HOLD;
  /** Whether the split has passed a check of its mean (MEAN_MS) since it last lost. */
  private settled = false;
  /**
   * Steps split since the last check of the split's mean (their CPU and wall time: `run`), and
   * how many of them were slow (over ABORT times one thread's typical step).
   */
  private runSteps = 0;
  private runSlow = 0;
  /** The timed steps' time so far. */
  private elapsed = 0;
  /** Steps run split and on one thread (for the run's summary). */
  splitSteps = 0;
  oneSteps = 0;

  /** Steps of the warm-up so far (while it alternates, odd ones are split). */
  private warm = 0;
  private alternating = true;
  /** The warm-up's step times on one thread and split, while it alternates. */
  private readonly warmTimes: [number[], number[]] = [[], []];
  /**
   * CPU and wall time: of the warm-up's split steps, of the current window's, and of the split's
   * steps since its mean was last checked.
   */
  private readonly warmSplit: Clocked = { cpu: 0, wall: 0, cpuWall: 0 };
  private readonly window: Clocked = { cpu: 0, wall: 0, cpuWall: 0 };
  private readonly run: Clocked = { cpu: 0, wall: 0, cpuWall: 0 };
  /** The split's steps since its mean was last held against one thread's (MEAN_MS). */
  private longSteps = 0;
  private readonly long: Clocked = { cpu: 0, wall: 0, cpuWall: 0 };
  /** One thread's mean step (NaN: none timed yet outside the warm-up). */
  private oneMean = NaN;
  /** The clocks when the current stretch of one-thread steps began (NaN: not yet read). */
  private readonly since = { wall: NaN, cpu: NaN, idle: NaN };
  /** Whether the last step was split. */
  private lastSplit = true;
  /** One thread's time since the last probe that the idle time held back (MAX_WAIT_MS). */
  private waited = 0;

  constructor(private readonly clocks?: GovernorClocks) {}

  /** Whether to split the next step. */
  next(): boolean {
    if (this.phase === 'warmup') return this.alternating && (this.warm & 1) === 1;
    return this.phase === 'probe-split' || this.phase === 'split';
  }

  /**
   * Whether the next step's CPU time is wanted: a split step's while the run is young (the
   * warm-up's, the probes', a young split's: whether its slowness is the process's own) and in a
   * probe; one in CPU_SAMPLE of a running split's after that; no step's on one thread.
   */
  wantsCpu(): boolean {
    if (!this.next()) return false;
    return this.phase !== 'split' || this.young() || this.splitSteps % CPU_SAMPLE === 0;
  }

  /**
   * Records the step just run (split as `next()` said), how long it took (null: not timed) and
   * the process's CPU time meanwhile (NaN: not known, or not read).
   */
  record(time: number | null, cpu = NaN): void {
    const split = this.next();
    if (split) this.splitSteps++;
    else this.oneSteps++;
    // (a stretch of one-thread steps begins: where the machine's idle time is measured from)
    if (!split && this.lastSplit && !(this.phase === 'warmup' && this.alternating)) this.mark();
    this.lastSplit = split;
    if (this.phase === 'warmup') this.warm++;
    if (time === null) return;
    this.n++;
    this.elapsed += time;
    switch (this.phase) {
      case 'warmup':
        this.held += time;
        if (this.alternating) {
          const [one, two] = this.warmTimes;
          (split ? two : one).push(time);
          if (split) add(this.warmSplit, cpu, time);
          // (a split slowed by the process's own compiling is warmed up all the same)
          if (
            one.length >= WARM_SAMPLES &&
            two.length >= WARM_SAMPLES &&
            median(two) > WARM_GIVE_UP * median(one) &&
            !this.ownSlowness(this.warmSplit)
          )
            this.alternating = false;
        }
        if (this.n >= WARMUP && this.held >= WARMUP_MS) this.enter('probe-one');
        return;
      case 'probe-one':
        this.oneMeanAdd(time);
        if (this.sample(time)) {
          this.oneTypical = this.typical();
          this.probe();
        }
        return;
      case 'probe-split':
        this.probeCost += Math.max(0, time - this.oneTypical);
        // the first split step wakes the helper (asleep since the last split step): not timed
        if (this.n === 1) return;
        add(this.window, cpu, time);
        // two split steps in a row far slower than one thread: the other core is taken
        if (
          time > ABORT * this.oneTypical &&
          (this.times.at(-1) ?? 0) > ABORT * this.oneTypical &&
          !this.ownSlowness(this.window)
        ) {
          this.splitTypical = time;
          this.decide();
        } else if (this.sample(time)) {
          this.splitTypical = this.typical();
          this.decide();
        }
        return;
      case 'split':
        // a window of split steps slower than one thread was (by the margin, so that two ways
        // about as fast do not take turns: each switch slows the steps around it): measure one
        // thread again
        add(this.window, cpu, time);
        if (this.sample(time)) {
          this.splitTypical = this.typical();
          if (this.splitTypical > this.oneTypical / MARGIN && !this.ownSlowness(this.window))
            return this.enter('probe-one');
          this.times = [];
          clear(this.window);
        }
        // the split's mean: where another process keeps a core busy, a split step is fast while
        // both its threads happen to run and several times one thread's when either waits for a
        // core (W1 with a busy process: split steps' lower quartile 0.49 ms, their median 4.4 ms
        // and mean 3.8, one thread's 0.61), so a window's fast steps can keep a split that runs
        // 0.8× one thread; lost so, it counts as a lost probe (the holds grow)
        this.runSteps++;
        if (time > ABORT * this.oneTypical) this.runSlow++;
        add(this.run, cpu, time);
        if (this.runSteps >= PROBE && this.run.wall >= LONG_MS) {
          const mean = this.run.wall / this.runSteps;
          if (
            mean > LONG_FACTOR * this.oneTypical &&
            this.runSlow >= LONG_SLOW_SHARE * this.runSteps &&
            !this.ownSlowness(this.run)
          ) {
            this.splitTypical = mean;
            this.probeCost = this.run.wall - this.runSteps * this.oneTypical;
            return this.decide();
          }
          this.runSteps = this.runSlow = 0;
          clear(this.run);
        }
        // the split's mean against one thread's, over a longer stretch (MEAN_MS)
        this.longSteps++;
        add(this.long, cpu, time);
        if (this.longSteps >= 4 * PROBE && this.long.wall >= MEAN_MS && this.oneMean > 0) {
          const mean = this.long.wall / this.longSteps;
          if (mean > this.oneMean / MARGIN && !this.ownSlowness(this.long)) {
            this.splitTypical = mean;
            this.probeCost = this.long.wall - this.longSteps * this.oneMean;
            return this.decide(this.long);
          }
          if (mean <= this.oneMean / MARGIN) {
            this.floor = MIN_HOLD;
            this.settled = true;
          }
          this.longSteps = 0;
          clear(this.long);
        }
        return;
      case 'one':
        // one thread's time stays current, for the next probe of the split to be judged by
        this.oneMeanAdd(time);
        if (this.sample(time)) {
          this.oneTypical = this.typical();
          this.times = [];
        }
        this.held += time;
        if (this.held >= this.hold) this.probe();
        return;
    }
  }

  /** Decides after a probe, or after a check of a running split (`t`: the steps it judged). */
  private decide(t = this.phase === 'split' ? this.run : this.window): void {
    // (a split slowed by the process's own work only, while its code is young, is kept)
    const one = this.splitTypical > MARGIN * this.oneTypical && !this.ownSlowness(t);
    const step = this.oneTypical,
      floor = this.floor;
    // the hold: what the probe cost over PROBE_SHARE, within bounds; the upper one doubles with
    // each loss in a row, unless the CPU time shows another process holding a core (the split's
    // steps kept under OWN_CORES cores busy), where the probes' cost alone sizes it
    const cap = taken(t) ? MAX_HOLD : Math.min(MAX_HOLD, 2 * floor);
    this.hold = Math.min(cap * step, Math.max(floor * step, this.probeCost / PROBE_SHARE));
    if (one) {
      // (the first loss of a split that had settled holds the least: one stall of the host, or a
      // slow spell of it, makes a split lose as a core taken does, and it is over as soon; a core
      // still taken loses the next probe too, three slow steps later, and the holds grow from there)
      if (this.settled) this.hold = MIN_HOLD * step;
      this.settled = false;
      // (a won probe resets the floor once the split's mean passes its first check)
      this.floor = Math.min(MAX_HOLD, 2 * floor);
    }
    this.enter(one ? 'one' : 'split');
  }

  /**
   * Probes the split, unless the machine's idle time shows another process holding the core it
   * needs: then one thread for IDLE_MS, and a new look (so a freed core is seen within ~2 × IDLE_MS),
   * for MAX_WAIT_MS at most (a process that yields its core, as a niced one does, looks as busy).
   */
  private probe(): void {
    if (this.waited >= MAX_WAIT_MS || !this.coreTaken()) {
      this.waited = 0;
      return this.enter('probe-split');
    }
    this.waited += this.held;
    this.hold = IDLE_MS;
    this.enter('one');
    this.mark();
  }

  /**
   * Whether the one-thread steps since `since` (IDLE_MS at least) left under FREE_CORE of a core
   * free: idle, or used by this process's threads beyond the training thread's one core.
   */
  private coreTaken(): boolean {
    const c = this.clocks;
    if (!c) return false;
    const wall = c.now() - this.since.wall;
    if (!(wall >= IDLE_MS)) return false;
    const idle = (c.idleNow() - this.since.idle) / wall;
    const own = c.cpuNow ? (c.cpuNow() - this.since.cpu) / wall : 1;
    // (an idle time not known, NaN, holds nothing back)
    return idle + Math.max(0, own - 1) < FREE_CORE;
  }

  /** Reads the clocks: the start of a stretch on one thread. */
  private mark(): void {
    const c = this.clocks;
    if (!c) return;
    this.since.wall = c.now();
    this.since.idle = c.idleNow();
    this.since.cpu = c.cpuNow ? c.cpuNow() : NaN;
  }

  private enter(p: Phase): void {
    this.phase = p;
    this.n = 0;
    this.times = [];
    this.held = 0;
    this.runSteps = this.runSlow = 0;
    this.longSteps = 0;
    clear(this.window);
    clear(this.run);
    clear(this.long);
    if (p === 'probe-split') this.probeCost = 0;
  }

  /**
   * Whether split steps of this CPU and wall time were slow by the process's own work: both
   * cores were its own (OWN_CORES), and the run is young (HEAT_STEPS, HEAT_MS), so V8 is
   * still compiling the split's code (on a core a split thread needs; it ends once that is done).
   */
  private ownSlowness(t: Clocked): boolean {
    return this.young() && t.cpuWall > 0 && t.cpu >= OWN_CORES * t.cpuWall;
  }

  /** Whether the run is young: V8 may still be compiling the split's code (HEAT_STEPS, HEAT_MS). */
  private young(): boolean {
    return this.splitSteps < HEAT_STEPS && this.elapsed < HEAT_MS;
  }

  /** Folds a one-thread step's time into one thread's mean. */
  private oneMeanAdd(time: number): void {
    this.oneMean = this.oneMean > 0 ? this.oneMean + (time - this.oneMean) / MEAN_SPAN : time;
  }

  /** Adds a time; true once PROBE are in. */
  private sample(t: number): boolean {
    this.times.push(t);
    return this.times.length >= PROBE;
  }

  /**
   * The window's lower quartile (the second fastest of six): this machine's noise only ever slows
   * a step, and a split resumed after a spell on one thread runs some steps slow while the
   * scheduler moves the woken helper to the other core; the fast steps are what each way costs.
   */
  private typical(): number {
    const s = [...this.times].sort((a, b) => a - b);
    return s[s.length >> 2]!;
  }
}

/**
 * Steps' wall time, and the CPU time of those of them whose CPU time was read (`cpuWall`: their
 * wall time): the CPU share is cpu / cpuWall.
 */
interface Clocked {
  cpu: number;
  wall: number;
  cpuWall: number;
}

/** Whether steps of this CPU and wall time ran beside another process holding a core (CPU read for some). */
function taken(t: Clocked): boolean {
  return t.cpuWall > 0 && t.cpu < OWN_CORES * t.cpuWall;
}

/** Adds a step's CPU and wall time (NaN CPU: not read, the step counts in the wall time only). */
function add(t: Clocked, cpu: number, wall: number): void {
  t.wall += wall;
  if (Number.isNaN(cpu)) return;
  t.cpu += cpu;
  t.cpuWall += wall;
}

function clear(t: Clocked): void {
  t.cpu = t.wall = t.cpuWall = 0;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}
