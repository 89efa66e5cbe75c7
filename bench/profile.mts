// Where one training step's time goes: `npm run bench:profile [-- W1|W2|W3|W4 [auto|wasm|ts] [1|2]]`
// (2: the batch split over a helper thread, dist/worker.js; the phases are the main thread's).
// Wraps the kernels' entry points and the network's passes with timers (one process, one workload);
// prints milliseconds per step for each phase. Timer overhead is ~0.1 µs a call.
import { Trainer } from '../src/core/trainer';
import { enableRelaxedSimd } from '../src/runner/wasm-features';
import { runKernels } from '../src/runner/native-kernels';
import type { DenseKernels } from '../src/core/kernels';
import { WORKLOADS } from './workloads.mjs';
import { specOf } from './spec-of';
import { helperSpawner } from './helper';

enableRelaxedSimd(); // as the worker does

const name = (process.argv[2] ?? 'W1') as keyof typeof WORKLOADS;
const kernels = (process.argv[3] ?? 'auto') as 'auto' | 'wasm' | 'ts';
const threads = Number(process.argv[4] ?? 1);
const trainer = new Trainer(specOf(name), () => undefined, {
  stats: WORKLOADS[name].stats,
  kernels: runKernels(kernels, new URL('../dist/', import.meta.url).pathname),
  every: 1,
  spawnHelper: threads >= 2 ? helperSpawner(new URL('../dist/worker.js', import.meta.url).pathname) : undefined,
});
trainer.begin();
const totals = new Map<string, number>();
const wrap = <T extends object>(obj: T, key: keyof T & string, label: string): void => {
  const f = obj[key] as unknown as (...a: unknown[]) => unknown;
  if (typeof f !== 'function') return;
  (obj as Record<string, unknown>)[key] = (...a: unknown[]): unknown => {
    const t0 = performance.now();
    const r = f.apply(obj, a);
    totals.set(label, (totals.get(label) ?? 0) + performance.now() - t0);
    return r;
  };
};
const k = trainer.net.kernels as DenseKernels & Record<string, unknown>;
for (const m of ['forward', 'weightGrad', 'weightGradUnits', 'inputGrad', 'update', 'activate', 'derivative'] as const)
  wrap(k, m, `kernels.${m}`);
wrap(trainer.net, 'forward', 'net.forward (incl. kernels.forward)');
const split = (trainer as unknown as { split: Record<string, unknown> | null }).split;
if (split) {
  wrap(split, 'wait', 'split.wait (for the helper)');
  wrap(split, 'mergeForward', 'split.mergeForward');
  wrap(split, 'mergeBackward', 'split.mergeBackward');
}
wrap(trainer.net, 'backward', 'net.backward (incl. weightGrad, inputGrad)');
const tr = trainer as unknown as Record<string, Record<string, unknown>>;
wrap(tr.batcher!, 'copyRows', 'batcher.copyRows (the next batch)');
wrap(tr.batcher!, 'prepare', 'batcher.prepare');
wrap(tr.detectors!, 'observe', 'detectors.observe');
wrap(trainer as unknown as Record<string, unknown>, 'updateParameters', 'trainer.updateParameters');
for (let i = 0; i < 50; i++) trainer.runStep();
// Five rounds of ~1 s; the fastest round is reported (the least disturbed by this machine's noise).
let best: { total: number; steps: number; phases: Map<string, number> } | null = null;
for (let round = 0; round < 5; round++) {
  totals.clear();
  let steps = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < 1000) {
    trainer.runStep();
    steps++;
  }
  const total = performance.now() - t0;
  if (!best || total / steps < best.total / best.steps) best = { total, steps, phases: new Map(totals) };
}
const { total, steps, phases } = best!;
trainer.close();
console.log(
  `${name} on ${trainer.net.kernels.name}, ${trainer.threads} thread(s): ${(total / steps).toFixed(3)} ms/step (${((1000 * steps) / total).toFixed(1)} steps/s), fastest of 5 rounds`,
);
for (const [label, ms] of phases)
  console.log(`  ${label.padEnd(44)} ${(ms / steps).toFixed(3)} ms  ${((100 * ms) / total).toFixed(1)} %`);
