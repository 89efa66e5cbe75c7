/**
 * The memory estimate against the measured peak RSS of real runs (Linux: VmHWM of the CLI's
 * process, which holds the worker thread): it must bound the peak, and not by more than 25 %.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { estimateMemory } from '../../src/modelfile/memory';
import type { LayerSpec, TrainingSpec } from '../../src/core/spec';
import { CLI } from '../helpers/cli';

async function peakRss(args: string[]): Promise<number> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let peak = 0,
    err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const poll = setInterval(() => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'));
      if (m) peak = Math.max(peak, Number(m[1]) * 1024);
    } catch {
      /* exited */
    }
  }, 5);
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  clearInterval(poll);
  assert.equal(code, 0, err);
  return peak;
}

const layer = (
  units: number,
  activation: LayerSpec['activation'],
  scheme: LayerSpec['init']['scheme'] = 'he_normal',
): LayerSpec => ({ units, activation, alpha: 0.01, init: { scheme, mode: 'fan_in' }, bias: 0 });

const CASES = [
  { what: '4000 wide, sgd', n: 4000, optimizer: 'sgd', scheme: 'he_normal', samples: 64, threads: 1 },
  { what: '5000 wide, momentum', n: 5000, optimizer: 'momentum', scheme: 'he_normal', samples: 64, threads: 1 },
  { what: '3000 wide, adam, orthogonal', n: 3000, optimizer: 'adam', scheme: 'orthogonal', samples: 64, threads: 1 },
  { what: '4000 wide on two threads', n: 4000, optimizer: 'sgd', scheme: 'he_normal', samples: 256, threads: 2 },
  {
    what: '3000 wide, λmax every step',
    n: 3000,
    optimizer: 'sgd',
    scheme: 'he_normal',
    samples: 64,
    threads: 1,
    sharpnessEvery: 1,
    // the estimate counts the Hessian work arrays of the whole operator and 20 Lanczos vectors; a
    // batch of 32 rows of 3000 inputs iterates on their span and touches a 94th of the first
    // layer's part of the work arrays, and an evaluation ~11 of the vectors
    slack: 1.6,
  },
  {
    what: '3000 wide, λmax every step on the second of two threads',
    n: 3000,
    optimizer: 'sgd',
    scheme: 'he_normal',
    samples: 64,
    threads: 2,
    sharpnessEvery: 1,
    // as above
    slack: 1.6,
  },
  {
    what: 'data-heavy: 300,000 samples × 64 inputs',
    n: 64,
    optimizer: 'sgd',
    scheme: 'he_normal',
    samples: 300000,
    threads: 1,
  },
] as const;

for (const c of CASES) {
  test(
    `memory estimate bounds the peak RSS within 25 %: ${c.what}`,
    { skip: process.platform !== 'linux' },
    async (t) => {
      const d = fs.mkdtempSync(path.join(os.tmpdir(), 'lw-mem-'));
      const f = path.join(d, 'm.mlp.json');
      const model = {
        input: { size: c.n },
        layers: [{ units: c.n, activation: 'relu', init: c.scheme }, { units: 1 }],
        loss: 'mse',
        data: { source: 'synthetic', samples: c.samples },
        training: { steps: 2, batchSize: 32, optimizer: c.optimizer },
        ...('sharpnessEvery' in c ? { diagnostics: { sharpnessEvery: c.sharpnessEvery } } : {}),
      };
      fs.writeFileSync(f, JSON.stringify(model));
      const training = { optimizer: c.optimizer, batchSize: 32 } as unknown as TrainingSpec;
      const est = estimateMemory(
        { inputSize: c.n, layers: [layer(c.n, 'relu', c.scheme), layer(1, 'linear')], dtype: 'float32', training },
        c.samples,
        1,
        { threads: c.threads, ...('sharpnessEvery' in c ? { sharpnessEvery: c.sharpnessEvery } : {}) },
      ).total;
      const rss = await peakRss(['run', f, '--quiet', '--threads', String(c.threads), '--max-memory-mb', '8192']);
      const mb = (x: number): string => `${(x / 2 ** 20).toFixed(0)} MiB`;
      t.diagnostic(`peak ${mb(rss)}, estimate ${mb(est)}`);
      assert.ok(rss <= est, `peak ${mb(rss)} over the estimate ${mb(est)}`);
      const slack = 'slack' in c ? c.slack : 1.25;
      assert.ok(est <= slack * rss, `estimate ${mb(est)} more than ${(slack - 1) * 100} % over the peak ${mb(rss)}`);
    },
  );
}
