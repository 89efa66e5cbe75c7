/**
 * Held-out samples: a fraction of the data set the run never trains on, and the loss (and
 * accuracy) of the network on them.
 *
 * The split: m = round(f·n) samples (at least 1 when f > 0, at most n − 1), the first m of a
 * seeded permutation of 0..n−1, kept in their data-set order; the other n − m, in their order, are
 * the training set. Evaluation: L = (1/m) Σ_i ℓ(y_i, t_i) with the model's loss ℓ (per sample as
 * in losses.ts), and for cross-entropy accuracy = (1/m) #{i : argmax_c y_ic = t_i} (the first
 * largest logit on ties, as torch.argmax), computed in chunks of the evaluation network's rows.
 */
import type { ValidationEvent } from '../protocol/events';
import type { DenseKernels, FArray } from './kernels';
import { lossAndGrad } from './losses';
import { Network } from './network';
import type { Rng } from './rng';
import type { Dataset, LayerSpec, LossName, ModelSpec } from './spec';

/** Rows the held-out loss is computed on at once. */
const EVAL_ROWS = 256;

interface HeldOutSplit {
  train: Dataset;
  heldOut: Dataset | null;
}

/** Samples of a data set taken by index, in the order given. */
function rowsAt(ds: Dataset, idx: readonly number[]): Dataset {
  const d = ds.inputSize,
    t = ds.targetSize;
  const x = new Float64Array(idx.length * d),
    y = new Float64Array(idx.length * t);
  idx.forEach((s, r) => {
    x.set(ds.x.subarray(s * d, s * d + d), r * d);
    y.set(ds.y.subarray(s * t, s * t + t), r * t);
  });
  return { samples: idx.length, inputSize: d, x, y, targetSize: t };
}

/** Splits off round(fraction·n) held-out samples (see above); fraction 0, or n < 2: none. */
export function splitHeldOut(ds: Dataset, fraction: number, rng: Rng): HeldOutSplit {
  const n = ds.samples;
  if (!(fraction > 0) || n < 2) return { train: ds, heldOut: null };
  const m = Math.min(n - 1, Math.max(1, Math.round(fraction * n)));
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  rng.shuffle(order);
  const held = new Uint8Array(n);
  for (let i = 0; i < m; i++) held[order[i]!] = 1;
  const heldIdx: number[] = [],
    trainIdx: number[] = [];
  for (let i = 0; i < n; i++) (held[i] ? heldIdx : trainIdx).push(i);
  return { train: rowsAt(ds, trainIdx), heldOut: rowsAt(ds, heldIdx) };
}

interface Evaluation {
  loss: number;
  /** Cross-entropy only: the fraction of samples whose largest logit is their class. */
  accuracy: number | null;
}

/**
 * The mean loss (and accuracy) of `net` on every sample of `ds`, in chunks of net.maxBatch rows
 * through net.input. Uses only `net`'s own buffers: give it a network apart from the one training.
 */
function evaluate(net: Network, ds: Dataset, loss: LossName): Evaluation {
  const d = ds.inputSize,
    t = ds.targetSize,
    out = net.output,
    C = out.units;
  const T = new Float64Array(net.maxBatch * t);
  let total = 0,
    correct = 0;
  for (let r0 = 0; r0 < ds.samples; r0 += net.maxBatch) {
    const B = Math.min(net.maxBatch, ds.samples - r0);
    net.input.set(ds.x.subarray(r0 * d, (r0 + B) * d));
    T.set(ds.y.subarray(r0 * t, (r0 + B) * t));
    net.forward(net.input, B);
    total += B * lossAndGrad(loss, out.A, T, out.dZ, B, C);
    if (loss === 'cross_entropy') correct += topOneHits(out.A, T, B, C);
  }
  return {
    loss: total / ds.samples,
    accuracy: loss === 'cross_entropy' ? correct / ds.samples : null,
  };
}

/** Rows whose first largest value is at their target's index. */
function topOneHits(Y: FArray, T: Float64Array, B: number, C: number): number {
  let hits = 0;
  for (let i = 0; i < B; i++) {
    let best = 0;
    for (let c = 1; c < C; c++) if (Y[i * C + c]! > Y[i * C + best]!) best = c;
    if (best === T[i]) hits++;
  }
  return hits;
}

/**
 * The held-out samples of a run and the network they are evaluated on: its own (at most EVAL_ROWS
 * rows, built at the first evaluation, on `kernels`), the trained parameters copied in each time,
 * so the training network's buffers and the batch it has filled are never touched.
 */
export class HeldOutEvaluator {
  private net: Network | null = null;

  constructor(
    readonly data: Dataset,
    private readonly spec: Pick<ModelSpec, 'layers' | 'inputSize' | 'dtype' | 'loss'>,
    private readonly kernels: () => DenseKernels,
  ) {}

  /** The `validation` event of step k at the parameters of `layers` (before step k's update). */
  event(k: number, layers: readonly { W: FArray; b: FArray }[]): ValidationEvent {
    const s = this.spec;
    const net = (this.net ??= new Network(
      s.layers as LayerSpec[],
      s.inputSize,
      s.dtype,
      Math.min(EVAL_ROWS, this.data.samples),
      this.kernels(),
    ));
    layers.forEach((l, i) => {
      net.layers[i]!.W.set(l.W);
      net.layers[i]!.b.set(l.b);
    });
    const r = evaluate(net, this.data, s.loss);
    return { type: 'validation', step: k, loss: r.loss, accuracy: r.accuracy, samples: this.data.samples };
  }
}
