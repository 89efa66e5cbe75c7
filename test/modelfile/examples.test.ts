/**
 * The examples are files users copy: each loads without a problem, and none points at the schema
 * by a relative `$schema` (which breaks completion and hovers once the file is copied elsewhere;
 * the extension's jsonValidation applies the schema to every *.mlp.json).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadModelFile, loadModelText } from '../../src/modelfile/load';
import { TEMPLATES } from '../../src/extension/templates';
import { ROOT } from '../helpers/cli';

const DIR = path.join(ROOT, 'examples');
const FILES = fs
  .readdirSync(DIR, { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.mlp.json'))
  .map((f) => path.join(DIR, f));

test('every example loads without a problem and needs no relative $schema', () => {
  assert.ok(FILES.length >= 5, FILES.join());
  for (const f of FILES) {
    const text = fs.readFileSync(f, 'utf8');
    assert.doesNotMatch(
      text,
      /"\$schema"\s*:\s*"\.{0,2}\//,
      `${path.relative(ROOT, f)} points at the schema by a path`,
    );
    const r = loadModelFile(f);
    assert.deepEqual(
      r.problems.filter((p) => p.severity === 'error'),
      [],
      path.relative(ROOT, f),
    );
  }
});

test('every New Model File template loads without an error (the CSV one beside a data.csv)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'layerwise-templates-'));
  fs.writeFileSync(
    path.join(dir, 'data.csv'),
    'a,b,c,d,label\n0.1,0.2,0.3,0.4,0\n0.5,0.6,0.7,0.8,1\n0.9,1.0,1.1,1.2,2\n',
  );
  try {
    for (const t of TEMPLATES) {
      const r = loadModelText(path.join(dir, `${t.id}.mlp.json`), t.text);
      assert.deepEqual(
        r.problems.filter((p) => p.severity === 'error'),
        [],
        t.id,
      );
      assert.ok(r.spec, t.id);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
