/*
 * vindex.c — the database's vector index: the HNSW index of committed vectors, maintained by
 * the commit hook, and the candidate generation readers use (contract and the reasoning behind
 * "committed only" in vindex.h).
 *
 * Maintenance compares final states rather than replaying ops: a batch may insert, replace and
 * delete the same id, and an ON CONFLICT DO NOTHING insert may have been skipped by the store,
 * so for each id the batch touches (first occurrence order, which is deterministic) the index is
 * made to hold exactly what the committed store holds. hnsw_insert() of an unchanged vector is a
 * no-op, so repeated ids cost one comparison.
 *
 * Out of memory. The hook runs after the batch is durable, so it cannot fail the statement: an
 * id whose index update is refused goes on a retry list, tried again at the start of every
 * later hook call, and while the list is not empty the index is stale: readers take every
 * vector the store holds (or every allowed id) as candidates, so answers stay exact, only
 * slower. When even the retry list cannot grow, the index stays stale until the server restarts
 * (it is rebuilt from the store or a snapshot then); both are logged.
 *
 * Candidates are ordered by the store's vector slot (the scan order), so that when the executor
 * re-ranks them with exact distances, equal distances fall in the same order as in an exact
 * full scan, and `SET enable_hnsw = off` gives the same rows whenever the index found them.
 *
 * Monitoring figures (vindex_stats) are relaxed atomics in a block of their own, so that searches,
 * which see the index as const, can count themselves, and another thread can read them.
 */
#include "vindex.h"

#include "store_int.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct vindex_counters {
    _Atomic uint64_t searches;
    _Atomic uint64_t vectors;
} vindex_counters_t;

struct vindex {
    hnsw_t *hnsw;
    const store_t *store;
    int64_t *retry; /* ids whose index update was refused (see the file comment) */
    uint32_t retry_count;
    uint32_t retry_cap;
    bool lost; /* an id could not even be put on the retry list */
    vindex_counters_t *counters;
};

/* Publishes the index's size for vindex_stats (after every change). */
static void publish_size(vindex_t *vi) {
    atomic_store_explicit(&vi->counters->vectors, hnsw_count(vi->hnsw), memory_order_relaxed);
}

vindex_t *vindex_adopt(const store_t *store, hnsw_t *index) {
    CTX_ASSERT(store != NULL && index != NULL);
    vindex_t *vi = ctx_calloc(1, sizeof(vindex_t));
    vi->hnsw = index;
    vi->store = store;
    vi->counters = ctx_calloc(1, sizeof(vindex_counters_t));
    publish_size(vi);
    return vi;
}

void vindex_stats(const vindex_t *vi, vindex_stats_t *out) {
    out->searches = atomic_load_explicit(&vi->counters->searches, memory_order_relaxed);
    out->vectors = atomic_load_explicit(&vi->counters->vectors, memory_order_relaxed);
}

int vindex_create(const store_t *store, const hnsw_config_t *config, vindex_t **out,
                  ctx_err_t *err) {
    CTX_ASSERT(store != NULL && out != NULL);
    if (config->dims != store_vector_dims(store)) {
        return ctx_err_set(err, CTX_EDATA, "vector index has %u dimensions, the store %u",
                           config->dims, store_vector_dims(store));
    }
    hnsw_t *h;
    int rc = hnsw_create(config, &h, err);
    if (rc != CTX_OK) {
        return rc;
    }
    (void)hnsw_reserve(h, store_vector_count(store)); /* a head start: inserts grow as needed */
    store_cursor_t cursor = {0};
    int64_t id;
    const float *v;
    while (rc == CTX_OK && store_vector_next(store, &cursor, &id, &v)) {
        rc = hnsw_insert(h, id, v, config->dims, err);
    }
    if (rc != CTX_OK) {
        hnsw_destroy(h);
        return rc;
    }
    *out = vindex_adopt(store, h);
    return CTX_OK;
}

void vindex_destroy(vindex_t *vi) {
    if (vi != NULL) {
        hnsw_destroy(vi->hnsw);
        free(vi->retry);
        free(vi->counters);
        free(vi);
    }
}

const hnsw_t *vindex_hnsw(const vindex_t *vi) {
    return vi->hnsw;
}

metric_t vindex_metric(const vindex_t *vi) {
    return hnsw_get_config(vi->hnsw)->metric;
}

