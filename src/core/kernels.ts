/**
 * The kernel boundary: the types every compute path shares, in one module that imports only the
 * activation and spec types (so the reference kernels, the WebAssembly kernels, the optimisers and
 * the network do not import each other for them).
 *
 * - FArray: a flat row-major float32 or float64 array.
 * - DenseKernels: the dense-layer operations (forward Z = A·Wᵀ + b, weight and input gradients),
 *   and optional fused passes a faster implementation may serve.
 * - ParamState: an optimiser's per-tensor buffers.
 * - UpdateSums and the update-sums layout: what one optimiser pass gathers per tensor,
 *   [Σ(Δθ)², Σθ, Σθ², Σg, Σg²], at UPDATE_SUMS.at(layer, tensor) of a per-step Float64Array.
 * - VectorArithmetic: Lanczos's float64 vector operations (lanczos.ts), over arrays it hands out.
 */
import type { Activation } from './activations';
import type { Rng } from './rng';
import type { TrainingSpec } from './spec';

export type FArray = Float32Array | Float64Array;

/**
 * The one padding rule of every arena (the WebAssembly memory, the TS kernels' SharedArrayBuffer):
 * each array starts on a cache line (64 bytes; the arenas' bases are), so it takes its bytes
 * rounded up to 64. A network measures its arena by running its allocations once through this
 * rule (network.ts), and the arenas' bump allocators hand out offsets by it. (At 16 bytes, every
 * array sat at 32 mod 64 and each 64-byte load of the native kernels spanned two lines: their
 * products ran at ~72 GMAC/s where aligned rows give ~97.)
 */
const ARENA_ALIGN = 64;
export function arenaBytes(n: number, bytesPerValue: number): number {
  return Math.ceil((n * bytesPerValue) / ARENA_ALIGN) * ARENA_ALIGN;
}

/** A WebAssembly build of the kernels: with relaxed SIMD's fused multiply-add, or plain SIMD. */
export type WasmVariant = 'relaxed' | 'simd';

/**
 * The dense products and the optimiser step in native code (native/kernels.c: AVX-512), over
 * float32 arrays of a WebAssembly arena: `mem` is a Float32Array over the whole memory and every
 * array argument an offset into it in floats. The host loads them (src/runner/native-kernels.ts; the
 * core imports no native code) and hands them to NativeWasmKernels (native-wasm-kernels.ts), whose
 * WebAssembly kernels serve the other passes. Each value of an output takes the same arithmetic
 * whatever the call's shape, so products in chunks of
 * rows or units (the batch split) equal the whole product bit for bit:
 *   forward     Z = A·Wᵀ + b: per value sixteen fused running sums over k mod 16, added by a fixed
 *               tree, then + b
 *   weightGrad  rows [u0, u1) of ∂W = dZᵀ·A: one fused running sum over the batch's rows in order
 *   inputGrad   dA = dZ·W: one fused running sum over the units in order
 */
