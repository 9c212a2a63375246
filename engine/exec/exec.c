/*
 * exec.c — the executor: runs a plan tree (engine/exec/plan.h) operator at a time.
 *
 * Each operator reads its child's materialized row set and produces its own in the statement
 * arena. Rows are arrays of value_t; variable-length payloads point into the store (valid for the
 * statement, since writes are applied only after a statement's reads) or into the arena.
 *
 * Determinism: scans follow the store's deterministic order, grouping keeps first-seen group
 * order, and sorting breaks ties by input position (a stable sort), so the same statements over
 * the same state always give the same rows in the same order. TOPK is exactly SORT + LIMIT with
 * a bounded heap, including the tie rule.
 */
#include "exec_int.h"
#include "stack.h"

#include "vindex.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---------------------------------------------------------------- row set builder */

void rs_init(rs_builder_t *b, rowset_t *out, int ncols, exec_ctx_t *ctx) {
    out->rows = NULL;
    out->nrows = 0;
    out->ncols = ncols;
    b->out = out;
    b->cap = 0;
    b->ctx = ctx;
}

int exec_nomem(exec_ctx_t *ctx, ctx_err_t *err) {
    return arena_limit_error(ctx->eval.arena, EXEC_MEM_SETTING, err);
}

/* The per-row poll: the statement's memory limit (a flag, checked every row) and the cancel flag
 * (every EXEC_CANCEL_POLL rows). */
int exec_check_cancel(exec_ctx_t *ctx, uint64_t counter, ctx_err_t *err) {
    if (arena_exhausted(ctx->eval.arena)) {
        return exec_nomem(ctx, err);
    }
    if (counter % EXEC_CANCEL_POLL != 0 || ctx->eval.env == NULL || ctx->eval.env->cancel == NULL) {
        return CTX_OK;
    }
    if (atomic_load(ctx->eval.env->cancel)) {
        return ctx_err_set(err, CTX_ECANCELED, "canceling statement due to user request");
    }
    return CTX_OK;
}

value_t *rs_push(rs_builder_t *b, ctx_err_t *err) {
    rowset_t *out = b->out;
    if (b->ctx->rows_max != 0 && out->nrows >= b->ctx->rows_max) {
        ctx_err_set(err, CTX_ELIMIT, "intermediate result exceeds %llu rows",
                    (unsigned long long)b->ctx->rows_max);
        ctx_err_hint(err, "Add a WHERE clause or LIMIT, or raise exec_rows_max.");
        return NULL;
    }
    if (exec_check_cancel(b->ctx, out->nrows + 1, err) != CTX_OK) {
        return NULL;
    }
    if (out->nrows == b->cap) {
        uint64_t cap = b->cap == 0 ? 64 : b->cap * 2;
        size_t width = (size_t)(out->ncols > 0 ? out->ncols : 1);
        value_t *rows = cap > SIZE_MAX / sizeof(value_t) / width
                            ? NULL
                            : arena_try_alloc(b->ctx->eval.arena, cap * width * sizeof(value_t));
        if (rows == NULL) {
            exec_nomem(b->ctx, err);
            return NULL;
        }
        if (out->nrows > 0) {
            ctx_memcpy(rows, out->rows, out->nrows * width * sizeof(value_t));
        }
        out->rows = rows;
        b->cap = cap;
    }
    value_t *row = out->rows + out->nrows * (uint64_t)out->ncols;
    out->nrows++;
    return row;
}

/* ---------------------------------------------------------------- scans */

static void node_row(const node_view_t *n, value_t *row) {
    row[0] = value_int(n->id);
    row[1] = value_text(n->label, n->label_len);
    row[2] = n->props == NULL ? value_null() : value_json(n->props, n->props_len);
}

static void edge_row(const edge_view_t *e, value_t *row) {
    row[0] = value_int(e->source);
    row[1] = value_int(e->target);
    row[2] = value_text(e->kind_name, (uint32_t)strlen(e->kind_name));
    row[3] = value_float(e->weight);
}

static void vector_row(int64_t id, const float *v, uint32_t dim, value_t *row) {
    row[0] = value_int(id);
    row[1] = value_vector(v, dim);
}

/* Fills row with the table row whose id is `id`; false when absent. */
static bool table_row_by_id(const store_t *store, table_id_t table, int64_t id, value_t *row) {
    if (table == TABLE_NODES) {
        node_view_t n;
        if (!store_node_get(store, id, &n)) {
            return false;
        }
        node_row(&n, row);
        return true;
    }
    CTX_ASSERT(table == TABLE_VECTORS);
    const float *v = store_vector_get(store, id);
    if (v == NULL) {
        return false;
    }
    vector_row(id, v, store_vector_dims(store), row);
    return true;
}

static int scan_full(const plan_t *plan, exec_ctx_t *ctx, rs_builder_t *b, ctx_err_t *err) {
    store_cursor_t cursor = {0};
    const store_t *store = ctx->store;
    value_t *row;
    if (plan->table == TABLE_NODES) {
        node_view_t n;
        while (store_node_next(store, &cursor, &n)) {
            if ((row = rs_push(b, err)) == NULL) {
                return err->code;
            }
            node_row(&n, row);
        }
    } else if (plan->table == TABLE_EDGES) {
        edge_view_t e;
        while (store_edge_next(store, &cursor, &e)) {
            if ((row = rs_push(b, err)) == NULL) {
                return err->code;
            }
            edge_row(&e, row);
        }
    } else {
        int64_t id;
        const float *v;
        while (store_vector_next(store, &cursor, &id, &v)) {
            if ((row = rs_push(b, err)) == NULL) {
                return err->code;
            }
            vector_row(id, v, store_vector_dims(store), row);
        }
    }
    return CTX_OK;
}

