/**
 * Training runs from the command palette: one at a time, in a worker; events stream to the run
 * panel (batched and throttled), a status-bar item shows step, loss and clip rate, a cancellable
 * progress notification stops it, the run's warnings become diagnostics. Compare Initializations
 * runs the model under xavier_uniform, he_normal, lecun_normal, PyTorch's default (nn.Linear's
 * pytorch scheme) and the file's own init.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { LayerwiseEvent, StartEvent, StepEvent, WarningEvent } from '../protocol/events';
import type { RunRequest } from '../protocol/worker-messages';
import type { StepTally } from '../report/thinning';
import type { Outcome } from '../runner/runner';
import { WorkerRun } from '../runner/runner';
import type { AnalysisService } from './analysis';
import { confinement, settings } from './config';
import { HOST_RATES } from './event-queue';
import type { WebviewChannel } from './webview-channel';
import { fileScheme } from './model-edits';
import { ReplayLog } from './replay-log';
import type { RunsView } from './runs-view';

const COMPARE_SCHEMES = ['xavier_uniform', 'he_normal', 'lecun_normal', 'pytorch'] as const;

interface RunRecord {
  outcome: Outcome;
  steps: number;
  events: number;
  /** Threads the run used (start.threads; 2 when its batches were split). */
  threads: number;
  /** The kernels that computed its steps (start.kernels), or null where the start event has none. */
  kernels: string | null;
}

export class RunService implements vscode.Disposable {
  private active: WorkerRun[] = [];
  private readonly status = vscode.window.createStatusBarItem('layerwise.run', vscode.StatusBarAlignment.Left, 50);
  private readonly changed = new vscode.EventEmitter<boolean>();
  readonly onDidChangeRunning = this.changed.event;
  started = 0;
  lastRun: RunRecord | null = null;

  constructor(
    private readonly workerFile: string,
    private readonly analysis: AnalysisService,
    private readonly output: vscode.OutputChannel,
    private readonly panel: () => WebviewChannel,
    /** Where finished runs are kept, and the overlays a new run shows again. */
    private readonly kept: RunsView | null = null,
  ) {
    this.status.name = 'Layerwise run';
    this.status.command = 'layerwise.openPanel';
  }

  get running(): boolean {
    return this.active.length > 0;
  }

  /** Live worker threads owned by runs (for tests: 0 once stopped). */
  get liveWorkers(): number {
    return this.active.filter((r) => r.running).length;
  }

  private request(
    doc: vscode.TextDocument,
    mode: RunRequest['mode'],
    extra: Partial<RunRequest> = {},
  ): Omit<RunRequest, 'type' | 'stopFlag'> {
    const s = settings();
    return {
      mode,
      file: doc.uri.fsPath,
      text: doc.getText(),
      thresholds: s.thresholds,
      every: 1,
      steps: s.defaultSteps > 0 ? s.defaultSteps : undefined,
      maxMemoryBytes: s.maxMemoryMB * 1024 * 1024,
      confineTo: confinement(doc),
      threads: mode === 'run' ? s.threads : 1,
      adaptiveSplit: s.adaptiveSplit,
      kernels: s.kernels,
      ...extra,
    };
  }

