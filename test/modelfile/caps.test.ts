/**
 * Inputs at the size caps are refused with a located error, fast and in bounded memory: a CSV line
 * over 16 MB, safetensors headers with too many entries or nested too deep; and a long run's
 * --html report keeps a bounded, thinned history.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readHeader, MAX_HEADER_ENTRIES } from '../../src/modelfile/safetensors';
import { MAX_CSV_LINE_BYTES, overlongLine } from '../../src/modelfile/load';
import { ROOT, runCli } from '../helpers/cli';

function header(json: string): Uint8Array {
  const h = Buffer.from(json);
  const b = Buffer.alloc(8 + h.length);
  b.writeUInt32LE(h.length, 0);
  h.copy(b, 8);
  return b;
}

test('a safetensors header with more entries than the cap is refused before it is parsed', () => {
  const parts = Array.from(
    { length: MAX_HEADER_ENTRIES + 5 },
    (_, i) => `"t${i}":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}`,
  );
  const r = readHeader(header(`{${parts.join(',')}}`));
  assert.equal(r.ok, false);
  assert.match((r as { errors: string[] }).errors[0]!, /more than 100,000 entries/);
});

test('a deeply nested safetensors header is refused before it is parsed', () => {
  const r = readHeader(header('{"a":' + '['.repeat(100000) + ']'.repeat(100000) + '}'));
  assert.equal(r.ok, false);
  assert.match((r as { errors: string[] }).errors[0]!, /nested more than 16 levels/);
  // strings with braces and escaped quotes do not count
  const ok = readHeader(header('{"__metadata__":{"note":"{[{[\\"{{{{{{{{{{{{{{{{{{{{"}}'));
  assert.equal(ok.ok, true, JSON.stringify(ok));
});

test('overlongLine finds the first line over the cap, by bytes', () => {
  const b = Buffer.from('a,b\n' + 'x'.repeat(50) + '\n1,2\n');
  assert.deepEqual(overlongLine(b, 40), { line: 2, bytes: 50 });
  assert.equal(overlongLine(b, 50), null);
});

test('a CSV of one line over 16 MB is a located error (exit 2), not a crash', () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'lw-cap-'));
  const fd = fs.openSync(path.join(d, 'd.csv'), 'w');
  fs.writeSync(fd, 'a,y\n');
  const block = Buffer.alloc(1 << 20, '1');
  for (let i = 0; i <= MAX_CSV_LINE_BYTES / block.length; i++) fs.writeSync(fd, block);
  fs.writeSync(fd, ',0\n');
  fs.closeSync(fd);
  fs.writeFileSync(
    path.join(d, 'm.mlp.json'),
    '{ "input": { "size": 1 }, "layers": [{ "units": 2 }], "loss": "cross_entropy", "data": { "source": "csv", "path": "d.csv" } }',
  );
  const r = runCli(['analyze', path.join(d, 'm.mlp.json')]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /d\.csv:2:1: error: line 2 is 17\.0 MiB long; CSV lines over 16\.0 MiB are refused/);
});

test('--html on a long run with every step keeps a bounded, thinned history', () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'lw-cap-'));
  const out = path.join(d, 'r.html');
  const r = runCli([
    'run',
    path.join(ROOT, 'examples', 'quick.mlp.json'),
    '--steps',
    '20000',
    '--every',
    '1',
    '--html',
    out,
    '--quiet',
  ]);
  assert.equal(r.code, 0, r.stderr);
  const html = fs.readFileSync(out, 'utf8');
  const steps = html.match(/"type":"step"/g)?.length ?? 0;
  assert.ok(steps > 1000 && steps <= 6100, `${steps} step events in the report`);
  assert.match(html, /"step":19999/);
});

test('a CSV whose reading would pass the memory limit is refused before it is read', () => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'lw-cap-'));
  fs.writeFileSync(path.join(d, 'd.csv'), 'a,y\n' + '1,0\n'.repeat(3 * 1024 * 1024));
  fs.writeFileSync(
    path.join(d, 'm.mlp.json'),
    '{ "input": { "size": 1 }, "layers": [{ "units": 2 }], "loss": "cross_entropy", "data": { "source": "csv", "path": "d.csv" } }',
  );
  const r = runCli(['analyze', path.join(d, 'm.mlp.json'), '--max-memory-mb', '30']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(
    r.stderr,
    /m\.mlp\.json:1:\d+: error: \$\.data\.path reading "d\.csv" \(12\.0 MiB\) needs about 36\.0 MiB, over the limit of 30\.0 MiB/,
  );
  const missing = runCli(['analyze', path.join(d, 'm.mlp.json')], {});
  assert.equal(missing.code, 0, missing.stderr);
});
