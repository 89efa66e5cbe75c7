/**
 * Problems and warnings in the Problems panel, at the range of the offending value: the loader's
 * located problems, the analysis' static and predicted warnings (at the layer's `init` or the layer
 * object), and a run's warnings (dying ReLU at the layer's `activation`, non-finite values at
 * `learningRate`, clipping and exploding gradients at `clip`).
 */
import * as vscode from 'vscode';
import type { WarningEvent } from '../protocol/events';
import type { ProblemMessage } from '../protocol/worker-messages';
import { ModelText } from './model-edits';
import { problemText } from './warning-text';

export const SOURCE = 'layerwise';

/** Diagnostic data the quick fixes read. */
interface FixData {
  code: WarningEvent['code'];
  layer: number | null;
}

export const fixData = new WeakMap<vscode.Diagnostic, FixData>();

function rangeOf(doc: vscode.TextDocument, span: { start: number; end: number } | null): vscode.Range {
  if (!span) return new vscode.Range(0, 0, 0, 1);
  return new vscode.Range(doc.positionAt(span.start), doc.positionAt(Math.max(span.end, span.start + 1)));
}

/** Diagnostics of the loader's problems for files other than `doc` go to their own URIs. */
export function problemDiagnostics(
  doc: vscode.TextDocument,
  problems: readonly ProblemMessage[],
): Map<string, vscode.Diagnostic[]> {
  const out = new Map<string, vscode.Diagnostic[]>();
  for (const p of problems) {
    const range = new vscode.Range(
      p.line - 1,
      p.col - 1,
      p.endLine - 1,
      Math.max(p.endCol - 1, p.line === p.endLine ? p.col : 0),
    );
    const d = new vscode.Diagnostic(
      range,
      p.path ? `${p.path}: ${p.message}` : p.message,
      p.severity === 'error' ? vscode.DiagnosticSeverity.Error : vscode.DiagnosticSeverity.Warning,
    );
    d.source = SOURCE;
    const key = p.file === doc.uri.fsPath ? doc.uri.toString() : vscode.Uri.file(p.file).toString();
    out.set(key, [...(out.get(key) ?? []), d]);
  }
  return out;
}

function fieldFor(code: WarningEvent['code']): 'init' | 'activation' | null {
  if (
    code === 'init_mismatch' ||
    code === 'vanishing_forward' ||
    code === 'exploding_forward' ||
    code === 'vanishing_gradient' ||
    code === 'saturation'
  )
    return 'init';
  if (code === 'dying_relu') return 'activation';
  return null;
}

/** Diagnostics for warnings, placed on the layer or training field they are about. */
export function warningDiagnostics(doc: vscode.TextDocument, warnings: readonly WarningEvent[]): vscode.Diagnostic[] {
  const model = new ModelText(doc.getText());
  const out: vscode.Diagnostic[] = [];
  for (const w of warnings) {
    const layers = w.layers ?? (w.layer !== null ? [w.layer] : [null]);
    for (const layer of layers) {
      let span: { start: number; end: number } | null = null;
      const field = fieldFor(w.code);
      if (layer !== null && field) span = model.layerField(layer, field);
      else if (layer !== null) span = model.layerSpan(layer);
      if (w.code === 'non_finite' || w.code === 'diverging_loss' || w.code === 'sharpness')
        span = model.trainingField('learningRate');
      if (w.code === 'frequent_clipping' || w.code === 'exploding_gradient') span = model.trainingField('clip') ?? span;
      if (w.code === 'update_ratio' && w.severity === 'warning') span = model.trainingField('learningRate');
      if (w.code === 'overfitting') span = model.trainingField('steps');
      const sev =
        w.severity === 'error'
          ? vscode.DiagnosticSeverity.Error
          : w.severity === 'warning'
            ? vscode.DiagnosticSeverity.Warning
            : vscode.DiagnosticSeverity.Information;
      const when = w.step !== null ? ` (step ${w.step})` : '';
      const text = problemText(w, layer);
      const d = new vscode.Diagnostic(rangeOf(doc, span), `${text.message}${when} Fix: ${text.fix}`, sev);
      d.source = SOURCE;
      d.code = w.code;
      fixData.set(d, { code: w.code, layer });
      out.push(d);
    }
  }
  return out;
}
