// The benchmark workloads (issue #4): dense ReLU MLPs, softmax cross-entropy, SGD, float32.
export const WORKLOADS = {
  W1: { input: 784, hidden: [256, 256], classes: 10, batch: 64, stats: false, note: '784-256-256-10 ReLU, batch 64' },
  W2: {
    input: 64,
    hidden: Array(50).fill(64),
    classes: 10,
    batch: 128,
    stats: false,
    note: '64 → 50×64 ReLU → 10, batch 128',
  },
  W3: {
    input: 784,
    hidden: [256, 256],
    classes: 10,
    batch: 64,
    stats: true,
    note: 'W1 + per-layer statistics every step',
  },
  W4: {
    input: 1024,
    hidden: [1024, 1024],
    classes: 10,
    batch: 256,
    stats: false,
    note: '1024-1024-1024-10 ReLU, batch 256',
  },
  W5: {
    input: 64,
    hidden: Array(30).fill(64),
    classes: 10,
    batch: 256,
    stats: true,
    optimizer: 'momentum',
    clip: 1,
    note: '64 → 30×64 ReLU → 10, batch 256, momentum, clip 1, statistics (examples/deep-relu-he.mlp.json)',
  },
};

/** Multiply-adds ×2 of one training step: forward, weight gradients, input gradients (not of the first layer). */
export function flopsPerStep(w) {
  const sizes = [w.input, ...w.hidden, w.classes];
  let f = 0;
  for (let l = 0; l + 1 < sizes.length; l++) f += 2 * w.batch * sizes[l] * sizes[l + 1] * (l === 0 ? 2 : 3);
  return f;
}

/**
 * Runs step() for at least `seconds` after a warm-up of WARMUP_MS, three windows; returns the
 * median steps/s. The warm-up is long because V8 optimises JS and WebAssembly on background
 * threads: with both cores busy (two threads of the batch split), the first second runs partly
 * unoptimised code. PyTorch's script (torch_bench.py) warms up as long.
 */
export const WARMUP_MS = 1500;
export async function measure(step, seconds = 1.5) {
  const warm = performance.now();
  while (performance.now() - warm < WARMUP_MS) await step();
  const rates = [];
  for (let r = 0; r < 3; r++) {
    let n = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < (seconds * 1000) / 3) {
      await step();
      n++;
    }
    rates.push(n / ((performance.now() - t0) / 1000));
  }
  return rates.sort((a, b) => a - b)[1];
}
