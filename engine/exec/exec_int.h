/*
 * exec_int.h — executor internals shared by the engine/exec sources (not a public contract).
 */
#ifndef CTX_EXEC_INT_H
#define CTX_EXEC_INT_H

#include "plan.h"

/* Growing row set in the statement arena; every push polls the cancel flag and checks
 * ctx->rows_max (54000). */
typedef struct rs_builder {
    rowset_t *out;
    uint64_t cap;
    exec_ctx_t *ctx;
} rs_builder_t;

void rs_init(rs_builder_t *b, rowset_t *out, int ncols, exec_ctx_t *ctx);
/* Storage for one more row (ncols values, uninitialized), or NULL with err set. */
value_t *rs_push(rs_builder_t *b, ctx_err_t *err);

/* Row r of a row set (ncols values). */
static inline const value_t *rs_row(const rowset_t *rs, uint64_t r) {
    return rs->rows + r * (uint64_t)rs->ncols;
}

/* Open-addressing table from row prefix (ncols values) to a dense index; for GROUP BY,
 * DISTINCT and WITH RECURSIVE's UNION. Capacity grows by doubling at 50% load. */
typedef struct row_table {
    const value_t **keys; /* per slot: the key row, or NULL */
    uint32_t *index;      /* per slot: dense index */
    uint64_t cap;
    uint64_t count;
    int ncols;
    arena_t *arena;
} row_table_t;

/* An empty table keyed on the first ncols values of a row; false at the memory limit. */
bool row_table_init(row_table_t *t, int ncols, arena_t *arena);
/* Finds key; inserts it with the next dense index when absent: *index, *inserted. Returns false
 * (nothing inserted) when growing the table reaches the statement's memory limit. key must stay
 * valid as long as the table. */
bool row_table_upsert(row_table_t *t, const value_t *key, uint32_t *index, bool *inserted);

/* The per-row poll: the statement's memory limit (every row) and the cancel flag (every
 * EXEC_CANCEL_POLL rows); counter counts the operator's rows from 1. */
int exec_check_cancel(exec_ctx_t *ctx, uint64_t counter, ctx_err_t *err);
/* Evaluates nexprs expressions over the input row into out. */
int exec_project_row(expr_t *const *exprs, int nexprs, const value_t *in, exec_ctx_t *ctx,
                     value_t *out, ctx_err_t *err);

/* PLAN_AGGREGATE (in = child's rows; exec_agg.c). */
int exec_aggregate(const plan_t *plan, const rowset_t *in, exec_ctx_t *ctx, rowset_t *out,
                   ctx_err_t *err);

/* PLAN_RECURSIVE (runs its child and right through exec_plan). */
int exec_recursive(plan_t *plan, exec_ctx_t *ctx, rowset_t *out, ctx_err_t *err);

/* PLAN_VALUES, PLAN_APPEND (in = child's rows), PLAN_WINDOW (in = child's rows). */
int exec_values(const plan_t *plan, exec_ctx_t *ctx, rowset_t *out, ctx_err_t *err);
int exec_append(plan_t *plan, const rowset_t *in, exec_ctx_t *ctx, rowset_t *out, ctx_err_t *err);
int exec_window(const plan_t *plan, const rowset_t *in, exec_ctx_t *ctx, rowset_t *out,
                ctx_err_t *err);
/* PLAN_PROJECT whose expressions contain set-returning functions. */
int exec_project_srf(const plan_t *plan, const rowset_t *in, exec_ctx_t *ctx, rowset_t *out,
                     ctx_err_t *err);
/* PLAN_JOIN with hash_left_col >= 0: builds a hash table over the right rows. */
int exec_join_hash(const plan_t *plan, const rowset_t *l, const rowset_t *r, exec_ctx_t *ctx,
                   rowset_t *out, ctx_err_t *err);
/* eval_ctx_t.run_subquery: runs e->subplan with row as the outer row. */
int exec_subquery(const expr_t *e, const value_t *row, const eval_ctx_t *ctx, value_t *out,
                  ctx_err_t *err);

#endif
