/**
 * The lens above a PyTorch layer's module in the user's code: its text from the latest step and
 * the run's warnings, and which document a log's module file is.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { StartEvent, StepEvent, WarningEvent } from '../../src/protocol/events';
import { sameSource, sharedLensTitle, sourceLensTitle } from '../../src/extension/source-lens-text';

const start: StartEvent = {
  type: 'start',
  model: 'Net',
  parameters: 0,
  steps: 0,
  source: 'pytorch',
  layers: [
    { index: 0, units: 32, activation: 'relu', init: 'pytorch', fanIn: 6, fanOut: 32 },
    { index: 1, units: 3, activation: 'linear', init: 'pytorch', fanIn: 32, fanOut: 3 },
  ],
  modules: [
    { name: 'encoder.fc1', file: '/p/net.py', line: 5 },
    { name: 'head', file: '/p/net.py', line: 9 },
  ],
};
const layer = (index: number, dead: number | null) => ({
  index,
  preact: { mean: 0, var: 0.0591 },
  act: { mean: 0, var: 0 },
  grad: { mean: 0, var: 2.17e-4 },
  dead,
  weight: { mean: 0, var: 0.01 },
  weightGrad: { norm: 0, var: 0 },
  biasGrad: { norm: 0 },
  updateRatio: 0,
});
const step: StepEvent = {
  type: 'step',
  step: 40,
  loss: 1,
  gradNorm: 1,
  gradNormClipped: 1,
  clipped: false,
  layers: [layer(0, 32), layer(1, null)],
};
const warning = (code: WarningEvent['code'], l: number | null, layers?: number[]): WarningEvent => ({
  type: 'warning',
  code,
  severity: 'warning',
  layer: l,
  step: 3,
  message: '',
  fix: '',
  ...(layers ? { layers } : {}),
});

test('a layer’s lens: its module, the latest Var(z), Var(∂z) and dead units, and its warnings once each', () => {
  const ws = [warning('dying_relu', 0), warning('dying_relu', 0), warning('vanishing_gradient', null, [0, 1])];
  assert.equal(
    sourceLensTitle(start, 0, step, ws),
    'Layerwise layer 0 (model.encoder.fc1): 32 relu · Var(z) 0.0591 · Var(∂z) 2.2e-4 · dead 32/32 · step 40 · ⚠ dying_relu, vanishing_gradient',
  );
  assert.equal(
    sourceLensTitle(start, 1, step, ws),
    'Layerwise layer 1 (model.head): 3 linear · Var(z) 0.0591 · Var(∂z) 2.2e-4 · step 40 · ⚠ vanishing_gradient',
  );
  // before the first step event: the layer only
  assert.equal(sourceLensTitle(start, 1, null, []), 'Layerwise layer 1 (model.head): 3 linear');
  // a statistic the log wrote as null
  const nan = { ...step, layers: [{ ...layer(0, 0), grad: { mean: NaN, var: NaN } }, layer(1, null)] };
  assert.match(sourceLensTitle(start, 0, nan, []), /Var\(∂z\) — · dead 0\/32/);
});

test('the module file of a log is the document with its path, or the same folder and name where it is not here', () => {
  assert.ok(sameSource('/p/models/net.py', '/p/models/net.py', true));
  assert.ok(sameSource('C:\\p\\models\\net.py', 'C:/p/models/net.py', true));
  // the log's file is here: only itself
  assert.ok(!sameSource('/p/models/net.py', '/q/models/net.py', true));
  // written on a cluster: the local checkout's same folder and name
  assert.ok(sameSource('/cluster/u/proj/models/net.py', '/home/me/proj/models/net.py', false));
  assert.ok(!sameSource('/cluster/u/proj/models/net.py', '/home/me/proj/other/net.py', false));
  assert.ok(!sameSource('net.py', '/home/me/net.py', false));
});

test('layers created on one line (a ModuleList) share one lens: their range, Var(z) span, dead units summed, warnings', () => {
  const deep: StartEvent = {
    ...start,
    layers: [0, 1, 2, 3].map((index) => ({
      index,
      units: 8,
      activation: 'relu' as const,
      init: 'pytorch',
      fanIn: 8,
      fanOut: 8,
    })),
    modules: [0, 1, 2]
      .map((i) => ({ name: `enc.blocks.${i}`, file: '/p/net.py', line: 7 }))
      .concat([{ name: 'head', file: '/p/net.py', line: 8 }]),
  };
  const s: StepEvent = {
    ...step,
    layers: [
      { ...layer(0, 1), preact: { mean: 0, var: 0.5 } },
      { ...layer(1, 2), preact: { mean: 0, var: 0.02 } },
      { ...layer(2, 8), preact: { mean: 0, var: NaN } },
      layer(3, 0),
    ],
  };
  assert.equal(
    sharedLensTitle(deep, [0, 1, 2], s, [warning('dying_relu', 2), warning('saturation', 3)]),
    'Layerwise layers 0–2 (model.enc.blocks) · Var(z) 0.02 to 0.5 · dead 11/24 · step 40 · ⚠ dying_relu',
  );
  assert.equal(sharedLensTitle(deep, [0, 2], null, []), 'Layerwise layers 0, 2 (model.enc.blocks)');
  // one layer on its line: the layer's own lens
  assert.equal(sharedLensTitle(deep, [3], null, []), sourceLensTitle(deep, 3, null, []));
});
