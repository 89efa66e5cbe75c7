// The trunc_normal init scheme (torch.nn.init.trunc_normal_): the quantile it draws with, its
// moments against numerical integration of the cut density, its draws against those moments and
// the cut distribution function, and the model file's checks. (Against PyTorch's own draws:
// python/tests/test_init.py.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normCdf, normPdf, normQuantile } from '../../src/core/erf';
import { initVariance, sampleInit, truncatedNormalMoments } from '../../src/core/init';
import { Rng } from '../../src/core/rng';
import type { InitSpec } from '../../src/core/spec';
import { loadModelText } from '../../src/modelfile/load';
import { analyze } from '../../src/core/analyze';
import type { AnalysisEvent } from '../../src/protocol/events';

const relu = { name: 'relu', alpha: 0 } as const;

test('normCdf keeps its relative precision in the lower tail (against the asymptotic series of erfc)', () => {
  // Φ(−x) = φ(x)/x · Σₙ (−1)ⁿ (2n−1)!!/x²ⁿ, an asymptotic series: twelve terms hold ~1e-11 from x = 10
  for (const x of [10, 15, 20, 30, 37]) {
    let term = 1,
      sum = 1;
    for (let n = 1; n <= 12; n++) sum += term *= -(2 * n - 1) / (x * x);
    const series = (normPdf(x) / x) * sum;
    assert.ok(Math.abs(normCdf(-x) / series - 1) < 1e-10, `Φ(−${x}) ${normCdf(-x)} vs ${series}`);
  }
  assert.equal(normCdf(-40), 0);
  // where 1 + erf was kept (above −1.25·√2) nothing moved: Φ(0) = ½, and Φ(x) + Φ(−x) = 1
  assert.equal(normCdf(0), 0.5);
  for (const x of [0.3, 1, 1.7, 2.5, 5]) assert.ok(Math.abs(normCdf(x) + normCdf(-x) - 1) < 2e-16, `x ${x}`);
});

test('normQuantile inverts normCdf (against bisection) and has the ends PyTorch’s erfinv has', () => {
  const ps = Array.from({ length: 401 }, (_, k) => 1e-6 + ((1 - 2e-6) * k) / 400);
  for (const p of [...ps, 1e-300, 1e-100, 1e-20, 1e-10]) {
    let lo = -40,
      hi = 10;
    for (let i = 0; i < 200; i++) {
      const m = (lo + hi) / 2;
      if (normCdf(m) < p) lo = m;
      else hi = m;
    }
    assert.ok(Math.abs(normQuantile(p) - lo) < 1e-10 * Math.max(1, -lo), `p ${p}: ${normQuantile(p)} against ${lo}`);
  }
  assert.equal(normQuantile(0), -Infinity);
  assert.equal(normQuantile(1), Infinity);
  assert.ok(Number.isNaN(normQuantile(-0.1)) && Number.isNaN(normQuantile(1.5)) && Number.isNaN(normQuantile(NaN)));
});

/** Mean and variance of N(μ, σ²) cut to [a, b] by composite Simpson's rule on the density (n even). */
function integrated(mu: number, sigma: number, a: number, b: number, n = 20000): { mean: number; var: number } {
  const h = (b - a) / n;
  let m0 = 0,
    m1 = 0,
    m2 = 0;
  for (let i = 0; i <= n; i++) {
    const x = a + i * h,
      w = (i === 0 || i === n ? 1 : i % 2 ? 4 : 2) * normPdf((x - mu) / sigma);
    m0 += w;
    m1 += w * x;
    m2 += w * x * x;
  }
  const mean = m1 / m0;
  return { mean, var: m2 / m0 - mean * mean };
}

