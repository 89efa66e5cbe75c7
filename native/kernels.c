/*
 * Layerwise's native GEMMs (AVX-512), a Node-API module the CLI and the worker load where it was
 * built and the CPU has AVX-512F (src/runner/native-kernels.ts); elsewhere the WebAssembly kernels
 * serve. The three products of a dense layer, over float32 arrays of the WebAssembly arena (offsets
 * in floats into `mem`, a Float32Array over the whole memory):
 *
 *   forward     Z = A·Wᵀ + b        z[i,j] = b[j] + Σ_k a[i,k]·w[j,k]
 *   weightGrad  ∂W[u0:u1] = dZ[:, u0:u1]ᵀ·A   ∂w[u,k] = Σ_i dz[i,u]·a[i,k]
 *   inputGrad   dA = dZ·W           da[i,k] = Σ_u dz[i,u]·w[u,k]
 *
 * Every value of an output takes the same arithmetic whatever the call's shape and wherever the
 * value sits in it, so that a product computed in chunks of rows or units (the batch split) equals
 * the whole product bit for bit:
 *   - forward: sixteen running sums per value, sum l over k ≡ l (mod 16) by fused multiply-adds
 *     (the last K mod 16 k against zeros), added as ((l + l⁺⁸) + (l⁺⁴ + l⁺¹²)) + … (a fixed tree),
 *     then + b[j];
 *   - the two gradients: one running sum per value, fused multiply-adds in the order of the inner
 *     index, from 0.
 * Tiles at the edges compute lanes or rows they do not store, never a value another way.
 *
 * And the optimiser step (src/core/optimizers.ts, assembly/update.ts): each new value computed in
 * float64 and rounded once to float32, the same operations in the same order as the TS reference,
 * so θ and the optimiser's state are the reference's bit for bit; the pass's five sums in float64.
 * And Lanczos's vector passes (src/core/lanczos.ts), on Float32Arrays of any memory, the TS
 * reference's sums bit for bit; and the Hessian-vector products' elementwise passes, the
 * WebAssembly module's values bit for bit.
 * Built with -ffp-contract=off: the only fused operations are the intrinsics'.
 */
#include <immintrin.h>
#include <math.h>
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define AVX512 __attribute__((target("avx512f")))

/* ---- forward: Z = A·Wᵀ + b ---------------------------------------------------------------- */

/*
 * Reduces 16 accumulators acc[r*4 + c] (r: a row of A, c: a row of W) to their 16 sums, each by
 * the same tree over its lanes, and returns them with sum (r, c) in lane LANE_OF[r*4 + c].
 */
static const int LANE_OF[16] = {0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15};

AVX512 static inline __m512 pair256(__m512 a, __m512 b) {
  /* lanes 0-7: a_i + a_{i+8}; lanes 8-15: b_i + b_{i+8} */
  __m512 lo = _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(1, 0, 1, 0));
  __m512 hi = _mm512_shuffle_f32x4(a, b, _MM_SHUFFLE(3, 2, 3, 2));
  return _mm512_add_ps(lo, hi);
}

AVX512 static inline __m512 pair128(__m512 x, __m512 y) {
  /* x = [A(q0 q1) B(q2 q3)], y = [C D]: quarters [A, B, C, D] of partials i + i+4 */
  __m512 p = _mm512_shuffle_f32x4(x, y, _MM_SHUFFLE(2, 0, 2, 0));
  __m512 q = _mm512_shuffle_f32x4(x, y, _MM_SHUFFLE(3, 1, 3, 1));
  return _mm512_add_ps(p, q);
}

