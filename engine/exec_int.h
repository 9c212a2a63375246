/*
 * exec_int.h — executor internals shared by exec.c and exec_ext.c (not a public contract).
 */
#ifndef CTX_EXEC_INT_H
#define CTX_EXEC_INT_H

#include "plan.h"

/* PLAN_VALUES, PLAN_APPEND (in = child's rows), PLAN_WINDOW (in = child's rows). */
int exec_values(const plan_t *plan, exec_ctx_t *ctx, rowset_t *out, ctx_err_t *err);
int exec_append(plan_t *plan, const rowset_t *in, exec_ctx_t *ctx, rowset_t *out,
                ctx_err_t *err);
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
