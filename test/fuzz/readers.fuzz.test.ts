/**
 * Property-based and mutation fuzzing of the three readers (model file, CSV, safetensors), with a
 * fixed seed and a bounded count (LAYERWISE_FUZZ_RUNS raises it): every input either loads or
 * gives located problems; no exception escapes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import fc from 'fast-check';
import { interpretModel } from '../../src/modelfile/interpret';
import { parseCsv } from '../../src/modelfile/csv';
import { layerWeights, readHeader } from '../../src/modelfile/safetensors';
import { lineCol } from '../../src/modelfile/jsonc';
import { loadModelText } from '../../src/modelfile/load';
import { Trainer } from '../../src/core/trainer';
import { analyze } from '../../src/core/analyze';

const RUNS = Number(process.env.LAYERWISE_FUZZ_RUNS ?? 600);
const SEED = 20261129;
const ROOT = path.resolve(__dirname, '..', '..');
const VALID = [
  'examples/quick.mlp.json',
  'examples/deep-relu-he.mlp.json',
  'test/fixtures/torch/ce_momentum_leaky_clipnorm/model.mlp.json',
].map((f) => fs.readFileSync(path.join(ROOT, f), 'utf8'));
const TOKENS = [
  '{',
  '}',
  '[',
  ']',
  ',',
  ':',
  '"',
  '//',
  '/*',
  '*/',
  '\n',
  '\r\n',
  '\uFEFF',
  'null',
  'true',
  '-',
  '1e999',
  '0x1',
  'NaN',
  '"units"',
  '"layers"',
  '"init"',
  '"relu"',
  '1e-400',
  '-0',
  '"\\u12"',
  '\u0000',
];

/** A mutation of a valid file: delete, duplicate or insert a token at a random place. */
const mutated = fc
  .tuple(
    fc.constantFrom(...VALID),
    fc.array(fc.tuple(fc.nat(), fc.nat(3), fc.constantFrom(...TOKENS), fc.nat(40)), { minLength: 1, maxLength: 4 }),
  )
  .map(([text, edits]) => {
    let s = text;
    for (const [pos, kind, tok, len] of edits) {
      const p = pos % (s.length + 1);
      if (kind === 0) s = s.slice(0, p) + s.slice(p + len);
      else if (kind === 1) s = s.slice(0, p) + tok + s.slice(p);
      else if (kind === 2) s = s.slice(0, p) + s.slice(p, p + len) + s.slice(p);
      else s = s.replace(/-?\d+(\.\d+)?/, ['-5', '0', '1e308', '2.5', '"7"', '1e9'][len % 6]!);
    }
    return s;
  });

/** A line and column that exist in the text: a line of it, and at most one past that line's end. */
function assertInText(text: string, line: number, col: number): void {
  const lines = text.split(/\r\n|\r|\n/);
  assert.ok(Number.isInteger(line) && line >= 1 && line <= lines.length, `line ${line} of ${lines.length}`);
  assert.ok(
    Number.isInteger(col) && col >= 1 && col <= lines[line - 1]!.length + 1,
    `col ${col} of line ${line} (${lines[line - 1]!.length} characters)`,
  );
}

function checkProblemsLocated(text: string, problems: { start: number; end: number; message: string }[]): void {
  for (const p of problems) {
    assert.ok(p.message.length > 0);
    assert.ok(
      p.start >= 0 && p.start <= text.length && p.end >= p.start,
      `range ${p.start}-${p.end} in ${text.length}`,
    );
    const { line, col } = lineCol(text, p.start);
    assertInText(text, line, col);
  }
}

test('model files: random and mutated texts load or give located problems', () => {
  fc.assert(
    fc.property(fc.oneof(mutated, fc.string({ maxLength: 200 }), fc.json({ maxDepth: 4 })), (text) => {
      const r = interpretModel(text);
      if (r.draft === null)
        assert.ok(
          r.problems.some((p) => p.severity === 'error'),
          'a refused model says why',
        );
      checkProblemsLocated(r.text, r.problems);
    }),
    { numRuns: RUNS, seed: SEED },
  );
});

