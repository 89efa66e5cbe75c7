// npm run bench [-- --json] [-- --rounds N] [-- --only W1,W3] [-- --quiet-only]: W1–W5 on the Layerwise core (WebAssembly SIMD on two
// threads and on one, and pure TS on one and on two), on @tensorflow/tfjs-backend-wasm and -cpu, and on PyTorch when
// /usr/bin/python3 has torch, all in this run, each engine × workload in its own process (clean peak
// RSS). Every job runs N times (default 5), round-robin over the engines, so that a slow spell of
// this noisy machine falls on all of them; each row is the median. Prints a table and JSON lines
// {"workload","engine","stepsPerSec","gflops","peakRssMb","rounds"} and {"metric","value"} (and
// {"metric":"coreRoundTrip","workload","ns","twoCores"}: where the host put the two vCPUs, before each quiet round).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, resolve } from 'node:path';
import * as esbuild from 'esbuild';
import { WORKLOADS } from './workloads.mjs';

const ROOT = resolve(new URL('..', import.meta.url).pathname);
const jsonOnly = process.argv.includes('--json');
const roundsArg = process.argv.indexOf('--rounds');
const ROUNDS = roundsArg > 0 ? Math.max(1, Number(process.argv[roundsArg + 1]) || 5) : 5;
const onlyArg = process.argv.indexOf('--only');
const ONLY = onlyArg > 0 ? String(process.argv[onlyArg + 1] ?? '').split(',') : Object.keys(WORKLOADS);
const unknown = ONLY.filter((w) => !(w in WORKLOADS));
if (unknown.length) {
  console.error(`bench: unknown workload ${unknown.join(', ')}; use --only ${Object.keys(WORKLOADS).join(',')}`);
  process.exit(2);
}
const log = (s) => {
  if (!jsonOnly) console.error(s);
};
const out = join(ROOT, 'dist-bench');
/** Whether `npm run build` made the native products and this CPU runs them (then layerwise-wasm rows too). */
const NATIVE =
  existsSync(join(ROOT, 'dist', 'layerwise-native.node')) &&
  process.env.LAYERWISE_NATIVE !== '0' &&
  /\bavx512f\b/.test(existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '');
mkdirSync(out, { recursive: true });
execFileSync(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, stdio: jsonOnly ? 'ignore' : 'inherit' });
/** Bundles a bench script for Node into dist-bench. */
const bundle = (entry, outfile, extra = {}) =>
  esbuild.build({
    entryPoints: [join(ROOT, entry)],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile: join(out, outfile),
    logLevel: 'error',
    ...extra,
  });
await bundle('bench/ours.mts', 'ours.mjs');
await bundle('bench/profile.mts', 'profile.mjs');
await bundle('bench/tfjs.mjs', 'tfjs.cjs', { format: 'cjs', ignoreAnnotations: true });

const hasTorch = spawnSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
// OpenBLAS tuning variables set on some machines slow current builds: unset them for PyTorch only.
// One thread for PyTorch is one core: its scripts also bound OpenBLAS's threads (which
// torch.set_num_threads does not) and report CPU time over wall time.
const torchEnv = { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' };
delete torchEnv.OPENBLAS_CORETYPE;
delete torchEnv.OPENBLAS_L2_SIZE;

/** The first JSON line a command prints (all of them with `all`), or null when it failed. */
function run(cmd, args, env = process.env, all = false) {
  const r = spawnSync(cmd, args, { cwd: ROOT, encoding: 'utf8', env, maxBuffer: 64 * 1024 * 1024 });
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('{'));
  if (r.status !== 0 || lines.length === 0) {
    log(`  ${cmd} ${args.join(' ')} failed: ${(r.stderr || '').trim().split('\n').pop()}`);
    return null;
  }
  return all ? lines.map((l) => JSON.parse(l)) : JSON.parse(lines[0]);
}

