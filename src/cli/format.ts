/**
 * Human-readable output of the CLI: per-layer tables, warnings with their fixes, a progress bar.
 * Renders events; computes no statistics of its own.
 */
import type {
  AnalysisEvent,
  EndEvent,
  Histogram,
  HistogramEvent,
  LayerwiseEvent,
  SharpnessEvent,
  StartEvent,
  StepEvent,
  ValidationEvent,
  WarningEvent,
} from '../protocol/events';
import { layerLabel, layerModulePath } from '../protocol/events';

interface Style {
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  yellow(s: string): string;
  green(s: string): string;
}

export function style(color: boolean): Style {
  const wrap =
    (a: number, b: number) =>
    (s: string): string =>
      color ? `\x1b[${a}m${s}\x1b[${b}m` : s;
  return { bold: wrap(1, 22), dim: wrap(2, 22), red: wrap(31, 39), yellow: wrap(33, 39), green: wrap(32, 39) };
}

/**
 * Text that came from a file, made safe to print: control characters (C0, DEL, C1 — escape
 * sequences, bells, line breaks that would forge a line) and bidirectional overrides are shown as
 * \u escapes instead of acting on the terminal.
 */
export function safeText(s: string): string {
  return s.replace(
    // eslint-disable-next-line no-control-regex -- control characters are what it escapes
    /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** A compact number: 3 significant digits, exponent form when very large or small. */
function num(x: number | null | undefined): string {
  if (x === null || x === undefined || Number.isNaN(x)) return '—';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e5 || a < 1e-3) return x.toExponential(2).replace('e+', 'e');
  return String(Number(x.toPrecision(3)));
}

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, j) => Math.max(h.length, ...rows.map((r) => (r[j] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, j) => (j === 0 ? c.padEnd(widths[j]!) : c.padStart(widths[j]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

export function startLine(s: StartEvent, st: Style): string {
  const acts = [...new Set(s.layers.map((l) => l.activation))].join('/');
  const steps = s.steps > 0 ? `, ${s.steps} step${s.steps === 1 ? '' : 's'}` : '';
  const where =
    s.source === 'pytorch' ? `, PyTorch${(s.worldSize ?? 1) > 1 ? ` on ${s.worldSize} processes` : ''}` : '';
  return `${st.bold(safeText(s.model))}: ${s.layers.length} layer${s.layers.length === 1 ? '' : 's'} (${acts}), ${s.parameters.toLocaleString('en-US')} parameters${steps}${where}${(s.threads ?? 1) > 1 ? `, ${s.threads} threads` : ''}${s.kernels?.startsWith('native') ? ', native kernels' : ''}`;
}

export function warningText(w: WarningEvent, st: Style, start: StartEvent | null = null): string {
  const tag =
    w.severity === 'error' ? st.red('error') : w.severity === 'warning' ? st.yellow('warning') : st.dim('info');
  const where = [w.layer !== null ? safeText(layerLabel(start, w.layer)) : '', w.step !== null ? `step ${w.step}` : '']
    .filter(Boolean)
    .join(', ');
  return `${tag}[${safeText(w.code)}]${where ? ` ${where}` : ''}: ${safeText(w.message)}\n  ${st.dim('fix:')} ${safeText(w.fix)}`;
}

export function stepTable(s: StepEvent, start: StartEvent | null): string {
  const rows = s.layers.map((l) => {
    const info = start?.layers[l.index];
    const m = layerModulePath(start, l.index);
    return [
      m !== null ? `${l.index} ${safeText(m)}` : String(l.index),
      info ? `${info.units} ${info.activation}` : '',
      num(l.preact.var),
      num(l.act.var),
      num(l.grad.var),
      l.dead === null ? '—' : `${l.dead}`,
      num(l.weight.var),
      num(l.weightGrad.norm),
      num(l.biasGrad.norm),
      num(l.updateRatio),
    ];
  });
  return table(['layer', 'units', 'Var(z)', 'Var(a)', 'Var(∂z)', 'dead', 'Var(W)', '‖∂W‖', '‖∂b‖', 'update'], rows);
}

/**
 * Logs side by side (`watch LOG --compare OTHER`): per log its last run's steps, first and last loss,
 * last ‖g‖, dead units at its last step (of its ReLU-like units) and warnings.
 */
export function comparisonTable(runs: readonly (readonly [string, readonly LayerwiseEvent[]])[]): string {
  const rows = runs.map(([name, events]) => {
    const steps = events.filter((e): e is StepEvent => e.type === 'step');
    const end = events.find((e): e is EndEvent => e.type === 'end');
    const first = steps[0],
      last = steps.at(-1);
    const dead = last?.layers.filter((l) => l.dead !== null) ?? [];
    const units = events.find((e): e is StartEvent => e.type === 'start')?.layers;
    const deadOf = dead.reduce((a, l) => a + (units?.[l.index]?.units ?? 0), 0);
    return [
      safeText(name),
      String(end?.steps ?? (last ? last.step + 1 : 0)),
      first && last ? `${num(first.loss)} → ${num(last.loss)}` : '—',
      num(last?.gradNorm),
      dead.length ? `${dead.reduce((a, l) => a + l.dead!, 0)}${deadOf ? ` of ${deadOf}` : ''}` : '—',
      String(events.filter((e) => e.type === 'warning').length),
      end ? end.reason.replace('_', '-') : 'no end yet',
    ];
  });
  return table(['log', 'steps', 'loss', '‖g‖', 'dead', 'warnings', 'ended'], rows);
}

const BARS = ' ▁▂▃▄▅▆▇█';

/** A histogram in one line: its 32 bins as block characters (height ∝ count), the range, and what is counted apart. */
function histogramLine(h: Histogram): string {
  const n = h.counts.reduce((a, b) => a + b, 0) + h.zeros + h.below + h.above + h.nonFinite;
  const pct = (k: number): string => `${n > 0 ? ((100 * k) / n).toFixed(k > 0 && k < n / 1000 ? 2 : 1) : '0'} %`;
  const apart = [`zeros ${pct(h.zeros)}`];
  if (h.below + h.above > 0) apart.push(`tails ${pct(h.below + h.above)}`);
  if (h.nonFinite > 0) apart.push(`NaN/Inf ${pct(h.nonFinite)}`);
  // no values at all: ∂L/∂Z that autograd does not compute (frozen layers below every trained one)
  if (n === 0) return '(none)';
  if (h.counts.length === 0) return `(no values besides zeros) ${apart.join(', ')}`;
  const max = Math.max(...h.counts);
  const bars = h.counts.map((c) => BARS[c === 0 ? 0 : Math.max(1, Math.round((8 * c) / max))]).join('');
  return `${num(h.edges[0]!)} ${bars} ${num(h.edges.at(-1)!)}  ${apart.join(', ')}`;
}

/**
 * λmax against the divergence threshold, in one line. No threshold: adam in our own runs; in a
 * PyTorch log any optimizer but SGD with one rate (docs/events.md).
 */
export function sharpnessLine(e: SharpnessEvent, start: StartEvent | null = null): string {
  const over = e.threshold !== null && e.lambdaMax > e.threshold;
  const against =
    e.threshold === null
      ? `no divergence threshold for ${start?.source === 'pytorch' ? 'this optimizer' : 'adam'}`
      : `threshold ${num(e.threshold)}: ${over ? 'above, the loss oscillates or diverges along it' : `${num((100 * e.lambdaMax) / e.threshold)} % of it`}`;
  return `sharpness at step ${e.step}: λmax = ${num(e.lambdaMax)} (${against}; ${e.iterations} Hessian-vector products)`;
}

/** The held-out loss (and accuracy) from its first evaluation to its last, in one line. */
function validationLine(first: ValidationEvent, last: ValidationEvent): string {
  const pct = (a: number): string => `${num(100 * a)} %`;
  const acc =
    first.accuracy !== null && last.accuracy !== null
      ? `, accuracy ${pct(first.accuracy)} → ${pct(last.accuracy)}`
      : '';
  return `held-out loss ${num(first.loss)} → ${num(last.loss)} (step ${first.step} → ${last.step})${acc} on ${last.samples} samples never trained on`;
}

/** Every layer's histograms of Z, f(Z) and ∂L/∂Z at one step. */
export function histogramTable(e: HistogramEvent, start: StartEvent | null): string {
  const lines: string[] = [];
  for (const l of e.layers) {
    const info = start?.layers[l.index];
    const m = layerModulePath(start, l.index);
    lines.push(
      `layer ${l.index}${m !== null ? ` ${safeText(m)}` : ''}${info ? ` (${info.units} ${info.activation})` : ''}`,
    );
    lines.push(`  Z      ${histogramLine(l.preact)}`);
    if (l.act !== l.preact && info?.activation !== 'linear') lines.push(`  f(Z)   ${histogramLine(l.act)}`);
    lines.push(`  ∂L/∂Z  ${histogramLine(l.grad)}`);
  }
  return lines.join('\n');
}

export function analysisTable(a: AnalysisEvent): string {
  const rows = a.layers.map((l) => [
    String(l.index),
    String(l.fanIn),
    String(l.fanOut),
    num(l.weightVar),
    num(l.predicted.preactVar),
    num(l.measured?.preactVar),
    num(l.predicted.actVar),
    num(l.measured?.actVar),
    num(l.predicted.gradVar),
    num(l.measured?.gradVar),
  ]);
  return (
    `inputs: E[x²] = ${num(a.inputVar)}\n` +
    table(
      ['layer', 'fan_in', 'fan_out', 'Var(W)', 'Var(z) pred', 'meas', 'Var(a) pred', 'meas', 'Var(∂z) pred', 'meas'],
      rows,
    )
  );
}

export function summary(
  first: StepEvent | null,
  last: StepEvent | null,
  clipped: number,
  seen: number,
  end: EndEvent,
  st: Style,
  heldOut?: readonly [ValidationEvent, ValidationEvent],
): string {
  const parts: string[] = [];
  if (first && last) {
    parts.push(
      `loss ${num(first.loss)} → ${num(last.loss)} (step ${first.step} → ${last.step}); ‖g‖ ${num(last.gradNorm)} at the last step`,
    );
  }
  if (heldOut) parts.push(validationLine(...heldOut));
  // the true rate over every step when the run says it (its end event); else over the reported ones
  if (end.clippedSteps !== undefined && end.steps > 0) {
    if (end.clippedSteps > 0)
      parts.push(
        `clipped on ${end.clippedSteps} of ${end.steps} steps (${num((100 * end.clippedSteps) / end.steps)} %)`,
      );
  } else if (seen > 0 && clipped > 0)
    parts.push(`clipped on ${clipped} of ${seen} reported steps (${num((100 * clipped) / seen)} %)`);
  if (end.splitSteps !== undefined && end.steps > 0 && end.splitSteps < end.steps)
    parts.push(`split over two threads on ${end.splitSteps} of ${end.steps} steps (one thread where that was faster)`);
  const rate = end.elapsedMs > 0 ? ` (${num((1000 * end.steps) / end.elapsedMs)} steps/s)` : '';
  const how =
    end.reason === 'completed'
      ? st.green('completed')
      : end.reason === 'non_finite'
        ? st.red('stopped by non-finite values')
        : st.yellow('stopped');
  parts.push(`${how}: ${end.steps} step${end.steps === 1 ? '' : 's'} in ${num(end.elapsedMs / 1000)} s${rate}`);
  return parts.join('\n');
}

/** A one-line progress bar for a terminal. */
export function progressBar(step: number, total: number, loss: number, width = 30): string {
  const f = total > 0 ? Math.min(1, step / total) : 1;
  const n = Math.round(f * width);
  return `[${'#'.repeat(n)}${'-'.repeat(width - n)}] ${step}/${total}  loss ${num(loss)}`;
}
