/**
 * Histograms (core/histogram.ts) against a direct computation of the stated rule, and in the
 * trainer's events: every K steps, counts summing to batch × units for each quantity.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Histogram, HistogramEvent, LayerwiseEvent } from '../../src/protocol/events';
import { histogram } from '../../src/core/histogram';
import { Trainer } from '../../src/core/trainer';
import { Rng } from '../../src/core/rng';
import type { ModelSpec } from '../../src/core/spec';
import { layer, testSpec } from '../helpers/spec';
import { parseEventLine } from '../../src/protocol/parse-event';
import { WasmKernels } from '../../src/core/wasm-kernels';
import { enableRelaxedSimd } from '../../src/runner/wasm-features';

/** The rule, written out plainly: two-pass moments in float64, 4σ limits, edges compared one by one. */
function reference(values: number[], eps = 2 ** -52): Histogram {
  const finite = values.filter((v) => v !== 0 && Number.isFinite(v));
  const zeros = values.filter((v) => v === 0).length;
  const nonFinite = values.filter((v) => !Number.isFinite(v)).length;
  if (finite.length === 0) return { edges: [], counts: [], zeros, below: 0, above: 0, nonFinite };
  const mean = finite.reduce((a, b) => a + b, 0) / finite.length;
  const sd = Math.sqrt(finite.reduce((a, b) => a + (b - mean) ** 2, 0) / finite.length);
  let lo = Math.max(Math.min(...finite), mean - 4 * sd);
  let hi = Math.min(Math.max(...finite), mean + 4 * sd);
  const h = Math.max(Math.abs(mean) * 2 ** 10 * eps, 1e-30);
  if (Math.max(...finite) - Math.min(...finite) < h / 32 || !(hi > lo))
    [lo, hi] = [mean - (33 * h) / 32, mean + (31 * h) / 32];
  const edges = Array.from({ length: 33 }, (_, j) => (j === 32 ? hi : lo + ((hi - lo) * j) / 32));
  const counts = Array<number>(32).fill(0);
  let below = 0,
    above = 0;
  for (const v of finite) {
    if (v < lo) below++;
    else if (v > hi) above++;
    else {
      let j = 31;
      while (j > 0 && v < edges[j]!) j--;
      counts[j]!++;
    }
  }
  return { edges, counts, zeros, below, above, nonFinite };
}

const total = (h: Histogram): number => h.counts.reduce((a, b) => a + b, 0) + h.zeros + h.below + h.above + h.nonFinite;

function close(a: Histogram, b: Histogram, what: string): void {
  assert.deepEqual({ ...a, edges: [] }, { ...b, edges: [] }, what);
  assert.equal(a.edges.length, b.edges.length, what);
  a.edges.forEach((e, j) => assert.ok(Math.abs(e - b.edges[j]!) <= 1e-12 * (1 + Math.abs(e)), `${what} edge ${j}`));
}

test('histogram: bulk in 32 bins within 4σ, zeros, tails and non-finite values apart, as the rule says', () => {
  const rng = new Rng(7);
  const cases: [string, number[]][] = [
    ['gaussian', Array.from({ length: 5000 }, () => rng.normal())],
    // a ReLU layer: 70 % exact zeros, the rest positive
    ['relu', Array.from({ length: 4000 }, () => (rng.uniform() < 0.7 ? 0 : Math.abs(rng.normal())))],
    // a heavy tail: a few values far beyond 4σ count as above/below, the bulk keeps its bins
    ['heavy tail', [...Array.from({ length: 3000 }, () => rng.normal()), 1e3, 2e3, -5e3]],
    ['non-finite', [1, 2, NaN, Infinity, -Infinity, 0, 3, 4]],
    ['all equal', [2.5, 2.5, 2.5, 0]],
    ['all zero', [0, 0, 0]],
    ['large mean, small spread', Array.from({ length: 1000 }, () => 1e6 + rng.normal() * 1e-3)],
    ['one value', [-3]],
  ];
  for (const [name, values] of cases) {
    const h = histogram(Float64Array.from(values), values.length);
    close(
      histogram(Float32Array.from(values), values.length),
      reference(Array.from(Float32Array.from(values)), 2 ** -23),
      `${name} (float32)`,
    );
    close(h, reference(values), name);
    assert.equal(total(h), values.length, `${name}: every value counted once`);
    // both passes (the first 256 values choose): led by zeros, and led by a value that is not 0
    for (const [lead, v] of [
      ['zeros first', 0],
      ['a value first', 1.5],
    ] as const) {
      const w = [...Array<number>(300).fill(v), ...values];
      close(histogram(Float64Array.from(w), w.length), reference(w), `${name}, ${lead}`);
    }
  }
  const tail = histogram(Float64Array.from(cases[2]![1]), cases[2]![1].length);
  assert.deepEqual([tail.below, tail.above], [1, 2]);
  const relu = histogram(Float64Array.from(cases[1]![1]), 4000);
  assert.ok(relu.zeros > 2600 && relu.zeros < 3000 && relu.edges[0]! > 0, JSON.stringify(relu.edges.slice(0, 2)));
  // only the first n values, float32 arrays too
  const f32 = Float32Array.from([1, 2, 3, 99, 99]);
  assert.equal(total(histogram(f32, 3)), 3);
  close(histogram(f32, 3), reference([1, 2, 3], 2 ** -23), 'float32 prefix');
  assert.deepEqual(histogram(new Float64Array(0), 0), {
    edges: [],
    counts: [],
    zeros: 0,
    below: 0,
    above: 0,
    nonFinite: 0,
  });
});

