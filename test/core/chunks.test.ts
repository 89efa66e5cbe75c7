/**
 * How a batch is dealt in chunks (core/chunks.ts): guided chunk sizes that cover the range once,
 * and the shared ticket counter both threads claim chunks from.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chunkCount, chunkRange, claim } from '../../src/core/chunks';

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
      sizes.slice(0, -1).forEach((z, c) => {
        assert.ok(z % 4 === 0 && z >= Math.min(min, n), `n=${n} min=${min}: chunk ${c} of ${z}`);
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

test('claim: tickets below the end, each once, and the counter stops at the end for the next range', () => {
  const ctl = new Int32Array(new SharedArrayBuffer(64));
  const got: number[] = [];
  for (let c = claim(ctl, 5); c >= 0; c = claim(ctl, 5)) got.push(c);
  assert.deepEqual(got, [0, 1, 2, 3, 4]);
  assert.equal(claim(ctl, 5), -1);
  assert.equal(claim(ctl, 7), 5);
});
