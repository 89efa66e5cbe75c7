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
 *
 * Weights with mean m_l ≠ 0 (normal, uniform, trunc_normal, loaded weights) give every unit of a
 * sample the same part m_l·S_{l−1}, S = Σ_k a_k the sample's sum of the layer's inputs: z = c + u,
 * with the common part c ~ N(μ_c, s_c²) over the samples and the unit's own u ~ N(0, σ_u²),
 *   μ_c = m_l·E[S] + b_l,  s_c² = m_l²·Var(S),  σ_u² = fanIn·Var(W_l)·E[a²] + Var(b_l),
 *   preactVar_l = s_c² + σ_u²   (over the batch and the units),
 * and with F₁(c) = E_u f(c + u) the next layer's E[S] = n·E[F₁(c)], Var(S) = n²·Var_c(F₁(c)) +
 * n·E_c[Var_u f] (units independent given c; n = fan_in of the next layer); at the inputs E[S] and
 * Var(S) are the data's. Backward, D_l = Σ_j δ_l,j (0 at the output: cross-entropy's ∂L/∂z sums
 * to 0 over the classes; taken as 0 for mse too), with F'(c) = E_u f'(c + u):
 *   E[δ_l²]  = E[f_l'²]·(m_{l+1}²·E[D_{l+1}²] + fanOut_{l+1}·Var(W_{l+1})·E[δ_{l+1}²])
 *   E[D_l²]  = m_{l+1}²·E[D_{l+1}²]·(n²·E_c[F'²] + n·(E[f'²] − E_c[F'²]))
 *              + n·E[f_l'²]·fanOut_{l+1}·Var(W_{l+1})·E[δ_{l+1}²]
 * Var_c and E_c are quadratures over c (gaussian.ts gaussNodes). With every m_l = 0 all of this is
 * the recursion above, computed as before.
 */
import type { AnalysisLayer } from '../protocol/events';
import type { Activation } from './activations';
import { closedForm, gaussMoments, gaussNodes } from './gaussian';
import { biasMoments, initMean, initVariance } from './init';
import type { LayerSpec, LoadedLayerWeights } from './spec';
import { meanVar } from './stats';

interface LayerPrior {
  fanIn: number;
  fanOut: number;
  act: Activation;
  weightVar: number;
  /** E[W]: 0 for the zero-mean schemes. */
  weightMean: number;
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
    const wm = w ? meanVar(w.weight) : null;
    const prior: LayerPrior = {
      fanIn,
      fanOut: s.units,
      act,
      weightVar: wm ? wm.var : initVariance(s.init, act, fanIn, s.units),
      weightMean: wm ? wm.mean : initMean(s.init, act, fanIn, s.units),
      bias: b.mean,
      biasVar: b.var,
    };
    fanIn = s.units;
    return prior;
  });
}

/** The mean and variance over the samples of a sample's sum of its inputs, S = Σ_k x_k. */
interface InputSum {
  mean: number;
  var: number;
}

/**
 * The predicted variances of every layer. `inputSum`: S's moments over the data (default: inputs
 * of mean 0 and second moment q₀, independent: E[S] = 0, Var(S) = fanIn₀·q₀); they matter only
 * where the first layer's weights have a mean (deeper layers' S comes from the recursion).
 */
export function meanFieldAnalysis(
  priors: readonly LayerPrior[],
  q0: number,
  inputSum: InputSum = { mean: 0, var: (priors[0]?.fanIn ?? 0) * q0 },
): AnalysisLayer[] {
  const out: AnalysisLayer[] = [];
  const deriv2: number[] = [];
  /** E_c[F'(c)²], F'(c) = E_u f'(c + u): how a layer's f' passes on the gradients' common part. */
  const commonDeriv2: number[] = [];
  let second = q0,
    sum = inputSum;
  for (let i = 0; i < priors.length; i++) {
    const p = priors[i]!;
    const unitVar = p.fanIn * p.weightVar * second + p.biasVar;
    const m = p.weightMean;
    const commonVar = m !== 0 ? m * m * sum.var : 0,
      commonMean = m !== 0 ? m * sum.mean + p.bias : p.bias;
    const preactVar = commonVar > 0 ? commonVar + unitVar : unitVar;
    const g = gaussMoments(p.act, commonMean, preactVar);
    second = g.second;
    // the next layer's S: n·F₁(c) summed over units independent given c; and E_c[F'(c)²], how the
    // layer passes on the gradients' common part (F₁, F' constant where s_c = 0)
    const n = p.fanOut;
    let meanF1Sq = g.mean * g.mean,
      meanDerivSq = g.deriv * g.deriv;
    if (commonVar > 0) {
      const sc = Math.sqrt(commonVar);
      // closed forms are cheap: panels down to σ_u (F₁ is f smoothed over σ_u); else 8 panels
      const panels = closedForm(p.act) ? Math.min(256, Math.ceil((16 * sc) / Math.min(sc / 4, Math.sqrt(unitVar)))) : 8;
      const { c, w } = gaussNodes(commonMean, sc, panels);
      meanF1Sq = 0;
      meanDerivSq = 0;
      for (let k = 0; k < c.length; k++) {
        const u = gaussMoments(p.act, c[k]!, unitVar, true);
        meanF1Sq += w[k]! * u.mean * u.mean;
        meanDerivSq += w[k]! * u.deriv * u.deriv;
      }
    }
    sum = {
      mean: n * g.mean,
      var: n * n * Math.max(0, meanF1Sq - g.mean * g.mean) + n * Math.max(0, g.second - meanF1Sq),
    };
    deriv2.push(g.deriv2);
    commonDeriv2.push(meanDerivSq);
    out.push({
      index: i,
      fanIn: p.fanIn,
      fanOut: p.fanOut,
      weightVar: p.weightVar,
      predicted: { preactVar, actVar: Math.max(0, g.second - g.mean * g.mean), gradVar: 1 },
    });
  }
  // the gradients: E[δ_l²] relative to the output layer's, and E[D_l²] of D = Σ_j δ_l,j, a sample's
  // sum over the units (0 at the output: cross-entropy's ∂L/∂z sums to 0 over the classes)
  let sumSq = 0;
  for (let i = priors.length - 2; i >= 0; i--) {
    const next = priors[i + 1]!,
      g = out[i + 1]!.predicted.gradVar,
      m = next.weightMean,
      n = priors[i]!.fanOut;
    // ∂L/∂a_l,k = m'·D_{l+1} + Σ_j ε_jk δ_{l+1,j}: E[·²] = m'²·E[D²] + fanOut'·Var(W')·E[δ²]
    const own = next.fanOut * next.weightVar * g;
    const total = m !== 0 ? m * m * sumSq + own : own;
    out[i]!.predicted.gradVar = m !== 0 ? deriv2[i]! * total : next.fanOut * next.weightVar * deriv2[i]! * g;
    // D_l = m'·D_{l+1}·Σ_k f'(z_k) + Σ_k f'(z_k)·e_k, Σ_k f' ≈ n·F'(c) (units independent given c)
    const sumDeriv2 = n * n * commonDeriv2[i]! + n * Math.max(0, deriv2[i]! - commonDeriv2[i]!);
    sumSq = (m !== 0 ? m * m * sumSq * sumDeriv2 : 0) + n * deriv2[i]! * own;
  }
  return out;
}
