/**
 * Soak: 10⁶ training steps of a tiny model, every step event fed to the host's replay log and the
 * webview's store (the two places that keep history), memory sampled after GC: it stays flat.
 * LAYERWISE_SOAK_STEPS changes the length.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LayerwiseEvent } from '../../src/protocol/events';
import { Trainer } from '../../src/core/trainer';
import type { ModelSpec } from '../../src/core/spec';
import { ReplayLog, REPLAY_HISTOGRAMS, REPLAY_STEPS } from '../../src/extension/replay-log';
import { Store, RECENT, MAX_OLDER } from '../../webview/store';

const STEPS = Number(process.env.LAYERWISE_SOAK_STEPS ?? 1_000_000);

const spec: ModelSpec = {
  name: 'tiny',
  seed: 1,
  dtype: 'float32',
  inputSize: 2,
  layers: [
    { units: 4, activation: 'relu', alpha: 0, init: { scheme: 'he_normal', mode: 'fan_in' }, bias: 0 },
    { units: 2, activation: 'linear', alpha: 0, init: { scheme: 'xavier_uniform', mode: 'fan_in' }, bias: 0 },
  ],
  loss: 'cross_entropy',
  training: {
    optimizer: 'adam',
    learningRate: 1e-3,
    momentum: 0.9,
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    batchSize: 8,
    shuffle: true,
    steps: STEPS,
    clip: { mode: 'norm', max: 1 },
  },
  data: { source: 'synthetic', samples: 64, inputStd: 1, task: 'classification', classes: 2 },
  weights: null,
};

test(`soak: ${STEPS} steps, history bounded, memory flat`, () => {
  const log = new ReplayLog();
  log.start({ type: 'reset', mode: 'run', title: 'soak', series: ['run'], clipMax: 1 });
  const store = new Store();
  store.apply({ type: 'reset', mode: 'run', title: 'soak', series: ['run'], clipMax: 1 });
  let batch: LayerwiseEvent[] = [];
  const samples: number[] = [];
  const gc = (globalThis as { gc?: () => void }).gc;
  const trainer = new Trainer(spec, (e) => {
    log.add('run', e);
    batch.push(e);
    if (batch.length === 1000) {
      store.apply({ type: 'events', series: 'run', events: batch });
      batch = [];
    }
  });
  trainer.begin();
  const every = STEPS / 10;
  while (!trainer.done) {
    trainer.runStep();
    if (trainer.stepsDone % every === 0) {
      gc?.();
      samples.push(process.memoryUsage().heapUsed / 1024 / 1024);
    }
  }
  store.apply({ type: 'events', series: 'run', events: batch });
  assert.equal(trainer.stepsDone, STEPS);
  const s = store.state.series[0]!;
  assert.equal(s.stepsSeen, STEPS);
  assert.ok(
    s.recent.length + s.older.length <= 2 * RECENT + MAX_OLDER,
    `store keeps ${s.recent.length + s.older.length}`,
  );
  // steps and histograms (every 10 steps by default), each thinned to its own bound
  assert.ok(log.size <= (REPLAY_STEPS + REPLAY_HISTOGRAMS) * 1.5 + 50, `replay log keeps ${log.size}`);
  const settled = samples.slice(2);
  const spread = Math.max(...settled) - Math.min(...settled);
  console.log(`heap after GC every ${every} steps (MB): ${samples.map((m) => m.toFixed(1)).join(' ')}`);
  assert.ok(spread < 8, `heap varied by ${spread.toFixed(1)} MB after warm-up`);
});
