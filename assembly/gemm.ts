// WebAssembly SIMD (128-bit) kernels of the Layerwise core, in AssemblyScript.
// Memory is imported: the host allocates every float32 buffer of a network in it, so no copies.
// Pointers are byte offsets; matrices are row-major float32.

/**
 * C[M×N] = init + X[M×K] · Y[K×N], where init is the row vector `bias` (N values) when bias ≠ 0,
 * else zero. 4 rows × 8 columns of C are kept in eight f32x4 registers across the k loop: each
 * step loads two vectors of Y, broadcasts four values of X and does 8 multiply-adds.
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
        const s0 = f32x4.splat(load<f32>(x0 + kk)), s1 = f32x4.splat(load<f32>(x1 + kk));
        const s2 = f32x4.splat(load<f32>(x2 + kk)), s3 = f32x4.splat(load<f32>(x3 + kk));
        a00 = f32x4.add(a00, f32x4.mul(s0, y0)); a01 = f32x4.add(a01, f32x4.mul(s0, y1));
        a10 = f32x4.add(a10, f32x4.mul(s1, y0)); a11 = f32x4.add(a11, f32x4.mul(s1, y1));
        a20 = f32x4.add(a20, f32x4.mul(s2, y0)); a21 = f32x4.add(a21, f32x4.mul(s2, y1));
        a30 = f32x4.add(a30, f32x4.mul(s3, y0)); a31 = f32x4.add(a31, f32x4.mul(s3, y1));
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
        a0 = f32x4.add(a0, f32x4.mul(f32x4.splat(load<f32>(x0 + kk)), y0));
        a1 = f32x4.add(a1, f32x4.mul(f32x4.splat(load<f32>(x1 + kk)), y0));
        a2 = f32x4.add(a2, f32x4.mul(f32x4.splat(load<f32>(x2 + kk)), y0));
        a3 = f32x4.add(a3, f32x4.mul(f32x4.splat(load<f32>(x3 + kk)), y0));
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
        a0 = f32x4.add(a0, f32x4.mul(f32x4.splat(load<f32>(x0 + (<usize>k << 2))), v128.load(yp)));
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

/** dst[cols×rows] = srcᵀ for src[rows×cols], in 4×4 tiles. */
export function transpose(src: usize, dst: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    const s = src + (<usize>r * <usize>cols << 2);
    for (let c = 0; c < cols; c++) store<f32>(dst + ((<usize>c * <usize>rows + <usize>r) << 2), load<f32>(s + (<usize>c << 2)));
  }
}
