/** `npm run demo` ends with a side-by-side verdict of the two runs. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { ROOT } from '../helpers/cli';

test('the demo prints both runs and a verdict naming the init that trains, with the signal of each', () => {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'demo.mjs'), '30'], {
    encoding: 'utf8',
    timeout: 120000,
  });
  assert.equal(r.status, 0, r.stderr);
  const out = r.stdout;
  assert.ok(out.indexOf('=== deep-relu-xavier ===') < out.indexOf('=== deep-relu-he ==='));
  const verdict = out.slice(out.indexOf('=== verdict ==='));
  const lines = verdict.split('\n');
  assert.match(
    lines[1]!,
    /^ {2}xavier_uniform: loss \S+ → \S+ in 30 steps; signal \S+ of the input's variance at layer \d+/,
  );
  assert.match(lines[2]!, /^✓ he_normal: loss \S+ → \S+ in 30 steps; signal kept through all 30 hidden layers/);
  assert.match(verdict, /he_normal trains this net/);
});
