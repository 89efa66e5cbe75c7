/**
 * `analyze` in process: q0, the measured pass on the first batch (equal to a run's step 0 on the
 * same batch), the thresholds it is given, `measure: false`, and loaded weights silencing the init
 * warnings.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AnalysisEvent, LayerwiseEvent, SharpnessEvent, StepEvent, WarningEvent } from '../../src/protocol/events';
import { analyze, initialSharpness } from '../../src/core/analyze';
import { Trainer } from '../../src/core/trainer';
import { buildNetwork } from '../../src/core/model-setup';
import type { LayerSpec, ModelSpec } from '../../src/core/spec';

const layer = (units: number, activation: LayerSpec['activation'], scheme: LayerSpec['init']['scheme']): LayerSpec => ({
  units,
  activation,
  alpha: 0.01,
  init: { scheme, mode: 'fan_in' },
  bias: 0,
});

function spec(over: Partial<ModelSpec> = {}): ModelSpec {
  return {
    name: 'a',
    seed: 2,
    dtype: 'float64',
    inputSize: 5,
    layers: [layer(12, 'tanh', 'he_normal'), layer(8, 'tanh', 'xavier_uniform'), layer(4, 'linear', 'xavier_uniform')],
    loss: 'mse',
    training: {
      optimizer: 'sgd',
      learningRate: 0.01,
      momentum: 0.9,
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      batchSize: 24,
      shuffle: false,
      steps: 1,
      clip: null,
    },
    data: { source: 'synthetic', samples: 48, inputStd: 3, task: 'regression', classes: 0 },
    weights: null,
    diagnostics: { histogramsEvery: 0 },
    ...over,
  };
}

const analysis = (ev: LayerwiseEvent[]): AnalysisEvent => ev.find((e): e is AnalysisEvent => e.type === 'analysis')!;

test("analyze: q0 = inputStd², and the measured pass equals a run's step 0 on the same batch (4 outputs, mse)", () => {
  const s = spec();
  const a = analysis(analyze(s));
  assert.equal(a.inputVar, 9);
  const events: LayerwiseEvent[] = [];
  new Trainer(s, (e) => events.push(e), { kernels: 'ts' }).run();
  const step = events.find((e): e is StepEvent => e.type === 'step')!;
  const gOut = step.layers.at(-1)!.grad.var;
  a.layers.forEach((l, i) => {
    const m = l.measured!,
      st = step.layers[i]!;
    for (const [got, want, what] of [
      [m.preactVar, st.preact.var, 'preactVar'],
      [m.actVar, st.act.var, 'actVar'],
      [m.gradVar, st.grad.var / gOut, 'gradVar'],
    ] as const)
      assert.ok(Math.abs(got - want) <= 1e-9 * Math.abs(want), `layer ${i} ${what}: ${got} vs ${want}`);
  });
  assert.equal(a.layers.at(-1)!.measured!.gradVar, 1);
});

test('analyze: measure false gives the prediction alone; the thresholds given are the ones used', () => {
  assert.ok(analysis(analyze(spec(), { measure: false })).layers.every((l) => l.measured === undefined));
  // a deep tanh net under xavier: the predicted signal vanishes, which a threshold of 0 never calls vanishing
  const deep = spec({
    layers: [
      ...Array.from({ length: 12 }, () => layer(8, 'tanh', 'lecun_normal')),
      layer(4, 'linear', 'xavier_uniform'),
    ],
  });
  const codes = (ev: LayerwiseEvent[]) =>
    ev.filter((e) => e.type === 'warning').map((e) => (e as { code: string }).code);
  const wide = codes(analyze(deep, { thresholds: { vanishingForward: 0.9, vanishingGradient: 0 } }));
  assert.ok(wide.includes('vanishing_forward'), wide.join());
  assert.ok(!wide.includes('vanishing_gradient'), wide.join());
  assert.ok(
    !codes(analyze(deep, { thresholds: { vanishingForward: 0, vanishingGradient: 0 } })).includes('vanishing_forward'),
  );
});

test('analyze: loaded weights silence the init warnings (the scheme did not make them)', () => {
  const s = spec();
  const withInit = analyze(s).filter((e) => e.type === 'warning' && e.code === 'init_mismatch');
  assert.ok(withInit.length > 0);
  const net = buildNetwork(s, 1, 'ts');
  const weights = net.layers.map((l) => ({
    weight: Float64Array.from(l.W),
    bias: Float64Array.from(l.b),
    weightName: `${l.index}.weight`,
    biasName: `${l.index}.bias`,
  }));
  const loaded = analyze({ ...s, weights }).filter((e) => e.type === 'warning' && e.code === 'init_mismatch');
  assert.deepEqual(loaded, []);
});

test('initialSharpness: the first run step’s λmax (mse, 4 outputs), the momentum threshold in the warning, none past the budget', () => {
  const s = spec({ diagnostics: { histogramsEvery: 0, sharpnessEvery: 1 } });
  const [e] = initialSharpness(s) as [SharpnessEvent];
  const events: LayerwiseEvent[] = [];
  new Trainer(s, (x) => events.push(x), { kernels: 'ts', steps: 1 }).run();
  const first = events.find((x): x is SharpnessEvent => x.type === 'sharpness')!;
  assert.ok(Math.abs(e.lambdaMax - first.lambdaMax) <= 1e-4 * first.lambdaMax, `${e.lambdaMax} vs ${first.lambdaMax}`);
  // momentum, with η past (2 + 2β)/λmax
  const m = {
    ...s,
    training: { ...s.training, optimizer: 'momentum' as const, learningRate: (3.8 * 1.5) / e.lambdaMax },
  };
  const out = initialSharpness(m);
  const w = out.find((x): x is WarningEvent => x.type === 'warning')!;
  assert.match(w.message, /> 2 \+ 2β = 3\.8 at step 0/);
  assert.ok(Math.abs((out[0] as SharpnessEvent).threshold! - 3.8 / m.training.learningRate) < 1e-9);
  // a net past the budget (10⁷ parameter·rows): nothing, so that analysis stays interactive
  const big = spec({
    inputSize: 2000,
    layers: [layer(1200, 'tanh', 'xavier_uniform'), layer(4, 'linear', 'xavier_uniform')],
  });
  assert.deepEqual(initialSharpness(big), []);
});

test('analyze: q0 of a data file is its inputs’ mean second moment', () => {
  const x = Float64Array.from([1, 2, 3, -1, 0, 2, 4, -2, 1, 1, 0, 3, 2, 2, -1]); // 3 samples × 5
  const s = spec({
    layers: [layer(6, 'tanh', 'xavier_uniform'), layer(1, 'linear', 'xavier_uniform')],
    data: {
      source: 'csv',
      dataset: { samples: 3, inputSize: 5, x, y: Float64Array.from([0.5, -1, 2]), targetSize: 1 },
    },
  });
  const q0 = x.reduce((a, v) => a + v * v, 0) / x.length;
  assert.ok(Math.abs(analysis(analyze(s)).inputVar - q0) < 1e-12);
});

test('the kept network: an analysis of the same shapes measures what a fresh network does', () => {
  const a = spec();
  const b = spec({ seed: 9, layers: [layer(12, 'tanh', 'xavier_normal'), a.layers[1]!, a.layers[2]!] });
  const c = spec({ layers: [layer(12, 'relu', 'he_normal'), a.layers[1]!, a.layers[2]!] });
  // b after a (same shapes: the kept network, re-initialised) against b after c (shapes differ: fresh)
  analyze(a);
  const kept = analysis(analyze(b));
  analyze(c);
  const fresh = analysis(analyze(b));
  assert.deepEqual(kept, fresh);
  // and the seed and init scheme did change what was measured
  assert.notDeepEqual(analysis(analyze(a)).layers[0]!.measured, kept.layers[0]!.measured);
});

test('a uniform(0, 1) ReLU net: the init warning says the offset compounds m·fan_in a layer, and the measured pass shows it; he_uniform holds Var(z)', () => {
  const u01 = (units: number, activation: LayerSpec['activation']): LayerSpec => ({
    ...layer(units, activation, 'uniform'),
    init: { scheme: 'uniform', mode: 'fan_in', low: 0, high: 1 },
  });
  const s = spec({
    inputSize: 100,
    layers: [
      u01(100, 'relu'),
      u01(100, 'relu'),
      u01(100, 'relu'),
      u01(100, 'relu'),
      layer(10, 'linear', 'xavier_uniform'),
    ],
    training: { ...spec().training, batchSize: 64 },
    data: { source: 'synthetic', samples: 64, inputStd: 1, task: 'regression', classes: 0 },
  });
  const events = analyze(s);
  const w = events.filter((e): e is WarningEvent => e.type === 'warning' && e.code === 'init_mismatch');
  assert.deepEqual(
    w.map((x) => [x.layer, x.layers]),
    [[0, [0, 1, 2, 3]]],
  );
  assert.match(w[0]!.message, /the same offset, 50× its inputs' mean, which compounds/);
  // past the first layers, Var(z) grows by (m·fan_in)² = 2500 a layer (the spread alone: fan_in/6 ≈ 17)
  const m = analysis(events).layers.map((l) => l.measured!.preactVar);
  for (const i of [2, 3]) {
    const growth = m[i]! / m[i - 1]!;
    assert.ok(growth > 2500 / 1.5 && growth < 2500 * 1.5, `layer ${i}: Var(z) grew ${growth}×`);
  }
  // the fix: he_uniform everywhere the warning names
  const fixed = spec({ ...s, layers: s.layers.map((l, i) => (i < 4 ? layer(100, 'relu', 'he_uniform') : l)) });
  const f = analyze(fixed);
  assert.deepEqual(
    f.filter((e) => e.type === 'warning' && e.code === 'init_mismatch'),
    [],
  );
  const v = analysis(f).layers.map((l) => l.measured!.preactVar);
  for (const i of [1, 2, 3])
    assert.ok(v[i]! / v[i - 1]! > 0.5 && v[i]! / v[i - 1]! < 2, `he_uniform layer ${i}: ${v[i]! / v[i - 1]!}`);
});
