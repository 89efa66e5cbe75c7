/**
 * Training logs (`*.layerwise.jsonl`, written by the layerwise_torch package or `layerwise run
 * --json`): listed in the Layerwise side bar with their state, offered when one appears or grows
 * ("exp1 is training — Show"), and followed live in the run panel with the same charts, the same
 * detectors (over the stream, in src/logs/follow.ts) and Export Report. A truncated or replaced log
 * starts a new run in the panel; malformed lines are skipped and counted there. A log's checkbox
 * draws it beside the followed one (log-overlays.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { LayerwiseEvent, StepEvent, WarningEvent } from '../protocol/events';
import { parseEventLine } from '../protocol/parse-event';
import { LogFollower } from '../logs/follow';
import { logName } from '../logs/log-name';
import { LogOverlays } from './log-overlays';
import { settings } from './config';
import type { SourceLenses } from './source-lenses';
import type { WebviewChannel } from './webview-channel';

const LOG_GLOB = '**/*.layerwise.jsonl';
const LOGS_VIEW_ID = 'layerwise.logs';

interface LogState {
  uri: vscode.Uri;
  /** "training", "completed", "stopped", "non_finite", "stalled" or "empty". */
  state: string;
  step: number | null;
  mtimeMs: number;
}

/** The state of a log from its last lines (reads at most the last 256 KB). */
function readLogState(file: string): Omit<LogState, 'uri'> {
  const st = fs.statSync(file);
  const size = st.size;
  const n = Math.min(size, 256 * 1024);
  const fd = fs.openSync(file, 'r');
  let text = '';
  try {
    const buf = Buffer.alloc(n);
    fs.readSync(fd, buf, 0, n, size - n);
    text = buf.toString('utf8');
  } finally {
    fs.closeSync(fd);
  }
  let step: number | null = null;
  let state = size === 0 ? 'empty' : 'training';
  for (const line of text.split('\n').reverse()) {
    if (!line.trim().startsWith('{')) continue;
    const e = parseEventLine(line);
    if ('error' in e) continue;
    if (e.type === 'end') {
      state = e.reason;
      step = e.steps;
      break;
    }
    if (e.type === 'step') {
      step = e.step;
      break;
    }
    if (e.type === 'start') break;
  }
  if (state === 'training' && Date.now() - st.mtimeMs > 60000) state = 'stalled';
  return { state, step, mtimeMs: st.mtimeMs };
}

class LogItem extends vscode.TreeItem {
  /** overlaid: its checkbox's state; undefined for the followed log (it has none). */
  constructor(
    readonly log: LogState,
    overlaid?: boolean,
  ) {
    super(logName(log.uri.fsPath), vscode.TreeItemCollapsibleState.None);
    const where =
      log.step !== null
        ? log.state === 'training' || log.state === 'stalled'
          ? ` · step ${log.step}`
          : ` · ${log.step} steps`
        : '';
    this.description = `${log.state.replace('_', '-')}${where}`;
    this.tooltip = `${log.uri.fsPath}\n${this.description}`;
    this.resourceUri = log.uri;
    this.iconPath = new vscode.ThemeIcon(
      log.state === 'training'
        ? 'pulse'
        : log.state === 'non_finite'
          ? 'error'
          : log.state === 'stalled'
            ? 'warning'
            : 'pass',
    );
    this.command = { command: 'layerwise.showLog', title: 'Show', arguments: [log.uri] };
    this.contextValue = 'layerwise.log';
    if (overlaid !== undefined) {
      this.checkboxState = overlaid ? vscode.TreeItemCheckboxState.Checked : vscode.TreeItemCheckboxState.Unchecked;
      this.tooltip += '\nCheck to overlay it on the shown run.';
    }
  }
}

export class TrainingLogs implements vscode.TreeDataProvider<LogItem>, vscode.Disposable {
  private readonly logs = new Map<string, LogState>();
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly subs: vscode.Disposable[] = [];
  private follower: LogFollower | null = null;
  private offered = new Set<string>();
  private refreshTimer: ReturnType<typeof setTimeout> | null = null;
  /** Other logs drawn beside the followed one. */
  readonly overlays: LogOverlays;

  /** The followed log and what it has shown (for tests and the status bar). */
  followed: {
    file: string;
    runs: number;
    steps: number;
    warnings: WarningEvent[];
    malformed: number;
    stalled: boolean;
    ended: boolean;
  } | null = null;
  /** Offers made ("exp1 is training — Show"), for tests. */
  readonly offers: string[] = [];

  constructor(
    private readonly panel: () => WebviewChannel,
    private readonly output: vscode.OutputChannel,
    private readonly lenses: SourceLenses | null = null,
  ) {
    this.overlays = new LogOverlays(
      panel,
      output,
      () => this.followed?.file,
      () => this.changed.fire(),
    );
    const watcher = vscode.workspace.createFileSystemWatcher(LOG_GLOB);
    this.subs.push(
      watcher,
      watcher.onDidCreate((u) => this.touched(u, true)),
      watcher.onDidChange((u) => this.touched(u, false)),
      watcher.onDidDelete((u) => {
        this.logs.delete(u.toString());
        this.offered.delete(u.toString());
        this.changed.fire();
      }),
    );
    void this.scan();
  }

