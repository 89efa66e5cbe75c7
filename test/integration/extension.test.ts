/**
 * The extension in real VS Code (code-server 4.100.3 here, desktop VS Code through
 * @vscode/test-electron elsewhere): activation, every command, the side panel following the
 * active editor, diagnostics at the right ranges, quick fixes changing the file, a run streaming
 * to the panel and stopping, no worker left behind.
 */
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { LayerwiseApi } from '../../src/extension/extension';

const WS = vscode.workspace.workspaceFolders![0]!.uri.fsPath;
const file = (...p: string[]): vscode.Uri => vscode.Uri.file(path.join(WS, ...p));

async function until<T>(
  what: string,
  f: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  ms = 20000,
): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function api(): Promise<LayerwiseApi> {
  const ext = vscode.extensions.all.find((e) => e.packageJSON.name === 'layerwise')!;
  assert.ok(ext, 'the extension is installed');
  if (process.env.LAYERWISE_TEST_VSIX)
    assert.ok(
      !fs.existsSync(path.join(ext.extensionPath, 'src')),
      `in the vsix tier, Layerwise comes from the installed package, not ${ext.extensionPath}`,
    );
  return (ext.isActive ? ext.exports : await ext.activate()) as LayerwiseApi;
}

async function open(uri: vscode.Uri): Promise<vscode.TextEditor> {
  const doc = await vscode.workspace.openTextDocument(uri);
  return vscode.window.showTextDocument(doc);
}

/** Reverts a document's unsaved changes, whatever editor is active. */
async function revert(uri: vscode.Uri): Promise<void> {
  await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(uri));
  await vscode.commands.executeCommand('workbench.action.files.revert');
  assert.equal((await vscode.workspace.openTextDocument(uri)).isDirty, false, `${uri.fsPath} reverted`);
}

/** The quick fixes VS Code offers for a range of a file. */
function quickFixes(uri: vscode.Uri, range: vscode.Range): Thenable<vscode.CodeAction[]> {
  return vscode.commands.executeCommand<vscode.CodeAction[]>(
    'vscode.executeCodeActionProvider',
    uri,
    range,
    vscode.CodeActionKind.QuickFix.value,
  );
}

function ours(uri: vscode.Uri): vscode.Diagnostic[] {
  return vscode.languages.getDiagnostics(uri).filter((d) => d.source === 'layerwise');
}

