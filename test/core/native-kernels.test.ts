/**
 * The native dense products (native/kernels.c, built by `npm run build`) behind the WebAssembly
 * kernels: against the pure-TS reference within float32 rounding, and computed in chunks of rows
 * or units (as the batch split deals them) equal to the whole product bit for bit. Where the CPU
 * has no AVX-512 (or this is not x86-64 Linux) there is nothing to load, and that is checked too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tsKernels } from '../../src/core/dense';
import { UpdateSums } from '../../src/core/kernels';
import type { NativeKernels } from '../../src/core/kernels';
import { update } from '../../src/core/optimizers';
import type { TrainingSpec } from '../../src/core/spec';
import { NativeWasmKernels } from '../../src/core/native-wasm-kernels';
import { WasmKernels } from '../../src/core/wasm-kernels';
import { histogram } from '../../src/core/histogram';
import { copyBatchRows } from '../../src/core/data';
import { Rng } from '../../src/core/rng';
import { tsVectors } from '../../src/core/vector-arithmetic';
import { nativeKernels, runKernels } from '../../src/runner/native-kernels';
import { enableRelaxedSimd } from '../../src/runner/wasm-features';
import { ROOT, runCli } from '../helpers/cli';

const DIST = path.join(ROOT, 'dist');
/** Whether the build can make the module here: x86-64 Linux, Node's headers, a C compiler (scripts/build-native.mjs). */
const BUILDS =
  process.platform === 'linux' &&
  process.arch === 'x64' &&
  [process.env.LAYERWISE_NODE_HEADERS, path.resolve(path.dirname(process.execPath), '..', 'include', 'node')].some(
    (d) => d !== undefined && fs.existsSync(path.join(d, 'node_api.h')),
  ) &&
  spawnSync(process.env.CC || 'cc', ['--version'], { stdio: 'ignore' }).status === 0;
const CPU_AVX512 = process.platform === 'linux' && /\bavx512f\b/.test(fs.readFileSync('/proc/cpuinfo', 'utf8'));
const BUILT = fs.existsSync(path.join(DIST, 'layerwise-native.node'));
const AVX512 = BUILT && CPU_AVX512;
enableRelaxedSimd();
const OFF = process.env.LAYERWISE_NATIVE === '0';
const native = nativeKernels(DIST);
const skip = OFF
  ? 'LAYERWISE_NATIVE=0'
  : AVX512
    ? false
    : 'no native kernels built, or no AVX-512 here: the WebAssembly kernels serve alone';

test(
  'the native products load where the CPU runs them, and not elsewhere',
  { skip: OFF && 'LAYERWISE_NATIVE=0' },
  () => {
    if (BUILDS) assert.ok(BUILT, 'npm run build made dist/layerwise-native.node (it can here)');
    assert.equal(native !== null, AVX512, AVX512 ? 'it loads' : 'nothing to load, or a CPU without AVX-512');
    const k = runKernels('auto', DIST);
    assert.equal(typeof k === 'object' ? k.name : k, AVX512 ? 'native-avx512+wasm-relaxed-simd' : 'auto');
    assert.equal(runKernels('wasm', DIST), 'auto', "'wasm' leaves them out");
    const before = process.env.LAYERWISE_NATIVE;
    process.env.LAYERWISE_NATIVE = '0';
    try {
      assert.equal(nativeKernels(DIST), null, 'LAYERWISE_NATIVE=0 leaves them out');
    } finally {
      if (before === undefined) delete process.env.LAYERWISE_NATIVE;
      else process.env.LAYERWISE_NATIVE = before;
    }
  },
);

/** Kernels with the native products over an arena of `floats` values, and a filler of N(0,1) arrays in it. */
function arena(floats: number, scratch: number, rng: Rng): { k: NativeWasmKernels; fill: (n: number) => Float32Array } {
  const k = new NativeWasmKernels(native!);
  const alloc = k.createArena('float32', 4 * floats + 4096, scratch)!;
  return {
    k,
    fill: (n) => {
      const a = alloc(n);
      for (let i = 0; i < n; i++) a[i] = rng.normal();
      return a;
    },
  };
}

/** A layer's inputs in a fresh arena (room for `room`× their size): A, W, b and dZ of N(0,1) values. */
function layer(B: number, K: number, U: number, room: number, rng: Rng) {
  const { k, fill } = arena(room * (B * K + U * K + U + B * U), U * B + U + B + 1, rng);
  return { k, fill, A: fill(B * K), W: fill(U * K), b: fill(U), dZ: fill(B * U) };
}