AVX512 static __m512 reduce16(__m512 *acc) {
  __m512 s1[8], s2[4];
  for (int t = 0; t < 8; t++) s1[t] = pair256(acc[2 * t], acc[2 * t + 1]);
  for (int t = 0; t < 4; t++) s2[t] = pair128(s1[2 * t], s1[2 * t + 1]);
  /* s2[t]: 4 quarters, each one value's 4 partials p0..p3 (p_i = its lanes i, i+8, i+4, i+12) */
  __m512 u0 = _mm512_add_ps(_mm512_shuffle_ps(s2[0], s2[1], _MM_SHUFFLE(1, 0, 1, 0)),
                            _mm512_shuffle_ps(s2[0], s2[1], _MM_SHUFFLE(3, 2, 3, 2)));
  __m512 u1 = _mm512_add_ps(_mm512_shuffle_ps(s2[2], s2[3], _MM_SHUFFLE(1, 0, 1, 0)),
                            _mm512_shuffle_ps(s2[2], s2[3], _MM_SHUFFLE(3, 2, 3, 2)));
  /* u: per quarter [v0: p0+p2, v0: p1+p3, v1: p0+p2, v1: p1+p3] */
  return _mm512_add_ps(_mm512_shuffle_ps(u0, u1, _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm512_shuffle_ps(u0, u1, _MM_SHUFFLE(3, 1, 3, 1)));
}

/*
 * Values the calling thread reads or writes soon after a product (`ahead`: the float offset, count
 * and 1 for writing in the products' calls): the product asks for their lines a few a tile, so
 * that lines the other core last wrote, or holds, arrive while it computes. In the batch split the
 * second layer's W is one: each thread reads all of it in the forward pass and writes its half in
 * the update, and where the host has put the two vCPUs on caches apart each of its lines takes
 * ~250 ns to cross (its half's update took 20 µs instead of 9, W1). PREFETCHW asks for a line to
 * write, so the other core's copy is dropped before the store. Prefetches change no arithmetic.
 */
typedef struct {
  const char *at, *end;
  int write, per;
} Ahead;

/* The region [p, p + n) spread over `tiles` tiles of a product (a null region: nothing asked). */
static void ahead_init(Ahead *h, const float *p, int64_t n, int write, int64_t tiles) {
  h->at = (const char *)p;
  h->end = p && n > 0 ? (const char *)(p + n) : h->at;
  h->write = write;
  const int64_t lines = (h->end - h->at + 63) / 64;
  h->per = tiles > 0 ? (int)((lines + tiles - 1) / tiles) : 0;
}

/* A tile's share of the region's lines (none: NULL). */
static inline void ahead_step(Ahead *h) {
  if (!h) return;
  for (int i = 0; i < h->per && h->at < h->end; i++, h->at += 64) {
    if (h->write)
      __asm__ volatile("prefetchw %0" ::"m"(*h->at));
    else
      _mm_prefetch(h->at, _MM_HINT_T0);
  }
}

#define FORWARD_UNITS 128

AVX512 static void forward512(const float *a, const float *w, const float *bias, float *z, int B, int K, int U,
                              Ahead *next) {
  const int K16 = K & ~15;
  const __mmask16 tail = (__mmask16)((1u << (K - K16)) - 1u);
  const __m512i lane_order = _mm512_loadu_si512(LANE_OF);
  /* blocks of FORWARD_UNITS rows of W, each against every row of A: a block's rows stay in L2
     while A's rows pass (a tile's arithmetic does not depend on the order the tiles run in) */
  for (int jb = 0; jb < U; jb += FORWARD_UNITS) {
    const int jend = U - jb > FORWARD_UNITS ? jb + FORWARD_UNITS : U;
    for (int i0 = 0; i0 < B; i0 += 4) {
      const float *ar[4];
      for (int r = 0; r < 4; r++) ar[r] = a + (int64_t)(i0 + r < B ? i0 + r : B - 1) * K;
      for (int j0 = jb; j0 < jend; j0 += 4) {
        const float *wr[4];
        for (int c = 0; c < 4; c++) wr[c] = w + (int64_t)(j0 + c < U ? j0 + c : U - 1) * K;
        __m512 acc[16];
        for (int t = 0; t < 16; t++) acc[t] = _mm512_setzero_ps();
        for (int k = 0; k < K16; k += 16) {
          __m512 wv0 = _mm512_loadu_ps(wr[0] + k), wv1 = _mm512_loadu_ps(wr[1] + k);
          __m512 wv2 = _mm512_loadu_ps(wr[2] + k), wv3 = _mm512_loadu_ps(wr[3] + k);
#pragma GCC unroll 4
          for (int r = 0; r < 4; r++) {
            __m512 av = _mm512_loadu_ps(ar[r] + k);
            acc[4 * r + 0] = _mm512_fmadd_ps(av, wv0, acc[4 * r + 0]);
            acc[4 * r + 1] = _mm512_fmadd_ps(av, wv1, acc[4 * r + 1]);
            acc[4 * r + 2] = _mm512_fmadd_ps(av, wv2, acc[4 * r + 2]);
            acc[4 * r + 3] = _mm512_fmadd_ps(av, wv3, acc[4 * r + 3]);
          }
        }
        if (K16 < K) {
          __m512 wv[4];
          for (int c = 0; c < 4; c++) wv[c] = _mm512_maskz_loadu_ps(tail, wr[c] + K16);
          for (int r = 0; r < 4; r++) {
            __m512 av = _mm512_maskz_loadu_ps(tail, ar[r] + K16);
            for (int c = 0; c < 4; c++) acc[4 * r + c] = _mm512_fmadd_ps(av, wv[c], acc[4 * r + c]);
          }
        }
        const __m512 sums = reduce16(acc);
        ahead_step(next);
        if (i0 + 4 <= B && j0 + 4 <= U) {
          /* a whole tile: sum (r, c) to lane 4r + c, + b[j0 + c], four rows of four stored */
          __m512 v = _mm512_permutexvar_ps(lane_order, sums);
          if (bias) v = _mm512_add_ps(v, _mm512_broadcast_f32x4(_mm_loadu_ps(bias + j0)));
          float *zr = z + (int64_t)i0 * U + j0;
          _mm_storeu_ps(zr, _mm512_extractf32x4_ps(v, 0));
          _mm_storeu_ps(zr + U, _mm512_extractf32x4_ps(v, 1));
          _mm_storeu_ps(zr + 2 * (int64_t)U, _mm512_extractf32x4_ps(v, 2));
          _mm_storeu_ps(zr + 3 * (int64_t)U, _mm512_extractf32x4_ps(v, 3));
          continue;
        }
        float s[16];
        _mm512_storeu_ps(s, sums);
        for (int r = 0; r < 4 && i0 + r < B; r++)
          for (int c = 0; c < 4 && j0 + c < U; c++) {
            float v = s[LANE_OF[4 * r + c]];
            z[(int64_t)(i0 + r) * U + j0 + c] = bias ? v + bias[j0 + c] : v;
          }
      }
    }
  }
}

/* ---- the gradients: C[M×N] = X·Y, X read a value at a time (any strides), Y along its rows ---- */

#define ROWS 8

/*
 * C[i, j] = Σ_t X[i, t]·Y[t, j] for t = 0 … T−1 in order, X[i, t] at x[i·xi + t·xt], Y[t, j] at
 * y[t·ldy + j], C[i, j] at c[i·ldc + j]: tiles of ROWS rows × 32 columns in sixteen registers.
 */
AVX512 static void gemm512(const float *x, int64_t xi, int64_t xt, const float *y, int64_t ldy, float *c,
                           int64_t ldc, int M, int N, int T, Ahead *next) {
  /* Y is read a block of 32 columns at a time down all T rows (1 KB apart in a layer of 256): lines
     that the hardware prefetcher does not see coming. Where they come from the other core's cache
     (the batch split: rows of A and dZ it wrote) each waited for in turn cost ~10 ns, so the
     first block's lines are asked for up front and each next block's while the first tile of
     rows runs over the current one (prefetches change no arithmetic). */
  for (int t = 0; t < T; t++) {
    _mm_prefetch((const char *)(y + t * ldy), _MM_HINT_T0);
    if (N > 16) _mm_prefetch((const char *)(y + t * ldy + 16), _MM_HINT_T0);
  }
  for (int j0 = 0; j0 < N; j0 += 32) {
    const int ahead = N - j0 - 32 > 0 ? N - j0 - 32 : 0;
    const int n0 = N - j0 >= 16 ? 16 : N - j0;
    const int n1 = N - j0 - 16 >= 16 ? 16 : (N - j0 - 16 > 0 ? N - j0 - 16 : 0);
    const __mmask16 m0 = (__mmask16)((1u << n0) - 1u), m1 = (__mmask16)((1u << n1) - 1u);
    for (int i0 = 0; i0 < M; i0 += ROWS) {
      ahead_step(next);
      const float *xr[ROWS];
      for (int r = 0; r < ROWS; r++) xr[r] = x + (int64_t)(i0 + r < M ? i0 + r : M - 1) * xi;
      __m512 acc0[ROWS], acc1[ROWS];
      for (int r = 0; r < ROWS; r++) acc0[r] = acc1[r] = _mm512_setzero_ps();
      const float *yp = y + j0;
      int64_t xo = 0;
      for (int t = 0; t < T; t++, yp += ldy, xo += xt) {
        if (i0 == 0 && ahead) {
          _mm_prefetch((const char *)(yp + 32), _MM_HINT_T0);
          if (ahead > 16) _mm_prefetch((const char *)(yp + 48), _MM_HINT_T0);
        }
        __m512 y0 = _mm512_maskz_loadu_ps(m0, yp), y1 = _mm512_maskz_loadu_ps(m1, yp + 16);
#pragma GCC unroll 8
        for (int r = 0; r < ROWS; r++) {
          __m512 s = _mm512_set1_ps(xr[r][xo]);
          acc0[r] = _mm512_fmadd_ps(s, y0, acc0[r]);
          acc1[r] = _mm512_fmadd_ps(s, y1, acc1[r]);
        }
      }
      for (int r = 0; r < ROWS && i0 + r < M; r++) {
        float *cr = c + (int64_t)(i0 + r) * ldc + j0;
        _mm512_mask_storeu_ps(cr, m0, acc0[r]);
        if (n1) _mm512_mask_storeu_ps(cr + 16, m1, acc1[r]);
      }
    }
  }
}

/* ---- the optimiser step -------------------------------------------------------------------- */

enum { SGD = 0, MOMENTUM = 1, ADAM = 2 };

/*
 * sgd:      θ ← θ − a·g
 * momentum: v ← b·v + g (v = g on the first step), θ ← θ − a·v
 * adam:     m ← b·m + (1−b)·g, v ← c·v + (1−c)·g·g, θ ← θ − a·m/(√v/e + d)
 * out: Σ(θ_after − θ_before)², Σθ_before, Σθ_before², Σg, Σg²
 */
AVX512 static void update512(int mode, float *th, const float *g, float *m, float *v, int64_t n, double a, double b,
                             double c, double d, double e, int first, double *out) {
  const __m512d av = _mm512_set1_pd(a), bv = _mm512_set1_pd(b), cv = _mm512_set1_pd(c), dv = _mm512_set1_pd(d),
                ev = _mm512_set1_pd(e), b1v = _mm512_set1_pd(1 - b), c1v = _mm512_set1_pd(1 - c);
  __m512d sq = _mm512_setzero_pd(), s1 = sq, s2 = sq, g1 = sq, g2 = sq;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 t8 = _mm256_loadu_ps(th + i), g8 = _mm256_loadu_ps(g + i);
    const __m512d t = _mm512_cvtps_pd(t8), gd = _mm512_cvtps_pd(g8);
    __m512d nw;
    if (mode == SGD) {
      nw = _mm512_sub_pd(t, _mm512_mul_pd(av, gd));
    } else if (mode == MOMENTUM) {
      const __m256 v8 =
          first ? g8 : _mm512_cvtpd_ps(_mm512_add_pd(_mm512_mul_pd(bv, _mm512_cvtps_pd(_mm256_loadu_ps(m + i))), gd));
      _mm256_storeu_ps(m + i, v8);
      nw = _mm512_sub_pd(t, _mm512_mul_pd(av, _mm512_cvtps_pd(v8)));
    } else {
      const __m256 m8 = _mm512_cvtpd_ps(
          _mm512_add_pd(_mm512_mul_pd(bv, _mm512_cvtps_pd(_mm256_loadu_ps(m + i))), _mm512_mul_pd(b1v, gd)));
      const __m256 v8 = _mm512_cvtpd_ps(_mm512_add_pd(_mm512_mul_pd(cv, _mm512_cvtps_pd(_mm256_loadu_ps(v + i))),
                                                      _mm512_mul_pd(_mm512_mul_pd(c1v, gd), gd)));
      _mm256_storeu_ps(m + i, m8);
      _mm256_storeu_ps(v + i, v8);
      const __m512d den = _mm512_add_pd(_mm512_div_pd(_mm512_sqrt_pd(_mm512_cvtps_pd(v8)), ev), dv);
      nw = _mm512_sub_pd(t, _mm512_mul_pd(av, _mm512_div_pd(_mm512_cvtps_pd(m8), den)));
    }
    const __m256 n8 = _mm512_cvtpd_ps(nw);
    _mm256_storeu_ps(th + i, n8);
    const __m512d x = _mm512_sub_pd(_mm512_cvtps_pd(n8), t);
    sq = _mm512_add_pd(sq, _mm512_mul_pd(x, x));
    s1 = _mm512_add_pd(s1, t);
    s2 = _mm512_add_pd(s2, _mm512_mul_pd(t, t));
    g1 = _mm512_add_pd(g1, gd);
    g2 = _mm512_add_pd(g2, _mm512_mul_pd(gd, gd));
  }
  double tsq = 0, ts1 = 0, ts2 = 0, tg1 = 0, tg2 = 0;
  for (; i < n; i++) {
    const double old = th[i], gi = g[i];
    float nw;
    if (mode == SGD) {
      nw = (float)(old - a * gi);
    } else if (mode == MOMENTUM) {
      const float vi = first ? (float)gi : (float)(b * (double)m[i] + gi);
      m[i] = vi;
      nw = (float)(old - a * (double)vi);
    } else {
      const float mi = (float)(b * (double)m[i] + (1 - b) * gi);
      const float vi = (float)(c * (double)v[i] + (1 - c) * gi * gi);
      m[i] = mi;
      v[i] = vi;
      nw = (float)(old - a * ((double)mi / (sqrt((double)vi) / e + d)));
    }
    th[i] = nw;
    const double x = (double)nw - old;
    tsq += x * x;
    ts1 += old;
    ts2 += old * old;
    tg1 += gi;
    tg2 += gi * gi;
  }
  out[0] = _mm512_reduce_add_pd(sq) + tsq;
  out[1] = _mm512_reduce_add_pd(s1) + ts1;
  out[2] = _mm512_reduce_add_pd(s2) + ts2;
  out[3] = _mm512_reduce_add_pd(g1) + tg1;
  out[4] = _mm512_reduce_add_pd(g2) + tg2;
}