test('the edges run from the least to the largest value exactly where 4σ holds them all', () => {
  // two values: μ ± 4σ spans both, so [lo, hi] = [0.2, 0.9]; lo + (hi − lo) rounds to 0.8999999999999999
  assert.notEqual(0.2 + (0.9 - 0.2), 0.9);
  const h = histogram(Float64Array.from([0.2, 0.9]), 2);
  assert.equal(h.edges[0], 0.2);
  assert.equal(h.edges[32], 0.9, 'the last edge is the largest value, not lo + (hi − lo)');
  assert.deepEqual([h.counts[0], h.counts[31], h.above], [1, 1, 0]);
});

test('values equal but for rounding: one bin, the middle one, whatever their last bits', () => {
  // a dead unit's constant output, computed by another batch split (two processes): the same
  // value to a few ulps. Its spread is rounding, not a distribution: bins over [m, M] put it at
  // both ends (0 and 31), and each split elsewhere.
  const base = -10.190118380640493,
    ulp = 2 ** -49; // float64 at |v| in [8, 16)
  const split = (h: Histogram): number[] => h.counts.flatMap((c, j) => (c > 0 ? [j] : []));
  for (const shift of [0, 7, -5]) {
    const vs = [0, 2, -3, 1, 5].map((k) => base + (k + shift) * ulp);
    const h = histogram(Float64Array.from(vs), vs.length);
    assert.deepEqual(split(h), [16], `float64, shifted ${shift} ulps`);
    close(h, reference(vs), `float64, shifted ${shift} ulps: the rule`);
  }
  const f = Math.fround(3.25),
    f32ulp = 2 ** -22; // float32 at |v| in [2, 4)
  const vs32 = Float32Array.from([0, 1, -2, 3].map((k) => f + k * f32ulp));
  assert.deepEqual(split(histogram(vs32, vs32.length)), [16], 'float32');
  // a spread above rounding is resolved as before: 1e6 ± 1e-3 in float64
  const rng = new Rng(3);
  const wide = Array.from({ length: 500 }, () => 1e6 + rng.normal() * 1e-3);
  assert.ok(split(histogram(Float64Array.from(wide), wide.length)).length > 10);
});

test("the WebAssembly passes (both builds) give the reference passes' histograms bit for bit on float32 arrays in their arena", () => {
  enableRelaxedSimd();
  const rng = new Rng(11);
  const gauss = (n: number, mean = 0, sd = 1): number[] => Array.from({ length: n }, () => mean + sd * rng.normal());
  const cases: [string, number[]][] = [
    ['gaussian', gauss(4099)],
    ['relu', Array.from({ length: 5001 }, () => (rng.uniform() < 0.55 ? 0 : Math.abs(rng.normal())))],
    ['gradient behind a relu', Array.from({ length: 2050 }, () => (rng.uniform() < 0.5 ? 0 : 1e-4 * rng.normal()))],
    ['heavy tail', [...gauss(1000), 1e3, -2e4, 3e30]],
    [
      'non-finite everywhere',
      Array.from({ length: 103 }, (_, i) => [NaN, Infinity, -Infinity, 0, 1, -2][i % 6]! * (1 + i)),
    ],
    ['large mean, small spread', gauss(777, 1e4, 1e-2)],
    ['all equal', Array<number>(10).fill(-0.25)],
    ['values on the edges', Array.from({ length: 640 }, (_, i) => (i % 33) / 32)],
    ...Array.from({ length: 9 }, (_, n): [string, number[]] => [`${n} values`, gauss(n)]),
  ];
  for (const variant of ['simd', 'relaxed'] as const) {
    const w = new WasmKernels(variant);
    const at = w.createArena('float32', 4 * 6000, 64)!;
    const served = { moments: 0, slots: 0 };
    const spy = {
      name: 'spy',
      histogramMoments: (a: Float32Array, n: number, out: Float64Array) =>
        w.histogramMoments(a, n, out) && ++served.moments > 0,
      histogramSlots: (a: Float32Array, n: number, lo: number, hi: number, scale: number, out: Int32Array) =>
        w.histogramSlots(a, n, lo, hi, scale, out) && ++served.slots > 0,
    } as unknown as Parameters<typeof histogram>[2];
    let counted = 0;
    for (const [name, values] of cases) {
      const a = at(values.length + 3);
      a.fill(7); // values past n are not counted
      a.set(values);
      const expected = histogram(Float32Array.from(a), values.length);
      assert.deepEqual(histogram(a, values.length, spy), expected, `${variant}: ${name}`);
      // (values on an edge, and one value alone in its bin's middle, may fall either side of an
      // edge in the rule's bin search: not compared there)
      if (name !== 'values on the edges' && new Set(values.filter((v) => v !== 0)).size > 1)
        close(expected, reference(Array.from(a.subarray(0, values.length)), 2 ** -23), `${variant}: ${name}, the rule`);
      counted += expected.edges.length > 0 ? 1 : 0;
    }
    assert.equal(served.moments, cases.length, `${variant}: the kernels served every first pass`);
    assert.equal(served.slots, counted, `${variant}: and every second pass`);
    // arrays outside the arena, and float64, are not the kernels' to serve
    assert.equal(w.histogramMoments(new Float32Array(8), 8, new Float64Array(8)), false);
    assert.equal(w.histogramSlots(new Float64Array(8), 8, 0, 1, 32, new Int32Array(36)), false);
  }
});

