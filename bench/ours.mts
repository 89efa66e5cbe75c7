// One workload on the Layerwise core, in this process: prints one JSON line.
// Usage (bundled by bench/run.mjs): node ours.mjs W1 [auto|wasm|ts] [THREADS WORKER]  |  ours.mjs analyze  |  ours.mjs stop WORKER MODEL
//   |  ours.mjs overhead WORKER [sharpness]  |  ours.mjs threads W1 WORKER
import { fileURLToPath } from 'node:url';
import { analyze } from '../src/core/analyze';
import { WorkerRun } from '../src/runner/runner';
import { Trainer } from '../src/core/trainer';
import { enableRelaxedSimd } from '../src/runner/wasm-features';
import { earlyTierUp } from '../src/runner/tier-up';
import { machineIdleMs, processCpuMs } from '../src/runner/process-clock';
import { runKernels } from '../src/runner/native-kernels';
import { WORKLOADS, flopsPerStep, measure } from './workloads.mjs';
import { specOf } from './spec-of';
import { helperSpawner } from './helper';

enableRelaxedSimd(); // as the worker does
earlyTierUp(); // as the CLI does
/** The built bundles' folder, where the native products are (dist-bench/ours.mjs or bench/ours.mts → dist). */
const DIST = fileURLToPath(new URL('../dist/', import.meta.url));

const args = process.argv.slice(2);
if (args[0] === 'analyze') await analyzeLatency();
else if (args[0] === 'overhead') await statsOverhead(args[1]!, args[2] === 'sharpness');
else if (args[0] === 'threads') await threadSpeedup(args[1] as keyof typeof WORKLOADS, args[2]!);
else if (args[0] === 'stop') await stopLatency(args[1]!, args[2]!);
else
  await workload(
    args[0] as keyof typeof WORKLOADS,
    (args[1] ?? 'auto') as 'auto' | 'wasm' | 'ts',
    args[2] === 'auto' ? 'auto' : Number(args[2] ?? 1),
    args[3],
  );

async function workload(
  name: keyof typeof WORKLOADS,
  kernels: 'auto' | 'wasm' | 'ts',
  threads: number | 'auto',
  worker?: string,
): Promise<void> {
  const w = WORKLOADS[name];
  const auto = threads === 'auto';
  const trainer = new Trainer(specOf(name), () => undefined, {
    stats: w.stats,
    kernels: runKernels(kernels, DIST),
    every: 1,
    spawnHelper: (auto || threads >= 2) && worker ? helperSpawner(worker) : undefined,
    // as the CLI runs it by default: split only while that is measured to pay
    ...(auto
      ? { adaptiveSplit: true, now: () => performance.now(), cpuNow: processCpuMs, idleNow: machineIdleMs }
      : {}),
  });
  trainer.begin();
  const stepsPerSec = await measure(() => {
    trainer.runStep();
  });
  trainer.close();
  const two = trainer.threads >= 2;
  const engine =
    kernels === 'ts'
      ? two
        ? 'layerwise-ts-2t'
        : 'layerwise-ts'
      : `layerwise${kernels === 'wasm' ? '-wasm' : ''}${auto ? '' : two ? '-2t' : '-1t'}`;
  console.log(
    JSON.stringify({
      workload: name,
      engine,
      kernels: trainer.net.kernels.name,
      threads: trainer.threads,
      stepsPerSec,
      gflops: (stepsPerSec * flopsPerStep(w)) / 1e9,
      peakRssMb: process.resourceUsage().maxRSS / 1024,
    }),
  );
}

/**
 * Steps/s of `a` over steps/s of `b` on this machine's noise: both in this process, alternating
 * 250 ms windows after a warm-up; the median of 9 pairs.
 */
function interleavedRatio(a: Trainer, b: Trainer, window = 250): number {
  const rate = (t: Trainer, ms: number): number => {
    let n = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < ms) {
      t.runStep();
      n++;
    }
    return n / (performance.now() - t0);
  };
  rate(a, Math.max(300, window));
  rate(b, Math.max(300, window));
  const ratios: number[] = [];
  for (let i = 0; i < 9; i++) {
    const ra = rate(a, window),
      rb = rate(b, window);
    ratios.push(ra / rb);
  }
  return ratios.sort((x, y) => x - y)[4]!;
}

/** A trainer of the workload; with a helper, its steps split always, or only while that pays (`adaptive`: as the CLI runs). */
function trainer(
  name: keyof typeof WORKLOADS,
  helper?: string,
  histogramsEvery = 0,
  sharpnessEvery = 0,
  adaptive = false,
): Trainer {
  const t = new Trainer(specOf(name), () => undefined, {
    stats: WORKLOADS[name].stats,
    kernels: runKernels('auto', DIST),
    every: 1,
    histogramsEvery,
    sharpnessEvery,
    spawnHelper: helper ? helperSpawner(helper) : undefined,
    ...(adaptive
      ? { adaptiveSplit: true, now: () => performance.now(), cpuNow: processCpuMs, idleNow: machineIdleMs }
      : {}),
  });
  t.begin();
  return t;
}

/**
 * The statistics' cost: time per W3 step over time per W1 step − 1, one thread each; the
 * histograms' and λmax's over the statistics alone (`worker`: the helper thread λmax runs on in a
 * run that has one; `sharpnessOnly`: λmax's two measures alone).
 */
async function statsOverhead(worker: string, sharpnessOnly: boolean): Promise<void> {
  if (!sharpnessOnly) {
    console.log(JSON.stringify({ metric: 'statsOverhead', value: interleavedRatio(trainer('W1'), trainer('W3')) - 1 }));
    // the histograms' cost at the default K = 10, over the statistics alone (one thread each)
    console.log(
      JSON.stringify({
        metric: 'histogramOverhead',
        value: interleavedRatio(trainer('W3'), trainer('W3', undefined, 10)) - 1,
      }),
    );
  }
  // λmax every 50 steps (its cost lands on one step in 50: long windows, so that each holds
  // several), as a run with a second thread takes it (threads auto: steps split where that pays,
  // λmax on the helper while this thread trains alone) against the same run without it
  const plain = trainer('W3', worker, 0, 0, true),
    sharp = trainer('W3', worker, 0, 50, true);
  console.log(JSON.stringify({ metric: 'sharpnessOverhead', value: interleavedRatio(plain, sharp, 1500) - 1 }));
  plain.close();
  sharp.close();
  // and on one thread, where the evaluations hold the training up
  console.log(
    JSON.stringify({
      metric: 'sharpnessOneThreadOverhead',
      value: interleavedRatio(trainer('W3'), trainer('W3', undefined, 0, 50), 1500) - 1,
    }),
  );
}

/** Two threads against one: steps/s on two over steps/s on one. */
async function threadSpeedup(name: keyof typeof WORKLOADS, worker: string): Promise<void> {
  const one = trainer(name),
    two = trainer(name, worker);
  const value = interleavedRatio(two, one);
  one.close();
  two.close();
  console.log(JSON.stringify({ metric: 'threadSpeedup', workload: name, threads: two.threads, value }));
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
    const run = new WorkerRun(
      worker,
      { mode: 'run', file: model, steps: 1e6, every: 1, threads: 2 },
      {
        onEvents: (e) => {
          if (e.some((x) => x.type === 'step')) first();
        },
      },
    );
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
