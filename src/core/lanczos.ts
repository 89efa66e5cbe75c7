/**
 * λmax, the largest (algebraic) eigenvalue of a symmetric linear operator (the Hessian of
 * hessian-operator.ts), by Lanczos (Paige's ordering of the three-term recurrence, no
 * reorthogonalisation: lost orthogonality only repeats converged Ritz values, it does not move the
 * largest; a full reorthogonalisation would cost k passes over θ at the k-th product, more than
 * the products themselves on a net like W1's), from a start vector (the previous evaluation's
 * Ritz vector, so that a slowly turning top direction converges in fewer products); it stops when
 * the residual of the largest Ritz pair (θ, y), ‖H·y − θ·y‖ = β_m·|e_mᵀs| (s the eigenvector of
 * the tridiagonal T_m that gives y; no extra product), is at most `tol`·|θ|, or after `maxIter`
 * products. Some eigenvalue of H then lies within tol·|θ| of θ (Krylov–Weinstein), where a test
 * on how far θ moved would stop early in a cluster: from a start on two eigenvalues 1 % apart, θ
 * creeps towards the larger by less than 10⁻⁴ a product while 1 % below it
 * (test/core/sharpness.test.ts).
 */
import type { Rng } from './rng';

/** A symmetric linear operator on vectors of `size` values: out = H·v. */
interface SymmetricOperator {
  readonly size: number;
  hvp(v: Float64Array, out: Float64Array): void;
}

