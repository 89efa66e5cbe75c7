/**
 * Sharpness: λmax, the largest (algebraic) eigenvalue of the Hessian H = ∇²L(θ) of the batch loss
 * with respect to every weight and bias (θ in PyTorch's order: per layer W [units×fanIn], then b),
 * at the parameters before the step's update, on that step's batch.
 *
 * Gradient descent with learning rate η diverges along an eigenvector whose eigenvalue exceeds 2/η
 * (heavy-ball momentum β: (2 + 2β)/η); training tends to sit near that edge (Cohen et al., 2021).
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
 * λmax of such an operator: lanczos.ts.
 */
import { derivative, derivative2 } from './activations';
import type { FArray, GradPlan } from './kernels';
import { lossAndGrad } from './losses';
import type { Network } from './network';
import type { SharpnessEvent } from '../protocol/events';
import type { LossName, TrainingSpec } from './spec';

/** The Hessian of the batch loss at fixed parameters and batch, as a linear operator v ↦ Hv. */
export class HessianOperator {
  /** Parameters in all: Σ units·(fanIn + 1). */
  readonly size: number;
  private readonly offsets: number[];
  /** softmax of A_L (cross-entropy), in float64. */
  private readonly p: Float64Array | null = null;
  /** The share of zeros in each layer's δ (the gradient products' plan). */
  private readonly deltaZeros: number[];

  /**
   * The operator at the network's parameters on the B rows of its input, from the arrays its last
   * forward and backward passes over them left (Z, A and δ = ∂L/∂Z of every layer); the network
   * must have been built with Hessian work arrays. `targets`: class indices (cross_entropy) or
   * B×C values (mse).
   */
  constructor(
    private readonly net: Network,
    targets: Float64Array,
    lossName: LossName,
    private readonly B: number,
  ) {
    const work = net.hessian;
    if (!work) throw new Error('HessianOperator: the network has no Hessian work arrays');
    let at = 0;
    this.offsets = net.layers.map((l) => {
      const o = at;
      at += l.units * (l.fanIn + 1);
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
      for (let j = 0; j < n; j++) d1[j] = derivative(l.act, Z[j]!);
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

  /** ∇L at these parameters, in θ's order (the backward pass's ∂W, ∂b; what the Hessian differentiates). */
  gradient(): Float64Array {
    const g = new Float64Array(this.size);
    this.net.layers.forEach((l, i) => {
      const o = this.offsets[i]!,
        nW = l.units * l.fanIn;
      g.set(l.dW.subarray(0, nW), o);
      g.set(l.db.subarray(0, l.units), o + nW);
    });
    return g;
  }

  /** out = H·v (both of length `size`, θ's order). */
  hvp(v: Float64Array, out: Float64Array): void {
    const net = this.net,
      k = net.kernels,
      work = net.hessian!,
      B = this.B,
      L = net.layers.length;
    work.v.set(v);
    // forward: R{Z_l}, R{A_l}
    for (let i = 0; i < L; i++) {
      const l = net.layers[i]!,
        w = work.layers[i]!,
        o = this.offsets[i]!,
        nW = l.units * l.fanIn,
        n = B * l.units;
      const input = i > 0 ? net.layers[i - 1]!.A : net.input;
      const rZ = w.rZ;
      k.forward(input, work.v.subarray(o, o + nW), work.v.subarray(o + nW, o + nW + l.units), rZ, B, l.fanIn, l.units);
      if (i > 0) {
        const t = work.tmpRows;
        k.forward(work.layers[i - 1]!.rA, l.W, work.zeroBias, t, B, l.fanIn, l.units);
        for (let j = 0; j < n; j++) rZ[j] = rZ[j]! + t[j]!;
      }
      const rA = w.rA,
        d1 = w.d1;
      for (let j = 0; j < n; j++) rA[j] = d1[j]! * rZ[j]!;
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
        nW = l.units * l.fanIn,
        n = B * l.units;
      const rD = w.rG, // R{∂L/∂A_l}, turned into R{δ_l} in place
        d1 = w.d1,
        c2 = w.c2,
        rZ = w.rZ;
      let zeros = 0;
      if (c2) for (let j = 0; j < n; j++) rD[j] = rD[j]! * d1[j]! + c2[j]! * rZ[j]!;
      else
        for (let j = 0; j < n; j++) {
          const r = rD[j]! * d1[j]!;
          rD[j] = r;
          zeros += +(r === 0);
        }
      const plan = (share: number): GradPlan => ({ zeroShare: share });
      const outW = work.hv.subarray(o, o + nW),
        outB = work.hv.subarray(o + nW, o + nW + l.units);
      const A = i > 0 ? net.layers[i - 1]!.A : net.input;
      k.weightGrad(rD, A, outW, outB, B, l.fanIn, l.units, plan(zeros / n));
      if (i === 0) continue;
      const rAprev = work.layers[i - 1]!.rA,
        t = work.tmpW;
      k.weightGrad(l.dZ, rAprev, t, work.db, B, l.fanIn, l.units, plan(this.deltaZeros[i]!));
      for (let j = 0; j < nW; j++) outW[j] = outW[j]! + t[j]!;
      const prev = work.layers[i - 1]!.rG,
        t2 = work.tmpRows;
      k.inputGrad(rD, l.W, prev, B, l.fanIn, l.units, plan(zeros / n));
      k.inputGrad(l.dZ, work.v.subarray(o, o + nW), t2, B, l.fanIn, l.units, plan(this.deltaZeros[i]!));
      for (let j = 0; j < B * l.fanIn; j++) prev[j] = prev[j]! + t2[j]!;
    }
    out.set(work.hv);
  }
}

/** The share of zeros among the first n values. */
function zeroShare(a: FArray, n: number): number {
  let z = 0;
  for (let j = 0; j < n; j++) z += +(a[j] === 0);
  return n > 0 ? z / n : 0;
}

/**
 * Runs the network's forward pass, the loss and its backward pass over the B rows in its input
 * (the network built with Hessian work arrays), and returns the Hessian there (for `analyze` and
 * the tests; a run's trainer builds the operator after its own passes).
 */
export function hessianOfBatch(net: Network, targets: Float64Array, lossName: LossName, B: number): HessianOperator {
  net.forward(net.input, B);
  const out = net.output;
  lossAndGrad(lossName, out.A, targets, out.dZ, B, out.units);
  net.backward(net.input, B);
  return new HessianOperator(net, targets, lossName, B);
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
