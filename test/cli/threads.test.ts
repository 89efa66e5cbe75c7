/**
 * `--threads`: auto (the default) splits only while it pays and says how many steps it split;
 * 2 splits every step; 1 never; anything else is a usage error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import * as path from 'node:path';
import type { EndEvent } from '../../src/protocol/events';
import { ROOT, runCli } from '../helpers/cli';

const MODEL = path.join(ROOT, 'examples', 'deep-relu-he.mlp.json'); // 30×64, batch 256: big enough to split

const endOf = (args: string[]): { threads: unknown; end: EndEvent } => {
  const r = runCli(['run', MODEL, '--json', '--steps', '60', '--every', '20', ...args]);
  assert.equal(r.code, 0, r.stderr);
  const start = r.events.find((e) => e.type === 'start')!;
  const end = r.events.find((e) => e.type === 'end') as unknown as EndEvent;
  return { threads: start.threads, end };
};

test(
  '--threads auto (the default): split while it pays; end says how many steps were split',
  { skip: availableParallelism() < 2 },
  () => {
    for (const args of [[], ['--threads', 'auto']]) {
      const { threads, end } = endOf(args);
      assert.equal(threads, 2);
      assert.equal(end.steps, 60);
      assert.ok(Number.isInteger(end.splitSteps) && end.splitSteps! >= 0 && end.splitSteps! <= 60, JSON.stringify(end));
      // the first steps run on one thread, untimed, then one thread is timed before any split
      assert.ok(end.splitSteps! <= 60 - 9, JSON.stringify(end));
    }
  },
);

test('--threads 2 splits every step and --threads 1 none; neither reports splitSteps', () => {
  const two = endOf(['--threads', '2']);
  assert.equal(two.threads, 2);
  assert.equal(two.end.splitSteps, undefined);
  const one = endOf(['--threads', '1']);
  assert.equal(one.threads, 1);
  assert.equal(one.end.splitSteps, undefined);
});

test('--threads 3 is a usage error naming the choices', () => {
  const r = runCli(['run', MODEL, '--threads', '3']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--threads must be "auto", 1 or 2/);
});
