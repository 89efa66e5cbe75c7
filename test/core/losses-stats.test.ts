/**
 * Losses at the edges (core/losses.ts): large logits, a neighbour row with larger logits, float32
 * overflow as PyTorch's float32 loss overflows; and the statistics helpers (core/stats.ts) on
 * empty input, negative round-off and two parts merged.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lossAndGrad } from '../../src/core/losses';
import { clampVar, meanSquare, meanVar, mergeMoments, normVar } from '../../src/core/stats';

test('cross-entropy stays finite with logits of ±1000, and each row uses its own maximum', () => {
  const Y = Float64Array.from([1000, 0, -1000, /* row 2 */ 0, 0, 0]);
  const dY = new Float64Array(6);
  const loss = lossAndGrad('cross_entropy', Y, Float64Array.from([0, 2]), dY, 2, 3);
  // row 1: −log softmax = 0; row 2: log 3; the mean over the batch
  assert.ok(Math.abs(loss - Math.log(3) / 2) < 1e-12, String(loss));
  assert.ok(Math.abs(dY[0]!) < 1e-12 && Math.abs(dY[5]! - (1 / 3 - 1) / 2) < 1e-12, String([...dY]));
  // a first row of zeros before a row with a large first logit
  const Z = Float64Array.from([0, 0, 1000, 0]);
  const l2 = lossAndGrad('cross_entropy', Z, Float64Array.from([0, 0]), new Float64Array(4), 2, 2);
  assert.ok(Math.abs(l2 - Math.log(2) / 2) < 1e-12, String(l2));
});

test('float32: a loss beyond float32 range is Infinity, as PyTorch computes it in float32', () => {
  const Y = Float32Array.from([3e38, -3e38, 3e38, -3e38]); // each row ~6e38 > 3.4e38
  const ce = lossAndGrad('cross_entropy', Y, Float64Array.from([1, 1]), new Float32Array(4), 2, 2);
  assert.equal(ce, Infinity);
  const T = Float64Array.from([0, 0]);
  assert.equal(lossAndGrad('mse', Float32Array.from([2e19, 0]), T, new Float32Array(2), 1, 2), Infinity);
  // two squares each below the float32 maximum whose sum is not
  assert.equal(lossAndGrad('mse', Float32Array.from([1.5e19, 1.5e19]), T, new Float32Array(2), 1, 2), Infinity);
  // the same numbers in float64 are finite
  assert.ok(Number.isFinite(lossAndGrad('mse', Float64Array.from([2e19, 0]), T, new Float64Array(2), 1, 2)));
});

test('mergeMoments: both parts together, and an empty part on either side', () => {
  const a = [1, 2, 4],
    b = [10, 11];
  const m = mergeMoments(3, 7 / 3, meanVar(Float64Array.from(a)).var, 2, 10.5, 0.25);
  const all = meanVar(Float64Array.from([...a, ...b]));
  assert.ok(Math.abs(m.mean - all.mean) < 1e-12 && Math.abs(m.var - all.var) < 1e-12, JSON.stringify([m, all]));
  assert.deepEqual(mergeMoments(0, 0, 0, 2, 10.5, 0.25), { mean: 10.5, var: 0.25 });
  assert.deepEqual(mergeMoments(3, 5, 2, 0, 0, 0), { mean: 5, var: 2 });
  // an empty part's moments are 0/0 = NaN: they must not leak into the other part's
  assert.deepEqual(mergeMoments(3, 5, 2, 0, NaN, NaN), { mean: 5, var: 2 });
  assert.deepEqual(mergeMoments(0, NaN, NaN, 2, 10.5, 0.25), { mean: 10.5, var: 0.25 });
});

test('meanSquare, meanVar and normVar on values, on a prefix and on nothing', () => {
  assert.equal(meanSquare([1, 2, 3, 100], 3), 14 / 3);
  assert.equal(meanSquare([]), 0);
  assert.deepEqual(meanVar(new Float64Array(0)), { mean: 0, var: 0 });
  assert.deepEqual(normVar(new Float64Array(0)), { norm: 0, var: 0, sumSq: 0 });
  const v = normVar(Float64Array.from([3, -4, 0, 0]));
  assert.deepEqual(v, { norm: 5, var: 25 / 4 - 1 / 16, sumSq: 25 });
});

test('clampVar: negative round-off becomes 0, NaN stays NaN', () => {
  assert.ok(clampVar(-1e-20) === 0, 'zero (its sign is lost in JSON)');
  assert.equal(clampVar(2), 2);
  assert.ok(Number.isNaN(clampVar(NaN)));
});