test('CSV: random and mutated tables load or give problems with line and column', () => {
  const cell = fc.oneof(
    fc.double({ noNaN: false }).map(String),
    fc.constantFrom('', 'x', '"1"', '"a,b"', '1e999', ' 2 ', '"', '3\r'),
    fc.integer({ min: -3, max: 5 }).map(String),
  );
  const table = fc
    .array(fc.array(cell, { minLength: 0, maxLength: 5 }), { maxLength: 12 })
    .map((rows) => ['a,b,c', ...rows.map((r) => r.join(','))].join(fc.sample(fc.constantFrom('\n', '\r\n'), 1)[0]));
  fc.assert(
    fc.property(
      fc.oneof(table, fc.string({ maxLength: 100 })),
      fc.constantFrom('classification', 'regression'),
      fc.boolean(),
      (text, task, header) => {
        const r = parseCsv(text, { header, target: null, task: task as 'classification', classes: 3, inputSize: 2 });
        if (r.ok) {
          assert.equal(r.dataset.x.length, r.dataset.samples * 2);
          assert.ok([...r.dataset.x].every(Number.isFinite));
        } else {
          for (const p of r.problems) {
            assert.ok(p.message.length > 0);
            // problems about the model file (target, input size) sit at 1:1; the rest inside the CSV
            assertInText(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text, p.line, p.col);
          }
          // one problem a place; a row refused as malformed is not also counted as a row of the wrong width
          const places = r.problems.filter((p) => !p.modelField).map((p) => `${p.line}:${p.col}`);
          assert.equal(new Set(places).size, places.length, 'one problem a place');
          const quoteRows = new Set(r.problems.filter((p) => /closing quote/.test(p.message)).map((p) => p.line));
          assert.ok(
            !r.problems.some((p) => /^row has/.test(p.message) && quoteRows.has(p.line)),
            'one problem for a row with a closing-quote error',
          );
        }
      },
    ),
    { numRuns: RUNS, seed: SEED },
  );
});

function st(header: unknown, dataBytes: number, lenOverride?: number): Uint8Array {
  const h = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + dataBytes);
  new DataView(out.buffer).setUint32(0, lenOverride ?? h.length, true);
  out.set(h, 8);
  return out;
}

test('safetensors: random headers and bytes give a reader error, never an exception or a huge allocation', () => {
  const dtype = fc.constantFrom('F32', 'F64', 'F16', 'BF16', 'I64', 'U8', 'F8_E4M3', 'X');
  const entry = fc.record({
    dtype,
    shape: fc.array(fc.oneof(fc.nat(6), fc.constant(1e12), fc.constant(-1)), { maxLength: 3 }),
    data_offsets: fc.array(fc.oneof(fc.nat(200), fc.constant(2 ** 60)), { minLength: 0, maxLength: 3 }),
  });
  const header = fc.dictionary(
    fc.constantFrom('net.0.weight', 'net.0.bias', 'net.2.weight', 'net.2.bias', '__metadata__', 'x'),
    entry,
    { maxKeys: 5 },
  );
  fc.assert(
    fc.property(
      fc.oneof(
        fc
          .tuple(header, fc.nat(300), fc.option(fc.oneof(fc.nat(1000), fc.constant(2 ** 31))))
          .map(([h, n, len]) => st(h, n, len ?? undefined)),
        fc.uint8Array({ maxLength: 64 }),
      ),
      (bytes) => {
        const h = readHeader(bytes);
        if (!h.ok) assert.ok(h.errors.length > 0 && h.errors.every((e) => e.length > 0));
        const w = layerWeights(bytes, [{ units: 4 }, { units: 2 }], 3);
        if (!w.ok) assert.ok(w.errors.length > 0);
      },
    ),
    { numRuns: RUNS, seed: SEED },
  );
});

test('mutated model files that load also train and analyze without an exception', () => {
  let trained = 0;
  fc.assert(
    fc.property(mutated, (text) => {
      const r = loadModelText(path.join(ROOT, 'examples', 'fuzz.mlp.json'), text, {
        maxMemoryBytes: 256 * 1024 * 1024,
      });
      if (!r.spec) return;
      const spec = {
        ...r.spec,
        training: { ...r.spec.training, steps: 2 },
        data:
          r.spec.data.source === 'synthetic'
            ? { ...r.spec.data, samples: Math.min(r.spec.data.samples, 256) }
            : r.spec.data,
      };
      const events: string[] = [];
      const end = new Trainer(spec, (e) => events.push(e.type)).run();
      assert.ok(['completed', 'non_finite'].includes(end.reason));
      assert.equal(events[0], 'start');
      analyze(spec);
      trained++;
    }),
    { numRuns: Math.max(50, Math.floor(RUNS / 4)), seed: SEED },
  );
  assert.ok(trained > 5, `only ${trained} mutated files loaded`);
});

