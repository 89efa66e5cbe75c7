/**
 * The detectors, in process and whole: each warning's threshold (on both sides of it), the layer
 * and step it names, its exact message and fix, and the once-per-run / once-per-layer filter.
 * Whole objects are compared, so a changed number format, a reversed comparison or a lost clause of
 * a message fails here (docs/mutation.md).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AnalysisLayer, WarningEvent } from '../../src/protocol/events';
import { DEFAULT_THRESHOLDS, Detectors } from '../../src/core/detectors';
import { analysisWarnings, initMismatchWarnings, nonFiniteWarning, propagationWarnings } from '../../src/core/warnings';
import type { LayerSpec } from '../../src/core/spec';
import { initVariance } from '../../src/core/init';

const T = DEFAULT_THRESHOLDS;

const layer = (
  units: number,
  activation: LayerSpec['activation'],
  scheme: LayerSpec['init']['scheme'] = 'he_normal',
  gain?: number,
): LayerSpec => ({
  units,
  activation,
  alpha: 0.01,
  init: gain === undefined ? { scheme, mode: 'fan_in' } : { scheme, mode: 'fan_in', gain },
  bias: 0,
});

const w = (
  code: WarningEvent['code'],
  severity: WarningEvent['severity'],
  layer: number | null,
  step: number | null,
  message: string,
  fix: string,
): WarningEvent => ({ type: 'warning', code, severity, layer, step, message, fix });

/** Facts of a healthy step of an L-layer net (every ratio 1, nothing dead, clipped or slow). */
function facts(L: number, step: number, over: Partial<Parameters<Detectors['observe']>[0]> = {}) {
  return {
    step,
    q0: 1,
    preactVar: Array<number>(L).fill(1),
    gradVar: Array<number>(L).fill(1),
    dead: Array<number | null>(L).fill(null),
    saturated: Array<number | null>(L).fill(null),
    updateRatio: Array<number>(L).fill(1e-3),
    clipped: false,
    clipActive: false,
    ...over,
  };
}

// ----- non_finite (and the number format every message uses) ---------------------------------

test('non_finite: the loss, a layer, and initial weights in float32 and float64, with their fixes', () => {
  const lrFix = (lr: string): string =>
    `Lower training.learningRate to ${lr}, add "clip": {"mode": "norm", "max": 1.0} to training, and check the init scale.`;
  assert.deepEqual(
    nonFiniteWarning(7, 3, 'loss', 'float32', 0.01),
    w(
      'non_finite',
      'error',
      3,
      7,
      'Non-finite values (NaN or Inf) first appeared in the loss of output layer 3 at step 7; the run stopped.',
      lrFix('0.01'),
    ),
  );
  assert.deepEqual(
    nonFiniteWarning(4, 1, 'gradients (backward pass)', 'float64', 0.25),
    w(
      'non_finite',
      'error',
      1,
      4,
      "Non-finite values (NaN or Inf) first appeared in layer 1's gradients (backward pass) at step 4; the run stopped.",
      lrFix('0.25'),
    ),
  );
  assert.deepEqual(
    nonFiniteWarning(0, 2, 'initial weights (before any update)', 'float32', 0.1),
    w(
      'non_finite',
      'error',
      2,
      0,
      "Layer 2's initial weights are not finite in float32 (the init gives values beyond its range); the run stopped before step 0.",
      'Use a smaller init on layer 2 (float32 holds values up to 3.4e38), or set "dtype": "float64".',
    ),
  );
  assert.deepEqual(
    nonFiniteWarning(0, 0, 'initial weights (before any update)', 'float64', 0.1).fix,
    'Use a smaller init on layer 0 (float64 holds values up to 1.8e308).',
  );
});

test('numbers in messages: three significant digits, exponents from 1e4 up and below 1e-3, 0 as 0', () => {
  const lr = (x: number): string => /to (\S+), add/.exec(nonFiniteWarning(1, 0, 'loss', 'float32', x).fix)![1]!;
  assert.equal(lr(0), '0');
  assert.equal(lr(1e4), '1.00e+4');
  assert.equal(lr(9999), '10000'); // 3 digits first: 1.00e+4 read back
  assert.equal(lr(1e-3), '0.001');
  assert.equal(lr(9.99e-4), '9.99e-4');
  assert.equal(lr(1.23456), '1.23');
  assert.equal(lr(-2.5e-4), '-2.50e-4');
  assert.equal(lr(-0.123456), '-0.123');
  assert.equal(lr(-12345), '-1.23e+4');
  assert.equal(lr(Infinity), 'Infinity');
});

// ----- init_mismatch ------------------------------------------------------------------------

test('init_mismatch: Xavier and LeCun under ReLU-like activations, the uniform/normal fix kept', () => {
  const ws = initMismatchWarnings(
    [layer(8, 'relu', 'xavier_uniform'), layer(8, 'gelu', 'lecun_normal'), layer(4, 'linear', 'xavier_uniform')],
    false,
    8,
  );
  assert.deepEqual(ws, [
    w(
      'init_mismatch',
      'warning',
      0,
      null,
      'Layer 0: xavier_uniform under relu keeps Var(W)·fan_in ≈ 1, but relu passes only about half of the signal, so variance halves at every such layer.',
      'Set "init": "he_uniform" on layer 0 (Var(W) = 2/fan_in).',
    ),
    w(
      'init_mismatch',
      'warning',
      1,
      null,
      'Layer 1: lecun_normal under gelu keeps Var(W)·fan_in ≈ 1, but gelu passes only about half of the signal, so variance halves at every such layer.',
      'Set "init": "he_normal" on layer 1 (Var(W) = 2/fan_in).',
    ),
  ]);
  for (const act of ['leaky_relu', 'elu'] as const)
    assert.equal(initMismatchWarnings([layer(8, act, 'xavier_normal'), layer(2, 'linear')], false, 8).length, 1, act);
});

test('init_mismatch: He under tanh (2.8×) and sigmoid (2×), fixed with the Xavier of the same family', () => {
  assert.deepEqual(initMismatchWarnings([layer(8, 'tanh', 'he_uniform'), layer(8, 'sigmoid', 'he_normal')], false, 8), [
    w(
      'init_mismatch',
      'warning',
      0,
      null,
      "Layer 0: he_uniform under tanh makes pre-activations about 2.8× larger than Xavier's, pushing tanh into saturation as depth grows.",
      'Set "init": "xavier_uniform" on layer 0.',
    ),
    w(
      'init_mismatch',
      'warning',
      1,
      null,
      "Layer 1: he_normal under sigmoid makes pre-activations about 2× larger than Xavier's, pushing sigmoid into saturation as depth grows.",
      'Set "init": "xavier_normal" on layer 1.',
    ),
  ]);
  // lecun and orthogonal are not He: no warning under tanh
  assert.deepEqual(
    initMismatchWarnings([layer(8, 'tanh', 'lecun_normal'), layer(8, 'tanh', 'orthogonal')], false, 8),
    [],
  );
});

