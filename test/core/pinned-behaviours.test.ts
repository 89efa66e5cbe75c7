/**
 * Behaviours a user sees, each pinned so that the plausible wrong version fails here: the dead
 * rule and leaky f'(0) on the pure-TS path, the layer a propagation warning names, the predicted
 * gradient variance where fan-in ≠ fan-out, the measured gradient variance's reference, the last
 * step's event, a CSV error's column, and no slow-update note on a healthy run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import type { AnalysisEvent, LayerwiseEvent, StepEvent, WarningEvent } from '../../src/protocol/events';
import { Trainer } from '../../src/core/trainer';
import { analyze } from '../../src/core/analyze';
import { DEFAULT_THRESHOLDS } from '../../src/core/detectors';
import { propagationWarnings } from '../../src/core/warnings';
import type { LayerSpec, ModelSpec } from '../../src/core/spec';
import { parseCsv } from '../../src/modelfile/csv';
import { ROOT, runCli } from '../helpers/cli';
import { testSpec } from '../helpers/spec';

const layer = (
  units: number,
  activation: LayerSpec['activation'],
  scheme: LayerSpec['init']['scheme'] = 'he_normal',
  alpha = 0.01,
): LayerSpec => ({ units, activation, alpha, init: { scheme, mode: 'fan_in' }, bias: 0 });

function spec(
  layers: LayerSpec[],
  over: Partial<ModelSpec> = {},
  training: Partial<ModelSpec['training']> = {},
): ModelSpec {
  return { ...testSpec({ inputSize: 6, layers, training: { steps: 5, ...training } }), ...over };
}

/** A trainer on the TS kernels whose first layer's weights and biases are all zero: Z₀ ≡ 0 exactly. */
function zeroFirstLayer(act: LayerSpec['activation']): { t: Trainer; events: LayerwiseEvent[] } {
  const events: LayerwiseEvent[] = [];
  const t = new Trainer(spec([layer(8, act, 'he_normal', 0.2), layer(3, 'linear')]), (e) => events.push(e), {
    kernels: 'ts',
  });
  const l0 = t.net.layers[0]!;
  l0.W.fill(0);
  l0.b.fill(0);
  t.begin();
  return { t, events };
}

test('TS path: a ReLU unit whose pre-activation is exactly 0 for every sample is dead', () => {
  const { t, events } = zeroFirstLayer('relu');
  t.runStep();
  const s = events.find((e): e is StepEvent => e.type === 'step')!;
  assert.equal(s.layers[0]!.dead, 8);
  assert.equal(s.layers[0]!.preact.var, 0);
});

test("TS path: a leaky ReLU unit at exactly 0 is not dead, and f'(0) = α in the backward pass", () => {
  const { t, events } = zeroFirstLayer('leaky_relu');
  const l0 = t.net.layers[0]!,
    l1 = t.net.layers[1]!;
  const W1 = Float64Array.from(l1.W);
  t.runStep();
  const s = events.find((e): e is StepEvent => e.type === 'step')!;
  assert.equal(s.layers[0]!.dead, 0);
  // dZ₀ = f'(Z₀) ⊙ (dZ₁ · W₁) with f'(0) = α = 0.2
  const B = 16;
  let checked = 0;
  for (let b = 0; b < B; b++) {
    for (let u = 0; u < l0.units; u++) {
      let dA = 0;
      for (let j = 0; j < l1.units; j++) dA += l1.dZ[b * l1.units + j]! * W1[j * l1.fanIn + u]!;
      const got = l0.dZ[b * l0.units + u]!;
      assert.ok(
        Math.abs(got - 0.2 * dA) <= 1e-12 * Math.abs(dA) + 1e-18,
        `dZ[${b},${u}] = ${got}, expected 0.2 × ${dA}`,
      );
      if (dA !== 0) checked++;
    }
  }
  assert.ok(checked > 0);
});

