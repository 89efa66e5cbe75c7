/**
 * The warnings' texts, and the warnings judged from a model description or from variance ratios:
 * init mismatches (static), vanishing/exploding propagation (predicted by the analysis or measured
 * at a step; a dying layer's fix where its dead units block the signal), and the non_finite error.
 * Each names its layer and step where it has one, says what
 * it means in one sentence and gives a concrete fix. The run-time detectors (detectors.ts) use
 * them; the thresholds are theirs.
 */
import type { AnalysisLayer, ActivationName, WarningCode, WarningEvent, Severity } from '../protocol/events';
import { RELU_LIKE, suitedInit, suitedVariance, torchInitCall } from '../protocol/events';
import type { Activation } from './activations';
import type { Thresholds } from './detectors';
import type { InitSpec, LayerSpec } from './spec';
import { initMean, initVariance } from './init';

const SATURATING: ReadonlySet<ActivationName> = new Set(['tanh', 'sigmoid']);

/** A number in a message: three significant digits, exponents from 1e4 up and below 1e-3, 0 as 0. */
export function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (x === 0) return '0';
  const a = Math.abs(x);
  return a >= 1e4 || a < 1e-3 ? x.toExponential(2) : String(Number(x.toPrecision(3)));
}

/** The sentence with its first letter in lower case (the rest names keys: `data.inputStd`). */
function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}

