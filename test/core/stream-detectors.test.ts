/**
 * The detectors over a PyTorch log (stream-detectors.ts), in process: which steps raise which
 * warning, and each warning's fix as a PyTorch user would write it, naming the layer's module and
 * its weight where the log names the modules (`start.modules`) and neither where it does not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type {
  LayerModule,
  LayerStepStats,
  LayerwiseEvent,
  StartEvent,
  StepEvent,
  WarningEvent,
} from '../../src/protocol/events';
import { StreamDetectors } from '../../src/core/stream-detectors';

const MODULES: LayerModule[] = [
  { name: 'encoder.fc1', file: '/w/model.py', line: 3 },
  { name: 'encoder.blocks.0' },
  { name: 'encoder.blocks.1' },
  { name: 'head' },
];

/** relu, tanh, leaky_relu (0.2) and a linear output layer of 3, as layerwise_torch writes them. */
function start(modules: LayerModule[] | null = MODULES, extra: Partial<StartEvent> = {}): StartEvent {
  const acts = ['relu', 'tanh', 'leaky_relu', 'linear'] as const;
  const e: StartEvent = {
    type: 'start',
    model: 'Net',
    parameters: 1000,
    steps: 0,
    layers: acts.map((activation, index) => ({
      index,
      units: index === 3 ? 3 : 8,
      activation,
      ...(activation === 'leaky_relu' ? { alpha: 0.2 } : {}),
      init: 'pytorch',
      fanIn: 8,
      fanOut: index === 3 ? 3 : 8,
    })),
    clip: null,
    source: 'pytorch',
    worldSize: 1,
    ...extra,
  } as StartEvent;
  if (modules) e.modules = modules;
  return e;
}

/** A healthy step k; `layer` overrides per layer. */
function step(k: number, layer: Partial<LayerStepStats>[] = [], top: Partial<StepEvent> = {}): StepEvent {
  const layers: LayerStepStats[] = [0, 1, 2, 3].map((index) => ({
    index,
    preact: { mean: 0, var: 1 },
    act: { mean: 0, var: 0.5 },
    grad: { mean: 0, var: 1e-2 },
    dead: index === 0 || index === 2 ? 0 : null,
    saturated: index === 1 ? 0 : null,
    weight: { mean: 0, var: 0.1 },
    weightGrad: { norm: 0.1, var: 1e-4 },
    biasGrad: { norm: 0.01 },
    updateRatio: 1e-3,
    ...layer[index],
  }));
  return {
    type: 'step',
    step: k,
    loss: 1,
    inputVar: 1,
    gradNorm: 0.2,
    gradNormClipped: 0.2,
    clipped: false,
    samples: 64,
    layers,
    ...top,
  };
}

function run(events: LayerwiseEvent[], d = new StreamDetectors()): WarningEvent[] {
  return events.flatMap((e) => d.observe(e));
}

const fixOf = (ws: WarningEvent[], code: string, severity = 'warning'): string => {
  const w = ws.filter((x) => x.code === code && x.severity === severity);
  assert.equal(w.length, 1, `one ${code}: ${JSON.stringify(ws.map((x) => x.code))}`);
  return w[0]!.fix;
};

const KAIMING = (w: string, nl = 'relu') =>
  `nn.init.kaiming_normal_(${w}, ${nl === 'leaky_relu' ? 'a=0.2, ' : ''}nonlinearity="${nl}")`;

test('vanishing and exploding signals: the fix names the init for the layers up to the module named', () => {
  const ws = run([start(), step(0, [{}, {}, { preact: { mean: 0, var: 1e-5 }, grad: { mean: 0, var: 1e-7 } }])]);
  assert.deepEqual(
    ws.map((w) => [w.code, w.layer, w.step]),
    [
      ['vanishing_forward', 2, 0],
      ['vanishing_gradient', 2, 0],
    ],
  );
  const tail = "PyTorch's default nn.Linear init has Var(W) = 1/(3·fan_in), which shrinks the signal at every layer.";
  assert.equal(
    fixOf(ws, 'vanishing_forward'),
    `Initialise the leaky_relu layers up to layer 2 (model.encoder.blocks[1]) with ${KAIMING('linear.weight', 'leaky_relu')}: ${tail}`,
  );
  assert.equal(fixOf(ws, 'vanishing_gradient'), fixOf(ws, 'vanishing_forward'));

  const up = run([start(), step(0, [{}, { preact: { mean: 0, var: 5e3 }, grad: { mean: 0, var: 50 } }])]);
  assert.equal(
    fixOf(up, 'exploding_forward'),
    'Initialise with nn.init.xavier_uniform_(linear.weight) (or a smaller gain), or normalise the inputs.',
  );
  assert.equal(
    fixOf(up, 'exploding_gradient'),
    'Clip the gradients (layerwise_torch.watch(..., clip={"mode": "norm", "max": 1.0})), and initialise with nn.init.xavier_uniform_(linear.weight).',
  );
  // the reference is the batch's inputVar: a log without it judges no forward ratio
  assert.deepEqual(
    run([start(), step(0, [{ preact: { mean: 0, var: 1e-9 } }], { inputVar: undefined })]).map((w) => w.code),
    [],
  );
});

