// One workload on TensorFlow.js (backend wasm or cpu, one thread): prints one JSON line.
// W3 computes the same per-layer statistics with tf ops. Usage (bundled): node tfjs.cjs W1 wasm ROOT
// Bundled by bench/run.mjs with esbuild (tfjs-core's gradient registrations are extensionless ESM).
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu'; // registers the cpu backend
void MathBackendCPU;
import * as wasm from '@tensorflow/tfjs-backend-wasm';
import { WORKLOADS, flopsPerStep, measure } from './workloads.mjs';

(async () => {
  const [name, backend, root] = process.argv.slice(2);
  const w = WORKLOADS[name];
  if (backend === 'wasm') {
    wasm.setWasmPaths(path.join(root, 'node_modules', '@tensorflow', 'tfjs-backend-wasm', 'dist') + path.sep);
    wasm.setThreadsCount?.(1);
  }
  await tf.setBackend(backend);
  await tf.ready();
  const sizes = [w.input, ...w.hidden, w.classes];
  const Ws = [],
    bs = [];
  for (let l = 0; l + 1 < sizes.length; l++) {
    Ws.push(tf.variable(tf.randomNormal([sizes[l], sizes[l + 1]], 0, Math.sqrt(2 / sizes[l]))));
    bs.push(tf.variable(tf.zeros([sizes[l + 1]])));
  }
  const x = tf.randomNormal([w.batch, w.input]);
  const y = tf.oneHot(tf.randomUniform([w.batch], 0, w.classes, 'int32'), w.classes);
  const opt = tf.train.sgd(0.01);
  const forward = (keep) => {
    let a = x;
    for (let l = 0; l < Ws.length; l++) {
      const z = tf.add(tf.matMul(a, Ws[l]), bs[l]);
      a = l < Ws.length - 1 ? tf.relu(z) : z;
      if (keep) keep.push([tf.keep(z), tf.keep(a)]);
    }
    return tf.losses.softmaxCrossEntropy(y, a);
  };
  const kept = [];
  const step = async () => {
    if (!w.stats) {
      tf.tidy(() => {
        opt.minimize(() => forward(null));
      });
      await Ws[0].data();
      return;
    }
    const out = tf.tidy(() => {
      const acts = [];
      kept.push(acts);
      const { value, grads } = tf.variableGrads(() => forward(acts));
      const stats = [value];
      for (const [z, a] of acts) {
        const mz = tf.moments(z),
          ma = tf.moments(a);
        stats.push(mz.mean, mz.variance, ma.mean, ma.variance, tf.sum(tf.cast(tf.all(tf.lessEqual(z, 0), 0), 'int32')));
      }
      let total = tf.scalar(0);
      for (const g of Object.values(grads)) {
        const sq = tf.sum(tf.square(g));
        total = tf.add(total, sq);
        stats.push(tf.sqrt(sq), tf.moments(g).variance);
      }
      stats.push(tf.sqrt(total));
      opt.applyGradients(grads);
      return tf.stack(stats.map((s) => tf.reshape(tf.cast(s, 'float32'), [])));
    });
    await out.data();
    out.dispose();
    for (const acts of kept.splice(0)) for (const pair of acts) for (const t of pair) t.dispose();
  };
  const stepsPerSec = await measure(step);
  console.log(
    JSON.stringify({
      workload: name,
      engine: `tfjs-${backend}`,
      stepsPerSec,
      gflops: (stepsPerSec * flopsPerStep(w)) / 1e9,
      peakRssMb: process.resourceUsage().maxRSS / 1024,
    }),
  );
})().catch((e) => {
  console.error(e?.stack ?? String(e));
  process.exit(1);
});
