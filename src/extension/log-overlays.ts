/**
 * Training logs drawn beside the followed one in the run panel (its loss, ‖g‖ and dead-units
 * charts), each a series named for its log, with the same detectors' warnings: a log's checkbox in
 * the Training Logs view, or "Compare Training Logs…". Each is followed as the shown log is (its
 * last run, through a LogFollower; histograms left out), and drawn again when the panel is reset
 * for the shown log.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { LogFollower } from '../logs/follow';
import { seriesNameFor } from '../logs/log-name';
import { settings } from './config';
import type { WebviewChannel } from './webview-channel';

interface LogOverlay {
  file: string;
  series: string;
  follower: LogFollower;
}

export class LogOverlays implements vscode.Disposable {
  /** The overlaid logs, by URI. */
  private readonly byUri = new Map<string, LogOverlay>();

  constructor(
    private readonly panel: () => WebviewChannel,
    private readonly output: vscode.OutputChannel,
    /** The followed log's path, if any (it is never overlaid on itself). */
    private readonly shown: () => string | undefined,
    /** Called when what is overlaid changed (the view's checkboxes). */
    private readonly changed: () => void,
  ) {}

  has(u: vscode.Uri): boolean {
    return this.byUri.has(u.toString());
  }

  /**
   * Overlays a log on the run panel's per-run charts (followed as it grows: its last run), or takes
   * it off. The followed log is not overlaid on itself; false when the log cannot be read.
   */
  set(u: vscode.Uri, on: boolean): boolean {
    const key = u.toString();
    if (!on) {
      const o = this.byUri.get(key);
      if (o) {
        o.follower.stop();
        this.panel().removeSeries(o.series); // (not asked for when nothing is overlaid: it opens the panel)
      }
      this.byUri.delete(key);
      this.changed();
      return true;
    }
    if (this.byUri.has(key)) return true;
    if (u.fsPath === this.shown()) {
      this.changed();
      return false;
    }
    const panel = this.panel();
    const series = this.seriesName(u.fsPath, panel);
    const reset = panel.lastReset;
    if (!reset || (reset.mode !== 'run' && reset.mode !== 'report'))
      panel.reset({ type: 'reset', mode: 'run', title: 'training logs', series: [], clipMax: null });
    const follower = this.overlayFollower(u.fsPath, series, panel);
    if (!follower) {
      this.changed();
      return false;
    }
    this.byUri.set(key, { file: u.fsPath, series, follower });
    this.changed();
    return true;
  }

  /** An overlay's series: the log's name, unless the panel draws one of that name (another folder's log). */
  private seriesName(file: string, panel: WebviewChannel, except?: LogOverlay): string {
    const taken = new Set(
      [...this.byUri.values()]
        .filter((o) => o !== except)
        .map((o) => o.series)
        .concat(panel.lastReset?.series ?? []),
    );
    return seriesNameFor(file, taken);
  }

  /** Follows an overlaid log into the panel as `series` (a new run in it replaces its last), or null when unreadable. */
  private overlayFollower(file: string, series: string, panel: WebviewChannel): LogFollower | null {
    const f: LogFollower = new LogFollower(
      file,
      {
        onRun: (reason) => {
          if (reason !== 'first') panel.removeSeries(series);
        },
        onEvents: (events) => {
          if (panel.disposed) return f.stop();
          panel.events(
            series,
            events.filter((e) => e.type !== 'histogram'),
          );
        },
        onError: (e) => this.output.appendLine(`${file}: ${e.message}`),
      },
      { thresholds: settings().thresholds, pollMs: 1000, stallMs: 60000 },
    );
    try {
      f.readNow();
    } catch (e) {
      void vscode.window.showErrorMessage(`Layerwise: cannot read ${path.basename(file)}: ${(e as Error).message}`);
      f.stop();
      return null;
    }
    panel.flush();
    f.follow();
    return f;
  }

  /** The run panel was reset for a run of ours, or closed: no log is overlaid any more. */
  clear(): void {
    if (!this.byUri.size) return;
    for (const o of this.byUri.values()) o.follower.stop();
    this.byUri.clear();
    this.changed();
  }

  /** The panel was reset for the followed log: the overlays read and drawn again (the one now followed dropped). */
  repost(panel: WebviewChannel): void {
    for (const [key, o] of this.byUri) {
      o.follower.stop();
      o.series = this.seriesName(o.file, panel, o); // (the log now shown may have its name)
      const f = o.file === this.shown() ? null : this.overlayFollower(o.file, o.series, panel);
      if (f) o.follower = f;
      else this.byUri.delete(key);
    }
    this.changed();
  }

  /** The log is shown now: no longer an overlay. */
  forget(u: vscode.Uri): void {
    this.byUri.get(u.toString())?.follower.stop();
    this.byUri.delete(u.toString());
  }

  dispose(): void {
    this.clear();
  }
}
