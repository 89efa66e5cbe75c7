/**
 * A lens over each layer: its predicted Var(z) and the ratio to the layer before (the seed's goal
 * is ≈ 1 after the first), and its dead % at the latest run step. Off with layerwise.codeLens.
 */
import * as vscode from 'vscode';
import type { AnalysisService } from './analysis';
import { settings } from './config';
import { ModelText } from './model-edits';
import { fmt } from './source-lens-text';

export class LayerLenses implements vscode.CodeLensProvider {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.changed.event;
  dead = new Map<string, (number | null)[]>();

  constructor(private readonly analysis: AnalysisService) {
    analysis.onDidAnalyze(() => this.changed.fire());
  }

  refresh(): void {
    this.changed.fire();
  }

  provideCodeLenses(doc: vscode.TextDocument): vscode.CodeLens[] {
    if (!settings().codeLens) return [];
    const r = this.analysis.results.get(doc.uri.toString());
    if (!r?.analysis || r.version !== doc.version) return [];
    const model = new ModelText(doc.getText());
    const dead = this.dead.get(doc.uri.toString());
    const q0 = r.analysis.inputVar;
    return r.analysis.layers.flatMap((l, i) => {
      const span = model.layerSpan(i);
      if (!span) return [];
      const prev = i === 0 ? q0 : r.analysis!.layers[i - 1]!.predicted.preactVar;
      const ratio = prev > 0 ? l.predicted.preactVar / prev : NaN;
      const d = dead?.[i];
      const title = `Var(z) ${fmt(l.predicted.preactVar)} (×${fmt(ratio)} vs. ${i === 0 ? 'inputs' : `layer ${i - 1}`})${d !== undefined && d !== null ? ` · dead ${fmt((100 * d) / l.fanOut)} %` : ''}`;
      const pos = doc.positionAt(span.start);
      return [
        new vscode.CodeLens(new vscode.Range(pos, pos), {
          title,
          command: 'layerwise.openSidePanel',
          tooltip: 'Predicted by the mean-field analysis; dead units from the latest run',
        }),
      ];
    });
  }
}
