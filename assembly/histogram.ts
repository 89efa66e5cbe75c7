// The two passes of a histogram (src/core/histogram.ts states the rule and holds the TS reference,
// which these kernels match bit for bit): float32 values in memory, the arithmetic in float64.
//
// Pass 1, histogramMoments: over the values that are finite and not 0, shifted by the first of
// them, Σd and Σd² (d = v − shift) in four lanes (value i in lane i mod 4, lanes summed as
// (l0 + l1) + (l2 + l3)), the extremes, and the zeros and non-finite values counted apart. At
// `out` (float64): [zeros, nonFinite, shift, Σd, Σd², min, max].
//
// Pass 2, histogramSlots: each value's slot (0 below lo, 1 + ⌊(v − lo)·scale⌋ clamped to the bins,
// BINS + 1 above hi, BINS + 2 exactly 0, BINS + 3 non-finite), counted at `slots` (int32, SLOTS
// of them); four copies of the counts (one per lane) so that increments in a row do not wait on
// each other, summed at the end.

const BINS = 32;
const SLOTS = BINS + 4;

@inline function low(v: v128): v128 { return f64x2.promote_low_f32x4(v); }
@inline function high(v: v128): v128 { return f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 2, 3)); }

export function histogramMoments(p: usize, n: i32, out: usize): void {
  let shift: f64 = 0;
  for (let i = 0; i < n; i++) {
    const v = <f64>load<f32>(p + (<usize>i << 2));
    if (v != 0 && v - v == 0) {
      shift = v;
      break;
    }
  }
  const zero = f32x4.splat(0), sh = f64x2.splat(shift);
  let s1lo = f64x2.splat(0), s1hi = s1lo, s2lo = s1lo, s2hi = s1lo;
  let mn = f32x4.splat(Infinity), mx = f32x4.splat(-Infinity);
  let zeros = i32x4.splat(0), nonFinite = zeros;
  const n4 = n & ~3;
  for (let i = 0; i < n4; i += 4) {
    const v = v128.load(p + (<usize>i << 2));
    const isZero = f32x4.eq(v, zero);
    const finite = f32x4.eq(f32x4.sub(v, v), zero);
    const counted = v128.andnot(finite, isZero);
    zeros = i32x4.sub(zeros, isZero);
    nonFinite = i32x4.sub(nonFinite, v128.not(finite));
    const dl = v128.and(f64x2.sub(low(v), sh), i64x2.extend_low_i32x4_s(counted));
    const dh = v128.and(f64x2.sub(high(v), sh), i64x2.extend_high_i32x4_s(counted));
    s1lo = f64x2.add(s1lo, dl);
    s1hi = f64x2.add(s1hi, dh);
    s2lo = f64x2.add(s2lo, f64x2.mul(dl, dl));
    s2hi = f64x2.add(s2hi, f64x2.mul(dh, dh));
    mn = f32x4.pmin(mn, v128.bitselect(v, f32x4.splat(Infinity), counted));
    mx = f32x4.pmax(mx, v128.bitselect(v, f32x4.splat(-Infinity), counted));
  }
  let a0 = f64x2.extract_lane(s1lo, 0), a1 = f64x2.extract_lane(s1lo, 1);
  let a2 = f64x2.extract_lane(s1hi, 0), a3 = f64x2.extract_lane(s1hi, 1);
  let b0 = f64x2.extract_lane(s2lo, 0), b1 = f64x2.extract_lane(s2lo, 1);
  let b2 = f64x2.extract_lane(s2hi, 0), b3 = f64x2.extract_lane(s2hi, 1);
  let zc = i32x4.extract_lane(zeros, 0) + i32x4.extract_lane(zeros, 1) + i32x4.extract_lane(zeros, 2) + i32x4.extract_lane(zeros, 3);
  let nf = i32x4.extract_lane(nonFinite, 0) + i32x4.extract_lane(nonFinite, 1) + i32x4.extract_lane(nonFinite, 2) + i32x4.extract_lane(nonFinite, 3);
  let lo: f64 = min(min(<f64>f32x4.extract_lane(mn, 0), <f64>f32x4.extract_lane(mn, 1)), min(<f64>f32x4.extract_lane(mn, 2), <f64>f32x4.extract_lane(mn, 3)));
  let hi: f64 = max(max(<f64>f32x4.extract_lane(mx, 0), <f64>f32x4.extract_lane(mx, 1)), max(<f64>f32x4.extract_lane(mx, 2), <f64>f32x4.extract_lane(mx, 3)));
  for (let i = n4; i < n; i++) {
    const v = <f64>load<f32>(p + (<usize>i << 2));
    if (v - v != 0) {
      nf++;
      continue;
    }
    if (v == 0) {
      zc++;
      continue;
    }
    const d = v - shift, lane = i & 3;
    if (lane == 0) { a0 += d; b0 += d * d; }
    else if (lane == 1) { a1 += d; b1 += d * d; }
    else { a2 += d; b2 += d * d; } // n − n4 ≤ 3: lanes 0, 1, 2
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  store<f64>(out, <f64>zc);
  store<f64>(out, <f64>nf, 8);
  store<f64>(out, shift, 16);
  store<f64>(out, (a0 + a1) + (a2 + a3), 24);
  store<f64>(out, (b0 + b1) + (b2 + b3), 32);
  store<f64>(out, lo, 40);
  store<f64>(out, hi, 48);
}

/** Two values' slots (f64x2 of v) as float64 integers. */
@inline function slotsOf(v: v128, lo: v128, hi: v128, scale: v128, last: v128): v128 {
  const d = f64x2.sub(v, lo);
  const j = f64x2.add(f64x2.pmin(f64x2.pmax(f64x2.trunc(f64x2.mul(d, scale)), f64x2.splat(0)), last), f64x2.splat(1));
  let s = v128.bitselect(f64x2.splat(0), j, f64x2.lt(d, f64x2.splat(0)));
  s = v128.bitselect(f64x2.splat(BINS + 1), s, f64x2.gt(f64x2.sub(v, hi), f64x2.splat(0)));
  s = v128.bitselect(f64x2.splat(BINS + 2), s, f64x2.eq(v, f64x2.splat(0)));
  return v128.bitselect(f64x2.splat(BINS + 3), s, f64x2.ne(f64x2.sub(v, v), f64x2.splat(0)));
}

@inline function bump(slots: usize, copy: i32, slot: i32): void {
  const at = slots + ((<usize>(copy * SLOTS + slot)) << 2);
  store<i32>(at, load<i32>(at) + 1);
}

export function histogramSlots(p: usize, n: i32, lo: f64, hi: f64, scale: f64, slots: usize): void {
  memory.fill(slots, 0, 4 * SLOTS * 4);
  const lov = f64x2.splat(lo), hiv = f64x2.splat(hi), sc = f64x2.splat(scale), last = f64x2.splat(BINS - 1);
  const magic = f64x2.splat(4503599627370496.0);
  const n4 = n & ~3;
  for (let i = 0; i < n4; i += 4) {
    const v = v128.load(p + (<usize>i << 2));
    // slots (small integers in float64) + 2⁵² hold the slot in their low 32 bits
    const s = v128.shuffle<i32>(
      f64x2.add(slotsOf(low(v), lov, hiv, sc, last), magic),
      f64x2.add(slotsOf(high(v), lov, hiv, sc, last), magic),
      0, 2, 4, 6,
    );
    bump(slots, 0, i32x4.extract_lane(s, 0));
    bump(slots, 1, i32x4.extract_lane(s, 1));
    bump(slots, 2, i32x4.extract_lane(s, 2));
    bump(slots, 3, i32x4.extract_lane(s, 3));
  }
  for (let i = n4; i < n; i++) {
    const v = f64x2.splat(<f64>load<f32>(p + (<usize>i << 2)));
    bump(slots, 0, i32x4.extract_lane(i32x4.trunc_sat_f64x2_s_zero(slotsOf(v, lov, hiv, sc, last)), 0));
  }
  for (let s = 0; s < SLOTS; s++) {
    const at = slots + (<usize>s << 2);
    store<i32>(at, load<i32>(at) + load<i32>(at + SLOTS * 4) + load<i32>(at + 2 * SLOTS * 4) + load<i32>(at + 3 * SLOTS * 4));
  }
}
