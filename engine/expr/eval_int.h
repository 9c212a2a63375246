/*
 * eval_int.h — internals shared by the expression module's files (eval.c, eval_array.c, bind.c,
 * bind_array.c, func.c).
 * Not part of any public contract: only these files include it.
 */
#ifndef CTX_EVAL_INT_H
#define CTX_EVAL_INT_H

#include "buf.h"
#include "eval.h"
#include "json.h"
#include "store.h"

#include <stddef.h>
#include <string.h>

/* Longest text a function or operator builds (PostgreSQL's MaxAllocSize - 1): a result that
 * would be longer fails with eval_text_too_long() instead of growing without bound. */
enum { EVAL_TEXT_BYTES_MAX = 0x3fffffff };

/* 54000 "requested length too large". */
int eval_text_too_long(ctx_err_t *err);

/* ---- func.c: scalar function table ---- */

typedef int (*eval_func_fn)(const expr_t *e, const value_t *args, const eval_ctx_t *ctx,
                            value_t *out, ctx_err_t *err);

/* Binds a scalar function call whose arguments are already bound: checks the signature, coerces
 * unknown arguments, sets e->type. Errors 42883 with hint. */
int bind_func_scalar(expr_t *e, const bind_ctx_t *ctx, ctx_err_t *err);
/* 42883 "function name(arg types) does not exist" with PostgreSQL's hint and position. */
int bind_func_not_found(const expr_t *e, const bind_ctx_t *ctx, ctx_err_t *err);
/* Evaluates a bound scalar function call. */
int eval_func_scalar(const expr_t *e, const value_t *row, const eval_ctx_t *ctx, value_t *out,
                     ctx_err_t *err);

/* ---- bind.c helpers used by func.c ---- */

/* Coerces an expression of type CT_UNKNOWN (literal, NULL, parameter) to target. */
int bind_coerce_unknown(expr_t *e, ctype_t target, const bind_ctx_t *ctx, ctx_err_t *err);
/* Common type of exprs (CASE/COALESCE rules): numeric promotes, unknowns follow, all-unknown →
 * text; coerces the unknown ones. what names the construct for the 42804 message. */
int bind_unify(expr_t **exprs, int n, const char *what, const bind_ctx_t *ctx, ctype_t *out,
               ctx_err_t *err);
bool ctype_is_numeric(ctype_t t);
/* Sets err->position from a byte location. */
void eval_set_position(ctx_err_t *err, const char *query_text, int location);

/* ---- eval_array.c: subqueries, arrays, regex, SRFs ---- */

/* EXPR_SUBQUERY / ARRAY / ANY / SUBSCRIPT / FIELD / WINDOW. */
int eval_expr_ext(const expr_t *e, const value_t *row, const eval_ctx_t *ctx, value_t *out,
                  ctx_err_t *err);
/* Binary ops OP_REGEX, OP_REGEX_ICASE, OP_IS_DISTINCT, OP_BIT_AND, OP_BIT_OR (operands bound). */
int eval_binary_ext(const expr_t *e, const value_t *row, const eval_ctx_t *ctx, value_t *out,
                    ctx_err_t *err);
/* A set-returning function's element ctx->srf_index (args evaluated, non-NULL). */
int eval_srf(const expr_t *e, const value_t *args, const eval_ctx_t *ctx, value_t *out,
             ctx_err_t *err);
/* bind_array.c: binding of the forms above. */
int bind_expr_ext(expr_t *e, const bind_ctx_t *ctx, ctx_err_t *err);
int bind_binary_ext(expr_t *e, const bind_ctx_t *ctx, ctx_err_t *err);
/* Parses a literal of type (reg* names through the env's reg_in hook). */
int bind_literal(const bind_ctx_t *ctx, ctype_t type, const char *text, uint32_t len, uint32_t dims,
                 value_t *out, ctx_err_t *err);
bool bind_types_comparable(ctype_t a, ctype_t b);

/* ---- eval.c helpers used by func.c ---- */

/* Output-function text of a non-NULL value (bools as t/f), for || and concat(). */
int eval_text_of(const value_t *v, arena_t *arena, json_slice_t *out);
/* Whether comparison operator op (=, <>, <, <=, >, >=) holds for a three-way result c. */
bool eval_compare_holds(expr_op_t op, int c);
/* Compares two non-NULL values of comparable kinds (value_compare). */
int eval_compare_values(const value_t *a, const value_t *b);
/* vec_distance() with the dimension check ("different vector dimensions 3 and 2", 22000). */
int eval_vector_distance(metric_t metric, const value_t *a, const value_t *b, double *out,
                         ctx_err_t *err);
/* N of a "vector(N)" type name; 0 without a modifier. */
uint32_t eval_type_dims(const char *name);

#endif
