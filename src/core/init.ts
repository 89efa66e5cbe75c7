/**
 * Weight initialisers with PyTorch's definitions (torch.nn.init), for a weight matrix W of shape
 * [units, fanIn]; fan_in = fanIn (inputs), fan_out = units.
 *
 * | scheme         | distribution                              | default gain            |
 * |----------------|-------------------------------------------|-------------------------|
 * | xavier_uniform | U(±gain·√(6/(fan_in+fan_out)))            | 1                       |
 * | xavier_normal  | N(0, std = gain·√(2/(fan_in+fan_out)))    | 1                       |
 * | he_normal      | N(0, std = gain/√fan)                     | calculate_gain(f)       |
 * | he_uniform     | U(±gain·√(3/fan))  (= U(±√(6/n_in)) relu) | calculate_gain(f)       |
 * | lecun_normal   | N(0, std = gain/√fan)                     | 1                       |
 * | lecun_uniform  | U(±gain·√(3/fan))                         | 1                       |
 * | orthogonal     | gain·Q, Q from the QR of a N(0,1) matrix   | 1                       |
 * | pytorch        | U(±1/√fan_in), nn.Linear's default:        | (kaiming_uniform_ with  |
 * |                | its bias U(±1/√fan_in) too (sampleBias)    | a = √5: gain √(1/3))    |
 * | trunc_normal   | N(mean, std²) cut to [a, b] (a, b values of W, | —                     |
 * |                | not in stds; defaults 0, 1, −2, 2)          |                         |
 * | zeros / ones / constant(value) / normal(mean,std) / uniform(low,high)              |
 *
 * `fan` is fan_in or fan_out by `mode` (default fan_in). Var(W) of each scheme is exact (see
 * `initVariance`), which the mean-field analysis uses.
 */
import type { Activation } from './activations';
import { calculateGain } from './activations';
import { normCdf, normPdf, normQuantile } from './erf';
import type { FArray } from './kernels';
import type { InitSpec, LayerSpec } from './spec';
import type { Rng } from './rng';

/** The gain the scheme uses: the explicit one, or the scheme's default for this activation. */
export function initGain(init: InitSpec, act: Activation): number {
  if (init.gain !== undefined) return init.gain;
  if (init.scheme === 'he_normal' || init.scheme === 'he_uniform') return calculateGain(act);
  return 1;
}

function fanOf(init: InitSpec, fanIn: number, fanOut: number): number {
  return init.mode === 'fan_out' ? fanOut : fanIn;
}

/** Standard deviation (normal schemes) or half-width (uniform schemes) of the distribution. */
function initScale(init: InitSpec, act: Activation, fanIn: number, fanOut: number): number {
  const g = initGain(init, act);
  const fan = fanOf(init, fanIn, fanOut);
  switch (init.scheme) {
    case 'xavier_uniform':
      return g * Math.sqrt(6 / (fanIn + fanOut));
    case 'xavier_normal':
      return g * Math.sqrt(2 / (fanIn + fanOut));
    case 'he_normal':
    case 'lecun_normal':
      return g / Math.sqrt(fan);
    case 'he_uniform':
    case 'lecun_uniform':
      return g * Math.sqrt(3 / fan);
    case 'pytorch':
      return 1 / Math.sqrt(fanIn);
    case 'normal':
    case 'trunc_normal':
      return init.std ?? 1;
    case 'uniform':
      return ((init.high ?? 1) - (init.low ?? 0)) / 2;
    case 'orthogonal':
      return g;
    case 'zeros':
    case 'ones':
    case 'constant':
      return 0;
  }
}

/**
 * The mean of one weight under the scheme: normal's mean, uniform's (low + high)/2, the truncated
 * normal's (truncatedNormalMoments), constant's value and ones' 1; 0 for the zero-mean schemes.
 */
export function initMean(init: InitSpec, act: Activation, fanIn: number, fanOut: number): number {
  switch (init.scheme) {
    case 'normal':
      return init.mean ?? 0;
    case 'uniform':
      return ((init.low ?? 0) + (init.high ?? 1)) / 2;
    case 'trunc_normal':
      return truncatedNormalMoments(init.mean ?? 0, initScale(init, act, fanIn, fanOut), init.a ?? -2, init.b ?? 2)
        .mean;
    case 'constant':
      return init.value ?? 0;
    case 'ones':
      return 1;
    default:
      return 0;
  }
}

/**
 * The exact variance of one weight under the scheme: uniform U(±a) has a²/3, normal std s has s²,
 * U(low, high) has (high−low)²/12, orthogonal gain²·min(r,c)/(r·c) (its mean square), constants 0,
 * trunc_normal that of the truncated normal (truncatedNormalMoments).
 */
