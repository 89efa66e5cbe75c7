// Optimiser steps of the Layerwise core in WebAssembly SIMD, one pass per tensor that also gathers
// the statistics the step event reports. Semantics as src/core/optimizers.ts (PyTorch's): θ, g
// and the state are float32 in memory; each update is computed in float64 and rounded once to
// float32, as the TS reference does; the sums are float64, written at `out`:
//   out[0] Σ(θ_after − θ_before)²   out[1] Σθ_before   out[2] Σθ_before²   out[3] Σg   out[4] Σg²
// Four values a step: two f64x2 halves of one f32x4, then a scalar tail. Σ(Δθ)² and Σg² add in
// float32 lanes over blocks of 32 values before they join their float64 sums (a quarter fewer
// operations; within 10⁻⁶ of the TS reference's float64 sums: they are norms, nothing cancels).

const SGD = 0, MOMENTUM = 1, ADAM = 2;

@inline function lo(v: v128): v128 { return f64x2.promote_low_f32x4(v); }
@inline function hi(v: v128): v128 { return f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 2, 3)); }
/** The four float32 roundings of two f64x2 halves. */
@inline function pack(l: v128, h: v128): v128 {
  return v128.shuffle<f32>(f32x4.demote_f64x2_zero(l), f32x4.demote_f64x2_zero(h), 0, 1, 4, 5);
}
@inline function sq2(a: v128, b: v128): v128 { return f64x2.add(f64x2.mul(a, a), f64x2.mul(b, b)); }
@inline function lanes(v: v128): f64 { return f64x2.extract_lane(v, 0) + f64x2.extract_lane(v, 1); }

/**
 * sgd:      θ ← θ − η·g                                           (a = η)
 * momentum: v ← μv + g (v = g on the first step), θ ← θ − η·v     (a = η, b = μ)
 * adam:     m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², θ ← θ − (η/bc₁)·m/(√v/√bc₂ + ε)
 *           (a = η/bc₁, b = β₁, c = β₂, d = ε, e = √bc₂)
 */
