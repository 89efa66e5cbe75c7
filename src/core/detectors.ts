/**
 * Warnings: each names its layer and step where it has one, says what it means in one sentence
 * and gives a concrete fix. A (code, layer) pair is reported at most once per run.
 *
 * Thresholds (defaults in DEFAULT_THRESHOLDS, all configurable):
 * - vanishing_forward / exploding_forward: Var(z_l)/q₀ below `vanishingForward` (1e-3) or above
 *   `explodingForward` (1e3), q₀ the inputs' mean second moment. The first such layer is named.
 * - vanishing_gradient / exploding_gradient: Var(∂L/∂z_l)/Var(∂L/∂z_L) below 1e-3 or above 1e3;
 *   the layer nearest the output that crosses is named.
 * - dying_relu: a relu layer with ≥ `deadFraction` (50 %) of its units dead on a batch. At step 0
 *   (dead from the init) the fix names leaky_relu and the init only; later also the run's one rate.
 * - saturation: a tanh/sigmoid layer with ≥ `saturatedFraction` (50 %) of activations saturated
 *   (|tanh| > 0.99, sigmoid < 0.01 or > 0.99).
 * - frequent_clipping: clipping on ≥ `clipRate` (50 %) of the last `clipWindow` (50) steps, once
 *   at least `clipMinSteps` (20) steps ran.
 * - update_ratio: ‖ΔW‖/‖W‖ above `updateRatioHigh` (0.1) on a step, or its mean over the first
 *   `updateWindow` (20) steps below `updateRatioLow` (1e-6).
 * - diverging_loss: the loss above `divergingLoss` (100) × the lowest loss of the run so far
 *   (once per run); the fix names one learning rate, a tenth of the run's.
 * - init_mismatch (static): Xavier/LeCun under ReLU-like activations, He under tanh/sigmoid,
 *   constant init on a hidden layer (symmetry is never broken). Not raised when a gain is given.
 * - sharpness: λmax of the Hessian above the optimiser's divergence threshold (2/η for sgd,
 *   (2 + 2β)/η with momentum; none for adam), once per run; the fix names one learning rate,
 *   0.9·threshold·η/λmax (≈ 1.8/λmax for sgd), unless the run's one rate is already lower.
 * - non_finite: raised by the trainer (error; the run ends).
 */
import type { AnalysisLayer, ActivationName, WarningCode, WarningEvent, Severity } from '../protocol/events';
import type { LayerSpec } from './spec';

export interface Thresholds {
  vanishingForward: number;
  explodingForward: number;
  vanishingGradient: number;
  explodingGradient: number;
  deadFraction: number;
  saturatedFraction: number;
  clipRate: number;
  clipWindow: number;
  clipMinSteps: number;
  updateRatioHigh: number;
  updateRatioLow: number;
  updateWindow: number;
  divergingLoss: number;
}

export const DEFAULT_THRESHOLDS: Readonly<Thresholds> = {
  vanishingForward: 1e-3,
  explodingForward: 1e3,
  vanishingGradient: 1e-3,
  explodingGradient: 1e3,
  deadFraction: 0.5,
  saturatedFraction: 0.5,
  clipRate: 0.5,
  clipWindow: 50,
  clipMinSteps: 20,
  updateRatioHigh: 0.1,
  updateRatioLow: 1e-6,
  updateWindow: 20,
  divergingLoss: 100,
};

const RELU_LIKE: ReadonlySet<ActivationName> = new Set(['relu', 'leaky_relu', 'elu', 'gelu']);
const SATURATING: ReadonlySet<ActivationName> = new Set(['tanh', 'sigmoid']);
const PER_RUN: ReadonlySet<WarningCode> = new Set([
  'vanishing_forward',
  'exploding_forward',
  'vanishing_gradient',
  'exploding_gradient',
  'frequent_clipping',
  'diverging_loss',
  'sharpness',
]);