test('init_mismatch: a constant init on a hidden layer never breaks symmetry; the output layer and one unit are fine', () => {
  const ws = initMismatchWarnings(
    [layer(8, 'relu', 'zeros'), layer(8, 'tanh', 'ones'), layer(1, 'relu', 'constant'), layer(3, 'linear', 'zeros')],
    false,
    8,
  );
  assert.deepEqual(ws, [
    w(
      'init_mismatch',
      'warning',
      0,
      null,
      'Layer 0: "zeros" init gives every unit the same weights, so they stay identical forever (symmetry is never broken).',
      'Set "init": "he_normal" on layer 0.',
    ),
    w(
      'init_mismatch',
      'warning',
      1,
      null,
      'Layer 1: "ones" init gives every unit the same weights, so they stay identical forever (symmetry is never broken).',
      'Set "init": "xavier_uniform" on layer 1.',
    ),
  ]);
  assert.equal(initMismatchWarnings([layer(8, 'tanh', 'constant'), layer(2, 'linear')], false, 8).length, 1);
});

/** A layer with an init object (normal, uniform, trunc_normal and their parameters). */
const withInit = (units: number, activation: LayerSpec['activation'], init: Partial<LayerSpec['init']>): LayerSpec => ({
  ...layer(units, activation),
  init: { scheme: 'normal', mode: 'fan_in', ...init },
});

test('init_mismatch: a hidden init whose mean outweighs its spread (m²·fan_in > Var(W)) gives every unit one offset; the fix a zero-mean scheme', () => {
  const u01 = { scheme: 'uniform' } as const;
  const ws = initMismatchWarnings(
    [withInit(100, 'relu', u01), withInit(100, 'relu', u01), withInit(100, 'relu', u01), withInit(10, 'linear', u01)],
    false,
    100,
  );
  assert.deepEqual(
    ws.map((x) => [x.code, x.layer, x.layers, x.message, x.fix]),
    [
      [
        'init_mismatch',
        0,
        [0, 1, 2],
        "Layers 0–2: weights with mean 0.5 (uniform(0, 1)); each unit sums them over its 100 inputs, so every unit gets the same offset, 50× its inputs' mean, which compounds layer after layer (the weights' spread gives only √(fan_in·Var(W)) = 2.89).",
        'Set "init": "he_uniform" on layers 0–2 (zero mean, Var(W) = 2/fan_in).',
      ],
    ],
  );
  // m² · fan_in against Var(W): mean 0.01, std 0.1 offsets at fan_in 300 (0.03 > 0.01), not at 50 (0.005)
  const n = (fanIn: number): number =>
    initMismatchWarnings(
      [withInit(64, 'tanh', { mean: 0.01, std: 0.1 }), layer(2, 'linear', 'xavier_uniform')],
      false,
      fanIn,
    ).length;
  assert.deepEqual([n(300), n(50)], [1, 0]);
  const t = initMismatchWarnings(
    [
      withInit(64, 'tanh', { scheme: 'trunc_normal', mean: 0.3, std: 0.5, a: 0.5, b: 2 }),
      layer(2, 'linear', 'xavier_uniform'),
    ],
    false,
    64,
  );
  assert.equal(t.length, 1);
  assert.match(
    t[0]!.message,
    /^Layer 0: weights with mean 0\.833 \(trunc_normal\(mean 0\.3, std 0\.5, a 0\.5, b 2\)\);/,
  );
  assert.equal(t[0]!.fix, 'Set "init": "xavier_normal" on layer 0 (zero mean, Var(W) = 2/(fan_in + fan_out)).');
  // zero means, and the output layer (a common offset there is the loss's business), are not judged
  for (const init of [{ std: 0.05 }, { scheme: 'uniform', low: -0.5, high: 0.5 }, { scheme: 'trunc_normal' }] as const)
    assert.deepEqual(
      initMismatchWarnings([withInit(64, 'relu', init), layer(2, 'linear')], false, 64),
      [],
      init.scheme,
    );
  assert.deepEqual(initMismatchWarnings([layer(8, 'relu'), withInit(2, 'linear', u01)], false, 8), []);
});

test('init_mismatch: under leaky_relu the fix states the Var(W) its He init draws, 2/((1 + α²)·fan_in), one warning a slope', () => {
  const leaky = (alpha: number, scheme: LayerSpec['init']['scheme']): LayerSpec => ({
    ...layer(8, 'leaky_relu', scheme),
    alpha,
  });
  const ws = initMismatchWarnings(
    [leaky(0.2, 'xavier_normal'), leaky(0.2, 'xavier_normal'), leaky(0.5, 'xavier_normal'), layer(2, 'linear')],
    false,
    8,
  );
  assert.deepEqual(
    ws.map((x) => [x.layer, x.layers, x.fix]),
    [
      [0, [0, 1], 'Set "init": "he_normal" on layers 0–1 (Var(W) = 2/((1 + 0.2²)·fan_in)).'],
      [2, undefined, 'Set "init": "he_normal" on layer 2 (Var(W) = 2/((1 + 0.5²)·fan_in)).'],
    ],
  );
  // what he_normal draws under that slope (torch's kaiming_normal_(a=α, nonlinearity="leaky_relu"))
  for (const alpha of [0.2, 0.5])
    assert.ok(
      Math.abs(
        initVariance({ scheme: 'he_normal', mode: 'fan_in' }, { name: 'leaky_relu', alpha }, 8, 8) -
          2 / ((1 + alpha ** 2) * 8),
      ) < 1e-15,
    );
  const torch = initMismatchWarnings([leaky(0.2, 'pytorch'), layer(2, 'linear')], false, 8);
  assert.equal(
    torch[0]!.fix,
    'Set "init": "he_uniform" on layer 0 (Var(W) = 2/((1 + 0.2²)·fan_in); in PyTorch nn.init.kaiming_uniform_(w, a=0.2, nonlinearity="leaky_relu")).',
  );
});

test('init_mismatch: consecutive layers with the same problem make one warning with its range; a gain or loaded weights silence it', () => {
  const layers = [
    layer(8, 'relu', 'xavier_uniform'),
    layer(8, 'relu', 'xavier_uniform'),
    layer(8, 'relu', 'xavier_uniform'),
    layer(8, 'relu', 'xavier_normal'), // another scheme: a new group
    layer(8, 'leaky_relu', 'xavier_normal'), // another activation: a new group
    layer(8, 'relu', 'he_normal'),
    layer(8, 'relu', 'xavier_uniform', 1.5), // a gain: not judged
    layer(2, 'linear', 'xavier_uniform'),
  ];
  const ws = initMismatchWarnings(layers, false, 8);
  assert.deepEqual(
    ws.map((x) => [x.layer, x.layers, x.message.slice(0, 12), x.fix]),
    [
      [0, [0, 1, 2], 'Layers 0–2: ', 'Set "init": "he_uniform" on layers 0–2 (Var(W) = 2/fan_in).'],
      [3, undefined, 'Layer 3: xav', 'Set "init": "he_normal" on layer 3 (Var(W) = 2/fan_in).'],
      [4, undefined, 'Layer 4: xav', 'Set "init": "he_normal" on layer 4 (Var(W) = 2/((1 + 0.01²)·fan_in)).'],
    ],
  );
  assert.ok(!('layers' in ws[1]!));
  assert.deepEqual(initMismatchWarnings(layers, true, 8), []);
  // symmetric layers in a row fold too
  const sym = initMismatchWarnings(
    [layer(4, 'tanh', 'zeros'), layer(4, 'tanh', 'zeros'), layer(2, 'linear')],
    false,
    8,
  );
  assert.deepEqual(
    sym.map((x) => [x.layer, x.layers, x.fix]),
    [[0, [0, 1], 'Set "init": "xavier_uniform" on layers 0–1.']],
  );
  assert.match(sym[0]!.message, /^Layers 0–1: "zeros" init/);
});

