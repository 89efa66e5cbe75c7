/**
 * `layerwise watch LOG [--follow]`: a training log's events (e.g. from layerwise_torch), printed as
 * `run` prints its own.
 */
import * as fs from 'node:fs';
import type { LayerwiseEvent } from '../protocol/events';
import { LogFollower } from '../logs/follow';
import { logName, seriesNameFor } from '../logs/log-name';
import { ReplayLog } from '../extension/replay-log';
import type { CliArgs } from './args';
import { comparisonTable, safeText, style } from './format';
import { EXIT, guardOutput, writeReport } from './output';

/**
 * The last run in a log, read now with the detectors' warnings (histograms left out: a comparison
 * draws the per-run charts; steps thinned as a followed log's, the first and last kept), or why it
 * cannot be: `LOG:LINE: error: why`.
 */
function lastRun(file: string): LayerwiseEvent[] | string {
  let kept = new ReplayLog();
  const f = new LogFollower(file, {
    onRun: () => (kept = new ReplayLog()),
    onEvents: (es) => {
      for (const e of es) if (e.type !== 'histogram') kept.add('run', e);
    },
  });
  try {
    f.readNow();
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return `${safeText(file)}:1: error: cannot read the log (${err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'not a file' : err.message})`;
  } finally {
    f.stop();
  }
  const events = kept.allEvents().get('run') ?? [];
  if (!events.some((e) => e.type === 'start' || e.type === 'step'))
    return `${safeText(file)}:${Math.max(1, f.tail.lines)}: error: not a Layerwise training log (no run in it)`;
  return events;
}

/**
 * `layerwise watch LOG`: the events of a training log (e.g. from layerwise_torch) with the
 * detectors' warnings, printed as `run` prints its own; --follow keeps reading until the log's
 * `end` or Ctrl-C, waiting for a log that does not exist yet; a log with no end yet shows its
 * latest step, as an end would. Malformed lines are skipped, each named LOG:LINE on stderr; a log
 * with no event at all, or that cannot be read, is an error (exit 2).
 */
export function watchLog(
  args: CliArgs,
  onEvent: (e: LayerwiseEvent) => void,
  newRun: () => void,
  nonFinite: () => boolean,
  showLatest: () => void,
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
          if (args.html || args.compare) collected.add('run', e);
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
    if (events === 0 && absent && !fs.existsSync(file)) {
      unreadable('no such file'); // it never appeared
      return;
    }
    if (events === 0) {
      process.stderr.write(
        errSt.red(
          `${shown}:${Math.max(1, follower.tail.lines)}: error: not a Layerwise training log (no event in it)`,
        ) + '\n',
      );
      process.exitCode = EXIT.invalid;
      return;
    }
    if (!endSeen && !args.json) showLatest(); // the run so far: a run going on, or one killed
    if (!endSeen && !args.json)
      process.stdout.write(
        `\n${shown} has no end yet: the run is still going, or stopped writing (--follow waits for it)\n`,
      );
    if (follower.malformed > 0)
      process.stderr.write(
        `${shown}: ${follower.malformed} malformed line${follower.malformed === 1 ? '' : 's'} skipped\n`,
      );
    const mine = collected.allEvents().get('run') ?? [];
    // the logs compared with it, read as they are now
    const series: [string, LayerwiseEvent[]][] = [[logName(file), mine]];
    for (const other of args.compare ?? []) {
      const r = lastRun(other);
      if (typeof r === 'string') {
        process.stderr.write(errSt.red(r) + '\n');
        process.exitCode = EXIT.invalid;
        return;
      }
      series.push([seriesNameFor(other, new Set(series.map(([n]) => n))), r]);
    }
    if (args.compare && !args.json)
      process.stdout.write(`\ncompared (the last run of each):\n${comparisonTable(series)}\n`);
    if (args.html && !writeReport(args.html, file, mine, args.compare ? series : undefined)) {
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
  const unreadable = (why: string): void => {
    process.stderr.write(errSt.red(`${shown}:1: error: cannot read the log (${why})`) + '\n');
    process.exitCode = EXIT.invalid;
  };
  // the logs to compare with it are read at the end; one that is not there is said now, not then
  for (const other of args.compare ?? []) {
    let why: string | null = null;
    try {
      if (!fs.statSync(other).isFile()) why = 'not a file';
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      why = err.code === 'ENOENT' ? 'no such file' : err.message;
    }
    if (why) {
      process.stderr.write(errSt.red(`${safeText(other)}:1: error: cannot read the log (${why})`) + '\n');
      process.exitCode = EXIT.invalid;
      follower.stop();
      return;
    }
  }
  let absent = false;
  try {
    follower.readNow();
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT' && args.follow) {
      absent = true; // started before the training script: wait for its log, as tail -F does
    } else {
      unreadable(
        err.code === 'ENOENT'
          ? 'no such file'
          : err.code === 'EISDIR' || err.code === 'ENOTFILE'
            ? 'not a file'
            : err.message,
      );
      return;
    }
  }
  if (!args.follow || endSeen) {
    finish();
    return;
  }
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  if (absent) process.stderr.write(`${shown}: no such file yet; waiting for it to appear (Ctrl-C to stop)\n`);
  follower.follow();
}
