// The `pytorch` init scheme: nn.Linear's default (reset_parameters: kaiming_uniform_(W, a=√5), so
// W from U(±1/√fan_in), and the bias from U(±1/√fan_in) too), from the model file to the network,
// the mean-field prediction (against measurement) and the init warning.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadModelText } from '../../src/modelfile/load';
import { analyze } from '../../src/core/analyze';
import { Network } from '../../src/core/network';
import { Rng } from '../../src/core/rng';
import { meanVar } from '../../src/core/stats';
import type { AnalysisEvent, LayerwiseEvent, WarningEvent } from '../../src/protocol/events';
import type { ModelSpec } from '../../src/core/spec';
import { withInitScheme } from '../../src/core/spec';

function model(layers: string): { spec: ModelSpec | null; problems: { message: string; path?: string }[] } {
  const text = `{
  "input": { "size": 64 },
  "layers": [${layers}],
  "loss": "cross_entropy",
  "data": { "source": "synthetic", "samples": 256 },
  "training": { "steps": 5, "batchSize": 64, "optimizer": "sgd", "learningRate": 0.01 }
}`;
  const r = loadModelText('/tmp/model.mlp.json', text);
  return { spec: r.spec, problems: r.problems };
}

const hidden = (n: number, extra = ''): string =>
  Array.from({ length: n }, () => `{ "units": 256, "activation": "relu", "init": "pytorch"${extra} }`).join(', ');

test('a pytorch layer draws W and its bias from U(±1/√fan_in); a bias it sets stays constant', () => {
  const { spec, problems } = model(`${hidden(1)}, { "units": 10, "init": "pytorch", "bias": 0.25 }`);
  assert.deepEqual(problems, []);
  assert.equal(spec!.layers[0]!.randomBias, true);
  assert.ok(!spec!.layers[1]!.randomBias);
  const net = new Network(spec!.layers, 64, 'float64', 8);
  net.initialize(spec!.layers, new Rng(5, 'init'));
  const [l0, l1] = net.layers;
  for (const [x, bound, what] of [
    [l0!.W, 1 / 8, 'W0'],
    [l0!.b, 1 / 8, 'b0'],
    [l1!.W, 1 / 16, 'W1'],
  ] as const) {
    let max = 0;
    for (const v of x) max = Math.max(max, Math.abs(v));
    assert.ok(max <= bound && max > 0.95 * bound, `${what}: max |x| ${max}, bound ${bound}`);
  }
  // Var(W) = bound²/3; the 256 biases' sample variance within ~4 standard errors of 1/(3·64)
  assert.ok(Math.abs(meanVar(l0!.W).var * 3 * 64 - 1) < 0.02);
  assert.ok(Math.abs(meanVar(l0!.b).var * 3 * 64 - 1) < 0.4, `${meanVar(l0!.b).var}`);
  assert.ok(l1!.b.every((b) => b === 0.25));
});

test('gain and mode are ignored by the pytorch scheme, and the file says so (the init warning stays)', () => {
  const { spec, problems } = model(
    `{ "units": 8, "activation": "relu", "init": { "scheme": "pytorch", "gain": 2, "mode": "fan_out" } }, { "units": 10 }`,
  );
  assert.deepEqual(
    problems.map((p) => p.message),
    ['"gain" is ignored by the pytorch scheme', '"mode" is ignored by the pytorch scheme'],
  );
  assert.deepEqual(
    analyze(spec!, { measure: false })
      .filter((e): e is WarningEvent => e.type === 'warning')
      .map((e) => [e.code, e.layer]),
    [['init_mismatch', 0]],
  );
});

test('analyze: the predicted Var(z) of a deep pytorch-initialised ReLU net is the biases’ (measured alike), and the init warning names he_uniform', () => {
  const { spec } = model(`${hidden(10)}, { "units": 10, "init": "pytorch" }`);
  const events: LayerwiseEvent[] = analyze(spec!);
  const a = events.find((e): e is AnalysisEvent => e.type === 'analysis')!;
  // Var(z_l) = Var(z_{l−1})/6 + 1/(3·256) → 1/(2.5·256) deep in the net
  const deep = a.layers[9]!.predicted.preactVar;
  assert.ok(Math.abs(deep * 2.5 * 256 - 1) < 0.01, `predicted ${deep}`);
  for (const l of a.layers.slice(3, 10)) {
    const r = l.measured!.preactVar / l.predicted.preactVar;
    assert.ok(r > 0.75 && r < 1.3, `layer ${l.index}: measured/predicted ${r}`);
  }
  const w = events.filter((e): e is WarningEvent => e.type === 'warning' && e.code === 'init_mismatch');
  assert.equal(w.length, 1);
  assert.deepEqual(w[0]!.layers, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]); // the hidden layers, not the output
  assert.match(w[0]!.message, /Layers 0–9: pytorch \(nn\.Linear's default.*shrinks about 6×/);
  assert.match(w[0]!.fix, /^Set "init": "he_uniform" on layers 0–9 .*kaiming_uniform_\(w, nonlinearity="relu"\)/);
  // tanh layers: 3× a layer, and Xavier
  const t = model(`{ "units": 32, "activation": "tanh", "init": "pytorch" }, { "units": 10 }`);
  const tw = analyze(t.spec!).find((e): e is WarningEvent => e.type === 'warning' && e.code === 'init_mismatch')!;
  assert.match(tw.message, /shrinks about 3× at every such tanh layer/);
  assert.match(tw.fix, /^Set "init": "xavier_uniform" on layer 0 /);
});

test('Compare Initializations: every layer takes the scheme; under pytorch a bias the file sets, 0 included, stays', () => {
  const { spec } = model(
    `{ "units": 8, "activation": "relu", "init": "he_normal" }, { "units": 8, "activation": "relu", "init": "pytorch" }, ` +
      `{ "units": 8, "activation": "relu", "bias": 0 }, { "units": 10, "bias": 0.1 }`,
  );
  const torch = withInitScheme(spec!, 'pytorch');
  assert.deepEqual(
    torch.layers.map((l) => [l.init.scheme, l.randomBias === true, l.bias]),
    [
      ['pytorch', true, 0], // no "bias": nn.Linear's random one
      ['pytorch', true, 0],
      ['pytorch', false, 0], // "bias": 0 is the file's: kept
      ['pytorch', false, 0.1],
    ],
  );
  const xavier = withInitScheme(spec!, 'xavier_uniform');
  assert.deepEqual(
    xavier.layers.map((l) => [l.init.scheme, l.randomBias === true, l.bias]),
    [
      ['xavier_uniform', false, 0],
      ['xavier_uniform', false, 0], // the file's pytorch layer drew its bias; xavier's is the constant
      ['xavier_uniform', false, 0],
      ['xavier_uniform', false, 0.1],
    ],
  );
  assert.equal(spec!.layers[0]!.init.scheme, 'he_normal', 'the spec itself is left as it was');
});
