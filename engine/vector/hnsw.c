/*
 * hnsw.c — the HNSW graph: layout, levels, insert with heuristic neighbour selection, delete
 * with link repair, and (filtered) search. Serialization and the invariant check are in
 * hnsw_io.c, distance kernels in hnsw_dist.c; the memory layout is drawn in hnsw_int.h.
 *
 * Search. A candidate list of at most ef entries is kept as one sorted array of (distance, slot)
 * pairs with an "expanded" bit, rather than hnswlib's two binary heaps: the next node to expand
 * is the first unexpanded entry, an insertion is a binary search plus a short memmove, and the
 * whole list stays in one or two cache lines per 8 entries. While a node's neighbours are
 * scored, the next neighbour's visited tag and vector are prefetched. Visited sets are arrays of
 * uint16 tags, "cleared" by bumping the tag (memset on wrap), pooled and reused across queries.
 *
 * Insert (Malkov & Yashunin, algorithms 1 and 4). Level = the largest L with
 * hash(id, seed) ≤ 2^64 / m^L (so P(level ≥ L) = m^-L, the paper's mL = 1/ln m, computed in
 * integers: no libm, no random source). Greedy descent to the node's level, then per layer a
 * beam search with ef_construction, heuristic selection of m neighbours (keep a candidate only
 * if it is closer to the new node than to every neighbour already kept; all candidates are kept
 * when there are at most m of them, as hnswlib does), and reverse links, re-pruned with the same
 * heuristic when a neighbour's list (m, or 2m on layer 0) is full.
 *
 * Delete. The nodes linking to the deleted node x are found — exactly on upper layers (a scan of
 * the nodes at that level: about n/m^l of them) and on layer 0 among x's neighbours and their
 * neighbours (links are mostly symmetric, so that finds nearly all) — and each gets a new list
 * chosen by the heuristic from its old links plus x's links. x's slot is freed (its vector set
 * to NaN: a layer-0 link the repair missed then scores NaN and is never taken) and reused by the
 * next insert, so memory does not grow with churn. Replacing a vector is delete + insert.
 *
 * Filtered search. The allowed ids become slots; when hnsw_filter_exact() (allowed² ≤
 * ef·2m·n: the exact scan costs `allowed` distances, the graph search about ef/selectivity ·
 * 2m) says so, the allowed vectors are scored exactly; otherwise the graph is searched with the
 * navigation list widened to ef·n/allowed while results keep only allowed nodes, and when fewer
 * than half the nodes pass, a disallowed neighbour's own neighbours are looked at as well
 * (ACORN-style two-hop expansion), so the allowed part stays reachable.
 *
 * Everything is deterministic (ties by slot number, fixed free-slot order, bit-identical
 * kernels), so replicas fed the same commands hold identical bytes.
 */
#include "hnsw_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

static const uint32_t NAN_BITS = 0x7FC00000u;

