// WebAssembly SIMD (128-bit) kernels of the Layerwise core, in AssemblyScript.
// Memory is imported: the host allocates every float32 buffer of a network in it, so no copies.
// Pointers are byte offsets; matrices are row-major float32.
// Built twice (scripts/build-wasm.mjs): with relaxed SIMD, `madd` is one fused multiply-add where the
// CPU has one (f32x4.relaxed_madd); without, a multiply and an add.

/** c + a·b, lane-wise. */
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(c, f32x4.mul(a, b));
}

/**
 * C[M×N] = init + X[M×K] · Y[K×N], where init is the row vector `bias` (N values) when bias ≠ 0,
 * else zero. 4 rows × 8 columns of C are kept in eight f32x4 registers across the k loop: each
 * step loads two vectors of Y, four values of X (each loaded straight into all lanes) and does
 * 8 multiply-adds. Serves the weight and input gradients, whose Y is a batch or a weight matrix.
 */
export function gemm(x: usize, y: usize, c: usize, bias: usize, M: i32, K: i32, N: i32): void {
  const rowX = <usize>K << 2, rowY = <usize>N << 2, rowC = <usize>N << 2;
  let i = 0;
  for (; i + 4 <= M; i += 4) {
    const x0 = x + <usize>i * rowX, x1 = x0 + rowX, x2 = x1 + rowX, x3 = x2 + rowX;
    const c0 = c + <usize>i * rowC, c1 = c0 + rowC, c2 = c1 + rowC, c3 = c2 + rowC;
    let j = 0;
    for (; j + 8 <= N; j += 8) {
      const off = <usize>j << 2;
      let b0 = f32x4.splat(0), b1 = f32x4.splat(0);
      if (bias) { b0 = v128.load(bias + off); b1 = v128.load(bias + off + 16); }
      let a00 = b0, a01 = b1, a10 = b0, a11 = b1, a20 = b0, a21 = b1, a30 = b0, a31 = b1;
      let yp = y + off;
      for (let k = 0; k < K; k++) {
        const y0 = v128.load(yp), y1 = v128.load(yp + 16);
        const kk = <usize>k << 2;
        const s0 = v128.load32_splat(x0 + kk), s1 = v128.load32_splat(x1 + kk);
        const s2 = v128.load32_splat(x2 + kk), s3 = v128.load32_splat(x3 + kk);
        a00 = madd(s0, y0, a00); a01 = madd(s0, y1, a01);
        a10 = madd(s1, y0, a10); a11 = madd(s1, y1, a11);
        a20 = madd(s2, y0, a20); a21 = madd(s2, y1, a21);
        a30 = madd(s3, y0, a30); a31 = madd(s3, y1, a31);
        yp += rowY;
      }
      v128.store(c0 + off, a00); v128.store(c0 + off + 16, a01);
      v128.store(c1 + off, a10); v128.store(c1 + off + 16, a11);
      v128.store(c2 + off, a20); v128.store(c2 + off + 16, a21);
      v128.store(c3 + off, a30); v128.store(c3 + off + 16, a31);
    }
    for (; j + 4 <= N; j += 4) {
      const off = <usize>j << 2;
      const b0 = bias ? v128.load(bias + off) : f32x4.splat(0);
      let a0 = b0, a1 = b0, a2 = b0, a3 = b0;
      let yp = y + off;
      for (let k = 0; k < K; k++) {
        const y0 = v128.load(yp);
        const kk = <usize>k << 2;
        a0 = madd(v128.load32_splat(x0 + kk), y0, a0);
        a1 = madd(v128.load32_splat(x1 + kk), y0, a1);
        a2 = madd(v128.load32_splat(x2 + kk), y0, a2);
        a3 = madd(v128.load32_splat(x3 + kk), y0, a3);
        yp += rowY;
      }
      v128.store(c0 + off, a0); v128.store(c1 + off, a1); v128.store(c2 + off, a2); v128.store(c3 + off, a3);
    }
    for (; j < N; j++) {
      const off = <usize>j << 2;
      const b = bias ? load<f32>(bias + off) : <f32>0;
      let a0 = b, a1 = b, a2 = b, a3 = b;
      let yp = y + off;
      for (let k = 0; k < K; k++) {
        const v = load<f32>(yp);
        const kk = <usize>k << 2;
        a0 += load<f32>(x0 + kk) * v; a1 += load<f32>(x1 + kk) * v; a2 += load<f32>(x2 + kk) * v; a3 += load<f32>(x3 + kk) * v;
        yp += rowY;
      }
      store<f32>(c0 + off, a0); store<f32>(c1 + off, a1); store<f32>(c2 + off, a2); store<f32>(c3 + off, a3);
    }
  }
  for (; i < M; i++) {
    const x0 = x + <usize>i * rowX, c0 = c + <usize>i * rowC;
    let j = 0;
    for (; j + 4 <= N; j += 4) {
      const off = <usize>j << 2;
      let a0 = bias ? v128.load(bias + off) : f32x4.splat(0);
      let yp = y + off;
      for (let k = 0; k < K; k++) {
        a0 = madd(v128.load32_splat(x0 + (<usize>k << 2)), v128.load(yp), a0);
        yp += rowY;
      }
      v128.store(c0 + off, a0);
    }
    for (; j < N; j++) {
      const off = <usize>j << 2;
      let a = bias ? load<f32>(bias + off) : <f32>0;
      let yp = y + off;
      for (let k = 0; k < K; k++) { a += load<f32>(x0 + (<usize>k << 2)) * load<f32>(yp); yp += rowY; }
      store<f32>(c0 + off, a);
    }
  }
}