/**
 * Paths and sizes: data and weights paths drawn from links in and out of the workspace, control
 * characters, `..`, folders, missing files and FIFOs, loaded trusted and untrusted; safetensors
 * headers around the entry and depth caps. Every case loads or gives located problems; confined,
 * nothing outside the workspace is read (its marker never shows); no message holds a raw control
 * character once printed through the CLI's safeText.
 */
test('paths (links, control characters, .., folders, FIFOs) and sizes around the caps', async () => {
  const os = await import('node:os');
  const { execFileSync } = await import('node:child_process');
  const { safeText } = await import('../../src/cli/format');
  const { MAX_HEADER_ENTRIES, MAX_HEADER_DEPTH } = await import('../../src/modelfile/safetensors');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'lw-fuzz-paths-'));
  const ws = path.join(root, 'ws');
  fs.mkdirSync(path.join(ws, 'sub'), { recursive: true });
  fs.mkdirSync(path.join(root, 'out'));
  fs.writeFileSync(path.join(root, 'out', 'secret.csv'), 'x,y\nSECRET-MARKER,0\n');
  fs.writeFileSync(path.join(ws, 'ok.csv'), 'x,y\n1,0\n2,1\n');
  fs.writeFileSync(path.join(ws, 'bad\u001b[31m.csv'), 'x,y\n\u0007,0\n');
  fs.symlinkSync(path.join(root, 'out', 'secret.csv'), path.join(ws, 'link-out.csv'));
  fs.symlinkSync(path.join(root, 'out'), path.join(ws, 'dir-out'));
  fs.symlinkSync(path.join(ws, 'ok.csv'), path.join(ws, 'sub', 'link-in.csv'));
  fs.symlinkSync(path.join(ws, 'loop-a'), path.join(ws, 'loop-b'));
  fs.symlinkSync(path.join(ws, 'loop-b'), path.join(ws, 'loop-a'));
  try {
    execFileSync('mkfifo', [path.join(ws, 'fifo.csv')]);
  } catch {
    /* no mkfifo: one path fewer */
  }
  const PATHS = [
    'ok.csv',
    'link-out.csv',
    'dir-out/secret.csv',
    'sub/link-in.csv',
    'sub/../ok.csv',
    '../out/secret.csv',
    'bad\u001b[31m.csv',
    'no-such.csv',
    'sub',
    'loop-a',
    'fifo.csv',
    'x\nFILE:1:1: error: forged.csv',
    '\u202etxt.csv',
    '',
    'ok.csv\u0000',
  ];
  fc.assert(
    fc.property(fc.constantFrom(...PATHS), fc.constantFrom(...PATHS), fc.boolean(), (data, weights, confined) => {
      const text = JSON.stringify({
        input: { size: 1 },
        layers: [{ units: 2 }],
        loss: 'cross_entropy',
        data: { source: 'csv', path: data },
        weights: weights.replace(/\.csv$/, '.safetensors'),
      });
      const r = loadModelText(path.join(ws, 'm.mlp.json'), text, confined ? { confineTo: ws } : {});
      if (r.spec === null) assert.ok(r.problems.some((p) => p.severity === 'error'));
      const shown = r.problems.map((p) => safeText(p.message)).join('\n');
      // eslint-disable-next-line no-control-regex -- control characters are what it looks for
      assert.doesNotMatch(shown, /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/);
      if (confined) assert.doesNotMatch(JSON.stringify(r.problems), /SECRET-MARKER/);
    }),
    { numRuns: Math.min(RUNS, 400), seed: SEED },
  );
  // sizes around the caps: entries and depth of a safetensors header
  const header = (json: string): Uint8Array => {
    const h = Buffer.from(json);
    const b = Buffer.alloc(8 + h.length);
    b.writeUInt32LE(h.length, 0);
    h.copy(b, 8);
    return b;
  };
  for (const n of [MAX_HEADER_ENTRIES - 1, MAX_HEADER_ENTRIES, MAX_HEADER_ENTRIES + 1]) {
    const r = readHeader(
      header(
        `{${Array.from({ length: n }, (_, i) => `"t${i}":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`).join(',')}}`,
      ),
    );
    assert.equal(r.ok, n <= MAX_HEADER_ENTRIES, `${n} entries`);
  }
  for (const depth of [MAX_HEADER_DEPTH - 1, MAX_HEADER_DEPTH, MAX_HEADER_DEPTH + 1]) {
    const r = readHeader(header(`{"__metadata__":${'['.repeat(depth - 1)}${']'.repeat(depth - 1)}}`));
    assert.equal(
      r.ok || !/nested/.test((r as { errors: string[] }).errors[0]!),
      depth <= MAX_HEADER_DEPTH,
      `depth ${depth}`,
    );
  }
});
