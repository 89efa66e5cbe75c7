/**
 * The one event schema of Layerwise. The worker emits these objects, the extension host forwards
 * them, the webview draws them and the CLI prints them one per line (`--json`). Every event is a
 * plain JSON object discriminated by its string `type`. See docs/events.md for the exact meaning
 * of every field.
 */

/** Mean and population variance (÷N) over every element of a tensor. */
export interface MeanVar {
  mean: number;
  var: number;
}

/** Static description of one dense layer, as announced by `start`. */
export interface LayerInfo {
  /** 0-based index among hidden and output layers (the input is not a layer). */
  index: number;
  units: number;
  activation: ActivationName;
  /** Init scheme name, or "weights" when the parameters came from a safetensors file. */
  init: string;
  /** Inputs to the layer (columns of W). */
  fanIn: number;
  /** Outputs of the layer (rows of W) = units. */
  fanOut: number;
  /** α of leaky_relu (negative slope) or elu, where a PyTorch run found it. */
  alpha?: number;
}

export type ActivationName = 'linear' | 'relu' | 'leaky_relu' | 'tanh' | 'sigmoid' | 'elu' | 'gelu' | 'silu' | 'selu';
/** Activations that pass about half of a zero-mean signal (He init suits them). */
export const RELU_LIKE: ReadonlySet<ActivationName> = new Set(['relu', 'leaky_relu', 'elu', 'gelu', 'silu']);

/**
 * The init scheme a layer gets where its model file names none, and the one the warnings' fixes
 * name: He's (Var(W) = 2/fan_in) under the RELU_LIKE activations, LeCun's (1/fan_in, the
 * self-normalizing fixed point) under selu, Glorot's otherwise; `family` picks the normal or the
 * uniform draw (default: he_normal, lecun_normal, xavier_uniform).
 */
export function suitedInit(act: ActivationName, family?: 'normal' | 'uniform'): SuitedInit {
  if (RELU_LIKE.has(act)) return family === 'uniform' ? 'he_uniform' : 'he_normal';
  if (act === 'selu') return family === 'uniform' ? 'lecun_uniform' : 'lecun_normal';
  return family === 'normal' ? 'xavier_normal' : 'xavier_uniform';
}
type SuitedInit = 'he_normal' | 'he_uniform' | 'lecun_normal' | 'lecun_uniform' | 'xavier_normal' | 'xavier_uniform';

/**
 * The torch.nn.init call that draws suitedInit(act, family)'s weights exactly, on `weight` (e.g.
 * "model.fc2.weight"): kaiming_*_ with nonlinearity "relu" (gain √2; Layerwise's gain for elu,
 * gelu and silu too), "leaky_relu" with a = α (gain √(2/(1 + α²))) or "linear" (selu: LeCun's
 * 1/fan_in), fan_in mode; xavier_*_ with gain 1 otherwise (not calculate_gain("tanh") = 5/3, which
 * makes a deep tanh net's gradients grow layer after layer: the file's xavier is gain 1 too).
 */
export function torchInitCall(
  act: ActivationName,
  weight: string,
  family?: 'normal' | 'uniform',
  alpha = 0.01,
): string {
  const scheme = suitedInit(act, family);
  const dist = scheme.endsWith('uniform') ? 'uniform' : 'normal';
  if (scheme.startsWith('xavier')) return `nn.init.xavier_${dist}_(${weight})`;
  const nonlinearity =
    act === 'leaky_relu'
      ? `a=${alpha}, nonlinearity="leaky_relu"`
      : act === 'selu'
        ? 'nonlinearity="linear"'
        : 'nonlinearity="relu"';
  return `nn.init.kaiming_${dist}_(${weight}, ${nonlinearity})`;
}

/**
 * Var(W) of suitedInit's scheme, as the fixes write it: He's gain² = 2/(1 + α²) under leaky_relu
 * (calculate_gain's, which he_* and kaiming_*_(a=α) draw with), 2 under the other RELU_LIKE.
 */
export function suitedVariance(act: ActivationName, alpha = 0.01): string {
  if (act === 'leaky_relu') return `2/((1 + ${alpha}²)·fan_in)`;
  return RELU_LIKE.has(act) ? '2/fan_in' : act === 'selu' ? '1/fan_in' : '2/(fan_in + fan_out)';
}

export const ACTIVATIONS: readonly ActivationName[] = [
  'linear',
  'relu',
  'leaky_relu',
  'tanh',
  'sigmoid',
  'elu',
  'gelu',
  'silu',
  'selu',
];

export interface StartEvent {
  type: 'start';
  model: string;
  parameters: number;
  steps: number;
  layers: LayerInfo[];
  /** Gradient clipping of the run, or null (for the clip threshold line). */
  clip?: { mode: 'norm' | 'value'; max: number } | null;
  /** Threads a step runs on: 2 when each batch is split over a helper thread (runs only). */
  threads?: number;
  /** The kernels a step runs on (runs only): e.g. "native-avx512+wasm-relaxed-simd", "wasm-simd", "ts". */
  kernels?: string;
  /** Who wrote the stream: our core (absent) or the layerwise_torch package ("pytorch"). */
  source?: 'layerwise' | 'pytorch';
  /** Processes of the data-parallel group whose global batch each step describes (PyTorch runs). */
  worldSize?: number;
  /** PyTorch runs: what names layer i in the user's code, one per layer. */
  modules?: LayerModule[];
}

