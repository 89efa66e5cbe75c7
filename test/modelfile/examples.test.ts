/**
 * The examples are files users copy: each loads without a problem, and none points at the schema
 * by a relative `$schema` (which breaks completion and hovers once the file is copied elsewhere;
 * the extension's jsonValidation applies the schema to every *.mlp.json).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadModelFile } from '../../src/modelfile/load';
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
