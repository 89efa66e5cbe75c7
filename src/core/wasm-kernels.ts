/**
 * Kernels on WebAssembly SIMD (assembly/: gemm.ts, gemm-sparse.ts, elementwise.ts, update.ts,
 * histogram.ts and vector.ts, Lanczos's float64 vector arithmetic and the Gram matrix of λmax's
 * input basis, compiled by
 * `npm run build`), behind the same interface as the pure-TS reference they must agree with
 * (within float32 rounding: the GEMM accumulates in float32, as PyTorch does; the optimiser
 * steps keep their statistics sums in float64). Three GEMMs serve the three products:
 *   forward     Z = A·Wᵀ + b       gemmNT: rows of A against rows of W, no transposed copy
 *   weightGrad  ∂W = (dZᵀ)·A        gemm: dZ transposed into scratch (B×U, small)
 *   inputGrad   dA = dZ·W           gemm
 * and, when enough of dZ is zeros (behind a ReLU about half is), gemmSparseRows serves
 * the two gradients without the multiply-adds by those zeros: the same sums, bit for bit, as long
 * as A (for ∂W) or W (for dA) is finite, which allFinite checks first.
 * Buffers live in the module's memory (an arena sized once per network); arrays that do not, or
 * float64 networks, take the TS path. native-wasm-kernels.ts extends them with native products.
 */
import type { Activation } from './activations';
import type {
  DenseKernels,
  FArray,
  GradPlan,
  KernelSharing,
  ParamState,
  UpdateSums,
  VectorArithmetic,
  WasmVariant,
} from './kernels';
import { arenaBytes } from './kernels';
import { tsKernels } from './dense';
import { MOMENTS, SLOTS } from './histogram';
import type { TrainingSpec } from './spec';
import type { GemmExports } from './wasm-exports';
import { WasmVectors } from './wasm-vectors';
import { bestWasmVariant, wasmModule } from './wasm-module';

const PAGE = 65536;
/** The first byte handed out: address 0 stays unused (0 means "no bias"). */
const ARENA_BASE = 1024;

/**
 * Shares of zeros in dZ from which the gradients skip them. gemmSparseRows runs at ~0.9× gemm's
 * multiply-adds a second and a row pair lists 1 − z² of the j at z zeros, plus the cost of the lists:
 * measured on W1's shapes (npm run bench:profile), ∂W (N = fan-in ≥ 256 columns over the lists)
 * gains 1.2–1.3× at z = ½; dA (lists over the units, N = 256) breaks even at ½ and gains above.
 */
export const SPARSE_MIN_ZEROS = { weightGrad: 0.3, inputGrad: 0.6 } as const;

/** Bytes of gemmSparseRows' lists for M rows over J: 16 bytes an entry of a row pair, 4 a pair's end. */
function listBytes(M: number, J: number): number {
  const pairs = (M + 1) >> 1;
  return 16 * pairs * J + 4 * pairs;
}

export class WasmKernels implements DenseKernels {
  readonly variant: WasmVariant | null;
  protected memory: WebAssembly.Memory | null = null;
  protected fns: GemmExports | null = null;
  private top = 0;
  private scratch = 0;
  private scratchBytes = 0;
  protected sumsAt = 0;
  private sums = new Float64Array(MOMENTS.LENGTH);
  /** This thread's scratch as int32: the alive flags reluForward and the counts histogramSlots leave there. */
  private flags = new Int32Array(0);
  /** The main thread's memory, when this instance serves the helper thread (see attach). */
  private shared: WebAssembly.Memory | null = null;
  /** The compiled module to instantiate (another thread's, KernelSharing.module), or this thread's own. */
  private readonly module: WebAssembly.Module | null;
  /** Scratch and sums slot: 0 for the main thread, 1 for the helper, so both can run at once. */
  private slot = 0;
  /** Gradient products run so far: over dZ's nonzeros (gemmSparseRows) and dense (gemm). */
  readonly products = { sparse: 0, dense: 0 };

  /**
   * `variant`: the build to run; by default the fastest this engine validates. `module`: that
   * build compiled by another thread (KernelSharing.module), to run the code it has optimised.
   */
  constructor(variant?: WasmVariant, module?: WebAssembly.Module) {
    this.module = module ?? null;
    this.variant = variant ?? bestWasmVariant();
  }

  get name(): string {
    return this.variant === 'relaxed' ? 'wasm-relaxed-simd' : 'wasm-simd';
  }