/* The vector id an op changes, if any. */
static bool op_vector_id(const cmd_op_t *op, int64_t *id) {
    switch ((cmd_op_kind_t)op->kind) {
    case CMD_VECTOR_INSERT:
    case CMD_VECTOR_UPSERT:
    case CMD_VECTOR_DELETE:
    case CMD_NODE_DELETE: /* deleting a node deletes its vector */
        *id = op->id;
        return true;
    default:
        return false;
    }
}

/* Makes the index agree with the store for one id. */
static int sync_id(vindex_t *vi, int64_t id, ctx_err_t *err) {
    const float *v = store_vector_get(vi->store, id);
    if (v == NULL) {
        return hnsw_remove(vi->hnsw, id, err);
    }
    return hnsw_insert(vi->hnsw, id, v, store_vector_dims(vi->store), err);
}

static void retry_push(vindex_t *vi, int64_t id) {
    if (vi->retry_count == vi->retry_cap) {
        uint32_t cap = vi->retry_cap ? vi->retry_cap * 2 : 64;
        int64_t *grown =
            cap > vi->retry_cap ? ctx_try_realloc(vi->retry, cap * sizeof(int64_t)) : NULL;
        if (grown == NULL) {
            if (!vi->lost) {
                CTX_WARN("vector index: out of memory; searches scan exactly until restart");
            }
            vi->lost = true;
            return;
        }
        vi->retry = grown;
        vi->retry_cap = cap;
    }
    vi->retry[vi->retry_count++] = id;
}

/* Syncs one id; a refusal puts it on the retry list, another error is logged. */
static void sync_or_retry(vindex_t *vi, int64_t id) {
    ctx_err_t err;
    ctx_err_clear(&err);
    int rc = sync_id(vi, id, &err);
    if (rc == CTX_ENOMEM) {
        retry_push(vi, id);
    } else if (rc != CTX_OK) {
        CTX_WARN("vector index: id %lld not indexed: %s", (long long)id, err.message);
    }
}

void vindex_applied(void *ctx, const cmd_batch_t *batch) {
    vindex_t *vi = ctx;
    CTX_ASSERT(vi != NULL && batch != NULL);
    uint32_t pending = vi->retry_count;
    vi->retry_count = 0; /* ids refused again are pushed back */
    for (uint32_t i = 0; i < pending; i++) {
        sync_or_retry(vi, vi->retry[i]);
    }
    for (uint32_t i = 0; i < batch->count; i++) {
        int64_t id;
        if (op_vector_id(&batch->ops[i], &id)) {
            sync_or_retry(vi, id);
        }
    }
    publish_size(vi);
}

bool vindex_stale(const vindex_t *vi) {
    return vi->retry_count > 0 || vi->lost;
}

typedef struct cand_slot {
    uint32_t slot;
    int64_t id;
} cand_slot_t;

static int cand_slot_cmp(const void *x, const void *y) {
    const cand_slot_t *a = x;
    const cand_slot_t *b = y;
    return (a->slot > b->slot) - (a->slot < b->slot);
}

static bool filter_allows(const hnsw_filter_t *f, int64_t id) {
    if (f == NULL) {
        return true;
    }
    for (uint64_t i = 0; i < f->count; i++) {
        if (f->ids[i] == id) {
            return true;
        }
    }
    return false;
}

/* Sorts candidates by store slot, drops ids the store lacks and duplicates. */
static uint64_t order_by_slot(const store_t *store, cand_slot_t *c, uint64_t n) {
    for (uint64_t i = 0; i < n; i++) {
        c[i].slot = store_vector_slot(store, c[i].id);
    }
    ctx_qsort(c, n, sizeof(cand_slot_t), cand_slot_cmp);
    uint64_t m = 0;
    for (uint64_t i = 0; i < n; i++) {
        if (c[i].slot != STORE_SLOT_NONE && (m == 0 || c[m - 1].slot != c[i].slot)) {
            c[m++] = c[i];
        }
    }
    return m;
}

