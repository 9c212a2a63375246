/*
 * hnsw.h — the HNSW vector index (Malkov & Yashunin): an approximate k-nearest-neighbour graph
 * over (int64 id, float vector) pairs, with updates, deletes that repair the graph, filtered
 * search and a serialized form.
 *
 * Determinism. The index is derived state that every replica builds from the same committed
 * commands, so every operation is a pure function of the sequence of calls: a vector's level
 * comes from a hash of its id and the database seed (never from a random generator), ties
 * between equal distances are broken by slot number, freed slots are reused in a fixed order,
 * and the distance kernels (AVX-512, AVX2+FMA, scalar) compute bit-identical float results
 * (engine/vector/hnsw_dist.c), so two indexes fed the same calls serialize to identical bytes, on
 * any x86-64 CPU.
 *
 * Metrics: the index ranks by METRIC_COSINE (vectors normalized at insert, distance 1 − dot),
 * METRIC_L2 (squared Euclidean distance) or METRIC_INNER (−dot). Returned distances are the
 * index's own float distances: callers re-rank with vec_distance() when they need pgvector's
 * exact double results.
 *
 * Threads: writes (insert, delete, load) need exclusive access; any number of searches may run
 * concurrently with each other (their scratch memory comes from a pool behind a mutex).
 */
#ifndef CTX_HNSW_H
#define CTX_HNSW_H

#include "buf.h"
#include "ctx.h"
#include "store.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct hnsw hnsw_t;

enum {
    HNSW_M_DEFAULT = 16,
    HNSW_M_MIN = 2,
    HNSW_M_MAX = 100,
    HNSW_EF_CONSTRUCTION_DEFAULT = 200,
    HNSW_EF_CONSTRUCTION_MAX = 4096,
    HNSW_EF_SEARCH_DEFAULT = 40,
    HNSW_EF_MAX = 100000,      /* widest candidate list of any search */
    HNSW_LEVEL_MAX = 15,       /* levels are capped (probability M^-16 is negligible) */
    HNSW_SLOTS_MAX = 1u << 30, /* vectors one index can hold */
    HNSW_FORMAT_VERSION = 1,
};

typedef struct hnsw_config {
    uint32_t dims;            /* 1..VECTOR_DIMS_MAX */
    metric_t metric;          /* METRIC_COSINE, METRIC_L2 or METRIC_INNER */
    uint32_t m;               /* links per node on upper layers (2m on layer 0); HNSW_M_MIN..MAX */
    uint32_t ef_construction; /* candidate list while inserting; ≥ m, ≤ EF_CONSTRUCTION_MAX */
    uint64_t seed;            /* database seed: levels = f(hash(id, seed)) */
} hnsw_config_t;

/* Fills defaults: m 16, ef_construction 200, cosine; dims and seed as given. */
void hnsw_config_default(hnsw_config_t *config, uint32_t dims, uint64_t seed);

/* Creates an empty index. Errors: CTX_EBAD_PARAM for an out-of-range parameter (message names
 * it). *out is owned by the caller (hnsw_destroy). */
int hnsw_create(const hnsw_config_t *config, hnsw_t **out, ctx_err_t *err);
void hnsw_destroy(hnsw_t *index);

const hnsw_config_t *hnsw_get_config(const hnsw_t *index);
/* Live vectors. */
uint64_t hnsw_count(const hnsw_t *index);
bool hnsw_contains(const hnsw_t *index, int64_t id);
/* Bytes of memory the index holds (vectors, links, maps, scratch pools). */
uint64_t hnsw_memory_bytes(const hnsw_t *index);

/* Pre-allocates room for `vectors` slots (optional: inserts grow the arrays geometrically);
 * values above HNSW_SLOTS_MAX are capped. CTX_ENOMEM when memory is refused (the index is as
 * before, perhaps with some arrays larger). */
int hnsw_reserve(hnsw_t *index, uint64_t vectors);

/* Inserts a vector, or replaces the vector of an id already present (the old node is deleted
 * with link repair, then the new one inserted). dim must equal the index's dims: CTX_EDATA
 * ("different vector dimensions …") otherwise; CTX_ELIMIT when HNSW_SLOTS_MAX is reached;
 * CTX_ENOMEM (53200) when memory is refused -- then the id is absent from the index if it was
 * being replaced, else the index is unchanged. The vector is copied. */
int hnsw_insert(hnsw_t *index, int64_t id, const float *vector, uint32_t dim, ctx_err_t *err);

/* Removes an id (no-op returning false when absent). The neighbours that linked to it get new
 * links chosen from its neighbourhood with the same heuristic as inserts, so recall holds after
 * many deletes; its slot is reused by a later insert. */
bool hnsw_delete(hnsw_t *index, int64_t id);
/* The same, failing with CTX_ENOMEM (53200) when its scratch memory is refused; the id is then
 * still in the index (some of its neighbours may already hold repaired links). CTX_OK also when
 * the id is absent. hnsw_delete is for tools and tests: it asserts this succeeds. */
int hnsw_remove(hnsw_t *index, int64_t id, ctx_err_t *err);

/* True when the stored vector of id equals `vector` after the index's normalization (used to
 * skip no-op replacements). False when absent. */
