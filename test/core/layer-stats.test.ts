/**
 * The moments a layer's passes return, merged over parts of a batch (core/layer-stats.ts), as the
 * chunks of one thread and the two threads of the batch split merge them: the merged moments of
 * the parts equal those of the whole batch computed directly (two-pass mean and variance), a unit
 * is dead only where it is dead in every part, and saturation counts add.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ActivationName } from '../../src/protocol/events';
import { ForwardMoments, GradMoments } from '../../src/core/layer-stats';
import { Rng } from '../../src/core/rng';

const f: Partial<Record<ActivationName, (z: number) => number>> = {
  relu: (z) => Math.max(0, z),
  leaky_relu: (z) => (z >= 0 ? z : 0.1 * z),
  tanh: Math.tanh,
  sigmoid: (z) => 1 / (1 + Math.exp(-z)),
};

function meanVar(xs: number[]): [number, number] {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  return [m, xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length];
}

const saturatedAt = (act: ActivationName, a: number): boolean =>
  act === 'tanh' ? Math.abs(a) > 0.99 : act === 'sigmoid' ? a < 0.01 || a > 0.99 : false;

/** The moments of rows [r0, r1) of Z (rows × units), filled directly. */
function part(act: ActivationName, Z: number[][], r0: number, r1: number): ForwardMoments {
  const units = Z[0]!.length;
  const m = new ForwardMoments(act, units);
  const z = Z.slice(r0, r1).flat();
  const a = z.map(f[act]!);
  m.n = z.length;
  [m.zMean, m.zVar] = meanVar(z);
  [m.aMean, m.aVar] = meanVar(a);
  m.saturated = a.filter((v) => saturatedAt(act, v)).length;
  for (let u = 0; u < units; u++)
    m.alive[u] = Z.slice(r0, r1).some((row) => (act === 'relu' ? row[u]! > 0 : row[u]! >= 0)) ? 1 : 0;
  return m;
}

test('forward moments of parts merge into the whole batch’s: means, variances, dead units, saturation', () => {
  const rng = new Rng(11);
  const rows = 40,
    units = 7;
  for (const act of ['relu', 'leaky_relu', 'tanh', 'sigmoid'] as const) {
    // unit 0 never live, unit 1 live in the last rows only, the rest spread (large, to saturate)
    const Z = Array.from({ length: rows }, (_, i) =>
      Array.from({ length: units }, (_, u) =>
        u === 0 ? -1 - rng.uniform() : u === 1 ? (i >= 35 ? 1 : -1) : 3 * rng.normal() + 0.5,
      ),
    );
    const whole = part(act, Z, 0, rows).stats();
    const merged = part(act, Z, 0, 13);
    merged.add(part(act, Z, 13, 30));
    merged.add(part(act, Z, 30, rows));
    const m = merged.stats();
    for (const k of ['preactMean', 'preactVar', 'actMean', 'actVar'] as const)
      assert.ok(Math.abs(m[k] - whole[k]) <= 1e-12 * (1 + Math.abs(whole[k])), `${act} ${k}: ${m[k]} vs ${whole[k]}`);
    assert.equal(merged.n, rows * units);
    if (act === 'relu' || act === 'leaky_relu') {
      // unit 0 dead everywhere; unit 1 dead in the first two parts only: live
      assert.equal(m.dead, 1, act);
      assert.equal(m.saturated, null, act);
    } else {
      assert.equal(m.dead, null, act);
      assert.ok(m.saturated! > 0 && m.saturated! < 1, `${act}: ${m.saturated}`);
      assert.equal(m.saturated, whole.saturated, act);
    }
  }
  // nothing counted yet: a saturating layer reports 0, not NaN; clear() forgets a part
  const empty = new ForwardMoments('tanh', 3);
  assert.equal(empty.stats().saturated, 0);
  const p = part('relu', [[1, -1, 2]], 0, 1);
  p.clear();
  assert.deepEqual([p.n, p.zMean, p.zVar, p.aMean, p.aVar, p.saturated, [...p.alive]], [0, 0, 0, 0, 0, 0, [0, 0, 0]]);
  assert.equal(p.stats().dead, 3);
});

test('gradient moments of parts merge into the whole’s', () => {
  const rng = new Rng(5);
  const g = Array.from({ length: 90 }, () => rng.normal() * 1e-3 + 2e-3);
  const [mean, v] = meanVar(g);
  const m = new GradMoments();
  for (const [a, b] of [
    [0, 10],
    [10, 11],
    [11, 90],
  ] as const) {
    const [pm, pv] = meanVar(g.slice(a, b));
    m.add(b - a, pm, pv);
  }
  assert.equal(m.n, 90);
  assert.ok(Math.abs(m.mean - mean) <= 1e-15, `${m.mean} vs ${mean}`);
  assert.ok(Math.abs(m.var - v) <= 1e-12 * v, `${m.var} vs ${v}`);
  m.clear();
  assert.deepEqual([m.n, m.mean, m.var], [0, 0, 0]);
});
