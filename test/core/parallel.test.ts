/**
 * The batch split over two threads (core/parallel.ts): the merge formulas against direct
 * computation, and whole training runs with a real helper thread (dist/worker.js in helper mode)
 * against the same runs on one thread, plus the failure paths: a helper that fails, one that
 * never starts (Stop still ends the run).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { LayerwiseEvent, StepEvent } from '../../src/protocol/events';
import type { SpawnHelper } from '../../src/core/split-protocol';
import { mergeMoments } from '../../src/core/stats';
import type { SplitPolicy } from '../../src/core/split-governor';
import type { ModelSpec } from '../../src/core/spec';
import { Trainer } from '../../src/core/trainer';
import { ownsFirstLayer } from '../../src/core/network';
import { Rng } from '../../src/core/rng';
import { enableRelaxedSimd } from '../../src/runner/wasm-features';
import { nativeKernels } from '../../src/runner/native-kernels';
import { NativeWasmKernels } from '../../src/core/native-wasm-kernels';
import { ROOT } from '../helpers/cli';

const WORKER = path.join(ROOT, 'dist', 'worker.js');
enableRelaxedSimd();
/** The native products (native-kernels.test.ts checks they load wherever the CPU runs them). */
const NATIVE = nativeKernels(path.join(ROOT, 'dist'));

const spawn: SpawnHelper = (init) => {
  const w = new Worker(WORKER, { workerData: { helper: init }, execArgv: [] });
  w.unref();
  return { terminate: () => void w.terminate() };
};

test('mergeMoments: the mean and population variance of both halves together', () => {
  const rng = new Rng(3);
  for (let trial = 0; trial < 200; trial++) {
    const na = 1 + Math.floor(rng.uniform() * 50),
      nb = Math.floor(rng.uniform() * 50);
    const shift = (rng.uniform() - 0.5) * 1e3;
    const a = Array.from({ length: na }, () => shift + rng.normal()),
      b = Array.from({ length: nb }, () => shift + 3 * rng.normal() + 1);
    const mv = (x: number[]): [number, number] => {
      const m = x.reduce((s, v) => s + v, 0) / x.length;
      return [m, x.reduce((s, v) => s + (v - m) ** 2, 0) / x.length];
    };
    const [ma, va] = mv(a),
      [mb, vb] = nb ? mv(b) : [0, 0],
      [m, v] = mv([...a, ...b]);
    const got = mergeMoments(na, ma, va, nb, mb, vb);
    assert.ok(Math.abs(got.mean - m) <= 1e-12 * Math.max(1, Math.abs(m)), `mean ${got.mean} vs ${m}`);
    assert.ok(Math.abs(got.var - v) <= 1e-9 * Math.max(1, v), `var ${got.var} vs ${v}`);
  }
});

function spec(over: {
  activation: ModelSpec['layers'][number]['activation'];
  batch: number;
  samples: number;
  optimizer?: 'sgd' | 'momentum' | 'adam';
  clip?: boolean;
  bias?: number;
  kernels?: 'ts' | 'native';
  dtype?: 'float64';
  /** 37 (default): the first layer holds most weights, so the split gives each thread half its units. */
  inputSize?: number;
  /** Mean squared error on a regression task (default: cross-entropy on 5 classes). */
  mse?: boolean;
}): ModelSpec {
  const layer = (
    units: number,
    activation: ModelSpec['layers'][number]['activation'],
    bias = 0,
  ): ModelSpec['layers'][number] => ({
    units,
    activation,
    alpha: activation === 'leaky_relu' ? 0.1 : activation === 'elu' ? 1 : 0,
    init: { scheme: 'he_normal', mode: 'fan_in' },
    bias,
  });
  return {
    name: 'split',
    seed: 4,
    dtype: over.dtype ?? 'float32',
    inputSize: over.inputSize ?? 37,
    layers: [layer(48, over.activation, over.bias ?? 0), layer(19, over.activation), layer(5, 'linear')],
    loss: over.mse ? 'mse' : 'cross_entropy',
    training: {
      optimizer: over.optimizer ?? 'sgd',
      learningRate: 0.05,
      momentum: 0.9,
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      batchSize: over.batch,
      shuffle: true,
      steps: 12,
      clip: over.clip ? { mode: 'norm', max: 0.5 } : null,
    },
    data: {
      source: 'synthetic',
      samples: over.samples,
      inputStd: 1,
      task: over.mse ? 'regression' : 'classification',
      classes: 5,
    },
    weights: null,
  };
}

