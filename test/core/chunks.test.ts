/**
 * How a batch is dealt in chunks (core/chunks.ts): guided chunk sizes that cover the range once,
 * laid out for two threads taking them from the two ends of shared tickets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Deal, takeChunk } from '../../src/core/chunks';

const ceil4 = (x: number): number => 4 * Math.ceil(x / 4);

/** The guided chunks' sizes of n items at least `min` each, in the order they are made. */
const sizes = (n: number, min: number): number[] => {
  const d = new Deal().layout(n, min);
  return Array.from({ length: d.count }, (_, c) => d.size(c));
};

test('guided chunks: cover 0..n once, in pairs of equal size, multiples of 4 down to the least size, only the last ragged', () => {
  const range: [number, number] = [0, 0];
  for (const min of [4, 8, 16, 64]) {
    for (let n = 1; n <= 600; n++) {
      const deal = new Deal().layout(n, min),
        count = deal.count;
      let at = 0;
      const laid: number[] = [];
      for (let p = 0; p < count; p++) {
        const [from, to] = deal.range(p, range);
        assert.equal(from, at, `n=${n} min=${min} chunk ${p} starts where the last ended`);
        assert.ok(to > from, `n=${n} min=${min} chunk ${p} is not empty`);
        laid.push(to - from);
        at = to;
      }
      assert.equal(at, n, `n=${n} min=${min}: the chunks cover every item`);
      const made = Array.from({ length: count }, (_, c) => deal.size(c));
      // laid out as the guided chunks 0, 2, 4, … from the front and 1, 3, 5, … from the back
      const h = (count + 1) >> 1;
      assert.deepEqual(
        laid,
        laid.map((_, p) => made[p < h ? 2 * p : 2 * (count - 1 - p) + 1]),
        `n=${n} min=${min}: the layout`,
      );
      let left = n;
      made.slice(0, -1).forEach((z, c) => {
        // at least the least size, or half of what the pair starts from
        if (c % 2 === 0) assert.ok(z >= Math.min(min, ceil4(left / 2)), `n=${n} min=${min}: chunk ${c} of ${z}`);
        assert.ok(z % 4 === 0, `n=${n} min=${min}: chunk ${c} of ${z}`);
        left -= z;
        if (c % 2 === 1) assert.equal(z, made[c - 1], `n=${n} min=${min}: chunks ${c - 1} and ${c} are a pair`);
        if (c > 0) assert.ok(z <= made[c - 1]!, `n=${n} min=${min}: sizes never grow`);
      });
    }
  }
  assert.deepEqual(sizes(64, 8), [16, 16, 8, 8, 8, 8]);
  const d = new Deal().layout(64, 8);
  assert.deepEqual(
    Array.from({ length: d.count }, (_, p) => d.range(p, [0, 0])),
    [
      [0, 16],
      [16, 24],
      [24, 32],
      [32, 40],
      [40, 48],
      [48, 64],
    ],
  );
});

test('guided chunks: a least size over half of what is left deals two halves, not that size and a small rest', () => {
  // W5 (31 layers of 64 units, batch 256) deals rows at least 124 a chunk at 500k multiply-adds:
  // 124 124 8 left the threads a ragged third chunk, and 124 4 (batch 128) gave one thread all
  assert.deepEqual(sizes(256, 124), [128, 128]);
  assert.deepEqual(sizes(128, 124), [64, 64]);
  assert.deepEqual(sizes(256, 184), [128, 128]);
  assert.deepEqual(sizes(100, 40), [52, 48]);
  assert.deepEqual(sizes(256, 64), [64, 64, 64, 64]);
});

test('guided chunks: a pair whose second chunk would be under one row block (4) is one chunk', () => {
  // W1's output layer: 10 units of ∂W at least 124 a chunk were dealt 8 and 2
  assert.deepEqual(sizes(10, 124), [10]);
  assert.deepEqual(sizes(9, 8), [9]);
  // the last pair of a longer range
  assert.deepEqual(sizes(26, 8), [8, 8, 10]);
  // a second chunk of a whole row block still pairs
  assert.deepEqual(sizes(12, 124), [8, 4]);
  assert.deepEqual(sizes(20, 124), [12, 8]);
});

test('takeChunk: two threads taking turns keep their ends (the same rows each pass); one alone takes every chunk once', () => {
  const tickets = new Int32Array(new SharedArrayBuffer(8));
  const d = new Deal().layout(64, 8);
  // equal pace: the front thread has rows 0–32, the back one 32–64
  const got: [number[], number[]] = [[], []];
  for (let side: 0 | 1 = 0, done = 0; done < 2; side = side === 0 ? 1 : 0) {
    const p = takeChunk(tickets, 1, d.count, side);
    if (p < 0) done++;
    else got[side].push(p);
  }
  assert.deepEqual(got, [
    [0, 1, 2],
    [5, 4, 3],
  ]);
  assert.equal(tickets[0], 0, 'each range counts in its own word');
  assert.equal(takeChunk(tickets, 1, d.count, 0), -1);
  assert.equal(takeChunk(tickets, 1, d.count, 1), -1);
  // one thread alone (the other slowed) takes all of them, in its end's order
  for (const side of [0, 1] as const) {
    tickets.fill(0);
    const alone: number[] = [];
    for (let p = takeChunk(tickets, 0, d.count, side); p >= 0; p = takeChunk(tickets, 0, d.count, side)) alone.push(p);
    assert.deepEqual(alone, side === 0 ? [0, 1, 2, 3, 4, 5] : [5, 4, 3, 2, 1, 0]);
  }
});

test('takeChunk: from both ends in any order, each chunk is taken exactly once', () => {
  const tickets = new Int32Array(new SharedArrayBuffer(4));
  let seed = 7;
  const coin = (): 0 | 1 => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return (seed >>> 16) & 1 ? 1 : 0;
  };
  for (const count of [1, 2, 3, 5, 6, 17]) {
    for (let trial = 0; trial < 50; trial++) {
      tickets.fill(0);
      const taken: number[] = [];
      const ended = [false, false];
      while (!ended[0] || !ended[1]) {
        const side = coin();
        if (ended[side]) continue;
        const p = takeChunk(tickets, 0, count, side);
        if (p < 0) ended[side] = true;
        else taken.push(p);
      }
      assert.deepEqual(
        taken.sort((a, b) => a - b),
        Array.from({ length: count }, (_, i) => i),
        `count ${count}`,
      );
    }
  }
});