const SHAPES = [
  [1, 1, 1],
  [4, 8, 8],
  [5, 7, 13],
  [64, 784, 256],
  [3, 33, 9],
  [256, 64, 64],
  [7, 2, 17],
  [13, 16, 10],
  [9, 17, 33],
] as const;

test('forward, weightGrad and inputGrad agree with the TS kernels within float32 rounding', { skip }, () => {
  const rng = new Rng(11);
  for (const [B, K, U] of SHAPES) {
    const { k, fill, A, W, b, dZ } = layer(B, K, U, 4, rng);
    const Z = fill(B * U),
      Zt = new Float32Array(B * U);
    k.forward(A, W, b, Z, B, K, U);
    tsKernels.forward(A, W, b, Zt, B, K, U);
    const dW = fill(U * K),
      dWt = new Float32Array(U * K),
      db = fill(U),
      dbt = new Float32Array(U);
    k.weightGrad(dZ, A, dW, db, B, K, U);
    tsKernels.weightGrad(dZ, A, dWt, dbt, B, K, U);
    const dA = fill(B * K),
      dAt = new Float32Array(B * K);
    k.inputGrad(dZ, W, dA, B, K, U);
    tsKernels.inputGrad(dZ, W, dAt, B, K, U);
    assert.ok(k.nativeProducts >= 2, 'the gradients took the native products');
    for (const [what, x, y, n] of [
      ['forward', Z, Zt, K],
      ['weightGrad', dW, dWt, B],
      ['db', db, dbt, B],
      ['inputGrad', dA, dAt, U],
    ] as const) {
      const tol = 2e-6 * n + 1e-6; // float32 sums of n products of N(0,1) values
      for (let i = 0; i < x.length; i++)
        assert.ok(Math.abs(x[i]! - y[i]!) <= tol, `${what} [${B},${K},${U}] at ${i}: ${x[i]} vs ${y[i]}`);
    }
  }
});

test('a non-finite value spreads as in the dense product: NaN where it meets anything, ∞·0 too', { skip }, () => {
  const rng = new Rng(12);
  const [B, K, U] = [6, 20, 18];
  const { k, fill, A, W, b, dZ } = layer(B, K, U, 4, rng);
  A[2 * K + 5] = NaN;
  W[3 * K + 1] = Infinity;
  dZ.fill(0, 4 * U, 5 * U); // row 4 of dZ all zeros: ∞·0 in dA's row 4
  const Z = fill(B * U),
    dA = fill(B * K),
    Zt = new Float32Array(B * U),
    dAt = new Float32Array(B * K);
  k.forward(A, W, b, Z, B, K, U);
  tsKernels.forward(A, W, b, Zt, B, K, U);
  k.inputGrad(dZ, W, dA, B, K, U);
  tsKernels.inputGrad(dZ, W, dAt, B, K, U);
  const kind = (x: number): string => (Number.isNaN(x) ? 'NaN' : Number.isFinite(x) ? 'finite' : String(x));
  assert.deepEqual(Array.from(Z, kind), Array.from(Zt, kind));
  assert.deepEqual(Array.from(dA, kind), Array.from(dAt, kind));
  assert.ok(Number.isNaN(dA[4 * K + 1]!), '∞ · 0 is NaN');
});

/** Cuts [0, n) at random points (any row, not only multiples of 4), the whole range among them. */
function cuts(n: number, rng: Rng): [number, number][] {
  const at = new Set([0, n]);
  for (let i = 0; i < 4; i++) at.add(Math.floor(rng.uniform() * n));
  const s = [...at].sort((x, y) => x - y);
  return s.slice(1).map((e, i) => [s[i]!, e]);
}

