/**
 * The CLI's --json events against PyTorch: fixtures written by scripts/make_fixtures.py (model
 * file, CSV, safetensors, expected per-step statistics computed with torch autograd/optim).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { compareJson } from '../helpers/compare';
import { ROOT, runCli } from '../helpers/cli';

const FIXTURES = path.join(ROOT, 'test', 'fixtures', 'torch');
const RTOL = 1e-4;

const CONFIGS = [
  {
    kernels: 'auto',
    threads: 2,
    what: 'the fastest kernels (native products where built), batch split over two threads',
  },
  { kernels: 'auto', threads: 1, what: 'the fastest kernels (native products where built)' },
  { kernels: 'wasm', threads: 2, what: 'WebAssembly relaxed SIMD, batch split over two threads' },
  { kernels: 'wasm', threads: 1, what: 'WebAssembly relaxed SIMD (fused multiply-add)' },
  { kernels: 'simd', threads: 1, what: 'WebAssembly SIMD' },
  { kernels: 'ts', threads: 1, what: 'pure-TS kernels' },
  { kernels: 'ts', threads: 2, what: 'pure-TS kernels, batch split over two threads' },
] as const;

for (const { kernels, threads, what } of CONFIGS)
  for (const name of fs.readdirSync(FIXTURES).sort()) {
    test(`matches PyTorch (${what}): ${name}`, () => {
      const dir = path.join(FIXTURES, name);
      const expected = fs
        .readFileSync(path.join(dir, 'expected.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      // --split-min-flops 0: split these small networks too, so the merge is what is tested.
      const r = runCli([
        'run',
        path.join(dir, 'model.mlp.json'),
        '--json',
        '--kernels',
        kernels,
        '--threads',
        String(threads),
        '--split-min-flops',
        '0',
      ]);
      const start = r.events.find((e) => e.type === 'start')!;
      // float64 networks split over the TS kernels' shared buffer
      assert.equal(start.threads, threads, 'threads in start');
      if (kernels !== 'auto') assert.ok(!String(start.kernels).includes('native'), `${kernels}: ${start.kernels}`);
      const expEnd = expected.find((e) => e.type === 'end');
      assert.equal(r.code, expEnd.reason === 'non_finite' ? 3 : 0, r.stderr);
      const steps = r.events.filter((e) => e.type === 'step');
      const expSteps = expected.filter((e) => e.type === 'step');
      assert.equal(steps.length, expSteps.length, 'number of step events');
      const mismatches = compareJson(steps, expSteps, RTOL, 1e-7);
      assert.deepEqual(mismatches.slice(0, 10), [], `${mismatches.length} values differ beyond ${RTOL} relative`);
      const end = r.events.find((e) => e.type === 'end')!;
      assert.equal(end.reason, expEnd.reason);
      assert.equal(end.steps, expEnd.steps);
      for (const w of expected.filter((e) => e.type === 'warning')) {
        const got = r.events.find((e) => e.type === 'warning' && e.code === w.code);
        assert.ok(got, `warning ${w.code} emitted`);
        assert.equal(got.layer, w.layer, `${w.code} layer`);
        assert.equal(got.step, w.step, `${w.code} step`);
        assert.equal(got.severity, 'error');
      }
    });
  }
