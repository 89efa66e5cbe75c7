/** The meaning of step events, pinned: statistics before the update, update ratio of the real change, every K, determinism. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LayerwiseEvent, StepEvent, WarningEvent } from '../../src/protocol/events';
import { Trainer } from '../../src/core/trainer';
import type { ModelSpec } from '../../src/core/spec';
import { layer, testSpec } from '../helpers/spec';
import { meanVar } from '../../src/core/stats';

function spec(over: Partial<ModelSpec> = {}, training: Partial<ModelSpec['training']> = {}): ModelSpec {
  const s = testSpec({
    seed: 5,
    dtype: 'float32',
    inputSize: 6,
    layers: [layer(16, 'relu'), layer(16, 'relu'), layer(3, 'linear', 'he_normal')],
    training: { optimizer: 'momentum', shuffle: true, ...training },
    data: { samples: 100 },
  });
  return { ...s, ...over };
}

function collect(s: ModelSpec, opts = {}): LayerwiseEvent[] {
  const out: LayerwiseEvent[] = [];
  new Trainer(s, (e) => out.push(e), opts).run();
  return out;
}

test('a step-k event has the weights before step k and the update ratio of step k', () => {
  const events: LayerwiseEvent[] = [];
  const t = new Trainer(spec(), (e) => events.push(e));
  t.begin();
  for (let k = 0; k < 3; k++) {
    const before = t.net.layers.map((l) => Float64Array.from(l.W));
    t.runStep();
    const ev = events.filter((e): e is StepEvent => e.type === 'step').at(-1)!;
    assert.equal(ev.step, k);
    t.net.layers.forEach((l, i) => {
      const mv = meanVar(before[i]!);
      assert.ok(
        Math.abs(ev.layers[i]!.weight.mean - mv.mean) < 1e-12 && Math.abs(ev.layers[i]!.weight.var - mv.var) < 1e-12,
      );
      // grad: over every element of ∂L/∂Z of this step's batch (16 rows)
      const g = meanVar(l.dZ, 16 * l.units);
      assert.ok(
        Math.abs(ev.layers[i]!.grad.mean - g.mean) <= 1e-9 * Math.abs(g.mean) + 1e-15 &&
          Math.abs(ev.layers[i]!.grad.var - g.var) <= 1e-9 * g.var,
        `layer ${i} grad`,
      );
      assert.ok(ev.layers[i]!.grad.var > 0);
      let d = 0,
        n = 0;
      for (let j = 0; j < l.W.length; j++) {
        d += (l.W[j]! - before[i]![j]!) ** 2;
        n += before[i]![j]! ** 2;
      }
      // ‖Δθ‖² is summed in float32 lanes over blocks of 32 (WebAssembly kernels): 10⁻⁶ relative
      assert.ok(Math.abs(ev.layers[i]!.updateRatio - Math.sqrt(d / n)) < 1e-6 * Math.sqrt(d / n) + 1e-15);
      assert.ok(ev.layers[i]!.updateRatio > 0);
    });
  }
});

test('--every K emits steps with step % K = 0; warnings and end always', () => {
  const ev = collect(spec({}, { steps: 23 }), { every: 5 });
  assert.deepEqual(
    ev.filter((e) => e.type === 'step').map((e) => (e as StepEvent).step),
    [0, 5, 10, 15, 20],
  );
  assert.equal(ev[0]!.type, 'start');
  assert.equal(ev.at(-1)!.type, 'end');
  assert.equal((ev.at(-1) as { steps: number }).steps, 23);
});

test('same seed, same run; another seed, another run', () => {
  const strip = (es: LayerwiseEvent[]): string =>
    JSON.stringify(es.map((e) => (e.type === 'end' ? { ...e, elapsedMs: 0 } : e)));
  assert.equal(strip(collect(spec())), strip(collect(spec())));
  assert.notEqual(strip(collect(spec())), strip(collect(spec({ seed: 6 }))));
});

test('loss falls on learnable synthetic data', () => {
  const steps = collect(spec({}, { steps: 300, optimizer: 'adam', learningRate: 0.01 })).filter(
    (e): e is StepEvent => e.type === 'step',
  );
  const first = steps.slice(0, 10).reduce((a, e) => a + e.loss, 0) / 10;
  const last = steps.slice(-10).reduce((a, e) => a + e.loss, 0) / 10;
  assert.ok(last < 0.6 * first, `loss ${first} → ${last}`);
});

test('a learning rate that blows up ends the run with non_finite naming layer and step', () => {
  const ev = collect(spec({}, { optimizer: 'sgd', learningRate: 1e6, steps: 50 }));
  const w = ev.find((e): e is WarningEvent => e.type === 'warning' && e.code === 'non_finite');
  assert.ok(w, 'non_finite warning');
  assert.equal(w.severity, 'error');
  assert.ok(w.layer !== null && w.step !== null);
  assert.match(w.message, new RegExp(`layer ${w.layer}.*step ${w.step}`));
  const end = ev.at(-1)!;
  assert.equal(end.type, 'end');
  assert.equal((end as { reason: string }).reason, 'non_finite');
  const steps = ev.filter((e) => e.type === 'step');
  assert.ok(steps.every((s) => (s as StepEvent).step < w.step!));
});

test('stop: the run ends with reason stopped after the steps done', () => {
  const out: LayerwiseEvent[] = [];
  const t = new Trainer(spec({}, { steps: 1000 }), (e) => out.push(e));
  const end = t.run(() => t.stepsDone >= 4);
  assert.equal(end.reason, 'stopped');
  assert.equal(end.steps, 4);
  // asked after every layer too: a stop in the middle of a step abandons it (no update applied)
  let asks = 0;
  const t2 = new Trainer(spec({}, { steps: 1000 }), () => undefined);
  const end2 = t2.run(() => ++asks > 2);
  assert.equal(end2.reason, 'stopped');
  assert.equal(end2.steps, 0);
});

test('clipping: clipped steps have gradNormClipped = max < gradNorm; others equal', () => {
  const steps = collect(spec({}, { clip: { mode: 'norm', max: 0.5 }, learningRate: 0.2 })).filter(
    (e): e is StepEvent => e.type === 'step',
  );
  assert.ok(
    steps.some((s) => s.clipped),
    'some steps clipped',
  );
  for (const s of steps) {
    if (s.clipped) assert.ok(Math.abs(s.gradNormClipped - 0.5) < 1e-5 && s.gradNorm > 0.5);
    else assert.equal(s.gradNormClipped, s.gradNorm);
  }
});

test('warnings: Xavier under a deep ReLU stack vanishes, He does not; each code once per layer', () => {
  const deep = (scheme: 'xavier_uniform' | 'he_normal'): ModelSpec =>
    spec(
      {
        inputSize: 32,
        layers: [
          ...Array.from({ length: 30 }, () => ({
            units: 32,
            activation: 'relu' as const,
            alpha: 0,
            init: { scheme, mode: 'fan_in' as const },
            bias: 0,
          })),
          { units: 4, activation: 'linear', alpha: 0, init: { scheme: 'xavier_uniform', mode: 'fan_in' }, bias: 0 },
        ],
        data: { source: 'synthetic', samples: 256, inputStd: 1, task: 'classification', classes: 4 },
      },
      { steps: 30 },
    );
  const all = collect(deep('xavier_uniform'));
  const xa = all.filter((e): e is WarningEvent => e.type === 'warning');
  assert.ok(xa.some((w) => w.code === 'init_mismatch' && w.layer === 0 && w.step === null));
  // the layers named are the ones the step-0 event itself says crossed the thresholds
  const s0 = all.find((e): e is StepEvent => e.type === 'step' && e.step === 0)!;
  const q0 = s0.inputVar!;
  const firstVanishing = s0.layers.findIndex((l) => l.preact.var / q0 < 1e-3);
  const gOut = s0.layers.at(-1)!.grad.var;
  let lastGrad = -1;
  for (let i = s0.layers.length - 1; i >= 0 && lastGrad < 0; i--)
    if (s0.layers[i]!.grad.var / gOut < 1e-3) lastGrad = i;
  assert.ok(firstVanishing >= 5 && lastGrad >= 0, `${firstVanishing} ${lastGrad}`);
  const v = xa.find((w) => w.code === 'vanishing_forward')!;
  assert.deepEqual([v.layer, v.step], [firstVanishing, 0]);
  const g = xa.find((w) => w.code === 'vanishing_gradient')!;
  assert.deepEqual([g.layer, g.step], [lastGrad, 0]);
  const keys = xa.map((w) => `${w.code}:${w.layer}`);
  assert.equal(new Set(keys).size, keys.length, 'no repeats');
  // at initialisation He keeps the signal (training may still kill units later: that is a real finding)
  const he = collect(deep('he_normal')).filter(
    (e): e is WarningEvent => e.type === 'warning' && (e.step === null || e.step === 0),
  );
  assert.ok(
    !he.some((w) => w.code === 'vanishing_forward' || w.code === 'vanishing_gradient' || w.code === 'init_mismatch'),
    JSON.stringify(he.map((w) => w.code)),
  );
});

test('dying ReLU: a strongly negative bias kills units and is reported with a leaky_relu fix', () => {
  const s = spec();
  s.layers[0] = { ...s.layers[0]!, bias: -10 };
  const ev = collect(s);
  const step0 = ev.find((e): e is StepEvent => e.type === 'step')!;
  assert.equal(step0.layers[0]!.dead, 16);
  assert.equal(step0.layers[2]!.dead, null);
  const w = ev.find((e): e is WarningEvent => e.type === 'warning' && e.code === 'dying_relu');
  assert.ok(w && w.layer === 0 && w.step === 0);
  assert.match(w.fix, /leaky_relu/);
});

test('warnings: saturation (tanh with a huge gain), exploding forward, frequent clipping, large updates', () => {
  const tanhHuge = spec(
    {
      layers: [
        {
          units: 32,
          activation: 'tanh',
          alpha: 0,
          init: { scheme: 'xavier_normal', mode: 'fan_in', gain: 16 },
          bias: 0,
        },
        { units: 32, activation: 'linear', alpha: 0, init: { scheme: 'normal', mode: 'fan_in', std: 40 }, bias: 0 },
        { units: 3, activation: 'linear', alpha: 0, init: { scheme: 'xavier_uniform', mode: 'fan_in' }, bias: 0 },
      ],
    },
    { optimizer: 'sgd', learningRate: 0.5, clip: { mode: 'norm', max: 1e-3 }, steps: 30 },
  );
  const ws = collect(tanhHuge).filter((e): e is WarningEvent => e.type === 'warning');
  const by = (code: string): WarningEvent | undefined => ws.find((w) => w.code === code);
  const sat = by('saturation');
  assert.ok(sat && sat.layer === 0 && sat.step === 0, JSON.stringify(ws.map((w) => [w.code, w.layer, w.step])));
  const ex = by('exploding_forward');
  assert.ok(ex && ex.layer === 1 && ex.step === 0, JSON.stringify(ex));
  const clip = by('frequent_clipping');
  assert.ok(clip && clip.step === 19 && clip.layer === null, JSON.stringify(clip));
  assert.match(clip.fix, /learningRate|clip\.max/);
  const big = collect(spec({}, { optimizer: 'sgd', learningRate: 50, steps: 3 })).find(
    (e): e is WarningEvent => e.type === 'warning' && e.code === 'update_ratio',
  );
  assert.ok(big && big.severity === 'warning' && big.step === 0, JSON.stringify(big));
});

test('a batch of a few rows (an epoch’s last, or batchSize 1) is not read as dead ReLU units', () => {
  // 97 samples in batches of 32: every fourth step has one row, on which about half of a healthy
  // ReLU layer's units are <= 0 by chance
  const few = collect(
    testSpec({
      seed: 5,
      dtype: 'float32',
      inputSize: 6,
      layers: [layer(16, 'relu'), layer(16, 'relu'), layer(3, 'linear', 'he_normal')],
      training: { optimizer: 'momentum', batchSize: 32, steps: 8 },
      data: { samples: 97 },
    }),
  );
  const stepsOfOne = few.filter((e): e is StepEvent => e.type === 'step' && e.step % 4 === 3);
  assert.ok(
    stepsOfOne.some((e) => e.layers.some((l) => (l.dead ?? 0) >= 8)),
    'a one-row step with half its units <= 0',
  );
  assert.deepEqual(
    few.filter((e): e is WarningEvent => e.type === 'warning' && e.code === 'dying_relu'),
    [],
  );
  const online = collect(spec({}, { batchSize: 1, steps: 20 }));
  assert.deepEqual(
    online.filter((e): e is WarningEvent => e.type === 'warning' && e.code === 'dying_relu'),
    [],
  );
  // dead units of a real batch are still reported (layer 1 gets only zeros: its Z is its bias, 0)
  const dead = spec();
  dead.layers[0] = { ...dead.layers[0]!, bias: -100 };
  const ws = collect(dead).filter((e): e is WarningEvent => e.type === 'warning' && e.code === 'dying_relu');
  assert.deepEqual(
    ws.map((w) => [w.layer, w.step]),
    [
      [0, 0],
      [1, 0],
    ],
  );
});
