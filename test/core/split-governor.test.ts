/**
 * The adaptive split's policy (core/split-governor.ts), on scripted step times: it keeps the split
 * while the split is faster, leaves it within a few steps once the other core is taken, pays for
 * one slow step per probe while the machine stays busy, and comes back when the core is free.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SplitGovernor } from '../../src/core/split-governor';

/** Runs `steps` steps whose time is `cost(split, step)`; returns which steps were split. */
function drive(g: SplitGovernor, steps: number, cost: (split: boolean, k: number) => number, from = 0): boolean[] {
  const split: boolean[] = [];
  for (let k = from; k < from + steps; k++) {
    const s = g.next();
    split.push(s);
    g.record(cost(s, k));
  }
  return split;
}
const count = (xs: boolean[]): number => xs.filter(Boolean).length;

test('a free second core: after the first probes, every step is split', () => {
  const g = new SplitGovernor();
  const split = drive(g, 1000, (s) => (s ? 6 : 10));
  // warm-up: 600 ms alternating, one thread first (75 steps of 10 and 6), so that both ways' code
  // is compiled and the helper awake when the probes begin; then the one-thread probe (6 steps)
  assert.deepEqual(
    split.slice(0, 75),
    Array.from({ length: 75 }, (_, k) => k % 2 === 1),
    'the warm-up alternates',
  );
  assert.deepEqual(split.slice(75, 81), Array(6).fill(false), 'the one-thread probe runs on one thread');
  assert.ok(split.slice(81).every(Boolean), 'split from then on');
  assert.equal(g.splitSteps, count(split));
});

test('a busy second core: one thread; probes of three slow steps take about 3 % of the time', () => {
  for (const slow of [16, 40, 400]) {
    const g = new SplitGovernor();
    const split = drive(g, 5000, (s) => (s ? slow : 10));
    // each probe: the first split step (untimed: it wakes the helper), then two slow ones
    const runs = split
      .join('')
      .split('false')
      .map((r) => r.length / 4);
    assert.equal(Math.max(...runs), 3);
    const extra = count(split) * (slow - 10),
      total = 5000 * 10 + extra;
    // 3 % once the holds are sized by the probes' cost; the hold's floor (32 steps) and its cap
    // (64 steps after the first probe, doubling to 1024) bound it on either side
    const share = extra / total;
    assert.ok(share <= (slow === 400 ? 0.2 : 0.04), `${slow}: probes took ${(100 * share).toFixed(1)} %`);
    assert.ok(count(split) >= 6, `${slow}: ${count(split)} split steps: it keeps trying`);
  }
});

test('a busy second core during the warm-up: it stops alternating once six split steps are twice as slow', () => {
  const g = new SplitGovernor();
  // 6 steps each way (steps 0-11: 300 ms), then one thread until 600 ms (step 41), then the probes
  const split = drive(g, 42, (s) => (s ? 40 : 10));
  assert.deepEqual(
    split.slice(0, 12),
    Array.from({ length: 12 }, (_, k) => k % 2 === 1),
  );
  assert.equal(count(split.slice(12)), 0, 'the rest of the warm-up on one thread');
  assert.equal(g.splitSteps, 6);
  // a split only somewhat slower (1.5×) is still warmed up all along: the probes judge it
  const h = new SplitGovernor();
  assert.ok(count(drive(h, 48, (s) => (s ? 15 : 10))) >= 23);
});

test('a split that only breaks even is not taken (it must win by 5 %)', () => {
  const g = new SplitGovernor();
  // after the warm-up (600 ms alternating: 61 steps), probes of 1 + 6 split steps, never more in
  // a row; ever rarer (each switch costs steps around it)
  const split = drive(g, 2000, (s) => (s ? 9.8 : 10)).slice(61);
  const runs = split
    .join('')
    .split('false')
    .map((r) => r.length / 4);
  assert.ok(Math.max(...runs) <= 7, `a run of ${Math.max(...runs)} split steps`);
  assert.ok(count(split) <= 7 * 7, `${count(split)} split steps`);
  assert.ok(count(split.slice(1000)) <= 7, `${count(split.slice(1000))} split steps in the second half`);
});

