/** The worker runner: 200 runs started and stopped leave handles and memory flat; a crashing worker becomes an error. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { EndEvent, LayerwiseEvent, StepEvent } from '../../src/protocol/events';
import type { StepTally } from '../../src/report/thinning';
import { WorkerRun } from '../../src/runner/runner';
import { ROOT } from '../helpers/cli';

const WORKER = path.join(ROOT, 'dist', 'worker.js');
const MODEL = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'layerwise-runner-')), 'tiny.mlp.json');
fs.writeFileSync(
  MODEL,
  '{ "input": { "size": 2 }, "layers": [{ "units": 4, "activation": "relu" }, { "units": 2 }], "loss": "cross_entropy", "data": { "source": "synthetic", "samples": 32 }, "training": { "batchSize": 8 } }',
);

function handles(): number {
  return process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap').length;
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  (globalThis as { gc?: () => void }).gc?.();
}

test('200 runs started and stopped: each ends "stopped", no worker, handle or memory growth', async () => {
  const warm = new WorkerRun(WORKER, { mode: 'run', file: MODEL, steps: 1e7 });
  warm.stop();
  await warm.done;
  await settle();
  // counted after a first run, so the test runner's own pipes are already open
  const h0 = handles();
  const m0 = process.memoryUsage().heapUsed;
  const outcomes = new Map<string, number>();
  for (let i = 0; i < 200; i++) {
    let got = 0;
    let firstEvents: () => void = () => undefined;
    const seen = new Promise<void>((r) => (firstEvents = r));
    const run = new WorkerRun(
      WORKER,
      { mode: 'run', file: MODEL, steps: 1e7 },
      {
        onEvents: (e) => {
          got += e.length;
          firstEvents();
        },
      },
    );
    if (i % 2 === 0) await seen; // half stopped mid-run, half before the first step
    run.stop();
    const r = await run.done;
    outcomes.set(r.outcome, (outcomes.get(r.outcome) ?? 0) + 1);
    assert.equal(run.running, false);
    if (i % 2 === 0) assert.ok(got > 0);
  }
  await settle();
  const grown = (process.memoryUsage().heapUsed - m0) / 1024 / 1024;
  assert.deepEqual([...outcomes.keys()], ['stopped'], JSON.stringify([...outcomes]));
  assert.equal(handles(), h0, `active handles ${JSON.stringify(process.getActiveResourcesInfo())}, ${h0} before`);
  assert.ok(grown < 20, `heap grew ${grown.toFixed(1)} MB over 200 runs`);
});

test('a worker that throws or exits becomes an error, not silence', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'layerwise-crash-'));
  const throwing = path.join(dir, 'throw.js');
  fs.writeFileSync(throwing, 'throw new Error("boom at load");');
  const exiting = path.join(dir, 'exit.js');
  fs.writeFileSync(exiting, 'require("node:worker_threads").parentPort.on("message", () => process.exit(7));');
  for (const [file, re] of [
    [throwing, /the training worker failed: boom at load/],
    [exiting, /exited unexpectedly \(code 7\)/],
  ] as const) {
    let crash = '';
    const r = await new WorkerRun(file, { mode: 'run', file: MODEL }, { onCrash: (m) => (crash = m) }).done;
    assert.equal(r.outcome, 'crashed');
    assert.match(crash, re);
  }
});

test('an internal error inside the worker is reported as a crash with its message', async () => {
  // a model whose data file vanishes between validation and use cannot crash the worker: it is re-read and reported
  let crash = '';
  const r = await new WorkerRun(
    WORKER,
    { mode: 'run', file: path.join(ROOT, 'no-such-dir', 'm.mlp.json') },
    { onCrash: (m) => (crash = m) },
  ).done;
  assert.equal(r.outcome, 'invalid');
  assert.equal(crash, '');
});

test('runs on two threads: start says so, Stop ends them mid-run, 20 runs leave no thread or handle behind', async () => {
  const wide = path.join(path.dirname(MODEL), 'wide.mlp.json');
  fs.writeFileSync(
    wide,
    JSON.stringify({
      input: { size: 256 },
      layers: [{ units: 256, activation: 'relu' }, { units: 256, activation: 'relu' }, { units: 10 }],
      loss: 'cross_entropy',
      data: { source: 'synthetic', samples: 512 },
      training: { batchSize: 64 },
    }),
  );
  const osThreads = (): number =>
    Number(/Threads:\s+(\d+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0);
  const h0 = handles(),
    t0s = osThreads();
  for (let i = 0; i < 20; i++) {
    let threads = 0,
      steps = 0;
    let stepped: () => void = () => undefined;
    const seen = new Promise<void>((r) => (stepped = r));
    const run = new WorkerRun(
      WORKER,
      { mode: 'run', file: wide, steps: 1e7, threads: 2 },
      {
        onEvents: (es) => {
          for (const e of es) {
            if (e.type === 'start') threads = e.threads ?? 0;
            if (e.type === 'step') {
              steps++;
              stepped();
            }
          }
        },
      },
    );
    await seen;
    const t0 = performance.now();
    run.stop();
    const r = await run.done;
    assert.equal(r.outcome, 'stopped');
    assert.equal(threads, 2);
    assert.ok(steps > 0);
    assert.ok(performance.now() - t0 < 2000, `stop took ${performance.now() - t0} ms`);
  }
  await new Promise((r) => setTimeout(r, 200));
  await settle();
  assert.equal(handles(), h0, `active handles ${JSON.stringify(process.getActiveResourcesInfo())}, ${h0} before`);
  // each run had a worker and its helper thread: none of them is left (Linux: the process's threads)
  if (fs.existsSync('/proc/self/status')) assert.ok(osThreads() <= t0s + 1, `OS threads ${osThreads()}, ${t0s} before`);
});

test('a worker terminated after the grace period still ends the run with `end`, from the progress it wrote', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'layerwise-deaf-'));
  // a worker deaf to the stop flag (a read of its data that does not look up, on a busy machine):
  // it writes its progress (7 steps, 1234 ms) as the real worker does before each step, then spins
  const deaf = path.join(dir, 'deaf.js');
  fs.writeFileSync(
    deaf,
    `require("node:worker_threads").parentPort.on("message", (m) => {
      const f = new Int32Array(m.stopFlag);
      Atomics.store(f, 2, Number(process.env.LW_STEPS ?? 0));
      Atomics.store(f, 3, Number(process.env.LW_MS ?? 0));
      Atomics.store(f, 1, -1000); // (says it is spinning)
      for (;;);
    });`,
  );
  for (const [steps, ms] of [
    [0, 0],
    [7, 1234],
  ] as const) {
    process.env.LW_STEPS = String(steps);
    process.env.LW_MS = String(ms);
    const events: unknown[] = [];
    const run = new WorkerRun(deaf, { mode: 'run', file: MODEL }, { onEvents: (e) => void events.push(...e) });
    // (the worker reads the request before the test stops it)
    const flag = (run as unknown as { flag: Int32Array }).flag;
    while (Atomics.load(flag, 1) !== -1000) await new Promise((r) => setTimeout(r, 10));
    const t0 = Date.now();
    run.stop(200);
    const r = await run.done;
    assert.equal(r.outcome, 'stopped');
    assert.ok(Date.now() - t0 < 5000);
    assert.deepEqual(events, [{ type: 'end', steps, reason: 'stopped', elapsedMs: ms }]);
  }
  delete process.env.LW_STEPS;
  delete process.env.LW_MS;
});

test("a run stopped mid-training that ends on its own writes one `end`, the worker's", async () => {
  const events: { type: string; steps?: number }[] = [];
  let stepped: () => void = () => undefined;
  const seen = new Promise<void>((r) => (stepped = r));
  const run = new WorkerRun(
    WORKER,
    { mode: 'run', file: MODEL, steps: 1e7 },
    {
      onEvents: (es) => {
        events.push(...es);
        if (es.some((e) => e.type === 'step')) stepped();
      },
    },
  );
  await seen;
  run.stop();
  assert.equal((await run.done).outcome, 'stopped');
  const ends = events.filter((e) => e.type === 'end');
  assert.equal(ends.length, 1);
  assert.ok(ends[0]!.steps! >= 1);
});

test('a run posting its host a rate: fewer step events, the spikes and the last among them, every other event, the exact tally', async () => {
  const file = path.join(path.dirname(MODEL), 'clipped.mlp.json');
  fs.writeFileSync(
    file,
    '{ "seed": 2, "input": { "size": 4 }, "layers": [{ "units": 8, "activation": "relu" }, { "units": 3 }], "loss": "cross_entropy", "data": { "source": "synthetic", "samples": 64 }, "training": { "batchSize": 8, "learningRate": 0.05, "clip": { "mode": "norm", "max": 0.5 } } }',
  );
  const collect = async (postRates?: {
    stepRows: number;
    stepBurst: number;
    histogramRows: number;
    histogramBurst: number;
  }) => {
    const events: LayerwiseEvent[] = [];
    const tallies: StepTally[] = [];
    const run = new WorkerRun(
      WORKER,
      { mode: 'run', file, steps: 20000, histogramsEvery: 10, ...(postRates ? { postRates } : {}) },
      {
        onEvents: (e, t) => {
          events.push(...e);
          if (t) tallies.push(t);
        },
      },
    );
    assert.equal((await run.done).outcome, 'completed');
    return { events, tallies };
  };
  const all = await collect();
  const rated = await collect({ stepRows: 900, stepBurst: 300, histogramRows: 30, histogramBurst: 30 });
  const steps = (es: LayerwiseEvent[]) => es.filter((e): e is StepEvent => e.type === 'step');
  const end = all.events.find((e): e is EndEvent => e.type === 'end')!;
  assert.equal(steps(all.events).length, 20000, 'without a rate: every step');
  assert.equal(all.tallies.length, 0);
  const kept = steps(rated.events);
  assert.ok(kept.length < 20000 / 4, `${kept.length} of 20000 steps posted`);
  assert.equal(kept.at(-1)!.step, 19999, 'the last step');
  assert.deepEqual(
    kept.map((e) => e.step),
    [...kept.map((e) => e.step)].sort((a, b) => a - b),
    'in order',
  );
  assert.ok(rated.events.filter((e) => e.type === 'histogram').length < 2000 / 2);
  // the tally: every step, and how many clipped (the end event counts them over every step too)
  assert.ok(end.clippedSteps! > 0 && end.clippedSteps! < 20000, `${end.clippedSteps} clipped`);
  assert.deepEqual(rated.tallies.at(-1), { steps: 20000, clipped: end.clippedSteps });
  const sorted = rated.tallies.map((t) => t.steps);
  assert.deepEqual(
    sorted,
    [...sorted].sort((a, b) => a - b),
    'tallies grow',
  );
  // every event that is not a step or a histogram, as without a rate
  const other = (es: LayerwiseEvent[]) =>
    es.filter((e) => e.type !== 'step' && e.type !== 'histogram').map((e) => (e.type === 'end' ? 'end' : e));
  assert.deepEqual(other(rated.events), other(all.events));
  // the loss's largest spike among the posted steps' batches survives: the largest loss of all
  const top = steps(all.events).reduce((a, b) => (b.loss > a.loss ? b : a));
  assert.ok(
    kept.some((e) => e.step === top.step),
    `the largest loss (step ${top.step}) is posted`,
  );
});