function run(
  s: ModelSpec,
  helper: SpawnHelper | undefined,
  kernels?: 'ts' | 'native',
  policy?: SplitPolicy,
): { events: LayerwiseEvent[]; threads: number; grads: number[][]; kernels: string } {
  const events: LayerwiseEvent[] = [];
  // Small chunks: the forward pass in chunks of rows down to 8, ∂W in chunks of units down to 8
  // (16 16 8 8 8 8 rows of a batch of 64), each unit's W and b updated by the thread that took it
  const t = new Trainer(s, (e) => events.push(e), {
    spawnHelper: helper,
    splitMinFlops: 0,
    splitChunks: { macs: 0 },
    ...(kernels === 'native' ? { kernels: new NativeWasmKernels(NATIVE!) } : kernels ? { kernels } : {}),
    ...(policy ? { adaptiveSplit: true, now: () => 0, splitPolicy: policy } : {}),
  });
  const threads = t.threads;
  t.begin();
  while (!t.done) t.runStep();
  t.finish();
  // the back-propagated gradients' statistics (the detectors' input), every step
  const grads = events.flatMap((e) => (e.type === 'step' ? [e.layers.flatMap((l) => [l.grad.mean, l.grad.var])] : []));
  return { events, threads, grads, kernels: t.net.kernels.name };
}

const CASES = [
  { activation: 'relu', batch: 64, samples: 200 }, // 200 = 3 full batches + a partial one of 8
  { activation: 'relu', batch: 13, samples: 60, bias: -0.6 }, // odd rows; biased units die
  { activation: 'leaky_relu', batch: 9, samples: 40, optimizer: 'momentum', clip: true },
  { activation: 'tanh', batch: 32, samples: 96, optimizer: 'adam' },
  { activation: 'gelu', batch: 16, samples: 64 },
  // the TS kernels over a shared buffer (no WebAssembly, or a float64 network)
  { activation: 'relu', batch: 64, samples: 200, bias: -0.6, kernels: 'ts' },
  { activation: 'leaky_relu', batch: 13, samples: 60, optimizer: 'momentum', clip: true, kernels: 'ts' },
  { activation: 'tanh', batch: 32, samples: 96, optimizer: 'adam', dtype: 'float64' },
  // 8 inputs: the first layer holds a third of the weights and goes by chunks of rows too
  { activation: 'relu', batch: 64, samples: 200, bias: -0.6, inputSize: 8 },
  { activation: 'leaky_relu', batch: 13, samples: 60, optimizer: 'momentum', clip: true, inputSize: 8, kernels: 'ts' },
  // the native products (where the CPU runs them): chunks of rows and of units, odd batches
  { activation: 'relu', batch: 64, samples: 200, bias: -0.6, kernels: 'native' },
  { activation: 'leaky_relu', batch: 13, samples: 60, optimizer: 'momentum', clip: true, kernels: 'native' },
  { activation: 'tanh', batch: 32, samples: 96, optimizer: 'adam', inputSize: 8, kernels: 'native' },
  // a mean-squared-error loss: each thread's rows' terms, added up in row order
  { activation: 'relu', batch: 13, samples: 60, mse: true },
  { activation: 'tanh', batch: 32, samples: 96, optimizer: 'momentum', mse: true, kernels: 'ts' },
] as const;

