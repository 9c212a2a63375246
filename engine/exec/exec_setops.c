/*
 * exec_setops.c — executor operators beyond scan, filter, sort and join: constant / VALUES
 * rows, set operations (UNION ALL; INTERSECT and EXCEPT by hashing; WITH RECURSIVE's iteration
 * over a worktable), projections with set-returning functions, hash joins, and the subquery
 * callback eval.c calls for EXPR_SUBQUERY. Window functions are in exec_window.c.
 *
 * Subqueries run their plan with the calling eval context as the outer context, so correlated
 * column references (expr_t.outer_level) read the caller's current row. An uncorrelated
 * subquery's rows are computed once per statement and cached on its plan node.
 *
 * Hash join: the right rows are bucketed by value_hash of the key column in an open-addressing
 * table of row indices (power-of-two capacity, load ≤ 1/2); probing evaluates the full ON
 * predicate on key matches, so the join's meaning is exactly the nested loop's, including LEFT
 * joins and NULL keys (never equal). Output order is the nested loop's: left order, then right
 * order within a left row.
 */
#include "exec_int.h"

#include <stdlib.h>
#include <string.h>

static const value_t *row_at(const rowset_t *rs, uint64_t r) {
    return rs->rows + r * (uint64_t)rs->ncols;
}

int exec_values(const plan_t *plan, exec_ctx_t *ctx, rowset_t *out, ctx_err_t *err) {
    rs_builder_t b;
    rs_init(&b, out, plan->ncols, ctx);
    for (uint64_t r = 0; r < plan->nconst_rows; r++) {
        value_t *row = rs_push(&b, err);
        if (row == NULL) {
            return err->code;
        }
        ctx_memcpy(row, plan->const_rows + r * (uint64_t)plan->ncols,
                   sizeof(value_t) * (size_t)plan->ncols);
    }
    for (int r = 0; r < plan->nvalue_rows; r++) {
        value_t *row = rs_push(&b, err);
        if (row == NULL) {
            return err->code;
        }
        for (int c = 0; c < plan->ncols; c++) {
            int rc = eval_expr(plan->value_rows[r][c], NULL, &ctx->eval, &row[c], err);
            if (rc != CTX_OK) {
                return rc;
            }
        }
    }
    return CTX_OK;
}

/* ---------------------------------------------------------------- hashing rows */

typedef struct hash_index {
    uint64_t *slots; /* row index + 1; 0 = empty */
    uint64_t mask;
} hash_index_t;

static uint64_t rows_hash(const value_t *row, int ncols) {
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    for (int c = 0; c < ncols; c++) {
        h ^= value_hash(&row[c]) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    }
    return h;
}

static bool rows_equal(const value_t *a, const value_t *b, int ncols) {
    for (int c = 0; c < ncols; c++) {
        bool na = value_is_null(&a[c]), nb = value_is_null(&b[c]);
        if (na != nb || (!na && value_compare(&a[c], &b[c]) != 0)) {
            return false;
        }
    }
    return true;
}

/* Index over rows[first..] of rs by the values at column col (ncols columns from col); false
 * when the statement's memory limit is reached. */
static bool hash_build(hash_index_t *h, const rowset_t *rs, int col, int ncols, arena_t *arena) {
    uint64_t cap = 16;
    while (cap < rs->nrows * 2 + 2) {
        cap *= 2;
    }
    h->slots = arena_try_calloc(arena, cap, sizeof(uint64_t));
    if (h->slots == NULL) {
        return false;
    }
    h->mask = cap - 1;
    for (uint64_t r = 0; r < rs->nrows; r++) {
        const value_t *key = row_at(rs, r) + col;
        if (ncols == 1 && value_is_null(key)) {
            continue;
        }
        uint64_t s = rows_hash(key, ncols) & h->mask;
        while (h->slots[s] != 0) {
            s = (s + 1) & h->mask;
        }
        h->slots[s] = r + 1;
    }
    return true;
}

/* True when some row of rs (indexed in h) has the same values as key. */
static bool hash_contains(const hash_index_t *h, const rowset_t *rs, const value_t *key,
                          int ncols) {
    for (uint64_t s = rows_hash(key, ncols) & h->mask; h->slots[s] != 0; s = (s + 1) & h->mask) {
        if (rows_equal(row_at(rs, h->slots[s] - 1), key, ncols)) {
            return true;
        }
    }
    return false;
}

