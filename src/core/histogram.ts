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

/** Values sampled to choose a pass: with zeros among them, the branch-free passes. */
const PROBE = 256;

/**
 * The histogram of the first n values of `a`. Two ways to the same counts and edges: where zeros
 * are common (a ReLU's outputs and gradients, half zeros: a test on each value mispredicts half
 * the time), passes without branches on the values; elsewhere, plain branches (cheaper when they
 * predict). The first PROBE values choose.
 */
export function histogram(a: FArray, n: number): Histogram {
  let zeros = 0;
  for (let i = 0; i < Math.min(n, PROBE); i++) if (a[i] === 0) zeros++;
  return zeros * 10 >= Math.min(n, PROBE) ? branchFree(a, n) : branchy(a, n);
}

/** The edges and the tails' limits from the moments and extremes (shared by both passes). */
function limits(count: number, shift: number, s1: number, s2: number, min: number, max: number): [number, number] {
  const mean = shift + s1 / count;
  const sd = Math.sqrt(Math.max(0, (s2 - (s1 * s1) / count) / count));
  let lo = Math.max(min, mean - HISTOGRAM_SIGMAS * sd),
    hi = Math.min(max, mean + HISTOGRAM_SIGMAS * sd);
  if (!(hi > lo)) {
    const h = Math.max(Math.abs(mean) * 1e-6, 1e-30);
    lo = mean - h;
    hi = mean + h;
  }
  return [lo, hi];
}

function edgesOf(lo: number, hi: number): number[] {
  return Array.from({ length: HISTOGRAM_BINS + 1 }, (_, j) =>
    j === HISTOGRAM_BINS ? hi : lo + ((hi - lo) * j) / HISTOGRAM_BINS,
  );
}

function branchy(a: FArray, n: number): Histogram {
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
  const [lo, hi] = limits(count, shift, s1, s2, min, max);
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
  return { edges: edgesOf(lo, hi), counts: Array.from(counts), zeros, below, above, nonFinite };
}

/**
 * The same counts and edges with no branch on whether a value is 0: a zero's term in the shifted
 * sums is multiplied by 0, and it is kept out of the extremes by moving it to ±∞; in pass 2 every finite value lands in a slot (below, a bin, above, or zero)
 * computed by arithmetic. Only non-finite values (rare) branch.
 */
function branchFree(a: FArray, n: number): Histogram {
  let shift = 0;
  for (let i = 0; i < n; i++) {
    const v = a[i]!;
    if (v !== 0 && v - v === 0) {
      shift = v;
      break;
    }
  }
  let zeros = 0,
    nonFinite = 0,
    s1 = 0,
    s2 = 0,
    min = Infinity,
    max = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = a[i]!;
    if (v - v !== 0) {
      nonFinite++;
      continue;
    }
    const z = +(v === 0);
    zeros += z;
    const d = (v - shift) * (1 - z); // a zero adds exactly 0: the sums are the branchy pass's, bit for bit
    s1 += d;
    s2 += d * d;
    const far = z * 1e300 * 1e300; // +∞ for a zero, 0 otherwise
    const up = v + far,
      down = v - far;
    if (up < min) min = up;
    if (down > max) max = down;
  }
  const count = n - zeros - nonFinite;
  if (count === 0) return { edges: [], counts: [], zeros, below: 0, above: 0, nonFinite };
  const [lo, hi] = limits(count, shift, s1, s2, min, max);
  // slots: 0 below, 1…BINS the bins, BINS + 1 above, BINS + 2 zeros
  const slots = new Int32Array(HISTOGRAM_BINS + 3);
  const scale = HISTOGRAM_BINS / (hi - lo),
    last = HISTOGRAM_BINS - 1;
  for (let i = 0; i < n; i++) {
    const v = a[i]!;
    if (v - v !== 0) continue;
    const below = +(v < lo),
      above = +(v > hi),
      z = +(v === 0);
    let j = ((v - lo) * scale) | 0;
    j = (j < 0 ? 0 : j > last ? last : j) + 1;
    let slot = (1 - below - above) * j + above * (HISTOGRAM_BINS + 1);
    slot += z * (HISTOGRAM_BINS + 2 - slot);
    slots[slot]!++;
  }
  return {
    edges: edgesOf(lo, hi),
    counts: Array.from(slots.subarray(1, HISTOGRAM_BINS + 1)),
    zeros,
    below: slots[0]!,
    above: slots[HISTOGRAM_BINS + 1]!,
    nonFinite,
  };
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
