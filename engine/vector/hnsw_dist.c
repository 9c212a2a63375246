/*
 * hnsw_dist.c — float distance kernels of the HNSW index: dot product and squared L2 over
 * vectors padded with zeros to a multiple of HNSW_DIST_STEP (8) floats.
 *
 * Why float and not engine/types/vecdist.c's double accumulation: the index computes tens of
 * millions of distances per second and float FMAs on 16-wide registers are 4× the throughput of
 * widening to double; exact pgvector distances are recomputed (vecdist.c) for the few candidates
 * that reach the result, so the index's float rounding never shows in query output.
 *
 * Why all kernels are bit-identical anyway: replicas must build the same graph (DESIGN §1) even
 * when one has AVX-512 and another only AVX2 or neither. So every kernel computes the same
 * arithmetic in the same order, defined on 32 logical lanes:
 *   - element i is accumulated into lane i % 32 with a fused multiply-add (one rounding), in
 *     increasing i; for L2 the difference a−b is rounded to float first, then fma(d, d, acc);
 *     a lane no element reaches (past the padded length in the last round of 32) is left as it
 *     is, so a short vector (8 floats for 8 dimensions) costs no more than its own length;
 *   - the lanes are folded as a fixed tree: t[j] = lane[j] + lane[j+16] (j < 16), then
 *     t[j] + t[j+8], then + [j+4], then + [j+2], then [0] + [1].
 * AVX-512 holds the lanes in two zmm registers, AVX2 in four ymm registers, the scalar kernel in
 * an array with fmaf() (correctly rounded by definition, so equal to the hardware FMA). Padding
 * zeros add fma(0, 0, acc) = acc up to the sign of a zero, which no comparison sees. The kernel is
 * chosen once per index at run time
 * (__builtin_cpu_supports), so the binary runs on any x86-64.
 */
#include "hnsw.h"

#include <math.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#if defined(__x86_64__)
#include <immintrin.h>
#define HNSW_HAVE_X86 1
#else
#define HNSW_HAVE_X86 0
#endif

_Static_assert(HNSW_DIST_LANES == 32, "the kernels below hard-code 32 lanes");
_Static_assert(HNSW_DIST_STEP == 8 && HNSW_DIST_LANES % HNSW_DIST_STEP == 0,
               "the kernels' tails step by 8 floats (one ymm register)");

/* The fold tree shared by every kernel (see the file comment). */
static float fold_lanes(const float lane[HNSW_DIST_LANES]) {
    float t[16];
    for (int j = 0; j < 16; j++) {
        t[j] = lane[j] + lane[j + 16];
    }
    for (int j = 0; j < 8; j++) {
        t[j] = t[j] + t[j + 8];
    }
    for (int j = 0; j < 4; j++) {
        t[j] = t[j] + t[j + 4];
    }
    for (int j = 0; j < 2; j++) {
        t[j] = t[j] + t[j + 2];
    }
    return t[0] + t[1];
}

static float dot_scalar(const float *a, const float *b, uint32_t dims_padded) {
    float lane[HNSW_DIST_LANES] = {0};
    for (uint32_t i = 0; i < dims_padded; i++) {
        lane[i % HNSW_DIST_LANES] = fmaf(a[i], b[i], lane[i % HNSW_DIST_LANES]);
    }
    return fold_lanes(lane);
}

static float l2sq_scalar(const float *a, const float *b, uint32_t dims_padded) {
    float lane[HNSW_DIST_LANES] = {0};
    for (uint32_t i = 0; i < dims_padded; i++) {
        float d = a[i] - b[i];
        lane[i % HNSW_DIST_LANES] = fmaf(d, d, lane[i % HNSW_DIST_LANES]);
    }
    return fold_lanes(lane);
}

#if HNSW_HAVE_X86