/* A stale index's candidates: every allowed id, or every vector, in the store's slot order. */
static int stale_candidates(const vindex_t *vi, const hnsw_filter_t *filter, arena_t *arena,
                            int64_t **ids, uint64_t *count, hnsw_search_stats_t *stats,
                            ctx_err_t *err) {
    uint64_t n = filter != NULL ? filter->count : store_vector_count(vi->store);
    cand_slot_t *c = n < SIZE_MAX / sizeof(cand_slot_t) - 1
                         ? arena_try_alloc(arena, sizeof(cand_slot_t) * (n + 1))
                         : NULL;
    int64_t *out = c != NULL ? arena_try_alloc(arena, sizeof(int64_t) * (n + 1)) : NULL;
    if (out == NULL) {
        return arena_limit_error(arena, "statement_mem_limit", err);
    }
    store_cursor_t cursor = {0};
    const float *v;
    for (uint64_t i = 0; i < n; i++) {
        if (filter != NULL) {
            c[i].id = filter->ids[i];
        } else {
            bool more = store_vector_next(vi->store, &cursor, &c[i].id, &v);
            CTX_ASSERT(more);
        }
    }
    n = order_by_slot(vi->store, c, n);
    for (uint64_t i = 0; i < n; i++) {
        out[i] = c[i].id;
    }
    if (stats != NULL) {
        *stats = (hnsw_search_stats_t){0};
        stats->path = HNSW_PATH_EXACT;
    }
    *ids = out;
    *count = n;
    return CTX_OK;
}

int vindex_candidates(const vindex_t *vi, const float *query, uint32_t dim, uint32_t k, uint32_t ef,
                      const hnsw_filter_t *filter, const cmd_batch_t *pending, arena_t *arena,
                      int64_t **ids, uint64_t *count, hnsw_search_stats_t *stats, ctx_err_t *err) {
    CTX_ASSERT(vi != NULL && ids != NULL && count != NULL);
    atomic_fetch_add_explicit(&vi->counters->searches, 1, memory_order_relaxed);
    if (vindex_stale(vi)) {
        return stale_candidates(vi, filter, arena, ids, count, stats, err);
    }
    k = k > HNSW_EF_MAX ? HNSW_EF_MAX : k;
    uint32_t npending = pending != NULL ? pending->count : 0;
    hnsw_hit_t *hits = arena_alloc(arena, sizeof(hnsw_hit_t) * ((size_t)k + 1));
    cand_slot_t *c = arena_alloc(arena, sizeof(cand_slot_t) * ((size_t)k + npending + 1));
    uint32_t nhits = 0;
    int rc = hnsw_search(vi->hnsw, query, dim, k, ef, filter, hits, &nhits, stats, err);
    if (rc != CTX_OK) {
        return rc;
    }
    uint64_t n = 0;
    for (uint32_t i = 0; i < nhits; i++) {
        c[n++].id = hits[i].id;
    }
    /* The session's own uncommitted vectors (small sets: the linear filter test is fine). */
    for (uint32_t i = 0; i < npending; i++) {
        const cmd_op_t *op = &pending->ops[i];
        bool writes = op->kind == CMD_VECTOR_INSERT || op->kind == CMD_VECTOR_UPSERT;
        if (writes && filter_allows(filter, op->id)) {
            c[n++].id = op->id;
        }
    }
    n = order_by_slot(vi->store, c, n);
    int64_t *out = arena_alloc(arena, sizeof(int64_t) * (n + 1));
    for (uint64_t i = 0; i < n; i++) {
        out[i] = c[i].id;
    }
    *ids = out;
    *count = n;
    return CTX_OK;
}

const char *vindex_path_name(hnsw_path_t path) {
    switch (path) {
    case HNSW_PATH_FILTERED:
        return "filtered hnsw";
    case HNSW_PATH_EXACT:
        return "exact scan of allowed ids";
    case HNSW_PATH_GRAPH:
        break;
    }
    return "hnsw";
}

/* A constant or parameter under any number of casts (a loop: the chain may be long). */
static bool free_of_columns(const expr_t *e) {
    while (e->kind == EXPR_CAST && e->left != NULL) {
        e = e->left;
    }
    return e->kind == EXPR_CONST || e->kind == EXPR_PARAM;
}

const expr_t *vindex_query_side(const expr_t *key) {
    return vindex_query_side_at(key, 1);
}

const expr_t *vindex_query_side_at(const expr_t *key, int column) {
    if (key == NULL || key->kind != EXPR_BINARY || key->left == NULL || key->right == NULL) {
        return NULL;
    }
    const expr_t *sides[2] = {key->left, key->right};
    for (int i = 0; i < 2; i++) {
        const expr_t *col = sides[i];
        const expr_t *q = sides[1 - i];
        if (col->kind == EXPR_COLUMN && col->column_index == column && col->type == CT_VECTOR &&
            free_of_columns(q)) {
            return q;
        }
    }
    return NULL;
}

bool vindex_setting_on(const char *v) {
    return v != NULL && (strcasecmp(v, "on") == 0 || strcasecmp(v, "true") == 0 ||
                         strcasecmp(v, "yes") == 0 || strcmp(v, "1") == 0);
}