int exec_append(plan_t *plan, const rowset_t *in, exec_ctx_t *ctx, rowset_t *out, ctx_err_t *err) {
    rowset_t r;
    int rc = exec_plan(plan->right, ctx, &r, err);
    if (rc != CTX_OK) {
        return rc;
    }
    CTX_ASSERT(r.ncols == in->ncols);
    rs_builder_t b;
    rs_init(&b, out, plan->ncols, ctx);
    hash_index_t h = {0};
    if (plan->set_op != 0 && !hash_build(&h, &r, 0, r.ncols, ctx->eval.arena)) {
        return exec_nomem(ctx, err);
    }
    if (plan->set_op != 0) {
    }
    for (uint64_t i = 0; i < in->nrows; i++) {
        bool keep = plan->set_op == 0 ||
                    hash_contains(&h, &r, row_at(in, i), in->ncols) == (plan->set_op == 2);
        value_t *row = keep ? rs_push(&b, err) : NULL;
        if (keep && row == NULL) {
            return err->code;
        }
        if (keep) {
            ctx_memcpy(row, row_at(in, i), sizeof(value_t) * (size_t)in->ncols);
        }
    }
    for (uint64_t i = 0; plan->set_op == 0 && i < r.nrows; i++) {
        value_t *row = rs_push(&b, err);
        if (row == NULL) {
            return err->code;
        }
        ctx_memcpy(row, row_at(&r, i), sizeof(value_t) * (size_t)r.ncols);
    }
    return CTX_OK;
}

/* ---------------------------------------------------------------- SRF projection */

int exec_project_srf(const plan_t *plan, const rowset_t *in, exec_ctx_t *ctx, rowset_t *out,
                     ctx_err_t *err) {
    rs_builder_t b;
    rs_init(&b, out, plan->nexprs, ctx);
    value_t *tmp = arena_alloc(ctx->eval.arena, sizeof(value_t) * (size_t)(plan->nexprs + 1));
    eval_ctx_t saved = ctx->eval;
    int rc = CTX_OK;
    for (uint64_t r = 0; r < in->nrows && rc == CTX_OK; r++) {
        int64_t rows = 0;
        ctx->eval.srf_rows = &rows;
        for (int64_t k = 0; rc == CTX_OK && (k == 0 || k < rows); k++) {
            ctx->eval.srf_index = k;
            for (int c = 0; rc == CTX_OK && c < plan->nexprs; c++) {
                rc = eval_expr(plan->exprs[c], row_at(in, r), &ctx->eval, &tmp[c], err);
            }
            if (rc == CTX_OK && k < rows) {
                value_t *row = rs_push(&b, err);
                rc = row == NULL ? err->code : CTX_OK;
                if (row != NULL) {
                    ctx_memcpy(row, tmp, sizeof(value_t) * (size_t)plan->nexprs);
                }
            }
        }
    }
    ctx->eval = saved;
    return rc;
}

/* ---------------------------------------------------------------- hash join */

