// Lanczos's float64 vector arithmetic (core/lanczos.ts), bit for bit as its TS loops (vector-arithmetic.ts
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
 * w ← w − c·x, returning Σ w[i]·y[i] of the new w (y may be w): eight running sums s0…s7 (i mod 8,
 * four f64x2 accumulators, so that the adds do not wait on one another), the last n mod 8 values
 * into s0, then ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)).
 */
export function subtractAndDot64(w: usize, c: f64, x: usize, y: usize, n: i32): f64 {
  return subtractAndDotFrom<f64>(w, w, c, x, y, n);
}

/**
 * w ← u − c·x with u float32 (a float32 product, widened exactly), returning Σ w[i]·y[i] of the new
 * w: subtractAndDot64 on a w that held u, the same values and sums, without the pass that widens u.
 */
export function widenSubtractAndDot64(w: usize, u: usize, c: f64, x: usize, y: usize, n: i32): f64 {
  return subtractAndDotFrom<f32>(w, u, c, x, y, n);
}

/** Two values of `from` (float64, or float32 widened) at value i. */
@inline function pairAt<T>(from: usize, i: i32): v128 {
  if (sizeof<T>() == 4) return f64x2.promote_low_f32x4(v128.load64_zero(from + (<usize>i << 2)));
  return v128.load(from + (<usize>i << 3));
}