test(
  'products in chunks of rows or units equal the whole product bit for bit (what the split relies on)',
  { skip },
  () => {
    const rng = new Rng(13);
    for (const [B, K, U] of SHAPES) {
      const { k, fill, A, W, b, dZ } = layer(B, K, U, 6, rng);
      const Z = fill(B * U),
        dW = fill(U * K),
        db = fill(U),
        dA = fill(B * K);
      k.forward(A, W, b, Z, B, K, U);
      k.weightGrad(dZ, A, dW, db, B, K, U);
      k.inputGrad(dZ, W, dA, B, K, U);
      for (const [r0, r1] of cuts(B, rng)) {
        const n = r1 - r0;
        const Zc = fill(n * U),
          dAc = fill(n * K);
        k.forward(A.subarray(r0 * K, r1 * K), W, b, Zc, n, K, U);
        k.inputGrad(dZ.subarray(r0 * U, r1 * U), W, dAc, n, K, U);
        assert.deepEqual(Zc, Z.subarray(r0 * U, r1 * U), `forward rows ${r0}–${r1} of [${B},${K},${U}]`);
        assert.deepEqual(dAc, dA.subarray(r0 * K, r1 * K), `inputGrad rows ${r0}–${r1} of [${B},${K},${U}]`);
      }
      const dWc = fill(U * K),
        dbc = fill(U);
      for (const [u0, u1] of cuts(U, rng)) {
        assert.ok(k.weightGradUnits(dZ, A, dWc, dbc, B, K, U, u0, u1));
        // the first layer split by units: Z's columns u0..u1 from W's rows u0..u1
        const w = u1 - u0,
          Zu = fill(B * w);
        k.forward(A, W.subarray(u0 * K, u1 * K), b.subarray(u0, u1), Zu, B, K, w);
        for (let i = 0; i < B; i++)
          assert.deepEqual(
            Zu.subarray(i * w, (i + 1) * w),
            Z.subarray(i * U + u0, i * U + u1),
            `forward units ${u0}–${u1}`,
          );
      }
      assert.deepEqual(dWc, dW, `weightGrad by units of [${B},${K},${U}]`);
      assert.deepEqual(dbc, db);
    }
  },
);

test(
  'products asked to fetch what the thread uses next (an Ahead, to read or to write) give the same values and leave it as it was',
  { skip },
  () => {
    assert.equal(native!.ahead, true, 'this module takes an Ahead');
    const rng = new Rng(15);
    for (const [B, K, U] of SHAPES) {
      const { k, fill, A, W, b, dZ } = layer(B, K, U, 8, rng);
      const next = fill(2 * U * K + 17),
        before = next.slice();
      const Z = fill(B * U),
        dW = fill(U * K),
        db = fill(U);
      k.forward(A, W, b, Z, B, K, U);
      assert.ok(k.weightGradUnits(dZ, A, dW, db, B, K, U, 0, U));
      // the whole region, a part of it, one value; and an array outside the arena (nothing asked)
      const regions = [
        [next, 0, next.length],
        [next, 5, 5 + U * K],
        [next, next.length - 1, next.length],
        [new Float32Array(64), 0, 64],
      ] as const;
      const Za = fill(B * U),
        dWa = fill(U * K),
        dba = fill(U);
      for (const [array, from, to] of regions)
        for (const write of [false, true]) {
          const ahead = { array, from, to, write };
          Za.fill(NaN);
          dWa.fill(NaN);
          dba.fill(NaN);
          k.forward(A, W, b, Za, B, K, U, ahead);
          assert.ok(k.weightGradUnits(dZ, A, dWa, dba, B, K, U, 0, U, { zeroShare: 0, ahead }));
          const what = `[${B},${K},${U}] ahead ${from}–${to}${write ? ' to write' : ''}`;
          assert.deepEqual(Za, Z, `forward ${what}`);
          assert.deepEqual(dWa, dW, `weightGrad ${what}`);
          assert.deepEqual(dba, db);
        }
      assert.deepEqual(next, before, 'what was fetched is unchanged');
    }
  },
);

test('arrays outside the memory are refused with an error, never read', { skip }, () => {
  const { k, fill } = arena(1024, 64, new Rng(14));
  fill(16);
  const mem = (k as unknown as { all: Float32Array }).all;
  const n = mem.length;
  assert.throws(() => native!.forward(mem, n - 4, 0, -1, 0, 2, 4, 2), /outside the memory/);
  assert.throws(() => native!.inputGrad(mem, 0, 0, n, 1, 1, 1), /outside the memory/);
  assert.throws(() => native!.weightGrad(mem, 0, 0, 0, 2, 2, 2, 1, 3), /outside the memory/);
  // an Ahead past the memory's end, or before its start
  assert.throws(() => native!.forward(mem, 0, 0, -1, 0, 2, 4, 2, n - 8, 9, 0), /outside the memory/);
  assert.throws(() => native!.weightGrad(mem, 0, 0, 0, 2, 2, 2, 0, 2, -1, 4, 1), /outside the memory/);
  assert.throws(() => (native!.forward as (...a: unknown[]) => void)(mem, 0, 0, -1, 0, 2, 4, 2, 0), /bad arguments/);
  assert.throws(() => native!.forward(new Float64Array(4) as never, 0, 0, -1, 0, 1, 1, 1), /bad arguments/);
});

