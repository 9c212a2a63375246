/*
 * planner.h — the planner's contract inside the SQL layer: SELECT statements to plan trees
 * (engine/exec/plan.h), binding expressions against a scope, and EXPLAIN text.
 */
#ifndef CTX_SQL_PLANNER_H
#define CTX_SQL_PLANNER_H

#include "ast.h"
#include "engine.h"

typedef struct planner {
    const store_t *store;
    const eval_env_t *env;
    arena_t *arena; /* the statement arena: plans and bound trees live here */
    const char *query_text;
    ctype_t *param_types; /* $n types, inferred in place; may be NULL */
    int nparams;
    /* Enclosing queries' scopes (correlated subqueries), a counter of references
     * into them, and the WITH queries visible here (innermost first). */
    const bind_outer_t *outer;
    int *outer_refs;
    const struct plan_cte *ctes;
    const struct sql_snapshot_hooks *snapshots; /* AS OF SNAPSHOT, FROM snapshots; may be NULL */
    const struct sql_cluster_hooks *cluster;    /* FROM cluster_members; may be NULL */
} planner_t;

typedef struct plan_cte {
    const char *name;
    select_stmt_t *query;
    const char **columns; /* `name (a, b)`: output column names, or NULL */
    int ncolumns;
    bool recursive;    /* declared by WITH RECURSIVE */
    plan_t *worktable; /* inside its own recursive term: the PLAN_WORKTABLE to read, else NULL */
    const struct plan_cte *next;
} plan_cte_t;

/* Plans a SELECT. On success *out is a plan whose output columns are exactly the select list.
 * Errors: 42P01 unknown table, 42703/42702 columns, 42883 functions, 42803 grouping, 42P10
 * ORDER BY position, with positions. */
int plan_select(planner_t *p, select_stmt_t *select, plan_t **out, ctx_err_t *err);

/* Binds e against scope (aggregates allowed only when allow_aggregates). */
int plan_bind(planner_t *p, expr_t *e, const bind_scope_t *scope, bool allow_aggregates,
              ctx_err_t *err);

/* EXPLAIN output: one string per line (PostgreSQL's indented "->" format, with cost estimates
 * and, after execution with analyze, actual rows and times). Lines live in arena. */
int plan_explain(const plan_t *plan, bool analyze, arena_t *arena, const char ***lines, int *count);

/* Error helper: sets err->position from a byte location in the query text. */
void plan_error_at(const planner_t *p, ctx_err_t *err, int location);

#endif