/* ---- the elementwise passes and their statistics -------------------------------------------- */

/*
 * The ReLU passes give the WebAssembly module's values (A, dZ, live units, zeros) exactly and its
 * float64 sums within rounding: sixteen values a vector, two float64 partial sums per statistic
 * (assembly/elementwise.ts keeps one dependent add per four values, which bounds it). The
 * histograms' passes below give assembly/histogram.ts's results bit for bit: the same float64 sums
 * in the same lanes and order, so a histogram's edges do not depend on which kernels serve.
 */

/* Running float64 sums of sixteen float32 lanes a step: Σ(v − s) and Σ(v − s)², each in two vectors. */
typedef struct {
  __m512d s0, s1, ss0, ss1;
} Sums16;

AVX512 static inline Sums16 sums16(void) {
  const __m512d z = _mm512_setzero_pd();
  return (Sums16){z, z, z, z};
}

/* Adds the lanes of `v` in `m` (0 elsewhere), widened to float64 minus `s`, to the running sums. */
AVX512 static inline void add16(Sums16 *t, __m512 v, __mmask16 m, __m512d s) {
  const __m512d lo = _mm512_maskz_sub_pd((__mmask8)m, _mm512_cvtps_pd(_mm512_castps512_ps256(v)), s);
  const __m512d hi = _mm512_maskz_sub_pd(
      (__mmask8)(m >> 8), _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1))), s);
  t->s0 = _mm512_add_pd(t->s0, lo);
  t->s1 = _mm512_add_pd(t->s1, hi);
  t->ss0 = _mm512_add_pd(t->ss0, _mm512_mul_pd(lo, lo));
  t->ss1 = _mm512_add_pd(t->ss1, _mm512_mul_pd(hi, hi));
}

/* out[0] = Σ, out[1] = Σ² over every lane. */
AVX512 static inline void total16(const Sums16 *t, double *out) {
  out[0] = _mm512_reduce_add_pd(_mm512_add_pd(t->s0, t->s1));
  out[1] = _mm512_reduce_add_pd(_mm512_add_pd(t->ss0, t->ss1));
}

/*
 * A = f(Z) over Z[B×U], relu or leaky relu (f(z) = z for z > 0, else 0 or αz), with
 * out = [Σ(z − z0), Σ(z − z0)², Σ(a − a0), Σ(a − a0)², dead units]; alive[u] ≠ 0 once a row has
 * z > 0 (relu) or z ≥ 0 (leaky).
 */
AVX512 static void relu_forward(const float *z, float *a, int B, int U, float alpha, int leaky, double z0, double a0,
                                int32_t *alive, double *out) {
  const __m512 zero = _mm512_setzero_ps(), al = _mm512_set1_ps(alpha);
  const __m512d zs = _mm512_set1_pd(z0), as = _mm512_set1_pd(a0);
  Sums16 sz = sums16(), sa = sums16();
  const __m512i on = _mm512_set1_epi32(-1);
  for (int u = 0; u < U; u++) alive[u] = 0;
  for (int i = 0; i < B; i++) {
    const float *zr = z + (int64_t)i * U;
    float *ar = a + (int64_t)i * U;
    for (int u = 0; u < U; u += 16) {
      const __mmask16 m = U - u >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (U - u)) - 1u);
      const __m512 zv = _mm512_maskz_loadu_ps(m, zr + u);
      const __mmask16 pos = _mm512_cmp_ps_mask(zv, zero, _CMP_GT_OQ);
      const __m512 av = _mm512_mask_blend_ps(pos, leaky ? _mm512_mul_ps(zv, al) : zero, zv);
      _mm512_mask_storeu_ps(ar + u, m, av);
      const __mmask16 live = (leaky ? _mm512_cmp_ps_mask(zv, zero, _CMP_GE_OQ) : pos) & m;
      _mm512_mask_storeu_epi32(alive + u, live, on);
      add16(&sz, zv, m, zs);
      add16(&sa, av, m, as);
    }
  }
  int dead = 0;
  for (int u = 0; u < U; u++) dead += alive[u] == 0;
  total16(&sz, out);
  total16(&sa, out + 2);
  out[4] = dead;
}

/*
 * dZ ← dZ ⊙ f′(Z) over n values (mode 1 relu, 2 leaky relu; 0 linear leaves dZ), with
 * out = [Σg, Σg², zeros] of the result.
 */
AVX512 static void relu_backward(const float *z, float *dz, int64_t n, int mode, float alpha, double *out) {
  const __m512 zero = _mm512_setzero_ps(), al = _mm512_set1_ps(alpha);
  const __m512d none = _mm512_setzero_pd();
  Sums16 sg = sums16();
  int64_t zeros = 0;
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 m = n - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - j)) - 1u);
    __m512 g = _mm512_maskz_loadu_ps(m, dz + j);
    if (mode != 0) {
      const __mmask16 pos = _mm512_cmp_ps_mask(_mm512_maskz_loadu_ps(m, z + j), zero, _CMP_GT_OQ);
      g = _mm512_mask_blend_ps(pos, mode == 2 ? _mm512_mul_ps(g, al) : zero, g);
      _mm512_mask_storeu_ps(dz + j, m, g);
    }
    zeros += __builtin_popcount((unsigned)(_mm512_cmp_ps_mask(g, zero, _CMP_EQ_OQ) & m));
    add16(&sg, g, m, none);
  }
  total16(&sg, out);
  out[2] = (double)zeros;
}

