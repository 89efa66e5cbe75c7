/** Readers' edge cases named in the hardening issue: safetensors structure and dtypes, CSV shapes, natural sort, confinement. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { halfToFloat, layerWeights, readHeader, tensorValues } from '../../src/modelfile/safetensors';
import { parseCsv } from '../../src/modelfile/csv';
import { naturalCompare } from '../../src/modelfile/natural-sort';
import { loadModelText } from '../../src/modelfile/load';

function st(header: Record<string, unknown>, data: Uint8Array, lenOverride?: number): Uint8Array {
  const h = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setUint32(0, lenOverride ?? h.length, true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}
const f32 = (...v: number[]): Uint8Array => new Uint8Array(Float32Array.from(v).buffer);

test('safetensors: header longer than the file, bad offsets, overlap, dtypes', () => {
  assert.match(
    (readHeader(st({}, new Uint8Array(0), 1e9)) as { errors: string[] }).errors[0]!,
    /header length says 1000000000 bytes, longer than/,
  );
  assert.match(
    (readHeader(new Uint8Array(3)) as { errors: string[] }).errors[0]!,
    /3 bytes; a safetensors file starts with an 8-byte header/,
  );
  const past = readHeader(st({ w: { dtype: 'F32', shape: [2], data_offsets: [0, 16] } }, f32(1, 2)));
  assert.match((past as { errors: string[] }).errors[0]!, /go past the end of the data \(8 bytes\)/);
  const over = readHeader(
    st(
      { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } },
      f32(1, 2, 3),
    ),
  );
  assert.match((over as { errors: string[] }).errors.join(), /tensors "a" and "b" overlap/);
  const i64 = readHeader(st({ w: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8)));
  assert.match((i64 as { errors: string[] }).errors[0]!, /dtype I64 is not supported; use F32, F64, F16 or BF16/);
  const size = readHeader(st({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, f32(1, 2)));
  assert.match((size as { errors: string[] }).errors[0]!, /needs 12 bytes, but data_offsets span 8/);
  assert.match(
    (readHeader(st({}, new Uint8Array(0)).map((b, i) => (i === 8 ? 0x7b : b))) as { ok: boolean }).ok
      ? 'x'
      : 'not json',
    /not json|x/,
  );
});

test('safetensors: F16 and BF16 are converted exactly', () => {
  assert.equal(halfToFloat(0x3c00), 1);
  assert.equal(halfToFloat(0xc000), -2);
  assert.equal(halfToFloat(0x0001), 2 ** -24);
  assert.equal(halfToFloat(0x7c00), Infinity);
  const bf = new Uint8Array(4);
  new DataView(bf.buffer).setUint16(0, 0x3fc0, true); // 1.5
  new DataView(bf.buffer).setUint16(2, 0xc020, true); // -2.5
  const bytes = st({ t: { dtype: 'BF16', shape: [2], data_offsets: [0, 4] } }, bf);
  const h = readHeader(bytes);
  assert.ok(h.ok);
  assert.deepEqual([...tensorValues(bytes, h.dataStart, h.tensors[0]!)], [1.5, -2.5]);
});

test('safetensors: non-2-D weights, missing bias and leftovers are named; natural order maps layers', () => {
  const w3 = layerWeights(
    st(
      {
        'l.0.weight': { dtype: 'F32', shape: [2, 1, 1], data_offsets: [0, 8] },
        'l.0.bias': { dtype: 'F32', shape: [2], data_offsets: [8, 16] },
      },
      f32(1, 2, 3, 4),
    ),
    [{ units: 2 }],
    1,
  );
  assert.match(
    (w3 as { errors: string[] }).errors.join('\n'),
    /tensor "l\.0\.weight" has shape \[2, 1, 1\]; layer weights must be 2-D/,
  );
  // "net.10" after "net.2" in natural order: layer 0 = net.2 ([2,1]), layer 1 = net.10 ([1,2])
  const ok = layerWeights(
    st(
      {
        'net.10.weight': { dtype: 'F32', shape: [1, 2], data_offsets: [0, 8] },
        'net.10.bias': { dtype: 'F32', shape: [1], data_offsets: [8, 12] },
        'net.2.weight': { dtype: 'F32', shape: [2, 1], data_offsets: [12, 20] },
        'net.2.bias': { dtype: 'F32', shape: [2], data_offsets: [20, 28] },
      },
      f32(7, 8, 9, 1, 2, 3, 4),
    ),
    [{ units: 2 }, { units: 1 }],
    1,
  );
  assert.ok(ok.ok, JSON.stringify(ok));
  assert.deepEqual(
    ok.weights.map((w) => w.weightName),
    ['net.2.weight', 'net.10.weight'],
  );
  assert.deepEqual([...ok.weights[1]!.weight], [7, 8]);
});

test('natural sort order (the key of re.split(r"(\\d+)") with numbers compared as numbers)', () => {
  const names = [
    'net.10.weight',
    'net.2.weight',
    'net.1.weight',
    'a.weight',
    'net.02.weight',
    'fc.weight',
    'fc1.weight',
    'fc10.weight',
    'fc2.weight',
  ];
  assert.deepEqual([...names].sort(naturalCompare), [
    'a.weight',
    'fc1.weight',
    'fc2.weight',
    'fc10.weight',
    'fc.weight',
    'net.1.weight',
    'net.02.weight',
    'net.2.weight',
    'net.10.weight',
  ]);
});

test('CSV: empty, header only, quoted fields, CRLF, BOM, header false with index target', () => {
  const opts = { header: true, target: null, task: 'classification' as const, classes: 3, inputSize: 2 };
  assert.match(
    (parseCsv('', opts) as { problems: { message: string }[] }).problems[0]!.message,
    /the CSV file is empty/,
  );
  assert.match(
    (parseCsv('a,b,y\n', opts) as { problems: { message: string }[] }).problems[0]!.message,
    /header but no data rows/,
  );
  const r = parseCsv('\uFEFF"a","b ""q""",y\r\n1,"2",0\r\n\r\n3, 4 ,2\r\n', opts);
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual([...r.dataset.x], [1, 2, 3, 4]);
  assert.deepEqual([...r.dataset.y], [0, 2]);
  assert.deepEqual(r.columns, ['a', 'b "q"', 'y']);
  const nh = parseCsv('0,5,6\n1,7,8\n', { ...opts, header: false, target: 0 });
  assert.ok(nh.ok);
  assert.deepEqual([...nh.dataset.y], [0, 1]);
  assert.deepEqual([...nh.dataset.x], [5, 6, 7, 8]);
  const bad = parseCsv('a,b,y\n1,2,"0\n', opts);
  assert.match(
    (bad as { problems: { message: string; line: number }[] }).problems[0]!.message,
    /unterminated quoted field/,
  );
});

test('untrusted workspace: data and weight paths must stay inside the folder', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'layerwise-trust-'));
  fs.mkdirSync(path.join(root, 'ws'));
  fs.writeFileSync(path.join(root, 'outside.csv'), 'a,y\n1,0\n');
  const text =
    '{ "input": { "size": 1 }, "layers": [{ "units": 2 }], "loss": "cross_entropy", "data": { "source": "csv", "path": "../outside.csv" } }';
  const file = path.join(root, 'ws', 'm.mlp.json');
  const confined = loadModelText(file, text, { confineTo: path.join(root, 'ws') });
  assert.equal(confined.spec, null);
  assert.match(
    confined.problems[0]!.message,
    /"\.\.\/outside\.csv" is outside the workspace folder; in an untrusted workspace/,
  );
  assert.ok(loadModelText(file, text).spec, 'trusted: allowed');
});

test('untrusted workspace: a symbolic link inside the folder that points out of it is outside, and its contents never shown', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'layerwise-trust-'));
  const ws = path.join(root, 'ws');
  fs.mkdirSync(ws);
  fs.mkdirSync(path.join(root, 'elsewhere'));
  fs.writeFileSync(path.join(root, 'elsewhere', 'secret.csv'), 'sk-SECRET,y\nsk-SECRET2,0\n');
  fs.symlinkSync(path.join(root, 'elsewhere', 'secret.csv'), path.join(ws, 'data.csv'));
  fs.symlinkSync(path.join(root, 'elsewhere'), path.join(ws, 'linked'));
  for (const p of ['data.csv', 'linked/secret.csv']) {
    const text = `{ "input": { "size": 1 }, "layers": [{ "units": 2 }], "loss": "cross_entropy", "data": { "source": "csv", "path": "${p}" } }`;
    const r = loadModelText(path.join(ws, 'm.mlp.json'), text, { confineTo: ws });
    assert.equal(r.spec, null, p);
    assert.equal(r.problems.length, 1, p);
    assert.match(r.problems[0]!.message, /is outside the workspace folder \(through a symbolic link\)/);
    assert.doesNotMatch(JSON.stringify(r.problems), /sk-/);
    // trusted, the link is followed (and the cell is reported as not a number)
    assert.match(JSON.stringify(loadModelText(path.join(ws, 'm.mlp.json'), text).problems), /not a number/);
  }
  // a link that stays inside is fine
  fs.writeFileSync(path.join(ws, 'real.csv'), 'a,y\n1,0\n');
  fs.symlinkSync(path.join(ws, 'real.csv'), path.join(ws, 'alias.csv'));
  const ok = loadModelText(
    path.join(ws, 'm.mlp.json'),
    '{ "input": { "size": 1 }, "layers": [{ "units": 2 }], "loss": "cross_entropy", "data": { "source": "csv", "path": "alias.csv" } }',
    { confineTo: ws },
  );
  assert.ok(ok.spec, JSON.stringify(ok.problems));
});

test('the init a layer gets where its file names none: He under relu-like activations, LeCun under selu, Glorot otherwise', () => {
  const acts = ['relu', 'silu', 'gelu', 'selu', 'tanh', 'linear'];
  const text = JSON.stringify({
    input: { size: 4 },
    layers: acts.map((activation) => ({ units: 3, activation })),
    loss: 'mse',
  });
  const r = loadModelText('/tmp/defaults.mlp.json', text);
  assert.deepEqual(r.problems, []);
  assert.deepEqual(
    r.spec!.layers.map((l) => l.init.scheme),
    ['he_normal', 'he_normal', 'he_normal', 'lecun_normal', 'xavier_uniform', 'xavier_uniform'],
  );
});
