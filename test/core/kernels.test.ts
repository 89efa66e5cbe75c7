/**
 * The WebAssembly kernels (both builds: plain SIMD, and relaxed SIMD with fused multiply-add) against
 * the pure-TS reference, on shapes that hit every edge of the 4×8 and 2×4 blockings.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tsKernels } from '../../src/core/dense';
import { tsVectors } from '../../src/core/vector-arithmetic';
import { WasmKernels } from '../../src/core/wasm-kernels';
import { wasmAvailable } from '../../src/core/wasm-module';
import { Rng } from '../../src/core/rng';
import { enableRelaxedSimd } from '../../src/runner/wasm-features';

test('WebAssembly SIMD is available on this Node, and relaxed SIMD once the worker enables it', () => {
  assert.ok(wasmAvailable('simd'));
  assert.ok(enableRelaxedSimd());
  assert.equal(new WasmKernels().name, 'wasm-relaxed-simd');
  assert.equal(new WasmKernels('simd').name, 'wasm-simd');
});

for (const variant of ['simd', 'relaxed'] as const)
  test(`${variant}: forward, weightGrad and inputGrad agree with the TS kernels within float32 rounding`, () => {
    enableRelaxedSimd();
    const rng = new Rng(5);
    for (const [B, K, U] of [
      [1, 1, 1],
      [4, 8, 8],
      [5, 7, 13],
      [64, 784, 256],
      [3, 33, 9],
      [128, 64, 64],
      [7, 2, 17],
      [2, 5, 4],
      [9, 4, 3],
    ] as const) {
      const w = new WasmKernels(variant);
      assert.equal(w.createArena('float32', 4 * 1, 1) !== null, true, `${variant} runs here`);
      const alloc = w.createArena('float32', 4 * (4 * (B * K + U * K + U + B * U) + 64), Math.max(U * K, U * B))!;
      const fill = (n: number): Float32Array => {
        const a = alloc(n);
        for (let i = 0; i < n; i++) a[i] = rng.normal();
        return a;
      };
      const A = fill(B * K),
        W = fill(U * K),
        b = fill(U),
        dZ = fill(B * U);
      const Zw = alloc(B * U),
        Zt = new Float32Array(B * U);
      w.forward(A, W, b, Zw, B, K, U);
      tsKernels.forward(A, W, b, Zt, B, K, U);
      const dWw = alloc(U * K),
        dWt = new Float32Array(U * K),
        dbw = alloc(U),
        dbt = new Float32Array(U);
      w.weightGrad(dZ, A, dWw, dbw, B, K, U);
      tsKernels.weightGrad(dZ, A, dWt, dbt, B, K, U);
      const dAw = alloc(B * K),
        dAt = new Float32Array(B * K);
      w.inputGrad(dZ, W, dAw, B, K, U);
      tsKernels.inputGrad(dZ, W, dAt, B, K, U);
      const inner = { forward: K, weightGrad: B, inputGrad: U };
      for (const [what, x, y] of [
        ['forward', Zw, Zt],
        ['weightGrad', dWw, dWt],
        ['db', dbw, dbt],
        ['inputGrad', dAw, dAt],
      ] as const) {
        // float32 accumulation of n products of N(0,1) values: error ~ 1e-7·√n·|terms|
        const n = what === 'db' ? B : inner[what as keyof typeof inner];
        const tol = 2e-6 * Math.sqrt(n) * Math.sqrt(n) + 1e-6;
        for (let i = 0; i < x.length; i++)
          assert.ok(Math.abs(x[i]! - y[i]!) <= tol, `${what} [${B},${K},${U}] at ${i}: ${x[i]} vs ${y[i]}`);
      }
    }
  });

test('arrays outside the arena, and float64, take the TS path with the same results', () => {
  const w = new WasmKernels();
  assert.equal(w.createArena('float64', 10, 10), null);
  const w2 = new WasmKernels();
  w2.createArena('float32', 4 * 100, 100);
  const A = new Float32Array([1, 2, 3, 4]),
    W = new Float32Array([1, 0, 0, 1]),
    b = new Float32Array([0.5, -0.5]),
    Z = new Float32Array(4);
  w2.forward(A, W, b, Z, 2, 2, 2);
  assert.deepEqual([...Z], [1.5, 1.5, 3.5, 3.5]);
});

test('optimiser steps in WebAssembly SIMD agree with the TS reference (θ bit for bit, sums to 1e-6)', async () => {
  const { newParamState, update } = await import('../../src/core/optimizers');
  const { UpdateSums } = await import('../../src/core/kernels');
  const base = {
    learningRate: 0.01,
    momentum: 0.9,
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    batchSize: 1,
    shuffle: false,
    steps: 1,
    clip: null,
  };
  for (const [optimizer, n] of [
    ['sgd', 1001],
    ['momentum', 1001],
    ['adam', 1001],
    ['sgd', 200003],
  ] as const) {
    const spec = { ...base, optimizer };
    const w = new WasmKernels();
    const alloc = w.createArena('float32', 24 * n, 16)!;
    const rng = new Rng(9);
    const thetaW = alloc(n),
      gW = alloc(n);
    for (let i = 0; i < n; i++) {
      thetaW[i] = rng.normal();
      gW[i] = 0.1 * rng.normal();
    }
    const thetaT = Float32Array.from(thetaW),
      gT = Float32Array.from(gW);
    const stW = newParamState(optimizer, n, (k) => alloc(k)),
      stT = newParamState(optimizer, n, (k) => new Float32Array(k));
    for (let t = 1; t <= 3; t++) {
      const aW = new UpdateSums(),
        aT = new UpdateSums();
      assert.ok(w.update(spec, thetaW, gW, stW, t, n, aW), 'served');
      const dW = aW.deltaSq,
        dT = update(spec, thetaT, gT, stT, t, n, aT);
      assert.equal(aT.deltaSq, dT);
      for (let i = 0; i < n; i++)
        assert.equal(thetaW[i], thetaT[i], `${optimizer} t=${t} θ[${i}] (both compute in float64 and round once)`);
      for (const [x, y] of [
        [dW, dT],
        [aW.theta, aT.theta],
        [aW.theta2, aT.theta2],
        [aW.grad, aT.grad],
        [aW.grad2, aT.grad2],
      ] as const)
        assert.ok(Math.abs(x - y) <= 1e-6 * Math.abs(y) + 1e-12, `${optimizer} t=${t}: ${x} vs ${y}`);
    }
  }
});

test('relu/leaky forward and derivative passes match their definitions (values exact, sums to 1e-12, dead units)', () => {
  const rng = new Rng(11);
  for (const [name, alpha] of [
    ['relu', 0],
    ['leaky_relu', 0.1],
  ] as const) {
    for (const [B, U] of [
      [1, 1],
      [5, 13],
      [64, 256],
      [3, 6],
      [2, 3],
    ] as const) {
      const w = new WasmKernels();
      const alloc = w.createArena('float32', 4 * (4 * B * U + 64), B * U)!;
      const Z = alloc(B * U),
        A = alloc(B * U),
        dZ = alloc(B * U);
      // every third unit is dead (z < 0 throughout); zeros appear (relu: dead at 0, leaky: alive at 0)
      for (let i = 0; i < B; i++)
        for (let u = 0; u < U; u++)
          Z[i * U + u] =
            u % 3 === 0 ? -1 - rng.uniform() : u % 5 === 1 ? 0 : i === 0 ? 0.1 + Math.abs(rng.normal()) : rng.normal();
      for (let j = 0; j < B * U; j++) dZ[j] = rng.normal();
      const z0 = Z[0]!,
        a0 = z0 > 0 ? z0 : alpha * z0;
      const sums = new Float64Array(5),
        aliveFlags = new Uint8Array(U);
      assert.ok(w.activate({ name, alpha }, Z, A, B, U, z0, a0, sums, aliveFlags));
      let sz = 0,
        ssz = 0,
        sa = 0,
        ssa = 0,
        dead = 0;
      for (let u = 0; u < U; u++) {
        let alive = false;
        for (let i = 0; i < B; i++) {
          const z = Z[i * U + u]!,
            a = z > 0 ? z : name === 'relu' ? 0 : Math.fround(Math.fround(alpha) * z);
          assert.equal(A[i * U + u], a, `${name} A[${i},${u}]`);
          if (name === 'relu' ? z > 0 : z >= 0) alive = true;
          sz += z - z0;
          ssz += (z - z0) ** 2;
          sa += a - a0;
          ssa += (a - a0) ** 2;
        }
        if (!alive) dead++;
        assert.equal(aliveFlags[u], alive ? 1 : 0, `${name} alive[${u}]`);
      }
      const close = (x: number, y: number, what: string): void =>
        assert.ok(Math.abs(x - y) <= 1e-12 * Math.max(1, Math.abs(y)), `${name} [${B},${U}] ${what}: ${x} vs ${y}`);
      close(sums[0]!, sz, 'Σz');
      close(sums[1]!, ssz, 'Σz²');
      close(sums[2]!, sa, 'Σa');
      close(sums[3]!, ssa, 'Σa²');
      assert.equal(sums[4], dead, `${name} [${B},${U}] dead`);
      assert.equal(
        dead,
        name === 'relu' ? [...Array(U).keys()].filter((u) => u % 3 === 0 || u % 5 === 1).length : Math.ceil(U / 3),
        `${name} [${B},${U}]`,
      );
      const before = Float32Array.from(dZ);
      assert.ok(w.derivative({ name, alpha }, Z, dZ, B * U, sums));
      let s = 0,
        ss = 0;
      for (let j = 0; j < B * U; j++) {
        const g = Z[j]! > 0 ? before[j]! : name === 'relu' ? 0 : Math.fround(Math.fround(alpha) * before[j]!);
        assert.equal(dZ[j], g, `${name} dZ[${j}]`);
        s += g;
        ss += g * g;
      }
      close(sums[0]!, s, 'Σg');
      close(sums[1]!, ss, 'Σg²');
    }
  }
  const w = new WasmKernels();
  w.createArena('float32', 4 * 16, 16);
  assert.equal(
    w.activate(
      { name: 'tanh', alpha: 0 },
      new Float32Array(1),
      new Float32Array(1),
      1,
      1,
      0,
      0,
      new Float64Array(5),
      new Uint8Array(1),
    ),
    false,
    'tanh is the TS path',
  );
});

test('weightGradUnits: any range of units over all rows equals those rows of the whole weight gradient', () => {
  const rng = new Rng(21);
  for (const [B, K, U, u0, u1] of [
    [64, 37, 48, 24, 48],
    [9, 5, 13, 0, 8],
    [9, 5, 13, 8, 13],
    [32, 64, 10, 3, 7],
    [5, 3, 4, 4, 4],
  ] as const) {
    const w = new WasmKernels();
    const alloc = w.createArena('float32', 4 * (4 * (B * U + B * K + U * K + U) + 64), U * B)!;
    const dZ = alloc(B * U),
      A = alloc(B * K),
      dW = alloc(U * K),
      db = alloc(U);
    for (let j = 0; j < dZ.length; j++) dZ[j] = rng.normal();
    for (let j = 0; j < A.length; j++) A[j] = rng.normal();
    dW.fill(NaN);
    db.fill(NaN);
    assert.ok(w.weightGradUnits(dZ, A, dW, db, B, K, U, u0, u1));
    const dWt = new Float32Array(U * K),
      dbt = new Float32Array(U);
    tsKernels.weightGrad(dZ, A, dWt, dbt, B, K, U);
    for (let u = 0; u < U; u++) {
      const inside = u >= u0 && u < u1;
      assert.equal(Number.isNaN(db[u]!), !inside, `db[${u}] written only inside [${u0}, ${u1})`);
      if (!inside) continue;
      assert.ok(Math.abs(db[u]! - dbt[u]!) <= 1e-5 * Math.sqrt(B), `db[${u}]`);
      for (let k = 0; k < K; k++)
        assert.ok(
          Math.abs(dW[u * K + k]! - dWt[u * K + k]!) <= 2e-6 * B + 1e-6,
          `[${B},${K},${U}] dW[${u},${k}] ${dW[u * K + k]} vs ${dWt[u * K + k]}`,
        );
    }
  }
});

test('one arena rule: a network measures its arena by its own allocations, to the byte (states included)', async () => {
  const { Network } = await import('../../src/core/network');
  const { SharedTsKernels } = await import('../../src/core/dense');
  const { arenaBytes } = await import('../../src/core/kernels');
  const B = 5,
    IN = 7;
  const specs = [
    {
      units: 9,
      activation: 'relu' as const,
      alpha: 0,
      init: { scheme: 'he_normal' as const, mode: 'fan_in' as const },
      bias: 0,
    },
    {
      units: 3,
      activation: 'linear' as const,
      alpha: 0,
      init: { scheme: 'xavier_uniform' as const, mode: 'fan_in' as const },
      bias: 0,
    },
  ];
  for (const [optimizer, copies] of [
    ['sgd', 0],
    ['momentum', 1],
    ['adam', 2],
  ] as const)
    for (const [dtype, per] of [
      ['float32', 4],
      ['float64', 8],
    ] as const) {
      const k = new SharedTsKernels();
      const net = new Network(specs, IN, dtype, B, k, optimizer);
      // written out: X; per layer Z, W, b, dW, db, A (not for linear), dZ; then the states
      const by = (n: number) => arenaBytes(n, per);
      let want = by(B * IN),
        fanIn = IN;
      for (const s of specs) {
        want +=
          by(B * s.units) +
          2 * (by(s.units * fanIn) + by(s.units)) +
          (s.activation === 'linear' ? 1 : 2) * by(B * s.units);
        fanIn = s.units;
      }
      fanIn = IN;
      for (const s of specs) {
        want += copies * (by(s.units * fanIn) + by(s.units));
        fanIn = s.units;
      }
      assert.equal((k.sharing()!.memory as SharedArrayBuffer).byteLength, want, `${optimizer} ${dtype}`);
      assert.equal(net.states.length, optimizer === 'sgd' ? 2 : 2);
      assert.equal(net.states[0]!.W.m?.length ?? 0, copies > 0 ? 9 * IN : 0);
      assert.equal(net.states[1]!.b.v?.length ?? 0, copies > 1 ? 3 : 0);
      // a helper thread's own input, after the rest: laid out by the main thread, read by the helper
      const k2 = new SharedTsKernels(),
        main = new Network(specs, IN, dtype, B, k2, optimizer, false, 'lay out');
      const arena = k2.sharing()!.memory as SharedArrayBuffer;
      assert.equal(arena.byteLength, want + by(B * IN), `${optimizer} ${dtype}: with a second input`);
      const helper = new SharedTsKernels();
      helper.attach(arena);
      const theirs = new Network(specs, IN, dtype, B, helper, optimizer, false, 'use');
      assert.equal(theirs.input.byteOffset, want, "the helper's input is the arena's last array");
      assert.equal(main.input.byteOffset, 0);
      assert.equal(
        theirs.layers[1]!.W.byteOffset,
        main.layers[1]!.W.byteOffset,
        'the rest where the main thread has it',
      );
    }
});

test('every arena array starts on a 64-byte cache line (WebAssembly memory, SharedArrayBuffer, Lanczos vectors)', async () => {
  const { Network } = await import('../../src/core/network');
  const { SharedTsKernels } = await import('../../src/core/dense');
  // odd sizes, so that a 16-byte rule would leave arrays off the line
  const specs = [9, 5, 3].map((units, i) => ({
    units,
    activation: i === 2 ? ('linear' as const) : ('relu' as const),
    alpha: 0,
    init: { scheme: 'he_normal' as const, mode: 'fan_in' as const },
    bias: 0,
  }));
  for (const kernels of [new WasmKernels(), new SharedTsKernels()]) {
    const net = new Network(specs, 7, 'float32', 5, kernels, 'adam', true);
    const arrays = [net.input, ...net.layers.flatMap((l) => [l.W, l.b, l.dW, l.db, l.Z, l.A, l.dZ])];
    for (const a of net.states.flatMap((s) => [s.W.m, s.W.v, s.b.m, s.b.v])) if (a) arrays.push(a);
    const h = net.hessian!;
    arrays.push(h.v, h.hv, h.tmpW, h.tmpRows, ...h.layers.flatMap((l) => [l.rZ, l.rA, l.rG, l.d1]));
    assert.ok(arrays.length > 25);
    for (const a of arrays) assert.equal(a.byteOffset % 64, 0, `${kernels.name}: an array at byte ${a.byteOffset}`);
  }
  const { f64, f32 } = new WasmKernels().vectors()!.arrays(13, 3, 5);
  for (const a of [...f64, ...f32]) assert.equal(a.byteOffset % 64, 0, `a Lanczos vector at byte ${a.byteOffset}`);
});

test("Lanczos's vector arithmetic in WebAssembly gives the reference's results bit for bit (every length mod 8, y = w, float32 vectors, several vectors in one pass, foreign arrays)", () => {
  enableRelaxedSimd();
  const rng = new Rng(9);
  for (const variant of ['simd', 'relaxed'] as const) {
    const wasm = new WasmKernels(variant).vectors()!;
    for (const n of [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 33, 85003]) {
      const { f64, f32 } = wasm.arrays(n, 4, 7);
      const [a, b, w, v] = f64 as [Float64Array, Float64Array, Float64Array, Float64Array];
      const [q, r, u, wx, wy, ww, wu] = f32 as [
        Float32Array,
        Float32Array,
        Float32Array,
        Float32Array,
        Float32Array,
        Float32Array,
        Float32Array,
      ];
      for (const x of [a, b, w, v])
        for (let i = 0; i < n; i++) x[i] = rng.normal() * 10 ** Math.floor(7 * rng.uniform()) - 3;
      for (let i = 0; i < n; i++) q[i] = rng.normal();
      const ref = {
        a: Float64Array.from(a),
        b: Float64Array.from(b),
        w: Float64Array.from(w),
        v: Float64Array.from(v),
      };
      const refQ = Float32Array.from(q),
        refR = new Float32Array(n);
      assert.equal(wasm.dot(a, b), tsVectors.dot(ref.a, ref.b), `dot ${variant} n=${n}`);
      const c = rng.normal();
      // (the reference against a plain sum: the same value but for the order of its terms)
      let plain = 0,
        scale = 0;
      for (let i = 0; i < n; i++) {
        const t = (w[i]! - c * a[i]!) * b[i]!;
        plain += t;
        scale += Math.abs(t);
      }
      const got = wasm.subtractAndDot(w, c, a, b);
      assert.equal(got, tsVectors.subtractAndDot(ref.w, c, ref.a, ref.b), `sad ${n}`);
      assert.ok(Math.abs(got - plain) <= 1e-13 * scale, `sad ${n}: ${got} against a plain sum ${plain}`);
      assert.deepEqual(w, ref.w);
      assert.equal(wasm.subtractAndDot(w, -c, b, w), tsVectors.subtractAndDot(ref.w, -c, ref.b, ref.w), `sad y=w ${n}`);
      assert.deepEqual(w, ref.w);
      wasm.scaleInto(w, 1 / 3, r);
      tsVectors.scaleInto(ref.w, 1 / 3, refR);
      assert.deepEqual(w, ref.w);
      assert.deepEqual(r, refR);
      wasm.addScaled(v, c, q);
      tsVectors.addScaled(ref.v, c, refQ);
      assert.deepEqual(v, ref.v);
      // several vectors added in one pass (four at a time, then one at a time): addScaled of each
      // in turn, bit for bit, for 1 to 9 of them
      for (let m = 1; m <= 9; m++) {
        const cs = Array.from({ length: m }, () => rng.normal()),
          qs = Array.from({ length: m }, (_, j) => [q, r, u][j % 3]!),
          refQs = qs.map((x) => Float32Array.from(x));
        wasm.addScaledAll(v, cs, qs);
        cs.forEach((cj, j) => tsVectors.addScaled(ref.v, cj, refQs[j]!));
        assert.deepStrictEqual(v, ref.v, `addScaledAll ${variant} n=${n} m=${m}`);
        const tsV: Float64Array = Float64Array.from(v);
        tsVectors.addScaledAll(tsV, cs, refQs);
        cs.forEach((cj, j) => tsVectors.addScaled(ref.v, cj, refQs[j]!));
        assert.deepStrictEqual(tsV, ref.v, `addScaledAll ts n=${n} m=${m}`);
        v.set(ref.v);
      }
      // float32 vectors with float64 operations (a float32 product u, Lanczos vectors x and y):
      // α and the next vector's residual, bit for bit (infinities, NaN, signed zeros and a
      // subnormal among u's values where n allows), and against plain float64 sums
      for (let i = 0; i < n; i++) u[i] = rng.normal() * 10 ** Math.floor(7 * rng.uniform());
      const x32 = Float32Array.from(r),
        y32 = Float32Array.from(q);
      const finiteU = Float32Array.from(u);
      [Infinity, -Infinity, NaN, -0, 0, 1e-45].forEach((x, i) => {
        if (7 * i < n) u[7 * i] = x;
      });
      for (const [from, label] of [
        [finiteU, 'finite'],
        [u, 'specials'],
      ] as const) {
        wx.set(x32);
        wy.set(y32);
        wu.set(from);
        const a32 = tsVectors.alpha32(from, c, x32, y32);
        assert.ok(Object.is(wasm.alpha32(wu, c, wx, wy), a32), `alpha32 ${variant} ${label} n=${n}`);
        const tsW = new Float32Array(n);
        const r32 = tsVectors.residual32(tsW, from, c, x32, a32, y32);
        assert.ok(Object.is(wasm.residual32(ww, wu, c, wx, a32, wy), r32), `residual32 ${variant} ${label} n=${n}`);
        assert.deepStrictEqual(ww, tsW, `residual32's vector ${variant} ${label} n=${n}`);
        if (from !== finiteU) continue;
        let pa = 0,
          pr = 0,
          sa = 0;
        for (let i = 0; i < n; i++) {
          const d = from[i]! - c * x32[i]!;
          pa += d * y32[i]!;
          sa += Math.abs(d * y32[i]!);
          const v = d - a32 * y32[i]!;
          pr += v * v;
          assert.equal(tsW[i], Math.fround(v));
        }
        assert.ok(Math.abs(a32 - pa) <= 1e-13 * sa, `alpha32 ${n}: ${a32} against a plain sum ${pa}`);
        assert.ok(Math.abs(r32 - pr) <= 1e-13 * pr, `residual32 ${n}: ${r32} against a plain sum ${pr}`);
        const scaled = Float32Array.from(tsW, (v) => v * Math.fround(0.3));
        wasm.scale32(ww, 0.3);
        tsVectors.scale32(tsW, 0.3);
        assert.deepStrictEqual(tsW, scaled, `scale32 ts n=${n}`);
        assert.deepStrictEqual(ww, scaled, `scale32 ${variant} n=${n}`);
      }
      // a warm start's random part: the generator's values as nextU32 gives them (its state
      // advanced as those calls would), then q ← a·q + b·r
      const g1 = new Rng(n + 5),
        g2 = new Rng(n + 5);
      wasm.uniformSigned(a, g1);
      tsVectors.uniformSigned(ref.a, g2);
      assert.deepStrictEqual(a, ref.a, `uniformSigned ${variant} n=${n}`);
      assert.ok(ref.a.every((x) => x > -1 && x < 1));
      assert.equal(g1.nextU32(), g2.nextU32());
      wasm.scaleAdd(w, 0.7, a, -1.3);
      tsVectors.scaleAdd(ref.w, 0.7, ref.a, -1.3);
      assert.deepStrictEqual(w, ref.w, `scaleAdd ${variant} n=${n}`);
      // arrays it did not hand out take the reference
      const foreign = Float64Array.from(ref.a);
      assert.equal(wasm.dot(foreign, b), tsVectors.dot(ref.a, ref.b));
    }
    // arrays handed out before a larger memory replaced the last stay valid
    const old = wasm.arrays(8, 2, 0).f64;
    old[0]!.fill(2);
    old[1]!.fill(3);
    wasm.arrays(100_000, 2, 1);
    assert.equal(wasm.dot(old[0]!, old[1]!), 48);
  }
});

test('the input basis from the WebAssembly Gram matrix is the TS one bit for bit (every edge of its blocking, a repeated row)', async () => {
  const { inputBasis } = await import('../../src/core/input-basis');
  enableRelaxedSimd();
  const rng = new Rng(12);
  for (const variant of ['simd', 'relaxed'] as const)
    for (const [B, n] of [
      [1, 1],
      [3, 2],
      [4, 3],
      [5, 7],
      [8, 8],
      [9, 33],
      [64, 784],
    ]) {
      const w = new WasmKernels(variant);
      const alloc = w.createArena('float32', 4 * (2 * B * n + 64), Math.max(B * B * 2, 64))!;
      const X = alloc(B * n),
        out = alloc(B * B),
        ref = new Float32Array(B * B);
      for (let i = 0; i < B * n; i++) X[i] = rng.normal() * (1 + (i % 5));
      if (B > 2) X.copyWithin(2 * n, 0, n); // row 2 repeats row 0: rank B − 1
      const got = inputBasis(X, B, n, out, w),
        want = inputBasis(X, B, n, ref);
      assert.equal(got.r, want.r, `${variant} ${B}×${n}`);
      assert.deepEqual(got.piv, want.piv);
      assert.deepEqual(got.C1, want.C1);
      assert.deepEqual(out, ref);
    }
});

test('placeColumns puts a block of rows into a range of columns, and leaves the other columns', () => {
  const w = new WasmKernels();
  const alloc = w.createArena('float32', 4 * 65536, 64)!;
  for (const [B, U, u0, width] of [
    [1, 1, 0, 1],
    [3, 8, 4, 4],
    [5, 13, 0, 7],
    [64, 256, 128, 128],
    [2, 9, 8, 1],
    [4, 6, 2, 0],
  ] as const) {
    const src = alloc(B * width || 1),
      dst = alloc(B * U);
    for (let i = 0; i < B * width; i++) src[i] = i + 0.5;
    dst.fill(-1);
    assert.ok(w.placeColumns(src, dst, B, width, U, u0));
    for (let i = 0; i < B; i++)
      for (let u = 0; u < U; u++) {
        const want = u >= u0 && u < u0 + width ? src[i * width + u - u0]! : -1;
        assert.equal(dst[i * U + u], want, `${B}×${U}, columns ${u0}+${width}: row ${i}, column ${u}`);
      }
  }
  assert.equal(w.placeColumns(new Float32Array(4), alloc(4), 1, 2, 4, 0), false, 'an array outside the arena');
});
