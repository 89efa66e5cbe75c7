/** The panel's line for a followed log: the file, what wrote it, how far it is, how it ended. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LayerwiseEvent, StartEvent } from '../../src/protocol/events';
import { Store } from '../../webview/store';
import { logStatus } from '../../webview/log-status';

const start = (extra: Partial<StartEvent>): StartEvent => ({
  type: 'start',
  model: 'deep-mlp',
  parameters: 10,
  steps: 0,
  layers: [{ index: 0, units: 2, activation: 'relu', init: 'pytorch', fanIn: 2, fanOut: 2 }],
  ...extra,
});
const step = (k: number): LayerwiseEvent => ({
  type: 'step',
  step: k,
  loss: 1,
  gradNorm: 1,
  gradNormClipped: 1,
  clipped: false,
  layers: [
    {
      index: 0,
      preact: { mean: 0, var: 1 },
      act: { mean: 0, var: 1 },
      grad: { mean: 0, var: 1 },
      dead: 0,
      saturated: null,
      weight: { mean: 0, var: 1 },
      weightGrad: { norm: 1, var: 1 },
      biasGrad: { norm: 1 },
      updateRatio: 0.001,
    },
  ],
});

function status(events: LayerwiseEvent[], log = { file: 'exp1.layerwise.jsonl', malformed: 0, stalled: false }) {
  const st = new Store();
  st.apply({ type: 'reset', mode: 'run', title: 'exp1 — training log', series: ['run'], clipMax: null });
  st.apply({ type: 'log', ...log });
  st.apply({ type: 'events', series: 'run', events });
  return logStatus(st.state.log!, st.state.series[0]);
}

test('a PyTorch run over two processes, live: the file, the processes, the latest step', () => {
  const s = status([start({ source: 'pytorch', worldSize: 2 }), step(0), step(1), step(7)]);
  assert.equal(s.text, 'Following exp1.layerwise.jsonl · PyTorch on 2 processes (the global batch) · step 7');
  assert.equal(s.alert, false);
});

test('one process; the end replaces the step and a stall no longer counts', () => {
  const s = status(
    [start({ source: 'pytorch', worldSize: 1 }), step(0), { type: 'end', steps: 1, reason: 'completed', elapsedMs: 5 }],
    { file: 'a.layerwise.jsonl', malformed: 0, stalled: true },
  );
  assert.equal(s.text, 'Following a.layerwise.jsonl · PyTorch · ended: completed, 1 step');
  assert.equal(s.alert, false);
});

test('NaN/Inf, malformed lines and a stall call for attention', () => {
  const nan = status([
    start({ source: 'pytorch' }),
    step(0),
    { type: 'end', steps: 3, reason: 'non_finite', elapsedMs: 5 },
  ]);
  assert.equal(nan.text, 'Following exp1.layerwise.jsonl · PyTorch · ended: stopped at NaN/Inf, 3 steps');
  assert.equal(nan.alert, true);
  const bad = status([start({}), step(4)], { file: 'b.layerwise.jsonl', malformed: 2, stalled: true });
  assert.equal(
    bad.text,
    'Following b.layerwise.jsonl · step 4 · 2 malformed lines skipped · stalled: no new line for a while and no end',
  );
  assert.equal(bad.alert, true);
  // nothing read yet
  const empty = status([], { file: 'c.layerwise.jsonl', malformed: 1, stalled: false });
  assert.equal(empty.text, 'Following c.layerwise.jsonl · 1 malformed line skipped');
});