static uint64_t mix64(uint64_t x) {
    x += UINT64_C(0x9E3779B97F4A7C15);
    x = (x ^ (x >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94D049BB133111EB);
    return x ^ (x >> 31);
}

static size_t round_up(size_t n, size_t a) {
    return (n + a - 1) / a * a;
}

/* ---------------------------------------------------------------- creation */

void hnsw_config_default(hnsw_config_t *config, uint32_t dims, uint64_t seed) {
    CTX_ASSERT(config != NULL);
    *config = (hnsw_config_t){.dims = dims,
                              .metric = METRIC_COSINE,
                              .m = HNSW_M_DEFAULT,
                              .ef_construction = HNSW_EF_CONSTRUCTION_DEFAULT,
                              .seed = seed};
}

int hnsw_validate_config(const hnsw_config_t *c, ctx_err_t *err) {
    CTX_ASSERT(c != NULL);
    if (c->dims < 1 || c->dims > VECTOR_DIMS_MAX) {
        return ctx_err_set(err, CTX_EBAD_PARAM, "hnsw: dimensions must be between 1 and %d",
                           VECTOR_DIMS_MAX);
    }
    if (c->metric != METRIC_COSINE && c->metric != METRIC_L2 && c->metric != METRIC_INNER) {
        return ctx_err_set(err, CTX_EBAD_PARAM, "hnsw: unknown metric %d", (int)c->metric);
    }
    if (c->m < HNSW_M_MIN || c->m > HNSW_M_MAX) {
        return ctx_err_set(err, CTX_EBAD_PARAM, "hnsw_m must be between %d and %d", HNSW_M_MIN,
                           HNSW_M_MAX);
    }
    if (c->ef_construction < c->m || c->ef_construction > HNSW_EF_CONSTRUCTION_MAX) {
        return ctx_err_set(err, CTX_EBAD_PARAM,
                           "hnsw_ef_construction must be between hnsw_m (%u) and %d", c->m,
                           HNSW_EF_CONSTRUCTION_MAX);
    }
    return CTX_OK;
}

hnsw_t *hnsw_alloc(const hnsw_config_t *config) {
    hnsw_t *h = ctx_calloc(1, sizeof(hnsw_t));
    h->config = *config;
    h->dims_padded = (uint32_t)round_up(config->dims, HNSW_DIST_STEP);
    h->m0 = 2 * config->m;
    h->vec_off = round_up(sizeof(uint32_t) * (1 + (size_t)h->m0), HNSW_VEC_ALIGN);
    h->stride = h->vec_off + sizeof(float) * (size_t)h->dims_padded;
    CTX_ASSERT(h->stride % HNSW_VEC_ALIGN == 0);
    h->kernel = hnsw_kernel_best();
    h->dot = hnsw_kernel_dot(h->kernel);
    h->l2sq = hnsw_kernel_l2sq(h->kernel);
    h->level_limit[0] = UINT64_MAX;
    for (int l = 1; l <= HNSW_LEVEL_MAX; l++) {
        h->level_limit[l] = h->level_limit[l - 1] / config->m;
    }
    h->entry = HNSW_SLOT_NONE;
    h->scratch = ctx_calloc(1, sizeof(hnsw_scratch_pool_t));
    pthread_mutex_init(&h->scratch->lock, NULL);
    return h;
}

int hnsw_create(const hnsw_config_t *config, hnsw_t **out, ctx_err_t *err) {
    CTX_ASSERT(config != NULL && out != NULL);
    int rc = hnsw_validate_config(config, err);
    if (rc != CTX_OK) {
        return rc;
    }
    *out = hnsw_alloc(config);
    return CTX_OK;
}

static void scratch_free(hnsw_scratch_t *s) {
    free(s->tags);
    free(s->pool);
    free(s->res);
    free(s->tmp);
    free(s->query);
    free(s->allow);
    free(s);
}

void hnsw_destroy(hnsw_t *h) {
    if (h == NULL) {
        return;
    }
    for (uint32_t s = 0; s < h->slots; s++) {
        free(h->upper[s]);
    }
    free(h->blocks_raw);
    free(h->ids);
    free(h->levels);
    free(h->upper);
    free(h->free_stack);
    free(h->map);
    while (h->scratch->head != NULL) {
        hnsw_scratch_t *s = h->scratch->head;
        h->scratch->head = s->next;
        scratch_free(s);
    }
    pthread_mutex_destroy(&h->scratch->lock);
    free(h->scratch);
    free(h);
}

const hnsw_config_t *hnsw_get_config(const hnsw_t *h) {
    return &h->config;
}

uint64_t hnsw_count(const hnsw_t *h) {
    return h->count;
}

bool hnsw_contains(const hnsw_t *h, int64_t id) {
    return hnsw_map_find(h, id) != HNSW_SLOT_NONE;
}

uint64_t hnsw_memory_bytes(const hnsw_t *h) {
    uint64_t bytes = sizeof(hnsw_t) + (uint64_t)h->slots_cap * h->stride;
    bytes += (uint64_t)h->slots_cap * (sizeof(int64_t) + 1 + sizeof(uint32_t *));
    bytes += (h->map != NULL ? h->map_mask + 1 : 0) * sizeof(hnsw_map_entry_t);
    bytes += (uint64_t)h->free_cap * sizeof(uint32_t);
    for (uint32_t s = 0; s < h->slots; s++) {
        if (h->upper[s] != NULL) {
            bytes += (uint64_t)h->levels[s] * (1 + h->config.m) * sizeof(uint32_t);
        }
    }
    for (const hnsw_scratch_t *s = h->scratch->head; s != NULL; s = s->next) {
        bytes += (uint64_t)s->tags_cap * sizeof(uint16_t) +
                 (uint64_t)(s->pool_cap + s->res_cap + s->tmp_cap) * sizeof(hnsw_cand_t);
    }
    return bytes;
}

/* Grows the slot arrays to hold `need` slots. The block array is realloc'ed (large blocks move
 * by mremap, without a copy or a double peak) with 64 bytes of slack to re-align it. Each array
 * grows alone and slots_cap moves once all have, so CTX_ENOMEM leaves the index consistent. */
static int reserve_slots(hnsw_t *h, uint32_t need) {
    if (need <= h->slots_cap) {
        return CTX_OK;
    }
    uint64_t cap = h->slots_cap < 1024 ? 1024 : (uint64_t)h->slots_cap + h->slots_cap / 2;
    cap = cap < need ? need : cap;
    cap = cap > HNSW_SLOTS_MAX ? HNSW_SLOTS_MAX : cap;
    CTX_ASSERT(cap >= need);
    size_t old_off = h->blocks_raw != NULL ? (size_t)(h->blocks - h->blocks_raw) : 0;
    size_t used = (size_t)h->slots_cap * h->stride;
    uint8_t *raw = ctx_try_realloc(h->blocks_raw, (size_t)cap * h->stride + HNSW_BLOCK_ALIGN);
    if (raw == NULL) {
        return CTX_ENOMEM;
    }
    h->blocks_raw = raw;
    size_t off = round_up((uintptr_t)h->blocks_raw, HNSW_BLOCK_ALIGN) - (uintptr_t)h->blocks_raw;
    if (off != old_off && used > 0) {
        memmove(h->blocks_raw + off, h->blocks_raw + old_off, used);
    }
    h->blocks = h->blocks_raw + off;
    int64_t *ids = ctx_try_realloc(h->ids, (size_t)cap * sizeof(int64_t));
    h->ids = ids != NULL ? ids : h->ids;
    uint8_t *levels = ids != NULL ? ctx_try_realloc(h->levels, (size_t)cap) : NULL;
    h->levels = levels != NULL ? levels : h->levels;
    uint32_t **upper =
        levels != NULL ? ctx_try_realloc(h->upper, (size_t)cap * sizeof(uint32_t *)) : NULL;
    h->upper = upper != NULL ? upper : h->upper;
    if (upper == NULL) {
        return CTX_ENOMEM;
    }
    h->slots_cap = (uint32_t)cap;
    return CTX_OK;
}

int hnsw_reserve(hnsw_t *h, uint64_t vectors) {
    CTX_ASSERT(h != NULL);
    return reserve_slots(h, vectors > HNSW_SLOTS_MAX ? HNSW_SLOTS_MAX : (uint32_t)vectors);
}

/* ---------------------------------------------------------------- id map */

uint32_t hnsw_map_find(const hnsw_t *h, int64_t id) {
    if (h->map == NULL) {
        return HNSW_SLOT_NONE;
    }
    for (uint64_t i = mix64((uint64_t)id) & h->map_mask;; i = (i + 1) & h->map_mask) {
        if (h->map[i].slot == HNSW_SLOT_NONE || h->map[i].id == id) {
            return h->map[i].slot;
        }
    }
}

static void map_place(hnsw_map_entry_t *map, uint64_t mask, int64_t id, uint32_t slot) {
    uint64_t i = mix64((uint64_t)id) & mask;
    while (map[i].slot != HNSW_SLOT_NONE && map[i].id != id) {
        i = (i + 1) & mask;
    }
    map[i].id = id;
    map[i].slot = slot;
}

/* Room for one more id (the same growth hnsw_map_put does); CTX_ENOMEM changes nothing. */
static int map_reserve(hnsw_t *h) {
    uint64_t buckets = h->map != NULL ? h->map_mask + 1 : 0;
    if ((h->count + 1) * 2 <= buckets) {
        return CTX_OK;
    }
    uint64_t nb = buckets < 1024 ? 1024 : buckets * 2;
    hnsw_map_entry_t *map = ctx_try_malloc(nb * sizeof(hnsw_map_entry_t));
    if (map == NULL) {
        return CTX_ENOMEM;
    }
    for (uint64_t i = 0; i < nb; i++) {
        map[i] = (hnsw_map_entry_t){.id = 0, .slot = HNSW_SLOT_NONE, .pad = 0};
    }
    for (uint64_t i = 0; i < buckets; i++) {
        if (h->map[i].slot != HNSW_SLOT_NONE) {
            map_place(map, nb - 1, h->map[i].id, h->map[i].slot);
        }
    }
    free(h->map);
    h->map = map;
    h->map_mask = nb - 1;
    return CTX_OK;
}

void hnsw_map_put(hnsw_t *h, int64_t id, uint32_t slot) {
    CTX_ASSERT(slot != HNSW_SLOT_NONE);
    uint64_t buckets = h->map != NULL ? h->map_mask + 1 : 0;
    if ((h->count + 1) * 2 > buckets) {
        uint64_t nb = buckets < 1024 ? 1024 : buckets * 2;
        hnsw_map_entry_t *map = ctx_malloc(nb * sizeof(hnsw_map_entry_t));
        for (uint64_t i = 0; i < nb; i++) {
            map[i].slot = HNSW_SLOT_NONE;
            map[i].id = 0;
            map[i].pad = 0;
        }
        for (uint64_t i = 0; i < buckets; i++) {
            if (h->map[i].slot != HNSW_SLOT_NONE) {
                map_place(map, nb - 1, h->map[i].id, h->map[i].slot);
            }
        }
        free(h->map);
        h->map = map;
        h->map_mask = nb - 1;
    }
    map_place(h->map, h->map_mask, id, slot);
}

/* Linear-probing delete with backward shift (no tombstones). */
static void map_remove(hnsw_t *h, int64_t id) {
    uint64_t mask = h->map_mask;
    uint64_t i = mix64((uint64_t)id) & mask;
    while (h->map[i].id != id || h->map[i].slot == HNSW_SLOT_NONE) {
        CTX_ASSERT(h->map[i].slot != HNSW_SLOT_NONE);
        i = (i + 1) & mask;
    }
    for (uint64_t j = i;;) {
        j = (j + 1) & mask;
        if (h->map[j].slot == HNSW_SLOT_NONE) {
            break;
        }
        uint64_t k = mix64((uint64_t)h->map[j].id) & mask;
        bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
        if (!stays) {
            h->map[i] = h->map[j];
            i = j;
        }
    }
    h->map[i].slot = HNSW_SLOT_NONE;
    h->map[i].id = 0;
}

/* ---------------------------------------------------------------- scratch */

static bool grow_cands(hnsw_cand_t **list, uint32_t *cap, uint32_t need) {
    if (*cap < need) {
        free(*list);
        *list = ctx_try_malloc(sizeof(hnsw_cand_t) * need);
        *cap = *list != NULL ? need : 0;
    }
    return *list != NULL;
}

static void scratch_put(const hnsw_t *h, hnsw_scratch_t *s);

/* Takes scratch memory for one operation; lists sized for `list_need` entries. NULL when memory
 * is refused (the pool keeps what it had, with capacities that tell the truth). */
static hnsw_scratch_t *scratch_take(const hnsw_t *h, uint32_t list_need) {
    hnsw_scratch_pool_t *p = h->scratch;
    pthread_mutex_lock(&p->lock);
    hnsw_scratch_t *s = p->head;
    if (s != NULL) {
        p->head = s->next;
    } else {
        p->created++;
    }
    pthread_mutex_unlock(&p->lock);
    if (s == NULL) {
        s = ctx_try_calloc(1, sizeof(hnsw_scratch_t));
        float *query =
            s == NULL ? NULL
                      : aligned_alloc(HNSW_BLOCK_ALIGN,
                                      round_up(sizeof(float) * h->dims_padded, HNSW_BLOCK_ALIGN));
        if (query == NULL) {
            free(s);
            pthread_mutex_lock(&p->lock);
            p->created--;
            pthread_mutex_unlock(&p->lock);
            return NULL;
        }
        s->query = query;
    }
    bool ok = true;
    if (s->tags_cap < h->slots_cap) {
        free(s->tags);
        s->tags = ctx_try_calloc(h->slots_cap, sizeof(uint16_t));
        s->tags_cap = s->tags != NULL ? h->slots_cap : 0;
        s->tag = 0;
        ok = s->tags != NULL;
    }
    uint32_t need = list_need + 2 * h->m0 + 2;
    ok = ok && grow_cands(&s->pool, &s->pool_cap, need);
    ok = ok && grow_cands(&s->res, &s->res_cap, need);
    ok = ok && grow_cands(&s->tmp, &s->tmp_cap, need);
    if (!ok) {
        scratch_put(h, s);
        return NULL;
    }
    s->next = NULL;
    return s;
}

static void scratch_put(const hnsw_t *h, hnsw_scratch_t *s) {
    hnsw_scratch_pool_t *p = h->scratch;
    pthread_mutex_lock(&p->lock);
    s->next = p->head;
    p->head = s;
    pthread_mutex_unlock(&p->lock);
}

static uint16_t next_tag(hnsw_scratch_t *s) {
    s->tag++;
    if (s->tag == 0) {
        memset(s->tags, 0, sizeof(uint16_t) * s->tags_cap);
        s->tag = 1;
    }
    return s->tag;
}

/* ---------------------------------------------------------------- distances and lists */

static inline float dist(const hnsw_t *h, const float *a, const float *b) {
    switch (h->config.metric) {
    case METRIC_L2:
        return h->l2sq(a, b, h->dims_padded);
    case METRIC_COSINE:
        return 1.0f - h->dot(a, b, h->dims_padded);
    case METRIC_INNER:
        break;
    }
    return -h->dot(a, b, h->dims_padded);
}

/* Copies a vector into padded index form (normalized for cosine; zero vectors stay zero). */
static void prepare_vector(const hnsw_t *h, const float *in, float *out) {
    uint32_t dims = h->config.dims;
    if (h->config.metric == METRIC_COSINE) {
        double ss = 0;
        for (uint32_t i = 0; i < dims; i++) {
            ss = ss + (double)in[i] * (double)in[i];
        }
        double inv = ss > 0 ? 1.0 / sqrt(ss) : 0.0;
        for (uint32_t i = 0; i < dims; i++) {
            out[i] = (float)((double)in[i] * inv);
        }
    } else {
        memcpy(out, in, sizeof(float) * dims);
    }
    for (uint32_t i = dims; i < h->dims_padded; i++) {
        out[i] = 0.0f;
    }
}

static inline bool cand_less(float d, uint32_t slot, const hnsw_cand_t *c) {
    return d < c->dist || (d == c->dist && slot < (c->slot & ~HNSW_EXPANDED));
}

/* Inserts (d, slot) into a sorted list of *size ≤ cap entries, dropping the worst when full.
 * Returns the position, or UINT32_MAX when not inserted (too far, or d is NaN). */
static inline uint32_t cand_insert(hnsw_cand_t *list, uint32_t *size, uint32_t cap, float d,
                                   uint32_t slot) {
    uint32_t n = *size;
    if (!(d == d)) {
        return UINT32_MAX;
    }
    if (n == cap) {
        if (!cand_less(d, slot, &list[n - 1])) {
            return UINT32_MAX;
        }
        n--;
    }
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (cand_less(d, slot, &list[mid])) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    memmove(list + lo + 1, list + lo, sizeof(hnsw_cand_t) * (n - lo));
    list[lo].dist = d;
    list[lo].slot = slot;
    *size = n + 1;
    return lo;
}

static int cand_cmp(const void *x, const void *y) {
    const hnsw_cand_t *a = x;
    const hnsw_cand_t *b = y;
    if (a->dist != b->dist) {
        return a->dist < b->dist ? -1 : 1;
    }
    return (a->slot > b->slot) - (a->slot < b->slot);
}

static inline void prefetch_node(const hnsw_t *h, const hnsw_scratch_t *s, uint32_t slot) {
    __builtin_prefetch(&s->tags[slot]);
    const char *v = (const char *)hnsw_vec(h, slot);
    __builtin_prefetch(v);
    __builtin_prefetch(v + 64);
}

/* ---------------------------------------------------------------- layer search */

typedef struct walk {
    const hnsw_t *h;
    hnsw_scratch_t *s;
    const float *q;
    uint64_t ndist;
    const uint64_t *allow; /* filtered search: bitmap over slots, else NULL */
    bool two_hop;
} walk_t;

/* Greedy descent on one layer from *cur (hnswlib's upper-layer search with ef = 1). */
static void greedy(walk_t *w, uint32_t *cur, float *cur_dist, uint32_t level) {
    const hnsw_t *h = w->h;
    bool changed = true;
    while (changed) {
        changed = false;
        const uint32_t *links = hnsw_links(h, *cur, level);
        uint32_t n = links[0];
        for (uint32_t i = 0; i < n; i++) {
            uint32_t nb = links[1 + i];
            float d = dist(h, w->q, hnsw_vec(h, nb));
            w->ndist++;
            if (d < *cur_dist || (d == *cur_dist && nb < *cur)) {
                *cur = nb;
                *cur_dist = d;
                changed = true;
            }
        }
    }
}

/* Beam search on one layer: s->pool[0..size) holds the (visited) entry points; returns the
 * final list size (≤ ef), sorted best first, entries flagged HNSW_EXPANDED. */
static uint32_t beam(walk_t *w, uint32_t size, uint32_t ef, uint32_t level) {
    const hnsw_t *h = w->h;
    hnsw_scratch_t *s = w->s;
    hnsw_cand_t *pool = s->pool;
    uint16_t tag = s->tag;
    uint32_t cur = 0;
    for (;;) {
        while (cur < size && (pool[cur].slot & HNSW_EXPANDED)) {
            cur++;
        }
        if (cur >= size) {
            break;
        }
        uint32_t c = pool[cur].slot;
        pool[cur].slot |= HNSW_EXPANDED;
        uint32_t next = cur + 1;
        const uint32_t *links = hnsw_links(h, c, level);
        uint32_t n = links[0];
        if (n > 0) {
            prefetch_node(h, s, links[1]);
        }
        for (uint32_t i = 0; i < n; i++) {
            uint32_t nb = links[1 + i];
            if (i + 1 < n) {
                prefetch_node(h, s, links[2 + i]);
            }
            if (s->tags[nb] == tag) {
                continue;
            }
            s->tags[nb] = tag;
            float d = dist(h, w->q, hnsw_vec(h, nb));
            w->ndist++;
            uint32_t pos = cand_insert(pool, &size, ef, d, nb);
            next = pos < next ? pos : next;
        }
        cur = next;
    }
    return size;
}

/* Heuristic neighbour selection: cands sorted ascending by distance to the base node; keeps at
 * most cap in out. All are kept when there are at most cap. Returns how many were kept. */
static uint32_t select_heuristic(const hnsw_t *h, const hnsw_cand_t *cands, uint32_t n,
                                 uint32_t cap, hnsw_cand_t *out) {
    if (n <= cap) {
        memcpy(out, cands, sizeof(hnsw_cand_t) * n);
        return n;
    }
    uint32_t kept = 0;
    for (uint32_t i = 0; i < n && kept < cap; i++) {
        const float *v = hnsw_vec(h, cands[i].slot);
        bool good = true;
        for (uint32_t j = 0; j < kept && good; j++) {
            good = !(dist(h, v, hnsw_vec(h, out[j].slot)) < cands[i].dist);
        }
        if (good) {
            out[kept++] = cands[i];
        }
    }
    CTX_ASSERT(kept <= cap);
    return kept;
}

/* Re-selects the links of `node` on `level` from cands[0..n) (distances from node, unsorted). */
static void relink(hnsw_t *h, uint32_t node, uint32_t level, hnsw_cand_t *cands, uint32_t n,
                   hnsw_cand_t *tmp) {
    ctx_qsort(cands, n, sizeof(hnsw_cand_t), cand_cmp);
    uint32_t kept = select_heuristic(h, cands, n, hnsw_cap(h, level), tmp);
    uint32_t *links = hnsw_links(h, node, level);
    for (uint32_t i = 0; i < kept; i++) {
        links[1 + i] = tmp[i].slot;
    }
    links[0] = kept;
}

/* Adds a link node → target on level, re-pruning node's list when it is full. */
static void add_link(hnsw_t *h, hnsw_scratch_t *s, uint32_t node, uint32_t target, uint32_t level) {
    uint32_t *links = hnsw_links(h, node, level);
    uint32_t n = links[0];
    CTX_ASSERT(n <= hnsw_cap(h, level));
    for (uint32_t i = 0; i < n; i++) {
        if (links[1 + i] == target) {
            return;
        }
    }
    if (n < hnsw_cap(h, level)) {
        links[1 + n] = target;
        links[0] = n + 1;
        return;
    }
    const float *base = hnsw_vec(h, node);
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t t = links[1 + i];
        if (h->levels[t] != HNSW_LEVEL_FREE) {
            s->res[k++] = (hnsw_cand_t){dist(h, base, hnsw_vec(h, t)), t};
        }
    }
    s->res[k++] = (hnsw_cand_t){dist(h, base, hnsw_vec(h, target)), target};
    relink(h, node, level, s->res, k, s->tmp);
}

