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
export type FArray = Float32Array | Float64Array;

export interface DenseKernels {
  readonly name: string;
  /**
   * Optional: an allocator whose arrays the kernels work on without copies, for `floats` values
   * and a scratch area; null when the kernels cannot serve this dtype.
   */
  createArena?(dtype: 'float32' | 'float64', floats: number, scratchFloats: number): ((n: number) => FArray) | null;
  forward(A: FArray, W: FArray, bias: FArray, Z: FArray, B: number, K: number, U: number): void;
  weightGrad(dZ: FArray, A: FArray, dW: FArray, db: FArray, B: number, K: number, U: number): void;
  inputGrad(dZ: FArray, W: FArray, dA: FArray, B: number, K: number, U: number): void;
}

/** Z = A·Wᵀ + b, blocked 2 samples × 2 units so each loaded value is used twice. */
function forward(A: FArray, W: FArray, bias: FArray, Z: FArray, B: number, K: number, U: number): void {
  let i = 0;
  for (; i + 1 < B; i += 2) {
    const a0 = i * K, a1 = a0 + K;
    let u = 0;
    for (; u + 1 < U; u += 2) {
      const w0 = u * K, w1 = w0 + K;
      let s00 = 0, s01 = 0, s10 = 0, s11 = 0;
      for (let k = 0; k < K; k++) {
        const x0 = A[a0 + k]!, x1 = A[a1 + k]!, y0 = W[w0 + k]!, y1 = W[w1 + k]!;
        s00 += x0 * y0; s01 += x0 * y1; s10 += x1 * y0; s11 += x1 * y1;
      }
      Z[i * U + u] = s00 + bias[u]!; Z[i * U + u + 1] = s01 + bias[u + 1]!;
      Z[(i + 1) * U + u] = s10 + bias[u]!; Z[(i + 1) * U + u + 1] = s11 + bias[u + 1]!;
    }
    for (; u < U; u++) {
      const w0 = u * K;
      let s0 = 0, s1 = 0;
      for (let k = 0; k < K; k++) { const y = W[w0 + k]!; s0 += A[a0 + k]! * y; s1 += A[a1 + k]! * y; }
      Z[i * U + u] = s0 + bias[u]!; Z[(i + 1) * U + u] = s1 + bias[u]!;
    }
  }
  for (; i < B; i++) {
    const a0 = i * K;
    for (let u = 0; u < U; u++) {
      const w0 = u * K;
      let s = 0;
      for (let k = 0; k < K; k++) s += A[a0 + k]! * W[w0 + k]!;
      Z[i * U + u] = s + bias[u]!;
    }
  }
}

/** ∂W = dZᵀ·A and ∂b = column sums of dZ; four samples per pass over ∂W. */
function weightGrad(dZ: FArray, A: FArray, dW: FArray, db: FArray, B: number, K: number, U: number): void {
  dW.fill(0, 0, U * K);
  for (let u = 0; u < U; u++) {
    let s = 0;
    for (let i = 0; i < B; i++) s += dZ[i * U + u]!;
    db[u] = s;
  }
  let i = 0;
  for (; i + 3 < B; i += 4) {
    const a0 = i * K, a1 = a0 + K, a2 = a1 + K, a3 = a2 + K;
    for (let u = 0; u < U; u++) {
      const g0 = dZ[i * U + u]!, g1 = dZ[(i + 1) * U + u]!, g2 = dZ[(i + 2) * U + u]!, g3 = dZ[(i + 3) * U + u]!;
      if (g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0) continue;
      const w = u * K;
      for (let k = 0; k < K; k++) dW[w + k] = dW[w + k]! + (g0 * A[a0 + k]! + g1 * A[a1 + k]! + g2 * A[a2 + k]! + g3 * A[a3 + k]!);
    }
  }
  for (; i < B; i++) {
    const a0 = i * K;
    for (let u = 0; u < U; u++) {
      const g = dZ[i * U + u]!;
      if (g === 0) continue;
      const w = u * K;
      for (let k = 0; k < K; k++) dW[w + k] = dW[w + k]! + g * A[a0 + k]!;
    }
  }
}

/** dA = dZ·W; four units per pass over a row of dA. */
function inputGrad(dZ: FArray, W: FArray, dA: FArray, B: number, K: number, U: number): void {
  dA.fill(0, 0, B * K);
  for (let i = 0; i < B; i++) {
    const r = i * K, z = i * U;
    let u = 0;
    for (; u + 3 < U; u += 4) {
      const g0 = dZ[z + u]!, g1 = dZ[z + u + 1]!, g2 = dZ[z + u + 2]!, g3 = dZ[z + u + 3]!;
      if (g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0) continue;
      const w0 = u * K, w1 = w0 + K, w2 = w1 + K, w3 = w2 + K;
      for (let k = 0; k < K; k++) dA[r + k] = dA[r + k]! + (g0 * W[w0 + k]! + g1 * W[w1 + k]! + g2 * W[w2 + k]! + g3 * W[w3 + k]!);
    }
    for (; u < U; u++) {
      const g = dZ[z + u]!;
      if (g === 0) continue;
      const w0 = u * K;
      for (let k = 0; k < K; k++) dA[r + k] = dA[r + k]! + g * W[w0 + k]!;
    }
  }
}

/** The pure-TypeScript kernels: the reference every faster path is held to. */
export const tsKernels: DenseKernels = { name: 'ts', forward, weightGrad, inputGrad };
