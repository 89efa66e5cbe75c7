/**
 * The followed PyTorch log in the user's Python code: above the line that creates each layer's
 * module (the log's `modules`), a lens with the layer's latest statistics and warnings, which
 * shows the log in the run panel. Updated at most once a second while the log grows. Off with
 * layerwise.codeLens, as the model files' lenses.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { LayerwiseEvent, StartEvent, StepEvent, WarningEvent } from '../protocol/events';
import { settings } from './config';
import { sameSource, sharedLensTitle } from './source-lens-text';

export class SourceLenses implements vscode.CodeLensProvider, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeCodeLenses = this.changed.event;
  private log: vscode.Uri | null = null;
  private start: StartEvent | null = null;
  private step: StepEvent | null = null;
  private warnings: WarningEvent[] = [];
  /** Whether each module file the log names is a file on this machine (asked once a run). */
  private readonly here = new Map<string, boolean>();
  private timer: ReturnType<typeof setTimeout> | null = null;

  /** A new run of the log followed in the panel, or none (null). */
  run(log: vscode.Uri | null): void {
    this.log = log;
    this.start = null;
    this.step = null;
    this.warnings = [];
    this.here.clear();
    this.fire(true);
  }

  events(events: readonly LayerwiseEvent[]): void {
    let any = false;
    for (const e of events) {
      if (e.type === 'start') {
        this.start = e.source === 'pytorch' && e.modules?.some((m) => m.file !== undefined) ? e : null;
        any = true;
      } else if (e.type === 'step') {
        this.step = e;
        any = true;
      } else if (e.type === 'warning' && this.warnings.length < 1000) {
        this.warnings.push(e);
        any = true;
      }
    }
    if (any && this.start) this.fire(false);
  }

  /** Asked again (the settings changed). */
  refresh(): void {
    this.fire(true);
  }

  provideCodeLenses(doc: vscode.TextDocument): vscode.CodeLens[] {
    const start = this.start;
    const log = this.log;
    if (!settings().codeLens || !start?.modules || !log) return [];
    // the layers of each line of this document (a ModuleList's are all on its line: one lens)
    const lines = new Map<number, number[]>();
    start.modules.forEach((m, i) => {
      if (m.file === undefined || m.line === undefined || m.line > doc.lineCount) return;
      if (!sameSource(m.file, doc.uri.fsPath, this.isHere(m.file))) return;
      lines.set(m.line, [...(lines.get(m.line) ?? []), i]);
    });
    return [...lines].map(([line, layers]) => {
      const at = new vscode.Position(line - 1, 0);
      return new vscode.CodeLens(new vscode.Range(at, at), {
        title: sharedLensTitle(start, layers, this.step, this.warnings),
        command: 'layerwise.showLog',
        arguments: [log],
        tooltip: `From the training log ${path.basename(log.fsPath)}: show it in the run panel`,
      });
    });
  }

  private isHere(file: string): boolean {
    let known = this.here.get(file);
    if (known === undefined) {
      try {
        known = fs.statSync(file).isFile();
      } catch {
        known = false;
      }
      this.here.set(file, known);
    }
    return known;
  }

  private fire(now: boolean): void {
    if (now) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = null;
      this.changed.fire();
    } else
      this.timer ??= setTimeout(() => {
        this.timer = null;
        this.changed.fire();
      }, 1000);
  }

  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.changed.dispose();
  }
}
