import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Activation } from '../../src/core/activations';
import { calculateGain } from '../../src/core/activations';
import { initGain, initVariance, sampleInit } from '../../src/core/init';
import { Rng } from '../../src/core/rng';
import type { InitSpec, InitScheme } from '../../src/core/spec';
import { meanVar } from '../../src/core/stats';

const relu: Activation = { name: 'relu', alpha: 0 };
const tanh: Activation = { name: 'tanh', alpha: 0 };
const leaky: Activation = { name: 'leaky_relu', alpha: 0.2 };

function sample(init: InitSpec, act: Activation, fanIn: number, fanOut: number, seed = 3): Float64Array {
  const w = new Float64Array(fanIn * fanOut);
  sampleInit(init, act, fanIn, fanOut, new Rng(seed, 'init'), w);
  return w;
}

test('calculate_gain follows PyTorch', () => {
  assert.equal(calculateGain(relu), Math.SQRT2);
  assert.equal(calculateGain(tanh), 5 / 3);
  assert.equal(calculateGain({ name: 'linear', alpha: 0 }), 1);
  assert.equal(calculateGain({ name: 'sigmoid', alpha: 0 }), 1);
  assert.ok(Math.abs(calculateGain(leaky) - Math.sqrt(2 / (1 + 0.04))) < 1e-15);
});

test('closed-form variances and bounds of every scheme (fan_in 300, fan_out 200)', () => {
  const fi = 300,
    fo = 200;
  const cases: [InitSpec, Activation, number, number | null][] = [
    // [spec, activation, exact Var(W), uniform bound or null]
    [{ scheme: 'xavier_uniform', mode: 'fan_in' }, relu, 6 / (fi + fo) / 3, Math.sqrt(6 / (fi + fo))],
    [
      { scheme: 'xavier_uniform', mode: 'fan_in', gain: 2 },
      relu,
      (4 * 6) / (fi + fo) / 3,
      2 * Math.sqrt(6 / (fi + fo)),
    ],
    [{ scheme: 'xavier_normal', mode: 'fan_in' }, tanh, 2 / (fi + fo), null],
    [{ scheme: 'he_normal', mode: 'fan_in' }, relu, 2 / fi, null],
    [{ scheme: 'he_normal', mode: 'fan_out' }, relu, 2 / fo, null],
    [{ scheme: 'he_normal', mode: 'fan_in' }, leaky, 2 / (1 + 0.04) / fi, null],
    [{ scheme: 'he_normal', mode: 'fan_in' }, tanh, 25 / 9 / fi, null],
    [{ scheme: 'he_uniform', mode: 'fan_in' }, relu, 2 / fi, Math.sqrt(6 / fi)],
    [{ scheme: 'he_uniform', mode: 'fan_out' }, relu, 2 / fo, Math.sqrt(6 / fo)],
    [{ scheme: 'he_uniform', mode: 'fan_in', gain: 1 }, relu, 1 / fi, Math.sqrt(3 / fi)],
    [{ scheme: 'lecun_normal', mode: 'fan_in' }, relu, 1 / fi, null],
    [{ scheme: 'lecun_uniform', mode: 'fan_out' }, relu, 1 / fo, Math.sqrt(3 / fo)],
    [{ scheme: 'normal', mode: 'fan_in', std: 0.05 }, relu, 0.0025, null],
    [{ scheme: 'uniform', mode: 'fan_in', low: -0.3, high: 0.1 }, relu, 0.16 / 12, null],
    [{ scheme: 'orthogonal', mode: 'fan_in' }, relu, 1 / fi, null],
    // nn.Linear's default: kaiming_uniform_(a=√5), bound √(2/(1+5))·√(3/fan_in) = 1/√fan_in, any activation or mode
    [{ scheme: 'pytorch', mode: 'fan_in' }, relu, 1 / (3 * fi), 1 / Math.sqrt(fi)],
    [{ scheme: 'pytorch', mode: 'fan_out' }, tanh, 1 / (3 * fi), 1 / Math.sqrt(fi)],
  ];
  for (const [spec, act, exact, bound] of cases) {
    const label = `${spec.scheme} ${spec.mode}${spec.gain ? ` gain ${spec.gain}` : ''} ${act.name}`;
    assert.ok(
      Math.abs(initVariance(spec, act, fi, fo) - exact) <= 1e-12 * exact,
      `${label}: initVariance ${initVariance(spec, act, fi, fo)} vs ${exact}`,
    );
    const w = sample(spec, act, fi, fo);
    const mv = meanVar(w);
    // 60 000 draws: the sample variance is within ~1.3 % (4 sigma) of the truth
    assert.ok(Math.abs(mv.var / exact - 1) < 0.03, `${label}: sample var ${mv.var} vs ${exact}`);
    if (bound !== null) {
      const max = w.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
      assert.ok(max <= bound && max > 0.999 * bound, `${label}: max |w| ${max} vs bound ${bound}`);
    }
  }
});