#define BINS 32
#define SLOTS (BINS + 4)

/*
 * A histogram's first pass (src/core/histogram.ts): over the finite values that are not 0,
 * shifted by the first of them, Σd and Σd² (d = v − shift) in four lanes (value i in lane i mod 4,
 * summed (l0 + l1) + (l2 + l3)), the extremes, and the zeros and non-finite values counted apart:
 * out = [zeros, nonFinite, shift, Σd, Σd², min, max].
 */
AVX512 static void histogram_moments(const float *p, int64_t n, double *out) {
  double shift = 0;
  for (int64_t i = 0; i < n; i++) {
    const double v = p[i];
    if (v != 0 && v - v == 0) {
      shift = v;
      break;
    }
  }
  const __m128 zero = _mm_setzero_ps();
  const __m256d sh = _mm256_set1_pd(shift);
  __m256d s1 = _mm256_setzero_pd(), s2 = s1;
  __m128 mn = _mm_set1_ps(INFINITY), mx = _mm_set1_ps(-INFINITY);
  __m128i zeros = _mm_setzero_si128(), nonFinite = zeros;
  const int64_t n4 = n & ~(int64_t)3;
  for (int64_t i = 0; i < n4; i += 4) {
    const __m128 v = _mm_loadu_ps(p + i);
    const __m128 isZero = _mm_cmpeq_ps(v, zero);
    const __m128 finite = _mm_cmpeq_ps(_mm_sub_ps(v, v), zero);
    const __m128 counted = _mm_andnot_ps(isZero, finite);
    zeros = _mm_sub_epi32(zeros, _mm_castps_si128(isZero));
    nonFinite = _mm_sub_epi32(nonFinite, _mm_castps_si128(_mm_xor_ps(finite, _mm_castsi128_ps(_mm_set1_epi32(-1)))));
    const __m256d mask = _mm256_castsi256_pd(_mm256_cvtepi32_epi64(_mm_castps_si128(counted)));
    const __m256d d = _mm256_and_pd(_mm256_sub_pd(_mm256_cvtps_pd(v), sh), mask);
    s1 = _mm256_add_pd(s1, d);
    s2 = _mm256_add_pd(s2, _mm256_mul_pd(d, d));
    mn = _mm_min_ps(_mm_blendv_ps(_mm_set1_ps(INFINITY), v, counted), mn);
    mx = _mm_max_ps(_mm_blendv_ps(_mm_set1_ps(-INFINITY), v, counted), mx);
  }
  double a[4], b[4];
  float lo4[4], hi4[4];
  int32_t z4[4], f4[4];
  _mm256_storeu_pd(a, s1);
  _mm256_storeu_pd(b, s2);
  _mm_storeu_ps(lo4, mn);
  _mm_storeu_ps(hi4, mx);
  _mm_storeu_si128((__m128i *)z4, zeros);
  _mm_storeu_si128((__m128i *)f4, nonFinite);
  int64_t zc = (int64_t)z4[0] + z4[1] + z4[2] + z4[3], nf = (int64_t)f4[0] + f4[1] + f4[2] + f4[3];
  double lo = fmin(fmin(lo4[0], lo4[1]), fmin(lo4[2], lo4[3]));
  double hi = fmax(fmax(hi4[0], hi4[1]), fmax(hi4[2], hi4[3]));
  for (int64_t i = n4; i < n; i++) {
    const double v = p[i];
    if (v - v != 0) {
      nf++;
      continue;
    }
    if (v == 0) {
      zc++;
      continue;
    }
    const double d = v - shift;
    const int l = (int)(i & 3);
    a[l] += d;
    b[l] += d * d;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  out[0] = (double)zc;
  out[1] = (double)nf;
  out[2] = shift;
  out[3] = (a[0] + a[1]) + (a[2] + a[3]);
  out[4] = (b[0] + b[1]) + (b[2] + b[3]);
  out[5] = lo;
  out[6] = hi;
}

/*
 * A histogram's second pass: each value's slot (0 below lo, 1 + ⌊(v − lo)·scale⌋ clamped to the
 * bins, BINS + 1 above hi, BINS + 2 exactly 0, BINS + 3 not finite), counted at `slots`; eight
 * copies of the counts (one per lane) so that increments in a row do not wait on each other.
 */
AVX512 static void histogram_slots(const float *p, int64_t n, double lo, double hi, double scale, int32_t *slots) {
  int32_t c[8][SLOTS];
  for (int l = 0; l < 8; l++)
    for (int s = 0; s < SLOTS; s++) c[l][s] = 0;
  const __m512d lov = _mm512_set1_pd(lo), hiv = _mm512_set1_pd(hi), sc = _mm512_set1_pd(scale),
                last = _mm512_set1_pd(BINS - 1), one = _mm512_set1_pd(1), zero = _mm512_setzero_pd();
  int32_t s8[8];
  for (int64_t i = 0; i < n; i += 8) {
    const int m = n - i < 8 ? (int)(n - i) : 8;
    __m256 f;
    if (m == 8) {
      f = _mm256_loadu_ps(p + i);
    } else {
      float rest[8] = {0};
      for (int l = 0; l < m; l++) rest[l] = p[i + l];
      f = _mm256_loadu_ps(rest);
    }
    const __m512d v = _mm512_cvtps_pd(f);
    const __m512d d = _mm512_sub_pd(v, lov);
    __m512d j = _mm512_roundscale_pd(_mm512_mul_pd(d, sc), _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    j = _mm512_add_pd(_mm512_min_pd(_mm512_max_pd(j, zero), last), one);
    j = _mm512_mask_blend_pd(_mm512_cmp_pd_mask(d, zero, _CMP_LT_OQ), j, zero);
    j = _mm512_mask_blend_pd(_mm512_cmp_pd_mask(_mm512_sub_pd(v, hiv), zero, _CMP_GT_OQ), j,
                             _mm512_set1_pd(BINS + 1));
    j = _mm512_mask_blend_pd(_mm512_cmp_pd_mask(v, zero, _CMP_EQ_OQ), j, _mm512_set1_pd(BINS + 2));
    j = _mm512_mask_blend_pd(_mm512_cmp_pd_mask(_mm512_sub_pd(v, v), zero, _CMP_NEQ_UQ), j,
                             _mm512_set1_pd(BINS + 3));
    _mm256_storeu_si256((__m256i *)s8, _mm512_cvttpd_epi32(j));
    for (int l = 0; l < m; l++) c[l][s8[l]]++;
  }
  for (int s = 0; s < SLOTS; s++) {
    int32_t t = 0;
    for (int l = 0; l < 8; l++) t += c[l][s];
    slots[s] = t;
  }
}

/* ---- the Hessian-vector products' elementwise passes (src/core/hessian-operator.ts) ---------- */

/* y ← y + x over n float32 values: each sum rounded once, as the module's f32x4.add. */
AVX512 static void add_into(float *y, const float *x, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_add_ps(_mm512_loadu_ps(y + i), _mm512_loadu_ps(x + i)));
  if (i < n) {
    const __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
    _mm512_mask_storeu_ps(y + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, y + i), _mm512_maskz_loadu_ps(m, x + i)));
  }
}

/* y ← d ⊙ x over n float32 values (y may be x); returns how many of the new y are 0 (±0). */
AVX512 static int64_t mul_into(float *y, const float *d, const float *x, int64_t n) {
  const __m512 zero = _mm512_setzero_ps();
  int64_t zeros = 0, i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 v = _mm512_mul_ps(_mm512_loadu_ps(d + i), _mm512_loadu_ps(x + i));
    _mm512_storeu_ps(y + i, v);
    zeros += __builtin_popcount(_mm512_cmp_ps_mask(v, zero, _CMP_EQ_OQ));
  }
  if (i < n) {
    const __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
    const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, d + i), _mm512_maskz_loadu_ps(m, x + i));
    _mm512_mask_storeu_ps(y + i, m, v);
    zeros += __builtin_popcount(_mm512_mask_cmp_ps_mask(m, v, zero, _CMP_EQ_OQ));
  }
  return zeros;
}

