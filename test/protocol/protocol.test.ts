import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseHostMessage, parseWebviewMessage } from '../../src/protocol/webview-messages';
import { layerLabel, modulePath } from '../../src/protocol/events';
import { parseEventLine } from '../../src/protocol/parse-event';

test('webview messages: well-formed ones pass, anything else is dropped', () => {
  assert.deepEqual(parseWebviewMessage({ type: 'ready' }), { type: 'ready' });
  assert.deepEqual(parseWebviewMessage({ type: 'revealLayer', layer: 3 }), { type: 'revealLayer', layer: 3 });
  for (const command of ['run', 'stop', 'analyze', 'compare', 'newModel', 'openLog'])
    assert.deepEqual(parseWebviewMessage({ type: 'command', command }), { type: 'command', command });
  assert.deepEqual(parseWebviewMessage({ type: 'revealSource', file: '/src/net.py', line: 12 }), {
    type: 'revealSource',
    file: '/src/net.py',
    line: 12,
  });
  assert.deepEqual(parseWebviewMessage({ type: 'drawn', points: { loss: 3 } }), { type: 'drawn', points: { loss: 3 } });
  assert.deepEqual(parseWebviewMessage({ type: 'ack', seq: 7 }), { type: 'ack', seq: 7 });
  for (const bad of [
    { type: 'ack', seq: 0 },
    { type: 'ack', seq: 1.5 },
    { type: 'ack', seq: '7' },
    { type: 'ack' },
    { type: 'ack', seq: 7, more: 1 },
    { type: 'drawn', points: { loss: -1 } },
    { type: 'drawn', points: { 'a b': 1 } },
    { type: 'drawn', points: [] },
    null,
    1,
    'ready',
    [],
    {},
    { type: 'ready', x: 1 },
    { type: 'revealLayer', layer: -1 },
    { type: 'revealLayer', layer: 1.5 },
    { type: 'revealLayer', layer: '2' },
    { type: 'revealSource', file: '/src/net.py', line: 0 },
    { type: 'revealSource', file: '/src/net.py', line: 1.5 },
    { type: 'revealSource', file: '', line: 1 },
    { type: 'revealSource', file: 7, line: 1 },
    { type: 'revealSource', file: '/x'.repeat(3000), line: 1 },
    { type: 'revealSource', file: '/src/net.py', line: 1, extra: true },
    { type: 'command', command: 'rm -rf' },
    { type: 'command', command: 'toString' },
    { type: 'command', command: 'newModel', args: ['x'] },
    { type: 'command' },
    { type: '__proto__' },
    { type: 'eval', code: '1' },
  ])
    assert.equal(parseWebviewMessage(bad), null, JSON.stringify(bad));
});

test('host messages: shapes checked, events by their type', () => {
  const ok = [
    { type: 'reset', mode: 'run', title: 't', series: ['run'], clipMax: null },
    { type: 'events', series: 'run', events: [{ type: 'end', steps: 1, reason: 'completed', elapsedMs: 1 }] },
    { type: 'events', series: 'run', events: [], seq: 3 },
    { type: 'problems', lines: ['a'] },
    { type: 'status', running: true },
  ];
  for (const m of ok) assert.deepEqual(parseHostMessage(m), m);
  for (const bad of [
    { type: 'events' },
    { type: 'events', series: 'x', events: 'nope' },
    { type: 'events', series: 'x', events: [{ type: 'rm' }] },
    { type: 'events', series: 'x', events: [], seq: 0 },
    { type: 'events', series: 'x', events: [], seq: 'next' },
    { type: 'reset' },
    { type: 'reset', mode: 'x', title: 't', series: [], clipMax: null },
    { type: 'status', running: 'yes' },
    { type: 'problems', lines: [1] },
    null,
    [],
    'reset',
  ])
    assert.equal(parseHostMessage(bad), null, JSON.stringify(bad));
});

test('a PyTorch layer is labelled by the Python that reaches its module', () => {
  assert.equal(modulePath('encoder.fc2'), 'model.encoder.fc2');
  assert.equal(modulePath('blocks.0.lin'), 'model.blocks[0].lin');
  assert.equal(modulePath('14'), 'model[14]');
  // the model itself (the Linear is the model: named_modules() names it "")
  assert.equal(modulePath(''), 'model');
  assert.equal(layerLabel({ modules: [{ name: '' }] }, 0), 'layer 0 (model)');
  assert.equal(layerLabel({ modules: [{ name: 'a' }, { name: '2' }] }, 1), 'layer 1 (model[2])');
  assert.equal(layerLabel({ modules: [{ name: 'a' }] }, 1), 'layer 1');
  assert.equal(layerLabel(null, 3), 'layer 3');
});

test("a sharpness event keeps PyTorch SGD's weight decay where it is a positive number, and drops it otherwise", () => {
  const line = (wd: unknown): string =>
    JSON.stringify({ type: 'sharpness', step: 3, lambdaMax: 15, threshold: 10, iterations: 9, weightDecay: wd });
  assert.deepEqual(parseEventLine(line(0.5)), {
    type: 'sharpness',
    step: 3,
    lambdaMax: 15,
    threshold: 10,
    iterations: 9,
    weightDecay: 0.5,
  });
  for (const bad of [0, -1, 'x', null])
    assert.equal('weightDecay' in (parseEventLine(line(bad)) as object), false, String(bad));
  // Nesterov (true only) and dampening (in (0, 1)), as layerwise_torch writes them
  const more = (o: object) =>
    parseEventLine(JSON.stringify({ type: 'sharpness', step: 0, lambdaMax: 1, threshold: 2, iterations: 3, ...o }));
  assert.deepEqual(more({ momentum: 0.9, nesterov: true, dampening: 0.5 }), {
    type: 'sharpness',
    step: 0,
    lambdaMax: 1,
    threshold: 2,
    iterations: 3,
    momentum: 0.9,
    nesterov: true,
    dampening: 0.5,
  });
  const odd = more({ nesterov: 'yes', dampening: 1 }) as object;
  assert.equal('nesterov' in odd || 'dampening' in odd, false);
});

test("a step's layer keeps its rows where the log says them, and a line whose rows are not a count is an error", () => {
  const layer = (extra: object) => ({
    index: 0,
    preact: { mean: 0, var: 1 },
    act: { mean: 0, var: 1 },
    grad: { mean: 0, var: 1e-4 },
    dead: null,
    weight: { mean: 0, var: 0.1 },
    weightGrad: { norm: 1, var: 1e-3 },
    biasGrad: { norm: 0.1 },
    updateRatio: 1e-3,
    ...extra,
  });
  const line = (extra: object) =>
    JSON.stringify({
      type: 'step',
      step: 0,
      loss: 1,
      gradNorm: 1,
      gradNormClipped: 1,
      clipped: false,
      samples: 512,
      layers: [layer({}), layer({ index: 1, rows: 16 })],
    }).replace('"rows":16', `"rows":${JSON.stringify((extra as { rows: unknown }).rows)}`);
  const e = parseEventLine(line({ rows: 16 }));
  assert.ok('type' in e && e.type === 'step');
  assert.deepEqual(
    e.layers.map((l) => l.rows),
    [undefined, 16],
  );
  for (const bad of [-1, 1.5, 'x', null]) assert.ok('error' in parseEventLine(line({ rows: bad })), String(bad));
});
