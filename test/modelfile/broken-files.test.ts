/**
 * A corpus of broken model files: each must give exit code 2 and `FILE:LINE:COL: error: PATH …`
 * lines at the offending value, every problem reported, never a stack trace.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCli } from '../helpers/cli';

const GOOD_TAIL = `"loss": "cross_entropy",
  "training": { "steps": 2, "batchSize": 8 },
  "data": { "source": "synthetic", "samples": 16 }`;

interface Case {
  name: string;
  text: string;
  /** Expected error lines: [line, col, path, message pattern]. */
  errors: [number, number, string, RegExp][];
  files?: Record<string, string | Buffer>;
}

const cases: Case[] = [
  {
    name: 'bad activation with suggestion',
    text: `{
  "input": { "size": 4 },
  "layers": [
    { "units": 8, "activation": "rleu" },
    { "units": 3 }
  ],
  ${GOOD_TAIL}
}`,
    errors: [[4, 33, '$.layers[0].activation', /"rleu" is not allowed.*"relu".*did you mean "relu"/]],
  },
  {
    name: 'several problems at once',
    text: `{
  "input": { "size": 0 },
  "layers": [
    { "units": -3, "activation": "relu", "init": "he_normall" },
    { "units": 2.5 }
  ],
  "loss": "hinge",
  "training": { "learningRate": -1, "batchSize": "half", "clip": { "mode": "norm" } }
}`,
    errors: [
      [2, 22, '$.input.size', /must be ≥ 1, not 0/],
      [4, 16, '$.layers[0].units', /must be ≥ 1, not -3/],
      [4, 50, '$.layers[0].init', /"he_normall".*did you mean "he_normal"/],
      [5, 16, '$.layers[1].units', /must be an integer, not 2.5/],
      [7, 11, '$.loss', /"hinge" is not allowed/],
      [8, 33, '$.training.learningRate', /must be > 0, not -1/],
      [8, 50, '$.training.batchSize', /must be an integer or "full", not "half"/],
      [8, 66, '$.training.clip', /missing required property "max"/],
    ],
  },
  {
    name: 'missing required fields',
    text: `{\n  "layers": []\n}`,
    errors: [
      [1, 1, '$', /missing required property "input"/],
      [1, 1, '$', /missing required property "loss"/],
      [2, 13, '$.layers', /at least 1 item/],
    ],
  },
  {
    name: 'syntax: missing comma',
    text: `{\n  "input": { "size": 4 }\n  "layers": []\n}`,
    errors: [[3, 3, '', /invalid JSON: expected "," or "}" after the value of "input"/]],
  },
  {
    name: 'syntax: NaN',
    text: `{\n  "input": { "size": NaN }\n}`,
    errors: [[2, 22, '', /invalid JSON: "NaN" is not a JSON number/]],
  },
  { name: 'syntax: unterminated string', text: `{\n  "name": "abc\n}`, errors: [[2, 11, '', /unterminated string/]] },
  { name: 'syntax: single quotes', text: `{ 'input': 1 }`, errors: [[1, 3, '', /property name in double quotes/]] },
  { name: 'empty file', text: ``, errors: [[1, 1, '', /the file is empty/]] },
  { name: 'only a comment', text: `// nothing here\n`, errors: [[1, 1, '', /the file is empty/]] },
  { name: 'top level is an array', text: `[1, 2]`, errors: [[1, 1, '$', /must be an object, not an array/]] },
  {
    name: 'huge number',
    text: `{\n  "input": { "size": 1e999 },\n  "layers": [{ "units": 2 }],\n  "loss": "mse"\n}`,
    errors: [[2, 22, '$.input.size', /the number 1e999 is out of range/]],
  },
  { name: 'leading zero / hex', text: `{ "seed": 0x10 }`, errors: [[1, 11, '', /invalid number "0x10"/]] },
  {
    name: 'duplicate key',
    text: `{\n  "input": { "size": 4 },\n  "input": { "size": 5 },\n  "layers": [{ "units": 2 }],\n  "loss": "mse"\n}`,
    errors: [[3, 3, '$.input', /duplicate property "input" \(first at line 2, column 3\)/]],
  },
  {
    name: 'classes do not match output units',
    text: `{\n  "input": { "size": 4 },\n  "layers": [{ "units": 3 }],\n  "loss": "cross_entropy",\n  "data": { "source": "synthetic", "classes": 5 }\n}`,
    errors: [[5, 47, '$.data.classes', /5 classes need 5 output units, but the output layer has 3/]],
  },
  {
    name: 'regression task with cross-entropy',
    text: `{\n  "input": { "size": 4 },\n  "layers": [{ "units": 3 }],\n  "loss": "cross_entropy",\n  "data": { "source": "synthetic", "task": "regression" }\n}`,
    errors: [[5, 44, '$.data.task', /regression data needs loss "mse"/]],
  },
  {
    name: 'unknown data source',
    text: `{\n  "input": { "size": 4 },\n  "layers": [{ "units": 3 }],\n  "loss": "cross_entropy",\n  "data": { "source": "parquet" }\n}`,
    errors: [[5, 23, '$.data.source', /"parquet" is not allowed; use one of "synthetic", "csv"/]],
  },
  {
    name: 'deep nesting',
    text: `{ "name": ${'['.repeat(200)}${']'.repeat(200)} }`,
    errors: [[1, 75, '', /nesting deeper than 64 levels/]],
  },
  {
    name: 'memory limit',
    text: `{\n  "input": { "size": 100000 },\n  "layers": [{ "units": 100000 }, { "units": 10 }],\n  "loss": "cross_entropy"\n}`,
    errors: [[3, 13, '$.layers', /needs about [\d.]+ GiB \(1\.00e\+10 parameters.*over the limit of 2\.0 GiB/]],
  },
  {
    name: 'csv missing',
    text: `{\n  "input": { "size": 2 },\n  "layers": [{ "units": 2 }],\n  "loss": "cross_entropy",\n  "data": { "source": "csv", "path": "nope.csv" }\n}`,
    errors: [[5, 38, '$.data.path', /cannot read the CSV file "nope.csv": no such file/]],
  },
  {
    name: 'csv is the model file itself',
    text: `{\n  "input": { "size": 2 },\n  "layers": [{ "units": 2 }],\n  "loss": "cross_entropy",\n  "data": { "source": "csv", "path": "model.mlp.json" }\n}`,
    errors: [[5, 38, '$.data.path', /points at this model file itself/]],
  },
  {
    name: 'csv is a directory',
    text: `{\n  "input": { "size": 2 },\n  "layers": [{ "units": 2 }],\n  "loss": "cross_entropy",\n  "data": { "source": "csv", "path": "." }\n}`,
    errors: [[5, 38, '$.data.path', /is a directory/]],
  },
  {
    name: 'csv problems located in the csv',
    text: `{\n  "input": { "size": 2 },\n  "layers": [{ "units": 3 }],\n  "loss": "cross_entropy",\n  "data": { "source": "csv", "path": "d.csv" }\n}`,
    files: { 'd.csv': 'a,b,y\n1,2,0\n1,x,1\n3,4\n5,6,7\n1,2,1.5\n' },
    errors: [],
  },
  {
    name: 'csv target column unknown',
    text: `{\n  "input": { "size": 2 },\n  "layers": [{ "units": 3 }],\n  "loss": "cross_entropy",\n  "data": { "source": "csv", "path": "d.csv", "target": "label" }\n}`,
    files: { 'd.csv': 'a,b,y\n1,2,0\n' },
    errors: [[5, 57, '$.data.target', /no column "label" in the CSV header; columns: a, b, y/]],
  },
  {
    name: 'csv feature count vs input size',
    text: `{\n  "input": { "size": 3 },\n  "layers": [{ "units": 3 }],\n  "loss": "cross_entropy",\n  "data": { "source": "csv", "path": "d.csv" }\n}`,
    files: { 'd.csv': 'a,b,y\n1,2,0\n' },
    errors: [[2, 22, '$.input.size', /input.size is 3, but the CSV has 2 feature columns \(a, b\)/]],
  },
  {
    name: 'weights with wrong shapes and leftovers',
    text: `{\n  "input": { "size": 3 },\n  "layers": [{ "units": 4, "activation": "relu" }, { "units": 2 }],\n  "loss": "cross_entropy",\n  "weights": "w.safetensors"\n}`,
    files: { 'w.safetensors': 'SAFETENSORS' },
    errors: [],
  },
  {
    name: 'csv is a device',
    text: `{\n  "input": { "size": 2 },\n  "layers": [{ "units": 2 }],\n  "loss": "cross_entropy",\n  "data": { "source": "csv", "path": "/dev/zero" }\n}`,
    errors: [[5, 38, '$.data.path', /is not a regular file/]],
  },
  {
    name: 'steps over the limit',
    text: `{\n  "input": { "size": 2 },\n  "layers": [{ "units": 2 }],\n  "loss": "cross_entropy",\n  "training": { "steps": 1000000000, "batchSize": 100000000 }\n}`,
    errors: [
      [5, 26, '$.training.steps', /must be ≤ 100000000, not 1000000000/],
      [5, 51, '$.training.batchSize', /must be ≤ 10000000/],
    ],
  },
  {
    name: 'model file over 8 MiB',
    text: `{ "name": "${'x'.repeat(9 * 1024 * 1024)}" }`,
    errors: [[1, 1, '', /the model file is 9\.0 MiB; model files over 8\.0 MiB are refused/]],
  },
  { name: 'binary model file', text: '\u0000\u0001\u0002', errors: [[1, 1, '', /not UTF-8 text/]] },
];

function safetensors(tensors: Record<string, { shape: number[] }>): Buffer {
  const header: Record<string, unknown> = {};
  let off = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const n = t.shape.reduce((a, b) => a * b, 1) * 4;
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [off, off + n] };
    off += n;
  }
  const h = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  return Buffer.concat([len, h, Buffer.alloc(off)]);
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'layerwise-broken-'));

