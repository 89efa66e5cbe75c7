/**
 * Quantiles read off a histogram event (what the distribution chart draws as bands): the exact
 * zeros are a point mass at 0, the values below/above the edges a point mass at the first/last
 * edge (they lie beyond it; the band's outer edge is then a bound, not the value), the bins are
 * uniform within. NaN/Inf are not part of the distribution. Display only: the numbers the run
 * measured are the histogram's counts.
 */
import type { Histogram } from '../src/protocol/events';

/** The quantiles the bands use: 5 %, 25 %, 50 %, 75 %, 95 %. */
const BAND_PS = [0.05, 0.25, 0.5, 0.75, 0.95] as const;

export function quantiles(h: Histogram, ps: readonly number[] = BAND_PS): number[] | null {
  const segs: [number, number, number][] = [];
  if (h.edges.length === h.counts.length + 1 && h.counts.length > 0) {
    if (h.below > 0) segs.push([h.edges[0]!, h.edges[0]!, h.below]);
    h.counts.forEach((c, j) => c > 0 && segs.push([h.edges[j]!, h.edges[j + 1]!, c]));
    if (h.above > 0) segs.push([h.edges.at(-1)!, h.edges.at(-1)!, h.above]);
  }
  if (h.zeros > 0) segs.push([0, 0, h.zeros]);
  const n = segs.reduce((a, s) => a + s[2], 0);
  if (n === 0) return null;
  // the point mass at 0 may fall inside a bin's range: order by where each segment starts
  segs.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  return ps.map((p) => {
    let left = p * n;
    for (const [lo, hi, c] of segs) {
      if (left <= c) return lo + (hi - lo) * (c > 0 ? left / c : 0);
      left -= c;
    }
    return segs.at(-1)![1];
  });
}