static int cmp_int64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a;
    int64_t y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Evaluates the lookup keys into a sorted, de-duplicated id list (NULL keys match nothing). */
static int eval_lookup_keys(const plan_t *plan, exec_ctx_t *ctx, int64_t **ids, int *count,
                            ctx_err_t *err) {
    int64_t *out = arena_alloc(ctx->eval.arena, sizeof(int64_t) * (size_t)(plan->nkeys + 1));
    int n = 0;
    for (int i = 0; i < plan->nkeys; i++) {
        value_t v;
        int rc = eval_expr(plan->keys[i], NULL, &ctx->eval, &v, err);
        if (rc != CTX_OK) {
            return rc;
        }
        if (v.kind == VAL_INT) {
            out[n++] = v.u.i;
        }
    }
    ctx_qsort(out, (size_t)n, sizeof(int64_t), cmp_int64);
    int unique = 0;
    for (int i = 0; i < n; i++) {
        if (unique == 0 || out[unique - 1] != out[i]) {
            out[unique++] = out[i];
        }
    }
    *ids = out;
    *count = unique;
    return CTX_OK;
}

static int scan_edges_adjacent(exec_ctx_t *ctx, int64_t id, store_dir_t dir, rs_builder_t *b,
                               ctx_err_t *err) {
    store_adj_iter_t it;
    edge_view_t e;
    int64_t other;
    store_adj_begin(ctx->store, id, dir, STORE_KIND_ANY, &it);
    while (store_adj_next(&it, &e, &other)) {
        value_t *row = rs_push(b, err);
        if (row == NULL) {
            return err->code;
        }
        edge_row(&e, row);
    }
    return CTX_OK;
}

static int scan_lookup(const plan_t *plan, exec_ctx_t *ctx, rs_builder_t *b, ctx_err_t *err) {
    int64_t *ids;
    int count;
    int rc = eval_lookup_keys(plan, ctx, &ids, &count, err);
    for (int i = 0; rc == CTX_OK && i < count; i++) {
        if (plan->lookup == LOOKUP_EDGE_SRC || plan->lookup == LOOKUP_EDGE_DST) {
            store_dir_t dir = plan->lookup == LOOKUP_EDGE_SRC ? STORE_DIR_OUT : STORE_DIR_IN;
            rc = scan_edges_adjacent(ctx, ids[i], dir, b, err);
            continue;
        }
        value_t tmp[4];
        if (table_row_by_id(ctx->store, plan->table, ids[i], tmp)) {
            value_t *row = rs_push(b, err);
            if (row == NULL) {
                return err->code;
            }
            ctx_memcpy(row, tmp, sizeof(value_t) * (size_t)plan->ncols);
        }
    }
    return rc;
}

static int exec_scan(const plan_t *plan, exec_ctx_t *ctx, rowset_t *out, ctx_err_t *err) {
    rs_builder_t b;
    rs_init(&b, out, plan->ncols, ctx);
    CTX_ASSERT(plan->ncols == table_column_count(plan->table));
    if (plan->lookup == LOOKUP_NONE) {
        return scan_full(plan, ctx, &b, err);
    }
    return scan_lookup(plan, ctx, &b, err);
}

/* ---------------------------------------------------------------- filter, project */

static int exec_filter(const plan_t *plan, const rowset_t *in, exec_ctx_t *ctx, rowset_t *out,
                       ctx_err_t *err) {
    rs_builder_t b;
    rs_init(&b, out, in->ncols, ctx);
    for (uint64_t r = 0; r < in->nrows; r++) {
        bool keep;
        int rc = eval_predicate(plan->predicate, rs_row(in, r), &ctx->eval, &keep, err);
        if (rc != CTX_OK) {
            return rc;
        }
        if (keep) {
            value_t *row = rs_push(&b, err);
            if (row == NULL) {
                return err->code;
            }
            ctx_memcpy(row, rs_row(in, r), sizeof(value_t) * (size_t)in->ncols);
        }
    }
    return CTX_OK;
}

int exec_project_row(expr_t *const *exprs, int nexprs, const value_t *in, exec_ctx_t *ctx,
                     value_t *out, ctx_err_t *err) {
    for (int i = 0; i < nexprs; i++) {
        int rc = eval_expr(exprs[i], in, &ctx->eval, &out[i], err);
        if (rc != CTX_OK) {
            return rc;
        }
    }
    return CTX_OK;
}

static int exec_project(const plan_t *plan, const rowset_t *in, exec_ctx_t *ctx, rowset_t *out,
                        ctx_err_t *err) {
    rs_builder_t b;
    rs_init(&b, out, plan->nexprs, ctx);
    for (uint64_t r = 0; r < in->nrows; r++) {
        value_t *row = rs_push(&b, err);
        if (row == NULL) {
            return err->code;
        }
        int rc = exec_project_row(plan->exprs, plan->nexprs, rs_row(in, r), ctx, row, err);
        if (rc != CTX_OK) {
            return rc;
        }
    }
    return CTX_OK;
}