for (const c of CASES) {
  const k = 'kernels' in c ? c.kernels : undefined;
  const byUnits = ownsFirstLayer(spec(c).layers, spec(c).inputSize);
  test(
    `two threads give one thread's run (${c.activation}, batch ${c.batch} of ${c.samples}${'optimizer' in c ? `, ${c.optimizer}` : ''}${'clip' in c ? ', clipped' : ''}${k === 'ts' ? ', TS kernels' : k ? ', native products' : ''}${'dtype' in c ? `, ${c.dtype}` : ''}${'mse' in c ? ', mse' : ''}; the first layer by ${byUnits ? 'halves of its units' : 'rows'})`,
    { skip: k === 'native' && !NATIVE && 'no native products here' },
    () => {
      assert.equal(byUnits, !('inputSize' in c));
      const one = run(spec(c), undefined, k),
        two = run(spec(c), spawn, k);
      assert.equal(one.threads, 1);
      assert.equal(two.threads, 2);
      assert.equal(two.kernels, k === 'ts' || 'dtype' in c ? 'ts' : one.kernels);
      sameRun(one, two);
      if ('bias' in c)
        assert.ok(
          one.events.some((s) => s.type === 'step' && (s.layers[0]!.dead ?? 0) > 0),
          'the case has dead units to merge',
        );
    },
  );
}

/** A policy that splits steps 0–2, 5–7, … and runs 3–4, 8–9, … on one thread. */
function alternating(): SplitPolicy {
  let k = 0,
    split = 0;
  return {
    next: () => k % 5 < 3,
    record() {
      if (k % 5 < 3) split++;
      k++;
    },
    get splitSteps() {
      return split;
    },
  };
}

for (const c of [CASES[0]!, CASES[5]!, CASES[10]!]) {
  const k = 'kernels' in c ? (c.kernels as 'ts' | 'native') : undefined;
  test(
    `switching between the split and one thread mid-run gives one thread's run (${c.activation}${k === 'ts' ? ', TS kernels' : k ? ', native products' : ''})`,
    { skip: k === 'native' && !NATIVE && 'no native products here' },
    () => {
      const one = run(spec(c), undefined, k),
        mixed = run(spec(c), spawn, k, alternating());
      assert.equal(mixed.threads, 2);
      sameRun(one, mixed);
      const end = mixed.events.find((e) => e.type === 'end')!;
      assert.equal(end.type === 'end' && end.splitSteps, 8, 'steps 0–2, 5–7 and 10–11 of 12 split');
    },
  );
}

/** A policy that splits every step it is asked about (a step run while the helper evaluates λmax is not asked about). */
function always(): SplitPolicy {
  let split = 0;
  return {
    next: () => true,
    record() {
      split++;
    },
    get splitSteps() {
      return split;
    },
  };
}

test("the process's CPU time is read around the steps the policy wants it for, and only those", () => {
  const got: [number | null, number | undefined][] = [];
  let reads = 0,
    k = 0;
  const policy: SplitPolicy = {
    next: () => true,
    wantsCpu: () => k % 4 === 0,
    record(time, cpu) {
      got.push([time, cpu]);
      k++;
    },
    get splitSteps() {
      return k;
    },
  };
  const t = new Trainer(spec(CASES[0]), () => undefined, {
    spawnHelper: spawn,
    splitMinFlops: 0,
    adaptiveSplit: true,
    splitPolicy: policy,
    now: () => 0,
    cpuNow: () => 10 * ++reads,
  });
  t.begin();
  while (!t.done) t.runStep();
  t.finish();
  assert.equal(got.length, 12);
  // steps 4 and 8 (0 takes histograms, by default every 10 steps: not timed): read before and
  // after, 10 ms apart on this clock; the others not at all
  assert.deepEqual(
    got.map(([, cpu]) => cpu),
    got.map(([time], i) => (i % 4 === 0 && time !== null ? 10 : undefined)),
  );
  assert.ok(got[0]![0] === null && got[4]![0] !== null && got[8]![0] !== null);
  assert.ok(reads <= 6, `${reads} reads`);
});

