// The webview in real headless Chromium, fed with real event streams from the core (the CLI's
// --json output): every chart draws data, the warnings list, theme switch, restore after reload,
// the CSP blocks injected inline script, malformed messages are ignored, a 100,000-step history
// stays bounded, the HTML report works offline. Screenshots go to test-results/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { readFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(new URL('../..', import.meta.url).pathname);
const TOOLS = process.env.LAYERWISE_TOOLS ?? join(process.env.HOME ?? '/root', '.cache', 'layerwise-test-tools');
const { chromium } = createRequire(join(TOOLS, 'pw') + '/')('playwright-core');
const SHOTS = join(ROOT, 'test-results');
mkdirSync(SHOTS, { recursive: true });

function cli(...args) {
  const r = spawnSync(process.execPath, [join(ROOT, 'dist', 'cli.js'), ...args], {
    encoding: 'utf8',
    maxBuffer: 512 * 1024 * 1024,
  });
  return {
    code: r.status,
    events: r.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l)),
    stderr: r.stderr,
  };
}

const NONCE = 'testnonce123';
const PAGE = `<!DOCTYPE html><html><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'self' 'nonce-${NONCE}'; script-src 'nonce-${NONCE}'; img-src data:;">
<link rel="stylesheet" href="/media/panel.css"><style nonce="${NONCE}">body.vscode-dark { --vscode-editor-foreground: #cccccc; --vscode-editor-background: #1e1e1e; --vscode-charts-blue: #3794ff; background: #1e1e1e; }
body.vscode-light { --vscode-editor-foreground: #333333; --vscode-editor-background: #ffffff; --vscode-charts-blue: #0000ff; background: #ffffff; }</style></head>
<body class="vscode-dark"><div id="app"></div><script nonce="${NONCE}" src="/mock-vscode.js"></script><script nonce="${NONCE}" src="/dist/webview.js"></script></body></html>`;
// A stand-in for VS Code's webview API: state in sessionStorage (survives reload), messages recorded.
const MOCK = `window.__posted = [];
window.__saves = 0;
window.acquireVsCodeApi = () => ({
  postMessage: (m) => window.__posted.push(m),
  getState: () => JSON.parse(sessionStorage.getItem('state') || 'null'),
  setState: (s) => (window.__saves++, sessionStorage.setItem('state', JSON.stringify(s))),
});`;