test(
  "a batch's rows into X: copyBatchRows's values, any rows of any order, from a shared or plain source",
  { skip },
  () => {
    const d = 37,
      samples = 50;
    const rng = new Rng(21);
    const { k, fill } = arena(64 * d + samples * d + 64, 16, rng);
    for (const shared of [false, true]) {
      const x = shared ? new Float32Array(new SharedArrayBuffer(4 * samples * d)) : new Float32Array(samples * d);
      for (let i = 0; i < x.length; i++) x[i] = rng.normal();
      const order = Uint32Array.from({ length: samples }, (_, i) => (i * 17) % samples); // a permutation
      const X = fill(13 * d),
        want = new Float32Array(13 * d);
      // the JS loop (kernels that do not serve it) as the reference, then the kernels: rows 3–12, then 0–3
      copyBatchRows({ x, order, inputSize: d }, { start: 29, rows: 13 }, 0, 13, want);
      assert.equal(k.gatherRows(x, order, 29, 3, 13, d, X), true);
      assert.equal(k.gatherRows(x, order, 29, 0, 3, d, X), true);
      assert.deepEqual(X, want);
      X.fill(0);
      copyBatchRows({ x, order, inputSize: d }, { start: 29, rows: 13 }, 0, 13, X, k);
      assert.deepEqual(X, want);
    }
    // not its to serve: an X outside its memory, a float64 source
    const x = new Float32Array(samples * d),
      order = new Uint32Array(samples);
    assert.equal(k.gatherRows(x, order, 0, 0, 2, d, new Float32Array(2 * d)), false);
    assert.equal(k.gatherRows(new Float64Array(samples * d), order, 0, 0, 2, d, fill(2 * d)), false);
    // refused, never read or written: rows past the order, a row index past the source, X past the memory
    const mem = (k as unknown as { all: Float32Array }).all;
    assert.throws(() => native!.copyRows!(mem, 0, x, order, samples - 1, 2, d), /outside the memory/);
    assert.throws(() => native!.copyRows!(mem, 0, x, Uint32Array.of(samples), 0, 1, d), /outside the source/);
    assert.throws(() => native!.copyRows!(mem, mem.length - d, x, order, 0, 2, d), /outside the memory/);
    assert.throws(() => native!.copyRows!(mem, 0, new Float64Array(4) as never, order, 0, 1, 1), /bad arguments/);
  },
);

test('the optimiser step: θ and its state the TS reference bit for bit, the sums within 1e-9', { skip }, () => {
  const rng = new Rng(15);
  for (const optimizer of ['sgd', 'momentum', 'adam'] as const)
    for (const n of [1, 7, 8, 9, 100, 4099])
      for (const t of [1, 2, 5]) {
        const spec = {
          optimizer,
          learningRate: 0.01 + rng.uniform(),
          momentum: 0.9,
          beta1: 0.9,
          beta2: 0.999,
          eps: 1e-8,
        } as unknown as TrainingSpec;
        const { k, fill } = arena(8 * n, 64, rng);
        const theta = fill(n),
          g = fill(n),
          m = fill(n),
          v = fill(n);
        for (let i = 0; i < n; i++) v[i] = Math.abs(v[i]!); // in place: the arena's array
        const ref = { theta: theta.slice(), m: m.slice(), v: v.slice() };
        const state = { m: optimizer === 'sgd' ? null : m, v: optimizer === 'adam' ? v : null };
        const acc = new UpdateSums(),
          want = new UpdateSums();
        assert.ok(k.update(spec, theta, g, state, t, n, acc), `served: ${optimizer}, n ${n}, step ${t}`);
        update(spec, ref.theta, g.slice(), { m: state.m ? ref.m : null, v: state.v ? ref.v : null }, t, n, want);
        const what = `${optimizer}, n ${n}, step ${t}`;
        assert.deepEqual(theta, ref.theta, `θ, ${what}`);
        if (state.m) assert.deepEqual(m, ref.m, `m, ${what}`);
        if (state.v) assert.deepEqual(v, ref.v, `v, ${what}`);
        for (const key of ['deltaSq', 'theta', 'theta2', 'grad', 'grad2'] as const) {
          const scale =
            key === 'theta' || key === 'grad' ? Math.sqrt(n * (want.theta2 + want.grad2)) : Math.abs(want[key]);
          assert.ok(
            Math.abs(acc[key] - want[key]) <= 1e-9 * scale + 1e-300,
            `${key}, ${what}: ${acc[key]} vs ${want[key]}`,
          );
        }
      }
});

