/**
 * The two webviews: the side view in the Layerwise activity-bar container (follows the active
 * model file's analysis) and the run panel, a full editor tab for runs and comparisons that stays
 * open when the run ends. Both render the same bundle through a WebviewChannel.
 */
import * as vscode from 'vscode';
import type { WebviewMessage } from '../protocol/webview-messages';
import { settings } from './config';
import { WebviewChannel, webviewOptions } from './webview-channel';

export const SIDE_VIEW_ID = 'layerwise.sidePanel';

export class SideView implements vscode.WebviewViewProvider, vscode.Disposable {
  channel: WebviewChannel | null = null;
  view: vscode.WebviewView | null = null;
  private readonly resolved = new vscode.EventEmitter<WebviewChannel>();
  readonly onDidResolve = this.resolved.event;

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly output: vscode.OutputChannel,
    private readonly onMessage: (m: WebviewMessage) => void,
  ) {}

  resolveWebviewView(view: vscode.WebviewView): void {
    this.channel?.dispose();
    this.view = view;
    this.channel = new WebviewChannel(
      view.webview,
      this.extensionUri,
      'Layerwise',
      this.onMessage,
      this.output,
      () => settings().updatesPerSecond,
    );
    view.onDidDispose(() => {
      this.channel?.dispose();
      this.channel = null;
      this.view = null;
    });
    this.resolved.fire(this.channel);
  }

  dispose(): void {
    this.channel?.dispose();
    this.resolved.dispose();
  }
}

export class RunPanel implements vscode.Disposable {
  private panel: vscode.WebviewPanel | null = null;
  private channelRef: WebviewChannel | null = null;
  private readonly closed = new vscode.EventEmitter<void>();
  /** The panel was closed (what it showed, overlays included, is gone). */
  readonly onDidClose = this.closed.event;

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly output: vscode.OutputChannel,
    private readonly onMessage: (m: WebviewMessage) => void,
  ) {}

  /** The panel's channel, creating the panel when there is none. */
  channel(reveal = true): WebviewChannel {
    if (this.panel && this.channelRef) {
      if (reveal) this.panel.reveal(undefined, true);
      return this.channelRef;
    }
    const panel = vscode.window.createWebviewPanel(
      'layerwise.run',
      'Layerwise',
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
      { ...webviewOptions(this.extensionUri), retainContextWhenHidden: false },
    );
    panel.iconPath = vscode.Uri.joinPath(this.extensionUri, 'media', 'layerwise.svg');
    this.panel = panel;
    this.channelRef = new WebviewChannel(
      panel.webview,
      this.extensionUri,
      'Layerwise run',
      this.onMessage,
      this.output,
      () => settings().updatesPerSecond,
    );
    panel.onDidDispose(() => {
      this.channelRef?.dispose();
      this.channelRef = null;
      this.panel = null;
      this.closed.fire();
    });
    return this.channelRef;
  }

  get isOpen(): boolean {
    return this.panel !== null;
  }

  get current(): WebviewChannel | null {
    return this.channelRef;
  }

  reveal(): void {
    this.panel?.reveal(undefined, false);
  }

  dispose(): void {
    this.panel?.dispose();
    this.closed.dispose();
  }
}
