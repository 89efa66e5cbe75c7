/**
 * `layerwise run|analyze FILE`: runs the core in a worker thread and prints its events, as
 * ND-JSON (--json) or as tables, warnings and a progress bar; `layerwise watch LOG` (watch-log.ts)
 * prints a training log's the same way.
 * Exit codes: 0 done; 2 invalid model file, inputs or arguments; 3 non-finite values; 1 internal.
 */
import * as path from 'node:path';
import { availableParallelism } from 'node:os';
import type {
  HistogramEvent,
  LayerwiseEvent,
  SharpnessEvent,
  StartEvent,
  StepEvent,
  ValidationEvent,
} from '../protocol/events';
import { WorkerRun } from '../runner/runner';
import { earlyTierUp } from '../runner/tier-up';
import { EXIT, guardOutput, writeReport } from './output';
import { watchLog } from './watch-log';
import { modelInputs, reportTargetProblem } from './report-target';
import { ReplayLog } from '../extension/replay-log';
import type { CliArgs } from './args';
import { parseArgs, USAGE, UsageError } from './args';
import {
  analysisTable,
  histogramTable,
  sharpnessLine,
  progressBar,
  safeText,
  startLine,
  stepTable,
  style,
  summary,
  warningText,
} from './format';

declare const LAYERWISE_VERSION: string;

