/**
 * The WebAssembly kernels with the host's native code (kernels.ts: NativeKernels, native/kernels.c)
 * for a layer's three dense products, the optimiser step, the ReLU passes with their statistics and
 * the histograms' two passes, the Hessian-vector products' elementwise passes (these give the
 * module's values and histograms bit for bit, the ReLU passes' float64 sums within rounding),
 * over the same
 * arena; every other pass (other activations, bias sums, gradient sums and clipping, Lanczos's
 * vectors) is the WebAssembly kernels'. The native products are dense: at twice WebAssembly's rate they
 * outrun its skipping of ReLU's zeros. Arrays outside the arena take the WebAssembly kernels' own
 * path (and from there the TS one).
 */
import type {
  Ahead,
  DenseKernels,
  FArray,
  GradPlan,
  KernelSharing,
  NativeKernels,
  ParamState,
  UpdateSums,
  VectorArithmetic,
  WasmVariant,
} from './kernels';
import type { TrainingSpec } from './spec';
import { WasmKernels } from './wasm-kernels';
import { WasmVectors } from './wasm-vectors';

export class NativeWasmKernels extends WasmKernels implements DenseKernels {
  /** Products run in native code so far (the gradients'). */
  nativeProducts = 0;
  /** The whole memory as float32, for the native code's offsets. */
  private all = new Float32Array(0);

  /** `native`: the host's native code; `variant`, `module` as for WasmKernels. */
  constructor(
    private readonly native: NativeKernels,
    variant?: WasmVariant,
    module?: WebAssembly.Module,
  ) {
    super(variant, module);
  }

  override get name(): string {
    return `${this.native.name}+${super.name}`;
  }

  override sharing(): KernelSharing | null {
    const s = super.sharing();
    return s && { ...s, native: true };
  }

  override createArena(
    dtype: 'float32' | 'float64',
    bytes: number,
    scratchFloats: number,
  ): ((n: number) => Float32Array) | null {
    const alloc = super.createArena(dtype, bytes, scratchFloats);
    if (!alloc) return alloc;
    const all = (this.all = new Float32Array(this.memory!.buffer)),
      n = this.native,
      { gram: wasmGram, addInto, mulInto } = this.fns!;
    // the passes the native code serves, in the module's place (its byte offsets as float offsets)
    this.fns = {
      ...this.fns!,
      // (the module's where the native code has none, or could not take its scratch)
      gram: (x, B, k, g) => {
        if (!n.gram?.(all, x >> 2, B, k, g >> 2)) wasmGram(x, B, k, g);
      },
      reluForward: (z, a, B, U, alpha, leaky, z0, a0, alive, out) =>
        n.reluForward(all, z >> 2, a >> 2, B, U, alpha, leaky, z0, a0, alive >> 2, out >> 2),
      reluBackward: (z, dz, k, mode, alpha, out) => n.reluBackward(all, z >> 2, dz >> 2, k, mode, alpha, out >> 2),
      histogramMoments: (p, k, out) => n.histogramMoments(all, p >> 2, k, out >> 2),
      histogramSlots: (p, k, lo, hi, scale, slots) => n.histogramSlots(all, p >> 2, k, lo, hi, scale, slots >> 2),
      addInto: n.addInto ? (y, x, k) => n.addInto!(all, y >> 2, x >> 2, k) : addInto,
      mulInto: n.mulInto ? (y, d, x, k) => n.mulInto!(all, y >> 2, d >> 2, x >> 2, k) : mulInto,
    };
    return alloc;
  }

  /** The WebAssembly vector arithmetic, with Lanczos's float32 passes in native code where it has them. */
  override vectors(): VectorArithmetic | null {
    const module = this.compiled();
    return module ? new WasmVectors(module, this.native.lanczos) : null;
  }

