// Where the host has put this machine's two vCPUs, which the batch split's worth depends on, by two
// measures taken with a worker thread and this one:
// - ns: the round trip of a flag between the two threads, each spinning on its own vCPU (Atomics):
//   ~160-200 ns where the vCPUs share a cache, ~450-600 ns where the host has placed them apart
//   (docs/performance.md, "What a line shared by both cores costs"; bench/cross-core.c measures the
//   same in C);
// - twoCores: how much arithmetic the two threads do at once against one thread alone (a loop
//   of independent multiply-adds that keeps a core's floating-point units busy): ~2 where the vCPUs
//   are two cores, ~1 where the host runs them on one core's two hardware threads or on one
//   core in turn (then no split can pay: the two threads of a step share one core's arithmetic).
// The host moves them within minutes, so the bench takes this before each of its quiet rounds.
// Prints {"metric":"coreRoundTrip","ns":N,"twoCores":G}.
import { Worker } from 'node:worker_threads';

const TRIPS = 100_000;
/** Iterations of the arithmetic loop: ~50 ms on one core of this machine. */
const SPIN = 8_000_000;
// twelve independent chains of a multiply and an add: enough to keep a core's units busy, so two
// hardware threads of one core share them (fewer chains would leave them idle half the time)
function arithmetic(n) {
  let a = 1,
    b = 1,
    c = 1,
    d = 1,
    e = 1,
    f = 1,
    g = 1,
    h = 1,
    i = 1,
    j = 1,
    k = 1,
    l = 1;
  for (let t = 0; t < n; t++) {
    a = a * 0.9999999 + 1e-7;
    b = b * 0.9999998 + 2e-7;
    c = c * 0.9999997 + 3e-7;
    d = d * 0.9999996 + 4e-7;
    e = e * 0.9999995 + 5e-7;
    f = f * 0.9999994 + 6e-7;
    g = g * 0.9999993 + 7e-7;
    h = h * 0.9999992 + 8e-7;
    i = i * 0.9999991 + 9e-7;
    j = j * 0.999999 + 1e-6;
    k = k * 0.9999989 + 1.1e-6;
    l = l * 0.9999988 + 1.2e-6;
  }
  return a + b + c + d + e + f + g + h + i + j + k + l;
}
const flag = new Int32Array(new SharedArrayBuffer(64));
const READY = 8,
  GO = 4,
  DONE = 5;
const pong = new Worker(
  `const { workerData } = require('node:worker_threads');
   ${arithmetic.toString()}
   const f = new Int32Array(workerData.sab);
   arithmetic(${SPIN} / 8);
   Atomics.store(f, ${READY}, 1);
   Atomics.notify(f, ${READY});
   for (let i = 0; i < ${TRIPS}; i++) {
     while (Atomics.load(f, 0) !== 2 * i + 1);
     Atomics.store(f, 0, 2 * i + 2);
   }
   for (let r = 1; ; r++) {
     Atomics.wait(f, ${GO}, r - 1);
     if (Atomics.load(f, ${GO}) < 0) break;
     arithmetic(${SPIN});
     Atomics.store(f, ${DONE}, r);
     Atomics.notify(f, ${DONE});
   }`,
  { eval: true, workerData: { sab: flag.buffer } },
);
if (Atomics.wait(flag, READY, 0, 10_000) === 'timed-out' && Atomics.load(flag, READY) !== 1) {
  console.error('core-trip: the worker thread did not start');
  process.exit(1);
}
const t0 = process.hrtime.bigint();
for (let i = 0; i < TRIPS; i++) {
  Atomics.store(flag, 0, 2 * i + 1);
  while (Atomics.load(flag, 0) !== 2 * i + 2);
}
const ns = Number(process.hrtime.bigint() - t0) / TRIPS;

/** Milliseconds `arithmetic(SPIN)` takes on this thread. */
const alone = () => {
  const s = performance.now();
  arithmetic(SPIN);
  return performance.now() - s;
};
arithmetic(SPIN / 8);
// three rounds of: this thread alone, then both threads at once (the pair's time: the later one's)
const gains = [];
for (let r = 1; r <= 3; r++) {
  const one = alone();
  const s = performance.now();
  Atomics.store(flag, GO, r);
  Atomics.notify(flag, GO);
  arithmetic(SPIN);
  Atomics.wait(flag, DONE, r - 1, 10_000);
  gains.push((2 * one) / (performance.now() - s));
}
Atomics.store(flag, GO, -1);
Atomics.notify(flag, GO);
await pong.terminate();
const twoCores = [...gains].sort((a, b) => a - b)[1];
console.log(
  JSON.stringify({ metric: 'coreRoundTrip', ns: Math.round(ns), twoCores: Math.round(twoCores * 100) / 100 }),
);