  /**
   * Makes this instance the helper thread's (core/parallel.ts): createArena then lays the same
   * arrays, in the same order, over the main thread's `memory`, and uses the second scratch slot.
   */
  attach(memory: WebAssembly.Memory): void {
    this.shared = memory;
    this.slot = 1;
  }

  /** The compiled module this instance instantiates: the one it was given, else this thread's own. */
  protected compiled(): WebAssembly.Module | null {
    return this.module ?? (this.variant ? wasmModule(this.variant) : null);
  }

  vectors(): VectorArithmetic | null {
    const module = this.compiled();
    return module ? new WasmVectors(module) : null;
  }

  sharing(): KernelSharing | null {
    const module = this.compiled();
    return this.memory && this.variant && module ? { memory: this.memory, variant: this.variant, module } : null;
  }

  /**
   * Sizes the memory for arrays of `bytes` in all (each by arenaBytes) after two scratch areas (one
   * per thread) of 3·`scratchFloats`, where `scratchFloats` ≥ (U+1)(B+1) for every layer (room for
   * gemmSparseRows' lists), and two sums slots, and returns the allocator of the arrays. The
   * memory is shared, so a helper thread can work on it. Null for float64 (the TS path serves it).
   */
  createArena(
    dtype: 'float32' | 'float64',
    bytes: number,
    scratchFloats: number,
  ): ((n: number) => Float32Array) | null {
    const mod = this.compiled();
    if (dtype !== 'float32' || !mod) return null;
    const scratchArea = 3 * scratchFloats + 16;
    const fixed = ARENA_BASE + 2 * arenaBytes(scratchArea, 4) + 2 * arenaBytes(16, 4);
    const pages = Math.ceil((fixed + bytes) / PAGE);
    if (this.shared) {
      if (this.shared.buffer.byteLength < pages * PAGE)
        throw new RangeError('the shared arena is smaller than this network needs');
      this.memory = this.shared;
    } else {
      this.memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    }
    this.fns = new WebAssembly.Instance(mod, {
      env: {
        memory: this.memory,
        abort: () => {
          throw new Error('wasm abort');
        },
      },
    }).exports as unknown as GemmExports;
    this.top = ARENA_BASE;
    this.scratchBytes = scratchArea * 4;
    const scratch = [this.reserve(scratchArea), this.reserve(scratchArea)];
    const sums = [this.reserve(16), this.reserve(16)]; // eight float64 results of a pass, per thread
    this.scratch = scratch[this.slot]!;
    this.sumsAt = sums[this.slot]!;
    this.sums = new Float64Array(this.memory.buffer, this.sumsAt, 8);
    this.flags = new Int32Array(this.memory.buffer, this.scratch, scratchArea);
    return (n) => new Float32Array(this.memory!.buffer, this.reserve(n), n);
  }

  private reserve(n: number): number {
    const at = this.top;
    this.top += arenaBytes(n, 4);
    if (this.top > this.memory!.buffer.byteLength) throw new RangeError('wasm arena exhausted');
    return at;
  }

  /** Byte offset of an array in the module's memory, or -1. */
  protected at(a: FArray): number {
    return this.memory && a instanceof Float32Array && a.buffer === this.memory.buffer ? a.byteOffset : -1;
  }

  forward(A: FArray, W: FArray, bias: FArray, Z: FArray, B: number, K: number, U: number): void {
    const a = this.at(A),
      w = this.at(W),
      b = this.at(bias),
      z = this.at(Z);
    if (a < 0 || w < 0 || b < 0 || z < 0) return tsKernels.forward(A, W, bias, Z, B, K, U);
    this.fns!.gemmNT(a, w, z, b, B, K, U);
  }

  weightGrad(dZ: FArray, A: FArray, dW: FArray, db: FArray, B: number, K: number, U: number, plan?: GradPlan): void {
    if (!this.weightGradUnits(dZ, A, dW, db, B, K, U, 0, U, plan)) tsKernels.weightGrad(dZ, A, dW, db, B, K, U);
  }

