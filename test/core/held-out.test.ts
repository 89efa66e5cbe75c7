/**
 * Held-out samples (core/held-out.ts): the split (disjoint, seeded, in data-set order, never
 * trained on) and the held-out loss and accuracy against a plain float64 forward pass written
 * here, at the parameters of the step they are reported for (before its update).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LayerwiseEvent, StepEvent, ValidationEvent } from '../../src/protocol/events';
import { splitHeldOut } from '../../src/core/held-out';
import { Trainer } from '../../src/core/trainer';
import { Rng } from '../../src/core/rng';
import type { Dataset, ModelSpec } from '../../src/core/spec';
import { layer, testSpec } from '../helpers/spec';
import { datasetOf } from '../../src/core/model-setup';
import { parseEventLine } from '../../src/protocol/parse-event';
import { runCli } from '../helpers/cli';

function spec(
  o: { dtype?: ModelSpec['dtype']; loss?: ModelSpec['loss']; diagnostics?: ModelSpec['diagnostics'] } = {},
): ModelSpec {
  return testSpec({
    seed: 7,
    inputSize: 6,
    layers: [layer(16, 'relu'), layer(12, 'tanh'), layer(3, 'linear')],
    dtype: o.dtype,
    loss: o.loss,
    training: { optimizer: 'adam', learningRate: 0.01, shuffle: true, steps: 40 },
    data: { samples: 300 },
    diagnostics: { histogramsEvery: 0, validation: 0.25, validationEvery: 10, ...o.diagnostics },
  });
}

const rows = (ds: Dataset): string[] =>
  Array.from({ length: ds.samples }, (_, i) =>
    [
      ...ds.x.subarray(i * ds.inputSize, (i + 1) * ds.inputSize),
      ...ds.y.subarray(i * ds.targetSize, (i + 1) * ds.targetSize),
    ].join(','),
  );

test('the split: round(f·n) samples by a seeded draw, disjoint from the rest, each part in data-set order', () => {
  const full = datasetOf(spec());
  const a = splitHeldOut(full, 0.25, new Rng(7, 'validation'));
  assert.equal(a.heldOut!.samples, 75);
  assert.equal(a.train.samples, 225);
  const all = rows(full),
    held = rows(a.heldOut!),
    train = rows(a.train);
  // disjoint, together every sample once, each part a subsequence of the data set
  assert.deepEqual([...held, ...train].sort(), [...all].sort());
  const positions = (part: string[]): number[] => part.map((r) => all.indexOf(r));
  for (const p of [positions(held), positions(train)])
    assert.deepEqual(
      p,
      [...p].sort((x, y) => x - y),
    );
  // seeded: the same seed draws the same samples, another seed others
  assert.deepEqual(rows(splitHeldOut(full, 0.25, new Rng(7, 'validation')).heldOut!), held);
  assert.notDeepEqual(rows(splitHeldOut(full, 0.25, new Rng(8, 'validation')).heldOut!), held);
  // bounds: none for 0; at least one held out, at least one left to train on
  assert.equal(splitHeldOut(full, 0, new Rng(1)).heldOut, null);
  assert.equal(splitHeldOut(full, 0.001, new Rng(1)).heldOut!.samples, 1);
  const two = { ...full, samples: 2 };
  const t = splitHeldOut(two, 0.99, new Rng(1));
  assert.equal(t.heldOut!.samples + t.train.samples, 2);
  assert.equal(t.train.samples, 1);
  // one sample: nothing to hold out
  assert.equal(splitHeldOut({ ...full, samples: 1 }, 0.5, new Rng(1)).heldOut, null);
  // targets of several columns (mse) move with their inputs
  const multi = datasetOf(spec({ loss: 'mse' }));
  assert.equal(multi.targetSize, 3);
  const m = splitHeldOut(multi, 0.25, new Rng(7, 'validation'));
  assert.deepEqual([...rows(m.heldOut!), ...rows(m.train)].sort(), rows(multi).sort());
});

/** Sample s's output: a float64 forward pass of the trainer's layers written out. */
function outputOf(tr: Trainer, ds: Dataset, s: number): number[] {
  const f: Record<string, (z: number) => number> = { relu: (z) => Math.max(0, z), tanh: Math.tanh, linear: (z) => z };
  let a = [...ds.x.subarray(s * ds.inputSize, (s + 1) * ds.inputSize)];
  tr.net.layers.forEach((l, i) => {
    const act = f[tr.spec.layers[i]!.activation]!;
    a = Array.from({ length: l.units }, (_, u) => {
      let z = l.b[u]!;
      for (let j = 0; j < l.fanIn; j++) z += l.W[u * l.fanIn + j]! * a[j]!;
      return act(z);
    });
  });
  return a;
}

