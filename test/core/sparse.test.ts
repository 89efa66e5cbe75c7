/**
 * Products that skip the zeros of an operand (behind a ReLU about half of dZ and of A are zero):
 * they must give the dense product's result bit for bit, take the dense path when the other
 * operand is not finite (0·∞ = NaN must still show), and run only where the zeros are.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tsKernels, tsProducts } from '../../src/core/dense';
import { WasmKernels } from '../../src/core/wasm-kernels';
import type { GradPlan } from '../../src/core/kernels';
import { Rng } from '../../src/core/rng';
import { enableRelaxedSimd } from '../../src/runner/wasm-features';

/** n values, N(0,1), each zero with probability `zeros` (a few of them −0). */
function draw(rng: Rng, n: number, zeros: number, into: Float32Array = new Float32Array(n)): Float32Array {
  for (let i = 0; i < n; i++) into[i] = rng.uniform() < zeros ? (i % 7 === 0 ? -0 : 0) : rng.normal();
  return into;
}

/** C = S·Q + bias in double precision, summed in ascending inner index, rounded once to float32 (the TS kernels' definition). */
function reference(
  M: number,
  J: number,
  N: number,
  s: (r: number, j: number) => number,
  q: (j: number, n: number) => number,
  bias?: Float32Array,
): Float32Array {
  const C = new Float32Array(M * N);
  for (let r = 0; r < M; r++)
    for (let n = 0; n < N; n++) {
      let a = 0;
      for (let j = 0; j < J; j++) a += s(r, j) * q(j, n);
      C[r * N + n] = a + (bias ? bias[n]! : 0);
    }
  return C;
}

/** Element-wise identity, NaN equal to NaN and +0 distinct from −0. */
function sameBits(x: Float32Array, y: Float32Array, what: string): void {
  assert.equal(x.length, y.length);
  for (let i = 0; i < x.length; i++) assert.ok(Object.is(x[i], y[i]), `${what} at ${i}: ${x[i]} vs ${y[i]}`);
}

const SHAPES = [
  [1, 1, 1],
  [2, 3, 5],
  [7, 13, 6],
  [9, 11, 17],
  [64, 784, 256],
  [5, 1, 31],
  [1, 40, 3],
  [33, 12, 19],
] as const;

test('TS kernels: forward, weightGrad and inputGrad over mostly-zero operands equal the double-precision definition bit for bit', () => {
  const rng = new Rng(11);
  for (const [B, K, U] of SHAPES) {
    for (const zeros of [0, 0.5, 0.9, 1]) {
      const before = { ...tsProducts };
      const A = draw(rng, B * K, zeros),
        W = draw(rng, U * K, 0),
        b = draw(rng, U, 0),
        dZ = draw(rng, B * U, zeros);
      const Z = new Float32Array(B * U),
        dW = new Float32Array(U * K),
        db = new Float32Array(U),
        dA = new Float32Array(B * K);
      tsKernels.forward(A, W, b, Z, B, K, U);
      tsKernels.weightGrad(dZ, A, dW, db, B, K, U);
      tsKernels.inputGrad(dZ, W, dA, B, K, U);
      const tag = `[${B},${K},${U}] zeros ${zeros}`;
      sameBits(
        Z,
        reference(
          B,
          K,
          U,
          (i, k) => A[i * K + k]!,
          (k, u) => W[u * K + k]!,
          b,
        ),
        `forward ${tag}`,
      );
      sameBits(
        dW,
        reference(
          U,
          B,
          K,
          (u, i) => dZ[i * U + u]!,
          (i, k) => A[i * K + k]!,
        ),
        `weightGrad ${tag}`,
      );
      sameBits(
        dA,
        reference(
          B,
          U,
          K,
          (i, u) => dZ[i * U + u]!,
          (u, k) => W[u * K + k]!,
        ),
        `inputGrad ${tag}`,
      );
      const sparse = tsProducts.sparse - before.sparse,
        dense = tsProducts.dense - before.dense;
      assert.equal(sparse + dense, 3, tag);
      if (zeros === 0) assert.equal(sparse, 0, `${tag}: no zeros, nothing to skip`);
      if (zeros >= 0.9 && B * K >= 64 && B * U >= 64)
        assert.equal(sparse, 3, `${tag}: all three products skip the zeros`);
    }
  }
});

