/**
 * The scalar activations and derivatives (core/activations.ts; the TS kernels' reference): closed
 * forms, PyTorch's conventions at exactly 0, central finite differences away from the kinks, the
 * stable logistic at the ends of float64, which units can die, and calculate_gain.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Activation } from '../../src/core/activations';
import { activate, calculateGain, derivative, derivativeInto, hasDeadUnits } from '../../src/core/activations';
import type { ActivationName } from '../../src/protocol/events';

const act = (name: ActivationName, alpha = 0): Activation => ({ name, alpha });
const Phi = (z: number): number => 0.5 * (1 + erf(z / Math.SQRT2));
// Abramowitz–Stegun 7.1.26 is too coarse here: erf by its Taylor series (|z| ≤ 3 in these tests)
function erf(x: number): number {
  let sum = 0,
    term = x;
  for (let n = 0; n < 200; n++) {
    sum += term / (2 * n + 1);
    term *= (-x * x) / (n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}
const close = (a: number, b: number, tol = 1e-9): void =>
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} vs ${b}`);

// SELU's constants to their published digits (Klambauer et al. 2017), as PyTorch has them
const SELU_L = 1.0507009873554805,
  SELU_A = 1.6732632423543772;
const POINTS = [-3, -1.5, -0.7, -0.01, 0.01, 0.3, 1, 2.5];

test('f against closed forms', () => {
  for (const z of POINTS) {
    close(activate(act('linear'), z), z);
    close(activate(act('relu'), z), Math.max(0, z));
    close(activate(act('leaky_relu', 0.2), z), z >= 0 ? z : 0.2 * z);
    close(activate(act('tanh'), z), Math.tanh(z));
    close(activate(act('sigmoid'), z), 1 / (1 + Math.exp(-z)));
    close(activate(act('elu', 0.5), z), z > 0 ? z : 0.5 * (Math.exp(z) - 1));
    close(activate(act('gelu'), z), z * Phi(z));
    close(activate(act('silu'), z), z / (1 + Math.exp(-z)));
    close(activate(act('selu'), z), z > 0 ? SELU_L * z : SELU_L * SELU_A * (Math.exp(z) - 1));
  }
});

test("f' against central differences, away from the kinks", () => {
  const h = 1e-6;
  const acts = [
    act('linear'),
    act('relu'),
    act('leaky_relu', 0.2),
    act('tanh'),
    act('sigmoid'),
    act('elu', 0.5),
    act('gelu'),
    act('silu'),
    act('selu'),
  ];
  for (const a of acts)
    for (const z of POINTS) {
      const fd = (activate(a, z + h) - activate(a, z - h)) / (2 * h);
      close(derivative(a, z), fd, 1e-6);
    }
});

test("PyTorch's conventions at exactly 0", () => {
  assert.equal(activate(act('relu'), 0), 0);
  assert.equal(derivative(act('relu'), 0), 0);
  assert.equal(activate(act('leaky_relu', 0.2), 0), 0);
  assert.equal(derivative(act('leaky_relu', 0.2), 0), 0.2);
  assert.equal(activate(act('elu', 0.5), 0), 0);
  assert.equal(derivative(act('elu', 0.5), 0), 0.5); // α·e^0: the branch for z ≤ 0
  assert.equal(activate(act('sigmoid'), 0), 0.5);
  assert.equal(derivative(act('sigmoid'), 0), 0.25);
  assert.equal(derivative(act('tanh'), 0), 1);
  assert.equal(derivative(act('gelu'), 0), 0.5);
  assert.equal(activate(act('silu'), 0), 0);
  assert.equal(derivative(act('silu'), 0), 0.5);
  assert.equal(activate(act('selu'), 0), 0);
  close(derivative(act('selu'), 0), SELU_L * SELU_A, 1e-15); // λα·e^0: the branch for z ≤ 0
});

test("derivativeInto gives derivative's values, in both dtypes, up to n", () => {
  const Z = [-2, -0.5, -0, 0, 1e-30, 0.5, 3, NaN, -Infinity, Infinity];
  const names: ActivationName[] = ['linear', 'relu', 'leaky_relu', 'tanh', 'sigmoid', 'elu', 'gelu', 'silu', 'selu'];
  for (const name of names)
    for (const Arr of [Float64Array, Float32Array]) {
      const a = act(name, 0.1),
        z = Arr.from(Z),
        out = new Arr(Z.length + 2).fill(7);
      derivativeInto(a, z, out, Z.length);
      // every value the per-value function gives, rounded to the array's dtype; the rest untouched
      const want = Arr.from([...z].map((v) => derivative(a, v)));
      assert.deepEqual([...out], [...want, 7, 7], `${name} ${Arr.name}`);
    }
});

test('the logistic function at the ends of float64: no NaN, no lost tail', () => {
  assert.equal(activate(act('sigmoid'), 1000), 1);
  assert.equal(activate(act('sigmoid'), -1000), 0);
  // e^710 overflows, e^−710 is subnormal: only the stable form keeps σ(−710) > 0
  const tail = activate(act('sigmoid'), -710);
  assert.ok(tail > 0 && tail < 1e-300, String(tail));
  assert.equal(derivative(act('sigmoid'), 1000), 0);
  assert.equal(derivative(act('tanh'), 50), 0);
  // silu = z·σ(z): z itself far above 0, a vanishing negative tail (never NaN) far below
  assert.equal(activate(act('silu'), 1000), 1000);
  assert.equal(derivative(act('silu'), 1000), 1);
  const silu = activate(act('silu'), -800);
  assert.ok(silu <= 0 && silu > -1e-300, String(silu));
  assert.ok(Math.abs(derivative(act('silu'), -800)) < 1e-300);
});

test('only relu and leaky_relu units can die', () => {
  for (const n of ['linear', 'tanh', 'sigmoid', 'elu', 'gelu', 'silu', 'selu'] as const)
    assert.equal(hasDeadUnits(n), false, n);
  assert.equal(hasDeadUnits('relu'), true);
  assert.equal(hasDeadUnits('leaky_relu'), true);
});

test("calculate_gain: PyTorch's values, and √2 for elu, gelu and silu", () => {
  assert.equal(calculateGain(act('linear')), 1);
  assert.equal(calculateGain(act('sigmoid')), 1);
  assert.equal(calculateGain(act('relu')), Math.SQRT2);
  assert.equal(calculateGain(act('elu', 1)), Math.SQRT2);
  assert.equal(calculateGain(act('gelu')), Math.SQRT2);
  assert.equal(calculateGain(act('silu')), Math.SQRT2);
  close(calculateGain(act('leaky_relu', 0.2)), Math.sqrt(2 / 1.04), 1e-15);
  assert.equal(calculateGain(act('tanh')), 5 / 3);
  assert.equal(calculateGain(act('selu')), 3 / 4);
});