test('the CLI says when a run is on the native kernels, and --kernels wasm leaves them out', { skip }, () => {
  const model = path.join(ROOT, 'examples', 'quick.mlp.json');
  const first = (args: string[]): string => runCli(['run', model, '--steps', '2', ...args]).stdout.split('\n')[0]!;
  assert.match(first([]), /, native kernels$/);
  assert.doesNotMatch(first(['--kernels', 'wasm']), /native/);
  const start = runCli(['run', model, '--steps', '2', '--json']).events.find((e) => e.type === 'start')!;
  assert.equal(start.kernels, 'native-avx512+wasm-relaxed-simd');
});

/** Equal values, one by one (Object.is: −0 is not 0, NaN is NaN whatever its bits). */
function same(a: ArrayLike<number>, b: ArrayLike<number>, what?: string): void {
  assert.deepEqual(Array.from(a), Array.from(b), what);
}

/** N(0,1) values with zeros, −0, NaN, ±∞, subnormals and large ones mixed in, at `holes` of the places. */
function rough(n: number, rng: Rng, holes: number): Float32Array {
  const special = [0, -0, NaN, Infinity, -Infinity, 1e-40, -3e-39, 3e30, -2.5e30, 1, -1];
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++)
    a[i] = rng.uniform() < holes ? special[Math.floor(rng.uniform() * special.length)]! : rng.normal() * 3 - 0.5;
  return a;
}

/**
 * Sums of n values in another order: equal where either is not finite, else within 1e-12 of the
 * scale (√(n·Σx²) for Σx, Σx² itself for Σx²): [Σx, Σx², (Σy, Σy²,) …] pairs at `pairs`, the rest exact.
 */
function closeSums(a: Float64Array, b: Float64Array, n: number, pairs: number, what: string): void {
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!,
      y = b[i]!;
    if (i >= 2 * pairs || !Number.isFinite(x) || !Number.isFinite(y)) {
      assert.ok(Object.is(x, y), `${what}: sum ${i} ${x} against ${y}`);
      continue;
    }
    const sq = Math.abs(i % 2 === 0 ? b[i + 1]! : y);
    const scale = i % 2 === 0 ? Math.sqrt(n * sq) : sq;
    assert.ok(Math.abs(x - y) <= 1e-12 * scale + 1e-300, `${what}: sum ${i} ${x} against ${y}`);
  }
}