function main(argv: string[]): void {
  let args: CliArgs;
  try {
    args = parseArgs(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      // the error and where to look, not the whole help again
      process.stderr.write(
        `layerwise: ${safeText(e.message)}\n${USAGE.split('\n').slice(0, 3).join('\n')}\nlayerwise --help shows every option\n`,
      );
      process.exitCode = EXIT.invalid;
      return;
    }
    throw e;
  }
  if (args.command === 'help') {
    process.stdout.write(USAGE + '\n');
    return;
  }
  if (args.command === 'version') {
    process.stdout.write(`layerwise ${typeof LAYERWISE_VERSION === 'string' ? LAYERWISE_VERSION : 'dev'}\n`);
    return;
  }
  const file = args.file;
  const st = style(!args.json && process.stdout.isTTY === true && !process.env.NO_COLOR);
  const errSt = style(process.stderr.isTTY === true && !process.env.NO_COLOR);
  const tty = process.stderr.isTTY === true && !args.quiet && !args.json;
  const out = (s: string): void => void process.stdout.write(s + '\n');

  let start: StartEvent | null = null;
  let first: StepEvent | null = null;
  let last: StepEvent | null = null;
  let lastHist: HistogramEvent | null = null;
  let lastSharp: SharpnessEvent | null = null;
  let firstVal: ValidationEvent | null = null,
    lastVal: ValidationEvent | null = null;
  let clipped = 0,
    seen = 0,
    progressShown = false;
  let nonFinite = false;
  const clearProgress = (): void => {
    if (progressShown) {
      process.stderr.write('\r\x1b[K');
      progressShown = false;
    }
  };
  // the report's events: bounded like the panel's (older steps thinned), whatever the run's length
  let collected = new ReplayLog();
  /** The latest step's table, λmax and distributions (at the end, or where a log has none yet). */
  const showLatest = (): void => {
    clearProgress();
    if (last) out(`\nstep ${last.step}:\n${stepTable(last, start)}`);
    if (lastSharp) out(`\n${sharpnessLine(lastSharp, start)}`);
    if (lastHist)
      out(
        `\ndistributions at step ${lastHist.step} (32 bins over μ ± 4σ of the non-zero values):\n${histogramTable(lastHist, start)}`,
      );
  };
  const onEvent = (e: LayerwiseEvent): void => {
    if (args.html) collected.add('run', e);
    if (args.json) {
      out(JSON.stringify(e));
      if (e.type === 'end' && e.reason === 'non_finite') nonFinite = true;
      return;
    }
    switch (e.type) {
      case 'start':
        start = e;
        out(startLine(e, st));
        break;
      case 'step':
        first ??= e;
        last = e;
        seen++;
        if (e.clipped) clipped++;
        if (tty) {
          process.stderr.write('\r' + progressBar(e.step + 1, start?.steps ?? 0, e.loss));
          progressShown = true;
        }
        break;
      case 'warning':
        clearProgress();
        out(warningText(e, st, start));
        break;
      case 'analysis':
        out(analysisTable(e));
        break;
      case 'histogram':
        lastHist = e;
        break;
      case 'validation':
        firstVal ??= e;
        lastVal = e;
        break;
      case 'sharpness':
        // analyze: λmax at init now; run: the latest at the end
        if (args.command === 'analyze') out(sharpnessLine(e));
        else lastSharp = e;
        break;
      case 'end':
        showLatest();
        out('\n' + summary(first, last, clipped, seen, e, st, firstVal && lastVal ? [firstVal, lastVal] : undefined));
        if (e.reason === 'non_finite') nonFinite = true;
        break;
    }
  };

  // the report's destination is checked before anything runs: a run is not lost to a bad --html
  if (args.html) {
    const inputs =
      args.command === 'watch'
        ? [
            { file: args.file, what: 'the log it reads' },
            ...(args.compare ?? []).map((f) => ({ file: f, what: 'a log it compares' })),
          ]
        : modelInputs(args.file);
    const problem = reportTargetProblem(args.html, inputs, args.force === true);
    if (problem) {
      process.stderr.write(`layerwise: ${safeText(problem)}\n`);
      process.exitCode = EXIT.invalid;
      return;
    }
  }
  if (args.command === 'watch') {
    watchLog(
      args,
      onEvent,
      () => {
        first = null;
        last = null;
        start = null;
        clipped = 0;
        seen = 0;
        nonFinite = false;
        collected = new ReplayLog();
      },
      () => nonFinite,
      showLatest,
      errSt,
    );
    return;
  }

  // (the worker, and the split's helper, start after this: their code tiers up early)
  earlyTierUp();
  const steps = args.steps;
  const every = args.every ?? (args.json ? 1 : Math.max(1, Math.floor((steps ?? 1000) / (args.html ? 5000 : 500))));
  const run = new WorkerRun(
    path.join(__dirname, 'worker.js'),
    {
      mode: args.command as 'run' | 'analyze',
      file: path.resolve(file),
      steps,
      every,
      histogramsEvery: args.histogramsEvery,
      sharpnessEvery: args.sharpnessEvery,
      seed: args.seed,
      emitLast: !args.json,
      maxMemoryBytes: args.maxMemoryMb !== undefined ? args.maxMemoryMb * 1024 * 1024 : undefined,
      kernels: args.kernels,
      threads:
        args.threads === undefined || args.threads === 'auto' ? (availableParallelism() >= 2 ? 2 : 1) : args.threads,
      adaptiveSplit: args.threads === undefined || args.threads === 'auto',
      splitMinFlops: args.splitMinFlops,
    },
    {
      onEvents: (events) => {
        events.forEach(onEvent);
        // back-pressure: the batch counts as consumed once stdout has taken it (the worker waits
        // when it is MAX_IN_FLIGHT batches ahead), so a fast run cannot swamp the event loop
        if (!process.stdout.writableNeedDrain) return;
        return new Promise<void>((resolve) => {
          const done = (): void => {
            process.stdout.off('drain', done);
            process.stdout.off('close', done);
            resolve();
          };
          process.stdout.once('drain', done);
          process.stdout.once('close', done);
        });
      },
      onProblems: (problems) => {
        for (const p of problems) {
          const shown = safeText(p.text.replace(path.resolve(file), file));
          process.stderr.write((p.severity === 'error' ? errSt.red(shown) : shown) + '\n');
        }
      },
      onCrash: (message) => process.stderr.write(`layerwise: internal error: ${message}\n`),
    },
  );
  // Ctrl-C or SIGTERM: stop the run (its `end` says "stopped") and exit 128 + the signal's number;
  // a second one exits at once.
  let signalled: NodeJS.Signals | null = null;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (signalled) process.exit(128 + (sig === 'SIGINT' ? 2 : 15));
    signalled = sig;
    run.stop();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const output = guardOutput(() => run.stop(0));
  void run.done.then((r) => {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    const ran = r.outcome !== 'invalid' && r.outcome !== 'crashed';
    const reportFailed =
      args.html !== undefined && ran && !writeReport(args.html, file, collected.allEvents().get('run') ?? []);
    if (output.failed()) process.exitCode = EXIT.internal;
    else if (r.outcome === 'invalid') process.exitCode = EXIT.invalid;
    else if (r.outcome === 'crashed') process.exitCode = EXIT.internal;
    else if (r.outcome === 'non_finite' || nonFinite) process.exitCode = EXIT.nonFinite;
    else if (signalled) process.exitCode = 128 + (signalled === 'SIGINT' ? 2 : 15);
    else if (reportFailed) process.exitCode = EXIT.invalid;
    else process.exitCode = EXIT.ok;
  });
}

try {
  main(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`layerwise: internal error: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = EXIT.internal;
}