function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return '0';
  const a = Math.abs(x);
  return a >= 1e4 || a < 1e-3 ? x.toExponential(2) : String(Number(x.toPrecision(3)));
}

/**
 * The one learning rate a fix suggests: the one that would have made an update ratio `r` the
 * healthy 1e-3 (update ratios scale with the rate), or a tenth of the rate when no finite ratio
 * above 1e-3 is known. Every fix that names a rate (update_ratio, non_finite) names this one.
 */
function suggestedRate(lr: number, r: number | null): number {
  return r !== null && Number.isFinite(r) && r > 1e-3 ? (lr * 1e-3) / r : lr / 10;
}

/** The sentence with its first letter in lower case (the rest names keys: `data.inputStd`). */
function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}

/** "0–27" or "0, 3, 5–7": layer indices with consecutive runs folded. */
function layerRanges(ix: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < ix.length; i++) {
    let j = i;
    while (j + 1 < ix.length && ix[j + 1] === ix[j]! + 1) j++;
    parts.push(j > i ? `${ix[i]}–${ix[j]}` : `${ix[i]}`);
    i = j;
  }
  return parts.join(', ');
}

function warning(
  code: WarningCode,
  severity: Severity,
  layer: number | null,
  step: number | null,
  message: string,
  fix: string,
): WarningEvent {
  return { type: 'warning', code, severity, layer, step, message, fix };
}

function suggestedInit(act: ActivationName): string {
  return RELU_LIKE.has(act) ? 'he_normal' : 'xavier_uniform';
}

/**
 * The non_finite error: where NaN or Inf first appeared (a layer's pre-activations, activations,
 * gradients or weights; the loss; or weights that were never finite, an init beyond the dtype's
 * range) and the fix: for the init, a smaller one or float64; otherwise the run's one learning
 * rate (`lr`), clipping and the init scale.
 */
export function nonFiniteWarning(
  step: number,
  layer: number,
  where: string,
  dtype: 'float32' | 'float64',
  lr: number,
): WarningEvent {
  const init = where.startsWith('initial weights');
  const fix = init
    ? `Use a smaller init on layer ${layer} (${dtype} holds values up to ${dtype === 'float32' ? '3.4e38' : '1.8e308'})${dtype === 'float32' ? ', or set "dtype": "float64"' : ''}.`
    : `Lower training.learningRate to ${fmt(lr)}, add "clip": {"mode": "norm", "max": 1.0} to training, and check the init scale.`;
  const message =
    where === 'loss'
      ? `Non-finite values (NaN or Inf) first appeared in the loss of output layer ${layer} at step ${step}; the run stopped.`
      : init
        ? `Layer ${layer}'s initial weights are not finite in ${dtype} (the init gives values beyond its range); the run stopped before step 0.`
        : `Non-finite values (NaN or Inf) first appeared in layer ${layer}'s ${where} at step ${step}; the run stopped.`;
  return warning('non_finite', 'error', layer, step, message, fix);
}

/**
 * Static warnings from the model description alone. Consecutive layers with the same problem
 * (same scheme under the same activation) make one warning, naming the first layer and the range.
 */