test('the core is taken mid-run: back on one thread within two windows; freed again: back to the split', () => {
  const g = new SplitGovernor();
  const busy = (k: number): boolean => k >= 300 && k < 600;
  const split = drive(g, 1200, (s, k) => (s ? (busy(k) ? 40 : 6) : 10));
  assert.ok(split.slice(100, 300).every(Boolean), 'split while the core is free');
  const firstOne = split.findIndex((s, k) => k >= 300 && !s);
  assert.ok(firstOne >= 300 && firstOne <= 300 + 12, `left the split at step ${firstOne}`);
  assert.ok(count(split.slice(320, 600)) <= 9, `${count(split.slice(320, 600))} split steps while busy`);
  // back at the next probe: a probe of three steps 30 over one thread's 10 holds ~300 steps
  const back = split.findIndex((s, k) => k >= 600 && s && split[k + 1] && split[k + 2]);
  assert.ok(back >= 600 && back <= 600 + 320, `back to the split at step ${back}`);
  assert.ok(split.slice(back, 1200).every(Boolean), 'and stays there');
});

test('a core shared with another process: split steps fast now and then but slow on average stay off', () => {
  // three threads on two cores: a split step is fast while both of its threads happen to run and
  // several times one thread's when either waits for a core (here every other one: 32.5 on
  // average, its lower quartile 5); one thread is slowed less (a step in ten waits: 13 on average)
  const g = new SplitGovernor();
  const split = drive(g, 5000, (s, k) => (s ? (k % 2 === 0 ? 5 : 60) : k % 10 === 0 ? 40 : 10));
  const after = split.slice(200);
  const extra = count(after) * (32.5 - 13);
  const share = extra / (after.length * 13);
  assert.ok(share <= 0.05, `split ${count(after)} of ${after.length} steps: ${(100 * share).toFixed(1)} % lost`);
  assert.ok(count(split.slice(2500)) >= 6, 'it keeps probing');
});

test('noisy step times: a spike does not end a split that pays', () => {
  const g = new SplitGovernor();
  const split = drive(g, 2000, (s, k) => (k % 17 === 0 ? 80 : s ? 6 : 10));
  assert.ok(count(split.slice(80)) >= 0.97 * 1920, `${count(split.slice(80))} of 1920 split`);
});

test("one stall of the host (a step 40 ms long, the process's CPU time held) does not end a split that pays", () => {
  // W1 on a VM: split steps 0.45 ms, one thread 0.6; the host takes a vCPU for ~40 ms now and then
  // (one split step 40 ms long, during which the process used ~1 core). Whichever step of the
  // split's 30 ms check it lands in, the run stays split: the split's slowness is one step's.
  for (let at = 3000; at < 3070; at += 3) {
    const split = driveCpu(
      new SplitGovernor(),
      4600,
      (s, k) => (k === at ? 40 : s ? 0.45 : 0.6),
      (s, k) => (k === at ? 1.02 : s ? 1.9 : 1),
    );
    assert.ok(split.slice(2000, 3000).every(Boolean), 'split before the stall');
    const after = count(split.slice(at, at + 1500));
    assert.ok(after >= 0.97 * 1500, `a stall at step ${at}: ${after} of the next 1500 steps split`);
  }
});

test('a slow spell of the host (60 ms of split steps 6× as long) in a split that had settled: split again within steps', () => {
  // the process's CPU time held as when a core is taken: the split loses its check as it would
  // then, and holds the least (32 steps), not what its slow steps cost over 3 % (1024 steps, 0.6 s)
  const spell = (k: number): boolean => k >= 3000 && k < 3000 + 22;
  const split = driveCpu(
    new SplitGovernor(),
    4000,
    (s, k) => (s ? (spell(k) ? 2.7 : 0.45) : 0.6),
    (s, k) => (s ? (spell(k) ? 1.05 : 1.9) : 1),
  );
  assert.ok(split.slice(2000, 3000).every(Boolean), 'split before the spell');
  assert.ok(split.slice(3022).includes(false), 'the spell ended the split');
  const back = count(split.slice(3100, 3600));
  assert.ok(back >= 0.97 * 500, `${back} of steps 3100-3599 split`);
  // a core taken for good from the same step: one thread, probes ~3 % (one probe more than before)
  const taken = driveCpu(
    new SplitGovernor(),
    8000,
    (s, k) => (s ? (k >= 3000 ? 2.7 : 0.45) : 0.6),
    (s, k) => (s ? (k >= 3000 ? 1.05 : 1.9) : 1),
  ).slice(3100);
  const extra = count(taken) * (2.7 - 0.6);
  assert.ok(extra / (taken.length * 0.6 + extra) <= 0.05, `${count(taken)} split steps of ${taken.length}`);
});

