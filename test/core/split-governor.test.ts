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

/** Like drive, with the process's CPU time each step: `cores` busy cores of ours meanwhile. */
function driveCpu(
  g: SplitGovernor,
  steps: number,
  cost: (split: boolean, k: number) => number,
  cores: (split: boolean, k: number) => number,
): boolean[] {
  const split: boolean[] = [];
  for (let k = 0; k < steps; k++) {
    const s = g.next();
    split.push(s);
    const t = cost(s, k);
    g.record(t, t * cores(s, k));
  }
  return split;
}

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
