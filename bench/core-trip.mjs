// The round trip of a flag between two threads, each spinning on its own core (a worker thread and
// this one, with Atomics): ~160 ns where this machine's two vCPUs share a cache, ~450 ns where the
// host has placed them apart (docs/performance.md, "What a line shared by both cores costs";
// bench/cross-core.c measures the same in C). The host moves them within minutes, and the batch
// split's worth moves with it, so the bench takes this before each of its quiet rounds.
// Prints {"metric":"coreRoundTrip","ns":N}.
import { Worker } from 'node:worker_threads';

const TRIPS = 100_000;
const flag = new Int32Array(new SharedArrayBuffer(64));
const READY = 8;
const pong = new Worker(
  `const { workerData } = require('node:worker_threads');
   const f = new Int32Array(workerData.sab);
   Atomics.store(f, ${READY}, 1);
   Atomics.notify(f, ${READY});
   for (let i = 0; i < ${TRIPS}; i++) {
     while (Atomics.load(f, 0) !== 2 * i + 1);
     Atomics.store(f, 0, 2 * i + 2);
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
await pong.terminate();
console.log(JSON.stringify({ metric: 'coreRoundTrip', ns: Math.round(ns) }));