const results = [];
const metrics = [];
const emit = (o) => {
  console.log(JSON.stringify(o));
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const name of ONLY) {
  log(`${name}: ${WORKLOADS[name].note}`);
  const jobs = [
    ...threadJobs(name),
    ...(name !== 'W4' ? [['layerwise-ts', () => run(process.execPath, [join(out, 'ours.mjs'), name, 'ts'])]] : []),
    ...(name !== 'W4'
      ? [
          [
            'layerwise-ts-2t',
            () => run(process.execPath, [join(out, 'ours.mjs'), name, 'ts', '2', join(ROOT, 'dist', 'worker.js')]),
          ],
        ]
      : []),
    // tfjs: plain SGD only (W5 uses momentum and clipping)
    ...(name !== 'W5' ? [['tfjs-wasm', () => run(process.execPath, [join(out, 'tfjs.cjs'), name, 'wasm', ROOT])]] : []),
    ...(name !== 'W4' && name !== 'W5'
      ? [['tfjs-cpu', () => run(process.execPath, [join(out, 'tfjs.cjs'), name, 'cpu', ROOT])]]
      : []),
    ...(hasTorch
      ? [['pytorch', () => run('/usr/bin/python3', [join(ROOT, 'bench/torch_bench.py'), name], torchEnv)]]
      : []),
  ];
  for (const row of rounds(name, jobs)) {
    results.push(row);
    emit(row);
  }
}

/**
 * Our core three ways: split while it pays (the CLI's default), always split, one thread; with the
 * CLI's default kernels (the native products where built and supported) and, as `layerwise-wasm`,
 * on WebAssembly alone (the extension's, and the one to set beside tfjs-wasm).
 */
function threadJobs(name, withWasm = true) {
  const worker = join(ROOT, 'dist', 'worker.js');
  const ours = (kernels, threads, engine) => [
    engine,
    () => run(process.execPath, [join(out, 'ours.mjs'), name, kernels, threads, ...(threads === '1' ? [] : [worker])]),
  ];
  return [
    ours('auto', 'auto', 'layerwise'),
    ours('auto', '2', 'layerwise-2t'),
    ours('auto', '1', 'layerwise-1t'),
    ...(NATIVE && withWasm ? [ours('wasm', 'auto', 'layerwise-wasm'), ours('wasm', '1', 'layerwise-wasm-1t')] : []),
  ];
}

/**
 * Runs every job ROUNDS times, round-robin; returns one row per engine (the median). Before each
 * quiet round (no suffix), the cores' round trip (bench/core-trip.mjs): where the host has put the
 * two vCPUs, which the split's worth depends on; kept as a `coreRoundTrip` metric of the workload.
 */
function rounds(name, jobs, suffix = '') {
  const got = new Map(jobs.map(([engine]) => [engine, []]));
  const trips = [],
    twoCores = [];
  for (let round = 0; round < ROUNDS; round++) {
    if (!suffix) {
      const where = run(process.execPath, [join(ROOT, 'bench', 'core-trip.mjs')]);
      trips.push(where?.ns ?? null);
      twoCores.push(where?.twoCores ?? null);
    }
    for (const [engine, job] of jobs) {
      const r = job();
      if (r) got.get(engine).push(r);
    }
  }
  const rows = [];
  for (const [engine, rs] of got) {
    if (rs.length === 0) continue;
    const sps = median(rs.map((r) => r.stepsPerSec)),
      r0 = rs[0];
    const row = {
      workload: name,
      engine,
      stepsPerSec: sps,
      gflops: (r0.gflops / r0.stepsPerSec) * sps,
      peakRssMb: Math.max(...rs.map((r) => r.peakRssMb)),
      rounds: rs.map((r) => Math.round(r.stepsPerSec * 10) / 10),
      ...(r0.threads ? { threads: r0.threads } : {}),
      ...(r0.cpuPerWall !== undefined ? { cpuPerWall: Math.max(...rs.map((r) => r.cpuPerWall)) } : {}),
    };
    rows.push({ ...row, engine: engine + suffix });
  }
  if (!suffix) {
    const m = { metric: 'coreRoundTrip', workload: name, ns: trips, twoCores };
    metrics.push(m);
    emit(m);
  }
  return rows;
}