/* ---- the Gram matrix of λmax's input basis (src/core/input-basis.ts) ----------------------- */

/*
 * G = X·Xᵀ for B rows of n float32 values, into g (B×B float64, both triangles), as the TS
 * reference: per value, float64 products (exact for float32 factors, so a fused multiply-add
 * rounds as the reference's add of the product does) summed over even k and over odd k, each in
 * order of k, the last term of an odd n into the even sum, then even + odd. Four rows i against
 * sixteen rows j at a time (sixteen accumulators: no add waits on the one before, and each column
 * loaded serves four rows), over X transposed into float64 columns padded with zeros to a multiple
 * of 16 (padded rows and lanes are never stored; n·⌈B/16⌉·128 bytes a thread, kept for its next
 * call). Returns 0 where that scratch cannot be allocated.
 */
/* The transposed columns, kept by each thread between calls (a fresh one cost its page faults). */
static _Thread_local double *gram_xt = NULL;
static _Thread_local size_t gram_cap = 0;

AVX512 static int gram(const float *x, int64_t B, int64_t n, double *g) {
  const int64_t W = (B + 15) & ~(int64_t)15;
  const size_t need = (size_t)(n > 0 ? n : 1) * (size_t)W * sizeof(double);
  if (need > gram_cap) {
    double *grown = (double *)aligned_alloc(64, need);
    if (!grown) return 0;
    free(gram_xt);
    gram_xt = grown;
    gram_cap = need;
  }
  double *xt = gram_xt;
  for (int64_t k = 0; k < n; k++)
    for (int64_t j = 0; j < W; j++) xt[k * W + j] = j < B ? (double)x[j * n + k] : 0;
  /* rows i0…i0+3 against columns j0…j0+15: sixteen accumulators (four rows × two halves × even and
     odd k), each of their values summed in the reference's order */
  for (int64_t i0 = 0; i0 < B; i0 += 4)
    for (int64_t j0 = 0; j0 < B; j0 += 16) {
      __m512d e[4][2], o[4][2];
      for (int r = 0; r < 4; r++) e[r][0] = e[r][1] = o[r][0] = o[r][1] = _mm512_setzero_pd();
      int64_t k = 0;
      for (; k + 1 < n; k += 2) {
        const double *c = xt + k * W, *d = c + W;
        const __m512d c0 = _mm512_load_pd(c + j0), c1 = _mm512_load_pd(c + j0 + 8);
        const __m512d d0 = _mm512_load_pd(d + j0), d1 = _mm512_load_pd(d + j0 + 8);
        for (int r = 0; r < 4; r++) {
          const __m512d a = _mm512_set1_pd(c[i0 + r]), b = _mm512_set1_pd(d[i0 + r]);
          e[r][0] = _mm512_fmadd_pd(a, c0, e[r][0]);
          e[r][1] = _mm512_fmadd_pd(a, c1, e[r][1]);
          o[r][0] = _mm512_fmadd_pd(b, d0, o[r][0]);
          o[r][1] = _mm512_fmadd_pd(b, d1, o[r][1]);
        }
      }
      if (k < n) {
        const double *c = xt + k * W;
        const __m512d c0 = _mm512_load_pd(c + j0), c1 = _mm512_load_pd(c + j0 + 8);
        for (int r = 0; r < 4; r++) {
          const __m512d a = _mm512_set1_pd(c[i0 + r]);
          e[r][0] = _mm512_fmadd_pd(a, c0, e[r][0]);
          e[r][1] = _mm512_fmadd_pd(a, c1, e[r][1]);
        }
      }
      for (int r = 0; r < 4 && i0 + r < B; r++) {
        double v[16];
        _mm512_storeu_pd(v, _mm512_add_pd(e[r][0], o[r][0]));
        _mm512_storeu_pd(v + 8, _mm512_add_pd(e[r][1], o[r][1]));
        for (int64_t j = j0; j < B && j < j0 + 16; j++) g[(i0 + r) * B + j] = v[j - j0];
      }
    }
  return 1;
}

/* ---- Lanczos's float32 vectors (src/core/lanczos.ts; assembly/vector.ts alpha32, residual32) ---- */

/*
 * Float32 vectors widened exactly, every operation in float64, unfused: sixteen running sums
 * (i mod 16: two accumulators of eight lanes), the last n mod 16 terms into the first, then
 * ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)) plus the same of s8…s15 — the module's and
 * the TS reference's sums bit for bit.
 */
static double sum16(const double *s) {
  const double a = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
  const double b = ((s[8] + s[9]) + (s[10] + s[11])) + ((s[12] + s[13]) + (s[14] + s[15]));
  return a + b;
}

#define WIDE(p, i) _mm512_cvtps_pd(_mm256_loadu_ps((p) + (i)))

/* Σ y[i]·(u[i] − c·x[i]) */
AVX512 static double alpha32(const float *u, double c, const float *x, const float *y, int64_t n) {
  const __m512d cc = _mm512_set1_pd(c);
  __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
  int64_t i = 0;
  for (; i + 15 < n; i += 16) {
    s0 = _mm512_add_pd(s0, _mm512_mul_pd(_mm512_sub_pd(WIDE(u, i), _mm512_mul_pd(cc, WIDE(x, i))), WIDE(y, i)));
    s1 = _mm512_add_pd(
        s1, _mm512_mul_pd(_mm512_sub_pd(WIDE(u, i + 8), _mm512_mul_pd(cc, WIDE(x, i + 8))), WIDE(y, i + 8)));
  }
  double s[16];
  _mm512_storeu_pd(s, s0);
  _mm512_storeu_pd(s + 8, s1);
  for (; i < n; i++) s[0] += ((double)u[i] - c * (double)x[i]) * (double)y[i];
  return sum16(s);
}

/* w[i] ← (u[i] − c·x[i]) − a·y[i] rounded to float32; Σ of the float64 values squared */
AVX512 static double residual32(float *w, const float *u, double c, const float *x, double a, const float *y,
                                int64_t n) {
  const __m512d cc = _mm512_set1_pd(c), aa = _mm512_set1_pd(a);
  __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
  int64_t i = 0;
  for (; i + 15 < n; i += 16) {
    const __m512d v0 =
        _mm512_sub_pd(_mm512_sub_pd(WIDE(u, i), _mm512_mul_pd(cc, WIDE(x, i))), _mm512_mul_pd(aa, WIDE(y, i)));
    const __m512d v1 = _mm512_sub_pd(_mm512_sub_pd(WIDE(u, i + 8), _mm512_mul_pd(cc, WIDE(x, i + 8))),
                                     _mm512_mul_pd(aa, WIDE(y, i + 8)));
    _mm256_storeu_ps(w + i, _mm512_cvtpd_ps(v0));
    _mm256_storeu_ps(w + i + 8, _mm512_cvtpd_ps(v1));
    s0 = _mm512_add_pd(s0, _mm512_mul_pd(v0, v0));
    s1 = _mm512_add_pd(s1, _mm512_mul_pd(v1, v1));
  }
  double s[16];
  _mm512_storeu_pd(s, s0);
  _mm512_storeu_pd(s + 8, s1);
  for (; i < n; i++) {
    const double v = ((double)u[i] - c * (double)x[i]) - a * (double)y[i];
    w[i] = (float)v;
    s[0] += v * v;
  }
  return sum16(s);
}

/* q[i] ← q[i]·c with c rounded to float32, in float32; the same values into copy where given */
AVX512 static void scale32(float *q, double c, float *copy, int64_t n) {
  const float k = (float)c;
  const __m512 kk = _mm512_set1_ps(k);
  int64_t i = 0;
  if (copy)
    for (; i + 15 < n; i += 16) {
      const __m512 v = _mm512_mul_ps(_mm512_loadu_ps(q + i), kk);
      _mm512_storeu_ps(q + i, v);
      _mm512_storeu_ps(copy + i, v);
    }
  else
    for (; i + 15 < n; i += 16) _mm512_storeu_ps(q + i, _mm512_mul_ps(_mm512_loadu_ps(q + i), kk));
  for (; i < n; i++) {
    q[i] = q[i] * k;
    if (copy) copy[i] = q[i];
  }
}

