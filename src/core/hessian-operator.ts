/**
 * The Hessian H = ∇²L(θ) of the batch loss with respect to every weight and bias (θ in PyTorch's
 * order: per layer W [units×fanIn], then b), as a linear operator v ↦ Hv at fixed parameters and
 * batch, for λmax (sharpness.ts).
 *
 * Hessian-vector products are exact: forward-over-reverse (Pearlmutter's R-operator) through our
 * layers, in the network's own kernels and dtype (the WebAssembly kernels for a float32 run; the TS
 * kernels in float64 for the tests), over the arrays of the step's forward and backward passes and
 * work arrays laid out in its arena (hessian-work.ts). With R{·} = d/dε (·)(θ + εv) at ε = 0:
 *   forward   R{Z_l} = R{A_{l−1}}·W_lᵀ + A_{l−1}·V_lᵀ + v_b,l,   R{A_l} = f'(Z_l) ⊙ R{Z_l},  R{A_0} = 0
 *   loss      R{∂L/∂A_L} = H_loss·R{A_L}: cross-entropy p ⊙ (r − p·r)/B per row (p = softmax),
 *             mse 2·R{A_L}/(B·C)
 *   backward  δ_l = ∂L/∂A_l ⊙ f'(Z_l),
 *             R{δ_l} = R{∂L/∂A_l} ⊙ f'(Z_l) + ∂L/∂A_l ⊙ f''(Z_l) ⊙ R{Z_l},
 *             (Hv)_W,l = R{δ_l}ᵀ·A_{l−1} + δ_lᵀ·R{A_{l−1}},   (Hv)_b,l = Σ_i R{δ_l}[i,·],
 *             R{∂L/∂A_{l−1}} = R{δ_l}·W_l + δ_l·V_l.
 * (f'' = 0 for relu and leaky_relu away from 0, as autograd has it.) A product costs six GEMMs a
 * layer (two for the first), about what a training step's three cost on the first layer.
 *
 * The first layer's inputs X [B × n₀] are fixed, so V₁ enters only through X·V₁ᵀ and (Hv)_W,1 =
 * R{δ₁}ᵀ·X lies in the span of X's rows: with Q [r × n₀] an orthonormal basis of that span
 * (r = rank X ≤ B) and P = I − QᵀQ, H·v = 0 for every v whose W₁ block is V₁P (and other blocks 0),
 * and H = 𝒬 H_r 𝒬ᵀ, 𝒬 mapping the W₁ block's coordinates Y [units × r] to Y·Q. Where the batch is
 * smaller than the inputs (W1: 64 rows, 784 inputs), `reduced` makes the operator H_r: the W₁ block
 * is Y, and X·V₁ᵀ = X·Qᵀ·Yᵀ = K·Yᵀ, (Hv)_Y = R{δ₁}ᵀ·K, with K = X·Qᵀ [B × r]. By pivoted Cholesky
 * of G = X·Xᵀ = Π·C·Cᵀ·Πᵀ (pivots below 10⁻¹² of the largest dropped), Q = C₁⁻¹·(ΠᵀX)[:r] with
 * C₁ = C[:r], so K = Π·C: no product with X in the iteration. Same eigenvalues as H but the zeros
 * of its null space, so λmax = max(λmax(H_r), 0) where r < n₀; the first layer's two GEMMs of a
 * product shrink from n₀ to r inputs, and the vectors from n₀·units values to r·units.
 *
 * A run keeps its Ritz vector from one evaluation to the next in the operator's coordinates
 * (`WarmStart`, `keep`, `startFrom`); `toReduced` and `toFull` map vectors of θ's order.
 */
import { derivative2, derivativeInto } from './activations';
import type { FArray, GradPlan } from './kernels';
import { addInto, mulAddInto, mulInto } from './vector-arithmetic';
import type { InputBasis } from './input-basis';
import { inputBasis, solveLowerColumns } from './input-basis';
import { lossAndGrad } from './losses';
import type { Network } from './network';
import type { LossName } from './spec';