// Contended: another process keeps a core busy through these rounds (started and stopped here,
// and bounded: it ends by itself after 20 minutes), as on a shared machine; the default (split
// while it pays) must stay near one thread's speed where always splitting loses several times.
const CONTENDED = ONLY.filter((w) => ['W1', 'W3', 'W5'].includes(w));
if (CONTENDED.length && cpus().length >= 2 && !process.argv.includes('--quiet-only')) {
  log('contended: a busy process on one core');
  const busy = spawn(process.execPath, ['-e', 'const end = Date.now() + 1200e3; while (Date.now() < end);'], {
    stdio: 'ignore',
  });
  const stop = () => busy.kill('SIGKILL');
  process.on('exit', stop);
  try {
    for (const name of CONTENDED) {
      const rows = rounds(name, threadJobs(name, false), '@contended');
      for (const row of rows) {
        results.push(row);
        emit(row);
      }
      const sps = (e) => rows.find((r) => r.engine === e + '@contended')?.stepsPerSec;
      if (sps('layerwise') && sps('layerwise-1t')) {
        const m = { metric: 'contendedAutoOver1t', workload: name, value: sps('layerwise') / sps('layerwise-1t') };
        metrics.push(m);
        emit(m);
      }
    }
  } finally {
    stop();
  }
}
const get = (w, e) => results.find((r) => r.workload === w && r.engine === e)?.stepsPerSec;
for (const w of ONLY) {
  const t = run(process.execPath, [join(out, 'ours.mjs'), 'threads', w, join(ROOT, 'dist', 'worker.js')]);
  if (t) {
    metrics.push(t);
    emit(t);
  }
}
// layerwise_torch.watch on the plain PyTorch loop (W1's shapes, which are W3's too): every=1 and
// every=10 against no watch, taking turns in one process (torch_overhead.py)
if (hasTorch && (ONLY.includes('W1') || ONLY.includes('W3'))) {
  const r = spawnSync(
    '/usr/bin/python3',
    [join(ROOT, 'bench/torch_overhead.py'), 'W1', String(Math.max(6, 2 * ROUNDS))],
    { cwd: ROOT, encoding: 'utf8', env: torchEnv },
  );
  if (r.status !== 0) log(`  torch_overhead.py failed: ${(r.stderr || '').trim().split('\n').pop()}`);
  for (const line of (r.stdout ?? '').split('\n').filter((l) => l.startsWith('{'))) {
    const o = JSON.parse(line);
    if (o.metric) {
      metrics.push(o);
      emit(o);
      continue;
    }
    if (o.engine === 'pytorch-plain') continue; // the pytorch row is measured with the others
    // rows beside the other engines; the overhead metric (same process, paired windows) is the measure
    for (const w of ['W1', 'W3'].filter((x) => ONLY.includes(x))) {
      const row = { ...o, workload: w };
      results.push(row);
      emit(row);
    }
  }
}
const o = run(
  process.execPath,
  [join(out, 'ours.mjs'), 'overhead', join(ROOT, 'dist', 'worker.js')],
  process.env,
  true,
);
for (const m of o ?? []) {
  metrics.push(m);
  emit(m);
}
const a = run(process.execPath, [join(out, 'ours.mjs'), 'analyze']);
if (a) {
  metrics.push(a);
  emit(a);
}
const w4 = join(out, 'w4.mlp.json');
writeFileSync(
  w4,
  JSON.stringify({
    name: 'W4',
    input: { size: 1024 },
    layers: [{ units: 1024, activation: 'relu' }, { units: 1024, activation: 'relu' }, { units: 10 }],
    loss: 'cross_entropy',
    data: { source: 'synthetic', samples: 1024 },
    training: { batchSize: 256, steps: 1000000 },
  }),
);
const s = run(process.execPath, [join(out, 'ours.mjs'), 'stop', join(ROOT, 'dist', 'worker.js'), w4]);
if (s) {
  metrics.push(s);
  emit(s);
}
// where a W5 step goes, on one thread (bench/profile.mts: the phases' milliseconds a step)
const w5Profile = ONLY.includes('W5')
  ? spawnSync(process.execPath, [join(out, 'profile.mjs'), 'W5', 'auto', '1'], { cwd: ROOT, encoding: 'utf8' })
  : null;