/* ---- Node-API ------------------------------------------------------------------------------ */

static int supported = 0;

static float *floats(napi_env env, napi_value v, size_t *n) {
  napi_typedarray_type type;
  void *data = NULL;
  if (napi_get_typedarray_info(env, v, &type, n, &data, NULL, NULL) != napi_ok || type != napi_float32_array) return NULL;
  return (float *)data;
}

static int ints(napi_env env, napi_value *argv, int from, int count, int64_t *out) {
  for (int i = 0; i < count; i++)
    if (napi_get_value_int64(env, argv[from + i], &out[i]) != napi_ok) return 0;
  return 1;
}

static napi_value fail(napi_env env, const char *why) {
  napi_throw_error(env, NULL, why);
  return NULL;
}

/* A call's arguments: `mem` (a Float32Array; its length at *len), then exactly n more, into argv. */
static float *call_args(napi_env env, napi_callback_info info, size_t n, napi_value *argv, size_t *len) {
  napi_value all[16];
  size_t argc = n + 1;
  if (n + 1 > 16 || napi_get_cb_info(env, info, &argc, all, NULL, NULL) != napi_ok || argc != n + 1) return NULL;
  for (size_t i = 0; i < n; i++) argv[i] = all[i + 1];
  return floats(env, all[0], len);
}

/* Whether [at, at + n) lies in the memory's n floats (n ≥ 0). */
static int inside(int64_t at, int64_t n, size_t len) { return at >= 0 && n >= 0 && (uint64_t)(at + n) <= len; }

/*
 * As call_args, for a product that takes an optional `ahead` after its n arguments (its float
 * offset, count and 1 for writing; Ahead): *has is 1 where the call gives it (in argv[n], argv[n+1],
 * argv[n+2]), 0 where it does not.
 */
static float *call_args_ahead(napi_env env, napi_callback_info info, size_t n, napi_value *argv, size_t *len,
                              int *has) {
  napi_value all[16];
  size_t argc = n + 4;
  if (n + 4 > 16 || napi_get_cb_info(env, info, &argc, all, NULL, NULL) != napi_ok ||
      (argc != n + 1 && argc != n + 4))
    return NULL;
  *has = argc == n + 4;
  for (size_t i = 0; i + 1 < argc; i++) argv[i] = all[i + 1];
  return floats(env, all[0], len);
}

/*
 * The call's `ahead` (v[0..2]: offset, count, write; none where the count is 0) into *h, spread over
 * `tiles`; 0 when it lies outside the memory.
 */
static int ahead_arg(const float *mem, size_t len, const int64_t *v, int has, int64_t tiles, Ahead *h) {
  if (!has || v[1] <= 0) {
    ahead_init(h, NULL, 0, 0, tiles);
    return 1;
  }
  if (!inside(v[0], v[1], len)) return 0;
  ahead_init(h, mem + v[0], v[1], v[2] != 0, tiles);
  return 1;
}

/* forward(mem, a, w, bias (−1: none), z, B, K, U[, ahead, aheadCount, aheadWrite]) */
static napi_value js_forward(napi_env env, napi_callback_info info) {
  napi_value argv[10];
  size_t len;
  int has = 0;
  float *mem = call_args_ahead(env, info, 7, argv, &len, &has);
  int64_t v[10];
  if (!mem || !ints(env, argv, 0, has ? 10 : 7, v)) return fail(env, "forward: bad arguments");
  int64_t a = v[0], w = v[1], b = v[2], z = v[3], B = v[4], K = v[5], U = v[6];
  Ahead ahead;
  if (!supported || B < 0 || K < 0 || U < 0 || !inside(a, B * K, len) || !inside(w, U * K, len) ||
      !inside(z, B * U, len) || (b >= 0 && !inside(b, U, len)) ||
      !ahead_arg(mem, len, v + 7, has, ((B + 3) / 4) * ((U + 3) / 4), &ahead))
    return fail(env, "forward: arrays outside the memory");
  if (B > 0 && U > 0)
    forward512(mem + a, mem + w, b >= 0 ? mem + b : NULL, mem + z, (int)B, (int)K, (int)U, &ahead);
  return NULL;
}

/* copyRows(mem, dst, src, order, start, rows, d): row r of the d-wide block at dst ← row order[start + r] of
   src (a Float32Array of any buffer), for r < rows: a batch's rows into the network's input, one memcpy a
   row (Node's TypedArray.prototype.set copies into shared memory a word at a time: W1's 64 rows of 784
   values took ~15 µs) */
static napi_value js_copy_rows(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  size_t len, slen, olen;
  float *mem = call_args(env, info, 6, argv, &len);
  int64_t v[4];
  napi_typedarray_type type;
  void *odata = NULL;
  const float *src = mem ? floats(env, argv[1], &slen) : NULL;
  if (!src || napi_get_typedarray_info(env, argv[2], &type, &olen, &odata, NULL, NULL) != napi_ok ||
      type != napi_uint32_array || napi_get_value_int64(env, argv[0], &v[0]) != napi_ok || !ints(env, argv, 3, 3, v + 1))
    return fail(env, "copyRows: bad arguments");
  const uint32_t *order = (const uint32_t *)odata;
  int64_t dst = v[0], start = v[1], rows = v[2], d = v[3];
  if (d < 0 || start < 0 || rows < 0 || (uint64_t)(start + rows) > olen || !inside(dst, rows * d, len))
    return fail(env, "copyRows: arrays outside the memory");
  for (int64_t r = 0; r < rows; r++) {
    const int64_t i = order[start + r];
    if (!inside(i * d, d, slen)) return fail(env, "copyRows: a row outside the source");
    memcpy(mem + dst + r * d, src + i * d, (size_t)d * sizeof(float));
  }
  return NULL;
}

/* weightGrad(mem, dz, a, dw, B, K, U, u0, u1[, ahead, aheadCount, aheadWrite]): rows u0..u1 of ∂W */
static napi_value js_weight_grad(napi_env env, napi_callback_info info) {
  napi_value argv[11];
  size_t len;
  int has = 0;
  float *mem = call_args_ahead(env, info, 8, argv, &len, &has);
  int64_t v[11];
  if (!mem || !ints(env, argv, 0, has ? 11 : 8, v)) return fail(env, "weightGrad: bad arguments");
  int64_t dz = v[0], a = v[1], dw = v[2], B = v[3], K = v[4], U = v[5], u0 = v[6], u1 = v[7];
  Ahead ahead;
  if (!supported || B < 0 || K < 0 || U < 0 || u0 < 0 || u1 > U || u0 > u1 || !inside(dz, B * U, len) ||
      !inside(a, B * K, len) || !inside(dw, U * K, len) ||
      !ahead_arg(mem, len, v + 8, has, ((K + 31) / 32) * ((u1 - u0 + ROWS - 1) / ROWS), &ahead))
    return fail(env, "weightGrad: arrays outside the memory");
  if (u1 > u0 && K > 0)
    gemm512(mem + dz + u0, 1, U, mem + a, K, mem + dw + u0 * K, K, (int)(u1 - u0), (int)K, (int)B, &ahead);
  return NULL;
}

/* inputGrad(mem, dz, w, da, B, K, U) */
static napi_value js_input_grad(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  size_t len;
  float *mem = call_args(env, info, 6, argv, &len);
  int64_t v[6];
  if (!mem || !ints(env, argv, 0, 6, v)) return fail(env, "inputGrad: bad arguments");
  int64_t dz = v[0], w = v[1], da = v[2], B = v[3], K = v[4], U = v[5];
  if (!supported || B < 0 || K < 0 || U < 0 || !inside(dz, B * U, len) || !inside(w, U * K, len) ||
      !inside(da, B * K, len))
    return fail(env, "inputGrad: arrays outside the memory");
  if (B > 0 && K > 0) gemm512(mem + dz, U, 1, mem + w, K, mem + da, K, (int)B, (int)K, (int)U, NULL);
  return NULL;
}

