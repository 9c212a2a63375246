/*
 * vecdist.c — vector distances (pgvector semantics) with a scalar and an AVX2+FMA kernel.
 *
 * Replicas must compute identical distances (HNSW construction depends on them) even when one
 * machine has AVX2 and another does not, so both kernels compute the same arithmetic in the same
 * order and return bit-identical results:
 *   - every float is widened to double; the product of two floats is exact in double, so an FMA
 *     a*b+acc rounds exactly like a separate multiply and add (used for dot products and norms);
 *     for L2 the squared difference is not exact, so both kernels multiply then add, never fuse;
 *   - element i of the first dim & ~7 goes to lane i % 8; lanes j and j+4 are added, then
 *     (m0 + m1) + (m2 + m3), then the tail elements in order. The lane fold and the tail are one
 *     non-inlined function compiled for the baseline ISA and shared by both kernels, so the
 *     compiler cannot fuse or reorder them differently.
 * The SIMD kernel is chosen at run time (__builtin_cpu_supports), so the binary runs on any
 * x86-64. Results: L2 = sqrt(Σ(a-b)²), cosine distance = 1 - a·b/sqrt(|a|²|b|²) clamped to
 * [0, 2] (NaN when a norm is zero, as pgvector), inner = -a·b.
 */
#include "vecdist.h"

#include "ctx.h"

#include <math.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define VEC_HAVE_X86 1
#else
#define VEC_HAVE_X86 0
#endif

typedef enum { TERM_DOT, TERM_AA, TERM_BB, TERM_L2 } term_t;

static double term(term_t t, float a, float b) {
    switch (t) {
    case TERM_DOT:
        return (double)a * (double)b;
    case TERM_AA:
        return (double)a * (double)a;
    case TERM_BB:
        return (double)b * (double)b;
    case TERM_L2:
        break;
    }
    double d = (double)a - (double)b;
    return d * d;
}

/* Folds the 8 lanes (given as m[j] = lane j + lane j+4) and adds the tail [from, dim). */
__attribute__((noinline)) static double lanes_finish(const double m[4], term_t t, const float *a,
                                                     const float *b, uint32_t from, uint32_t dim) {
    double h = (m[0] + m[1]) + (m[2] + m[3]);
    for (uint32_t i = from; i < dim; i++) {
        h = h + term(t, a[i], b[i]);
    }
    return h;
}

static double scalar_sum(term_t t, const float *a, const float *b, uint32_t dim) {
    double lanes[8] = {0};
    uint32_t n8 = dim & ~7u;
    for (uint32_t i = 0; i < n8; i += 8) {
        for (uint32_t j = 0; j < 8; j++) {
            lanes[j] = lanes[j] + term(t, a[i + j], b[i + j]);
        }
    }
    double m[4];
    for (uint32_t j = 0; j < 4; j++) {
        m[j] = lanes[j] + lanes[j + 4];
    }
    return lanes_finish(m, t, a, b, n8, dim);
}

static double finish_metric(metric_t metric, double dot, double na, double nb, double l2) {
    switch (metric) {
    case METRIC_L2:
        return sqrt(l2);
    case METRIC_INNER:
        return -dot;
    case METRIC_COSINE:
        break;
    }
    if (na == 0.0 || nb == 0.0) {
        return NAN;
    }
    double sim = dot / sqrt(na * nb);
    if (sim > 1.0) {
        sim = 1.0;
    } else if (sim < -1.0) {
        sim = -1.0;
    }
    return 1.0 - sim;
}

double vec_distance_scalar(metric_t metric, const float *a, const float *b, uint32_t dim) {
    CTX_ASSERT(a != NULL && b != NULL);
    CTX_ASSERT(metric >= METRIC_L2 && metric <= METRIC_INNER);
    if (metric == METRIC_L2) {
        return finish_metric(metric, 0, 0, 0, scalar_sum(TERM_L2, a, b, dim));
    }
    double dot = scalar_sum(TERM_DOT, a, b, dim);
    if (metric == METRIC_INNER) {
        return finish_metric(metric, dot, 0, 0, 0);
    }
    return finish_metric(metric, dot, scalar_sum(TERM_AA, a, b, dim),
                         scalar_sum(TERM_BB, a, b, dim), 0);
}

