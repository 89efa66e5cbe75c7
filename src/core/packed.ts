/**
 * Arrays a training step makes, built so that their map is the same in every tier of V8.
 *
 * V8's optimising compiler, inlining `Array.prototype.map`, allocates the result holey, where the
 * builtin that runs before allocates it packed. Code that indexed the packed arrays then meets a
 * holey one once its caller is optimised, deoptimises ("wrong map") and is compiled again: the
 * trainer's step (~77 ms of a compiler thread, W3) and the split's backward share did so in a
 * run's first second or two, on a core the split's threads need. Arrays grown by push are packed
 * in every tier.
 */

/** `xs.map(f)`, element by element. */
export function mapPacked<T, U>(xs: readonly T[], f: (x: T, i: number) => U): U[] {
  const out: U[] = [];
  for (let i = 0; i < xs.length; i++) out.push(f(xs[i]!, i));
  return out;
}
