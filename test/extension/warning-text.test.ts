/** A warning about a run of layers becomes one Problem per layer, each naming its own layer. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { initMismatchWarnings } from '../../src/core/warnings';
import type { LayerSpec } from '../../src/core/spec';
import { namedInit, problemText } from '../../src/extension/warning-text';

const layer = (activation: LayerSpec['activation'], scheme: string): LayerSpec => ({
  units: 16,
  activation,
  alpha: 0,
  init: { scheme, mode: 'fan_in' } as LayerSpec['init'],
  bias: 0,
});

test('each layer of "Layers 0–29" gets a Problem naming that layer, with a fix on that layer', () => {
  const [w] = initMismatchWarnings(
    [...Array.from({ length: 30 }, () => layer('relu', 'xavier_uniform')), layer('linear', 'xavier_uniform')],
    false,
    8,
  );
  assert.ok(w && w.layers?.length === 30, JSON.stringify(w));
  const texts = w.layers!.map((i) => problemText(w, i));
  assert.equal(new Set(texts.map((t) => t.message)).size, 30, 'thirty different messages');
  assert.match(texts[7]!.message, /^Layer 7 \(one of layers 0–29\): xavier_uniform under relu/);
  assert.match(texts[7]!.fix, /on layer 7 /);
  assert.doesNotMatch(texts[7]!.fix, /layers 0–29/);
  // the fix names the scheme the quick fix prefers: the uniform one for a uniform scheme
  assert.equal(namedInit(texts[7]!.fix), 'he_uniform');
});

test('a warning on one layer keeps its text', () => {
  const [w] = initMismatchWarnings([layer('tanh', 'he_normal'), layer('linear', 'xavier_uniform')], false, 8);
  assert.deepEqual(problemText(w!, 0), { message: w!.message, fix: w!.fix });
  assert.equal(namedInit(w!.fix), 'xavier_normal');
});