#if VEC_HAVE_X86

bool vec_distance_simd_available(void) {
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

__attribute__((target("avx2,fma"))) static void fold(__m256d lo, __m256d hi, double m[4]) {
    _mm256_storeu_pd(m, _mm256_add_pd(lo, hi));
}

__attribute__((target("avx2,fma"))) double vec_distance_simd(metric_t metric, const float *a,
                                                             const float *b, uint32_t dim) {
    CTX_ASSERT(a != NULL && b != NULL);
    __m256d dot0 = _mm256_setzero_pd(), dot1 = _mm256_setzero_pd();
    __m256d aa0 = _mm256_setzero_pd(), aa1 = _mm256_setzero_pd();
    __m256d bb0 = _mm256_setzero_pd(), bb1 = _mm256_setzero_pd();
    uint32_t n8 = dim & ~7u;
    for (uint32_t i = 0; i < n8; i += 8) {
        __m256 va = _mm256_loadu_ps(a + i);
        __m256 vb = _mm256_loadu_ps(b + i);
        __m256d a0 = _mm256_cvtps_pd(_mm256_castps256_ps128(va));
        __m256d a1 = _mm256_cvtps_pd(_mm256_extractf128_ps(va, 1));
        __m256d b0 = _mm256_cvtps_pd(_mm256_castps256_ps128(vb));
        __m256d b1 = _mm256_cvtps_pd(_mm256_extractf128_ps(vb, 1));
        if (metric == METRIC_L2) {
            __m256d d0 = _mm256_sub_pd(a0, b0);
            __m256d d1 = _mm256_sub_pd(a1, b1);
            dot0 = _mm256_add_pd(dot0, _mm256_mul_pd(d0, d0));
            dot1 = _mm256_add_pd(dot1, _mm256_mul_pd(d1, d1));
            continue;
        }
        dot0 = _mm256_fmadd_pd(a0, b0, dot0);
        dot1 = _mm256_fmadd_pd(a1, b1, dot1);
        if (metric == METRIC_COSINE) {
            aa0 = _mm256_fmadd_pd(a0, a0, aa0);
            aa1 = _mm256_fmadd_pd(a1, a1, aa1);
            bb0 = _mm256_fmadd_pd(b0, b0, bb0);
            bb1 = _mm256_fmadd_pd(b1, b1, bb1);
        }
    }
    double m[4];
    fold(dot0, dot1, m);
    if (metric == METRIC_L2) {
        return finish_metric(metric, 0, 0, 0, lanes_finish(m, TERM_L2, a, b, n8, dim));
    }
    double dot = lanes_finish(m, TERM_DOT, a, b, n8, dim);
    if (metric == METRIC_INNER) {
        return finish_metric(metric, dot, 0, 0, 0);
    }
    fold(aa0, aa1, m);
    double na = lanes_finish(m, TERM_AA, a, b, n8, dim);
    fold(bb0, bb1, m);
    double nb = lanes_finish(m, TERM_BB, a, b, n8, dim);
    return finish_metric(metric, dot, na, nb, 0);
}

#else

bool vec_distance_simd_available(void) {
    return false;
}

double vec_distance_simd(metric_t metric, const float *a, const float *b, uint32_t dim) {
    return vec_distance_scalar(metric, a, b, dim);
}

#endif

double vec_distance(metric_t metric, const float *a, const float *b, uint32_t dim) {
    if (vec_distance_simd_available()) {
        return vec_distance_simd(metric, a, b, dim);
    }
    return vec_distance_scalar(metric, a, b, dim);
}