export function initVariance(init: InitSpec, act: Activation, fanIn: number, fanOut: number): number {
  const s = initScale(init, act, fanIn, fanOut);
  switch (init.scheme) {
    case 'xavier_uniform':
    case 'he_uniform':
    case 'lecun_uniform':
    case 'pytorch':
      return (s * s) / 3;
    case 'xavier_normal':
    case 'he_normal':
    case 'lecun_normal':
    case 'normal':
      return s * s;
    case 'uniform':
      return (s * 2 * (s * 2)) / 12;
    case 'trunc_normal':
      return truncatedNormalMoments(init.mean ?? 0, s, init.a ?? -2, init.b ?? 2).var;
    case 'orthogonal':
      return (s * s * Math.min(fanIn, fanOut)) / (fanIn * fanOut);
    case 'zeros':
    case 'ones':
    case 'constant':
      return 0;
  }
}

/**
 * A layer's initial bias: its constant `bias`, or, where the spec says `randomBias` (the pytorch
 * scheme: nn.Linear.reset_parameters), U(±1/√fan_in), whose mean is 0 and variance 1/(3·fan_in).
 */
export function biasMoments(layer: LayerSpec, fanIn: number): { mean: number; var: number } {
  return layer.randomBias ? { mean: 0, var: 1 / (3 * fanIn) } : { mean: layer.bias, var: 0 };
}

/** Fills `out` (the layer's units) with its initial bias (biasMoments), drawing from `rng` if random. */
export function sampleBias(layer: LayerSpec, fanIn: number, rng: Rng, out: FArray): void {
  if (!layer.randomBias) return void out.fill(layer.bias);
  const bound = 1 / Math.sqrt(fanIn);
  for (let u = 0; u < out.length; u++) out[u] = rng.uniformIn(-bound, bound);
}

/** Fills `out` (length units·fanIn, row-major [units, fanIn]) with a sample of the scheme. */
export function sampleInit(
  init: InitSpec,
  act: Activation,
  fanIn: number,
  fanOut: number,
  rng: Rng,
  out: Float64Array,
): void {
  const n = fanIn * fanOut;
  if (out.length !== n) throw new RangeError(`init buffer has ${out.length} values, expected ${n}`);
  const s = initScale(init, act, fanIn, fanOut);
  switch (init.scheme) {
    case 'xavier_uniform':
    case 'he_uniform':
    case 'lecun_uniform':
    case 'pytorch':
      for (let i = 0; i < n; i++) out[i] = rng.uniformIn(-s, s);
      return;
    case 'xavier_normal':
    case 'he_normal':
    case 'lecun_normal':
      for (let i = 0; i < n; i++) out[i] = s * rng.normal();
      return;
    case 'normal': {
      const m = init.mean ?? 0;
      for (let i = 0; i < n; i++) out[i] = m + s * rng.normal();
      return;
    }
    case 'uniform': {
      const lo = init.low ?? 0,
        hi = init.high ?? 1;
      for (let i = 0; i < n; i++) out[i] = rng.uniformIn(lo, hi);
      return;
    }
    case 'trunc_normal':
      truncatedNormal(init.mean ?? 0, s, init.a ?? -2, init.b ?? 2, rng, out);
      return;
    case 'zeros':
      out.fill(0);
      return;
    case 'ones':
      out.fill(1);
      return;
    case 'constant':
      out.fill(init.value ?? 0);
      return;
    case 'orthogonal':
      orthogonal(fanOut, fanIn, s, rng, out);
      return;
  }
}

/**
 * [a, b] in standard units of N(μ, σ²), on the side of the mean where Φ keeps its precision: W =
 * μ + sign·σ·x with x in [lo, hi]; both cut-offs above μ are mirrored below it (sign −1).
 */
function standardCut(mu: number, sigma: number, a: number, b: number): { lo: number; hi: number; sign: number } {
  return a - mu > 0
    ? { lo: (mu - b) / sigma, hi: (mu - a) / sigma, sign: -1 }
    : { lo: (a - mu) / sigma, hi: (b - mu) / sigma, sign: 1 };
}

/**
 * The mean and variance of N(μ, σ²) cut to [a, b]: with α = (a−μ)/σ, β = (b−μ)/σ and
 * Z = Φ(β) − Φ(α),
 *   E[W]   = μ + σ·(φ(α) − φ(β))/Z
 *   Var(W) = σ²·(1 + (α·φ(α) − β·φ(β))/Z − ((φ(α) − φ(β))/Z)²).
 * Computed on the side of the mean where Φ keeps its precision (both cut-offs above μ: mirrored);
 * an interval narrower than 10⁻⁴·σ is uniform on it to that order ((b−a)²/12); one with no mass
 * left in double precision (beyond ~38 σ from μ) puts every value at its nearer end.
 * σ = 0: the mean clamped to [a, b], variance 0.
 */
