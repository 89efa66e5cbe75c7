/**
 * One webview's connection: HTML with a nonce CSP and resources only from the extension's dist/
 * and media/, every incoming message validated (anything else dropped and logged), events batched
 * to at most `updatesPerSecond` posts, and a bounded replay log so a webview that was hidden (and
 * so destroyed) is brought back to the present when it is shown again.
 * Each post carries a bounded number of events (event-queue.ts), and no post is sent while two
 * are unacknowledged (post-window.ts): the events wait, thinned, until the webview has the last.
 */
import * as vscode from 'vscode';
import type { LayerwiseEvent } from '../protocol/events';
import type { HostMessage, WebviewMessage } from '../protocol/webview-messages';
import { parseWebviewMessage } from '../protocol/webview-messages';
import { makeNonce, webviewHtml } from '../report/page';
import type { StepTally } from '../report/thinning';
import { EventQueue } from './event-queue';
import { PostWindow } from './post-window';
import { ReplayLog } from './replay-log';

export function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewOptions {
  return {
    enableScripts: true,
    localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist'), vscode.Uri.joinPath(extensionUri, 'media')],
  };
}

export class WebviewChannel implements vscode.Disposable {
  private readonly queue = new EventQueue();
  private readonly window = new PostWindow();
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** When events were last posted (ms). */
  private lastPost = 0;
  private readonly log = new ReplayLog();
  private ready = false;
  private readonly subs: vscode.Disposable[] = [];
  /** What the webview last said it drew (for tests and the output channel). */
  drawn: Record<string, number> = {};
  posted = 0;
  dropped = 0;

  constructor(
    private readonly webview: vscode.Webview,
    extensionUri: vscode.Uri,
    title: string,
    private readonly onMessage: (m: WebviewMessage) => void,
    private readonly output: vscode.OutputChannel,
    private readonly updatesPerSecond: () => number,
  ) {
    webview.options = webviewOptions(extensionUri);
    webview.html = webviewHtml({
      cspSource: webview.cspSource,
      scriptUri: webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', 'webview.js')).toString(),
      styleUri: webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'media', 'panel.css')).toString(),
      nonce: makeNonce(),
      title,
    });
    this.subs.push(
      webview.onDidReceiveMessage((raw: unknown) => {
        const m = parseWebviewMessage(raw);
        if (!m) {
          this.dropped++;
          this.output.appendLine(`dropped a malformed message from the webview: ${safeString(raw)}`);
          return;
        }
        if (m.type === 'ready') {
          this.ready = true;
          this.window.reset();
          this.replay();
        }
        if (m.type === 'ack') {
          this.window.acked(m.seq);
          // the next post at the usual rate, not at the lost-post retry flush() may have set
          if (this.timer) clearTimeout(this.timer);
          this.timer = null;
          if (this.queue.hasPending) this.arm();
          return;
        }
        if (m.type === 'drawn') this.drawn = m.points;
        this.onMessage(m);
      }),
    );
  }

  /** Starts over (a new model, run or comparison). */
  reset(m: Extract<HostMessage, { type: 'reset' }>): void {
    this.queue.clear();
    this.log.start(m);
    this.send(m);
  }

  message(m: Extract<HostMessage, { type: 'problems' | 'status' | 'log' }>): void {
    this.log.note(m);
    this.send(m);
  }

  /**
   * Queues events; they are posted in one batch per series at most `updatesPerSecond` times a
   * second. `seen`: the tally of every step so far, when these events came thinned (a kept run).
   * `tally`: the same where a run's worker thinned them to its host's rate (they are thinned
   * again for the panel).
   */
  events(series: string, events: readonly LayerwiseEvent[], seen?: StepTally, tally?: StepTally): void {
    this.queue.add(series, events, seen, tally);
    for (const e of events) this.log.add(series, e);
    const exact = seen ?? tally;
    if (exact) this.log.setTally(series, exact);
    this.arm();
  }

  /** Posts what is queued once `updatesPerSecond` allows since the last post (unless a post is due). */
  private arm(): void {
    if (this.timer) return;
    const gap = 1000 / Math.max(1, this.updatesPerSecond());
    this.timer = setTimeout(() => this.flush(), Math.max(0, this.lastPost + gap - Date.now()));
  }

  /** Takes a series off the charts (an overlaid run). */
  removeSeries(series: string): void {
    this.queue.remove(series);
    this.log.removeSeries(series);
    this.send({ type: 'removeSeries', series });
  }

  /** The last reset sent (what the webview shows). */
  get lastReset(): Extract<HostMessage, { type: 'reset' }> | null {
    return this.log.lastReset;
  }

  /**
   * Posts what is queued now (thinned: event-queue.ts), or, while the webview has not acknowledged
   * the posts before, as soon as it does (or they count as lost).
   */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const now = Date.now();
    if (!this.ready) {
      this.queue.take(now); // the replay on 'ready' brings them
      return;
    }
    if (!this.window.open(now)) {
      // an `ack` arms the next post; this retries should the webview never send it
      if (this.queue.hasPending) this.timer = setTimeout(() => this.flush(), (this.window.expiresIn(now) ?? 0) + 1);
      return;
    }
    const ms = this.queue.take(now);
    if (ms.length === 0) return;
    this.lastPost = now;
    const seq = this.window.sent(now);
    for (const m of ms) this.send({ ...m, seq }, () => this.window.acked(seq));
  }

  private replay(): void {
    for (const m of this.log.messages()) this.send(m);
  }

  /** The kept events per series and the last reset, for reports. */
  loggedEvents(): {
    reset: Extract<HostMessage, { type: 'reset' }> | null;
    events: Map<string, LayerwiseEvent[]>;
    tallies: Map<string, StepTally>;
  } {
    const events = this.log.allEvents();
    return {
      reset: this.log.lastReset,
      events,
      tallies: new Map([...events.keys()].map((k) => [k, this.log.tally(k)])),
    };
  }

  /** Posts `m`; `undelivered` is called if the webview did not get it (it was gone). */
  private send(m: HostMessage, undelivered?: () => void): void {
    if (!this.ready && m.type === 'events') return; // the replay on 'ready' brings it
    this.posted++;
    void this.webview.postMessage(m).then(
      (ok) => {
        if (!ok) undelivered?.();
      },
      () => undelivered?.(),
    );
  }

  /** Event posts sent and not yet acknowledged (for tests). */
  get postsInFlight(): number {
    return this.window.inFlight;
  }

  /** Whether the webview went away (its panel was closed). */
  disposed = false;

  dispose(): void {
    this.disposed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const s of this.subs) s.dispose();
  }
}

function safeString(v: unknown): string {
  try {
    return JSON.stringify(v).slice(0, 200);
  } catch {
    return String(v).slice(0, 200);
  }
}
