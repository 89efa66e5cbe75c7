/**
 * The clocks the worker gives the adaptive split (runner/process-clock.ts): the process's CPU time
 * and the machine's idle time, both in ms and never going back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpus } from 'node:os';
import { machineIdleMs, processCpuMs } from '../../src/runner/process-clock';

test('the process CPU time counts a spin of this thread', () => {
  const c0 = processCpuMs();
  const end = performance.now() + 60;
  while (performance.now() < end);
  const c1 = processCpuMs();
  assert.ok(Number.isFinite(c0) && c1 > c0, `${c0} → ${c1}`);
});

test("the machine's idle time is the sum over its cores, and does not go back", () => {
  const a = machineIdleMs();
  const sum = cpus().reduce((s, c) => s + c.times.idle, 0);
  const b = machineIdleMs();
  assert.ok(Number.isFinite(a) && a >= 0);
  assert.ok(a <= sum && sum <= b, `${a} ≤ ${sum} ≤ ${b}`);
});
