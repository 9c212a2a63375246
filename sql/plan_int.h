/*
 * plan_int.h — internals shared by the planner's files (plan.c: FROM and WHERE;
 * plan_select.c: select list, aggregation, ORDER BY, LIMIT; explain.c).
 */
#ifndef CTX_SQL_PLAN_INT_H
#define CTX_SQL_PLAN_INT_H

#include "planner.h"

typedef struct scope {
    bind_column_t *cols;
    int ncols;
} scope_t;

/* New plan node; inherits the child's columns and estimates. */
plan_t *plan_new(planner_t *p, plan_kind_t kind, plan_t *child);
/* Binds e against a scope. */
int bind_in(planner_t *p, expr_t *e, const scope_t *s, bool allow_agg, ctx_err_t *err);
/* Plans a FROM item (table, table function, join, subquery). */
int plan_from(planner_t *p, from_item_t *f, plan_t **out, ctx_err_t *err);
/* Binds WHERE over *input, adds key lookups to a bare scan, and wraps *input in a filter. */
int plan_where(planner_t *p, plan_t **input, expr_t *where, ctx_err_t *err);
/* True when e references no column and no aggregate (evaluable once per statement); false when
 * e is too deep for the stack to inspect. */
bool expr_is_constant(const expr_t *e);
/* Plans a set operation or VALUES node (plan_set.c); ORDER BY / LIMIT included. */
int plan_set_or_values(planner_t *p, select_stmt_t *s, plan_t **out, ctx_err_t *err);
/* A FROM reference to a WITH query: planned where it is used, with its column names; a
 * WITH RECURSIVE query whose UNION [ALL] reads itself becomes a PLAN_RECURSIVE (plan_set.c). */
int plan_cte_ref(planner_t *p, const plan_cte_t *c, const from_item_t *f, plan_t **out,
                 ctx_err_t *err);
/* The planner's subquery callback for bind_ctx_t.plan_subquery (plan_set.c). */
int plan_subquery_cb(void *planner, expr_t *e, const bind_ctx_t *ctx, ctx_err_t *err);
/* Adds a window step under the select list when it has window functions (plan_set.c). */
int plan_windows(planner_t *p, select_stmt_t *s, plan_t **input, ctx_err_t *err);
/* Moves WHERE conjuncts that join relations of an inner-join subtree into its ON (plan_set.c). */
void plan_push_where(planner_t *p, select_stmt_t *s);
/* True when e contains a set-returning function call, or is too deep for the stack to inspect. */
bool expr_has_srf(const expr_t *e);
/* ORDER BY / DISTINCT / LIMIT / trim over top (plan_select.c). */
int plan_tail_for(planner_t *p, select_stmt_t *s, plan_t *top, sort_key_t *keys, int visible,
                  plan_t **out, ctx_err_t *err);
/* Copy of cols with qualifier q. */
bind_column_t *requalify(planner_t *p, const bind_column_t *cols, int n, const char *q);

#endif