/** A warning event. */
export function warning(
  code: WarningCode,
  severity: Severity,
  layer: number | null,
  step: number | null,
  message: string,
  fix: string,
): WarningEvent {
  return { type: 'warning', code, severity, layer, step, message, fix };
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
 * Static warnings from the model description alone (`inputSize`: the first layer's fan_in).
 * Consecutive layers with the same problem (same scheme under the same activation, with the same
 * α) make one warning, naming the first layer and the range.
 */
export function initMismatchWarnings(
  layers: readonly LayerSpec[],
  weightsLoaded: boolean,
  inputSize: number,
): WarningEvent[] {
  if (weightsLoaded) return [];
  return initMismatchWarningsAt(
    layers,
    layers.map((_, k) => (k === 0 ? inputSize : layers[k - 1]!.units)),
  );
}

/**
 * initMismatchWarnings over layers with their fan_in each (a PyTorch model's need not be the units
 * of the layer before). `describe`: how a message names an init whose mean it judges (its scheme
 * and parameters; a PyTorch run's: the weights measured at step 0).
 */
export function initMismatchWarningsAt(
  layers: readonly LayerSpec[],
  fanIns: readonly number[],
  describe: (init: InitSpec) => string = describeInit,
): WarningEvent[] {
  const out: WarningEvent[] = [];
  const mismatchKind = (k: number): MismatchKind | null => mismatchOf(layers, k, fanIns[k]!);
  let i = 0;
  while (i < layers.length) {
    const kind = mismatchKind(i);
    if (kind === null) {
      i++;
      continue;
    }
    const l = layers[i]!;
    let j = i;
    while (
      j + 1 < layers.length &&
      mismatchKind(j + 1) === kind &&
      layers[j + 1]!.init.scheme === l.init.scheme &&
      layers[j + 1]!.activation === l.activation &&
      ((l.activation !== 'leaky_relu' && l.activation !== 'elu') || layers[j + 1]!.alpha === l.alpha)
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
          `Set "init": "${suitedInit(l.activation)}" ${on}.`,
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
          `Set "init": "${scheme.endsWith('uniform') ? 'he_uniform' : 'he_normal'}" ${on} (Var(W) = ${suitedVariance(l.activation, l.alpha)}).`,
        ),
      );
    } else if (kind === 'offset') {
      const act: Activation = { name: l.activation, alpha: l.alpha },
        n = fanIns[i]!;
      const m = initMean(l.init, act, n, l.units),
        spread = Math.sqrt(n * initVariance(l.init, act, n, l.units));
      const family = scheme === 'uniform' ? 'uniform' : 'normal';
      const want = suitedInit(l.activation, family);
      out.push(
        warning(
          'init_mismatch',
          'warning',
          i,
          null,
          `${which}: weights with mean ${fmt(m)} (${describe(l.init)}); each unit sums them over its ${n} inputs, so every unit gets the same offset, ${fmt(Math.abs(m) * n)}× its inputs' mean, which compounds layer after layer (the weights' spread gives only √(fan_in·Var(W)) = ${fmt(spread)}).`,
          `Set "init": "${want}" ${on} (zero mean, Var(W) = ${suitedVariance(l.activation, l.alpha)}).`,
        ),
      );
    } else if (kind === 'pytorch_default') {
      const relu = RELU_LIKE.has(l.activation);
      const want = suitedInit(l.activation, 'uniform');
      out.push(
        warning(
          'init_mismatch',
          'warning',
          i,
          null,
          `${which}: pytorch (nn.Linear's default, W and b from U(±1/√fan_in)) keeps Var(W)·fan_in = 1/3, so the input's part of Var(z) shrinks about ${relu ? '6' : '3'}× at every such ${l.activation} layer and the biases' spread takes its place: deep layers barely see the input.`,
          `Set "init": "${want}" ${on} (Var(W) = ${suitedVariance(l.activation, l.alpha)}; in PyTorch ${torchInitCall(l.activation, 'w', 'uniform', l.alpha)}).`,
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

type MismatchKind = 'symmetric' | 'xavier_relu' | 'he_saturating' | 'pytorch_default' | 'offset';

/** A scheme with its parameters, as a message names it. */
function describeInit(init: InitSpec): string {
  if (init.scheme === 'uniform') return `uniform(${init.low ?? 0}, ${init.high ?? 1})`;
  if (init.scheme === 'normal') return `normal(mean ${init.mean ?? 0}, std ${init.std ?? 1})`;
  return `trunc_normal(mean ${init.mean ?? 0}, std ${init.std ?? 1}, a ${init.a ?? -2}, b ${init.b ?? 2})`;
}

/**
 * What is wrong with layer i's init (fan_in `fanIn`) for its activation, or null. Not judged when
 * a gain is given (except under the schemes that ignore it). `offset`: a hidden layer's weights
 * with mean m ≠ 0 (normal, uniform, trunc_normal) give every unit the same m·Σa; where
 * m²·fan_in > Var(W), that part outgrows the weights' spread, fan_in·Var(W)·E[a²], and compounds:
 * a positive activation's mean passes on m·fan_in times.
 */
function mismatchOf(layers: readonly LayerSpec[], i: number, fanIn: number): MismatchKind | null {
  const l = layers[i]!;
  const scheme = l.init.scheme;
  const hidden = i < layers.length - 1;
  if (hidden && scheme === 'pytorch') return 'pytorch_default';
  if (hidden && (scheme === 'normal' || scheme === 'uniform' || scheme === 'trunc_normal')) {
    const act: Activation = { name: l.activation, alpha: l.alpha };
    const m = initMean(l.init, act, fanIn, l.units);
    return m * m * fanIn > initVariance(l.init, act, fanIn, l.units) ? 'offset' : null;
  }
  if (l.init.gain !== undefined) return null;
  if (hidden && (scheme === 'zeros' || scheme === 'ones' || scheme === 'constant') && l.units > 1) return 'symmetric';
  if (RELU_LIKE.has(l.activation) && (scheme.startsWith('xavier') || scheme.startsWith('lecun'))) return 'xavier_relu';
  if (SATURATING.has(l.activation) && scheme.startsWith('he_')) return 'he_saturating';
  return null;
}

/**
 * The init that suits the layer's activation, in the family of distributions its init has (uniform
 * or normal; PyTorch's default is uniform), as the init_mismatch fixes name it.
 */
export function suitedInitFor(l: LayerSpec): string {
  const s = l.init.scheme;
  const family = s === 'pytorch' || s.endsWith('uniform') ? 'uniform' : s.endsWith('normal') ? 'normal' : undefined;
  return suitedInit(l.activation, family);
}

/** The fix of a vanishing signal where the init already suits the activation. */
const GENERIC_VANISHING_FIX = 'Make the net shallower, or check the bias and the scale of the inputs.';
/** The same where it vanishes on a batch while the mean field (wide layers) keeps it. */
const NARROW_FIX = 'Make the layers wider (the prediction holds for wide ones) or the net shallower.';

function forwardFix(layers: readonly LayerSpec[], i: number, exploding: boolean): string {
  const l = layers[i];
  if (!l) return 'Check the init of the layers before it.';
  const want = suitedInitFor(l);
  if (
    l.init.scheme !== want &&
    l.init.scheme !== want.replace('normal', 'uniform') &&
    l.init.scheme !== want.replace('uniform', 'normal')
  )
    return `Use "init": "${want}" for the ${l.activation} layers up to layer ${i}, so Var(z_l) ≈ Var(a_{l−1}).`;
  return exploding
    ? `Lower the init gain (e.g. "init": {"scheme": "${l.init.scheme}", "gain": 1}) or normalise the inputs (data.inputStd).`
    : GENERIC_VANISHING_FIX;
}

/**
 * Vanishing/exploding warnings from per-layer preactVar/q₀ and gradVar ratios (predicted, step
 * null, or measured at a step). The gradient ratios are to the output layer's, or where `over`
 * names another layer for a layer, to that one's (the last layer over the same rows).
 */
export function propagationWarnings(
  layers: readonly LayerSpec[],
  preactRatio: readonly number[],
  gradRatio: readonly number[],
  step: number | null,
  t: Thresholds,
  what: 'predicted' | 'measured',
  over: readonly ({ layer: number; rows: number } | null)[] = [],
): WarningEvent[] {
  const of = (i: number) => {
    const o = over[i];
    return o ? `layer ${o.layer}'s (the last layer over the same ${o.rows} rows)` : "the output layer's";
  };
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
        `Layer ${gi}: gradient variance ${verb} to ${fmt(gradRatio[gi]!)} of ${of(gi)}${at}; ${gi === 0 ? 'layer 0 barely learns' : `layers ${gi} and below barely learn`}.`,
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
        `Layer ${ge}: gradient variance ${verbUp} to ${fmt(gradRatio[ge]!)}× ${of(ge)}${at}; ${ge === 0 ? 'its updates blow up' : `updates of layers ${ge} and below blow up`}.`,
        `Add "clip": {"mode": "norm", "max": 1} to training, and ${lowerFirst(forwardFix(layers, ge, true))}`,
      ),
    );
  return out;
}

/**
 * Propagation warnings of an analysis: the predicted ones (mean field), and where the measured pass
 * crosses a threshold that the prediction does not, the measured one, with the prediction beside it.
 * The mean field holds for wide layers: in a deep net of narrow ones the layer-to-layer fluctuations
 * add up (log-variances drift by about −1/width a layer), and a signal the prediction keeps can
 * vanish on a real batch, as the run's first step will then report.
 */
export function analysisWarnings(
  layers: readonly LayerSpec[],
  analysis: readonly AnalysisLayer[],
  q0: number,
  t: Thresholds,
): WarningEvent[] {
  const pre = analysis.map((a) => a.predicted.preactVar / q0);
  const grad = analysis.map((a) => a.predicted.gradVar);
  const predicted = propagationWarnings(layers, pre, grad, null, t, 'predicted');
  if (analysis.length === 0 || !analysis.every((a) => a.measured)) return predicted;
  const mPre = analysis.map((a) => a.measured!.preactVar / q0);
  const mGrad = analysis.map((a) => a.measured!.gradVar);
  const seen = new Set(predicted.map((w) => w.code));
  const measured = propagationWarnings(layers, mPre, mGrad, null, t, 'measured')
    .filter((w) => !seen.has(w.code))
    .map((w) => {
      const i = w.layer!;
      const forward = w.code.endsWith('_forward');
      const p = forward ? pre[i]! : grad[i]!;
      const m = forward ? mPre[i]! : mGrad[i]!;
      // the layers' width is the cause where the batch is 10× or more past what the mean field says
      const narrow = w.code.startsWith('vanishing') ? p >= 10 * m : m >= 10 * p;
      const [head, tail] = w.message.split('; ');
      return {
        ...w,
        message: `${head} on one batch at init, where the mean-field prediction (for wide layers) is ${fmt(p)}${w.code.startsWith('exploding') ? '×' : ''}; ${tail}`,
        fix: narrow && w.fix === GENERIC_VANISHING_FIX ? NARROW_FIX : w.fix,
      };
    });
  return [...predicted, ...measured];
}

/**
 * A vanishing signal past a dying ReLU layer: dead units pass nothing on (f = 0 forward, f' = 0
 * backward, on every sample), so where the init is already suited (the fix would be the generic
 * one), the vanishing_forward fix names the fix of the dying layer below the one named, and the
 * vanishing_gradient fix that of the dying layer above it: the one with the largest dead fraction,
 * the nearest of equals.
 */
export function blockedSignal(
  propagation: WarningEvent[],
  dying: readonly WarningEvent[],
  dead: readonly (number | null)[],
  layers: readonly LayerSpec[],
): void {
  for (const w of propagation) {
    const up = w.code === 'vanishing_gradient';
    if ((!up && w.code !== 'vanishing_forward') || w.layer === null || w.fix !== GENERIC_VANISHING_FIX) continue;
    let best: WarningEvent | null = null;
    let frac = 0;
    for (const d of dying) {
      const j = d.layer!;
      const f = (dead[j] ?? 0) / layers[j]!.units;
      if (up ? j > w.layer && f > frac : j < w.layer && f >= frac) [best, frac] = [d, f];
    }
    if (!best) continue;
    const j = best.layer!;
    const where = up ? 'no gradient to the layers below it' : 'no signal to the layers above it';
    w.fix = `Layer ${j}'s ${dead[j]} dead units (of ${layers[j]!.units}) pass ${where}: ${best.fix.charAt(0).toLowerCase()}${best.fix.slice(1)}`;
  }
}
