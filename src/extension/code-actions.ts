/**
 * Quick fixes for Layerwise diagnostics: the init that suits the activation (He under ReLU-like,
 * Xavier under tanh/sigmoid), ReLU → leaky_relu for a dying layer, add or tighten training.clip,
 * lower the learning rate after non-finite values. Preferred where there is one clear fix.
 */
import * as vscode from 'vscode';
import { fixData, SOURCE } from './diagnostics';
import type { TextEdit } from './model-edits';
import { ModelText } from './model-edits';

const RELU_LIKE = new Set(['relu', 'leaky_relu', 'elu', 'gelu']);

export class QuickFixes implements vscode.CodeActionProvider {
  static readonly kinds = [vscode.CodeActionKind.QuickFix];

  provideCodeActions(
    doc: vscode.TextDocument,
    _range: vscode.Range,
    ctx: vscode.CodeActionContext,
  ): vscode.CodeAction[] {
    const out: vscode.CodeAction[] = [];
    const model = new ModelText(doc.getText());
    for (const d of ctx.diagnostics) {
      if (d.source !== SOURCE) continue;
      // Diagnostics come back to us as copies: the layer is the one whose object holds the range.
      const data = fixData.get(d) ?? {
        code: String(typeof d.code === 'object' ? d.code.value : (d.code ?? '')),
        layer: model.layerAt(doc.offsetAt(d.range.start)),
      };
      const add = (title: string, edit: TextEdit | null, preferred: boolean): void => {
        if (!edit) return;
        const a = new vscode.CodeAction(title, vscode.CodeActionKind.QuickFix);
        a.diagnostics = [d];
        a.isPreferred = preferred;
        a.edit = new vscode.WorkspaceEdit();
        a.edit.replace(doc.uri, new vscode.Range(doc.positionAt(edit.start), doc.positionAt(edit.end)), edit.text);
        out.push(a);
      };
      const layer = data.layer;
      const act = layer !== null ? activationOf(model, layer) : null;
      // the learning rate the warning's own fix names (one value everywhere), else a tenth
      const named = /learningRate to (-?[0-9.]+(?:e[-+]?[0-9]+)?)/i.exec(d.message)?.[1];
      const suggested = (): number =>
        named !== undefined && Number(named) > 0 ? Number(named) : (model.currentLearningRate() ?? 0.01) / 10;
      switch (data.code) {
        case 'init_mismatch':
        case 'vanishing_forward':
        case 'exploding_forward':
        case 'vanishing_gradient':
        case 'saturation': {
          if (layer === null || act === null) break;
          const [a, b] = RELU_LIKE.has(act) ? ['he_normal', 'he_uniform'] : ['xavier_uniform', 'xavier_normal'];
          add(`Use "${a}" init on layer ${layer}`, model.setInit(layer, a), true);
          add(`Use "${b}" init on layer ${layer}`, model.setInit(layer, b), false);
          break;
        }
        case 'dying_relu':
          if (layer !== null)
            add(`Switch layer ${layer} to leaky_relu`, model.setActivation(layer, 'leaky_relu'), true);
          break;
        case 'non_finite': {
          if (/initial weights/.test(d.message)) break; // the init overflowed: no learning rate helps
          const lr = suggested();
          add(`Lower the learning rate to ${lr}`, model.setLearningRate(lr), true);
          const c = model.currentClipMax();
          add(
            c === null ? 'Add gradient clipping (norm, max 1)' : `Tighten gradient clipping to max ${c / 2}`,
            model.setClip(c === null ? 1 : c / 2),
            false,
          );
          break;
        }
        case 'exploding_gradient':
        case 'frequent_clipping': {
          const c = model.currentClipMax();
          if (data.code === 'exploding_gradient')
            add(
              c === null ? 'Add gradient clipping (norm, max 1)' : `Tighten gradient clipping to max ${c / 2}`,
              model.setClip(c === null ? 1 : c / 2),
              true,
            );
          const lr = model.currentLearningRate() ?? 0.01;
          add(
            `Lower the learning rate to ${lr / 10}`,
            model.setLearningRate(lr / 10),
            data.code === 'frequent_clipping',
          );
          break;
        }
        case 'diverging_loss':
        case 'update_ratio': {
          const lr = suggested();
          if (d.severity === vscode.DiagnosticSeverity.Warning)
            add(`Lower the learning rate to ${lr}`, model.setLearningRate(lr), true);
          break;
        }
      }
    }
    return out;
  }
}

function activationOf(model: ModelText, layer: number): string | null {
  const s = model.layerField(layer, 'activation');
  if (!s) return null;
  const v = model.text.slice(s.start, s.end);
  return v.startsWith('"') ? (JSON.parse(v) as string) : 'linear';
}
