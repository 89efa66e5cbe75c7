/**
 * A multilayer perceptron on flat typed arrays: parameters, per-batch buffers allocated once for
 * the largest batch, the forward pass fused with its statistics, and the backward pass.
 *
 * Forward, layer l (A₋₁ = X):  Z_l = A_{l−1}·W_lᵀ + b_l,  A_l = f_l(Z_l)
 * Backward (dZ_L from the loss): dZ_l = dA_l ⊙ f_l'(Z_l),  ∂W_l = dZ_lᵀ·A_{l−1},
 *                                ∂b_l = Σ_i dZ_l[i,·],     dA_{l−1} = dZ_l·W_l
 */
import type { Activation } from './activations';
import { activateWithStats, applyDerivative } from './layer-passes';
import { ForwardMoments, GradMoments } from './layer-stats';
import type { Ahead, DenseKernels, FArray, GradPlan, ParamState } from './kernels';
import { arenaBytes } from './kernels';
import { newLayerStates } from './optimizers';
import { tsKernels } from './dense';
import { sampleBias, sampleInit } from './init';
import type { Rng } from './rng';
import type { DType, LayerSpec, LoadedLayerWeights, TrainingSpec } from './spec';
import { parameterCount } from './spec';
import type { HessianWork } from './hessian-work';
import { hessianWork } from './hessian-work';

export interface Layer {
  readonly index: number;
  readonly fanIn: number;
  readonly units: number;
  readonly act: Activation;
  readonly W: FArray;
  readonly b: FArray;
  readonly dW: FArray;
  readonly db: FArray;
  /** Pre-activations, [maxBatch × units]. */
  readonly Z: FArray;
  /** Activations; the same array as Z for linear layers. */
  readonly A: FArray;
  /** ∂L/∂Z (dA is written here first, then multiplied by f'). */
  readonly dZ: FArray;
}

/**
 * Whether a batch split gives each thread half of the first layer's units (forward, ∂W and update
 * alike) rather than chunks of rows: where that layer holds at least half of the weights (W1: 784
 * inputs), so that each thread reads and writes only its own half of them. Split by rows, both
 * threads read every line of W₁ each step and one of them wrote it the step before: a line both
 * cores hold costs ~25 ns to write here.
 */
export function ownsFirstLayer(specs: readonly { units: number }[], inputSize: number): boolean {
  if (specs.length < 2 || specs[0]!.units < 16) return false;
  let all = 0,
    fanIn = inputSize;
  for (const s of specs) {
    all += s.units * fanIn;
    fanIn = s.units;
  }
  return 2 * specs[0]!.units * inputSize >= all;
}

/** Units [u0, u1) of the first layer that thread 0 (main) or 1 (helper) owns: halves, at a multiple of 4. */
export function firstLayerUnits(units: number, thread: 0 | 1): [number, number] {
  const h = Math.min(units, 4 * Math.round(units / 8));
  return thread === 0 ? [0, h] : [h, units];
}

/** The placeholder the counting run of a layout hands out (its arrays are never used). */
const EMPTY = new Float32Array(0);

/**
 * A network's arrays, in the one order every arena lays them out: input, each layer's, states,
 * the first layer's owned halves' scratch (where ownsFirstLayer), the helper thread's copy of the
 * input (where `secondInput`), then (when asked for) the Hessian-vector products' work arrays,
 * last, so that a helper thread that needs none lays out the same prefix.
 */
function layout(
  specs: readonly LayerSpec[],
  inputSize: number,
  maxBatch: number,
  optimizer: TrainingSpec['optimizer'] | null,
  hessian: boolean,
  alloc: (n: number) => FArray,
  secondInput = false,
): {
  input: FArray;
  layers: Layer[];
  states: { W: ParamState; b: ParamState }[];
  firstScratch: { Z: FArray; A: FArray } | null;
  secondInput: FArray | null;
  hessian: HessianWork | null;
} {
  const input = alloc(maxBatch * inputSize);
  let fanIn = inputSize;
  const layers = specs.map((s, index): Layer => {
    const U = s.units;
    const Z = alloc(maxBatch * U);
    const layer: Layer = {
      index,
      fanIn,
      units: U,
      act: { name: s.activation, alpha: s.alpha },
      W: alloc(U * fanIn),
      b: alloc(U),
      dW: alloc(U * fanIn),
      db: alloc(U),
      Z,
      A: s.activation === 'linear' ? Z : alloc(maxBatch * U),
      dZ: alloc(maxBatch * U),
    };
    fanIn = U;
    return layer;
  });
  // sized by the layers' shapes (the counting run's arrays are empty)
  const shapes = layers.map((l) => ({ W: { length: l.units * l.fanIn }, b: { length: l.units } }));
  const states = optimizer ? newLayerStates(shapes, optimizer, alloc) : [];
  const U0 = specs[0]?.units ?? 0;
  const firstScratch = ownsFirstLayer(specs, inputSize) ? { Z: alloc(maxBatch * U0), A: alloc(maxBatch * U0) } : null;
  return {
    input,
    layers,
    states,
    firstScratch,
    secondInput: secondInput ? alloc(maxBatch * inputSize) : null,
    hessian: hessian ? hessianWork(specs, inputSize, maxBatch, alloc) : null,
  };
}

