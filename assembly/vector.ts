// Lanczos's float64 vector arithmetic (core/lanczos.ts), bit for bit as its TS loops (kernels.ts
// tsVectors): the same products and sums in the same order. An f64x2 accumulator's two lanes are two
// of the TS loop's running sums (even and odd indices); WebAssembly does not fuse a multiply and an
// add, so each value is rounded as in TS.

/**
 * Σ a[i]·b[i] over n float64 values: running sums s0, s1 (i mod 4 = 0, 1) and s2, s3 (2, 3), the
 * last n mod 4 values into s0, then (s0 + s1) + (s2 + s3).
 */
export function dot64(a: usize, b: usize, n: i32): f64 {
  let s01 = f64x2.splat(0),
    s23 = f64x2.splat(0);
  let i = 0;
  for (; i + 3 < n; i += 4) {
    const o = <usize>i << 3;
    s01 = f64x2.add(s01, f64x2.mul(v128.load(a + o), v128.load(b + o)));
    s23 = f64x2.add(s23, f64x2.mul(v128.load(a + o + 16), v128.load(b + o + 16)));
  }
  let s0 = f64x2.extract_lane(s01, 0);
  for (; i < n; i++) s0 += load<f64>(a + (<usize>i << 3)) * load<f64>(b + (<usize>i << 3));
  return s0 + f64x2.extract_lane(s01, 1) + (f64x2.extract_lane(s23, 0) + f64x2.extract_lane(s23, 1));
}

/**
 * w ← w − c·x, returning Σ w[i]·y[i] of the new w (y may be w): running sums s0, s1 (even, odd i),
 * the last value into s0, then s0 + s1.
 */
export function subtractAndDot64(w: usize, c: f64, x: usize, y: usize, n: i32): f64 {
  const cc = f64x2.splat(c);
  let s = f64x2.splat(0);
  let i = 0;
  for (; i + 1 < n; i += 2) {
    const o = <usize>i << 3;
    const v = f64x2.sub(v128.load(w + o), f64x2.mul(cc, v128.load(x + o)));
    v128.store(w + o, v);
    s = f64x2.add(s, f64x2.mul(v, v128.load(y + o)));
  }
  let s0 = f64x2.extract_lane(s, 0);
  if (i < n) {
    const o = <usize>i << 3;
    const v = load<f64>(w + o) - c * load<f64>(x + o);
    store<f64>(w + o, v);
    s0 += v * load<f64>(y + o);
  }
  return s0 + f64x2.extract_lane(s, 1);
}

/** w ← c·w and q ← w rounded to float32 (q: n float32 values). */
export function scaleInto64(w: usize, c: f64, q: usize, n: i32): void {
  const cc = f64x2.splat(c);
  let i = 0;
  for (; i + 1 < n; i += 2) {
    const v = f64x2.mul(v128.load(w + (<usize>i << 3)), cc);
    v128.store(w + (<usize>i << 3), v);
    v128.store64_lane(q + (<usize>i << 2), f32x4.demote_f64x2_zero(v), 0);
  }
  if (i < n) {
    const v = load<f64>(w + (<usize>i << 3)) * c;
    store<f64>(w + (<usize>i << 3), v);
    store<f32>(q + (<usize>i << 2), <f32>v);
  }
}

/** v ← v + c·q over n values (v float64, q float32). */
export function addScaled64(v: usize, c: f64, q: usize, n: i32): void {
  const cc = f64x2.splat(c);
  let i = 0;
  for (; i + 1 < n; i += 2) {
    const o = <usize>i << 3;
    const p = f64x2.promote_low_f32x4(v128.load64_zero(q + (<usize>i << 2)));
    v128.store(v + o, f64x2.add(v128.load(v + o), f64x2.mul(cc, p)));
  }
  if (i < n) {
    const o = <usize>i << 3;
    store<f64>(v + o, load<f64>(v + o) + c * <f64>load<f32>(q + (<usize>i << 2)));
  }
}