for (const c of cases) {
  test(`broken model file: ${c.name}`, () => {
    const d = fs.mkdtempSync(path.join(dir, 'case-'));
    const file = path.join(d, 'model.mlp.json');
    fs.writeFileSync(file, c.text);
    for (const [n, content] of Object.entries(c.files ?? {})) fs.writeFileSync(path.join(d, n), content);
    if (c.name.startsWith('weights'))
      fs.writeFileSync(
        path.join(d, 'w.safetensors'),
        safetensors({
          'net.0.weight': { shape: [4, 2] },
          'net.0.bias': { shape: [4] },
          'net.2.weight': { shape: [2, 4] },
          extra: { shape: [1] },
        }),
      );
    const r = runCli(['run', 'model.mlp.json'], { cwd: d });
    assert.equal(r.code, 2, `exit code; stderr:\n${r.stderr}`);
    assert.doesNotMatch(r.stderr, /\n\s+at .+:\d+:\d+\)?\n|TypeError|RangeError|ReferenceError/, 'no stack trace');
    assert.equal(r.stdout, '');
    const lines = r.stderr
      .trim()
      .split('\n')
      .filter((l) => /: error: /.test(l));
    assert.ok(lines.length > 0);
    for (const [line, col, p, re] of c.errors) {
      const prefix = `model.mlp.json:${line}:${col}: error: ${p ? p + ' ' : ''}`;
      const hit = lines.find((l) => l.startsWith(prefix) && re.test(l));
      assert.ok(hit, `expected "${prefix}" matching ${re}; got:\n${lines.join('\n')}`);
    }
    if (c.name === 'csv problems located in the csv') {
      for (const want of [
        'd.csv:3:3: error: "x" in column "b" is not a number',
        'd.csv:4:1: error: row has 2 fields, expected 3',
        'd.csv:5:5: error: class index 7 in column "y" is out of range',
        'd.csv:6:5: error: class index 1.5 in column "y" is not an integer',
      ])
        assert.ok(
          lines.some((l) => l.startsWith(want)),
          `expected "${want}" in:\n${lines.join('\n')}`,
        );
    }
    if (c.name.startsWith('weights')) {
      const all = lines.join('\n');
      assert.match(
        all,
        /model\.mlp\.json:5:14: error: \$\.weights w\.safetensors: tensor "net\.0\.weight" \(layer 0\) has shape \[4, 2\], expected \[4, 3\]/,
      );
      assert.match(all, /tensor "net\.2\.bias" \(bias of layer 1\) is missing/);
      assert.match(all, /tensor "extra" is left over/);
    }
  });
}