/** The Hessian of the batch loss at fixed parameters and batch, as a linear operator v ↦ Hv. */
export class HessianOperator {
  /** Parameters in all: Σ units·(fanIn + 1). */
  readonly size: number;
  private readonly offsets: number[];
  /** The first layer's inputs as the products see them: X [B × n₀], or K = X·Qᵀ [B × r] (reduced). */
  private readonly firstInput: FArray;
  private readonly firstFanIn: number;
  /** The basis where reduced: the pivot rows Π and C₁ (r × r, lower triangular, float64). */
  private readonly basis: InputBasis | null = null;
  /** softmax of A_L (cross-entropy), in float64. */
  private readonly p: Float64Array | null = null;
  /** The share of zeros in each layer's δ (the gradient products' plan). */
  private readonly deltaZeros: number[];

  /**
   * The operator at the network's parameters on the B rows of its input, from the arrays its last
   * forward and backward passes over them left (Z, A and δ = ∂L/∂Z of every layer); the network
   * must have been built with Hessian work arrays. `targets`: class indices (cross_entropy) or
   * B×C values (mse). `reduced`: the operator H_r on the span of the first layer's inputs (see
   * above) where the batch has fewer rows than half the inputs; `toReduced` and `toFull` map vectors.
   */
  constructor(
    private readonly net: Network,
    targets: Float64Array,
    lossName: LossName,
    private readonly B: number,
    reduced = false,
  ) {
    const work = net.hessian;
    if (!work) throw new Error('HessianOperator: the network has no Hessian work arrays');
    const n0 = net.inputSize;
    this.firstInput = net.input;
    this.firstFanIn = n0;
    // (inputs all 0 or not finite: the whole operator, whose products then say so)
    const basis = reduced && reducible(B, n0) ? inputBasis(net.input, B, n0, work.basis, net.kernels) : null;
    if (basis && basis.r > 0) {
      this.basis = basis;
      this.firstInput = work.basis;
      this.firstFanIn = basis.r;
    }
    let at = 0;
    this.offsets = net.layers.map((l, i) => {
      const o = at;
      at += l.units * ((i === 0 ? this.firstFanIn : l.fanIn) + 1);
      return o;
    });
    this.size = at;
    const L = net.layers.length,
      out = net.layers[L - 1]!,
      C = out.units;
    this.deltaZeros = net.layers.map((l) => zeroShare(l.dZ, B * l.units));
    for (let i = 0; i < L; i++) {
      const l = net.layers[i]!,
        w = work.layers[i]!,
        n = B * l.units,
        Z = l.Z,
        d1 = w.d1;
      derivativeInto(l.act, Z, d1, n);
      const c2 = w.c2;
      if (!c2) continue;
      // ∂L/∂A_l: the loss's gradient at the output, else δ_{l+1}·W_{l+1}
      if (i === L - 1) lossAndGrad(lossName, l.A, targets, c2, B, C);
      else {
        const next = net.layers[i + 1]!;
        net.kernels.inputGrad(next.dZ, next.W, c2, B, next.fanIn, next.units);
      }
      for (let j = 0; j < n; j++) c2[j] = c2[j]! * derivative2(l.act, Z[j]!);
    }
    if (lossName === 'cross_entropy') {
      const A = out.A,
        p = new Float64Array(B * C);
      for (let i = 0; i < B; i++) {
        const o = i * C;
        let max = -Infinity;
        for (let c = 0; c < C; c++) max = Math.max(max, A[o + c]!);
        let sum = 0;
        for (let c = 0; c < C; c++) sum += p[o + c] = Math.exp(A[o + c]! - max);
        for (let c = 0; c < C; c++) p[o + c] = p[o + c]! / sum;
      }
      this.p = p;
    }
  }

  /**
   * Keeps y (this operator's coordinates) in `warm` as the next evaluation's start, with this
   * batch's inputs (in the arena's `lastInput`) and basis where the operator is reduced.
   */
  keep(y: Float64Array, warm: WarmStart): void {
    if (warm.y.length !== y.length) warm.y = new Float64Array(y.length);
    warm.y.set(y);
    warm.basis = this.basis;
    warm.rows = this.B;
    warm.held = true;
    if (this.basis) this.net.hessian!.lastInput.set(this.net.input.subarray(0, this.B * this.net.inputSize));
  }