test('a sequence model pooled before its head: ∂L/∂Z is compared between layers over the same rows', () => {
  // 64 sequences of 32 tokens: layers 0–2 see 2048 rows, the head after the mean over tokens 64;
  // each token's ∂L/∂Z is 1/32 of the pooled one, its variance ~1e-3 of the head's for that alone
  const tokens = (g0: number, g2: number): Partial<LayerStepStats>[] => [
    { grad: { mean: 0, var: g0 } },
    { grad: { mean: 0, var: 1e-7 } },
    { grad: { mean: 0, var: g2 } },
    { rows: 64, grad: { mean: 0, var: 1e-2 } },
  ];
  const pooled = run([start(), step(0, tokens(1e-7, 1e-7), { samples: 2048 })]);
  assert.deepEqual(pooled, []);
  // a gradient that vanishes among the token layers is still found, against the last of them
  const ws = run([start(), step(3, tokens(1e-11, 1e-7), { samples: 2048 })]);
  assert.deepEqual(
    ws.map((w) => [w.code, w.layer, w.step]),
    [['vanishing_gradient', 0, 3]],
  );
  assert.match(
    ws[0]!.message,
    /^Layer 0: gradient variance fell to 1\.00e-4 of layer 2's \(the last layer over the same 2048 rows\) at step 3;/,
  );
  // a log without rows compares every layer with the output layer, as before
  const flat = run([
    start(),
    step(
      0,
      tokens(1e-7, 1e-7).map(({ rows: _, ...l }) => l),
      { samples: 2048 },
    ),
  ]);
  assert.deepEqual(
    flat.map((w) => [w.code, w.layer]),
    [['vanishing_gradient', 2]],
  );
});

test('dying ReLU: the nn.ReLU after the module, its weight named; the rate only after an update', () => {
  const dead = [{ dead: 6 }];
  const at0 = run([start(), step(0, dead)]);
  assert.equal(
    fixOf(at0, 'dying_relu'),
    `Replace the nn.ReLU() after layer 0 (model.encoder.fc1) with nn.LeakyReLU(0.01), or initialise it with ${KAIMING('model.encoder.fc1.weight')}.`,
  );
  const later = run([start(), step(0), step(5, dead)]);
  assert.equal(
    fixOf(later, 'dying_relu'),
    `Replace the nn.ReLU() after layer 0 (model.encoder.fc1) with nn.LeakyReLU(0.01), or initialise it with ${KAIMING('model.encoder.fc1.weight')}, or lower the optimizer's lr.`,
  );
  // 4 of 8 is the threshold (50 %); 3 of 8 is not; a leaky layer's "dead" units are no dying ReLU
  assert.equal(run([start(), step(0, [{ dead: 4 }])]).length, 1);
  assert.equal(run([start(), step(0, [{ dead: 3 }, {}, { dead: 8 }])]).length, 0);
});