test(
  'the ReLU passes give the WebAssembly module’s values (their sums within rounding), the histograms its results bit for bit',
  { skip },
  () => {
    const rng = new Rng(16);
    // both kinds of kernels over arenas of their own, room for `floats` values; `pair` copies an array into both
    const calls = { reluForward: 0, reluBackward: 0, histogramMoments: 0, histogramSlots: 0 };
    const n0 = native!;
    const counted: NativeKernels = {
      ...n0,
      reluForward: (...a) => (calls.reluForward++, n0.reluForward(...a)),
      reluBackward: (...a) => (calls.reluBackward++, n0.reluBackward(...a)),
      histogramMoments: (...a) => (calls.histogramMoments++, n0.histogramMoments(...a)),
      histogramSlots: (...a) => (calls.histogramSlots++, n0.histogramSlots(...a)),
    };
    const fresh = (floats: number) => {
      const nat = new NativeWasmKernels(counted),
        wasm = new WasmKernels();
      const allocN = nat.createArena('float32', 4 * floats + 4096, 4096)!,
        allocW = wasm.createArena('float32', 4 * floats + 4096, 4096)!;
      const pair = (src: Float32Array): [Float32Array, Float32Array] => {
        const x = allocN(src.length),
          y = allocW(src.length);
        x.set(src);
        y.set(src);
        return [x, y];
      };
      return { nat, wasm, pair };
    };
    for (const [B, U] of [
      [1, 1],
      [1, 3],
      [2, 4],
      [3, 5],
      [7, 9],
      [16, 64],
      [13, 130],
      [256, 64],
    ] as const) {
      for (const holes of [0, 0.05, 0.5]) {
        const { nat, wasm, pair } = fresh(12 * B * U);
        const Z = rough(B * U, rng, holes),
          G = rough(B * U, rng, holes);
        for (const act of [
          { name: 'relu', alpha: 0 },
          { name: 'leaky_relu', alpha: 0.01 },
          { name: 'leaky_relu', alpha: 0.3 },
        ] as const) {
          const what = `${act.name} ${act.alpha}, ${B}×${U}, holes ${holes}`;
          const [zN, zW] = pair(Z),
            [aN, aW] = pair(new Float32Array(B * U).fill(7));
          const sN = new Float64Array(5),
            sW = new Float64Array(5),
            liveN = new Uint8Array(U),
            liveW = new Uint8Array(U);
          const z0 = Z[0]! === Z[0]! ? Z[0]! : 0.25;
          assert.ok(nat.activate(act, zN, aN, B, U, z0, 0.5, sN, liveN), `served: ${what}`);
          assert.ok(wasm.activate(act, zW, aW, B, U, z0, 0.5, sW, liveW));
          same(aN, aW, `A, ${what}`);
          closeSums(sN, sW, B * U, 2, `forward sums, ${what}`);
          same(liveN, liveW, `live units, ${what}`);
          const [gN, gW] = pair(G);
          const dN = new Float64Array(3),
            dW = new Float64Array(3);
          assert.ok(nat.derivative(act, zN, gN, B * U, dN));
          assert.ok(wasm.derivative(act, zW, gW, B * U, dW));
          same(gN, gW, `dZ, ${what}`);
          closeSums(dN, dW, B * U, 1, `backward sums, ${what}`);
        }
        // linear: dZ as it is, its sums
        const [gN, gW] = pair(G),
          [zN, zW] = pair(Z);
        const dN = new Float64Array(3),
          dW = new Float64Array(3);
        nat.derivative({ name: 'linear', alpha: 0 }, zN, gN, B * U, dN);
        wasm.derivative({ name: 'linear', alpha: 0 }, zW, gW, B * U, dW);
        same(gN, G);
        closeSums(dN, dW, B * U, 1, `linear sums, ${B}×${U}`);
      }
    }
    for (const n of [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 100, 1027, 16_384])
      for (const holes of [0, 0.02, 0.3, 1]) {
        const { nat, wasm, pair } = fresh(3 * n);
        const src = rough(n, rng, holes);
        if (holes === 0 && n > 4) src[n - 1] = src[0]! + 40; // a value beyond 4σ
        const [x, y] = pair(src);
        const mN = new Float64Array(7),
          mW = new Float64Array(7);
        assert.ok(nat.histogramMoments(x, n, mN) && wasm.histogramMoments(y, n, mW));
        same(mN, mW, `first pass over ${n} values, holes ${holes}`);
        const want = histogram(src, n);
        assert.deepEqual(histogram(x, n, nat), want, `histogram of ${n} values, holes ${holes}`);
        assert.deepEqual(histogram(y, n, wasm), want);
        // values that agree to rounding: one bin
        const flat = new Float32Array(n).fill(3.25);
        assert.deepEqual(histogram(pair(flat)[0], n, nat), histogram(flat, n), `${n} equal values`);
      }
    // the native code served every pass above (a histogram's second pass only where a value is counted)
    assert.deepEqual([calls.reluForward, calls.reluBackward, calls.histogramMoments], [72, 96, 180]);
    assert.ok(calls.histogramSlots >= 100, `${calls.histogramSlots} second passes`);
  },
);

test(
  "the Hessian products' elementwise passes: addInto and mulInto the module's bit for bit (every length mod 16, zeros, ±0, ±∞, NaN)",
  { skip },
  () => {
    enableRelaxedSimd();
    const specials = [0, -0, Infinity, -Infinity, NaN, 1e-45, -3.4e38, 3.4e38];
    for (const n of [0, 1, 5, 15, 16, 17, 31, 33, 1000, 16387]) {
      const results = [new NativeWasmKernels(native!), new WasmKernels('relaxed')].map((k) => {
        const alloc = k.createArena('float32', 4 * (4 * n + 64) + 4096, 16)!;
        const r = new Rng(n + 1);
        const [y, x, d, p] = [alloc(n), alloc(n), alloc(n), alloc(n)];
        for (const a of [y, x, d])
          for (let i = 0; i < n; i++) a[i] = r.nextU32() % 7 === 0 ? specials[r.nextU32() % 8]! : r.normal();
        for (let i = 0; i < n; i++) if (r.nextU32() % 3 === 0) d[i] = 0; // ReLU's f′
        assert.ok(k.addInto(y, x, n), `${k.name} served addInto`);
        const zeros = k.mulInto(p, d, y, n);
        const inPlace = k.mulInto(x, d, x, n);
        return { y: Float32Array.from(y), p: Float32Array.from(p), x: Float32Array.from(x), zeros, inPlace };
      });
      const [nat, wasm] = results as [(typeof results)[0], (typeof results)[0]];
      for (const key of ['y', 'p', 'x'] as const)
        for (let i = 0; i < n; i++)
          assert.ok(
            Object.is(nat[key][i], wasm[key][i]),
            `n=${n}: ${key}[${i}] ${nat[key][i]} against ${wasm[key][i]}`,
          );
      assert.equal(nat.zeros, wasm.zeros, `n=${n}: the zeros`);
      assert.equal(nat.inPlace, wasm.inPlace, `n=${n}: the zeros, in place`);
      if (n === 16387) assert.ok(Number(nat.zeros) > 4000, 'the zeros are counted');
    }
    // the native code refuses arrays outside the memory
    const { k } = arena(1024, 64, new Rng(3));
    const mem = (k as unknown as { all: Float32Array }).all;
    assert.throws(() => native!.addInto!(mem, mem.length - 4, 0, 8), /outside the memory/);
    assert.throws(() => native!.mulInto!(mem, 0, 0, mem.length - 1, 2), /outside the memory/);
  },
);

