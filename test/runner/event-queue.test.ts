/**
 * What the host posts to a webview while a fast run streams: a bounded number of events a second
 * (the spikes, non-finite losses and the latest among them) and the exact tally of every step, so
 * the panel's "clipped on x % of N steps" is exact; the replay log and the HTML report the same.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { LayerwiseEvent, StepEvent } from '../../src/protocol/events';
import { parseHostMessage } from '../../src/protocol/webview-messages';
import {
  EventQueue,
  HISTOGRAM_ROW_BURST,
  HISTOGRAM_ROWS_PER_SECOND,
  PENDING_ROWS,
  STEP_ROW_BURST,
  STEP_ROWS_PER_SECOND,
} from '../../src/extension/event-queue';
import { ACK_TIMEOUT_MS, PostWindow, WINDOW } from '../../src/extension/post-window';
import { ReplayLog } from '../../src/extension/replay-log';
import { runReportHtml } from '../../src/report/page';
import { tallySteps, thinEvents } from '../../src/report/thinning';
import { Store } from '../../webview/store';

/** A seeded random-walk loss with one spike and one NaN; clipped on every third step. */
function run(n: number, spikeAt: number, nanAt: number): LayerwiseEvent[] {
  let x = 1,
    s = 12345;
  const out: LayerwiseEvent[] = [];
  for (let k = 0; k < n; k++) {
    s = (s * 1103515245 + 12345) % 2147483648;
    x = Math.max(0.01, x * (0.999 + (0.002 * s) / 2147483648));
    const loss = k === spikeAt ? 1e6 : k === nanAt ? NaN : x;
    out.push({ type: 'step', step: k, loss, gradNorm: 1, gradNormClipped: 1, clipped: k % 3 === 0, layers: [] });
    if (k % 10 === 0) out.push({ type: 'histogram', step: k, layers: [] });
    if (k % 5000 === 17)
      out.push({ type: 'warning', code: 'dying_relu', severity: 'warning', layer: 0, step: k, message: 'm', fix: 'f' });
  }
  return out;
}

const stepsOf = (es: readonly LayerwiseEvent[]): StepEvent[] => es.filter((e): e is StepEvent => e.type === 'step');

test('thinning keeps about max steps: the smallest and largest loss of each bucket, every NaN, the last', () => {
  const all = run(100000, 54321, 77777);
  const kept = thinEvents(all, 'step', 1000);
  const ks = stepsOf(kept);
  assert.ok(ks.length <= 1000 + 2 && ks.length >= 900, `${ks.length}`);
  const steps = ks.map((e) => e.step);
  assert.ok(steps.includes(54321), 'the spike');
  assert.ok(steps.includes(77777), 'the NaN');
  assert.equal(steps.at(-1), 99999, 'the latest');
  // the run's smallest loss
  const finite = stepsOf(all).filter((e) => Number.isFinite(e.loss));
  const min = finite.reduce((a, b) => (b.loss < a.loss ? b : a));
  assert.ok(steps.includes(min.step), 'the minimum');
  // in order; every other event kept, in its place
  assert.deepEqual(
    steps,
    [...steps].sort((a, b) => a - b),
  );
  assert.deepEqual(
    kept.filter((e) => e.type !== 'step'),
    all.filter((e) => e.type !== 'step'),
  );
  // histograms (no loss): evenly, at most max, the last kept
  const hs = thinEvents(all, 'histogram', 100).filter((e) => e.type === 'histogram');
  assert.ok(hs.length >= 90, `${hs.length}`);
  assert.equal(hs.at(-1)!.step, 99990);
  assert.ok(hs.length <= 100);
  // under the bound: all kept
  assert.deepEqual(thinEvents(all.slice(0, 500), 'step', 1000), all.slice(0, 500));
});

test('a fast run posts a bounded number of events a second, a short one all of them; the panel counts every step', () => {
  // 7000 steps/s (the quick example here), posted 30 times a second for 10 s
  const all = run(70000, 31000, 52000);
  const q = new EventQueue();
  const st = new Store();
  st.apply({ type: 'reset', mode: 'run', title: 't', series: ['run'], clipMax: 1 });
  let steps = 0,
    hists = 0,
    bytes = 0,
    now = 0;
  const perPost = Math.ceil(all.length / 300);
  for (let i = 0; i < all.length; i += perPost, now += 1000 / 30) {
    q.add('run', all.slice(i, i + perPost));
    for (const m of q.take(now)) {
      assert.ok(parseHostMessage(m), 'a valid host message');
      steps += stepsOf(m.events).length;
      hists += m.events.filter((e) => e.type === 'histogram').length;
      bytes += JSON.stringify(m).length;
      st.apply(m);
    }
  }
  // a full bucket, then the rates, for 10 s (the latest step of each post always goes, NaN too);
  // these events have no layers: a row each
  assert.ok(steps <= STEP_ROW_BURST + 10 * STEP_ROWS_PER_SECOND + 300 + 2, `${steps} steps posted`);
  assert.ok(steps >= 10 * STEP_ROWS_PER_SECOND * 0.9, `${steps} steps posted`);
  assert.ok(hists <= HISTOGRAM_ROW_BURST + 10 * HISTOGRAM_ROWS_PER_SECOND + 1, `${hists} histograms posted`);
  assert.ok(bytes < all.length * 40, `${bytes} bytes`);
  const ser = st.state.series[0]!;
  const every = tallySteps(all);
  assert.equal(ser.stepsSeen, 70000);
  assert.equal(ser.clippedSeen, every.clipped);
  assert.equal(ser.latest!.step, 69999, 'the latest step is shown');
  assert.ok(ser.warnings.length === 14, 'every warning');
  assert.ok(
    Store.history(ser).some((p) => p.step === 31000),
    'the spike is drawn',
  );
  // a short run in one post: all of it
  const short = run(600, -1, -1);
  const q2 = new EventQueue();
  q2.add('run', short);
  const posted = q2.take(0)[0]!.events;
  assert.deepEqual(stepsOf(posted), stepsOf(short));
  const h = posted.filter((e) => e.type === 'histogram').length;
  assert.equal(h, Math.min(60, HISTOGRAM_ROW_BURST), `${h} histograms`);
  // a kept run (thinned already, with its tally) is posted as it is
  const kept = stepsOf(all).slice(0, 5000);
  q.add('kept', kept, { steps: 9000, clipped: 10 });
  const [km] = q.take(now).filter((m) => m.series === 'kept');
  assert.equal(km!.events.length, 5000);
  assert.deepEqual(km!.seen, { steps: 9000, clipped: 10 });
  // a new run starts the tally over
  q.clear();
  q.add('run', all.slice(0, 3));
  assert.deepEqual(q.take(now)[0]!.seen, { steps: 2, clipped: 1 });
});