export interface NativeKernels {
  readonly name: string;
  /**
   * Whether forward and weightGrad take an Ahead (its float offset, count and 1 for writing, after
   * their other arguments; a module built before it lacks it).
   */
  readonly ahead?: boolean;
  forward(
    mem: Float32Array,
    a: number,
    w: number,
    bias: number,
    z: number,
    B: number,
    K: number,
    U: number,
    ...ahead: [] | [at: number, count: number, write: number]
  ): void;
  weightGrad(
    mem: Float32Array,
    dz: number,
    a: number,
    dw: number,
    B: number,
    K: number,
    U: number,
    u0: number,
    u1: number,
    ...ahead: [] | [at: number, count: number, write: number]
  ): void;
  inputGrad(mem: Float32Array, dz: number, w: number, da: number, B: number, K: number, U: number): void;
  /**
   * One optimiser step over n values (mode 0 sgd, 1 momentum, 2 adam; a–e as assembly/update.ts
   * takes them; m, v −1 where the optimiser has none), θ and its state bit for bit as the TS
   * reference; [Σ(Δθ)², Σθ, Σθ², Σg, Σg²] as float64 at float offset `out`.
   */
  update(
    mem: Float32Array,
    mode: number,
    theta: number,
    g: number,
    m: number,
    v: number,
    n: number,
    a: number,
    b: number,
    c: number,
    d: number,
    e: number,
    first: number,
    out: number,
  ): void;
  /**
   * The ReLU passes and histogram passes of the WebAssembly module (assembly/elementwise.ts,
   * assembly/histogram.ts: the same arguments, float offsets in place of byte offsets): the ReLU
   * passes give its values exactly and its float64 sums within rounding (summed in another order),
   * the histograms' passes its results bit for bit.
   */
  reluForward(
    mem: Float32Array,
    z: number,
    a: number,
    B: number,
    U: number,
    alpha: number,
    leaky: number,
    z0: number,
    a0: number,
    alive: number,
    out: number,
  ): void;
  reluBackward(mem: Float32Array, z: number, dz: number, n: number, mode: number, alpha: number, out: number): void;
  histogramMoments(mem: Float32Array, p: number, n: number, out: number): void;
  histogramSlots(mem: Float32Array, p: number, n: number, lo: number, hi: number, scale: number, slots: number): void;
  /**
   * Optional (a module built before it lacks it): the Gram matrix of λmax's input basis into g
   * (B×B float64 at an even float offset), input-basis.ts's sums bit for bit; false where it
   * could not run.
   */
  gram?(mem: Float32Array, x: number, B: number, n: number, g: number): boolean;
  /**
   * Optional (a module built before it lacks it): row r of the d-wide block at float offset `dst` ←
   * row order[start + r] of `src` (a Float32Array of any buffer), for r < rows, a memcpy a row.
   */
  copyRows?(
    mem: Float32Array,
    dst: number,
    src: Float32Array,
    order: Uint32Array,
    start: number,
    rows: number,
    d: number,
  ): void;
  /**
   * Optional (a module built before them lacks them): the Hessian-vector products' elementwise
   * passes, the module's `addInto` (y ← y + x) and `mulInto` (y ← d ⊙ x, returning the zeros
   * among the new y) bit for bit, float offsets in place of byte offsets.
   */
  addInto?(mem: Float32Array, y: number, x: number, n: number): void;
  mulInto?(mem: Float32Array, y: number, d: number, x: number, n: number): number;
  /**
   * Optional (a module built before them lacks them): Lanczos's float32 vector passes, its
   * results bit for bit.
   */
  lanczos?: NativeLanczos;
}

/**
 * Lanczos's vector passes in native code (NativeKernels.lanczos): VectorArithmetic's alpha32,
 * residual32 and scale32 over u's (q's) length, and addScaledAll over v's, on arrays of any memory.
 */
export interface NativeLanczos {
  alpha32(u: Float32Array, c: number, x: Float32Array, y: Float32Array): number;
  residual32(w: Float32Array, u: Float32Array, c: number, x: Float32Array, a: number, y: Float32Array): number;
  scale32(q: Float32Array, c: number, copy: Float32Array | null): void;
  /** VectorArithmetic's addScaledAll, at most 64 vectors (c as many values as q has arrays). */
  addScaledAll(v: Float64Array, c: Float64Array, q: readonly Float32Array[]): void;
}

/** What a helper thread needs to build kernels over the same arrays (DenseKernels.sharing). */
export interface KernelSharing {
  /** The arena the arrays live in: a shared WebAssembly memory, or a SharedArrayBuffer. */
  memory: WebAssembly.Memory | SharedArrayBuffer;
  /** The kernels to build over it: a WebAssembly build, or 'ts' (dense.SharedTsKernels). */
  variant: WasmVariant | 'ts';
  /**
   * The compiled WebAssembly kernels: another thread instantiating this module runs the code this
   * thread's use has already optimised (V8 shares a module's compiled code between threads), not
   * baseline code of its own that a helper used a few steps at a time would run for seconds.
   */
  module?: WebAssembly.Module;
  /** Whether the dense products are native (NativeKernels): the helper must load them too. */
  native?: boolean;
}