test('propagation warnings name the exact layer: vanishing forward the first to cross, vanishing gradient the nearest the output', () => {
  const layers = [0, 1, 2, 3, 4].map(() => layer(8, 'relu'));
  const pre = [1, 0.1, 5e-4, 1e-5, 1e-6];
  const grad = [1e-6, 5e-4, 0.01, 0.5, 1];
  const ws = propagationWarnings(layers, pre, grad, 7, DEFAULT_THRESHOLDS, 'measured');
  const by = (c: string): WarningEvent => ws.find((w) => w.code === c)!;
  assert.equal(by('vanishing_forward').layer, 2);
  assert.equal(by('vanishing_gradient').layer, 1);
  assert.equal(by('vanishing_gradient').step, 7);
  assert.match(by('vanishing_gradient').message, /^Layer 1: gradient variance fell to 5\.00e-4 /);
  const up = propagationWarnings(
    layers,
    [1, 2e3, 1e4, 1, 1],
    [5e3, 2e3, 1, 1, 1],
    null,
    DEFAULT_THRESHOLDS,
    'predicted',
  );
  assert.equal(up.find((w) => w.code === 'exploding_forward')!.layer, 1);
  assert.equal(up.find((w) => w.code === 'exploding_gradient')!.layer, 1);
});

test("predicted gradient variance: the next layer's fan-out, where fan-in ≠ fan-out (closed form and measurement)", () => {
  // linear layers with LeCun init (Var(W) = 1/fan_in): Var(∂z_i) / Var(∂z_{i+1}) = fan_out_{i+1} · Var(W_{i+1}) = fan_out/fan_in of layer i+1
  const widths = [256, 32, 512, 64, 10];
  const s = spec(
    widths.map((u) => layer(u, 'linear', 'lecun_normal')),
    { inputSize: 64 },
  );
  const a = analyze(s).find((e): e is AnalysisEvent => e.type === 'analysis')!;
  const L = widths.length;
  assert.equal(a.layers[L - 1]!.predicted.gradVar, 1);
  for (let i = L - 2; i >= 0; i--) {
    const fanIn = widths[i]!,
      fanOut = widths[i + 1]!;
    const ratio = a.layers[i]!.predicted.gradVar / a.layers[i + 1]!.predicted.gradVar;
    assert.ok(Math.abs(ratio - fanOut / fanIn) < 1e-12, `layer ${i}: ${ratio} vs ${fanOut}/${fanIn}`);
    // and the measured pass agrees within sampling noise (64 samples, wide layers)
    const m = a.layers[i]!.measured!.gradVar / a.layers[i + 1]!.measured!.gradVar;
    assert.ok(m / ratio > 0.6 && m / ratio < 1.6, `layer ${i}: measured ${m} vs predicted ${ratio}`);
  }
});

test("analyze: measured Var(∂z) is relative to the output layer's, 1 there", () => {
  const s = spec([layer(64, 'relu'), layer(64, 'relu'), layer(4, 'linear')]);
  const a = analyze(s).find((e): e is AnalysisEvent => e.type === 'analysis')!;
  assert.equal(a.layers[2]!.measured!.gradVar, 1);
  // the raw Var(∂L/∂z) scales with 1/batch² (≈ 1e-4 here); the ratio follows the prediction
  for (const l of a.layers.slice(0, 2)) {
    const r = l.measured!.gradVar / l.predicted.gradVar;
    assert.ok(r > 0.5 && r < 2, `layer ${l.index}: measured ${l.measured!.gradVar}, predicted ${l.predicted.gradVar}`);
  }
});

test("the last step's event is emitted when steps is not a multiple of every", () => {
  for (const [steps, want] of [
    [10, [0, 3, 6, 9]],
    [11, [0, 3, 6, 9, 10]],
    [12, [0, 3, 6, 9, 11]],
  ] as const) {
    const events: LayerwiseEvent[] = [];
    new Trainer(spec([layer(8, 'relu'), layer(3, 'linear')], {}, { steps }), (e) => events.push(e), {
      every: 3,
      emitLast: true,
    }).run();
    assert.deepEqual(
      events.filter((e): e is StepEvent => e.type === 'step').map((e) => e.step),
      want,
    );
  }
  const r = runCli(['run', path.join(ROOT, 'examples', 'quick.mlp.json'), '--steps', '1000', '--quiet']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\nstep 999:\n/);
  assert.match(r.stdout, /\(step 0 → 999\)/);
});