test("λmax's Gram matrix: the native and WebAssembly kernels give input-basis.ts's sums bit for bit", { skip }, () => {
  enableRelaxedSimd();
  const rng = new Rng(23);
  // X·Xᵀ as the TS reference sums it: float64 products over even k and over odd k, in order of k,
  // the last term of an odd n into the even sum, then even + odd
  const reference = (X: Float32Array, B: number, n: number): Float64Array => {
    const G = new Float64Array(B * B);
    for (let i = 0; i < B; i++)
      for (let j = 0; j < B; j++) {
        let e = 0,
          o = 0,
          k = 0;
        for (; k + 1 < n; k += 2) {
          e += X[i * n + k]! * X[j * n + k]!;
          o += X[i * n + k + 1]! * X[j * n + k + 1]!;
        }
        if (k < n) e += X[i * n + k]! * X[j * n + k]!;
        G[i * B + j] = e + o;
      }
    return G;
  };
  for (const [B, n, holes] of [
    [1, 1, 0],
    [3, 0, 0],
    [6, 40, 0],
    [31, 9, 0.1],
    [33, 784, 0],
    [64, 784, 0],
    [70, 141, 0.02],
  ] as const) {
    const floats = B * n + 2 * B * B + 64;
    for (const k of [new NativeWasmKernels(native!), new WasmKernels('relaxed')]) {
      const alloc = k.createArena('float32', 4 * floats + 4096, 2 * B * B + 16)!;
      const X = alloc(B * n);
      X.set(rough(B * n, rng, holes));
      const G = new Float64Array(B * B).fill(7);
      assert.ok(k.gram(X, B, n, G), `${k.name} served B=${B}`);
      same(G, reference(X, B, n), `${k.name}: B=${B}, n=${n}`);
    }
  }
  // the native code refuses arrays outside the memory
  const { k } = arena(1024, 64, rng);
  const mem = (k as unknown as { all: Float32Array }).all;
  assert.throws(() => native!.gram!(mem, mem.length - 4, 2, 4, 0), /outside the memory/);
  assert.throws(() => native!.gram!(mem, 0, 8, 8, 1), /outside the memory/);
});

