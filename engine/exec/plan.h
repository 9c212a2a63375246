/*
 * plan.h — the plan tree (built by sql/plan.c, printed by sql/explain.c) and its executor.
 *
 * Execution is operator-at-a-time: each node produces a materialized row set in the statement
 * arena. That keeps operators short and obviously correct; the cost is memory proportional to
 * intermediate results. Two bounds apply: the statement arena's byte limit (the session's
 * statement_mem_limit, set by the caller with arena_set_limit; 53200 when reached) and, when the
 * caller sets rows_max, a row count per intermediate result (54000). Memory that grows with the
 * data (row sets, sort orders, hash tables) is taken with arena_try_alloc, so reaching the limit
 * fails the statement without allocating; every operator polls the arena's exhausted mark every
 * row and the statement's cancel flag every EXEC_CANCEL_POLL rows.
 *
 * Where vector search lives: PLAN_TOPK is "ORDER BY key LIMIT k" done with a bounded heap; when
 * its key is a pgvector distance over vectors.embedding the planner marks it `vector_search` and
 * the executor computes exact distances (method EXEC_VECTOR_EXACT). The HNSW index plugs in as
 * method EXEC_VECTOR_HNSW of the same node, chosen by the planner.
 */
#ifndef CTX_PLAN_H
#define CTX_PLAN_H

#include "eval.h"
#include "store.h"

#include <stdatomic.h>

enum { EXEC_CANCEL_POLL = 1024 };

/* recursive_rows_max when the setting is absent (the GUC's default, sql/guc.c). */
#define PLAN_RECURSIVE_ROWS_DEFAULT 1000000ULL

/* The setting a 53200 from the executor names in its DETAIL. */
#define EXEC_MEM_SETTING "statement_mem_limit"

typedef enum {
    PLAN_RESULT,    /* one empty row (SELECT without FROM) */
    PLAN_SCAN,      /* table scan, or key lookup when lookup is set */
    PLAN_FUNCTION,  /* graph / vector table function */
    PLAN_FILTER,    /* keeps rows where predicate is true */
    PLAN_PROJECT,   /* computes exprs over the child's rows */
    PLAN_AGGREGATE, /* groups by keys; outputs exprs evaluated per group (aggregates via slots) */
    PLAN_DISTINCT,  /* drops duplicate rows over the first `distinct_cols` columns */
    PLAN_SORT,      /* sorts by output columns */
    PLAN_TOPK,      /* sort + limit with a bounded heap */
    PLAN_LIMIT,     /* offset / limit */
    PLAN_JOIN,      /* nested loop or key-lookup join */
    PLAN_TRIM,      /* keeps the first ncols columns (drops hidden sort keys) */
    PLAN_VALUES,    /* constant rows (catalog tables) or VALUES expression rows */
    PLAN_APPEND,    /* child's rows then right's (UNION ALL); set_op for INTERSECT / EXCEPT */
    PLAN_WINDOW,    /* child's columns + one column per window function (row_number, rank) */
    PLAN_RECURSIVE, /* WITH RECURSIVE: child (seed) rows, then right re-run over the last rows
                       (the worktable, `cache`) until it adds none; set_all = UNION ALL */
    PLAN_WORKTABLE, /* inside right of a PLAN_RECURSIVE: the rows of the previous step (cache) */
} plan_kind_t;

typedef enum {
    LOOKUP_NONE,
    LOOKUP_ID,       /* nodes.id / vectors.id = keys (one or more, from = or IN) */
    LOOKUP_EDGE_SRC, /* edges.src = key: out-adjacency */
    LOOKUP_EDGE_DST, /* edges.dst = key: in-adjacency */
} lookup_kind_t;

typedef enum {
    TFUNC_NEIGHBORS,
    TFUNC_TRAVERSE,
    TFUNC_SHORTEST_PATH,
    TFUNC_SIMILAR,
    TFUNC_NEIGHBOR_STATS,
    TFUNC_HYBRID,
    TFUNC_K_SHORTEST_PATHS,
    TFUNC_ALL_SHORTEST_PATHS,
    TFUNC_PAGERANK,
    TFUNC_CONNECTED_COMPONENTS,
    TFUNC_STRONG_COMPONENTS,
    TFUNC_COMMUNITIES,
    TFUNC_DEGREE_CENTRALITY,
    TFUNC_BETWEENNESS,
    TFUNC_TRIANGLE_COUNT,
    TFUNC_JACCARD,
} tfunc_kind_t;

typedef enum { EXEC_VECTOR_EXACT = 0, EXEC_VECTOR_HNSW = 1 } vector_method_t;

typedef struct sort_key {
    int column; /* output column of the child */
    bool desc;
    bool nulls_first;
} sort_key_t;

/* A materialized row set: rows[r * ncols + c]. */
typedef struct rowset {
    value_t *rows;
    uint64_t nrows;
    int ncols;
} rowset_t;

