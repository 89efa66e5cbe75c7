/** Backprop against central finite differences, for every activation and both losses (float64). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ActivationName } from '../../src/protocol/events';
import { ACTIVATIONS } from '../../src/protocol/events';
import { DEFAULT_ALPHA } from '../../src/core/activations';
import { lossAndGrad } from '../../src/core/losses';
import { Network } from '../../src/core/network';
import { Rng } from '../../src/core/rng';
import type { LayerSpec, LossName } from '../../src/core/spec';

function layer(units: number, activation: ActivationName, alpha?: number): LayerSpec {
  return {
    units,
    activation,
    alpha: alpha ?? DEFAULT_ALPHA[activation],
    init: { scheme: 'xavier_normal', mode: 'fan_in', gain: 1.3 },
    bias: 0.1,
  };
}

function check(act: ActivationName, loss: LossName, alpha?: number): void {
  const B = 6,
    inSize = 5,
    C = loss === 'cross_entropy' ? 4 : 3;
  const specs = [layer(7, act, alpha), layer(6, act, alpha), layer(C, loss === 'mse' ? act : 'linear', alpha)];
  const net = new Network(specs, inSize, 'float64', B);
  const rng = new Rng(11, act + loss);
  net.initialize(specs, rng);
  for (const l of net.layers) for (let i = 0; i < l.b.length; i++) l.b[i] = 0.3 * rng.normal();
  const X = new Float64Array(B * inSize).map(() => rng.normal());
  const T =
    loss === 'cross_entropy'
      ? new Float64Array(B).map(() => rng.below(C))
      : new Float64Array(B * C).map(() => rng.normal());
  const f = (): number => {
    net.forward(X, B);
    return lossAndGrad(loss, net.output.A, T, net.output.dZ, B, C);
  };
  f();
  net.backward(X, B);
  const h = 1e-6;
  let checked = 0;
  for (const l of net.layers) {
    const dW = Float64Array.from(l.dW),
      db = Float64Array.from(l.db);
    for (const [P, G] of [
      [l.W, dW],
      [l.b, db],
    ] as const) {
      for (let i = 0; i < P.length; i++) {
        const old = P[i]!;
        P[i] = old + h;
        const up = f();
        P[i] = old - h;
        const down = f();
        P[i] = old;
        const fd = (up - down) / (2 * h);
        const tol = 1e-6 * Math.max(1, Math.abs(fd)) + 1e-8;
        assert.ok(
          Math.abs(fd - G[i]!) <= tol,
          `${act}/${loss} layer ${l.index} ${P === l.W ? 'W' : 'b'}[${i}]: backprop ${G[i]} vs finite difference ${fd}`,
        );
        checked++;
      }
    }
  }
  assert.ok(checked > 100);
}

for (const act of ACTIVATIONS) {
  for (const loss of ['cross_entropy', 'mse'] as const) {
    test(`gradients match finite differences: ${act}, ${loss}`, () => check(act, loss));
  }
}
test('gradients match finite differences: leaky_relu α = 0.3, elu α = 0.5', () => {
  check('leaky_relu', 'mse', 0.3);
  check('elu', 'cross_entropy', 0.5);
});

test('cross-entropy and mse values against hand computation', () => {
  const Y = new Float64Array([1, 2, 3, 0, 0, 0]);
  const dY = new Float64Array(6);
  const ce = lossAndGrad('cross_entropy', Y, new Float64Array([2, 0]), dY, 2, 3);
  const lse1 = Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3));
  assert.ok(Math.abs(ce - (lse1 - 3 + Math.log(3)) / 2) < 1e-15);
  assert.ok(Math.abs(dY[2]! - (Math.exp(3 - lse1) - 1) / 2) < 1e-15);
  assert.ok(Math.abs(dY[4]! - 1 / 6) < 1e-15);
  const m = lossAndGrad('mse', new Float64Array([1, 2]), new Float64Array([0, 4]), dY, 1, 2);
  assert.equal(m, (1 + 4) / 2);
  assert.deepEqual([dY[0], dY[1]], [1, -2]);
});

test('float32 networks: the loss overflows where float32 arithmetic (PyTorch) would, float64 ones do not', () => {
  const dY32 = new Float32Array(1),
    dY64 = new Float64Array(1);
  assert.equal(lossAndGrad('mse', new Float32Array([2e19]), new Float64Array([0]), dY32, 1, 1), Infinity);
  assert.equal(lossAndGrad('mse', new Float64Array([2e19]), new Float64Array([0]), dY64, 1, 1), 4e38);
  assert.ok(Number.isFinite(lossAndGrad('mse', new Float32Array([1e19]), new Float64Array([0]), dY32, 1, 1)));
  // the running sum overflows even when each term does not
  assert.equal(
    lossAndGrad('mse', new Float32Array([1.5e19, 1.5e19]), new Float64Array([0, 0]), new Float32Array(2), 1, 2),
    Infinity,
  );
});