/**
 * Float64 vector arithmetic over arrays it hands out: Lanczos's recurrence (lanczos.ts) on vectors
 * of all of θ. vector-arithmetic.ts's tsVectors is the reference; the WebAssembly kernels' (wasm-vectors.ts)
 * give its results bit for bit (the same products and sums in the same order), and run arrays
 * they did not hand out through it.
 */
export interface VectorArithmetic {
  /**
   * `f64` float64 and `f32` float32 arrays of n values each; arrays handed out before may be given
   * up (they stay valid, but the operations may then take them at the reference's speed).
   */
  arrays(n: number, f64: number, f32: number): { f64: Float64Array[]; f32: Float32Array[] };
  /** Σ aᵢbᵢ: running sums over i mod 4, the last n mod 4 terms into the first, (s₀ + s₁) + (s₂ + s₃). */
  dot(a: Float64Array, b: Float64Array): number;
  /**
   * w ← w − c·x, returning Σ wᵢyᵢ of the new w (y may be w): running sums over i mod 8, the last
   * n mod 8 terms into the first, ((s₀ + s₁) + (s₂ + s₃)) + ((s₄ + s₅) + (s₆ + s₇)).
   */
  subtractAndDot(w: Float64Array, c: number, x: Float64Array, y: Float64Array): number;
  /**
   * Float32 vectors, every operation in float64: Σ yᵢ(uᵢ − c·xᵢ), in running sums over i mod 16, the
   * last n mod 16 terms into the first, ((s₀ + s₁) + (s₂ + s₃)) + ((s₄ + s₅) + (s₆ + s₇)) plus the
   * same of s₈…s₁₅.
   */
  alpha32(u: Float32Array, c: number, x: Float32Array, y: Float32Array): number;
  /**
   * Float32 vectors: wᵢ ← (uᵢ − c·xᵢ) − a·yᵢ in float64, rounded to float32; returns Σ of those
   * float64 values squared, in alpha32's running sums and their order.
   */
  residual32(w: Float32Array, u: Float32Array, c: number, x: Float32Array, a: number, y: Float32Array): number;
  /** qᵢ ← qᵢ·c with c rounded to float32, in float32 (float32 vectors); the same values into `copy` where given. */
  scale32(q: Float32Array, c: number, copy?: Float32Array): void;
  /**
   * Whether alpha32, residual32 and scale32 take an array of a's memory at their full speed (those
   * they do not take so run through the reference).
   */
  reaches(a: Float32Array): boolean;
  /**
   * out[i] ← (xᵢ + 0.5)·2⁻³¹ − 1 (uniform in (−1, 1)) for the next out.length values xᵢ of
   * rng.nextU32(), rng's state advanced as those calls would.
   */
  uniformSigned(out: Float64Array, rng: Rng): void;
  /** q ← a·q + b·r. */
  scaleAdd(q: Float64Array, a: number, r: Float64Array, b: number): void;
  /** w ← c·w, and q ← w rounded to float32. */
  scaleInto(w: Float64Array, c: number, q: Float32Array): void;
  /** v ← v + c·q. */
  addScaled(v: Float64Array, c: number, q: Float32Array): void;
  /** v ← v + c₀q₀ + c₁q₁ + … added in that order: addScaled of each in turn, bit for bit. */
  addScaledAll(v: Float64Array, c: ArrayLike<number>, q: readonly Float32Array[]): void;
}

/**
 * One convention for what a kernel does not serve: the optional passes (update, activate,
 * derivative, weightGradUnits, histogramMoments, histogramSlots, gram, placeColumns, gatherRows, addInto, mulInto,
 * mulAddInto, gradientSums, scaleGradient, clampGradient) return false when the arrays given are not theirs to serve, and
 * the caller runs the TS reference; the required ones (forward, weightGrad, inputGrad) always
 * serve (the WebAssembly kernels fall back to TS inside); sharing, createArena and vectors, which
 * hand something out, answer null when there is nothing to give.
 */
