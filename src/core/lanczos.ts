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
 * (test/core/sharpness.test.ts). The vectors have the products' precision: float32 where the
 * operator's products are float32 (every operation on them in float64, each vector rounded once),
 * else float64.
 */
import { tsVectors } from './vector-arithmetic';
import type { VectorArithmetic } from './kernels';
import { arenaBytes } from './kernels';
import type { Rng } from './rng';

/** A symmetric linear operator on vectors of `size` values: out = H·v. */
interface SymmetricOperator {
  readonly size: number;
  /**
   * Whether the products round v to float32 first (a float32 network's): they are then given the
   * float32 copy of each Lanczos vector, the same values without a conversion.
   */
  readonly float32?: boolean;
  hvp(v: Float64Array | Float32Array, out: Float64Array): void;
  /**
   * Where `float32`: out = H·v as the products give it, in float32; Lanczos then keeps its vectors
   * in float32 too (see lambdaMax).
   */
  hvp32?(v: Float32Array, out: Float32Array): void;
  /**
   * Where `float32`: the arrays the products read v from and write H·v to (`size` values each);
   * hvp32 given them copies nothing.
   */
  views32?(): { input: Float32Array; output: Float32Array } | null;
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

/** Bytes of a LanczosWork for vectors of n values and evaluations of at most `products` products. */
export function lanczosBytes(n: number, products: number): number {
  return 5 * arenaBytes(n, 8) + (products + 2) * arenaBytes(n, 4);
}

/**
 * The arrays of Lanczos's vectors, kept from one evaluation to the next by a run: here a fresh
 * array of a net's θ costs more in page faults than the arithmetic on it (1 ms for 85k float32).
 * They come from the vector arithmetic that works on them (the kernels' where they have one).
 */
export class LanczosWork {
  private n = -1;
  private count = 0;
  q: Float64Array = new Float64Array(0);
  w: Float64Array = new Float64Array(0);
  prev: Float64Array = new Float64Array(0);
  /** The Ritz vector of the last evaluation (overwritten by the next). */
  vec: Float64Array = new Float64Array(0);
  /** A start vector's copy, for a caller that maps one (sharpness.ts). */
  start: Float64Array = new Float64Array(0);
  /** A float32 product (SymmetricOperator.hvp32). */
  u: Float32Array = new Float32Array(0);
  private Q: Float32Array[] = [];

  constructor(readonly arith: VectorArithmetic = tsVectors) {}

  /** Sizes the arrays for vectors of n values and at least `vectors` float32 Lanczos vectors. */
  size(n: number, vectors = 1): this {
    if (n !== this.n || vectors > this.count) {
      const count = Math.max(vectors, n === this.n ? this.count : 1);
      const { f64, f32 } = this.arith.arrays(n, 5, count + 1);
      [this.q, this.w, this.prev, this.vec, this.start] = f64 as [
        Float64Array,
        Float64Array,
        Float64Array,
        Float64Array,
        Float64Array,
      ];
      [this.u, ...this.Q] = f32 as [Float32Array, ...Float32Array[]];
      this.n = n;
      this.count = count;
    }
    return this;
  }

