/** Optimisers and clipping against values computed by hand. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clipGradients, sumSquares } from '../../src/core/clip';
import { newParamState, update } from '../../src/core/optimizers';
import type { TrainingSpec } from '../../src/core/spec';

const base: TrainingSpec = {
  optimizer: 'sgd',
  learningRate: 0.1,
  momentum: 0.9,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  batchSize: 1,
  shuffle: false,
  steps: 1,
  clip: null,
};
const f64 = (n: number): Float64Array => new Float64Array(n);

test('sgd: θ ← θ − ηg, returns ‖Δθ‖²', () => {
  const th = new Float64Array([1, -2]);
  const sq = update(base, th, new Float64Array([0.5, -1]), newParamState('sgd', 2, f64), 1, 2);
  assert.deepEqual([...th], [0.95, -1.9]);
  assert.ok(Math.abs(sq - (0.05 ** 2 + 0.1 ** 2)) < 1e-15);
});

test('momentum: v ← μv + g, θ ← θ − ηv (PyTorch: v₁ = g)', () => {
  const spec = { ...base, optimizer: 'momentum' as const };
  const th = new Float64Array([1]);
  const st = newParamState('momentum', 1, f64);
  update(spec, th, new Float64Array([2]), st, 1, 1); // v = 2, θ = 0.8
  assert.ok(Math.abs(th[0]! - 0.8) < 1e-15);
  update(spec, th, new Float64Array([1]), st, 2, 1); // v = 0.9·2 + 1 = 2.8, θ = 0.8 − 0.28
  assert.ok(Math.abs(st.m![0]! - 2.8) < 1e-15);
  assert.ok(Math.abs(th[0]! - 0.52) < 1e-15);
});

test('adam: bias-corrected moments', () => {
  const spec = { ...base, optimizer: 'adam' as const, learningRate: 0.01 };
  const th = new Float64Array([0.5]);
  const st = newParamState('adam', 1, f64);
  update(spec, th, new Float64Array([0.2]), st, 1, 1);
  // step 1: m̂ = g, v̂ = g², Δ = −η·g/(|g| + ε)
  assert.ok(Math.abs(th[0]! - (0.5 - (0.01 * 0.2) / (0.2 + 1e-8))) < 1e-15);
  update(spec, th, new Float64Array([-0.1]), st, 2, 1);
  const m = 0.9 * 0.02 + 0.1 * -0.1,
    v = 0.999 * 0.001 * 0.04 + 0.001 * 0.01;
  const mh = m / (1 - 0.81),
    vh = v / (1 - 0.999 ** 2);
  const expected = 0.5 - (0.01 * 0.2) / (0.2 + 1e-8) - (0.01 * mh) / (Math.sqrt(vh) + 1e-8);
  assert.ok(Math.abs(th[0]! - expected) < 1e-14, `${th[0]} vs ${expected}`);
});

test("norm clipping over all tensors keeps the direction, with clip_grad_norm_'s k = c/(‖g‖ + 1e-6)", () => {
  const a = new Float64Array([3]),
    b = new Float64Array([4]);
  const r = clipGradients({ mode: 'norm', max: 1 }, [a, b], 25);
  const k = 1 / (5 + 1e-6);
  assert.equal(r.gradNorm, 5);
  assert.ok(r.clipped && Math.abs(r.gradNormClipped - 5 * k) < 1e-15);
  assert.ok(Math.abs(a[0]! - 3 * k) < 1e-15 && Math.abs(b[0]! - 4 * k) < 1e-15);
  // where ‖g‖ is itself small the 1e-6 is not negligible: PyTorch leaves a norm of 5e-6/6, not c
  const small = Float64Array.from([3e-6, 4e-6]);
  const rs = clipGradients({ mode: 'norm', max: 1e-6 }, [small], 25e-12);
  assert.ok(Math.abs(rs.gradNormClipped - 5e-6 / 6) < 1e-18, String(rs.gradNormClipped));
  const c = new Float64Array([0.3, 0.4]);
  assert.deepEqual(clipGradients({ mode: 'norm', max: 1 }, [c], 0.25), {
    gradNorm: 0.5,
    gradNormClipped: 0.5,
    clipped: false,
  });
  assert.deepEqual([...c], [0.3, 0.4]);
});

test('value clipping clamps each component to [−c, c]', () => {
  const g = new Float64Array([0.7, -0.2, -3, 0.5]);
  const r = clipGradients({ mode: 'value', max: 0.5 }, [g], 0.49 + 0.04 + 9 + 0.25);
  assert.deepEqual([...g], [0.5, -0.2, -0.5, 0.5]);
  assert.equal(r.clipped, true);
  assert.ok(Math.abs(r.gradNormClipped - Math.sqrt(0.25 + 0.04 + 0.25 + 0.25)) < 1e-15);
  const h = new Float64Array([0.1, -0.5]);
  assert.equal(clipGradients({ mode: 'value', max: 0.5 }, [h], 0.26).clipped, false);
});

test('clipping at the edges: none given, a norm exactly at the limit, values exactly at ±c', () => {
  const g = Float64Array.from([3, 4]);
  assert.deepEqual(clipGradients(null, [g], 25), { gradNorm: 5, gradNormClipped: 5, clipped: false });
  assert.deepEqual([...g], [3, 4]);
  // ‖g‖ = c: PyTorch scales by k = c/(‖g‖ + 1e-6) < 1 all the same (and so does a norm up to 1e-6 below c)
  const atLimit = clipGradients({ mode: 'norm', max: 5 }, [g], 25);
  assert.ok(atLimit.clipped && Math.abs(atLimit.gradNormClipped - 25 / (5 + 1e-6)) < 1e-14);
  assert.equal(clipGradients({ mode: 'norm', max: 5 }, [Float64Array.from([3, 3.9999])], 24.9992).clipped, false);
  const v = Float64Array.from([2, -2, 1]);
  assert.equal(clipGradients({ mode: 'value', max: 2 }, [v], 9).clipped, false, 'values at ±c are not clipped');
  const over = Float64Array.from([3, 1]);
  const r = clipGradients({ mode: 'value', max: 2 }, [over], 10);
  assert.deepEqual([...over], [2, 1]);
  assert.deepEqual(r, { gradNorm: Math.sqrt(10), gradNormClipped: Math.sqrt(5), clipped: true });
  assert.equal(sumSquares(Float64Array.from([1, 2, 3, 100]), 3), 14);
});

test('Updater.all: per layer [Σ(Δθ)², Σθ, Σθ², Σg, Σg²] of W at 10·i and of b at 10·i + 5, from `at` on', async () => {
  const { Updater, newLayerStates } = await import('../../src/core/optimizers');
  const { tsKernels } = await import('../../src/core/dense');
  const mk = (vals: number[]) => Float64Array.from(vals);
  const layers = [
    { W: mk([1, -2, 3, 0.5]), b: mk([0.25, -1]), dW: mk([0.5, 1, -1, 2]), db: mk([3, -0.5]) },
    { W: mk([-1, 4]), b: mk([2]), dW: mk([2, -3]), db: mk([1]) },
  ];
  const before = layers.map((l) => ({ W: [...l.W], b: [...l.b], dW: [...l.dW], db: [...l.db] }));
  const states = newLayerStates(layers, 'sgd', (n) => new Float64Array(n));
  const out = new Float64Array(3 + 20).fill(99);
  new Updater({ ...base, learningRate: 0.5 }, tsKernels, layers, states, out, 3).all();
  const sums = (theta: number[], g: number[]) => {
    const after = theta.map((x, i) => x - 0.5 * g[i]!);
    return [
      after.reduce((s, x, i) => s + (x - theta[i]!) ** 2, 0),
      theta.reduce((s, x) => s + x, 0),
      theta.reduce((s, x) => s + x * x, 0),
      g.reduce((s, x) => s + x, 0),
      g.reduce((s, x) => s + x * x, 0),
    ];
  };
  const want = [99, 99, 99, ...before.flatMap((l) => [...sums(l.W, l.dW), ...sums(l.b, l.db)])];
  assert.deepEqual([...out], want);
  before.forEach((l, i) => {
    assert.deepEqual(
      [...layers[i]!.W],
      l.W.map((x, k) => x - 0.5 * l.dW[k]!),
    );
    assert.deepEqual(
      [...layers[i]!.b],
      l.b.map((x, k) => x - 0.5 * l.db[k]!),
    );
  });
});

test('Updater.part: a tensor stepped in parts equals the whole step (values, optimiser state, summed sums); an empty part is a no-op', async () => {
  const { Updater, newLayerStates } = await import('../../src/core/optimizers');
  const { tsKernels } = await import('../../src/core/dense');
  for (const optimizer of ['momentum', 'adam'] as const) {
    const spec = { ...base, optimizer, learningRate: 0.05 };
    const make = () => {
      const W = Float64Array.from({ length: 7 }, (_, i) => Math.sin(i + 1));
      const dW = Float64Array.from({ length: 7 }, (_, i) => Math.cos(3 * i) - 0.2);
      const b = Float64Array.from([0.5, -0.5, 1]);
      const db = Float64Array.from([0.1, 0.2, -0.3]);
      const l = { W, dW, b, db };
      return { l, st: newLayerStates([l], optimizer, (n) => new Float64Array(n))[0]! };
    };
    const whole = make(),
      parts = make();
    const outWhole = new Float64Array(10),
      outParts = new Float64Array(10);
    const upWhole = new Updater(spec, tsKernels, [whole.l], [whole.st], outWhole),
      upParts = new Updater(spec, tsKernels, [parts.l], [parts.st], outParts);
    for (const t of [1, 2, 3]) {
      outWhole.fill(0);
      outParts.fill(0);
      upWhole.t = upParts.t = t;
      for (const j of [0, 1] as const) {
        const n = j === 0 ? 7 : 3;
        upWhole.part(0, j, 0, n);
        for (const [from, to] of [
          [0, 2],
          [2, 2],
          [2, 5],
          [5, n],
        ] as const)
          upParts.part(0, j, Math.min(from, n), Math.min(to, n));
      }
      for (const k of ['W', 'b'] as const) {
        assert.deepEqual([...parts.l[k]], [...whole.l[k]], `${optimizer} t=${t} ${k}`);
        assert.deepEqual([...parts.st[k].m!], [...whole.st[k].m!], `${optimizer} t=${t} ${k}.m`);
        if (optimizer === 'adam') assert.deepEqual([...parts.st[k].v!], [...whole.st[k].v!]);
      }
      for (let i = 0; i < 10; i++)
        assert.ok(
          Math.abs(outParts[i]! - outWhole[i]!) <= 1e-14 * (1 + Math.abs(outWhole[i]!)),
          `${optimizer} t=${t} sum ${i}`,
        );
      assert.ok(outWhole[3] !== 0 && outWhole[8] !== 0);
    }
  }
  // an empty or reversed range changes nothing and adds nothing
  const l = {
    W: Float64Array.from([1, 2]),
    dW: Float64Array.from([1, 1]),
    b: Float64Array.from([1]),
    db: Float64Array.from([1]),
  };
  const st = newLayerStates([l], 'sgd', (n) => new Float64Array(n))[0]!;
  const out = new Float64Array(5).fill(0.5);
  const up = new Updater(base, tsKernels, [l], [st], out);
  up.part(0, 0, 1, 1);
  up.part(0, 0, 2, 1);
  assert.deepEqual([...l.W, ...out], [1, 2, 0.5, 0.5, 0.5, 0.5, 0.5]);
});
