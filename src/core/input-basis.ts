/**
 * The span of a batch's inputs, for the Hessian restricted to it (hessian-operator.ts, docs/math.md): an
 * orthonormal basis Q of the span of X's rows, by pivoted Cholesky of the Gram matrix X·Xᵀ; and the
 * triangular solves with its C₁ that map one batch's basis to another's.
 */
import type { DenseKernels, FArray } from './kernels';

/** The pivot rows Π (the first r used), the rank r and C₁ = C[:r] (r × r, lower triangular). */
export interface InputBasis {
  r: number;
  piv: Int32Array;
  C1: Float64Array;
}

/**
 * An orthonormal basis of the span of X's B rows (n₀ values each), by pivoted Cholesky of
 * G = X·Xᵀ in float64 (pivots at most 10⁻¹² of G's largest diagonal value end it: r = the rank):
 * ΠᵀGΠ = C·Cᵀ, C [B × r] lower trapezoidal. Writes K = X·Qᵀ = Π·C [B × r] to `out` and returns
 * r, the pivot rows Π and C₁ = C[:r] (Q = C₁⁻¹·(ΠᵀX)[:r] itself is never formed). G comes from
 * the kernels where they serve it (the same sums), else from the loops here.
 */
export function inputBasis(X: FArray, B: number, n0: number, out: FArray, kernels?: DenseKernels): InputBasis {
  const G = new Float64Array(B * B);
  if (!kernels?.gram?.(X, B, n0, G)) gram(X, B, n0, G);
  return choleskyBasis(G, B, out);
}

/** G = X·Xᵀ (float64 products, sums over even and over odd k, then added), both triangles. */
function gram(X: FArray, B: number, n0: number, G: Float64Array): void {
  for (let i = 0; i < B; i++)
    for (let j = 0; j <= i; j++) {
      let s0 = 0,
        s1 = 0;
      const a = i * n0,
        b = j * n0;
      let k = 0;
      for (; k + 1 < n0; k += 2) {
        s0 += X[a + k]! * X[b + k]!;
        s1 += X[a + k + 1]! * X[b + k + 1]!;
      }
      if (k < n0) s0 += X[a + k]! * X[b + k]!;
      G[i * B + j] = G[j * B + i] = s0 + s1;
    }
}

/** The basis from G by pivoted Cholesky (see inputBasis); G is overwritten. */
function choleskyBasis(G: Float64Array, B: number, out: FArray): InputBasis {
  const piv = Int32Array.from({ length: B }, (_, i) => i);
  let top = 0;
  for (let i = 0; i < B; i++) top = Math.max(top, G[i * B + i]!);
  const floor = 1e-12 * top;
  if (!Number.isFinite(floor)) return { r: 0, piv, C1: new Float64Array(0) };
  let r = 0;
  for (; r < B; r++) {
    // the largest remaining diagonal value is the next pivot
    let p = r;
    for (let i = r + 1; i < B; i++) if (G[i * B + i]! > G[p * B + p]!) p = i;
    if (!(G[p * B + p]! > floor)) break;
    if (p !== r) {
      for (let k = 0; k < B; k++) {
        const t = G[r * B + k]!;
        G[r * B + k] = G[p * B + k]!;
        G[p * B + k] = t;
      }
      for (let k = 0; k < B; k++) {
        const t = G[k * B + r]!;
        G[k * B + r] = G[k * B + p]!;
        G[k * B + p] = t;
      }
      const t = piv[r]!;
      piv[r] = piv[p]!;
      piv[p] = t;
    }
    const d = Math.sqrt(G[r * B + r]!);
    G[r * B + r] = d;
    for (let i = r + 1; i < B; i++) G[i * B + r] = G[i * B + r]! / d;
    // the trailing matrix, both triangles (later pivots swap its rows and columns)
    for (let j = r + 1; j < B; j++) {
      const gj = G[j * B + r]!;
      for (let i = j; i < B; i++) G[i * B + j] = G[j * B + i] = G[i * B + j]! - G[i * B + r]! * gj;
    }
  }
  const C1 = new Float64Array(r * r);
  for (let i = 0; i < r; i++) for (let j = 0; j <= i; j++) C1[i * r + j] = G[i * B + j]!;
  for (let i = 0; i < B; i++) {
    const row = piv[i]! * r;
    for (let j = 0; j < r; j++) out[row + j] = j <= i ? G[i * B + j]! : 0;
  }
  return { r, piv, C1 };
}

/**
 * M ← C⁻¹·M for C [rows × rows] lower triangular (a basis's C₁, in the map between two batches'
 * bases: hessian-operator.ts) and M [rows × cols], by forward substitution down each column:
 * M[i, j] = (M[i, j] − Σ_{m<i} C[i, m]·M[m, j]) / C[i, i], the terms in order of m; four columns
 * at a time, each value in a local until it is done.
 */
export function solveLowerColumns(C: Float64Array, M: Float64Array, rows: number, cols: number): void {
  let j = 0;
  for (; j + 3 < cols; j += 4)
    for (let i = 0; i < rows; i++) {
      const at = i * cols + j,
        ci = i * rows;
      let t0 = M[at]!,
        t1 = M[at + 1]!,
        t2 = M[at + 2]!,
        t3 = M[at + 3]!;
      for (let m = 0; m < i; m++) {
        const c = C[ci + m]!,
          from = m * cols + j;
        t0 -= c * M[from]!;
        t1 -= c * M[from + 1]!;
        t2 -= c * M[from + 2]!;
        t3 -= c * M[from + 3]!;
      }
      const d = C[ci + i]!;
      M[at] = t0 / d;
      M[at + 1] = t1 / d;
      M[at + 2] = t2 / d;
      M[at + 3] = t3 / d;
    }
  for (; j < cols; j++)
    for (let i = 0; i < rows; i++) {
      let t = M[i * cols + j]!;
      for (let m = 0; m < i; m++) t -= C[i * rows + m]! * M[m * cols + j]!;
      M[i * cols + j] = t / C[i * rows + i]!;
    }
}