export function initMismatchWarnings(layers: readonly LayerSpec[], weightsLoaded: boolean): WarningEvent[] {
  if (weightsLoaded) return [];
  const out: WarningEvent[] = [];
  let i = 0;
  while (i < layers.length) {
    const kind = mismatchKind(layers, i);
    if (kind === null) {
      i++;
      continue;
    }
    const l = layers[i]!;
    let j = i;
    while (
      j + 1 < layers.length &&
      mismatchKind(layers, j + 1) === kind &&
      layers[j + 1]!.init.scheme === l.init.scheme &&
      layers[j + 1]!.activation === l.activation
    )
      j++;
    const which = j > i ? `Layers ${i}–${j}` : `Layer ${i}`;
    const on = j > i ? `on layers ${i}–${j}` : `on layer ${i}`;
    const scheme = l.init.scheme;
    if (kind === 'symmetric') {
      out.push(
        warning(
          'init_mismatch',
          'warning',
          i,
          null,
          `${which}: "${scheme}" init gives every unit the same weights, so they stay identical forever (symmetry is never broken).`,
          `Set "init": "${suggestedInit(l.activation)}" ${on}.`,
        ),
      );
    } else if (kind === 'xavier_relu') {
      out.push(
        warning(
          'init_mismatch',
          'warning',
          i,
          null,
          `${which}: ${scheme} under ${l.activation} keeps Var(W)·fan_in ≈ 1, but ${l.activation} passes only about half of the signal, so variance halves at every such layer.`,
          `Set "init": "${scheme.endsWith('uniform') ? 'he_uniform' : 'he_normal'}" ${on} (Var(W) = 2/fan_in).`,
        ),
      );
    } else {
      out.push(
        warning(
          'init_mismatch',
          'warning',
          i,
          null,
          `${which}: ${scheme} under ${l.activation} makes pre-activations about ${l.activation === 'tanh' ? '2.8' : '2'}× larger than Xavier's, pushing ${l.activation} into saturation as depth grows.`,
          `Set "init": "${scheme.endsWith('uniform') ? 'xavier_uniform' : 'xavier_normal'}" ${on}.`,
        ),
      );
    }
    if (j > i) out[out.length - 1]!.layers = Array.from({ length: j - i + 1 }, (_, k) => i + k);
    i = j + 1;
  }
  return out;
}

type MismatchKind = 'symmetric' | 'xavier_relu' | 'he_saturating';

/** What is wrong with layer i's init for its activation, or null. Not judged when a gain is given. */
function mismatchKind(layers: readonly LayerSpec[], i: number): MismatchKind | null {
  const l = layers[i]!;
  if (l.init.gain !== undefined) return null;
  const scheme = l.init.scheme;
  const hidden = i < layers.length - 1;
  if (hidden && (scheme === 'zeros' || scheme === 'ones' || scheme === 'constant') && l.units > 1) return 'symmetric';
  if (RELU_LIKE.has(l.activation) && (scheme.startsWith('xavier') || scheme.startsWith('lecun'))) return 'xavier_relu';
  if (SATURATING.has(l.activation) && scheme.startsWith('he_')) return 'he_saturating';
  return null;
}

function forwardFix(layers: readonly LayerSpec[], i: number, exploding: boolean): string {
  const l = layers[i];
  if (!l) return 'Check the init of the layers before it.';
  const want = suggestedInit(l.activation);
  if (
    l.init.scheme !== want &&
    l.init.scheme !== want.replace('normal', 'uniform') &&
    l.init.scheme !== want.replace('uniform', 'normal')
  )
    return `Use "init": "${want}" for the ${l.activation} layers up to layer ${i}, so Var(z_l) ≈ Var(a_{l−1}).`;
  return exploding
    ? `Lower the init gain (e.g. "init": {"scheme": "${l.init.scheme}", "gain": 1}) or normalise the inputs (data.inputStd).`
    : 'Make the net shallower, or check the bias and the scale of the inputs.';
}

/**
 * Vanishing/exploding warnings from per-layer preactVar/q₀ and gradVar ratios (predicted, step
 * null, or measured at a step).
 */