test('unknown properties warn with "did you mean" and the run goes on', () => {
  const d = fs.mkdtempSync(path.join(dir, 'case-'));
  fs.writeFileSync(
    path.join(d, 'model.mlp.json'),
    `{\n  "input": { "size": 4 },\n  "layers": [{ "unts": 3, "units": 3 }],\n  ${GOOD_TAIL}\n}`,
  );
  const r = runCli(['run', 'model.mlp.json', '--json'], { cwd: d });
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stderr,
    /model\.mlp\.json:3:16: warning: \$\.layers\[0\]\.unts unknown property "unts" is ignored \(did you mean "units"\?\)/,
  );
  assert.equal(r.events.at(-1)!.type, 'end');
});

test('BOM, CRLF, comments and trailing commas are accepted; columns count after the BOM', () => {
  const d = fs.mkdtempSync(path.join(dir, 'case-'));
  const text = `\uFEFF{\r\n  // comment\r\n  "input": { "size": 4, },\r\n  /* block */ "layers": [{ "units": 3, "activation": "relu", "init": "he_normal" },],\r\n  ${GOOD_TAIL.replace(/\n/g, '\r\n')},\r\n}\r\n`;
  fs.writeFileSync(path.join(d, 'model.mlp.json'), text);
  assert.equal(runCli(['run', 'model.mlp.json'], { cwd: d }).code, 0);
  fs.writeFileSync(path.join(d, 'model.mlp.json'), text.replace('"units": 3', '"units": "3"'));
  const r = runCli(['run', 'model.mlp.json'], { cwd: d });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /model\.mlp\.json:4:37: error: \$\.layers\[0\]\.units must be an integer, not "3"/);
});

test('CLI usage errors exit 2 with a message', () => {
  for (const args of [
    ['frobnicate'],
    ['run'],
    ['run', 'a.mlp.json', '--steps', '-1'],
    ['run', 'a.mlp.json', '--bogus'],
    ['analyze', 'a.mlp.json', '--steps', '3'],
  ]) {
    const r = runCli(args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.stderr, /^layerwise: .+\nusage:/);
  }
  const dev = runCli(['run', '/dev/zero'], { timeoutMs: 5000 });
  assert.equal(dev.code, 2);
  assert.match(dev.stderr, /^\/dev\/zero:1:1: error: is not a regular file/);
  const missing = runCli(['run', 'does-not-exist.mlp.json']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /^does-not-exist\.mlp\.json:1:1: error: cannot read the model file: no such file/);
});
