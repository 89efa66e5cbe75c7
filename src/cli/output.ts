/**
 * What the CLI writes besides its tables: its exit codes, the guard on stdout and stderr, and the
 * HTML report (`--html`).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LayerwiseEvent, StartEvent } from '../protocol/events';
import { runReportHtml } from '../report/page';
import { writeAtomically } from './report-target';

/** 0 done; 1 internal error; 2 invalid model file, inputs, log or arguments; 3 non-finite values. */
export const EXIT = { ok: 0, internal: 1, invalid: 2, nonFinite: 3 } as const;

/**
 * Watches stdout and stderr for write errors: a reader that went away (`| head`, EPIPE) ends the
 * command quietly (exit 0); any other (a full disk) is said once on stderr (exit 1). `stop` ends
 * the work either way; `failed()` tells whether the output failed for another reason.
 */
export function guardOutput(stop: () => void): { failed(): boolean } {
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
 * Writes the HTML report; false (with a message) when it cannot be written. `series`: the runs
 * drawn together (`watch --compare`), the first the one the report is of; alone, it is "run".
 */
export function writeReport(
  out: string,
  file: string,
  events: LayerwiseEvent[],
  series: [string, LayerwiseEvent[]][] = [['run', events]],
): boolean {
  const start = events.find((e): e is StartEvent => e.type === 'start');
  const title = (start?.model ?? path.basename(file)) + (series.length > 1 ? ' — compared' : '');
  try {
    const html = runReportHtml({
      script: fs.readFileSync(path.join(__dirname, 'webview.js'), 'utf8'),
      css: fs.readFileSync(path.join(__dirname, '..', 'media', 'panel.css'), 'utf8'),
      reset: {
        type: 'reset',
        mode: start ? 'run' : 'analysis',
        title,
        series: series.map(([name]) => name),
        clipMax: start?.clip?.max ?? null,
      },
      series,
    });
    writeAtomically(out, html);
    process.stderr.write(`report: ${out}\n`);
    return true;
  } catch (e) {
    process.stderr.write(`layerwise: cannot write the report "${out}": ${(e as Error).message}\n`);
    return false;
  }
}