export function propagationWarnings(
  layers: readonly LayerSpec[],
  preactRatio: readonly number[],
  gradRatio: readonly number[],
  step: number | null,
  t: Thresholds,
  what: 'predicted' | 'measured',
): WarningEvent[] {
  const out: WarningEvent[] = [];
  const at = step === null ? '' : ` at step ${step}`;
  const verb = what === 'predicted' ? 'is predicted to fall' : 'fell';
  const verbUp = what === 'predicted' ? 'is predicted to grow' : 'grew';
  const fi = preactRatio.findIndex((r) => r < t.vanishingForward);
  if (fi >= 0)
    out.push(
      warning(
        'vanishing_forward',
        'warning',
        fi,
        step,
        `Layer ${fi}: pre-activation variance ${verb} to ${fmt(preactRatio[fi]!)} of the inputs'${at}; the signal vanishes going forward.`,
        forwardFix(layers, fi, false),
      ),
    );
  const fe = preactRatio.findIndex((r) => r > t.explodingForward);
  if (fe >= 0)
    out.push(
      warning(
        'exploding_forward',
        'warning',
        fe,
        step,
        `Layer ${fe}: pre-activation variance ${verbUp} to ${fmt(preactRatio[fe]!)}× the inputs'${at}; the signal explodes going forward.`,
        forwardFix(layers, fe, true),
      ),
    );
  let gi = -1,
    ge = -1;
  for (let i = gradRatio.length - 1; i >= 0; i--) {
    if (gi < 0 && gradRatio[i]! < t.vanishingGradient) gi = i;
    if (ge < 0 && gradRatio[i]! > t.explodingGradient) ge = i;
  }
  if (gi >= 0)
    out.push(
      warning(
        'vanishing_gradient',
        'warning',
        gi,
        step,
        `Layer ${gi}: gradient variance ${verb} to ${fmt(gradRatio[gi]!)} of the output layer's${at}; layers ${gi} and below barely learn.`,
        forwardFix(layers, gi, false),
      ),
    );
  if (ge >= 0)
    out.push(
      warning(
        'exploding_gradient',
        'warning',
        ge,
        step,
        `Layer ${ge}: gradient variance ${verbUp} to ${fmt(gradRatio[ge]!)}× the output layer's${at}; updates of layers ${ge} and below blow up.`,
        `Add "clip": {"mode": "norm", "max": 1} to training, and ${lowerFirst(forwardFix(layers, ge, true))}`,
      ),
    );
  return out;
}

/** Predicted propagation warnings of an analysis. */
export function analysisWarnings(
  layers: readonly LayerSpec[],
  analysis: readonly AnalysisLayer[],
  q0: number,
  t: Thresholds,
): WarningEvent[] {
  const pre = analysis.map((a) => a.predicted.preactVar / q0);
  const grad = analysis.map((a) => a.predicted.gradVar);
  return propagationWarnings(layers, pre, grad, null, t, 'predicted');
}

/** Per-step facts the run-time detectors look at. */
interface StepFacts {
  step: number;
  q0: number;
  preactVar: readonly number[];
  /** Var(∂L/∂z_l) of each layer. */
  gradVar: readonly number[];
  dead: readonly (number | null)[];
  saturated: readonly (number | null)[];
  updateRatio: readonly number[];
  clipped: boolean;
  clipActive: boolean;
  /** The step's loss, when the detector of a diverging loss should look at it. */
  loss?: number;
}

/** Run-time detectors; each (code, layer) is reported once. */
export class Detectors {
  private readonly seen = new Set<string>();
  private readonly clipHistory: boolean[] = [];
  private readonly updateSums: number[];
  private lowest: { loss: number; step: number } | null = null;
  /** The largest finite update ratio seen in the run, and the learning rate once a fix named one. */
  private maxRatio = 0;
  private named: number | null = null;

  /** `learningRate`: the run's, so that a fix can name one value (null: the fix says "a tenth"). */
  constructor(
    private readonly layers: readonly LayerSpec[],
    private readonly t: Thresholds,
    private readonly learningRate: number | null = null,
  ) {
    this.updateSums = layers.map(() => 0);
  }

  /**
   * The one learning rate every fix of this run names (update_ratio, diverging_loss, non_finite):
   * fixed the first time a fix asks, from the largest update ratio seen by then (suggestedRate).
   */
  rate(): number | null {
    if (this.learningRate === null) return null;
    this.named ??= suggestedRate(this.learningRate, this.maxRatio > 0 ? this.maxRatio : null);
    return this.named;
  }

