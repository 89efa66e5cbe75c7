/**
 * The run-time detectors (detectors.ts) over an event stream instead of a trainer: the warnings of
 * a PyTorch run (layerwise_torch writes statistics and `non_finite` only) come from the same code,
 * thresholds and settings as our own runs. The facts a detector needs are read off each step
 * event: Var(z_l) against the batch's q₀ = `inputVar`, Var(∂L/∂z_l) against the output layer's,
 * dead units (judged on batches of 8 rows or more where `samples` says the rows), saturated
 * fractions (of hidden layers: a PyTorch output layer's sigmoid is usually the prediction of a BCE
 * loss, which it does not saturate), update ratios and clip events. At step 0 each layer's weight
 * mean and variance are judged as a model file's init is (warnings.ts: a mean that outweighs the
 * spread, e.g. nn.init.uniform_'s U(0, 1)). Fixes speak PyTorch.
 */
import type {
  ActivationName,
  LayerModule,
  LayerwiseEvent,
  StartEvent,
  StepEvent,
  ValidationEvent,
  WarningEvent,
} from '../protocol/events';
import { layerLabel, layerModulePath, suitedInit, torchInitCall } from '../protocol/events';
import type { Thresholds } from './detectors';
import { DEFAULT_THRESHOLDS, Detectors } from './detectors';
import type { LayerSpec } from './spec';
import { fmt, initMismatchWarningsAt } from './warnings';

/**
 * A vanishing signal past a dying ReLU layer (detectors.ts names it in the fix), said for PyTorch;
 * null at step 0, where the init is the cause, or where no layer blocks it.
 */
function blockedFix(w: WarningEvent, modules: readonly LayerModule[]): string | null {
  const blocked =
    /^Layer (\d+)'s (\d+) dead units \(of (\d+)\) pass (no gradient to the layers below it|no signal to the layers above it)/.exec(
      w.fix,
    );
  if (!blocked || w.step === 0) return null;
  const at = layerLabel({ modules }, Number(blocked[1]));
  return `${at.charAt(0).toUpperCase()}${at.slice(1)}'s ${blocked[2]} dead units (of ${blocked[3]}) pass ${blocked[4]}: replace the nn.ReLU() after it with nn.LeakyReLU(0.01), or lower the optimizer's lr.`;
}

/**
 * The fix of a warning, said for a PyTorch training script: a fix for one layer names its module
 * where the log gives the modules' names ("the nn.ReLU() after layer 1 (model.fc2)",
 * "model.fc2.weight").
 */
function pytorchFix(w: WarningEvent, layers: readonly LayerSpec[], modules: readonly LayerModule[]): string {
  const l = w.layer !== null ? layers[w.layer] : undefined;
  const act = l?.activation ?? 'relu';
  const path = w.layer !== null ? layerModulePath({ modules }, w.layer) : null;
  const layer = w.layer === null ? '' : layerLabel({ modules }, w.layer);
  const weight = path !== null ? `${path}.weight` : 'linear.weight';
  const torchInit = (a: ActivationName, on = 'linear.weight'): string => torchInitCall(a, on, undefined, l?.alpha);
  const initFix = (): string =>
    `Initialise the ${act} layers up to ${layer} with ${torchInit(act)}: PyTorch's default nn.Linear init has Var(W) = 1/(3·fan_in), which shrinks the signal at every layer.`;
  switch (w.code) {
    case 'vanishing_forward':
    case 'vanishing_gradient':
      return blockedFix(w, modules) ?? initFix();
    case 'exploding_forward':
      return `Initialise with ${torchInit(act)} (or a smaller gain), or normalise the inputs.`;
    case 'exploding_gradient':
      return `Clip the gradients (layerwise_torch.watch(..., clip={"mode": "norm", "max": 1.0})), and initialise with ${torchInit(act)}.`;
    case 'dying_relu':
      return `Replace the nn.ReLU() after ${layer} with nn.LeakyReLU(0.01), or initialise it with ${torchInit('relu', weight)}${w.step === 0 ? '' : ", or lower the optimizer's lr"}.`;
    case 'saturation':
      return `Initialise ${layer} with ${torchInit(act, weight)}, or scale the inputs down.`;
    case 'frequent_clipping':
      return "Lower the optimizer's lr, or raise the clip max towards the typical gradient norm.";
    case 'overfitting': {
      const at = /Stop at step (\d+)/.exec(w.fix)?.[1];
      return `Stop training near step ${at ?? 'the lowest held-out loss'} (keep the checkpoint with the lowest held-out loss), or train on more data, or use a smaller model.`;
    }
    case 'diverging_loss':
      return 'Lower the optimizer\'s lr to a tenth of it, or clip the gradients (layerwise_torch.watch(..., clip={"mode": "norm", "max": 1.0})).';
    case 'sharpness': {
      const named = /learningRate to (\S+) /.exec(w.fix)?.[1];
      return `Lower the optimizer's lr${named ? ` to ${named}` : ''}, so that lr·λmax stays below the threshold.`;
    }
    case 'init_mismatch': {
      const init = torchInit(act, w.layers ? 'linear.weight' : weight);
      return w.layers
        ? `Initialise each nn.Linear of layers ${w.layers[0]}–${w.layers.at(-1)} with ${init} (zero mean).`
        : `Initialise ${layer} with ${init} (zero mean).`;
    }
    case 'update_ratio': {
      if (w.severity === 'info') return "Raise the optimizer's lr, or fix vanishing gradients below these layers.";
      const factor = /about ([^×]+)×/.exec(w.fix)?.[1];
      return `Lower the optimizer's lr${factor ? ` (about ${factor}× the current one)` : ''}.`;
    }
    default:
      return w.fix;
  }
}