bool hnsw_same_vector(const hnsw_t *index, int64_t id, const float *vector, uint32_t dim);

typedef struct hnsw_hit {
    int64_t id;
    float distance; /* index distance (see the file comment), ascending in results */
} hnsw_hit_t;

/* Restricts a search to a set of ids (sorted or not, duplicates allowed; ids the index does not
 * hold are ignored). */
typedef struct hnsw_filter {
    const int64_t *ids;
    uint64_t count;
} hnsw_filter_t;

/* How a search ran (for EXPLAIN ANALYZE and tests). */
typedef enum {
    HNSW_PATH_GRAPH = 0,    /* unfiltered graph search */
    HNSW_PATH_FILTERED = 1, /* graph search with the filter applied during traversal */
    HNSW_PATH_EXACT = 2,    /* exact scan of the allowed ids (small filter) */
} hnsw_path_t;

typedef struct hnsw_search_stats {
    hnsw_path_t path;
    uint32_t ef;        /* candidate list used (after widening) */
    uint64_t distances; /* distance computations */
} hnsw_search_stats_t;

/* The k nearest vectors to query (k ≤ HNSW_EF_MAX), best first, ties by lower slot. ef is the
 * candidate list (raised to k when smaller, capped at HNSW_EF_MAX). filter may be NULL; with a
 * filter only allowed ids are returned: an exact scan of them when hnsw_filter_exact() says so,
 * else a graph search whose candidate list widens as ef / selectivity and which looks two hops
 * ahead through disallowed nodes. out has room for k hits; *count receives how many were found
 * (< k only when fewer vectors are eligible). stats may be NULL. Errors: CTX_EDATA on a
 * dimension mismatch, CTX_EBAD_PARAM for k > HNSW_EF_MAX. */
int hnsw_search(const hnsw_t *index, const float *query, uint32_t dim, uint32_t k, uint32_t ef,
                const hnsw_filter_t *filter, hnsw_hit_t *out, uint32_t *count,
                hnsw_search_stats_t *stats, ctx_err_t *err);

/* The cost model of filtered search: true when an exact scan of `allowed` vectors is expected to
 * be cheaper than a filtered graph search with candidate list ef (allowed² ≤ ef · 2m · count). */
bool hnsw_filter_exact(const hnsw_t *index, uint64_t allowed, uint32_t ef);

/* Serialized form, appended to out (little-endian, as x86-64 memory):
 *   OFFSET SIZE DESCRIPTION
 *   0      4    magic "HNSW"
 *   4      1    format version (HNSW_FORMAT_VERSION)
 *   5      1    metric
 *   6      2    0
 *   8      4    dims
 *   12     4    m
 *   16     4    ef_construction
 *   20     8    seed
 *   28     4    slot high-water mark (slots)
 *   32     4    live count
 *   36     4    entry slot (0xFFFFFFFF when empty)
 *   40     4    top level of the entry slot
 *   44     4    free slot count F
 *   48     4F   free slot stack, bottom first
 *   …           per slot 0..slots-1: u8 level (0xFF = free); when live: i64 id, dims × f32
 *               (the stored, normalized vector), then for layers 0..level: u32 link count +
 *               links (u32 slots)
 *   end-4  4    CRC32C of every byte before it
 * Two indexes fed the same calls produce identical bytes. */
void hnsw_serialize(const hnsw_t *index, buf_t *out);

/* Rebuilds an index from hnsw_serialize() bytes without recomputing the graph: one sequential
 * pass. Errors: CTX_ECORRUPT on a bad magic, version, CRC, length or link (every slot number and
 * count is bounds-checked); *out untouched then. The bytes are not referenced afterwards. */
int hnsw_load(const uint8_t *data, size_t len, hnsw_t **out, ctx_err_t *err);

/* Checks the graph's invariants (links point to live slots, counts within bounds, id map and
 * slots agree, entry point on the top level). Returns false with a message in err otherwise.
 * O(n · m); for tests. */
bool hnsw_check(const hnsw_t *index, ctx_err_t *err);

/* Distance kernels (hnsw_dist.c), exposed for tests: vectors padded with zeros to a multiple of
 * HNSW_DIST_STEP floats, accumulated on HNSW_DIST_LANES logical lanes. All implementations give
 * bit-identical results. */
enum { HNSW_DIST_LANES = 32, HNSW_DIST_STEP = 8 };
typedef enum { HNSW_KERNEL_SCALAR = 0, HNSW_KERNEL_AVX2 = 1, HNSW_KERNEL_AVX512 = 2 } hnsw_kernel_t;
typedef float (*hnsw_dist_fn)(const float *a, const float *b, uint32_t dims_padded);
/* The best kernel this CPU runs. */
hnsw_kernel_t hnsw_kernel_best(void);
const char *hnsw_kernel_name(hnsw_kernel_t kernel);
/* Dot product / squared L2 with a given kernel (which must be ≤ hnsw_kernel_best()). */
hnsw_dist_fn hnsw_kernel_dot(hnsw_kernel_t kernel);
hnsw_dist_fn hnsw_kernel_l2sq(hnsw_kernel_t kernel);

#endif