test('TS kernels: a zero times an infinite weight or input is still NaN (the dense path runs)', () => {
  const B = 8,
    K = 12,
    U = 10;
  const rng = new Rng(3);
  const A = draw(rng, B * K, 0.8),
    W = draw(rng, U * K, 0),
    b = new Float32Array(U),
    dZ = draw(rng, B * U, 0.8);
  const zeroAt = A.findIndex((v) => v === 0),
    k = zeroAt % K;
  W[3 * K + k] = Infinity; // A[i,k] = 0 meets W[3,k] = ∞
  const Z = new Float32Array(B * U);
  tsKernels.forward(A, W, b, Z, B, K, U);
  sameBits(
    Z,
    reference(
      B,
      K,
      U,
      (i, kk) => A[i * K + kk]!,
      (kk, u) => W[u * K + kk]!,
      b,
    ),
    'forward with ∞',
  );
  assert.ok(Number.isNaN(Z[Math.floor(zeroAt / K) * U + 3]!), 'the 0·∞ term makes its sum NaN');
  const A2 = draw(rng, B * K, 0);
  const i = dZ.findIndex((v) => v === 0);
  A2[Math.floor(i / U) * K + 5] = -Infinity; // dZ[i,u] = 0 meets A[i,5] = −∞
  const dW = new Float32Array(U * K),
    db = new Float32Array(U);
  tsKernels.weightGrad(dZ, A2, dW, db, B, K, U);
  sameBits(
    dW,
    reference(
      U,
      B,
      K,
      (u, s) => dZ[s * U + u]!,
      (s, kk) => A2[s * K + kk]!,
    ),
    'weightGrad with −∞',
  );
  const dA = new Float32Array(B * K);
  tsKernels.inputGrad(dZ, W, dA, B, K, U);
  sameBits(
    dA,
    reference(
      B,
      U,
      K,
      (r, u) => dZ[r * U + u]!,
      (u, kk) => W[u * K + kk]!,
    ),
    'inputGrad with ∞',
  );
});

for (const variant of ['simd', 'relaxed'] as const)
  test(`${variant}: gradients over dZ's nonzeros equal the dense WebAssembly products bit for bit, on every blocking edge`, () => {
    enableRelaxedSimd();
    const rng = new Rng(29);
    for (const [B, K, U] of [...SHAPES, [4, 16, 2], [6, 20, 8], [3, 37, 5], [2, 4, 1]] as const) {
      for (const zeros of [0.65, 0.95, 1]) {
        // Two kernel instances over equal data: `sparse` is given the plan of the relu derivative
        // pass (the share of dZ's zeros it counted), `dense` no plan, so it runs gemm.
        const sparse = new WasmKernels(variant),
          dense = new WasmKernels(variant);
        const arena = (w: WasmKernels) =>
          w.createArena('float32', 4 * (4 * (B * K + 2 * U * K + 3 * B * U + U) + 256), (U + 1) * (B + 1))!;
        const as = arena(sparse),
          ad = arena(dense);
        const Zs = as(B * U),
          dZs = as(B * U),
          A = draw(rng, B * K, 0),
          W = draw(rng, U * K, 0),
          g = draw(rng, B * U, 0);
        const n = B * U; // exactly ⌈zeros·n⌉ negative pre-activations, spread (7919 is prime to n)
        for (let i = 0; i < n; i++) Zs[i] = (i * 7919) % n < zeros * n ? -1 : 1;
        dZs.set(g);
        const As = as(B * K),
          Ws = as(U * K);
        As.set(A);
        Ws.set(W);
        const sums = new Float64Array(3);
        sparse.derivative({ name: 'relu', alpha: 0 }, Zs, dZs, B * U, sums);
        assert.equal(
          sums[2],
          (() => {
            let z = 0;
            for (let i = 0; i < B * U; i++) z += dZs[i] === 0 ? 1 : 0;
            return z;
          })(),
          'the derivative pass counts the zeros it leaves',
        );
        const plan = { zeroShare: sums[2]! / (B * U) };
        const dZd = ad(B * U),
          Ad = ad(B * K),
          Wd = ad(U * K);
        dZd.set(dZs);
        Ad.set(A);
        Wd.set(W);
        const tag = `${variant} [${B},${K},${U}] zeros ${zeros}`;
        // ∂W over unit ranges, as the two threads of the batch split take them
        const dWs = as(U * K),
          dbs = as(U),
          dWd = ad(U * K),
          dbd = ad(U);
        const cut = Math.floor(U / 2) + (U % 3 === 0 ? 1 : 0);
        for (const [u0, u1] of [
          [0, Math.min(cut, U)],
          [Math.min(cut, U), U],
        ] as const) {
          assert.ok(sparse.weightGradUnits(dZs, As, dWs, dbs, B, K, U, u0, u1, plan));
          assert.ok(dense.weightGradUnits(dZd, Ad, dWd, dbd, B, K, U, u0, u1));
        }
        sameBits(dWs, dWd, `weightGrad ${tag}`);
        sameBits(dbs, dbd, `db ${tag}`);
        const dAs = as(B * K),
          dAd = ad(B * K);
        sparse.inputGrad(dZs, Ws, dAs, B, K, U, plan);
        dense.inputGrad(dZd, Wd, dAd, B, K, U);
        sameBits(dAs, dAd, `inputGrad ${tag}`);
        assert.equal(dense.products.sparse, 0, tag);
        assert.equal(sparse.products.dense, 0, `${tag}: every product skipped the zeros`);
        assert.ok(sparse.products.sparse >= 2, tag);
      }
    }
  });

