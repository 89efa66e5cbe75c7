/** The CLI's histograms: --histograms-every in --json and in the human table, and where it does not apply. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT, runCli } from '../helpers/cli';

const EX = path.join(ROOT, 'examples', 'dying-relu.mlp.json');

test('run --json: histogram events every K steps (default the model file’s 10), none with 0', () => {
  const steps = (args: string[]) =>
    runCli(['run', EX, '--json', '--steps', '23', ...args])
      .events.filter((e) => e.type === 'histogram')
      .map((e) => e.step);
  assert.deepEqual(steps([]), [0, 10, 20]);
  assert.deepEqual(steps(['--histograms-every', '7']), [0, 7, 14, 21]);
  assert.deepEqual(steps(['--histograms-every', '0']), []);
  // the model file's diagnostics.histogramsEvery
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lw-hist-'));
  const file = path.join(dir, 'h.mlp.json');
  const text = fs.readFileSync(EX, 'utf8').replace(/^\{/, '{\n  "diagnostics": { "histogramsEvery": 4 },');
  fs.writeFileSync(file, text);
  const r = runCli(['run', file, '--json', '--steps', '9']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(
    r.events.filter((e) => e.type === 'histogram').map((e) => e.step),
    [0, 4, 8],
  );
  // a bad value is a located error
  fs.writeFileSync(file, fs.readFileSync(EX, 'utf8').replace(/^\{/, '{\n  "diagnostics": { "histogramsEvery": -1 },'));
  const bad = runCli(['run', file, '--json']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /h\.mlp\.json:2:\d+:.*histogramsEvery/);
});

test('run (table): the latest histograms, one line per layer and quantity, with zeros and tails', () => {
  const r = runCli(['run', EX, '--steps', '25', '--histograms-every', '12']);
  assert.equal(r.code, 0, r.stderr);
  const at = r.stdout.indexOf('distributions at step 24');
  assert.ok(at >= 0, r.stdout);
  const lines = r.stdout.slice(at).split('\n');
  assert.match(lines[1]!, /^layer 0 \(\d+ relu\)$/);
  assert.match(lines[2]!, /^ {2}Z {6}\S+ [ ▁▂▃▄▅▆▇█]{32} \S+ {2}zeros \d/);
  assert.match(lines[3]!, /^ {2}f\(Z\) {3}.*zeros [1-9]\d*\.\d %/);
  assert.match(lines[4]!, /^ {2}∂L\/∂Z {2}/);
  // no histograms asked for: no section
  assert.ok(!runCli(['run', EX, '--steps', '5', '--histograms-every', '0']).stdout.includes('distributions at'));
});

test('--histograms-every is a usage error where it does not apply', () => {
  for (const args of [
    ['analyze', EX, '--histograms-every', '3'],
    ['watch', 'x.layerwise.jsonl', '--histograms-every', '3'],
    ['run', EX, '--histograms-every', '-2'],
  ]) {
    const r = runCli(args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.stderr, /histograms-every/);
  }
});
