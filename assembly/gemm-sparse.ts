// Products whose left operand is mostly zeros: the gradients behind a ReLU (f'(z) = 0 for z ≤ 0)
// are zero for about half of the samples of every unit. Each row of the result is a sum over the
// nonzero entries of one row of S, so the multiply-adds by zero are never issued.

import { madd } from './gemm';

/**
 * C[M×N] = S·Q, where S[r, j] is the float32 at s + r·sRow + j·sCol (byte strides, so S may be a
 * transposed view) for j < J, and Q[J×N] is row-major.
 *
 * Rows of C are taken in pairs. First, for every pair (r, r+1), the j with S[r, j] ≠ 0 or
 * S[r+1, j] ≠ 0 are listed at `list` (16 bytes each: the two values, the byte address of Q's row
 * j; written without branches), pair p's entries ending at the u32 ends[p], stored after the
 * entries. Then, for each slab of 16 columns (then of 4, then single columns), both rows of every pair are
 * summed over its entries: C[r, slab] = Σ_{listed j, ascending} S[r, j]·Q[j, slab]. Eight f32x4
 * sums, two splats and four loads fit V8's 15 vector registers (one row of 32 columns spills),
 * and the slab of Q stays in the first-level cache while every pair uses it. At half zeros
 * (ReLU) a pair's union lists about three quarters of the j.
 *
 * Each sum takes the same multiply-adds in the same order as the dense product, minus some whose
 * S[r, j] is zero: those add ±0, so the result is the dense product's, bit for bit, whenever Q is
 * finite (0·∞ would be NaN; the caller checks Q with `allFinite` and takes `gemm` otherwise).
 * `list` needs 16·⌈M/2⌉·J + 4·⌈M/2⌉ bytes.
 */
export function gemmSparseRows(
  s: usize,
  sRow: usize,
  sCol: usize,
  J: i32,
  q: usize,
  c: usize,
  M: i32,
  N: i32,
  list: usize,
): void {
  const rowQ = (<usize>N) << 2,
    rowC = rowQ;
  const pairs = (M + 1) >> 1;
  const ends = list + ((<usize>pairs * <usize>J) << 4);
  let e = list;
  for (let r = 0; r < M; r += 2) {
    let s0 = s + <usize>r * sRow,
      qp = q;
    const two = r + 1 < M;
    for (let j = 0; j < J; j++) {
      const v0 = load<f32>(s0),
        v1 = two ? load<f32>(s0 + sRow) : <f32>0;
      store<f32>(e, v0);
      store<f32>(e, v1, 4);
      store<u32>(e, <u32>qp, 8);
      e += select<usize>(16, 0, (v0 != 0) | (v1 != 0));
      s0 += sCol;
      qp += rowQ;
    }
    store<u32>(ends + ((<usize>r) << 1), <u32>e);
  }
  let n = 0;
  for (; n + 16 <= N; n += 16) {
    const off = (<usize>n) << 2;
    let p = list,
      cr = c + off;
    for (let r = 0; r < M; r += 2) {
      const end = <usize>load<u32>(ends + ((<usize>r) << 1));
      let a0 = f32x4.splat(0),
        a1 = a0,
        a2 = a0,
        a3 = a0,
        b0 = a0,
        b1 = a0,
        b2 = a0,
        b3 = a0;
      for (; p < end; p += 16) {
        const y = <usize>load<u32>(p, 8) + off;
        const v = v128.load32_splat(p),
          w = v128.load32_splat(p, 4);
        let y0 = v128.load(y),
          y1 = v128.load(y, 16);
        a0 = madd(v, y0, a0);
        a1 = madd(v, y1, a1);
        b0 = madd(w, y0, b0);
        b1 = madd(w, y1, b1);
        y0 = v128.load(y, 32);
        y1 = v128.load(y, 48);
        a2 = madd(v, y0, a2);
        a3 = madd(v, y1, a3);
        b2 = madd(w, y0, b2);
        b3 = madd(w, y1, b3);
      }
      v128.store(cr, a0);
      v128.store(cr, a1, 16);
      v128.store(cr, a2, 32);
      v128.store(cr, a3, 48);
      if (r + 1 < M) {
        const c1 = cr + rowC;
        v128.store(c1, b0);
        v128.store(c1, b1, 16);
        v128.store(c1, b2, 32);
        v128.store(c1, b3, 48);
      }
      cr += rowC << 1;
    }
  }
  for (; n + 4 <= N; n += 4) {
    const off = (<usize>n) << 2;
    let p = list,
      cr = c + off;
    for (let r = 0; r < M; r += 2) {
      const end = <usize>load<u32>(ends + ((<usize>r) << 1));
      let a0 = f32x4.splat(0),
        b0 = a0;
      for (; p < end; p += 16) {
        const y0 = v128.load(<usize>load<u32>(p, 8) + off);
        a0 = madd(v128.load32_splat(p), y0, a0);
        b0 = madd(v128.load32_splat(p, 4), y0, b0);
      }
      v128.store(cr, a0);
      if (r + 1 < M) v128.store(cr + rowC, b0);
      cr += rowC << 1;
    }
  }
  for (; n < N; n++) {
    const off = (<usize>n) << 2;
    let p = list,
      cr = c + off;
    for (let r = 0; r < M; r += 2) {
      const end = <usize>load<u32>(ends + ((<usize>r) << 1));
      let a: f32 = 0,
        b: f32 = 0;
      for (; p < end; p += 16) {
        const y = load<f32>(<usize>load<u32>(p, 8) + off);
        a += load<f32>(p) * y;
        b += load<f32>(p, 4) * y;
      }
      store<f32>(cr, a);
      if (r + 1 < M) store<f32>(cr + rowC, b);
      cr += rowC << 1;
    }
  }
}

/** True when all n float32 at p are finite (x − x is 0 for finite x, NaN for ±∞ and NaN); four independent sums. */
export function allFinite(p: usize, n: i32): bool {
  let a0 = f32x4.splat(0),
    a1 = a0,
    a2 = a0,
    a3 = a0;
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const q = p + ((<usize>i) << 2);
    let v = v128.load(q);
    a0 = f32x4.add(a0, f32x4.sub(v, v));
    v = v128.load(q, 16);
    a1 = f32x4.add(a1, f32x4.sub(v, v));
    v = v128.load(q, 32);
    a2 = f32x4.add(a2, f32x4.sub(v, v));
    v = v128.load(q, 48);
    a3 = f32x4.add(a3, f32x4.sub(v, v));
  }
  a0 = f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3));
  let t: f32 =
    f32x4.extract_lane(a0, 0) + f32x4.extract_lane(a0, 1) + f32x4.extract_lane(a0, 2) + f32x4.extract_lane(a0, 3);
  for (; i < n; i++) {
    const v = load<f32>(p + ((<usize>i) << 2));
    t += v - v;
  }
  return t == 0;
}