suite('Layerwise in VS Code', () => {
  suiteSetup(async () => {
    await open(file('examples', 'quick.mlp.json'));
    await api();
  });

  test('activates and contributes every command', async () => {
    const all = await vscode.commands.getCommands(true);
    for (const c of [
      'analyze',
      'startRun',
      'stopRun',
      'compareInits',
      'newModel',
      'openPanel',
      'exportReport',
      'openLog',
      'showLog',
      'compareLogs',
    ])
      assert.ok(all.includes(`layerwise.${c}`), c);
    // the Getting Started walkthrough: its buttons run registered commands (a view's focus too), and it opens
    const manifest = vscode.extensions.getExtension('layerwise.layerwise')!.packageJSON as {
      contributes: { walkthroughs: { id: string; steps: { description: string }[] }[] };
    };
    const [walk] = manifest.contributes.walkthroughs;
    const links = walk!.steps.flatMap((s) => [...s.description.matchAll(/\(command:([\w.]+)\)/g)].map((m) => m[1]!));
    assert.ok(links.includes('layerwise.sidePanel.focus'));
    for (const c of links) assert.ok(all.includes(c), c);
    await vscode.commands.executeCommand('workbench.action.openWalkthrough', `layerwise.layerwise#${walk!.id}`, false);
    await until('the walkthrough open', () =>
      /welcome|walkthrough/i.test(vscode.window.tabGroups.activeTabGroup.activeTab?.label ?? ''),
    ).catch((e: Error) => {
      throw new Error(`${e.message}: ${vscode.window.tabGroups.activeTabGroup.activeTab?.label}`);
    });
    await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
  });

  test('the side panel follows the active model file and draws its analysis', async () => {
    const a = await api();
    await vscode.commands.executeCommand('workbench.view.extension.layerwise');
    await until('the side view', () => a.sideView.channel);
    await open(file('examples', 'deep-relu-xavier.mlp.json'));
    const r = await until('analysis of deep-relu-xavier', () =>
      a.analysisService.results.get(file('examples', 'deep-relu-xavier.mlp.json').toString()),
    );
    assert.equal(r.analysis?.layers.length, 31);
    await until('the variance chart drawn in the side view', () => (a.sideView.channel?.drawn.variance ?? 0) >= 31 * 3);
    await open(file('examples', 'quick.mlp.json'));
    await until('the side view switched to quick (3 layers)', () => a.sideView.channel?.drawn.variance === 3 * 5);
  });

  test('init mismatch diagnostics sit on each layer\'s "init" value, and the quick fix changes the file', async () => {
    const uri = file('examples', 'deep-relu-xavier.mlp.json');
    const ed = await open(uri);
    const diags = await until('init_mismatch diagnostics', () => {
      const d = ours(uri).filter((x) => x.code === 'init_mismatch');
      return d.length === 30 && d;
    });
    const sorted = diags.sort((x, y) => x.range.start.line - y.range.start.line);
    const first = sorted[0]!;
    assert.equal(ed.document.getText(first.range), '"xavier_uniform"');
    // one Problem per layer, each naming its own layer, and the scheme the preferred fix sets
    assert.match(sorted[3]!.message, /^Layer 3 \(one of layers 0–29\):.*Fix: Set "init": "he_uniform" on layer 3 /);
    assert.equal(new Set(sorted.map((d) => d.message)).size, 30);
    const actions = await quickFixes(uri, first.range);
    const fix = actions.find((x) => x.isPreferred);
    assert.ok(
      fix?.edit && fix.title.includes('he_uniform'),
      `the preferred fix: ${actions.map((x) => x.title).join('; ')}`,
    );
    assert.ok(
      actions.some((x) => x.title === 'Fix all init mismatches in this file (30 layers)'),
      actions.map((x) => x.title).join('; '),
    );
    assert.ok(await vscode.workspace.applyEdit(fix.edit));
    assert.equal(ed.document.getText(ed.document.lineAt(first.range.start.line).range).includes('"he_uniform"'), true);
    await until(
      'the fixed layer has no init_mismatch',
      () => ours(uri).filter((x) => x.code === 'init_mismatch').length === 29,
    );
    // the source action fixes the other 29 in one edit
    const all = await vscode.commands.executeCommand<vscode.CodeAction[]>(
      'vscode.executeCodeActionProvider',
      uri,
      new vscode.Range(0, 0, 0, 0),
      'source.fixAll.layerwise',
    );
    const fixAll = all.find((x) => x.title === 'Fix all init mismatches in this file (29 layers)');
    assert.ok(fixAll?.edit, all.map((x) => x.title).join('; '));
    assert.ok(await vscode.workspace.applyEdit(fixAll.edit));
    await until('no init_mismatch left', () => ours(uri).filter((x) => x.code === 'init_mismatch').length === 0);
    assert.equal((ed.document.getText().match(/"he_uniform"/g) ?? []).length, 30);
    await revert(uri);
  });

  test('model-file errors at the exact range, updated as the user types; reported once, completed from the schema', async () => {
    const uri = file('broken.mlp.json');
    fs.writeFileSync(
      uri.fsPath,
      '{\n  "input": { "size": 4 },\n  "layers": [\n    { "units": 8, "activation": "rleu", "unts": 2 },\n    { "units": 3 }\n  ],\n  "loss": "cross_entropy"\n}\n',
    );
    const ed = await open(uri);
    const err = await until('the activation error', () =>
      ours(uri).find((d) => d.severity === vscode.DiagnosticSeverity.Error),
    );
    assert.equal(ed.document.getText(err.range), '"rleu"');
    assert.match(err.message, /did you mean "relu"/);
    assert.ok(
      ours(uri).some(
        (d) => d.severity === vscode.DiagnosticSeverity.Warning && ed.document.getText(d.range) === '"unts"',
      ),
    );
    // the editor's JSON language server has the schema (it completes the allowed values and
    // hovers the descriptions) and reports nothing of its own: each mistake is reported once
    const inValue = ed.document.positionAt(ed.document.getText().indexOf('"rleu"') + 2);
    await until('the JSON language server completing the activation from the schema', async () => {
      const list = await vscode.commands.executeCommand<vscode.CompletionList>(
        'vscode.executeCompletionItemProvider',
        uri,
        inValue,
      );
      return list.items.some((i) => /^"?relu"?$/.test(typeof i.label === 'string' ? i.label : i.label.label));
    });
    const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', uri, inValue);
    assert.ok(
      hovers.some((h) => h.contents.some((c) => /z for z≥0, αz for z<0/.test(typeof c === 'string' ? c : c.value))),
      `the schema's description on hover: ${JSON.stringify(hovers.map((h) => h.contents.map((c) => (typeof c === 'string' ? c : c.value))))}`,
    );
    await new Promise((r) => setTimeout(r, 2000));
    const all = vscode.languages.getDiagnostics(uri);
    assert.deepEqual(
      all.filter((d) => d.source !== 'layerwise').map((d) => `${d.source}: ${d.message}`),
      [],
      'nothing reported twice',
    );
    // the typo's quick fix: the suggestion, and nothing that would change nothing
    const actions = await quickFixes(uri, err.range);
    const ours_ = actions.filter((x) => x.title.startsWith('Change ') || x.title.startsWith('Use '));
    assert.deepEqual(
      ours_.map((x) => x.title),
      ['Change "rleu" to "relu"'],
    );
    assert.ok(await vscode.workspace.applyEdit(ours_[0]!.edit!));
    assert.match(ed.document.getText(), /"activation": "relu", "unts"/);
    await until(
      'the error gone after the edit',
      () => !ours(uri).some((d) => d.severity === vscode.DiagnosticSeverity.Error),
    );
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
  });

  test('a run streams to the run panel and stops on Stop; no worker is left behind', async () => {
    const a = await api();
    await open(file('examples', 'deep-relu-he.mlp.json'));
    // the side view follows it, even with other files' analyses in flight
    await until(
      'the side view on deep-relu-he',
      () =>
        a.analysisService.followed === file('examples', 'deep-relu-he.mlp.json').toString() &&
        a.analysisService.results.has(file('examples', 'deep-relu-he.mlp.json').toString()),
    );
    const done = vscode.commands.executeCommand<{ outcome: string; steps: number }>('layerwise.startRun', undefined, {
      steps: 1000000,
    });
    await until(
      'the run panel drawing the loss',
      () =>
        (a.runPanel.current?.drawn.loss ?? 0) > 5 &&
        (a.runPanel.current?.drawn.grad ?? 0) > 5 &&
        (a.runPanel.current?.drawn.deadNow ?? 0) > 0,
    );
    // predicted (31 layers) beside measured Var(z), Var(a), Var(∂W), Var(∂z) ÷ output at the latest step
    assert.equal(a.runPanel.current?.drawn.variance, 31 * 5);
    assert.equal(a.runs.running, true);
    await vscode.commands.executeCommand('layerwise.stopRun');
    const r = await done;
    assert.equal(r.outcome, 'stopped');
    assert.ok(r.steps > 0);
    // the native products where the package has them and the CPU runs them (scripts/vscode-test.mjs)
    const want =
      process.env.LAYERWISE_TEST_KERNELS === 'native' ? 'native-avx512+wasm-relaxed-simd' : 'wasm-relaxed-simd';
    assert.equal((r as { kernels?: string }).kernels, want, 'the kernels the start event names');
    await until('no live worker', () => a.liveWorkers() === 0);
    // the panel acknowledged every post (the host's flow control: a lost ack would leave one in flight)
    await until('every post acknowledged', () => a.runPanel.current?.postsInFlight === 0);
    assert.equal(a.runPanel.isOpen, true, 'the panel stays open');
  });

  test('layerwise.threads = "2", kernels = "wasm": a run splits its batches over two threads on WebAssembly, no worker left', async () => {
    const a = await api();
    const config = vscode.workspace.getConfiguration('layerwise');
    await config.update('threads', '2', vscode.ConfigurationTarget.Global);
    await config.update('kernels', 'wasm', vscode.ConfigurationTarget.Global);
    try {
      await open(file('examples', 'deep-relu-he.mlp.json'));
      const r = await vscode.commands.executeCommand<{ outcome: string; steps: number; threads: number }>(
        'layerwise.startRun',
        undefined,
        { steps: 50 },
      );
      assert.equal(r.outcome, 'completed');
      assert.equal(r.steps, 50);
      assert.equal(r.threads, 2, 'the start event says two threads');
      assert.equal((r as { kernels?: string }).kernels, 'wasm-relaxed-simd', 'and WebAssembly, as set');
      await until('no live worker', () => a.liveWorkers() === 0);
    } finally {
      await config.update('threads', undefined, vscode.ConfigurationTarget.Global);
      await config.update('kernels', undefined, vscode.ConfigurationTarget.Global);
    }
  });

  test('editing the model during a run: the run goes on with its snapshot, analysis follows the edit', async () => {
    const a = await api();
    const uri = file('examples', 'quick.mlp.json');
    const ed = await open(uri);
    const done = vscode.commands.executeCommand<{ outcome: string; steps: number }>('layerwise.startRun', undefined, {
      steps: 1000000,
    });
    await until('the run streaming', () => (a.runPanel.current?.drawn.loss ?? 0) > 3);
    const edited = await ed.edit((e) => {
      const at = ed.document.getText().indexOf('"units": 64');
      e.replace(
        new vscode.Range(ed.document.positionAt(at), ed.document.positionAt(at + '"units": 64'.length)),
        '"units": 48',
      );
    });
    assert.ok(edited);
    const version = ed.document.version;
    const r = await until('the analysis of the edited text', () => {
      const x = a.analysisService.results.get(uri.toString());
      return x && x.version === version && x;
    });
    assert.equal(r.analysis?.layers[0]?.fanOut, 48, 'analysis sees the edit');
    assert.equal(a.runs.running, true, 'the run is unaffected');
    const lenses = await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', uri);
    assert.equal(lenses.length, 3);
    assert.match(lenses[0]!.command!.title, /^Var\(z\) [\d.]+ \(×[\d.]+ vs\. inputs\)/);
    await vscode.commands.executeCommand('layerwise.stopRun');
    assert.equal((await done).outcome, 'stopped');
    await until('no live worker', () => a.liveWorkers() === 0);
    await revert(uri);
  });

  test('a run that blows up ends non_finite, marks learningRate, and the quick fix lowers it', async () => {
    const uri = file('blowup', 'model.mlp.json');
    const ed = await open(uri);
    const r = await vscode.commands.executeCommand<{ outcome: string }>('layerwise.startRun');
    assert.equal(r.outcome, 'non_finite');
    const d = await until('the non_finite diagnostic', () => ours(uri).find((x) => x.code === 'non_finite'));
    assert.equal(ed.document.getText(d.range), '50.0');
    const actions = await quickFixes(uri, d.range);
    // the quick fix sets the one learning rate the warning names (the analysis's sharpness
    // warning sits on this value too, with its own)
    const named = Number(/learningRate to ([0-9.]+(?:e[-+]?[0-9]+)?)/.exec(d.message)![1]);
    const fix = actions.find((x) => x.isPreferred && x.title === `Lower the learning rate to ${named}`)!;
    assert.ok(fix, actions.map((x) => x.title).join('; '));
    assert.ok(named > 0 && named < 50, d.message);
    assert.ok(await vscode.workspace.applyEdit(fix.edit!));
    const set = Number(/"learningRate": ([0-9.e+-]+),/.exec(ed.document.getText())![1]);
    assert.ok(Math.abs(set - named) <= 1e-6 * named, `${set} vs ${named}`);
    await revert(uri);
  });

  test('a deep net of narrow layers: the analysis flags what its batch measures, and offers no init change that changes nothing', async () => {
    // 200 tanh layers of 16 units with xavier_normal: the mean field keeps the signal, the batch
    // loses it by layer 35 (with this seed's init: the layer-to-layer fluctuations are random)
    const uri = file('narrow.mlp.json');
    const hidden = Array.from(
      { length: 200 },
      () => '    { "units": 16, "activation": "tanh", "init": "xavier_normal" }',
    );
    fs.writeFileSync(
      uri.fsPath,
      `{\n  "seed": 1,\n  "input": { "size": 8 },\n  "layers": [\n${hidden.join(',\n')},\n    { "units": 3, "activation": "linear", "init": "xavier_uniform" }\n  ],\n  "loss": "cross_entropy",\n  "data": { "source": "synthetic", "samples": 256, "inputStd": 1.0, "task": "classification", "classes": 3 },\n  "training": { "optimizer": "sgd", "learningRate": 0.01, "batchSize": 32, "steps": 10 }\n}\n`,
    );
    const ed = await open(uri);
    const d = await until('the measured vanishing_forward Problem', () =>
      ours(uri).find((x) => x.code === 'vanishing_forward'),
    );
    assert.match(d.message, /on one batch at init, where the mean-field prediction \(for wide layers\) is /);
    assert.match(d.message, /Make the layers wider/);
    assert.equal(ed.document.getText(d.range), '"xavier_normal"');
    const actions = await quickFixes(uri, d.range);
    assert.deepEqual(
      actions.filter((x) => / init on layer /.test(x.title)).map((x) => x.title),
      [],
      'xavier_uniform has the variance xavier_normal has: no fix',
    );
    await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
    fs.unlinkSync(uri.fsPath);
  });

  test("a layer held dead by a negative bias: its quick fix, and the vanishing signal's above it, set its bias to 0", async () => {
    const uri = file('negbias.mlp.json');
    fs.writeFileSync(
      uri.fsPath,
      '{\n  "input": { "size": 10 },\n  "layers": [\n    { "units": 32, "activation": "relu", "init": "he_normal", "bias": -4 },\n    { "units": 32, "activation": "relu", "init": "he_normal" },\n    { "units": 3, "activation": "linear", "init": "xavier_uniform" }\n  ],\n  "loss": "cross_entropy",\n  "data": { "source": "synthetic", "samples": 256, "inputStd": 1.0, "task": "classification", "classes": 3 },\n  "training": { "optimizer": "sgd", "learningRate": 0.05, "batchSize": 32, "steps": 5 }\n}\n',
    );
    const ed = await open(uri);
    const r = await vscode.commands.executeCommand<{ outcome: string }>('layerwise.startRun');
    assert.equal(r.outcome, 'completed');
    const d = await until('the dying_relu diagnostic', () => ours(uri).find((x) => x.code === 'dying_relu'));
    assert.match(d.message, /Set "bias": 0 on layer 0 \(its -4 holds the pre-activations below 0\)/);
    const actions = await quickFixes(uri, d.range);
    const fix = actions.find((x) => x.isPreferred);
    assert.equal(fix?.title, "Set layer 0's bias to 0", actions.map((x) => x.title).join('; '));
    assert.ok(actions.some((x) => !x.isPreferred && x.title === 'Switch layer 0 to leaky_relu'));
    // the signal vanishing above it names that layer's fix, and its quick fix is the same
    const v = await until('the vanishing_forward diagnostic', () =>
      ours(uri).find((x) => x.code === 'vanishing_forward'),
    );
    assert.match(v.message, /Layer 0's \d+ dead units \(of 32\) pass no signal to the layers above it: set "bias": 0/);
    const vActions = await quickFixes(uri, v.range);
    assert.equal(
      vActions.find((x) => x.isPreferred)?.title,
      "Set layer 0's bias to 0",
      vActions.map((x) => x.title).join('; '),
    );
    assert.ok(await vscode.workspace.applyEdit(fix!.edit!));
    assert.match(ed.document.getText(), /"init": "he_normal", "bias": 0 \}/);
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
    fs.unlinkSync(uri.fsPath);
  });

  test('a vanishing gradient below a dying layer: the Problem names that layer, its quick fix switches it to leaky_relu', async () => {
    const uri = file('examples', 'dying-relu.mlp.json');
    const ed = await open(uri);
    const r = await vscode.commands.executeCommand<{ outcome: string }>('layerwise.startRun');
    assert.equal(r.outcome, 'completed');
    const d = await until('the vanishing_gradient diagnostic', () =>
      ours(uri).find((x) => x.code === 'vanishing_gradient'),
    );
    const j = Number(/Layer (\d+)'s \d+ dead units/.exec(d.message)?.[1]);
    assert.equal(j, 1, d.message);
    const actions = await quickFixes(uri, d.range);
    const fix = actions.find((x) => x.isPreferred && x.title === 'Switch layer 1 to leaky_relu');
    assert.ok(fix, actions.map((x) => x.title).join('; '));
    assert.ok(await vscode.workspace.applyEdit(fix.edit!));
    const text = ed.document.getText();
    const layers = text.slice(text.indexOf('"layers"'));
    assert.match(layers, /"relu"[^]*"leaky_relu"[^]*"linear"/);
    await revert(uri);
  });

  test('a run that overfits: the overfitting Problem sits on training.steps, and its quick fix stops at the lowest held-out loss', async () => {
    const uri = file('examples', 'overfit.mlp.json');
    const ed = await open(uri);
    const r = await vscode.commands.executeCommand<{ outcome: string }>('layerwise.startRun');
    assert.equal(r.outcome, 'completed');
    const d = await until('the overfitting diagnostic', () => ours(uri).find((x) => x.code === 'overfitting'));
    assert.equal(ed.document.getText(d.range), '600');
    const n = Number(/set training\.steps to (\d+)/.exec(d.message)![1]);
    const actions = await quickFixes(uri, d.range);
    const fix = actions.find((x) => x.isPreferred && x.title === `Stop at step ${n - 1} (training.steps ${n})`);
    assert.ok(fix, actions.map((x) => x.title).join('; '));
    assert.ok(await vscode.workspace.applyEdit(fix.edit!));
    assert.match(ed.document.getText(), new RegExp(`"steps": ${n} \\}`));
    await revert(uri);
  });

  test('compare initializations runs five inits side by side', async () => {
    const a = await api();
    await open(file('examples', 'quick.mlp.json'));
    const outcomes = await vscode.commands.executeCommand<string[]>('layerwise.compareInits', undefined, { steps: 30 });
    assert.deepEqual(outcomes, ['completed', 'completed', 'completed', 'completed', 'completed']);
    assert.deepEqual(a.runPanel.current?.lastReset?.series, [
      'xavier_uniform',
      'he_normal',
      'lecun_normal',
      'pytorch default',
      'file init',
    ]);
    await until('five loss curves drawn', () => (a.runPanel.current?.drawn.loss ?? 0) >= 5 * 25);
    assert.equal(a.liveWorkers(), 0);
    // a file whose init is one of the schemes compared: no duplicate "file init" line
    await open(file('examples', 'deep-relu-xavier.mlp.json'));
    const four = await vscode.commands.executeCommand<string[]>('layerwise.compareInits', undefined, { steps: 10 });
    assert.deepEqual(four, ['completed', 'completed', 'completed', 'completed']);
    assert.deepEqual(a.runPanel.current?.lastReset?.series, [
      'xavier_uniform',
      'he_normal',
      'lecun_normal',
      'pytorch default',
    ]);
    await until('four loss curves in every step chart', () => {
      const d = a.runPanel.current?.drawn;
      return d && d.loss === 40 && d.grad === 40 && d.deadSteps === 40;
    });
  });

  test('new model file from a template, and export report of the last run', async () => {
    const uri = file('new-model.mlp.json');
    const made = await vscode.commands.executeCommand<vscode.Uri>('layerwise.newModel', uri, 'relu-classifier');
    assert.equal(made?.fsPath, uri.fsPath);
    assert.match(fs.readFileSync(uri.fsPath, 'utf8'), /"he_normal"/);
    const a = await api();
    await until('analysis of the new file', () => a.analysisService.results.get(uri.toString()));
    assert.deepEqual(
      ours(uri).filter((d) => d.severity === vscode.DiagnosticSeverity.Error),
      [],
    );
    await vscode.commands.executeCommand('layerwise.startRun', undefined, { steps: 20 });
    const report = file('report.html');
    await vscode.commands.executeCommand('layerwise.exportReport', report);
    const html = fs.readFileSync(report.fsPath, 'utf8');
    assert.match(html, /Content-Security-Policy/);
    assert.match(html, /"type":"step"/);
  });

  test('every run is kept and listed in the Runs view; kept runs overlaid in the run panel, one taken off, in the report', async () => {
    const a = await api();
    const uri = file('kept.mlp.json');
    fs.writeFileSync(uri.fsPath, fs.readFileSync(file('examples', 'quick.mlp.json').fsPath, 'utf8'));
    await open(uri);
    const before = a.kept.list().length;
    assert.equal(before, 0, 'a new file has no kept runs');
    await vscode.commands.executeCommand('layerwise.startRun', undefined, { steps: 40 });
    await vscode.commands.executeCommand('layerwise.startRun', undefined, { steps: 60 });
    const kept = a.kept.list();
    assert.deepEqual(
      kept.map((r) => [r.steps, r.outcome]),
      [
        [60, 'completed'],
        [40, 'completed'],
      ],
      'newest first',
    );
    // the Runs view's items: date, steps and outcome, a checkbox to overlay
    const item = a.kept.getTreeItem(a.kept.getChildren()[1]!);
    assert.match(String(item.description), /^40 steps · completed · loss [\d.]+$/);
    assert.equal(item.checkboxState, vscode.TreeItemCheckboxState.Unchecked);
    // the last run is in the panel; overlay the first: two lines in the loss, ‖g‖ and dead charts
    const alone = await until('the last run drawn', () => {
      const d = a.runPanel.current?.drawn;
      return d && d.loss === 60 && d;
    }).catch((e) => {
      throw new Error(`${e.message}: ${JSON.stringify(a.runPanel.current?.drawn)}`);
    });
    assert.ok(await vscode.commands.executeCommand<boolean>('layerwise.overlayRun', kept[1]!.id));
    await until('the kept run overlaid', () => a.runPanel.current?.drawn.loss === 100).catch((e) => {
      throw new Error(`${e.message}: ${JSON.stringify(a.runPanel.current?.drawn)} vs ${JSON.stringify(alone)}`);
    });
    // per run now: one ‖g‖ line and one dead-units line each (the run alone had ‖g‖ before and after clipping)
    assert.equal(alone.grad, 120);
    assert.equal(a.runPanel.current!.drawn.grad, 100);
    assert.equal(a.runPanel.current!.drawn.deadSteps, 100);
    assert.equal(a.kept.getTreeItem(kept[1]!).checkboxState, vscode.TreeItemCheckboxState.Checked);
    // a new run keeps the overlay
    await vscode.commands.executeCommand('layerwise.startRun', undefined, { steps: 30 });
    await until('the new run with the overlay', () => a.runPanel.current?.drawn.loss === 70);
    // Export Report takes the overlay
    const report = file('overlay-report.html');
    await vscode.commands.executeCommand('layerwise.exportReport', report);
    assert.match(fs.readFileSync(report.fsPath, 'utf8'), /\(40 steps\)"/);
    // taken off, then forgotten
    await vscode.commands.executeCommand('layerwise.removeOverlay', kept[1]!.id);
    await until('the overlay taken off', () => a.runPanel.current?.drawn.loss === 30);
    // closing the run panel takes every overlay with it: the Runs view unchecks them
    assert.ok(await vscode.commands.executeCommand<boolean>('layerwise.overlayRun', kept[1]!.id));
    assert.ok(a.kept.isOverlaid(kept[1]!.id));
    a.runPanel.reveal();
    await until('the run panel active', () => vscode.window.tabGroups.activeTabGroup.activeTab?.label === 'Layerwise');
    await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
    await until('the run panel closed', () => !a.runPanel.isOpen);
    assert.equal(a.kept.isOverlaid(kept[1]!.id), false);
    assert.equal(a.kept.getTreeItem(kept[1]!).checkboxState, vscode.TreeItemCheckboxState.Unchecked);
    await vscode.commands.executeCommand('layerwise.deleteRun', kept[1]!.id);
    assert.deepEqual(
      a.kept.list().map((r) => r.steps),
      [30, 60],
    );
    await until('no live worker', () => a.liveWorkers() === 0);
  });

  test("a PyTorch warning's click opens the line that creates its layer's module; a file not here is said", async () => {
    const a = await api();
    const src = path.join(WS, 'examples', 'pytorch', 'train_mlp.py');
    a.onWebviewMessage({ type: 'revealSource', file: src, line: 30 });
    const ed = await until("the module's line open", () => {
      const e = vscode.window.activeTextEditor;
      return e?.document.uri.fsPath === src && e.selection.active.line === 29 && e;
    });
    assert.match(ed.document.lineAt(29).text, /nn\.Linear\(/);
    // a log written elsewhere (another machine's checkout): the workspace's file of that path's end
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    a.onWebviewMessage({ type: 'revealSource', file: '/cluster/u/proj/examples/pytorch/train_mlp.py', line: 36 });
    await until('the same file here, at its line', () => {
      const e = vscode.window.activeTextEditor;
      return e?.document.uri.fsPath === src && e.selection.active.line === 35;
    });
    a.onWebviewMessage({ type: 'revealSource', file: path.join(WS, 'no-such-model.py'), line: 3 });
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(vscode.window.activeTextEditor?.document.uri.fsPath, src, 'nothing else opened');
  });

  test("a PyTorch log shown in the panel puts each layer's statistics above the line of Python that creates it", async () => {
    const a = await api();
    const py = file('models', 'lensnet.py');
    fs.mkdirSync(path.dirname(py.fsPath), { recursive: true });
    fs.writeFileSync(
      py.fsPath,
      [
        'class Net(nn.Module):',
        '    def __init__(self):',
        '        super().__init__()',
        '        self.fc1 = nn.Linear(4, 8)',
        '        self.head = nn.Linear(8, 2)',
        '        self.blocks = nn.ModuleList([nn.Linear(8, 8) for _ in range(2)])',
        '',
      ].join('\n'),
    );
    const stats = (dead: number | null) => ({
      preact: { mean: 0, var: 0.5 },
      act: { mean: 0, var: 0.2 },
      grad: { mean: 0, var: 1e-3 },
      dead,
      weight: { mean: 0, var: 0.1 },
      weightGrad: { norm: 0.1, var: 1e-4 },
      biasGrad: { norm: 0.01 },
      updateRatio: 1e-3,
    });
    const events = [
      {
        type: 'start',
        model: 'Net',
        parameters: 58,
        steps: 0,
        source: 'pytorch',
        worldSize: 1,
        clip: null,
        layers: [
          { index: 0, units: 8, activation: 'relu', init: 'pytorch', fanIn: 4, fanOut: 8 },
          { index: 1, units: 8, activation: 'relu', init: 'pytorch', fanIn: 8, fanOut: 8 },
          { index: 2, units: 8, activation: 'relu', init: 'pytorch', fanIn: 8, fanOut: 8 },
          { index: 3, units: 2, activation: 'linear', init: 'pytorch', fanIn: 8, fanOut: 2 },
        ],
        modules: [
          { name: 'fc1', file: py.fsPath, line: 4 },
          { name: 'blocks.0', file: py.fsPath, line: 6 },
          { name: 'blocks.1', file: py.fsPath, line: 6 },
          { name: 'head', file: py.fsPath, line: 5 },
        ],
      },
      ...[0, 1].map((k) => ({
        type: 'step',
        step: k,
        loss: 1,
        inputVar: 1,
        gradNorm: 0.1,
        gradNormClipped: 0.1,
        clipped: false,
        samples: 16,
        layers: [
          { index: 0, ...stats(8) },
          { index: 1, ...stats(0) },
          { index: 2, ...stats(1) },
          { index: 3, ...stats(null) },
        ],
      })),
    ];
    const log = file('runs', 'lensnet.layerwise.jsonl');
    fs.mkdirSync(path.dirname(log.fsPath), { recursive: true });
    fs.writeFileSync(log.fsPath, events.map((e) => JSON.stringify(e)).join('\n') + '\n');
    try {
      await vscode.commands.executeCommand('layerwise.showLog', log);
      await open(py);
      const lenses = await until('the lenses over fc1, head and blocks', async () => {
        const ls = await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', py);
        const ours = (ls ?? []).filter((l) => l.command?.title.startsWith('Layerwise'));
        return ours.length === 3 && ours.some((l) => l.command!.title.includes('step 1')) && ours;
      });
      const fc1 = lenses.find((l) => l.range.start.line === 3)!;
      assert.match(
        fc1.command!.title,
        /^Layerwise layer 0 \(model\.fc1\): 8 relu · Var\(z\) 0\.5 · .*dead 8\/8 · step 1 · ⚠ .*dying_relu/,
      );
      assert.equal(fc1.command!.command, 'layerwise.showLog');
      assert.equal((fc1.command!.arguments![0] as vscode.Uri).fsPath, log.fsPath);
      assert.ok(lenses.some((l) => l.range.start.line === 4 && /layer 3 \(model\.head\)/.test(l.command!.title)));
      // a ModuleList's layers, created on one line: one lens for both
      const blocks = lenses.find((l) => l.range.start.line === 5)!;
      assert.match(
        blocks.command!.title,
        /^Layerwise layers 1–2 \(model\.blocks\) · Var\(z\) 0\.5 to 0\.5 · dead 1\/16 · step 1/,
      );
    } finally {
      a.logs.stopFollowing();
    }
    // the log no longer shown: no lenses
    await until('the lenses gone', async () => {
      const ls = await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', py);
      return !(ls ?? []).some((l) => l.command?.title.startsWith('Layerwise'));
    });
  });

  test('training logs compared: one overlaid on the shown one, read again as it grows, kept through a new run, taken off', async function () {
    this.timeout(180000);
    const a = await api();
    const ext = vscode.extensions.all.find((e) => e.packageJSON.name === 'layerwise')!;
    const fixture = fs
      .readFileSync(
        path.join(ext.extensionPath, 'test', 'fixtures', 'logs', 'deep-default-init.layerwise.jsonl'),
        'utf8',
      )
      .trim()
      .split('\n'); // start, 25 steps, end
    const one = file('runs', 'cmp-a.layerwise.jsonl');
    const two = file('runs', 'cmp-b.layerwise.jsonl');
    fs.mkdirSync(path.dirname(one.fsPath), { recursive: true });
    fs.writeFileSync(one.fsPath, fixture.join('\n') + '\n');
    fs.writeFileSync(two.fsPath, fixture.slice(0, 11).join('\n') + '\n'); // start and 10 steps: still training
    const item = (u: vscode.Uri) => a.logs.getChildren().find((i) => i.log.uri.fsPath === u.fsPath);
    const loss = () => a.runPanel.current?.drawn.loss;
    try {
      // "Compare Training Logs…" given both: the first shown, the other overlaid on it (it looks
      // for logs first: the file watcher can miss files written at once into a new folder)
      assert.ok(await vscode.commands.executeCommand<boolean>('layerwise.compareLogs', [one, two]));
      await until('the first shown, the other overlaid', () => a.logs.followed?.file === one.fsPath && loss() === 35);
      assert.ok(a.logs.overlays.has(two));
      a.logs.overlays.set(two, false);
      await vscode.commands.executeCommand('layerwise.showLog', one);
      await until('the shown log drawn alone', () => loss() === 25);
      // the shown log has no checkbox (it is the run the others are drawn beside); the other one has
      assert.equal(item(one)!.checkboxState, undefined);
      assert.equal(item(two)!.checkboxState, vscode.TreeItemCheckboxState.Unchecked);
      assert.equal(a.logs.overlays.set(one, true), false, 'not overlaid on itself');
      assert.ok(a.logs.overlays.set(two, true));
      await until('the other log overlaid', () => loss() === 35).catch((e: Error) => {
        throw new Error(`${e.message}: ${JSON.stringify(a.runPanel.current?.drawn)}`);
      });
      assert.equal(item(two)!.checkboxState, vscode.TreeItemCheckboxState.Checked);
      // each a series named for its log, with the detectors' warnings over its own steps
      const drawn = a.runPanel.current!.loggedEvents().events;
      for (const name of ['cmp-a', 'cmp-b'])
        assert.ok(
          drawn.get(name)?.some((e) => e.type === 'warning' && e.code === 'vanishing_gradient'),
          `${name}: ${[...drawn.keys()].join(', ')}`,
        );
      // the overlaid log grows: read again
      fs.appendFileSync(two.fsPath, fixture.slice(11, 16).join('\n') + '\n');
      await until('the overlay read again', () => loss() === 40, 20000).catch((e: Error) => {
        throw new Error(`${e.message}: ${JSON.stringify(a.runPanel.current?.drawn)}`);
      });
      // the shown log starts a new run (truncated to 3 steps): the overlay is drawn beside it again
      fs.writeFileSync(one.fsPath, fixture.slice(0, 4).join('\n') + '\n');
      await until('the new run, with the overlay', () => a.logs.followed?.runs === 2 && loss() === 18, 20000);
      a.logs.overlays.set(two, false);
      await until('the overlay taken off', () => loss() === 3);
      assert.equal(item(two)!.checkboxState, vscode.TreeItemCheckboxState.Unchecked);
      // overlaid again, then shown itself: the shown run, no longer an overlay
      a.logs.overlays.set(two, true);
      await until('overlaid again', () => loss() === 18);
      await vscode.commands.executeCommand('layerwise.showLog', two);
      await until('the overlaid log shown instead: no longer an overlay', () => loss() === 15);
      assert.equal(a.logs.overlays.has(two), false);
      assert.equal(item(two)!.checkboxState, undefined);
      // a log of cmp-b's name in another folder, overlaid on cmp-a; then cmp-b shown: the overlay's
      // series says which folder, so the two are not drawn as one
      const twin = file('runs', 'other', 'cmp-b.layerwise.jsonl');
      fs.mkdirSync(path.dirname(twin.fsPath), { recursive: true });
      fs.writeFileSync(twin.fsPath, fixture.slice(0, 6).join('\n') + '\n');
      await a.logs.scan();
      await vscode.commands.executeCommand('layerwise.showLog', one);
      assert.ok(a.logs.overlays.set(twin, true));
      await until('the twin overlaid on cmp-a', () => loss() === 8);
      const series = () => [...a.runPanel.current!.loggedEvents().events.keys()].sort();
      assert.deepEqual(series(), ['cmp-a', 'cmp-b']);
      await vscode.commands.executeCommand('layerwise.showLog', two);
      await until('cmp-b shown, the twin beside it', () => loss() === 20);
      assert.deepEqual(series(), ['cmp-b', 'cmp-b (other)']);
    } finally {
      a.logs.stopFollowing();
      a.logs.overlays.clear();
    }
  });

  test("a PyTorch run's log: offered as it appears, drawn live with the detectors' warning, truncation starts a new run", async function () {
    // a real PyTorch process trains 1500 steps beside code-server and Chromium: ~2 s on a free
    // machine, 10 s alone on a slow spell of this one, more with the editor busy (one CI run went
    // past the suite's 60 s); every wait below is bounded on its own
    this.timeout(180000);
    const a = await api();
    const ext = vscode.extensions.all.find((e) => e.packageJSON.name === 'layerwise')!;
    const log = file('runs', 'live.layerwise.jsonl');
    // a real PyTorch training process (examples/pytorch/train_mlp.py) writes the log as it trains
    const child = spawn(
      '/usr/bin/python3',
      [
        path.join(WS, 'examples', 'pytorch', 'train_mlp.py'),
        '--log',
        log.fsPath,
        '--steps',
        '1500',
        '--depth',
        '10',
        '--width',
        '32',
      ],
      {
        cwd: WS,
        env: { ...process.env, PYTHONPATH: path.join(ext.extensionPath, 'python') },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    try {
      await until('the log offered ("live is training")', () => a.logs.offers.includes('live'), 60000);
      assert.ok(
        a.logs.list().some((l) => l.uri.fsPath === log.fsPath),
        'listed in the Training Logs view',
      );
      // the trainer is paused while the panel catches up (it trains ~1000 steps a second: on a busy
      // machine it could end before the first render), then goes on
      child.kill('SIGSTOP');
      await vscode.commands.executeCommand('layerwise.showLog', log);
      const seen = await until(
        'steps drawn while the process still trains',
        () => {
          const f = a.logs.followed;
          const drawn = a.runPanel.current?.drawn.loss ?? 0;
          return f && !f.ended && f.steps > 0 && drawn > 0 && { steps: f.steps, drawn };
        },
        30000,
      ).finally(() => child.kill('SIGCONT'));
      await until(
        'more steps drawn later: live, not read once',
        () => (a.logs.followed?.steps ?? 0) > seen.steps && (a.runPanel.current?.drawn.loss ?? 0) > seen.drawn,
        30000,
      );
      const w = await until("the detectors' vanishing_gradient warning", () =>
        a.logs.followed?.warnings.find((x) => x.code === 'vanishing_gradient'),
      );
      assert.match(w.fix, /kaiming_normal_/);
      const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 90000))]);
      assert.equal(code, 0, `the trainer's exit (${code}): ${stderr}`);
      await until('the end of the run', () => a.logs.followed?.ended);
      assert.equal(a.logs.followed?.steps, 1500);
      // the report exports what the panel shows
      const report = file('log-report.html');
      await vscode.commands.executeCommand('layerwise.exportReport', report);
      assert.match(fs.readFileSync(report.fsPath, 'utf8'), /"source":"pytorch"/);
      // the file truncated to its first lines: a new run in the panel
      // (the start, and the lines up to its third step event: a histogram event follows step 0)
      const lines = fs.readFileSync(log.fsPath, 'utf8').split('\n');
      let cut = 0;
      for (let n = 0; n < 3; cut++) if (lines[cut]!.includes('"type":"step"')) n++;
      fs.writeFileSync(log.fsPath, lines.slice(0, cut).join('\n') + '\n');
      await until(
        'a new run after truncation',
        () => a.logs.followed?.runs === 2 && a.logs.followed.steps === 3 && !a.logs.followed.ended,
      );
      fs.appendFileSync(log.fsPath, 'this is not an event\n');
      await until('the malformed line counted', () => a.logs.followed?.malformed === 1);
    } finally {
      child.kill();
      a.logs.stopFollowing();
    }
  });
});
