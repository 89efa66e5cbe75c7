/**
 * Sharpness: λmax, the largest (algebraic) eigenvalue of the Hessian H = ∇²L(θ) of the batch loss
 * with respect to every weight and bias (θ in PyTorch's order: per layer W [units×fanIn], then b),
 * at the parameters before the step's update, on that step's batch.
 *
 * Gradient descent with learning rate η diverges along an eigenvector whose eigenvalue exceeds 2/η
 * (heavy-ball momentum β: (2 + 2β)/η); training tends to sit near that edge (Cohen et al., 2021).
 *
 * Hessian-vector products are exact: forward-over-reverse (Pearlmutter's R-operator) through our
 * layers, in float64 with the TS kernels. With the R-operator R{·} = d/dε (·)(θ + εv) at ε = 0:
 *   forward   R{Z_l} = R{A_{l−1}}·W_lᵀ + A_{l−1}·V_lᵀ + v_b,l,   R{A_l} = f'(Z_l) ⊙ R{Z_l},  R{A_0} = 0
 *   loss      R{∂L/∂A_L} = H_loss·R{A_L}: cross-entropy p ⊙ (r − p·r)/B per row (p = softmax),
 *             mse 2·R{A_L}/(B·C)
 *   backward  δ_l = ∂L/∂A_l ⊙ f'(Z_l),
 *             R{δ_l} = R{∂L/∂A_l} ⊙ f'(Z_l) + ∂L/∂A_l ⊙ f''(Z_l) ⊙ R{Z_l},
 *             (Hv)_W,l = R{δ_l}ᵀ·A_{l−1} + δ_lᵀ·R{A_{l−1}},   (Hv)_b,l = Σ_i R{δ_l}[i,·],
 *             R{∂L/∂A_{l−1}} = R{δ_l}·W_l + δ_l·V_l.
 * (f'' = 0 for relu and leaky_relu away from 0, as autograd has it.)
 *
 * λmax by Lanczos with full reorthogonalisation, from a start vector (the previous evaluation's
 * Ritz vector, so that a slowly turning top direction converges in a few products); it stops when
 * the largest Ritz value moved less than `tol` relatively, or after `maxIter` products.
 */
import type { Activation } from './activations';
import { derivative, derivative2, activate } from './activations';
import { tsKernels } from './dense';
import type { FArray } from './kernels';
import { lossAndGrad } from './losses';
import type { Rng } from './rng';
import type { SharpnessEvent } from '../protocol/events';
import type { LossName, TrainingSpec } from './spec';

/** What the Hessian needs of a layer: its parameters (any float array) and its shape and activation. */
export interface HessianLayer {
  W: FArray;
  b: FArray;
  fanIn: number;
  units: number;
  act: Activation;
}

/** The Hessian of the batch loss at fixed parameters and batch, as a linear operator v ↦ Hv. */
export class HessianOperator {
  /** Parameters in all: Σ units·(fanIn + 1). */
  readonly size: number;
  /** The batch loss at these parameters. */
  readonly loss: number;
  private readonly W: Float64Array[];
  private readonly offsets: number[];
  private readonly A: Float64Array[] = []; // A_0 = X, …, A_L
  private readonly Z: Float64Array[] = [];
  private readonly d1: Float64Array[] = [];
  private readonly d2: Float64Array[] = [];
  private readonly gA: Float64Array[] = []; // ∂L/∂A_l, l = 1…L
  private readonly delta: Float64Array[] = [];
  private readonly p: Float64Array | null = null; // softmax of A_L (cross-entropy)
  // scratch
  private readonly rZ: Float64Array[];
  private readonly rA: Float64Array[];
  private readonly rG: Float64Array[];
  private readonly tmp: Float64Array[];
  private readonly dbScratch: Float64Array[];
  private readonly zeroBias: Float64Array[];

