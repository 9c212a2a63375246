/*
 * vecdist.h — the distances of pgvector's operators over float vectors, computed exactly (double
 * accumulation) and bit-identically on every x86-64 CPU (the kernels are described in vecdist.c).
 * The HNSW index has its own float kernels (engine/vector/hnsw_dist.c); results that reach a
 * client are always these.
 */
#ifndef CTX_VECDIST_H
#define CTX_VECDIST_H

#include <stdbool.h>
#include <stdint.h>

/* Distances as pgvector defines them: L2 (<->), cosine distance 1 - cos (<=>; NaN when a norm is
 * zero), negative inner product (<#>). Dispatches to a SIMD kernel where available. */
typedef enum { METRIC_L2 = 0, METRIC_COSINE = 1, METRIC_INNER = 2 } metric_t;
double vec_distance(metric_t metric, const float *a, const float *b, uint32_t dim);

/* ---- vector kernels exposed for tests ---- */
double vec_distance_scalar(metric_t metric, const float *a, const float *b, uint32_t dim);
/* True when the AVX2+FMA kernel can run on this CPU. */
bool vec_distance_simd_available(void);
/* The AVX2+FMA kernel; only call when vec_distance_simd_available(). Bit-identical to the
 * scalar kernel (same lane order, exact double products). */
double vec_distance_simd(metric_t metric, const float *a, const float *b, uint32_t dim);

#endif