let server, base, browser;
before(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const send = (type, body) => {
      res.writeHead(200, { 'content-type': type });
      res.end(body);
    };
    if (url.pathname === '/') return send('text/html', PAGE);
    if (url.pathname === '/mock-vscode.js') return send('text/javascript', MOCK);
    if (url.pathname === '/dist/webview.js')
      return send('text/javascript', readFileSync(join(ROOT, 'dist', 'webview.js')));
    if (url.pathname === '/media/panel.css') return send('text/css', readFileSync(join(ROOT, 'media', 'panel.css')));
    res.writeHead(404);
    res.end();
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${server.address().port}/`;
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});
after(async () => {
  await browser?.close();
  server?.close();
});

async function openPage(width = 1000, height = 1400) {
  const page = await browser.newPage({ viewport: { width, height } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  await page.goto(base);
  await page.waitForFunction(() => window.__layerwise);
  return { page, errors };
}

/** Posts the messages and waits until the page drew them all (however busy the machine). */
async function feed(page, messages) {
  const before = await page.evaluate(() => window.__received ?? 0);
  for (let i = 0; i < messages.length; i += 50)
    await page.evaluate(
      (ms) => {
        for (const m of ms) window.postMessage(m, '*');
        window.__received = (window.__received ?? 0) + ms.length;
      },
      messages.slice(i, i + 50),
    );
  await page.waitForFunction((n) => window.__layerwise.settled(n), before + messages.length, { timeout: 30000 });
}

const counts = (page) => page.evaluate(() => window.__layerwise.pointCounts());

test('a training run: every chart draws, warnings listed, clicking one asks to reveal its layer', async () => {
  const run = cli('run', join(ROOT, 'examples', 'dying-relu.mlp.json'), '--json', '--steps', '120');
  assert.equal(run.code, 0, run.stderr);
  const start = run.events[0];
  const { page, errors } = await openPage();
  await feed(page, [
    { type: 'reset', mode: 'run', title: 'dying-relu — training', series: ['run'], clipMax: start.clip?.max ?? null },
    // live posts carry a seq the page acknowledges (the host's flow control)
    ...run.events.map((e, i) => ({ type: 'events', series: 'run', events: [e], seq: i + 1 })),
  ]);
  const c = await counts(page);
  assert.equal(c.loss, 120);
  assert.ok(c.grad >= 240, JSON.stringify(c));
  assert.equal(c.deadNow, 2);
  // variance: Var(z), Var(a), Var(∂W) and Var(∂z) ÷ output over 3 layers
  assert.ok(c.deadSteps >= 120 && c.variance === 12 && c.update === 3, JSON.stringify(c));
  const items = await page.$$eval('#warnings li', (lis) => lis.map((li) => li.dataset.code));
  const expected = run.events.filter((e) => e.type === 'warning').map((e) => e.code);
  assert.deepEqual(items.sort(), expected.sort());
  assert.ok(expected.includes('dying_relu'));
  await page.click('#warnings li[data-code="dying_relu"]');
  const posted = await page.evaluate(() => window.__posted);
  const layer = run.events.find((e) => e.type === 'warning' && e.code === 'dying_relu').layer;
  assert.ok(
    posted.some((m) => m.type === 'revealLayer' && m.layer === layer),
    JSON.stringify(posted),
  );
  assert.ok(posted.some((m) => m.type === 'ready'));
  assert.deepEqual(
    posted.filter((m) => m.type === 'ack').map((m) => m.seq),
    run.events.map((_, i) => i + 1),
    'each live post acknowledged once, in order',
  );
  await page.screenshot({ path: join(SHOTS, 'webview-run.png'), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});

test("a PyTorch log's warnings name the layers' modules; a click opens the line that creates one, never the model file", async (t) => {
  const events = pytorchLog();
  if (!events) return t.skip('no torch here');
  const start = events[0];
  assert.equal(start.source, 'pytorch');
  // the example's nn.Sequential: names, no line of its own (torch's code builds it)
  assert.deepEqual(
    start.modules.map((m) => m.name),
    start.layers.map((_, i) => String(2 * i)),
  );
  assert.ok(start.modules.every((m) => m.file === undefined));
  const warned = events.filter((e) => e.type === 'warning' && e.layer !== null);
  assert.ok(warned.length >= 2, 'the example warns about layers');
  const [a, b] = [warned[0].layer, warned.find((e) => e.layer !== warned[0].layer)?.layer ?? warned[0].layer];
  // as a model class of the user's would name them: a file and a line for layer a only
  const modules = start.modules.map((m, i) => (i === a ? { ...m, file: '/work/net.py', line: 42 } : m));
  const { page, errors } = await openPage();
  await feed(page, [
    { type: 'reset', mode: 'run', title: 'deep-mlp — training log', series: ['run'], clipMax: null },
    { type: 'log', file: 'deep-mlp.layerwise.jsonl', malformed: 0, stalled: false },
    ...[{ ...start, modules }, ...events.slice(1)].map((e) => ({ type: 'events', series: 'run', events: [e] })),
  ]);
  const where = await page.$$eval('#warnings li .where', (xs) => xs.map((x) => x.textContent));
  assert.ok(
    where.some((x) => x.includes(`layer ${a} (model[${2 * a}])`)),
    JSON.stringify(where),
  );
  const items = await page.$$('#warnings li');
  let clicked = 0;
  for (const li of items) {
    const text = await li.$eval('.where', (x) => x.textContent);
    const layer = Number(/layer (\d+)/.exec(text)?.[1] ?? -1);
    const tab = await li.getAttribute('tabindex');
    if (layer === a) {
      assert.equal(tab, '0', text);
      assert.match(await li.getAttribute('title'), /^Open net\.py:42, where /);
      await li.click();
      clicked++;
    } else {
      // no line known (or no layer): nothing to open, and never a layer of the model file in the editor
      assert.equal(tab, null, text);
      if (layer === b) await li.click();
    }
  }
  assert.ok(clicked > 0);
  const posted = await page.evaluate(() => window.__posted.filter((m) => m.type !== 'ready' && m.type !== 'drawn'));
  assert.ok(
    posted.length > 0 && posted.every((m) => m.type === 'revealSource' && m.file === '/work/net.py' && m.line === 42),
    JSON.stringify(posted),
  );
  assert.deepEqual(errors, []);
  await page.close();
});

test('an analysis: predicted beside measured variance, static warnings; a narrow side panel stays readable', async () => {
  const an = cli('analyze', join(ROOT, 'examples', 'deep-relu-xavier.mlp.json'), '--json');
  const { page, errors } = await openPage(320, 900);
  await feed(page, [
    { type: 'reset', mode: 'analysis', title: 'deep-relu-xavier.mlp.json', series: ['analysis'], clipMax: null },
    { type: 'events', series: 'analysis', events: an.events },
  ]);
  const c = await counts(page);
  assert.equal(c.variance, 31 * 5, JSON.stringify(c));
  assert.equal(c.loss, 0);
  const hidden = await page.$eval('#chart-loss', (el) => el.hidden);
  assert.equal(hidden, true, 'run charts hidden for an analysis');
  const codes = await page.$$eval('#warnings li', (lis) => lis.map((li) => li.dataset.code));
  assert.ok(codes.includes('init_mismatch') && codes.includes('vanishing_forward'), codes.join());
  const overflow = await page.evaluate(
    () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
  );
  assert.ok(overflow <= 1, `no horizontal scrolling in a 320 px panel (overflow ${overflow})`);
  await page.screenshot({ path: join(SHOTS, 'webview-analysis-narrow.png'), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});

test('theme switch recolours the charts; state is restored after a reload', async () => {
  const an = cli('analyze', join(ROOT, 'examples', 'quick.mlp.json'), '--json');
  const { page } = await openPage();
  await feed(page, [
    { type: 'reset', mode: 'analysis', title: 'quick', series: ['analysis'], clipMax: null },
    { type: 'events', series: 'analysis', events: an.events },
  ]);
  // Var(z) measured is drawn in the theme's blue (--vscode-charts-blue)
  const dark = await page.evaluate(() => window.__layerwise.colors());
  assert.equal(dark[1], '#3794ff');
  await page.evaluate(() => {
    document.body.className = 'vscode-light';
  });
  // (until the page has seen the theme change: a fixed wait is a race on a busy machine)
  await page.waitForFunction(() => window.__layerwise.colors()[1] !== '#3794ff', null, { timeout: 30000 });
  const light = await page.evaluate(() => window.__layerwise.colors());
  assert.equal(light[1], '#0000ff');
  await page.screenshot({ path: join(SHOTS, 'webview-light.png') });
  const before = await counts(page);
  await page.reload();
  await page.waitForFunction(() => window.__layerwise);
  // (until the restored charts are drawn, or 30 s: then the counts below say what is missing)
  await page
    .waitForFunction((b) => JSON.stringify(window.__layerwise.pointCounts()) === b, JSON.stringify(before), {
      timeout: 30000,
    })
    .catch(() => undefined);
  assert.deepEqual(await counts(page), before, 'charts restored from getState without new messages');
  await page.close();
});

test('the CSP blocks injected inline script; malformed messages are ignored', async () => {
  const { page, errors } = await openPage();
  await page.evaluate(() => {
    const s = document.createElement('script');
    s.textContent = 'window.__pwned = 1';
    document.body.appendChild(s);
    const d = document.createElement('div');
    d.innerHTML = '<img src=x onerror="window.__pwned2 = 1">';
    document.body.appendChild(d);
  });
  await page.waitForTimeout(200);
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  assert.equal(await page.evaluate(() => window.__pwned2), undefined);
  const cspErrors = errors.filter((e) => /Content Security Policy/.test(e));
  assert.ok(cspErrors.length >= 1, 'the browser reported the blocked script');
  errors.length = 0;
  await feed(page, [
    { type: 'bogus' },
    null,
    'events',
    { type: 'events' },
    { type: 'events', series: 'x', events: 'nope' },
    { type: 'reset' },
  ]);
  assert.deepEqual(errors, [], 'malformed messages raise nothing');
  assert.deepEqual(
    Object.values(await counts(page)).filter((n) => n > 0),
    [],
  );
  await page.close();
});

test('a 100,000-step history stays bounded and smooth', async () => {
  const { page, errors } = await openPage();
  const before = await page.evaluate(() => window.__received ?? 0);
  const t0 = Date.now();
  await page.evaluate(() => {
    // the reset, the start and 100 batches of steps
    window.__received = (window.__received ?? 0) + 102;
    window.postMessage({ type: 'reset', mode: 'run', title: 'long', series: ['run'], clipMax: 1 }, '*');
    window.postMessage(
      {
        type: 'events',
        series: 'run',
        events: [
          {
            type: 'start',
            model: 'long',
            parameters: 10,
            steps: 100000,
            layers: [{ index: 0, units: 4, activation: 'relu', init: 'he_normal', fanIn: 2, fanOut: 4 }],
            clip: { mode: 'norm', max: 1 },
          },
        ],
      },
      '*',
    );
    for (let b = 0; b < 100; b++) {
      const events = [];
      for (let k = 0; k < 1000; k++) {
        const step = b * 1000 + k;
        events.push({
          type: 'step',
          step,
          loss: 1 / (1 + step / 1000) + 0.05 * Math.sin(step),
          gradNorm: 1 + Math.cos(step),
          gradNormClipped: Math.min(1, 1 + Math.cos(step)),
          clipped: 1 + Math.cos(step) > 1,
          layers: [
            {
              index: 0,
              preact: { mean: 0, var: 1 },
              act: { mean: 0.4, var: 0.3 },
              dead: step % 4,
              weight: { mean: 0, var: 0.5 },
              weightGrad: { norm: 0.1, var: 0.01 },
              biasGrad: { norm: 0.01 },
              updateRatio: 0.001,
            },
          ],
        });
      }
      window.postMessage({ type: 'events', series: 'run', events }, '*');
    }
  });
  // until the page has drawn them all, however busy the machine (a fixed 500 ms once found every
  // chart still empty on a clean clone's CI)
  await page.waitForFunction((n) => window.__layerwise.settled(n), before + 102, { timeout: 30000 });
  const ms = Date.now() - t0;
  const st = await page.evaluate(() => {
    const s = window.__layerwise.state().series[0];
    return { recent: s.recent.length, older: s.older.length, seen: s.stepsSeen };
  });
  assert.equal(st.seen, 100000);
  assert.ok(st.recent + st.older <= 3000 + 1500, JSON.stringify(st));
  const c = await counts(page);
  assert.ok(c.loss <= 4500 && c.loss > 1000, JSON.stringify(c));
  const renders = await page.evaluate(() => window.__layerwise.renders());
  assert.ok(renders < 50, `redraws coalesced to animation frames (${renders} renders for 100 batches)`);
  console.log(`100,000 steps in 100 batches: ${ms} ms, ${renders} renders, ${st.recent + st.older} points kept`);
  await page.screenshot({ path: join(SHOTS, 'webview-long-run.png') });
  assert.deepEqual(errors, []);
  await page.close();
});

/** Writes a report with the CLI (`args` + --html) and opens it from file://, with no network. */
async function openReport(args, size) {
  const out = join(mkdtempSync(join(tmpdir(), 'layerwise-report-')), 'report.html');
  const r = spawnSync(process.execPath, [join(ROOT, 'dist', 'cli.js'), ...args, '--html', out], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const page = await browser.newPage({ viewport: { width: size, height: size } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  await page.route('**/*', (route) => (route.request().url().startsWith('file:') ? route.continue() : route.abort()));
  await page.goto('file://' + out);
  await page.waitForFunction(() => window.__layerwise);
  return { page, errors };
}

test('an analysis report (layerwise analyze --html) shows the variance profile and warnings', async () => {
  const { page, errors } = await openReport(['analyze', join(ROOT, 'examples', 'deep-relu-xavier.mlp.json')], 900);
  const c = await page.evaluate(() => window.__layerwise.pointCounts());
  assert.equal(c.variance, 31 * 5, JSON.stringify(c));
  const codes = await page.$$eval('#warnings li', (lis) => lis.map((li) => li.dataset.code));
  assert.ok(codes.includes('vanishing_forward') && codes.includes('init_mismatch'), codes.join());
  await page.screenshot({ path: join(SHOTS, 'report-analysis.png') });
  assert.deepEqual(errors, []);
  await page.close();
});

test('the HTML report opens offline with every chart', async () => {
  const { page, errors } = await openReport(
    ['run', join(ROOT, 'examples', 'dying-relu.mlp.json'), '--steps', '60', '--quiet'],
    1200,
  );
  const c = await page.evaluate(() => window.__layerwise.pointCounts());
  assert.equal(c.loss, 60);
  assert.ok(c.grad > 0 && c.deadNow > 0 && c.variance > 0 && c.update > 0, JSON.stringify(c));
  // no editor behind a report: its warnings are text, not links that do nothing
  const links = await page.$$eval('#warnings li', (lis) => lis.map((li) => [li.tabIndex, li.title]));
  assert.ok(links.length > 0 && links.every(([tab, title]) => tab === -1 && title === ''), JSON.stringify(links));
  await page.screenshot({ path: join(SHOTS, 'report.png') });
  assert.deepEqual(errors, []);
  await page.close();
});

// `npm run screenshots` writes these into media/ (the README's images and the extension's icon);
// otherwise they go to test-results/ like the others.

/** The overfit example now, and a kept run of it at a tenth of the learning rate, to overlay. */
function overlayRuns() {
  const now = cli('run', join(ROOT, 'examples', 'overfit.mlp.json'), '--json');
  const dir = mkdtempSync(join(tmpdir(), 'lw-overlay-'));
  const slow = join(dir, 'overfit.mlp.json');
  writeFileSync(
    slow,
    readFileSync(join(ROOT, 'examples', 'overfit.mlp.json'), 'utf8').replace(
      '"learningRate": 0.003',
      '"learningRate": 0.0003',
    ),
  );
  const kept = cli('run', slow, '--json');
  assert.equal(now.code, 0, now.stderr);
  assert.equal(kept.code, 0, kept.stderr);
  return { now: now.events, kept: kept.events, label: 'Dec 1, 13:58:02 (600 steps)' };
}

/**
 * The PyTorch example's log (200 steps of a 12-layer ReLU MLP with PyTorch's default init), as
 * `layerwise watch --json` reads it (with the detectors' warnings): what the panel shows of a
 * PyTorch run. null where Debian's torch is not installed (`npm run screenshots` on a machine
 * without it; `npm test` installs it before this tier).
 */
function pytorchLog() {
  const py = '/usr/bin/python3';
  if (spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore' }).status !== 0) return null;
  const log = join(mkdtempSync(join(tmpdir(), 'lw-torch-')), 'deep-mlp.layerwise.jsonl');
  const r = spawnSync(py, [join(ROOT, 'examples', 'pytorch', 'train_mlp.py'), '--log', log, '--steps', '200'], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  const w = cli('watch', log, '--json');
  assert.equal(w.code, 0, w.stderr);
  assert.ok(
    w.events.some((e) => e.type === 'warning' && e.code === 'vanishing_gradient'),
    'the example flags the vanishing gradient',
  );
  return w.events;
}

const UPDATE = process.env.LAYERWISE_UPDATE_SCREENSHOTS === '1';
const pngSize = (file) => {
  const b = readFileSync(file);
  assert.equal(b.toString('latin1', 1, 4), 'PNG', file);
  return [b.readUInt32BE(16), b.readUInt32BE(20)];
};

/** The demo's 30-layer ReLU net with PyTorch's default init (nn.Linear's: the pytorch scheme), as a file. */
function deepReluPytorch() {
  const file = join(mkdtempSync(join(tmpdir(), 'lw-pytorch-init-')), 'deep-relu-pytorch.mlp.json');
  const text = readFileSync(join(ROOT, 'examples', 'deep-relu-he.mlp.json'), 'utf8').replaceAll(
    '"he_normal"',
    '"pytorch"',
  );
  writeFileSync(file, text);
  return file;
}

test('screenshots: the run panel, the side view, a comparison, an overlay and a PyTorch log, dark and light, and the icon at 128 px', async () => {
  const dir = UPDATE ? join(ROOT, 'media', 'screenshots') : SHOTS;
  mkdirSync(dir, { recursive: true });
  const run = cli('run', join(ROOT, 'examples', 'dying-relu.mlp.json'), '--json', '--steps', '200');
  const an = cli('analyze', join(ROOT, 'examples', 'deep-relu-xavier.mlp.json'), '--json');
  assert.equal(run.code, 0, run.stderr);
  // a comparison of the two inits of the demo's net: their analyses, then their runs
  const compare = [
    join(ROOT, 'examples', 'deep-relu-xavier.mlp.json'),
    join(ROOT, 'examples', 'deep-relu-he.mlp.json'),
    deepReluPytorch(),
  ].flatMap((f, k) => {
    const series = ['xavier_uniform', 'he_normal', 'pytorch default'][k];
    const a = cli('analyze', f, '--json').events;
    const r = cli('run', f, '--json', '--steps', '100').events;
    return [...a, ...r].filter((e) => e.type !== 'warning' || !r.includes(e)).map((e) => ({ series, e }));
  });
  const ov = overlayRuns();
  const torchLog = pytorchLog();
  if (!torchLog) console.log('# no /usr/bin/python3 with torch: the PyTorch screenshot is not taken');
  for (const theme of ['dark', 'light']) {
    const shots = [
      [
        'run',
        1000,
        840,
        {
          type: 'reset',
          mode: 'run',
          title: 'dying-relu — training',
          series: ['run'],
          clipMax: run.events[0].clip?.max ?? null,
        },
        run.events,
      ],
      [
        'side-view',
        360,
        820,
        { type: 'reset', mode: 'analysis', title: 'deep-relu-xavier.mlp.json', series: ['analysis'], clipMax: null },
        an.events,
      ],
    ];
    shots.push([
      'overlay',
      1000,
      840,
      { type: 'reset', mode: 'run', title: 'overfit — training', series: ['run'], clipMax: null },
      [...ov.now.map((e) => ({ series: 'run', e })), ...ov.kept.map((e) => ({ series: ov.label, e }))],
    ]);
    if (torchLog)
      shots.push([
        'pytorch',
        1000,
        840,
        { type: 'reset', mode: 'run', title: 'deep-mlp — training log', series: ['run'], clipMax: null },
        torchLog,
        // as the extension shows a log: its file and state (and no Run/Stop: not our run)
        [{ type: 'log', file: 'deep-mlp.layerwise.jsonl', malformed: 0, stalled: false }],
      ]);
    shots.push([
      'compare',
      1000,
      900,
      {
        type: 'reset',
        mode: 'compare',
        title: 'deep-relu — compare initializations',
        series: ['xavier_uniform', 'he_normal', 'pytorch default'],
        clipMax: null,
      },
      compare,
    ]);
    for (const [name, width, height, reset, events, after = []] of shots) {
      const { page, errors } = await openPage(width, height);
      await page.evaluate((t) => (document.body.className = `vscode-${t}`), theme);
      await feed(page, [
        reset,
        ...after,
        ...events.map((x) =>
          x.series
            ? { type: 'events', series: x.series, events: [x.e] }
            : { type: 'events', series: reset.series[0], events: [x] },
        ),
      ]);
      // everything fed is drawn (renders are coalesced to animation frames: wait for the last)
      const want = name === 'side-view' ? 'variance' : 'loss';
      const n = name === 'compare' ? 300 : name === 'run' || name === 'pytorch' ? 200 : 1;
      await page.waitForFunction(([k, m]) => window.__layerwise.pointCounts()[k] >= m, [want, n]);
      const c = await counts(page);
      assert.ok(
        name === 'run' || name === 'pytorch'
          ? c.loss === 200 && c.deadNow > 0
          : name === 'compare'
            ? c.loss === 300 && c.grad === 300
            : c.variance > 0,
        `${name}: ${JSON.stringify(c)}`,
      );
      const file = join(dir, `${name}-${theme}.png`);
      await page.screenshot({ path: file });
      assert.deepEqual(pngSize(file), [width, height]);
      assert.deepEqual(errors, []);
      await page.close();
    }
  }
  const page = await browser.newPage({ viewport: { width: 128, height: 128 } });
  const svg = readFileSync(join(ROOT, 'media', 'layerwise.svg'), 'utf8').replace(
    /width="24" height="24"/,
    'width="96" height="96"',
  );
  await page.setContent(
    `<body style="margin:0;width:128px;height:128px;display:grid;place-items:center;background:#0e639c;border-radius:22px;color:#fff">${svg}</body>`,
  );
  const icon = UPDATE ? join(ROOT, 'media', 'icon.png') : join(SHOTS, 'icon.png');
  await page.screenshot({ path: icon, omitBackground: true });
  assert.deepEqual(pngSize(icon), [128, 128]);
  await page.close();
});

test('a warning whose text changes (same count, same codes, as after a quick fix) is redrawn', async () => {
  const { page, errors } = await openPage(360, 800);
  const warning = (layer, message) => ({
    type: 'warning',
    code: 'init_mismatch',
    severity: 'warning',
    layer,
    step: null,
    message,
    fix: `Set "init" on layers ${layer}–29.`,
  });
  const pair = (layer, text) => [
    { type: 'reset', mode: 'analysis', title: 'deep.mlp.json', series: ['analysis'], clipMax: null },
    { type: 'events', series: 'analysis', events: [warning(layer, text)] },
  ];
  // the second analysis arrives while the panel waits to redraw (redraws are ≥ 100 ms apart), so
  // one redraw sees both: the same count and codes, a different layer and text
  await page.evaluate(
    ([a, b]) =>
      new Promise((done) => {
        for (const m of a) window.postMessage(m, '*');
        setTimeout(() => {
          for (const m of b) window.postMessage(m, '*');
          setTimeout(done, 300);
        }, 40);
      }),
    [
      pair(0, 'Layers 0–29: xavier_uniform under relu halves the variance at every layer.'),
      pair(1, 'Layers 1–29: xavier_uniform under relu halves the variance at every layer.'),
    ],
  );
  const shown = await page.$$eval('#warnings li', (lis) =>
    lis.map((li) => [li.querySelector('.where').textContent, li.querySelector('.message').textContent]),
  );
  assert.equal(shown.length, 1);
  assert.equal(shown[0][0], 'init_mismatch · layer 1');
  assert.match(shown[0][1], /^Layers 1–29/);
  assert.deepEqual(errors, []);
  await page.close();
});

test('the small defects a new user saw: log axes with two labels or more, a colour per line, legends, no raw TeX, an opaque header', async () => {
  const { page, errors } = await openPage(1000, 900);
  // every defect is checked and listed (not only the first), so the failure says which are back
  const found = [];
  const check = (ok, what) => ok || found.push(what);
  // before any data: the variance chart's title names the healthy band without TeX
  let looks = await page.evaluate(() => window.__layerwise.looks());
  check(
    !/[_{}]/.test(looks.variance.title) && /Var\(zₗ\) ≈ Var\(aₗ₋₁\)/.test(looks.variance.title),
    `title ${looks.variance.title}`,
  );
  // a run whose update ratios sit inside one decade, with dead layers
  const run = cli('run', join(ROOT, 'examples', 'dying-relu.mlp.json'), '--json', '--steps', '60');
  assert.equal(run.code, 0, run.stderr);
  await feed(page, [
    { type: 'reset', mode: 'run', title: 'dying-relu — training', series: ['run'], clipMax: null },
    ...run.events.map((e) => ({ type: 'events', series: 'run', events: [e] })),
  ]);
  looks = await page.evaluate(() => window.__layerwise.looks());
  for (const k of ['variance', 'grad', 'update'])
    check(looks[k].yLabels.length >= 2, `${k}: y labels ${JSON.stringify(looks[k].yLabels)}`);
  check(looks.update.yLabels.includes('1e-3'), `the healthy 1e-3 is not labelled: ${looks.update.yLabels}`);
  // each line of the variance profile has its own colour
  const colours = looks.variance.legend.map((l) => l.color);
  check(new Set(colours).size === colours.length, `run colours ${JSON.stringify(looks.variance.legend)}`);
  // dead units: the flagged colour has a legend entry; the lines over steps are in layer order
  check(
    looks.deadNow.legend.some((l) => /flagged/.test(l.text)),
    `dead legend ${JSON.stringify(looks.deadNow.legend)}`,
  );
  const order = looks.deadSteps.legend.map((l) => Number(/layer (\d+)/.exec(l.text)[1]));
  check(
    order.length >= 2 && order.every((x, i) => i === 0 || order[i - 1] < x),
    `dead-over-steps legend ${JSON.stringify(looks.deadSteps.legend)}`,
  );
  // a net without ReLU layers: both dead-unit charts say so (not an empty axis under a bare title)
  const mixed = cli(
    'run',
    join(ROOT, 'test', 'fixtures', 'torch', 'mse_elu_gelu_momentum', 'model.mlp.json'),
    '--json',
  );
  assert.equal(mixed.code, 0, mixed.stderr);
  await feed(page, [
    { type: 'reset', mode: 'run', title: 'mse_elu_gelu_momentum — training', series: ['run'], clipMax: null },
    ...mixed.events.map((e) => ({ type: 'events', series: 'run', events: [e] })),
  ]);
  looks = await page.evaluate(() => window.__layerwise.looks());
  for (const k of ['deadNow', 'deadSteps'])
    check(/no ReLU layers/.test(looks[k].title), `${k} title without ReLU layers: ${looks[k].title}`);
  // the sticky header hides what scrolls under it
  const bg = await page.$eval('header', (h) => getComputedStyle(h).backgroundColor);
  check(!/rgba\(.*, 0\)$/.test(bg) && bg !== 'transparent', `header background ${bg}`);
  // an analysis: predicted and measured in different colours
  const an = cli('analyze', join(ROOT, 'examples', 'deep-relu-xavier.mlp.json'), '--json');
  await feed(page, [
    { type: 'reset', mode: 'analysis', title: 'deep-relu-xavier.mlp.json', series: ['analysis'], clipMax: null },
    { type: 'events', series: 'analysis', events: an.events },
  ]);
  looks = await page.evaluate(() => window.__layerwise.looks());
  const ac = looks.variance.legend.map((l) => l.color);
  check(new Set(ac).size === ac.length, `analysis colours ${JSON.stringify(looks.variance.legend)}`);
  assert.deepEqual(found, []);
  assert.deepEqual(errors, []);
  await page.close();
});

test('no model yet: what to do instead of an empty chart and a Run button; a broken file: its errors, not "Warnings — none"', async () => {
  const { page, errors } = await openPage(400, 900);
  const view = () =>
    page.evaluate(() => ({
      empty: document.getElementById('empty')?.hidden === false ? document.getElementById('empty').textContent : null,
      chartsShown: !document.querySelector('.charts').hidden,
      warningsShown: !document.getElementById('warnings').hidden,
      warningsHeading: document.querySelector('#warnings h3')?.textContent,
      problemsShown: document.getElementById('problems-box')?.hidden === false,
      problems: document.getElementById('problems')?.textContent,
      runDisabled: document.getElementById('btn-run')?.hasAttribute('disabled'),
      compareDisabled: document.getElementById('btn-compare')?.hasAttribute('disabled'),
      toolbarShown: !document.querySelector('header .toolbar').hidden,
      emptyButtons: [...document.querySelectorAll('#empty vscode-button')].map((b) => [
        b.textContent,
        b.getBoundingClientRect().width > 0,
      ]),
    }));
  let v = await view();
  assert.match(v.empty ?? '', /Open or create a model file/);
  assert.equal(v.chartsShown, false);
  assert.equal(v.warningsShown, false);
  assert.equal(v.runDisabled, true);
  assert.equal(v.compareDisabled, true);
  // no Run to grey out: the toolbar gives way to a button for each way to a model
  assert.equal(v.toolbarShown, false);
  assert.deepEqual(v.emptyButtons, [
    ['New Model File…', true],
    ['Open Training Log…', true],
  ]);
  await page.click('#btn-newModel');
  await page.click('#btn-openLog');
  assert.deepEqual(await page.evaluate(() => window.__posted.filter((m) => m.type === 'command')), [
    { type: 'command', command: 'newModel' },
    { type: 'command', command: 'openLog' },
  ]);
  await feed(page, [
    { type: 'reset', mode: 'analysis', title: 'broken.mlp.json', series: ['analysis'], clipMax: null },
    { type: 'problems', lines: ['broken.mlp.json:3:15: unexpected "}"; expected a value'] },
  ]);
  v = await view();
  assert.equal(v.empty, null);
  assert.equal(v.problemsShown, true);
  assert.match(v.problems, /broken\.mlp\.json:3:15/);
  assert.equal(v.chartsShown, false, 'no empty chart under the errors');
  assert.equal(v.warningsShown, false, 'no "Warnings — none" under the errors');
  assert.equal(v.runDisabled, true);
  // fixed: the analysis shows, Run is enabled
  const an = cli('analyze', join(ROOT, 'examples', 'quick.mlp.json'), '--json');
  await feed(page, [
    { type: 'reset', mode: 'analysis', title: 'quick.mlp.json', series: ['analysis'], clipMax: null },
    { type: 'events', series: 'analysis', events: an.events },
  ]);
  v = await view();
  assert.deepEqual(
    [v.empty, v.problemsShown, v.chartsShown, v.warningsShown, v.runDisabled, v.toolbarShown],
    [null, false, true, true, false, true],
  );
  assert.deepEqual(errors, []);
  await page.close();
});

test('distributions: bands over steps and the latest histogram of the clicked layer, for Z, f(Z) or ∂L/∂Z', async () => {
  const run = cli(
    'run',
    join(ROOT, 'examples', 'dying-relu.mlp.json'),
    '--json',
    '--steps',
    '60',
    '--histograms-every',
    '5',
  );
  assert.equal(run.code, 0, run.stderr);
  const hists = run.events.filter((e) => e.type === 'histogram');
  assert.equal(hists.length, 12);
  const { page, errors } = await openPage(1000, 1800);
  await feed(page, [
    { type: 'reset', mode: 'run', title: 'dying-relu — training', series: ['run'], clipMax: null },
    ...run.events.map((e) => ({ type: 'events', series: 'run', events: [e] })),
  ]);
  await page.waitForFunction(
    () => window.__layerwise.pointCounts().histogram === 32 && window.__layerwise.pointCounts().distribution === 60,
  );
  const c = await counts(page);
  // 5 band lines (p5, p25, median, p75, p95) over 12 histogram steps
  assert.equal(c.distribution, 5 * 12, JSON.stringify(c));
  assert.equal(c.histogram, 32);
  let looks = await page.evaluate(() => window.__layerwise.looks());
  // by default the last hidden layer's activations, with its zeros counted apart
  const n1 = ((h) => h.counts.reduce((a, b) => a + b, 0) + h.zeros + h.below + h.above + h.nonFinite)(
    hists.at(-1).layers[1].act,
  );
  assert.match(
    looks.histogram.title,
    new RegExp(`^Histogram of f\\(Z\\) — layer 1, step 55 \\(${n1} values; zeros \\d`),
  );
  // click layer 0 in the variance profile
  const box = await page.$('#chart-variance canvas');
  const at = await page.evaluate(() => {
    const ch = window.__layerwise.chartOf('variance');
    return { x: ch.scales.x.getPixelForValue(0), y: (ch.chartArea.top + ch.chartArea.bottom) / 2 };
  });
  await box.click({ position: at });
  await page.waitForFunction(() => /layer 0, step/.test(window.__layerwise.looks().histogram.title));
  looks = await page.evaluate(() => window.__layerwise.looks());
  assert.match(looks.histogram.title, /layer 0, step 55/);
  assert.match(looks.distribution.title, /of f\(Z\) over steps — layer 0/);
  // ∂L/∂Z
  await page.click('#chart-distribution button[data-quantity="grad"]');
  await page.waitForFunction(() => /^Histogram of ∂L/.test(window.__layerwise.looks().histogram.title));
  looks = await page.evaluate(() => window.__layerwise.looks());
  assert.match(looks.histogram.title, /^Histogram of ∂L\/∂Z — layer 0/);
  // the bars are the event's counts
  const bars = await page.evaluate(() => window.__layerwise.chartOf('histogram').data.datasets[0].data);
  assert.deepEqual(bars, hists.at(-1).layers[0].grad.counts);
  await page.screenshot({ path: join(SHOTS, 'webview-distributions.png'), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});

test('sharpness: λmax over steps against the divergence threshold; at init in an analysis', async () => {
  const run = cli(
    'run',
    join(ROOT, 'examples', 'quick.mlp.json'),
    '--json',
    '--steps',
    '30',
    '--sharpness-every',
    '10',
  );
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.events.filter((e) => e.type === 'sharpness').length, 3);
  const { page, errors } = await openPage(1000, 1800);
  await feed(page, [
    { type: 'reset', mode: 'run', title: 'quick — training', series: ['run'], clipMax: null },
    ...run.events.map((e) => ({ type: 'events', series: 'run', events: [e] })),
  ]);
  await page.waitForFunction(() => window.__layerwise.pointCounts().sharpness >= 3);
  let looks = await page.evaluate(() => window.__layerwise.looks());
  assert.match(looks.sharpness.title, /^Sharpness — λmax \S+ at step 20/);
  // an analysis of a net whose learning rate is past the threshold at init
  const an = cli('analyze', join(ROOT, 'examples', 'dying-relu.mlp.json'), '--json');
  const sh = an.events.find((e) => e.type === 'sharpness');
  assert.ok(sh && sh.lambdaMax > sh.threshold, JSON.stringify(sh));
  assert.ok(an.events.some((e) => e.type === 'warning' && e.code === 'sharpness'));
  await feed(page, [
    { type: 'reset', mode: 'analysis', title: 'dying-relu.mlp.json', series: ['analysis'], clipMax: null },
    { type: 'events', series: 'analysis', events: an.events },
  ]);
  await page.waitForFunction(() => /above the threshold/.test(window.__layerwise.looks().sharpness.title));
  looks = await page.evaluate(() => window.__layerwise.looks());
  assert.deepEqual(
    looks.sharpness.legend.map((l) => l.text),
    ['λmax', 'divergence threshold'],
  );
  const codes = await page.$$eval('#warnings li', (lis) => lis.map((li) => li.dataset.code));
  assert.ok(codes.includes('sharpness'), codes.join());
  assert.deepEqual(errors, []);
  await page.close();
});

test("one λmax (an analysis, a run's first) shows its threshold as a line across; steps and counts in whole numbers", async () => {
  const { page, errors } = await openPage(1000, 1800);
  const found = [];
  const check = (ok, what) => ok || found.push(what);
  const whole = (labels) => labels.length > 0 && labels.every((l) => /^-?\d+$/.test(String(l).replace(/,/g, '')));
  // an analysis: λmax at step 0 only, with the sgd threshold 2/η
  const an = cli('analyze', join(ROOT, 'examples', 'deep-relu-xavier.mlp.json'), '--json');
  const sh = an.events.find((e) => e.type === 'sharpness');
  assert.ok(sh && sh.threshold > 0, JSON.stringify(sh));
  await feed(page, [
    { type: 'reset', mode: 'analysis', title: 'deep-relu-xavier.mlp.json', series: ['analysis'], clipMax: null },
    { type: 'events', series: 'analysis', events: an.events },
  ]);
  let drawn = await page.evaluate(() => {
    const ch = window.__layerwise.chartOf('sharpness');
    const thr = ch.data.datasets.find((d) => d.label === 'divergence threshold');
    return { thr: thr?.data ?? [], min: ch.scales.x.min, max: ch.scales.x.max };
  });
  const xs = drawn.thr.map((p) => p.x);
  check(
    drawn.thr.length >= 2 &&
      drawn.thr.every((p) => p.y === sh.threshold) &&
      Math.min(...xs) <= drawn.min &&
      Math.max(...xs) >= drawn.max,
    `threshold of one step not a line across the axis: ${JSON.stringify(drawn)}`,
  );
  let looks = await page.evaluate(() => window.__layerwise.looks());
  check(whole(looks.sharpness.xLabels), `sharpness step labels ${JSON.stringify(looks.sharpness.xLabels)}`);
  check(!looks.sharpness.xLabels.some((l) => Number(l) < 0), `negative steps ${looks.sharpness.xLabels}`);
  // λmax far under its threshold reads as the small share it is, not "0 %"
  const pct = (100 * sh.lambdaMax) / sh.threshold;
  check(
    pct < 1 && looks.sharpness.title.includes(`, ${Number(pct.toPrecision(3))} % of the threshold`),
    `sharpness title ${looks.sharpness.title} (${pct} %)`,
  );
  // a short run: 3 steps, and a histogram whose counts are a handful
  const run = cli(
    'run',
    join(ROOT, 'examples', 'dying-relu.mlp.json'),
    '--json',
    '--steps',
    '3',
    '--sharpness-every',
    '2',
  );
  assert.equal(run.code, 0, run.stderr);
  const few = {
    edges: Array.from({ length: 33 }, (_, j) => j / 8),
    counts: Array.from({ length: 32 }, (_, j) => j % 4),
    zeros: 5,
    below: 0,
    above: 0,
    nonFinite: 0,
  };
  const hist = {
    type: 'histogram',
    step: 2,
    layers: [0, 1, 2].map((index) => ({ index, preact: few, act: few, grad: few })),
  };
  await feed(page, [
    { type: 'reset', mode: 'run', title: 'dying-relu — training', series: ['run'], clipMax: null },
    ...run.events
      .filter((e) => e.type !== 'histogram' && e.type !== 'end')
      .map((e) => ({ type: 'events', series: 'run', events: [e] })),
    { type: 'events', series: 'run', events: [hist] },
  ]);
  await page.waitForFunction(() => window.__layerwise.pointCounts().histogram === 32);
  looks = await page.evaluate(() => window.__layerwise.looks());
  check(whole(looks.histogram.yLabels), `histogram count labels ${JSON.stringify(looks.histogram.yLabels)}`);
  for (const k of ['loss', 'grad', 'sharpness'])
    check(whole(looks[k].xLabels), `${k} step labels ${JSON.stringify(looks[k].xLabels)}`);
  drawn = await page.evaluate(() => {
    const ch = window.__layerwise.chartOf('sharpness');
    return ch.data.datasets.find((d) => d.label === 'divergence threshold')?.data ?? [];
  });
  check(drawn.length >= 2, `threshold over two λmax: ${JSON.stringify(drawn)}`);
  assert.deepEqual(found, []);
  assert.deepEqual(errors, []);
  await page.close();
});

test('held-out loss: a dashed line with the training loss, its accuracy in the title', async () => {
  const run = cli('run', join(ROOT, 'examples', 'overfit.mlp.json'), '--json');
  assert.equal(run.code, 0, run.stderr);
  const val = run.events.filter((e) => e.type === 'validation');
  assert.equal(val.length, 31);
  const { page, errors } = await openPage(1000, 1200);
  await feed(page, [
    { type: 'reset', mode: 'run', title: 'overfit — training', series: ['run'], clipMax: null },
    { type: 'events', series: 'run', events: run.events },
  ]);
  await page.waitForFunction(() => /held-out/.test(window.__layerwise.looks().loss.title));
  const ds = await page.evaluate(() =>
    window.__layerwise.chartOf('loss').data.datasets.map((d) => ({
      label: d.label,
      dash: d.borderDash ?? null,
      x: d.data.map((p) => p.x),
      y: d.data.map((p) => p.y),
    })),
  );
  assert.deepEqual(
    ds.map((d) => d.label),
    ['loss (raw)', 'loss', 'held-out'],
  );
  const held = ds[2];
  assert.deepEqual(held.dash, [5, 3]);
  assert.deepEqual(
    held.x,
    val.map((e) => e.step),
  );
  assert.deepEqual(
    held.y,
    val.map((e) => e.loss),
  );
  const looks = await page.evaluate(() => window.__layerwise.looks());
  const last = val.at(-1);
  assert.ok(
    looks.loss.title.endsWith(
      `held-out ${last.loss.toPrecision(4)}, accuracy ${(100 * last.accuracy).toFixed(1)} % at step ${last.step}`,
    ),
    looks.loss.title,
  );
  assert.ok(looks.loss.legend.some((l) => l.text === 'held-out'));
  assert.deepEqual(errors, []);
  await page.close();
});

test('kept runs overlaid on a run: one line per run in loss, ‖g‖ and dead units; one taken off', async () => {
  const ov = overlayRuns();
  const { page, errors } = await openPage(1000, 1400);
  const seen = { steps: 600, clipped: 0 };
  await feed(page, [
    { type: 'reset', mode: 'run', title: 'overfit — training', series: ['run'], clipMax: null },
    { type: 'events', series: 'run', events: ov.now },
    { type: 'events', series: ov.label, events: ov.kept, seen },
  ]);
  await page.waitForFunction(() => /per run/.test(window.__layerwise.looks().grad.title));
  const labels = (id) => page.evaluate((c) => window.__layerwise.chartOf(c).data.datasets.map((d) => d.label), id);
  assert.deepEqual(await labels('loss'), [
    'run (raw)',
    'run',
    'run held-out',
    `${ov.label} (raw)`,
    ov.label,
    `${ov.label} held-out`,
  ]);
  assert.deepEqual(await labels('grad'), ['run', ov.label]);
  assert.deepEqual(await labels('deadSteps'), ['run', ov.label]);
  const looks = await page.evaluate(() => window.__layerwise.looks());
  assert.match(looks.deadSteps.title, /per run$/);
  // the variance profile and the other per-layer charts stay the run's own
  const variance = await labels('variance');
  assert.equal(new Set(variance).size, variance.length, variance.join());
  const loss = await page.evaluate(() => window.__layerwise.chartOf('loss').data.datasets[4].data.map((p) => p.x));
  assert.equal(loss.at(-1), 599);
  // taken off: the run alone again, with its own labels
  await feed(page, [{ type: 'removeSeries', series: ov.label }]);
  await page.waitForFunction(() => !/per run/.test(window.__layerwise.looks().grad.title));
  assert.deepEqual(await labels('loss'), ['loss (raw)', 'loss', 'held-out']);
  assert.deepEqual(errors, []);
  await page.close();
});

test('loss smoothing: an EMA (debiased, as TensorBoard) over the raw loss kept faint; 0 shows the raw loss', async () => {
  const run = cli('run', join(ROOT, 'examples', 'dying-relu.mlp.json'), '--json', '--steps', '50');
  const raw = run.events.filter((e) => e.type === 'step').map((e) => e.loss);
  const { page, errors } = await openPage(1000, 1200);
  await feed(page, [
    { type: 'reset', mode: 'run', title: 'dying-relu — training', series: ['run'], clipMax: null },
    ...run.events.map((e) => ({ type: 'events', series: 'run', events: [e] })),
  ]);
  const sets = () =>
    page.evaluate(() =>
      window.__layerwise.chartOf('loss').data.datasets.map((d) => ({ label: d.label, y: d.data.map((p) => p.y) })),
    );
  // the default weight 0.6
  let ds = await sets();
  assert.deepEqual(
    ds.map((d) => d.label),
    ['loss (raw)', 'loss'],
  );
  assert.deepEqual(ds[0].y, raw);
  let m = 0;
  const want = raw.map((v, i) => ((m = 0.6 * m + 0.4 * v), m / (1 - 0.6 ** (i + 1))));
  ds[1].y.forEach((y, i) =>
    assert.ok(Math.abs(y - want[i]) <= 1e-12 * Math.abs(want[i]), `point ${i}: ${y} vs ${want[i]}`),
  );
  assert.equal(ds[1].y[0], raw[0], 'debiased: the first point is the first loss');
  // the slider: 0 → the raw loss alone
  await page.$eval('#loss-smoothing', (el) => {
    el.value = '0';
    el.dispatchEvent(new Event('input'));
  });
  await page.waitForFunction(() => window.__layerwise.chartOf('loss').data.datasets.length === 1);
  ds = await sets();
  assert.deepEqual(ds[0].y, raw);
  // kept across a reload
  await page.reload();
  await page.waitForFunction(() => window.__layerwise);
  assert.equal(await page.$eval('#loss-smoothing', (el) => el.value), '0');
  assert.deepEqual(errors, []);
  await page.close();
});

test('a streaming run: drawn at most 4 times a second, its state saved at most every 2 s; a choice saved at once, the rest as the page goes', async () => {
  const run = cli('run', join(ROOT, 'examples', 'dying-relu.mlp.json'), '--json', '--steps', '240');
  const { page, errors } = await openPage();
  await feed(page, [{ type: 'reset', mode: 'run', title: 'dying-relu — training', series: ['run'], clipMax: null }]);
  const at = () => page.evaluate(() => ({ saves: window.__saves, renders: window.__layerwise.renders() }));
  const before = await at();
  const t0 = Date.now();
  // 48 posts of 5 events, 25 ms apart (as the host posts a fast run)
  for (let i = 0; i < run.events.length; i += 5) {
    await page.evaluate(
      (es) => window.postMessage({ type: 'events', series: 'run', events: es }, '*'),
      run.events.slice(i, i + 5),
    );
    await page.waitForTimeout(25);
  }
  const ms = Date.now() - t0;
  const after = await at();
  const renders = after.renders - before.renders,
    saves = after.saves - before.saves;
  assert.ok(renders >= 2 && renders <= ms / 250 + 2, `${renders} renders in ${ms} ms`);
  assert.ok(saves >= 1 && saves <= ms / 2000 + 2, `${saves} saves in ${ms} ms`);
  await page.waitForFunction(() => window.__layerwise.pointCounts().loss === 240);
  // a choice of the user's: saved at once
  const s0 = (await at()).saves;
  await page.$eval('#loss-smoothing', (el) => {
    el.value = '0';
    el.dispatchEvent(new Event('input'));
  });
  assert.equal((await at()).saves, s0 + 1);
  assert.equal(JSON.parse(await page.evaluate(() => sessionStorage.getItem('state'))).state.smoothing, 0);
  // more data, then the page goes before the next save is due: what it drew is kept
  await page.evaluate(() => window.postMessage({ type: 'status', running: false }, '*'));
  const counts0 = await counts(page);
  await page.reload();
  await page.waitForFunction(() => window.__layerwise);
  assert.deepEqual(await counts(page), counts0, 'restored from the state saved as the page went');
  assert.deepEqual(errors, []);
  await page.close();
});

test('a comparison shows every init in every chart, one legend entry each, and ends with a verdict', async () => {
  const files = {
    xavier_uniform: join(ROOT, 'examples', 'deep-relu-xavier.mlp.json'),
    he_normal: join(ROOT, 'examples', 'deep-relu-he.mlp.json'),
    'pytorch default': deepReluPytorch(),
  };
  const series = Object.fromEntries(
    Object.entries(files).map(([s, f]) => [s, cli('run', f, '--json', '--steps', '40').events]),
  );
  const analyses = Object.fromEntries(Object.entries(files).map(([s, f]) => [s, cli('analyze', f, '--json').events]));
  const { page, errors } = await openPage(1000, 1600);
  await feed(page, [
    {
      type: 'reset',
      mode: 'compare',
      title: 'deep-relu — compare initializations',
      series: Object.keys(series),
      clipMax: null,
    },
    ...Object.entries(analyses).map(([s, ev]) => ({
      type: 'events',
      series: s,
      events: ev.filter((e) => e.type !== 'warning'),
    })),
    ...Object.entries(series).flatMap(([s, ev]) =>
      ev.filter((e) => e.type !== 'warning').map((e) => ({ type: 'events', series: s, events: [e] })),
    ),
  ]);
  await page.waitForFunction(() => !document.getElementById('verdict').hidden);
  const looks = await page.evaluate(() => window.__layerwise.looks());
  for (const k of ['variance', 'loss', 'grad', 'deadNow', 'deadSteps', 'update']) {
    assert.deepEqual(
      looks[k].legend.map((l) => l.text),
      ['xavier_uniform', 'he_normal', 'pytorch default'],
      `${k}: ${JSON.stringify(looks[k].legend)}`,
    );
    // every legend alike: under its chart, in the charts' small type (the update ratio's was Chart.js's default)
    assert.deepEqual([looks[k].legendAt, looks[k].legendFont], ['bottom', 10], k);
  }
  // the variance plot keeps the height it has in a run (a long legend squeezed it to a third)
  const h = await page.evaluate(() => window.__layerwise.chartOf('variance').chartArea.height);
  const verdict = await page.$$eval('#verdict li', (lis) => lis.map((li) => li.textContent));
  assert.equal(verdict.length, 3);
  assert.match(
    verdict[0],
    /^xavier_uniform: loss \S+ at step 39; signal \S+ of the input's variance at layer \d+ at init$/,
  );
  assert.match(verdict[1], /^✓ he_normal: loss \S+ at step 39; signal kept to layer 30 at init$/);
  // PyTorch's default: Var(z) held by the biases' spread, ~1/(2.5·64) of the input's by layer 2
  assert.match(
    verdict[2],
    /^pytorch default: loss \S+ at step 39; signal \S+ of the input's variance at layer [12] at init$/,
  );
  assert.deepEqual(
    looks.sharpness.legend.map((l) => l.text),
    ['xavier_uniform', 'he_normal', 'pytorch default', 'divergence threshold'],
  );
  // a run's distributions are not drawn in a comparison
  assert.equal(await page.$eval('#chart-distribution', (el) => el.hidden), true);
  await page.screenshot({ path: join(SHOTS, 'webview-compare.png'), fullPage: true });
  // not in a run, whose variance plot is as high
  await feed(page, [
    { type: 'reset', mode: 'run', title: 'run', series: ['run'], clipMax: null },
    ...series.he_normal.map((e) => ({ type: 'events', series: 'run', events: [e] })),
  ]);
  assert.equal(await page.$eval('#verdict', (el) => el.hidden), true);
  const hRun = await page.evaluate(() => window.__layerwise.chartOf('variance').chartArea.height);
  assert.ok(h >= 0.9 * hRun, `variance plot ${h} px high in the comparison, ${hRun} px in a run`);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a PyTorch log pooled before its head: Var(∂z) over the last layer with the same rows, as the warnings judge it', async () => {
  const layer = (index, g, rows) => ({
    index,
    preact: { mean: 0, var: 1 },
    act: { mean: 0, var: 0.5 },
    grad: { mean: 0, var: g },
    dead: null,
    weight: { mean: 0, var: 0.1 },
    weightGrad: { norm: 0.1, var: 1e-4 },
    biasGrad: { norm: 0.01 },
    updateRatio: 1e-3,
    ...(rows === undefined ? {} : { rows }),
  });
  const start = {
    type: 'start',
    model: 'Pooled',
    parameters: 100,
    steps: 0,
    clip: null,
    source: 'pytorch',
    worldSize: 1,
    layers: [0, 1, 2].map((index) => ({
      index,
      units: 8,
      activation: index === 2 ? 'linear' : 'relu',
      init: 'pytorch',
      fanIn: 8,
      fanOut: 8,
    })),
  };
  const step = (rows) => ({
    type: 'step',
    step: 0,
    loss: 1,
    inputVar: 1,
    gradNorm: 1,
    gradNormClipped: 1,
    clipped: false,
    samples: 512,
    layers: [layer(0, 1e-8), layer(1, 4e-8), layer(2, 1e-3, rows)],
  });
  const drawn = async (rows) => {
    const { page, errors } = await openPage();
    await feed(page, [
      { type: 'reset', mode: 'run', title: 'pooled — training log', series: ['run'], clipMax: null },
      { type: 'events', series: 'run', events: [start, step(rows)] },
    ]);
    const ds = await page.evaluate(() =>
      window.__layerwise
        .chartOf('variance')
        .data.datasets.filter((d) => d.label.startsWith('Var(∂z)'))
        .map((d) => ({ label: d.label, y: d.data.map((p) => p.y) })),
    );
    assert.deepEqual(errors, []);
    await page.close();
    return ds;
  };
  // 16 tokens of 32 sequences below the pooling, the head on the 32 sequences
  const [pooled] = await drawn(32);
  assert.equal(pooled.label, 'Var(∂z) ÷ last layer, same rows');
  assert.deepEqual(
    pooled.y.map((y) => Number(y.toPrecision(6))),
    [0.25, 1, 1],
  );
  const [flat] = await drawn(undefined);
  assert.equal(flat.label, 'Var(∂z) ÷ output');
  assert.deepEqual(
    flat.y.map((y) => Number(y.toPrecision(6))),
    [1e-5, 4e-5, 1],
  );
});
