/**
 * Dense-layer linear algebra on flat row-major typed arrays (no object per neuron or link).
 * Shapes: A [B×K] inputs, W [U×K] weights (PyTorch's Linear layout), b [U], Z/dZ [B×U].
 *
 * - forward:     Z = A·Wᵀ + b                 Z[i,u] = b[u] + Σ_k A[i,k]·W[u,k]
 * - weightGrad:  ∂W = dZᵀ·A, ∂b = Σ_i dZ[i,·]  ∂W[u,k] = Σ_i dZ[i,u]·A[i,k]
 * - inputGrad:   dA = dZ·W                    dA[i,k] = Σ_u dZ[i,u]·W[u,k]
 *
 * This is the pure-TypeScript reference path; sums are accumulated in double precision.
 * Faster kernels implement the same `DenseKernels` interface and must agree with it.
 */
import type { Activation } from './activations';
import type { ParamState, UpdateSums } from './optimizers';
import type { TrainingSpec } from './spec';

export type FArray = Float32Array | Float64Array;

export interface DenseKernels {
  readonly name: string;
  /**
   * Optional: an allocator whose arrays the kernels work on without copies, for `floats` values
   * and a scratch area; null when the kernels cannot serve this dtype.
   */
  createArena?(dtype: 'float32' | 'float64', floats: number, scratchFloats: number): ((n: number) => FArray) | null;
  forward(A: FArray, W: FArray, bias: FArray, Z: FArray, B: number, K: number, U: number): void;
  /**
   * Optional: one optimiser step (as optimizers.update, filling `acc`), or null when these arrays
   * are not the kernels' to serve (the TS reference then runs).
   */
  update?(spec: TrainingSpec, theta: FArray, g: FArray, state: ParamState, t: number, n: number, acc: UpdateSums): number | null;
  weightGrad(dZ: FArray, A: FArray, dW: FArray, db: FArray, B: number, K: number, U: number): void;
  /**
   * Optional: A = f(Z) over [B×U] with the forward sums written to `sums`:
   * [Σ(z−z0), Σ(z−z0)², Σ(a−a0), Σ(a−a0)², dead units] and `alive` (1 for units with a live
   * sample, see activations.hasDeadUnits); false when this activation or these
   * arrays are not the kernels' to serve (network.ts then runs the TS reference).
   */
  activate?(act: Activation, Z: FArray, A: FArray, B: number, U: number, z0: number, a0: number, sums: Float64Array, alive: Uint8Array): boolean;
  /**
   * Optional: rows [u0, u1) of ∂W and ∂b over all B rows of dZ (a thread's share of the weight
   * gradients in the batch split, core/parallel.ts); false when these arrays are not served.
   */
  weightGradUnits?(dZ: FArray, A: FArray, dW: FArray, db: FArray, B: number, K: number, U: number, u0: number, u1: number): boolean;
  /** Optional: dZ ← dZ ⊙ f'(Z) over n values with [Σg, Σg²] in `sums`; false when not served. */
  derivative?(act: Activation, Z: FArray, dZ: FArray, n: number, sums: Float64Array): boolean;
  inputGrad(dZ: FArray, W: FArray, dA: FArray, B: number, K: number, U: number): void;
}

/**
 * C[m,n] = bias[n] + Σ_k P[m,k]·Q[n,k] (C = P·Qᵀ), both operands read along contiguous rows.
 * Blocked 4 rows of P × 3 rows of Q: twelve sums in registers, seven loads per twelve multiply-adds.
 */