test('a helper slow to wake (the first split step of each probe) does not keep the split off', () => {
  const g = new SplitGovernor();
  let last = false;
  const split = drive(g, 600, (s) => {
    const woke = s && !last;
    last = s;
    return s ? (woke ? 30 : 6) : 10;
  });
  assert.ok(split.slice(80).every(Boolean), 'split after the first probe');
});

test('steps that did other work too (histograms, λmax) are counted but not timed', () => {
  const g = new SplitGovernor();
  const split: boolean[] = [];
  for (let k = 0; k < 1000; k++) {
    const s = g.next();
    split.push(s);
    // every 10th step computes histograms: 8× as long, on either path (null: not timed)
    g.record(k % 10 === 0 ? null : s ? 6 : 10);
  }
  assert.ok(split.slice(100).every(Boolean), 'split once it pays, histogram steps or not');
  assert.equal(g.splitSteps, count(split));
  assert.equal(g.splitSteps + g.oneSteps, 1000);
});

test('two ways about as fast do not take turns: a split 3 % slower than one thread is kept', () => {
  const g = new SplitGovernor();
  // the split wins the first probe, then runs 3 % slower than one thread did (within the margin)
  const split = drive(g, 3000, (s, k) => (s ? (k < 200 ? 8 : 10.3) : 10));
  const switches = split.slice(200).filter((s, i, a) => i > 0 && s !== a[i - 1]).length;
  assert.ok(switches === 0, `${switches} switches`);
});

/**
 * Like drive, with the process's CPU time (`cores` busy cores of ours meanwhile) for the steps
 * whose CPU time the governor wants, as the trainer reads it (`read` counts them).
 */
function driveCpu(
  g: SplitGovernor,
  steps: number,
  cost: (split: boolean, k: number) => number,
  cores: (split: boolean, k: number) => number,
  read: boolean[] = [],
): boolean[] {
  const split: boolean[] = [];
  for (let k = 0; k < steps; k++) {
    const s = g.next(),
      wanted = g.wantsCpu();
    split.push(s);
    read.push(wanted);
    const t = cost(s, k);
    g.record(t, wanted ? t * cores(s, k) : NaN);
  }
  return split;
}

test('the CPU time: read around split steps only; once the run is no longer young, one in eight', () => {
  const read: boolean[] = [];
  const split = driveCpu(
    new SplitGovernor(),
    6000,
    (s) => (s ? 0.45 : 0.6),
    (s) => (s ? 1.9 : 1),
    read,
  );
  assert.ok(
    read.every((r, k) => !r || split[k]),
    'no read on one thread',
  );
  // young: until 1000 steps are split (or 1.5 s of timed steps have passed): every split step
  const young = split.findIndex((s, k) => s && k > 100 && !read[k]);
  assert.ok(young > 1000 && young < 2200, `every split step read until step ${young}`);
  const late = read.slice(3000);
  assert.equal(count(late), late.length / 8, `${count(late)} of ${late.length} steps read`);
});

test("a young split slowed by the process's own work (both cores its own) is kept; by another process's, left", () => {
  // the first 400 steps: split steps 4 ms against one thread's 0.7, as V8 compiles the split's
  // code on a core its threads need (the process then keeps ~1.7 cores busy); then 0.5 ms
  const cost = (s: boolean, k: number): number => (s ? (k < 400 ? 4 : 0.5) : 0.7);
  const own = driveCpu(new SplitGovernor(), 1000, cost, (s) => (s ? 1.7 : 1));
  // (the warm-up alternates for its first 600 ms: ~255 steps)
  assert.ok(count(own.slice(300, 400)) >= 97, `${count(own.slice(300, 400))} of steps 300-399 split`);
  assert.ok(count(own.slice(400)) >= 0.97 * 600);
  // the same times where another process takes a core (ours ~1.05 cores): one thread, as before
  const taken = driveCpu(new SplitGovernor(), 1000, cost, (s) => (s ? 1.05 : 1));
  assert.ok(count(taken.slice(100, 400)) <= 15, `${count(taken.slice(100, 400))} of steps 100-399 split`);
  // without the CPU time, one thread as well
  assert.ok(count(drive(new SplitGovernor(), 1000, cost).slice(100, 400)) <= 15);
});

