/**
 * Natural sort order: names are compared chunk by chunk, runs of digits by their numeric value
 * (so "net.2.weight" < "net.10.weight"), other runs by code unit. Ties (e.g. "01" vs "1") fall
 * back to plain comparison so the order is total.
 */
const CHUNK = /(\d+|\D+)/g;

export function naturalCompare(a: string, b: string): number {
  const ca = a.match(CHUNK) ?? [],
    cb = b.match(CHUNK) ?? [];
  const n = Math.min(ca.length, cb.length);
  for (let i = 0; i < n; i++) {
    const x = ca[i]!,
      y = cb[i]!;
    const dx = /^\d/.test(x),
      dy = /^\d/.test(y);
    if (dx && dy) {
      const tx = x.replace(/^0+(?=\d)/, ''),
        ty = y.replace(/^0+(?=\d)/, '');
      if (tx.length !== ty.length) return tx.length - ty.length;
      if (tx !== ty) return tx < ty ? -1 : 1;
    } else if (x !== y) {
      return x < y ? -1 : 1;
    }
  }
  if (ca.length !== cb.length) return ca.length - cb.length;
  return a < b ? -1 : a > b ? 1 : 0;
}
