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
 * Two passes (moments and extremes, then counts), on histogram steps only.
 */
import type { Histogram } from '../protocol/events';
import type { FArray } from './kernels';

const HISTOGRAM_BINS = 32;

/** How far from the mean, in standard deviations, the bins reach before values count as tails. */
const HISTOGRAM_SIGMAS = 4;

/** The histogram of the first n values of `a`. */
export function histogram(a: FArray, n: number): Histogram {
  let count = 0,
    zeros = 0,
    nonFinite = 0,
    min = Infinity,
    max = -Infinity,
    mean = 0,
    m2 = 0;
  for (let i = 0; i < n; i++) {
    const v = a[i]!;
    if (v === 0) zeros++;
    else if (!Number.isFinite(v)) nonFinite++;
    else {
      // Welford: exact enough where the mean is large against the spread
      count++;
      const d = v - mean;
      mean += d / count;
      m2 += d * (v - mean);
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  const counts = new Array<number>(HISTOGRAM_BINS).fill(0);
  if (count === 0) return { edges: [], counts: [], zeros, below: 0, above: 0, nonFinite };
  const sd = Math.sqrt(m2 / count);
  let lo = Math.max(min, mean - HISTOGRAM_SIGMAS * sd),
    hi = Math.min(max, mean + HISTOGRAM_SIGMAS * sd);
  if (!(hi > lo)) {
    const h = Math.max(Math.abs(mean) * 1e-6, 1e-30);
    lo = mean - h;
    hi = mean + h;
  }
  const scale = HISTOGRAM_BINS / (hi - lo);
  let below = 0,
    above = 0;
  for (let i = 0; i < n; i++) {
    const v = a[i]!;
    if (v === 0 || !Number.isFinite(v)) continue;
    if (v < lo) below++;
    else if (v > hi) above++;
    else counts[Math.min(HISTOGRAM_BINS - 1, Math.floor((v - lo) * scale))]!++;
  }
  const edges = Array.from({ length: HISTOGRAM_BINS + 1 }, (_, j) =>
    j === HISTOGRAM_BINS ? hi : lo + ((hi - lo) * j) / HISTOGRAM_BINS,
  );
  return { edges, counts, zeros, below, above, nonFinite };
}
