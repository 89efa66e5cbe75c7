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
 * Values that agree to rounding (M − m < h/32 with h = max(|μ|·2¹⁰ε, 1e-30), ε the array's
 * machine epsilon, 2⁻²³ for float32 and 2⁻⁵² for float64: within 32 ulps) have no spread to
 * resolve: the edges are [μ − 33h/32, μ + 31h/32], so μ is the middle of bin 16 and every value
 * falls in it, whatever its last bits (a batch split over processes rounds them otherwise).
 *
 * Two passes, on histogram steps only:
 * 1. moments: Σd and Σd² with d = v − shift over the counted values, shift the first of them (as
 *    the forward pass's statistics are shifted), in four lanes (value i in lane i mod 4, summed
 *    (l0 + l1) + (l2 + l3)), the extremes, zeros and non-finite values counted apart;
 * 2. slots: each value's slot (below, a bin, above, zero, non-finite), counted.
 * The kernels may serve either pass (the WebAssembly kernels do, for float32 arrays in their
 * arena: assembly/histogram.ts); the passes below are the reference they match bit for bit.
 */
import type { Histogram, HistogramEvent } from '../protocol/events';
import type { DenseKernels, FArray } from './kernels';

const HISTOGRAM_BINS = 32;

/** How far from the mean, in standard deviations, the bins reach before values count as tails. */
const HISTOGRAM_SIGMAS = 4;

/** Pass 1's results, at these offsets of a Float64Array (the kernels write the same layout). */
export const MOMENTS = { ZEROS: 0, NON_FINITE: 1, SHIFT: 2, S1: 3, S2: 4, MIN: 5, MAX: 6, LENGTH: 7 } as const;

/** Pass 2's slots, at these offsets of an Int32Array: below lo, the bins, above hi, zeros, non-finite. */
export const SLOTS = {
  BELOW: 0,
  FIRST_BIN: 1,
  ABOVE: HISTOGRAM_BINS + 1,
  ZEROS: HISTOGRAM_BINS + 2,
  NON_FINITE: HISTOGRAM_BINS + 3,
  LENGTH: HISTOGRAM_BINS + 4,
} as const;

const moments = new Float64Array(MOMENTS.LENGTH);
const slots = new Int32Array(SLOTS.LENGTH);

/** The histogram of the first n values of `a`, its passes served by `kernels` where they can. */
export function histogram(a: FArray, n: number, kernels?: DenseKernels): Histogram {
  if (!kernels?.histogramMoments?.(a, n, moments)) momentsPass(a, n, moments);
  const zeros = moments[MOMENTS.ZEROS]!,
    nonFinite = moments[MOMENTS.NON_FINITE]!,
    count = n - zeros - nonFinite;
  if (count === 0) return { edges: [], counts: [], zeros, below: 0, above: 0, nonFinite };
  const [lo, hi] = limits(
    a instanceof Float64Array ? 2 ** -52 : 2 ** -23,
    count,
    moments[MOMENTS.SHIFT]!,
    moments[MOMENTS.S1]!,
    moments[MOMENTS.S2]!,
    moments[MOMENTS.MIN]!,
    moments[MOMENTS.MAX]!,
  );
  const scale = HISTOGRAM_BINS / (hi - lo);
  if (!kernels?.histogramSlots?.(a, n, lo, hi, scale, slots)) slotsPass(a, n, lo, hi, scale, slots);
  return {
    edges: edgesOf(lo, hi),
    counts: countsOf(slots),
    zeros,
    below: slots[SLOTS.BELOW]!,
    above: slots[SLOTS.ABOVE]!,
    nonFinite,
  };
}

