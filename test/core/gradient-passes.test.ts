// The gradients' passes around clipping in WebAssembly (assembly/gradients.ts) against clip.ts's and
// stats.ts's TS references: the same values and sums bit for bit, on awkward values and lengths.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WasmKernels } from '../../src/core/wasm-kernels';
import { wasmAvailable } from '../../src/core/wasm-module';
import { clampGradient, clipGradients, scaleGradient } from '../../src/core/clip';
import { gradientSums, normVar } from '../../src/core/stats';
import { Rng } from '../../src/core/rng';

const skip = !wasmAvailable() && 'WebAssembly SIMD is not available';

function kernelsWith(n: number): { k: WasmKernels; alloc: (n: number) => Float32Array } {
  const k = new WasmKernels();
  const alloc = k.createArena('float32', 16 * n + 4096, 64)!;
  return { k, alloc: alloc as (n: number) => Float32Array };
}

/** Gradient-like values, with a few awkward ones: ±0, subnormals, values at and beside a bound. */
function values(n: number, seed: number, c: number): Float32Array {
  const rng = new Rng(seed);
  const g = new Float32Array(n);
  const c32 = Math.fround(c);
  const awkward = [0, -0, 1e-45, -3e-42, c32, -c32, Math.fround(c32 * (1 + 2 ** -23)), c, -c, 3 * c, -7 * c];
  for (let i = 0; i < n; i++) g[i] = i % 5 === 0 ? awkward[(i / 5) % awkward.length]! : rng.normal() * c;
  return g;
}

test('gradientSums in WebAssembly equals the TS reference bit for bit, for every length mod 4', { skip }, () => {
  const { k, alloc } = kernelsWith(4000);
  for (const n of [0, 1, 2, 3, 4, 5, 7, 64, 1001, 4000]) {
    const g = alloc(n);
    g.set(values(n, n + 1, 0.3));
    const ref = new Float64Array(2),
      got = new Float64Array(2);
    gradientSums(Float32Array.from(g), n, ref);
    assert.equal(k.gradientSums(g, n, got), true);
    assert.deepEqual([...got], [...ref], `n = ${n}`);
    // and the sums are the float64 sums (within rounding of a different order)
    let s = 0,
      q = 0;
    for (const x of g) {
      s += x;
      q += x * x;
    }
    assert.ok(Math.abs(ref[0]! - s) <= 1e-12 * (q + 1) && Math.abs(ref[1]! - q) <= 1e-12 * q, `n = ${n}`);
    assert.deepEqual(normVar(g, n, k), normVar(Float32Array.from(g), n));
  }
});

test('scaleGradient and clampGradient in WebAssembly equal the TS references bit for bit', { skip }, () => {
  const { k, alloc } = kernelsWith(6000);
  const scaled = alloc(3000),
    clamped = alloc(3000);
  for (const c of [0.3, 0.1, 1, 2.5e-3, 1e30]) {
    for (const n of [1, 3, 6, 2999]) {
      const g0 = values(n, 7 * n, c);
      // scaled by a factor that rounds: every product is rounded once to float32
      const ref = Float32Array.from(g0),
        got = scaled.subarray(0, n);
      got.set(g0);
      const r = new Float64Array(2),
        w = new Float64Array(2);
      scaleGradient(ref, n, 0.7071067811865476, r);
      assert.equal(k.scaleGradient(got, n, 0.7071067811865476, w), true);
      assert.deepEqual([...got], [...ref], `scale, c ${c}, n ${n}`);
      assert.equal(w[0], r[0]);
      // clamped at ±c, compared in float64 as the reference does
      const cref = Float32Array.from(g0),
        cgot = clamped.subarray(0, n);
      cgot.set(g0);
      clampGradient(cref, n, c, r);
      assert.equal(k.clampGradient(cgot, n, c, w), true);
      assert.deepEqual([...cgot], [...cref], `clamp, c ${c}, n ${n}`);
      assert.deepEqual([...w], [...r], `clamp sums, c ${c}, n ${n}`);
      // every value beyond the bound counted, the others unchanged
      let beyond = 0;
      for (let i = 0; i < n; i++) {
        const x = g0[i]!;
        if (x > c || x < -c) {
          beyond++;
          assert.equal(cref[i], Math.fround(Math.sign(x) * c));
        } else assert.equal(Object.is(cref[i], x), true);
      }
      assert.equal(r[1], beyond);
    }
  }
});

test('a value at a bound that float32 rounds up is counted as beyond it, in both paths', { skip }, () => {
  // 0.1 rounds up to the float32 0.100000001490116…: that value is > 0.1, so it is clipped (to itself)
  const c = 0.1,
    c32 = Math.fround(c);
  assert.ok(c32 > c);
  const { k, alloc } = kernelsWith(16);
  for (const n of [1, 4]) {
    const g = alloc(n);
    g.fill(c32);
    const out = new Float64Array(2);
    k.clampGradient(g, n, c, out);
    assert.equal(out[1], n);
    const ref = new Float32Array(n).fill(c32);
    clampGradient(ref, n, c, out);
    assert.equal(out[1], n);
    // NaN stays and is not counted
    g[0] = NaN;
    k.clampGradient(g, n, c, out);
    assert.ok(Number.isNaN(g[0]) && out[1] === n - 1);
  }
});

test('clipGradients gives the same gradients and norms with and without the WebAssembly passes', { skip }, () => {
  const { k, alloc } = kernelsWith(5000);
  for (const clip of [
    { mode: 'norm', max: 0.5 },
    { mode: 'value', max: 0.05 },
  ] as const) {
    const sizes = [4096, 64, 7, 1];
    const ref = sizes.map((n, i) => values(n, 100 + i, 0.1));
    const got = sizes.map((n, i) => {
      const a = alloc(n);
      a.set(ref[i]!);
      return a;
    });
    const sumSq = ref.reduce((s, g) => s + normVar(g).sumSq, 0);
    const r = clipGradients(clip, ref, sumSq);
    const w = clipGradients(clip, got, sumSq, k);
    assert.deepEqual(w, r);
    assert.equal(r.clipped, true);
    for (let i = 0; i < sizes.length; i++) assert.deepEqual([...got[i]!], [...ref[i]!]);
    if (clip.mode === 'norm') assert.ok(Math.abs(r.gradNormClipped - 0.5) < 1e-6, `${r.gradNormClipped}`);
  }
});