  /**
   * The vector `warm` kept from another batch, in this operator's coordinates (into `out`), or
   * null where the layouts differ (one operator reduced and the other not). Both reduced: the W₁
   * block Y_old·Q_old in θ's order has Y_old·Q_old·Q_newᵀ here, and Q_old·Q_newᵀ =
   * C₁,old⁻¹·X_old[Π_old]·X_new[Π_new]ᵀ·C₁,new⁻ᵀ [r_old × r_new]: one B×B product of the two
   * batches' inputs, two triangular solves on it and a U×r_old×r_new product, against two GEMMs
   * over the n₀ inputs and two triangular solves for U rows through θ's order.
   */
  startFrom(warm: WarmStart, out: Float64Array): Float64Array | null {
    const f = this.firstBlock(),
      old = warm.basis;
    if (!f || !old) {
      if (f || old || warm.y.length !== this.size) return null;
      out.set(warm.y);
      return out;
    }
    const { b, U, n0, B, r, work } = f,
      ro = old.r,
      k = this.net.kernels;
    if (warm.y.length - U * ro !== this.size - U * r) return null;
    // P = X_old·X_newᵀ [B_old × B] (the old batch may have had other rows: an epoch's last)
    const P = work.tmpRows;
    k.forward(work.lastInput, this.net.input, work.zeroBias, P, warm.rows, n0, B);
    const M = new Float64Array(ro * r);
    for (let i = 0; i < ro; i++) for (let j = 0; j < r; j++) M[i * r + j] = P[old.piv[i]! * B + b.piv[j]!]!;
    // M ← C₁,old⁻¹·M down each column, then Mᵀ ← C₁,new⁻¹·Mᵀ down each column of Mᵀ (M·C₁,new⁻ᵀ,
    // transposed as the product below takes it): each value's terms subtracted in the order of
    // its substitution
    solveLowerColumns(old.C1, M, ro, r);
    const T = new Float64Array(r * ro);
    for (let i = 0; i < ro; i++) for (let j = 0; j < r; j++) T[j * ro + i] = M[i * r + j]!;
    solveLowerColumns(b.C1, T, r, ro);
    // Y_new = Y_old·M in the run's kernels: Y_old [U × r_old] and the result in tmpW, Mᵀ in tmpRows
    const Mt = work.tmpRows;
    Mt.set(T);
    const Yo = work.tmpW.subarray(0, U * ro),
      Yn = work.tmpW.subarray(U * ro, U * ro + U * r);
    for (let i = 0; i < U * ro; i++) Yo[i] = warm.y[i]!;
    k.forward(Yo, Mt, work.zeroBias, Yn, U, ro, r);
    for (let i = 0; i < U * r; i++) out[i] = Yn[i]!;
    out.set(warm.y.subarray(U * ro), U * r);
    return out;
  }

  /** ∇L at these parameters, in θ's order (the backward pass's ∂W, ∂b; what the Hessian differentiates). */
  gradient(): Float64Array {
    const g = new Float64Array(this.fullSize);
    let o = 0;
    for (const l of this.net.layers) {
      const nW = l.units * l.fanIn;
      g.set(l.dW.subarray(0, nW), o);
      g.set(l.db.subarray(0, l.units), o + nW);
      o += nW + l.units;
    }
    return g;
  }

  /** Parameters in all, Σ units·(fanIn + 1): the length of `toFull`'s vectors. */
  get fullSize(): number {
    return this.size + this.net.layers[0]!.units * (this.net.inputSize - this.firstFanIn);
  }

  /** Whether the operator is H_r, with a null space of H left out (then λmax(H) = max(λmax(H_r), 0)). */
  get isReduced(): boolean {
    return this.basis !== null;
  }

  /** What the maps between θ's order and the operator's need, where the operator is reduced. */
  private firstBlock() {
    const b = this.basis;
    if (!b) return null;
    return { b, U: this.net.layers[0]!.units, n0: this.net.inputSize, B: this.B, r: b.r, work: this.net.hessian! };
  }

