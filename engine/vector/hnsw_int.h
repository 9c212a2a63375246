/*
 * hnsw_int.h — private layout of the HNSW index, shared by hnsw.c (graph, insert, delete,
 * search) and hnsw_io.c (serialize, load, invariant check). Code outside the index includes
 * hnsw.h only.
 *
 * Layout (flat arrays, grown geometrically; one malloc per node only for upper layers, which
 * hold about 1/m of the nodes):
 *   blocks   slots_cap × stride bytes, the array 64-byte aligned; block of slot s:
 *              OFFSET           SIZE              DESCRIPTION
 *              0                4                 layer-0 link count
 *              4                4 × m0            layer-0 links (slot numbers)
 *              vec_off          4 × dims_padded   the vector (normalized for cosine), zero
 *                                                 padded to HNSW_DIST_STEP floats; all NaN
 *                                                 while the slot is free
 *            vec_off and stride are multiples of 16 (HNSW_VEC_ALIGN), not of a cache line: one
 *            block holds what a layer-0 visit touches (hnswlib's layout) and nothing else, so
 *            with m = 16 and 8 dimensions a node takes 176 bytes rather than 320.
 *   upper    per slot: NULL, or level × (1 + m) u32: for layers 1..level, count then m links
 *   ids      slot → id;   levels  slot → level, LEVEL_FREE for free slots
 *   map      open addressing id → slot (linear probing, backward-shift delete)
 *   free     stack of free slots below `slots` (pushed by delete, popped by insert)
 * A free slot's vector is NaN, so a stale link to it (one the delete repair did not find)
 * yields a NaN distance, which no comparison accepts: searches skip it without a branch on
 * slot state.
 */
#ifndef CTX_HNSW_INT_H
#define CTX_HNSW_INT_H

#include "hnsw.h"

#include <pthread.h>

enum {
    HNSW_LEVEL_FREE = 0xFF,
    HNSW_SLOT_NONE = 0xFFFFFFFFu,
    HNSW_EXPANDED = 0x80000000u, /* flag on a candidate's slot: neighbours already visited */
    HNSW_BLOCK_ALIGN = 64,       /* the block array and the search's query copy */
    HNSW_VEC_ALIGN = 16,         /* a vector inside its block, and the block stride */
};

_Static_assert((uint64_t)HNSW_SLOTS_MAX <= (uint64_t)HNSW_EXPANDED,
               "slot numbers must leave the flag bit free");
_Static_assert((int)HNSW_LEVEL_MAX < (int)HNSW_LEVEL_FREE,
               "levels must not collide with the free mark");

typedef struct hnsw_cand {
    float dist;
    uint32_t slot; /* | HNSW_EXPANDED once expanded */
} hnsw_cand_t;

/* Per-search scratch memory, pooled (visited tags are "cleared" by bumping the tag). */
typedef struct hnsw_scratch {
    uint16_t *tags;
    uint32_t tags_cap;
    uint16_t tag;
    hnsw_cand_t *pool; /* candidate list (navigation) */
    uint32_t pool_cap;
    hnsw_cand_t *res; /* filtered results / heuristic input */
    uint32_t res_cap;
    hnsw_cand_t *tmp; /* heuristic output / repair candidates */
    uint32_t tmp_cap;
    float *query;    /* padded (and normalized) query */
    uint64_t *allow; /* filter bitmap over slots */
    uint32_t allow_words;
    struct hnsw_scratch *next;
} hnsw_scratch_t;

typedef struct hnsw_scratch_pool {
    pthread_mutex_t lock;
    hnsw_scratch_t *head;
    uint32_t created;
} hnsw_scratch_pool_t;

typedef struct hnsw_map_entry {
    int64_t id;
    uint32_t slot; /* HNSW_SLOT_NONE = empty bucket */
    uint32_t pad;
} hnsw_map_entry_t;

struct hnsw {
    hnsw_config_t config;
    uint32_t dims_padded; /* dims rounded up to HNSW_DIST_LANES */
    uint32_t m0;          /* layer-0 link capacity: 2m */
    size_t stride;        /* bytes per block */
    size_t vec_off;       /* offset of the vector in a block */
    hnsw_kernel_t kernel;
    hnsw_dist_fn dot;
    hnsw_dist_fn l2sq;
    uint64_t level_limit[HNSW_LEVEL_MAX + 1]; /* level ≥ L iff hash ≤ level_limit[L] */

    uint8_t *blocks;     /* 64-byte aligned, inside blocks_raw */
    uint8_t *blocks_raw; /* the allocation */
    uint32_t slots;      /* high-water mark: slots in use or free below it */
    uint32_t slots_cap;  /* blocks allocated */
    int64_t *ids;
    uint8_t *levels;
    uint32_t **upper;
    uint32_t *free_stack;
    uint32_t free_count;
    uint32_t free_cap;
    hnsw_map_entry_t *map;
    uint64_t map_mask; /* buckets - 1 */
    uint64_t count;    /* live vectors */
    uint32_t entry;    /* entry point slot, HNSW_SLOT_NONE when empty */
    uint32_t top;      /* level of the entry point */

    hnsw_scratch_pool_t *scratch; /* separate allocation: searches on a const index use it */
};

static inline uint32_t *hnsw_links(const hnsw_t *h, uint32_t slot, uint32_t level) {
    if (level == 0) {
        return (uint32_t *)(void *)(h->blocks + (size_t)slot * h->stride);
    }
    return h->upper[slot] + (size_t)(level - 1) * (1 + h->config.m);
}

static inline float *hnsw_vec(const hnsw_t *h, uint32_t slot) {
    return (float *)(void *)(h->blocks + (size_t)slot * h->stride + h->vec_off);
}

static inline uint32_t hnsw_cap(const hnsw_t *h, uint32_t level) {
    return level == 0 ? h->m0 : h->config.m;
}

/* Shared by hnsw.c and hnsw_io.c. */
hnsw_t *hnsw_alloc(const hnsw_config_t *config);
uint32_t hnsw_map_find(const hnsw_t *h, int64_t id);
void hnsw_map_put(hnsw_t *h, int64_t id, uint32_t slot);
void hnsw_free_vector(hnsw_t *h, uint32_t slot);
int hnsw_validate_config(const hnsw_config_t *config, ctx_err_t *err);

#endif