  /** `X`: B rows of the inputs; `targets`: class indices (cross_entropy) or B×C values (mse). */
  constructor(
    private readonly layers: readonly HessianLayer[],
    X: FArray,
    targets: Float64Array,
    lossName: LossName,
    private readonly B: number,
  ) {
    const k = tsKernels;
    this.W = layers.map((l) => Float64Array.from(l.W.subarray(0, l.units * l.fanIn)));
    let at = 0;
    this.offsets = layers.map((l) => {
      const o = at;
      at += l.units * (l.fanIn + 1);
      return o;
    });
    this.size = at;
    const K0 = layers[0]!.fanIn;
    this.A.push(Float64Array.from(X.subarray(0, B * K0)));
    layers.forEach((l, i) => {
      const n = B * l.units;
      const Z = new Float64Array(n);
      k.forward(this.A[i]!, this.W[i]!, Float64Array.from(l.b.subarray(0, l.units)), Z, B, l.fanIn, l.units);
      const A = new Float64Array(n),
        d1 = new Float64Array(n),
        d2 = new Float64Array(n);
      for (let j = 0; j < n; j++) {
        const z = Z[j]!;
        A[j] = activate(l.act, z);
        d1[j] = derivative(l.act, z);
        d2[j] = derivative2(l.act, z);
      }
      this.Z.push(Z);
      this.A.push(A);
      this.d1.push(d1);
      this.d2.push(d2);
    });
    const L = layers.length,
      out = layers[L - 1]!,
      C = out.units;
    const gOut = new Float64Array(B * C);
    this.loss = lossAndGrad(lossName, this.A[L]!, targets, gOut, B, C);
    if (lossName === 'cross_entropy') {
      // p = softmax(A_L) = B·∂L/∂A + onehot
      const p = new Float64Array(B * C);
      for (let i = 0; i < B; i++) for (let c = 0; c < C; c++) p[i * C + c] = gOut[i * C + c]! * B;
      for (let i = 0; i < B; i++) p[i * C + targets[i]!] = p[i * C + targets[i]!]! + 1;
      this.p = p;
    }
    this.gA = layers.map((l) => new Float64Array(B * l.units));
    this.gA[L - 1] = gOut;
    this.delta = layers.map((l) => new Float64Array(B * l.units));
    for (let i = L - 1; i >= 0; i--) {
      const l = layers[i]!,
        g = this.gA[i]!,
        d = this.delta[i]!,
        d1 = this.d1[i]!;
      for (let j = 0; j < d.length; j++) d[j] = g[j]! * d1[j]!;
      if (i > 0) k.inputGrad(d, this.W[i]!, this.gA[i - 1]!, B, l.fanIn, l.units);
    }
    this.rZ = layers.map((l) => new Float64Array(B * l.units));
    this.rA = layers.map((l) => new Float64Array(B * l.units));
    this.rG = layers.map((l) => new Float64Array(B * l.units));
    this.tmp = layers.map((l) => new Float64Array(Math.max(B * l.units, B * l.fanIn, l.units * l.fanIn)));
    this.dbScratch = layers.map((l) => new Float64Array(l.units));
    this.zeroBias = layers.map((l) => new Float64Array(l.units));
  }

  /** ∇L at these parameters, in θ's order (what the Hessian differentiates; for tests). */
  gradient(): Float64Array {
    const g = new Float64Array(this.size);
    this.layers.forEach((l, i) => {
      const o = this.offsets[i]!,
        nW = l.units * l.fanIn;
      tsKernels.weightGrad(
        this.delta[i]!,
        this.A[i]!,
        g.subarray(o, o + nW),
        g.subarray(o + nW, o + nW + l.units),
        this.B,
        l.fanIn,
        l.units,
      );
    });
    return g;
  }