  /**
   * λmax above the divergence threshold of the run's optimiser (sgd 2/η, momentum (2 + 2β)/η; null:
   * no threshold, no warning): the loss oscillates or diverges along the sharpest direction.
   */
  sharpness(step: number, lambda: number, threshold: number | null, momentum: number | null = null): WarningEvent[] {
    // once per run, and the rate it named stays the one rate
    if (threshold === null || !Number.isFinite(lambda) || !(lambda > threshold) || this.seen.has('sharpness'))
      return [];
    // 2, or 2 + 2β; the learning rate the threshold is for when the run's is not known (a PyTorch log)
    const bound = momentum === null ? 2 : 2 + 2 * momentum;
    const lr = this.learningRate ?? bound / threshold;
    const safe = (0.9 * bound) / lambda;
    this.named = this.named === null ? safe : Math.min(this.named, safe);
    const limit = momentum === null ? '2' : `2 + 2β = ${fmt(bound)}`;
    return this.once([
      warning(
        'sharpness',
        'warning',
        null,
        step,
        `η·λmax = ${fmt(lr * lambda)} > ${limit} at step ${step}: the loss oscillates or diverges along the sharpest direction (λmax = ${fmt(lambda)}, above the threshold ${fmt(threshold)} for η = ${fmt(lr)}).`,
        `Lower training.learningRate to ${fmt(this.named)} (η·λmax ≈ ${fmt(this.named * lambda)} < ${momentum === null ? '2' : fmt(bound)}).`,
      ),
    ]);
  }

  /** A loss far above the lowest of the run: the steps overshoot, and it diverges. */
  private diverging(loss: number | undefined, step: number): WarningEvent[] {
    if (loss === undefined || !Number.isFinite(loss)) return [];
    const low = this.lowest;
    if (!low || loss < low.loss) {
      this.lowest = { loss, step };
      return [];
    }
    if (!(low.loss > 0) || loss <= this.t.divergingLoss * low.loss) return [];
    const lr = this.rate();
    return [
      warning(
        'diverging_loss',
        'warning',
        null,
        step,
        `The loss grew from ${fmt(low.loss)} (step ${low.step}) to ${fmt(loss)} at step ${step}: the updates overshoot and training diverges.`,
        lr !== null ? `Lower training.learningRate to ${fmt(lr)}.` : 'Lower the learning rate to a tenth of it.',
      ),
    ];
  }

  /**
   * Filters out warnings already reported: propagation and clipping codes once per run (the layer
   * where they first crossed is named), the rest once per layer.
   */
  once(ws: readonly WarningEvent[]): WarningEvent[] {
    return ws.filter((w) => {
      const key = PER_RUN.has(w.code) ? w.code : `${w.code}:${w.layer}`;
      if (this.seen.has(key)) return false;
      this.seen.add(key);
      return true;
    });
  }