/* update(mem, mode, theta, g, m (−1: none), v (−1: none), n, a, b, c, d, e, first, out): out is a
   float offset, 8-byte aligned, of five float64 sums */
static napi_value js_update(napi_env env, napi_callback_info info) {
  napi_value argv[13];
  size_t len;
  float *mem = call_args(env, info, 13, argv, &len);
  int64_t iv[6], first, out;
  double x[5];
  int ok = mem && ints(env, argv, 0, 6, iv) && ints(env, argv, 11, 1, &first) && ints(env, argv, 12, 1, &out);
  for (int k = 0; ok && k < 5; k++) ok = napi_get_value_double(env, argv[6 + k], &x[k]) == napi_ok;
  if (!ok) return fail(env, "update: bad arguments");
  int64_t mode = iv[0], th = iv[1], g = iv[2], m = iv[3], v = iv[4], n = iv[5];
  if (!supported || mode < SGD || mode > ADAM || !inside(th, n, len) || !inside(g, n, len) ||
      (mode != SGD && !inside(m, n, len)) || (mode == ADAM && !inside(v, n, len)) || !inside(out, 10, len) ||
      (out & 1))
    return fail(env, "update: arrays outside the memory");
  update512((int)mode, mem + th, mem + g, mode != SGD ? mem + m : NULL, mode == ADAM ? mem + v : NULL, n, x[0], x[1],
            x[2], x[3], x[4], (int)first, (double *)(mem + out));
  return NULL;
}

/* reluForward(mem, z, a, B, U, alpha, leaky, z0, a0, alive, out): alive U int32, out 5 float64 (8-byte aligned) */
static napi_value js_relu_forward(napi_env env, napi_callback_info info) {
  napi_value argv[10];
  size_t len;
  float *mem = call_args(env, info, 10, argv, &len);
  int64_t v[4], leaky, alive, out;
  double alpha, z0, a0;
  if (!mem || !ints(env, argv, 0, 4, v) || !ints(env, argv, 5, 1, &leaky) || !ints(env, argv, 8, 1, &alive) ||
      !ints(env, argv, 9, 1, &out) || napi_get_value_double(env, argv[4], &alpha) != napi_ok ||
      napi_get_value_double(env, argv[6], &z0) != napi_ok || napi_get_value_double(env, argv[7], &a0) != napi_ok)
    return fail(env, "reluForward: bad arguments");
  int64_t z = v[0], a = v[1], B = v[2], U = v[3];
  if (!supported || B < 0 || U < 0 || !inside(z, B * U, len) || !inside(a, B * U, len) || !inside(alive, U, len) ||
      !inside(out, 10, len) || (out & 1))
    return fail(env, "reluForward: arrays outside the memory");
  relu_forward(mem + z, mem + a, (int)B, (int)U, (float)alpha, leaky != 0, z0, a0, (int32_t *)(mem + alive),
               (double *)(mem + out));
  return NULL;
}

/* reluBackward(mem, z, dz, n, mode, alpha, out): out 3 float64 */
static napi_value js_relu_backward(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  size_t len;
  float *mem = call_args(env, info, 6, argv, &len);
  int64_t v[4], out;
  double alpha;
  if (!mem || !ints(env, argv, 0, 4, v) || !ints(env, argv, 5, 1, &out) ||
      napi_get_value_double(env, argv[4], &alpha) != napi_ok)
    return fail(env, "reluBackward: bad arguments");
  int64_t z = v[0], dz = v[1], n = v[2], mode = v[3];
  if (!supported || n < 0 || mode < 0 || mode > 2 || !inside(z, n, len) || !inside(dz, n, len) ||
      !inside(out, 6, len) || (out & 1))
    return fail(env, "reluBackward: arrays outside the memory");
  relu_backward(mem + z, mem + dz, n, (int)mode, (float)alpha, (double *)(mem + out));
  return NULL;
}

/* addInto(mem, y, x, n) */
static napi_value js_add_into(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  size_t len;
  float *mem = call_args(env, info, 3, argv, &len);
  int64_t v[3];
  if (!mem || !ints(env, argv, 0, 3, v)) return fail(env, "addInto: bad arguments");
  if (!supported || !inside(v[0], v[2], len) || !inside(v[1], v[2], len))
    return fail(env, "addInto: arrays outside the memory");
  add_into(mem + v[0], mem + v[1], v[2]);
  return NULL;
}

/* mulInto(mem, y, d, x, n): the zeros among the new y */
static napi_value js_mul_into(napi_env env, napi_callback_info info) {
  napi_value argv[4], r;
  size_t len;
  float *mem = call_args(env, info, 4, argv, &len);
  int64_t v[4];
  if (!mem || !ints(env, argv, 0, 4, v)) return fail(env, "mulInto: bad arguments");
  if (!supported || !inside(v[0], v[3], len) || !inside(v[1], v[3], len) || !inside(v[2], v[3], len))
    return fail(env, "mulInto: arrays outside the memory");
  napi_create_double(env, (double)mul_into(mem + v[0], mem + v[1], mem + v[2], v[3]), &r);
  return r;
}

/* histogramMoments(mem, p, n, out): out 7 float64 */
static napi_value js_histogram_moments(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  size_t len;
  float *mem = call_args(env, info, 3, argv, &len);
  int64_t v[3];
  if (!mem || !ints(env, argv, 0, 3, v)) return fail(env, "histogramMoments: bad arguments");
  int64_t p = v[0], n = v[1], out = v[2];
  if (!supported || n < 0 || !inside(p, n, len) || !inside(out, 14, len) || (out & 1))
    return fail(env, "histogramMoments: arrays outside the memory");
  histogram_moments(mem + p, n, (double *)(mem + out));
  return NULL;
}

/* histogramSlots(mem, p, n, lo, hi, scale, slots): slots SLOTS int32 */
static napi_value js_histogram_slots(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  size_t len;
  float *mem = call_args(env, info, 6, argv, &len);
  int64_t v[2], slots;
  double lo, hi, scale;
  if (!mem || !ints(env, argv, 0, 2, v) || !ints(env, argv, 5, 1, &slots) ||
      napi_get_value_double(env, argv[2], &lo) != napi_ok || napi_get_value_double(env, argv[3], &hi) != napi_ok ||
      napi_get_value_double(env, argv[4], &scale) != napi_ok)
    return fail(env, "histogramSlots: bad arguments");
  int64_t p = v[0], n = v[1];
  if (!supported || n < 0 || !inside(p, n, len) || !inside(slots, SLOTS, len))
    return fail(env, "histogramSlots: arrays outside the memory");
  histogram_slots(mem + p, n, lo, hi, scale, (int32_t *)(mem + slots));
  return NULL;
}

/* gram(mem, x, B, n, g): g B×B float64 (at an even float offset); false where it could not run */
static napi_value js_gram(napi_env env, napi_callback_info info) {
  napi_value argv[4], done;
  size_t len;
  float *mem = call_args(env, info, 4, argv, &len);
  int64_t v[4];
  if (!mem || !ints(env, argv, 0, 4, v)) return fail(env, "gram: bad arguments");
  int64_t x = v[0], B = v[1], n = v[2], out = v[3];
  if (!supported || B < 0 || n < 0 || B > (1 << 16) || n > (1 << 24) || !inside(x, B * n, len) ||
      !inside(out, 2 * B * B, len) || (out & 1))
    return fail(env, "gram: arrays outside the memory");
  napi_get_boolean(env, gram(mem + x, B, n, (double *)(mem + out)), &done);
  return done;
}

/* v[i] ← (((v[i] + c[0]·q0[i]) + c[1]·q1[i]) + …) over n values (v float64, the q float32, m of them):
   eight values of v at a time, each q added in turn (the Ritz vector Σ cⱼqⱼ) */