  override forward(
    A: FArray,
    W: FArray,
    bias: FArray,
    Z: FArray,
    B: number,
    K: number,
    U: number,
    ahead?: Ahead,
  ): void {
    const a = this.at(A),
      w = this.at(W),
      b = this.at(bias),
      z = this.at(Z);
    if (a < 0 || w < 0 || b < 0 || z < 0) return super.forward(A, W, bias, Z, B, K, U);
    const p = this.aheadAt(ahead);
    if (p < 0) this.native.forward(this.all, a >> 2, w >> 2, b >> 2, z >> 2, B, K, U);
    else
      this.native.forward(this.all, a >> 2, w >> 2, b >> 2, z >> 2, B, K, U, p, ahead!.to - ahead!.from, +ahead!.write);
  }

  /**
   * Where an Ahead's first value is, as the native products take it (a float offset); −1 for none,
   * or where the module or the array cannot take it. (No array per call: the products run every step.)
   */
  private aheadAt(h?: Ahead): number {
    if (!h || !this.native.ahead || h.to <= h.from) return -1;
    const at = this.at(h.array);
    return at < 0 ? -1 : (at >> 2) + h.from;
  }

  override weightGradUnits(
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
    if (g < 0 || a < 0 || w < 0 || d < 0) return false;
    if (n <= 0) return true;
    const h = plan?.ahead,
      p = this.aheadAt(h);
    if (p < 0) this.native.weightGrad(this.all, g >> 2, a >> 2, w >> 2, B, K, U, u0, u1);
    else this.native.weightGrad(this.all, g >> 2, a >> 2, w >> 2, B, K, U, u0, u1, p, h!.to - h!.from, +h!.write);
    this.nativeProducts++;
    this.fns!.columnSums(g + 4 * u0, d + 4 * u0, B, n, U);
    return true;
  }

  gatherRows(src: FArray, order: Uint32Array, start: number, r0: number, r1: number, d: number, X: FArray): boolean {
    const x = this.at(X);
    if (x < 0 || !(src instanceof Float32Array) || !this.native.copyRows) return false;
    if (r1 > r0) this.native.copyRows(this.all, (x >> 2) + r0 * d, src, order, start + r0, r1 - r0, d);
    return true;
  }

  override inputGrad(dZ: FArray, W: FArray, dA: FArray, B: number, K: number, U: number): void {
    const g = this.at(dZ),
      w = this.at(W),
      a = this.at(dA);
    if (g < 0 || w < 0 || a < 0) return super.inputGrad(dZ, W, dA, B, K, U);
    this.native.inputGrad(this.all, g >> 2, w >> 2, a >> 2, B, K, U);
    this.nativeProducts++;
  }

  /** The optimiser step in native code, with the arguments assembly/update.ts takes (a–e). */
  override update(
    spec: TrainingSpec,
    theta: FArray,
    g: FArray,
    state: ParamState,
    t: number,
    n: number,
    acc: UpdateSums,
  ): boolean {
    const p = this.at(theta),
      q = this.at(g),
      m = state.m ? this.at(state.m) : -1,
      v = state.v ? this.at(state.v) : -1,
      out = this.sumsAt >> 2,
      lr = spec.learningRate;
    if (p < 0 || q < 0) return false;
    if (spec.optimizer === 'sgd') this.native.update(this.all, 0, p >> 2, q >> 2, -1, -1, n, lr, 0, 0, 0, 1, 0, out);
    else if (spec.optimizer === 'momentum') {
      if (m < 0) return false;
      this.native.update(this.all, 1, p >> 2, q >> 2, m >> 2, -1, n, lr, spec.momentum, 0, 0, 1, t === 1 ? 1 : 0, out);
    } else {
      if (m < 0 || v < 0) return false;
      const bc1 = 1 - Math.pow(spec.beta1, t),
        bc2 = 1 - Math.pow(spec.beta2, t);
      const { beta1, beta2, eps } = spec;
      this.native.update(
        this.all,
        2,
        p >> 2,
        q >> 2,
        m >> 2,
        v >> 2,
        n,
        lr / bc1,
        beta1,
        beta2,
        eps,
        Math.sqrt(bc2),
        0,
        out,
      );
    }
    this.sumsInto(acc);
    return true;
  }
}
