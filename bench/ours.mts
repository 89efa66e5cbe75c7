// One workload on the Layerwise core, in this process: prints one JSON line.
// Usage (bundled by bench/run.mjs): node ours.mjs W1 [ts|auto] [THREADS WORKER]  |  ours.mjs analyze  |  ours.mjs stop WORKER MODEL
//   |  ours.mjs overhead  |  ours.mjs threads W1 WORKER
import { analyze } from '../src/core/analyze';
import { WorkerRun } from '../src/runner/runner';
import { Trainer } from '../src/core/trainer';
import { enableRelaxedSimd } from '../src/runner/wasm-features';
import { WORKLOADS, flopsPerStep, measure } from './workloads.mjs';
import { specOf } from './spec-of';
import { helperSpawner } from './helper';

enableRelaxedSimd(); // as the worker does

const args = process.argv.slice(2);
if (args[0] === 'analyze') await analyzeLatency();
else if (args[0] === 'overhead') await statsOverhead();
else if (args[0] === 'threads') await threadSpeedup(args[1] as keyof typeof WORKLOADS, args[2]!);
else if (args[0] === 'stop') await stopLatency(args[1]!, args[2]!);
else await workload(args[0] as keyof typeof WORKLOADS, (args[1] ?? 'auto') as 'auto' | 'ts', Number(args[2] ?? 1), args[3]);

async function workload(name: keyof typeof WORKLOADS, kernels: 'auto' | 'ts', threads: number, worker?: string): Promise<void> {
  const w = WORKLOADS[name];
  const trainer = new Trainer(specOf(name), () => undefined, { stats: w.stats, kernels, every: 1, spawnHelper: threads >= 2 && worker ? helperSpawner(worker) : undefined });
  trainer.begin();
  const stepsPerSec = await measure(() => { trainer.runStep(); });
  trainer.close();
  const engine = kernels === 'ts' ? 'layerwise-ts' : threads >= 2 ? 'layerwise' : 'layerwise-1t';
  console.log(JSON.stringify({ workload: name, engine, kernels: trainer.net.kernels.name, threads: trainer.threads, stepsPerSec, gflops: (stepsPerSec * flopsPerStep(w)) / 1e9, peakRssMb: process.resourceUsage().maxRSS / 1024 }));
}

/**
 * W3 vs W1 on this machine's noise: both trainers in this process, alternating 250 ms windows,
 * the median over 9 pairs of (time per W3 step / time per W1 step − 1).
 */
async function statsOverhead(): Promise<void> {
  const make = (name: 'W1' | 'W3'): Trainer => { const t = new Trainer(specOf(name), () => undefined, { stats: WORKLOADS[name].stats, every: 1 }); t.begin(); return t; };
  const w1 = make('W1'), w3 = make('W3');
  const rate = (t: Trainer, ms: number): number => { let n = 0; const t0 = performance.now(); while (performance.now() - t0 < ms) { t.runStep(); n++; } return n / (performance.now() - t0); };
  rate(w1, 300); rate(w3, 300);
  const ratios: number[] = [];
  for (let i = 0; i < 9; i++) { const a = rate(w1, 250), b = rate(w3, 250); ratios.push(a / b - 1); }
  ratios.sort((x, y) => x - y);
  console.log(JSON.stringify({ metric: 'statsOverhead', value: ratios[4] }));
}

/**
 * Two threads vs one on this machine's noise: both trainers in this process, alternating 250 ms
 * windows; the median over 9 pairs of (steps/s on two threads / steps/s on one).
 */
async function threadSpeedup(name: keyof typeof WORKLOADS, worker: string): Promise<void> {
  const make = (threads: number): Trainer => {
    const t = new Trainer(specOf(name), () => undefined, { stats: WORKLOADS[name].stats, every: 1, spawnHelper: threads > 1 ? helperSpawner(worker) : undefined });
    t.begin();
    return t;
  };
  const one = make(1), two = make(2);
  const rate = (t: Trainer, ms: number): number => { let n = 0; const t0 = performance.now(); while (performance.now() - t0 < ms) { t.runStep(); n++; } return n / (performance.now() - t0); };
  rate(one, 300); rate(two, 300);
  const ratios: number[] = [];
  for (let i = 0; i < 9; i++) { const a = rate(one, 250), b = rate(two, 250); ratios.push(b / a); }
  ratios.sort((x, y) => x - y);
  one.close(); two.close();
  console.log(JSON.stringify({ metric: 'threadSpeedup', workload: name, threads: two.threads, value: ratios[4] }));
}

/** `analyze` of a 50-layer model (mean field + one measured pass): median of 21 after warm-up. */
async function analyzeLatency(): Promise<void> {
  const spec = specOf('W2');
  const times: number[] = [];
  for (let i = 0; i < 26; i++) {
    const t0 = performance.now();
    analyze(spec);
    if (i >= 5) times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  console.log(JSON.stringify({ metric: 'analyzeMs', value: times[10] }));
}

/** How long Stop takes to end a running W4 run in its worker, on two threads as the CLI runs it (median of 5). */
async function stopLatency(worker: string, model: string): Promise<void> {
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    let first: () => void = () => undefined;
    const started = new Promise<void>((r) => (first = r));
    const run = new WorkerRun(worker, { mode: 'run', file: model, steps: 1e6, every: 1, threads: 2 }, { onEvents: (e) => { if (e.some((x) => x.type === 'step')) first(); } });
    await started;
    await new Promise((r) => setTimeout(r, 200));
    const t0 = performance.now();
    run.stop();
    await run.done;
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  console.log(JSON.stringify({ metric: 'stopMs', value: times[2] }));
}