/**
 * The bytes a network's arrays take in its arena (each by `arenaBytes`, in `layout`'s order) and
 * the values of the kernels' scratch per thread, (U+1)·(B+1) for the widest layer: what sizes the
 * arena, and what the memory estimate counts.
 */
export function networkFootprint(
  specs: readonly LayerSpec[],
  inputSize: number,
  dtype: DType,
  maxBatch: number,
  optimizer: TrainingSpec['optimizer'] | null,
  hessian: boolean,
  secondInput = false,
): { bytes: number; scratch: number } {
  const per = dtype === 'float64' ? 8 : 4;
  let bytes = 0;
  layout(
    specs,
    inputSize,
    maxBatch,
    optimizer,
    hessian,
    (n) => {
      bytes += arenaBytes(n, per);
      return EMPTY;
    },
    secondInput,
  );
  let scratch = 0;
  for (const s of specs) scratch = Math.max(scratch, (s.units + 1) * (maxBatch + 1));
  return { bytes, scratch };
}

/** Copies a B×w block (rows w apart) into columns u0 … u0 + w − 1 of `dst`'s rows of U values. */
function placeColumns(src: FArray, dst: FArray, B: number, w: number, U: number, u0: number, k: DenseKernels): void {
  if (k.placeColumns?.(src, dst, B, w, U, u0)) return;
  for (let i = 0; i < B; i++) dst.set(src.subarray(i * w, (i + 1) * w), i * U + u0);
}

function makeArray(dtype: DType, n: number): FArray {
  return dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
}

export class Network {
  /** The kernels in use (the TS reference when the requested ones cannot serve this network). */
  readonly kernels: DenseKernels;
  readonly layers: Layer[];
  readonly parameters: number;
  /** The batch input X [maxBatch × inputSize], where the kernels read it without copies. */
  readonly input: FArray;
  /** X as the main thread fills it: `input`, but in a helper thread that reads its own copy ('use'). */
  readonly batchInput: FArray;
  /** The optimiser's state of every layer's W, then b (none without an optimiser). */
  readonly states: { W: ParamState; b: ParamState }[];
  /** The Hessian-vector products' work arrays (core/hessian-operator.ts), when asked for. */
  readonly hessian: HessianWork | null;
  /** Where a thread computes its half of the first layer's units ([B × half] blocks; ownsFirstLayer). */
  private readonly firstScratch: { Z: FArray; A: FArray } | null;
  /** What the last forward and backward pass measured per layer (what they return). */
  private readonly fwd: ForwardMoments[];
  private readonly grad: GradMoments[];

  constructor(
    specs: readonly LayerSpec[],
    readonly inputSize: number,
    readonly dtype: DType,
    readonly maxBatch: number,
    kernels: DenseKernels = tsKernels,
    /** The optimiser whose state buffers (momentum 1 a tensor, adam 2) are laid out with the rest. */
    optimizer: TrainingSpec['optimizer'] | null = null,
    /** Whether to lay out the work arrays of Hessian-vector products too. */
    hessian = false,
    /**
     * A second input array for a helper thread's own copy of each batch (a line that one core
     * writes and the other reads costs both, parallel.ts): 'lay out' reserves it (the main
     * thread), 'use' reads the batch from it (the helper thread); none by default.
     */
    secondInput: 'lay out' | 'use' | null = null,
  ) {
    // Everything the kernels touch is allocated at once, from their arena when they have one. The
    // allocations below run twice: first counting the bytes each takes by the arenas' one rule
    // (arenaBytes), which sizes the arena, then for real. A helper thread constructs the same
    // network over the same arena: this order is its layout.
    const second = secondInput !== null;
    const { bytes, scratch } = networkFootprint(specs, inputSize, dtype, maxBatch, optimizer, hessian, second);
    const arena = kernels.createArena?.(dtype, bytes, scratch) ?? null;
    this.kernels = arena ? kernels : tsKernels;
    const alloc = arena ?? ((n: number): FArray => makeArray(dtype, n));
    const laid = layout(specs, inputSize, maxBatch, optimizer, hessian, alloc, second);
    this.input = secondInput === 'use' ? laid.secondInput! : laid.input;
    this.batchInput = laid.input;
    this.layers = laid.layers;
    this.states = laid.states;
    this.hessian = laid.hessian;
    this.firstScratch = laid.firstScratch;
    this.fwd = specs.map((l) => new ForwardMoments(l.activation, l.units));
    this.grad = specs.map(() => new GradMoments());
    this.parameters = parameterCount(inputSize, specs);
  }

