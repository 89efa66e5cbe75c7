/** lastRun: a log's last run, whole, as an overlay draws it (the Training Logs view's checkboxes). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { LayerwiseEvent, StepEvent } from '../../src/protocol/events';
import { lastRun } from '../../src/logs/last-run';
import { LogFollower } from '../../src/logs/follow';
import { ROOT } from '../helpers/cli';

const LOG = path.join(ROOT, 'test', 'fixtures', 'logs', 'deep-default-init.layerwise.jsonl');
const text = fs.readFileSync(LOG, 'utf8');
const lines = text.trim().split('\n');

/** What the followed view gets from the same text: LogFollower's events of its last run. */
function followed(t: string): LayerwiseEvent[] {
  const f = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'lw-last-')), 'x.layerwise.jsonl');
  fs.writeFileSync(f, t);
  let events: LayerwiseEvent[] = [];
  const follower = new LogFollower(f, { onRun: () => (events = []), onEvents: (es) => events.push(...es) }, {});
  follower.readNow();
  follower.stop();
  return events;
}

test("an overlay's events are the followed view's: the same steps and the same detectors' warnings", () => {
  const r = lastRun(text, {}, 10_000)!;
  assert.deepEqual(r.events, followed(text));
  assert.ok(r.events.some((e) => e.type === 'warning' && e.code === 'vanishing_gradient'));
  assert.deepEqual(r.seen, { steps: 25, clipped: 0 });
});

test('the last run only, malformed lines and histograms left out', () => {
  // an earlier run, a line cut short and a histogram before the run that counts
  const hist = JSON.stringify({ type: 'histogram', step: 0, layers: [] });
  const first = lines.slice(0, 6).join('\n');
  const second = [lines[0]!, hist, ...lines.slice(1, 11)].join('\n');
  const r = lastRun(`${first}\n{"type":"step","ste\n${second}\n`, {}, 10_000)!;
  const steps = r.events.filter((e): e is StepEvent => e.type === 'step');
  assert.deepEqual(
    steps.map((s) => s.step),
    [...Array(10).keys()],
  );
  assert.equal(r.events[0]!.type, 'start');
  assert.ok(!r.events.some((e) => e.type === 'histogram'));
  assert.deepEqual(r.events, followed(`${lines[0]}\n${lines.slice(1, 11).join('\n')}\n`));
});

test('a long run is thinned as a kept run is, the last step kept and every step tallied; no step is null', () => {
  const start = lines[0]!;
  const step = JSON.parse(lines[1]!) as StepEvent;
  const many = [start, ...Array.from({ length: 5000 }, (_, k) => JSON.stringify({ ...step, step: k }))].join('\n');
  const r = lastRun(many, {}, 200)!;
  const steps = r.events.filter((e): e is StepEvent => e.type === 'step');
  assert.ok(steps.length <= 401 && steps.length >= 100, String(steps.length));
  assert.equal(steps.at(-1)!.step, 4999);
  assert.deepEqual(r.seen, { steps: 5000, clipped: 0 });
  assert.equal(lastRun(start, {}, 200), null);
  assert.equal(lastRun('', {}, 200), null);
  assert.equal(lastRun('not json\n', {}, 200), null);
});
