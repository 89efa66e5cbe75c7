/**
 * `--html` never destroys data: not the model, its CSV or its weights (by any path or link), not
 * an unrelated existing file without --force; checked before the run; written atomically.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ROOT, runCli } from '../helpers/cli';

function copyExamples(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'lw-html-'));
  for (const f of ['quick.mlp.json', 'flowers.mlp.json', 'flowers.csv'])
    fs.copyFileSync(path.join(ROOT, 'examples', f), path.join(d, f));
  fs.mkdirSync(path.join(d, 'w'));
  for (const f of ['model.mlp.json', 'data.csv', 'init.safetensors'])
    fs.copyFileSync(path.join(ROOT, 'examples', 'from-pytorch', f), path.join(d, 'w', f));
  return d;
}

test('--html refuses to write over the model, its data and its weights, before the run', () => {
  const d = copyExamples();
  const model = path.join(d, 'v.mlp.json');
  fs.copyFileSync(path.join(d, 'quick.mlp.json'), model);
  const before = fs.readFileSync(model, 'utf8');
  const r = runCli(['run', model, '--steps', '5', '--html', model, '--json'], { cwd: d });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /would write over the model file/);
  assert.equal(r.stdout, '', 'nothing ran');
  assert.equal(fs.readFileSync(model, 'utf8'), before);
  const csv = fs.readFileSync(path.join(d, 'flowers.csv'));
  const a = runCli(['analyze', 'flowers.mlp.json', '--html', 'flowers.csv'], { cwd: d });
  assert.equal(a.code, 2);
  assert.match(a.stderr, /would write over its data/);
  assert.deepEqual(fs.readFileSync(path.join(d, 'flowers.csv')), csv);
  // the weights, through a symbolic link to them; --force does not make it allowed
  fs.symlinkSync(path.join(d, 'w', 'init.safetensors'), path.join(d, 'link.html'));
  const w = runCli(['analyze', path.join('w', 'model.mlp.json'), '--html', 'link.html', '--force'], { cwd: d });
  assert.equal(w.code, 2);
  assert.match(w.stderr, /would write over its weights/);
});

test('--html replaces an existing file only if it is a Layerwise report, or with --force', () => {
  const d = copyExamples();
  const notes = path.join(d, 'notes.html');
  fs.writeFileSync(notes, '<p>my notes</p>');
  const r = runCli(['analyze', 'quick.mlp.json', '--html', 'notes.html'], { cwd: d });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /exists and is not a Layerwise report; add --force/);
  assert.equal(fs.readFileSync(notes, 'utf8'), '<p>my notes</p>');
  const forced = runCli(['analyze', 'quick.mlp.json', '--html', 'notes.html', '--force'], { cwd: d });
  assert.equal(forced.code, 0, forced.stderr);
  assert.match(fs.readFileSync(notes, 'utf8'), /Layerwise report/);
  // a report we wrote is replaced without --force
  const again = runCli(['run', 'quick.mlp.json', '--steps', '3', '--html', 'notes.html'], { cwd: d });
  assert.equal(again.code, 0, again.stderr);
  assert.match(fs.readFileSync(notes, 'utf8'), /"type":"step"/);
  assert.deepEqual(
    fs.readdirSync(d).filter((f) => f.endsWith('.tmp')),
    [],
    'no temporary file left',
  );
  const folder = runCli(['analyze', 'quick.mlp.json', '--html', 'w'], { cwd: d });
  assert.equal(folder.code, 2);
  assert.match(folder.stderr, /is a folder/);
  const nodir = runCli(['analyze', 'quick.mlp.json', '--html', 'no/such/dir/r.html'], { cwd: d });
  assert.equal(nodir.code, 2);
  assert.match(nodir.stderr, /does not exist/);
});

test('--html into a folder that is a file is refused before the run', () => {
  const d = copyExamples();
  const r = runCli(['run', 'quick.mlp.json', '--steps', '3', '--json', '--html', 'flowers.csv/r.html'], { cwd: d });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /flowers\.csv is not a folder/);
  assert.equal(r.stdout, '', 'nothing ran');
});