static int exec_result(const plan_t *plan, exec_ctx_t *ctx, rowset_t *out, ctx_err_t *err) {
    rs_builder_t b;
    rs_init(&b, out, plan->ncols, ctx);
    return rs_push(&b, err) == NULL ? err->code : CTX_OK;
}

static int exec_trim(const plan_t *plan, const rowset_t *in, exec_ctx_t *ctx, rowset_t *out,
                     ctx_err_t *err) {
    rs_builder_t b;
    rs_init(&b, out, plan->ncols, ctx);
    CTX_ASSERT(plan->ncols <= in->ncols);
    for (uint64_t r = 0; r < in->nrows; r++) {
        value_t *row = rs_push(&b, err);
        if (row == NULL) {
            return err->code;
        }
        ctx_memcpy(row, rs_row(in, r), sizeof(value_t) * (size_t)plan->ncols);
    }
    return CTX_OK;
}

/* ---------------------------------------------------------------- hashing rows */

static uint64_t row_hash(const value_t *row, int ncols) {
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (int c = 0; c < ncols; c++) {
        h ^= value_hash(&row[c]) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    }
    return h;
}

static bool row_equal(const value_t *a, const value_t *b, int ncols) {
    for (int c = 0; c < ncols; c++) {
        bool na = value_is_null(&a[c]);
        bool nb = value_is_null(&b[c]);
        if (na != nb || (!na && value_compare(&a[c], &b[c]) != 0)) {
            return false;
        }
    }
    return true;
}

/* Slot arrays for cap slots; false when the statement's memory limit is reached. */
static bool row_table_slots(row_table_t *t, uint64_t cap) {
    t->keys = arena_try_calloc(t->arena, cap, sizeof(*t->keys));
    t->index = t->keys == NULL ? NULL : arena_try_calloc(t->arena, cap, sizeof(*t->index));
    t->cap = cap;
    return t->index != NULL;
}

bool row_table_init(row_table_t *t, int ncols, arena_t *arena) {
    t->count = 0;
    t->ncols = ncols;
    t->arena = arena;
    return row_table_slots(t, 64);
}

static bool row_table_grow(row_table_t *t) {
    uint64_t old_cap = t->cap;
    const value_t **old_keys = t->keys;
    uint32_t *old_index = t->index;
    if (!row_table_slots(t, old_cap * 2)) {
        t->keys = old_keys; /* unchanged: the caller fails the statement */
        t->index = old_index;
        t->cap = old_cap;
        return false;
    }
    for (uint64_t i = 0; i < old_cap; i++) {
        if (old_keys[i] == NULL) {
            continue;
        }
        uint64_t slot = row_hash(old_keys[i], t->ncols) & (t->cap - 1);
        while (t->keys[slot] != NULL) {
            slot = (slot + 1) & (t->cap - 1);
        }
        t->keys[slot] = old_keys[i];
        t->index[slot] = old_index[i];
    }
    return true;
}

bool row_table_upsert(row_table_t *t, const value_t *key, uint32_t *index, bool *inserted) {
    if ((t->count + 1) * 2 > t->cap && !row_table_grow(t)) {
        return false;
    }
    uint64_t slot = row_hash(key, t->ncols) & (t->cap - 1);
    while (t->keys[slot] != NULL) {
        if (row_equal(t->keys[slot], key, t->ncols)) {
            *inserted = false;
            *index = t->index[slot];
            return true;
        }
        slot = (slot + 1) & (t->cap - 1);
    }
    CTX_ASSERT(t->count < UINT32_MAX);
    t->keys[slot] = key;
    t->index[slot] = (uint32_t)t->count++;
    *inserted = true;
    *index = t->index[slot];
    return true;
}

static int exec_distinct(const plan_t *plan, const rowset_t *in, exec_ctx_t *ctx, rowset_t *out,
                         ctx_err_t *err) {
    rs_builder_t b;
    rs_init(&b, out, in->ncols, ctx);
    row_table_t seen;
    int width = plan->distinct_cols;
    value_t *keys = NULL; /* DISTINCT ON: each row's key columns, kept for the table */
    if (plan->distinct_on != NULL) {
        keys = arena_try_calloc(ctx->eval.arena, in->nrows * (uint64_t)width + 1, sizeof(value_t));
    }
    if ((plan->distinct_on != NULL && keys == NULL) ||
        !row_table_init(&seen, width, ctx->eval.arena)) {
        return exec_nomem(ctx, err);
    }
    for (uint64_t r = 0; r < in->nrows; r++) {
        bool inserted;
        uint32_t index;
        const value_t *key = rs_row(in, r);
        for (int k = 0; keys != NULL && k < width; k++) {
            keys[r * (uint64_t)width + (uint64_t)k] = key[plan->distinct_on[k]];
        }
        key = keys != NULL ? &keys[r * (uint64_t)width] : key;
        if (!row_table_upsert(&seen, key, &index, &inserted)) {
            return exec_nomem(ctx, err);
        }
        if (inserted) {
            value_t *row = rs_push(&b, err);
            if (row == NULL) {
                return err->code;
            }
            ctx_memcpy(row, rs_row(in, r), sizeof(value_t) * (size_t)in->ncols);
        }
    }
    return CTX_OK;
}

