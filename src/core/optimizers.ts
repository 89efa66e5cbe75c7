/**
 * Optimisers with PyTorch's semantics (torch.optim, no weight decay, no dampening, no Nesterov):
 *
 * - sgd:      θ ← θ − η·g
 * - momentum: m ← μ·m + g (m₀ = g on the first step), θ ← θ − η·m
 * - adam:     m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ),
 *             θ ← θ − η·m̂/(√v̂ + ε)    (t counts from 1)
 *
 * `update` applies one step to one parameter tensor and returns Σ(θ_after − θ_before)², computed
 * from the stored values, for the update ratio. The same pass gathers the statistics of θ before
 * the step and of the gradient it applied (into `acc`), so they cost no pass of their own.
 */
import type { DenseKernels, FArray, ParamState } from './kernels';
import { UpdateSums, UPDATE_SUMS } from './kernels';
import type { TrainingSpec } from './spec';

export function newParamState(opt: TrainingSpec['optimizer'], n: number, make: (n: number) => FArray): ParamState {
  return {
    m: opt === 'sgd' ? null : make(n),
    v: opt === 'adam' ? make(n) : null,
  };
}

/** A layer's tensors, as an Updater steps them. */
type LayerTensors = { W: FArray; b: FArray; dW: FArray; db: FArray };

/**
 * What the parts of one optimiser pass over a network share: the optimiser, the kernels (their fast
 * path where it serves the arrays), the layers' tensors and optimiser state, the sums' destination
 * (`out` from `at`, in the UPDATE_SUMS layout) and the scratch `acc`. `t` is set for each step.
 */
export class Updater {
  t = 1;
  constructor(
    readonly spec: TrainingSpec,
    readonly kernels: DenseKernels,
    readonly layers: readonly LayerTensors[],
    readonly states: readonly { W: ParamState; b: ParamState }[],
    readonly out: Float64Array,
    readonly at = 0,
    private readonly acc = new UpdateSums(),
  ) {}

  /** Zeroes the sums of every tensor, before a pass adds its parts. */
  clearSums(): void {
    this.out.fill(0, this.at, this.at + UPDATE_SUMS.PER_LAYER * this.layers.length);
  }

  /** One optimiser step on every tensor (W, then b, of each layer), its sums written whole. */
  all(): void {
    this.clearSums();
    this.layers.forEach((l, i) => {
      this.part(i, 0, 0, l.W.length);
      this.part(i, 1, 0, l.b.length);
    });
  }

  /**
   * One optimiser step on values [from, to) of layer i's W (j = 0) or b (j = 1); adds its
   * [Σ(Δθ)², Σθ, Σθ², Σg, Σg²] to the tensor's sums, so the parts of a tensor (the batch split's
   * chunks, parallel.ts) add up to the whole tensor's.
   */
  part(i: number, j: 0 | 1, from: number, to: number): void {
    const l = this.layers[i]!,
      state = this.states[i]!,
      theta = j === 0 ? l.W : l.b,
      g = j === 0 ? l.dW : l.db,
      st = j === 0 ? state.W : state.b,
      n = to - from;
    if (n <= 0) return;
    const whole = n === theta.length;
    const th = whole ? theta : theta.subarray(from, to),
      gr = whole ? g : g.subarray(from, to),
      s = whole ? st : stateRange(st, from, to);
    const { spec, t, acc, out } = this,
      S = UPDATE_SUMS,
      o = this.at + S.at(i, j);
    if (!this.kernels.update?.(spec, th, gr, s, t, n, acc)) update(spec, th, gr, s, t, n, acc);
    out[o + S.DELTA_SQ] = out[o + S.DELTA_SQ]! + acc.deltaSq;
    out[o + S.THETA] = out[o + S.THETA]! + acc.theta;
    out[o + S.THETA_SQ] = out[o + S.THETA_SQ]! + acc.theta2;
    out[o + S.GRAD] = out[o + S.GRAD]! + acc.grad;
    out[o + S.GRAD_SQ] = out[o + S.GRAD_SQ]! + acc.grad2;
  }
}

/** The optimiser state of every layer's W, then b, in this order (a helper thread lays out the same). */
export function newLayerStates(
  layers: readonly { W: { readonly length: number }; b: { readonly length: number } }[],
  opt: TrainingSpec['optimizer'],
  make: (n: number) => FArray,
): { W: ParamState; b: ParamState }[] {
  return layers.map((l) => ({ W: newParamState(opt, l.W.length, make), b: newParamState(opt, l.b.length, make) }));
}

/** Values [from, to) of a state: views, so an update of a part of a tensor steps its part of the state. */
function stateRange(s: ParamState, from: number, to: number): ParamState {
  return { m: s.m ? s.m.subarray(from, to) : null, v: s.v ? s.v.subarray(from, to) : null };
}

/**
 * One optimiser step on θ (length n) with gradient g. `t` is the 1-based step count (adam's bias
 * correction; momentum's first step). Returns the squared Frobenius norm of the applied change.
 */
export function update(
  spec: TrainingSpec,
  theta: FArray,
  g: FArray,
  state: ParamState,
  t: number,
  n: number,
  acc: UpdateSums = new UpdateSums(),
): number {
  const lr = spec.learningRate;
  let sq = 0,
    s1 = 0,
    s2 = 0,
    g1 = 0,
    g2 = 0;
  switch (spec.optimizer) {
    case 'sgd':
      for (let i = 0; i < n; i++) {
        const old = theta[i]!,
          gi = g[i]!;
        theta[i] = old - lr * gi;
        const d = theta[i]! - old;
        sq += d * d;
        s1 += old;
        s2 += old * old;
        g1 += gi;
        g2 += gi * gi;
      }
      break;
    case 'momentum': {
      const mu = spec.momentum,
        m = state.m!;
      for (let i = 0; i < n; i++) {
        const gi = g[i]!;
        m[i] = t === 1 ? gi : mu * m[i]! + gi;
        const old = theta[i]!;
        theta[i] = old - lr * m[i]!;
        const d = theta[i]! - old;
        sq += d * d;
        s1 += old;
        s2 += old * old;
        g1 += gi;
        g2 += gi * gi;
      }
      break;
    }
    case 'adam': {
      const b1 = spec.beta1,
        b2 = spec.beta2,
        eps = spec.eps;
      const bc1 = 1 - Math.pow(b1, t),
        bc2 = 1 - Math.pow(b2, t);
      const stepSize = lr / bc1,
        sqrtBc2 = Math.sqrt(bc2);
      const m = state.m!,
        v = state.v!;
      for (let i = 0; i < n; i++) {
        const gi = g[i]!;
        m[i] = b1 * m[i]! + (1 - b1) * gi;
        v[i] = b2 * v[i]! + (1 - b2) * gi * gi;
        const denom = Math.sqrt(v[i]!) / sqrtBc2 + eps;
        const old = theta[i]!;
        theta[i] = old - stepSize * (m[i]! / denom);
        const d = theta[i]! - old;
        sq += d * d;
        s1 += old;
        s2 += old * old;
        g1 += gi;
        g2 += gi * gi;
      }
      break;
    }
  }
  acc.deltaSq = sq;
  acc.theta = s1;
  acc.theta2 = s2;
  acc.grad = g1;
  acc.grad2 = g2;
  return sq;
}
