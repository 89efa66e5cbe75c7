// Optimiser steps of the Layerwise core in WebAssembly, one pass per tensor that also gathers the
// statistics the step event reports. Semantics as src/core/optimizers.ts (PyTorch's); θ, g and the
// state are float32 in memory, the sums are float64, written at `out`:
//   out[0] Σ(θ_after − θ_before)²   out[1] Σθ_before   out[2] Σθ_before²   out[3] Σg   out[4] Σg²

@inline function finish(out: usize, sq: f64, s1: f64, s2: f64, g1: f64, g2: f64): void {
  store<f64>(out, sq); store<f64>(out, s1, 8); store<f64>(out, s2, 16); store<f64>(out, g1, 24); store<f64>(out, g2, 32);
}

/** θ ← θ − η·g */
export function sgd(theta: usize, g: usize, n: i32, lr: f64, out: usize): void {
  let sq = 0.0, s1 = 0.0, s2 = 0.0, g1 = 0.0, g2 = 0.0;
  for (let i = 0; i < n; i++) {
    const p = theta + (<usize>i << 2);
    const old = <f64>load<f32>(p), gi = <f64>load<f32>(g + (<usize>i << 2));
    const nw = <f32>(old - lr * gi);
    store<f32>(p, nw);
    const d = <f64>nw - old;
    sq += d * d; s1 += old; s2 += old * old; g1 += gi; g2 += gi * gi;
  }
  finish(out, sq, s1, s2, g1, g2);
}

/** v ← μv + g (v = g on the first step), θ ← θ − η·v */
export function momentum(theta: usize, g: usize, v: usize, n: i32, lr: f64, mu: f64, first: bool, out: usize): void {
  let sq = 0.0, s1 = 0.0, s2 = 0.0, g1 = 0.0, g2 = 0.0;
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const gi = <f64>load<f32>(g + o);
    const vi = <f32>(first ? gi : mu * <f64>load<f32>(v + o) + gi);
    store<f32>(v + o, vi);
    const old = <f64>load<f32>(theta + o);
    const nw = <f32>(old - lr * <f64>vi);
    store<f32>(theta + o, nw);
    const d = <f64>nw - old;
    sq += d * d; s1 += old; s2 += old * old; g1 += gi; g2 += gi * gi;
  }
  finish(out, sq, s1, s2, g1, g2);
}

/** Adam with bias correction: θ ← θ − (η/bc1)·m / (√v/√bc2 + ε) */
export function adam(theta: usize, g: usize, m: usize, v: usize, n: i32, b1: f64, b2: f64, eps: f64, stepSize: f64, sqrtBc2: f64, out: usize): void {
  let sq = 0.0, s1 = 0.0, s2 = 0.0, g1 = 0.0, g2 = 0.0;
  for (let i = 0; i < n; i++) {
    const o = <usize>i << 2;
    const gi = <f64>load<f32>(g + o);
    const mi = <f32>(b1 * <f64>load<f32>(m + o) + (1 - b1) * gi);
    const vi = <f32>(b2 * <f64>load<f32>(v + o) + (1 - b2) * gi * gi);
    store<f32>(m + o, mi);
    store<f32>(v + o, vi);
    const denom = Math.sqrt(<f64>vi) / sqrtBc2 + eps;
    const old = <f64>load<f32>(theta + o);
    const nw = <f32>(old - stepSize * (<f64>mi / denom));
    store<f32>(theta + o, nw);
    const d = <f64>nw - old;
    sq += d * d; s1 += old; s2 += old * old; g1 += gi; g2 += gi * gi;
  }
  finish(out, sq, s1, s2, g1, g2);
}
