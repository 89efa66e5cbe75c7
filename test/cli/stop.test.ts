/** The CLI stops a running worker promptly on SIGINT and still reports the end of the run. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { CLI, ROOT } from '../helpers/cli';

test('SIGINT during a long run: end reason "stopped", exit 0, within a second', async () => {
  const child = spawn(process.execPath, [CLI, 'run', path.join(ROOT, 'examples', 'deep-relu-he.mlp.json'), '--steps', '1000000', '--json', '--every', '50'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise<void>((resolve) => {
    const poll = setInterval(() => { if (out.includes('"type":"step"')) { clearInterval(poll); resolve(); } }, 20);
  });
  const t0 = Date.now();
  child.kill('SIGINT');
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  const ms = Date.now() - t0;
  const events = out.trim().split('\n').map((l) => JSON.parse(l) as { type: string; reason?: string; steps?: number });
  const end = events.at(-1)!;
  assert.equal(end.type, 'end');
  assert.equal(end.reason, 'stopped');
  assert.ok(end.steps! > 0 && end.steps! < 1000000);
  assert.equal(code, 0);
  assert.ok(ms < 1000, `stopped after ${ms} ms`);
});

test('the reader goes away (`| head`): the run stops, exit 0, no stack trace', async () => {
  const child = spawn(process.execPath, [CLI, 'run', path.join(ROOT, 'examples', 'quick.mlp.json'), '--steps', '1000000', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  const t0 = Date.now();
  child.stdout.destroy(); // as `head -1` exits
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  assert.equal(code, 0);
  assert.equal(err, '');
  assert.ok(Date.now() - t0 < 5000, `ended after ${Date.now() - t0} ms`);
});