/* Folds 8 lanes t[0..7] (already lane[j] + lane[j+16] + …, see callers) down to one float. */
__attribute__((target("avx2,fma"))) static inline float fold8_avx(__m256 u8) {
    __m128 v = _mm_add_ps(_mm256_castps256_ps128(u8), _mm256_extractf128_ps(u8, 1));
    __m128 w = _mm_add_ps(v, _mm_movehl_ps(v, v));
    __m128 r = _mm_add_ss(w, _mm_shuffle_ps(w, w, 1));
    return _mm_cvtss_f32(r);
}

__attribute__((target("avx2,fma"))) static float dot_avx2(const float *a, const float *b,
                                                          uint32_t dims_padded) {
    __m256 l0 = _mm256_setzero_ps(), l1 = _mm256_setzero_ps();
    __m256 l2 = _mm256_setzero_ps(), l3 = _mm256_setzero_ps();
    uint32_t i = 0;
    for (; i + HNSW_DIST_LANES <= dims_padded; i += HNSW_DIST_LANES) {
        l0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), l0);
        l1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), l1);
        l2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), l2);
        l3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), l3);
    }
    if (i < dims_padded) { /* 8, 16 or 24 floats left: lanes 0..7, 8..15, 16..23 */
        l0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), l0);
    }
    if (i + 8 < dims_padded) {
        l1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), l1);
    }
    if (i + 16 < dims_padded) {
        l2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), l2);
    }
    __m256 t_lo = _mm256_add_ps(l0, l2); /* t[0..7] */
    __m256 t_hi = _mm256_add_ps(l1, l3); /* t[8..15] */
    return fold8_avx(_mm256_add_ps(t_lo, t_hi));
}

__attribute__((target("avx2,fma"))) static float l2sq_avx2(const float *a, const float *b,
                                                           uint32_t dims_padded) {
    __m256 l[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps()};
    for (uint32_t i = 0; i < dims_padded; i += HNSW_DIST_LANES) {
        /* a last round of 8, 16 or 24 floats reaches only the first registers */
        for (uint32_t r = 0; r < 4 && i + 8 * r < dims_padded; r++) {
            __m256 d =
                _mm256_sub_ps(_mm256_loadu_ps(a + i + 8 * r), _mm256_loadu_ps(b + i + 8 * r));
            l[r] = _mm256_fmadd_ps(d, d, l[r]);
        }
    }
    __m256 t_lo = _mm256_add_ps(l[0], l[2]);
    __m256 t_hi = _mm256_add_ps(l[1], l[3]);
    return fold8_avx(_mm256_add_ps(t_lo, t_hi));
}

__attribute__((target("avx512f,avx2,fma"))) static inline float fold16_avx512(__m512 t16) {
    __m256 lo = _mm512_castps512_ps256(t16);
    __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(t16), 1));
    __m256 u8 = _mm256_add_ps(lo, hi);
    __m128 v = _mm_add_ps(_mm256_castps256_ps128(u8), _mm256_extractf128_ps(u8, 1));
    __m128 w = _mm_add_ps(v, _mm_movehl_ps(v, v));
    __m128 r = _mm_add_ss(w, _mm_shuffle_ps(w, w, 1));
    return _mm_cvtss_f32(r);
}

/* The first n (≤ 16) lanes of a 16-lane register. */
static inline __mmask16 avx512_tail_mask(uint32_t n) {
    return (__mmask16)(n >= 16 ? 0xFFFFu : (1u << n) - 1u);
}

__attribute__((target("avx512f,avx2,fma"))) static float dot_avx512(const float *a, const float *b,
                                                                    uint32_t dims_padded) {
    __m512 l0 = _mm512_setzero_ps(), l1 = _mm512_setzero_ps();
    uint32_t i = 0;
    for (; i + HNSW_DIST_LANES <= dims_padded; i += HNSW_DIST_LANES) {
        l0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), l0);
        l1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), l1);
    }
    if (i < dims_padded) { /* 8, 16 or 24 floats left: masked rounds leave the other lanes */
        __mmask16 k0 = avx512_tail_mask(dims_padded - i);
        __mmask16 k1 = avx512_tail_mask(dims_padded - i > 16 ? dims_padded - i - 16 : 0);
        l0 = _mm512_mask3_fmadd_ps(_mm512_maskz_loadu_ps(k0, a + i),
                                   _mm512_maskz_loadu_ps(k0, b + i), l0, k0);
        l1 = _mm512_mask3_fmadd_ps(_mm512_maskz_loadu_ps(k1, a + i + 16),
                                   _mm512_maskz_loadu_ps(k1, b + i + 16), l1, k1);
    }
    return fold16_avx512(_mm512_add_ps(l0, l1));
}