test('λmax on a split run: on the helper while this thread trains alone, the one-thread values exactly, in order', () => {
  for (const k of [undefined, 'ts', 'native', 'float64'] as const) {
    if (k === 'native' && !NATIVE) continue;
    const c = {
      ...CASES[0],
      ...(k === 'float64' ? { dtype: 'float64' as const } : k ? { kernels: k } : {}),
    };
    const s = { ...spec(c), diagnostics: { histogramsEvery: 0, sharpnessEvery: 4 } };
    const kernels = k === 'float64' ? undefined : k;
    const one = run(s, undefined, kernels),
      two = run(s, spawn, kernels, always());
    assert.equal(two.threads, 2);
    sameRun(one, two);
    const sharp = (r: ReturnType<typeof run>): [number, number, number][] =>
      r.events.flatMap((e) => (e.type === 'sharpness' ? [[e.step, e.lambdaMax, e.iterations]] : []));
    assert.deepEqual(
      sharp(one).map((x) => x[0]),
      [0, 4, 8],
    );
    // the same operator on copies of the same arrays, in kernels of the same build
    assert.deepEqual(sharp(two), sharp(one), `${k ?? 'wasm'}: the helper's λmax`);
    // each after its step's event and before the next evaluation's and the end
    const at = (p: (e: LayerwiseEvent) => boolean): number => two.events.findIndex(p);
    for (const step of [0, 4, 8]) {
      const i = at((e) => e.type === 'sharpness' && e.step === step);
      assert.ok(at((e) => e.type === 'step' && e.step === step) < i, `step ${step}'s event first`);
      assert.ok(
        i < at((e) => (e.type === 'sharpness' && e.step > step) || e.type === 'end'),
        `λmax of ${step} in order`,
      );
    }
    // the steps while the helper evaluated ran on this thread alone, unasked
    const end = two.events.find((e) => e.type === 'end')!;
    assert.ok(end.type === 'end' && end.splitSteps! < 12, `${k ?? 'wasm'}: ${JSON.stringify(end)}`);
  }
});

test('λmax on a split run that diverges: every evaluation before the non-finite warning, as on one thread', () => {
  // linear layers: nothing dies or saturates on the way to overflow
  const s = {
    ...spec({ activation: 'linear', batch: 64, samples: 200 }),
    diagnostics: { histogramsEvery: 0, sharpnessEvery: 1 },
  };
  s.training = { ...s.training, learningRate: 5, steps: 40 };
  const one = run(s, undefined),
    two = run(s, spawn, undefined, always());
  const kinds = (r: ReturnType<typeof run>): string[] =>
    r.events.flatMap((e) =>
      e.type === 'sharpness'
        ? [`sharpness ${e.step} ${e.lambdaMax}`]
        : e.type === 'warning'
          ? [`warning ${e.code} ${e.step ?? ''}`]
          : e.type === 'end'
            ? [`end ${e.reason} ${e.steps}`]
            : [],
    );
  const seq = kinds(one);
  assert.ok(
    seq.some((x) => x.startsWith('warning non_finite')),
    seq.join('\n'),
  );
  assert.ok(
    seq.some((x) => x.startsWith('warning sharpness')),
    seq.join('\n'),
  );
  // the update of the failing step overflowed: what it measured before (its λmax) is kept
  const failed = /warning non_finite (\d+)/.exec(seq.join('\n'))![1];
  assert.ok(
    seq.some((x) => x.startsWith(`sharpness ${failed} `)),
    seq.join('\n'),
  );
  // the same evaluations and warnings; the non-finite warning after every λmax
  assert.deepEqual([...kinds(two)].sort(), [...seq].sort());
  const two_ = kinds(two);
  const nf = two_.findIndex((x) => x.startsWith('warning non_finite'));
  assert.ok(
    two_.slice(nf).every((x) => !x.startsWith('sharpness')),
    two_.join('\n'),
  );
});