/* ---------------------------------------------------------------- insert */

static uint32_t level_of(const hnsw_t *h, int64_t id) {
    uint64_t x = mix64((uint64_t)id ^ mix64(h->config.seed));
    uint32_t level = 0;
    while (level < HNSW_LEVEL_MAX && x <= h->level_limit[level + 1]) {
        level++;
    }
    return level;
}

/* A free slot, reused or new (reserve_slots ran for a new one). */
static uint32_t alloc_slot(hnsw_t *h) {
    if (h->free_count > 0) {
        return h->free_stack[--h->free_count];
    }
    CTX_ASSERT(h->slots < h->slots_cap);
    return h->slots++;
}

/* Links a freshly stored node into the graph (the index is not empty), with scratch s taken
 * for it (given back here). */
static void connect_node(hnsw_t *h, hnsw_scratch_t *s, uint32_t slot, uint32_t level) {
    walk_t w = {.h = h, .s = s, .q = hnsw_vec(h, slot)};
    uint32_t cur = h->entry;
    float cur_dist = dist(h, w.q, hnsw_vec(h, cur));
    for (uint32_t l = h->top; l > level; l--) {
        greedy(&w, &cur, &cur_dist, l);
    }
    for (uint32_t l = level < h->top ? level : h->top;; l--) {
        uint16_t tag = next_tag(s);
        s->tags[slot] = tag;
        s->tags[cur] = tag;
        s->pool[0] = (hnsw_cand_t){cur_dist, cur};
        uint32_t n = beam(&w, 1, h->config.ef_construction, l);
        for (uint32_t i = 0; i < n; i++) {
            s->res[i] = (hnsw_cand_t){s->pool[i].dist, s->pool[i].slot & ~HNSW_EXPANDED};
        }
        cur = s->res[0].slot;
        cur_dist = s->res[0].dist;
        uint32_t kept = select_heuristic(h, s->res, n, h->config.m, s->tmp);
        uint32_t *mine = hnsw_links(h, slot, l);
        for (uint32_t i = 0; i < kept; i++) {
            mine[1 + i] = s->tmp[i].slot;
        }
        mine[0] = kept;
        for (uint32_t i = 0; i < kept; i++) {
            add_link(h, s, mine[1 + i], slot, l);
        }
        if (l == 0) {
            break;
        }
    }
    scratch_put(h, s);
}