if (!jsonOnly) {
  const engines = [
    'layerwise',
    'layerwise-2t',
    'layerwise-1t',
    ...(NATIVE ? ['layerwise-wasm', 'layerwise-wasm-1t'] : []),
    'layerwise-ts',
    'layerwise-ts-2t',
    'tfjs-wasm',
    'tfjs-cpu',
    'pytorch',
    'pytorch+layerwise',
    'pytorch+layerwise@10',
  ];
  const fmt = (x, d = 1) => (x === undefined ? '—' : x.toFixed(d));
  const lines = [
    `machine: ${cpus()[0]?.model ?? '?'} × ${cpus().length}, node ${process.version}, ${new Date().toISOString().slice(0, 10)}`,
    '',
    `| workload | ${engines.join(' | ')} | ours (WebAssembly)/tfjs-wasm | ours/pytorch | ours 1t/pytorch |`,
    `|---|${engines.map(() => '---').join('|')}|---|---|---|`,
  ];
  for (const w of ONLY) {
    const cell = (e) => {
      const r = results.find((x) => x.workload === w && x.engine === e);
      return r ? `${fmt(r.stepsPerSec)} (${fmt(r.gflops)} GF, ${fmt(r.peakRssMb, 0)} MB)` : '—';
    };
    const ratio = (e, ours = 'layerwise') => (get(w, e) && get(w, ours) ? `${fmt(get(w, ours) / get(w, e), 2)}×` : '—');
    lines.push(
      `| ${w} | ${engines.map(cell).join(' | ')} | ${ratio('tfjs-wasm', NATIVE ? 'layerwise-wasm' : 'layerwise')} | ${ratio('pytorch')} | ${ratio('pytorch', 'layerwise-1t')} |`,
    );
  }
  lines.push(
    '',
    `steps/s, median of ${ROUNDS} round-robin rounds (GFLOP/s, peak RSS). layerwise: ${NATIVE ? 'the native products (AVX-512) and relaxed SIMD' : 'relaxed SIMD'}, each batch split over 2 threads while that is measured to pay (the CLI's default, --threads auto); layerwise-2t: every step split; layerwise-ts-2t: the TS kernels, every step split`,
  );
  const contended = ONLY.filter((w) => results.some((r) => r.workload === w && r.engine === 'layerwise@contended'));
  if (contended.length) {
    lines.push(
      '',
      'contended (a busy process on one core): steps/s',
      '| workload | layerwise (auto) | layerwise-2t | layerwise-1t | auto/1t |',
      '|---|---|---|---|---|',
    );
    for (const w of contended) {
      const c = (e) => get(w, `${e}@contended`);
      lines.push(
        `| ${w} | ${fmt(c('layerwise'))} | ${fmt(c('layerwise-2t'))} | ${fmt(c('layerwise-1t'))} | ${c('layerwise') && c('layerwise-1t') ? fmt(c('layerwise') / c('layerwise-1t'), 2) + '×' : '—'} |`,
      );
    }
    lines.push('');
  }
  lines.push(
    '(threads: ' +
      ONLY.map((w) => `${w} ${results.find((r) => r.workload === w && r.engine === 'layerwise')?.threads ?? '?'}`).join(
        ', ',
      ) +
      '); layerwise-1t: one thread; every other engine: one thread.',
  );
  const torchCores = results.filter((r) => r.engine === 'pytorch' && r.cpuPerWall !== undefined);
  if (torchCores.length)
    lines.push(
      `pytorch CPU time / wall time (1 = one core): ${torchCores.map((r) => `${r.workload} ${fmt(r.cpuPerWall, 2)}`).join(', ')}`,
    );
  const ts = get('W1', 'layerwise-ts'),
    ts2 = get('W1', 'layerwise-ts-2t'),
    cpu = get('W1', 'tfjs-cpu');
  if (ts && cpu)
    lines.push(
      `pure-TS path / tfjs-cpu on W1: ${fmt(ts / cpu, 2)}× on one thread${ts2 ? `, ${fmt(ts2 / cpu, 2)}× split over two` : ''}`,
    );
  const trips = metrics.filter((m) => m.metric === 'coreRoundTrip');
  if (trips.length) {
    lines.push(
      "by round (quiet): where the host had put the two vCPUs before it (a flag's round trip between two threads: ~160-200 ns on one cache, ~450-600 ns apart; and two threads' arithmetic at once over one's: ~2× on two cores, ~1× where they share one), and auto / one thread in it",
    );
    for (const m of trips) {
      const by = (e) => results.find((r) => r.workload === m.workload && r.engine === e)?.rounds ?? [];
      const auto = by('layerwise'),
        one = by('layerwise-1t');
      const paired = auto.length === m.ns.length && one.length === m.ns.length;
      lines.push(
        `  ${m.workload}: ${m.ns
          .map(
            (ns, i) =>
              `${ns ?? '?'} ns${m.twoCores?.[i] ? ` ${fmt(m.twoCores[i], 2)}× arithmetic` : ''}${paired ? `: ${fmt(auto[i] / one[i], 2)}×` : ''}`,
          )
          .join(', ')}`,
      );
    }
  }
  for (const m of metrics) {
    if (m.metric === 'contendedAutoOver1t' || m.metric === 'coreRoundTrip') continue; // in their own lines
    if (m.metric === 'threadSpeedup')
      lines.push(`threadSpeedup ${m.workload} (2 threads / 1, interleaved in one process): ${fmt(m.value, 2)}×`);
    else if (m.metric === 'torchWatchOverhead')
      lines.push(
        `layerwise_torch.watch on PyTorch ${m.workload} (in one process): every=1 +${fmt(100 * m.every1)} % (goal ≤ 20 %), every=10 +${fmt(100 * m.every10)} % (goal ≤ 3 %); in that process plain ${fmt(m.stepsPerSec?.plain)}, every=1 ${fmt(m.stepsPerSec?.every1)}, every=10 ${fmt(m.stepsPerSec?.every10)} steps/s`,
      );
    else if (m.metric === 'torchWatchBreakdown')
      lines.push(
        `  a logged ${m.workload} step (blocks of consecutive steps): ${fmt(m.stepUs, 0)} µs plain; hooks in forward+backward +${fmt(m.hooksUs, 0)} µs, run.step over optimizer.step +${fmt(m.runStepUs, 0)} µs`,
      );
    else if (m.metric === 'torchWatchFloor')
      lines.push(
        `  the floor (torch_overhead.py Bare: the same statistics with none of watch's generality, every step, in windows as above): +${fmt(100 * m.all)} % (the samples' part alone +${fmt(100 * m.samples)} %, the parameters' +${fmt(100 * m.params)} %)`,
      );
    else if (m.metric === 'torchWatchEvery10')
      lines.push(
        `  every=10 over the plain loop: the logged step (with its histograms) +${fmt(m.loggedUs, 0)} µs (the histogram event ${fmt(m.histogramEventUs, 0)} µs), the next step +${fmt(m.nextUs, 0)} µs, each of the other eight ${fmt(m.othersUs, 0)} µs`,
      );
    else lines.push(`${m.metric}: ${m.metric.endsWith('Overhead') ? `${fmt(100 * m.value)} %` : `${fmt(m.value)} ms`}`);
  }
  if (w5Profile?.status === 0) lines.push('', 'where a W5 step goes (one thread):', w5Profile.stdout.trimEnd());
  lines.push('', ...goals(fmt));
  console.error(lines.join('\n'));
}

