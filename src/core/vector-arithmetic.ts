/**
 * The TS reference of the kernels' vector passes over whole arrays: Lanczos's float64 arithmetic
 * (kernels.ts VectorArithmetic; WebAssembly: wasm-vectors.ts) and the Hessian-vector products'
 * element-wise passes (hessian-operator.ts), which run in the kernels where they serve them.
 */
import type { DenseKernels, FArray, VectorArithmetic } from './kernels';

/**
 * The reference vector arithmetic (kernels.ts VectorArithmetic): fresh JS arrays, and loops whose
 * order of sums the WebAssembly build (assembly/vector.ts) follows lane for lane.
 */
export const tsVectors: VectorArithmetic = {
  arrays(n, f64, f32) {
    return {
      f64: Array.from({ length: f64 }, () => new Float64Array(n)),
      f32: Array.from({ length: f32 }, () => new Float32Array(n)),
    };
  },
  dot(a, b) {
    const n = a.length;
    let s0 = 0,
      s1 = 0,
      s2 = 0,
      s3 = 0,
      i = 0;
    for (; i + 3 < n; i += 4) {
      s0 += a[i]! * b[i]!;
      s1 += a[i + 1]! * b[i + 1]!;
      s2 += a[i + 2]! * b[i + 2]!;
      s3 += a[i + 3]! * b[i + 3]!;
    }
    for (; i < n; i++) s0 += a[i]! * b[i]!;
    return s0 + s1 + (s2 + s3);
  },
  subtractAndDot(w, c, x, y) {
    let s0 = 0,
      s1 = 0,
      s2 = 0,
      s3 = 0,
      s4 = 0,
      s5 = 0,
      s6 = 0,
      s7 = 0;
    const n = w.length;
    let i = 0;
    for (; i + 7 < n; i += 8) {
      const w0 = (w[i] = w[i]! - c * x[i]!),
        w1 = (w[i + 1] = w[i + 1]! - c * x[i + 1]!),
        w2 = (w[i + 2] = w[i + 2]! - c * x[i + 2]!),
        w3 = (w[i + 3] = w[i + 3]! - c * x[i + 3]!),
        w4 = (w[i + 4] = w[i + 4]! - c * x[i + 4]!),
        w5 = (w[i + 5] = w[i + 5]! - c * x[i + 5]!),
        w6 = (w[i + 6] = w[i + 6]! - c * x[i + 6]!),
        w7 = (w[i + 7] = w[i + 7]! - c * x[i + 7]!);
      s0 += w0 * y[i]!;
      s1 += w1 * y[i + 1]!;
      s2 += w2 * y[i + 2]!;
      s3 += w3 * y[i + 3]!;
      s4 += w4 * y[i + 4]!;
      s5 += w5 * y[i + 5]!;
      s6 += w6 * y[i + 6]!;
      s7 += w7 * y[i + 7]!;
    }
    for (; i < n; i++) s0 += (w[i] = w[i]! - c * x[i]!) * y[i]!;
    return s0 + s1 + (s2 + s3) + (s4 + s5 + (s6 + s7));
  },
  alpha32(u, c, x, y) {
    const s = new Float64Array(16),
      n = u.length;
    let i = 0;
    for (; i + 15 < n; i += 16) for (let k = 0; k < 16; k++) s[k] += (u[i + k]! - c * x[i + k]!) * y[i + k]!;
    for (; i < n; i++) s[0] += (u[i]! - c * x[i]!) * y[i]!;
    return sum16(s);
  },
  residual32(w, u, c, x, a, y) {
    const s = new Float64Array(16),
      n = u.length,
      whole = n - (n % 16);
    for (let i = 0; i < n; i++) {
      const v = u[i]! - c * x[i]! - a * y[i]!;
      w[i] = v;
      s[i < whole ? i % 16 : 0] += v * v;
    }
    return sum16(s);
  },
  uniformSigned(out, rng) {
    for (let i = 0; i < out.length; i++) out[i] = (rng.nextU32() + 0.5) * 4.656612873077393e-10 - 1;
  },
  scaleAdd(q, a, r, b) {
    for (let i = 0; i < q.length; i++) q[i] = a * q[i]! + b * r[i]!;
  },
  scale32(q, c, copy) {
    // (a product of two float32 values is exact in float64: rounded once, as in float32)
    const k = Math.fround(c);
    for (let i = 0; i < q.length; i++) q[i] = q[i]! * k;
    copy?.set(q);
  },
  reaches: () => true,
  scaleInto(w, c, q) {
    for (let i = 0; i < w.length; i++) q[i] = w[i] = w[i]! * c;
  },
  addScaled(v, c, q) {
    for (let i = 0; i < v.length; i++) v[i] = v[i]! + c * q[i]!;
  },
  addScaledAll(v, c, q) {
    for (let j = 0; j < c.length; j++) tsVectors.addScaled(v, c[j]!, q[j]!);
  },
};

/** Sixteen running sums (i mod 16) added as ((s₀ + s₁) + (s₂ + s₃)) + ((s₄ + s₅) + (s₆ + s₇)), the same for s₈…s₁₅, then the two. */
function sum16(s: Float64Array): number {
  const a = s[0]! + s[1]! + (s[2]! + s[3]!) + (s[4]! + s[5]! + (s[6]! + s[7]!)),
    b = s[8]! + s[9]! + (s[10]! + s[11]!) + (s[12]! + s[13]! + (s[14]! + s[15]!));
  return a + b;
}

/** y ← y + x over n values (in the kernels where they serve it). */
export function addInto(k: DenseKernels, y: FArray, x: FArray, n: number): void {
  if (k.addInto?.(y, x, n)) return;
  for (let j = 0; j < n; j++) y[j] = y[j]! + x[j]!;
}

/** y ← d ⊙ x over n values (y may be x), returning how many of the new y are 0. */
export function mulInto(k: DenseKernels, y: FArray, d: FArray, x: FArray, n: number): number {
  const served = k.mulInto?.(y, d, x, n);
  if (typeof served === 'number') return served;
  let zeros = 0;
  for (let j = 0; j < n; j++) {
    const v = (y[j] = d[j]! * x[j]!);
    zeros += +(v === 0);
  }
  return zeros;
}

/** y ← y ⊙ d + c ⊙ r over n values, each in float64 and rounded once to y's dtype. */
export function mulAddInto(k: DenseKernels, y: FArray, d: FArray, c: FArray, r: FArray, n: number): void {
  if (k.mulAddInto?.(y, d, c, r, n)) return;
  for (let j = 0; j < n; j++) y[j] = y[j]! * d[j]! + c[j]! * r[j]!;
}
