/**
 * Layerwise for VS Code: the side view follows the active *.mlp.json (analysis on open and as you
 * type), command-palette runs stream to a run panel, problems and warnings land in the Problems
 * panel with quick fixes. The host never runs the math: workers do.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { WebviewMessage } from '../protocol/webview-messages';
import { runReportHtml } from '../report/page';
import { AnalysisService } from './analysis';
import { QuickFixes } from './code-actions';
import { LayerLenses } from './codelens';
import { SourceLenses } from './source-lenses';
import { segments, trailingAlike } from './source-lens-text';
import { isModelDocument } from './config';
import { ModelText } from './model-edits';
import { RunService } from './runs';
import { isRunId } from './run-history';
import type { RunSummary } from './run-history';
import { RunsView } from './runs-view';
import { TEMPLATES } from './templates';
import { compareLogs } from './compare-logs';
import { TrainingLogs } from './training-logs';
import { RunPanel, SIDE_VIEW_ID, SideView } from './views';

/** What tests can see of a running extension. */
export interface LayerwiseApi {
  analysisService: AnalysisService;
  runs: RunService;
  sideView: SideView;
  runPanel: RunPanel;
  logs: TrainingLogs;
  kept: RunsView;
  liveWorkers(): number;
  /** What the panels' messages do (tests post one as a click would). */
  onWebviewMessage(m: WebviewMessage): void;
}