  /**
   * Rows [u0, u1) of ∂W and ∂b (the units a thread of the batch split owns), over all B rows of
   * dZ: ∂W[u0:u1] = dZ[:, u0:u1]ᵀ·A, ∂b[u0:u1] = column sums. False when the arrays are not the
   * arena's (the caller then takes the TS path for the whole layer).
   */
  weightGradUnits(
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
  ): boolean {
    const g = this.at(dZ),
      a = this.at(A),
      w = this.at(dW),
      d = this.at(db),
      n = u1 - u0;
    if (g < 0 || a < 0 || w < 0 || d < 0 || n * B * 4 > this.scratchBytes) return false;
    if (n <= 0) return true;
    const f = this.fns!;
    // over dZ's nonzeros when they are few and A is finite (0·∞ must stay NaN): checked once a plan
    if (plan && this.sparse('weightGrad', plan, n, B) && (plan.aFinite ??= f.allFinite(a, B * K) !== 0)) {
      // rows u of ∂W: S[u, i] = dZ[i, u] (4 bytes between units, a row of dZ between samples)
      f.gemmSparseRows(g + 4 * u0, 4, 4 * U, B, a, w + 4 * u0 * K, n, K, this.scratch);
      this.products.sparse++;
    } else {
      f.transpose(g + 4 * u0, this.scratch, B, n, U);
      f.gemm(this.scratch, a, w + 4 * u0 * K, 0, n, B, K);
      this.products.dense++;
    }
    f.columnSums(g + 4 * u0, d + 4 * u0, B, n, U);
    return true;
  }

  activate(
    act: Activation,
    Z: FArray,
    A: FArray,
    B: number,
    U: number,
    z0: number,
    a0: number,
    sums: Float64Array,
    alive: Uint8Array,
  ): boolean {
    const leaky = act.name === 'leaky_relu';
    if (!leaky && act.name !== 'relu') return false;
    const z = this.at(Z),
      a = this.at(A);
    if (z < 0 || a < 0 || U * 4 > this.scratchBytes) return false;
    this.fns!.reluForward(z, a, B, U, act.alpha, leaky ? 1 : 0, z0, a0, this.scratch, this.sumsAt);
    sums.set(this.sums.subarray(0, 5));
    const flags = this.flags;
    for (let u = 0; u < U; u++) alive[u] = flags[u] !== 0 ? 1 : 0;
    return true;
  }

  derivative(act: Activation, Z: FArray, dZ: FArray, n: number, sums: Float64Array): boolean {
    const mode = act.name === 'linear' ? 0 : act.name === 'relu' ? 1 : act.name === 'leaky_relu' ? 2 : -1;
    const z = this.at(Z),
      g = this.at(dZ);
    if (mode < 0 || z < 0 || g < 0) return false;
    this.fns!.reluBackward(z, g, n, mode, act.alpha, this.sumsAt);
    sums[0] = this.sums[0]!;
    sums[1] = this.sums[1]!;
    sums[2] = this.sums[2]!;
    return true;
  }

  update(
    spec: TrainingSpec,
    theta: FArray,
    g: FArray,
    state: ParamState,
    t: number,
    n: number,
    acc: UpdateSums,
  ): boolean {
    const p = this.at(theta),
      q = this.at(g);
    if (p < 0 || q < 0) return false;
    const f = this.fns!;
    if (spec.optimizer === 'sgd') f.sgd(p, q, n, spec.learningRate, this.sumsAt);
    else if (spec.optimizer === 'momentum') {
      const v = state.m ? this.at(state.m) : -1;
      if (v < 0) return false;
      f.momentum(p, q, v, n, spec.learningRate, spec.momentum, t === 1 ? 1 : 0, this.sumsAt);
    } else {
      const m = state.m ? this.at(state.m) : -1,
        v = state.v ? this.at(state.v) : -1;
      if (m < 0 || v < 0) return false;
      const bc1 = 1 - Math.pow(spec.beta1, t),
        bc2 = 1 - Math.pow(spec.beta2, t);
      f.adam(p, q, m, v, n, spec.beta1, spec.beta2, spec.eps, spec.learningRate / bc1, Math.sqrt(bc2), this.sumsAt);
    }
    this.sumsInto(acc);
    return true;
  }

  /** The optimiser pass's sums, [Σ(Δθ)², Σθ, Σθ², Σg, Σg²] at sumsAt, into `acc`. */
  protected sumsInto(acc: UpdateSums): void {
    const s = this.sums;
    acc.deltaSq = s[0]!;
    acc.theta = s[1]!;
    acc.theta2 = s[2]!;
    acc.grad = s[3]!;
    acc.grad2 = s[4]!;
  }