static int check_vector(const hnsw_t *h, const float *v, uint32_t dim, ctx_err_t *err) {
    if (dim != h->config.dims) {
        return ctx_err_set(err, CTX_EDATA, "different vector dimensions %u and %u", h->config.dims,
                           dim);
    }
    for (uint32_t i = 0; i < dim; i++) {
        if (!isfinite(v[i])) {
            return ctx_err_set(err, CTX_EDATA, "NaN or infinity not allowed in vector");
        }
    }
    return CTX_OK;
}

int hnsw_insert(hnsw_t *h, int64_t id, const float *vector, uint32_t dim, ctx_err_t *err) {
    CTX_ASSERT(h != NULL && vector != NULL);
    int rc = check_vector(h, vector, dim, err);
    if (rc != CTX_OK) {
        return rc;
    }
    if (hnsw_map_find(h, id) != HNSW_SLOT_NONE) {
        if (hnsw_same_vector(h, id, vector, dim)) {
            return CTX_OK;
        }
        rc = hnsw_remove(h, id, err);
        if (rc != CTX_OK) {
            return rc;
        }
    }
    if (h->free_count == 0 && h->slots >= HNSW_SLOTS_MAX) {
        return ctx_err_set(err, CTX_ELIMIT, "hnsw: index holds the maximum of %u vectors",
                           (unsigned)HNSW_SLOTS_MAX);
    }
    /* everything that can fail, before the index changes */
    uint32_t level = level_of(h, id);
    uint32_t *upper = NULL;
    hnsw_scratch_t *s = NULL;
    bool ok =
        (h->free_count > 0 || reserve_slots(h, h->slots + 1) == CTX_OK) && map_reserve(h) == CTX_OK;
    if (ok && level > 0) {
        upper = ctx_try_calloc((size_t)level * (1 + h->config.m), sizeof(uint32_t));
        ok = upper != NULL;
    }
    if (ok && h->entry != HNSW_SLOT_NONE) {
        s = scratch_take(h, h->config.ef_construction);
        ok = s != NULL;
    }
    if (!ok) {
        free(upper);
        ctx_err_set(err, CTX_ENOMEM, "out of memory");
        ctx_err_detail(err, "Failed to grow the vector index.");
        return CTX_ENOMEM;
    }
    uint32_t slot = alloc_slot(h);
    prepare_vector(h, vector, hnsw_vec(h, slot));
    hnsw_links(h, slot, 0)[0] = 0;
    h->upper[slot] = upper;
    h->ids[slot] = id;
    h->levels[slot] = (uint8_t)level;
    hnsw_map_put(h, id, slot);
    h->count++;
    if (h->entry == HNSW_SLOT_NONE) {
        h->entry = slot;
        h->top = level;
        return CTX_OK;
    }
    connect_node(h, s, slot, level);
    if (level > h->top) {
        h->entry = slot;
        h->top = level;
    }
    CTX_ASSERT(h->levels[h->entry] == h->top);
    return CTX_OK;
}

