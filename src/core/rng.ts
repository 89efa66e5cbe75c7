/**
 * Seeded pseudo-random numbers: xoshiro128** (Blackman & Vigna) seeded through splitmix32.
 * Every random draw in Layerwise comes from an `Rng` built from the model's seed and a stream
 * name, so the same seed and build give the same run. `Math.random` is never used.
 */
const TWO_NEG_31 = 1 / 2147483648;

export class Rng {
  /**
   * xoshiro128** state, as int32 so updates never allocate (uint32 words above 2³¹ would box).
   * nextU32 advances it; so may a bulk generator elsewhere, exactly as nextU32 would
   * (VectorArithmetic.uniformSigned).
   */
  readonly st = new Int32Array(4);
  private spare = NaN;

  /** @param seed any finite number (taken modulo 2^32 after truncation); @param stream an independent stream label. */
  constructor(seed: number, stream = '') {
    let h = (Math.trunc(seed) >>> 0) ^ 0x9e3779b9;
    const hi = Math.floor(Math.trunc(seed) / 4294967296) >>> 0;
    h = Math.imul(h ^ hi, 0x85ebca6b) >>> 0;
    for (let i = 0; i < stream.length; i++) h = Math.imul(h ^ stream.charCodeAt(i), 0x01000193) >>> 0;
    const next = (): number => {
      // splitmix32
      h = (h + 0x9e3779b9) >>> 0;
      let z = h;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    for (let i = 0; i < 4; i++) this.st[i] = next();
    if ((this.st[0]! | this.st[1]! | this.st[2]! | this.st[3]!) === 0) this.st[0] = 1;
  }

  /** A uniformly distributed unsigned 32-bit integer. */
  nextU32(): number {
    const st = this.st;
    const s0 = st[0]!,
      s1 = st[1]!,
      s2 = st[2]! ^ s0,
      s3 = st[3]! ^ s1;
    const x = Math.imul(s1, 5);
    const r = Math.imul((x << 7) | (x >>> 25), 9);
    st[0] = s0 ^ s3;
    st[1] = s1 ^ s2;
    st[2] = s2 ^ (s1 << 9);
    st[3] = (s3 << 11) | (s3 >>> 21);
    return r >>> 0;
  }

  /** Uniform double in [0, 1) with 53 random bits. */
  uniform(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform double in [a, b). */
  uniformIn(a: number, b: number): number {
    return a + (b - a) * this.uniform();
  }

  /**
   * Standard normal N(0, 1) by Marsaglia's polar method (Box–Muller without trigonometry: two
   * normals per accepted point of the unit disc; the second is cached). The disc coordinates take
   * 32 random bits each, ample for weights and data, and half the draws of 53-bit uniforms.
   */
  normal(): number {
    if (!Number.isNaN(this.spare)) {
      const v = this.spare;
      this.spare = NaN;
      return v;
    }
    for (;;) {
      const u = (this.nextU32() + 0.5) * TWO_NEG_31 - 1,
        v = (this.nextU32() + 0.5) * TWO_NEG_31 - 1;
      const s = u * u + v * v;
      if (s >= 1 || s === 0) continue;
      const f = Math.sqrt((-2 * Math.log(s)) / s);
      this.spare = v * f;
      return u * f;
    }
  }

  /** Integer uniformly in [0, n) without modulo bias (n ≤ 2^32). */
  below(n: number): number {
    if (n <= 1) return 0;
    const limit = 4294967296 - (4294967296 % n);
    for (;;) {
      const x = this.nextU32();
      if (x < limit) return x % n;
    }
  }

  /** In-place Fisher–Yates shuffle. */
  shuffle(a: Uint32Array | Int32Array | number[]): void {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.below(i + 1);
      const t = a[i]!;
      a[i] = a[j]!;
      a[j] = t;
    }
  }
}
