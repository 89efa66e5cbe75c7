// The gradients' passes around clipping (core/clip.ts), over float32 values in float64 arithmetic,
// bit for bit as the TS reference loops there: each product in float64, rounded to float32 where it
// is stored, and every sum kept in four running sums s0…s3 (value i in s(i mod 4), the last n mod 4
// values into s0), then (s0 + s1) + (s2 + s3). WebAssembly does not fuse a multiply and an add.

@inline function low(v: v128): v128 { return f64x2.promote_low_f32x4(v); }
@inline function high(v: v128): v128 { return f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 2, 3)); }
@inline function total(s01: v128, s23: v128, s0: f64): f64 {
  return s0 + f64x2.extract_lane(s01, 1) + (f64x2.extract_lane(s23, 0) + f64x2.extract_lane(s23, 1));
}

/** Σg at out[0] and Σg² at out[1], over n float32 values at g. */
export function gradientSums(g: usize, n: i32, out: usize): void {
  let s01 = f64x2.splat(0), s23 = s01, q01 = s01, q23 = s01;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    const v = v128.load(g + (<usize>i << 2));
    const l = low(v), h = high(v);
    s01 = f64x2.add(s01, l); s23 = f64x2.add(s23, h);
    q01 = f64x2.add(q01, f64x2.mul(l, l)); q23 = f64x2.add(q23, f64x2.mul(h, h));
  }
  let s0 = f64x2.extract_lane(s01, 0), q0 = f64x2.extract_lane(q01, 0);
  for (; i < n; i++) {
    const x = <f64>load<f32>(g + (<usize>i << 2));
    s0 += x; q0 += x * x;
  }
  store<f64>(out, total(s01, s23, s0));
  store<f64>(out, total(q01, q23, q0), 8);
}

/** g ← g·c (clipping by norm), and Σg² of the new g at out[0]. */
export function scaleGradient(g: usize, n: i32, c: f64, out: usize): void {
  const cv = f64x2.splat(c);
  let q01 = f64x2.splat(0), q23 = q01;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    const o = g + (<usize>i << 2);
    const v = v128.load(o);
    const r = v128.shuffle<f32>(
      f32x4.demote_f64x2_zero(f64x2.mul(low(v), cv)),
      f32x4.demote_f64x2_zero(f64x2.mul(high(v), cv)),
      0, 1, 4, 5,
    );
    v128.store(o, r);
    const l = low(r), h = high(r);
    q01 = f64x2.add(q01, f64x2.mul(l, l)); q23 = f64x2.add(q23, f64x2.mul(h, h));
  }
  let q0 = f64x2.extract_lane(q01, 0);
  for (; i < n; i++) {
    const o = g + (<usize>i << 2);
    const x = <f64>(<f32>(<f64>load<f32>(o) * c));
    store<f32>(o, <f32>x);
    q0 += x * x;
  }
  store<f64>(out, total(q01, q23, q0));
}

/**
 * g ← clamp(g, −c, c) (clipping by value), as TS compares: g > c and g < −c in float64, the bound
 * stored as float32. Σg² of the new g at out[0], how many values were beyond the bounds at out[1].
 */
export function clampGradient(g: usize, n: i32, c: f64, out: usize): void {
  const c32 = <f32>c;
  // for a float32 x: x > c ⇔ x > c32, unless c32 rounded c up (then ⇔ x ≥ c32, i.e. x > the float
  // below c32); the same for x < −c. NaN compares false both ways and stays.
  const edge = <f64>c32 > c ? reinterpret<f32>(reinterpret<i32>(c32) - 1) : c32;
  const top = f32x4.splat(c32), bottom = f32x4.splat(-c32), above = f32x4.splat(edge), below = f32x4.splat(-edge);
  let q01 = f64x2.splat(0), q23 = q01, count = i32x4.splat(0);
  let i = 0;
  for (; i + 3 < n; i += 4) {
    const o = g + (<usize>i << 2);
    const v = v128.load(o);
    const hi = f32x4.gt(v, above), lo = f32x4.lt(v, below);
    const r = v128.bitselect(top, v128.bitselect(bottom, v, lo), hi);
    v128.store(o, r);
    count = i32x4.sub(count, v128.or(hi, lo));
    const l = low(r), h = high(r);
    q01 = f64x2.add(q01, f64x2.mul(l, l)); q23 = f64x2.add(q23, f64x2.mul(h, h));
  }
  let q0 = f64x2.extract_lane(q01, 0);
  let beyond = i32x4.extract_lane(count, 0) + i32x4.extract_lane(count, 1) + i32x4.extract_lane(count, 2) + i32x4.extract_lane(count, 3);
  for (; i < n; i++) {
    const o = g + (<usize>i << 2);
    let x = <f64>load<f32>(o);
    if (x > c) {
      x = <f64>c32;
      beyond++;
    } else if (x < -c) {
      x = <f64>-c32;
      beyond++;
    }
    store<f32>(o, <f32>x);
    q0 += x * x;
  }
  store<f64>(out, total(q01, q23, q0));
  store<f64>(out, <f64>beyond, 8);
}
