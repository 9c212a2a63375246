/*
 * eval.h — binding and evaluating expression trees (engine/expr/expr.h).
 *
 * Binding resolves column references against a scope (the columns of the executor's input row),
 * infers result types, coerces untyped literals to the type their context needs ('5' compared
 * with an int8 column becomes int8, '[1,2]' next to <=> becomes a vector, '{"a":1}' compared with
 * props becomes jsonb), checks functions and operator operand types, and reports PostgreSQL errors
 * with positions. Evaluation is a recursive walk over a bound tree (depth bounded by the parser's
 * nesting limit), with SQL three-valued logic; results live in the caller's arena.
 */
#ifndef CTX_EVAL_H
#define CTX_EVAL_H

#include "expr.h"
#include "schema.h"

#include <stdatomic.h>

/* One column visible to expressions: qualifier is the table alias (or table name). */
typedef struct bind_scope {
    const bind_column_t *cols;
    int ncols;
} bind_scope_t;

/* The scopes of enclosing queries, innermost first (correlated subqueries). */
typedef struct bind_outer {
    const bind_scope_t *scope;
    const struct bind_outer *next;
} bind_outer_t;

typedef struct eval_ctx eval_ctx_t;
typedef struct bind_ctx bind_ctx_t;

/* A scalar function supplied from outside the engine (sql/catalog.c: pg_get_userbyid, …): the
 * same shape as the built-in table in func.c. sig letters: T text, I integer, N numeric,
 * F float, J jsonb, V vector, B bool, A any, O oid (any integer type), C regclass (an integer
 * type, or a relation name), R any array. */
typedef struct eval_func_ext {
    const char *name;
    int nargs_min;
    int nargs_max; /* -1: variadic, the last letter repeats */
    const char *sig;
    ctype_t ret;
    bool strict;
    int (*fn)(const expr_t *e, const value_t *args, const eval_ctx_t *ctx, value_t *out,
              ctx_err_t *err);
} eval_func_ext_t;

/* Session information functions read (version(), current_user, current_setting('x')). */
typedef struct eval_env {
    const char *user;
    const char *database;       /* "contextdb" */
    const char *server_version; /* for version(): "PostgreSQL 15.0 (ContextDB 0.1.0) on …" */
    /* current_setting(name): returns the GUC's value or NULL if unknown (→ 42704). */
    const char *(*setting)(void *session, const char *name);
    void *session;
    uint32_t vector_dims;
    const atomic_bool *cancel; /* may be NULL */
    /* Vector index: the database's index of committed vectors (NULL: exact scans
     * only), and the session's uncommitted writes, whose vectors that index does not hold yet
     * (returns NULL when there are none; may itself be NULL). */
    const struct vindex *vindex;
    const struct cmd_batch *(*pending_writes)(void *session);
    /* Catalog hooks (may be NULL: then reg* casts accept numeric OIDs only and print numbers).
     * reg_in: object name → OID for a reg* type (42P01 / 42704 when unknown); reg_out: OID →
     * name text in arena (the number when unknown). */
    int (*reg_in)(const struct eval_env *env, ctype_t type, const char *name, uint32_t *oid,
                  ctx_err_t *err);
    const char *(*reg_out)(const struct eval_env *env, ctype_t type, uint32_t oid, arena_t *arena);
    const eval_func_ext_t *ext_funcs; /* extra scalar functions, consulted after built-ins */
    int next_funcs;
} eval_env_t;

struct bind_ctx {
    const bind_scope_t *scope;
    const eval_env_t *env;
    ctype_t *param_types; /* $n types (inferred when CT_UNKNOWN); may be NULL when nparams = 0 */
    int nparams;
    bool allow_aggregates; /* false in WHERE: aggregate → 42803 "aggregate functions are not
                              allowed in WHERE" */
    arena_t *arena;
    const char *query_text; /* for converting byte locations to character positions */
    /* Subqueries: enclosing scopes for correlated references, and the planner
     * callback that plans an EXPR_SUBQUERY (sets subplan, type, correlated). When plan_subquery
     * is NULL, subqueries are 0A000. outer_refs counts references resolved in outer scopes. */
    const bind_outer_t *outer;
    int (*plan_subquery)(void *planner, expr_t *e, const bind_ctx_t *ctx, ctx_err_t *err);
    void *planner;
    int *outer_refs;
};

