/** The webview's store draws every step exactly once, whatever the host sends twice. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { LayerwiseEvent, StepEvent } from '../../src/protocol/events';
import { parseEventLine } from '../../src/protocol/parse-event';
import { Store } from '../../webview/store';
import { ROOT } from '../helpers/cli';

const events = fs
  .readFileSync(path.join(ROOT, 'test', 'fixtures', 'logs', 'deep-default-init.layerwise.jsonl'), 'utf8')
  .trim()
  .split('\n')
  .map((l) => parseEventLine(l) as LayerwiseEvent);

test('a replay overlapping the live stream draws each step once (clip rate over the true count)', () => {
  const st = new Store();
  st.apply({ type: 'reset', mode: 'run', title: 'x', series: ['run'], clipMax: null });
  // live: the first 10 events; then a replay of everything from the start (a webview that became ready)
  st.apply({ type: 'events', series: 'run', events: events.slice(0, 10) });
  st.apply({ type: 'events', series: 'run', events });
  st.apply({ type: 'events', series: 'run', events: events.slice(-3) });
  const s = st.state.series[0]!;
  const steps = events.filter((e): e is StepEvent => e.type === 'step');
  assert.equal(s.stepsSeen, steps.length);
  assert.deepEqual(
    Store.history(s).map((p) => p.step),
    steps.map((e) => e.step),
  );
  assert.equal(s.clippedSeen, steps.filter((e) => e.clipped).length);
  const w = {
    type: 'warning',
    code: 'dying_relu',
    severity: 'warning',
    layer: 2,
    step: 3,
    message: 'm',
    fix: 'f',
  } as const;
  st.apply({ type: 'events', series: 'run', events: [w, w, { ...w, layer: 4 }] });
  assert.equal(s.warnings.length, 2);
});

test('after a reset (a new run), steps from 0 are drawn again', () => {
  const st = new Store();
  for (let r = 0; r < 2; r++) {
    st.apply({ type: 'reset', mode: 'run', title: 'x', series: ['run'], clipMax: null });
    st.apply({ type: 'events', series: 'run', events: events.slice(0, 6) });
    assert.equal(st.state.series[0]!.stepsSeen, 5);
  }
});