bool hnsw_same_vector(const hnsw_t *h, int64_t id, const float *vector, uint32_t dim) {
    uint32_t slot = hnsw_map_find(h, id);
    if (slot == HNSW_SLOT_NONE || dim != h->config.dims) {
        return false;
    }
    float stack[256];
    float *tmp = h->dims_padded <= 256 ? stack : ctx_try_malloc(sizeof(float) * h->dims_padded);
    if (tmp == NULL) {
        return false; /* then treated as changed: replaced, which is correct, only slower */
    }
    prepare_vector(h, vector, tmp);
    bool same = memcmp(tmp, hnsw_vec(h, slot), sizeof(float) * h->dims_padded) == 0;
    if (tmp != stack) {
        free(tmp);
    }
    return same;
}

/* ---------------------------------------------------------------- delete */

static bool list_has(const uint32_t *links, uint32_t target) {
    for (uint32_t i = 0; i < links[0]; i++) {
        if (links[1 + i] == target) {
            return true;
        }
    }
    return false;
}

/* Gives `node` new links on level without x: heuristic over its links and x's links. */
static void repair(hnsw_t *h, hnsw_scratch_t *s, uint32_t node, uint32_t x, uint32_t level) {
    const uint32_t *lists[2] = {hnsw_links(h, node, level), hnsw_links(h, x, level)};
    const float *base = hnsw_vec(h, node);
    uint32_t k = 0;
    for (int li = 0; li < 2; li++) {
        for (uint32_t i = 0; i < lists[li][0]; i++) {
            uint32_t t = lists[li][1 + i];
            bool dup = t == x || t == node || h->levels[t] == HNSW_LEVEL_FREE;
            for (uint32_t j = 0; j < k && !dup; j++) {
                dup = s->res[j].slot == t;
            }
            if (!dup) {
                s->res[k++] = (hnsw_cand_t){dist(h, base, hnsw_vec(h, t)), t};
            }
        }
    }
    relink(h, node, level, s->res, k, s->tmp);
}