AVX512 static void add_scaled_all(double *v, const double *c, const float *const *q, int64_t m, int64_t n) {
  int64_t i = 0;
  for (; i + 7 < n; i += 8) {
    __m512d s = _mm512_loadu_pd(v + i);
    for (int64_t j = 0; j < m; j++) s = _mm512_add_pd(s, _mm512_mul_pd(_mm512_set1_pd(c[j]), WIDE(q[j], i)));
    _mm512_storeu_pd(v + i, s);
  }
  for (; i < n; i++) {
    double s = v[i];
    for (int64_t j = 0; j < m; j++) s = s + c[j] * (double)q[j][i];
    v[i] = s;
  }
}

/* Lanczos's float32 passes take their vectors as Float32Arrays, each from any memory (the vector
   arithmetic's, or the arena where the Hessian-vector products read and write). */
static napi_value lanczos_args(napi_env env, napi_callback_info info, size_t n, napi_value *argv) {
  size_t argc = n;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != n) return NULL;
  return argv[0];
}

/* alpha32(u, c, x, y) → Σ y·(u − c·x) over u's length */
static napi_value js_alpha32(napi_env env, napi_callback_info info) {
  napi_value argv[4], out;
  size_t nu, nx, ny;
  double c;
  float *u, *x, *y;
  if (!supported || !lanczos_args(env, info, 4, argv) || !(u = floats(env, argv[0], &nu)) ||
      napi_get_value_double(env, argv[1], &c) != napi_ok || !(x = floats(env, argv[2], &nx)) ||
      !(y = floats(env, argv[3], &ny)) || nx < nu || ny < nu)
    return fail(env, "alpha32: bad arguments");
  napi_create_double(env, alpha32(u, c, x, y, (int64_t)nu), &out);
  return out;
}

/* residual32(w, u, c, x, a, y) → Σ w² over u's length (w before its rounding) */
static napi_value js_residual32(napi_env env, napi_callback_info info) {
  napi_value argv[6], out;
  size_t nw, nu, nx, ny;
  double c, a;
  float *w, *u, *x, *y;
  if (!supported || !lanczos_args(env, info, 6, argv) || !(w = floats(env, argv[0], &nw)) ||
      !(u = floats(env, argv[1], &nu)) || napi_get_value_double(env, argv[2], &c) != napi_ok ||
      !(x = floats(env, argv[3], &nx)) || napi_get_value_double(env, argv[4], &a) != napi_ok ||
      !(y = floats(env, argv[5], &ny)) || nw < nu || nx < nu || ny < nu)
    return fail(env, "residual32: bad arguments");
  napi_create_double(env, residual32(w, u, c, x, a, y, (int64_t)nu), &out);
  return out;
}

/* scale32(q, c, copy | null): q and its copy ← q·fl32(c) over q's length */
static napi_value js_scale32(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  napi_valuetype t;
  size_t nq, nc = 0;
  double c;
  float *q, *copy = NULL;
  if (!supported || !lanczos_args(env, info, 3, argv) || !(q = floats(env, argv[0], &nq)) ||
      napi_get_value_double(env, argv[1], &c) != napi_ok || napi_typeof(env, argv[2], &t) != napi_ok ||
      (t != napi_null && (!(copy = floats(env, argv[2], &nc)) || nc < nq)))
    return fail(env, "scale32: bad arguments");
  scale32(q, c, copy, (int64_t)nq);
  return NULL;
}

/* Float64Array data and length, or NULL. */
static double *doubles(napi_env env, napi_value v, size_t *n) {
  napi_typedarray_type type;
  void *data = NULL;
  if (napi_get_typedarray_info(env, v, &type, n, &data, NULL, NULL) != napi_ok || type != napi_float64_array) return NULL;
  return (double *)data;
}

/* addScaledAll(v, c, q): v ← v + Σ c[j]·q[j] in order of j (v and c Float64Arrays, q an array of at most 64
   Float32Arrays as many as c's values, each at least v's length) */
static napi_value js_add_scaled_all(napi_env env, napi_callback_info info) {
  napi_value argv[3], item;
  size_t nv, nc, nq;
  uint32_t m = 0;
  double *v, *c;
  const float *q[64];
  if (!supported || !lanczos_args(env, info, 3, argv) || !(v = doubles(env, argv[0], &nv)) ||
      !(c = doubles(env, argv[1], &nc)) || napi_get_array_length(env, argv[2], &m) != napi_ok || m != nc || m > 64)
    return fail(env, "addScaledAll: bad arguments");
  for (uint32_t j = 0; j < m; j++)
    if (napi_get_element(env, argv[2], j, &item) != napi_ok || !(q[j] = floats(env, item, &nq)) || nq < nv)
      return fail(env, "addScaledAll: bad arguments");
  add_scaled_all(v, c, q, m, (int64_t)nv);
  return NULL;
}

NAPI_MODULE_INIT() {
  __builtin_cpu_init();
  supported = __builtin_cpu_supports("avx512f");
  napi_value f, yes;
  napi_get_boolean(env, supported, &yes);
  napi_set_named_property(env, exports, "supported", yes);
  /* forward and weightGrad take an `ahead` (Ahead) */
  napi_get_boolean(env, 1, &yes);
  napi_set_named_property(env, exports, "ahead", yes);
  napi_create_function(env, "forward", NAPI_AUTO_LENGTH, js_forward, NULL, &f);
  napi_set_named_property(env, exports, "forward", f);
  napi_create_function(env, "copyRows", NAPI_AUTO_LENGTH, js_copy_rows, NULL, &f);
  napi_set_named_property(env, exports, "copyRows", f);
  napi_create_function(env, "weightGrad", NAPI_AUTO_LENGTH, js_weight_grad, NULL, &f);
  napi_set_named_property(env, exports, "weightGrad", f);
  napi_create_function(env, "inputGrad", NAPI_AUTO_LENGTH, js_input_grad, NULL, &f);
  napi_set_named_property(env, exports, "inputGrad", f);
  napi_create_function(env, "update", NAPI_AUTO_LENGTH, js_update, NULL, &f);
  napi_set_named_property(env, exports, "update", f);
  napi_create_function(env, "reluForward", NAPI_AUTO_LENGTH, js_relu_forward, NULL, &f);
  napi_set_named_property(env, exports, "reluForward", f);
  napi_create_function(env, "reluBackward", NAPI_AUTO_LENGTH, js_relu_backward, NULL, &f);
  napi_set_named_property(env, exports, "reluBackward", f);
  napi_create_function(env, "histogramMoments", NAPI_AUTO_LENGTH, js_histogram_moments, NULL, &f);
  napi_set_named_property(env, exports, "histogramMoments", f);
  napi_create_function(env, "histogramSlots", NAPI_AUTO_LENGTH, js_histogram_slots, NULL, &f);
  napi_set_named_property(env, exports, "histogramSlots", f);
  napi_create_function(env, "addInto", NAPI_AUTO_LENGTH, js_add_into, NULL, &f);
  napi_set_named_property(env, exports, "addInto", f);
  napi_create_function(env, "mulInto", NAPI_AUTO_LENGTH, js_mul_into, NULL, &f);
  napi_set_named_property(env, exports, "mulInto", f);
  napi_create_function(env, "gram", NAPI_AUTO_LENGTH, js_gram, NULL, &f);
  napi_set_named_property(env, exports, "gram", f);
  napi_create_function(env, "alpha32", NAPI_AUTO_LENGTH, js_alpha32, NULL, &f);
  napi_set_named_property(env, exports, "alpha32", f);
  napi_create_function(env, "residual32", NAPI_AUTO_LENGTH, js_residual32, NULL, &f);
  napi_set_named_property(env, exports, "residual32", f);
  napi_create_function(env, "scale32", NAPI_AUTO_LENGTH, js_scale32, NULL, &f);
  napi_set_named_property(env, exports, "scale32", f);
  napi_create_function(env, "addScaledAll", NAPI_AUTO_LENGTH, js_add_scaled_all, NULL, &f);
  napi_set_named_property(env, exports, "addScaledAll", f);
  return exports;
}
