/**
 * Analysis as the user types: on open and every edit of a model file (debounced), `analyze` runs
 * on the editor's text in a worker (the previous one is stopped), its problems and warnings go to
 * the Problems panel, and the side view shows its charts. Runs' warnings join the same file's
 * diagnostics until the next run.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { AnalysisEvent, LayerwiseEvent, WarningEvent } from '../protocol/events';
import type { ProblemMessage } from '../protocol/worker-messages';
import { WorkerRun } from '../runner/runner';
import { confinement, isModelDocument, settings } from './config';
import { problemDiagnostics, warningDiagnostics } from './diagnostics';
import type { WebviewChannel } from './webview-channel';

interface AnalysisResult {
  uri: string;
  version: number;
  analysis: AnalysisEvent | null;
  warnings: WarningEvent[];
  problems: ProblemMessage[];
}

export class AnalysisService implements vscode.Disposable {
  readonly diagnostics = vscode.languages.createDiagnosticCollection('layerwise');
  private timers = new Map<string, ReturnType<typeof setTimeout>>();
  /** The analysis in flight per document: a new one replaces only its own document's. */
  private current = new Map<string, WorkerRun>();
  private runWarnings = new Map<string, WarningEvent[]>();
  private otherFiles = new Map<string, string[]>();
  readonly results = new Map<string, AnalysisResult>();
  private readonly changed = new vscode.EventEmitter<AnalysisResult>();
  readonly onDidAnalyze = this.changed.event;
  side: WebviewChannel | null = null;
  /** The model file the side view follows (the last one the user was on). */
  followed: string | null = null;
  analyses = 0;

  constructor(
    private readonly workerFile: string,
    private readonly output: vscode.OutputChannel,
  ) {}

  /** Schedules an analysis of the document (debounced). */
  schedule(doc: vscode.TextDocument, delay = settings().analyzeDelayMs): void {
    if (!isModelDocument(doc)) return;
    const key = doc.uri.toString();
    const t = this.timers.get(key);
    if (t) clearTimeout(t);
    this.timers.set(
      key,
      setTimeout(() => {
        this.timers.delete(key);
        void this.analyze(doc);
      }, delay),
    );
  }

  /** Analyzes now; resolves when the result is published. */
  async analyze(doc: vscode.TextDocument): Promise<AnalysisResult | null> {
    if (!isModelDocument(doc) || doc.isClosed) return null;
    const key = doc.uri.toString();
    this.current.get(key)?.stop(0);
    const s = settings();
    const version = doc.version;
    const events: LayerwiseEvent[] = [];
    let problems: ProblemMessage[] = [];
    const run = new WorkerRun(
      this.workerFile,
      {
        mode: 'analyze',
        file: doc.uri.fsPath,
        text: doc.getText(),
        thresholds: s.thresholds,
        maxMemoryBytes: s.maxMemoryMB * 1024 * 1024,
        confineTo: confinement(doc),
      },
      {
        onEvents: (e) => {
          events.push(...e);
        },
        onProblems: (p) => {
          problems = p;
        },
        onCrash: (m) => this.output.appendLine(`analysis of ${doc.uri.fsPath} failed: ${m}`),
      },
    );
    this.current.set(key, run);
    const r = await run.done;
    if (this.current.get(key) === run) this.current.delete(key);
    if (r.outcome === 'stopped' || doc.version !== version || doc.isClosed) return null;
    this.analyses++;
    const result: AnalysisResult = {
      uri: doc.uri.toString(),
      version,
      analysis: events.find((e): e is AnalysisEvent => e.type === 'analysis') ?? null,
      warnings: events.filter((e): e is WarningEvent => e.type === 'warning'),
      problems,
    };
    this.results.set(result.uri, result);
    this.publish(doc);
    if (this.followed === result.uri) this.showInSide(doc, result, events);
    this.changed.fire(result);
    return result;
  }

  /** A run's warnings for the document (replacing the previous run's). */
  setRunWarnings(doc: vscode.TextDocument, warnings: WarningEvent[]): void {
    this.runWarnings.set(doc.uri.toString(), warnings);
    this.publish(doc);
  }

  private publish(doc: vscode.TextDocument): void {
    const key = doc.uri.toString();
    const r = this.results.get(key);
    const byFile = problemDiagnostics(doc, r?.problems ?? []);
    const own = [
      ...(byFile.get(key) ?? []),
      ...warningDiagnostics(doc, [...(r?.warnings ?? []), ...(this.runWarnings.get(key) ?? [])]),
    ];
    this.diagnostics.set(doc.uri, own);
    for (const old of this.otherFiles.get(key) ?? [])
      if (!byFile.has(old)) this.diagnostics.delete(vscode.Uri.parse(old));
    const others = [...byFile.keys()].filter((k) => k !== key);
    for (const k of others) this.diagnostics.set(vscode.Uri.parse(k), byFile.get(k)!);
    this.otherFiles.set(key, others);
  }

  showInSide(
    doc: vscode.TextDocument,
    r: AnalysisResult | undefined = this.results.get(doc.uri.toString()),
    events?: LayerwiseEvent[],
  ): void {
    if (!this.side || !r) return;
    this.side.reset({
      type: 'reset',
      mode: 'analysis',
      title: path.basename(doc.uri.fsPath),
      series: ['analysis'],
      clipMax: null,
    });
    if (r.problems.some((p) => p.severity === 'error'))
      this.side.message({
        type: 'problems',
        lines: r.problems.filter((p) => p.severity === 'error').map((p) => p.text),
      });
    this.side.events('analysis', events ?? [...(r.analysis ? [r.analysis] : []), ...r.warnings]);
    this.side.flush();
  }

  forget(doc: vscode.TextDocument): void {
    const key = doc.uri.toString();
    this.results.delete(key);
    this.runWarnings.delete(key);
    this.diagnostics.delete(doc.uri);
    for (const k of this.otherFiles.get(key) ?? []) this.diagnostics.delete(vscode.Uri.parse(k));
    this.otherFiles.delete(key);
  }

  get running(): boolean {
    return this.current.size > 0;
  }

  /** Analysis workers alive now. */
  get inFlight(): number {
    return this.current.size;
  }

  dispose(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    for (const r of this.current.values()) r.stop(0);
    this.current.clear();
    this.diagnostics.dispose();
    this.changed.dispose();
  }
}