test("a vanishing gradient below a dying ReLU layer after step 0: the fix names that layer's nn.ReLU; at step 0 the init", () => {
  const relu = start(MODULES, {
    layers: [0, 1, 2, 3].map((index) => ({
      index,
      units: index === 3 ? 3 : 8,
      activation: index === 3 ? 'linear' : 'relu',
      init: 'pytorch',
      fanIn: 8,
      fanOut: index === 3 ? 3 : 8,
    })),
  });
  const sick = (k: number) =>
    step(k, [{ dead: 0, grad: { mean: 0, var: 1e-6 } }, { dead: 1 }, { dead: 7 }, { dead: null }], {});
  const later = run([relu, step(0, [{ dead: 0 }, { dead: 0 }, { dead: 0 }]), sick(5)]);
  assert.equal(
    fixOf(later, 'vanishing_gradient'),
    "Layer 2 (model.encoder.blocks[1])'s 7 dead units (of 8) pass no gradient to the layers below it: replace the nn.ReLU() after it with nn.LeakyReLU(0.01), or lower the optimizer's lr.",
  );
  // the forward signal past a dying layer: its module named as well
  const dim = run([
    relu,
    step(0, [{ dead: 0 }, { dead: 0 }, { dead: 0 }]),
    step(5, [{ dead: 7 }, { dead: 0 }, { dead: 0, preact: { mean: 0, var: 1e-5 } }, { dead: null }]),
  ]);
  assert.equal(
    fixOf(dim, 'vanishing_forward'),
    "Layer 0 (model.encoder.fc1)'s 7 dead units (of 8) pass no signal to the layers above it: replace the nn.ReLU() after it with nn.LeakyReLU(0.01), or lower the optimizer's lr.",
  );
  const at0 = run([relu, sick(0)]);
  assert.match(
    fixOf(at0, 'vanishing_gradient'),
    /^Initialise the relu layers up to layer 0 \(model\.encoder\.fc1\) with nn\.init\.kaiming_normal_/,
  );
});

test("saturation: a hidden tanh layer, its module and weight named with Glorot init (gain 1, as the file's xavier)", () => {
  const ws = run([start(), step(3, [{}, { saturated: 0.7 }])]);
  assert.deepEqual(
    ws.map((w) => [w.code, w.layer, w.step]),
    [['saturation', 1, 3]],
  );
  assert.equal(
    ws[0]!.fix,
    'Initialise layer 1 (model.encoder.blocks[0]) with nn.init.xavier_uniform_(model.encoder.blocks[0].weight), or scale the inputs down.',
  );
});

test("the init a fix names follows the layer's activation: Glorot for sigmoid and linear, He's for gelu", () => {
  const s = start();
  s.layers[1] = { ...s.layers[1]!, activation: 'sigmoid' };
  s.layers[2] = { ...s.layers[2]!, activation: 'gelu', alpha: undefined };
  const ws = run([s, step(4, [{}, { saturated: 0.6 }, { preact: { mean: 0, var: 2e3 } }])]);
  assert.equal(
    fixOf(ws, 'saturation'),
    'Initialise layer 1 (model.encoder.blocks[0]) with nn.init.xavier_uniform_(model.encoder.blocks[0].weight), or scale the inputs down.',
  );
  // gelu and elu pass about half of a zero-mean input, as relu does: He's init (docs/math.md)
  assert.equal(
    fixOf(ws, 'exploding_forward'),
    `Initialise with ${KAIMING('linear.weight')} (or a smaller gain), or normalise the inputs.`,
  );
  const out = run([start(), step(0, [{}, {}, {}, { preact: { mean: 0, var: 2e3 } }])]);
  assert.equal(
    fixOf(out, 'exploding_forward'),
    'Initialise with nn.init.xavier_uniform_(linear.weight) (or a smaller gain), or normalise the inputs.',
  );
  // selu: LeCun's, Var(W) = 1/fan_in, which kaiming_normal_ gives with nonlinearity="linear"
  const snn = start();
  snn.layers[2] = { ...snn.layers[2]!, activation: 'selu', alpha: undefined };
  assert.equal(
    fixOf(run([snn, step(4, [{}, {}, { preact: { mean: 0, var: 2e3 } }])]), 'exploding_forward'),
    'Initialise with nn.init.kaiming_normal_(linear.weight, nonlinearity="linear") (or a smaller gain), or normalise the inputs.',
  );
});

test('a log without module names: fixes say "layer i" and a generic weight', () => {
  const ws = run([start(null), step(1, [{ dead: 8 }, { saturated: 0.9 }])]);
  assert.equal(
    fixOf(ws, 'dying_relu'),
    `Replace the nn.ReLU() after layer 0 with nn.LeakyReLU(0.01), or initialise it with ${KAIMING('linear.weight')}, or lower the optimizer's lr.`,
  );
  assert.equal(
    fixOf(ws, 'saturation'),
    'Initialise layer 1 with nn.init.xavier_uniform_(linear.weight), or scale the inputs down.',
  );
});

