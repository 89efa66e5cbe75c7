/**
 * `layerwise watch LOG`: a PyTorch log's table and the detectors' warnings; --json; a partial last
 * line and a malformed line; non-finite → exit 3; unreadable → exit 2 with LOG:LINE; --follow.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLI, ROOT, runCli } from '../helpers/cli';

const LOG = path.join(ROOT, 'test', 'fixtures', 'logs', 'deep-default-init.layerwise.jsonl');
const lines = (): string[] => fs.readFileSync(LOG, 'utf8').trim().split('\n');
const dir = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'lw-watch-'));

test('watch prints the run: start line, the warnings with PyTorch fixes, the last step table, the summary', () => {
  const r = runCli(['watch', LOG]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^deep-mlp: 11 layers \(relu\/linear\), [\d,]+ parameters, PyTorch\n/);
  assert.match(r.stdout, /warning\[vanishing_gradient\] layer 7, step 0: .*\n {2}fix: .*kaiming_normal_/);
  assert.match(r.stdout, /\nstep 24:\nlayer/);
  assert.match(r.stdout, /completed: 25 steps/);
  assert.equal(r.stderr, '');
});

test("watch --json: the log's events with the detectors' warnings after their steps", () => {
  const r = runCli(['watch', LOG, '--json']);
  assert.equal(r.code, 0);
  const types = r.events.map((e) => e.type);
  assert.equal(types.filter((t) => t === 'step').length, 25);
  assert.equal(types[0], 'start');
  assert.equal(types.at(-1), 'end');
  const w = r.events.filter((e) => e.type === 'warning');
  assert.ok(w.some((e) => e.code === 'vanishing_gradient' && e.layer === 7));
  assert.ok(w.every((e) => typeof e.fix === 'string' && (e.fix as string).length > 0));
});

test('a malformed line is skipped with LOG:LINE on stderr; a partial last line is not an error', () => {
  const ls = lines();
  const f = path.join(dir(), 'p.layerwise.jsonl');
  fs.writeFileSync(f, [ls[0], ls[1], '{"type": "step", oops', ls[2]].join('\n') + '\n' + ls[3]!.slice(0, 40));
  const r = runCli(['watch', f, '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`${f.replace(/[.]/g, '\\.')}:3: skipped: not valid JSON`));
  assert.match(r.stderr, /1 malformed line skipped/);
  assert.equal(r.events.filter((e) => e.type === 'step').length, 2);
  const human = runCli(['watch', f]);
  assert.match(human.stdout, /has no end yet/);
});

test('a log with no end yet (a run going on, or killed) shows its latest step table before saying so', () => {
  const ls = lines();
  const f = path.join(dir(), 'going.layerwise.jsonl');
  const upTo = ls.findIndex((l) => l.includes('"type":"step"') && l.includes('"step":12,'));
  assert.ok(upTo > 0, 'step 12 in the fixture');
  fs.writeFileSync(f, ls.slice(0, upTo + 1).join('\n') + '\n');
  const r = runCli(['watch', f]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /warning\[vanishing_gradient\] layer 7, step 0/);
  assert.match(r.stdout, /\nstep 12:\nlayer .*\n0 /);
  assert.match(r.stdout, /step 12:[^]*has no end yet/);
  assert.doesNotMatch(r.stdout, /completed:/);
});

test('a log that ends non_finite exits 3', () => {
  const ls = lines();
  const f = path.join(dir(), 'nan.layerwise.jsonl');
  const warn = {
    type: 'warning',
    code: 'non_finite',
    severity: 'error',
    layer: 3,
    step: 2,
    message: 'Non-finite values…',
    fix: 'Lower the learning rate',
  };
  fs.writeFileSync(
    f,
    [
      ls[0],
      ls[1],
      ls[2],
      JSON.stringify(warn),
      JSON.stringify({ type: 'end', steps: 2, reason: 'non_finite', elapsedMs: 5 }),
    ].join('\n') + '\n',
  );
  const r = runCli(['watch', f]);
  assert.equal(r.code, 3);
  assert.match(r.stdout, /error\[non_finite\] layer 3, step 2/);
  assert.match(r.stdout, /stopped by non-finite values/);
});

test('an unreadable log is exit 2 with LOG:LINE', () => {
  const d = dir();
  const missing = runCli(['watch', path.join(d, 'none.jsonl')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /none\.jsonl:1: error: cannot read the log \(no such file\)/);
  const folder = runCli(['watch', d]);
  assert.equal(folder.code, 2);
  assert.match(folder.stderr, /:1: error: cannot read the log \(not a file\)/);
  const junk = path.join(d, 'junk.txt');
  fs.writeFileSync(junk, 'hello\nworld\n');
  const j = runCli(['watch', junk]);
  assert.equal(j.code, 2);
  assert.match(j.stderr, /junk\.txt:2: error: not a Layerwise training log/);
  const over = runCli(['watch', LOG, '--html', LOG]);
  assert.equal(over.code, 2);
  assert.match(over.stderr, /would write over the log/);
  assert.equal(runCli(['watch', LOG, '--steps', '3']).code, 2);
});

test('watch --follow tails a growing log until its end, then exits with its code', async () => {
  const ls = lines();
  const f = path.join(dir(), 'live.layerwise.jsonl');
  fs.writeFileSync(f, ls[0] + '\n');
  const child = spawn(process.execPath, [CLI, 'watch', f, '--follow', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  for (let i = 1; i < ls.length; i++) {
    // half a line, then the rest: the reader must wait for the newline
    fs.appendFileSync(f, ls[i]!.slice(0, 30));
    await new Promise((r) => setTimeout(r, i < 4 ? 150 : 5));
    fs.appendFileSync(f, ls[i]!.slice(30) + '\n');
  }
  const code = await exited;
  assert.equal(code, 0);
  const events = out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string });
  assert.equal(events.filter((e) => e.type === 'step').length, 25);
  assert.equal(events.at(-1)!.type, 'end');
});

test('watch --follow on a log that does not exist yet waits for it (started before training)', async () => {
  const f = path.join(dir(), 'soon.layerwise.jsonl');
  const child = spawn(process.execPath, [CLI, 'watch', f, '--follow', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '',
    err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  // it says it waits (on stderr), then the log appears
  await new Promise<void>((resolve) =>
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (/waiting for it to appear/.test(err)) resolve();
    }),
  );
  fs.writeFileSync(f, lines().join('\n') + '\n');
  assert.equal(await exited, 0);
  assert.equal(out.trim().split('\n').at(-1)!.includes('"end"'), true);
  // stopped before anything appeared: the same error as without --follow
  const g = path.join(dir(), 'never.layerwise.jsonl');
  const idle = spawn(process.execPath, [CLI, 'watch', g, '--follow'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let idleErr = '';
  await new Promise<void>((resolve) =>
    idle.stderr.on('data', (d: Buffer) => {
      idleErr += d.toString();
      if (/waiting for it to appear/.test(idleErr)) resolve();
    }),
  );
  idle.kill('SIGINT');
  assert.equal(await new Promise<number | null>((resolve) => idle.on('close', (c) => resolve(c))), 2);
  assert.match(idleErr, /never\.layerwise\.jsonl:1: error: cannot read the log \(no such file\)/);
});

test('watch --follow stops on SIGINT before the end', async () => {
  const ls = lines();
  const f = path.join(dir(), 'open.layerwise.jsonl');
  fs.writeFileSync(f, ls.slice(0, 3).join('\n') + '\n');
  const child = spawn(process.execPath, [CLI, 'watch', f, '--follow'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  // once it printed what the log holds it is following (a fixed wait could signal a process that
  // has not installed its handler yet, on a busy machine)
  await new Promise<void>((resolve) =>
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      resolve();
    }),
  );
  await new Promise((r) => setTimeout(r, 100));
  child.kill('SIGINT');
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  assert.equal(code, 0);
  assert.match(out, /has no end yet/);
});

test('watch | head: the reader goes away, the watch ends quietly (exit 0, no stack trace)', async () => {
  const child = spawn(process.execPath, [CLI, 'watch', LOG], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  child.stdout.destroy(); // as `head -1` exits
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  assert.equal(code, 0);
  assert.equal(err, '');
});

test('a frozen first layer (null gradients and update ratio) is shown as such, not as a layer that barely learns', () => {
  const events = lines().map((l) => JSON.parse(l) as Record<string, unknown>);
  const frozen = events.map((e) => {
    if (e.type !== 'step') return e;
    const layers = (e.layers as Record<string, unknown>[]).map((l, i) =>
      i === 0
        ? {
            ...l,
            grad: { mean: null, var: null },
            weightGrad: { norm: null, var: null },
            biasGrad: { norm: null },
            updateRatio: null,
          }
        : { ...l, updateRatio: 1e-3 },
    );
    return { ...e, layers };
  });
  const units = (events[0]!.layers as { units: number }[])[0]!.units;
  const empty = { edges: [], counts: [], zeros: 0, below: 0, above: 0, nonFinite: 0 };
  const counts = Array.from({ length: 32 }, (_, j) => (j === 0 ? 8 * units : 0));
  const full = {
    edges: Array.from({ length: 33 }, (_, j) => j / 32),
    counts,
    zeros: 0,
    below: 0,
    above: 0,
    nonFinite: 0,
  };
  const hist = {
    type: 'histogram',
    step: 20,
    layers: [{ index: 0, preact: full, act: full, grad: empty }],
  };
  const at = frozen.findIndex((e) => e.type === 'step' && e.step === 20);
  frozen.splice(at + 1, 0, hist);
  const f = path.join(dir(), 'frozen.layerwise.jsonl');
  fs.writeFileSync(f, frozen.map((e) => JSON.stringify(e)).join('\n') + '\n');
  const r = runCli(['watch', f]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.doesNotMatch(r.stdout, /update_ratio/);
  assert.match(r.stdout, /\n0 .*—\s+—\s+—\n/);
  assert.match(r.stdout, /∂L\/∂Z {2}\(none\)/);
});

test("a log that names its layers' modules: warnings, fixes and tables say them; a list that does not fit is left out", () => {
  const events = lines().map((l) => JSON.parse(l) as Record<string, unknown>);
  const n = (events[0]!.layers as unknown[]).length;
  const named = (modules: unknown): string => {
    const es = events.map((e) => {
      if (e.type === 'start') return { ...e, modules };
      if (e.type !== 'step') return e;
      // layer 2 dies at step 3
      const layers = (e.layers as Record<string, unknown>[]).map((l, i) =>
        i === 2 && (e.step as number) >= 3 ? { ...l, dead: 32 } : l,
      );
      return { ...e, layers };
    });
    // a histogram of layer 0 at the last step
    const h = {
      edges: Array.from({ length: 33 }, (_, j) => j / 32),
      counts: Array.from({ length: 32 }, (_, j) => (j === 0 ? 8 : 0)),
      zeros: 0,
      below: 0,
      above: 0,
      nonFinite: 0,
    };
    es.splice(es.length - 1, 0, { type: 'histogram', step: 24, layers: [{ index: 0, preact: h, act: h, grad: h }] });
    const f = path.join(dir(), 'named.layerwise.jsonl');
    fs.writeFileSync(f, es.map((e) => JSON.stringify(e)).join('\n') + '\n');
    return f;
  };
  const modules = Array.from({ length: n }, (_, i) =>
    i < n - 1 ? { name: `blocks.${i}`, file: '/src/net.py', line: 12 } : { name: 'head' },
  );
  const r = runCli(['watch', named(modules)]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /warning\[vanishing_gradient\] layer 7 \(model\.blocks\[7\]\), step 0: /);
  assert.match(
    r.stdout,
    /warning\[dying_relu\] layer 2 \(model\.blocks\[2\]\), step 3: .*\n {2}fix: Replace the nn\.ReLU\(\) after layer 2 \(model\.blocks\[2\]\) with nn\.LeakyReLU\(0\.01\), or initialise it with nn\.init\.kaiming_normal_\(model\.blocks\[2\]\.weight, nonlinearity="relu"\)/,
  );
  assert.match(r.stdout, /\n0 model\.blocks\[0\] +32 relu/);
  assert.match(r.stdout, /\n10 model\.head +\d+ linear/);
  assert.match(r.stdout, /\nlayer 0 model\.blocks\[0\] \(32 relu\)\n {2}Z /);
  // --json passes the names on, as the log has them
  const j = runCli(['watch', named(modules), '--json']);
  assert.deepEqual((j.events[0] as { modules?: unknown }).modules, modules);
  // one name short, or not names: the log reads as one without them
  for (const bad of [modules.slice(1), modules.map(() => 7)]) {
    const b = runCli(['watch', named(bad)]);
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stdout, /warning\[vanishing_gradient\] layer 7, step 0: /);
    assert.match(b.stdout, /fix: Replace the nn\.ReLU\(\) after layer 2 with .*kaiming_normal_\(linear\.weight/);
  }
  // a name with control characters is shown escaped
  const odd = runCli(['watch', named(modules.map((m, i) => (i === 7 ? { name: 'a\u001b[31mb' } : m)))]);
  assert.match(odd.stdout, /layer 7 \(model\.a\\u001b\[31mb\), step 0/);
  // "" is the model itself (a model that is the Linear): said "model", as a blank would not be
  const own = runCli(['watch', named(modules.map((m, i) => (i === 0 ? { name: '' } : m)))]);
  assert.match(own.stdout, /\n0 model +32 relu/);
  assert.match(own.stdout, /\nlayer 0 model \(32 relu\)\n {2}Z /);
});

test("a PyTorch log's λmax without a threshold (an optimizer other than SGD) is not said to be adam's", () => {
  const ls = lines();
  const sharp = { type: 'sharpness', step: 24, lambdaMax: 3.5, threshold: null, iterations: 12 };
  const f = path.join(dir(), 'rmsprop.layerwise.jsonl');
  fs.writeFileSync(f, [...ls.slice(0, -1), JSON.stringify(sharp), ls.at(-1)].join('\n') + '\n');
  const r = runCli(['watch', f]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /sharpness at step 24: λmax = 3\.5 \(no divergence threshold for this optimizer; 12 Hessian/);
  assert.doesNotMatch(r.stdout, /adam/);
});

test('watch --compare: the other logs side by side in a table and overlaid in the --html report', () => {
  const d = dir();
  // the same run cut short (10 steps, no end), in a folder of its own under the same name
  const ls = lines();
  const other = path.join(d, 'other', path.basename(LOG));
  fs.mkdirSync(path.dirname(other));
  fs.writeFileSync(other, ls.slice(0, 11).join('\n') + '\n');
  const out = path.join(d, 'cmp.html');
  const r = runCli(['watch', LOG, '--compare', other, '--html', out]);
  assert.equal(r.code, 0, r.stderr);
  // what the table says, against the logs themselves
  const steps = ls.map((l) => JSON.parse(l) as Record<string, unknown>).filter((e) => e.type === 'step');
  const table = r.stdout.slice(r.stdout.indexOf('compared (the last run of each):'));
  const rows = table.split('\n').slice(2, 4);
  assert.match(rows[0]!, /^deep-default-init\s+25\s/);
  assert.match(rows[1]!, /^deep-default-init \(other\)\s+10\s/);
  const loss = (k: number) => String(Number((steps[k]!.loss as number).toPrecision(3)));
  assert.ok(rows[0]!.includes(`${loss(0)} → ${loss(24)}`), rows[0]);
  assert.ok(rows[1]!.includes(`${loss(0)} → ${loss(9)}`), rows[1]);
  assert.match(rows[0]!, /completed$/);
  assert.match(rows[1]!, /no end yet$/);
  // the report draws both, each a series named for its log
  const html = fs.readFileSync(out, 'utf8');
  const msgs = JSON.parse(/<script[^>]*id="layerwise-data"[^>]*>([^<]*)<\/script>/.exec(html)![1]!) as {
    type: string;
    series?: string | string[];
    events?: { type: string }[];
  }[];
  assert.deepEqual(msgs[0]!.series, ['deep-default-init', 'deep-default-init (other)']);
  const count = (s: string) =>
    msgs
      .filter((m) => m.type === 'events' && m.series === s)
      .flatMap((m) => m.events!)
      .filter((e) => e.type === 'step').length;
  assert.equal(count('deep-default-init'), 25);
  assert.equal(count('deep-default-init (other)'), 10);
  // alone, the report is as before: one series, "run"
  const alone = path.join(d, 'alone.html');
  assert.equal(runCli(['watch', LOG, '--html', alone]).code, 0);
  assert.match(fs.readFileSync(alone, 'utf8'), /"series":\["run"\]/);
});

test('watch --compare: a log not there is said before anything is read; the report never goes over one', () => {
  const d = dir();
  const missing = path.join(d, 'none.layerwise.jsonl');
  const r = runCli(['watch', LOG, '--compare', missing]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /none\.layerwise\.jsonl:1: error: cannot read the log \(no such file\)/);
  assert.equal(r.stdout, '', 'nothing printed of the log before the error');
  const junk = path.join(d, 'junk.jsonl');
  fs.writeFileSync(junk, 'hello\n');
  const j = runCli(['watch', LOG, '--compare', junk]);
  assert.equal(j.code, 2);
  assert.match(j.stderr, /junk\.jsonl:1: error: not a Layerwise training log/);
  const other = path.join(d, 'b.layerwise.jsonl');
  fs.copyFileSync(LOG, other);
  const over = runCli(['watch', LOG, '--compare', other, '--html', other]);
  assert.equal(over.code, 2);
  assert.match(over.stderr, /would write over a log it compares/);
  assert.equal(fs.readFileSync(other, 'utf8'), fs.readFileSync(LOG, 'utf8'));
  // usage: a value, "watch" only, and with --json only beside --html
  for (const args of [
    ['watch', LOG, '--compare'],
    ['run', path.join(ROOT, 'examples', 'quick.mlp.json'), '--compare', LOG],
    ['watch', LOG, '--compare', other, '--json'],
  ]) {
    const u = runCli(args);
    assert.equal(u.code, 2, args.join(' '));
    assert.match(u.stderr, /--compare/);
  }
});
