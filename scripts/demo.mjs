// `npm run demo`: trains the same 30-layer ReLU net twice, Xavier then He init, shows each run's
// table and warnings (the CLI's own output, read back from its event stream), and ends with a
// side-by-side verdict: the loss each reached, and how far the signal got through the layers.
// Usage: node scripts/demo.mjs [STEPS]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(ROOT, 'dist', 'cli.js');
const steps = process.argv[2] ?? '100';
const models = ['deep-relu-xavier', 'deep-relu-he'];
const tmp = mkdtempSync(join(tmpdir(), 'layerwise-demo-'));

/** Runs a model with --json; prints the CLI's human view of it (layerwise watch on the stream). */
function run(name) {
  const r = spawnSync(
    process.execPath,
    [CLI, 'run', join(ROOT, 'examples', `${name}.mlp.json`), '--steps', steps, '--json'],
    {
      encoding: 'utf8',
      maxBuffer: 256 * 1024 * 1024,
    },
  );
  if (r.status !== 0) {
    process.stderr.write(r.stderr);
    process.exit(r.status ?? 1);
  }
  const log = join(tmp, `${name}.layerwise.jsonl`);
  writeFileSync(log, r.stdout);
  console.log(`\n=== ${name} ===`);
  spawnSync(process.execPath, [CLI, 'watch', log], { stdio: 'inherit' });
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

const fmt = (x) =>
  Math.abs(x) >= 1e4 || (x !== 0 && Math.abs(x) < 1e-2) ? x.toExponential(1) : String(Number(x.toPrecision(3)));

/** One run in a line: its init, the loss it reached, and the signal through the layers at step 0. */
function verdict(events) {
  const start = events.find((e) => e.type === 'start');
  const stepsSeen = events.filter((e) => e.type === 'step');
  const first = stepsSeen[0],
    last = stepsSeen.at(-1);
  const q0 = first.inputVar ?? 1;
  const hidden = first.layers.slice(0, -1);
  // the deepest hidden layer whose pre-activation variance is still within 10× of the input's
  const lost = hidden.find((l) => !(l.preact.var / q0 >= 0.1 && l.preact.var / q0 <= 10));
  const deepest = hidden.at(-1);
  const signal = lost
    ? `signal ${fmt(lost.preact.var / q0)} of the input's variance at layer ${lost.index}` +
      (deepest !== lost ? `, ${fmt(deepest.preact.var / q0)} at layer ${deepest.index}` : '')
    : `signal kept through all ${hidden.length} hidden layers (Var(z)/Var(x) ${fmt(deepest.preact.var / q0)} at layer ${deepest.index})`;
  const warnings = events.filter((e) => e.type === 'warning').length;
  return {
    init: start.layers[0].init,
    kept: !lost,
    drop: (first.loss - last.loss) / first.loss,
    line: `${start.layers[0].init}: loss ${fmt(first.loss)} → ${fmt(last.loss)} in ${last.step + 1} steps; ${signal}; ${warnings} warning${warnings === 1 ? '' : 's'}`,
  };
}

const results = models.map((m) => verdict(run(m)));
rmSync(tmp, { recursive: true, force: true });
// the run that trains: the signal kept through the layers first, then the larger relative drop of the loss
const best = results.reduce((a, b) => (b.kept !== a.kept ? (b.kept ? b : a) : b.drop > a.drop ? b : a));
console.log('\n=== verdict ===');
for (const r of results) console.log(`${r === best ? '✓' : ' '} ${r.line}`);
console.log(
  `\n${best.init} trains this net: it keeps Var(z_l) ≈ Var(a_{l−1}) (the seed's goal), so the gradient reaches the first layers.` +
    ' Open either file in VS Code for the same charts, live.',
);
