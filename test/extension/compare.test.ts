/** Compare Initializations: the file's own init is run only when it is not one of the schemes compared. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ROOT } from '../helpers/cli';
import { fileScheme } from '../../src/extension/model-edits';

test("fileScheme: the one scheme of every layer (the reader's defaults included), or null", () => {
  const ex = (n: string) => fs.readFileSync(path.join(ROOT, 'examples', `${n}.mlp.json`), 'utf8');
  assert.equal(fileScheme(ex('deep-relu-xavier')), 'xavier_uniform');
  assert.equal(fileScheme(ex('deep-relu-he')), null); // he_normal hidden layers, a xavier output layer
  assert.equal(fileScheme(ex('quick')), null);
  const m = (layers: string) => `{ "input": { "size": 2 }, "layers": [${layers}], "loss": "mse" }`;
  assert.equal(fileScheme(m('{ "units": 4, "activation": "relu" }, { "units": 1, "init": "he_normal" }')), 'he_normal');
  assert.equal(fileScheme(m('{ "units": 4, "activation": "tanh" }, { "units": 1 }')), 'xavier_uniform');
  assert.equal(fileScheme(m('{ "units": 4, "activation": "relu" }, { "units": 1 }')), null);
  assert.equal(
    fileScheme(m('{ "units": 4, "init": { "scheme": "he_normal" } }, { "units": 1, "init": "he_normal" }')),
    'he_normal',
  );
  assert.equal(
    fileScheme(m('{ "units": 4, "init": { "scheme": "he_normal", "gain": 2 } }, { "units": 1, "init": "he_normal" }')),
    null,
  );
  assert.equal(fileScheme('{ not json'), null);
});