test('the model itself is the layer (name ""): its weight is model.weight, its label "layer 0 (model)"', () => {
  const own = start([{ name: '' }, { name: 'x' }, { name: 'y' }, { name: 'z' }]);
  const ws = run([own, step(2, [{ dead: 8 }])]);
  assert.equal(
    fixOf(ws, 'dying_relu'),
    `Replace the nn.ReLU() after layer 0 (model) with nn.LeakyReLU(0.01), or initialise it with ${KAIMING('model.weight')}, or lower the optimizer's lr.`,
  );
});

test('update ratios: a step that moves the weights too far, and layers that barely move over 20 steps', () => {
  const high = run([start(), step(0, [{}, {}, {}, { updateRatio: 0.5 }])]);
  assert.equal(high[0]!.layer, 3);
  assert.equal(fixOf(high, 'update_ratio'), "Lower the optimizer's lr (about 0.002× the current one).");
  const slow = run([start(), ...Array.from({ length: 20 }, (_, k) => step(k, [{ updateRatio: 1e-8 }]))]);
  const info = slow.filter((w) => w.code === 'update_ratio');
  assert.deepEqual(
    info.map((w) => [w.severity, w.layer, w.step]),
    [['info', 0, 19]],
  );
  assert.equal(info[0]!.fix, "Raise the optimizer's lr, or fix vanishing gradients below these layers.");
});

test('frequent clipping: every step counts, clipping configured at watch or done by hand', () => {
  const clipped = (k: number) => step(k, [], { clipped: true, gradNormClipped: 0.1 });
  const configured = run([
    start(MODULES, { clip: { mode: 'norm', max: 1 } }),
    ...Array.from({ length: 20 }, (_, k) => clipped(k)),
  ]);
  assert.equal(
    fixOf(configured, 'frequent_clipping'),
    "Lower the optimizer's lr, or raise the clip max towards the typical gradient norm.",
  );
  assert.equal(configured.find((w) => w.code === 'frequent_clipping')!.step, 19);
  // not configured and never clipped: nothing
  const none = run([start(), ...Array.from({ length: 30 }, (_, k) => step(k))]);
  assert.deepEqual(none, []);
  // clipping by hand (run.clip_grad_norm_, no clip= given): the steps before the first clip event
  // count too, so one clip after 30 steps is 1 in 31, not "100 % of the last 1 step"
  const once = run([start(), ...Array.from({ length: 40 }, (_, k) => (k === 30 ? clipped(k) : step(k)))]);
  assert.deepEqual(once, []);
  // and clipping on 3 steps in 5 is frequent, whichever step came first
  const often = run([start(), ...Array.from({ length: 40 }, (_, k) => (k % 5 < 3 ? clipped(k) : step(k)))]);
  assert.equal(often.find((w) => w.code === 'frequent_clipping')?.step, 19);
});

