// Elementwise passes of the Layerwise core in WebAssembly SIMD, each fused with the statistics the
// step reports (sums in float64, as the TS reference in src/core/network.ts keeps them).

/** Σ over the two lanes of a f64x2. */
@inline function lanes(v: v128): f64 {
  return f64x2.extract_lane(v, 0) + f64x2.extract_lane(v, 1);
}

/**
 * A = f(Z) over Z[B×U] for relu (f(z) = max(0, z)) or leaky relu (f(z) = z for z > 0, αz otherwise),
 * with, at `out` (float64): [Σ(z − z0), Σ(z − z0)², Σ(a − a0), Σ(a − a0)², dead units], the
 * shifts z0, a0 keeping the variance sums exact. A unit is alive once some sample has z > 0
 * (relu) or z ≥ 0 (leaky); `alive` is scratch for U int32 flags.
 */
export function reluForward(z: usize, a: usize, B: i32, U: i32, alpha: f32, leaky: bool, z0: f64, a0: f64, alive: usize, out: usize): void {
  const zero = f32x4.splat(0), al = f32x4.splat(alpha);
  const zs = f64x2.splat(z0), as = f64x2.splat(a0);
  let sz = f64x2.splat(0), ssz = sz, sa = sz, ssa = sz;
  let tz = 0.0, tzz = 0.0, ta = 0.0, taa = 0.0;
  const U4 = U & ~3;
  memory.fill(alive, 0, <usize>U << 2);
  for (let i = 0; i < B; i++) {
    const row = <usize>i * <usize>U << 2;
    for (let u = 0; u < U4; u += 4) {
      const o = row + (<usize>u << 2);
      const zv = v128.load(z + o);
      const pos = f32x4.gt(zv, zero);
      const av = v128.bitselect(zv, leaky ? f32x4.mul(zv, al) : zero, pos);
      v128.store(a + o, av);
      const ap = alive + (<usize>u << 2);
      v128.store(ap, v128.or(v128.load(ap), leaky ? f32x4.ge(zv, zero) : pos));
      const zl = f64x2.sub(f64x2.promote_low_f32x4(zv), zs), zh = f64x2.sub(f64x2.promote_low_f32x4(v128.shuffle<f32>(zv, zv, 2, 3, 2, 3)), zs);
      const al2 = f64x2.sub(f64x2.promote_low_f32x4(av), as), ah = f64x2.sub(f64x2.promote_low_f32x4(v128.shuffle<f32>(av, av, 2, 3, 2, 3)), as);
      sz = f64x2.add(sz, f64x2.add(zl, zh));
      ssz = f64x2.add(ssz, f64x2.add(f64x2.mul(zl, zl), f64x2.mul(zh, zh)));
      sa = f64x2.add(sa, f64x2.add(al2, ah));
      ssa = f64x2.add(ssa, f64x2.add(f64x2.mul(al2, al2), f64x2.mul(ah, ah)));
    }
    for (let u = U4; u < U; u++) {
      const o = row + (<usize>u << 2);
      const zf = load<f32>(z + o);
      const af: f32 = zf > 0 ? zf : (leaky ? zf * alpha : 0);
      store<f32>(a + o, af);
      if (zf > 0 || (leaky && zf == 0)) store<i32>(alive + (<usize>u << 2), -1);
      const dz = <f64>zf - z0, da = <f64>af - a0;
      tz += dz; tzz += dz * dz; ta += da; taa += da * da;
    }
  }
  let dead = 0;
  for (let u = 0; u < U; u++) if (load<i32>(alive + (<usize>u << 2)) == 0) dead++;
  store<f64>(out, lanes(sz) + tz); store<f64>(out, lanes(ssz) + tzz, 8);
  store<f64>(out, lanes(sa) + ta, 16); store<f64>(out, lanes(ssa) + taa, 24);
  store<f64>(out, <f64>dead, 32);
}

/**
 * dZ ← dZ ⊙ f'(Z) over n values for relu (f' = 1 for z > 0, else 0) or leaky relu (else α), or
 * leaves dZ as it is (mode 0, linear), with [Σg, Σg², zeros] of the result at `out` (float64;
 * the count of zeros tells the products that follow whether skipping them pays, gemm-sparse.ts).
 */
