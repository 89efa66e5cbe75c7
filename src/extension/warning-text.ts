/**
 * The text of a warning as a Problem on one layer. A warning about a run of layers alike
 * ("Layers 0–29: …", fixed "on layers 0–29") becomes one Problem per layer, each naming its own
 * layer, so that thirty Problems rows are not thirty copies of one sentence.
 */
import type { WarningEvent } from '../protocol/events';

/** The message and fix of `w` as a Problem on `layer` (unchanged for a warning on one layer). */
export function problemText(w: WarningEvent, layer: number | null): { message: string; fix: string } {
  if (layer === null || !w.layers || w.layers.length < 2) return { message: w.message, fix: w.fix };
  const range = /^Layers (\d+)–(\d+):/.exec(w.message);
  return {
    message: range ? w.message.replace(range[0], `Layer ${layer} (one of layers ${range[1]}–${range[2]}):`) : w.message,
    fix: w.fix.replace(/\bon layers \d+–\d+/, `on layer ${layer}`),
  };
}

/** The init scheme a fix text names ('Set "init": "he_uniform" …'), or null. */
export function namedInit(fix: string): string | null {
  return /"init": "([a-z_]+)"/.exec(fix)?.[1] ?? null;
}