/** Two runs agree: every statistic within float32 rounding, dead units and warnings exactly. */
function sameRun(one: ReturnType<typeof run>, two: ReturnType<typeof run>): void {
  {
    const a = one.events.filter((e): e is StepEvent => e.type === 'step'),
      b = two.events.filter((e): e is StepEvent => e.type === 'step');
    assert.equal(b.length, a.length);
    assert.equal(a.length, 12);
    const close = (x: number, y: number, what: string): void =>
      assert.ok(Math.abs(x - y) <= 2e-4 * Math.max(Math.abs(y), 1e-3), `${what}: ${x} vs ${y}`);
    a.forEach((s, k) => {
      const t = b[k]!;
      close(t.loss, s.loss, `step ${k} loss`);
      assert.equal(t.loss, s.loss, `step ${k} loss, bit for bit`);
      close(t.gradNorm, s.gradNorm, `step ${k} gradNorm`);
      assert.equal(t.clipped, s.clipped, `step ${k} clipped`);
      s.layers.forEach((l, i) => {
        const m = t.layers[i]!;
        for (const [what, x, y] of [
          ['preact.var', m.preact.var, l.preact.var],
          ['preact.mean', m.preact.mean, l.preact.mean],
          ['act.var', m.act.var, l.act.var],
          ['act.mean', m.act.mean, l.act.mean],
          ['weightGrad.norm', m.weightGrad.norm, l.weightGrad.norm],
          ['weightGrad.var', m.weightGrad.var, l.weightGrad.var],
          ['updateRatio', m.updateRatio, l.updateRatio],
        ] as const)
          close(x, y, `step ${k} layer ${i} ${what}`);
        assert.equal(m.dead, l.dead, `step ${k} layer ${i} dead`);
      });
    });
    one.grads.forEach((g, k) =>
      g.forEach((x, j) => close(two.grads[k]![j]!, x, `step ${k} layer ${j >> 1} dZ ${j & 1 ? 'var' : 'mean'}`)),
    );
    const warn = (e: LayerwiseEvent[]): string[] => e.filter((x) => x.type === 'warning').map((x) => JSON.stringify(x));
    assert.deepEqual(warn(two.events), warn(one.events));
  }
}

test('a helper that fails: the step throws its message instead of hanging', () => {
  const broken: SpawnHelper = (init) => spawn({ ...init, maxBatch: init.maxBatch * 1000 }); // a layout the arena cannot hold
  const t = new Trainer(spec({ activation: 'relu', batch: 32, samples: 64 }), () => undefined, {
    spawnHelper: broken,
    splitMinFlops: 0,
  });
  assert.equal(t.threads, 2);
  t.begin();
  assert.throws(() => t.runStep(), /helper thread: the shared arena is smaller/);
  t.close();
});

test('a helper that never starts: Stop still ends the run within a wait slice', () => {
  const silent: SpawnHelper = () => ({ terminate: () => undefined });
  const t = new Trainer(spec({ activation: 'relu', batch: 32, samples: 64 }), () => undefined, {
    spawnHelper: silent,
    splitMinFlops: 0,
  });
  const t0 = Date.now();
  const end = t.run(() => Date.now() - t0 > 200);
  assert.equal(end.reason, 'stopped');
  assert.ok(Date.now() - t0 < 1000, `ended after ${Date.now() - t0} ms`);
});

/**
 * A helper thread scripted for a test (a file of plain JavaScript): it serves the control block's
 * commands until EXIT, running `handle` on each (in scope: `op`, `seen`, `ctl`, `err` — the error
 * text —, `P` the protocol's words and `workerData`), then says the command is done.
 */
async function scriptedHelper(name: string, handle: string): Promise<SpawnHelper> {
  const { HELPER_PROTOCOL: P } = await import('../../src/core/split-protocol');
  const fs = await import('node:fs');
  const os = await import('node:os');
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'layerwise-helper-')), `${name}.js`);
  fs.writeFileSync(
    file,
    `
    const { workerData } = require('node:worker_threads');
    const P = ${JSON.stringify(P)};
    const ctl = new Int32Array(workerData.control, 0, 16), err = new Uint16Array(workerData.control, P.ERROR_AT, 100);
    Atomics.store(ctl, P.READY, 1);
    let seen = 0;
    for (;;) {
      while (Atomics.load(ctl, P.CMD) === seen) Atomics.wait(ctl, P.CMD, seen, 100);
      seen = Atomics.load(ctl, P.CMD);
      const op = Atomics.load(ctl, P.OP);
      if (op === P.EXIT) break;
      ${handle}
      Atomics.store(ctl, P.DONE, seen);
      Atomics.notify(ctl, P.DONE);
    }`,
  );
  return (init) => {
    const w = new Worker(file, { workerData: init });
    w.unref();
    return { terminate: () => void w.terminate() };
  };
}