export interface DenseKernels {
  readonly name: string;
  /**
   * Optional: once createArena has made a shared arena, how another thread works on the same
   * arrays; null (or absent) when these kernels' arrays cannot be shared.
   */
  sharing?(): KernelSharing | null;
  /**
   * Optional: an allocator whose arrays the kernels work on without copies, for arrays taking
   * `bytes` in all (each by arenaBytes) and scratch sized from `scratchFloats`, the largest
   * (U+1)(B+1) of a layer; null when the kernels cannot serve this dtype.
   */
  createArena?(dtype: 'float32' | 'float64', bytes: number, scratchFloats: number): ((n: number) => FArray) | null;
  /** Optional: vector arithmetic faster than vector-arithmetic.ts's tsVectors, over memory of its own; null where none. */
  vectors?(): VectorArithmetic | null;
  /** Z = A·Wᵀ + b over B rows (`ahead`: values this thread uses next, which the kernels may fetch meanwhile). */
  forward(A: FArray, W: FArray, bias: FArray, Z: FArray, B: number, K: number, U: number, ahead?: Ahead): void;
  /**
   * Optional: one optimiser step (as optimizers.update, filling `acc` with Σ(Δθ)² too); false when
   * these arrays are not the kernels' to serve.
   */
  update?(
    spec: TrainingSpec,
    theta: FArray,
    g: FArray,
    state: ParamState,
    t: number,
    n: number,
    acc: UpdateSums,
  ): boolean;
  weightGrad(dZ: FArray, A: FArray, dW: FArray, db: FArray, B: number, K: number, U: number, plan?: GradPlan): void;
  /**
   * Optional: A = f(Z) over [B×U] with the forward sums written to `sums`:
   * [Σ(z−z0), Σ(z−z0)², Σ(a−a0), Σ(a−a0)², dead units] and `alive` (1 for units with a live
   * sample, see activations.hasDeadUnits); false when this activation or these
   * arrays are not the kernels' to serve (network.ts then runs the TS reference).
   */
  activate?(
    act: Activation,
    Z: FArray,
    A: FArray,
    B: number,
    U: number,
    z0: number,
    a0: number,
    sums: Float64Array,
    alive: Uint8Array,
  ): boolean;
  /**
   * Optional: rows [u0, u1) of ∂W and ∂b over all B rows of dZ (a thread's share of the weight
   * gradients in the batch split, core/parallel.ts); false when these arrays are not served.
   */
  weightGradUnits?(
    dZ: FArray,
    A: FArray,
    dW: FArray,
    db: FArray,
    B: number,
    K: number,
    U: number,
    u0: number,
    u1: number,
    plan?: GradPlan,
  ): boolean;
  /**
   * Optional: dZ ← dZ ⊙ f'(Z) over n values with [Σg, Σg², how many g are 0] in `sums`; false when
   * not served.
   */
  derivative?(act: Activation, Z: FArray, dZ: FArray, n: number, sums: Float64Array): boolean;
  inputGrad(dZ: FArray, W: FArray, dA: FArray, B: number, K: number, U: number, plan?: GradPlan): void;
  /**
   * Optional: a histogram's first pass over n values of `a` (histogram.ts: its MOMENTS layout at
   * `out`), bit for bit as the reference; false when not served.
   */
  histogramMoments?(a: FArray, n: number, out: Float64Array): boolean;
  /**
   * Optional: a histogram's second pass over n values of `a` for the limits [lo, hi] and
   * scale = bins / (hi − lo) (histogram.ts: its SLOTS counts at `out`), bit for bit as the
   * reference; false when not served.
   */
  histogramSlots?(a: FArray, n: number, lo: number, hi: number, scale: number, out: Int32Array): boolean;
  /**
   * Optional: G = X·Xᵀ in float64 for B rows of n values (both triangles), bit for bit as
   * input-basis.ts's reference; false when not served.
   */
  gram?(X: FArray, B: number, n: number, G: Float64Array): boolean;
  /**
   * Optional: copies a B×w block (rows w apart) into columns u0 … u0 + w − 1 of `dst`'s B rows of U
   * values (a thread's half of the first layer's units, network.ts); false when not served.
   */
  placeColumns?(src: FArray, dst: FArray, B: number, w: number, U: number, u0: number): boolean;
  /**
   * Optional: rows [r0, r1) of a batch into X: X's row r ← row order[start + r] of `src` (d values
   * a row; data.copyBatchRows's loop, faster); false when not served.
   */
  gatherRows?(src: FArray, order: Uint32Array, start: number, r0: number, r1: number, d: number, X: FArray): boolean;
  /**
   * Optional, the Hessian-vector products' element-wise passes over n values (hessian-operator.ts;
   * vector-arithmetic.ts holds the reference loops): y ← y + x; false when not served.
   */
  addInto?(y: FArray, x: FArray, n: number): boolean;
  /** Optional: y ← d ⊙ x (y may be x), returning how many of the new y are 0; false when not served. */
  mulInto?(y: FArray, d: FArray, x: FArray, n: number): number | false;
  /** Optional: y ← y ⊙ d + c ⊙ r, each value in float64 and rounded once to y's dtype; false when not served. */
  mulAddInto?(y: FArray, d: FArray, c: FArray, r: FArray, n: number): boolean;
  /**
   * Optional, the gradients' passes around clipping, bit for bit as clip.ts's references (sums in
   * four running sums over i mod 4): [Σg, Σg²] of n values at `out`; false when not served.
   */
  gradientSums?(g: FArray, n: number, out: Float64Array): boolean;
  /** Optional: g ← g·c, each value rounded once to g's dtype, and Σg² of the new g at out[0]. */
  scaleGradient?(g: FArray, n: number, c: number, out: Float64Array): boolean;
  /** Optional: g ← clamp(g, −c, c); Σg² of the new g at out[0], how many were beyond ±c at out[1]. */
  clampGradient?(g: FArray, n: number, c: number, out: Float64Array): boolean;
}