/** w ← from − c·x (`from` of T: f64, or f32 widened), returning Σ w[i]·y[i]: subtractAndDot64's sums. */
@inline function subtractAndDotFrom<T>(w: usize, from: usize, c: f64, x: usize, y: usize, n: i32): f64 {
  const cc = f64x2.splat(c);
  let s01 = f64x2.splat(0),
    s23 = f64x2.splat(0),
    s45 = f64x2.splat(0),
    s67 = f64x2.splat(0);
  let i = 0;
  for (; i + 7 < n; i += 8) {
    const o = <usize>i << 3;
    const v0 = f64x2.sub(pairAt<T>(from, i), f64x2.mul(cc, v128.load(x + o)));
    const v1 = f64x2.sub(pairAt<T>(from, i + 2), f64x2.mul(cc, v128.load(x + o + 16)));
    const v2 = f64x2.sub(pairAt<T>(from, i + 4), f64x2.mul(cc, v128.load(x + o + 32)));
    const v3 = f64x2.sub(pairAt<T>(from, i + 6), f64x2.mul(cc, v128.load(x + o + 48)));
    v128.store(w + o, v0);
    v128.store(w + o + 16, v1);
    v128.store(w + o + 32, v2);
    v128.store(w + o + 48, v3);
    s01 = f64x2.add(s01, f64x2.mul(v0, v128.load(y + o)));
    s23 = f64x2.add(s23, f64x2.mul(v1, v128.load(y + o + 16)));
    s45 = f64x2.add(s45, f64x2.mul(v2, v128.load(y + o + 32)));
    s67 = f64x2.add(s67, f64x2.mul(v3, v128.load(y + o + 48)));
  }
  let s0 = f64x2.extract_lane(s01, 0);
  for (; i < n; i++) {
    const o = <usize>i << 3;
    const v = <f64>load<T>(from + (<usize>i * sizeof<T>())) - c * load<f64>(x + o);
    store<f64>(w + o, v);
    s0 += v * load<f64>(y + o);
  }
  return (
    s0 +
    f64x2.extract_lane(s01, 1) +
    (f64x2.extract_lane(s23, 0) + f64x2.extract_lane(s23, 1)) +
    (f64x2.extract_lane(s45, 0) + f64x2.extract_lane(s45, 1) + (f64x2.extract_lane(s67, 0) + f64x2.extract_lane(s67, 1)))
  );
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

/**
 * v ← (((v + c0·q0) + c1·q1) + c2·q2) + c3·q3 over n values (v float64, the q float32): addScaled64
 * four times, the same values, in one pass over v.
 */
export function addScaled4x64(
  v: usize,
  c0: f64,
  q0: usize,
  c1: f64,
  q1: usize,
  c2: f64,
  q2: usize,
  c3: f64,
  q3: usize,
  n: i32,
): void {
  const k0 = f64x2.splat(c0),
    k1 = f64x2.splat(c1),
    k2 = f64x2.splat(c2),
    k3 = f64x2.splat(c3);
  let i = 0;
  for (; i + 1 < n; i += 2) {
    const o = <usize>i << 3,
      h = <usize>i << 2;
    let s = v128.load(v + o);
    s = f64x2.add(s, f64x2.mul(k0, f64x2.promote_low_f32x4(v128.load64_zero(q0 + h))));
    s = f64x2.add(s, f64x2.mul(k1, f64x2.promote_low_f32x4(v128.load64_zero(q1 + h))));
    s = f64x2.add(s, f64x2.mul(k2, f64x2.promote_low_f32x4(v128.load64_zero(q2 + h))));
    s = f64x2.add(s, f64x2.mul(k3, f64x2.promote_low_f32x4(v128.load64_zero(q3 + h))));
    v128.store(v + o, s);
  }
  if (i < n) {
    const o = <usize>i << 3,
      h = <usize>i << 2;
    let s = load<f64>(v + o);
    s = s + c0 * <f64>load<f32>(q0 + h);
    s = s + c1 * <f64>load<f32>(q1 + h);
    s = s + c2 * <f64>load<f32>(q2 + h);
    s = s + c3 * <f64>load<f32>(q3 + h);
    store<f64>(v + o, s);
  }
}

/**
 * G = X·Xᵀ for B rows of n float32 values (G: B×B float64, both triangles), as the TS reference
 * (core/input-basis.ts): each product in float64 (exact for float32 factors), summed over even k
 * and over odd k, the last term of an odd n into the even sum, then the two added. Four rows j
 * at a time against row i, so four sums run at once.
 */
export function gram(x: usize, B: i32, n: i32, g: usize): void {
  const row = <usize>n << 2,
    rowG = <usize>B << 3;
  for (let i = 0; i < B; i++) {
    const xi = x + <usize>i * row;
    let j = 0;
    for (; j + 4 <= i + 1; j += 4) {
      const x0 = x + <usize>j * row,
        x1 = x0 + row,
        x2 = x1 + row,
        x3 = x2 + row;
      let a0 = f64x2.splat(0),
        a1 = f64x2.splat(0),
        a2 = f64x2.splat(0),
        a3 = f64x2.splat(0);
      let k = 0;
      for (; k + 1 < n; k += 2) {
        const o = <usize>k << 2;
        const p = f64x2.promote_low_f32x4(v128.load64_zero(xi + o));
        a0 = f64x2.add(a0, f64x2.mul(p, f64x2.promote_low_f32x4(v128.load64_zero(x0 + o))));
        a1 = f64x2.add(a1, f64x2.mul(p, f64x2.promote_low_f32x4(v128.load64_zero(x1 + o))));
        a2 = f64x2.add(a2, f64x2.mul(p, f64x2.promote_low_f32x4(v128.load64_zero(x2 + o))));
        a3 = f64x2.add(a3, f64x2.mul(p, f64x2.promote_low_f32x4(v128.load64_zero(x3 + o))));
      }
      let s0 = f64x2.extract_lane(a0, 0),
        s1 = f64x2.extract_lane(a1, 0),
        s2 = f64x2.extract_lane(a2, 0),
        s3 = f64x2.extract_lane(a3, 0);
      if (k < n) {
        const o = <usize>k << 2;
        const p = <f64>load<f32>(xi + o);
        s0 += p * <f64>load<f32>(x0 + o);
        s1 += p * <f64>load<f32>(x1 + o);
        s2 += p * <f64>load<f32>(x2 + o);
        s3 += p * <f64>load<f32>(x3 + o);
      }
      const gi = g + <usize>i * rowG + (<usize>j << 3);
      const v0 = s0 + f64x2.extract_lane(a0, 1),
        v1 = s1 + f64x2.extract_lane(a1, 1),
        v2 = s2 + f64x2.extract_lane(a2, 1),
        v3 = s3 + f64x2.extract_lane(a3, 1);
      store<f64>(gi, v0);
      store<f64>(gi + 8, v1);
      store<f64>(gi + 16, v2);
      store<f64>(gi + 24, v3);
      const gj = g + <usize>j * rowG + (<usize>i << 3);
      store<f64>(gj, v0);
      store<f64>(gj + rowG, v1);
      store<f64>(gj + 2 * rowG, v2);
      store<f64>(gj + 3 * rowG, v3);
    }
    for (; j <= i; j++) {
      const xj = x + <usize>j * row;
      let a = f64x2.splat(0);
      let k = 0;
      for (; k + 1 < n; k += 2) {
        const o = <usize>k << 2;
        a = f64x2.add(
          a,
          f64x2.mul(f64x2.promote_low_f32x4(v128.load64_zero(xi + o)), f64x2.promote_low_f32x4(v128.load64_zero(xj + o))),
        );
      }
      let s = f64x2.extract_lane(a, 0);
      if (k < n) s += <f64>load<f32>(xi + (<usize>k << 2)) * <f64>load<f32>(xj + (<usize>k << 2));
      const v = s + f64x2.extract_lane(a, 1);
      store<f64>(g + <usize>i * rowG + (<usize>j << 3), v);
      store<f64>(g + <usize>j * rowG + (<usize>i << 3), v);
    }
  }
}