  observe(f: StepFacts): WarningEvent[] {
    const t = this.t,
      out: WarningEvent[] = [];
    const L = this.layers.length;
    const gOut = f.gradVar[L - 1]!;
    const pre = f.preactVar.map((v) => (f.q0 > 0 ? v / f.q0 : 1));
    const grad = f.gradVar.map((v) => (gOut > 0 ? v / gOut : 1));
    for (const r of f.updateRatio) if (Number.isFinite(r) && r > this.maxRatio) this.maxRatio = r;
    out.push(...propagationWarnings(this.layers, pre, grad, f.step, t, 'measured'));
    out.push(...this.diverging(f.loss, f.step));
    f.dead.forEach((d, i) => {
      const l = this.layers[i]!;
      if (d === null || l.activation !== 'relu' || d / l.units < t.deadFraction) return;
      // at step 0 no update has run: the units are dead from the init, and the learning rate is no fix
      const lr = f.step === 0 ? null : this.rate();
      const rest = [
        l.init.scheme.startsWith('he') ? null : 'use "init": "he_normal"',
        f.step === 0 ? null : lr !== null ? `lower training.learningRate to ${fmt(lr)}` : 'lower the learning rate',
      ].filter((x) => x !== null);
      const more = rest.length === 2 ? `, ${rest[0]}, or ${rest[1]}` : rest.length === 1 ? `, or ${rest[0]}` : '';
      out.push(
        warning(
          'dying_relu',
          'warning',
          i,
          f.step,
          `Layer ${i}: ${d} of ${l.units} ReLU units (${fmt((100 * d) / l.units)} %) are dead at step ${f.step}${f.step === 0 ? ', before any update' : ''}: their output is 0 for every sample, so their gradient is 0 and they never recover.`,
          `Set "activation": "leaky_relu" (α = 0.01) on layer ${i}${more}.`,
        ),
      );
    });
    f.saturated.forEach((s, i) => {
      if (s === null || s < t.saturatedFraction) return;
      const l = this.layers[i]!;
      out.push(
        warning(
          'saturation',
          'warning',
          i,
          f.step,
          `Layer ${i}: ${fmt(100 * s)} % of ${l.activation} outputs are saturated at step ${f.step}, where the gradient is almost 0.`,
          `Use "init": "xavier_uniform" on layer ${i}, or scale the inputs down.`,
        ),
      );
    });
    if (f.clipActive) {
      this.clipHistory.push(f.clipped);
      if (this.clipHistory.length > t.clipWindow) this.clipHistory.shift();
      const n = this.clipHistory.length;
      const rate = this.clipHistory.reduce((a, c) => a + (c ? 1 : 0), 0) / n;
      if (f.step + 1 >= t.clipMinSteps && rate >= t.clipRate)
        out.push(
          warning(
            'frequent_clipping',
            'warning',
            null,
            f.step,
            `Gradients were clipped on ${fmt(100 * rate)} % of the last ${n} steps (by step ${f.step}): clipping is doing the optimiser's work and slows learning.`,
            'Lower training.learningRate, or raise training.clip.max towards the typical gradNorm.',
          ),
        );
    }
    f.updateRatio.forEach((r, i) => {
      if (r > t.updateRatioHigh)
        out.push(
          warning(
            'update_ratio',
            'warning',
            i,
            f.step,
            `Layer ${i}: one update changed the weights by ${fmt(r)} of their norm at step ${f.step} (≈1e-3 is healthy); training is unstable.`,
            this.learningRate !== null
              ? `Lower training.learningRate to ${fmt(this.rate()!)} (about ${fmt(this.rate()! / this.learningRate)}× the current one).`
              : `Lower training.learningRate (about ${fmt(1e-3 / r)}× the current one).`,
          ),
        );
      if (f.step < t.updateWindow && Number.isFinite(r)) this.updateSums[i]! += r;
    });
    if (f.step === t.updateWindow - 1) {
      const slow = this.updateSums
        .map((sum, i) => [i, sum / t.updateWindow] as const)
        .filter(([, m]) => m < t.updateRatioLow);
      if (slow.length > 0) {
        const [i0, m0] = slow[0]!;
        const which = slow.length === 1 ? `Layer ${i0}` : `Layers ${layerRanges(slow.map(([i]) => i))}`;
        out.push(
          warning(
            'update_ratio',
            'info',
            i0,
            f.step,
            `${which}: updates average ${fmt(m0)}${slow.length > 1 ? ' (or less)' : ''} of the weights' norm over the first ${t.updateWindow} steps; ${slow.length === 1 ? 'this layer barely learns' : 'these layers barely learn'}.`,
            'Raise training.learningRate, or fix vanishing gradients below these layers.',
          ),
        );
      }
    }
    return this.once(out);
  }
}