/**
 * What the caller knows of a layer's gradient products (∂W = dZᵀ·A, dA = dZ·W) when it asks for
 * them: the share of zeros in dZ (from its derivative pass; from a threshold on, kernels may skip
 * them), and, filled by the kernels on the first product that checks, whether A is all finite
 * (checked once for a layer's chunks of units). One plan per layer and pass, owned by the caller;
 * only speed depends on it (results are the dense products' bit for bit).
 */
export interface GradPlan {
  zeroShare: number;
  aFinite?: boolean;
  /** Values this thread uses next, which the kernels may fetch while they compute (Ahead). */
  ahead?: Ahead;
}

/**
 * Values [from, to) of `array` that the calling thread reads (or, `write`, writes) soon after a
 * product: kernels that can ask the memory system for them while the product computes do (a
 * prefetch; native/kernels.c), so that lines the other core of a batch split last wrote, or
 * holds, arrive meanwhile instead of one by one when they are used. Only speed depends on it.
 */
export interface Ahead {
  array: FArray;
  from: number;
  to: number;
  write: boolean;
}

export interface ParamState {
  /** Momentum buffer (momentum) or first moment m (adam). */
  m: FArray | null;
  /** Second moment v (adam). */
  v: FArray | null;
}

/** Sums gathered by `update`: Σθ, Σθ² (before the step), Σg, Σg² (the gradient applied). */
export class UpdateSums {
  /** Σ(θ_after − θ_before)². */
  deltaSq = 0;
  theta = 0;
  theta2 = 0;
  grad = 0;
  grad2 = 0;
}

/**
 * The per-step update sums: per layer W's five sums, then b's, each
 * [Σ(θ_after − θ_before)², Σθ, Σθ², Σg, Σg²] (θ before the step, g the gradient applied).
 */
export const UPDATE_SUMS = {
  /** Values per tensor, and per layer (W and b). */
  PER_TENSOR: 5,
  PER_LAYER: 10,
  /** Offsets within a tensor's five. */
  DELTA_SQ: 0,
  THETA: 1,
  THETA_SQ: 2,
  GRAD: 3,
  GRAD_SQ: 4,
  /** Where tensor j (0 = W, 1 = b) of layer i starts. */
  at: (layer: number, tensor: 0 | 1): number => 10 * layer + 5 * tensor,
} as const;