test('another process holding a core, as the CPU time shows: probes cost ~3 % from the first', () => {
  // split steps 8× one thread's beside a busy process (the process keeps ~1.05 cores busy)
  const cost = (s: boolean): number => (s ? 80 : 10);
  const share = (split: boolean[]): number => {
    const extra = count(split) * 70;
    return extra / (split.length * 10 + extra);
  };
  // the first 1500 steps: the holds are sized by what the probes cost at once (700 steps), while
  // without the CPU time they start at 64 steps and double with each lost probe
  const seen = driveCpu(new SplitGovernor(), 1500, cost, (s) => (s ? 1.05 : 1)).slice(30);
  const blind = drive(new SplitGovernor(), 1500, cost).slice(30);
  assert.ok(share(seen) <= 0.035, `probes took ${(100 * share(seen)).toFixed(1)} %`);
  assert.ok(share(blind) > share(seen), `${(100 * share(blind)).toFixed(1)} % without the CPU time`);
});

test('a split slower with both cores the process own is left once the run is no longer young', () => {
  // 1.4× one thread's step all along (the split does not pay on this net, cores free or not):
  // kept for the first 1,000 split steps (here ~1.5 s), then left but for probes
  const g = new SplitGovernor();
  const split = driveCpu(
    g,
    6000,
    (s) => (s ? 1.0 : 0.7),
    (s) => (s ? 2 : 1),
  );
  assert.ok(g.splitSteps >= 900, `${g.splitSteps} split steps`);
  assert.ok(count(split.slice(3000)) <= 30, `${count(split.slice(3000))} split steps in the second half`);
  // a net of long steps: kept for the first 1.5 s of the run only (~150 steps of 10 ms)
  const slow = new SplitGovernor();
  driveCpu(
    slow,
    2000,
    (s) => (s ? 10 : 7),
    (s) => (s ? 2 : 1),
  );
  assert.ok(slow.splitSteps <= 200, `${slow.splitSteps} split steps of 10 ms`);
});

/**
 * Like driveCpu, on a scripted machine whose clocks the governor reads: each step advances the
 * wall clock by its time, the process's CPU time by `cores` times that, and the machine's idle
 * time by `idle` idle cores times that.
 */
function driveMachine(
  steps: number,
  cost: (split: boolean, k: number) => number,
  cores: (split: boolean, k: number) => number,
  idle: (split: boolean, k: number) => number,
): { g: SplitGovernor; split: boolean[]; wall: number[] } {
  const m = { wall: 0, cpu: 0, idle: 0 };
  const g = new SplitGovernor({ now: () => m.wall, cpuNow: () => m.cpu, idleNow: () => m.idle });
  const split: boolean[] = [],
    wall: number[] = [];
  for (let k = 0; k < steps; k++) {
    const s = g.next();
    const t = cost(s, k);
    m.wall += t;
    m.cpu += t * cores(s, k);
    m.idle += t * idle(s, k);
    split.push(s);
    wall.push(m.wall);
    g.record(t, t * cores(s, k));
  }
  return { g, split, wall };
}

test("another process holding a core, as the machine's idle time shows: a probe every 8 s at most", () => {
  // split steps 8× one thread's beside a busy process: no core idle, ours ~1.05 cores busy
  const cost = (s: boolean): number => (s ? 8 : 1);
  const seen = driveMachine(
    20_000,
    cost,
    (s) => (s ? 1.05 : 1),
    () => 0,
  );
  // the warm-up's split steps and the first probe's, then one probe (three steps) once 8 s of one
  // thread are behind it (without the idle time: a probe every hold, ~3 % of the time)
  const late = seen.split.slice(2000);
  const probes = late.filter((s, i) => s && !late[i - 1]).length;
  assert.ok(probes <= 3 && count(late) <= 9, `${probes} probes, ${count(late)} split steps in 18 s`);
  const blind = driveCpu(new SplitGovernor(), 20_000, cost, (s) => (s ? 1.05 : 1));
  assert.ok(count(blind.slice(2000)) >= 30, `${count(blind.slice(2000))} split steps without the idle time`);
  // an idle time the host cannot tell (NaN) holds no probe back: the same steps as without it
  const unknown = driveMachine(
    20_000,
    cost,
    (s) => (s ? 1.05 : 1),
    () => NaN,
  );
  assert.deepEqual(unknown.split, blind);
});