function gemmNT(P: FArray, Q: FArray, C: FArray, bias: FArray | null, M: number, N: number, K: number): void {
  let m = 0;
  for (; m + 3 < M; m += 4) {
    const p0 = m * K, p1 = p0 + K, p2 = p1 + K, p3 = p2 + K;
    let n = 0;
    for (; n + 2 < N; n += 3) {
      const q0 = n * K, q1 = q0 + K, q2 = q1 + K;
      let c00 = 0, c01 = 0, c02 = 0, c10 = 0, c11 = 0, c12 = 0, c20 = 0, c21 = 0, c22 = 0, c30 = 0, c31 = 0, c32 = 0;
      for (let k = 0; k < K; k++) {
        const a0 = P[p0 + k]!, a1 = P[p1 + k]!, a2 = P[p2 + k]!, a3 = P[p3 + k]!;
        const b0 = Q[q0 + k]!, b1 = Q[q1 + k]!, b2 = Q[q2 + k]!;
        c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2;
        c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2;
        c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2;
        c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2;
      }
      const z0 = bias ? bias[n]! : 0, z1 = bias ? bias[n + 1]! : 0, z2 = bias ? bias[n + 2]! : 0;
      let o = m * N + n;
      C[o] = c00 + z0; C[o + 1] = c01 + z1; C[o + 2] = c02 + z2; o += N;
      C[o] = c10 + z0; C[o + 1] = c11 + z1; C[o + 2] = c12 + z2; o += N;
      C[o] = c20 + z0; C[o + 1] = c21 + z1; C[o + 2] = c22 + z2; o += N;
      C[o] = c30 + z0; C[o + 1] = c31 + z1; C[o + 2] = c32 + z2;
    }
    for (; n < N; n++) {
      const q0 = n * K;
      let c0 = 0, c1 = 0, c2 = 0, c3 = 0;
      for (let k = 0; k < K; k++) { const b0 = Q[q0 + k]!; c0 += P[p0 + k]! * b0; c1 += P[p1 + k]! * b0; c2 += P[p2 + k]! * b0; c3 += P[p3 + k]! * b0; }
      const z = bias ? bias[n]! : 0;
      C[m * N + n] = c0 + z; C[(m + 1) * N + n] = c1 + z; C[(m + 2) * N + n] = c2 + z; C[(m + 3) * N + n] = c3 + z;
    }
  }
  for (; m < M; m++) {
    const p0 = m * K;
    for (let n = 0; n < N; n++) {
      const q0 = n * K;
      let c = 0;
      for (let k = 0; k < K; k++) c += P[p0 + k]! * Q[q0 + k]!;
      C[m * N + n] = c + (bias ? bias[n]! : 0);
    }
  }
}

/** dst[cols×rows] = srcᵀ for src[rows×cols]. */
function transpose(src: FArray, dst: FArray, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let c = 0; c < cols; c++) dst[c * rows + r] = src[o + c]!;
  }
}

/** Scratch for transposed operands, grown as needed and reused (one worker runs one net at a time). */
let scratch32 = [new Float32Array(0), new Float32Array(0)];
let scratch64 = [new Float64Array(0), new Float64Array(0)];
function scratch(like: FArray, slot: 0 | 1, n: number): FArray {
  if (like instanceof Float64Array) {
    if (scratch64[slot]!.length < n) scratch64 = scratch64.map((s, i) => (i === slot ? new Float64Array(n) : s));
    return scratch64[slot]!;
  }
  if (scratch32[slot]!.length < n) scratch32 = scratch32.map((s, i) => (i === slot ? new Float32Array(n) : s));
  return scratch32[slot]!;
}

/** Z = A·Wᵀ + b: rows of A and W are both contiguous in k. */
function forward(A: FArray, W: FArray, bias: FArray, Z: FArray, B: number, K: number, U: number): void {
  gemmNT(A, W, Z, bias, B, U, K);
}

/** db[u] = Σ_i dZ[i,u]: the bias gradient, shared by every kernel set. */
export function columnSums(dZ: FArray, db: FArray, B: number, U: number): void {
  for (let u = 0; u < U; u++) db[u] = 0;
  for (let i = 0; i < B; i++) {
    const o = i * U;
    for (let u = 0; u < U; u++) db[u] = db[u]! + dZ[o + u]!;
  }
}

/** ∂W = dZᵀ·A = (dZᵀ)·(Aᵀ)ᵀ over transposed copies; ∂b = column sums of dZ. */
function weightGrad(dZ: FArray, A: FArray, dW: FArray, db: FArray, B: number, K: number, U: number): void {
  columnSums(dZ, db, B, U);
  const dZt = scratch(dZ, 0, U * B), At = scratch(A, 1, K * B);
  transpose(dZ, dZt, B, U);
  transpose(A, At, B, K);
  gemmNT(dZt, At, dW, null, U, K, B);
}

/** dA = dZ·W = dZ·(Wᵀ)ᵀ over a transposed copy of W. */
function inputGrad(dZ: FArray, W: FArray, dA: FArray, B: number, K: number, U: number): void {
  const Wt = scratch(W, 0, K * U);
  transpose(W, Wt, U, K);
  gemmNT(dZ, Wt, dA, null, B, K, U);
}

/** The pure-TypeScript kernels: the reference every faster path is held to. */
export const tsKernels: DenseKernels = { name: 'ts', forward, weightGrad, inputGrad };
