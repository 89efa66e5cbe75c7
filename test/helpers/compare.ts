/** Recursive comparison of JSON values: numbers within rtol·max(|a|,|b|) + atol, the rest exact. */
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
): Mismatch[] {
  if (typeof expected === 'number') {
    const ok =
      typeof actual === 'number' &&
      Math.abs(actual - expected) <= rtol * Math.max(Math.abs(actual), Math.abs(expected)) + atol;
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
    else
      for (const [k, v] of Object.entries(expected))
        compareJson((actual as Record<string, unknown>)[k], v, rtol, atol, `${path}.${k}`, out);
  } else if (actual !== expected) out.push({ path, actual, expected });
  return out;
}