test('a core taken from 2 s to 6 s: one thread without probes meanwhile, split within 0.6 s of its release', () => {
  // ms steps: split 0.6 and one thread 1 on a free machine (one core idle while one thread runs),
  // split 6 while another process holds a core (none idle); busy from 2 s to 6 s of the run
  let now = 0;
  const busy = (): boolean => now >= 2000 && now < 6000;
  const cost = (s: boolean): number => {
    const t = s ? (busy() ? 6 : 0.6) : 1;
    now += t;
    return t;
  };
  const r = driveMachine(
    12_000,
    cost,
    (s) => (s ? (busy() ? 1.05 : 2) : 1),
    (s) => (busy() || s ? 0 : 1),
  );
  const at = (ms: number): number => r.wall.findIndex((w) => w >= ms);
  const splitIn = (from: number, to: number): number => count(r.split.slice(at(from), at(to)));
  assert.ok(splitIn(1000, 2000) >= 0.95 * (at(2000) - at(1000)), 'split on the free machine');
  assert.ok(splitIn(2500, 6000) <= 3, `${splitIn(2500, 6000)} split steps while the core is taken`);
  const back = r.split.findIndex((s, k) => k > at(6000) && s && r.split[k + 1] && r.split[k + 2]);
  assert.ok(back > 0 && r.wall[back]! - 6000 <= 600, `split again ${r.wall[back]! - 6000} ms after the core freed`);
});

test('a process that looks busy but yields its core (niced): probed all the same within seconds', () => {
  // no core idle while one thread runs, yet the split pays (the other process gives way)
  const r = driveMachine(
    30_000,
    (s) => (s ? 0.6 : 1),
    (s) => (s ? 2 : 1),
    () => 0,
  );
  // the warm-up and the first probe win (the split's own threads are its): split from then on
  assert.ok(count(r.split.slice(5000)) >= 0.99 * 25_000, `${count(r.split.slice(5000))} of the last 25,000 split`);
  // a run that starts on one thread (split slow at first: its code heats, 3 s) and whose idle
  // time then stays at none: a probe once MAX_WAIT_MS (8 s) of one thread is behind it
  let now = 0;
  const late = driveMachine(
    30_000,
    (s) => {
      const t = s ? (now < 3000 ? 8 : 0.6) : 1;
      now += t;
      return t;
    },
    (s) => (s ? 1.05 : 1),
    () => 0,
  );
  const first = late.split.findIndex((s, k) => late.wall[k]! > 3000 && s);
  assert.ok(first > 0 && late.wall[first]! <= 3000 + 8000 + 1500, `probed at ${late.wall[first]} ms`);
  assert.ok(count(late.split.slice(first + 50)) >= 0.99 * (30_000 - first - 50), 'and split from then on');
});

test("the process's own threads busy on the second core (V8 compiling) do not hold a probe back", () => {
  // no core idle, but ours keeps two busy while one thread trains: the second is the compiler's
  const r = driveMachine(
    8000,
    (s, k) => (s ? (k < 2000 ? 8 : 0.6) : 1),
    (s, k) => (s ? 2 : k < 2000 ? 2 : 1),
    (s, k) => (s || k < 2000 ? 0 : 1),
  );
  assert.ok(count(r.split.slice(4000)) >= 0.99 * 4000, `${count(r.split.slice(4000))} of the last 4,000 split`);
});

test('a split fast by its typical step but slower on average (a tail of slow steps) is left', () => {
  // split steps: four of five 2.0 ms, one 5.0 (mean 2.6); one thread 2.4 ms every step. The split
  // wins each probe by its lower quartile; by its mean it runs 0.92× one thread
  const cost = (s: boolean, k: number): number => (s ? (k % 5 === 4 ? 5 : 2) : 2.4);
  const split = drive(new SplitGovernor(), 20_000, cost);
  const late = split.slice(5000);
  const time = late.reduce((t, s, i) => t + cost(s, 5000 + i), 0);
  // on one thread alone: 15,000 × 2.4 ms; always split: × 2.6
  assert.ok(time <= 1.02 * 15_000 * 2.4, `${(time / (15_000 * 2.4)).toFixed(3)}× one thread's time`);
  assert.ok(count(late) > 0, 'it keeps probing');
  // a split whose tail leaves it faster on average (mean 2.2) is kept
  const kept = drive(new SplitGovernor(), 20_000, (s, k) => (s ? (k % 5 === 4 ? 4 : 1.75) : 2.4));
  assert.ok(count(kept.slice(5000)) >= 0.99 * 15_000, `${count(kept.slice(5000))} of the last 15,000 split`);
});
