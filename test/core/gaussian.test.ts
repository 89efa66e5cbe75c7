/**
 * Gaussian expectations of the activations (core/gaussian.ts) against closed forms, for the
 * quadrature too: elu's E f, E f², E f'² (its kink at 0 inside the range), gelu's E f, silu's
 * moments against an independent sum; and the
 * degenerate variances (0: the point mass; infinite: no answer; negative: 0).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gaussMoments } from '../../src/core/gaussian';
import { normCdf, normPdf } from '../../src/core/erf';

const close = (a: number, b: number, tol: number, what: string): void =>
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b} (diff ${a - b})`);

/** E[e^{kz} 1{z ≤ 0}] for z ~ N(μ, σ²) = e^{kμ + k²σ²/2} Φ((−μ − kσ²)/σ). */
const expBelow = (k: number, mu: number, s: number): number =>
  Math.exp(k * mu + (k * k * s * s) / 2) * normCdf((-mu - k * s * s) / s);
/** E[z 1{z > 0}] and E[z² 1{z > 0}] (the relu moments). */
const reluM1 = (mu: number, s: number): number => mu * normCdf(mu / s) + s * normPdf(mu / s);
const reluM2 = (mu: number, s: number): number => (mu * mu + s * s) * normCdf(mu / s) + mu * s * normPdf(mu / s);

test('elu under N(μ, σ²): the quadrature against the closed forms, kink inside the range', () => {
  for (const [mu, v, alpha] of [
    [0.3, 4, 1],
    [-1, 0.01, 0.5],
    [0, 1, 1.5],
    [2, 0.25, 1],
    [-0.05, 9, 1],
  ] as const) {
    const s = Math.sqrt(v);
    const below = normCdf(-mu / s);
    const e1 = expBelow(1, mu, s),
      e2 = expBelow(2, mu, s);
    const mean = reluM1(mu, s) + alpha * (e1 - below);
    const second = reluM2(mu, s) + alpha * alpha * (e2 - 2 * e1 + below);
    const deriv = 1 - below + alpha * e1,
      deriv2 = 1 - below + alpha * alpha * e2;
    const m = gaussMoments({ name: 'elu', alpha }, mu, v);
    const what = `elu(α=${alpha}) μ=${mu} σ²=${v}`;
    close(m.mean, mean, 1e-9, `${what} E f`);
    close(m.second, second, 1e-9, `${what} E f²`);
    close(m.deriv, deriv, 1e-9, `${what} E f'`);
    close(m.deriv2, deriv2, 1e-9, `${what} E f'²`);
  }
});

test("E f' in closed form: relu Φ(μ/σ), leaky_relu Φ + α(1 − Φ), linear 1; tanh's quadrature against E[1 − tanh²] by parts", () => {
  for (const [mu, v] of [
    [0.4, 2],
    [-1.5, 0.3],
    [0, 1],
  ] as const) {
    const P = normCdf(mu / Math.sqrt(v));
    close(gaussMoments({ name: 'relu', alpha: 0 }, mu, v).deriv, P, 1e-15, `relu μ=${mu}`);
    close(gaussMoments({ name: 'leaky_relu', alpha: 0.2 }, mu, v).deriv, P + 0.2 * (1 - P), 1e-15, `leaky μ=${mu}`);
    assert.equal(gaussMoments({ name: 'linear', alpha: 0 }, mu, v).deriv, 1);
    // Stein: E[f'(z)] = E[(z − μ)·f(z)]/σ², here from the quadrature's own E f and an independent sum
    let num = 0,
      den = 0;
    for (let i = -4000; i <= 4000; i++) {
      const z = mu + (i / 400) * Math.sqrt(v),
        w = Math.exp(-0.5 * (i / 400) ** 2);
      num += w * (z - mu) * Math.tanh(z);
      den += w;
    }
    close(gaussMoments({ name: 'tanh', alpha: 0 }, mu, v).deriv, num / den / v, 1e-8, `tanh μ=${mu} σ²=${v}`);
  }
});

test('gelu under N(μ, σ²): E[zΦ(z)] = μΦ(μ/r) + σ²/r·φ(μ/r), r = √(1+σ²)', () => {
  for (const [mu, v] of [
    [0, 1],
    [0.7, 0.04],
    [-2, 9],
  ] as const) {
    const r = Math.sqrt(1 + v);
    const mean = mu * normCdf(mu / r) + (v / r) * normPdf(mu / r);
    close(gaussMoments({ name: 'gelu', alpha: 0 }, mu, v).mean, mean, 1e-10, `gelu μ=${mu} σ²=${v}`);
  }
});

test('degenerate variances: 0 is the point mass, a negative one counts as 0, an infinite one has no answer', () => {
  for (const v of [0, -1e-9]) {
    const m = gaussMoments({ name: 'tanh', alpha: 0 }, 0.5, v);
    const f = Math.tanh(0.5);
    assert.deepEqual(m, { mean: f, second: f * f, deriv: 1 - f * f, deriv2: (1 - f * f) ** 2 });
  }
  assert.deepEqual(gaussMoments({ name: 'relu', alpha: 0 }, -1, 0), { mean: 0, second: 0, deriv: 0, deriv2: 0 });
  const inf = gaussMoments({ name: 'sigmoid', alpha: 0 }, 0, Infinity);
  assert.ok(
    Number.isNaN(inf.mean) && inf.second === Infinity && Number.isNaN(inf.deriv) && Number.isNaN(inf.deriv2),
    JSON.stringify(inf),
  );
});

test('the coarse quadrature (nested expectations) is within 1e-5 of the fine one, every activation without a closed form', () => {
  for (const name of ['tanh', 'sigmoid', 'elu', 'gelu', 'silu', 'selu'] as const)
    for (const [mu, v] of [
      [0, 1],
      [0.8, 0.05],
      [-3, 9],
      [40, 400],
      [0.2, 1e-4],
    ] as const) {
      const fine = gaussMoments({ name, alpha: 1 }, mu, v),
        coarse = gaussMoments({ name, alpha: 1 }, mu, v, true);
      for (const k of ['mean', 'second', 'deriv', 'deriv2'] as const)
        close(coarse[k], fine[k], 1e-5, `${name} μ=${mu} σ²=${v} ${k}`);
    }
});

test("silu under N(μ, σ²): the quadrature's E f, E f², E f'² against an independent fine sum, E f' by Stein's identity", () => {
  const sig = (z: number): number => 1 / (1 + Math.exp(-z));
  for (const [mu, v] of [
    [0, 1],
    [0.5, 0.04],
    [-2, 6],
    [1.5, 30],
  ] as const) {
    const s = Math.sqrt(v);
    let w0 = 0,
      m1 = 0,
      m2 = 0,
      d2 = 0,
      stein = 0;
    for (let i = -16000; i <= 16000; i++) {
      const t = i / 1000,
        z = mu + t * s,
        w = Math.exp(-0.5 * t * t),
        f = z * sig(z),
        d = sig(z) * (1 + z * (1 - sig(z)));
      w0 += w;
      m1 += w * f;
      m2 += w * f * f;
      d2 += w * d * d;
      stein += w * (z - mu) * f;
    }
    const m = gaussMoments({ name: 'silu', alpha: 0 }, mu, v);
    const what = `silu μ=${mu} σ²=${v}`;
    close(m.mean, m1 / w0, 1e-9, `${what} E f`);
    close(m.second, m2 / w0, 1e-9, `${what} E f²`);
    close(m.deriv2, d2 / w0, 1e-9, `${what} E f'²`);
    close(m.deriv, stein / w0 / v, 1e-8, `${what} E f' (Stein)`);
  }
});