  /**
   * Draws every weight matrix from its init scheme, then its bias (its constant, or nn.Linear's
   * draw: init.sampleBias).
   */
  initialize(specs: readonly LayerSpec[], rng: Rng): void {
    for (const l of this.layers) {
      const s = specs[l.index]!;
      const tmp = new Float64Array(l.units * l.fanIn);
      sampleInit(s.init, l.act, l.fanIn, l.units, rng, tmp);
      l.W.set(tmp);
      sampleBias(s, l.fanIn, rng, l.b);
    }
  }

  /** Copies loaded parameters in (shapes were checked by the loader). */
  load(weights: readonly LoadedLayerWeights[]): void {
    for (const l of this.layers) {
      l.W.set(weights[l.index]!.weight);
      l.b.set(weights[l.index]!.bias);
    }
  }

  get output(): Layer {
    return this.layers[this.layers.length - 1]!;
  }

  /**
   * Forward pass of rows [row0, row0 + B) of the batch (X holds those rows), filling those rows of
   * Z and A; returns each layer's forward moments over these rows (arrays the next pass
   * overwrites), or null when `abort`, asked after every layer, answered true (pass abandoned).
   */
  forward(X: FArray, B: number, abort?: () => boolean, row0 = 0, from = 0): readonly ForwardMoments[] | null {
    let input = from > 0 ? rowsOf(this.layers[from - 1]!.A, row0, B, this.layers[from - 1]!.units) : X;
    for (let i = from; i < this.layers.length; i++) {
      const l = this.layers[i]!;
      const Z = rowsOf(l.Z, row0, B, l.units),
        A = l.A === l.Z ? Z : rowsOf(l.A, row0, B, l.units);
      this.kernels.forward(input, l.W, l.b, Z, B, l.fanIn, l.units);
      activateWithStats(l, Z, A, B, this.kernels, this.fwd[l.index]!);
      input = A;
      if (abort?.()) return null;
    }
    return this.fwd;
  }

  /**
   * The first layer's units [u0, u1) over all B rows of X (a thread's half of a batch split,
   * ownsFirstLayer): Z and A of those units computed in the scratch's rows for them as one [B ×
   * (u1 − u0)] block, with their statistics into `m` (its alive flags of those units), then copied
   * into the layer's Z and A; `ahead`: what the kernels may fetch meanwhile (kernels.Ahead).
   */
  forwardFirstUnits(X: FArray, B: number, u0: number, u1: number, m: ForwardMoments, ahead?: Ahead): void {
    const l = this.layers[0]!,
      s = this.firstScratch;
    if (!s) throw new Error('forwardFirstUnits: the first layer is not split by units');
    const w = u1 - u0,
      U = l.units,
      K = l.fanIn;
    m.clear();
    if (w <= 0) return;
    const Z = s.Z.subarray(B * u0, B * u1),
      A = l.A === l.Z ? Z : s.A.subarray(B * u0, B * u1);
    this.kernels.forward(X, l.W.subarray(u0 * K, u1 * K), l.b.subarray(u0, u1), Z, B, K, w, ahead);
    activateWithStats(l, Z, A, B, this.kernels, m, w, m.alive.subarray(u0, u1));
    placeColumns(Z, l.Z, B, w, U, u0, this.kernels);
    if (l.A !== l.Z) placeColumns(A, l.A, B, w, U, u0, this.kernels);
  }

  /**
   * Backward pass of rows [row0, row0 + B) (X holds those rows), with ∂L/∂A_L of those rows
   * already in the output layer's dZ. Fills those rows of dZ, and dW, db over these rows; returns
   * each layer's moments of dZ over these rows (arrays the next pass overwrites), or null when
   * `abort` answered true. (A thread of the batch split takes its share with
   * split-protocol.backwardShare instead.)
   */
  backward(X: FArray, B: number, abort?: () => boolean, row0 = 0): readonly GradMoments[] | null {
    for (let i = this.layers.length - 1; i >= 0; i--) {
      const l = this.layers[i]!;
      const Z = rowsOf(l.Z, row0, B, l.units),
        dZ = rowsOf(l.dZ, row0, B, l.units);
      const g = this.grad[i]!;
      g.clear();
      const zeros = applyDerivative(l, Z, l.A === l.Z ? Z : rowsOf(l.A, row0, B, l.units), dZ, B, this.kernels, g);
      const plan: GradPlan = { zeroShare: zeros / (B * l.units) };
      const prev = i > 0 ? this.layers[i - 1]! : null;
      const A = prev ? rowsOf(prev.A, row0, B, prev.units) : X;
      this.kernels.weightGrad(dZ, A, l.dW, l.db, B, l.fanIn, l.units, plan);
      if (prev) this.kernels.inputGrad(dZ, l.W, rowsOf(prev.dZ, row0, B, prev.units), B, l.fanIn, l.units, plan);
      if (abort?.()) return null;
    }
    return this.grad;
  }
}

/** Rows [row0, row0 + B) of a [rows × width] array: the array itself from row 0, else a view. */
export function rowsOf(a: FArray, row0: number, B: number, width: number): FArray {
  return row0 === 0 ? a : a.subarray(row0 * width, (row0 + B) * width);
}
