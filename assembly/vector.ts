// Lanczos's vector arithmetic (core/lanczos.ts: float64 vectors, or float32 vectors with every operation in
// float64), bit for bit as its TS loops (vector-arithmetic.ts tsVectors): the same products and sums in
// the same order. An f64x2 accumulator's two lanes are two
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
  const cc = f64x2.splat(c);
  let s01 = f64x2.splat(0),
    s23 = f64x2.splat(0),
    s45 = f64x2.splat(0),
    s67 = f64x2.splat(0);
  let i = 0;
  for (; i + 7 < n; i += 8) {
    const o = <usize>i << 3;
    const v0 = f64x2.sub(v128.load(w + o), f64x2.mul(cc, v128.load(x + o)));
    const v1 = f64x2.sub(v128.load(w + o + 16), f64x2.mul(cc, v128.load(x + o + 16)));
    const v2 = f64x2.sub(v128.load(w + o + 32), f64x2.mul(cc, v128.load(x + o + 32)));
    const v3 = f64x2.sub(v128.load(w + o + 48), f64x2.mul(cc, v128.load(x + o + 48)));
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
    const v = load<f64>(w + o) - c * load<f64>(x + o);
    store<f64>(w + o, v);
    s0 += v * load<f64>(y + o);
  }
  return sum8(s0, s01, s23, s45, s67);
}

/**
 * out[i] ← (x + 0.5)·2⁻³¹ − 1 for the next n values x (uint32) of xoshiro128** from the state at
 * `st` (four int32 words, advanced): core/rng.ts's nextU32 and its use in core/lanczos.ts, bit for
 * bit.
 */
export function uniformSigned64(out: usize, st: usize, n: i32): void {
  let a = load<i32>(st),
    b = load<i32>(st, 4),
    c = load<i32>(st, 8),
    d = load<i32>(st, 12);
  for (let i = 0; i < n; i++) {
    const s2 = c ^ a,
      s3 = d ^ b;
    const r = rotl<i32>(b * 5, 7) * 9;
    a = a ^ s3;
    c = s2 ^ (b << 9);
    b = b ^ s2;
    d = rotl<i32>(s3, 11);
    store<f64>(out + (<usize>i << 3), (<f64>(<u32>r) + 0.5) * 4.656612873077393e-10 - 1);
  }
  store<i32>(st, a);
  store<i32>(st, b, 4);
  store<i32>(st, c, 8);
  store<i32>(st, d, 12);
}

/** q ← a·q + b·r over n float64 values. */
export function scaleAdd64(q: usize, a: f64, r: usize, b: f64, n: i32): void {
  const aa = f64x2.splat(a),
    bb = f64x2.splat(b);
  let i = 0;
  for (; i + 1 < n; i += 2) {
    const o = <usize>i << 3;
    v128.store(q + o, f64x2.add(f64x2.mul(aa, v128.load(q + o)), f64x2.mul(bb, v128.load(r + o))));
  }
  if (i < n) {
    const o = <usize>i << 3;
    store<f64>(q + o, a * load<f64>(q + o) + b * load<f64>(r + o));
  }
}

/** Two values of a float32 array at value i, widened exactly. */
@inline function wide(p: usize, i: i32): v128 {
  return f64x2.promote_low_f32x4(v128.load64_zero(p + (<usize>i << 2)));
}

/** One float32 value at value i, widened exactly. */
@inline function wide1(p: usize, i: i32): f64 {
  return <f64>load<f32>(p + (<usize>i << 2));
}

/** subtractAndDot64's last sum of its eight running sums (s0 holding the tail's terms). */
@inline function sum8(s0: f64, s01: v128, s23: v128, s45: v128, s67: v128): f64 {
  return (
    s0 +
    f64x2.extract_lane(s01, 1) +
    (f64x2.extract_lane(s23, 0) + f64x2.extract_lane(s23, 1)) +
    (f64x2.extract_lane(s45, 0) + f64x2.extract_lane(s45, 1) + (f64x2.extract_lane(s67, 0) + f64x2.extract_lane(s67, 1)))
  );
}

/**
 * The last sum of sixteen running sums s0…s15 (i mod 16; s0 holding the tail's terms, the others in
 * the accumulators' lanes): sum8 of the first eight plus sum8 of the second.
 */
@inline function sum16(s0: f64, a: v128, b: v128, c: v128, d: v128, e: v128, f: v128, g: v128, h: v128): f64 {
  return (
    sum8(s0, a, b, c, d) +
    (f64x2.extract_lane(e, 0) +
      f64x2.extract_lane(e, 1) +
      (f64x2.extract_lane(f, 0) + f64x2.extract_lane(f, 1)) +
      (f64x2.extract_lane(g, 0) + f64x2.extract_lane(g, 1) + (f64x2.extract_lane(h, 0) + f64x2.extract_lane(h, 1))))
  );
}