test('CSV: a character after a closing quote is located at its own column, and reported once', () => {
  const r = parseCsv('a,b,c\n"1"x,2,3\n4,5,6\n', {
    header: true,
    target: null,
    task: 'regression',
    classes: 0,
    inputSize: 2,
  });
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.deepEqual(
    r.problems.map((p) => [p.line, p.col]),
    [[2, 4]],
  );
  assert.match(r.problems[0]!.message, /after a closing quote/);
  const r2 = parseCsv('a,b,c\n1,"2" ,3\n', {
    header: true,
    target: null,
    task: 'regression',
    classes: 0,
    inputSize: 2,
  });
  assert.ok(!r2.ok && r2.problems.length === 1 && r2.problems[0]!.line === 2 && r2.problems[0]!.col === 6);
});

test('a healthy run gets no slow-update note; a learning rate of 1e-9 does', () => {
  const codes = (lr: number): WarningEvent[] => {
    const events: LayerwiseEvent[] = [];
    new Trainer(
      spec(
        [layer(32, 'relu'), layer(32, 'relu'), layer(3, 'linear')],
        { dtype: 'float32' },
        { steps: 40, learningRate: lr },
      ),
      (e) => events.push(e),
    ).run();
    return events.filter((e): e is WarningEvent => e.type === 'warning' && e.code === 'update_ratio');
  };
  assert.deepEqual(
    codes(0.05).map((w) => w.message),
    [],
  );
  const slow = codes(1e-9);
  assert.equal(slow.length, 1);
  assert.equal(slow[0]!.severity, 'info');
  assert.equal(slow[0]!.step, 19);
});

test('forward statistics are the mean and population variance (÷N) over every element of Z and f(Z)', () => {
  for (const kernels of ['ts', 'auto'] as const) {
    for (const dtype of ['float32', 'float64'] as const) {
      const events: LayerwiseEvent[] = [];
      const t = new Trainer(
        spec(
          [layer(24, 'tanh', 'xavier_uniform'), layer(16, 'leaky_relu'), layer(3, 'linear')],
          { dtype },
          { batchSize: 10 },
        ),
        (e) => events.push(e),
        { kernels },
      );
      t.begin();
      t.runStep();
      const s = events.find((e): e is StepEvent => e.type === 'step')!;
      for (const l of t.net.layers) {
        for (const [arr, got] of [
          [l.Z, s.layers[l.index]!.preact],
          [l.A, s.layers[l.index]!.act],
        ] as const) {
          const n = 10 * l.units;
          let m = 0;
          for (let j = 0; j < n; j++) m += arr[j]!;
          m /= n;
          let v = 0;
          for (let j = 0; j < n; j++) v += (arr[j]! - m) ** 2;
          v /= n;
          const tol = dtype === 'float32' ? 1e-5 : 1e-12;
          assert.ok(
            Math.abs(got.mean - m) <= tol * (Math.abs(m) + Math.sqrt(v)),
            `${kernels} ${dtype} layer ${l.index} mean ${got.mean} vs ${m}`,
          );
          assert.ok(Math.abs(got.var - v) <= tol * v, `${kernels} ${dtype} layer ${l.index} var ${got.var} vs ${v}`);
        }
      }
    }
  }
});

test('a loss that runs away raises diverging_loss once, with one learning rate; a healthy run does not', () => {
  const run = (lr: number): WarningEvent[] => {
    const events: LayerwiseEvent[] = [];
    const s = spec(
      [layer(16, 'relu'), layer(1, 'linear')],
      {
        dtype: 'float32',
        loss: 'mse',
        data: { source: 'synthetic', samples: 64, inputStd: 3, task: 'regression', classes: 1 },
      },
      { steps: 30, learningRate: lr },
    );
    new Trainer(s, (e) => events.push(e)).run();
    return events.filter((e): e is WarningEvent => e.type === 'warning');
  };
  const bad = run(2).filter((w) => w.code === 'diverging_loss');
  assert.equal(bad.length, 1);
  assert.match(bad[0]!.fix, /^Lower training\.learningRate to \S+\.$/);
  assert.ok(Number(/to (\S+)\.$/.exec(bad[0]!.fix)![1]) < 2);
  assert.match(bad[0]!.message, /^The loss grew from \S+ \(step \d+\) to \S+ at step \d+/);
  assert.deepEqual(
    run(0.01).filter((w) => w.code === 'diverging_loss'),
    [],
  );
});

