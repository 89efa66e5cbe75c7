/**
 * What a PyTorch run shows above the line of the user's code that creates a layer's module (the
 * log's `modules`: file and line): the layer's latest statistics and its warnings, one lens per
 * line (a ModuleList's layers share theirs). No vscode import: the text and the matching of paths
 * are tested on their own.
 */
import type { LayerStepStats, StartEvent, StepEvent, WarningEvent } from '../protocol/events';
import { layerLabel, modulePath } from '../protocol/events';

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
  const codes = codesOn(warnings, [i]);
  if (codes) parts.push(codes);
  return parts.join(' · ');
}

/**
 * The lens text of several layers created on one line (`self.blocks = nn.ModuleList(...)`): one
 * lens, not one per layer side by side: the range of their Var(z), their dead units summed, and
 * their warnings.
 */
export function sharedLensTitle(
  start: StartEvent,
  layers: readonly number[],
  step: StepEvent | null,
  warnings: readonly WarningEvent[],
): string {
  if (layers.length === 1) return sourceLensTitle(start, layers[0]!, step, warnings);
  const names = layers.map((i) => start.modules?.[i]?.name ?? '');
  const parts = [`Layerwise layers ${ranges(layers)}${common(names)}`];
  const stats = step ? layers.map((i) => step.layers.find((x) => x.index === i)) : [];
  if (step && stats.every((l) => l !== undefined)) {
    const v = stats.map((l) => l!.preact.var).filter(Number.isFinite);
    if (v.length) parts.push(`Var(z) ${fmt(Math.min(...v))} to ${fmt(Math.max(...v))}`);
    const dead = layers.flatMap((i, k) => {
      const d = stats[k]!.dead;
      return d === null ? [] : [{ d, units: start.layers[i]?.units ?? 0 }];
    });
    if (dead.length) parts.push(`dead ${dead.reduce((a, x) => a + x.d, 0)}/${dead.reduce((a, x) => a + x.units, 0)}`);
    parts.push(`step ${step.step}`);
  }
  const codes = codesOn(warnings, layers);
  if (codes) parts.push(codes);
  return parts.join(' · ');
}

/** "⚠ dying_relu, saturation": the codes of the warnings on any of `layers`, once each; or "". */
function codesOn(warnings: readonly WarningEvent[], layers: readonly number[]): string {
  const on = new Set(layers);
  const codes = new Set(
    warnings
      .filter((w) => (w.layer !== null && on.has(w.layer)) || w.layers?.some((i) => on.has(i)))
      .map((w) => w.code),
  );
  return codes.size ? `⚠ ${[...codes].join(', ')}` : '';
}

/** "0–3, 5" for [0, 1, 2, 3, 5]. */
function ranges(xs: readonly number[]): string {
  const out: string[] = [];
  for (let k = 0; k < xs.length;) {
    let j = k;
    while (j + 1 < xs.length && xs[j + 1] === xs[j]! + 1) j++;
    out.push(j > k ? `${xs[k]}–${xs[j]}` : `${xs[k]}`);
    k = j + 1;
  }
  return out.join(', ');
}

/** " (model.blocks)": the module path the names share ("blocks.0", "blocks.1"), or nothing. */
function common(names: readonly string[]): string {
  const split = names.map((n) => n.split('.'));
  const shared: string[] = [];
  for (let k = 0; split.every((p) => k < p.length - 1 && p[k] === split[0]![k]); k++) shared.push(split[0]![k]!);
  return shared.length ? ` (${modulePath(shared.join('.'))})` : '';
}

/**
 * Whether the log's `file` (written where the run ran) is the document at `doc`: the same path, or,
 * where `file` is not on this machine, the same file name in the same folder name (a cluster's
 * checkout of the same project).
 */
export function sameSource(file: string, doc: string, fileIsHere: boolean): boolean {
  const a = segments(file),
    b = segments(doc);
  const alike = trailingAlike(a, b);
  return (alike === a.length && alike === b.length) || (!fileIsHere && alike >= 2);
}

/** The path's folder and file names (either separator). */
export const segments = (p: string): string[] => p.split(/[\\/]/).filter(Boolean);

/** How many trailing names two paths' segments share ("a/b/c" and "x/b/c": 2). */
export function trailingAlike(a: readonly string[], b: readonly string[]): number {
  let n = 0;
  while (n < Math.min(a.length, b.length) && a[a.length - 1 - n] === b[b.length - 1 - n]) n++;
  return n;
}

/** A number in a lens (the model files' too): 3 significant digits, exponent form when very large or small. */
export function fmt(x: number): string {
  if (!Number.isFinite(x)) return '—';
  const a = Math.abs(x);
  return a !== 0 && (a >= 1e4 || a < 1e-2) ? x.toExponential(1) : String(Number(x.toPrecision(3)));
}
