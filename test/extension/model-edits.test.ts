/** Quick-fix edits on model text: the edited file still parses, and says what the fix intends. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { TextEdit } from '../../src/extension/model-edits';
import { ModelText } from '../../src/extension/model-edits';
import { interpretModel } from '../../src/modelfile/interpret';

/** The text after non-overlapping edits, as the editor applies them. */
function applyEdits(text: string, edits: readonly TextEdit[]): string {
  let out = text;
  for (const e of [...edits].sort((a, b) => b.start - a.start)) out = out.slice(0, e.start) + e.text + out.slice(e.end);
  return out;
}

const TEXT = `\uFEFF{
  // comment
  "input": { "size": 4 },
  "layers": [
    { "units": 8, "activation": "relu", "init": "xavier_uniform" },
    { "units": 8, "activation": "relu", "init": { "scheme": "lecun_normal", "mode": "fan_out" } },
    { "units": 8 },
    { "units": 3 }
  ],
  "loss": "cross_entropy"
}`;

function edit(f: (m: ModelText) => ReturnType<ModelText['setInit']>): string {
  const m = new ModelText(TEXT);
  const e = f(m);
  assert.ok(e);
  const out = applyEdits(TEXT, [e]);
  const r = interpretModel(out);
  assert.ok(r.draft, `edited text is valid: ${JSON.stringify(r.problems)}\n${out}`);
  return out;
}

test("setBias replaces a layer's bias or inserts one; the edited file keeps parsing", () => {
  const text = TEXT.replace('{ "units": 8 },', '{ "units": 8, "bias": -4 },');
  const m = new ModelText(text);
  const out = applyEdits(text, [m.setBias(2, 0)!, m.setBias(0, 0.5)!]);
  const r = interpretModel(out);
  assert.ok(r.draft, JSON.stringify(r.problems));
  assert.deepEqual(
    r.draft.layers.map((l) => l.bias),
    [0.5, 0, 0, 0],
  );
  assert.equal(new ModelText(text).setBias(9, 0), null);
});

test("initScheme reads a string init or an object init's scheme, null where a layer has none", () => {
  const m = new ModelText(TEXT);
  assert.deepEqual(
    [0, 1, 2, 3, 4].map((i) => m.initScheme(i)),
    ['xavier_uniform', 'lecun_normal', null, null, null],
  );
});

test("setInit replaces a string init, an object init's scheme, or inserts one", () => {
  assert.equal(interpretModel(edit((m) => m.setInit(0, 'he_uniform'))).draft!.layers[0]!.init.scheme, 'he_uniform');
  const d1 = interpretModel(edit((m) => m.setInit(1, 'he_normal'))).draft!.layers[1]!;
  assert.deepEqual([d1.init.scheme, d1.init.mode], ['he_normal', 'fan_out']);
  assert.equal(
    interpretModel(edit((m) => m.setInit(2, 'xavier_normal'))).draft!.layers[2]!.init.scheme,
    'xavier_normal',
  );
});

test("setInit keeps only the fields the new scheme reads: uniform's low and high go, a pytorch layer's ignored gain too", () => {
  const text = `{
  "input": { "size": 4 },
  "layers": [
    { "units": 8, "activation": "relu", "init": { "scheme": "uniform", "low": 0, "high": 1 } },
    { "units": 8, "activation": "relu", "init": { "scheme": "normal", "mean": 0.01, "std": 0.1 } },
    { "units": 8, "activation": "relu", "init": { "scheme": "pytorch", "gain": 2 } },
    { "units": 8, "activation": "tanh", "init": { "scheme": "he_uniform", "mode": "fan_out", "gain": 1.5 } },
    { "units": 3 }
  ],
  "loss": "cross_entropy"
}`;
  const m = new ModelText(text);
  const edits = [
    m.setInit(0, 'he_uniform')!,
    m.setInit(1, 'he_normal')!,
    m.setInit(2, 'he_uniform')!,
    m.setInit(3, 'xavier_uniform')!,
  ];
  const out = applyEdits(text, edits);
  const r = interpretModel(out);
  assert.deepEqual(r.problems, [], out);
  assert.deepEqual(
    r.draft!.layers.slice(0, 4).map((l) => l.init),
    [
      { scheme: 'he_uniform', mode: 'fan_in' },
      { scheme: 'he_normal', mode: 'fan_in' },
      { scheme: 'he_uniform', mode: 'fan_in' },
      // xavier reads a gain the old he_uniform read too; it has no mode
      {
        scheme: 'xavier_uniform',
        mode: 'fan_in',
        gain: 1.5,
        mean: undefined,
        std: undefined,
        low: undefined,
        high: undefined,
        value: undefined,
        a: undefined,
        b: undefined,
      },
    ],
  );
  assert.match(out, /"init": "he_uniform" \}/);
  assert.match(out, /"init": \{ "scheme": "xavier_uniform", "gain": 1\.5 \}/);
});

test('setActivation, setLearningRate and setClip (creating training when absent)', () => {
  assert.equal(
    interpretModel(edit((m) => m.setActivation(0, 'leaky_relu'))).draft!.layers[0]!.activation,
    'leaky_relu',
  );
  assert.equal(interpretModel(edit((m) => m.setActivation(2, 'tanh'))).draft!.layers[2]!.activation, 'tanh');
  assert.equal(interpretModel(edit((m) => m.setLearningRate(0.001))).draft!.training.learningRate, 0.001);
  const withClip = edit((m) => m.setClip(1));
  assert.deepEqual(interpretModel(withClip).draft!.training.clip, { mode: 'norm', max: 1 });
  const m2 = new ModelText(withClip);
  assert.equal(m2.currentClipMax(), 1);
  const tightened = applyEdits(withClip, [m2.setClip(0.5)!]);
  assert.deepEqual(interpretModel(tightened).draft!.training.clip, { mode: 'norm', max: 0.5 });
});

test('spans point at the field value, counted with the BOM', () => {
  const m = new ModelText(TEXT);
  const s = m.layerField(0, 'init')!;
  assert.equal(TEXT.slice(s.start, s.end), '"xavier_uniform"');
  const a = m.layerField(1, 'activation')!;
  assert.equal(TEXT.slice(a.start, a.end), '"relu"');
  const whole = m.layerField(2, 'init')!;
  assert.equal(TEXT.slice(whole.start, whole.end), '{ "units": 8 }');
});
