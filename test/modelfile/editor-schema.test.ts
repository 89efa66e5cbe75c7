/**
 * The editor's schema (package.json jsonValidation) completes and hovers what the shipped schema
 * describes and checks nothing: Layerwise's own validator reports each mistake once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
// @ts-expect-error: a build script (plain JavaScript, no declarations)
import { editorSchema } from '../../scripts/editor-schema.mjs';
import { ROOT } from '../helpers/cli';

const full = JSON.parse(fs.readFileSync(path.join(ROOT, 'schemas', 'mlp.schema.json'), 'utf8'));
const ed = editorSchema(full);

function walk(s: unknown, visit: (o: Record<string, unknown>, at: string) => void, at = '#'): void {
  if (Array.isArray(s)) s.forEach((x, i) => walk(x, visit, `${at}/${i}`));
  else if (typeof s === 'object' && s !== null) {
    visit(s as Record<string, unknown>, at);
    for (const [k, v] of Object.entries(s)) if (k !== 'examples' && k !== 'default') walk(v, visit, `${at}/${k}`);
  }
}

test('the editor schema keeps no check, and offers every allowed value as an example', () => {
  const checks = ['type', 'enum', 'const', 'required', 'additionalProperties', 'minimum', 'maximum', 'minItems'];
  walk(ed, (o, at) => {
    for (const k of checks)
      // a property may be named like a keyword ("type" of a data block): only schema keywords count
      if (k in o && !at.endsWith('/properties')) assert.fail(`${at} keeps "${k}"`);
  });
  assert.deepEqual(ed.definitions.activation.examples, full.definitions.activation.enum);
  assert.deepEqual(ed.definitions.initScheme.examples, full.definitions.initScheme.enum);
  // the structure, descriptions and defaults stay for completion and hovers
  assert.deepEqual(Object.keys(ed.properties), Object.keys(full.properties));
  assert.deepEqual(Object.keys(ed.definitions.layer.properties), Object.keys(full.definitions.layer.properties));
  assert.equal(ed.definitions.activation.description, full.definitions.activation.description);
  assert.equal(ed.definitions.layer.properties.activation.$ref, '#/definitions/activation');
  assert.equal(ed.definitions.layer.properties.activation.default, 'linear');
  // the shipped schema itself is untouched (Layerwise validates with it)
  assert.ok(full.definitions.layer.additionalProperties === false);
});
