/**
 * `layerwise run|analyze FILE`: runs the core in a worker thread and prints its events, as
 * ND-JSON (--json) or as tables, warnings and a progress bar.
 * Exit codes: 0 done; 2 invalid model file, inputs or arguments; 3 non-finite values; 1 internal.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { availableParallelism } from 'node:os';
import { runReportHtml } from '../report/page';
import type {
  HistogramEvent,
  LayerwiseEvent,
  SharpnessEvent,
  StartEvent,
  StepEvent,
  ValidationEvent,
} from '../protocol/events';
import { WorkerRun } from '../runner/runner';
import { LogFollower } from '../logs/follow';
import { modelInputs, reportTargetProblem, writeAtomically } from './report-target';
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

const EXIT = { ok: 0, internal: 1, invalid: 2, nonFinite: 3 } as const;

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
        out(warningText(e, st));
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
        clearProgress();
        if (last) out(`\nstep ${last.step}:\n${stepTable(last, start)}`);
        if (lastSharp) out(`\n${sharpnessLine(lastSharp)}`);
        if (lastHist)
          out(
            `\ndistributions at step ${lastHist.step} (32 bins over μ ± 4σ of the non-zero values):\n${histogramTable(lastHist, start)}`,
          );
        out('\n' + summary(first, last, clipped, seen, e, st, firstVal && lastVal ? [firstVal, lastVal] : undefined));
        if (e.reason === 'non_finite') nonFinite = true;
        break;
    }
  };

  // the report's destination is checked before anything runs: a run is not lost to a bad --html
  if (args.html) {
    const inputs = args.command === 'watch' ? [{ file: args.file, what: 'the log it reads' }] : modelInputs(args.file);
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
      errSt,
    );
    return;
  }

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

/**
 * Watches stdout and stderr for write errors: a reader that went away (`| head`, EPIPE) ends the
 * command quietly (exit 0); any other (a full disk) is said once on stderr (exit 1). `stop` ends
 * the work either way; `failed()` tells whether the output failed for another reason.
 */
function guardOutput(stop: () => void): { failed(): boolean } {
  let failed = false,
    seen = false;
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (seen) return;
      seen = true;
      stop();
      if (e.code === 'EPIPE') {
        process.exitCode = EXIT.ok;
        return;
      }
      failed = true;
      if (stream === process.stdout)
        process.stderr.write(
          `layerwise: cannot write the output: ${e.code === 'ENOSPC' ? 'no space left on the device' : e.message}\n`,
        );
      process.exitCode = EXIT.internal;
    });
  }
  return { failed: () => failed };
}

/**
 * `layerwise watch LOG`: the events of a training log (e.g. from layerwise_torch) with the
 * detectors' warnings, printed as `run` prints its own; --follow keeps reading until the log's
 * `end` or Ctrl-C. Malformed lines are skipped, each named LOG:LINE on stderr; a log with no event
 * at all, or that cannot be read, is an error (exit 2).
 */
function watchLog(
  args: CliArgs,
  onEvent: (e: LayerwiseEvent) => void,
  newRun: () => void,
  nonFinite: () => boolean,
  errSt: ReturnType<typeof style>,
): void {
  const file = args.file;
  const shown = safeText(file);
  let events = 0,
    runs = 0,
    endSeen = false;
  let collected = new ReplayLog();
  const follower = new LogFollower(
    file,
    {
      onRun: (reason) => {
        runs++;
        if (runs > 1) {
          newRun();
          collected = new ReplayLog();
          if (!args.json) process.stdout.write(`\n── a new run in ${shown} (${reason}) ──\n`);
        }
      },
      onEvents: (es) => {
        for (const e of es) {
          events++;
          if (args.html) collected.add('run', e);
          onEvent(e);
          if (e.type === 'end') endSeen = true;
        }
        if (args.follow && endSeen) finish();
      },
      onMalformed: (line, reason) => {
        if (!args.quiet) process.stderr.write(errSt.yellow(`${shown}:${line}: skipped: ${reason}`) + '\n');
      },
      onStall: (stalled) => {
        if (stalled && !args.json)
          process.stderr.write(`${shown}: no new line for a while and no end: the run may have stopped\n`);
      },
      onError: (e) => {
        if (e.code !== 'ENOENT') process.stderr.write(`layerwise: ${shown}: ${e.message}\n`);
      },
    },
    { pollMs: 200, stallMs: 30000 },
  );
  let finished = false;
  const finish = (): void => {
    if (finished) return;
    finished = true;
    follower.stop();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    if (events === 0) {
      process.stderr.write(
        errSt.red(
          `${shown}:${Math.max(1, follower.tail.lines)}: error: not a Layerwise training log (no event in it)`,
        ) + '\n',
      );
      process.exitCode = EXIT.invalid;
      return;
    }
    if (!endSeen && !args.json)
      process.stdout.write(
        `\n${shown} has no end yet: the run is still going, or stopped writing (--follow waits for it)\n`,
      );
    if (follower.malformed > 0)
      process.stderr.write(
        `${shown}: ${follower.malformed} malformed line${follower.malformed === 1 ? '' : 's'} skipped\n`,
      );
    if (args.html && !writeReport(args.html, file, collected.allEvents().get('run') ?? [])) {
      process.exitCode = EXIT.invalid;
      return;
    }
    process.exitCode = nonFinite() ? EXIT.nonFinite : EXIT.ok;
  };
  const onSignal = (): void => finish();
  guardOutput(() => {
    follower.stop();
    finished = true;
  });
  try {
    follower.readNow();
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why =
      err.code === 'ENOENT'
        ? 'no such file'
        : err.code === 'EISDIR' || err.code === 'ENOTFILE'
          ? 'not a file'
          : err.message;
    process.stderr.write(errSt.red(`${shown}:1: error: cannot read the log (${why})`) + '\n');
    process.exitCode = EXIT.invalid;
    return;
  }
  if (!args.follow || endSeen) {
    finish();
    return;
  }
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  follower.follow();
}

/** Writes the HTML report; false (with a message) when it cannot be written. */
function writeReport(out: string, file: string, events: LayerwiseEvent[]): boolean {
  const start = events.find((e): e is StartEvent => e.type === 'start');
  const title = start?.model ?? path.basename(file);
  try {
    const html = runReportHtml({
      script: fs.readFileSync(path.join(__dirname, 'webview.js'), 'utf8'),
      css: fs.readFileSync(path.join(__dirname, '..', 'media', 'panel.css'), 'utf8'),
      reset: {
        type: 'reset',
        mode: start ? 'run' : 'analysis',
        title,
        series: ['run'],
        clipMax: start?.clip?.max ?? null,
      },
      series: [['run', events]],
    });
    writeAtomically(out, html);
    process.stderr.write(`report: ${out}\n`);
    return true;
  } catch (e) {
    process.stderr.write(`layerwise: cannot write the report "${out}": ${(e as Error).message}\n`);
    return false;
  }
}

try {
  main(process.argv.slice(2));
} catch (e) {
  process.stderr.write(`layerwise: internal error: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = EXIT.internal;
}