/** The edges and the tails' limits from the moments and extremes. */
function limits(
  eps: number,
  count: number,
  shift: number,
  s1: number,
  s2: number,
  min: number,
  max: number,
): [number, number] {
  const mean = shift + s1 / count;
  const sd = Math.sqrt(Math.max(0, (s2 - (s1 * s1) / count) / count));
  let lo = Math.max(min, mean - HISTOGRAM_SIGMAS * sd),
    hi = Math.min(max, mean + HISTOGRAM_SIGMAS * sd);
  const h = Math.max(Math.abs(mean) * 2 ** 10 * eps, 1e-30);
  if (max - min < h / 32 || !(hi > lo)) {
    lo = mean - (33 * h) / 32;
    hi = mean + (31 * h) / 32;
  }
  return [lo, hi];
}

// Plain loops: Array.from over a typed array goes through its iterator, an object a value (a
// histogram step of W5, 93 tensors, allocated ~240 KB that way).
function edgesOf(lo: number, hi: number): number[] {
  const edges: number[] = [];
  for (let j = 0; j < HISTOGRAM_BINS; j++) edges.push(lo + ((hi - lo) * j) / HISTOGRAM_BINS);
  edges.push(hi);
  return edges;
}

function countsOf(slots: Int32Array): number[] {
  const counts: number[] = [];
  for (let j = 0; j < HISTOGRAM_BINS; j++) counts.push(slots[SLOTS.FIRST_BIN + j]!);
  return counts;
}

const lane1 = new Float64Array(4),
  lane2 = new Float64Array(4);

/** Pass 1 (the reference): MOMENTS' layout at `out`. */
function momentsPass(a: FArray, n: number, out: Float64Array): void {
  let shift = 0;
  for (let i = 0; i < n; i++) {
    const v = a[i]!;
    if (v !== 0 && v - v === 0) {
      shift = v;
      break;
    }
  }
  lane1.fill(0);
  lane2.fill(0);
  let zeros = 0,
    nonFinite = 0,
    min = Infinity,
    max = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = a[i]!;
    if (v === 0) zeros++;
    else if (v - v !== 0)
      nonFinite++; // NaN and ±Inf
    else {
      const d = v - shift;
      lane1[i & 3] += d;
      lane2[i & 3] += d * d;
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  out[MOMENTS.ZEROS] = zeros;
  out[MOMENTS.NON_FINITE] = nonFinite;
  out[MOMENTS.SHIFT] = shift;
  out[MOMENTS.S1] = lane1[0]! + lane1[1]! + (lane1[2]! + lane1[3]!);
  out[MOMENTS.S2] = lane2[0]! + lane2[1]! + (lane2[2]! + lane2[3]!);
  out[MOMENTS.MIN] = min;
  out[MOMENTS.MAX] = max;
}

/** Pass 2 (the reference): SLOTS' counts at `out` (v − lo ≥ 0 in the bins, so truncation is the floor). */
function slotsPass(a: FArray, n: number, lo: number, hi: number, scale: number, out: Int32Array): void {
  out.fill(0);
  const last = HISTOGRAM_BINS - 1;
  for (let i = 0; i < n; i++) {
    const v = a[i]!;
    let slot: number;
    if (v === 0) slot = SLOTS.ZEROS;
    else if (v - v !== 0) slot = SLOTS.NON_FINITE;
    else if (v < lo) slot = SLOTS.BELOW;
    else if (v > hi) slot = SLOTS.ABOVE;
    else {
      const j = ((v - lo) * scale) | 0;
      slot = SLOTS.FIRST_BIN + (j > last ? last : j);
    }
    out[slot]!++;
  }
}

/** Every layer's histograms of Z, f(Z) and ∂L/∂Z over the B rows of step k's batch. */
export function histogramEvent(
  layers: readonly { index: number; units: number; Z: FArray; A: FArray; dZ: FArray }[],
  step: number,
  B: number,
  kernels?: DenseKernels,
): HistogramEvent {
  return {
    type: 'histogram',
    step,
    layers: layers.map((l) => {
      const n = B * l.units,
        preact = histogram(l.Z, n, kernels);
      return {
        index: l.index,
        preact,
        act: l.A === l.Z ? preact : histogram(l.A, n, kernels),
        grad: histogram(l.dZ, n, kernels),
      };
    }),
  };
}