function spec(histogramsEvery?: number): ModelSpec {
  return testSpec({
    inputSize: 5,
    layers: [layer(12, 'relu'), layer(6, 'tanh'), layer(3, 'linear')],
    training: { learningRate: 0.1, steps: 25 },
    ...(histogramsEvery === undefined ? {} : { diagnostics: { histogramsEvery } }),
  });
}

function run(s: ModelSpec, opts: ConstructorParameters<typeof Trainer>[2] = {}): LayerwiseEvent[] {
  const out: LayerwiseEvent[] = [];
  new Trainer(s, (e) => out.push(e), { kernels: 'ts', ...opts }).run();
  return out;
}

test('the trainer: histogram events every K steps (default 10), counts summing to batch × units, after the step event', () => {
  const ev = run(spec());
  const hs = ev.filter((e): e is HistogramEvent => e.type === 'histogram');
  assert.deepEqual(
    hs.map((h) => h.step),
    [0, 10, 20],
  );
  for (const h of hs) {
    assert.deepEqual(
      h.layers.map((l) => l.index),
      [0, 1, 2],
    );
    h.layers.forEach((l, i) => {
      const n = 16 * [12, 6, 3][i]!;
      for (const q of ['preact', 'act', 'grad'] as const)
        assert.equal(total(l[q]), n, `step ${h.step} layer ${i} ${q}`);
    });
    // follows its own step's event
    const at = ev.indexOf(h);
    assert.ok(ev[at - 1]?.type === 'step' && (ev[at - 1] as { step: number }).step === h.step);
    // the relu layer's activations have exact zeros; the linear layer's act is its preact
    assert.ok(h.layers[0]!.act.zeros > 0);
    assert.deepEqual(h.layers[2]!.act, h.layers[2]!.preact);
    // the stream's reader takes it back as it was written
    assert.deepEqual(parseEventLine(JSON.stringify(h)), h);
  }
  // the model file's K, the option over it, and 0 for none
  assert.deepEqual(
    run(spec(7))
      .filter((e) => e.type === 'histogram')
      .map((e) => (e as HistogramEvent).step),
    [0, 7, 14, 21],
  );
  assert.equal(run(spec(7), { histogramsEvery: 0 }).filter((e) => e.type === 'histogram').length, 0);
  assert.equal(run(spec(0)).filter((e) => e.type === 'histogram').length, 0);
});

test('histogram events from the stream: malformed ones are refused with a reason', () => {
  const good = { edges: [], counts: [], zeros: 3, below: 0, above: 0, nonFinite: 0 };
  const ev = (h: unknown) =>
    JSON.stringify({ type: 'histogram', step: 0, layers: [{ index: 0, preact: h, act: good, grad: good }] });
  assert.ok(!('error' in parseEventLine(ev(good))));
  for (const bad of [
    { ...good, counts: [1, 2] },
    { ...good, edges: Array(33).fill(0) },
    { ...good, zeros: -1 },
    { ...good, edges: [...Array(32).fill(0), null], counts: Array(32).fill(0) },
    null,
  ])
    assert.ok('error' in parseEventLine(ev(bad)), JSON.stringify(bad));
});