export function reluBackward(z: usize, dz: usize, n: i32, mode: i32, alpha: f32, out: usize): void {
  const zero = f32x4.splat(0), al = f32x4.splat(alpha);
  let s = f64x2.splat(0), ss = s;
  let ts = 0.0, tss = 0.0;
  let zeros = i32x4.splat(0), tz = 0;
  const n4 = n & ~3;
  for (let j = 0; j < n4; j += 4) {
    const o = <usize>j << 2;
    let g = v128.load(dz + o);
    if (mode != 0) {
      const pos = f32x4.gt(v128.load(z + o), zero);
      g = v128.bitselect(g, mode == 2 ? f32x4.mul(g, al) : zero, pos);
      v128.store(dz + o, g);
    }
    const gl = f64x2.promote_low_f32x4(g), gh = f64x2.promote_low_f32x4(v128.shuffle<f32>(g, g, 2, 3, 2, 3));
    s = f64x2.add(s, f64x2.add(gl, gh));
    ss = f64x2.add(ss, f64x2.add(f64x2.mul(gl, gl), f64x2.mul(gh, gh)));
    zeros = i32x4.sub(zeros, f32x4.eq(g, zero));
  }
  for (let j = n4; j < n; j++) {
    const o = <usize>j << 2;
    let g = load<f32>(dz + o);
    if (mode != 0) {
      if (!(load<f32>(z + o) > 0)) g = mode == 2 ? g * alpha : 0;
      store<f32>(dz + o, g);
    }
    ts += <f64>g; tss += <f64>g * <f64>g;
    tz += i32(g == 0);
  }
  store<f64>(out, lanes(s) + ts); store<f64>(out, lanes(ss) + tss, 8);
  const zc = i32x4.extract_lane(zeros, 0) + i32x4.extract_lane(zeros, 1) + i32x4.extract_lane(zeros, 2) + i32x4.extract_lane(zeros, 3);
  store<f64>(out, <f64>(zc + tz), 16);
}

/**
 * db[u] = Σ_i dZ[i,u] over dZ[B×U] whose rows are `stride` values apart (a column range of a wider
 * matrix), accumulated in float32 row by row (as the TS reference).
 */
export function columnSums(dz: usize, db: usize, B: i32, U: i32, stride: i32): void {
  memory.fill(db, 0, <usize>U << 2);
  const U4 = U & ~3;
  for (let i = 0; i < B; i++) {
    const row = dz + (<usize>i * <usize>stride << 2);
    for (let u = 0; u < U4; u += 4) {
      const o = <usize>u << 2;
      v128.store(db + o, f32x4.add(v128.load(db + o), v128.load(row + o)));
    }
    for (let u = U4; u < U; u++) {
      const o = <usize>u << 2;
      store<f32>(db + o, load<f32>(db + o) + load<f32>(row + o));
    }
  }
}

/**
 * Copies a B×w block (its rows w values apart) into columns u0 … u0 + w − 1 of B rows U values
 * apart: a thread's half of the first layer's units into the layer's Z and A (network.ts).
 */
export function placeColumns(src: usize, dst: usize, B: i32, w: i32, U: i32, u0: i32): void {
  for (let i = 0; i < B; i++)
    memory.copy(dst + ((<usize>i * <usize>U + <usize>u0) << 2), src + ((<usize>i * <usize>w) << 2), <usize>w << 2);
}

// The Hessian-vector products' passes (core/hessian-operator.ts), as its TS loops give them: a
// float32 sum or product rounded once is what TS gets by rounding the float64 one.

/** y ← y + x over n float32 values. */
export function addInto(y: usize, x: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, f32x4.add(v128.load(y + o), v128.load(x + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, load<f32>(y + o) + load<f32>(x + o));
  }
}

/** y ← d ⊙ x over n float32 values (y may be x), returning how many of the new y are 0. */
export function mulInto(y: usize, d: usize, x: usize, n: i32): i32 {
  const zero = f32x4.splat(0);
  let zeros = i32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const v = f32x4.mul(v128.load(d + o), v128.load(x + o));
    v128.store(y + o, v);
    zeros = i32x4.sub(zeros, f32x4.eq(v, zero)); // a lane equal to 0 is all ones: −1
  }
  let z = i32x4.extract_lane(zeros, 0) + i32x4.extract_lane(zeros, 1) + i32x4.extract_lane(zeros, 2) + i32x4.extract_lane(zeros, 3);
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const v = load<f32>(d + o) * load<f32>(x + o);
    store<f32>(y + o, v);
    if (v == 0) z++;
  }
  return z;
}

/** y ← y ⊙ d + c ⊙ r over n float32 values, each in float64 and rounded once to float32. */
export function mulAddInto(y: usize, d: usize, c: usize, r: usize, n: i32): void {
  let i = 0;
  for (; i + 2 <= n; i += 2) {
    const o = <usize>i << 2;
    const yd = f64x2.mul(f64x2.promote_low_f32x4(v128.load64_zero(y + o)), f64x2.promote_low_f32x4(v128.load64_zero(d + o)));
    const cr = f64x2.mul(f64x2.promote_low_f32x4(v128.load64_zero(c + o)), f64x2.promote_low_f32x4(v128.load64_zero(r + o)));
    v128.store64_lane(y + o, f32x4.demote_f64x2_zero(f64x2.add(yd, cr)), 0);
  }
  if (i < n) {
    const o = <usize>i << 2;
    store<f32>(y + o, <f32>(<f64>load<f32>(y + o) * <f64>load<f32>(d + o) + <f64>load<f32>(c + o) * <f64>load<f32>(r + o)));
  }
}
