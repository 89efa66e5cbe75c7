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
  return sign * (1 - erfcLarge(ax));
}

/**
 * erfc(x) = 1 − erf(x) for x ≥ 1.25, without the cancellation of 1 − erf(x): fdlibm's rational
 * approximations of x·e^{x²}·erfc(x) (relative error below 1e-15; 0 from x = 28, where it underflows).
 */
function erfcLarge(ax: number): number {
  if (ax >= 28) return 0;
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
  return r / ax;
}

const INV_SQRT_2PI = 0.3989422804014327;

/** Standard normal density φ(x). */
export function normPdf(x: number): number {
  return INV_SQRT_2PI * Math.exp(-0.5 * x * x);
}

/**
 * Standard normal distribution function Φ(x) = (1 + erf(x/√2)) / 2; below −1.25·√2 as erfc(−x/√2)/2,
 * which keeps its relative precision in the lower tail (down to Φ ≈ 1e-308, x ≈ −37.5).
 */
export function normCdf(x: number): number {
  const t = x / Math.SQRT2;
  return t <= -1.25 ? 0.5 * erfcLarge(-t) : 0.5 * (1 + erf(t));
}

// Acklam's rational approximations of Φ⁻¹ (relative error below 1.2e-9), refined below.
const ackA = [
  -3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1,
  2.506628277459239,
];
const ackB = [
  -5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1,
];
const ackC = [
  -7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968,
  2.938163982698783,
];
const ackD = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];

/**
 * The standard normal quantile Φ⁻¹(p) for p in [0, 1] (−∞ at 0, +∞ at 1, NaN outside): Acklam's
 * approximation, then one Halley step on Φ(x) − p, which leaves the error of Φ itself (relative
 * below p = ½, ~1e-16 absolute above).
 */
export function normQuantile(p: number): number {
  if (!(p >= 0 && p <= 1)) return NaN;
  if (p === 0) return -Infinity;
  if (p === 1) return Infinity;
  let x: number;
  if (p < 0.02425 || p > 0.97575) {
    const q = Math.sqrt(-2 * Math.log(p < 0.5 ? p : 1 - p));
    const t =
      (((((ackC[0]! * q + ackC[1]!) * q + ackC[2]!) * q + ackC[3]!) * q + ackC[4]!) * q + ackC[5]!) /
      ((((ackD[0]! * q + ackD[1]!) * q + ackD[2]!) * q + ackD[3]!) * q + 1);
    x = p < 0.5 ? t : -t;
  } else {
    const q = p - 0.5,
      r = q * q;
    x =
      ((((((ackA[0]! * r + ackA[1]!) * r + ackA[2]!) * r + ackA[3]!) * r + ackA[4]!) * r + ackA[5]!) * q) /
      (((((ackB[0]! * r + ackB[1]!) * r + ackB[2]!) * r + ackB[3]!) * r + ackB[4]!) * r + 1);
  }
  const e = normCdf(x) - p;
  const u = e * Math.sqrt(2 * Math.PI) * Math.exp((x * x) / 2);
  return Number.isFinite(u) ? x - u / (1 + (x * u) / 2) : x;
}
