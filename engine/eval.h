/*
 * eval.h — binding and evaluating expression trees (engine/expr.h).
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

#include <stdatomic.h>

/* One column visible to expressions: qualifier is the table alias (or table name). */
typedef struct bind_column {
    const char *qualifier; /* may be NULL */
    const char *name;
    ctype_t type;
} bind_column_t;

typedef struct bind_scope {
    const bind_column_t *cols;
    int ncols;
} bind_scope_t;

/* Session information functions read (version(), current_user, current_setting('x')). */
typedef struct eval_env {
    const char *user;
    const char *database;        /* "contextdb" */
    const char *server_version;  /* for version(): "PostgreSQL 15.0 (ContextDB 0.1.0) on …" */
    /* current_setting(name): returns the GUC's value or NULL if unknown (→ 42704). */
    const char *(*setting)(void *session, const char *name);
    void *session;
    uint32_t vector_dims;
    const atomic_bool *cancel; /* may be NULL */
} eval_env_t;

typedef struct bind_ctx {
    const bind_scope_t *scope;
    const eval_env_t *env;
    ctype_t *param_types; /* $n types (inferred when CT_UNKNOWN); may be NULL when nparams = 0 */
    int nparams;
    bool allow_aggregates; /* false in WHERE: aggregate → 42803 "aggregate functions are not
                              allowed in WHERE" */
    arena_t *arena;
    const char *query_text; /* for converting byte locations to character positions */
} bind_ctx_t;

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

typedef struct eval_ctx {
    const value_t *params; /* $n values, already of param_types */
    int nparams;
    const value_t *agg_values; /* aggregate results by expr->agg_index (NULL outside aggregation) */
    const eval_env_t *env;
    arena_t *arena;        /* memory for results */
    const char *query_text;
} eval_ctx_t;

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

/* Converts a byte offset in query_text to PostgreSQL's 1-based character position. */
int eval_char_position(const char *query_text, int byte_offset);

#endif
