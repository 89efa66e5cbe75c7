/** How a training log is named where several are drawn together (the panel's overlays, a report). */
import * as path from 'node:path';

/** A log's name: its file name without `.layerwise.jsonl` (or `.jsonl`). */
export function logName(file: string): string {
  return path
    .basename(file)
    .replace(/\.layerwise\.jsonl$/i, '')
    .replace(/\.jsonl$/i, '');
}

/** The log's name as a series beside `taken` ones: with its folder where the name is taken, then numbered. */
export function seriesNameFor(file: string, taken: ReadonlySet<string>): string {
  let series = logName(file);
  if (taken.has(series)) series = `${series} (${path.basename(path.dirname(path.resolve(file)))})`;
  for (let i = 2; taken.has(series); i++) series = `${logName(file)} (${i})`;
  return series;
}