__attribute__((target("avx512f,avx2,fma"))) static float l2sq_avx512(const float *a, const float *b,
                                                                     uint32_t dims_padded) {
    __m512 l0 = _mm512_setzero_ps(), l1 = _mm512_setzero_ps();
    uint32_t i = 0;
    for (; i + HNSW_DIST_LANES <= dims_padded; i += HNSW_DIST_LANES) {
        __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
        l0 = _mm512_fmadd_ps(d0, d0, l0);
        l1 = _mm512_fmadd_ps(d1, d1, l1);
    }
    if (i < dims_padded) { /* as in dot_avx512 */
        __mmask16 k0 = avx512_tail_mask(dims_padded - i);
        __mmask16 k1 = avx512_tail_mask(dims_padded - i > 16 ? dims_padded - i - 16 : 0);
        __m512 d0 =
            _mm512_sub_ps(_mm512_maskz_loadu_ps(k0, a + i), _mm512_maskz_loadu_ps(k0, b + i));
        __m512 d1 = _mm512_sub_ps(_mm512_maskz_loadu_ps(k1, a + i + 16),
                                  _mm512_maskz_loadu_ps(k1, b + i + 16));
        l0 = _mm512_mask3_fmadd_ps(d0, d0, l0, k0);
        l1 = _mm512_mask3_fmadd_ps(d1, d1, l1, k1);
    }
    return fold16_avx512(_mm512_add_ps(l0, l1));
}

hnsw_kernel_t hnsw_kernel_best(void) {
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("fma")) {
        return HNSW_KERNEL_AVX512;
    }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        return HNSW_KERNEL_AVX2;
    }
    return HNSW_KERNEL_SCALAR;
}

hnsw_dist_fn hnsw_kernel_dot(hnsw_kernel_t kernel) {
    CTX_ASSERT(kernel <= hnsw_kernel_best());
    return kernel == HNSW_KERNEL_AVX512 ? dot_avx512
                                        : (kernel == HNSW_KERNEL_AVX2 ? dot_avx2 : dot_scalar);
}

hnsw_dist_fn hnsw_kernel_l2sq(hnsw_kernel_t kernel) {
    CTX_ASSERT(kernel <= hnsw_kernel_best());
    return kernel == HNSW_KERNEL_AVX512 ? l2sq_avx512
                                        : (kernel == HNSW_KERNEL_AVX2 ? l2sq_avx2 : l2sq_scalar);
}

#else

hnsw_kernel_t hnsw_kernel_best(void) {
    return HNSW_KERNEL_SCALAR;
}

hnsw_dist_fn hnsw_kernel_dot(hnsw_kernel_t kernel) {
    CTX_ASSERT(kernel == HNSW_KERNEL_SCALAR);
    return dot_scalar;
}

hnsw_dist_fn hnsw_kernel_l2sq(hnsw_kernel_t kernel) {
    CTX_ASSERT(kernel == HNSW_KERNEL_SCALAR);
    return l2sq_scalar;
}

#endif

const char *hnsw_kernel_name(hnsw_kernel_t kernel) {
    switch (kernel) {
    case HNSW_KERNEL_AVX512:
        return "avx512";
    case HNSW_KERNEL_AVX2:
        return "avx2+fma";
    case HNSW_KERNEL_SCALAR:
        break;
    }
    return "scalar";
}
