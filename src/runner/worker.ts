/**
 * The training worker (worker_threads). Loads the model file, runs `run` or `analyze` with the
 * core, and streams the events to its host in batches (at most every ~16 ms, and at the end).
 * Stops promptly when the host sets the shared stop flag: it is checked before every step. Waits
 * when the host has not consumed MAX_IN_FLIGHT batches (a printer slower than training).
 */
import { parentPort, Worker, workerData } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { analyze, initialSharpness } from '../core/analyze';
import { Trainer } from '../core/trainer';
import { Stopped } from '../core/data';
import type { LayerwiseEvent } from '../protocol/events';
import type { StepTally } from '../report/thinning';
import { RowRate, tallySteps } from '../report/thinning';
import type { InitScheme } from '../core/spec';
import { INIT_SCHEMES, withInitScheme } from '../core/spec';
import type { RunRequest, WorkerMessage } from '../protocol/worker-messages';
import { MAX_IN_FLIGHT } from '../protocol/worker-messages';
import { loadModelFile, loadModelText } from '../modelfile/load';
import { problemMessages } from '../modelfile/problems';
import { enableRelaxedSimd } from './wasm-features';
import { machineIdleMs, processCpuMs } from './process-clock';
import type { HelperInit, SpawnHelper } from '../core/split-protocol';
import { runHelper } from '../core/split-helper';
import { nativeKernels, runKernels } from './native-kernels';

const port = parentPort;
if (!port) throw new Error('worker.js must run as a worker thread');
enableRelaxedSimd();
const helperInit = (workerData as { helper?: HelperInit } | null)?.helper;

/** The batch split's helper thread: this same script, started with the shared arena in workerData. */
const spawnHelper: SpawnHelper = (init) => {
  const w = new Worker(__filename, { workerData: { helper: init }, execArgv: [] });
  w.unref();
  return { terminate: () => void w.terminate() };
};

function post(m: WorkerMessage): void {
  port!.postMessage(m);
}

function handle(req: RunRequest): void {
  const stop = new Int32Array(req.stopFlag);
  const stopped = (): void => {
    post({ type: 'events', events: [{ type: 'end', steps: 0, reason: 'stopped', elapsedMs: 0 }] });
    post({ type: 'done', outcome: 'stopped' });
  };
  const opts = {
    maxMemoryBytes: req.maxMemoryBytes,
    sharpnessEvery: req.sharpnessEvery,
    confineTo: req.confineTo,
    shouldStop: () => Atomics.load(stop, 0) !== 0,
  };
  let loaded;
  try {
    loaded = req.text !== undefined ? loadModelText(req.file, req.text, opts) : loadModelFile(req.file, opts);
  } catch (e) {
    if (e instanceof Stopped) {
      stopped();
      return;
    } // stopped while a long CSV was read
    throw e;
  }
  if (loaded.problems.length > 0)
    post({ type: 'problems', problems: problemMessages(req.file, loaded.text, loaded.problems) });
  if (!loaded.spec) {
    post({ type: 'done', outcome: 'invalid' });
    return;
  }
  let spec = req.seed !== undefined ? { ...loaded.spec, seed: req.seed } : loaded.spec;
  if (req.initOverride !== undefined && (INIT_SCHEMES as readonly string[]).includes(req.initOverride))
    spec = withInitScheme(spec, req.initOverride as InitScheme);

  let buffer: LayerwiseEvent[] = [];
  let last = performance.now();
  const rate = req.postRates ? new RowRate(req.postRates) : null;
  const tally: StepTally = { steps: 0, clipped: 0 };
  const flush = (): void => {
    if (buffer.length === 0) return;
    if (rate) tallySteps(buffer, tally);
    // (histograms alone, all waiting for tokens: nothing to post)
    const events = rate ? rate.thin(buffer, performance.now()) : buffer;
    buffer = [];
    if (events.length === 0) {
      last = performance.now();
      return;
    }
    Atomics.add(stop, 1, 1);
    post({ type: 'events', events, ...(rate ? { tally: { ...tally } } : {}) });
    // back-pressure: while the host has MAX_IN_FLIGHT batches it has not consumed, wait (a stop ends the wait)
    for (let n = Atomics.load(stop, 1); n > MAX_IN_FLIGHT && Atomics.load(stop, 0) === 0; n = Atomics.load(stop, 1))
      Atomics.wait(stop, 1, n, 100);
    last = performance.now();
  };
  // the periodic events in batches (every 16 ms or 256 events); the others (start, analysis, a
  // warning, end) at once
  const emit = (e: LayerwiseEvent): void => {
    buffer.push(e);
    const periodic = e.type === 'step' || e.type === 'histogram' || e.type === 'sharpness' || e.type === 'validation';
    if (!periodic || performance.now() - last > 16 || buffer.length >= 256) flush();
  };

  if (req.mode === 'analyze') {
    for (const e of analyze(spec, { thresholds: req.thresholds })) emit(e);
    flush(); // the analysis shows while λmax is computed
    for (const e of initialSharpness(spec, req.thresholds)) emit(e);
    flush();
    post({ type: 'done', outcome: 'completed' });
    return;
  }
  if (req.withAnalysis)
    for (const e of analyze(spec, { thresholds: req.thresholds, measure: false })) if (e.type === 'analysis') emit(e);
  let trainer: Trainer;
  try {
    trainer = new Trainer(spec, emit, {
      steps: req.steps,
      every: req.every,
      histogramsEvery: req.histogramsEvery,
      sharpnessEvery: req.sharpnessEvery,
      emitLast: req.emitLast,
      thresholds: req.thresholds,
      now: () => performance.now(),
      cpuNow: processCpuMs,
      idleNow: machineIdleMs,
      kernels: runKernels(req.kernels ?? 'auto', __dirname),
      spawnHelper: (req.threads ?? 1) >= 2 ? spawnHelper : undefined,
      splitMinFlops: req.splitMinFlops,
      adaptiveSplit: req.adaptiveSplit,
      shouldStop: () => Atomics.load(stop, 0) !== 0,
    });
  } catch (e) {
    if (!(e instanceof Stopped)) throw e;
    // stopped before the first step (while the data was generated): the run still ends with `end`
    emit({ type: 'end', steps: 0, reason: 'stopped', elapsedMs: 0 });
    flush();
    post({ type: 'done', outcome: 'stopped' });
    return;
  }
  let end;
  try {
    // before each step: the progress the host writes `end` from should it have to terminate us
    end = trainer.run(() => {
      Atomics.store(stop, 2, trainer.stepsDone);
      Atomics.store(stop, 3, Math.min(2 ** 31 - 1, Math.round(trainer.elapsedMs)));
      return Atomics.load(stop, 0) !== 0;
    });
  } finally {
    trainer.close();
  }
  flush();
  post({ type: 'done', outcome: end.reason });
}

if (helperInit) runHelper(helperInit, helperInit.native ? nativeKernels(__dirname) : null);
else
  port.on('message', (req: RunRequest) => {
    try {
      handle(req);
    } catch (e) {
      post({ type: 'crash', message: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
    }
  });