test('truncatedNormalMoments against numerical integration: symmetric, one-sided, mirrored, far out, uncut', () => {
  const cases: [number, number, number, number][] = [
    [0, 1, -2, 2],
    [0.1, 0.5, -0.3, 0.9],
    [0, 1, 3, 4],
    [0, 1, -4, -3],
    [2, 0.7, -1, 1.5],
    [-0.2, 0.05, -0.25, 1],
    [0, 1, 6, 7],
    [0, 1, -12, -11],
  ];
  for (const [mu, sigma, a, b] of cases) {
    const got = truncatedNormalMoments(mu, sigma, a, b),
      want = integrated(mu, sigma, a, b);
    assert.ok(Math.abs(got.var / want.var - 1) < 1e-7, `[${mu}, ${sigma}, ${a}, ${b}] var ${got.var} vs ${want.var}`);
    assert.ok(
      Math.abs(got.mean - want.mean) < 1e-8 * (Math.abs(want.mean) + sigma),
      `mean ${got.mean} vs ${want.mean}`,
    );
  }
  // the default cut-offs ±2 (values, not stds): Var = 1 − 4φ(2)/(Φ(2) − Φ(−2)) for std 1, nothing cut for std 0.02
  const d = truncatedNormalMoments(0, 1, -2, 2);
  assert.ok(Math.abs(d.var - (1 - (4 * normPdf(2)) / (normCdf(2) - normCdf(-2)))) < 1e-15 && d.mean === 0);
  assert.ok(Math.abs(truncatedNormalMoments(0, 0.02, -2, 2).var / 0.0004 - 1) < 1e-12);
  // an interval of 10⁻⁵ std: uniform on it to that order; std 0: the mean clamped; no mass left: the nearer end
  const narrow = truncatedNormalMoments(1, 2, 0.5, 0.5 + 2e-5);
  assert.ok(Math.abs(narrow.var / (4e-10 / 12) - 1) < 1e-6 && Math.abs(narrow.mean - (0.5 + 1e-5)) < 1e-12);
  assert.deepEqual(truncatedNormalMoments(3, 0, -1, 1), { mean: 1, var: 0 });
  assert.deepEqual(truncatedNormalMoments(0, 1, 50, 60), { mean: 50, var: 0 });
  assert.deepEqual(truncatedNormalMoments(0, 1, -60, -50), { mean: -50, var: 0 });
  for (const [a, b, at] of [
    [50, 60, 50],
    [-60, -50, -50],
  ]) {
    const w = new Float64Array(6);
    sampleInit({ scheme: 'trunc_normal', mode: 'fan_in', a, b }, relu, 3, 2, new Rng(2), w);
    assert.ok(
      w.every((x) => x === at),
      `[${a}, ${b}]: ${[...w].join(', ')}`,
    );
  }
});

/** The largest gap between the draws' empirical distribution function and the cut normal's. */
function ksDistance(x: Float64Array, mu: number, sigma: number, a: number, b: number): number {
  const s = [...x].sort((p, q) => p - q);
  const Fa = normCdf((a - mu) / sigma),
    Z = normCdf((b - mu) / sigma) - Fa;
  let d = 0;
  for (let i = 0; i < s.length; i++) {
    const F = (normCdf((s[i]! - mu) / sigma) - Fa) / Z;
    d = Math.max(d, Math.abs(F - i / s.length), Math.abs(F - (i + 1) / s.length));
  }
  return d;
}

test('trunc_normal draws: inside [a, b], the moments and the distribution function of the cut normal, one uniform a value', () => {
  const n = 400 * 500;
  const cases: [number, number, number, number][] = [
    [0, 1, -2, 2],
    [0.1, 0.5, -0.3, 0.9],
    [0, 1, 1.5, 3],
    [0, 1, -3, -1.5],
    [0, 0.02, -2, 2],
  ];
  for (const [mean, std, a, b] of cases) {
    const init: InitSpec = { scheme: 'trunc_normal', mode: 'fan_in', mean, std, a, b };
    const rng = new Rng(7, 'init');
    const w = new Float64Array(n);
    sampleInit(init, relu, 400, 500, rng, w);
    let lo = Infinity,
      hi = -Infinity,
      s = 0,
      s2 = 0;
    for (const v of w) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
      s += v;
    }
    const m = s / n;
    for (const v of w) s2 += (v - m) * (v - m);
    const v = s2 / n,
      want = truncatedNormalMoments(mean, std, a, b);
    const what = `[${mean}, ${std}, ${a}, ${b}]`;
    assert.ok(lo >= a && hi <= b, `${what}: draws in [${lo}, ${hi}]`);
    assert.equal(initVariance(init, relu, 400, 500), want.var);
    // within 5 standard errors (the variance's: √(2/n) relative, a little more for a cut normal)
    assert.ok(Math.abs(m - want.mean) < 5 * Math.sqrt(want.var / n), `${what}: mean ${m} vs ${want.mean}`);
    assert.ok(Math.abs(v / want.var - 1) < 5 * Math.sqrt(3 / n), `${what}: var ${v} vs ${want.var}`);
    // Kolmogorov–Smirnov at 1 %: 1.63/√n
    const ks = ksDistance(w, mean, std, a, b);
    assert.ok(ks < 1.63 / Math.sqrt(n), `${what}: KS distance ${ks}`);
    // one uniform() a value: the stream goes on where n uniforms leave it
    const ref = new Rng(7, 'init');
    for (let i = 0; i < n; i++) ref.uniform();
    assert.equal(rng.uniform(), ref.uniform(), `${what}: the stream after the draws`);
  }
  const w = new Float64Array(12);
  sampleInit({ scheme: 'trunc_normal', mode: 'fan_in', mean: 3, std: 0, a: -1, b: 1 }, relu, 4, 3, new Rng(1), w);
  assert.ok(w.every((x) => x === 1));
});

