/**
 * The run history (extension/run-history.ts): every run of a model file kept, newest first, at most
 * MAX_RUNS; each thinned to MAX_STEPS steps with the exact tally and no histograms; NaN losses
 * survive the JSON; unreadable files are skipped and named; files of other models are not listed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { LayerwiseEvent, StepEvent } from '../../src/protocol/events';
import { MAX_RUNS, MAX_STEPS, RunHistory } from '../../src/extension/run-history';

function run(n: number, outcome: 'completed' | 'non_finite' = 'completed'): LayerwiseEvent[] {
  const out: LayerwiseEvent[] = [];
  for (let k = 0; k < n; k++) {
    const loss = outcome === 'non_finite' && k === n - 1 ? NaN : 2 / (1 + k / 100);
    out.push({ type: 'step', step: k, loss, gradNorm: 1, gradNormClipped: 1, clipped: k % 4 === 0, layers: [] });
    if (k % 10 === 0) out.push({ type: 'histogram', step: k, layers: [] });
    if (k % 50 === 0) out.push({ type: 'validation', step: k, loss: 3 - k / n, accuracy: 0.5, samples: 10 });
  }
  out.push({ type: 'end', steps: n, reason: outcome, elapsedMs: 1 });
  return out;
}

const tmp = (): string => fs.mkdtempSync(path.join(os.tmpdir(), 'lw-history-'));

test('runs are kept newest first with their summary; at most MAX_RUNS per model file', () => {
  const dir = tmp();
  const h = new RunHistory(dir);
  const t0 = Date.parse('2026-12-01T10:00:00Z');
  for (let i = 0; i < MAX_RUNS + 3; i++) h.save('/w/a.mlp.json', 'a', run(100 + i), undefined, new Date(t0 + i * 1000));
  h.save('/w/b.mlp.json', 'b', run(10), undefined, new Date(t0));
  const list = h.list('/w/a.mlp.json');
  assert.equal(list.length, MAX_RUNS);
  assert.deepEqual(
    list.map((r) => r.steps),
    Array.from({ length: MAX_RUNS }, (_, i) => 100 + MAX_RUNS + 2 - i),
    'newest first, the oldest three dropped',
  );
  const top = list[0]!;
  assert.equal(top.outcome, 'completed');
  assert.equal(top.date, new Date(t0 + (MAX_RUNS + 2) * 1000).toISOString());
  assert.equal(top.finalLoss, 2 / (1 + (top.steps - 1) / 100));
  assert.equal(top.heldOutLoss, 3 - 100 / top.steps);
  assert.equal(h.list('/w/b.mlp.json').length, 1, "another model's runs are its own");
  assert.deepEqual(h.list('/w/c.mlp.json'), []);
  // forgetting one
  h.remove('/w/a.mlp.json', top.id);
  assert.equal(h.list('/w/a.mlp.json').length, MAX_RUNS - 1);
  assert.equal(h.load('/w/a.mlp.json', top.id), null);
});

test('a long run is kept thinned, without histograms, with the exact tally; a NaN loss stays NaN', () => {
  const h = new RunHistory(tmp());
  const s = h.save('/w/a.mlp.json', 'a', run(20000, 'non_finite'));
  const r = h.load('/w/a.mlp.json', s.id)!;
  const steps = r.events.filter((e): e is StepEvent => e.type === 'step');
  assert.ok(steps.length <= MAX_STEPS + 2 && steps.length > MAX_STEPS / 2, `${steps.length}`);
  assert.equal(r.events.filter((e) => e.type === 'histogram').length, 0);
  assert.equal(r.events.filter((e) => e.type === 'validation').length, 400, 'every held-out evaluation');
  assert.deepEqual(r.seen, { steps: 20000, clipped: 5000 });
  assert.ok(Number.isNaN(steps.at(-1)!.loss), 'the last loss, NaN, read back as NaN');
  assert.equal(s.outcome, 'non_finite');
  assert.equal(s.finalLoss, null);
  assert.equal(r.events.at(-1)!.type, 'end');
});

test('an unreadable or foreign file is skipped and named; ids that are not ids are refused', () => {
  const dir = tmp();
  const problems: string[] = [];
  const h = new RunHistory(dir, (m) => problems.push(m));
  const s = h.save('/w/a.mlp.json', 'a', run(5));
  const folder = fs.readdirSync(dir)[0]!;
  fs.writeFileSync(path.join(dir, folder, 'zzzz-000000.json'), '{"version": 1, "file": "/w/a.ml');
  fs.writeFileSync(
    path.join(dir, folder, 'yyyy-000000.json'),
    JSON.stringify({ version: 1, file: '/w/other', events: [], id: 'x' }),
  );
  assert.deepEqual(
    h.list('/w/a.mlp.json').map((r) => r.id),
    [s.id],
  );
  assert.equal(problems.length, 2);
  assert.ok(
    problems.some((m) => /zzzz-000000\.json/.test(m)),
    problems.join('\n'),
  );
  assert.ok(
    problems.some((m) => /yyyy-000000\.json: not a run Layerwise kept/.test(m)),
    problems.join('\n'),
  );
  assert.equal(h.load('/w/a.mlp.json', '../../etc/passwd'), null);
  h.remove('/w/a.mlp.json', '../x');
  assert.equal(h.list('/w/a.mlp.json').length, 1);
  // no step: nothing worth keeping is the caller's call; an empty history dir is an empty list
  assert.deepEqual(new RunHistory(path.join(dir, 'none')).list('/w/a.mlp.json'), []);
});