  inputGrad(dZ: FArray, W: FArray, dA: FArray, B: number, K: number, U: number, plan?: GradPlan): void {
    const g = this.at(dZ),
      w = this.at(W),
      a = this.at(dA);
    if (g < 0 || w < 0 || a < 0) return tsKernels.inputGrad(dZ, W, dA, B, K, U);
    const f = this.fns!;
    if (plan && this.sparse('inputGrad', plan, B, U) && f.allFinite(w, U * K)) {
      f.gemmSparseRows(g, 4 * U, 4, U, w, a, B, K, this.scratch);
      this.products.sparse++;
    } else {
      f.gemm(g, w, a, 0, B, U, K);
      this.products.dense++;
    }
  }

  placeColumns(src: FArray, dst: FArray, B: number, w: number, U: number, u0: number): boolean {
    const s = this.at(src),
      d = this.at(dst);
    if (s < 0 || d < 0) return false;
    this.fns!.placeColumns(s, d, B, w, U, u0);
    return true;
  }

  histogramMoments(a: FArray, n: number, out: Float64Array): boolean {
    const p = this.at(a);
    if (p < 0) return false;
    this.fns!.histogramMoments(p, n, this.sumsAt);
    out.set(this.sums.subarray(0, MOMENTS.LENGTH));
    return true;
  }

  histogramSlots(a: FArray, n: number, lo: number, hi: number, scale: number, out: Int32Array): boolean {
    const p = this.at(a);
    if (p < 0 || 4 * SLOTS.LENGTH * 4 > this.scratchBytes) return false; // four copies of the counts
    this.fns!.histogramSlots(p, n, lo, hi, scale, this.scratch);
    out.set(this.flags.subarray(0, SLOTS.LENGTH));
    return true;
  }

  gram(X: FArray, B: number, n: number, G: Float64Array): boolean {
    const x = this.at(X);
    if (x < 0 || B * B * 8 > this.scratchBytes || G.length < B * B) return false;
    this.fns!.gram(x, B, n, this.scratch);
    G.set(new Float64Array(this.memory!.buffer, this.scratch, B * B));
    return true;
  }

  /** A pass over g (at its byte offset) that leaves k float64 results in the sums slot, copied to `out`. */
  private sumsOf(g: FArray, out: Float64Array, k: number, pass: (p: number) => void): boolean {
    const p = this.at(g);
    if (p < 0) return false;
    pass(p);
    for (let i = 0; i < k; i++) out[i] = this.sums[i]!;
    return true;
  }

  gradientSums(g: FArray, n: number, out: Float64Array): boolean {
    return this.sumsOf(g, out, 2, (p) => this.fns!.gradientSums(p, n, this.sumsAt));
  }

  scaleGradient(g: FArray, n: number, c: number, out: Float64Array): boolean {
    return this.sumsOf(g, out, 1, (p) => this.fns!.scaleGradient(p, n, c, this.sumsAt));
  }

  clampGradient(g: FArray, n: number, c: number, out: Float64Array): boolean {
    return this.sumsOf(g, out, 2, (p) => this.fns!.clampGradient(p, n, c, this.sumsAt));
  }

  addInto(y: FArray, x: FArray, n: number): boolean {
    const py = this.at(y),
      px = this.at(x);
    if (py < 0 || px < 0) return false;
    this.fns!.addInto(py, px, n);
    return true;
  }

  mulInto(y: FArray, d: FArray, x: FArray, n: number): number | false {
    const py = this.at(y),
      pd = this.at(d),
      px = this.at(x);
    if (py < 0 || pd < 0 || px < 0) return false;
    return this.fns!.mulInto(py, pd, px, n);
  }

  mulAddInto(y: FArray, d: FArray, c: FArray, r: FArray, n: number): boolean {
    const py = this.at(y),
      pd = this.at(d),
      pc = this.at(c),
      pr = this.at(r);
    if (py < 0 || pd < 0 || pc < 0 || pr < 0) return false;
    this.fns!.mulAddInto(py, pd, pc, pr, n);
    return true;
  }

  /** Whether a product skips dZ's zeros (the plan's share of them), with lists for M rows over J in scratch. */
  private sparse(product: keyof typeof SPARSE_MIN_ZEROS, plan: GradPlan, M: number, J: number): boolean {
    return plan.zeroShare >= SPARSE_MIN_ZEROS[product] && listBytes(M, J) <= this.scratchBytes;
  }
}
