/**
 * The Layerwise webview: renders the events the host sends (or, in an HTML report, the events
 * inlined in the page). Redraws at most once per animation frame, keeps its state across
 * hide/show through VS Code's getState/setState, follows the colour theme.
 */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-badge/index.js';
import type { PanelCommand, WebviewMessage } from '../src/protocol/webview-messages';
import { parseHostMessage } from '../src/protocol/webview-messages';
import type { StoreState } from './store';
import { Store } from './store';
import { readTheme, watchTheme } from './theme';
import { VarianceChart } from './charts/variance';
import { DeadNowChart, DeadOverTimeChart } from './charts/dead';
import { GradNormChart } from './charts/gradnorm';
import { LossChart } from './charts/loss';
import { UpdateRatioChart } from './charts/update-ratio';
import { DistributionChart, HistogramChart } from './charts/distribution';
import { SharpnessChart } from './charts/sharpness';
import { Verdict } from './verdict';
import { logStatus } from './log-status';
import { WarningsList } from './warnings';

interface VsCodeApi {
  postMessage(m: WebviewMessage): void;
  getState(): unknown;
  setState(s: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const vscode: VsCodeApi | null = typeof acquireVsCodeApi === 'function' ? acquireVsCodeApi() : null;

function restored(): StoreState | undefined {
  const s = vscode?.getState() as { version?: number; state?: StoreState } | undefined;
  return s && s.version === 3 && s.state ? s.state : undefined;
}

const store = new Store(restored());
const root = document.getElementById('app')!;
const header = document.createElement('header');
const title = document.createElement('h2');
const toolbar = document.createElement('div');
toolbar.className = 'toolbar';
const logLine = document.createElement('p');
logLine.id = 'log-status';
logLine.className = 'log-status';
const problemsBox = document.createElement('section');
problemsBox.id = 'problems-box';
const problemsHead = document.createElement('h3');
problemsHead.textContent = 'The model file has errors: no analysis or run until they are fixed';
const problems = document.createElement('pre');
problems.id = 'problems';
problems.className = 'problems';
problemsBox.append(problemsHead, problems);
/** Before any model: what to do (the side view with no model file open), with a button for each way. */
const empty = document.createElement('section');
empty.id = 'empty';
empty.className = 'empty';
const emptyText = document.createElement('p');
emptyText.textContent =
  "Open or create a model file (*.mlp.json) to see its variance profile here, predicted and measured, as you type. A PyTorch run's log opens in the run panel.";
const emptyActions = document.createElement('div');
emptyActions.className = 'toolbar';
empty.append(emptyText, emptyActions);
header.append(title, toolbar);
const grid = document.createElement('div');
grid.className = 'charts';
root.append(header, logLine, problemsBox, empty, grid);

function button(label: string, command: PanelCommand, secondary = true, parent = toolbar): HTMLElement {
  const b = document.createElement('vscode-button');
  b.textContent = label;
  b.id = `btn-${command}`;
  if (secondary) b.setAttribute('secondary', '');
  b.addEventListener('click', () => vscode?.postMessage({ type: 'command', command }));
  parent.appendChild(b);
  return b;
}
const runBtn = vscode ? button('Run', 'run', false) : null;
const stopBtn = vscode ? button('Stop', 'stop') : null;
const compareBtn = vscode ? button('Compare inits', 'compare') : null;
if (vscode) {
  button('New Model File…', 'newModel', false, emptyActions);
  button('Open Training Log…', 'openLog', true, emptyActions);
}

let theme = readTheme();
const variance = new VarianceChart(grid, theme, (layer) => {
  store.select(layer);
  save();
  schedule(true);
});
const loss = new LossChart(grid, theme, (w) => {
  store.state.smoothing = w;
  save();
  schedule(true);
});
const grad = new GradNormChart(grid, theme);
const deadNow = new DeadNowChart(grid, theme);
const deadSteps = new DeadOverTimeChart(grid, theme);
const update = new UpdateRatioChart(grid, theme);
const distribution = new DistributionChart(grid, theme, (q) => {
  store.select(store.state.layer, q);
  save();
  schedule(true);
});
const histogram = new HistogramChart(grid, theme);
const sharpness = new SharpnessChart(grid, theme);
const charts = { variance, loss, grad, deadNow, deadSteps, update, distribution, histogram, sharpness };
const verdict = new Verdict(root);
// (a report opened in a browser has no editor to reveal anything in: its warnings are not links)
const warnings = new WarningsList(
  root,
  vscode &&
    ((t) => vscode.postMessage('file' in t ? { type: 'revealSource', ...t } : { type: 'revealLayer', layer: t.layer })),
);

let frame = 0;
let renders = 0;
function render(): void {
  frame = 0;
  lastRender = performance.now();
  renders++;
  renderedReceived = received;
  const s = store.state;
  title.textContent = s.title || 'Layerwise';
  const log = s.log;
  logLine.hidden = !log;
  if (log) {
    const { text, alert } = logStatus(log, s.series[0]);
    logLine.textContent = text;
    logLine.classList.toggle('stalled', alert);
  }
  // no model yet (nothing was reset to), or a model file with errors: no charts, no "Warnings — none"
  const noModel = s.title === '' && s.series.length === 0 && s.problems.length === 0;
  const broken = s.problems.length > 0;
  problems.textContent = s.problems.join('\n');
  problemsBox.hidden = !broken;
  empty.hidden = !noModel;
  grid.hidden = noModel || broken;
  warnings.box.hidden = noModel || broken;
  const hasSteps = s.series.some((x) => x.latest);
  for (const c of [loss, grad, deadNow, deadSteps, update]) c.box.hidden = !hasSteps;
  // a run's distributions are per layer of one run: not drawn in a comparison
  const hasHist = s.mode !== 'compare' && DistributionChart.hasData(s);
  for (const c of [distribution, histogram]) c.box.hidden = !hasHist;
  sharpness.box.hidden = !SharpnessChart.hasData(s);
  for (const c of Object.values(charts)) c.render(s);
  verdict.render(s, (ser) => Store.history(ser)[0]?.loss);
  warnings.render(s);
  // a log's run is not ours to start or stop; with no model, the empty view's buttons stand instead
  toolbar.hidden = (s.log !== null && s.log !== undefined) || noModel;
  runBtn?.toggleAttribute('disabled', s.running || noModel || broken);
  compareBtn?.toggleAttribute('disabled', noModel || broken);
  stopBtn?.toggleAttribute('disabled', !s.running);
  saveSoon();
  reportDrawn();
}

/**
 * The state VS Code keeps for this webview, restored when a hidden panel is shown again (before
 * the host's replay brings the present). VS Code copies it whole, as JSON, on every setState: a
 * long run's is every point drawn (~0.3 MB), so while data streams it is saved at most every
 * SAVE_MS (it was saved on every render: 3-5 MB/s through the window's renderer). A choice of the
 * user's (layer, quantity, smoothing) is saved at once, and what is pending as the page goes.
 */
const SAVE_MS = 2000;
let saveTimer = 0;
let lastSave = -Infinity;
function save(): void {
  window.clearTimeout(saveTimer);
  saveTimer = 0;
  lastSave = performance.now();
  vscode?.setState({ version: 3, state: store.state });
}
function saveSoon(): void {
  if (!vscode || saveTimer) return;
  const wait = lastSave + SAVE_MS - performance.now();
  if (wait <= 0) save();
  else saveTimer = window.setTimeout(save, wait);
}
window.addEventListener('pagehide', () => {
  if (saveTimer) save();
});

let lastDrawn = '';
let drawnTimer = 0;
/** Tells the host what is drawn, at most once a second and only when it changed. */
function reportDrawn(): void {
  if (!vscode || drawnTimer) return;
  drawnTimer = window.setTimeout(() => {
    drawnTimer = 0;
    const points = Object.fromEntries(Object.entries(charts).map(([k, c]) => [k, c.pointCount()]));
    const key = JSON.stringify(points);
    if (key !== lastDrawn) {
      lastDrawn = key;
      vscode.postMessage({ type: 'drawn', points });
    }
  }, 250);
}

/**
 * Redraws at most once per animation frame; for new data at least MIN_GAP_MS apart. A redraw of
 * every chart takes ~45 ms of the renderer (script, then raster) on this machine: ten a second
 * kept half a core busy while a run streamed, on the machine the run trains on. A user's choice
 * (`now`) is drawn at the next frame.
 */
const MIN_GAP_MS = 250;
let lastRender = 0;
let waiting = 0;
function schedule(now = false): void {
  if (now && waiting !== 0) {
    window.clearTimeout(waiting);
    waiting = 0;
  }
  if (frame !== 0 || waiting !== 0) return;
  const wait = now ? 0 : lastRender + MIN_GAP_MS - performance.now();
  if (wait <= 0) frame = requestAnimationFrame(render);
  else
    waiting = window.setTimeout(() => {
      waiting = 0;
      frame = requestAnimationFrame(render);
    }, wait);
}

/** Messages received (valid or not), and how many of them the last render had seen (for tests). */
let received = 0,
  renderedReceived = 0;
window.addEventListener('message', (e: MessageEvent) => {
  received++;
  const m = parseHostMessage(e.data);
  // on arrival, before it is drawn: the host holds its next posts until then (post-window.ts)
  if (m?.type === 'events' && m.seq !== undefined) vscode?.postMessage({ type: 'ack', seq: m.seq });
  if (m) store.apply(m);
  // a dropped message too: the next render marks it seen; what is not data (a reset, the run's
  // status, problems) at the next frame
  schedule(m !== null && m.type !== 'events');
});

watchTheme(() => {
  theme = readTheme();
  for (const c of Object.values(charts)) c.applyTheme(theme);
  schedule(true);
});

// An HTML report carries its messages in the page.
const inline = document.getElementById('layerwise-data');
if (inline?.textContent) {
  for (const raw of JSON.parse(inline.textContent) as unknown[]) {
    const m = parseHostMessage(raw);
    if (m) store.apply(m);
  }
}
render();
vscode?.postMessage({ type: 'ready' });

/** For tests: what is drawn. */
(window as unknown as { __layerwise: unknown }).__layerwise = {
  pointCounts: () => Object.fromEntries(Object.entries(charts).map(([k, c]) => [k, c.pointCount()])),
  colors: () => variance.chart.data.datasets.map((d) => d.borderColor),
  chartOf: (k: keyof typeof charts) => charts[k].chart,
  /** Per chart: its title, the y and x labels shown, and the legend's entries (text and colour), place and font size. */
  looks: () =>
    Object.fromEntries(
      Object.entries(charts).map(([k, c]) => [
        k,
        {
          title: c.title,
          yLabels: (c.chart.scales.y?.ticks ?? []).map((t) => t.label).filter((l) => l !== '' && l !== undefined),
          xLabels: (c.chart.scales.x?.ticks ?? []).map((t) => t.label).filter((l) => l !== '' && l !== undefined),
          legend: (c.chart.legend?.legendItems ?? []).map((i) => ({
            text: i.text,
            color: i.fillStyle ?? i.strokeStyle,
          })),
          legendAt: c.chart.legend?.options.position,
          legendFont: (c.chart.legend?.options.labels.font as { size?: number } | undefined)?.size,
        },
      ]),
    ),
  renders: () => renders,
  /** How many messages arrived, and whether everything that did is drawn (no render pending). */
  settled: (n: number) => received >= n && renderedReceived === received && frame === 0 && waiting === 0,
  state: () => store.state,
};