test('WebAssembly: a zero gradient meeting an infinite input or weight takes the dense path, so the NaN shows', () => {
  const B = 6,
    K = 9,
    U = 7;
  const rng = new Rng(8);
  const w = new WasmKernels();
  const alloc = w.createArena('float32', 4 * (4 * (B * K + 2 * U * K + 3 * B * U + U) + 256), (U + 1) * (B + 1))!;
  const Z = alloc(B * U),
    dZ = alloc(B * U),
    A = alloc(B * K),
    W = alloc(U * K),
    dW = alloc(U * K),
    db = alloc(U),
    dA = alloc(B * K);
  for (let i = 0; i < B * U; i++) {
    Z[i] = i % 5 === 0 ? 1 : -1;
    dZ[i] = rng.normal();
  }
  draw(rng, B * K, 0, A);
  draw(rng, U * K, 0, W);
  const sums = new Float64Array(3);
  w.derivative({ name: 'relu', alpha: 0 }, Z, dZ, B * U, sums);
  const plan: GradPlan = { zeroShare: sums[2]! / (B * U) };
  assert.ok(plan.zeroShare > 0.7, 'dZ mostly zeros: the products would skip them');
  A[1 * K + 4] = Infinity; // dZ[1, u] = 0 for most u
  W[2 * K + 3] = NaN; // dZ[i, 2] = 0 for most i
  w.weightGrad(dZ, A, dW, db, B, K, U, plan);
  w.inputGrad(dZ, W, dA, B, K, U, plan);
  assert.equal(plan.aFinite, false, 'A checked once for the layer, and found not finite');
  assert.deepEqual(w.products, { sparse: 0, dense: 2 });
  const ref = reference(
    U,
    B,
    K,
    (u, i) => dZ[i * U + u]!,
    (i, k) => A[i * K + k]!,
  );
  for (let i = 0; i < ref.length; i++)
    assert.equal(Number.isNaN(dW[i]!), Number.isNaN(ref[i]!), `∂W NaN at ${i} as the definition`);
  assert.ok(Number.isNaN(dW[2 * K + 4]!), 'dZ[1,2] = 0 times A[1,4] = ∞ is NaN in ∂W[2,4]');
  assert.ok(Number.isNaN(dA[0 * K + 3]!), 'dZ[0,2] = 0 times W[2,3] = NaN is NaN in dA[0,3]');
});
