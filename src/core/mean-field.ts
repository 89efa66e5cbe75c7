/**
 * Mean-field signal-propagation analysis (no training).
 *
 * With q₀ the mean second moment of the inputs and z_l ~ N(b_l, preactVar_l):
 *   preactVar_0 = fanIn_0 · Var(W_0) · q₀ + Var(b_0)
 *   preactVar_l = fanIn_l · Var(W_l) · E[f_{l−1}(z_{l−1})²] + Var(b_l)
 *   actVar_l    = Var(f_l(z_l)) = E[f²] − E[f]²
 *   gradVar_L   = 1 (the output layer; ∂L/∂z relative to it)
 *   gradVar_l   = fanOut_{l+1} · Var(W_{l+1}) · E[f_l'(z_l)²] · gradVar_{l+1}
 * Var(W) is the init scheme's exact variance, or the loaded weights' population variance; b_l the
 * layer's constant bias, or the mean of loaded biases, whose spread over the units, Var(b_l) (0 for
 * a constant bias), is part of Var(z) over the batch and the units: PyTorch's nn.Linear draws its
 * biases from U(±1/√fan_in), so deep in a net with its default init Var(z) is mostly theirs.
 */
import type { AnalysisLayer } from '../protocol/events';
import type { Activation } from './activations';
import { gaussMoments } from './gaussian';
import { biasMoments, initVariance } from './init';
import type { LayerSpec, LoadedLayerWeights } from './spec';
import { meanVar } from './stats';

interface LayerPrior {
  fanIn: number;
  fanOut: number;
  act: Activation;
  weightVar: number;
  bias: number;
  /** Var(b) over the layer's units: 0 for a constant bias. */
  biasVar: number;
}

/** Var(W), the bias's mean and its variance per layer, from the init schemes or the loaded weights. */
export function layerPriors(
  layers: readonly LayerSpec[],
  inputSize: number,
  weights: readonly LoadedLayerWeights[] | null,
): LayerPrior[] {
  let fanIn = inputSize;
  return layers.map((s, i) => {
    const act: Activation = { name: s.activation, alpha: s.alpha };
    const w = weights?.[i];
    const b = w ? meanVar(w.bias) : biasMoments(s, fanIn);
    const prior: LayerPrior = {
      fanIn,
      fanOut: s.units,
      act,
      weightVar: w ? meanVar(w.weight).var : initVariance(s.init, act, fanIn, s.units),
      bias: b.mean,
      biasVar: b.var,
    };
    fanIn = s.units;
    return prior;
  });
}

/** The predicted variances of every layer. */
export function meanFieldAnalysis(priors: readonly LayerPrior[], q0: number): AnalysisLayer[] {
  const out: AnalysisLayer[] = [];
  const deriv2: number[] = [];
  let second = q0;
  for (let i = 0; i < priors.length; i++) {
    const p = priors[i]!;
    const preactVar = p.fanIn * p.weightVar * second + p.biasVar;
    const g = gaussMoments(p.act, p.bias, preactVar);
    second = g.second;
    deriv2.push(g.deriv2);
    out.push({
      index: i,
      fanIn: p.fanIn,
      fanOut: p.fanOut,
      weightVar: p.weightVar,
      predicted: { preactVar, actVar: Math.max(0, g.second - g.mean * g.mean), gradVar: 1 },
    });
  }
  for (let i = priors.length - 2; i >= 0; i--) {
    const next = priors[i + 1]!;
    out[i]!.predicted.gradVar = next.fanOut * next.weightVar * deriv2[i]! * out[i + 1]!.predicted.gradVar;
  }
  return out;
}