  /**
   * Registers the Training Logs view (a log's checkbox overlays it). Shown, it looks for logs
   * again: the file watcher can miss a log written at once into a folder just made (in code-server,
   * once in two tries; a log that grows is seen at its next write), so a log copied in is found.
   */
  register(): vscode.Disposable {
    const view = vscode.window.createTreeView(LOGS_VIEW_ID, { treeDataProvider: this, showCollapseAll: false });
    return vscode.Disposable.from(
      view,
      view.onDidChangeVisibility((e) => {
        if (e.visible) void this.scan();
      }),
      view.onDidChangeCheckboxState((e) => {
        for (const [item, state] of e.items)
          this.overlays.set(item.log.uri, state === vscode.TreeItemCheckboxState.Checked);
      }),
    );
  }

  /** Finds the logs already in the workspace (no offers for these: they are not news). */
  async scan(): Promise<void> {
    const found = await vscode.workspace.findFiles(LOG_GLOB, '**/node_modules/**', 500);
    for (const u of found) this.update(u);
    this.changed.fire();
  }

  getTreeItem(item: LogItem): vscode.TreeItem {
    return item;
  }

  getChildren(): LogItem[] {
    return [...this.logs.values()]
      .sort((a, b) => b.mtimeMs - a.mtimeMs)
      .map((l) => (l.uri.fsPath === this.followed?.file ? new LogItem(l) : new LogItem(l, this.overlays.has(l.uri))));
  }

  /** Every log known, newest first (for tests). */
  list(): LogState[] {
    return [...this.logs.values()].sort((a, b) => b.mtimeMs - a.mtimeMs);
  }

  private update(u: vscode.Uri): LogState | null {
    try {
      const s = { uri: u, ...readLogState(u.fsPath) };
      this.logs.set(u.toString(), s);
      return s;
    } catch {
      this.logs.delete(u.toString());
      return null;
    }
  }

  private touched(u: vscode.Uri, created: boolean): void {
    if (created) this.offered.delete(u.toString());
    const s = this.update(u);
    if (!this.refreshTimer)
      this.refreshTimer = setTimeout(() => {
        this.refreshTimer = null;
        this.changed.fire();
      }, 500);
    if (!s || this.followed?.file === u.fsPath || this.offered.has(u.toString())) return;
    if (s.state !== 'training') return;
    this.offered.add(u.toString());
    const name = logName(u.fsPath);
    this.offers.push(name);
    void vscode.window.showInformationMessage(`Layerwise: ${name} is training.`, 'Show').then((pick) => {
      if (pick === 'Show') void this.show(u);
    });
  }

  /** Follows the log in the run panel, live, until another is shown or the panel closes. */
  async show(u: vscode.Uri): Promise<void> {
    this.stopFollowing();
    const file = u.fsPath;
    const name = path.basename(file);
    /** Its series, named for it (the legend's name beside overlaid logs and kept runs). */
    const series = logName(file);
    const panel = this.panel();
    const reset = (): void => {
      panel.reset({
        type: 'reset',
        mode: 'run',
        title: `${logName(file)} — training log`,
        series: [series],
        clipMax: null,
      });
      panel.message({ type: 'log', file: name, malformed: f.malformed, stalled: false });
      this.overlays.repost(panel);
    };
    const followed = {
      file,
      runs: 0,
      steps: 0,
      warnings: [] as WarningEvent[],
      malformed: 0,
      stalled: false,
      ended: false,
    };
    this.followed = followed;
    this.overlays.forget(u); // (now the shown run, not an overlay)
    this.changed.fire();
    this.lenses?.run(u);
    const f: LogFollower = new LogFollower(
      file,
      {
        onRun: (reason) => {
          followed.runs++;
          followed.steps = 0;
          followed.warnings = [];
          followed.ended = false;
          this.lenses?.run(u);
          reset();
          if (reason !== 'first') this.output.appendLine(`${file}: a new run (${reason})`);
        },
        onEvents: (events: LayerwiseEvent[]) => {
          if (panel.disposed) {
            this.stopFollowing();
            return;
          }
          for (const e of events) {
            if (e.type === 'step') followed.steps = (e as StepEvent).step + 1;
            else if (e.type === 'warning') followed.warnings.push(e);
            else if (e.type === 'end') followed.ended = true;
          }
          panel.events(series, events);
          this.lenses?.events(events);
          panel.message({ type: 'status', running: !followed.ended });
        },
        onMalformed: (line, reason, count) => {
          followed.malformed = count;
          this.output.appendLine(`${file}:${line}: skipped: ${reason}`);
          panel.message({ type: 'log', file: name, malformed: count, stalled: followed.stalled });
        },
        onStall: (stalled) => {
          followed.stalled = stalled;
          panel.message({ type: 'log', file: name, malformed: followed.malformed, stalled });
        },
        onError: (e) => this.output.appendLine(`${file}: ${e.message}`),
      },
      { thresholds: settings().thresholds, pollMs: 250, stallMs: 60000 },
    );
    this.follower = f;
    try {
      f.readNow();
    } catch (e) {
      void vscode.window.showErrorMessage(`Layerwise: cannot read ${name}: ${(e as Error).message}`);
      this.stopFollowing();
      return;
    }
    if (followed.runs === 0) reset();
    f.follow();
  }

  stopFollowing(): void {
    this.follower?.stop();
    this.follower = null;
    if (this.followed) this.lenses?.run(null);
    this.followed = null;
  }

  dispose(): void {
    this.stopFollowing();
    this.overlays.clear();
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    for (const s of this.subs) s.dispose();
    this.changed.dispose();
  }
}