/* ---------------------------------------------------------------- sort, top-k, limit */

typedef struct sort_env {
    const rowset_t *rows;
    const sort_key_t *keys;
    int nkeys;
} sort_env_t;

/* Compares rows a and b by the sort keys, ties broken by input position (stable). */
static int sort_compare(const sort_env_t *env, uint64_t a, uint64_t b) {
    const value_t *ra = rs_row(env->rows, a);
    const value_t *rb = rs_row(env->rows, b);
    for (int k = 0; k < env->nkeys; k++) {
        const sort_key_t *key = &env->keys[k];
        const value_t *va = &ra[key->column];
        const value_t *vb = &rb[key->column];
        bool na = value_is_null(va);
        bool nb = value_is_null(vb);
        int c;
        if (na || nb) {
            c = na == nb ? 0 : (na ? 1 : -1); /* NULLs last ... */
            if (key->nulls_first) {
                c = -c; /* ... unless NULLS FIRST */
            }
            if (c != 0) {
                return c;
            }
            continue;
        }
        c = value_compare(va, vb);
        if (key->desc) {
            c = -c;
        }
        if (c != 0) {
            return c;
        }
    }
    return (a > b) - (a < b);
}

static int sort_qsort_cmp(const void *x, const void *y, void *arg) {
    return sort_compare(arg, *(const uint64_t *)x, *(const uint64_t *)y);
}

static int emit_order(const rowset_t *in, const uint64_t *order, uint64_t count, exec_ctx_t *ctx,
                      rowset_t *out, ctx_err_t *err) {
    rs_builder_t b;
    rs_init(&b, out, in->ncols, ctx);
    for (uint64_t i = 0; i < count; i++) {
        value_t *row = rs_push(&b, err);
        if (row == NULL) {
            return err->code;
        }
        ctx_memcpy(row, rs_row(in, order[i]), sizeof(value_t) * (size_t)in->ncols);
    }
    return CTX_OK;
}

static int exec_sort(const plan_t *plan, const rowset_t *in, exec_ctx_t *ctx, rowset_t *out,
                     ctx_err_t *err) {
    uint64_t *order = arena_try_alloc(ctx->eval.arena, sizeof(uint64_t) * (in->nrows + 1));
    if (order == NULL) {
        return exec_nomem(ctx, err);
    }
    for (uint64_t i = 0; i < in->nrows; i++) {
        order[i] = i;
    }
    sort_env_t env = {in, plan->sort_keys, plan->nsort};
    qsort_r(order, in->nrows, sizeof(uint64_t), sort_qsort_cmp, &env);
    return emit_order(in, order, in->nrows, ctx, out, err);
}

/* Evaluates a LIMIT/OFFSET expression: NULL → unlimited (-1), negative → 2201W. */
static int eval_count(const expr_t *e, exec_ctx_t *ctx, const char *what, int64_t *out,
                      ctx_err_t *err) {
    *out = -1;
    if (e == NULL) {
        return CTX_OK;
    }
    value_t v;
    int rc = eval_expr(e, NULL, &ctx->eval, &v, err);
    if (rc != CTX_OK || v.kind == VAL_NULL) {
        return rc;
    }
    if (v.kind == VAL_FLOAT) {
        v = value_int((int64_t)llround(v.u.f));
    }
    if (v.kind != VAL_INT) {
        return ctx_err_set(err, CTX_ETYPE, "argument of %s must be type bigint", what);
    }
    if (v.u.i < 0) {
        return ctx_err_set(err, CTX_EROW_COUNT, "%s must not be negative", what);
    }
    *out = v.u.i;
    return CTX_OK;
}

static int limit_bounds(const plan_t *plan, exec_ctx_t *ctx, uint64_t nrows, uint64_t *first,
                        uint64_t *end, ctx_err_t *err) {
    int64_t limit, offset;
    int rc = eval_count(plan->limit, ctx, "LIMIT", &limit, err);
    if (rc == CTX_OK) {
        rc = eval_count(plan->offset, ctx, "OFFSET", &offset, err);
    }
    if (rc != CTX_OK) {
        return rc;
    }
    *first = offset < 0 ? 0 : ((uint64_t)offset > nrows ? nrows : (uint64_t)offset);
    *end = nrows;
    if (limit >= 0 && (uint64_t)limit < nrows - *first) {
        *end = *first + (uint64_t)limit;
    }
    return CTX_OK;
}

static int exec_limit(const plan_t *plan, const rowset_t *in, exec_ctx_t *ctx, rowset_t *out,
                      ctx_err_t *err) {
    uint64_t first, end;
    int rc = limit_bounds(plan, ctx, in->nrows, &first, &end, err);
    if (rc != CTX_OK) {
        return rc;
    }
    out->ncols = in->ncols;
    out->nrows = end - first;
    /* an empty input may have no row array at all: no arithmetic on its NULL */
    out->rows = in->nrows == 0 ? in->rows : in->rows + first * (uint64_t)in->ncols;
    return CTX_OK;
}

