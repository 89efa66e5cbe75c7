/**
 * How a batch is dealt in chunks (core/chunks.ts): guided chunk sizes that cover the range once,
 * and the shared ticket counter both threads claim chunks from.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chunkCount, chunkRange, claim } from '../../src/core/chunks';

const ceil4 = (x: number): number => 4 * Math.ceil(x / 4);

test('guided chunks: cover 0..n once, in pairs of equal size, multiples of 4 down to the least size, only the last ragged', () => {
  const range: [number, number] = [0, 0];
  for (const min of [4, 8, 16, 64]) {
    for (let n = 1; n <= 600; n++) {
      const count = chunkCount(n, min);
      let at = 0;
      const sizes: number[] = [];
      for (let c = 0; c < count; c++) {
        const [from, to] = chunkRange(n, min, c, range);
        assert.equal(from, at, `n=${n} min=${min} chunk ${c} starts where the last ended`);
        assert.ok(to > from, `n=${n} min=${min} chunk ${c} is not empty`);
        sizes.push(to - from);
        at = to;
      }
      assert.equal(at, n, `n=${n} min=${min}: the chunks cover every item`);
      let left = n;
      sizes.slice(0, -1).forEach((z, c) => {
        // at least the least size, or half of what the pair starts from
        if (c % 2 === 0) assert.ok(z >= Math.min(min, ceil4(left / 2)), `n=${n} min=${min}: chunk ${c} of ${z}`);
        assert.ok(z % 4 === 0, `n=${n} min=${min}: chunk ${c} of ${z}`);
        left -= z;
        if (c % 2 === 1) assert.equal(z, sizes[c - 1], `n=${n} min=${min}: chunks ${c - 1} and ${c} are a pair`);
        if (c > 0) assert.ok(z <= sizes[c - 1]!, `n=${n} min=${min}: sizes never grow`);
      });
    }
  }
  assert.deepEqual(
    Array.from({ length: chunkCount(64, 8) }, (_, c) => {
      const [a, b] = chunkRange(64, 8, c, range);
      return b - a;
    }),
    [16, 16, 8, 8, 8, 8],
  );
});

test('guided chunks: a least size over half of what is left deals two halves, not that size and a small rest', () => {
  // W5 (31 layers of 64 units, batch 256) deals rows at least 124 a chunk at 500k multiply-adds:
  // 124 124 8 left the threads a ragged third chunk, and 124 4 (batch 128) gave one thread all
  const sizes = (n: number, min: number): number[] =>
    Array.from({ length: chunkCount(n, min) }, (_, c) => {
      const [a, b] = chunkRange(n, min, c, [0, 0]);
      return b - a;
    });
  assert.deepEqual(sizes(256, 124), [128, 128]);
  assert.deepEqual(sizes(128, 124), [64, 64]);
  assert.deepEqual(sizes(256, 184), [128, 128]);
  assert.deepEqual(sizes(100, 40), [52, 48]);
  assert.deepEqual(sizes(256, 64), [64, 64, 64, 64]);
});

test('claim: tickets below the end, each once, and the counter stops at the end for the next range', () => {
  const ctl = new Int32Array(new SharedArrayBuffer(64));
  const got: number[] = [];
  for (let c = claim(ctl, 5); c >= 0; c = claim(ctl, 5)) got.push(c);
  assert.deepEqual(got, [0, 1, 2, 3, 4]);
  assert.equal(claim(ctl, 5), -1);
  assert.equal(claim(ctl, 7), 5);
});
