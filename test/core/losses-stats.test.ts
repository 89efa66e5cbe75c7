/**
 * Losses at the edges (core/losses.ts): large logits, a neighbour row with larger logits, float32
 * overflow as PyTorch's float32 loss overflows; and the statistics helpers (core/stats.ts) on
 * empty input, negative round-off and two parts merged.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lossAndGrad, lossOfTerms, lossRows } from '../../src/core/losses';
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

test('cross-entropy: ∂L/∂Y is (softmax − onehot)/B to float64 rounding, for 1 to 1000 classes and logits far apart', () => {
  // the reference takes softmax_c as 1 / Σ_k exp(Y_k − Y_c) (each term exact to rounding: no
  // log-sum-exp, whose rounding near |Y| ~ 700 is ~1e-13), and the loss as logsumexp − Y_t
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 2 - 1;
  for (const [B, C, spread] of [
    [5, 1, 1],
    [16, 10, 4],
    [3, 1000, 30],
    [4, 7, 700],
  ] as const) {
    const Y = Float64Array.from({ length: B * C }, () => spread * rand());
    const T = Float64Array.from({ length: B }, (_, i) => (i * 5) % C);
    const dY = new Float64Array(B * C);
    const loss = lossAndGrad('cross_entropy', Y, T, dY, B, C);
    let want = 0;
    for (let i = 0; i < B; i++) {
      const row = [...Y.subarray(i * C, i * C + C)];
      const m = Math.max(...row);
      const terms = row.map((y) => Math.exp(y - m)).sort((a, b) => b - a);
      const lse = m + Math.log(terms.reduce((a, b) => a + b, 0));
      want += (lse - row[T[i]!]!) / B;
      let rowSum = 0;
      for (let c = 0; c < C; c++) {
        const p =
          1 /
          row
            .map((y) => Math.exp(y - row[c]!))
            .sort((a, b) => a - b)
            .reduce((a, b) => a + b, 0);
        const ref = (p - (c === T[i] ? 1 : 0)) / B;
        const got = dY[i * C + c]!;
        assert.ok(Math.abs(got - ref) <= 1e-15 / B, `B ${B} C ${C} row ${i} class ${c}: ${got} against ${ref}`);
        rowSum += got;
      }
      assert.ok(Math.abs(rowSum) < 1e-14, `row ${i} of B ${B} C ${C} sums to ${rowSum}`);
    }
    assert.ok(Math.abs(loss - want) <= 1e-12 * Math.max(1, Math.abs(want)), `B ${B} C ${C}: ${loss} against ${want}`);
  }
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

test("the loss in chunks of rows (a split thread each): the whole batch's loss and ∂L/∂Y bit for bit; mse its mean square", () => {
  // a deterministic mix of magnitudes, odd batch and class counts
  const B = 13,
    C = 7;
  for (const f32 of [true, false]) {
    const Y = f32 ? new Float32Array(B * C) : new Float64Array(B * C);
    for (let i = 0; i < Y.length; i++) Y[i] = Math.sin(1.7 * i) * (1 + (i % 5) * 3);
    for (const loss of ['cross_entropy', 'mse'] as const) {
      const targets =
        loss === 'cross_entropy'
          ? Float64Array.from({ length: B }, (_, i) => (3 * i) % C)
          : Float64Array.from({ length: B * C }, (_, i) => Math.cos(0.3 * i));
      const whole = f32 ? new Float32Array(B * C) : new Float64Array(B * C);
      const want = lossAndGrad(loss, Y, targets, whole, B, C);
      for (const cuts of [
        [0, 5, B],
        [0, 1, 8, 12, B],
        [0, 6, B],
      ]) {
        const dY = f32 ? new Float32Array(B * C) : new Float64Array(B * C),
          terms = new Float64Array(B);
        // chunks taken in any order, as two threads take them
        for (let c = cuts.length - 2; c >= 0; c--)
          lossRows({ name: loss, targets, terms }, Y, dY, B, C, cuts[c]!, cuts[c + 1]!);
        assert.equal(
          lossOfTerms({ name: loss, targets, terms }, B, C, f32),
          want,
          `${loss} ${f32 ? 'f32' : 'f64'} cut at ${cuts}`,
        );
        assert.deepEqual(dY, whole);
      }
      if (loss === 'mse') {
        let sq = 0;
        for (let j = 0; j < B * C; j++) sq += (Y[j]! - targets[j]!) ** 2;
        assert.ok(Math.abs(want - sq / (B * C)) <= 1e-14 * want, `mse ${want} against ${sq / (B * C)}`);
        for (let j = 0; j < B * C; j++)
          assert.equal(
            whole[j],
            f32 ? Math.fround((2 / (B * C)) * (Y[j]! - targets[j]!)) : (2 / (B * C)) * (Y[j]! - targets[j]!),
          );
      }
    }
  }
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
