/**
 * A distribution in HISTOGRAM_BINS equal bins, with its edges chosen per tensor so that the bulk
 * and the tails both show.
 *
 * Over the finite values that are not exactly 0 (n of them, mean μ, standard deviation σ, least
 * m, largest M): the edges span [lo, hi] = [max(m, μ − 4σ), min(M, μ + 4σ)] in 32 equal bins
 * (a value v in [lo, hi] falls in bin ⌊32·(v − lo)/(hi − lo)⌋, the last bin closed). Counted
 * apart, never dropped: `zeros` (exactly 0: a ReLU's dead outputs and gradients), `below` and
 * `above` (beyond μ ∓ 4σ: a heavy tail that the bins would otherwise squeeze the bulk for) and
 * `nonFinite` (NaN, ±Inf). zeros + below + above + nonFinite + Σcounts = the values counted.
 * All values equal (σ = 0): one bin of width 2·max(|v|·1e-6, 1e-30) around v.
 *
 * Two passes (moments and extremes, then counts), on histogram steps only. The moments are
 * sums shifted by the first value counted, as the forward pass's statistics are.
 */
import type { Histogram, HistogramEvent } from '../protocol/events';
import type { FArray } from './kernels';

const HISTOGRAM_BINS = 32;

/** How far from the mean, in standard deviations, the bins reach before values count as tails. */
const HISTOGRAM_SIGMAS = 4;

/** The histogram of the first n values of `a`. */
export function histogram(a: FArray, n: number): Histogram {
  // pass 1: counts apart, extremes, and the moments as sums shifted by the first counted value
  // (exact where the mean is large against the spread, with no division a value)
  let count = 0,
    zeros = 0,
    nonFinite = 0,
    min = Infinity,
    max = -Infinity,
    shift = 0,
    s1 = 0,
    s2 = 0;
  for (let i = 0; i < n; i++) {
    const v = a[i]!;
    if (v === 0) zeros++;
    else if (v - v !== 0)
      nonFinite++; // NaN and ±Inf
    else {
      if (count === 0) shift = v;
      count++;
      const d = v - shift;
      s1 += d;
      s2 += d * d;
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  if (count === 0) return { edges: [], counts: [], zeros, below: 0, above: 0, nonFinite };
  const mean = shift + s1 / count;
  const sd = Math.sqrt(Math.max(0, (s2 - (s1 * s1) / count) / count));
  let lo = Math.max(min, mean - HISTOGRAM_SIGMAS * sd),
    hi = Math.min(max, mean + HISTOGRAM_SIGMAS * sd);
  if (!(hi > lo)) {
    const h = Math.max(Math.abs(mean) * 1e-6, 1e-30);
    lo = mean - h;
    hi = mean + h;
  }
  // pass 2: the bins (v − lo ≥ 0 there, so truncation is the floor)
  const counts = new Int32Array(HISTOGRAM_BINS);
  const scale = HISTOGRAM_BINS / (hi - lo),
    last = HISTOGRAM_BINS - 1;
  let below = 0,
    above = 0;
  for (let i = 0; i < n; i++) {
    const v = a[i]!;
    if (v === 0 || v - v !== 0) continue;
    if (v < lo) below++;
    else if (v > hi) above++;
    else {
      const j = ((v - lo) * scale) | 0;
      counts[j > last ? last : j]!++;
    }
  }
  const edges = Array.from({ length: HISTOGRAM_BINS + 1 }, (_, j) =>
    j === HISTOGRAM_BINS ? hi : lo + ((hi - lo) * j) / HISTOGRAM_BINS,
  );
  return { edges, counts: Array.from(counts), zeros, below, above, nonFinite };
}

/** Every layer's histograms of Z, f(Z) and ∂L/∂Z over the B rows of step k's batch. */
export function histogramEvent(
  layers: readonly { index: number; units: number; Z: FArray; A: FArray; dZ: FArray }[],
  step: number,
  B: number,
): HistogramEvent {
  return {
    type: 'histogram',
    step,
    layers: layers.map((l) => {
      const n = B * l.units,
        preact = histogram(l.Z, n);
      return { index: l.index, preact, act: l.A === l.Z ? preact : histogram(l.A, n), grad: histogram(l.dZ, n) };
    }),
  };
}