/** Eigenvalues and eigenvectors of a small symmetric matrix (row-major n×n) by cyclic Jacobi rotations. */
function symmetricEigen(a: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const m = Float64Array.from(a);
  const V = new Float64Array(n * n);
  for (let i = 0; i < n; i++) V[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += m[p * n + q]! * m[p * n + q]!;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++)
      for (let q = p + 1; q < n; q++) {
        const apq = m[p * n + q]!;
        if (apq === 0) continue;
        const theta = (m[q * n + q]! - m[p * n + p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1),
          s = t * c;
        for (let k = 0; k < n; k++) {
          const mkp = m[k * n + p]!,
            mkq = m[k * n + q]!;
          m[k * n + p] = c * mkp - s * mkq;
          m[k * n + q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) {
          const mpk = m[p * n + k]!,
            mqk = m[q * n + k]!;
          m[p * n + k] = c * mpk - s * mqk;
          m[q * n + k] = s * mpk + c * mqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = V[k * n + p]!,
            vkq = V[k * n + q]!;
          V[k * n + p] = c * vkp - s * vkq;
          V[k * n + q] = s * vkp + c * vkq;
        }
      }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = m[i * n + i]!;
  return { values, vectors: V };
}

/**
 * The arrays of Lanczos's vectors, kept from one evaluation to the next by a run: here a fresh
 * array of a net's θ costs more in page faults than the arithmetic on it (1 ms for 85k float32).
 */
export class LanczosWork {
  private n = -1;
  q = new Float64Array(0);
  w = new Float64Array(0);
  prev = new Float64Array(0);
  /** The Ritz vector of the last evaluation (overwritten by the next). */
  vec = new Float64Array(0);
  /** A start vector's copy, for a caller that maps one (sharpness.ts). */
  start = new Float64Array(0);
  private readonly Q: Float32Array[] = [];

  /** Sizes the arrays for vectors of n values. */
  size(n: number): this {
    if (n !== this.n) {
      this.n = n;
      this.q = new Float64Array(n);
      this.w = new Float64Array(n);
      this.prev = new Float64Array(n);
      this.vec = new Float64Array(n);
      this.start = new Float64Array(n);
      this.Q.length = 0;
    }
    return this;
  }

  /** The float32 copy of Lanczos vector j. */
  lanczosVector(j: number): Float32Array {
    while (this.Q.length <= j) this.Q.push(new Float32Array(this.n));
    return this.Q[j]!;
  }
}

interface LambdaMax {
  lambdaMax: number;
  /** Hessian-vector products used. */
  iterations: number;
  /** The Ritz vector of λmax (unit length): the next evaluation's start (the work's `vec`). */
  vector: Float64Array;
}

/**
 * λmax of the operator by Lanczos from `start` (a random unit vector from `rng` when null or of
 * another size), to a Ritz pair whose residual is at most `tol`·|λmax| (see above). Non-finite
 * products give NaN.
 */
export function lambdaMax(
  op: SymmetricOperator,
  start: Float64Array | null,
  rng: Rng,
  maxIter = 30,
  tol = 1e-3,
  work: LanczosWork = new LanczosWork(),
): LambdaMax {
  const n = op.size;
  work.size(n);
  let q = work.q;
  if (start && start.length === n) q.set(start);
  else q.fill(0);
  let norm = Math.sqrt(dot(q, q));
  if (!(norm > 0) || !Number.isFinite(norm)) {
    for (let i = 0; i < n; i++) q[i] = rng.normal();
    norm = Math.sqrt(dot(q, q));
  }
  scale(q, 1 / norm);
  // the Lanczos vectors, kept in float32 for the Ritz vector only (a warm start needs no more)
  const Q: Float32Array[] = [work.lanczosVector(0)];
  Q[0]!.set(q);
  const alpha: number[] = [],
    beta: number[] = [];
  let w = work.w,
    prevQ = work.prev;
  let best = NaN,
    bestY: Float64Array = new Float64Array(0),
    it = 0;
  const last = Math.min(maxIter, n);
  for (; it < last; it++) {
    // w = H·q_it − β q_it−1 and α = q_it·w in one pass (then w ← w − α q_it)
    op.hvp(q, w);
    const a = it > 0 ? subtractAndDot(w, beta[it - 1]!, prevQ, q) : dot(q, w);
    if (!Number.isFinite(a)) {
      work.vec.set(Q[0]!);
      return { lambdaMax: NaN, iterations: it + 1, vector: work.vec };
    }
    alpha.push(a);
    const m = alpha.length;
    const T = new Float64Array(m * m);
    for (let i = 0; i < m; i++) {
      T[i * m + i] = alpha[i]!;
      if (i + 1 < m) T[i * m + i + 1] = T[(i + 1) * m + i] = beta[i]!;
    }
    const { values, vectors } = symmetricEigen(T, m);
    let top = 0;
    for (let i = 1; i < m; i++) if (values[i]! > values[top]!) top = i;
    best = values[top]!;
    bestY = Float64Array.from({ length: m }, (_, i) => vectors[i * m + top]!);
    // w ← w − α q_it: β_it+1 = ‖w‖, and the Ritz pair's residual β_it+1·|s_m|
    const b = Math.sqrt(subtractAndDot(w, a, q, w));
    const settled = b * Math.abs(bestY[m - 1]!) <= tol * Math.abs(best);
    if (settled || it + 1 >= last) {
      it++;
      break;
    }
    // an invariant subspace: λmax is exact
    if (!(b > 1e-12 * Math.max(1, Math.abs(best)))) {
      it++;
      break;
    }
    beta.push(b);
    // q_it+1 = w/b (and its float32 copy); the old q_it−1's array is the next w
    const next = work.lanczosVector(Q.length),
      inv = 1 / b;
    for (let i = 0; i < n; i++) next[i] = w[i] = w[i]! * inv;
    Q.push(next);
    const old = prevQ;
    prevQ = q;
    q = w;
    w = old;
  }
  // the Ritz vector Σ yⱼ qⱼ
  const vec = work.vec;
  vec.fill(0);
  for (let j = 0; j < bestY.length; j++) {
    const y = bestY[j]!,
      qj = Q[j]!;
    for (let i = 0; i < n; i++) vec[i] = vec[i]! + y * qj[i]!;
  }
  return { lambdaMax: best, iterations: it, vector: vec };
}

/** Σ aᵢbᵢ (four running sums: the additions do not wait on each other). */
function dot(a: Float64Array, b: Float64Array): number {
  const n = a.length;
  let s0 = 0,
    s1 = 0,
    s2 = 0,
    s3 = 0,
    i = 0;
  for (; i + 3 < n; i += 4) {
    s0 += a[i]! * b[i]!;
    s1 += a[i + 1]! * b[i + 1]!;
    s2 += a[i + 2]! * b[i + 2]!;
    s3 += a[i + 3]! * b[i + 3]!;
  }
  for (; i < n; i++) s0 += a[i]! * b[i]!;
  return s0 + s1 + (s2 + s3);
}

/** w ← w − c·x, returning Σ wᵢyᵢ of the new w (one pass; y may be w itself). */
function subtractAndDot(w: Float64Array, c: number, x: Float64Array, y: Float64Array): number {
  let s0 = 0,
    s1 = 0;
  const n = w.length;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    const w0 = (w[i] = w[i]! - c * x[i]!),
      w1 = (w[i + 1] = w[i + 1]! - c * x[i + 1]!);
    s0 += w0 * y[i]!;
    s1 += w1 * y[i + 1]!;
  }
  if (i < n) s0 += (w[i] = w[i]! - c * x[i]!) * y[i]!;
  return s0 + s1;
}

/** x ← c·x. */
function scale(x: Float64Array, c: number): void {
  for (let i = 0; i < x.length; i++) x[i] = x[i]! * c;
}
