/**
 * The events a run emits about its network and its steps, built from what the network holds and
 * from what a step's passes returned (trainer.ts decides when):
 *
 * - start: the model, its parameters and layers, the clip setting;
 * - the parameters' part of a step, from the optimiser's sums (kernels.UPDATE_SUMS) per layer:
 *   the weights' mean and variance before the update, Σθ/n and Σθ²/n − mean²; ∂W's norm √Σg² and
 *   variance Σg²/n − (Σg/n)² (or as taken before clipping, when clipping needed them first); and
 *   updateRatio = ‖ΔW‖/‖W‖ = √Σ(Δθ)² / √Σθ²;
 * - step: every layer's statistics, the loss, Var(x) of the batch and the clip record.
 */
import type { LayerStepStats, StartEvent, StepEvent } from '../protocol/events';
import { UPDATE_SUMS } from './kernels';
import type { ForwardStats, GradStats } from './layer-stats';
import type { Network } from './network';
import type { ModelSpec } from './spec';
import { clampVar } from './stats';
import { mapPacked } from './packed';

export function startEvent(spec: ModelSpec, net: Network, steps: number): StartEvent {
  return {
    type: 'start',
    model: spec.name,
    parameters: net.parameters,
    steps,
    layers: net.layers.map((l) => ({
      index: l.index,
      units: l.units,
      activation: l.act.name,
      init: spec.weights ? 'weights' : spec.layers[l.index]!.init.scheme,
      fanIn: l.fanIn,
      fanOut: l.units,
    })),
    clip: spec.training.clip,
  };
}

/** A gradient tensor's norm, variance and sum of squares. */
interface GradNorm {
  norm: number;
  var: number;
  sumSq: number;
}

/** The parameters' part of a step's statistics, per layer. */
interface ParameterStats {
  weight: { mean: number; var: number }[];
  weightGrad: GradNorm[];
  updateRatio: number[];
  /** The first layer whose update or gradient is not finite; −1 when there is none. */
  notFinite: number;
}

/**
 * The parameters' statistics from the optimiser's sums `sums` of layers whose W holds n values
 * each; ∂W's from the sums too, unless `beforeClip` has them (clipping needed them first).
 */
export function parameterStats(
  layers: readonly { W: { readonly length: number } }[],
  sums: Float64Array,
  beforeClip: readonly GradNorm[] | null,
): ParameterStats {
  const S = UPDATE_SUMS,
    L = layers.length;
  const out: ParameterStats = {
    weight: new Array(L),
    weightGrad: beforeClip ? [...beforeClip] : new Array(L),
    updateRatio: new Array(L),
    notFinite: -1,
  };
  for (let i = 0; i < L; i++) {
    const n = layers[i]!.W.length,
      o = S.at(i, 0);
    const dSq = sums[o + S.DELTA_SQ]!,
      mean = sums[o + S.THETA]! / n,
      normSq = sums[o + S.THETA_SQ]!;
    out.weight[i] = { mean, var: clampVar(normSq / n - mean * mean) };
    if (!beforeClip) {
      const gm = sums[o + S.GRAD]! / n,
        g2 = sums[o + S.GRAD_SQ]!;
      out.weightGrad[i] = { norm: Math.sqrt(g2), var: clampVar(g2 / n - gm * gm), sumSq: g2 };
    }
    const dbSq = sums[S.at(i, 1) + S.DELTA_SQ]!;
    if (out.notFinite < 0 && !Number.isFinite(dSq + dbSq + out.weightGrad[i]!.sumSq)) out.notFinite = i;
    out.updateRatio[i] = Math.sqrt(dSq) / Math.sqrt(normSq);
  }
  return out;
}

/** What a step's passes returned, for its event: the loss, Var(input), the clip's norms, each
 * layer's forward and gradient statistics, the parameters' statistics and the batch's rows. */
interface StepParts {
  loss: number;
  inputVar: number;
  clip: { gradNorm: number; gradNormClipped: number; clipped: boolean };
  fwd: readonly ForwardStats[];
  grads: readonly GradStats[];
  params: ParameterStats;
  biasGrad: readonly { norm: number }[];
  samples: number;
}

/** Step k's event from what its passes returned. */
export function stepEvent(
  k: number,
  { loss, inputVar, clip, fwd, grads, params, biasGrad, samples }: StepParts,
): StepEvent {
  const layers: LayerStepStats[] = mapPacked(fwd, (f, i) => ({
    index: i,
    preact: { mean: f.preactMean, var: f.preactVar },
    act: { mean: f.actMean, var: f.actVar },
    grad: { mean: grads[i]!.mean, var: grads[i]!.var },
    dead: f.dead,
    saturated: f.saturated,
    weight: { mean: params.weight[i]!.mean, var: params.weight[i]!.var },
    weightGrad: { norm: params.weightGrad[i]!.norm, var: params.weightGrad[i]!.var },
    biasGrad: { norm: biasGrad[i]!.norm },
    updateRatio: params.updateRatio[i]!,
  }));
  return {
    type: 'step',
    step: k,
    loss,
    inputVar,
    gradNorm: clip.gradNorm,
    gradNormClipped: clip.gradNormClipped,
    clipped: clip.clipped,
    samples,
    layers,
  };
}
