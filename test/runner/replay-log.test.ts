/** The replay log's bounds: steps, histograms and sharpness events each thinned to their own bound. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LayerwiseEvent } from '../../src/protocol/events';
import { ReplayLog, REPLAY_HISTOGRAMS, REPLAY_STEPS } from '../../src/extension/replay-log';

test('periodic events are thinned per type, the newest kept; other events are all kept', () => {
  const log = new ReplayLog();
  log.start({ type: 'reset', mode: 'run', title: 't', series: ['run'], clipMax: null });
  const h = (step: number): LayerwiseEvent => ({ type: 'histogram', step, layers: [] });
  const s = (step: number): LayerwiseEvent => ({ type: 'sharpness', step, lambdaMax: 1, threshold: 2, iterations: 3 });
  const w = (step: number): LayerwiseEvent => ({
    type: 'warning',
    code: 'dying_relu',
    severity: 'warning',
    layer: 0,
    step,
    message: 'm',
    fix: 'f',
  });
  for (let k = 0; k < 10 * REPLAY_HISTOGRAMS; k++) {
    log.add('run', h(k));
    if (k % 2 === 0) log.add('run', s(k));
    if (k % 1000 === 0) log.add('run', w(k));
  }
  const kept = log.allEvents().get('run')!;
  const of = (t: string) => kept.filter((e) => e.type === t).map((e) => (e as { step: number }).step);
  const hs = of('histogram');
  assert.ok(hs.length <= REPLAY_HISTOGRAMS * 1.5 && hs.length >= REPLAY_HISTOGRAMS / 2, `${hs.length}`);
  assert.equal(hs.at(-1), 10 * REPLAY_HISTOGRAMS - 1);
  // the newest half-bound kept whole
  assert.deepEqual(
    hs.slice(-REPLAY_HISTOGRAMS / 2),
    Array.from({ length: REPLAY_HISTOGRAMS / 2 }, (_, i) => 10 * REPLAY_HISTOGRAMS - REPLAY_HISTOGRAMS / 2 + i),
  );
  // sharpness has its own (larger) bound: none dropped yet
  assert.equal(of('sharpness').length, 5 * REPLAY_HISTOGRAMS);
  assert.ok(5 * REPLAY_HISTOGRAMS <= REPLAY_STEPS * 1.5);
  // every warning kept, in order
  assert.deepEqual(of('warning'), [0, 1000, 2000, 3000]);
});