test('sharpness: the fix names the rate that keeps lr·λmax under the threshold, with and without momentum', () => {
  // sgd: threshold 2/η = 20 (η = 0.1); λmax 40 → 0.9·2/40 = 0.045
  const sgd = run([start(), step(0), { type: 'sharpness', step: 0, lambdaMax: 40, threshold: 20, iterations: 9 }]);
  assert.equal(
    fixOf(sgd, 'sharpness'),
    "Lower the optimizer's lr to 0.045, so that lr·λmax stays below the threshold.",
  );
  assert.match(sgd[0]!.message, /η·λmax = 4 > 2 at step 0/);
  // momentum 0.9: threshold 3.8/η = 38 (η = 0.1); λmax 76 → 0.9·3.8/76 = 0.045
  const mom = run([
    start(),
    step(0),
    { type: 'sharpness', step: 0, lambdaMax: 76, threshold: 38, iterations: 9, momentum: 0.9 },
  ]);
  assert.equal(
    fixOf(mom, 'sharpness'),
    "Lower the optimizer's lr to 0.045, so that lr·λmax stays below the threshold.",
  );
  // weight decay wd = 10: the steps see λmax + wd, so the threshold on λmax is 2/η − wd = 10 (η = 0.1),
  // η·(λmax + wd) = 0.1·(15 + 10) = 2.5 > 2, and the rate named is 0.9·2/(15 + 10) = 0.072
  const wd = run([
    start(),
    step(0),
    { type: 'sharpness', step: 0, lambdaMax: 15, threshold: 10, iterations: 9, weightDecay: 10 },
  ]);
  assert.equal(
    wd[0]!.message,
    'η·(λmax + wd) = 2.5 > 2 at step 0: the loss oscillates or diverges along the sharpest direction (λmax = 15, above the threshold 10 for η = 0.1 and weight decay 10).',
  );
  assert.equal(fixOf(wd, 'sharpness'), "Lower the optimizer's lr to 0.072, so that lr·λmax stays below the threshold.");
  // Nesterov (β = 0.9, η = 0.1): the bound is (2 + 2β)/(1 + 2β) = 3.8/2.8, the threshold 13.6; the
  // rate named 0.9·(3.8/2.8)/20 = 0.0611
  const nesterov = run([
    start(),
    { type: 'sharpness', step: 0, lambdaMax: 20, threshold: 38 / 2.8, iterations: 9, momentum: 0.9, nesterov: true },
  ]);
  assert.equal(
    nesterov[0]!.message,
    'η·λmax = 2 > (2 + 2β)/(1 + 2β) = 1.36 at step 0: the loss oscillates or diverges along the sharpest direction (λmax = 20, above the threshold 13.6 for η = 0.1, Nesterov).',
  );
  assert.equal(
    fixOf(nesterov, 'sharpness'),
    "Lower the optimizer's lr to 0.0611, so that lr·λmax stays below the threshold.",
  );
  // dampening 0.5 (β = 0.9, η = 0.1): in effect η·(1 − d) = 0.05, the threshold 3.8/0.05 = 76; the
  // rate named 0.9·3.8/(0.5·100) = 0.0684
  const damped = run([
    start(),
    { type: 'sharpness', step: 0, lambdaMax: 100, threshold: 76, iterations: 9, momentum: 0.9, dampening: 0.5 },
  ]);
  assert.equal(
    damped[0]!.message,
    'η·(1 − d)·λmax = 5 > 2 + 2β = 3.8 at step 0: the loss oscillates or diverges along the sharpest direction (λmax = 100, above the threshold 76 for η = 0.1, dampening 0.5).',
  );
  assert.equal(
    fixOf(damped, 'sharpness'),
    "Lower the optimizer's lr to 0.0684, so that lr·λmax stays below the threshold.",
  );
  // below the threshold, or no threshold (adam): nothing
  assert.deepEqual(
    run([
      start(),
      { type: 'sharpness', step: 0, lambdaMax: 19, threshold: 20, iterations: 9 },
      { type: 'sharpness', step: 50, lambdaMax: 1e6, threshold: null, iterations: 9 },
    ]),
    [],
  );
});

test('only a PyTorch log gets warnings, and only from steps that fit its layers', () => {
  const bad = step(0, [{ dead: 8 }]);
  // a log our own core wrote carries its own warnings: nothing is added
  assert.deepEqual(run([{ ...start(), source: undefined } as StartEvent, bad]), []);
  assert.deepEqual(
    run([
      { ...start(), source: undefined } as StartEvent,
      { type: 'sharpness', step: 0, lambdaMax: 40, threshold: 20, iterations: 9 },
    ]),
    [],
  );
  // a step of another shape than the start's layers (a truncated or foreign line) is not judged
  assert.deepEqual(run([start(), { ...bad, layers: bad.layers.slice(0, 3) }]), []);
  // a held-out loss before any training step has no training loss to compare with
  assert.deepEqual(run([start(), { type: 'validation', step: 0, loss: 5, accuracy: null, samples: 10 }]), []);
  // a second start is a new run: the once-per-run warnings may come again
  const d = new StreamDetectors();
  assert.equal(run([start(), bad], d).length, 1);
  assert.equal(run([start(), bad], d).length, 1);
});

