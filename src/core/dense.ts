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
import type { DenseKernels, FArray, KernelSharing } from './kernels';
import { arenaBytes } from './kernels';

/**
 * C[m,n] = bias[n] + Σ_k P[m,k]·Q[n,k] (C = P·Qᵀ), both operands read along contiguous rows.
 * Blocked 4 rows of P × 3 rows of Q: twelve sums in registers, seven loads per twelve multiply-adds.
 */
function gemmNT(P: FArray, Q: FArray, C: FArray, bias: FArray | null, M: number, N: number, K: number): void {
  let m = 0;
  for (; m + 3 < M; m += 4) {
    const p0 = m * K,
      p1 = p0 + K,
      p2 = p1 + K,
      p3 = p2 + K;
    let n = 0;
    for (; n + 2 < N; n += 3) {
      const q0 = n * K,
        q1 = q0 + K,
        q2 = q1 + K;
      let c00 = 0,
        c01 = 0,
        c02 = 0,
        c10 = 0,
        c11 = 0,
        c12 = 0,
        c20 = 0,
        c21 = 0,
        c22 = 0,
        c30 = 0,
        c31 = 0,
        c32 = 0;
      for (let k = 0; k < K; k++) {
        const a0 = P[p0 + k]!,
          a1 = P[p1 + k]!,
          a2 = P[p2 + k]!,
          a3 = P[p3 + k]!;
        const b0 = Q[q0 + k]!,
          b1 = Q[q1 + k]!,
          b2 = Q[q2 + k]!;
        c00 += a0 * b0;
        c01 += a0 * b1;
        c02 += a0 * b2;
        c10 += a1 * b0;
        c11 += a1 * b1;
        c12 += a1 * b2;
        c20 += a2 * b0;
        c21 += a2 * b1;
        c22 += a2 * b2;
        c30 += a3 * b0;
        c31 += a3 * b1;
        c32 += a3 * b2;
      }
      const z0 = bias ? bias[n]! : 0,
        z1 = bias ? bias[n + 1]! : 0,
        z2 = bias ? bias[n + 2]! : 0;
      let o = m * N + n;
      C[o] = c00 + z0;
      C[o + 1] = c01 + z1;
      C[o + 2] = c02 + z2;
      o += N;
      C[o] = c10 + z0;
      C[o + 1] = c11 + z1;
      C[o + 2] = c12 + z2;
      o += N;
      C[o] = c20 + z0;
      C[o + 1] = c21 + z1;
      C[o + 2] = c22 + z2;
      o += N;
      C[o] = c30 + z0;
      C[o + 1] = c31 + z1;
      C[o + 2] = c32 + z2;
    }
    for (; n < N; n++) {
      const q0 = n * K;
      let c0 = 0,
        c1 = 0,
        c2 = 0,
        c3 = 0;
      for (let k = 0; k < K; k++) {
        const b0 = Q[q0 + k]!;
        c0 += P[p0 + k]! * b0;
        c1 += P[p1 + k]! * b0;
        c2 += P[p2 + k]! * b0;
        c3 += P[p3 + k]! * b0;
      }
      const z = bias ? bias[n]! : 0;
      C[m * N + n] = c0 + z;
      C[(m + 1) * N + n] = c1 + z;
      C[(m + 2) * N + n] = c2 + z;
      C[(m + 3) * N + n] = c3 + z;
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

/**
 * Lists of gemmSparseRows, grown as needed and reused: values (as float64, so the sums read no
 * float32), Q-row offsets, and where each row's entries end.
 */
let listVals = new Float64Array(0),
  listRows = new Int32Array(0),
  listEnds = new Int32Array(0);

/** Products of the TS kernels run so far over an operand's nonzeros (gemmSparseRows) and dense (gemmNT). */
export const tsProducts = { sparse: 0, dense: 0 };

/** Most nonzeros (as a share of S) at which gemmSparseRows runs: its 1×6 block does ~0.7× gemmNT's multiply-adds a second. */
const TS_SPARSE_MAX_DENSITY = 0.6;

/**
 * C[M×N] = S·Q (+ bias[n], added after each sum) over the nonzero S[r, j] only, where
 * S[r, j] = S[r·sRow + j·sCol] (j < J) and Q[J×N] is row-major; false, and C untouched, when more
 * than TS_SPARSE_MAX_DENSITY of S is nonzero (gemmNT is then faster).
 *
 * Behind a ReLU about half of dZ and of A is zero. Each sum runs over j ascending in double
 * precision, as gemmNT's, without the terms of a zero S[r, j]; those are ±0, so C is gemmNT's, bit
 * for bit, whenever Q is finite (0·∞ is NaN): callers check Q first (`finite`). Rows are listed
 * first (no branch: every entry is written, the end moves past nonzeros only), then, for each slab
 * of six columns, every row sums its list with six accumulators.
 */
function gemmSparseRows(
  S: FArray,
  sRow: number,
  sCol: number,
  J: number,
  Q: FArray,
  C: FArray,
  bias: FArray | null,
  M: number,
  N: number,
): boolean {
  if (listVals.length < M * J) {
    listVals = new Float64Array(M * J);
    listRows = new Int32Array(M * J);
  }
  if (listEnds.length < M) listEnds = new Int32Array(M);
  const vals = listVals,
    rowsAt = listRows,
    ends = listEnds;
  let e = 0;
  for (let r = 0; r < M; r++) {
    let sp = r * sRow;
    for (let j = 0; j < J; j++) {
      const v = S[sp]!;
      vals[e] = v;
      rowsAt[e] = j * N;
      e += v !== 0 ? 1 : 0;
      sp += sCol;
    }
    ends[r] = e;
  }
  if (e > TS_SPARSE_MAX_DENSITY * M * J) return false;
  let n = 0;
  for (; n + 5 < N; n += 6) {
    const z0 = bias ? bias[n]! : 0,
      z1 = bias ? bias[n + 1]! : 0,
      z2 = bias ? bias[n + 2]! : 0;
    const z3 = bias ? bias[n + 3]! : 0,
      z4 = bias ? bias[n + 4]! : 0,
      z5 = bias ? bias[n + 5]! : 0;
    let p = 0;
    for (let r = 0; r < M; r++) {
      const end = ends[r]!;
      let a0 = 0,
        a1 = 0,
        a2 = 0,
        a3 = 0,
        a4 = 0,
        a5 = 0;
      for (; p < end; p++) {
        const v = vals[p]!,
          y = rowsAt[p]! + n;
        a0 += v * Q[y]!;
        a1 += v * Q[y + 1]!;
        a2 += v * Q[y + 2]!;
        a3 += v * Q[y + 3]!;
        a4 += v * Q[y + 4]!;
        a5 += v * Q[y + 5]!;
      }
      const o = r * N + n;
      C[o] = a0 + z0;
      C[o + 1] = a1 + z1;
      C[o + 2] = a2 + z2;
      C[o + 3] = a3 + z3;
      C[o + 4] = a4 + z4;
      C[o + 5] = a5 + z5;
    }
  }
  for (; n < N; n++) {
    const z = bias ? bias[n]! : 0;
    let p = 0;
    for (let r = 0; r < M; r++) {
      const end = ends[r]!;
      let a = 0;
      for (; p < end; p++) a += vals[p]! * Q[rowsAt[p]! + n]!;
      C[r * N + n] = a + z;
    }
  }
  return true;
}

/** True when the first n values of a are all finite (x − x is 0 for finite x, NaN otherwise). */
function finite(a: FArray, n: number): boolean {
  let t = 0;
  for (let i = 0; i < n; i++) {
    const v = a[i]!;
    t += v - v;
  }
  return t === 0;
}

/** Z = A·Wᵀ + b: rows of A and W are both contiguous in k; over A's nonzeros (and Wᵀ) when A is mostly zeros. */
function forward(A: FArray, W: FArray, bias: FArray, Z: FArray, B: number, K: number, U: number): void {
  if (mostlyZeros(A, B * K)) {
    const Wt = scratch(W, 0, K * U);
    transpose(W, Wt, U, K);
    if (finite(Wt, K * U) && gemmSparseRows(A, K, 1, K, Wt, Z, bias, B, U)) return void tsProducts.sparse++;
  }
  gemmNT(A, W, Z, bias, B, U, K);
  tsProducts.dense++;
}

/** Whether more than 1 − TS_SPARSE_MAX_DENSITY of the first n values are zero, from a sample of at most 256. */
function mostlyZeros(a: FArray, n: number): boolean {
  const step = Math.max(1, Math.floor(n / 256));
  let zeros = 0,
    seen = 0;
  for (let i = 0; i < n; i += step) {
    zeros += a[i] === 0 ? 1 : 0;
    seen++;
  }
  return zeros > (1 - TS_SPARSE_MAX_DENSITY) * seen;
}

/** db[u] = Σ_i dZ[i,u] for u in [u0, u1): the bias gradient. */
function columnSums(dZ: FArray, db: FArray, B: number, U: number, u0 = 0, u1 = U): void {
  for (let u = u0; u < u1; u++) db[u] = 0;
  for (let i = 0; i < B; i++) {
    const o = i * U;
    for (let u = u0; u < u1; u++) db[u] = db[u]! + dZ[o + u]!;
  }
}

function weightGrad(dZ: FArray, A: FArray, dW: FArray, db: FArray, B: number, K: number, U: number): void {
  weightGradUnits(dZ, A, dW, db, B, K, U, 0, U);
}

/**
 * Rows [u0, u1) of ∂W = dZᵀ·A and of ∂b = column sums of dZ, over all B rows: over dZ's nonzeros
 * (row u of ∂W lists the samples i with dZ[i,u] ≠ 0) when A is finite and dZ mostly zeros, else
 * over transposed copies. The batch split (core/parallel.ts) computes a thread's units with it.
 */
function weightGradUnits(
  dZ: FArray,
  A: FArray,
  dW: FArray,
  db: FArray,
  B: number,
  K: number,
  U: number,
  u0: number,
  u1: number,
): boolean {
  const n = u1 - u0;
  if (n <= 0) return true;
  columnSums(dZ, db, B, U, u0, u1);
  // S[r, j] = dZ[j, u0 + r]: a view from column u0, rows of ∂W from row u0
  const S = u0 === 0 ? dZ : dZ.subarray(u0),
    C = u0 === 0 ? dW : dW.subarray(u0 * K, u1 * K);
  if (mostlyZeros(dZ, B * U) && finite(A, B * K) && gemmSparseRows(S, 1, U, B, A, C, null, n, K)) {
    tsProducts.sparse++;
    return true;
  }
  const dZt = scratch(dZ, 0, n * B),
    At = scratch(A, 1, K * B);
  for (let i = 0; i < B; i++) for (let r = 0; r < n; r++) dZt[r * B + i] = dZ[i * U + u0 + r]!;
  transpose(A, At, B, K);
  gemmNT(dZt, At, C, null, n, K, B);
  tsProducts.dense++;
  return true;
}

/** dA = dZ·W: over dZ's nonzeros when W is finite and dZ mostly zeros, else over a transposed copy of W. */
function inputGrad(dZ: FArray, W: FArray, dA: FArray, B: number, K: number, U: number): void {
  if (mostlyZeros(dZ, B * U) && finite(W, U * K) && gemmSparseRows(dZ, U, 1, U, W, dA, null, B, K))
    return void tsProducts.sparse++;
  const Wt = scratch(W, 0, K * U);
  transpose(W, Wt, U, K);
  gemmNT(dZ, Wt, dA, null, B, K, U);
  tsProducts.dense++;
}

/** The pure-TypeScript kernels: the reference every faster path is held to. */
export const tsKernels: DenseKernels = { name: 'ts', forward, weightGrad, inputGrad };

/**
 * The TS kernels over a shared arena, so a network can be split over two threads
 * (core/parallel.ts) where WebAssembly is not there: the arrays are views of one
 * SharedArrayBuffer, laid out by a bump allocator in allocation order, so a helper thread that
 * attaches to the buffer and builds the same network gets the same arrays. The same sums as
 * tsKernels, bit for bit; weightGradUnits computes a range of units.
 */
export class SharedTsKernels implements DenseKernels {
  readonly name = 'ts';
  private buffer: SharedArrayBuffer | null = null;
  private shared: SharedArrayBuffer | null = null;

  /** Makes this instance the helper thread's: createArena lays its arrays over `buffer`. */
  attach(buffer: SharedArrayBuffer): void {
    this.shared = buffer;
  }

  sharing(): KernelSharing | null {
    return this.buffer ? { memory: this.buffer, variant: 'ts' } : null;
  }

  /** A SharedArrayBuffer of `bytes` (the network's arrays, each by arenaBytes), handed out in order. */
  createArena(dtype: 'float32' | 'float64', bytes: number): (n: number) => FArray {
    const per = dtype === 'float64' ? 8 : 4;
    if (this.shared && this.shared.byteLength < bytes)
      throw new RangeError('the shared arena is smaller than this network needs');
    const buf = this.shared ?? new SharedArrayBuffer(Math.max(16, bytes));
    this.buffer = buf;
    let top = 0;
    return (n) => {
      const at = top;
      top += arenaBytes(n, per);
      if (top > buf.byteLength) throw new RangeError('shared arena exhausted');
      return dtype === 'float64' ? new Float64Array(buf, at, n) : new Float32Array(buf, at, n);
    };
  }

  forward(A: FArray, W: FArray, bias: FArray, Z: FArray, B: number, K: number, U: number): void {
    forward(A, W, bias, Z, B, K, U);
  }

  weightGrad(dZ: FArray, A: FArray, dW: FArray, db: FArray, B: number, K: number, U: number): void {
    weightGrad(dZ, A, dW, db, B, K, U);
  }

  inputGrad(dZ: FArray, W: FArray, dA: FArray, B: number, K: number, U: number): void {
    inputGrad(dZ, W, dA, B, K, U);
  }

  /** Rows [u0, u1) of ∂W and ∂b over all B rows of dZ. */
  weightGradUnits(
    dZ: FArray,
    A: FArray,
    dW: FArray,
    db: FArray,
    B: number,
    K: number,
    U: number,
    u0: number,
    u1: number,
  ): boolean {
    return weightGradUnits(dZ, A, dW, db, B, K, U, u0, u1);
  }
}