test('a helper that fails in the middle of a backward pass: the main thread leaves its barrier and throws the error', async () => {
  // Answers forward passes (its rows stay zero; it arrives at the barrier of the first layer's
  // halves), fails at the first backward pass.
  const scripted = await scriptedHelper(
    'failing-helper',
    `if (op === P.FORWARD) { Atomics.add(ctl, P.BAR, 1); Atomics.notify(ctl, P.BAR); }
      if (op === P.BACKWARD) { const m = 'boom in backward'; for (let i = 0; i < m.length; i++) err[i] = m.charCodeAt(i); Atomics.store(ctl, P.STATUS, 1); }`,
  );
  const t = new Trainer(spec({ activation: 'relu', batch: 32, samples: 64 }), () => undefined, {
    spawnHelper: scripted,
    splitMinFlops: 0,
  });
  t.begin();
  const t0 = Date.now();
  assert.throws(() => t.runStep(), /helper thread: boom in backward/);
  assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
  t.close();
});

test(
  "Stop while a step waits for the helper's λmax: the step is abandoned within a wait slice, the run ends",
  { timeout: 20000 },
  async () => {
    // Takes every λmax evaluation over (TAKEN) and takes 4 s to finish it.
    const scripted = await scriptedHelper(
      'slow-helper',
      `if (op === P.SHARPNESS) {
        Atomics.store(ctl, P.TAKEN, seen);
        Atomics.notify(ctl, P.TAKEN);
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 4000);
        new Float64Array(workerData.sharpness.buffer).set([1, 1]);
      }`,
    );
    const never: SplitPolicy = { next: () => false, record: () => undefined, splitSteps: 0 };
    const events: LayerwiseEvent[] = [];
    const s = { ...spec({ activation: 'relu', batch: 32, samples: 64 }), diagnostics: { sharpnessEvery: 1 } };
    const t = new Trainer(s, (e) => events.push(e), {
      spawnHelper: scripted,
      splitMinFlops: 0,
      adaptiveSplit: true,
      now: () => 0,
      splitPolicy: never,
    });
    assert.equal(t.threads, 2);
    // step 0 hands its λmax over; step 1 waits for it at its own λmax (its passes take far less
    // than 300 ms), and is stopped there
    let since = 0,
      stoppedAt = 0;
    const end = t.run(() => {
      if (t.stepsDone < 1) return false;
      since ||= Date.now();
      if (Date.now() - since < 300) return false;
      stoppedAt ||= Date.now();
      return true;
    });
    assert.equal(end.reason, 'stopped');
    assert.equal(end.steps, 1, 'step 1 abandoned');
    assert.ok(Date.now() - stoppedAt < 1000, `ended ${Date.now() - stoppedAt} ms after the stop`);
    assert.equal(events.filter((e) => e.type === 'sharpness').length, 0, 'no λmax came in before the stop');
    assert.equal(events.at(-1)?.type, 'end');
  },
);

test('barrier: a stop that comes just as the other thread arrives still passes the barrier (the race CI found)', async () => {
  const { arrive, HELPER_PROTOCOL: P } = await import('../../src/core/split-protocol');
  // The other thread arrives inside `stop`, i.e. between the barrier's last look and its stop check.
  const ctl = new Int32Array(new SharedArrayBuffer(64));
  assert.equal(
    arrive(ctl, 1, 0, () => {
      Atomics.add(ctl, P.BAR, 1);
      return true;
    }),
    true,
  );
  // A stop with the other thread absent gives up.
  const lone = new Int32Array(new SharedArrayBuffer(64));
  assert.equal(
    arrive(lone, 1, 0, () => true),
    false,
  );
  // Both arrived: passes without asking.
  const both = new Int32Array(new SharedArrayBuffer(64));
  Atomics.add(both, P.BAR, 1);
  assert.equal(
    arrive(both, 1, 0, () => {
      throw new Error('not asked');
    }),
    true,
  );
});

test('spinWhile: the value as soon as it differs, the held value once the budget runs out', async () => {
  const { spinWhile } = await import('../../src/core/split-protocol');
  const c = new Int32Array(new SharedArrayBuffer(16));
  Atomics.store(c, 1, 7);
  // (a budget that would last hours: returning at all shows it did not poll)
  assert.equal(spinWhile(c, 1, 3, 1e12), 7);
  assert.equal(spinWhile(c, 1, 7, 1000), 7);
  assert.equal(spinWhile(c, 1, 7, 0), 7);
});