  /** 𝒬ᵀθ: a vector of θ's order in the operator's coordinates (the W₁ block V ↦ V·Qᵀ). */
  toReduced(full: Float64Array, out: Float64Array = new Float64Array(this.size)): Float64Array {
    const f = this.firstBlock();
    if (!f) {
      out.set(full);
      return out;
    }
    const { b, U, n0, B, r, work } = f;
    // S = V·Xᵀ [U × B] in the run's kernels, then Y = S[:, Π[:r]]·C₁⁻ᵀ row by row
    const V = work.v.subarray(0, U * n0);
    V.set(full.subarray(0, U * n0));
    const S = work.tmpRows;
    this.net.kernels.forward(V, this.net.input, work.zeroBias, S, U, n0, B);
    for (let u = 0; u < U; u++) {
      const y = out.subarray(u * r, (u + 1) * r);
      for (let j = 0; j < r; j++) {
        let t = S[u * B + b.piv[j]!]!;
        for (let m = 0; m < j; m++) t -= b.C1[j * r + m]! * y[m]!;
        y[j] = t / b.C1[j * r + j]!;
      }
    }
    out.set(full.subarray(U * n0), U * r);
    return out;
  }

  /** 𝒬y: a vector of the operator's coordinates in θ's order (the W₁ block Y ↦ Y·Q). */
  toFull(reduced: Float64Array, out: Float64Array = new Float64Array(this.fullSize)): Float64Array {
    const f = this.firstBlock();
    if (!f) {
      out.set(reduced);
      return out;
    }
    const { b, U, n0, B, r, work } = f;
    // M = Y·C₁⁻¹ row by row, D [B × U] with D[Π[j], u] = M[u, j], then V = Dᵀ·X (a weight gradient)
    const D = work.tmpRows.subarray(0, B * U);
    D.fill(0);
    const m = new Float64Array(r);
    for (let u = 0; u < U; u++) {
      for (let j = r - 1; j >= 0; j--) {
        let t = reduced[u * r + j]!;
        for (let i = j + 1; i < r; i++) t -= b.C1[i * r + j]! * m[i]!;
        m[j] = t / b.C1[j * r + j]!;
        D[b.piv[j]! * U + u] = m[j]!;
      }
    }
    const V = work.tmpW.subarray(0, U * n0);
    this.net.kernels.weightGrad(D, this.net.input, V, work.db, B, n0, U, { zeroShare: 0 });
    for (let i = 0; i < U * n0; i++) out[i] = V[i]!;
    out.set(reduced.subarray(U * r), U * n0);
    return out;
  }

  /** Whether the products round v to float32 (a float32 network's work arrays). */
  get float32(): boolean {
    return this.net.dtype === 'float32';
  }

  /** out = H·v (both of length `size`, this operator's coordinates), v rounded to the network's dtype. */
  hvp(v: Float64Array | Float32Array, out: Float64Array): void {
    out.set(this.product(v).subarray(0, this.size));
  }

  /**
   * out = H·v as a float32 network's products give it; v and out may be `views32`'s arrays, which
   * the products read and write in place.
   */
  hvp32(v: Float32Array, out: Float32Array): void {
    if (!this.float32) throw new Error('HessianOperator.hvp32: the network is not float32');
    const hv = this.product(v);
    if (!sameArray(out, hv)) out.set(hv.subarray(0, this.size));
  }

  /**
   * A float32 network's arrays of its products' input v and output H·v (`size` values each, in
   * the arena): hvp32 given them copies nothing. Null for float64.
   */
  views32(): { input: Float32Array; output: Float32Array } | null {
    if (!this.float32) return null;
    const w = this.net.hessian!;
    return {
      input: (w.v as Float32Array).subarray(0, this.size),
      output: (w.hv as Float32Array).subarray(0, this.size),
    };
  }