/** [Σ a, Σ b, Σ c, Σ d] over the four lanes of each: two rounds of pairwise adds. */
@inline function hsum4(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = f32x4.add(v128.shuffle<f32>(a, b, 0, 4, 1, 5), v128.shuffle<f32>(a, b, 2, 6, 3, 7));
  const cd = f32x4.add(v128.shuffle<f32>(c, d, 0, 4, 1, 5), v128.shuffle<f32>(c, d, 2, 6, 3, 7));
  return f32x4.add(v128.shuffle<f32>(ab, cd, 0, 1, 4, 5), v128.shuffle<f32>(ab, cd, 2, 3, 6, 7));
}

/** Σ_k x[k]·w[k] over K values, four lanes of partial sums, then the K mod 4 tail. */
@inline function dot(x: usize, w: usize, K: i32): f32 {
  let a = f32x4.splat(0);
  let k = 0;
  for (; k + 4 <= K; k += 4) a = madd(v128.load(x + (<usize>k << 2)), v128.load(w + (<usize>k << 2)), a);
  let s = f32x4.extract_lane(a, 0) + f32x4.extract_lane(a, 1) + f32x4.extract_lane(a, 2) + f32x4.extract_lane(a, 3);
  for (; k < K; k++) s += load<f32>(x + (<usize>k << 2)) * load<f32>(w + (<usize>k << 2));
  return s;
}

/**
 * C[M×N] = init + X[M×K] · W[N×K]ᵀ (both operands read along their rows, so the forward pass
 * needs no transposed copy of the weights); init as in `gemm`. 2 rows of X × 4 rows of W: eight
 * f32x4 partial sums over k, six loads per eight multiply-adds, reduced into one vector of C per row.
 */