  /** The float32 copy of Lanczos vector j (j below the `vectors` sized for). */
  lanczosVector(j: number): Float32Array {
    return this.Q[j]!;
  }
}

/**
 * What keeps a run's evaluations from stopping on the wrong eigenvalue (lambdaMax): at least
 * `minProducts` products before the residual test may stop it, and a random part of relative
 * weight `randomShare` added to a given start.
 */
export interface LanczosGuard {
  minProducts: number;
  randomShare: number;
}

/** No guard: the start as given, stopped by the residual test alone. */
const NO_GUARD: LanczosGuard = { minProducts: 1, randomShare: 0 };

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
  guard: LanczosGuard = NO_GUARD,
): LambdaMax {
  const n = op.size;
  const last = Math.min(maxIter, n);
  // float32 products: the Lanczos vectors in float32 (one more: the residual of the last product)
  const f32 = op.float32 === true && op.hvp32 !== undefined;
  work.size(n, Math.max(1, last) + 1);
  const V = work.arith;
  // the products' own arrays where the vector arithmetic reaches them: each vector is written
  // there as it is scaled, and each product read there (no copies)
  const io = f32 ? (op.views32?.() ?? null) : null;
  const direct = io !== null && V.reaches(io.input) && V.reaches(io.output);
  let q = work.q;
  if (start && start.length === n) q.set(start);
  else q.fill(0);
  let norm = Math.sqrt(V.dot(q, q));
  if (!(norm > 0) || !Number.isFinite(norm)) {
    for (let i = 0; i < n; i++) q[i] = rng.normal();
    norm = Math.sqrt(V.dot(q, q));
  } else if (guard.randomShare > 0) {
    // a random part (uniform in [−1, 1), w is free until the first product): every eigenvector
    // gets some weight, where a warm start can hold none of the top one
    const r = work.w;
    V.uniformSigned(r, rng);
    V.scaleAdd(q, 1 / norm, r, guard.randomShare / Math.sqrt(V.dot(r, r)));
    norm = Math.sqrt(V.dot(q, q));
  }
  // the Lanczos vectors in float32: the recurrence's own (float32 products), else copies kept
  // for the Ritz vector (a warm start needs no more precision)
  const Q: Float32Array[] = [work.lanczosVector(0)];
  V.scaleInto(q, 1 / norm, Q[0]!);
  if (direct) io.input.set(Q[0]!);
  const alpha: number[] = [],
    beta: number[] = [];
  let w = work.w,
    prevQ = work.prev;
  let best = NaN,
    bestY: Float64Array = new Float64Array(0),
    it = 0;
  for (; it < last; it++) {
    // w = H·q_it − β q_it−1, α = q_it·w, w ← w − α q_it: β_it+1 = ‖w‖, and the Ritz pair's
    // residual β_it+1·|s_m|
    let a: number, b: number;
    if (f32) {
      // float32 vectors (the products' own precision), every operation in float64: α in one
      // pass, w (into the next vector's array) and ‖w‖² in another
      const u = direct ? io.output : work.u,
        qi = Q[it]!,
        c = it > 0 ? beta[it - 1]! : 0,
        before = it > 0 ? Q[it - 1]! : qi;
      op.hvp32!(direct ? io.input : qi, u);
      a = V.alpha32(u, c, before, qi);
      b = Number.isFinite(a) ? Math.sqrt(V.residual32(work.lanczosVector(it + 1), u, c, before, a, qi)) : NaN;
    } else {
      op.hvp(op.float32 ? Q[it]! : q, w);
      a = it > 0 ? V.subtractAndDot(w, beta[it - 1]!, prevQ, q) : V.dot(q, w);
      b = Number.isFinite(a) ? Math.sqrt(V.subtractAndDot(w, a, q, w)) : NaN;
    }
    if (!Number.isFinite(a)) {
      work.vec.set(Q[0]!);
      return { lambdaMax: NaN, iterations: it + 1, vector: work.vec };
    }
    alpha.push(a);
    const m = alpha.length;
    // T's eigenpairs where a test below reads them: the residual test's (from `minProducts` on),
    // the last product's, and the invariant-subspace test's where b is small against a bound on
    // |λ| (Gershgorin's: max |αᵢ| + βᵢ₋₁ + βᵢ), which decides that test as |best| would
    if (m >= guard.minProducts || it + 1 >= last || !(b > 1e-12 * Math.max(1, gershgorin(alpha, beta)))) {
      ({ best, bestY } = topPair(alpha, beta));
      const settled = m >= guard.minProducts && b * Math.abs(bestY[m - 1]!) <= tol * Math.abs(best);
      if (settled || it + 1 >= last) {
        it++;
        break;
      }
      // an invariant subspace: λmax is exact
      if (!(b > 1e-12 * Math.max(1, Math.abs(best)))) {
        it++;
        break;
      }
    }
    beta.push(b);
    // q_it+1 = w/b (float32 vectors: w is already in q_it+1's array; else its float32 copy); the
    // old q_it−1's array is the next w
    const next = work.lanczosVector(Q.length);
    if (f32) V.scale32(next, 1 / b, direct ? io.input : undefined);
    else V.scaleInto(w, 1 / b, next);
    Q.push(next);
    const old = prevQ;
    prevQ = q;
    q = w;
    w = old;
  }
  // the Ritz vector Σ yⱼ qⱼ
  const vec = work.vec;
  vec.fill(0);
  V.addScaledAll(vec, bestY, Q.slice(0, bestY.length));
  return { lambdaMax: best, iterations: it, vector: vec };
}

/** The largest eigenvalue of the tridiagonal T (α on the diagonal, β beside it) and its eigenvector. */
function topPair(alpha: readonly number[], beta: readonly number[]): { best: number; bestY: Float64Array } {
  const m = alpha.length;
  const T = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    T[i * m + i] = alpha[i]!;
    if (i + 1 < m) T[i * m + i + 1] = T[(i + 1) * m + i] = beta[i]!;
  }
  const { values, vectors } = symmetricEigen(T, m);
  let top = 0;
  for (let i = 1; i < m; i++) if (values[i]! > values[top]!) top = i;
  return { best: values[top]!, bestY: Float64Array.from({ length: m }, (_, i) => vectors[i * m + top]!) };
}

/** Gershgorin's bound on the eigenvalues' magnitudes of the tridiagonal T: max |αᵢ| + |βᵢ₋₁| + |βᵢ|. */
function gershgorin(alpha: readonly number[], beta: readonly number[]): number {
  let r = 0;
  for (let i = 0; i < alpha.length; i++)
    r = Math.max(r, Math.abs(alpha[i]!) + Math.abs(beta[i - 1] ?? 0) + Math.abs(beta[i] ?? 0));
  return r;
}
