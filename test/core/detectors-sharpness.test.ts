/** The sharpness warning's text and edges, and dying_relu's rate when the run's is not known. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_THRESHOLDS, Detectors } from '../../src/core/detectors';
import type { LayerSpec } from '../../src/core/spec';

const layers: LayerSpec[] = [
  { units: 4, activation: 'relu', alpha: 0.01, init: { scheme: 'he_normal', mode: 'fan_in' }, bias: 0 },
  { units: 2, activation: 'linear', alpha: 0.01, init: { scheme: 'xavier_uniform', mode: 'fan_in' }, bias: 0 },
];

test('sharpness: sgd and momentum texts, strictly above the threshold, once, the lower of two rates', () => {
  const sgd = new Detectors(layers, DEFAULT_THRESHOLDS, 0.1);
  assert.deepEqual(sgd.sharpness(3, 20, 20, null), []); // at the threshold: not above
  assert.deepEqual(sgd.sharpness(3, 25, 20, null), [
    {
      type: 'warning',
      code: 'sharpness',
      severity: 'warning',
      layer: null,
      step: 3,
      message:
        'η·λmax = 2.5 > 2 at step 3: the loss oscillates or diverges along the sharpest direction (λmax = 25, above the threshold 20 for η = 0.1).',
      fix: 'Lower training.learningRate to 0.072 (η·λmax ≈ 1.8 < 2).',
    },
  ]);
  assert.deepEqual(sgd.sharpness(9, 50, 20, null), [], 'once per run');
  assert.ok(Math.abs(sgd.rate()! - 0.072) < 1e-15, 'the rate it named stays the one rate');
  const mom = new Detectors(layers, DEFAULT_THRESHOLDS, 0.1);
  const [w] = mom.sharpness(0, 40, 38, 0.9);
  assert.equal(
    w!.message,
    'η·λmax = 4 > 2 + 2β = 3.8 at step 0: the loss oscillates or diverges along the sharpest direction (λmax = 40, above the threshold 38 for η = 0.1).',
  );
  assert.equal(w!.fix, 'Lower training.learningRate to 0.0855 (η·λmax ≈ 3.42 < 3.8).');
  // a rate named before (a tenth of 0.1) is lower than the sharpness rate: it stays the one rate
  const named = new Detectors(layers, DEFAULT_THRESHOLDS, 0.1);
  assert.equal(named.rate(), 0.01);
  assert.equal(named.sharpness(0, 25, 20, null)[0]!.fix, 'Lower training.learningRate to 0.01 (η·λmax ≈ 0.25 < 2).');
  // no threshold (adam), a non-finite λ: nothing
  assert.deepEqual(new Detectors(layers, DEFAULT_THRESHOLDS, 0.1).sharpness(0, 1e9, null, null), []);
  assert.deepEqual(new Detectors(layers, DEFAULT_THRESHOLDS, 0.1).sharpness(0, NaN, 20, null), []);
});

test('sharpness from a log: the learning rate read off the threshold (sgd 2/η, momentum (2 + 2β)/η)', () => {
  const d = new Detectors(layers, DEFAULT_THRESHOLDS);
  assert.match(d.sharpness(1, 25, 20, null)[0]!.message, /^η·λmax = 2\.5 > 2 at step 1: .* for η = 0\.1\)\.$/);
  const m = new Detectors(layers, DEFAULT_THRESHOLDS);
  assert.match(m.sharpness(1, 40, 38, 0.9)[0]!.message, /^η·λmax = 4 > 2 \+ 2β = 3\.8 at step 1: .* for η = 0\.1\)\.$/);
});

test('dying_relu after step 0 in a log (no run rate): "lower the learning rate"', () => {
  const d = new Detectors(layers, DEFAULT_THRESHOLDS);
  const f = {
    step: 5,
    q0: 1,
    preactVar: [1, 1],
    gradVar: [1, 1],
    dead: [4, null],
    saturated: [null, null],
    updateRatio: [1e-3, 1e-3],
    clipped: false,
    clipActive: false,
  };
  assert.equal(
    d.observe(f)[0]!.fix,
    'Set "activation": "leaky_relu" (α = 0.01) on layer 0, or lower the learning rate.',
  );
});