test("overfitting: a held-out loss is judged with its own step's training loss, histograms between them", () => {
  // as layerwise_torch writes them: run.validation() before step k (the parameters step k starts
  // from, as step k's loss), the histogram after step k
  const hist = (k: number): LayerwiseEvent => ({ type: 'histogram', step: k, layers: [] });
  const held = (k: number, loss: number): LayerwiseEvent => ({
    type: 'validation',
    step: k,
    loss,
    accuracy: null,
    samples: 20,
  });
  const train = (k: number) => 2 / (1 + k);
  const events: LayerwiseEvent[] = [start()];
  [2, 1, 0.6, 0.62, 0.7, 0.8].forEach((h, i) =>
    events.push(held(10 * i, h), step(10 * i, [], { loss: train(10 * i) }), hist(10 * i)),
  );
  const d = new StreamDetectors();
  const out: LayerwiseEvent[] = events.flatMap((e) => [e, ...d.observe(e)]);
  const ws = out.filter((e): e is WarningEvent => e.type === 'warning');
  assert.deepEqual(
    ws.map((w) => [w.code, w.step]),
    [['overfitting', 40]],
  );
  // steps 20 and 40's training losses (2/21, 2/41), not those of the steps logged before them
  assert.match(ws[0]!.message, /to 0\.7 at step 40 while the training loss fell from 0\.0952 to 0\.0488:/);
  // said right after step 40's event
  assert.deepEqual(out[out.indexOf(ws[0]!) - 1], step(40, [], { loss: train(40) }));

  // a held-out loss at a step that was not logged (every=10, validation at 25): the last logged
  // loss before it; one after the last step event: at the stream's end (finish)
  const sparse = new StreamDetectors();
  const seen = [
    start(),
    held(0, 1),
    step(0, [], { loss: 3 }),
    held(5, 0.5),
    step(10, [], { loss: 1 }),
    held(15, 0.52),
    step(20, [], { loss: 0.5 }),
    held(25, 0.54),
    step(30, [], { loss: 0.2 }),
    held(35, 0.7),
    // (a step event of a step before the held-out loss's is not its step)
    step(31, [], { loss: 0.2 }),
  ].flatMap((e) => sparse.observe(e));
  assert.deepEqual(seen, []);
  const last = sparse.finish();
  assert.deepEqual(
    last.map((w) => [w.code, w.step]),
    [['overfitting', 35]],
  );
  assert.match(
    last[0]!.message,
    /from 0\.5 \(step 5\) to 0\.7 at step 35 while the training loss fell from 3 to 0\.2:/,
  );
  assert.deepEqual(sparse.finish(), [], 'judged once');
});

test('the thresholds given override the defaults', () => {
  const d = new StreamDetectors({ deadFraction: 0.9 });
  assert.deepEqual(run([start(), step(1, [{ dead: 6 }])], d), []);
  assert.equal(run([start(), step(1, [{ dead: 8 }])], d).length, 1);
});

test('the init from step 0’s weights: a mean that outweighs the spread (nn.init.uniform_) is named with a zero-mean PyTorch init, once', () => {
  // U(0, 1) weights: mean ½, Var 1/12, fan_in 8: ½²·8 = 2 > 1/12; layer 1 (tanh) and the output layer not
  const u01 = { weight: { mean: 0.5, var: 1 / 12 } };
  const ws = run([start(), step(0, [u01, {}, u01, u01]), step(1, [u01, {}, u01, u01])]);
  const init = ws.filter((w) => w.code === 'init_mismatch');
  assert.deepEqual(
    init.map((w) => [w.layer, w.step, w.layers, w.message, w.fix]),
    [
      [
        0,
        null,
        undefined,
        "Layer 0: weights with mean 0.5 (std 0.289 at step 0); each unit sums them over its 8 inputs, so every unit gets the same offset, 4× its inputs' mean, which compounds layer after layer (the weights' spread gives only √(fan_in·Var(W)) = 0.816).",
        `Initialise layer 0 (model.encoder.fc1) with ${KAIMING('model.encoder.fc1.weight')} (zero mean).`,
      ],
      [
        2,
        null,
        undefined,
        "Layer 2: weights with mean 0.5 (std 0.289 at step 0); each unit sums them over its 8 inputs, so every unit gets the same offset, 4× its inputs' mean, which compounds layer after layer (the weights' spread gives only √(fan_in·Var(W)) = 0.816).",
        `Initialise layer 2 (model.encoder.blocks[1]) with ${KAIMING('model.encoder.blocks[1].weight', 'leaky_relu')} (zero mean).`,
      ],
    ],
  );
  // PyTorch's default (mean ~0) and a log that starts after step 0 (trained weights) say nothing
  assert.deepEqual(
    run([start(), step(0, [{ weight: { mean: 0.01, var: 1 / 24 } }])]).filter((w) => w.code === 'init_mismatch'),
    [],
  );
  assert.deepEqual(
    run([start(), step(5, [u01, {}, u01])]).filter((w) => w.code === 'init_mismatch'),
    [],
  );
});