// ----- vanishing / exploding ------------------------------------------------------------------

test('propagation: the first layer forward, the nearest the output backward, strict thresholds, both verbs', () => {
  const layers = [layer(8, 'relu'), layer(8, 'relu'), layer(8, 'relu'), layer(8, 'relu'), layer(2, 'linear')];
  const pre = [1, 1e-3, 5e-4, 1e-5, 2000]; // 1e-3 is not below the threshold: layer 2 is the first
  const grad = [2e-4, 1e-4, 1e3, 2000, 1]; // 1e3 is not above: layer 3 is exploding, layer 1 the vanishing one nearest the output
  const ws = propagationWarnings(layers, pre, grad, 12, T, 'measured');
  assert.deepEqual(ws, [
    w(
      'vanishing_forward',
      'warning',
      2,
      12,
      "Layer 2: pre-activation variance fell to 5.00e-4 of the inputs' at step 12; the signal vanishes going forward.",
      'Make the net shallower, or check the bias and the scale of the inputs.',
    ),
    w(
      'exploding_forward',
      'warning',
      4,
      12,
      "Layer 4: pre-activation variance grew to 2000× the inputs' at step 12; the signal explodes going forward.",
      'Use "init": "xavier_normal" for the linear layers up to layer 4, so Var(z_l) ≈ Var(a_{l−1}).',
    ),
    w(
      'vanishing_gradient',
      'warning',
      1,
      12,
      "Layer 1: gradient variance fell to 1.00e-4 of the output layer's at step 12; layers 1 and below barely learn.",
      'Make the net shallower, or check the bias and the scale of the inputs.',
    ),
    w(
      'exploding_gradient',
      'warning',
      3,
      12,
      "Layer 3: gradient variance grew to 2000× the output layer's at step 12; updates of layers 3 and below blow up.",
      'Add "clip": {"mode": "norm", "max": 1} to training, and lower the init gain (e.g. "init": {"scheme": "he_normal", "gain": 1}) or normalise the inputs (data.inputStd).',
    ),
  ]);
  const predicted = propagationWarnings(layers, pre, grad, null, T, 'predicted');
  assert.equal(
    predicted[0]!.message,
    "Layer 2: pre-activation variance is predicted to fall to 5.00e-4 of the inputs'; the signal vanishes going forward.",
  );
  assert.equal(
    predicted[1]!.message,
    "Layer 4: pre-activation variance is predicted to grow to 2000× the inputs'; the signal explodes going forward.",
  );
  assert.deepEqual(
    predicted.map((x) => x.step),
    [null, null, null, null],
  );
  // exactly at the thresholds: nothing
  assert.deepEqual(propagationWarnings(layers, [1e-3, 1e3, 1, 1, 1], [1e-3, 1e3, 1, 1, 1], 0, T, 'measured'), []);
  // only the first layer: it alone, not "layers 0 and below"
  const first = (g: number[]) => propagationWarnings(layers, [1, 1, 1, 1, 1], g, 12, T, 'measured')[0]!.message;
  assert.equal(
    first([1e-4, 1, 1, 1, 1]),
    "Layer 0: gradient variance fell to 1.00e-4 of the output layer's at step 12; layer 0 barely learns.",
  );
  assert.equal(
    first([2000, 1, 1, 1, 1]),
    "Layer 0: gradient variance grew to 2000× the output layer's at step 12; its updates blow up.",
  );
});

test('propagation fixes: a mismatched init names the scheme for the activation, in its own family (uniform or normal); a matching one (either family member) does not', () => {
  const tanh = [layer(8, 'tanh', 'he_normal'), layer(8, 'tanh', 'xavier_normal'), layer(2, 'linear', 'xavier_normal')];
  assert.equal(
    propagationWarnings(tanh, [1e-5, 1, 1], [1, 1, 1], 3, T, 'measured')[0]!.fix,
    'Use "init": "xavier_normal" for the tanh layers up to layer 0, so Var(z_l) ≈ Var(a_{l−1}).',
  );
  assert.equal(
    propagationWarnings(tanh, [1, 1e-5, 1], [1, 1, 1], 3, T, 'measured')[0]!.fix,
    'Make the net shallower, or check the bias and the scale of the inputs.',
  );
  assert.equal(
    propagationWarnings(tanh, [1, 1e5, 1], [1, 1, 1], 3, T, 'measured')[0]!.fix,
    'Lower the init gain (e.g. "init": {"scheme": "xavier_normal", "gain": 1}) or normalise the inputs (data.inputStd).',
  );
  const relu = [layer(8, 'relu', 'he_uniform'), layer(8, 'relu', 'lecun_uniform'), layer(2, 'linear', 'xavier_normal')];
  assert.match(propagationWarnings(relu, [1e-5, 1, 1], [1, 1, 1], 3, T, 'measured')[0]!.fix, /^Make the net/);
  assert.equal(
    propagationWarnings(relu, [1, 1e-5, 1], [1, 1, 1], 3, T, 'measured')[0]!.fix,
    'Use "init": "he_uniform" for the relu layers up to layer 1, so Var(z_l) ≈ Var(a_{l−1}).',
  );
  // selu's scheme is LeCun's (its self-normalizing fixed point), in the layer's family
  const selu = [layer(8, 'selu', 'he_uniform'), layer(2, 'linear', 'xavier_normal')];
  assert.equal(
    propagationWarnings(selu, [1e-5, 1], [1, 1], 2, T, 'measured')[0]!.fix,
    'Use "init": "lecun_uniform" for the selu layers up to layer 0, so Var(z_l) ≈ Var(a_{l−1}).',
  );
  assert.equal(
    initMismatchWarnings(
      [withInit(100, 'selu', { scheme: 'uniform' }), layer(2, 'linear', 'xavier_uniform')],
      false,
      100,
    )[0]!.fix,
    'Set "init": "lecun_uniform" on layer 0 (zero mean, Var(W) = 1/fan_in).',
  );
  // a ratio past the last layer (an analysis longer than the spec) has no init to name
  assert.equal(
    propagationWarnings(relu, [1, 1, 1, 1e-6], [1, 1, 1, 1], 3, T, 'measured')[0]!.fix,
    'Check the init of the layers before it.',
  );
});

