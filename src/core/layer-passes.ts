/**
 * One layer's elementwise passes, each fused with the statistics the step reports: A = f(Z) with
 * the forward moments (network.forward, and a thread's half of the first layer in a batch split),
 * and dZ ← dZ ⊙ f'(Z) with the moments of ∂L/∂Z (the backward pass and a split thread's share of
 * it). The kernels serve them where they can; the TS references here serve the rest.
 */
import type { Activation } from './activations';
import { activate, derivative, hasDeadUnits } from './activations';
import type { ForwardMoments, GradMoments } from './layer-stats';
import type { DenseKernels, FArray } from './kernels';
import { clampVar, meanVar } from './stats';

/** What the passes read of a layer. */
interface LayerShape {
  readonly units: number;
  readonly act: Activation;
}

/** Per-pass sums the kernels or the TS reference fill (see DenseKernels.activate/derivative). */
const sums = new Float64Array(5);

/**
 * A = f(Z) in one pass that also gathers the layer's forward statistics (the kernels' pass when
 * they serve this activation). Sums are shifted by z0 = Z[0] and a0 = f(z0), so the variances
 * (Σd² − (Σd)²/n)/n stay exact when the mean is large.
 */
export function activateWithStats(
  l: LayerShape,
  Z: FArray,
  A: FArray,
  B: number,
  kernels: DenseKernels,
  m: ForwardMoments,
  U = l.units,
  alive = m.alive,
): void {
  const n = B * U,
    name = l.act.name;
  const z0 = Z[0]!;
  if (name === 'linear') {
    const mv = meanVar(Z, n);
    m.n = n;
    m.zMean = m.aMean = mv.mean;
    m.zVar = m.aVar = mv.var;
    m.saturated = 0;
    return;
  }
  const a0 = activate(l.act, z0);
  let sat = 0;
  if (!kernels.activate?.(l.act, Z, A, B, U, z0, a0, sums, alive))
    sat = activateReference(l, Z, A, B, U, z0, a0, alive);
  const sz = sums[0]!,
    ssz = sums[1]!,
    sa = sums[2]!,
    ssa = sums[3]!;
  m.n = n;
  m.zMean = z0 + sz / n;
  m.zVar = clampVar((ssz - (sz * sz) / n) / n);
  m.aMean = a0 + sa / n;
  m.aVar = clampVar((ssa - (sa * sa) / n) / n);
  m.saturated = sat;
}

/** The TS reference of activateWithStats' pass: fills `sums` and `alive`, returns the saturated count. */
function activateReference(
  l: LayerShape,
  Z: FArray,
  A: FArray,
  B: number,
  U: number,
  z0: number,
  a0: number,
  alive: Uint8Array,
): number {
  const n = B * U,
    alpha = l.act.alpha,
    name = l.act.name;
  let sz = 0,
    ssz = 0,
    sa = 0,
    ssa = 0,
    sat = 0;
  alive.fill(0);
  if (name === 'relu' || name === 'leaky_relu') {
    const relu = name === 'relu';
    for (let i = 0; i < B; i++) {
      const o = i * U;
      for (let u = 0; u < U; u++) {
        const z = Z[o + u]!;
        let a: number;
        if (z > 0) {
          a = z;
          alive[u] = 1;
        } else {
          a = relu ? 0 : alpha * z;
          if (!relu && z === 0) alive[u] = 1;
        }
        A[o + u] = a;
        const dz = z - z0,
          da = a - a0;
        sz += dz;
        ssz += dz * dz;
        sa += da;
        ssa += da * da;
      }
    }
  } else {
    const tanh = name === 'tanh',
      sig = name === 'sigmoid';
    for (let j = 0; j < n; j++) {
      const z = Z[j]!;
      const a = activate(l.act, z);
      A[j] = a;
      if (tanh ? Math.abs(a) > 0.99 : sig && (a < 0.01 || a > 0.99)) sat++;
      const dz = z - z0,
        da = a - a0;
      sz += dz;
      ssz += dz * dz;
      sa += da;
      ssa += da * da;
    }
  }
  let dead = 0;
  if (hasDeadUnits(name)) for (let u = 0; u < U; u++) if (alive[u] === 0) dead++;
  sums[0] = sz;
  sums[1] = ssz;
  sums[2] = sa;
  sums[3] = ssa;
  sums[4] = dead;
  return sat;
}

/**
 * dZ ← dZ ⊙ f'(Z) in place (the kernels' pass when they serve it), its B·U values' count, mean
 * and variance added to `g`; returns how many of them are 0 (the gradient products' plan needs it).
 */
export function applyDerivative(
  l: LayerShape,
  Z: FArray,
  A: FArray,
  dZ: FArray,
  B: number,
  kernels: DenseKernels,
  g: GradMoments,
): number {
  const n = B * l.units;
  if (!kernels.derivative?.(l.act, Z, dZ, n, sums)) derivativeReference(l, Z, A, dZ, n);
  const mean = sums[0]! / n;
  g.add(n, mean, clampVar(sums[1]! / n - mean * mean));
  return sums[2]!;
}

/** The TS reference of applyDerivative's pass: fills sums[0] = Σg, sums[1] = Σg², sums[2] = zeros. */
function derivativeReference(l: LayerShape, Z: FArray, A: FArray, dZ: FArray, n: number): void {
  const name = l.act.name,
    alpha = l.act.alpha;
  let s = 0,
    ss = 0,
    zeros = 0; // counted behind a ReLU (the one activation that makes many), 0 for the others
  switch (name) {
    case 'linear':
      for (let j = 0; j < n; j++) {
        const g = dZ[j]!;
        s += g;
        ss += g * g;
      }
      break;
    case 'relu':
      for (let j = 0; j < n; j++) {
        const g = Z[j]! > 0 ? dZ[j]! : 0;
        dZ[j] = g;
        s += g;
        ss += g * g;
        zeros += +(g === 0);
      }
      break;
    case 'leaky_relu':
      for (let j = 0; j < n; j++) {
        const g = Z[j]! > 0 ? dZ[j]! : alpha * dZ[j]!;
        dZ[j] = g;
        s += g;
        ss += g * g;
      }
      break;
    case 'tanh':
      for (let j = 0; j < n; j++) {
        const a = A[j]!;
        const g = dZ[j]! * (1 - a * a);
        dZ[j] = g;
        s += g;
        ss += g * g;
      }
      break;
    case 'sigmoid':
      for (let j = 0; j < n; j++) {
        const a = A[j]!;
        const g = dZ[j]! * (a * (1 - a));
        dZ[j] = g;
        s += g;
        ss += g * g;
      }
      break;
    case 'elu':
      for (let j = 0; j < n; j++) {
        const g = Z[j]! > 0 ? dZ[j]! : dZ[j]! * alpha * Math.exp(Z[j]!);
        dZ[j] = g;
        s += g;
        ss += g * g;
      }
      break;
    case 'gelu':
    case 'silu':
    case 'selu':
      for (let j = 0; j < n; j++) {
        const g = dZ[j]! * derivative(l.act, Z[j]!);
        dZ[j] = g;
        s += g;
        ss += g * g;
      }
      break;
  }
  sums[0] = s;
  sums[1] = ss;
  sums[2] = zeros;
}
