/**
 * What the passes measure of a layer, as they return it (network.ts), merged over chunks of rows
 * (chunks.ts) and over threads (parallel.ts) by one rule:
 *
 * - ForwardMoments: over some rows of the batch, the count n of values, the mean and population
 *   variance of Z and of A = f(Z), the saturated activations counted, and per unit whether it had
 *   a live sample (activations.hasDeadUnits). Two parts merge by Chan's formula
 *   (stats.mergeMoments), their counts add, a unit is live when live in either part; so a layer's
 *   dead units are the units live in no part.
 * - GradMoments: over some values of ∂L/∂Z, their count, mean and population variance; merged by
 *   Chan's formula.
 * - ForwardStats: what a step reports of the forward pass: the moments, dead units, and the
 *   saturated fraction.
 */
import type { ActivationName } from '../protocol/events';
import { hasDeadUnits } from './activations';
import { mergeMoments } from './stats';

/** Statistics of one layer's forward pass over a batch. */
export interface ForwardStats {
  preactMean: number;
  preactVar: number;
  actMean: number;
  actVar: number;
  /** Dead units (relu: z ≤ 0 for every sample; leaky_relu: z < 0), or null. */
  dead: number | null;
  /** Fraction of saturated activations (tanh |a| > 0.99, sigmoid a < 0.01 or > 0.99), or null. */
  saturated: number | null;
}

/** Mean and population variance of a layer's ∂L/∂Z over the batch. */
export interface GradStats {
  mean: number;
  var: number;
}

/** A layer's forward sums over some rows, in the form that merges (see the module's header). */
export class ForwardMoments {
  n = 0;
  zMean = 0;
  zVar = 0;
  aMean = 0;
  aVar = 0;
  /** Saturated activations counted (tanh, sigmoid). */
  saturated = 0;

  /** `alive`: 1 for units with a live sample; its own array unless given one (a shared record). */
  constructor(
    readonly act: ActivationName,
    units: number,
    readonly alive: Uint8Array = new Uint8Array(units),
  ) {}

  /** Nothing counted. */
  clear(): void {
    this.n = this.zMean = this.zVar = this.aMean = this.aVar = this.saturated = 0;
    this.alive.fill(0);
  }

  /** Folds in another part's (other rows of the same layer). */
  add(o: ForwardMoments): void {
    const z = mergeMoments(this.n, this.zMean, this.zVar, o.n, o.zMean, o.zVar);
    const a = mergeMoments(this.n, this.aMean, this.aVar, o.n, o.aMean, o.aVar);
    this.n += o.n;
    this.zMean = z.mean;
    this.zVar = z.var;
    this.aMean = a.mean;
    this.aVar = a.var;
    this.saturated += o.saturated;
    if (hasDeadUnits(this.act)) {
      const mine = this.alive,
        theirs = o.alive;
      for (let u = 0; u < mine.length; u++) mine[u] = mine[u]! | theirs[u]!;
    }
  }

  /** What a step reports of these rows. */
  stats(): ForwardStats {
    const name = this.act;
    let dead: number | null = null;
    if (hasDeadUnits(name)) {
      dead = 0;
      for (let u = 0; u < this.alive.length; u++) if (this.alive[u] === 0) dead++;
    }
    return {
      preactMean: this.zMean,
      preactVar: this.zVar,
      actMean: this.aMean,
      actVar: this.aVar,
      dead,
      saturated: name === 'tanh' || name === 'sigmoid' ? (this.n > 0 ? this.saturated / this.n : 0) : null,
    };
  }
}

/** Count, mean and population variance of some values of a layer's ∂L/∂Z (see the module's header). */
export class GradMoments implements GradStats {
  n = 0;
  mean = 0;
  var = 0;

  clear(): void {
    this.n = this.mean = this.var = 0;
  }

  /** Folds in n more values of this mean and variance. */
  add(n: number, mean: number, v: number): void {
    const g = mergeMoments(this.n, this.mean, this.var, n, mean, v);
    this.n += n;
    this.mean = g.mean;
    this.var = g.var;
  }
}
