import { Trainer } from '../src/core/trainer';
import { enableRelaxedSimd } from '../src/runner/wasm-features';
import { specOf } from './spec-of';
import { helperSpawner } from './helper';
import { WORKLOADS } from './workloads.mjs';
enableRelaxedSimd();
const name = (process.argv[2] ?? 'W3') as keyof typeof WORKLOADS;
const mk = (threads: number) => { const t = new Trainer(specOf(name), () => undefined, { stats: WORKLOADS[name].stats, every: 1, spawnHelper: threads > 1 ? helperSpawner(new URL('../dist/worker.js', import.meta.url).pathname) : undefined }); t.begin(); return t; };
const one = mk(1), two = mk(2);
const rate = (t: Trainer, ms: number) => { let n = 0; const t0 = performance.now(); while (performance.now() - t0 < ms) { t.runStep(); n++; } return n / (performance.now() - t0) * 1000; };
rate(one, 300); rate(two, 300);
const r: number[] = [], a: number[] = [], b: number[] = [];
for (let i = 0; i < 9; i++) { const x = rate(one, 250), y = rate(two, 250); a.push(x); b.push(y); r.push(y / x); }
const med = (v: number[]) => [...v].sort((p, q) => p - q)[4]!;
console.log(`${String(name)}: 1 thread ${med(a).toFixed(0)} steps/s, 2 threads ${med(b).toFixed(0)} steps/s, median ratio ${med(r).toFixed(2)} (${r.map((x) => x.toFixed(2)).join(' ')})`);
one.close(); two.close();