/** A PyTorch layer's `nn.Linear` in the user's code. */
export interface LayerModule {
  /** Its qualified name in the model, e.g. "encoder.fc2" ("0" for the first of an nn.Sequential). */
  name: string;
  /** The source file and 1-based line that assign it (`self.fc2 = nn.Linear(…)`), where found. */
  file?: string;
  line?: number;
}

/**
 * A module's qualified name as the Python that reaches it, on a model called `model`:
 * "encoder.fc2" → "model.encoder.fc2", "blocks.0" → "model.blocks[0]", "14" → "model[14]", and
 * "" (the model itself, as `named_modules()` names it: the model is the Linear) → "model".
 */
export function modulePath(name: string): string {
  if (name === '') return 'model';
  return (
    'model' +
    name
      .split('.')
      .map((p) => (/^\d+$/.test(p) ? `[${p}]` : `.${p}`))
      .join('')
  );
}

/** "model.encoder.fc2": layer i's module as Python reaches it, where the run names its modules; else null. */
export function layerModulePath(
  start: { modules?: readonly LayerModule[] } | null | undefined,
  layer: number,
): string | null {
  const m = start?.modules?.[layer];
  return m ? modulePath(m.name) : null;
}

/** "layer 2", or "layer 2 (model.encoder.fc2)" where the run names its modules. */
export function layerLabel(start: { modules?: readonly LayerModule[] } | null | undefined, layer: number): string {
  const m = layerModulePath(start, layer);
  return m !== null ? `layer ${layer} (${m})` : `layer ${layer}`;
}

/** Per-layer statistics of one training step (forward and backward of the step's batch, before its update). */
export interface LayerStepStats {
  index: number;
  /** Over every element of Z = A_prev·Wᵀ + b (batch × units). */
  preact: MeanVar;
  /** Over every element of f(Z); for the output layer its (pre-softmax) output. */
  act: MeanVar;
  /** Over every element of ∂L/∂Z (batch × units): the gradient back-propagated to the pre-activations. */
  grad: MeanVar;
  /** Units whose pre-activation is ≤ 0 (relu) / < 0 (leaky_relu) for every sample; null otherwise. */
  dead: number | null;
  /** tanh/sigmoid layers: the fraction of saturated outputs (|tanh| > 0.99; sigmoid < 0.01 or > 0.99); null otherwise. */
  saturated?: number | null;
  /** Over the weight matrix before the update. */
  weight: MeanVar;
  /** L2 norm and population variance of ∂L/∂W, before clipping. */
  weightGrad: { norm: number; var: number };
  /** L2 norm of ∂L/∂b, before clipping. */
  biasGrad: { norm: number };
  /** ‖W_after − W_before‖_F / ‖W_before‖_F of this step's update. */
  updateRatio: number;
  /**
   * The rows Z had, where they differ from the step's `samples` (PyTorch: a sequence model pooled
   * before its head has batch × time rows below the pooling, batch above). ∂L/∂Z is compared
   * between layers over the same rows only.
   */
  rows?: number;
}

/**
 * Per layer, the layer whose Var(∂L/∂Z) its own is compared with (the gradient warnings, the
 * variance chart): the last layer over the same rows (a layer's `rows`, else the step's
 * `samples`), which is the output layer where every layer has the batch's rows. Below a pooling
 * over time (a sequence model whose head sees one row per sequence) each row's ∂L/∂Z is 1/T of the
 * pooled one: a ratio across the pooling would measure T², not propagation.
 */
export function gradReferences(L: number, rows?: readonly (number | undefined)[], samples?: number): number[] {
  const last = new Map<number | undefined, number>();
  const ref = new Array<number>(L);
  for (let i = L - 1; i >= 0; i--) {
    const r = rows?.[i] ?? samples;
    if (!last.has(r)) last.set(r, i);
    ref[i] = last.get(r)!;
  }
  return ref;
}

export interface StepEvent {
  type: 'step';
  step: number;
  loss: number;
  /** q₀ = E[x²] over the step's batch of inputs (the reference of the forward ratios). */
  inputVar?: number;
  /** L2 norm over all weight and bias gradients, before clipping. */
  gradNorm: number;
  /** The same after clipping (equal to gradNorm when nothing was clipped). */
  gradNormClipped: number;
  clipped: boolean;
  /**
   * Rows of the step's batch (the rows Z has, batch × time for a sequence); the dead-unit rule
   * needs enough of them. Absent in logs from before it was written.
   */
  samples?: number;
  layers: LayerStepStats[];
}