/* Binds e in place (column_index, type, cast_type; coerces CT_UNKNOWN constants). Aggregate
 * calls are type-checked (count → int8, sum(int) → int8, sum(float) / avg → float8, min/max →
 * argument type) but their arguments are bound in the same scope. Errors: 42703 `column "x" does
 * not exist`, 42702 ambiguous, 42883 `function foo(integer) does not exist` /
 * `operator does not exist: text + integer`, 22P02 bad literal for the coerced type, 42804, all
 * with err->position set from the node's location. */
int bind_expr(expr_t *e, const bind_ctx_t *ctx, ctx_err_t *err);

/* Coerces a bound expression to a target type where PostgreSQL would assign-cast (INSERT values,
 * UPDATE SET): unknown literal → parsed as target; int → float8; anything → text is NOT implicit.
 * Errors: 42804 `column "label" is of type text but expression is of type integer`. */
int bind_coerce(expr_t *e, ctype_t target, const char *column_name, const bind_ctx_t *ctx,
                ctx_err_t *err);

struct eval_ctx {
    const value_t *params; /* $n values, already of param_types */
    int nparams;
    const value_t *agg_values; /* aggregate results by expr->agg_index (NULL outside aggregation) */
    const eval_env_t *env;
    arena_t *arena; /* memory for results */
    const char *query_text;
    /* Subqueries: the enclosing query's context and current row (outer_level 1),
     * and the executor callback that runs an EXPR_SUBQUERY's plan (NULL → 0A000). */
    const eval_ctx_t *outer;
    const value_t *outer_row;
    int (*run_subquery)(const expr_t *e, const value_t *row, const eval_ctx_t *ctx, value_t *out,
                        ctx_err_t *err);
    void *exec;
    /* Set-returning functions in a select list: which element to produce, and where to report
     * the longest set seen (NULL outside a projection with SRFs). */
    int64_t srf_index;
    int64_t *srf_rows;
    /* Compiled regular expressions of this statement, keyed by pattern (eval.c). */
    void **regex_cache;
};

/* Evaluates a bound expression over one input row (values indexed by column_index). Errors:
 * 22012 division by zero, 22003 integer out of range, 22000 vector dimension mismatch
 * ("different vector dimensions 3 and 2"), 22P02 bad JSON / cast input, … with positions. */
int eval_expr(const expr_t *e, const value_t *row, const eval_ctx_t *ctx, value_t *out,
              ctx_err_t *err);

/* Evaluates a predicate: NULL and false both → *result = false. */
int eval_predicate(const expr_t *e, const value_t *row, const eval_ctx_t *ctx, bool *result,
                   ctx_err_t *err);

/* Casts a value between types at run time (the same rules as EXPR_CAST). */
int eval_cast(const value_t *in, ctype_t from, ctype_t to, const eval_ctx_t *ctx, value_t *out,
              ctx_err_t *err);

/* A value as JSON, as to_json / to_jsonb: numbers and booleans as themselves, NULL as null,
 * jsonb unchanged, vectors as arrays of numbers, everything else as a string of its text form.
 * *out is canonical jsonb text in ctx->arena. */
int eval_to_json(const value_t *v, const eval_ctx_t *ctx, value_t *out, ctx_err_t *err);

/* Binder helpers for the planner (also in eval_int.h): numeric family test, coercion of an
 * untyped expression (literal, NULL, $n) to target, and CASE/UNION-style type unification. */
bool ctype_is_numeric(ctype_t t);
int bind_coerce_unknown(expr_t *e, ctype_t target, const bind_ctx_t *ctx, ctx_err_t *err);
int bind_unify(expr_t **exprs, int n, const char *what, const bind_ctx_t *ctx, ctype_t *out,
               ctx_err_t *err);

/* Frees the compiled regular expressions cached in *cache (eval_ctx_t.regex_cache); sets it NULL.
 * The statement's owner calls it when the statement ends. */
void eval_regex_cache_free(void **cache);

/* Converts a byte offset in query_text to PostgreSQL's 1-based character position. */
int eval_char_position(const char *query_text, int byte_offset);

#endif