/** The performance issues' goals, as ratios in this run: each met, missed, or not measured. */
function goals(fmt) {
  const metric = (name, w) => metrics.find((m) => m.metric === name && (w === undefined || m.workload === w));
  const ratio = (w, a, b) => (get(w, a) && get(w, b) ? get(w, a) / get(w, b) : undefined);
  const contended = (w) => metric('contendedAutoOver1t', w)?.value;
  const rows = [
    ...['W1', 'W3', 'W5'].map((w) => [`contended ${w} auto / one thread`, contended(w), '≥', 0.9, '×']),
    ...['W1', 'W2', 'W3', 'W4', 'W5'].map((w) => [
      `quiet ${w} auto / one thread`,
      ratio(w, 'layerwise', 'layerwise-1t'),
      '≥',
      w === 'W1' || w === 'W4' ? 1.4 : 0.95,
      '×',
      [pairedRatio(w), tripRange(metric('coreRoundTrip', w))].filter(Boolean).join('; ') || undefined,
    ]),
    ['W5 auto / PyTorch', ratio('W5', 'layerwise', 'pytorch'), '≥', 1.5, '×'],
    ['W3 auto / PyTorch', ratio('W3', 'layerwise', 'pytorch'), '≥', 1.25, '×'],
    ['W1 WebAssembly / tfjs-wasm', ratio('W1', NATIVE ? 'layerwise-wasm' : 'layerwise', 'tfjs-wasm'), '≥', 6, '×'],
    ['statistics', 100 * (metric('statsOverhead')?.value ?? NaN), '≤', 5, ' %'],
    ['histograms every 10 steps', 100 * (metric('histogramOverhead')?.value ?? NaN), '≤', 5, ' %'],
    ['λmax every 50 steps', 100 * (metric('sharpnessOverhead')?.value ?? NaN), '≤', 10, ' %'],
    ['analyze', metric('analyzeMs')?.value, '≤', 20, ' ms'],
    ['Stop', metric('stopMs')?.value, '≤', 100, ' ms'],
    ['watch every=1', 100 * (metric('torchWatchOverhead')?.every1 ?? NaN), '≤', 20, ' %'],
    ['watch every=10', 100 * (metric('torchWatchOverhead')?.every10 ?? NaN), '≤', 3, ' %'],
  ];
  return [
    'goals in this run:',
    ...rows.map(([what, x, op, bound, unit, note]) => {
      if (x === undefined || Number.isNaN(x)) return `  ${what}: not measured`;
      const met = op === '≥' ? x >= bound : x <= bound;
      return `  ${what}: ${fmt(x, 2)}${unit} (goal ${op} ${bound}${unit}): ${met ? 'met' : 'MISSED'}${note ? ` (${note})` : ''}`;
    }),
  ];
}

/**
 * "round by round 1.33× (median)": auto / one thread within each quiet round (the two run minutes
 * apart at most, where the engines' medians can come from rounds the host ran at different
 * speeds), or undefined where the rounds do not pair.
 */
function pairedRatio(w) {
  const by = (e) => results.find((r) => r.workload === w && r.engine === e)?.rounds ?? [];
  const auto = by('layerwise'),
    one = by('layerwise-1t');
  if (!auto.length || auto.length !== one.length) return undefined;
  return `round by round ${median(auto.map((a, i) => a / one[i])).toFixed(2)}× (median)`;
}

/**
 * "cores' round trip 161–470 ns, two threads' arithmetic 1.02–1.97× one's" from a workload's quiet
 * rounds, or undefined where none was taken.
 */
function tripRange(m) {
  const range = (xs) => {
    const got = (xs ?? []).filter((x) => x !== null);
    return got.length ? `${Math.min(...got)}–${Math.max(...got)}` : undefined;
  };
  const ns = range(m?.ns),
    two = range(m?.twoCores);
  if (!ns) return undefined;
  return `cores' round trip ${ns} ns${two ? `, two threads' arithmetic ${two}× one's` : ''}`;
}