/** The loss and accuracy written out: softmax cross-entropy of outputOf over every sample. */
function reference(tr: Trainer, ds: Dataset): { loss: number; accuracy: number } {
  let total = 0,
    hits = 0;
  for (let s = 0; s < ds.samples; s++) {
    const a = outputOf(tr, ds, s);
    const m = Math.max(...a);
    const lse = m + Math.log(a.reduce((acc, v) => acc + Math.exp(v - m), 0));
    const t = ds.y[s]!;
    total += lse - a[t]!;
    if (a.indexOf(m) === t) hits++;
  }
  return { loss: total / ds.samples, accuracy: hits / ds.samples };
}

/** The mean loss over every held-out sample: `reference`'s, or mse (the mean of (y − t)² over outputs). */
function plainLoss(tr: Trainer, ds: Dataset, loss: 'cross_entropy' | 'mse'): { loss: number; accuracy: number | null } {
  if (loss === 'cross_entropy') return reference(tr, ds);
  let total = 0;
  for (let s = 0; s < ds.samples; s++) {
    const a = outputOf(tr, ds, s);
    const t = ds.y.subarray(s * ds.targetSize, (s + 1) * ds.targetSize);
    total += a.reduce((acc, v, c) => acc + (v - t[c]!) ** 2, 0) / a.length;
  }
  return { loss: total / ds.samples, accuracy: null };
}

test('held-out loss and accuracy every K steps and at the last, at the parameters before the update of its step', () => {
  const out: LayerwiseEvent[] = [];
  const tr = new Trainer(spec(), (e) => out.push(e), { every: 1 });
  tr.run();
  const val = out.filter((e): e is ValidationEvent => e.type === 'validation');
  assert.deepEqual(
    val.map((e) => e.step),
    [0, 10, 20, 30, 39],
  );
  for (const e of val) {
    // a trainer run to step k holds the parameters step k's loss was taken at
    const at = new Trainer(spec(), () => undefined, { steps: e.step });
    at.run();
    const r = reference(at, at.heldOut!);
    assert.ok(Math.abs(e.loss - r.loss) <= 1e-12 * r.loss, `step ${e.step}: ${e.loss} vs ${r.loss}`);
    assert.equal(e.accuracy, r.accuracy, `step ${e.step}`);
    assert.equal(e.samples, 75);
    // the event survives the log format
    assert.deepEqual(parseEventLine(JSON.stringify(e)), e);
  }
  // the held-out samples are never trained on: the batches come from the other 225
  assert.equal(tr.dataset.samples, 225);
  const held = new Set(rows(tr.heldOut!));
  assert.ok(rows(tr.dataset).every((r) => !held.has(r)));
  // learning shows on samples it never saw (the teacher is learnable)
  assert.ok(val.at(-1)!.loss < val[0]!.loss);
});