test('every fix that names a learning rate names the same one; an init that overflows float32 is blamed on the init', () => {
  const events: LayerwiseEvent[] = [];
  const s = spec(
    [layer(16, 'relu'), layer(1, 'linear')],
    {
      dtype: 'float32',
      loss: 'mse',
      data: { source: 'synthetic', samples: 64, inputStd: 1, task: 'regression', classes: 1 },
    },
    { steps: 30, learningRate: 1e6 },
  );
  new Trainer(s, (e) => events.push(e)).run();
  const ws = events.filter((e): e is WarningEvent => e.type === 'warning');
  const rates = ws
    .map((w) => /learningRate to (\S+?)[,. ]/.exec(w.fix)?.[1])
    .filter((x): x is string => x !== undefined);
  assert.ok(
    ws.some((w) => w.code === 'non_finite'),
    JSON.stringify(ws.map((w) => w.code)),
  );
  assert.ok(rates.length >= 2, JSON.stringify(ws.map((w) => w.fix)));
  assert.equal(new Set(rates).size, 1, JSON.stringify(ws.map((w) => [w.code, w.fix])));
  assert.ok(Number(rates[0]) < 1e6 / 10, 'the update ratio says by how much');
  const init: LayerwiseEvent[] = [];
  const big = spec(
    [{ ...layer(8, 'relu'), init: { scheme: 'constant', mode: 'fan_in', value: 1e39 } }, layer(3, 'linear')],
    { dtype: 'float32' },
  );
  new Trainer(big, (e) => init.push(e)).run();
  const nf = init.find((e): e is WarningEvent => e.type === 'warning' && e.code === 'non_finite')!;
  assert.equal(nf.layer, 0);
  assert.match(nf.message, /initial weights are not finite in float32/);
  assert.match(nf.fix, /smaller init on layer 0 .*"dtype": "float64"/);
  assert.doesNotMatch(nf.fix, /learningRate/);
  assert.equal((init.at(-1) as { steps: number }).steps, 0);
});

test('TS weightGradUnits over a range of units [u0, u1) equals the definition, dense and sparse', async () => {
  const { SharedTsKernels } = await import('../../src/core/dense');
  const k = new SharedTsKernels();
  const B = 13,
    K = 9,
    U = 11;
  let seed = 3;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5;
  for (const sparse of [false, true]) {
    const dZ = Float64Array.from({ length: B * U }, (_, j) => (sparse && j % 5 !== 0 ? 0 : rnd()));
    const A = Float64Array.from({ length: B * K }, rnd);
    for (const [u0, u1] of [
      [0, U],
      [3, 8],
      [7, 11],
      [10, 11],
      [4, 4],
    ] as const) {
      const dW = new Float64Array(U * K).fill(NaN),
        db = new Float64Array(U).fill(NaN);
      assert.equal(k.weightGradUnits(dZ, A, dW, db, B, K, U, u0, u1), true);
      for (let u = 0; u < U; u++) {
        const inside = u >= u0 && u < u1;
        let sb = 0;
        for (let i = 0; i < B; i++) sb += dZ[i * U + u]!;
        assert.ok(inside ? Math.abs(db[u]! - sb) < 1e-12 : Number.isNaN(db[u]!), `${sparse} [${u0},${u1}) db[${u}]`);
        for (let c = 0; c < K; c++) {
          let s = 0;
          for (let i = 0; i < B; i++) s += dZ[i * U + u]! * A[i * K + c]!;
          const got = dW[u * K + c]!;
          assert.ok(
            inside ? Math.abs(got - s) < 1e-12 : Number.isNaN(got),
            `${sparse} [${u0},${u1}) dW[${u},${c}] = ${got}, want ${inside ? s : 'untouched'}`,
          );
        }
      }
    }
  }
});