export function activate(context: vscode.ExtensionContext): LayerwiseApi {
  const output = vscode.window.createOutputChannel('Layerwise');
  const workerFile = context.asAbsolutePath(path.join('dist', 'worker.js'));
  const analysis = new AnalysisService(workerFile, output);
  let lastModel: vscode.TextDocument | undefined;

  const onWebviewMessage = (m: WebviewMessage): void => {
    switch (m.type) {
      case 'revealLayer':
        void revealLayer(m.layer);
        break;
      case 'revealSource':
        void revealSource(m.file, m.line);
        break;
      case 'command':
        void vscode.commands.executeCommand(
          {
            run: 'layerwise.startRun',
            stop: 'layerwise.stopRun',
            analyze: 'layerwise.analyze',
            compare: 'layerwise.compareInits',
            newModel: 'layerwise.newModel',
            openLog: 'layerwise.openLog',
          }[m.command],
        );
        break;
      default:
        break;
    }
  };
  const sideView = new SideView(context.extensionUri, output, onWebviewMessage);
  const runPanel = new RunPanel(context.extensionUri, output, onWebviewMessage);
  const kept = new RunsView(context.storageUri ?? context.globalStorageUri, () => runPanel.channel(), output);
  const runs = new RunService(workerFile, analysis, output, () => runPanel.channel(), kept);
  const lenses = new LayerLenses(analysis);
  const sourceLenses = new SourceLenses();
  const logs = new TrainingLogs(() => runPanel.channel(), output, sourceLenses);

  const setContext = (running: boolean): void => {
    void vscode.commands.executeCommand('setContext', 'layerwise.running', running);
    sideView.channel?.message({ type: 'status', running });
  };
  setContext(false);

  /** The model file to act on: the active editor's, else the last one seen. */
  function modelDocument(arg?: unknown): vscode.TextDocument | undefined {
    if (arg instanceof vscode.Uri)
      return vscode.workspace.textDocuments.find((d) => d.uri.toString() === arg.toString());
    const active = vscode.window.activeTextEditor?.document;
    if (isModelDocument(active)) return active;
    if (lastModel && !lastModel.isClosed) return lastModel;
    return undefined;
  }

  async function requireModel(arg?: unknown): Promise<vscode.TextDocument | undefined> {
    if (arg instanceof vscode.Uri && !modelDocument(arg)) return vscode.workspace.openTextDocument(arg);
    const doc = modelDocument(arg);
    if (!doc)
      void vscode.window.showInformationMessage(
        'Layerwise: open a *.mlp.json model file first (or create one with "Layerwise: New Model File").',
      );
    return doc;
  }

  async function revealLayer(layer: number): Promise<void> {
    const doc = modelDocument();
    if (!doc) return;
    const span = new ModelText(doc.getText()).layerSpan(layer);
    if (!span) return;
    const editor = await vscode.window.showTextDocument(doc, {
      preserveFocus: false,
      viewColumn: vscode.window.visibleTextEditors.find((e) => e.document === doc)?.viewColumn,
    });
    const range = new vscode.Range(doc.positionAt(span.start), doc.positionAt(span.end));
    editor.selection = new vscode.Selection(range.start, range.start);
    editor.revealRange(range, vscode.TextEditorRevealType.InCenterIfOutsideViewport);
  }

  /**
   * A PyTorch layer's module where the user's code creates it (a path and line the training log
   * gives): that file if it is here; else the workspace's file whose path ends the same way, the
   * most trailing folders alike (a log written on another machine, a cluster's checkout); else said.
   */
  async function revealSource(file: string, line: number): Promise<void> {
    const uri = (await isFile(file)) ? vscode.Uri.file(file) : await sameFileHere(file);
    if (!uri) {
      void vscode.window.showInformationMessage(
        `Layerwise: the training log names ${file}:${line} for this layer, but no such file is here.`,
      );
      return;
    }
    const at = new vscode.Position(line - 1, 0);
    await vscode.window.showTextDocument(uri, { selection: new vscode.Range(at, at), preserveFocus: false });
  }

  async function isFile(file: string): Promise<boolean> {
    try {
      return (
        path.isAbsolute(file) && (await vscode.workspace.fs.stat(vscode.Uri.file(file))).type === vscode.FileType.File
      );
    } catch {
      return false;
    }
  }

  /** The one workspace file ending with the most of `file`'s trailing path segments (its name at least). */
  async function sameFileHere(file: string): Promise<vscode.Uri | undefined> {
    const parts = segments(file);
    const name = parts.at(-1);
    if (!name || /[*?{}[\]]/.test(name)) return undefined;
    const found = await vscode.workspace.findFiles(`**/${name}`, '**/node_modules/**', 200);
    const scored = found.map((u) => ({ u, n: trailingAlike(segments(u.fsPath), parts) })).sort((a, b) => b.n - a.n);
    // two files alike to the same depth: which one the log means is not known
    return scored.length > 0 && (scored.length === 1 || scored[0]!.n > scored[1]!.n) ? scored[0]!.u : undefined;
  }

  /** The palette's "Overlay Kept Runs…": the followed file's kept runs, the overlaid ones checked. */
  async function pickOverlays(): Promise<boolean> {
    const list = kept.list();
    if (!list.length) {
      void vscode.window.showInformationMessage('Layerwise: no kept runs of this model file yet; start a run first.');
      return false;
    }
    const picked = await vscode.window.showQuickPick(
      list.map((r) => ({
        label: new Date(r.date).toLocaleString(),
        description: `${r.steps} step${r.steps === 1 ? '' : 's'} · ${r.outcome}`,
        picked: kept.isOverlaid(r.id),
        id: r.id,
      })),
      { canPickMany: true, title: 'Layerwise: overlay kept runs in the run panel' },
    );
    if (!picked) return false;
    const on = new Set(picked.map((p) => p.id));
    for (const r of list) await kept.setOverlay(r.id, on.has(r.id));
    return true;
  }

  const follow = (doc: vscode.TextDocument | undefined): void => {
    if (!isModelDocument(doc)) return;
    lastModel = doc;
    kept.follow(doc.uri);
    analysis.followed = doc.uri.toString();
    if (analysis.results.get(doc.uri.toString())?.version === doc.version) analysis.showInSide(doc);
    else analysis.schedule(doc, 0);
  };

  context.subscriptions.push(
    output,
    analysis,
    sideView,
    runPanel,
    runs,
    logs,
    kept,
    kept.register(),
    runPanel.onDidClose(() => {
      kept.panelClosed();
      logs.overlays.clear();
    }),
    logs.register(),
    vscode.window.registerWebviewViewProvider(SIDE_VIEW_ID, sideView, {
      webviewOptions: { retainContextWhenHidden: false },
    }),
    sideView.onDidResolve((ch) => {
      analysis.side = ch;
      follow(modelDocument());
    }),
    runs.onDidChangeRunning(setContext),
    vscode.languages.registerCodeActionsProvider({ pattern: '**/*.mlp.json' }, new QuickFixes(), {
      providedCodeActionKinds: QuickFixes.kinds,
    }),
    vscode.languages.registerCodeLensProvider({ pattern: '**/*.mlp.json' }, lenses),
    vscode.languages.registerCodeLensProvider({ language: 'python' }, sourceLenses),
    sourceLenses,
    vscode.window.onDidChangeActiveTextEditor((e) => follow(e?.document)),
    vscode.workspace.onDidOpenTextDocument((d) => {
      if (isModelDocument(d)) analysis.schedule(d, 0);
    }),
    vscode.workspace.onDidChangeTextDocument((e) => {
      if (isModelDocument(e.document) && e.contentChanges.length) analysis.schedule(e.document);
    }),
    vscode.workspace.onDidCloseTextDocument((d) => {
      if (isModelDocument(d)) analysis.forget(d);
    }),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration('layerwise')) {
        lenses.refresh();
        sourceLenses.refresh();
        const d = modelDocument();
        if (d) analysis.schedule(d, 0);
      }
    }),

    vscode.commands.registerCommand('layerwise.analyze', async (arg?: unknown) => {
      const doc = await requireModel(arg);
      if (!doc) return undefined;
      await vscode.commands.executeCommand(`workbench.view.extension.layerwise`);
      return analysis.analyze(doc);
    }),
    vscode.commands.registerCommand('layerwise.startRun', async (arg?: unknown, opts?: { steps?: number }) => {
      const doc = await requireModel(arg);
      if (!doc) return undefined;
      logs.stopFollowing();
      logs.overlays.clear();
      const record = await runs.start(doc, opts ?? {});
      const last = runPanel.current
        ?.loggedEvents()
        .events.get('run')
        ?.filter((e) => e.type === 'step')
        .at(-1);
      if (last && last.type === 'step') {
        lenses.dead.set(
          doc.uri.toString(),
          last.layers.map((l) => l.dead),
        );
        lenses.refresh();
      }
      return record;
    }),
    vscode.commands.registerCommand('layerwise.stopRun', () => runs.stop()),
    // a kept run (the Runs view's item, or its id): overlay it in the run panel, take it off, forget it
    vscode.commands.registerCommand('layerwise.overlayRun', (r?: RunSummary | string) => {
      const id = typeof r === 'string' ? r : r?.id;
      return isRunId(id) ? kept.setOverlay(id, true) : pickOverlays();
    }),
    vscode.commands.registerCommand('layerwise.removeOverlay', (r?: RunSummary | string) => {
      const id = typeof r === 'string' ? r : r?.id;
      return isRunId(id) ? kept.setOverlay(id, false) : false;
    }),
    vscode.commands.registerCommand('layerwise.deleteRun', (r?: RunSummary | string) => {
      const id = typeof r === 'string' ? r : r?.id;
      return isRunId(id) ? kept.remove(id) : undefined;
    }),
    vscode.commands.registerCommand('layerwise.compareInits', async (arg?: unknown, opts?: { steps?: number }) => {
      const doc = await requireModel(arg);
      if (doc) {
        logs.stopFollowing();
        logs.overlays.clear();
      }
      return doc ? runs.compare(doc, opts?.steps ?? 100) : undefined;
    }),
    vscode.commands.registerCommand('layerwise.openLog', async (target?: vscode.Uri) => {
      const uri =
        target ??
        (
          await vscode.window.showOpenDialog({
            title: 'Layerwise: open a training log',
            canSelectMany: false,
            openLabel: 'Show',
            defaultUri: vscode.workspace.workspaceFolders?.[0]?.uri,
            filters: { 'Layerwise training log': ['jsonl'], 'All files': ['*'] },
          })
        )?.[0];
      if (!uri) return undefined;
      await logs.show(uri);
      return uri;
    }),
    vscode.commands.registerCommand('layerwise.showLog', (uri: vscode.Uri) => logs.show(uri)),
    vscode.commands.registerCommand('layerwise.compareLogs', (uris?: unknown) =>
      compareLogs(logs, Array.isArray(uris) ? uris.filter((u): u is vscode.Uri => u instanceof vscode.Uri) : undefined),
    ),
    vscode.commands.registerCommand('layerwise.openPanel', () => {
      if (runPanel.isOpen) runPanel.reveal();
      else void vscode.commands.executeCommand('workbench.view.extension.layerwise');
    }),
    vscode.commands.registerCommand('layerwise.openSidePanel', () =>
      vscode.commands.executeCommand('workbench.view.extension.layerwise'),
    ),
    vscode.commands.registerCommand('layerwise.newModel', async (target?: vscode.Uri, templateId?: string) => {
      const pick = templateId
        ? TEMPLATES.find((t) => t.id === templateId)
        : await vscode.window.showQuickPick(
            TEMPLATES.map((t) => ({ ...t, description: t.detail })),
            { title: 'Layerwise: new model file', placeHolder: 'Start from…' },
          );
      if (!pick) return undefined;
      const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
      const uri =
        target ??
        (await vscode.window.showSaveDialog({
          defaultUri: folder ? vscode.Uri.joinPath(folder, `${pick.id}.mlp.json`) : undefined,
          filters: { 'Layerwise model': ['mlp.json'] },
          title: 'Save the new model file',
        }));
      if (!uri) return undefined;
      if (!/\.mlp\.json$/i.test(uri.path)) {
        void vscode.window.showErrorMessage('Layerwise: a model file name must end in .mlp.json.');
        return undefined;
      }
      await vscode.workspace.fs.writeFile(uri, Buffer.from(pick.text, 'utf8'));
      const doc = await vscode.workspace.openTextDocument(uri);
      await vscode.window.showTextDocument(doc);
      return uri;
    }),
    vscode.commands.registerCommand('layerwise.exportReport', async (target?: vscode.Uri) => {
      const logged = runPanel.current?.loggedEvents();
      if (!logged?.reset) {
        void vscode.window.showInformationMessage(
          'Layerwise: start a training run first; the report holds its charts.',
        );
        return undefined;
      }
      const uri =
        target ??
        (await vscode.window.showSaveDialog({
          filters: { HTML: ['html'] },
          title: 'Export the Layerwise report',
          defaultUri: vscode.workspace.workspaceFolders?.[0]
            ? vscode.Uri.joinPath(vscode.workspace.workspaceFolders[0].uri, 'layerwise-report.html')
            : undefined,
        }));
      if (!uri) return undefined;
      const html = runReportHtml({
        script: fs.readFileSync(context.asAbsolutePath(path.join('dist', 'webview.js')), 'utf8'),
        css: fs.readFileSync(context.asAbsolutePath(path.join('media', 'panel.css')), 'utf8'),
        reset: logged.reset,
        series: logged.events,
        tallies: logged.tallies,
      });
      await vscode.workspace.fs.writeFile(uri, Buffer.from(html, 'utf8'));
      void vscode.window.showInformationMessage(`Layerwise: report written to ${uri.fsPath}`);
      return uri;
    }),
  );

  for (const d of vscode.workspace.textDocuments) if (isModelDocument(d)) analysis.schedule(d, 0);
  follow(vscode.window.activeTextEditor?.document);

  return {
    analysisService: analysis,
    runs,
    sideView,
    runPanel,
    logs,
    kept,
    liveWorkers: () => runs.liveWorkers + analysis.inFlight,
    onWebviewMessage,
  };
}

export function deactivate(): void {
  // every resource is in context.subscriptions; VS Code disposes them (stopping workers)
}