/* Collects the nodes whose `level` list contains x (see the file comment for how far it
 * looks). Returns a malloc'ed array, *n its length; NULL when memory is refused. */
static uint32_t *find_holders(hnsw_t *h, hnsw_scratch_t *s, uint32_t x, uint32_t level,
                              uint32_t *n) {
    uint32_t cap = 64, count = 0;
    uint32_t *out = ctx_try_malloc(sizeof(uint32_t) * cap);
    if (out == NULL) {
        return NULL;
    }
    uint16_t tag = next_tag(s);
    s->tags[x] = tag;
    const uint32_t *xl = hnsw_links(h, x, level);
    uint32_t hops = level == 0 ? xl[0] : 0;
    uint32_t scan = level == 0 ? 0 : h->slots;
    for (uint32_t pass = 0; pass < 2; pass++) {
        uint32_t end = pass == 0 ? hops : scan;
        for (uint32_t i = 0; i < end; i++) {
            uint32_t a = pass == 0 ? xl[1 + i] : i;
            const uint32_t *al = NULL;
            uint32_t inner = 1;
            if (pass == 0) {
                al = hnsw_links(h, a, 0);
                inner = 1 + al[0]; /* a itself, then its neighbours (two hops) */
            }
            for (uint32_t j = 0; j < inner; j++) {
                uint32_t t = j == 0 ? a : al[j];
                if (s->tags[t] == tag || h->levels[t] == HNSW_LEVEL_FREE || h->levels[t] < level) {
                    continue;
                }
                s->tags[t] = tag;
                if (list_has(hnsw_links(h, t, level), x)) {
                    if (count == cap) {
                        uint32_t *grown = ctx_try_realloc(out, sizeof(uint32_t) * cap * 2);
                        if (grown == NULL) {
                            free(out);
                            return NULL;
                        }
                        out = grown;
                        cap *= 2;
                    }
                    out[count++] = t;
                }
            }
        }
    }
    *n = count;
    return out;
}

/* The live node with the highest level (lowest slot among equals), excluding `except`. */
static uint32_t highest_node(const hnsw_t *h, uint32_t except, uint32_t *level) {
    uint32_t best = HNSW_SLOT_NONE;
    for (uint32_t s = 0; s < h->slots; s++) {
        if (s != except && h->levels[s] != HNSW_LEVEL_FREE &&
            (best == HNSW_SLOT_NONE || h->levels[s] > h->levels[best])) {
            best = s;
        }
    }
    *level = best == HNSW_SLOT_NONE ? 0 : h->levels[best];
    return best;
}

void hnsw_free_vector(hnsw_t *h, uint32_t slot) {
    float *v = hnsw_vec(h, slot);
    for (uint32_t i = 0; i < h->dims_padded; i++) {
        memcpy(&v[i], &NAN_BITS, sizeof(float));
    }
}