/* Sift-down in a max-heap of row indices ordered by sort_compare (worst row on top). */
static void heap_sift_down(uint64_t *heap, uint64_t n, uint64_t i, const sort_env_t *env) {
    for (;;) {
        uint64_t l = 2 * i + 1;
        uint64_t r = l + 1;
        uint64_t m = i;
        if (l < n && sort_compare(env, heap[l], heap[m]) > 0) {
            m = l;
        }
        if (r < n && sort_compare(env, heap[r], heap[m]) > 0) {
            m = r;
        }
        if (m == i) {
            return;
        }
        uint64_t t = heap[i];
        heap[i] = heap[m];
        heap[m] = t;
        i = m;
    }
}

static void heap_sift_up(uint64_t *heap, uint64_t i, const sort_env_t *env) {
    while (i > 0) {
        uint64_t p = (i - 1) / 2;
        if (sort_compare(env, heap[i], heap[p]) <= 0) {
            return;
        }
        uint64_t t = heap[i];
        heap[i] = heap[p];
        heap[p] = t;
        i = p;
    }
}

static int exec_topk(const plan_t *plan, const rowset_t *in, exec_ctx_t *ctx, rowset_t *out,
                     ctx_err_t *err) {
    int64_t limit, offset;
    int rc = eval_count(plan->limit, ctx, "LIMIT", &limit, err);
    if (rc == CTX_OK) {
        rc = eval_count(plan->offset, ctx, "OFFSET", &offset, err);
    }
    if (rc != CTX_OK) {
        return rc;
    }
    uint64_t skip = offset < 0 ? 0 : (uint64_t)offset;
    uint64_t keep = limit < 0 ? in->nrows : (uint64_t)limit + skip;
    if (keep > in->nrows) {
        keep = in->nrows;
    }
    sort_env_t env = {in, plan->sort_keys, plan->nsort};
    uint64_t *heap = arena_try_alloc(ctx->eval.arena, sizeof(uint64_t) * (keep + 1));
    if (heap == NULL) {
        return exec_nomem(ctx, err);
    }
    uint64_t n = 0;
    for (uint64_t r = 0; r < in->nrows && keep > 0; r++) {
        if (n < keep) {
            heap[n] = r;
            heap_sift_up(heap, n++, &env);
        } else if (sort_compare(&env, r, heap[0]) < 0) {
            heap[0] = r;
            heap_sift_down(heap, n, 0, &env);
        }
    }
    qsort_r(heap, n, sizeof(uint64_t), sort_qsort_cmp, &env);
    uint64_t first = skip < n ? skip : n;
    return emit_order(in, heap + first, n - first, ctx, out, err);
}

/* ---------------------------------------------------------------- HNSW top-k */

static int exec_unary(plan_t *plan, const rowset_t *in, exec_ctx_t *ctx, rowset_t *out,
                      ctx_err_t *err);

/* Runs the nodes above `base` up to and including `top` over base_rows (filters, projection). */
static int exec_chain(plan_t *top, const plan_t *base, const rowset_t *base_rows, exec_ctx_t *ctx,
                      rowset_t *out, ctx_err_t *err) {
    if (top == base) {
        *out = *base_rows;
        return CTX_OK;
    }
    rowset_t in;
    int rc = exec_chain(top->child, base, base_rows, ctx, &in, err);
    return rc == CTX_OK ? exec_unary(top, &in, ctx, out, err) : rc;
}

static int exec_join(plan_t *plan, const rowset_t *l, exec_ctx_t *ctx, rowset_t *out,
                     ctx_err_t *err);

/* The allowed set of a filtered vector top-k: the rows of `below` (the filters over the vectors
 * scan, or a key-lookup join's left side) and the integer ids in their column id_col. */
static int vector_allowed_ids(plan_t *below, int id_col, exec_ctx_t *ctx, rowset_t *rows,
                              hnsw_filter_t *filter, ctx_err_t *err) {
    int rc = exec_plan(below, ctx, rows, err);
    if (rc != CTX_OK) {
        return rc;
    }
    CTX_ASSERT(id_col >= 0 && id_col < rows->ncols);
    int64_t *ids = arena_try_alloc(ctx->eval.arena, sizeof(int64_t) * (rows->nrows + 1));
    if (ids == NULL) {
        return exec_nomem(ctx, err);
    }
    uint64_t n = 0;
    for (uint64_t r = 0; r < rows->nrows; r++) {
        const value_t *v = &rows->rows[r * (uint64_t)rows->ncols + (uint64_t)id_col];
        if (v->kind == VAL_INT) {
            ids[n++] = v->u.i;
        }
    }
    *filter = (hnsw_filter_t){ids, n};
    return CTX_OK;
}

