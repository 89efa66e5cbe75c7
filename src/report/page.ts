/**
 * The HTML page around the webview bundle: for VS Code (scripts and styles from the extension's
 * own folders, through `cspSource`) and for the self-contained report (bundle, styles and the
 * run's messages inlined). Both under a strict CSP: scripts and styles only with a fresh nonce;
 * no inline handlers, no eval.
 */
import type { LayerwiseEvent } from '../protocol/events';
import type { HostMessage } from '../protocol/webview-messages';
import type { StepTally } from './thinning';
import { eventsIn, tallySteps, thinEvents } from './thinning';

/** In the head of every report: what `--html` looks for before it replaces an existing file. */
export const REPORT_MARKER = '<meta name="generator" content="Layerwise">';

/** A fresh nonce from the platform's CSPRNG. */
export function makeNonce(): string {
  const bytes = new Uint8Array(18);
  globalThis.crypto.getRandomValues(bytes);
  return Buffer.from(bytes).toString('base64').replace(/[+/=]/g, '');
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** JSON that cannot close the <script> element it sits in. */
function inlineJson(v: unknown): string {
  return JSON.stringify(v)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

/** Theme variables for pages outside VS Code, light and dark. */
const FALLBACK_THEME = `
:root { --vscode-font-family: system-ui, sans-serif; --vscode-font-size: 13px; --vscode-editor-font-family: ui-monospace, monospace;
  --vscode-editor-foreground: #1f1f1f; --vscode-editor-background: #ffffff; --vscode-descriptionForeground: #616161;
  --vscode-editorWidget-border: #d0d0d0; --vscode-editorWidget-background: #f3f3f3; --vscode-errorForeground: #c72e0f;
  --vscode-editorWarning-foreground: #bf8803; --vscode-editorInfo-foreground: #1a85ff; --vscode-textLink-foreground: #006ab1;
  --vscode-focusBorder: #0090f1; --vscode-charts-blue: #1a85ff; --vscode-charts-orange: #d18616; --vscode-charts-green: #388a34;
  --vscode-charts-purple: #652d90; --vscode-charts-red: #e51400; --vscode-charts-yellow: #bf8803; }
@media (prefers-color-scheme: dark) { :root { --vscode-editor-foreground: #cccccc; --vscode-editor-background: #1f1f1f;
  --vscode-descriptionForeground: #9d9d9d; --vscode-editorWidget-border: #454545; --vscode-editorWidget-background: #252526;
  --vscode-errorForeground: #f85149; --vscode-editorWarning-foreground: #cca700; --vscode-textLink-foreground: #4daafc;
  --vscode-charts-blue: #3794ff; --vscode-charts-green: #89d185; --vscode-charts-purple: #b180d7; --vscode-charts-red: #f14c4c; --vscode-charts-yellow: #cca700; } }
body { background: var(--vscode-editor-background); max-width: 1400px; margin: 0 auto; }`;

/** The webview's page inside VS Code. */
export function webviewHtml(o: {
  cspSource: string;
  scriptUri: string;
  styleUri: string;
  nonce: string;
  title: string;
}): string {
  const csp = `default-src 'none'; img-src ${o.cspSource} data:; font-src ${o.cspSource}; style-src ${o.cspSource} 'nonce-${o.nonce}'; script-src 'nonce-${o.nonce}';`;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${o.styleUri}">
<title>${escapeHtml(o.title)}</title></head>
<body><div id="app"></div><script nonce="${o.nonce}" src="${o.scriptUri}"></script></body></html>`;
}

/** A self-contained report: open it in any browser, offline. */
function reportHtml(o: {
  script: string;
  css: string;
  title: string;
  messages: HostMessage[];
  nonce?: string;
}): string {
  const nonce = o.nonce ?? makeNonce();
  const csp = `default-src 'none'; img-src data:; style-src 'nonce-${nonce}'; script-src 'nonce-${nonce}';`;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
${REPORT_MARKER}
<title>${escapeHtml(o.title)} — Layerwise report</title>
<style nonce="${nonce}">${FALLBACK_THEME}\n${o.css.replace(/<\/style/gi, '<\\/style')}</style></head>
<body><div id="app"></div>
<script type="application/json" id="layerwise-data">${inlineJson(o.messages)}</script>
<script nonce="${nonce}">${o.script.replace(/<\/script/gi, '<\\/script')}</script></body></html>`;
}

/**
 * Step and histogram events a report keeps at most per series (thinned beyond: thinning.ts), fewer
 * of a deep net's: at most REPORT_STEP_ROWS and REPORT_HISTOGRAM_ROWS rows (`rowsOf`), never
 * fewer than 200 steps and 20 histograms.
 */
const REPORT_MAX_STEPS = 5000;
const REPORT_MAX_HISTOGRAMS = 400;
const REPORT_STEP_ROWS = 20000;
const REPORT_HISTOGRAM_ROWS = 1600;

/**
 * The report of a run, an analysis or a comparison (the CLI's --html and the extension's Export
 * Report build it here): the panel's reset message (a live run is shown as a finished report) and
 * each series' events, thinned to REPORT_MAX_STEPS step and REPORT_MAX_HISTOGRAMS histogram
 * events (fewer of a deep net's), with the exact tally of its steps (`tallies`, when `series` holds fewer than all).
 */
export function runReportHtml(o: {
  script: string;
  css: string;
  reset: Extract<HostMessage, { type: 'reset' }>;
  series: Iterable<readonly [string, readonly LayerwiseEvent[]]>;
  tallies?: ReadonlyMap<string, StepTally>;
}): string {
  return reportHtml({
    script: o.script,
    css: o.css,
    title: o.reset.title,
    messages: [
      { ...o.reset, mode: o.reset.mode === 'run' ? 'report' : o.reset.mode },
      ...[...o.series].map(([series, events]) => ({
        type: 'events' as const,
        series,
        events: thinEvents(
          thinEvents(events, 'step', eventsIn(events, 'step', REPORT_STEP_ROWS, 200, REPORT_MAX_STEPS)),
          'histogram',
          eventsIn(events, 'histogram', REPORT_HISTOGRAM_ROWS, 20, REPORT_MAX_HISTOGRAMS),
        ),
        seen: o.tallies?.get(series) ?? tallySteps(events),
      })),
    ],
  });
}