int hnsw_remove(hnsw_t *h, int64_t id, ctx_err_t *err) {
    CTX_ASSERT(h != NULL);
    uint32_t x = hnsw_map_find(h, id);
    if (x == HNSW_SLOT_NONE) {
        return CTX_OK;
    }
    bool ok = true;
    if (h->free_count == h->free_cap) {
        uint32_t cap = h->free_cap == 0 ? 64 : h->free_cap * 2;
        uint32_t *grown = ctx_try_realloc(h->free_stack, sizeof(uint32_t) * cap);
        h->free_stack = grown != NULL ? grown : h->free_stack;
        h->free_cap = grown != NULL ? cap : h->free_cap;
        ok = grown != NULL;
    }
    hnsw_scratch_t *s = ok ? scratch_take(h, 0) : NULL;
    /* Repair level by level; holders that lost their link to x before a refusal keep valid
     * lists, and x stays in the index. */
    for (uint32_t l = 0; s != NULL && ok && l <= h->levels[x]; l++) {
        uint32_t n;
        uint32_t *holders = find_holders(h, s, x, l, &n);
        ok = holders != NULL;
        for (uint32_t i = 0; ok && i < n; i++) {
            repair(h, s, holders[i], x, l);
        }
        free(holders);
    }
    if (s != NULL) {
        scratch_put(h, s);
    }
    if (s == NULL || !ok) {
        ctx_err_set(err, CTX_ENOMEM, "out of memory");
        ctx_err_detail(err, "Failed to grow the vector index's scratch memory.");
        return CTX_ENOMEM;
    }
    map_remove(h, id);
    h->levels[x] = HNSW_LEVEL_FREE;
    h->ids[x] = 0;
    free(h->upper[x]);
    h->upper[x] = NULL;
    hnsw_links(h, x, 0)[0] = 0;
    hnsw_free_vector(h, x);
    h->count--;
    if (h->entry == x) {
        h->entry = highest_node(h, x, &h->top);
    }
    CTX_ASSERT(h->free_count < h->free_cap);
    h->free_stack[h->free_count++] = x;
    CTX_ASSERT(h->count > 0 || h->entry == HNSW_SLOT_NONE);
    return CTX_OK;
}

bool hnsw_delete(hnsw_t *h, int64_t id) {
    bool present = hnsw_map_find(h, id) != HNSW_SLOT_NONE;
    int rc = hnsw_remove(h, id, NULL);
    CTX_ASSERT(rc == CTX_OK); /* hnsw.h: for tools and tests, which have the memory */
    return present;
}

/* ---------------------------------------------------------------- search */

bool hnsw_filter_exact(const hnsw_t *h, uint64_t allowed, uint32_t ef) {
    double graph = (double)ef * (double)h->m0 * (double)h->count;
    return allowed <= ef || (double)allowed * (double)allowed <= graph;
}

static inline bool allowed_slot(const uint64_t *allow, uint32_t slot) {
    return (allow[slot >> 6] >> (slot & 63)) & 1;
}

/* Level-0 beam search that keeps only allowed nodes in s->res (≤ ef_res), navigating through
 * every node with a list of ef_nav, and looking two hops through disallowed nodes. */
static uint32_t beam_filtered(walk_t *w, uint32_t ef_nav, uint32_t ef_res) {
    const hnsw_t *h = w->h;
    hnsw_scratch_t *s = w->s;
    uint16_t tag = s->tag;
    uint32_t size = 1, nres = 0, cur = 0;
    if (allowed_slot(w->allow, s->pool[0].slot)) {
        cand_insert(s->res, &nres, ef_res, s->pool[0].dist, s->pool[0].slot);
    }
    while (cur < size) {
        uint32_t c = s->pool[cur].slot;
        s->pool[cur].slot |= HNSW_EXPANDED;
        uint32_t next = cur + 1;
        const uint32_t *links = hnsw_links(h, c, 0);
        for (uint32_t i = 0; i < links[0]; i++) {
            uint32_t nb = links[1 + i];
            if (i + 1 < links[0]) {
                prefetch_node(h, s, links[2 + i]);
            }
            if (s->tags[nb] == tag) {
                continue;
            }
            s->tags[nb] = tag;
            bool ok = allowed_slot(w->allow, nb);
            const uint32_t *hop = w->two_hop && !ok ? hnsw_links(h, nb, 0) : NULL;
            for (uint32_t j = 0; j <= (hop != NULL ? hop[0] : 0); j++) {
                uint32_t t = j == 0 ? nb : hop[j];
                if (j > 0 && (s->tags[t] == tag || !allowed_slot(w->allow, t))) {
                    continue;
                }
                s->tags[t] = tag;
                float d = dist(h, w->q, hnsw_vec(h, t));
                w->ndist++;
                uint32_t pos = cand_insert(s->pool, &size, ef_nav, d, t);
                next = pos < next ? pos : next;
                if (j > 0 || ok) {
                    cand_insert(s->res, &nres, ef_res, d, t);
                }
            }
        }
        cur = next;
        while (cur < size && (s->pool[cur].slot & HNSW_EXPANDED)) {
            cur++;
        }
    }
    return nres;
}

static int u32_cmp(const void *x, const void *y) {
    uint32_t a = *(const uint32_t *)x;
    uint32_t b = *(const uint32_t *)y;
    return (a > b) - (a < b);
}

/* Sorted, de-duplicated slots of the filter's ids (ids the index lacks are dropped); NULL when
 * memory is refused. */
static uint32_t *filter_slots(const hnsw_t *h, const hnsw_filter_t *f, uint64_t *n) {
    uint32_t *slots = f->count < SIZE_MAX / sizeof(uint32_t) - 1
                          ? ctx_try_malloc(sizeof(uint32_t) * (f->count + 1))
                          : NULL;
    if (slots == NULL) {
        return NULL;
    }
    uint64_t k = 0;
    for (uint64_t i = 0; i < f->count; i++) {
        uint32_t s = hnsw_map_find(h, f->ids[i]);
        if (s != HNSW_SLOT_NONE) {
            slots[k++] = s;
        }
    }
    ctx_qsort(slots, k, sizeof(uint32_t), u32_cmp);
    uint64_t unique = 0;
    for (uint64_t i = 0; i < k; i++) {
        if (unique == 0 || slots[unique - 1] != slots[i]) {
            slots[unique++] = slots[i];
        }
    }
    *n = unique;
    return slots;
}

/* Exact scan of the given slots into out (top k). */
static uint32_t search_exact(walk_t *w, const uint32_t *slots, uint64_t n, uint32_t k) {
    uint32_t size = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (i + 1 < n) {
            __builtin_prefetch(hnsw_vec(w->h, slots[i + 1]));
        }
        float d = dist(w->h, w->q, hnsw_vec(w->h, slots[i]));
        w->ndist++;
        cand_insert(w->s->res, &size, k, d, slots[i]);
    }
    return size;
}