  /** Starts a training run of the document (stopping any current one). */
  async start(doc: vscode.TextDocument, opts: { steps?: number } = {}): Promise<RunRecord> {
    this.stop();
    const panel = this.panel();
    const title = path.basename(doc.uri.fsPath);
    const reset = { type: 'reset', mode: 'run', title: `${title} — training`, series: ['run'], clipMax: null } as const;
    panel.reset({ ...reset, series: [...reset.series] });
    this.kept?.repost(panel, doc.uri.fsPath);
    // the run as it will be kept (bounded like the panel's replay, whatever its length)
    const keep = new ReplayLog();
    keep.start({ ...reset, series: [...reset.series] });
    const warnings: WarningEvent[] = [];
    let start: StartEvent | null = null;
    let last: StepEvent | null = null;
    let clipped = 0,
      seen = 0,
      count = 0;
    const show = (): void => {
      if (!last || !start) return;
      this.status.text = `$(pulse) ${start.model}: step ${last.step + 1}/${start.steps} · loss ${last.loss.toPrecision(3)}${start.clip ? ` · clip ${((100 * clipped) / Math.max(1, seen)).toFixed(0)} %` : ''}`;
    };
    let statusTimer: ReturnType<typeof setInterval> | null = setInterval(show, 250);
    this.status.text = `$(sync~spin) ${title}: starting…`;
    this.status.tooltip = 'Layerwise training run — click to show the panel';
    this.status.show();
    this.started++;
    const run = new WorkerRun(
      this.workerFile,
      this.request(doc, 'run', {
        steps: opts.steps ?? this.request(doc, 'run').steps,
        withAnalysis: true,
        postRates: HOST_RATES,
      }),
      {
        onEvents: (events: LayerwiseEvent[], tally?: StepTally) => {
          count += events.length;
          for (const e of events) {
            keep.add('run', e);
            if (e.type === 'start') start = e;
            else if (e.type === 'step') {
              last = e;
              seen++;
              if (e.clipped) clipped++;
            } else if (e.type === 'warning') {
              warnings.push(e);
              this.analysis.setRunWarnings(doc, [...warnings]);
            }
          }
          // the worker posts a rate (HOST_RATES) and the tally of every step beside it
          if (tally) {
            seen = tally.steps;
            clipped = tally.clipped;
            keep.setTally('run', tally);
          }
          panel.events('run', events, undefined, tally);
        },
        onProblems: (p) => {
          panel.message({ type: 'problems', lines: p.filter((x) => x.severity === 'error').map((x) => x.text) });
          if (p.some((x) => x.severity === 'error'))
            void vscode.window.showErrorMessage(`Layerwise: ${title} has errors; see the Problems panel.`);
        },
        onCrash: (m) => {
          this.output.appendLine(`run of ${doc.uri.fsPath} crashed: ${m}`);
          panel.message({ type: 'problems', lines: [`The training worker failed: ${m}`] });
          void vscode.window.showErrorMessage(`Layerwise: the training worker failed (${m}).`);
        },
      },
    );
    this.track(run);
    panel.message({ type: 'status', running: true });
    this.analysis.setRunWarnings(doc, []);
    void vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Layerwise: training ${title}`, cancellable: true },
      (progress, token) => {
        token.onCancellationRequested(() => run.stop());
        let reported = 0;
        const tick = setInterval(() => {
          const s = start as StartEvent | null,
            l = last as StepEvent | null;
          if (!s || !l) return;
          const pct = (100 * (l.step + 1)) / Math.max(1, s.steps);
          progress.report({
            increment: pct - reported,
            message: `step ${l.step + 1} of ${s.steps}, loss ${l.loss.toPrecision(3)}`,
          });
          reported = pct;
        }, 300);
        return run.done.finally(() => clearInterval(tick));
      },
    );
    const r = await run.done;
    panel.flush();
    if (r.outcome !== 'invalid') this.kept?.keep(doc.uri, title, keep.allEvents().get('run') ?? [], keep.tally('run'));
    if (statusTimer) clearInterval(statusTimer);
    statusTimer = null;
    show();
    this.status.text = `$(check) ${title}: ${r.outcome}${last ? ` at step ${(last as StepEvent).step + 1}` : ''}`;
    setTimeout(() => {
      if (!this.running) this.status.hide();
    }, 5000);
    panel.message({ type: 'status', running: false });
    const threads = (start as StartEvent | null)?.threads ?? 1,
      kernels = (start as StartEvent | null)?.kernels ?? null;
    this.output.appendLine(
      `run of ${doc.uri.fsPath}: ${r.outcome} after ${seen} step${seen === 1 ? '' : 's'} on ${threads} thread${threads === 1 ? '' : 's'}${kernels ? ` (${kernels})` : ''}, ${count} events`,
    );
    if (r.outcome === 'non_finite')
      void vscode.window.showWarningMessage(
        `Layerwise: ${title} stopped on non-finite values. A quick fix on the learning rate is in the Problems panel.`,
      );
    this.lastRun = { outcome: r.outcome, steps: seen, events: count, threads, kernels };
    return this.lastRun;
  }

  /** Runs the comparison: analysis and a short training run for each init scheme, side by side. */
  async compare(doc: vscode.TextDocument, steps = 100): Promise<Outcome[]> {
    this.stop();
    const panel = this.panel();
    // the file's own init, unless it is one of the schemes compared (its line would be a duplicate)
    const own = fileScheme(doc.getText());
    const schemes = [
      ...COMPARE_SCHEMES,
      ...(own !== null && (COMPARE_SCHEMES as readonly string[]).includes(own) ? [] : ['file' as const]),
    ];
    const label = (s: string): string => (s === 'file' ? 'file init' : s === 'pytorch' ? 'pytorch default' : s);
    panel.reset({
      type: 'reset',
      mode: 'compare',
      title: `${path.basename(doc.uri.fsPath)} — compare initializations`,
      series: schemes.map(label),
      clipMax: null,
    });
    panel.message({ type: 'status', running: true });
    const outcomes: Outcome[] = [];
    for (const scheme of schemes) {
      for (const mode of ['analyze', 'run'] as const) {
        const run = new WorkerRun(
          this.workerFile,
          this.request(doc, mode, {
            steps,
            every: Math.max(1, Math.floor(steps / 200)),
            initOverride: scheme === 'file' ? undefined : scheme,
          }),
          {
            onEvents: (e) =>
              panel.events(
                label(scheme),
                e.filter((x) => x.type !== 'warning' || mode === 'analyze'),
              ),
            onCrash: (m) => this.output.appendLine(`compare ${scheme} failed: ${m}`),
          },
        );
        this.track(run);
        const r = await run.done;
        if (mode === 'run') outcomes.push(r.outcome);
        if (r.outcome === 'stopped' || r.outcome === 'invalid') {
          panel.flush();
          panel.message({ type: 'status', running: false });
          return outcomes;
        }
      }
    }
    panel.flush();
    panel.message({ type: 'status', running: false });
    return outcomes;
  }

  private track(run: WorkerRun): void {
    this.active.push(run);
    this.changed.fire(true);
    void run.done.then(() => {
      this.active = this.active.filter((r) => r !== run);
      this.changed.fire(this.running);
    });
  }

  /** Stops every run now (the worker ends within the grace period, or is terminated). */
  stop(): void {
    for (const r of this.active) r.stop();
  }

  dispose(): void {
    for (const r of this.active) r.stop(0);
    this.active = [];
    this.status.dispose();
    this.changed.dispose();
  }
}