export function gemmNT(x: usize, w: usize, c: usize, bias: usize, M: i32, K: i32, N: i32): void {
  const row = <usize>K << 2, rowC = <usize>N << 2;
  const K4 = K & ~3;
  let i = 0;
  for (; i + 2 <= M; i += 2) {
    const x0 = x + <usize>i * row, x1 = x0 + row;
    const c0 = c + <usize>i * rowC, c1 = c0 + rowC;
    let j = 0;
    for (; j + 4 <= N; j += 4) {
      const w0 = w + <usize>j * row, w1 = w0 + row, w2 = w1 + row, w3 = w2 + row;
      let a00 = f32x4.splat(0), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00;
      for (let k = 0; k < K4; k += 4) {
        const o = <usize>k << 2;
        const p = v128.load(x0 + o), q = v128.load(x1 + o);
        let v = v128.load(w0 + o);
        a00 = madd(p, v, a00); a10 = madd(q, v, a10);
        v = v128.load(w1 + o);
        a01 = madd(p, v, a01); a11 = madd(q, v, a11);
        v = v128.load(w2 + o);
        a02 = madd(p, v, a02); a12 = madd(q, v, a12);
        v = v128.load(w3 + o);
        a03 = madd(p, v, a03); a13 = madd(q, v, a13);
      }
      let r0 = hsum4(a00, a01, a02, a03), r1 = hsum4(a10, a11, a12, a13);
      if (K4 < K) {
        for (let k = K4; k < K; k++) {
          const o = <usize>k << 2;
          const wv = f32x4(load<f32>(w0 + o), load<f32>(w1 + o), load<f32>(w2 + o), load<f32>(w3 + o));
          r0 = madd(v128.load32_splat(x0 + o), wv, r0);
          r1 = madd(v128.load32_splat(x1 + o), wv, r1);
        }
      }
      if (bias) { const b = v128.load(bias + (<usize>j << 2)); r0 = f32x4.add(r0, b); r1 = f32x4.add(r1, b); }
      v128.store(c0 + (<usize>j << 2), r0);
      v128.store(c1 + (<usize>j << 2), r1);
    }
    for (; j < N; j++) {
      const wj = w + <usize>j * row;
      const b = bias ? load<f32>(bias + (<usize>j << 2)) : <f32>0;
      store<f32>(c0 + (<usize>j << 2), dot(x0, wj, K) + b);
      store<f32>(c1 + (<usize>j << 2), dot(x1, wj, K) + b);
    }
  }
  for (; i < M; i++) {
    const xi = x + <usize>i * row, ci = c + <usize>i * rowC;
    for (let j = 0; j < N; j++) {
      const b = bias ? load<f32>(bias + (<usize>j << 2)) : <f32>0;
      store<f32>(ci + (<usize>j << 2), dot(xi, w + <usize>j * row, K) + b);
    }
  }
}

/**
 * dst[cols×rows] = srcᵀ for src[rows×cols] whose rows are `stride` values apart (a column range
 * of a wider matrix): 4×4 tiles transposed in registers, scalar edges.
 */
export function transpose(src: usize, dst: usize, rows: i32, cols: i32, stride: i32): void {
  const rs = <usize>stride << 2, rd = <usize>rows << 2;
  let r = 0;
  for (; r + 4 <= rows; r += 4) {
    const s0 = src + <usize>r * rs, s1 = s0 + rs, s2 = s1 + rs, s3 = s2 + rs;
    const d = dst + (<usize>r << 2);
    let c = 0;
    for (; c + 4 <= cols; c += 4) {
      const o = <usize>c << 2;
      const v0 = v128.load(s0 + o), v1 = v128.load(s1 + o), v2 = v128.load(s2 + o), v3 = v128.load(s3 + o);
      const t0 = v128.shuffle<f32>(v0, v1, 0, 4, 1, 5), t1 = v128.shuffle<f32>(v0, v1, 2, 6, 3, 7);
      const t2 = v128.shuffle<f32>(v2, v3, 0, 4, 1, 5), t3 = v128.shuffle<f32>(v2, v3, 2, 6, 3, 7);
      const p = d + <usize>c * rd;
      v128.store(p, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5));
      v128.store(p + rd, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7));
      v128.store(p + 2 * rd, v128.shuffle<f32>(t1, t3, 0, 1, 4, 5));
      v128.store(p + 3 * rd, v128.shuffle<f32>(t1, t3, 2, 3, 6, 7));
    }
    for (; c < cols; c++) {
      const o = <usize>c << 2, p = d + <usize>c * rd;
      store<f32>(p, load<f32>(s0 + o)); store<f32>(p, load<f32>(s1 + o), 4);
      store<f32>(p, load<f32>(s2 + o), 8); store<f32>(p, load<f32>(s3 + o), 12);
    }
  }
  for (; r < rows; r++) {
    const s = src + <usize>r * rs;
    for (let c = 0; c < cols; c++) store<f32>(dst + ((<usize>c * <usize>rows + <usize>r) << 2), load<f32>(s + (<usize>c << 2)));
  }
}