/**
 * A distribution (core/histogram.ts): `counts[j]` values in [edges[j], edges[j+1]) (the last bin
 * closed), over the finite values that are not 0; `zeros`, `below` edges[0], `above` the last
 * edge and `nonFinite` counted apart. They sum to the values counted. No edges (and no counts)
 * when every value is 0 or not finite.
 */
export interface Histogram {
  edges: number[];
  counts: number[];
  zeros: number;
  below: number;
  above: number;
  nonFinite: number;
}

/** Per layer, histograms of Z, f(Z) and ∂L/∂Z over the step's batch (every K steps). */
export interface HistogramEvent {
  type: 'histogram';
  step: number;
  layers: { index: number; preact: Histogram; act: Histogram; grad: Histogram }[];
}

/**
 * λmax, the largest eigenvalue of the Hessian of the step's batch loss over every weight and bias,
 * at the parameters before the step's update (core/sharpness.ts), and the optimiser's divergence
 * threshold on it (sgd 2/η, momentum (2 + 2β)/η; null for adam, whose steps are preconditioned).
 */
export interface SharpnessEvent {
  type: 'sharpness';
  step: number;
  lambdaMax: number;
  threshold: number | null;
  /** Hessian-vector products the estimate took. */
  iterations: number;
  /** The momentum β the threshold is for (absent for plain SGD). */
  momentum?: number;
  /**
   * PyTorch SGD's weight decay wd the threshold is for (absent where 0): each step adds wd·θ to
   * the gradient, so it sees curvature λ + wd, and the threshold on the loss's λmax is
   * (2 or 2 + 2β)/η − wd (docs/math.md).
   */
  weightDecay?: number;
  /** PyTorch SGD's Nesterov momentum (absent where off): the bound is (2 + 2β)/(1 + 2β), not 2 + 2β. */
  nesterov?: true;
  /** PyTorch SGD's dampening d of the momentum buffer (absent where 0): the rate is in effect η·(1 − d). */
  dampening?: number;
}

/** What else of a PyTorch SGD's step a sharpness threshold is for (docs/math.md). */
export type SgdTerms = Pick<SharpnessEvent, 'weightDecay' | 'nesterov' | 'dampening'>;

/**
 * The loss over the held-out samples (the model file's `data.validation` fraction, never trained
 * on) at the parameters before step `step`'s update, as the training loss of that step is; and for
 * cross-entropy the fraction of them whose largest logit is their class.
 */
export interface ValidationEvent {
  type: 'validation';
  step: number;
  loss: number;
  /** Top-1 accuracy in [0, 1]; null for a regression loss. */
  accuracy: number | null;
  /** Held-out samples evaluated. */
  samples: number;
}

export type Severity = 'info' | 'warning' | 'error';

export type WarningCode =
  | 'non_finite'
  | 'vanishing_forward'
  | 'exploding_forward'
  | 'vanishing_gradient'
  | 'exploding_gradient'
  | 'dying_relu'
  | 'frequent_clipping'
  | 'saturation'
  | 'update_ratio'
  | 'diverging_loss'
  | 'sharpness'
  | 'overfitting'
  | 'init_mismatch';

export interface WarningEvent {
  type: 'warning';
  code: WarningCode;
  severity: Severity;
  layer: number | null;
  step: number | null;
  message: string;
  fix: string;
  /** Every layer a coalesced warning covers (when more than `layer`). */
  layers?: number[];
}

/** Predicted or measured variances of one layer. */
export interface LayerVariances {
  preactVar: number;
  actVar: number;
  /** Var(∂L/∂z_l) relative to the output layer's (which is 1). */
  gradVar: number;
}

export interface AnalysisLayer {
  index: number;
  fanIn: number;
  fanOut: number;
  weightVar: number;
  predicted: LayerVariances;
  /** From one forward/backward pass on a batch, when one could be run. */
  measured?: LayerVariances;
}

export interface AnalysisEvent {
  type: 'analysis';
  /** q0: the mean second moment of the inputs. */
  inputVar: number;
  layers: AnalysisLayer[];
}

export type EndReason = 'completed' | 'non_finite' | 'stopped';

export interface EndEvent {
  type: 'end';
  /** Steps whose update was applied. */
  steps: number;
  reason: EndReason;
  /** Wall time of the training loop itself (first step to last). */
  elapsedMs: number;
  /** Steps whose gradients were clipped, over every step (not only the reported ones). */
  clippedSteps?: number;
  /** Runs on two threads with `--threads auto`: the steps split over both (the others ran on one). */
  splitSteps?: number;
}

export type LayerwiseEvent =
  StartEvent | StepEvent | WarningEvent | AnalysisEvent | EndEvent | HistogramEvent | SharpnessEvent | ValidationEvent;
type EventType = LayerwiseEvent['type'];
export const EVENT_TYPES: readonly EventType[] = [
  'start',
  'step',
  'warning',
  'analysis',
  'end',
  'histogram',
  'sharpness',
  'validation',
];
