/** What came from a file cannot drive the terminal or forge a line: control characters print escaped. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCli } from '../helpers/cli';

// eslint-disable-next-line no-control-regex -- control characters are what it looks for
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/;

function model(dir: string, extra: string, data = '{ "source": "synthetic", "samples": 16 }'): string {
  const f = path.join(dir, 'm.mlp.json');
  fs.writeFileSync(
    f,
    `{ ${extra} "input": { "size": 2 }, "layers": [{ "units": 4, "activation": "relu" }, { "units": 1 }], "loss": "mse", "data": ${data}, "training": { "steps": 3, "batchSize": 8 } }`,
  );
  return f;
}

test('a model name with escape sequences prints escaped', () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'lw-inj-'));
  const r = runCli(['run', model(d, '"name": "\\u001b]0;PWNED\\u0007\\u001b[31mred\\u202e",')]);
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stdout + r.stderr, CONTROL);
  assert.match(r.stdout, /\\u001b\]0;PWNED\\u0007\\u001b\[31mred\\u202e: 2 layers/);
});

test('unknown keys, CSV header names and cells with control characters print escaped; a newline cannot forge a line', () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'lw-inj-'));
  const r = runCli(['analyze', model(d, '"\\u001b[2Jwipe": 1,')]);
  assert.equal(r.code, 0, 'an unknown key is a warning');
  assert.doesNotMatch(r.stderr, CONTROL);
  assert.match(r.stderr, /\\u001b\[2Jwipe/);
  fs.writeFileSync(path.join(d, 'd.csv'), 'a\u001b[31m,b,y\n1,\u0007x,0\n');
  const c = runCli(['analyze', model(d, '', '{ "source": "csv", "path": "d.csv" }')]);
  assert.equal(c.code, 2);
  assert.doesNotMatch(c.stderr, CONTROL);
  assert.match(c.stderr, /"\\u0007x" in column "b" is not a number/);
  const forged = runCli(['analyze', model(d, '', '{ "source": "csv", "path": "x.csv\\nFILE:1:1: error: forged" }')]);
  assert.equal(forged.code, 2);
  const lines = forged.stderr.trim().split('\n');
  assert.ok(!lines.some((l) => l.startsWith('FILE:1:1')), forged.stderr);
  assert.match(forged.stderr, /x\.csv\\u000aFILE:1:1: error: forged/);
});
