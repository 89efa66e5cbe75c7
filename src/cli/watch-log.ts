/**
 * `layerwise watch LOG [--follow]`: a training log's events (e.g. from layerwise_torch), printed as
 * `run` prints its own.
 */
import * as fs from 'node:fs';
import type { LayerwiseEvent } from '../protocol/events';
import { LogFollower } from '../logs/follow';
import { ReplayLog } from '../extension/replay-log';
import type { CliArgs } from './args';
import { safeText, style } from './format';
import { EXIT, guardOutput, writeReport } from './output';

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
  const unreadable = (why: string): void => {
    process.stderr.write(errSt.red(`${shown}:1: error: cannot read the log (${why})`) + '\n');
    process.exitCode = EXIT.invalid;
  };
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