/** Layer descriptions the detectors read, from a `start` event. */
function layersOf(start: StartEvent): LayerSpec[] {
  return start.layers.map((l) => ({
    units: l.units,
    activation: l.activation,
    alpha: l.alpha ?? (l.activation === 'leaky_relu' ? 0.01 : 1),
    bias: 0,
    // the detectors read the scheme only for their fix texts, which pytorchFix replaces
    init: { scheme: suitedInit(l.activation), mode: 'fan_in' },
  }));
}

/**
 * Runs the detectors over a stream. For a stream our own core wrote (its warnings are already in
 * it), passes nothing new; for a PyTorch stream, returns each step's warnings.
 */
export class StreamDetectors {
  private detectors: Detectors | null = null;
  private layers: LayerSpec[] = [];
  private fanIns: number[] = [];
  private modules: LayerModule[] = [];
  /** The training loss of the last step event. */
  private lastLoss: number | null = null;
  /**
   * A held-out loss waiting for its step's training loss: `run.validation()` measures the
   * parameters step k starts from, as step k's training loss does, and is written before step k's
   * event (our own runs compare the two of one step).
   */
  private heldOut: ValidationEvent | null = null;

  constructor(private readonly thresholds: Partial<Thresholds> = {}) {}

  /**
   * The warnings this event adds (from `step`, `sharpness` and `validation` events of a PyTorch
   * stream); a validation event's come with the step event of its step (or the next logged one).
   */
  observe(e: LayerwiseEvent): WarningEvent[] {
    if (e.type === 'start') {
      this.detectors =
        e.source === 'pytorch' ? new Detectors(layersOf(e), { ...DEFAULT_THRESHOLDS, ...this.thresholds }) : null;
      this.layers = layersOf(e);
      this.fanIns = e.layers.map((l) => l.fanIn);
      this.modules = e.modules ?? [];
      this.lastLoss = null;
      this.heldOut = null;
      return [];
    }
    if (e.type === 'sharpness' && this.detectors)
      return this.pytorch(this.detectors.sharpness(e.step, e.lambdaMax, e.threshold, e.momentum ?? null, e));
    if (e.type === 'validation') {
      // (two in a row: the first is judged against the training loss known by now)
      const earlier = this.finish();
      this.heldOut = e;
      return earlier;
    }
    if (e.type !== 'step') return [];
    // its own step's loss, or where that step was not logged the last one before it
    const train = e.step === this.heldOut?.step ? e.loss : this.lastLoss;
    this.lastLoss = e.loss;
    const ws = this.detectors && e.layers.length === this.layers.length ? this.step(e, this.detectors) : [];
    if (e.step >= (this.heldOut?.step ?? Infinity)) ws.push(...this.judgeHeldOut(train));
    return ws;
  }

  /** The warnings still waiting when the stream ends (a held-out loss after the last step event). */
  finish(): WarningEvent[] {
    return this.judgeHeldOut(this.lastLoss);
  }

  private judgeHeldOut(train: number | null): WarningEvent[] {
    const v = this.heldOut;
    this.heldOut = null;
    // (no training loss yet: nothing to compare with; a log our own core wrote: judged in it)
    if (!v || !this.detectors) return [];
    return this.pytorch(this.detectors.validation(v.step, v.loss, train ?? NaN));
  }

  /** The warnings with their fixes said for a PyTorch script. */
  private pytorch(ws: WarningEvent[]): WarningEvent[] {
    return ws.map((w) => ({ ...w, fix: pytorchFix(w, this.layers, this.modules) }));
  }

  private step(e: StepEvent, d: Detectors): WarningEvent[] {
    const ws = e.step === 0 ? this.initWarnings(e) : [];
    ws.push(
      ...d.observe({
        step: e.step,
        q0: e.inputVar ?? NaN,
        preactVar: e.layers.map((l) => l.preact.var),
        gradVar: e.layers.map((l) => l.grad.var),
        dead: e.layers.map((l) => l.dead),
        // the output layer's sigmoid or tanh is the prediction itself (sigmoid + BCE: saturated
        // outputs are confident ones, and ∂L/∂z = p − y does not vanish); the log does not say the loss
        saturated: e.layers.map((l, i) => (i === e.layers.length - 1 ? null : (l.saturated ?? null))),
        updateRatio: e.layers.map((l) => l.updateRatio),
        clipped: e.clipped,
        // every step counts: a step of a run that clips by hand (run.clip_grad_norm_, no clip= at
        // watch) is one that did not clip until its event says it did (counting from the first clip
        // event on made one clip "100 % of the last 1 steps")
        clipActive: true,
        loss: e.loss,
        samples: e.samples,
        rows: e.layers.map((l) => l.rows),
      }),
    );
    return this.pytorch(ws);
  }

  /**
   * The init's warnings from the weights of step 0 (before any update): each layer taken as
   * drawn from a normal of their mean and variance, judged as a model file's init.
   */
  private initWarnings(e: StepEvent): WarningEvent[] {
    if (e.layers.some((l) => !Number.isFinite(l.weight.mean) || !Number.isFinite(l.weight.var))) return [];
    const layers: LayerSpec[] = this.layers.map((l, i) => ({
      ...l,
      init: {
        scheme: 'normal',
        mode: 'fan_in',
        mean: e.layers[i]!.weight.mean,
        std: Math.sqrt(e.layers[i]!.weight.var),
      },
    }));
    return initMismatchWarningsAt(layers, this.fanIns, (init) => `std ${fmt(init.std ?? 0)} at step 0`);
  }
}
