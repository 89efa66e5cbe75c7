/** Recursive comparison of JSON values: numbers within rtol·max(|a|, |b|, √var for a moment's mean) + atol, the rest exact. */
interface Mismatch {
  path: string;
  actual: unknown;
  expected: unknown;
}

export function compareJson(
  actual: unknown,
  expected: unknown,
  rtol: number,
  atol: number,
  path = '$',
  out: Mismatch[] = [],
  /**
   * A floor under the relative tolerance's scale: a moment's mean is compared on the scale of its
   * spread (√var of the same object), since a float32 mean of values of size σ is known to a
   * relative error of σ, not of itself (two kernels summing in different orders differ by
   * ~1e-7·σ around a mean near 0).
   */
  scale = 0,
): Mismatch[] {
  if (typeof expected === 'number') {
    const ok =
      typeof actual === 'number' &&
      Math.abs(actual - expected) <= rtol * Math.max(Math.abs(actual), Math.abs(expected), scale) + atol;
    if (!ok) out.push({ path, actual, expected });
  } else if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length)
      out.push({
        path,
        actual: Array.isArray(actual) ? `length ${actual.length}` : actual,
        expected: `length ${expected.length}`,
      });
    else expected.forEach((e, i) => compareJson(actual[i], e, rtol, atol, `${path}[${i}]`, out));
  } else if (expected !== null && typeof expected === 'object') {
    if (actual === null || typeof actual !== 'object') out.push({ path, actual, expected: 'an object' });
    else {
      const v = (expected as { var?: unknown }).var;
      const spread = typeof v === 'number' && v > 0 ? Math.sqrt(v) : 0;
      for (const [k, e] of Object.entries(expected))
        compareJson(
          (actual as Record<string, unknown>)[k],
          e,
          rtol,
          atol,
          `${path}.${k}`,
          out,
          k === 'mean' ? spread : 0,
        );
    }
  } else if (actual !== expected) out.push({ path, actual, expected });
  return out;
}
