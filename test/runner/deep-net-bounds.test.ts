/**
 * A deep net's events are larger (a step event of 31 layers is ~9× one of 3 layers): what the host
 * posts to the panel, keeps for a reloaded panel and for the Runs view, and writes into a report
 * is bounded in rows (one and one per layer), so a deep net's run takes about the bytes a shallow
 * net's does, not nine times them. Real events, from the core.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { LayerwiseEvent } from '../../src/protocol/events';
import { Trainer } from '../../src/core/trainer';
import { EventQueue } from '../../src/extension/event-queue';
import { ReplayLog } from '../../src/extension/replay-log';
import { RunHistory } from '../../src/extension/run-history';
import { runReportHtml } from '../../src/report/page';
import { layer, testSpec } from '../helpers/spec';

/** `n` steps of a net of `depth` layers (real events of 20 steps, repeated with new step numbers). */
function run(depth: number, n: number): LayerwiseEvent[] {
  const spec = testSpec({
    seed: 3,
    dtype: 'float32',
    inputSize: 8,
    layers: [...Array.from({ length: depth - 1 }, () => layer(16, 'relu')), layer(3, 'linear', 'he_normal')],
    training: { steps: 20 },
    data: { samples: 64 },
  });
  const real: LayerwiseEvent[] = [];
  new Trainer(spec, (e) => real.push(e), { histogramsEvery: 10 }).run();
  const step = real.find((e) => e.type === 'step')!,
    hist = real.find((e) => e.type === 'histogram')!;
  assert.equal(step.type === 'step' && step.layers.length, depth);
  const out: LayerwiseEvent[] = [];
  for (let k = 0; k < n; k++) {
    out.push({ ...step, step: k, loss: 1 / (1 + k) } as LayerwiseEvent);
    if (k % 10 === 0) out.push({ ...hist, step: k } as LayerwiseEvent);
  }
  return out;
}

const bytes = (x: unknown): number => JSON.stringify(x).length;

test("a 31-layer net's run is posted, kept and reported in about the bytes of a 3-layer net's", () => {
  const shallow = run(3, 20000),
    deep = run(31, 20000);
  const perStep = (es: LayerwiseEvent[]): number => bytes(es.find((e) => e.type === 'step'));
  assert.ok(perStep(deep) > 6 * perStep(shallow), `${perStep(deep)} vs ${perStep(shallow)} bytes a step`);

  const posted = (all: LayerwiseEvent[]): number => {
    // 2000 steps a second, posted 20 times a second, for 10 s
    const q = new EventQueue();
    let b = 0;
    for (let i = 0, now = 0; i < all.length; i += 110, now += 50) {
      q.add('run', all.slice(i, i + 110));
      for (const m of q.take(now)) b += bytes(m);
    }
    return b;
  };
  const kept = (all: LayerwiseEvent[]): number => {
    const log = new ReplayLog();
    log.start({ type: 'reset', mode: 'run', title: 't', series: ['run'], clipMax: null });
    for (const e of all) log.add('run', e);
    return bytes(log.messages());
  };
  const stored = (all: LayerwiseEvent[]): number => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lw-deep-'));
    new RunHistory(dir).save('/w/a.mlp.json', 'a', all);
    let b = 0;
    for (const f of fs.readdirSync(dir, { recursive: true, withFileTypes: true }))
      if (f.isFile()) b += fs.statSync(path.join(f.parentPath, f.name)).size;
    fs.rmSync(dir, { recursive: true });
    return b;
  };
  const report = (all: LayerwiseEvent[]): number =>
    runReportHtml({
      script: '',
      css: '',
      reset: { type: 'reset', mode: 'run', title: 't', series: ['run'], clipMax: null },
      series: [['run', all]],
    }).length;
  for (const [what, f] of [
    ['posted to the panel', posted],
    ['kept for a reloaded panel', kept],
    ['kept in the Runs view', stored],
    ['in a report', report],
  ] as const) {
    const s = f(shallow),
      d = f(deep);
    assert.ok(s > 100000, `${what}: ${s} bytes of a 3-layer net's run`);
    assert.ok(d <= 1.6 * s, `${what}: ${d} bytes of a 31-layer net's run, ${s} of a 3-layer net's`);
  }
});