@inline function step(mode: i32, theta: usize, g: usize, m: usize, v: usize, n: i32, a: f64, b: f64, c: f64, d: f64, e: f64, first: bool, out: usize): void {
  const av = f64x2.splat(a), bv = f64x2.splat(b), cv = f64x2.splat(c), dv = f64x2.splat(d), ev = f64x2.splat(e);
  const b1v = f64x2.splat(1 - b), c1v = f64x2.splat(1 - c);
  let sq = f64x2.splat(0), s1 = sq, s2 = sq, g1 = sq, g2 = sq;
  const n4 = n & ~3;
  let i = 0;
  while (i < n4) {
    // A block of up to 32 values: two sums of squares in float32 lanes (eight terms a lane, so a
    // relative error under 5·10⁻⁷ of the block's sum), then into their float64 sums.
    const end = min(n4, i + 32);
    let q = f32x4.splat(0), u2 = q;
    for (; i < end; i += 4) {
      const o = <usize>i << 2;
      const t4 = v128.load(theta + o), g4 = v128.load(g + o);
      const tl = lo(t4), th = lo(v128.load64_zero(theta + o + 8)), gl = lo(g4), gh = lo(v128.load64_zero(g + o + 8));
      let nl: v128, nh: v128;
      if (mode == SGD) {
        nl = f64x2.sub(tl, f64x2.mul(av, gl)); nh = f64x2.sub(th, f64x2.mul(av, gh));
      } else if (mode == MOMENTUM) {
        const v4 = first ? g4 : pack(f64x2.add(f64x2.mul(bv, lo(v128.load(m + o))), gl), f64x2.add(f64x2.mul(bv, hi(v128.load(m + o))), gh));
        v128.store(m + o, v4);
        nl = f64x2.sub(tl, f64x2.mul(av, lo(v4))); nh = f64x2.sub(th, f64x2.mul(av, hi(v4)));
      } else {
        const m0 = v128.load(m + o), v0 = v128.load(v + o);
        const m4 = pack(f64x2.add(f64x2.mul(bv, lo(m0)), f64x2.mul(b1v, gl)), f64x2.add(f64x2.mul(bv, hi(m0)), f64x2.mul(b1v, gh)));
        const v4 = pack(f64x2.add(f64x2.mul(cv, lo(v0)), f64x2.mul(f64x2.mul(c1v, gl), gl)), f64x2.add(f64x2.mul(cv, hi(v0)), f64x2.mul(f64x2.mul(c1v, gh), gh)));
        v128.store(m + o, m4); v128.store(v + o, v4);
        const dl = f64x2.add(f64x2.div(f64x2.sqrt(lo(v4)), ev), dv), dh = f64x2.add(f64x2.div(f64x2.sqrt(hi(v4)), ev), dv);
        nl = f64x2.sub(tl, f64x2.mul(av, f64x2.div(lo(m4), dl))); nh = f64x2.sub(th, f64x2.mul(av, f64x2.div(hi(m4), dh)));
      }
      const n4v = pack(nl, nh);
      v128.store(theta + o, n4v);
      // θ_after − θ_before in float32: exact when the two are within a factor 2 (Sterbenz)
      const x = f32x4.sub(n4v, t4);
      q = f32x4.add(q, f32x4.mul(x, x)); u2 = f32x4.add(u2, f32x4.mul(g4, g4));
      // the weights' sums stay in float64: their variance Σθ²/n − (Σθ/n)² cancels when the
      // weights are nearly equal (a constant init); so does Σg
      s1 = f64x2.add(s1, f64x2.add(tl, th)); s2 = f64x2.add(s2, sq2(tl, th)); g1 = f64x2.add(g1, f64x2.add(gl, gh));
    }
    sq = f64x2.add(sq, f64x2.add(lo(q), hi(q)));
    g2 = f64x2.add(g2, f64x2.add(lo(u2), hi(u2)));
  }
  let tsq = 0.0, ts1 = 0.0, ts2 = 0.0, tg1 = 0.0, tg2 = 0.0;
  for (i = n4; i < n; i++) {
    const o = <usize>i << 2;
    const old = <f64>load<f32>(theta + o), gi = <f64>load<f32>(g + o);
    let nw: f32;
    if (mode == SGD) nw = <f32>(old - a * gi);
    else if (mode == MOMENTUM) {
      const vi = <f32>(first ? gi : b * <f64>load<f32>(m + o) + gi);
      store<f32>(m + o, vi);
      nw = <f32>(old - a * <f64>vi);
    } else {
      const mi = <f32>(b * <f64>load<f32>(m + o) + (1 - b) * gi);
      const vi = <f32>(c * <f64>load<f32>(v + o) + (1 - c) * gi * gi);
      store<f32>(m + o, mi); store<f32>(v + o, vi);
      nw = <f32>(old - a * (<f64>mi / (Math.sqrt(<f64>vi) / e + d)));
    }
    store<f32>(theta + o, nw);
    const x = <f64>nw - old;
    tsq += x * x; ts1 += old; ts2 += old * old; tg1 += gi; tg2 += gi * gi;
  }
  store<f64>(out, lanes(sq) + tsq); store<f64>(out, lanes(s1) + ts1, 8); store<f64>(out, lanes(s2) + ts2, 16);
  store<f64>(out, lanes(g1) + tg1, 24); store<f64>(out, lanes(g2) + tg2, 32);
}

/** θ ← θ − η·g */
export function sgd(theta: usize, g: usize, n: i32, lr: f64, out: usize): void {
  step(SGD, theta, g, 0, 0, n, lr, 0, 0, 0, 1, false, out);
}

/** v ← μv + g (v = g on the first step), θ ← θ − η·v */
export function momentum(theta: usize, g: usize, v: usize, n: i32, lr: f64, mu: f64, first: bool, out: usize): void {
  step(MOMENTUM, theta, g, v, 0, n, lr, mu, 0, 0, 1, first, out);
}

/** Adam with bias correction: θ ← θ − (η/bc1)·m / (√v/√bc2 + ε) */
export function adam(theta: usize, g: usize, m: usize, v: usize, n: i32, b1: f64, b2: f64, eps: f64, stepSize: f64, sqrtBc2: f64, out: usize): void {
  step(ADAM, theta, g, m, v, n, stepSize, b1, b2, eps, sqrtBc2, false, out);
}
