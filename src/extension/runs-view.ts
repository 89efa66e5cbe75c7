/**
 * The Runs view of the Layerwise side bar: the kept runs of the followed model file (run-history.ts,
 * in the workspace's storage), newest first, with their date, steps, outcome and last losses. A
 * run's checkbox overlays it in the run panel's loss, ‖g‖ and dead-units charts (a new run keeps
 * the overlays; Export Report takes them); its trash button forgets it.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { LayerwiseEvent } from '../protocol/events';
import type { StepTally } from '../report/thinning';
import type { RunSummary } from './run-history';
import { RunHistory } from './run-history';
import type { WebviewChannel } from './webview-channel';

const RUNS_VIEW_ID = 'layerwise.runs';

interface Overlay {
  file: string;
  series: string;
  events: LayerwiseEvent[];
  seen: StepTally;
}

/** "Dec 1, 14:02:31" in the user's locale. */
function when(iso: string): string {
  const d = new Date(iso);
  return `${d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' })}, ${d.toLocaleTimeString(undefined, { hour12: false })}`;
}

function short(x: number | null): string {
  return x === null ? '—' : x.toPrecision(3);
}

export class RunsView implements vscode.TreeDataProvider<RunSummary>, vscode.Disposable {
  readonly history: RunHistory;
  private file: string | null = null;
  private readonly overlays = new Map<string, Overlay>();
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;
  private view: vscode.TreeView<RunSummary> | null = null;

  constructor(
    storage: vscode.Uri,
    private readonly panel: () => WebviewChannel,
    private readonly output: vscode.OutputChannel,
  ) {
    this.history = new RunHistory(path.join(storage.fsPath, 'runs'), (m) => this.output.appendLine(m));
  }

  /** Registers the tree view (checkboxes toggle overlays). */
  register(): vscode.Disposable {
    const view = vscode.window.createTreeView(RUNS_VIEW_ID, { treeDataProvider: this, showCollapseAll: false });
    this.view = view;
    return vscode.Disposable.from(
      view,
      view.onDidChangeCheckboxState((e) => {
        for (const [run, state] of e.items)
          void this.setOverlay(run.id, state === vscode.TreeItemCheckboxState.Checked);
      }),
    );
  }

  /** Lists the runs of this model file from now on. */
  follow(uri: vscode.Uri): void {
    const f = uri.fsPath;
    if (f === this.file) return;
    this.file = f;
    if (this.view) this.view.description = path.basename(f);
    this.changed.fire();
  }

  /** Keeps a finished run of `uri` and lists it. */
  keep(uri: vscode.Uri, title: string, events: readonly LayerwiseEvent[], seen: StepTally): RunSummary | null {
    if (!events.some((e) => e.type === 'step')) return null;
    try {
      const r = this.history.save(uri.fsPath, title, events, seen);
      this.follow(uri);
      this.changed.fire();
      return r;
    } catch (e) {
      this.output.appendLine(`could not keep the run of ${uri.fsPath}: ${e instanceof Error ? e.message : String(e)}`);
      return null;
    }
  }

  /** The kept runs of the followed file, newest first. */
  list(): RunSummary[] {
    return this.file ? this.history.list(this.file) : [];
  }

  isOverlaid(id: string): boolean {
    return this.overlays.has(id);
  }

  /** Overlays a kept run of the followed file in the run panel, or takes it off. */
  async setOverlay(id: string, on: boolean): Promise<boolean> {
    const panel = this.panel();
    if (!on) {
      const o = this.overlays.get(id);
      if (o) panel.removeSeries(o.series);
      this.overlays.delete(id);
      this.changed.fire();
      return true;
    }
    if (this.overlays.has(id) || !this.file) return this.overlays.has(id);
    const run = this.history.load(this.file, id);
    if (!run) {
      void vscode.window.showWarningMessage('Layerwise: that run is no longer kept.');
      this.changed.fire();
      return false;
    }
    const o: Overlay = {
      file: this.file,
      series: `${when(run.date)} (${run.steps} step${run.steps === 1 ? '' : 's'})`,
      events: run.events,
      seen: run.seen,
    };
    this.overlays.set(id, o);
    const reset = panel.lastReset;
    if (!reset || (reset.mode !== 'run' && reset.mode !== 'report'))
      panel.reset({
        type: 'reset',
        mode: 'run',
        title: `${path.basename(this.file)} — kept runs`,
        series: [],
        clipMax: null,
      });
    panel.events(o.series, o.events, o.seen);
    panel.flush();
    this.changed.fire();
    return true;
  }

  /** The run panel was closed: nothing is overlaid any more. */
  panelClosed(): void {
    if (!this.overlays.size) return;
    this.overlays.clear();
    this.changed.fire();
  }

  /** After the run panel was reset for a new run of `file`: its overlays again, the others dropped. */
  repost(panel: WebviewChannel, file: string): void {
    for (const [id, o] of this.overlays) {
      if (o.file !== file) {
        this.overlays.delete(id);
        continue;
      }
      panel.events(o.series, o.events, o.seen);
    }
    this.changed.fire();
  }

  /** Forgets a kept run (and takes it off the charts). */
  async remove(id: string): Promise<void> {
    if (this.overlays.has(id)) await this.setOverlay(id, false);
    if (this.file) this.history.remove(this.file, id);
    this.changed.fire();
  }

  getTreeItem(r: RunSummary): vscode.TreeItem {
    const item = new vscode.TreeItem(when(r.date));
    const held = r.heldOutLoss !== null ? ` · held-out ${short(r.heldOutLoss)}` : '';
    item.description = `${r.steps} step${r.steps === 1 ? '' : 's'} · ${r.outcome.replace('_', '-')} · loss ${short(r.finalLoss)}${held}`;
    item.tooltip = `${r.title}: ${r.steps} steps, ${r.outcome}, last loss ${short(r.finalLoss)}${held}\nCheck to overlay it in the run panel.`;
    item.checkboxState = this.overlays.has(r.id)
      ? vscode.TreeItemCheckboxState.Checked
      : vscode.TreeItemCheckboxState.Unchecked;
    item.contextValue = 'layerwise.keptRun';
    item.iconPath = new vscode.ThemeIcon(
      r.outcome === 'completed' ? 'pass' : r.outcome === 'non_finite' ? 'error' : 'debug-stop',
    );
    item.id = r.id;
    return item;
  }

  getChildren(r?: RunSummary): RunSummary[] {
    return r ? [] : this.list();
  }

  dispose(): void {
    this.changed.dispose();
  }
}
