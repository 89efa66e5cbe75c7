/** `layerwise analyze`: the analysis event against the closed form, measured values beside it, static warnings. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { ROOT, runCli } from '../helpers/cli';

test('analyze of the 30-layer Xavier ReLU net: Var(z) halves per layer, warnings name the layers', () => {
  const r = runCli(['analyze', path.join(ROOT, 'examples', 'deep-relu-xavier.mlp.json'), '--json']);
  assert.equal(r.code, 0, r.stderr);
  const a = r.events.find((e) => e.type === 'analysis') as {
    inputVar: number;
    layers: {
      index: number;
      fanIn: number;
      weightVar: number;
      predicted: { preactVar: number; gradVar: number };
      measured: { preactVar: number };
    }[];
  };
  assert.equal(a.inputVar, 1);
  assert.equal(a.layers.length, 31);
  // xavier_uniform with fan_in = fan_out = 64: Var(W) = 2/128; preactVar_0 = 64·(1/64)·1 = 1, then ×½ per ReLU layer
  assert.ok(Math.abs(a.layers[0]!.weightVar - 1 / 64) < 1e-15);
  for (let l = 0; l < 30; l++)
    assert.ok(Math.abs(a.layers[l]!.predicted.preactVar - 0.5 ** l) < 1e-12 * 0.5 ** l, `layer ${l}`);
  assert.equal(a.layers[30]!.predicted.gradVar, 1);
  for (let l = 0; l < 5; l++)
    assert.ok(
      Math.abs(a.layers[l]!.measured.preactVar / a.layers[l]!.predicted.preactVar - 1) < 0.35,
      `measured layer ${l}`,
    );
  const codes = r.events.filter((e) => e.type === 'warning').map((e) => `${e.code}@${e.layer}/${e.step}`);
  assert.ok(codes.includes('init_mismatch@0/null'), codes.join(' '));
  assert.ok(codes.includes('vanishing_forward@10/null'), codes.join(' ')); // 2^-10 < 1e-3 first at layer 10
});

test('analyze of the He net predicts constant variance and no warnings', () => {
  const r = runCli(['analyze', path.join(ROOT, 'examples', 'deep-relu-he.mlp.json'), '--json']);
  assert.equal(r.code, 0, r.stderr);
  const a = r.events.find((e) => e.type === 'analysis') as { layers: { predicted: { preactVar: number } }[] };
  for (let l = 0; l < 30; l++) assert.ok(Math.abs(a.layers[l]!.predicted.preactVar - 2) < 1e-12);
  assert.deepEqual(
    r.events.filter((e) => e.type === 'warning'),
    [],
  );
});

test('human output: a table for analyze and a summary for run', () => {
  const a = runCli(['analyze', path.join(ROOT, 'examples', 'quick.mlp.json')]);
  assert.equal(a.code, 0);
  assert.match(a.stdout, /layer\s+fan_in\s+fan_out\s+Var\(W\)\s+Var\(z\) pred/);
  const r = runCli(['run', path.join(ROOT, 'examples', 'quick.mlp.json'), '--steps', '20']);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /^quick: 3 layers/);
  assert.match(r.stdout, /step 19:\nlayer\s+units/);
  assert.match(r.stdout, /completed: 20 steps in/);
  const one = runCli(['run', path.join(ROOT, 'examples', 'quick.mlp.json'), '--steps', '1']);
  assert.match(one.stdout, /completed: 1 step in [\d.]+ s \([\d.]+ steps\/s\)/);
});

test('human output: the clip rate is over every step, as --json counts it', () => {
  const model = path.join(ROOT, 'examples', 'deep-relu-he.mlp.json');
  const json = runCli(['run', model, '--steps', '200', '--json']);
  const clipped = json.events.filter((e) => e.type === 'step' && e.clipped).length;
  assert.ok(clipped > 0 && clipped < 200, `${clipped} clipped`);
  assert.equal((json.events.at(-1) as { clippedSteps?: number }).clippedSteps, clipped);
  const human = runCli(['run', model, '--steps', '200', '--quiet']);
  assert.match(human.stdout, new RegExp(`clipped on ${clipped} of 200 steps \\(`));
});

test('usage errors: bare layerwise exits 2; a mistyped option gets a suggestion; the help is not reprinted', () => {
  const bare = runCli([]);
  assert.equal(bare.code, 2);
  assert.match(bare.stderr, /^layerwise: a command is needed: "run", "analyze" or "watch"\n/);
  const typo = runCli(['run', path.join(ROOT, 'examples', 'quick.mlp.json'), '--stpes', '3']);
  assert.equal(typo.code, 2);
  assert.match(typo.stderr, /unknown option "--stpes" \(did you mean "--steps"\?\)/);
  assert.ok(typo.stderr.split('\n').length <= 6, typo.stderr);
  assert.doesNotMatch(typo.stderr, /--max-memory-mb M/);
  const help = runCli(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--max-memory-mb M/);
});
