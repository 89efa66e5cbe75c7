/** Problem locations from a line index (not a scan per problem), problems capped, messages bounded. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { lineCol } from '../../src/modelfile/jsonc';
import { runCli } from '../helpers/cli';

/** The definition: count line breaks (\n, \r\n, \r) before the offset. */
function naive(text: string, offset: number): { line: number; col: number } {
  let line = 1,
    start = 0;
  for (let i = 0; i < offset; i++) {
    const c = text[i];
    if (c === '\n' || (c === '\r' && text[i + 1] !== '\n')) {
      line++;
      start = i + 1;
    }
  }
  return { line, col: offset - start + 1 };
}

test('lineCol equals the definition on texts with \\n, \\r\\n and \\r, at every offset', () => {
  let seed = 7;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let t = 0; t < 30; t++) {
    let text = '';
    for (let i = 0; i < 60; i++) text += ['a', 'b', '\n', '\r\n', '\r', '"', ' '][Math.floor(rnd() * 7)];
    for (let o = 0; o <= text.length; o++)
      assert.deepEqual(lineCol(text, o), naive(text, o), `${JSON.stringify(text)} @${o}`);
  }
});

test('50,000 unknown keys: 200 problems, then one line that counts the rest', () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'lw-many-'));
  const keys = Array.from({ length: 50000 }, (_, i) => `"k${i}": 1`).join(',\n');
  const f = path.join(d, 'big.mlp.json');
  fs.writeFileSync(
    f,
    `{ ${keys}, "input": { "size": 2 }, "layers": [{ "units": 4 }, { "units": 1 }], "loss": "mse", "data": { "source": "synthetic", "samples": 16 } }`,
  );
  const r = runCli(['analyze', f]);
  assert.equal(r.code, 0);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 201);
  assert.match(lines[199]!, /big\.mlp\.json:200:1: warning: \$\.k199 unknown property/);
  assert.match(lines[200]!, /and 49800 more problems \(0 errors\) not shown/);
});

test('a very long message is cut, with the count of what was cut', () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'lw-long-'));
  const f = path.join(d, 'long.mlp.json');
  fs.writeFileSync(
    f,
    `{ "${'x'.repeat(20000)}": 1, "input": { "size": 2 }, "layers": [{ "units": 4 }, { "units": 1 }], "loss": "mse", "data": { "source": "synthetic", "samples": 16 } }`,
  );
  const r = runCli(['analyze', f]);
  const line = r.stderr.trim().split('\n')[0]!;
  assert.ok(line.length < 1300, `${line.length} characters`);
  assert.match(line, /… \(\d+ more characters\)$/);
});