test(
  "Lanczos's float32 passes: the native code gives the TS reference's (and the module's) results bit for bit",
  { skip },
  () => {
    enableRelaxedSimd();
    assert.ok(native!.lanczos, 'this build has them');
    const rng = new Rng(29);
    const withNative = new NativeWasmKernels(native!).vectors()!,
      module = new WasmKernels('relaxed').vectors()!;
    for (const n of [0, 1, 7, 15, 16, 17, 31, 33, 100, 85002]) {
      const values = () =>
        Float32Array.from({ length: n }, () => rng.normal() * 10 ** Math.floor(6 * rng.uniform() - 3));
      const u = values(),
        x = values(),
        y = values();
      // specials in u where n allows: infinities, NaN, signed zeros, a subnormal
      [Infinity, -Infinity, NaN, -0, 0, 1e-45].forEach((v, i) => {
        if (5 * i + 3 < n && n < 1000) u[5 * i + 3] = v;
      });
      const c = rng.normal(),
        a = rng.normal();
      const refW = new Float32Array(n);
      const refAlpha = tsVectors.alpha32(u, c, x, y),
        refNorm = tsVectors.residual32(refW, u, c, x, a, y);
      const refScaled = Float32Array.from(refW);
      tsVectors.scale32(refScaled, 1 / 3);
      for (const V of [withNative, module]) {
        const [U, X, Y, W] = V.arrays(n, 0, 4).f32 as [Float32Array, Float32Array, Float32Array, Float32Array];
        U.set(u);
        X.set(x);
        Y.set(y);
        W.fill(5);
        assert.ok(Object.is(V.alpha32(U, c, X, Y), refAlpha), `alpha32 n=${n} ${V === module ? 'module' : 'native'}`);
        assert.ok(Object.is(V.residual32(W, U, c, X, a, Y), refNorm), `residual32 n=${n}`);
        assert.deepStrictEqual(W, refW, `residual32's vector n=${n}`);
        V.scale32(W, 1 / 3);
        assert.deepStrictEqual(W, refScaled, `scale32 n=${n}`);
      }
    }
    // native: arrays of any memory (plain Float32Arrays here), the copy where given; short or
    // other arrays are refused with an error, never read
    const u = Float32Array.from({ length: 40 }, () => rng.normal()),
      x = Float32Array.from({ length: 40 }, () => rng.normal()),
      w = new Float32Array(40);
    const ln = native!.lanczos!;
    assert.ok(Object.is(ln.alpha32(u, 0.5, x, u), tsVectors.alpha32(u, 0.5, x, u)));
    const refW = new Float32Array(40);
    assert.ok(Object.is(ln.residual32(w, u, 0.5, x, 2, u), tsVectors.residual32(refW, u, 0.5, x, 2, u)));
    assert.deepStrictEqual(w, refW);
    const copy = new Float32Array(41).fill(9);
    ln.scale32(w, 0.7, copy);
    tsVectors.scale32(refW, 0.7);
    assert.deepStrictEqual(w, refW);
    assert.deepStrictEqual(copy.subarray(0, 40), refW);
    assert.equal(copy[40], 9);
    assert.ok(withNative.reaches(u) && !module.reaches(u) && tsVectors.reaches(u));
    // empty arrays of their own (no memory behind them) are no error: nothing to add up
    const none = new Float32Array(0);
    assert.equal(withNative.alpha32(none, 1, none, none), 0);
    assert.equal(withNative.residual32(none, none, 1, none, 1, none), 0);
    withNative.scale32(none, 2, new Float32Array(0));
    withNative.addScaledAll(new Float64Array(0), [1], [none]);
    // the Ritz vector: v + Σ cⱼqⱼ added in order of j, as the reference adds them, 1 to 21 vectors
    for (const n of [1, 7, 8, 9, 23, 1000]) {
      const qs = Array.from({ length: 21 }, () => Float32Array.from({ length: n }, () => rng.normal()));
      for (const m of [1, 4, 5, 21]) {
        const cs = Float64Array.from({ length: m }, () => rng.normal() * 10 ** Math.floor(4 * rng.uniform() - 2));
        const v = Float64Array.from({ length: n }, () => rng.normal()),
          ref = Float64Array.from(v);
        tsVectors.addScaledAll(ref, cs, qs.slice(0, m));
        ln.addScaledAll(v, cs, qs.slice(0, m));
        assert.deepStrictEqual(v, ref, `addScaledAll n=${n} m=${m}`);
        const w = Float64Array.from({ length: n }, () => 1),
          wRef = Float64Array.from(w);
        withNative.addScaledAll(w, Array.from(cs), qs.slice(0, m));
        tsVectors.addScaledAll(wRef, cs, qs.slice(0, m));
        assert.deepStrictEqual(w, wRef, `addScaledAll through the vector arithmetic n=${n} m=${m}`);
      }
    }
    assert.throws(() => ln.addScaledAll(new Float64Array(4), new Float64Array(2), [u]), /bad arguments/);
    assert.throws(() => ln.addScaledAll(new Float64Array(50), new Float64Array(1), [u]), /bad arguments/);
    assert.throws(() => ln.alpha32(u, 1, x.subarray(1), u), /bad arguments/);
    assert.throws(() => ln.residual32(w.subarray(1), u, 1, x, 1, u), /bad arguments/);
    assert.throws(() => ln.scale32(w, 1, new Float32Array(3)), /bad arguments/);
    assert.throws(() => ln.alpha32(new Float64Array(40) as never, 1, x, u), /bad arguments/);
  },
);
