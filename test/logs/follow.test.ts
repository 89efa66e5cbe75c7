/**
 * LogFollower and the stream detectors: a PyTorch log gets the warnings of the same detectors as
 * our own runs (with PyTorch fixes); malformed lines are skipped and counted; a new start or a
 * truncation is a new run; a silent log without `end` is stalled.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { LayerwiseEvent, StartEvent, StepEvent, WarningEvent } from '../../src/protocol/events';
import { LogFollower } from '../../src/logs/follow';
import { parseEventLine } from '../../src/protocol/parse-event';
import { StreamDetectors } from '../../src/core/stream-detectors';
import { ROOT } from '../helpers/cli';

const LOG = path.join(ROOT, 'test', 'fixtures', 'logs', 'deep-default-init.layerwise.jsonl');
const lines = (): string[] => fs.readFileSync(LOG, 'utf8').trim().split('\n');

function tmp(text: string): string {
  const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lw-follow-')), 'x.layerwise.jsonl');
  fs.writeFileSync(f, text);
  return f;
}

function collect(
  file: string,
  opts = {},
): { events: LayerwiseEvent[]; runs: string[]; bad: [number, string][]; f: LogFollower } {
  const events: LayerwiseEvent[] = [],
    runs: string[] = [],
    bad: [number, string][] = [];
  const f = new LogFollower(
    file,
    { onRun: (r) => runs.push(r), onEvents: (es) => events.push(...es), onMalformed: (n, r) => bad.push([n, r]) },
    opts,
  );
  return { events, runs, bad, f };
}

test('the detectors run over a PyTorch log: vanishing gradient at the layer a direct check names', () => {
  const c = collect(LOG);
  c.f.readNow();
  const steps = c.events.filter((e): e is StepEvent => e.type === 'step');
  const first = steps[0]!;
  const gOut = first.layers.at(-1)!.grad.var;
  // the layer nearest the output whose Var(∂z)/Var(∂z_out) is below 1e-3
  let expect = -1;
  for (let i = first.layers.length - 1; i >= 0 && expect < 0; i--)
    if (first.layers[i]!.grad.var / gOut < 1e-3) expect = i;
  assert.ok(expect >= 0, 'the fixture has a vanishing gradient');
  const w = c.events.filter((e): e is WarningEvent => e.type === 'warning');
  const vg = w.find((x) => x.code === 'vanishing_gradient')!;
  assert.equal(vg.layer, expect);
  assert.equal(vg.step, 0);
  assert.match(vg.fix, /kaiming_normal_/);
  assert.doesNotMatch(w.map((x) => x.fix).join('\n'), /"init":/, 'PyTorch fixes, not model-file edits');
  // each warning comes right after the step it concerns
  for (const x of w) {
    const i = c.events.indexOf(x);
    const before = c.events
      .slice(0, i)
      .filter((e): e is StepEvent => e.type === 'step')
      .at(-1);
    assert.equal(before?.step, x.step);
  }
  assert.deepEqual(c.runs, ['first']);
});

test('a log our own core wrote passes its warnings through, adding none', () => {
  const text =
    lines()
      .map((l) => (l.includes('"type":"start"') ? l.replace('"source":"pytorch",', '') : l))
      .join('\n') + '\n';
  const c = collect(tmp(text));
  c.f.readNow();
  assert.equal(c.events.filter((e) => e.type === 'warning').length, 0);
});

test('malformed lines are skipped and counted, never fatal', () => {
  const ls = lines();
  const text = [ls[0], 'not json', ls[1], '{"type":"step","step":"x"}', '{"type":"bogus"}', ls[2], ''].join('\n');
  const c = collect(tmp(text));
  c.f.readNow();
  assert.deepEqual(
    c.bad.map((b) => b[0]),
    [2, 4, 5],
  );
  assert.match(c.bad[0]![1], /JSON/);
  assert.match(c.bad[1]![1], /layers is not a list/);
  assert.equal(c.f.malformed, 3);
  assert.deepEqual(
    c.events.filter((e) => e.type === 'step').map((e) => (e as StepEvent).step),
    [0, 1],
  );
});

test('null statistics (NaN, Inf) are read as NaN; dead and saturated keep their null', () => {
  const ls = lines();
  const step = JSON.parse(ls[1]!);
  step.loss = null;
  step.layers[0].preact.var = null;
  const e = parseEventLine(JSON.stringify(step)) as StepEvent;
  assert.ok(Number.isNaN(e.loss) && Number.isNaN(e.layers[0]!.preact.var));
  assert.equal(e.layers.at(-1)!.dead, null);
});

test('a second start, and a truncation, begin new runs with fresh detectors', () => {
  const ls = lines();
  const file = tmp([...ls.slice(0, 3), ...ls.slice(0, 3)].join('\n') + '\n');
  const c = collect(file);
  c.f.readNow();
  assert.deepEqual(c.runs, ['first', 'new start']);
  // the second run's step 0 warns again: the detectors start over
  assert.equal(c.events.filter((e) => e.type === 'warning' && e.code === 'vanishing_gradient').length, 2);
  fs.writeFileSync(file, ls[0] + '\n');
  c.f.readNow();
  assert.deepEqual(c.runs, ['first', 'new start', 'truncated']);
});

test('a run with no new line for stallMs and no end is stalled, and resumes', async () => {
  const ls = lines();
  const file = tmp(ls.slice(0, 3).join('\n') + '\n');
  let now = 0;
  const stalls: boolean[] = [];
  const f = new LogFollower(
    file,
    { onRun: () => undefined, onEvents: () => undefined, onStall: (s) => stalls.push(s) },
    { pollMs: 20, stallMs: 1000, now: () => now },
  );
  f.follow();
  await new Promise((r) => setTimeout(r, 60));
  now = 5000;
  await new Promise((r) => setTimeout(r, 60));
  fs.appendFileSync(file, ls[3] + '\n');
  await new Promise((r) => setTimeout(r, 100));
  f.stop();
  assert.deepEqual(stalls, [true, false]);
});

test('StreamDetectors: frequent clipping counts clip events of manual clipping too', () => {
  const d = new StreamDetectors();
  const start = parseEventLine(lines()[0]!) as LayerwiseEvent;
  d.observe({ ...start, clip: null } as LayerwiseEvent);
  const step = parseEventLine(lines()[1]!) as StepEvent;
  const ws: WarningEvent[] = [];
  for (let k = 0; k < 30; k++) ws.push(...d.observe({ ...step, step: k, clipped: true }));
  const fc = ws.find((w) => w.code === 'frequent_clipping');
  assert.ok(fc, 'frequent_clipping raised');
  assert.equal(fc.step, 19);
});

test('StreamDetectors: dead units of a batch of a few rows are no verdict where the log says its rows', () => {
  // an epoch's last batch of 1 row: half of a healthy ReLU layer is <= 0 on it
  const start = parseEventLine(lines()[0]!) as LayerwiseEvent;
  const step = parseEventLine(lines()[1]!) as StepEvent;
  const half = step.layers.map((l) => (l.dead === null ? l : { ...l, dead: 20 }));
  const dying = (samples: number | undefined): WarningEvent[] => {
    const d = new StreamDetectors();
    d.observe(start);
    const e: StepEvent = { ...step, layers: half };
    if (samples === undefined) delete e.samples;
    else e.samples = samples;
    return d.observe(e).filter((w) => w.code === 'dying_relu');
  };
  assert.equal(dying(1).length, 0, 'one row');
  assert.equal(dying(7).length, 0, 'seven rows');
  assert.ok(dying(8).length > 0, 'eight rows: judged');
  assert.ok(dying(undefined).length > 0, 'a log without samples: judged, as before');
});

test('StreamDetectors: a PyTorch loss that runs away raises diverging_loss with a PyTorch fix', () => {
  const d = new StreamDetectors();
  d.observe(parseEventLine(lines()[0]!) as LayerwiseEvent);
  const step = parseEventLine(lines()[1]!) as StepEvent;
  const ws: WarningEvent[] = [];
  [1.2, 0.9, 1.5, 200, 2.5e14].forEach((loss, k) => ws.push(...d.observe({ ...step, step: k, loss })));
  const w = ws.filter((x) => x.code === 'diverging_loss');
  assert.equal(w.length, 1);
  assert.equal(w[0]!.step, 3);
  assert.match(w[0]!.message, /from 0\.9 \(step 1\) to 200 at step 3/);
  assert.match(w[0]!.fix, /optimizer's lr to a tenth/);
});

test('StreamDetectors: a PyTorch held-out loss that turns up raises overfitting with a PyTorch fix', () => {
  const d = new StreamDetectors();
  d.observe(parseEventLine(lines()[0]!) as LayerwiseEvent);
  const step = parseEventLine(lines()[1]!) as StepEvent;
  const ws: WarningEvent[] = [];
  // run.validation() before step k (held-out at the parameters step k starts from), then step k
  const held = [2, 1, 0.6, 0.62, 0.7, 0.8];
  held.forEach((h, i) => {
    const k = 10 * i;
    ws.push(...d.observe({ type: 'validation', step: k, loss: h, accuracy: null, samples: 20 }));
    ws.push(...d.observe({ ...step, step: k, loss: 2 / (1 + k) }));
  });
  const w = ws.filter((x) => x.code === 'overfitting');
  assert.equal(w.length, 1);
  assert.equal(w[0]!.step, 40);
  assert.match(w[0]!.message, /from 0\.6 \(step 20\) to 0\.7 at step 40/);
  assert.equal(
    w[0]!.fix,
    'Stop training near step 20 (keep the checkpoint with the lowest held-out loss), or train on more data, or use a smaller model.',
  );
  // a log our own core wrote: its warnings are in it already
  const own = new StreamDetectors();
  own.observe({ ...(parseEventLine(lines()[0]!) as LayerwiseEvent), source: undefined } as LayerwiseEvent);
  assert.deepEqual(own.observe({ type: 'validation', step: 0, loss: 1, accuracy: null, samples: 1 }), []);
});

test('StreamDetectors: a saturated sigmoid output layer (a PyTorch classifier’s prediction) is not warned of; a hidden one is', () => {
  const d = new StreamDetectors();
  const start = parseEventLine(lines()[0]!) as StartEvent;
  const L = start.layers.length;
  d.observe({
    ...start,
    layers: start.layers.map((l, i) => ({ ...l, activation: i >= L - 2 ? ('sigmoid' as const) : l.activation })),
  });
  const step = parseEventLine(lines()[1]!) as StepEvent;
  const saturated = (hidden: number) =>
    d
      .observe({
        ...step,
        step: hidden === 0 ? 1 : 2,
        layers: step.layers.map((l, i) => ({ ...l, saturated: i === L - 1 ? 0.9 : i === L - 2 ? hidden : null })),
      })
      .filter((w) => w.code === 'saturation')
      .map((w) => w.layer);
  assert.deepEqual(saturated(0), []);
  assert.deepEqual(saturated(0.8), [L - 2]);
});

test('a held-out loss written after the last step is judged before the end event', () => {
  const all = lines();
  const start = all[0]!;
  const step = JSON.parse(all[1]!) as StepEvent;
  const end = all.find((l) => l.includes('"type":"end"'))!;
  const text = [start];
  // held-out losses 1, 0.5, 0.52, 0.54, then 0.7 after the last step; training losses falling
  [1, 0.5, 0.52, 0.54].forEach((h, i) => {
    text.push(JSON.stringify({ type: 'validation', step: 10 * i, loss: h, accuracy: null, samples: 20 }));
    text.push(JSON.stringify({ ...step, step: 10 * i, loss: 3 / (1 + i) }));
  });
  text.push(JSON.stringify({ type: 'validation', step: 40, loss: 0.7, accuracy: null, samples: 20 }), end);
  const c = collect(tmp(text.join('\n') + '\n'));
  c.f.readNow();
  const types = c.events.map((e) => (e.type === 'warning' ? e.code : e.type));
  assert.deepEqual(types.slice(-3), ['validation', 'overfitting', 'end']);
});
