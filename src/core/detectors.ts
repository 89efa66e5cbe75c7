/**
 * The run-time detectors and their thresholds: a (code, layer) pair is reported at most once per
 * run. The warnings' texts, and the static and propagation warnings, are in warnings.ts.
 *
 * Thresholds (defaults in DEFAULT_THRESHOLDS, all configurable):
 * - vanishing_forward / exploding_forward: Var(z_l)/q₀ below `vanishingForward` (1e-3) or above
 *   `explodingForward` (1e3), q₀ the inputs' mean second moment. The first such layer is named.
 * - vanishing_gradient / exploding_gradient: Var(∂L/∂z_l)/Var(∂L/∂z_L) below 1e-3 or above 1e3;
 *   the layer nearest the output that crosses is named. L is the output layer, or where the layers'
 *   rows differ (a PyTorch sequence model pooled before its head) the last layer over l's rows.
 *   Where the init already suits and a dying relu layer is above the one named (below it, for a
 *   vanishing forward signal), the fix is that layer's (its dead units pass nothing on), not "make
 *   the net shallower".
 * - dying_relu: a relu layer with ≥ `deadFraction` (50 %) of its units dead on a batch. At step 0
 *   (dead from the init) the fix names leaky_relu and the init only; later also the run's one rate;
 *   a negative constant bias first (set it to 0).
 *   Not judged on a batch of fewer than DEAD_MIN_SAMPLES (8) rows where the rows are known (an
 *   epoch's last batch, batchSize 1): a live unit positive on half the samples is ≤ 0 on all B of
 *   them with probability 2^−B, half of a healthy layer on one row.
 * - saturation: a tanh/sigmoid layer with ≥ `saturatedFraction` (50 %) of activations saturated
 *   (|tanh| > 0.99, sigmoid < 0.01 or > 0.99).
 * - frequent_clipping: clipping on ≥ `clipRate` (50 %) of the last `clipWindow` (50) steps, once
 *   at least `clipMinSteps` (20) steps ran.
 * - update_ratio: ‖ΔW‖/‖W‖ above `updateRatioHigh` (0.1) on a step, or its mean over the steps
 *   seen of the first `updateWindow` (20) below `updateRatioLow` (1e-6), judged at the first step
 *   seen from step 19 on (a log every K steps has fewer). Non-finite ratios are left out; a layer
 *   with none finite (frozen in PyTorch: null) is not judged.
 * - diverging_loss: the loss above `divergingLoss` (100) × the lowest loss of the run so far and
 *   above the run's first loss (below it, such a jump is one batch's noise in a run near zero
 *   loss; once per run); the fix names one learning rate, a tenth of the run's.
 * - init_mismatch (static): Xavier/LeCun under ReLU-like activations, He under tanh/sigmoid,
 *   constant init on a hidden layer (symmetry is never broken). Not raised when a gain is given.
 * - sharpness: λmax of the Hessian above the optimiser's divergence threshold (2/η for sgd,
 *   (2 + 2β)/η with momentum; none for adam; a PyTorch SGD's weight decay, Nesterov momentum and
 *   dampening as `sharpness` says), once per run; the fix names one learning rate,
 *   0.9·threshold·η/λmax (≈ 1.8/λmax for sgd), unless the run's one rate is already lower.
 * - overfitting: the held-out loss (data.validation) `overfitting` (10 %) or more above its lowest,
 *   at least 2 evaluations after that lowest, while the training loss fell below what it was there
 *   (once per run); the fix names the step to stop at (the lowest's).
 * - non_finite: raised by the trainer (error; the run ends).
 */
import type { SgdTerms, WarningCode, WarningEvent } from '../protocol/events';
import { gradReferences } from '../protocol/events';
import type { LayerSpec } from './spec';
import { blockedSignal, fmt, propagationWarnings, suitedInitFor, warning } from './warnings';

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
  overfitting: number;
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
  overfitting: 0.1,
};

const PER_RUN: ReadonlySet<WarningCode> = new Set([
  'vanishing_forward',
  'exploding_forward',
  'vanishing_gradient',
  'exploding_gradient',
  'frequent_clipping',
  'diverging_loss',
  'sharpness',
  'overfitting',
]);

/**
 * The one learning rate a fix suggests: the one that would have made an update ratio `r` the
 * healthy 1e-3 (update ratios scale with the rate), or a tenth of the rate when no finite ratio
 * above 1e-3 is known. Every fix that names a rate (update_ratio, non_finite) names this one.
 */