static int cmp_u64(const void *x, const void *y) {
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

int exec_join_hash(const plan_t *plan, const rowset_t *l, const rowset_t *r, exec_ctx_t *ctx,
                   rowset_t *out, ctx_err_t *err) {
    int rcol = plan->hash_right_col - l->ncols;
    CTX_ASSERT(rcol >= 0 && rcol < r->ncols);
    hash_index_t h;
    rs_builder_t b;
    rs_init(&b, out, plan->ncols, ctx);
    value_t *scratch = arena_alloc(ctx->eval.arena, sizeof(value_t) * (size_t)plan->ncols);
    uint64_t *hits = arena_try_alloc(ctx->eval.arena, sizeof(uint64_t) * (r->nrows + 1));
    if (hits == NULL || !hash_build(&h, r, rcol, 1, ctx->eval.arena)) {
        return exec_nomem(ctx, err);
    }
    for (uint64_t i = 0; i < l->nrows; i++) {
        const value_t *left = row_at(l, i);
        const value_t *key = &left[plan->hash_left_col];
        uint64_t nhits = 0;
        for (uint64_t s = rows_hash(key, 1) & h.mask; !value_is_null(key) && h.slots[s] != 0;
             s = (s + 1) & h.mask) {
            const value_t *rk = row_at(r, h.slots[s] - 1) + rcol;
            if (value_compare(rk, key) == 0) {
                hits[nhits++] = h.slots[s] - 1;
            }
        }
        ctx_qsort(hits, nhits, sizeof(uint64_t), cmp_u64); /* right rows in input order */
        bool matched = false;
        for (uint64_t j = 0; j < nhits; j++) {
            ctx_memcpy(scratch, left, sizeof(value_t) * (size_t)l->ncols);
            ctx_memcpy(scratch + l->ncols, row_at(r, hits[j]), sizeof(value_t) * (size_t)r->ncols);
            bool match = true;
            int rc = plan->predicate == NULL
                         ? CTX_OK
                         : eval_predicate(plan->predicate, scratch, &ctx->eval, &match, err);
            if (rc != CTX_OK) {
                return rc;
            }
            value_t *row = match ? rs_push(&b, err) : NULL;
            if (match && row == NULL) {
                return err->code;
            }
            if (match) {
                ctx_memcpy(row, scratch, sizeof(value_t) * (size_t)plan->ncols);
                matched = true;
            }
        }
        if (!matched && plan->left_join) {
            value_t *row = rs_push(&b, err);
            if (row == NULL) {
                return err->code;
            }
            ctx_memcpy(row, left, sizeof(value_t) * (size_t)l->ncols);
            for (int c = 0; c < r->ncols; c++) {
                row[l->ncols + c] = value_null();
            }
        }
    }
    return CTX_OK;
}

/* ---------------------------------------------------------------- subqueries */

static int subquery_result(const expr_t *e, const rowset_t *rs, const eval_ctx_t *ctx, value_t *out,
                           ctx_err_t *err) {
    switch (e->sublink) {
    case SUBLINK_EXISTS:
        *out = value_bool(rs->nrows > 0);
        return CTX_OK;
    case SUBLINK_SCALAR:
        if (rs->nrows > 1) {
            return ctx_err_set(err, CTX_ECARDINALITY,
                               "more than one row returned by a subquery used as an expression");
        }
        *out = rs->nrows == 0 ? value_null() : rs->rows[0];
        return CTX_OK;
    case SUBLINK_ARRAY: {
        const char **elems = arena_try_alloc(ctx->arena, sizeof(char *) * (rs->nrows + 1));
        if (elems == NULL) {
            return arena_limit_error(ctx->arena, EXEC_MEM_SETTING, err);
        }
        for (uint64_t r = 0; r < rs->nrows; r++) {
            uint32_t len;
            const value_t *v = row_at(rs, r);
            elems[r] = value_is_null(v) ? NULL : value_to_text(v, ctx->arena, &len);
        }
        *out = value_array_build(elems, (int)rs->nrows, ctx->arena);
        return arena_exhausted(ctx->arena) ? arena_limit_error(ctx->arena, EXEC_MEM_SETTING, err)
                                           : CTX_OK;
    }
    default:
        break;
    }
    return CTX_EINTERNAL;
}

static int subquery_any(const expr_t *e, const value_t *row, const rowset_t *rs,
                        const eval_ctx_t *ctx, value_t *out, ctx_err_t *err) {
    value_t l;
    int rc = eval_expr(e->left, row, ctx, &l, err);
    if (rc != CTX_OK || value_is_null(&l)) {
        *out = value_null();
        return rc;
    }
    bool saw_null = false;
    for (uint64_t r = 0; r < rs->nrows; r++) {
        const value_t *v = row_at(rs, r);
        if (value_is_null(v)) {
            saw_null = true;
            continue;
        }
        int c = value_compare(&l, v);
        bool hit = e->op == OP_EQ   ? c == 0
                   : e->op == OP_NE ? c != 0
                   : e->op == OP_LT ? c < 0
                   : e->op == OP_LE ? c <= 0
                   : e->op == OP_GT ? c > 0
                                    : c >= 0;
        if (hit) {
            *out = value_bool(true);
            return CTX_OK;
        }
    }
    *out = saw_null ? value_null() : value_bool(false);
    return CTX_OK;
}

int exec_subquery(const expr_t *e, const value_t *row, const eval_ctx_t *ctx, value_t *out,
                  ctx_err_t *err) {
    CTX_ASSERT(e->kind == EXPR_SUBQUERY && e->subplan != NULL);
    exec_ctx_t *parent = ctx->exec;
    CTX_ASSERT(parent != NULL);
    plan_t *plan = e->subplan;
    rowset_t local;
    const rowset_t *rs = plan->cache;
    if (rs == NULL || e->correlated) {
        exec_ctx_t sub = *parent;
        sub.analyze = false;
        sub.eval = *ctx;
        sub.eval.outer = ctx;
        sub.eval.outer_row = row;
        sub.eval.agg_values = NULL;
        sub.eval.srf_rows = NULL;
        sub.eval.srf_index = 0;
        int rc = exec_plan(plan, &sub, &local, err);
        if (rc != CTX_OK) {
            return rc;
        }
        rs = &local;
        if (!e->correlated) {
            plan->cache = arena_alloc(ctx->arena, sizeof(rowset_t));
            *plan->cache = local;
        }
    }
    if (e->sublink == SUBLINK_ANY) {
        return subquery_any(e, row, rs, ctx, out, err);
    }
    return subquery_result(e, rs, ctx, out, err);
}

/* ---------------------------------------------------------------- WITH RECURSIVE */

/* Adds the rows of `in` that are new (all of them under UNION ALL) to out and to next. */
static int recursive_add(const plan_t *plan, const rowset_t *in, row_table_t *seen,
                         rs_builder_t *all, rs_builder_t *next, ctx_err_t *err) {
    for (uint64_t r = 0; r < in->nrows; r++) {
        const value_t *row = row_at(in, r);
        bool inserted = true;
        uint32_t index;
        if (!plan->set_all && !row_table_upsert(seen, row, &index, &inserted)) {
            return exec_nomem(all->ctx, err);
        }
        if (!inserted) {
            continue;
        }
        if (all->out->nrows >= plan->recursive_rows_max) {
            ctx_err_set(err, CTX_ELIMIT, "recursive query \"%s\" produced more than %llu rows",
                        plan->label, (unsigned long long)plan->recursive_rows_max);
            ctx_err_hint(err, "A cycle in the data never ends under UNION ALL: use UNION, bound "
                              "the depth in the recursive term's WHERE, or raise "
                              "recursive_rows_max.");
            return err->code;
        }
        value_t *a = rs_push(all, err);
        value_t *n = a == NULL ? NULL : rs_push(next, err);
        if (n == NULL) {
            return err->code;
        }
        ctx_memcpy(a, row, sizeof(value_t) * (size_t)in->ncols);
        ctx_memcpy(n, row, sizeof(value_t) * (size_t)in->ncols);
    }
    return CTX_OK;
}

int exec_recursive(plan_t *plan, exec_ctx_t *ctx, rowset_t *out, ctx_err_t *err) {
    CTX_ASSERT(plan->kind == PLAN_RECURSIVE && plan->cache != NULL);
    row_table_t seen;
    if (!plan->set_all && !row_table_init(&seen, plan->ncols, ctx->eval.arena)) {
        return exec_nomem(ctx, err);
    }
    rs_builder_t all, next;
    rowset_t step, work;
    rs_init(&all, out, plan->ncols, ctx);
    rs_init(&next, &work, plan->ncols, ctx);
    int rc = exec_plan(plan->child, ctx, &step, err);
    if (rc == CTX_OK) {
        rc = recursive_add(plan, &step, &seen, &all, &next, err);
    }
    while (rc == CTX_OK && work.nrows > 0) {
        *plan->cache = work; /* what the PLAN_WORKTABLE in plan->right reads */
        rs_init(&next, &work, plan->ncols, ctx);
        rc = exec_plan(plan->right, ctx, &step, err);
        if (rc == CTX_OK) {
            rc = recursive_add(plan, &step, &seen, &all, &next, err);
        }
        if (rc == CTX_OK && arena_exhausted(ctx->eval.arena)) {
            rc = exec_nomem(ctx, err);
        }
        if (rc == CTX_OK && ctx->eval.env != NULL && ctx->eval.env->cancel != NULL &&
            atomic_load(ctx->eval.env->cancel)) {
            rc = ctx_err_set(err, CTX_ECANCELED, "canceling statement due to user request");
        }
    }
    *plan->cache = (rowset_t){0};
    return rc;
}