test('a replay after thinning and a report of a long run state the exact tally', () => {
  const all = run(30000, 100, 200);
  const log = new ReplayLog();
  log.start({ type: 'reset', mode: 'run', title: 't', series: ['run'], clipMax: 1 });
  for (const e of all) log.add('run', e);
  const st = new Store();
  for (const m of log.messages()) st.apply(m);
  const ser = st.state.series[0]!;
  assert.ok(stepsOf(log.allEvents().get('run')!).length < 30000, 'the log thinned its steps');
  assert.equal(ser.stepsSeen, 30000);
  assert.equal(ser.clippedSeen, 10000);
  // the report: thinned to its bound, the tally of every step
  const html = runReportHtml({
    script: '',
    css: '',
    reset: { type: 'reset', mode: 'run', title: 't', series: ['run'], clipMax: 1 },
    series: [['run', all]],
  });
  const msgs = JSON.parse(/<script[^>]*id="layerwise-data"[^>]*>([^<]*)<\/script>/.exec(html)?.[1] ?? 'null');
  assert.ok(msgs, 'the report inlines its messages');
  const ev = msgs.find((m: { type: string }) => m.type === 'events');
  assert.deepEqual(ev.seen, { steps: 30000, clipped: 10000 });
  assert.ok(stepsOf(ev.events).length <= 5002);
});

test('events waiting for a webview that lags are thinned where they wait; the tally stays exact', () => {
  // 200,000 steps queued, none taken (the webview has not acknowledged the posts before)
  const all = run(200000, 123456, 150000);
  const q = new EventQueue();
  for (let i = 0; i < all.length; i += 250) {
    q.add('run', all.slice(i, i + 250));
    assert.ok(q.hasPending);
  }
  const [m, ...rest] = q.take(0);
  assert.equal(rest.length, 0);
  const steps = stepsOf(m!.events).map((e) => e.step);
  const hists = m!.events.filter((e) => e.type === 'histogram').length;
  assert.ok(m!.events.length <= PENDING_ROWS + 250, `${m!.events.length} events waited`);
  assert.ok(steps.length <= STEP_ROW_BURST + 2 + 250, `${steps.length} steps posted`);
  assert.ok(hists <= HISTOGRAM_ROW_BURST + 25, `${hists} histograms posted`);
  assert.ok(steps.includes(123456), 'the spike');
  assert.ok(steps.includes(150000), 'the NaN');
  assert.equal(steps.at(-1), 199999, 'the latest');
  assert.equal(m!.events.filter((e) => e.type === 'warning').length, 40, 'every warning');
  assert.deepEqual(m!.seen, tallySteps(all));
  assert.equal(q.hasPending, false);
});

test('flow control: two posts in flight at most; an ack (of a post and those before it) opens the window', () => {
  assert.equal(WINDOW, 2);
  const w = new PostWindow();
  assert.equal(w.open(0), true);
  const a = w.sent(0),
    b = w.sent(10);
  assert.equal(w.open(20), false, 'two in flight');
  assert.equal(w.expiresIn(20), ACK_TIMEOUT_MS - 20);
  w.acked(a);
  assert.equal(w.open(30), true);
  assert.equal(w.inFlight, 1);
  const c = w.sent(30);
  assert.ok(a < b && b < c, 'seqs increase');
  w.acked(c); // the connection keeps order: b arrived too
  assert.equal(w.inFlight, 0);
  // a post never acknowledged counts as lost after ACK_TIMEOUT_MS
  w.sent(100);
  w.sent(200);
  assert.equal(w.open(100 + ACK_TIMEOUT_MS - 1), false);
  assert.equal(w.open(100 + ACK_TIMEOUT_MS), true);
  assert.equal(w.inFlight, 1);
  // a new webview (its `ready`): nothing in flight
  w.sent(300);
  w.reset();
  assert.equal(w.inFlight, 0);
  assert.equal(w.expiresIn(400), null);
  // an old webview's late ack of a seq before the new ones does not open the window
  const d = w.sent(500),
    e = w.sent(500);
  w.acked(c);
  assert.equal(w.open(600), false);
  w.acked(e);
  assert.ok(d < e && w.open(600));
});