static int cmp_i64(const void *x, const void *y) {
    int64_t a = *(const int64_t *)x;
    int64_t b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

/* The left rows of a key-lookup join whose id is among the candidates, in their order. */
static void vector_keep_candidates(rowset_t *left, int id_col, int64_t *ids, uint64_t n) {
    ctx_qsort(ids, n, sizeof(int64_t), cmp_i64);
    uint64_t kept = 0;
    uint64_t w = (uint64_t)left->ncols;
    for (uint64_t r = 0; r < left->nrows; r++) {
        const value_t *v = &left->rows[r * w + (uint64_t)id_col];
        if (v->kind == VAL_INT && bsearch(&v->u.i, ids, n, sizeof(int64_t), cmp_i64) != NULL) {
            ctx_memmove(&left->rows[kept * w], &left->rows[r * w], sizeof(value_t) * w);
            kept++;
        }
    }
    left->nrows = kept;
}

/* The rows the projection reads: the join (base) over the left rows, or the vectors rows. */
static int vector_rows_out(plan_t *project, plan_t *base, const rowset_t *rows, exec_ctx_t *ctx,
                           rowset_t *in, ctx_err_t *err) {
    if (base->kind != PLAN_JOIN) {
        return exec_chain(project, base, rows, ctx, in, err);
    }
    rowset_t joined;
    int rc = exec_join(base, rows, ctx, &joined, err);
    base->actual_rows = rc == CTX_OK ? joined.nrows : 0; /* EXPLAIN ANALYZE */
    return rc == CTX_OK ? exec_chain(project, base, &joined, ctx, in, err) : rc;
}

/* Input of a TOPK with method EXEC_VECTOR_HNSW: instead of projecting every vectors row, the
 * projection (and any filters) runs over the candidates of vindex_candidates(): the index's
 * nearest ids for the query plus the session's uncommitted vectors, each re-read from the store,
 * so the TOPK above re-ranks them with exact distances. A filtered search has an allowed set:
 * the rows passing the filters over the vectors scan (WHERE, an id list), or the left side of a
 * key-lookup join with vectors (neighbors() JOIN vectors); when hnsw_filter_exact() says the set
 * is small, those rows are ranked exactly instead (path "exact scan of allowed ids"). A NULL
 * query, no LIMIT, or k beyond HNSW_EF_MAX fall back to the exact input. */
static int exec_vector_input(plan_t *plan, exec_ctx_t *ctx, rowset_t *in, ctx_err_t *err) {
    plan_t *project = plan->child;
    plan_t *base = project->child;
    while (base->kind == PLAN_FILTER) {
        base = base->child;
    }
    bool join = base->kind == PLAN_JOIN;
    const eval_env_t *env = ctx->eval.env;
    const expr_t *qexpr = vindex_query_side_at(project->exprs[plan->sort_keys[0].column],
                                               join ? base->child->ncols + 1 : 1);
    CTX_ASSERT(env != NULL && env->vindex != NULL && qexpr != NULL);
    value_t q;
    int64_t limit, offset;
    int rc = eval_expr(qexpr, NULL, &ctx->eval, &q, err);
    if (rc == CTX_OK) {
        rc = eval_count(plan->limit, ctx, "LIMIT", &limit, err);
    }
    if (rc == CTX_OK) {
        rc = eval_count(plan->offset, ctx, "OFFSET", &offset, err);
    }
    if (rc != CTX_OK || q.kind != VAL_VECTOR || limit < 0 ||
        limit + (offset < 0 ? 0 : offset) > HNSW_EF_MAX) {
        return rc != CTX_OK ? rc : exec_plan(project, ctx, in, err);
    }
    uint32_t k = (uint32_t)(limit + (offset < 0 ? 0 : offset));
    bool filtered = join || project->child != base || base->lookup != LOOKUP_NONE;
    hnsw_filter_t filter = {NULL, 0};
    rowset_t allowed = {NULL, 0, 0};
    if (filtered) {
        rc = vector_allowed_ids(join ? base->child : project->child,
                                join ? base->lookup_left_col : 0, ctx, &allowed, &filter, err);
    }
    uint32_t ef = plan->ef_search > k ? plan->ef_search : k;
    if (rc == CTX_OK && filtered && hnsw_filter_exact(vindex_hnsw(env->vindex), filter.count, ef)) {
        plan->vector_path = vindex_path_name(HNSW_PATH_EXACT);
        return join ? vector_rows_out(project, base, &allowed, ctx, in, err)
                    : exec_chain(project, project->child, &allowed, ctx, in, err);
    }
    const struct cmd_batch *pending =
        env->pending_writes != NULL ? env->pending_writes(env->session) : NULL;
    int64_t *ids = NULL;
    uint64_t n = 0;
    hnsw_search_stats_t st;
    if (rc == CTX_OK) {
        rc = vindex_candidates(env->vindex, q.u.vec.data, q.u.vec.dim, k, plan->ef_search,
                               filtered ? &filter : NULL, pending, ctx->eval.arena, &ids, &n, &st,
                               err);
    }
    if (rc != CTX_OK) {
        return rc;
    }
    plan->vector_path = vindex_path_name(st.path);
    if (join) {
        vector_keep_candidates(&allowed, base->lookup_left_col, ids, n);
        return vector_rows_out(project, base, &allowed, ctx, in, err);
    }
    rowset_t rows = {arena_try_alloc(ctx->eval.arena, sizeof(value_t) * 2 * (n + 1)), 0, 2};
    if (rows.rows == NULL) {
        return exec_nomem(ctx, err);
    }
    for (uint64_t i = 0; i < n; i++) {
        value_t *row = &rows.rows[2 * rows.nrows];
        rows.nrows += table_row_by_id(ctx->store, TABLE_VECTORS, ids[i], row);
    }
    return exec_chain(project, base, &rows, ctx, in, err);
}

/* ---------------------------------------------------------------- join */

static int join_emit(rs_builder_t *b, const value_t *left, int lcols, const value_t *right,
                     int rcols, ctx_err_t *err) {
    value_t *row = rs_push(b, err);
    if (row == NULL) {
        return err->code;
    }
    ctx_memcpy(row, left, sizeof(value_t) * (size_t)lcols);
    for (int c = 0; c < rcols; c++) {
        row[lcols + c] = right == NULL ? value_null() : right[c];
    }
    return CTX_OK;
}

/* Tests the join condition on a combined row built in scratch. */
static int join_match(const plan_t *plan, const value_t *left, int lcols, const value_t *right,
                      int rcols, value_t *scratch, exec_ctx_t *ctx, bool *match, ctx_err_t *err) {
    *match = true;
    if (plan->predicate == NULL) {
        return CTX_OK;
    }
    ctx_memcpy(scratch, left, sizeof(value_t) * (size_t)lcols);
    ctx_memcpy(scratch + lcols, right, sizeof(value_t) * (size_t)rcols);
    return eval_predicate(plan->predicate, scratch, &ctx->eval, match, err);
}

static int exec_join_nested(const plan_t *plan, const rowset_t *l, const rowset_t *r,
                            exec_ctx_t *ctx, rs_builder_t *b, ctx_err_t *err) {
    value_t *scratch = arena_alloc(ctx->eval.arena, sizeof(value_t) * (size_t)plan->ncols);
    for (uint64_t i = 0; i < l->nrows; i++) {
        bool matched = false;
        for (uint64_t j = 0; j < r->nrows; j++) {
            bool match;
            int rc = join_match(plan, rs_row(l, i), l->ncols, rs_row(r, j), r->ncols, scratch, ctx,
                                &match, err);
            if (rc == CTX_OK && match) {
                matched = true;
                rc = join_emit(b, rs_row(l, i), l->ncols, rs_row(r, j), r->ncols, err);
            }
            if (rc == CTX_OK) {
                rc = exec_check_cancel(ctx, j + 1, err);
            }
            if (rc != CTX_OK) {
                return rc;
            }
        }
        if (!matched && plan->left_join) {
            int rc = join_emit(b, rs_row(l, i), l->ncols, NULL, r->ncols, err);
            if (rc != CTX_OK) {
                return rc;
            }
        }
    }
    return CTX_OK;
}

/* LATERAL: the right side runs once per left row, with that row as its outer row (as a
 * correlated subquery's), and joins with it alone. */
static int exec_join_lateral(const plan_t *plan, const rowset_t *l, exec_ctx_t *ctx,
                             rs_builder_t *b, ctx_err_t *err) {
    for (uint64_t i = 0; i < l->nrows; i++) {
        exec_ctx_t sub = *ctx;
        sub.analyze = false;
        sub.eval.outer = &ctx->eval;
        sub.eval.outer_row = rs_row(l, i);
        sub.eval.agg_values = NULL;
        sub.eval.srf_rows = NULL;
        sub.eval.srf_index = 0;
        rowset_t r;
        int rc = exec_plan(plan->right, &sub, &r, err);
        rowset_t one = {(value_t *)rs_row(l, i), 1, l->ncols};
        if (rc == CTX_OK) {
            rc = exec_join_nested(plan, &one, &r, ctx, b, err);
        }
        if (rc == CTX_OK) {
            rc = exec_check_cancel(ctx, i + 1, err);
        }
        if (rc != CTX_OK) {
            return rc;
        }
    }
    return CTX_OK;
}

/* Key-lookup join: the right side is a base table probed by the id in a left column. */
static int exec_join_lookup(const plan_t *plan, const rowset_t *l, exec_ctx_t *ctx, rs_builder_t *b,
                            ctx_err_t *err) {
    int rcols = table_column_count(plan->lookup_table);
    value_t *scratch = arena_alloc(ctx->eval.arena, sizeof(value_t) * (size_t)plan->ncols);
    value_t right[4];
    for (uint64_t i = 0; i < l->nrows; i++) {
        const value_t *key = &rs_row(l, i)[plan->lookup_left_col];
        bool match = false;
        int rc = CTX_OK;
        if (key->kind == VAL_INT &&
            table_row_by_id(ctx->store, plan->lookup_table, key->u.i, right)) {
            rc = join_match(plan, rs_row(l, i), l->ncols, right, rcols, scratch, ctx, &match, err);
        }
        if (rc == CTX_OK && (match || plan->left_join)) {
            rc = join_emit(b, rs_row(l, i), l->ncols, match ? right : NULL, rcols, err);
        }
        if (rc != CTX_OK) {
            return rc;
        }
    }
    return CTX_OK;
}

static int exec_join(plan_t *plan, const rowset_t *l, exec_ctx_t *ctx, rowset_t *out,
                     ctx_err_t *err) {
    rs_builder_t b;
    rs_init(&b, out, plan->ncols, ctx);
    if (plan->lookup_left_col >= 0) {
        return exec_join_lookup(plan, l, ctx, &b, err);
    }
    if (plan->lateral) {
        return exec_join_lateral(plan, l, ctx, &b, err);
    }
    rowset_t r;
    int rc = exec_plan(plan->right, ctx, &r, err);
    if (rc != CTX_OK) {
        return rc;
    }
    CTX_ASSERT(l->ncols + r.ncols == plan->ncols);
    if (plan->hash_left_col >= 0) {
        return exec_join_hash(plan, l, &r, ctx, out, err);
    }
    return exec_join_nested(plan, l, &r, ctx, &b, err);
}

/* ---------------------------------------------------------------- dispatch */

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int exec_unary(plan_t *plan, const rowset_t *in, exec_ctx_t *ctx, rowset_t *out,
                      ctx_err_t *err) {
    switch (plan->kind) {
    case PLAN_FILTER:
        return exec_filter(plan, in, ctx, out, err);
    case PLAN_PROJECT:
        if (plan->has_srf) {
            return exec_project_srf(plan, in, ctx, out, err);
        }
        return exec_project(plan, in, ctx, out, err);
    case PLAN_APPEND:
        return exec_append(plan, in, ctx, out, err);
    case PLAN_WINDOW:
        return exec_window(plan, in, ctx, out, err);
    case PLAN_AGGREGATE:
        return exec_aggregate(plan, in, ctx, out, err);
    case PLAN_DISTINCT:
        return exec_distinct(plan, in, ctx, out, err);
    case PLAN_SORT:
        return exec_sort(plan, in, ctx, out, err);
    case PLAN_TOPK:
        return exec_topk(plan, in, ctx, out, err);
    case PLAN_LIMIT:
        return exec_limit(plan, in, ctx, out, err);
    case PLAN_JOIN:
        return exec_join(plan, in, ctx, out, err);
    case PLAN_TRIM:
        return exec_trim(plan, in, ctx, out, err);
    default:
        CTX_ASSERT(!"not a unary plan node");
        return CTX_EINTERNAL;
    }
}

static int exec_node(plan_t *plan, exec_ctx_t *ctx, rowset_t *out, ctx_err_t *err);

/* The outermost call installs the subquery callback and the statement's regex cache. */
int exec_plan(plan_t *plan, exec_ctx_t *ctx, rowset_t *out, ctx_err_t *err) {
    CTX_ASSERT(plan != NULL && ctx->eval.arena != NULL);
    if (ctx->eval.run_subquery != NULL && ctx->eval.regex_cache != NULL) {
        return exec_node(plan, ctx, out, err);
    }
    eval_ctx_t saved = ctx->eval;
    void *cache = NULL;
    if (ctx->eval.run_subquery == NULL) {
        ctx->eval.run_subquery = exec_subquery;
        ctx->eval.exec = ctx;
    }
    if (ctx->eval.regex_cache == NULL) {
        ctx->eval.regex_cache = &cache;
    }
    int rc = exec_node(plan, ctx, out, err);
    eval_regex_cache_free(&cache);
    ctx->eval = saved;
    return rc;
}

/* A leaf reading a snapshot's store (AS OF SNAPSHOT) instead of the live one. */
static int exec_leaf_as_of(plan_t *plan, exec_ctx_t *ctx, rowset_t *out, ctx_err_t *err) {
    const store_t *live = ctx->store;
    ctx->store = plan->source;
    int rc = plan->kind == PLAN_SCAN ? exec_scan(plan, ctx, out, err)
                                     : exec_table_function(plan, ctx, out, err);
    ctx->store = live;
    return rc;
}

static int exec_node(plan_t *plan, exec_ctx_t *ctx, rowset_t *out, ctx_err_t *err) {
    double started = ctx->analyze ? now_ms() : 0;
    int rc = ctx_stack_check(err);
    if (rc != CTX_OK) {
        return rc;
    }
    if (plan->kind == PLAN_VALUES) {
        rc = exec_values(plan, ctx, out, err);
    } else if ((plan->kind == PLAN_SCAN || plan->kind == PLAN_FUNCTION) && plan->source != NULL) {
        rc = exec_leaf_as_of(plan, ctx, out, err);
    } else if (plan->kind == PLAN_SCAN) {
        rc = exec_scan(plan, ctx, out, err);
    } else if (plan->kind == PLAN_FUNCTION) {
        rc = exec_table_function(plan, ctx, out, err);
    } else if (plan->kind == PLAN_TOPK && plan->method == EXEC_VECTOR_HNSW) {
        rowset_t in;
        rc = exec_vector_input(plan, ctx, &in, err);
        if (rc == CTX_OK) {
            rc = exec_unary(plan, &in, ctx, out, err);
        }
    } else if (plan->kind == PLAN_RESULT) {
        rc = exec_result(plan, ctx, out, err);
    } else if (plan->kind == PLAN_RECURSIVE) {
        rc = exec_recursive(plan, ctx, out, err);
    } else if (plan->kind == PLAN_WORKTABLE) {
        *out = *plan->cache; /* rows are immutable once produced: shared, not copied */
        out->ncols = plan->ncols;
    } else {
        rowset_t in;
        rc = exec_node(plan->child, ctx, &in, err);
        if (rc == CTX_OK) {
            rc = exec_unary(plan, &in, ctx, out, err);
        }
    }
    if (rc == CTX_OK && ctx->analyze) {
        plan->actual_rows = out->nrows;
        plan->actual_ms = now_ms() - started;
    }
    CTX_ASSERT(rc != CTX_OK || out->ncols == plan->ncols);
    return rc;
}