test('He defaults: U(±√(6/n_in)) for ReLU and N(0, std √(2/n_in)) (standard deviation, not variance)', () => {
  assert.equal(initGain({ scheme: 'he_uniform', mode: 'fan_in' }, relu), Math.SQRT2);
  const w = sample({ scheme: 'he_normal', mode: 'fan_in' }, relu, 512, 256);
  assert.ok(Math.abs(Math.sqrt(meanVar(w).var) / Math.sqrt(2 / 512) - 1) < 0.02);
  assert.equal(initGain({ scheme: 'xavier_uniform', mode: 'fan_in' }, relu), 1);
});

test('orthogonal: rows (or columns) orthonormal times gain, both shapes', () => {
  for (const [rows, cols] of [
    [20, 50],
    [50, 20],
    [30, 30],
  ] as const) {
    const gain = 1.5;
    const w = new Float64Array(rows * cols);
    sampleInit({ scheme: 'orthogonal', mode: 'fan_in', gain }, relu, cols, rows, new Rng(9), w);
    const k = Math.min(rows, cols);
    for (let a = 0; a < k; a++)
      for (let b = 0; b < k; b++) {
        let dot = 0;
        if (rows <= cols) for (let c = 0; c < cols; c++) dot += w[a * cols + c]! * w[b * cols + c]!;
        else for (let r = 0; r < rows; r++) dot += w[r * cols + a]! * w[r * cols + b]!;
        assert.ok(Math.abs(dot - (a === b ? gain * gain : 0)) < 1e-9, `${rows}x${cols} (${a},${b}) = ${dot}`);
      }
  }
});

test('constant schemes and determinism', () => {
  assert.ok(sample({ scheme: 'zeros', mode: 'fan_in' }, relu, 4, 3).every((x) => x === 0));
  assert.ok(sample({ scheme: 'ones', mode: 'fan_in' }, relu, 4, 3).every((x) => x === 1));
  assert.ok(sample({ scheme: 'constant', mode: 'fan_in', value: 0.25 }, relu, 4, 3).every((x) => x === 0.25));
  const schemes: InitScheme[] = ['xavier_uniform', 'he_normal', 'orthogonal'];
  for (const s of schemes)
    assert.deepEqual(
      sample({ scheme: s, mode: 'fan_in' }, relu, 10, 8, 5),
      sample({ scheme: s, mode: 'fan_in' }, relu, 10, 8, 5),
    );
});

/** Draws of one scheme, read straight off the stream: the reference for sampleInit's values. */
function drawn(rng: Rng, n: number, one: (r: Rng) => number): number[] {
  return Array.from({ length: n }, () => one(rng));
}

test('each scheme draws exactly its values from the stream, in order: a second tensor starts where the first ended', () => {
  const fanIn = 5,
    fanOut = 3,
    n = fanIn * fanOut;
  const cases: [InitSpec, (r: Rng) => number][] = [
    [{ scheme: 'xavier_uniform', mode: 'fan_in' }, (r) => r.uniformIn(-Math.sqrt(6 / 8), Math.sqrt(6 / 8))],
    [{ scheme: 'he_uniform', mode: 'fan_in' }, (r) => r.uniformIn(-Math.sqrt(6 / 5), Math.sqrt(6 / 5))],
    [{ scheme: 'he_normal', mode: 'fan_in' }, (r) => Math.sqrt(2 / 5) * r.normal()],
    [{ scheme: 'lecun_normal', mode: 'fan_in' }, (r) => Math.sqrt(1 / 5) * r.normal()],
    [{ scheme: 'xavier_normal', mode: 'fan_in' }, (r) => Math.sqrt(2 / 8) * r.normal()],
    [{ scheme: 'normal', mode: 'fan_in', mean: 0.5, std: 0.25 }, (r) => 0.5 + 0.25 * r.normal()],
    [{ scheme: 'uniform', mode: 'fan_in', low: -0.2, high: 0.6 }, (r) => r.uniformIn(-0.2, 0.6)],
    [{ scheme: 'pytorch', mode: 'fan_in' }, (r) => r.uniformIn(-1 / Math.sqrt(5), 1 / Math.sqrt(5))],
  ];
  for (const [init, one] of cases) {
    const rng = new Rng(11, 'init');
    const a = new Float64Array(n),
      b = new Float64Array(n);
    sampleInit(init, relu, fanIn, fanOut, rng, a);
    sampleInit(init, relu, fanIn, fanOut, rng, b);
    const ref = new Rng(11, 'init');
    const want = drawn(ref, 2 * n, one);
    for (let i = 0; i < 2 * n; i++)
      assert.ok(Math.abs((i < n ? a[i]! : b[i - n]!) - want[i]!) <= 1e-15, `${init.scheme} value ${i}`);
  }
});

