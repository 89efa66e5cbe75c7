import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../../src/core/rng';
import { meanVar, normVar } from '../../src/core/stats';
import { erf, normCdf } from '../../src/core/erf';

test('Rng: same seed and stream give the same sequence; other seeds or streams differ', () => {
  const a = new Rng(42, 'init'),
    b = new Rng(42, 'init'),
    c = new Rng(43, 'init'),
    d = new Rng(42, 'data');
  const xs = Array.from({ length: 100 }, () => a.nextU32());
  assert.deepEqual(
    Array.from({ length: 100 }, () => b.nextU32()),
    xs,
  );
  assert.notDeepEqual(
    Array.from({ length: 100 }, () => c.nextU32()),
    xs,
  );
  assert.notDeepEqual(
    Array.from({ length: 100 }, () => d.nextU32()),
    xs,
  );
});

test('Rng: uniform has mean 1/2 and variance 1/12; normal has mean 0 and variance 1', () => {
  const r = new Rng(7);
  const n = 200000;
  const u = new Float64Array(n),
    z = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    u[i] = r.uniform();
    z[i] = r.normal();
  }
  const mu = meanVar(u),
    mz = meanVar(z);
  assert.ok(Math.abs(mu.mean - 0.5) < 0.005, `uniform mean ${mu.mean}`);
  assert.ok(Math.abs(mu.var - 1 / 12) < 0.002, `uniform var ${mu.var}`);
  assert.ok(u.every((x) => x >= 0 && x < 1));
  assert.ok(Math.abs(mz.mean) < 0.01, `normal mean ${mz.mean}`);
  assert.ok(Math.abs(mz.var - 1) < 0.015, `normal var ${mz.var}`);
  // fourth moment of N(0,1) is 3
  let m4 = 0;
  for (const x of z) m4 += x ** 4;
  assert.ok(Math.abs(m4 / n - 3) < 0.08, `normal kurtosis ${m4 / n}`);
});

test('Rng.shuffle is a permutation and below() stays in range', () => {
  const r = new Rng(1);
  const a = Uint32Array.from({ length: 50 }, (_, i) => i);
  r.shuffle(a);
  assert.deepEqual(
    [...a].sort((x, y) => x - y),
    Array.from({ length: 50 }, (_, i) => i),
  );
  for (let i = 0; i < 1000; i++) {
    const v = r.below(7);
    assert.ok(v >= 0 && v < 7 && Number.isInteger(v));
  }
});

test('meanVar is the population variance, stable under a large offset', () => {
  const x = new Float64Array([1e6 + 1, 1e6 + 2, 1e6 + 3, 1e6 + 4]);
  const mv = meanVar(x);
  assert.equal(mv.mean, 1e6 + 2.5);
  assert.ok(Math.abs(mv.var - 1.25) < 1e-9, String(mv.var));
  const g = normVar(new Float32Array([3, -4]));
  assert.equal(g.norm, 5);
  assert.equal(g.var, 12.25);
});

test('erf against tabulated values; Φ(0) = 1/2', () => {
  const table: [number, number][] = [
    [0, 0],
    [0.1, 0.1124629160182849],
    [0.5, 0.5204998778130465],
    [1, 0.8427007929497149],
    [1.5, 0.9661051464753108],
    [2, 0.9953222650189527],
    [3, 0.9999779095030014],
    [-0.7, -0.6778011938374184],
    [4.5, 0.9999999998033839],
  ];
  for (const [x, e] of table)
    assert.ok(Math.abs(erf(x) - e) <= 1e-15 + 1e-14 * Math.abs(e), `erf(${x}) = ${erf(x)}, expected ${e}`);
  assert.equal(normCdf(0), 0.5);
});
