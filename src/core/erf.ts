/**
 * The error function erf(x) = 2/√π ∫₀ˣ e^{−t²} dt, to double precision (a port of the rational
 * approximations of fdlibm's s_erf.c, the same the C library uses), and the standard normal
 * density φ and distribution Φ built on it.
 */
const erx = 8.45062911510467529297e-1;
const efx8 = 1.02703333676410069053;
const pp = [
  1.28379167095512558561e-1, -3.2504210724700149937e-1, -2.84817495755985104766e-2, -5.77027029648944159157e-3,
  -2.37630166566501626084e-5,
];
const qq = [
  3.97917223959155352819e-1, 6.50222499887672944485e-2, 5.08130628187576562776e-3, 1.32494738004321644526e-4,
  -3.9602282787753681232e-6,
];
const pa = [
  -2.36211856075265944077e-3, 4.14856118683748331666e-1, -3.72207876035701323847e-1, 3.18346619901161753674e-1,
  -1.10894694282396677476e-1, 3.54783043256182359371e-2, -2.166375594868790843e-3,
];
const qa = [
  1.06420880400844228286e-1, 5.40397917702171048937e-1, 7.18286544141962662868e-2, 1.26171219808761642112e-1,
  1.36370839120290507362e-2, 1.1984499846799107417e-2,
];
const ra = [
  -9.86494403484714822705e-3, -6.93858572707181764372e-1, -1.05586262253232909814e1, -6.23753324503260060396e1,
  -1.62396669462573470355e2, -1.84605092906711035994e2, -8.12874355063065934246e1, -9.81432934416914548592,
];
const sa = [
  1.96512716674392571292e1, 1.376577541435190426e2, 4.34565877475229228821e2, 6.45387271733267880336e2,
  4.29008140027567833386e2, 1.08635005541779435134e2, 6.57024977031928170135, -6.04244152148580987438e-2,
];
const rb = [
  -9.86494292470009928597e-3, -7.99283237680523006574e-1, -1.77579549177547519889e1, -1.60636384855821916062e2,
  -6.37566443368389627722e2, -1.02509513161107724954e3, -4.83519191608651397019e2,
];
const sb = [
  3.03380607434824582924e1, 3.25792512996573918826e2, 1.53672958608443695994e3, 3.19985821950859553908e3,
  2.55305040643316442583e3, 4.74528541206955367215e2, -2.24409524465858183362e1,
];

const pp1 = pp.slice(1);

function poly(c: number[], x: number): number {
  let r = 0;
  for (let i = c.length - 1; i >= 0; i--) r = r * x + c[i]!;
  return r;
}

/** erf(x), relative error below 1e-15 across the real line. */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const sign = x < 0 ? -1 : 1;
  const ax = Math.abs(x);
  if (ax < 0.84375) {
    if (ax < 3.7252902984e-9) return x + (x * efx8) / 8;
    const z = x * x;
    const r = pp[0]! + z * poly(pp1, z);
    const s = 1 + z * poly(qq, z);
    return x + x * (r / s);
  }
  if (ax < 1.25) {
    const s = ax - 1;
    const P = poly(pa, s);
    const Q = 1 + s * poly(qa, s);
    return sign * (erx + P / Q);
  }
  if (ax >= 6) return sign;
  const s = 1 / (ax * ax);
  let R: number, S: number;
  if (ax < 1 / 0.35) {
    R = poly(ra, s);
    S = 1 + s * poly(sa, s);
  } else {
    R = poly(rb, s);
    S = 1 + s * poly(sb, s);
  }
  // z = ax with the low 32 bits of its mantissa cleared, as fdlibm does, for accuracy of exp(−z²)
  const z = Math.fround(ax);
  const r = Math.exp(-z * z - 0.5625) * Math.exp((z - ax) * (z + ax) + R / S);
  return sign * (1 - r / ax);
}

const INV_SQRT_2PI = 0.3989422804014327;

/** Standard normal density φ(x). */
export function normPdf(x: number): number {
  return INV_SQRT_2PI * Math.exp(-0.5 * x * x);
}

/** Standard normal distribution function Φ(x) = (1 + erf(x/√2)) / 2. */
export function normCdf(x: number): number {
  return 0.5 * (1 + erf(x / Math.SQRT2));
}