  /** out = H·v (both of length `size`, θ's order). */
  hvp(v: Float64Array, out: Float64Array): void {
    const k = tsKernels,
      B = this.B,
      L = this.layers.length;
    // forward: R{Z_l}, R{A_l}
    this.layers.forEach((l, i) => {
      const o = this.offsets[i]!,
        nW = l.units * l.fanIn;
      const VW = v.subarray(o, o + nW),
        Vb = v.subarray(o + nW, o + nW + l.units);
      const rZ = this.rZ[i]!;
      k.forward(this.A[i]!, VW, Vb, rZ, B, l.fanIn, l.units);
      if (i > 0) {
        const t = this.tmp[i]!.subarray(0, B * l.units);
        k.forward(this.rA[i - 1]!, this.W[i]!, this.zeroBias[i]!, t, B, l.fanIn, l.units);
        for (let j = 0; j < rZ.length; j++) rZ[j] = rZ[j]! + t[j]!;
      }
      const rA = this.rA[i]!,
        d1 = this.d1[i]!;
      for (let j = 0; j < rA.length; j++) rA[j] = d1[j]! * rZ[j]!;
    });
    // the loss's Hessian on R{A_L}
    const C = this.layers[L - 1]!.units,
      rAL = this.rA[L - 1]!,
      rG = this.rG[L - 1]!;
    if (this.p) {
      const p = this.p;
      for (let i = 0; i < B; i++) {
        let s = 0;
        for (let c = 0; c < C; c++) s += p[i * C + c]! * rAL[i * C + c]!;
        for (let c = 0; c < C; c++) rG[i * C + c] = (p[i * C + c]! * (rAL[i * C + c]! - s)) / B;
      }
    } else {
      const scale = 2 / (B * C);
      for (let j = 0; j < rG.length; j++) rG[j] = scale * rAL[j]!;
    }
    // backward: R{δ_l}, (Hv)_l, R{∂L/∂A_{l−1}}
    for (let i = L - 1; i >= 0; i--) {
      const l = this.layers[i]!,
        o = this.offsets[i]!,
        nW = l.units * l.fanIn;
      const rD = this.rG[i]!, // R{∂L/∂A_l}, turned into R{δ_l} in place
        g = this.gA[i]!,
        d1 = this.d1[i]!,
        d2 = this.d2[i]!,
        rZ = this.rZ[i]!;
      for (let j = 0; j < rD.length; j++) rD[j] = rD[j]! * d1[j]! + g[j]! * d2[j]! * rZ[j]!;
      const outW = out.subarray(o, o + nW),
        outB = out.subarray(o + nW, o + nW + l.units);
      k.weightGrad(rD, this.A[i]!, outW, outB, B, l.fanIn, l.units);
      if (i > 0) {
        const t = this.tmp[i]!.subarray(0, nW);
        k.weightGrad(this.delta[i]!, this.rA[i - 1]!, t, this.dbScratch[i]!, B, l.fanIn, l.units);
        for (let j = 0; j < nW; j++) outW[j] = outW[j]! + t[j]!;
        const prev = this.rG[i - 1]!,
          t2 = this.tmp[i - 1]!.subarray(0, B * l.fanIn);
        k.inputGrad(rD, this.W[i]!, prev, B, l.fanIn, l.units);
        k.inputGrad(this.delta[i]!, v.subarray(o, o + nW), t2, B, l.fanIn, l.units);
        for (let j = 0; j < prev.length; j++) prev[j] = prev[j]! + t2[j]!;
      }
    }
  }
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

interface LambdaMax {
  lambdaMax: number;
  /** Hessian-vector products used. */
  iterations: number;
  /** The Ritz vector of λmax (unit length): the next evaluation's start. */
  vector: Float64Array;
}

/**
 * λmax of the operator by Lanczos from `start` (a random unit vector from `rng` when null or of
 * another size). Non-finite products give NaN.
 */
export function lambdaMax(
  op: Pick<HessianOperator, 'size' | 'hvp'>,
  start: Float64Array | null,
  rng: Rng,
  maxIter = 30,
  tol = 1e-5,
): LambdaMax {
  const n = op.size;
  const q0 =
    start && start.length === n ? Float64Array.from(start) : Float64Array.from({ length: n }, () => rng.normal());
  let norm = Math.hypot(...chunkNorms(q0));
  if (!(norm > 0) || !Number.isFinite(norm)) {
    for (let i = 0; i < n; i++) q0[i] = rng.normal();
    norm = Math.hypot(...chunkNorms(q0));
  }
  for (let i = 0; i < n; i++) q0[i] = q0[i]! / norm;
  const Q: Float64Array[] = [q0];
  const alpha: number[] = [],
    beta: number[] = [];
  const w = new Float64Array(n);
  let prev = NaN,
    best = NaN,
    bestY: Float64Array | null = null,
    it = 0;
  for (; it < Math.min(maxIter, n); it++) {
    const q = Q[it]!;
    op.hvp(q, w);
    let a = 0;
    for (let i = 0; i < n; i++) a += q[i]! * w[i]!;
    if (!Number.isFinite(a)) return { lambdaMax: NaN, iterations: it + 1, vector: q0 };
    alpha.push(a);
    // w ← w − Σ (qⱼ·w) qⱼ, twice (full reorthogonalisation)
    for (let pass = 0; pass < 2; pass++)
      for (const qj of Q) {
        let d = 0;
        for (let i = 0; i < n; i++) d += qj[i]! * w[i]!;
        for (let i = 0; i < n; i++) w[i] = w[i]! - d * qj[i]!;
      }
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
    const b = Math.hypot(...chunkNorms(w));
    const converged = Math.abs(best - prev) <= tol * Math.abs(best) || b <= 1e-12 * Math.max(1, Math.abs(best));
    prev = best;
    if (converged || it + 1 >= Math.min(maxIter, n)) {
      it++;
      break;
    }
    beta.push(b);
    Q.push(Float64Array.from(w, (x) => x / b));
  }
  // the Ritz vector Σ yⱼ qⱼ
  const vec = new Float64Array(n);
  if (bestY)
    bestY.forEach((y, j) => {
      const qj = Q[j]!;
      for (let i = 0; i < n; i++) vec[i] = vec[i]! + y * qj[i]!;
    });
  return { lambdaMax: best, iterations: it, vector: vec };
}

/** √(Σx²) in pieces, for Math.hypot (its argument count is bounded). */
function chunkNorms(x: Float64Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < x.length; i += 4096) {
    let s = 0;
    const e = Math.min(x.length, i + 4096);
    for (let j = i; j < e; j++) s += x[j]! * x[j]!;
    out.push(Math.sqrt(s));
  }
  return out;
}

/**
 * The divergence threshold of the run's optimiser on λmax: sgd 2/η, momentum (2 + 2β)/η; null for
 * adam (its steps are preconditioned: the raw Hessian's λmax has no threshold of its own).
 */
export function sharpnessThreshold(
  optimizer: 'sgd' | 'momentum' | 'adam',
  lr: number,
  momentum: number,
): number | null {
  if (optimizer === 'sgd') return 2 / lr;
  if (optimizer === 'momentum') return (2 + 2 * momentum) / lr;
  return null;
}

/** The sharpness event of step k: λmax, the optimiser's threshold, and its momentum where it has one. */
export function sharpnessEvent(
  step: number,
  r: { lambdaMax: number; iterations: number },
  tr: TrainingSpec,
): SharpnessEvent {
  return {
    type: 'sharpness',
    step,
    lambdaMax: r.lambdaMax,
    threshold: sharpnessThreshold(tr.optimizer, tr.learningRate, tr.momentum),
    iterations: r.iterations,
    ...(tr.optimizer === 'momentum' ? { momentum: tr.momentum } : {}),
  };
}
