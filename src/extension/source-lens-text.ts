/**
 * What a PyTorch run shows above the line of the user's code that creates a layer's module (the
 * log's `modules`: file and line): the layer's latest statistics and its warnings, one lens per
 * layer. No vscode import: the text and the matching of paths are tested on their own.
 */
import type { LayerStepStats, StartEvent, StepEvent, WarningEvent } from '../protocol/events';
import { layerLabel } from '../protocol/events';

/** The lens text of layer `i` at the latest step: Var(z), Var(∂L/∂z), dead units, its warnings. */
export function sourceLensTitle(
  start: StartEvent,
  i: number,
  step: StepEvent | null,
  warnings: readonly WarningEvent[],
): string {
  const info = start.layers[i];
  const l: LayerStepStats | undefined = step?.layers.find((x) => x.index === i);
  const parts = [`Layerwise ${layerLabel(start, i)}${info ? `: ${info.units} ${info.activation}` : ''}`];
  if (step && l) {
    parts.push(`Var(z) ${fmt(l.preact.var)}`, `Var(∂z) ${fmt(l.grad.var)}`);
    if (l.dead !== null && info) parts.push(`dead ${l.dead}/${info.units}`);
    parts.push(`step ${step.step}`);
  }
  const codes = [...new Set(warnings.filter((w) => w.layer === i || w.layers?.includes(i)).map((w) => w.code))];
  if (codes.length) parts.push(`⚠ ${codes.join(', ')}`);
  return parts.join(' · ');
}

/**
 * Whether the log's `file` (written where the run ran) is the document at `doc`: the same path, or,
 * where `file` is not on this machine, the same file name in the same folder name (a cluster's
 * checkout of the same project).
 */
export function sameSource(file: string, doc: string, fileIsHere: boolean): boolean {
  if (norm(file) === norm(doc)) return true;
  if (fileIsHere) return false;
  const a = segments(file),
    b = segments(doc);
  return a.length >= 2 && b.length >= 2 && a.at(-1) === b.at(-1) && a.at(-2) === b.at(-2);
}

const norm = (p: string): string => segments(p).join('/');
const segments = (p: string): string[] => p.split(/[\\/]/).filter(Boolean);

function fmt(x: number): string {
  if (!Number.isFinite(x)) return '—';
  const a = Math.abs(x);
  return a !== 0 && (a >= 1e4 || a < 1e-2) ? x.toExponential(1) : String(Number(x.toPrecision(3)));
}