function suggestedRate(lr: number, r: number | null): number {
  return r !== null && Number.isFinite(r) && r > 1e-3 ? (lr * 1e-3) / r : lr / 10;
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
  /** The rows of the step's batch, where known (our runs; a log that writes `samples`). */
  samples?: number;
  /** Per layer, the rows its Z had where they differ from `samples` (a PyTorch log's `rows`). */
  rows?: readonly (number | undefined)[];
}

/** The fewest rows on which dead units are judged (2⁻⁸: 0.4 % of live units look dead by chance). */
const DEAD_MIN_SAMPLES = 8;

/** Run-time detectors; each (code, layer) is reported once. */
export class Detectors {
  private readonly seen = new Set<string>();
  private readonly clipHistory: boolean[] = [];
  /** Per layer, the sum and count of the finite update ratios of the first updateWindow steps. */
  private readonly updateSums: number[];
  private readonly updateCounts: number[];
  private updateJudged = false;
  private lowest: { loss: number; step: number } | null = null;
  /** The first finite training loss the detectors saw. */
  private firstLoss: number | null = null;
  /** The lowest held-out loss so far, the training loss at its step, and evaluations since. */
  private bestHeldOut: { loss: number; step: number; train: number; since: number } | null = null;
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
    this.updateCounts = layers.map(() => 0);
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
   * λmax above the divergence threshold of the run's optimiser (null: none, no warning): the loss
   * oscillates or diverges along the sharpest direction. The threshold is c/η′ − wd (docs/math.md):
   * c = 2 (sgd), 2 + 2β (momentum) or (2 + 2β)/(1 + 2β) (PyTorch's Nesterov), η′ = η·(1 − d) with
   * PyTorch's dampening d, and wd its weight decay (the steps see curvature λ + wd); our own runs
   * have neither.
   */
  sharpness(
    step: number,
    lambda: number,
    threshold: number | null,
    momentum: number | null = null,
    sgd: SgdTerms = {},
  ): WarningEvent[] {
    // once per run, and the rate it named stays the one rate
    if (threshold === null || !Number.isFinite(lambda) || !(lambda > threshold) || this.seen.has('sharpness'))
      return [];
    const wd = sgd.weightDecay ?? 0;
    const nesterov = momentum !== null && sgd.nesterov === true;
    const scale = momentum !== null ? 1 - (sgd.dampening ?? 0) : 1;
    const bound = momentum === null ? 2 : nesterov ? (2 + 2 * momentum) / (1 + 2 * momentum) : 2 + 2 * momentum;
    // the learning rate the threshold is for when the run's is not known (a PyTorch log)
    const lr = this.learningRate ?? bound / (scale * (threshold + wd));
    // what the bound holds: η′ times the curvature the steps see along the sharpest direction
    const seen = scale * (lambda + wd);
    const safe = (0.9 * bound) / seen;
    this.named = this.named === null ? safe : Math.min(this.named, safe);
    const limit = momentum === null ? '2' : nesterov ? `(2 + 2β)/(1 + 2β) = ${fmt(bound)}` : `2 + 2β = ${fmt(bound)}`;
    const product = `η·${scale < 1 ? '(1 − d)·' : ''}${wd > 0 ? '(λmax + wd)' : 'λmax'}`;
    const terms = [
      wd > 0 ? ` and weight decay ${fmt(wd)}` : '',
      scale < 1 ? `, dampening ${fmt(1 - scale)}` : '',
      nesterov ? ', Nesterov' : '',
    ].join('');
    return this.once([
      warning(
        'sharpness',
        'warning',
        null,
        step,
        `${product} = ${fmt(lr * seen)} > ${limit} at step ${step}: the loss oscillates or diverges along the sharpest direction (λmax = ${fmt(lambda)}, above the threshold ${fmt(threshold)} for η = ${fmt(lr)}${terms}).`,
        `Lower training.learningRate to ${fmt(this.named)} (${product} ≈ ${fmt(this.named * seen)} < ${momentum === null ? '2' : fmt(bound)}).`,
      ),
    ]);
  }

  /**
   * A held-out evaluation at `step` (its loss, and the training loss of that step): the held-out loss
   * risen well above its lowest while the training loss kept falling is overfitting.
   */
  validation(step: number, heldOut: number, train: number): WarningEvent[] {
    if (!Number.isFinite(heldOut) || !Number.isFinite(train)) return [];
    const best = this.bestHeldOut;
    if (!best || heldOut < best.loss) {
      this.bestHeldOut = { loss: heldOut, step, train, since: 0 };
      return [];
    }
    best.since++;
    if (best.since < 2 || !(best.loss > 0) || heldOut < (1 + this.t.overfitting) * best.loss || !(train < best.train))
      return [];
    return this.once([
      warning(
        'overfitting',
        'warning',
        null,
        step,
        `The held-out loss rose from ${fmt(best.loss)} (step ${best.step}) to ${fmt(heldOut)} at step ${step} while the training loss fell from ${fmt(best.train)} to ${fmt(train)}: the net fits its training samples and no longer generalises (overfitting).`,
        `Stop at step ${best.step} (set training.steps to ${best.step + 1}), or train on more samples, or use fewer units per layer.`,
      ),
    ]);
  }

  /** A loss far above the lowest of the run: the steps overshoot, and it diverges. */
  private diverging(loss: number | undefined, step: number): WarningEvent[] {
    if (loss === undefined || !Number.isFinite(loss)) return [];
    if (this.firstLoss === null) this.firstLoss = loss;
    const low = this.lowest;
    if (!low || loss < low.loss) {
      this.lowest = { loss, step };
      return [];
    }
    // (below the run's first loss a jump from a tiny lowest one is a batch's noise near zero loss)
    if (!(low.loss > 0) || loss <= this.t.divergingLoss * low.loss || loss <= this.firstLoss) return [];
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
    const ref = gradReferences(L, f.rows, f.samples);
    const pre = f.preactVar.map((v) => (f.q0 > 0 ? v / f.q0 : 1));
    const grad = f.gradVar.map((v, i) => {
      const g = f.gradVar[ref[i]!]!;
      return g > 0 ? v / g : 1;
    });
    for (const r of f.updateRatio) if (Number.isFinite(r) && r > this.maxRatio) this.maxRatio = r;
    const over = ref.map((j) => (j === L - 1 ? null : { layer: j, rows: f.rows?.[j] ?? f.samples ?? 0 }));
    const propagation = propagationWarnings(this.layers, pre, grad, f.step, t, 'measured', over);
    out.push(...propagation);
    out.push(...this.diverging(f.loss, f.step));
    // (on a batch of a few rows dead units are not judged)
    const dead = f.samples !== undefined && f.samples < DEAD_MIN_SAMPLES ? [] : f.dead;
    const dying: WarningEvent[] = [];
    dead.forEach((d, i) => {
      const l = this.layers[i]!;
      if (d === null || l.activation !== 'relu' || d / l.units < t.deadFraction) return;
      // at step 0 no update has run: the units are dead from the init, and the learning rate is no fix
      const lr = f.step === 0 ? null : this.rate();
      const rest = [
        l.init.scheme.startsWith('he') ? null : `use "init": "${suitedInitFor(l)}"`,
        f.step === 0 ? null : lr !== null ? `lower training.learningRate to ${fmt(lr)}` : 'lower the learning rate',
      ].filter((x) => x !== null);
      const more = rest.length === 2 ? `, ${rest[0]}, or ${rest[1]}` : rest.length === 1 ? `, or ${rest[0]}` : '';
      dying.push(
        warning(
          'dying_relu',
          'warning',
          i,
          f.step,
          `Layer ${i}: ${d} of ${l.units} ReLU units (${fmt((100 * d) / l.units)} %) are dead at step ${f.step}${f.step === 0 ? ', before any update' : ''}: their output is 0 for every sample, so their gradient is 0 and they never recover.`,
          // a negative constant bias holds the pre-activations below 0: the first fix is the bias
          `${l.bias < 0 ? `Set "bias": 0 on layer ${i} (its ${fmt(l.bias)} holds the pre-activations below 0), or set` : 'Set'} "activation": "leaky_relu" (α = 0.01) on layer ${i}${more}.`,
        ),
      );
    });
    out.push(...dying);
    blockedSignal(propagation, dying, dead, this.layers);
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
      if (f.step < t.updateWindow && Number.isFinite(r)) {
        this.updateSums[i]! += r;
        this.updateCounts[i]!++;
      }
    });
    if (!this.updateJudged && f.step >= t.updateWindow - 1) {
      this.updateJudged = true;
      const slow = this.updateSums
        .map((sum, i) => [i, sum / this.updateCounts[i]!] as const)
        .filter(([i, m]) => this.updateCounts[i]! > 0 && m < t.updateRatioLow);
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