  /** H·v in the work arrays' `hv` (its first `size` values), v rounded to the network's dtype. */
  private product(v: Float64Array | Float32Array): FArray {
    const net = this.net,
      k = net.kernels,
      work = net.hessian!,
      B = this.B,
      L = net.layers.length;
    if (!sameArray(v, work.v)) work.v.set(v);
    // forward: R{Z_l}, R{A_l}
    for (let i = 0; i < L; i++) {
      const l = net.layers[i]!,
        w = work.layers[i]!,
        o = this.offsets[i]!,
        fanIn = i > 0 ? l.fanIn : this.firstFanIn,
        nW = l.units * fanIn,
        n = B * l.units;
      const input = i > 0 ? net.layers[i - 1]!.A : this.firstInput;
      const rZ = w.rZ;
      k.forward(input, work.v.subarray(o, o + nW), work.v.subarray(o + nW, o + nW + l.units), rZ, B, fanIn, l.units);
      if (i > 0) {
        const t = work.tmpRows;
        k.forward(work.layers[i - 1]!.rA, l.W, work.zeroBias, t, B, l.fanIn, l.units);
        addInto(k, rZ, t, n);
      }
      mulInto(k, w.rA, w.d1, rZ, n);
    }
    // the loss's Hessian on R{A_L}
    const C = net.layers[L - 1]!.units,
      rAL = work.layers[L - 1]!.rA,
      rGL = work.layers[L - 1]!.rG;
    if (this.p) {
      const p = this.p;
      for (let i = 0; i < B; i++) {
        const o = i * C;
        let s = 0;
        for (let c = 0; c < C; c++) s += p[o + c]! * rAL[o + c]!;
        for (let c = 0; c < C; c++) rGL[o + c] = (p[o + c]! * (rAL[o + c]! - s)) / B;
      }
    } else {
      const scale = 2 / (B * C);
      for (let j = 0; j < B * C; j++) rGL[j] = scale * rAL[j]!;
    }
    // backward: R{δ_l}, (Hv)_l, R{∂L/∂A_{l−1}}
    for (let i = L - 1; i >= 0; i--) {
      const l = net.layers[i]!,
        w = work.layers[i]!,
        o = this.offsets[i]!,
        fanIn = i > 0 ? l.fanIn : this.firstFanIn,
        nW = l.units * fanIn,
        n = B * l.units;
      const rD = w.rG, // R{∂L/∂A_l}, turned into R{δ_l} in place
        d1 = w.d1,
        c2 = w.c2,
        rZ = w.rZ;
      let zeros = 0;
      if (c2) mulAddInto(k, rD, d1, c2, rZ, n);
      else zeros = mulInto(k, rD, d1, rD, n);
      const plan = (share: number): GradPlan => ({ zeroShare: share });
      const outW = work.hv.subarray(o, o + nW),
        outB = work.hv.subarray(o + nW, o + nW + l.units);
      const A = i > 0 ? net.layers[i - 1]!.A : this.firstInput;
      k.weightGrad(rD, A, outW, outB, B, fanIn, l.units, plan(zeros / n));
      if (i === 0) continue;
      const rAprev = work.layers[i - 1]!.rA,
        t = work.tmpW;
      k.weightGrad(l.dZ, rAprev, t, work.db, B, l.fanIn, l.units, plan(this.deltaZeros[i]!));
      addInto(k, outW, t, nW);
      const prev = work.layers[i - 1]!.rG,
        t2 = work.tmpRows;
      k.inputGrad(rD, l.W, prev, B, l.fanIn, l.units, plan(zeros / n));
      k.inputGrad(l.dZ, work.v.subarray(o, o + nW), t2, B, l.fanIn, l.units, plan(this.deltaZeros[i]!));
      addInto(k, prev, t2, B * l.fanIn);
    }
    return work.hv;
  }
}

/** Whether two arrays start at the same place of the same memory. */
function sameArray(a: FArray, b: FArray): boolean {
  return a.buffer === b.buffer && a.byteOffset === b.byteOffset;
}

/** Whether a batch of B rows of n₀ inputs gets the operator on their span (`reduced`). */
function reducible(B: number, n0: number): boolean {
  return 2 * B <= n0;
}

/**
 * The most values a run's operator iterates on (its `size`): every weight and bias, the first
 * layer's weights on at most B input directions where a batch of B rows is reducible.
 */
export function operatorSizeBound(units: readonly number[], inputSize: number, B: number): number {
  let n = 0,
    fanIn = reducible(B, inputSize) ? B : inputSize;
  for (const u of units) {
    n += u * (fanIn + 1);
    fanIn = u;
  }
  return n;
}

/** The share of zeros among the first n values. */
function zeroShare(a: FArray, n: number): number {
  let z = 0;
  for (let j = 0; j < n; j++) z += +(a[j] === 0);
  return n > 0 ? z / n : 0;
}

/**
 * A run's Ritz vector from one evaluation to the next, which is on another batch: in the
 * coordinates of the operator it came from, with that batch's input basis (its inputs kept in the
 * arena), so that it reaches the next operator's coordinates without going through θ's order.
 */
export class WarmStart {
  y = new Float64Array(0);
  /** The input basis of y's batch; null where its operator was not reduced. */
  basis: InputBasis | null = null;
  /** The rows of y's batch. */
  rows = 0;
  /** Whether y holds a vector yet. */
  held = false;
}