/* Descends the upper layers; returns the layer-0 entry with its distance in *d. */
static uint32_t descend(walk_t *w, float *d) {
    const hnsw_t *h = w->h;
    uint32_t cur = h->entry;
    *d = dist(h, w->q, hnsw_vec(h, cur));
    w->ndist++;
    for (uint32_t l = h->top; l > 0; l--) {
        greedy(w, &cur, d, l);
    }
    return cur;
}

/* Navigation list of a filtered graph search: ef widened by 1 / selectivity. */
static uint32_t filtered_ef(const hnsw_t *h, uint32_t ef, uint64_t allowed) {
    double widen = (double)ef * (double)h->count / (double)(allowed == 0 ? 1 : allowed);
    uint32_t ef_nav = widen > HNSW_EF_MAX ? HNSW_EF_MAX : (uint32_t)widen;
    return ef_nav < ef ? ef : ef_nav;
}

/* Graph search at level 0 (filtered when w->allow): results in s->res or s->pool. */
static uint32_t search_graph(walk_t *w, uint32_t ef, uint64_t allowed, hnsw_search_stats_t *st,
                             const hnsw_cand_t **list) {
    const hnsw_t *h = w->h;
    hnsw_scratch_t *s = w->s;
    float d;
    uint32_t ep = descend(w, &d);
    uint16_t tag = next_tag(s);
    s->tags[ep] = tag;
    s->pool[0] = (hnsw_cand_t){d, ep};
    if (w->allow == NULL) {
        st->path = HNSW_PATH_GRAPH;
        st->ef = ef;
        *list = s->pool;
        return beam(w, 1, ef, 0);
    }
    uint32_t ef_nav = filtered_ef(h, ef, allowed);
    w->two_hop = allowed * 2 < h->count;
    st->path = HNSW_PATH_FILTERED;
    st->ef = ef_nav;
    *list = s->res;
    return beam_filtered(w, ef_nav, ef);
}

/* 53200 for search scratch that could not grow. */
static int search_oom(ctx_err_t *err) {
    ctx_err_set(err, CTX_ENOMEM, "out of memory");
    ctx_err_detail(err, "Failed to grow the vector search's scratch memory.");
    return CTX_ENOMEM;
}

/* The allowed-slot bitmap of a filtered graph search in s->allow; false when memory is refused. */
static bool allow_bits(const hnsw_t *h, hnsw_scratch_t *s, const uint32_t *slots,
                       uint64_t allowed) {
    uint32_t words = (h->slots + 63) / 64;
    if (s->allow_words < words) {
        free(s->allow);
        s->allow = ctx_try_malloc(sizeof(uint64_t) * words);
        s->allow_words = s->allow != NULL ? words : 0;
        if (s->allow == NULL) {
            return false;
        }
    }
    ctx_memset(s->allow, 0, sizeof(uint64_t) * words);
    for (uint64_t i = 0; i < allowed; i++) {
        s->allow[slots[i] >> 6] |= UINT64_C(1) << (slots[i] & 63);
    }
    return true;
}

static int search_args(const hnsw_t *h, uint32_t dim, uint32_t k, ctx_err_t *err) {
    if (dim != h->config.dims) {
        return ctx_err_set(err, CTX_EDATA, "different vector dimensions %u and %u", h->config.dims,
                           dim);
    }
    if (k > HNSW_EF_MAX) {
        return ctx_err_set(err, CTX_EBAD_PARAM, "hnsw: k must be at most %d", HNSW_EF_MAX);
    }
    return CTX_OK;
}

int hnsw_search(const hnsw_t *h, const float *query, uint32_t dim, uint32_t k, uint32_t ef,
                const hnsw_filter_t *filter, hnsw_hit_t *out, uint32_t *count,
                hnsw_search_stats_t *stats, ctx_err_t *err) {
    CTX_ASSERT(h != NULL && query != NULL && count != NULL);
    *count = 0;
    hnsw_search_stats_t st_local = {0};
    hnsw_search_stats_t *st = stats != NULL ? stats : &st_local;
    *st = (hnsw_search_stats_t){0};
    int rc = search_args(h, dim, k, err);
    if (rc != CTX_OK || k == 0 || h->count == 0) {
        return rc;
    }
    ef = ef < k ? k : (ef > HNSW_EF_MAX ? HNSW_EF_MAX : ef);
    uint64_t allowed = 0;
    uint32_t *slots = filter != NULL ? filter_slots(h, filter, &allowed) : NULL;
    if (filter != NULL && slots == NULL) {
        return search_oom(err);
    }
    if (filter != NULL && allowed == 0) {
        free(slots);
        st->path = HNSW_PATH_EXACT;
        return CTX_OK;
    }
    bool exact = filter != NULL && hnsw_filter_exact(h, allowed, ef);
    uint32_t widest = exact ? k : (filter != NULL ? filtered_ef(h, ef, allowed) : ef);
    hnsw_scratch_t *s = scratch_take(h, widest);
    if (s == NULL || (!exact && filter != NULL && !allow_bits(h, s, slots, allowed))) {
        if (s != NULL) {
            scratch_put(h, s);
        }
        free(slots);
        return search_oom(err);
    }
    walk_t w = {.h = h, .s = s, .q = s->query};
    prepare_vector(h, query, s->query);
    const hnsw_cand_t *list = s->res;
    uint32_t n;
    if (exact) {
        st->path = HNSW_PATH_EXACT;
        st->ef = k;
        n = search_exact(&w, slots, allowed, k);
    } else {
        if (filter != NULL) {
            w.allow = s->allow;
        }
        n = search_graph(&w, ef, allowed, st, &list);
    }
    n = n < k ? n : k;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t slot = list[i].slot & ~HNSW_EXPANDED;
        out[i] = (hnsw_hit_t){h->ids[slot], list[i].dist};
    }
    *count = n;
    st->distances = w.ndist;
    scratch_put(h, s);
    free(slots);
    return CTX_OK;
}
