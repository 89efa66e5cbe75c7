/**
 * Lanczos's vector arithmetic (kernels.ts VectorArithmetic) in WebAssembly: assembly/vector.ts,
 * the same sums as vector-arithmetic.ts's tsVectors in the same order, bit for bit.
 */
import type { NativeLanczos, VectorArithmetic } from './kernels';
import type { Rng } from './rng';
import { arenaBytes } from './kernels';
import { tsVectors } from './vector-arithmetic';
import type { VectorExports } from './wasm-exports';

const PAGE = 65536;
/** The first byte handed out (address 0 stays unused, as in the kernels' arena). */
const ARENA_BASE = 1024;
/** Where a random generator's state passes in and out (uniformSigned): 16 bytes below ARENA_BASE. */
const STATE = 16;

/**
 * The vector arithmetic of assembly/vector.ts (kernels.ts VectorArithmetic), over a memory of its
 * own: Lanczos's vectors are not the network's arrays, and are sized per evaluation. Arrays it did
 * not hand out (or handed out before a larger memory replaced the last) take the TS reference.
 */
export class WasmVectors implements VectorArithmetic {
  private memory: WebAssembly.Memory | null = null;
  private fns: VectorExports | null = null;

  /**
   * `native`: Lanczos's float32 passes in native code (the same results), in the module's place,
   * on arrays of any memory.
   */
  constructor(
    private readonly module: WebAssembly.Module,
    private readonly native?: NativeLanczos,
  ) {}

  arrays(n: number, f64: number, f32: number): { f64: Float64Array[]; f32: Float32Array[] } {
    const bytes = ARENA_BASE + f64 * arenaBytes(n, 8) + f32 * arenaBytes(n, 4);
    if (!this.memory || this.memory.buffer.byteLength < bytes) {
      const pages = Math.ceil(bytes / PAGE);
      this.memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
      this.fns = new WebAssembly.Instance(this.module, {
        env: {
          memory: this.memory,
          abort: () => {
            throw new Error('wasm abort');
          },
        },
      }).exports as unknown as VectorExports;
    }
    const buf = this.memory.buffer;
    let at = ARENA_BASE;
    const take = <T>(make: (at: number) => T, per: number): T => {
      const a = make(at);
      at += arenaBytes(n, per);
      return a;
    };
    return {
      f64: Array.from({ length: f64 }, () => take((o) => new Float64Array(buf, o, n), 8)),
      f32: Array.from({ length: f32 }, () => take((o) => new Float32Array(buf, o, n), 4)),
    };
  }

  /** Byte offset of an array in this memory, or -1. */
  private at(a: Float64Array | Float32Array): number {
    return this.memory && a.buffer === this.memory.buffer ? a.byteOffset : -1;
  }

  dot(a: Float64Array, b: Float64Array): number {
    const pa = this.at(a),
      pb = this.at(b);
    if (pa < 0 || pb < 0 || b.length < a.length) return tsVectors.dot(a, b);
    return this.fns!.dot64(pa, pb, a.length);
  }

  subtractAndDot(w: Float64Array, c: number, x: Float64Array, y: Float64Array): number {
    const pw = this.at(w),
      px = this.at(x),
      py = this.at(y),
      n = w.length;
    if (pw < 0 || px < 0 || py < 0 || x.length < n || y.length < n) return tsVectors.subtractAndDot(w, c, x, y);
    return this.fns!.subtractAndDot64(pw, c, px, py, n);
  }

  uniformSigned(out: Float64Array, rng: Rng): void {
    const po = this.at(out);
    if (po < 0) return tsVectors.uniformSigned(out, rng);
    // the generator's state in through the scratch words below the arrays, and back
    const st = new Int32Array(this.memory!.buffer, STATE, 4);
    st.set(rng.st);
    this.fns!.uniformSigned64(po, STATE, out.length);
    rng.st.set(st);
  }

