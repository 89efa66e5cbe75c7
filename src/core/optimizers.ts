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

/** Parameter-sized state buffers a tensor needs: sgd 0, momentum 1 (m), adam 2 (m, v). */
export function stateCopies(opt: TrainingSpec['optimizer']): number {
  return { sgd: 0, momentum: 1, adam: 2 }[opt];
}

/** A layer's tensors and their optimiser state, as updateTensors and updatePart take them. */
export type LayerTensors = { W: FArray; b: FArray; dW: FArray; db: FArray };

/**
 * One optimiser step on every tensor (W, then b, of each layer), with the kernels' fast path
 * where it serves the arrays. Writes per tensor [Σ(Δθ)², Σθ, Σθ², Σg, Σg²] at
 * out[at + 10·layer + 5·(0 for W, 1 for b)].
 */
export function updateTensors(
  spec: TrainingSpec,
  kernels: DenseKernels,
  layers: readonly LayerTensors[],
  states: readonly { W: ParamState; b: ParamState }[],
  t: number,
  out: Float64Array,
  at = 0,
  acc: UpdateSums = new UpdateSums(),
): void {
  out.fill(0, at, at + UPDATE_SUMS.PER_LAYER * layers.length);
  layers.forEach((l, i) => {
    updatePart(spec, kernels, l, states[i]!, 0, t, 0, l.W.length, out, at + UPDATE_SUMS.at(i, 0), acc);
    updatePart(spec, kernels, l, states[i]!, 1, t, 0, l.b.length, out, at + UPDATE_SUMS.at(i, 1), acc);
  });
}

/**
 * One optimiser step on values [from, to) of a layer's W (j = 0) or b (j = 1); adds its
 * [Σ(Δθ)², Σθ, Σθ², Σg, Σg²] to out[o..o+5), so the parts of a tensor (the batch split's chunks,
 * parallel.ts) add up to the whole tensor's sums.
 */
export function updatePart(
  spec: TrainingSpec,
  kernels: DenseKernels,
  l: LayerTensors,
  state: { W: ParamState; b: ParamState },
  j: 0 | 1,
  t: number,
  from: number,
  to: number,
  out: Float64Array,
  o: number,
  acc: UpdateSums,
): void {
  const theta = j === 0 ? l.W : l.b,
    g = j === 0 ? l.dW : l.db,
    st = j === 0 ? state.W : state.b,
    n = to - from;
  if (n <= 0) return;
  const whole = n === theta.length;
  const th = whole ? theta : theta.subarray(from, to),
    gr = whole ? g : g.subarray(from, to),
    s = whole ? st : stateRange(st, from, to);
  const S = UPDATE_SUMS;
  out[o + S.DELTA_SQ] =
    out[o + S.DELTA_SQ]! + (kernels.update?.(spec, th, gr, s, t, n, acc) ?? update(spec, th, gr, s, t, n, acc));
  out[o + S.THETA] = out[o + S.THETA]! + acc.theta;
  out[o + S.THETA_SQ] = out[o + S.THETA_SQ]! + acc.theta2;
  out[o + S.GRAD] = out[o + S.GRAD]! + acc.grad;
  out[o + S.GRAD_SQ] = out[o + S.GRAD_SQ]! + acc.grad2;
}

/** The optimiser state of every layer's W, then b, in this order (a helper thread lays out the same). */
export function newLayerStates(
  layers: readonly { W: FArray; b: FArray }[],
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
  acc.theta = s1;
  acc.theta2 = s2;
  acc.grad = g1;
  acc.grad2 = g2;
  return sq;
}
