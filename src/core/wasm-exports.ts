/**
 * The exports of the WebAssembly module (assembly/index.ts) as the host calls them: byte offsets
 * into the memory it imports, sizes, scalars.
 */

/** Lanczos's float64 vector arithmetic (assembly/vector.ts). */
export interface VectorExports {
  dot64(a: number, b: number, n: number): number;
  subtractAndDot64(w: number, c: number, x: number, y: number, n: number): number;
  uniformSigned64(out: number, st: number, n: number): void;
  scaleAdd64(q: number, a: number, r: number, b: number, n: number): void;
  alpha32(u: number, c: number, x: number, y: number, n: number): number;
  residual32(w: number, u: number, c: number, x: number, a: number, y: number, n: number): number;
  scale32(q: number, c: number, n: number): void;
  scaleInto64(w: number, c: number, q: number, n: number): void;
  addScaled64(v: number, c: number, q: number, n: number): void;
  addScaled4x64(
    v: number,
    c0: number,
    q0: number,
    c1: number,
    q1: number,
    c2: number,
    q2: number,
    c3: number,
    q3: number,
    n: number,
  ): void;
}

/** Every export: the kernels' passes (wasm-kernels.ts), and the vector arithmetic. */
export interface GemmExports extends VectorExports {
  gemm(x: number, y: number, c: number, bias: number, M: number, K: number, N: number): void;
  gemmNT(x: number, w: number, c: number, bias: number, M: number, K: number, N: number): void;
  gemmSparseRows(
    s: number,
    sRow: number,
    sCol: number,
    J: number,
    q: number,
    c: number,
    M: number,
    N: number,
    list: number,
  ): void;
  allFinite(p: number, n: number): number;
  transpose(src: number, dst: number, rows: number, cols: number, stride: number): void;
  reluForward(
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
  reluBackward(z: number, dz: number, n: number, mode: number, alpha: number, out: number): void;
  columnSums(dz: number, db: number, B: number, U: number, stride: number): void;
  placeColumns(src: number, dst: number, B: number, w: number, U: number, u0: number): void;
  histogramMoments(p: number, n: number, out: number): void;
  histogramSlots(p: number, n: number, lo: number, hi: number, scale: number, slots: number): void;
  gram(x: number, B: number, n: number, g: number): void;
  gradientSums(g: number, n: number, out: number): void;
  scaleGradient(g: number, n: number, c: number, out: number): void;
  clampGradient(g: number, n: number, c: number, out: number): void;
  addInto(y: number, x: number, n: number): void;
  mulInto(y: number, d: number, x: number, n: number): number;
  mulAddInto(y: number, d: number, c: number, r: number, n: number): void;
  sgd(theta: number, g: number, n: number, lr: number, out: number): void;
  momentum(theta: number, g: number, v: number, n: number, lr: number, mu: number, first: number, out: number): void;
  adam(
    theta: number,
    g: number,
    m: number,
    v: number,
    n: number,
    b1: number,
    b2: number,
    eps: number,
    stepSize: number,
    sqrtBc2: number,
    out: number,
  ): void;
}