  scaleAdd(q: Float64Array, a: number, r: Float64Array, b: number): void {
    const pq = this.at(q),
      pr = this.at(r);
    if (pq < 0 || pr < 0 || r.length < q.length) return tsVectors.scaleAdd(q, a, r, b);
    this.fns!.scaleAdd64(pq, a, pr, b, q.length);
  }

  reaches(a: Float32Array): boolean {
    return this.native !== undefined || this.at(a) >= 0;
  }

  alpha32(u: Float32Array, c: number, x: Float32Array, y: Float32Array): number {
    const n = u.length;
    // (native code: arrays of any memory, but not empty ones, which may have no memory behind them)
    if (this.native && n > 0 && x.length >= n && y.length >= n) return this.native.alpha32(u, c, x, y);
    const pu = this.at(u),
      px = this.at(x),
      py = this.at(y);
    if (pu < 0 || px < 0 || py < 0 || x.length < n || y.length < n) return tsVectors.alpha32(u, c, x, y);
    return this.fns!.alpha32(pu, c, px, py, n);
  }

  residual32(w: Float32Array, u: Float32Array, c: number, x: Float32Array, a: number, y: Float32Array): number {
    const n = u.length;
    if (this.native && n > 0 && w.length >= n && x.length >= n && y.length >= n)
      return this.native.residual32(w, u, c, x, a, y);
    const pw = this.at(w),
      pu = this.at(u),
      px = this.at(x),
      py = this.at(y);
    if (pw < 0 || pu < 0 || px < 0 || py < 0 || w.length < n || x.length < n || y.length < n)
      return tsVectors.residual32(w, u, c, x, a, y);
    return this.fns!.residual32(pw, pu, c, px, a, py, n);
  }

  scale32(q: Float32Array, c: number, copy?: Float32Array): void {
    if (this.native && q.length > 0 && (!copy || copy.length >= q.length))
      return this.native.scale32(q, c, copy ?? null);
    const pq = this.at(q);
    if (pq < 0) return tsVectors.scale32(q, c, copy);
    this.fns!.scale32(pq, c, q.length);
    copy?.set(q);
  }

  scaleInto(w: Float64Array, c: number, q: Float32Array): void {
    const pw = this.at(w),
      pq = this.at(q);
    if (pw < 0 || pq < 0 || q.length < w.length) return tsVectors.scaleInto(w, c, q);
    this.fns!.scaleInto64(pw, c, pq, w.length);
  }

  addScaled(v: Float64Array, c: number, q: Float32Array): void {
    const pv = this.at(v),
      pq = this.at(q);
    if (pv < 0 || pq < 0 || q.length < v.length) return tsVectors.addScaled(v, c, q);
    this.fns!.addScaled64(pv, c, pq, v.length);
  }

  addScaledAll(v: Float64Array, c: ArrayLike<number>, q: readonly Float32Array[]): void {
    if (this.native && v.length > 0 && c.length <= 64 && q.length === c.length && q.every((x) => x.length >= v.length))
      return this.native.addScaledAll(v, c instanceof Float64Array ? c : Float64Array.from(c), q);
    const n = v.length,
      pv = this.at(v),
      at = q.map((x) => (x.length < n ? -1 : this.at(x)));
    if (pv < 0 || at.some((p) => p < 0)) return tsVectors.addScaledAll(v, c, q);
    // four vectors a pass (one read and write of v for four), then the rest one at a time
    let j = 0;
    for (; j + 3 < c.length; j += 4)
      this.fns!.addScaled4x64(
        pv,
        c[j]!,
        at[j]!,
        c[j + 1]!,
        at[j + 1]!,
        c[j + 2]!,
        at[j + 2]!,
        c[j + 3]!,
        at[j + 3]!,
        n,
      );
    for (; j < c.length; j++) this.fns!.addScaled64(pv, c[j]!, at[j]!, n);
  }
}