test('analysisWarnings: predicted pre-activation variance relative to q0, gradient variance as given', () => {
  const layers = [layer(8, 'relu'), layer(8, 'relu'), layer(2, 'linear')];
  const a = (i: number, preactVar: number, gradVar: number): AnalysisLayer => ({
    index: i,
    fanIn: 8,
    fanOut: 8,
    weightVar: 0.25,
    predicted: { preactVar, actVar: preactVar / 2, gradVar },
  });
  const q0 = 4;
  // preactVar 0.02 / q0 4 = 5e-3: fine; 0.002 / 4 = 5e-4: vanishing at layer 1
  const ws = analysisWarnings(layers, [a(0, 4, 1e-4), a(1, 0.002, 1), a(2, 4, 1)], q0, T);
  assert.deepEqual(
    ws.map((x) => [x.code, x.layer, x.step]),
    [
      ['vanishing_forward', 1, null],
      ['vanishing_gradient', 0, null],
    ],
  );
  assert.match(ws[0]!.message, /fall to 5\.00e-4 of the inputs'; /);
  assert.deepEqual(analysisWarnings(layers, [a(0, 4, 1), a(1, 0.02, 1), a(2, 4, 1)], q0, T), []);
});

test('analysisWarnings: what the measured batch crosses and the prediction does not, with the prediction beside it', () => {
  const layers = [
    layer(8, 'tanh', 'xavier_normal'),
    layer(8, 'tanh', 'xavier_normal'),
    layer(2, 'linear', 'xavier_normal'),
  ];
  const a = (i: number, p: [number, number], m: [number, number]): AnalysisLayer => ({
    index: i,
    fanIn: 8,
    fanOut: 8,
    weightVar: 0.125,
    predicted: { preactVar: p[0], actVar: p[0], gradVar: p[1] },
    measured: { preactVar: m[0], actVar: m[0], gradVar: m[1] },
  });
  // predicted healthy; measured: layer 1's signal at 5e-4 of q0, layer 0's gradient at 2e-4
  const ws = analysisWarnings(
    layers,
    [a(0, [0.5, 0.3], [0.4, 2e-4]), a(1, [0.2, 0.6], [5e-4, 0.01]), a(2, [0.2, 1], [1e-3, 1])],
    1,
    T,
  );
  assert.deepEqual(
    ws.map((x) => [x.code, x.layer, x.step]),
    [
      ['vanishing_forward', 1, null],
      ['vanishing_gradient', 0, null],
    ],
  );
  assert.equal(
    ws[0]!.message,
    "Layer 1: pre-activation variance fell to 5.00e-4 of the inputs' on one batch at init, where the mean-field prediction (for wide layers) is 0.2; the signal vanishes going forward.",
  );
  assert.equal(ws[0]!.fix, 'Make the layers wider (the prediction holds for wide ones) or the net shallower.');
  assert.equal(
    ws[1]!.message,
    "Layer 0: gradient variance fell to 2.00e-4 of the output layer's on one batch at init, where the mean-field prediction (for wide layers) is 0.3; layer 0 barely learns.",
  );
  // a code the prediction already raises is not raised again; an exploding gradient keeps its ×
  // and its fix; a non-finite measurement raises nothing
  const both = analysisWarnings(
    layers,
    [a(0, [0.5, 5e3], [0.4, 2e3]), a(1, [5e-4, 1], [1e-4, 1]), a(2, [0.2, 1], [0.2, 1])],
    1,
    T,
  );
  assert.deepEqual(
    both.map((x) => [x.code, x.layer]),
    [
      ['vanishing_forward', 1],
      ['exploding_gradient', 0],
    ],
  );
  assert.match(both[0]!.message, /is predicted to fall to 5\.00e-4/);
  const up = analysisWarnings(
    layers,
    [a(0, [0.5, 50], [0.4, 2e3]), a(1, [0.2, 1], [0.2, 1]), a(2, [0.2, 1], [0.2, 1])],
    1,
    T,
  );
  assert.match(
    up[0]!.message,
    /grew to 2000× the output layer's on one batch at init, where the mean-field prediction \(for wide layers\) is 50×; /,
  );
  assert.match(up[0]!.fix, /^Add "clip"/);
  assert.deepEqual(
    analysisWarnings(layers, [a(0, [0.5, 1], [NaN, NaN]), a(1, [0.2, 1], [NaN, NaN]), a(2, [0.2, 1], [NaN, 1])], 1, T),
    [],
  );
  // a prediction near the threshold, the batch just past it: not the width, the usual fix
  const near = analysisWarnings(
    layers,
    [a(0, [0.5, 1], [0.5, 1]), a(1, [2e-3, 1], [8e-4, 1]), a(2, [0.2, 1], [0.2, 1])],
    1,
    T,
  );
  assert.deepEqual(
    near.map((x) => [x.code, x.fix]),
    [['vanishing_forward', 'Make the net shallower, or check the bias and the scale of the inputs.']],
  );
});

// ----- run time -------------------------------------------------------------------------------

test('observe: ratios against q0 and the output layer, and no warning where q0 or the output variance is 0', () => {
  const layers = [layer(8, 'relu'), layer(8, 'relu'), layer(2, 'linear')];
  const d = new Detectors(layers, T, 0.1);
  // Var(z)/q0: 2e-4/0.5 = 4e-4 vanishes; 2e-4/1 is 2e-4 of the output's 1
  const ws = d.observe(facts(3, 5, { q0: 0.5, preactVar: [1, 2e-4, 1], gradVar: [2e-4, 1, 1] }));
  assert.deepEqual(
    ws.map((x) => [x.code, x.layer, x.message.match(/to (\S+)/)![1]]),
    [
      ['vanishing_forward', 1, '4.00e-4'],
      ['vanishing_gradient', 0, '2.00e-4'],
    ],
  );
  const z = new Detectors(layers, T, 0.1);
  assert.deepEqual(z.observe(facts(3, 0, { q0: 0, preactVar: [1e-9, 1e-9, 1e-9], gradVar: [1e-9, 1e-9, 0] })), []);
});

test('observe: propagation and clipping codes once per run, per-layer codes once per layer', () => {
  const layers = [layer(4, 'relu'), layer(4, 'relu'), layer(2, 'linear')];
  const d = new Detectors(layers, T, 0.1);
  const first = d.observe(facts(3, 0, { preactVar: [1e-6, 1, 1], dead: [4, 0, null] }));
  assert.deepEqual(
    first.map((x) => [x.code, x.layer]),
    [
      ['vanishing_forward', 0],
      ['dying_relu', 0],
    ],
  );
  // vanishing_forward moves to layer 1: not again; dying_relu on another layer: yes
  const second = d.observe(facts(3, 1, { preactVar: [1, 1e-6, 1], dead: [4, 4, null] }));
  assert.deepEqual(
    second.map((x) => [x.code, x.layer]),
    [['dying_relu', 1]],
  );
  assert.deepEqual(d.observe(facts(3, 2, { preactVar: [1e-6, 1e-6, 1], dead: [4, 4, null] })), []);
});

test("dying_relu: from half of the units dead, relu only, with the init part of the fix only when not He (in the init's family)", () => {
  const layers = [
    layer(10, 'relu', 'he_uniform'),
    layer(10, 'relu', 'xavier_uniform'),
    layer(10, 'leaky_relu'),
    layer(2, 'linear'),
  ];
  const d = new Detectors(layers, T, 0.1);
  assert.deepEqual(d.observe(facts(4, 3, { dead: [4, 4, 10, null] })), []); // 40 %: below; leaky never
  assert.deepEqual(d.observe(facts(4, 4, { dead: [5, 7, 10, null] })), [
    w(
      'dying_relu',
      'warning',
      0,
      4,
      'Layer 0: 5 of 10 ReLU units (50 %) are dead at step 4: their output is 0 for every sample, so their gradient is 0 and they never recover.',
      'Set "activation": "leaky_relu" (α = 0.01) on layer 0, or lower training.learningRate to 0.01.',
    ),
    w(
      'dying_relu',
      'warning',
      1,
      4,
      'Layer 1: 7 of 10 ReLU units (70 %) are dead at step 4: their output is 0 for every sample, so their gradient is 0 and they never recover.',
      'Set "activation": "leaky_relu" (α = 0.01) on layer 1, use "init": "he_uniform", or lower training.learningRate to 0.01.',
    ),
  ]);
});

test('saturation: from half of the activations saturated, with its fix', () => {
  const layers = [layer(8, 'tanh', 'xavier_uniform'), layer(8, 'sigmoid', 'xavier_uniform'), layer(2, 'linear')];
  const d = new Detectors(layers, T, 0.1);
  assert.deepEqual(d.observe(facts(3, 0, { saturated: [0.499, 0.1, null] })), []);
  assert.deepEqual(d.observe(facts(3, 1, { saturated: [0.5, 0.876543, null] })), [
    w(
      'saturation',
      'warning',
      0,
      1,
      'Layer 0: 50 % of tanh outputs are saturated at step 1, where the gradient is almost 0.',
      'Use "init": "xavier_uniform" on layer 0, or scale the inputs down.',
    ),
    w(
      'saturation',
      'warning',
      1,
      1,
      'Layer 1: 87.7 % of sigmoid outputs are saturated at step 1, where the gradient is almost 0.',
      'Use "init": "xavier_uniform" on layer 1, or scale the inputs down.',
    ),
  ]);
});

test('frequent_clipping: half of the last window clipped, once 20 steps ran, over a sliding window of 50', () => {
  const layers = [layer(4, 'relu'), layer(2, 'linear')];
  const run = (clippedAt: (k: number) => boolean, steps: number, t = T): { step: number; message: string }[] => {
    const d = new Detectors(layers, t, 0.1);
    const out: { step: number; message: string }[] = [];
    for (let k = 0; k < steps; k++)
      for (const x of d.observe(facts(2, k, { clipActive: true, clipped: clippedAt(k) })))
        if (x.code === 'frequent_clipping') out.push({ step: x.step!, message: x.message });
    return out;
  };
  // every step clipped: first at step 19 (the 20th step)
  assert.deepEqual(
    run(() => true, 30),
    [
      {
        step: 19,
        message:
          "Gradients were clipped on 100 % of the last 20 steps (by step 19): clipping is doing the optimiser's work and slows learning.",
      },
    ],
  );
  // every other step: exactly 50 % at step 19 (10 of 20): fires
  assert.equal(run((k) => k % 2 === 1, 30)[0]?.step, 19);
  // one in three: never
  assert.deepEqual(
    run((k) => k % 3 === 0, 200),
    [],
  );
  // the window slides: 60 quiet steps, then clipped ones: 25 clipped of the last 50 at step 84
  assert.deepEqual(
    run((k) => k >= 60, 120).map((x) => x.step),
    [84],
  );
  assert.match(run((k) => k >= 60, 120)[0]!.message, /on 50 % of the last 50 steps \(by step 84\)/);
  // clipping not configured: the history is not kept
  const d = new Detectors(layers, T, 0.1);
  for (let k = 0; k < 40; k++) assert.deepEqual(d.observe(facts(2, k, { clipActive: false, clipped: true })), []);
  assert.equal(run(() => true, 30, { ...T, clipMinSteps: 5 })[0]?.step, 4);
});

test('update_ratio: a step above 0.1 warns with one learning rate, scaled from the largest ratio seen', () => {
  const layers = [layer(4, 'relu'), layer(4, 'relu'), layer(2, 'linear')];
  const d = new Detectors(layers, T, 0.5);
  assert.deepEqual(d.observe(facts(3, 0, { updateRatio: [0.1, 0.05, 1e-3] })), []);
  // largest ratio 0.4: the rate that gives 1e-3 is 0.5 · 1e-3 / 0.4 = 1.25e-3
  assert.deepEqual(d.observe(facts(3, 1, { updateRatio: [0.2, 0.4, Infinity] })), [
    w(
      'update_ratio',
      'warning',
      0,
      1,
      'Layer 0: one update changed the weights by 0.2 of their norm at step 1 (≈1e-3 is healthy); training is unstable.',
      'Lower training.learningRate to 0.00125 (about 0.0025× the current one).',
    ),
    w(
      'update_ratio',
      'warning',
      1,
      1,
      'Layer 1: one update changed the weights by 0.4 of their norm at step 1 (≈1e-3 is healthy); training is unstable.',
      'Lower training.learningRate to 0.00125 (about 0.0025× the current one).',
    ),
    w(
      'update_ratio',
      'warning',
      2,
      1,
      'Layer 2: one update changed the weights by Infinity of their norm at step 1 (≈1e-3 is healthy); training is unstable.',
      'Lower training.learningRate to 0.00125 (about 0.0025× the current one).',
    ),
  ]);
  assert.equal(d.rate(), (0.5 * 1e-3) / 0.4);
  // without the run's rate: a factor from this ratio
  const n = new Detectors(layers, T, null);
  assert.equal(n.rate(), null);
  assert.equal(
    n.observe(facts(3, 0, { updateRatio: [0.5, 1e-3, 1e-3] }))[0]!.fix,
    'Lower training.learningRate (about 0.002× the current one).',
  );
});

test("the one learning rate: a tenth of the run's until a ratio above 1e-3 is seen, then fixed once named", () => {
  const layers = [layer(4, 'relu'), layer(2, 'linear')];
  const tenth = new Detectors(layers, T, 0.3);
  tenth.observe(facts(2, 0, { updateRatio: [1e-3, NaN] })); // 1e-3 is not above 1e-3; NaN is not a ratio
  assert.equal(tenth.rate(), 0.3 / 10);
  const scaled = new Detectors(layers, T, 0.3);
  scaled.observe(facts(2, 0, { updateRatio: [0.002, 0.001] }));
  assert.equal(scaled.rate(), (0.3 * 1e-3) / 0.002);
  scaled.observe(facts(2, 1, { updateRatio: [0.5, 0.001] })); // named already: stays
  assert.equal(scaled.rate(), (0.3 * 1e-3) / 0.002);
  const inf = new Detectors(layers, T, 0.3);
  inf.observe(facts(2, 0, { updateRatio: [Infinity, 0] }));
  assert.equal(inf.rate(), 0.3 / 10);
});

test('update_ratio info: layers whose updates average below 1e-6 over the first 20 steps, named and folded', () => {
  const layers = [layer(4, 'relu'), layer(4, 'relu'), layer(4, 'relu'), layer(4, 'relu'), layer(2, 'linear')];
  const run = (ratio: (k: number, i: number) => number, steps = 25, t = T): WarningEvent[] => {
    const d = new Detectors(layers, t, 0.1);
    const out: WarningEvent[] = [];
    for (let k = 0; k < steps; k++)
      out.push(
        ...d
          .observe(facts(5, k, { updateRatio: layers.map((_, i) => ratio(k, i)) }))
          .filter((x) => x.code === 'update_ratio'),
      );
    return out;
  };
  assert.deepEqual(
    run((_, i) => (i === 2 ? 5e-7 : 1e-3)),
    [
      w(
        'update_ratio',
        'info',
        2,
        19,
        "Layer 2: updates average 5.00e-7 of the weights' norm over the first 20 steps; this layer barely learns.",
        'Raise training.learningRate, or fix vanishing gradients below these layers.',
      ),
    ],
  );
  const several = run((_, i) => (i === 1 ? 1e-3 : 2e-7));
  assert.equal(several.length, 1);
  assert.equal(
    several[0]!.message,
    "Layers 0, 2–4: updates average 2.00e-7 (or less) of the weights' norm over the first 20 steps; these layers barely learn.",
  );
  assert.equal(several[0]!.layer, 0);
  // the mean over the window, not the last value: 19 steps at 0 and one at 3e-5 average 1.5e-6
  assert.deepEqual(
    run((k) => (k === 0 ? 3e-5 : 0)),
    [],
  );
  // exactly the threshold on average is not below (2^-20: the sum and mean are exact); steps after
  // the window do not count
  assert.deepEqual(
    run((k) => (k < 20 ? 2 ** -20 : 0), 40, { ...T, updateRatioLow: 2 ** -20 }),
    [],
  );
  assert.equal(run((k) => (k < 20 ? 2 ** -21 : 0), 40, { ...T, updateRatioLow: 2 ** -20 }).length, 1);
  // a layer without a finite ratio (frozen in PyTorch: null) is not judged: it was 0 on average
  assert.deepEqual(
    run((_, i) => (i === 0 ? NaN : 1e-3)),
    [],
  );
  assert.deepEqual(
    run((_, i) => (i === 0 ? (null as unknown as number) : i === 3 ? 1e-7 : 1e-3)).map((x) => x.layer),
    [3],
  );
  // a NaN ratio is left out of the sum (it would hide a slow layer)
  assert.equal(run((k, i) => (i === 0 ? (k === 3 ? NaN : 1e-8) : 1e-3)).length, 1);
  // a healthy run: nothing
  assert.deepEqual(
    run(() => 1e-3),
    [],
  );
  // a shorter window
  const d = new Detectors(layers, { ...T, updateWindow: 3 }, 0.1);
  const got: WarningEvent[] = [];
  for (let k = 0; k < 5; k++) got.push(...d.observe(facts(5, k, { updateRatio: [0, 0, 0, 0, 0] })));
  assert.deepEqual(
    got.map((x) => [x.step, x.message.slice(0, 40)]),
    [[2, 'Layers 0–4: updates average 0 (or less) ']],
  );
});

test('update_ratio info: a log every 10 steps is judged at its first step from 19 on, over the steps it has', () => {
  const layers = [layer(4, 'relu'), layer(2, 'linear')];
  const d = new Detectors(layers, T, 0.1);
  const out: WarningEvent[] = [];
  for (const k of [0, 10, 20, 30])
    out.push(
      ...d
        .observe(facts(2, k, { updateRatio: [k === 0 ? 1.5e-6 : 1e-7, 1e-3] }))
        .filter((x) => x.code === 'update_ratio'),
    );
  assert.deepEqual(
    out.map((x) => [x.layer, x.step, x.message]),
    [
      [
        0,
        20,
        "Layer 0: updates average 8.00e-7 of the weights' norm over the first 20 steps; this layer barely learns.",
      ],
    ],
  );
});

test('diverging_loss: above 100× the lowest loss so far, once, naming the lowest step and one rate', () => {
  const layers = [layer(4, 'relu'), layer(2, 'linear')];
  const losses = [2.5, 1.2, 0.5, 3, 50, 50.0001, 70, 1e6];
  const run = (lr: number | null, ls = losses): WarningEvent[] => {
    const d = new Detectors(layers, T, lr);
    return ls.flatMap((loss, k) => d.observe(facts(2, k, { loss })));
  };
  assert.deepEqual(run(0.2), [
    w(
      'diverging_loss',
      'warning',
      null,
      5,
      'The loss grew from 0.5 (step 2) to 50 at step 5: the updates overshoot and training diverges.',
      'Lower training.learningRate to 0.02.',
    ),
  ]);
  assert.equal(run(null)[0]!.fix, 'Lower the learning rate to a tenth of it.');
  // exactly 100× is not above; a non-finite or missing loss is not looked at; a zero lowest loss never diverges
  assert.deepEqual(run(0.2, [1, 100, NaN, Infinity]), []);
  assert.deepEqual(run(0.2, [0, 5, 1e9]), []);
  // a batch's loss far above a tiny lowest one, still below where the run started, is noise of a
  // run near zero loss (a separable problem), not divergence; past its first loss it is
  assert.deepEqual(run(0.2, [0.69, 0.3, 0.01, 2.46e-4, 0.0708]), []);
  assert.deepEqual(
    run(0.2, [0.69, 2.46e-4, 0.0708, 5]).map((x) => [x.step, x.message]),
    [[3, 'The loss grew from 2.46e-4 (step 1) to 5 at step 3: the updates overshoot and training diverges.']],
  );
  const d = new Detectors(layers, T, 0.2);
  assert.deepEqual(d.observe(facts(2, 0, {})), []);
  assert.deepEqual(d.observe(facts(2, 1, { loss: 1 })), []);
  assert.equal(d.observe(facts(2, 2, { loss: 101 }))[0]?.message.includes('from 1 (step 1)'), true);
});

test('overfitting: the held-out loss 10 % above its lowest, 2 evaluations on, the training loss lower; once', () => {
  const layers = [layer(4, 'relu'), layer(2, 'linear')];
  // [step, held-out, training] per evaluation
  const run = (evals: [number, number, number][], t = T): WarningEvent[] => {
    const d = new Detectors(layers, t, 0.01);
    return evals.flatMap(([k, h, tr]) => d.validation(k, h, tr));
  };
  const lowest: [number, number, number][] = [
    [0, 2, 2.1],
    [20, 0.5, 0.4],
  ];
  assert.deepEqual(run([...lowest, [40, 0.52, 0.3], [60, 0.55, 0.2], [80, 0.6, 0.1]]), [
    w(
      'overfitting',
      'warning',
      null,
      60,
      'The held-out loss rose from 0.5 (step 20) to 0.55 at step 60 while the training loss fell from 0.4 to 0.2: the net fits its training samples and no longer generalises (overfitting).',
      'Stop at step 20 (set training.steps to 21), or train on more samples, or use fewer units per layer.',
    ),
  ]);
  // just under 10 % above: nothing; at 10 %: the second evaluation after the lowest warns
  assert.deepEqual(run([...lowest, [40, 0.5, 0.3], [60, 0.5499, 0.2]]), []);
  assert.equal(run([...lowest, [40, 0.5, 0.3], [60, 0.55, 0.2]]).length, 1);
  // one evaluation after the lowest is too soon, however high
  assert.deepEqual(run([...lowest, [40, 5, 0.3]]), []);
  // the training loss did not fall: a bad stretch of the run, not overfitting
  assert.deepEqual(run([...lowest, [40, 0.6, 0.45], [60, 0.7, 0.5]]), []);
  // a new lowest starts over; non-finite values are not looked at; the threshold is the setting's
  assert.deepEqual(run([...lowest, [40, 0.6, 0.3], [60, 0.45, 0.2], [80, 0.49, 0.1]]), []);
  assert.deepEqual(run([...lowest, [40, NaN, 0.3], [60, Infinity, 0.2], [80, 0.51, NaN]]), []);
  assert.equal(run([...lowest, [40, 0.51, 0.3], [60, 0.52, 0.2]], { ...T, overfitting: 0.03 }).length, 1);
  // once per run
  assert.equal(run([...lowest, [40, 0.6, 0.3], [60, 0.7, 0.2], [80, 0.8, 0.1], [100, 0.9, 0.05]]).length, 1);
});

test('once: per-run codes by code, the rest by code and layer; static warnings count too', () => {
  const layers = [layer(4, 'relu'), layer(2, 'linear')];
  const d = new Detectors(layers, T, 0.1);
  const a = w('init_mismatch', 'warning', 0, null, 'm', 'f');
  const b = w('init_mismatch', 'warning', 1, null, 'm', 'f');
  const c = w('exploding_gradient', 'warning', 0, 3, 'm', 'f');
  const e = w('exploding_gradient', 'warning', 1, 4, 'm', 'f');
  assert.deepEqual(d.once([a, b, a, c, e]), [a, b, c]);
  assert.deepEqual(d.once([a, c]), []);
  const f = w('frequent_clipping', 'warning', null, 3, 'm', 'f');
  const g = w('diverging_loss', 'warning', null, 3, 'm', 'f');
  assert.deepEqual(d.once([f, f, g, g]), [f, g]);
  for (const code of ['vanishing_forward', 'exploding_forward', 'vanishing_gradient'] as const)
    assert.deepEqual(d.once([w(code, 'warning', 0, 1, 'm', 'f'), w(code, 'warning', 1, 1, 'm', 'f')]).length, 1, code);
  for (const code of ['saturation', 'dying_relu', 'update_ratio', 'non_finite'] as const)
    assert.deepEqual(d.once([w(code, 'warning', 0, 1, 'm', 'f'), w(code, 'warning', 1, 1, 'm', 'f')]).length, 2, code);
});

test('exploding_gradient: the joined fix keeps the keys and formulas it names in their case', () => {
  const layers = [layer(8, 'tanh', 'he_normal'), layer(2, 'linear', 'xavier_normal')];
  assert.equal(
    propagationWarnings(layers, [1, 1], [1e4, 1], 0, T, 'measured')[0]!.fix,
    'Add "clip": {"mode": "norm", "max": 1} to training, and use "init": "xavier_normal" for the tanh layers up to layer 0, so Var(z_l) ≈ Var(a_{l−1}).',
  );
});

test('edges the other tests leave: a group that starts past layer 0, a constant output layer, layer 0 exploding, ties, thresholds of 0', () => {
  // the range of a group that does not start at layer 0
  const g = initMismatchWarnings(
    [layer(8, 'relu'), layer(8, 'relu', 'xavier_uniform'), layer(8, 'relu', 'xavier_uniform'), layer(2, 'linear')],
    false,
    8,
  );
  assert.deepEqual(
    g.map((x) => [x.layer, x.layers]),
    [[1, [1, 2]]],
  );
  // a constant hidden layer followed by a constant output layer: the output is not symmetric, not in the range
  const c = initMismatchWarnings([layer(4, 'tanh', 'zeros'), layer(4, 'tanh', 'zeros')], false, 8);
  assert.deepEqual(
    c.map((x) => [x.layer, x.layers, x.fix]),
    [[0, undefined, 'Set "init": "xavier_uniform" on layer 0.']],
  );
  // exploding forward at layer 0
  assert.deepEqual(
    propagationWarnings([layer(8, 'relu'), layer(2, 'linear')], [2e3, 1], [1, 1], 0, T, 'measured').map((x) => [
      x.code,
      x.layer,
    ]),
    [['exploding_forward', 0]],
  );
  // a loss equal to the lowest keeps the earlier step as the lowest
  const d = new Detectors([layer(4, 'relu'), layer(2, 'linear')], T, 0.2);
  const ws = [1, 1, 200].flatMap((loss, k) => d.observe(facts(2, k, { loss })));
  assert.equal(
    ws[0]!.message,
    'The loss grew from 1 (step 0) to 200 at step 2: the updates overshoot and training diverges.',
  );
  // a NaN or infinite loss is never compared (NaN would otherwise read as "grew to NaN")
  const n = new Detectors([layer(4, 'relu'), layer(2, 'linear')], T, 0.2);
  assert.deepEqual(
    [1, NaN, -Infinity, Infinity].flatMap((loss, k) => n.observe(facts(2, k, { loss }))),
    [],
  );
  // with thresholds of 0, a layer without the statistic (null) still gets no warning
  const z = new Detectors([layer(4, 'relu'), layer(4, 'tanh', 'xavier_uniform'), layer(2, 'linear')], {
    ...T,
    deadFraction: 0,
    saturatedFraction: 0,
  });
  assert.deepEqual(z.observe(facts(3, 0, { dead: [null, null, null], saturated: [null, null, null] })), []);
  assert.deepEqual(
    z.observe(facts(3, 1, { dead: [0, null, null], saturated: [null, 0, null] })).map((x) => [x.code, x.layer]),
    [
      ['dying_relu', 0],
      ['saturation', 1],
    ],
  );
  // frequent_clipping is a warning
  const f = new Detectors([layer(4, 'relu'), layer(2, 'linear')], { ...T, clipMinSteps: 1 }, 0.1);
  assert.equal(f.observe(facts(2, 0, { clipActive: true, clipped: true }))[0]?.severity, 'warning');
});

test("vanishing_gradient below a dying ReLU layer: the fix is that layer's (the most dead above), where the init already suits", () => {
  const layers = [layer(8, 'relu'), layer(8, 'relu'), layer(8, 'relu'), layer(2, 'linear')];
  const grad = [1e-4, 1e-2, 0.5, 1];
  const ws = new Detectors(layers, T, 0.1).observe(facts(4, 10, { gradVar: grad, dead: [0, 5, 7, null] }));
  const v = ws.find((x) => x.code === 'vanishing_gradient')!;
  const dying2 = ws.find((x) => x.code === 'dying_relu' && x.layer === 2)!;
  assert.equal(v.layer, 0);
  assert.match(
    dying2.fix,
    /^Set "activation": "leaky_relu" \(α = 0\.01\) on layer 2, or lower training\.learningRate to /,
  );
  assert.equal(v.fix, `Layer 2's 7 dead units (of 8) pass no gradient to the layers below it: s${dying2.fix.slice(1)}`);
  assert.match(v.message, /^Layer 0: gradient variance fell to 1\.00e-4/);
  // of equal fractions, the nearest above; one below the vanishing layer is no cause
  const eq = new Detectors(layers, T, 0.1).observe(facts(4, 10, { gradVar: [1, 1e-4, 0.5, 1], dead: [8, 6, 6, null] }));
  assert.match(eq.find((x) => x.code === 'vanishing_gradient')!.fix, /^Layer 2's 6 dead units/);
  const below = new Detectors(layers, T, 0.1).observe(
    facts(4, 10, { gradVar: [1, 1, 1e-4, 1], dead: [8, 0, 0, null] }),
  );
  assert.match(below.find((x) => x.code === 'vanishing_gradient')!.fix, /^Make the net shallower/);
  // no dying layer: the generic fix; an init that does not suit: the init's fix
  const none = new Detectors(layers, T, 0.1).observe(facts(4, 10, { gradVar: grad, dead: [0, 1, 2, null] }));
  assert.match(none.find((x) => x.code === 'vanishing_gradient')!.fix, /^Make the net shallower/);
  const xavier = [
    layer(8, 'relu', 'xavier_uniform'),
    layer(8, 'relu', 'xavier_uniform'),
    layer(8, 'relu', 'xavier_uniform'),
    layer(2, 'linear'),
  ];
  const mis = new Detectors(xavier, T, 0.1).observe(facts(4, 10, { gradVar: grad, dead: [0, 5, 7, null] }));
  assert.match(mis.find((x) => x.code === 'vanishing_gradient')!.fix, /^Use "init": "he_uniform"/);
});

test("vanishing_forward above a dying ReLU layer: the fix is that layer's (the most dead below, the nearest of equals)", () => {
  const layers = [layer(8, 'relu'), layer(8, 'relu'), layer(8, 'relu'), layer(2, 'linear')];
  const fwd = (pre: number[], dead: (number | null)[]) =>
    new Detectors(layers, T, 0.1)
      .observe(facts(4, 10, { preactVar: pre, dead }))
      .find((x) => x.code === 'vanishing_forward')!;
  const v = fwd([1, 0.1, 5e-4, 1e-4], [7, 5, 0, null]);
  assert.equal(v.layer, 2);
  assert.match(
    v.fix,
    /^Layer 0's 7 dead units \(of 8\) pass no signal to the layers above it: set "activation": "leaky_relu" \(α = 0\.01\) on layer 0, or lower training\.learningRate to /,
  );
  assert.match(fwd([1, 0.1, 5e-4, 1e-4], [6, 6, 0, null]).fix, /^Layer 1's 6 dead units/);
  // a dying layer at or above the vanishing one is no cause of it
  assert.match(fwd([1, 0.1, 5e-4, 1e-4], [0, 0, 8, null]).fix, /^Make the net shallower/);
});

test('dying_relu under a negative constant bias: setting the bias to 0 is the first fix', () => {
  const layers = [{ ...layer(8, 'relu'), bias: -4 }, { ...layer(8, 'relu'), bias: 0.1 }, layer(2, 'linear')];
  const ws = new Detectors(layers, T, 0.1).observe(facts(3, 0, { dead: [8, 6, null] }));
  assert.deepEqual(
    ws.map((x) => x.fix),
    [
      'Set "bias": 0 on layer 0 (its -4 holds the pre-activations below 0), or set "activation": "leaky_relu" (α = 0.01) on layer 0.',
      'Set "activation": "leaky_relu" (α = 0.01) on layer 1.',
    ],
  );
});

test('dying_relu at step 0 (dead from the init): no learning rate in the fix; later the run’s one rate', () => {
  const layers = [layer(4, 'relu', 'xavier_uniform'), layer(4, 'relu'), layer(2, 'linear')];
  const d = new Detectors(layers, T, 0.1);
  assert.deepEqual(d.observe(facts(3, 0, { dead: [4, 2, null] })), [
    w(
      'dying_relu',
      'warning',
      0,
      0,
      'Layer 0: 4 of 4 ReLU units (100 %) are dead at step 0, before any update: their output is 0 for every sample, so their gradient is 0 and they never recover.',
      'Set "activation": "leaky_relu" (α = 0.01) on layer 0, or use "init": "he_uniform".',
    ),
    w(
      'dying_relu',
      'warning',
      1,
      0,
      'Layer 1: 2 of 4 ReLU units (50 %) are dead at step 0, before any update: their output is 0 for every sample, so their gradient is 0 and they never recover.',
      'Set "activation": "leaky_relu" (α = 0.01) on layer 1.',
    ),
  ]);
  // asking at step 0 did not fix the rate: a large ratio seen later still sets it
  const e = new Detectors(layers, T, 0.1);
  e.observe(facts(3, 0, { dead: [4, 0, null] }));
  const later = e.observe(facts(3, 1, { dead: [0, 4, null], updateRatio: [0.05, 1e-3, 1e-3] }));
  assert.equal(
    later[0]!.fix,
    'Set "activation": "leaky_relu" (α = 0.01) on layer 1, or lower training.learningRate to 0.002.',
  );
  assert.equal(e.rate(), (0.1 * 1e-3) / 0.05);
});

test('dying_relu: not judged on a batch of fewer than 8 rows; judged where the rows are not known', () => {
  const layers = [layer(10, 'relu', 'he_uniform'), layer(2, 'linear')];
  const codes = (samples: number | undefined) =>
    new Detectors(layers, T, 0.1).observe(facts(2, 3, { dead: [10, null], samples })).map((x) => x.code);
  assert.deepEqual(codes(1), []);
  assert.deepEqual(codes(7), []);
  assert.deepEqual(codes(8), ['dying_relu']);
  assert.deepEqual(codes(undefined), ['dying_relu']);
});