/**
 * One term pair at values i, i + 1 of Lanczos's float32 passes (float32 widened, float64
 * operations): d = u − c·x, then for alpha32 (T = f64) d·y, for residual32 (T = f32) v² of
 * v = d − a·y, with v stored to w rounded to float32.
 */
@inline function lanczosTerm<T>(w: usize, u: usize, cc: v128, x: usize, aa: v128, y: usize, i: i32): v128 {
  const d = f64x2.sub(wide(u, i), f64x2.mul(cc, wide(x, i)));
  if (sizeof<T>() == 8) return f64x2.mul(d, wide(y, i));
  const v = f64x2.sub(d, f64x2.mul(aa, wide(y, i)));
  v128.store64_lane(w + (<usize>i << 2), f32x4.demote_f64x2_zero(v), 0);
  return f64x2.mul(v, v);
}

/** lanczosTerm for one value i. */
@inline function lanczosTerm1<T>(w: usize, u: usize, c: f64, x: usize, a: f64, y: usize, i: i32): f64 {
  const d = wide1(u, i) - c * wide1(x, i);
  if (sizeof<T>() == 8) return d * wide1(y, i);
  const v = d - a * wide1(y, i);
  store<f32>(w + (<usize>i << 2), <f32>v);
  return v * v;
}

/**
 * Σ of lanczosTerm's terms over n values: sixteen running sums (i mod 16), the last n mod 16 terms
 * into the first, then sum16 (native/kernels.c has the same sums).
 */
@inline function lanczosSums<T>(w: usize, u: usize, c: f64, x: usize, a: f64, y: usize, n: i32): f64 {
  const cc = f64x2.splat(c),
    aa = f64x2.splat(a);
  let s0 = f64x2.splat(0),
    s1 = s0,
    s2 = s0,
    s3 = s0,
    s4 = s0,
    s5 = s0,
    s6 = s0,
    s7 = s0;
  let i = 0;
  for (; i + 15 < n; i += 16) {
    s0 = f64x2.add(s0, lanczosTerm<T>(w, u, cc, x, aa, y, i));
    s1 = f64x2.add(s1, lanczosTerm<T>(w, u, cc, x, aa, y, i + 2));
    s2 = f64x2.add(s2, lanczosTerm<T>(w, u, cc, x, aa, y, i + 4));
    s3 = f64x2.add(s3, lanczosTerm<T>(w, u, cc, x, aa, y, i + 6));
    s4 = f64x2.add(s4, lanczosTerm<T>(w, u, cc, x, aa, y, i + 8));
    s5 = f64x2.add(s5, lanczosTerm<T>(w, u, cc, x, aa, y, i + 10));
    s6 = f64x2.add(s6, lanczosTerm<T>(w, u, cc, x, aa, y, i + 12));
    s7 = f64x2.add(s7, lanczosTerm<T>(w, u, cc, x, aa, y, i + 14));
  }
  let t0 = f64x2.extract_lane(s0, 0);
  for (; i < n; i++) t0 += lanczosTerm1<T>(w, u, c, x, a, y, i);
  return sum16(t0, s0, s1, s2, s3, s4, s5, s6, s7);
}

/**
 * Lanczos's α over float32 vectors: Σ y[i]·(u[i] − c·x[i]), each value widened exactly and every
 * operation in float64, in lanczosSums's sums.
 */
export function alpha32(u: usize, c: f64, x: usize, y: usize, n: i32): f64 {
  return lanczosSums<f64>(0, u, c, x, 0, y, n);
}

/**
 * Lanczos's next vector before its scaling, over float32 vectors: w[i] ← (u[i] − c·x[i]) − a·y[i]
 * in float64, rounded to float32, returning Σ of those float64 values squared (alpha32's sums).
 */
export function residual32(w: usize, u: usize, c: f64, x: usize, a: f64, y: usize, n: i32): f64 {
  return lanczosSums<f32>(w, u, c, x, a, y, n);
}

/** q[i] ← q[i]·c with c rounded to float32, in float32 (n float32 values). */
export function scale32(q: usize, c: f64, n: i32): void {
  const k = <f32>c,
    kk = f32x4.splat(k);
  let i = 0;
  for (; i + 3 < n; i += 4) v128.store(q + (<usize>i << 2), f32x4.mul(v128.load(q + (<usize>i << 2)), kk));
  for (; i < n; i++) store<f32>(q + (<usize>i << 2), load<f32>(q + (<usize>i << 2)) * k);
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