function model(init: string): ReturnType<typeof loadModelText> {
  return loadModelText(
    '/tmp/model.mlp.json',
    `{
  "input": { "size": 300 },
  "layers": [{ "units": 200, "activation": "relu", "init": ${init} }, { "units": 10 }],
  "loss": "cross_entropy",
  "data": { "source": "synthetic", "samples": 256 },
  "training": { "steps": 5, "batchSize": 64 }
}`,
  );
}

test('model file: trunc_normal with its mean, std, a and b; defaults 0, 1, −2, 2; gain ignored; a ≥ b refused where a is', () => {
  const r = model('{ "scheme": "trunc_normal", "mean": 0.01, "std": 0.1, "a": -0.15, "b": 0.2 }');
  assert.deepEqual(r.problems, []);
  assert.deepEqual(r.spec!.layers[0]!.init, {
    scheme: 'trunc_normal',
    mode: 'fan_in',
    gain: undefined,
    mean: 0.01,
    std: 0.1,
    low: undefined,
    high: undefined,
    value: undefined,
    a: -0.15,
    b: 0.2,
  });
  // analyze predicts with the cut variance, and measures it
  const a = analyze(r.spec!).find((e): e is AnalysisEvent => e.type === 'analysis')!;
  assert.equal(a.layers[0]!.weightVar, truncatedNormalMoments(0.01, 0.1, -0.15, 0.2).var);
  const ratio = a.layers[0]!.measured!.preactVar / a.layers[0]!.predicted.preactVar;
  assert.ok(ratio > 0.9 && ratio < 1.1, `measured/predicted Var(z) ${ratio}`);
  assert.equal(model('"trunc_normal"').spec!.layers[0]!.init.scheme, 'trunc_normal');
  assert.equal(
    initVariance(model('"trunc_normal"').spec!.layers[0]!.init, relu, 300, 200),
    truncatedNormalMoments(0, 1, -2, 2).var,
  );

  const bad = model('{ "scheme": "trunc_normal", "gain": 2, "a": 0.5, "b": 0.5, "low": 1 }');
  assert.equal(bad.spec, null);
  assert.deepEqual(
    bad.problems.map((p) => [p.severity, p.path, p.message]),
    [
      ['warning', '$.layers[0].init.gain', '"gain" is ignored by the trunc_normal scheme'],
      ['warning', '$.layers[0].init.low', '"low" is ignored by the trunc_normal scheme'],
      [
        'error',
        '$.layers[0].init.a',
        'a (0.5) must be below b (0.5): they are the cut-offs of the values, W in [a, b]',
      ],
    ],
  );
  const text = bad.text!;
  const err = bad.problems.find((p) => p.severity === 'error')!;
  assert.equal(text.slice(err.start, err.end), '0.5');
  assert.equal(text.slice(err.start - 5, err.start), '"a": ');

  const far = model('{ "scheme": "trunc_normal", "mean": 5, "std": 1 }');
  assert.deepEqual(
    far.problems.map((p) => [p.severity, p.path, p.message]),
    [
      [
        'warning',
        '$.layers[0].init.mean',
        'the mean (5) is more than 2 std (1) outside [-2, 2]: most values land near b; a and b are values of W, not multiples of std',
      ],
    ],
  );
});
