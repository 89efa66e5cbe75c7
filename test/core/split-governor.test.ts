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
  assert.deepEqual(split.slice(0, 9), Array(9).fill(false), 'warm-up and the one-thread probe run on one thread');
  assert.ok(split.slice(20).every(Boolean), 'split from then on');
  assert.equal(g.splitSteps, count(split));
});

test('a busy second core: one thread, and each probe of the split costs three slow steps', () => {
  const g = new SplitGovernor();
  const split = drive(g, 5000, (s) => (s ? 40 : 10));
  const probes = count(split);
  // holds of 32, 64, 128, then 256 steps: a probe at each, of three steps (the first one untimed:
  // it wakes the helper; then two slow ones)
  assert.ok(probes >= 3 * 18 && probes <= 3 * 24, `${probes} split steps`);
  const runs = split
    .join('')
    .split('false')
    .map((r) => r.length / 4);
  assert.equal(Math.max(...runs), 3);
});

test('a split that only breaks even is not taken (it must win by 5 %)', () => {
  const g = new SplitGovernor();
  const split = drive(g, 2000, (s) => (s ? 9.8 : 10));
  // probes of 1 + 6 split steps, never more in a row
  const runs = split
    .join('')
    .split('false')
    .map((r) => r.length / 4);
  assert.ok(Math.max(...runs) <= 7, `a run of ${Math.max(...runs)} split steps`);
  assert.ok(count(split) < 100, `${count(split)} split steps`);
});

test('the core is taken mid-run: back on one thread within two windows; freed again: back to the split', () => {
  const g = new SplitGovernor();
  const busy = (k: number): boolean => k >= 300 && k < 600;
  const split = drive(g, 1200, (s, k) => (s ? (busy(k) ? 40 : 6) : 10));
  assert.ok(split.slice(100, 300).every(Boolean), 'split while the core is free');
  const firstOne = split.findIndex((s, k) => k >= 300 && !s);
  assert.ok(firstOne >= 300 && firstOne <= 300 + 12, `left the split at step ${firstOne}`);
  assert.ok(count(split.slice(320, 600)) <= 9, `${count(split.slice(320, 600))} split steps while busy`);
  // back at the next probe: holds grow to 256 steps at most while the core stays taken
  const back = split.findIndex((s, k) => k >= 600 && s && split[k + 1] && split[k + 2]);
  assert.ok(back >= 600 && back <= 600 + 256 + 20, `back to the split at step ${back}`);
  assert.ok(split.slice(back, 1200).every(Boolean), 'and stays there');
});

test('noisy step times: a spike does not end a split that pays', () => {
  const g = new SplitGovernor();
  const split = drive(g, 2000, (s, k) => (k % 17 === 0 ? 80 : s ? 6 : 10));
  assert.ok(count(split.slice(20)) >= 0.97 * 1980, `${count(split.slice(20))} of 1980 split`);
});

test('a helper slow to wake (the first split step of each probe) does not keep the split off', () => {
  const g = new SplitGovernor();
  let last = false;
  const split = drive(g, 600, (s) => {
    const woke = s && !last;
    last = s;
    return s ? (woke ? 30 : 6) : 10;
  });
  assert.ok(split.slice(30).every(Boolean), 'split after the first probe');
});