typedef struct plan plan_t;
struct plan {
    plan_kind_t kind;
    int ncols;           /* output columns */
    bind_column_t *cols; /* output schema (names for RowDescription, types) */
    plan_t *child;       /* input (left input for JOIN) */
    plan_t *right;       /* JOIN right input */
    double est_rows;     /* planner's estimate, for EXPLAIN */
    double est_cost;

    /* PLAN_SCAN */
    table_id_t table;
    const store_t *source; /* PLAN_SCAN / PLAN_FUNCTION: read this store (AS OF SNAPSHOT) instead
                              of the live one; NULL = live */
    lookup_kind_t lookup;
    expr_t **keys; /* lookup key expressions (no column references) */
    int nkeys;

    /* PLAN_FUNCTION */
    tfunc_kind_t tfunc;
    expr_t **fargs; /* normalized positional arguments (see sql/plan.c) */
    int nfargs;

    /* PLAN_FILTER / JOIN condition / AGGREGATE having */
    expr_t *predicate;

    /* PLAN_PROJECT / PLAN_AGGREGATE outputs */
    expr_t **exprs;
    int nexprs;

    /* PLAN_AGGREGATE */
    expr_t **group_keys;
    int ngroup;
    expr_t **aggs; /* aggregate call nodes, aggs[i]->agg_index == i */
    int naggs;

    /* PLAN_DISTINCT: the first distinct_cols columns, or (DISTINCT ON) the columns listed in
     * distinct_on, keeping the first row of each key */
    int distinct_cols;
    int *distinct_on;

    /* PLAN_SORT / PLAN_TOPK */
    sort_key_t *sort_keys;
    int nsort;
    bool vector_search; /* TOPK whose key is a vector distance over vectors.embedding */
    vector_method_t method;
    metric_t metric;
    uint32_t ef_search;      /* EXEC_VECTOR_HNSW: candidate list (hnsw.ef_search at plan time) */
    const char *vector_path; /* after execution: the search path taken (EXPLAIN ANALYZE) */

    /* PLAN_LIMIT / PLAN_TOPK */
    expr_t *limit;  /* NULL = no limit */
    expr_t *offset; /* NULL = 0 */

    /* PLAN_JOIN */
    bool left_join;
    bool lateral;        /* right is re-run for each left row, which it reads as its outer row */
    int lookup_left_col; /* key-lookup join: left column holding the id, -1 for nested loop */
    table_id_t lookup_table;

    /* EXPLAIN ANALYZE */
    uint64_t actual_rows;
    double actual_ms;

    /* PLAN_VALUES, PLAN_APPEND, PLAN_WINDOW, hash joins, subqueries */
    const char *label;   /* EXPLAIN name of a PLAN_VALUES source (catalog table) */
    value_t *const_rows; /* PLAN_VALUES: nconst_rows × ncols constant values, or */
    uint64_t nconst_rows;
    expr_t ***value_rows; /* PLAN_VALUES: rows of expressions (no column references) */
    int nvalue_rows;
    int set_op; /* PLAN_APPEND: 0 UNION [ALL], 2 INTERSECT, 3 EXCEPT (sql/ast.h) */
    bool set_all;
    expr_t **windows; /* PLAN_WINDOW: EXPR_WINDOW nodes (bound), one output column each */
    int nwindows;
    bool has_srf;       /* PLAN_PROJECT: exprs contain set-returning functions */
    int hash_left_col;  /* PLAN_JOIN: hash join on left[hash_left_col] = right[hash_right_col] */
    int hash_right_col; /* (-1: not a hash join) */
    rowset_t *cache;    /* uncorrelated subquery plan: its rows once computed; PLAN_RECURSIVE and
                           its PLAN_WORKTABLE: the rows of the current step (shared pointer) */
    uint64_t recursive_rows_max; /* PLAN_RECURSIVE: most rows it may produce (54000 past it) */
};

typedef struct exec_ctx {
    const store_t *store;
    eval_ctx_t eval;   /* params, env (cancel flag inside), arena */
    uint64_t rows_max; /* limit on any intermediate result; 0 = none */
    bool analyze;      /* collect actual_rows / actual_ms per node */
} exec_ctx_t;

/* Executes plan; out's memory comes from ctx->eval.arena. Errors: evaluation errors, 57014 when
 * the cancel flag is set, 54000 when an intermediate result exceeds rows_max, 53200 when the
 * arena reaches its limit. After an error the arena holds garbage up to its limit; the caller
 * resets it. */
int exec_plan(plan_t *plan, exec_ctx_t *ctx, rowset_t *out, ctx_err_t *err);

/* Sets err to 53200 for ctx's arena (arena_limit_error naming EXEC_MEM_SETTING); returns it. */
int exec_nomem(exec_ctx_t *ctx, ctx_err_t *err);

/* Table functions (engine/exec/table_func.c): evaluates plan->fargs and produces rows. */
int exec_table_function(const plan_t *plan, exec_ctx_t *ctx, rowset_t *out, ctx_err_t *err);

#endif