/**
 * An independent orthogonal reference: classical Gram–Schmidt (in the textbook's form, one pass)
 * on the same N(0,1) draws, an m×k matrix column by column, R's diagonal positive; then W = Q
 * (rows ≥ cols) or Qᵀ, times the gain.
 */
function orthogonalRef(rows: number, cols: number, gain: number, rng: Rng): number[][] {
  const m = Math.max(rows, cols),
    k = Math.min(rows, cols);
  const draws = drawn(rng, m * k, (r) => r.normal());
  const a = Array.from({ length: k }, (_, j) => draws.slice(j * m, (j + 1) * m));
  const q: number[][] = [];
  for (const col of a) {
    const v = [...col];
    for (const u of q) {
      const d = u.reduce((s, x, i) => s + x * col[i]!, 0);
      for (let i = 0; i < m; i++) v[i]! -= d * u[i]!;
    }
    const norm = Math.hypot(...v);
    q.push(v.map((x) => x / norm));
  }
  return Array.from({ length: rows }, (_, r) =>
    Array.from({ length: cols }, (_, c) => gain * (rows >= cols ? q[c]![r]! : q[r]![c]!)),
  );
}

test('orthogonal equals a textbook QR of the same draws (R diagonal positive), all three shapes, and uses m·k draws', () => {
  for (const [rows, cols] of [
    [4, 6],
    [6, 4],
    [5, 5],
  ] as const) {
    const rng = new Rng(21, 'init');
    const w = new Float64Array(rows * cols);
    sampleInit({ scheme: 'orthogonal', mode: 'fan_in', gain: 2 }, relu, cols, rows, rng, w);
    const ref = new Rng(21, 'init');
    const want = orthogonalRef(rows, cols, 2, ref);
    for (let r = 0; r < rows; r++)
      for (let c = 0; c < cols; c++)
        assert.ok(Math.abs(w[r * cols + c]! - want[r]![c]!) < 1e-12, `${rows}×${cols} [${r}][${c}]`);
    assert.equal(rng.normal(), ref.normal(), `${rows}×${cols}: the stream after it`);
  }
});

test('constant schemes: exact values over whatever the buffer held, variance and scale 0; orthogonal variance gain²·min/(r·c)', () => {
  for (const [init, v] of [
    [{ scheme: 'zeros', mode: 'fan_in' }, 0],
    [{ scheme: 'ones', mode: 'fan_in' }, 1],
    [{ scheme: 'constant', mode: 'fan_in', value: -0.75 }, -0.75],
    [{ scheme: 'constant', mode: 'fan_in' }, 0],
  ] as [InitSpec, number][]) {
    const w = new Float64Array(12).fill(7);
    sampleInit(init, tanh, 4, 3, new Rng(1), w);
    assert.ok(
      w.every((x) => x === v),
      `${init.scheme}: ${[...w].join(',')}`,
    );
    assert.equal(initVariance(init, tanh, 4, 3), 0, init.scheme);
  }
  assert.equal(initVariance({ scheme: 'orthogonal', mode: 'fan_in', gain: 2 }, relu, 4, 6), (4 * 4) / 24);
  assert.equal(initVariance({ scheme: 'orthogonal', mode: 'fan_in', gain: 2 }, relu, 6, 4), (4 * 4) / 24);
  assert.throws(() => sampleInit({ scheme: 'zeros', mode: 'fan_in' }, relu, 4, 3, new Rng(1), new Float64Array(11)), {
    name: 'RangeError',
    message: 'init buffer has 11 values, expected 12',
  });
});