test('a held-out set larger than the evaluation network (700 rows, in chunks of 256) is evaluated whole', () => {
  for (const loss of ['cross_entropy', 'mse'] as const) {
    const s = testSpec({
      seed: 3,
      inputSize: 6,
      layers: [layer(16, 'relu'), layer(12, 'tanh'), layer(3, 'linear')],
      loss,
      training: { optimizer: 'adam', learningRate: 0.01, shuffle: true, steps: 11 },
      data: { samples: 1400 },
      diagnostics: { histogramsEvery: 0, validation: 0.5, validationEvery: 10 },
    });
    const out: LayerwiseEvent[] = [];
    new Trainer(s, (e) => out.push(e)).run();
    const v = out.find((e): e is ValidationEvent => e.type === 'validation' && e.step === 10)!;
    const at = new Trainer(s, () => undefined, { steps: 10 });
    at.run();
    assert.equal(at.heldOut!.samples, 700);
    assert.equal(at.heldOut!.targetSize, loss === 'mse' ? 3 : 1);
    const r = plainLoss(at, at.heldOut!, loss);
    assert.equal(v.samples, 700);
    assert.ok(Math.abs(v.loss - r.loss) <= 1e-12 * r.loss, `${loss}: ${v.loss} vs ${r.loss}`);
    assert.equal(v.accuracy, r.accuracy, loss);
  }
});

test('float32 on the fast kernels: the same held-out loss within float32 rounding; mse has no accuracy', () => {
  const out: LayerwiseEvent[] = [];
  const s = spec({ dtype: 'float32' });
  new Trainer(s, (e) => out.push(e)).run();
  const v = out.find((e): e is ValidationEvent => e.type === 'validation' && e.step === 20)!;
  const at = new Trainer(s, () => undefined, { steps: 20 });
  at.run();
  const r = reference(at, at.heldOut!);
  assert.ok(Math.abs(v.loss - r.loss) <= 1e-5 * r.loss, `${v.loss} vs ${r.loss}`);

  const mse: LayerwiseEvent[] = [];
  new Trainer(spec({ loss: 'mse' }), (e) => mse.push(e)).run();
  const m = mse.filter((e): e is ValidationEvent => e.type === 'validation');
  assert.equal(m.length, 5);
  assert.ok(m.every((e) => e.accuracy === null && Number.isFinite(e.loss)));
});

test('no held-out fraction: no validation events, and the run is the one it always was', () => {
  const a: LayerwiseEvent[] = [],
    b: LayerwiseEvent[] = [];
  new Trainer(spec({ diagnostics: { validation: 0 } }), (e) => a.push(e)).run();
  const s = spec();
  delete s.diagnostics!.validation;
  new Trainer(s, (e) => b.push(e)).run();
  assert.equal(a.filter((e) => e.type === 'validation').length, 0);
  const steps = (x: LayerwiseEvent[]): number[] =>
    x.filter((e): e is StepEvent => e.type === 'step').map((e) => e.loss);
  assert.deepEqual(steps(a), steps(b));
  assert.equal(steps(a).length, 40);
});

test('the overfit example: the held-out loss turns up while the training loss falls, and overfitting says where to stop', () => {
  const r = runCli(['run', 'examples/overfit.mlp.json', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const val = r.events.filter((e) => e.type === 'validation') as unknown as ValidationEvent[];
  const best = val.reduce((a, b) => (b.loss < a.loss ? b : a));
  const w = r.events.filter((e) => e.type === 'warning' && e.code === 'overfitting');
  assert.equal(w.length, 1, 'once');
  const at = w[0]!.step as number;
  // the first evaluation 10 % above the lowest so far, two or more after it
  const first = val.find((e) => e.step > best.step + 20 && e.loss >= 1.1 * best.loss)!;
  assert.equal(at, first.step);
  assert.match(
    String(w[0]!.fix),
    new RegExp(`^Stop at step ${best.step} \\(set training\\.steps to ${best.step + 1}\\)`),
  );
  // the CLI prints it with the run's other warnings
  const human = runCli(['run', 'examples/overfit.mlp.json']);
  assert.match(human.stdout, /overfitting/);
});
