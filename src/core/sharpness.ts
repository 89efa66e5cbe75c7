/**
 * Sharpness: λmax, the largest (algebraic) eigenvalue of the Hessian H = ∇²L(θ) of the batch loss
 * with respect to every weight and bias, at the parameters before the step's update, on that
 * step's batch (the operator: hessian-operator.ts; Lanczos: lanczos.ts).
 *
 * Gradient descent with learning rate η diverges along an eigenvector whose eigenvalue exceeds 2/η
 * (heavy-ball momentum β: (2 + 2β)/η); training tends to sit near that edge (Cohen et al., 2021).
 */
import { HessianOperator } from './hessian-operator';
import type { WarmStart } from './hessian-operator';
import { LanczosWork, lambdaMax } from './lanczos';
import type { LanczosGuard } from './lanczos';
import { lossAndGrad } from './losses';
import type { Network } from './network';
import type { Rng } from './rng';
import type { SharpnessEvent } from '../protocol/events';
import type { LossName, TrainingSpec } from './spec';

/** Most Hessian-vector products of one λmax evaluation in a run (warm-started). */
export const RUN_PRODUCTS = 20;

/** A run's evaluations stop at a Ritz residual of at most RUN_TOL·|λmax| (lanczos.ts). */
export const RUN_TOL = 1e-3;

/**
 * The guard of runs' and analyze's evaluations (lanczos.ts LanczosGuard): at least 12 products,
 * and a random part of 0.3 in a warm start. Where the top two eigenvalues trade places between
 * evaluations, the kept Ritz vector is (nearly) the new second eigenvector, with (almost) no
 * weight on the top one; and a start with little weight on the top meets the residual test on
 * the second eigenvalue after a few products. Random small nets, 120-step runs with λmax every 2
 * steps, against converged references: without the guard 4, 3 and 2 of 2400 evaluations were
 * 0.9–10 % low (three seeds); at least 10 products with the random part left 2 in 7200, either
 * alone one or more in 2400; this guard none in 12,000 (five seeds). W3's evaluations took 9–15
 * products before it (11.4 on average, 12.4 now).
 */
export const RUN_GUARD: LanczosGuard = { minProducts: 12, randomShare: 0.3 };

/**
 * λmax of H as `sharpnessOf` gives it, warm-started from `warm` (a random start from `rng` where
 * it holds nothing or cannot be mapped), which then holds this evaluation's Ritz vector.
 */
export function sharpnessWarm(
  op: HessianOperator,
  warm: WarmStart,
  rng: Rng,
  maxIter: number,
  tol: number,
  work: LanczosWork,
): { lambdaMax: number; iterations: number } {
  const from = warm.held ? op.startFrom(warm, work.size(op.size, Math.min(maxIter, op.size)).start) : null;
  const r = lambdaMax(op, from, rng, maxIter, tol, work, RUN_GUARD);
  op.keep(r.vector, warm);
  return { lambdaMax: boundedBelow(op, r.lambdaMax), iterations: r.iterations };
}

/** λmax of a reduced operator's H: its null space left out has eigenvalue 0. */
function boundedBelow(op: Pick<HessianOperator, 'isReduced'>, lambda: number): number {
  return op.isReduced && lambda < 0 ? 0 : lambda;
}

/**
 * λmax of H by Lanczos (lanczos.ts) on the operator, warm-started from `start` (θ's order; null or
 * of another length: a random start from `rng`); the Ritz vector comes back in θ's order, in
 * `start`'s array where there is one (a run's evaluations then allocate nothing). A reduced
 * operator leaves out a null space of H, whose eigenvalue 0 bounds λmax from below.
 */
export function sharpnessOf(
  op: Pick<HessianOperator, 'size' | 'fullSize' | 'isReduced' | 'hvp' | 'toReduced' | 'toFull'>,
  start: Float64Array | null,
  rng: Rng,
  maxIter: number,
  tol: number,
  work: LanczosWork = new LanczosWork(),
): { lambdaMax: number; iterations: number; vector: Float64Array } {
  const warm = start !== null && start.length === op.fullSize;
  const from = warm ? op.toReduced(start, work.size(op.size, Math.min(maxIter, op.size)).start) : null;
  const r = lambdaMax(op, from, rng, maxIter, tol, work);
  return {
    lambdaMax: boundedBelow(op, r.lambdaMax),
    iterations: r.iterations,
    vector: warm ? op.toFull(r.vector, start) : op.toFull(r.vector),
  };
}

/**
 * Runs the network's forward pass, the loss and its backward pass over the B rows in its input
 * (the network built with Hessian work arrays), and returns the Hessian there (for `analyze` and
 * the tests; a run's trainer builds the operator after its own passes).
 */
export function hessianOfBatch(
  net: Network,
  targets: Float64Array,
  lossName: LossName,
  B: number,
  reduced = false,
): HessianOperator {
  net.forward(net.input, B);
  const out = net.output;
  lossAndGrad(lossName, out.A, targets, out.dZ, B, out.units);
  net.backward(net.input, B);
  return new HessianOperator(net, targets, lossName, B, reduced);
}

/**
 * The divergence threshold of the run's optimiser on λmax: sgd 2/η, momentum (2 + 2β)/η; null for
 * adam (its steps are preconditioned: the raw Hessian's λmax has no threshold of its own).
 */
export function sharpnessThreshold(
  optimizer: 'sgd' | 'momentum' | 'adam',
  lr: number,
  momentum: number,
): number | null {
  if (optimizer === 'sgd') return 2 / lr;
  if (optimizer === 'momentum') return (2 + 2 * momentum) / lr;
  return null;
}

/** The sharpness event of step k: λmax, the optimiser's threshold, and its momentum where it has one. */
export function sharpnessEvent(
  step: number,
  r: { lambdaMax: number; iterations: number },
  tr: TrainingSpec,
): SharpnessEvent {
  return {
    type: 'sharpness',
    step,
    lambdaMax: r.lambdaMax,
    threshold: sharpnessThreshold(tr.optimizer, tr.learningRate, tr.momentum),
    iterations: r.iterations,
    ...(tr.optimizer === 'momentum' ? { momentum: tr.momentum } : {}),
  };
}
