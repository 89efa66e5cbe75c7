/**
 * Quick fixes for Layerwise diagnostics: the init that suits the activation (He under ReLU-like,
 * Xavier under tanh/sigmoid), ReLU → leaky_relu for a dying layer (its bias to 0 first where a
 * negative one holds it below 0) and for the one whose dead units block a vanishing signal, add or
 * tighten training.clip, lower the learning rate after non-finite values. Preferred where there is
 * one clear fix: the one the message names. Only fixes that change the file are offered. "Fix all init mismatches in this
 * file" (a quick fix, and the source action `source.fixAll.layerwise`) sets every mismatched
 * layer's init to the scheme its Problem names, in one edit.
 */
import type { ActivationName } from '../protocol/events';
import { suitedInit } from '../protocol/events';
import * as vscode from 'vscode';
import { fixData, SOURCE } from './diagnostics';
import type { TextEdit } from './model-edits';
import { ModelText } from './model-edits';
import { namedInit } from './warning-text';

export class QuickFixes implements vscode.CodeActionProvider {
  static readonly fixAll = vscode.CodeActionKind.SourceFixAll.append('layerwise');
  static readonly kinds = [vscode.CodeActionKind.QuickFix, QuickFixes.fixAll];

  provideCodeActions(
    doc: vscode.TextDocument,
    _range: vscode.Range,
    ctx: vscode.CodeActionContext,
  ): vscode.CodeAction[] {
    const out: vscode.CodeAction[] = [];
    const model = new ModelText(doc.getText());
    const fixAll = initFixAll(doc, model);
    // source.fixAll (on save with editor.codeActionsOnSave, or from the Source Action menu)
    if (ctx.only && ctx.only.contains(QuickFixes.fixAll)) return fixAll ? [fixAll(QuickFixes.fixAll)] : [];
    if (ctx.only && !ctx.only.contains(vscode.CodeActionKind.QuickFix)) return [];
    let fixAllOffered = false;
    for (const d of ctx.diagnostics) {
      if (d.source !== SOURCE) continue;
      // a misspelt value or key: "did you mean "relu"?" replaces it with the suggestion
      const mean = /\(did you mean "([^"\\]+)"\?\)/.exec(d.message)?.[1];
      const was = doc.getText(d.range);
      if (mean !== undefined && /^"[^"\\]*"$/.test(was) && was !== JSON.stringify(mean)) {
        const a = new vscode.CodeAction(`Change ${was} to "${mean}"`, vscode.CodeActionKind.QuickFix);
        a.diagnostics = [d];
        a.isPreferred = true;
        a.edit = new vscode.WorkspaceEdit();
        a.edit.replace(doc.uri, d.range, JSON.stringify(mean));
        out.push(a);
        continue;
      }
      // Diagnostics come back to us as copies: the layer is the one whose object holds the range.
      const data = fixData.get(d) ?? {
        code: String(typeof d.code === 'object' ? d.code.value : (d.code ?? '')),
        layer: model.layerAt(doc.offsetAt(d.range.start)),
      };
      const add = (title: string, edit: TextEdit | null, preferred: boolean): void => {
        if (!edit || changesNothing(model, edit)) return;
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
      // a vanishing signal past a layer whose dead units block it: that layer's fix
      const blocked =
        data.code === 'vanishing_gradient' || data.code === 'vanishing_forward'
          ? /Layer (\d+)'s \d+ dead units/.exec(d.message)
          : null;
      // a dying layer j: its bias to 0 where the message says a negative one holds it, else leaky_relu
      const revive = (j: number): void => {
        const bias = new RegExp(`set "bias": 0 on layer ${j} `, 'i').test(d.message);
        if (bias) add(`Set layer ${j}'s bias to 0`, model.setBias(j, 0), true);
        add(`Switch layer ${j} to leaky_relu`, model.setActivation(j, 'leaky_relu'), !bias);
      };
      if (blocked) {
        revive(Number(blocked[1]));
        if (named !== undefined)
          add(`Lower the learning rate to ${suggested()}`, model.setLearningRate(suggested()), false);
        continue;
      }
      switch (data.code) {
        case 'init_mismatch':
        case 'vanishing_forward':
        case 'exploding_forward':
        case 'vanishing_gradient':
        case 'saturation': {
          if (layer === null || act === null) break;
          const first = suitedInit(act as ActivationName);
          const pair: string[] = [
            first,
            suitedInit(act as ActivationName, first.endsWith('normal') ? 'uniform' : 'normal'),
          ];
          // a layer whose init already suits (in either family: the same variance) gets no init
          // fix: switching family would change the file and not the signal
          if (pair.includes(model.initScheme(layer) ?? '')) break;
          // the scheme the Problem's fix names first (the message and the fix agree)
          const named = namedInit(d.message);
          const [a, b] = named && pair.includes(named) ? [named, pair.find((x) => x !== named)!] : pair;
          add(`Use "${a}" init on layer ${layer}`, model.setInit(layer, a!), true);
          add(`Use "${b}" init on layer ${layer}`, model.setInit(layer, b!), false);
          if (data.code === 'init_mismatch' && fixAll && !fixAllOffered) {
            fixAllOffered = true;
            out.push(fixAll(vscode.CodeActionKind.QuickFix, d));
          }
          break;
        }
        case 'dying_relu':
          if (layer !== null) revive(layer);
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
        case 'overfitting': {
          // the step the held-out loss was lowest at, as the warning names it
          const n = Number(/set training\.steps to (\d+)/.exec(d.message)?.[1]);
          if (Number.isSafeInteger(n) && n > 0)
            add(`Stop at step ${n - 1} (training.steps ${n})`, model.setSteps(n), true);
          break;
        }
        case 'diverging_loss':
        case 'sharpness':
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

/** Whether an edit would leave the text as it is. */
function changesNothing(model: ModelText, e: TextEdit): boolean {
  return model.text.slice(e.start, e.end) === e.text;
}

/**
 * One edit setting every init_mismatch layer's init to the scheme its Problem names, as a code
 * action of the given kind; null when fewer than two layers would change.
 */
function initFixAll(
  doc: vscode.TextDocument,
  model: ModelText,
): ((kind: vscode.CodeActionKind, d?: vscode.Diagnostic) => vscode.CodeAction) | null {
  const diags = vscode.languages
    .getDiagnostics(doc.uri)
    .filter((d) => d.source === SOURCE && (typeof d.code === 'object' ? d.code.value : d.code) === 'init_mismatch');
  const edits = new Map<number, TextEdit>();
  for (const d of diags) {
    const layer = fixData.get(d)?.layer ?? model.layerAt(doc.offsetAt(d.range.start));
    const scheme = namedInit(d.message);
    if (layer === null || scheme === null || edits.has(layer)) continue;
    const e = model.setInit(layer, scheme);
    if (e && !changesNothing(model, e)) edits.set(layer, e);
  }
  if (edits.size < 2) return null;
  return (kind, d) => {
    const a = new vscode.CodeAction(`Fix all init mismatches in this file (${edits.size} layers)`, kind);
    if (d) a.diagnostics = [d];
    a.edit = new vscode.WorkspaceEdit();
    for (const e of edits.values())
      a.edit.replace(doc.uri, new vscode.Range(doc.positionAt(e.start), doc.positionAt(e.end)), e.text);
    return a;
  };
}

function activationOf(model: ModelText, layer: number): string | null {
  const s = model.layerField(layer, 'activation');
  if (!s) return null;
  const v = model.text.slice(s.start, s.end);
  return v.startsWith('"') ? (JSON.parse(v) as string) : 'linear';
}