export function truncatedNormalMoments(mu: number, sigma: number, a: number, b: number): { mean: number; var: number } {
  if (!(sigma > 0)) return { mean: Math.min(Math.max(mu, a), b), var: 0 };
  const { lo, hi, sign } = standardCut(mu, sigma, a, b);
  if (hi - lo < 1e-4) return { mean: mu + sign * sigma * ((lo + hi) / 2), var: (sigma * (hi - lo)) ** 2 / 12 };
  const Z = normCdf(hi) - normCdf(lo);
  if (!(Z > 0)) return { mean: mu + sign * sigma * hi, var: 0 };
  const pLo = normPdf(lo),
    pHi = normPdf(hi);
  // α·φ(α) is 0 at an infinite cut-off
  const xpLo = Number.isFinite(lo) ? lo * pLo : 0,
    xpHi = Number.isFinite(hi) ? hi * pHi : 0;
  const r1 = (pLo - pHi) / Z,
    r2 = (xpLo - xpHi) / Z;
  return { mean: mu + sign * sigma * r1, var: Math.max(0, sigma * sigma * (1 + r2 - r1 * r1)) };
}

/**
 * torch.nn.init.trunc_normal_(W, mean, std, a, b): values of N(mean, std²) in [a, b] (a and b
 * are values, not multiples of std: trunc_normal_(std=0.02) with the default ±2 cuts nothing).
 * By the inverse distribution function, as PyTorch does: u uniform between Φ(α) and Φ(β), then
 * mean + std·Φ⁻¹(u), clamped to [a, b]; one uniform draw a value, on the side of the mean where Φ
 * keeps its precision (both cut-offs above the mean: mirrored). An interval with no mass left in
 * double precision (~38 std beyond the mean) gets its nearer cut-off, and draws nothing.
 */
function truncatedNormal(mu: number, sigma: number, a: number, b: number, rng: Rng, out: Float64Array): void {
  if (!(sigma > 0)) return void out.fill(Math.min(Math.max(mu, a), b));
  const { lo, hi, sign } = standardCut(mu, sigma, a, b);
  const pLo = normCdf(lo),
    pHi = normCdf(hi);
  // no mass left in double precision: the nearer cut-off (as truncatedNormalMoments has it)
  if (!(pHi > pLo)) return void out.fill(Math.min(Math.max(mu + sign * sigma * hi, a), b));
  for (let i = 0; i < out.length; i++) {
    const x = Math.min(Math.max(normQuantile(pLo + (pHi - pLo) * rng.uniform()), lo), hi);
    out[i] = Math.min(Math.max(mu + sign * sigma * x, a), b);
  }
}

/**
 * torch.nn.init.orthogonal_: draw a rows×cols N(0,1) matrix, transpose it if rows < cols, take
 * the Q of its reduced QR with R's diagonal made positive (= Gram–Schmidt), transpose back, scale
 * by gain. Rows (or columns, whichever are fewer) of the result are orthonormal·gain.
 */
function orthogonal(rows: number, cols: number, gain: number, rng: Rng, out: Float64Array): void {
  const m = Math.max(rows, cols),
    k = Math.min(rows, cols);
  // q holds k column vectors of length m, column-major.
  const q = new Float64Array(m * k);
  for (let i = 0; i < m * k; i++) q[i] = rng.normal();
  for (let j = 0; j < k; j++) {
    const cj = j * m;
    // Modified Gram–Schmidt, twice for numerical orthogonality.
    for (let pass = 0; pass < 2; pass++) {
      for (let p = 0; p < j; p++) {
        const cp = p * m;
        let d = 0;
        for (let i = 0; i < m; i++) d += q[cp + i]! * q[cj + i]!;
        for (let i = 0; i < m; i++) q[cj + i] = q[cj + i]! - d * q[cp + i]!;
      }
    }
    let norm = 0;
    for (let i = 0; i < m; i++) norm += q[cj + i]! * q[cj + i]!;
    norm = Math.sqrt(norm);
    for (let i = 0; i < m; i++) q[cj + i] = q[cj + i]! / norm;
  }
  if (rows >= cols) {
    // W[r][c] = q column c, entry r
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r * cols + c] = gain * q[c * m + r]!;
  } else {
    // W = Qᵀ: W[r][c] = q column r, entry c
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r * cols + c] = gain * q[r * m + c]!;
  }
}
