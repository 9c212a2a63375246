/*
 * eval.c — evaluation of bound expression trees over one input row.
 *
 * A recursive walk (depth bounded by the parser's nesting limit) that returns values in the
 * caller's arena. SQL three-valued logic: AND/OR short-circuit on a deciding operand (false for
 * AND, true for OR) even when the other side is NULL; every other operator is strict (NULL in,
 * NULL out). Integer arithmetic is checked against the result type's range (int4: "integer out of
 * range", int8: "bigint out of range"), floats follow IEEE but report overflow/underflow as
 * PostgreSQL's float8 operators do, and division by zero is 22012 for both.
 *
 * LIKE / ILIKE use the iterative two-pointer wildcard matcher: on a mismatch it backtracks only to
 * the most recent '%', so the cost is O(len(text) * len(pattern)) in the worst case and never
 * exponential. '_' matches one UTF-8 character; backslash escapes the next pattern character.
 * ILIKE folds ASCII letters only (byte-wise; multibyte characters compare exactly).
 *
 * eval_cast() holds the run-time cast rules; the binder calls it with a NULL value to validate a
 * cast at bind time (the type check happens before the NULL shortcut).
 */
#include "eval_int.h"
#include "stack.h"
#include "store.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static int set_pos(ctx_err_t *err, const eval_ctx_t *ctx, const expr_t *e, int rc) {
    eval_set_position(err, ctx->query_text, e->location);
    return rc;
}

int eval_compare_values(const value_t *a, const value_t *b) {
    return value_compare(a, b);
}

int eval_text_of(const value_t *v, arena_t *arena, json_slice_t *out) {
    CTX_ASSERT(v->kind != VAL_NULL);
    out->ptr = value_to_text(v, arena, &out->len);
    return 0;
}

/* ---- LIKE ------------------------------------------------------------------------------- */

static size_t utf8_char_len(unsigned char c) {
    if (c < 0xC0) {
        return 1;
    }
    return c < 0xE0 ? 2 : (c < 0xF0 ? 3 : 4);
}

static bool like_byte_eq(unsigned char a, unsigned char b, bool fold) {
    return fold ? tolower(a) == tolower(b) : a == b;
}

/* Two-pointer wildcard match; pattern is known not to end with the escape character (esc; 0 =
 * no escape character). */
static bool like_match(const char *s, size_t slen, const char *p, size_t plen, bool fold,
                       char esc) {
    size_t si = 0;
    size_t pi = 0;
    size_t star_p = SIZE_MAX;
    size_t star_s = 0;
    while (si < slen) {
        if (pi < plen && p[pi] == '%') {
            while (pi < plen && p[pi] == '%') {
                pi++;
            }
            star_p = pi;
            star_s = si;
            continue;
        }
        if (pi < plen && p[pi] == '_') {
            si += utf8_char_len((unsigned char)s[si]);
            pi++;
            continue;
        }
        if (pi < plen) {
            size_t adv = esc != 0 && p[pi] == esc && pi + 1 < plen ? 2 : 1;
            if (like_byte_eq((unsigned char)p[pi + adv - 1], (unsigned char)s[si], fold)) {
                si++;
                pi += adv;
                continue;
            }
        }
        if (star_p == SIZE_MAX) {
            return false;
        }
        star_s += utf8_char_len((unsigned char)s[star_s]);
        si = star_s;
        pi = star_p;
    }
    while (pi < plen && p[pi] == '%') {
        pi++;
    }
    return pi == plen;
}

static int eval_like(const expr_t *e, const value_t *l, const value_t *r, const eval_ctx_t *ctx,
                     value_t *out, ctx_err_t *err) {
    json_slice_t s;
    json_slice_t p;
    eval_text_of(l, ctx->arena, &s);
    eval_text_of(r, ctx->arena, &p);
    char esc = '\\';
    if (e->escape != NULL) {
        value_t ev;
        int rc = eval_expr(e->escape, NULL, ctx, &ev, err);
        if (rc != 0) {
            return rc;
        }
        esc = ev.kind == VAL_TEXT && ev.u.str.len > 0 ? ev.u.str.ptr[0] : 0;
    }
    for (uint32_t i = 0; esc != 0 && i < p.len; i++) {
        if (p.ptr[i] == esc) {
            if (i + 1 == p.len) {
                return ctx_err_set(err, CTX_EDATA,
                                   "LIKE pattern must not end with escape character");
            }
            i++;
        }
    }
    bool m = like_match(s.ptr, s.len, p.ptr, p.len, e->op == OP_ILIKE, esc);
    *out = value_bool(e->negated ? !m : m);
    return 0;
}

/* ---- arithmetic ------------------------------------------------------------------------- */

static int int_range_error(ctype_t t, ctx_err_t *err) {
    return ctx_err_set(err, CTX_ERANGE, "%s out of range", t == CT_INT4 ? "integer" : "bigint");
}

static int eval_int_arith(expr_op_t op, int64_t a, int64_t b, ctype_t t, value_t *out,
                          ctx_err_t *err) {
    int64_t r = 0;
    bool overflow = false;
    switch (op) {
    case OP_ADD:
        overflow = __builtin_add_overflow(a, b, &r);
        break;
    case OP_SUB:
        overflow = __builtin_sub_overflow(a, b, &r);
        break;
    case OP_MUL:
        overflow = __builtin_mul_overflow(a, b, &r);
        break;
    case OP_DIV:
    case OP_MOD:
        if (b == 0) {
            return ctx_err_set(err, CTX_EDIV_ZERO, "division by zero");
        }
        if (b == -1) {
            overflow = op == OP_DIV && a == (t == CT_INT4 ? INT32_MIN : INT64_MIN);
            r = op == OP_DIV ? (overflow ? 0 : -a) : 0;
        } else {
            r = op == OP_DIV ? a / b : a % b;
        }
        break;
    default:
        CTX_ASSERT(!"not an arithmetic operator");
    }
    if (overflow || (t == CT_INT4 && (r < INT32_MIN || r > INT32_MAX))) {
        return int_range_error(t, err);
    }
    *out = value_int(r);
    return 0;
}

static int eval_float_arith(expr_op_t op, double a, double b, value_t *out, ctx_err_t *err) {
    double r = 0;
    switch (op) {
    case OP_ADD:
        r = a + b;
        break;
    case OP_SUB:
        r = a - b;
        break;
    case OP_MUL:
        r = a * b;
        break;
    case OP_DIV:
        if (b == 0.0) {
            return ctx_err_set(err, CTX_EDIV_ZERO, "division by zero");
        }
        r = a / b;
        break;
    default:
        CTX_ASSERT(!"not a float operator");
    }
    if (isinf(r) && !isinf(a) && !isinf(b)) {
        return ctx_err_set(err, CTX_ERANGE, "value out of range: overflow");
    }
    if (r == 0.0 && (op == OP_MUL || op == OP_DIV) && a != 0.0 && !(op == OP_MUL && b == 0.0) &&
        !isinf(b)) {
        return ctx_err_set(err, CTX_ERANGE, "value out of range: underflow");
    }
    *out = value_float(r);
    return 0;
}

static double as_double(const value_t *v) {
    return v->kind == VAL_INT ? (double)v->u.i : v->u.f;
}

static int eval_arith(const expr_t *e, const value_t *l, const value_t *r, value_t *out,
                      ctx_err_t *err) {
    if (l->kind == VAL_INT && r->kind == VAL_INT && e->type != CT_FLOAT8) {
        return eval_int_arith(e->op, l->u.i, r->u.i, e->type == CT_INT4 ? CT_INT4 : CT_INT8, out,
                              err);
    }
    if ((l->kind != VAL_INT && l->kind != VAL_FLOAT) ||
        (r->kind != VAL_INT && r->kind != VAL_FLOAT) || e->op == OP_MOD) {
        return ctx_err_set(err, CTX_ETYPE, "operator %s applied to non-numeric values",
                           expr_op_name(e->op));
    }
    return eval_float_arith(e->op, as_double(l), as_double(r), out, err);
}

/* ---- JSON and vectors ------------------------------------------------------------------- */

static int eval_json_get(const expr_t *e, const value_t *l, const value_t *r, const eval_ctx_t *ctx,
                         value_t *out) {
    json_slice_t doc = {l->u.str.ptr, l->u.str.len};
    json_slice_t v;
    bool found = false;
    if (r->kind == VAL_INT) {
        found = jsonb_array_get(doc, r->u.i, &v);
    } else {
        found = jsonb_object_get(doc, r->u.str.ptr, r->u.str.len, &v);
    }
    *out = value_null();
    if (!found) {
        return 0;
    }
    if (e->op == OP_JSON_GET) {
        *out = value_json(v.ptr, v.len);
    } else if (json_as_text(v, ctx->arena, &v)) {
        *out = value_text(v.ptr, v.len);
    }
    return 0;
}

int eval_vector_distance(metric_t metric, const value_t *a, const value_t *b, double *out,
                         ctx_err_t *err) {
    CTX_ASSERT(a->kind == VAL_VECTOR && b->kind == VAL_VECTOR);
    if (a->u.vec.dim != b->u.vec.dim) {
        return ctx_err_set(err, CTX_EDATA, "different vector dimensions %u and %u", a->u.vec.dim,
                           b->u.vec.dim);
    }
    *out = vec_distance(metric, a->u.vec.data, b->u.vec.data, a->u.vec.dim);
    return 0;
}

static int eval_distance(const expr_t *e, const value_t *l, const value_t *r, value_t *out,
                         ctx_err_t *err) {
    metric_t m = e->op == OP_L2_DISTANCE       ? METRIC_L2
                 : e->op == OP_COSINE_DISTANCE ? METRIC_COSINE
                                               : METRIC_INNER;
    double d = 0;
    if (l->kind != VAL_VECTOR || r->kind != VAL_VECTOR) {
        return ctx_err_set(err, CTX_ETYPE, "operator %s requires vectors", expr_op_name(e->op));
    }
    int rc = eval_vector_distance(m, l, r, &d, err);
    *out = value_float(d);
    return rc;
}

static int eval_concat(const expr_t *e, const value_t *l, const value_t *r, const eval_ctx_t *ctx,
                       value_t *out, ctx_err_t *err) {
    json_slice_t a;
    json_slice_t b;
    if (ctype_is_array(e->type)) { /* {a,b} || {c} → {a,b,c} */
        const char **x, **y;
        int nx, ny;
        int rc = value_array_split(l->u.str.ptr, l->u.str.len, ctx->arena, &x, &nx, err);
        if (rc == 0) {
            rc = value_array_split(r->u.str.ptr, r->u.str.len, ctx->arena, &y, &ny, err);
        }
        if (rc != 0) {
            return rc;
        }
        const char **all = arena_alloc(ctx->arena, sizeof(char *) * (size_t)(nx + ny + 1));
        ctx_memcpy(all, x, sizeof(char *) * (size_t)nx);
        ctx_memcpy(all + nx, y, sizeof(char *) * (size_t)ny);
        *out = value_array_build(all, nx + ny, ctx->arena);
        return 0;
    }
    if (e->type == CT_JSONB && l->kind == VAL_JSON && r->kind == VAL_JSON) {
        return json_concat((json_slice_t){l->u.str.ptr, l->u.str.len},
                           (json_slice_t){r->u.str.ptr, r->u.str.len}, ctx->arena, out, err);
    }
    eval_text_of(l, ctx->arena, &a);
    eval_text_of(r, ctx->arena, &b);
    if (l->kind == VAL_BOOL) { /* anynonarray || text casts: true → "true" */
        a = l->u.b ? (json_slice_t){"true", 4} : (json_slice_t){"false", 5};
    }
    if (r->kind == VAL_BOOL) {
        b = r->u.b ? (json_slice_t){"true", 4} : (json_slice_t){"false", 5};
    }
    if ((size_t)a.len + b.len > EVAL_TEXT_BYTES_MAX) {
        return eval_text_too_long(err);
    }
    char *s = arena_alloc(ctx->arena, (size_t)a.len + b.len + 1);
    ctx_memcpy(s, a.ptr, a.len);
    ctx_memcpy(s + a.len, b.ptr, b.len);
    s[a.len + b.len] = '\0';
    *out = value_text(s, a.len + b.len);
    return 0;
}

int eval_text_too_long(ctx_err_t *err) {
    return ctx_err_set(err, CTX_ELIMIT, "requested length too large");
}

/* ---- operators -------------------------------------------------------------------------- */

static int eval_logic(const expr_t *e, const value_t *row, const eval_ctx_t *ctx, value_t *out,
                      ctx_err_t *err) {
    value_t l;
    value_t r;
    bool decide = e->op == OP_OR; /* the value that decides the result alone */
    int rc = eval_expr(e->left, row, ctx, &l, err);
    if (rc != 0) {
        return rc;
    }
    if (l.kind == VAL_BOOL && l.u.b == decide) {
        *out = value_bool(decide);
        return 0;
    }
    rc = eval_expr(e->right, row, ctx, &r, err);
    if (rc != 0) {
        return rc;
    }
    if (r.kind == VAL_BOOL && r.u.b == decide) {
        *out = value_bool(decide);
    } else if (l.kind == VAL_NULL || r.kind == VAL_NULL) {
        *out = value_null();
    } else {
        *out = value_bool(!decide);
    }
    return 0;
}

bool eval_compare_holds(expr_op_t op, int c) {
    switch (op) {
    case OP_EQ:
        return c == 0;
    case OP_NE:
        return c != 0;
    case OP_LT:
        return c < 0;
    case OP_LE:
        return c <= 0;
    case OP_GT:
        return c > 0;
    default:
        CTX_ASSERT(op == OP_GE);
        return c >= 0;
    }
}

static int eval_binary(const expr_t *e, const value_t *row, const eval_ctx_t *ctx, value_t *out,
                       ctx_err_t *err) {
    value_t l;
    value_t r;
    int rc;
    if (e->op == OP_AND || e->op == OP_OR) {
        return eval_logic(e, row, ctx, out, err);
    }
    if (e->op >= OP_REGEX) {
        return eval_binary_ext(e, row, ctx, out, err);
    }
    rc = eval_expr(e->left, row, ctx, &l, err);
    if (rc == 0) {
        rc = eval_expr(e->right, row, ctx, &r, err);
    }
    if (rc != 0) {
        return rc;
    }
    if (l.kind == VAL_NULL || r.kind == VAL_NULL) {
        *out = value_null();
        return 0;
    }
    switch (e->op) {
    case OP_EQ:
    case OP_NE:
    case OP_LT:
    case OP_LE:
    case OP_GT:
    case OP_GE:
        *out = value_bool(eval_compare_holds(e->op, eval_compare_values(&l, &r)));
        return 0;
    case OP_ADD:
    case OP_SUB:
    case OP_MUL:
    case OP_DIV:
    case OP_MOD:
        return eval_arith(e, &l, &r, out, err);
    case OP_CONCAT:
        return eval_concat(e, &l, &r, ctx, out, err);
    case OP_LIKE:
    case OP_ILIKE:
        return eval_like(e, &l, &r, ctx, out, err);
    case OP_JSON_GET:
    case OP_JSON_GET_TEXT:
        return eval_json_get(e, &l, &r, ctx, out);
    case OP_L2_DISTANCE:
    case OP_COSINE_DISTANCE:
    case OP_NEG_INNER:
        return eval_distance(e, &l, &r, out, err);
    default:
        return ctx_err_set(err, CTX_EINTERNAL, "unexpected binary operator %d", (int)e->op);
    }
}

static int eval_unary(const expr_t *e, const value_t *row, const eval_ctx_t *ctx, value_t *out,
                      ctx_err_t *err) {
    value_t v;
    int rc = eval_expr(e->left, row, ctx, &v, err);
    if (rc != 0 || v.kind == VAL_NULL) {
        *out = value_null();
        return rc;
    }
    switch (e->op) {
    case OP_NOT:
        *out = value_bool(!v.u.b);
        return 0;
    case OP_PLUS:
        *out = v;
        return 0;
    default:
        break;
    }
    CTX_ASSERT(e->op == OP_NEG);
    if (v.kind == VAL_FLOAT) {
        *out = value_float(-v.u.f);
        return 0;
    }
    if (v.u.i == INT64_MIN || (e->type == CT_INT4 && v.u.i == INT32_MIN)) {
        return int_range_error(e->type == CT_INT4 ? CT_INT4 : CT_INT8, err);
    }
    *out = value_int(-v.u.i);
    return 0;
}

static int eval_in_list(const expr_t *e, const value_t *row, const eval_ctx_t *ctx, value_t *out,
                        ctx_err_t *err) {
    value_t l;
    bool saw_null = false;
    int rc = eval_expr(e->left, row, ctx, &l, err);
    if (rc != 0 || l.kind == VAL_NULL) {
        *out = value_null();
        return rc;
    }
    for (int i = 0; i < e->nargs; i++) {
        value_t item;
        rc = eval_expr(e->args[i], row, ctx, &item, err);
        if (rc != 0) {
            return rc;
        }
        if (item.kind == VAL_NULL) {
            saw_null = true;
        } else if (eval_compare_values(&l, &item) == 0) {
            *out = value_bool(!e->negated);
            return 0;
        }
    }
    *out = saw_null ? value_null() : value_bool(e->negated);
    return 0;
}

static int eval_case(const expr_t *e, const value_t *row, const eval_ctx_t *ctx, value_t *out,
                     ctx_err_t *err) {
    value_t operand = value_null();
    int rc = 0;
    if (e->left != NULL) {
        rc = eval_expr(e->left, row, ctx, &operand, err);
    }
    for (int i = 0; rc == 0 && i + 1 < e->nargs; i += 2) {
        value_t w;
        bool hit = false;
        rc = eval_expr(e->args[i], row, ctx, &w, err);
        if (rc != 0) {
            break;
        }
        if (e->left != NULL) {
            hit = operand.kind != VAL_NULL && w.kind != VAL_NULL &&
                  eval_compare_values(&operand, &w) == 0;
        } else {
            hit = w.kind == VAL_BOOL && w.u.b;
        }
        if (hit) {
            return eval_expr(e->args[i + 1], row, ctx, out, err);
        }
    }
    if (rc != 0) {
        return rc;
    }
    if (e->right != NULL) {
        return eval_expr(e->right, row, ctx, out, err);
    }
    *out = value_null();
    return 0;
}

static int eval_cast_expr(const expr_t *e, const value_t *row, const eval_ctx_t *ctx, value_t *out,
                          ctx_err_t *err) {
    value_t v;
    int rc = eval_expr(e->left, row, ctx, &v, err);
    if (rc != 0) {
        return rc;
    }
    rc = eval_cast(&v, e->left->type, e->cast_type, ctx, out, err);
    if (rc == 0 && out->kind == VAL_VECTOR) {
        uint32_t dims = eval_type_dims(e->name);
        if (dims != 0 && dims != out->u.vec.dim) {
            rc =
                ctx_err_set(err, CTX_EDATA, "expected %u dimensions, not %u", dims, out->u.vec.dim);
        }
    }
    return rc != 0 ? set_pos(err, ctx, e, rc) : 0;
}

static int eval_func(const expr_t *e, const value_t *row, const eval_ctx_t *ctx, value_t *out,
                     ctx_err_t *err) {
    if (e->agg_index >= 0 || expr_is_aggregate_name(e->name)) {
        if (ctx->agg_values == NULL || e->agg_index < 0) {
            return ctx_err_set(err, CTX_EINTERNAL, "aggregate %s evaluated outside aggregation",
                               e->name);
        }
        *out = ctx->agg_values[e->agg_index];
        return 0;
    }
    return eval_func_scalar(e, row, ctx, out, err);
}

int eval_expr(const expr_t *e, const value_t *row, const eval_ctx_t *ctx, value_t *out,
              ctx_err_t *err) {
    CTX_ASSERT(e != NULL && ctx != NULL);
    CTX_ASSERT(out != NULL);
    int rc = ctx_stack_check(err);
    if (rc != CTX_OK) {
        *out = value_null();
        return rc;
    }
    switch (e->kind) {
    case EXPR_CONST:
        *out = e->value;
        return 0;
    case EXPR_PARAM:
        if (e->param_index < 1 || e->param_index > ctx->nparams) {
            return ctx_err_set(err, CTX_EBAD_PARAM, "there is no parameter $%d", e->param_index);
        }
        *out = ctx->params[e->param_index - 1];
        return 0;
    case EXPR_COLUMN: {
        const eval_ctx_t *level = ctx;
        for (int k = 0; k < e->outer_level; k++) {
            CTX_ASSERT(level->outer_row != NULL);
            row = level->outer_row;
            level = level->outer;
        }
        CTX_ASSERT(e->column_index >= 0 && row != NULL);
        *out = row[e->column_index];
        return 0;
    }
    case EXPR_UNARY:
        return eval_unary(e, row, ctx, out, err);
    case EXPR_BINARY:
        return eval_binary(e, row, ctx, out, err);
    case EXPR_IS_NULL: {
        value_t v;
        rc = eval_expr(e->left, row, ctx, &v, err);
        *out = value_bool((v.kind == VAL_NULL) != e->negated);
        return rc;
    }
    case EXPR_IN_LIST:
        return eval_in_list(e, row, ctx, out, err);
    case EXPR_FUNC:
        return eval_func(e, row, ctx, out, err);
    case EXPR_CAST:
        return eval_cast_expr(e, row, ctx, out, err);
    case EXPR_CASE:
        return eval_case(e, row, ctx, out, err);
    case EXPR_SUBQUERY:
    case EXPR_ARRAY:
    case EXPR_ANY:
    case EXPR_SUBSCRIPT:
    case EXPR_FIELD:
    case EXPR_WINDOW:
        return eval_expr_ext(e, row, ctx, out, err);
    case EXPR_STAR:
        break;
    }
    return ctx_err_set(err, CTX_EINTERNAL, "cannot evaluate expression kind %d", (int)e->kind);
}

int eval_predicate(const expr_t *e, const value_t *row, const eval_ctx_t *ctx, bool *result,
                   ctx_err_t *err) {
    value_t v;
    int rc = eval_expr(e, row, ctx, &v, err);
    CTX_ASSERT(result != NULL);
    *result = rc == 0 && v.kind == VAL_BOOL && v.u.b;
    return rc;
}

/* ---- casts ------------------------------------------------------------------------------ */

static bool cast_allowed(ctype_t from, ctype_t to) {
    if (from == to || from == CT_UNKNOWN || ctype_is_textual(from) || ctype_is_textual(to)) {
        return true;
    }
    if (ctype_is_integer(from) && ctype_is_integer(to)) {
        return true;
    }
    if (ctype_is_array(from) && ctype_is_array(to)) {
        return true;
    }
    if (ctype_is_numeric(from) && ctype_is_numeric(to)) {
        return true;
    }
    if ((from == CT_INT4 || from == CT_INT8) && to == CT_BOOL) {
        return true;
    }
    if (from == CT_BOOL && (to == CT_INT4 || to == CT_INT8)) {
        return true;
    }
    return from == CT_JSONB && (ctype_is_numeric(to) || to == CT_BOOL);
}

static int cast_to_int(double d, ctype_t to, value_t *out, ctx_err_t *err) {
    double r = round(d); /* half away from zero, as numeric → int */
    double lo = to == CT_INT4 ? -2147483648.0 : -9223372036854775808.0;
    double hi = to == CT_INT4 ? 2147483648.0 : 9223372036854775808.0;
    if (isnan(r) || r < lo || r >= hi) {
        return int_range_error(to, err);
    }
    *out = value_int((int64_t)r);
    return 0;
}

static int cast_from_json(const value_t *in, ctype_t to, const eval_ctx_t *ctx, value_t *out,
                          ctx_err_t *err) {
    json_slice_t doc = {in->u.str.ptr, in->u.str.len};
    const char *kind = jsonb_typeof(doc);
    if (to == CT_BOOL && strcmp(kind, "boolean") == 0) {
        *out = value_bool(doc.ptr[0] == 't');
        return 0;
    }
    if (to != CT_BOOL && strcmp(kind, "number") == 0) {
        double d = strtod(arena_strndup(ctx->arena, doc.ptr, doc.len), NULL);
        if (to == CT_FLOAT8) {
            *out = value_float(d);
            return 0;
        }
        return cast_to_int(d, to, out, err);
    }
    return ctx_err_set(err, CTX_EBAD_PARAM, "cannot cast jsonb %s to type %s", kind,
                       value_type_sql_name(to));
}

static int cast_numeric(const value_t *in, ctype_t to, value_t *out, ctx_err_t *err) {
    if (to == CT_FLOAT8) {
        *out = value_float(as_double(in));
        return 0;
    }
    if (in->kind == VAL_FLOAT) {
        return cast_to_int(in->u.f, to, out, err);
    }
    if (to == CT_INT4 && (in->u.i < INT32_MIN || in->u.i > INT32_MAX)) {
        return int_range_error(CT_INT4, err);
    }
    if (to == CT_INT2 && (in->u.i < INT16_MIN || in->u.i > INT16_MAX)) {
        return ctx_err_set(err, CTX_ERANGE, "smallint out of range");
    }
    *out = value_int(in->u.i);
    return 0;
}

int eval_cast(const value_t *in, ctype_t from, ctype_t to, const eval_ctx_t *ctx, value_t *out,
              ctx_err_t *err) {
    CTX_ASSERT(in != NULL && out != NULL);
    CTX_ASSERT(ctx != NULL);
    if (!cast_allowed(from, to)) {
        return ctx_err_set(err, CTX_ETYPE, "cannot cast type %s to %s", value_type_sql_name(from),
                           value_type_sql_name(to));
    }
    if (in->kind == VAL_NULL) {
        *out = value_null();
        return 0;
    }
    if (ctype_is_reg(from) && ctype_is_textual(to) && in->kind == VAL_INT && ctx->env != NULL &&
        ctx->env->reg_out != NULL) {
        const char *name = ctx->env->reg_out(ctx->env, from, (uint32_t)in->u.i, ctx->arena);
        *out = value_text(name, (uint32_t)strlen(name));
        return 0;
    }
    if (ctype_is_reg(to) && in->kind == VAL_TEXT) {
        bind_ctx_t b = {.env = ctx->env, .arena = ctx->arena, .query_text = ctx->query_text};
        return bind_literal(&b, to, in->u.str.ptr, in->u.str.len, 0, out, err);
    }
    if (ctype_is_textual(to)) {
        json_slice_t s;
        if (in->kind == VAL_BOOL) {
            *out = in->u.b ? value_text("true", 4) : value_text("false", 5);
            return 0;
        }
        eval_text_of(in, ctx->arena, &s);
        *out = value_text(s.ptr, s.len);
        return 0;
    }
    if (ctype_array_lower(from) == 0 && ctype_is_array(to) && in->kind == VAL_TEXT) {
        const char **elems; /* int2vector / oidvector → an array: through the "{…}" form */
        int n;
        int rc = value_array_split(in->u.str.ptr, in->u.str.len, ctx->arena, &elems, &n, err);
        value_t array = rc == 0 ? value_array_build(elems, n, ctx->arena) : value_null();
        return rc != 0 ? rc : eval_cast(&array, CT_INT_ARRAY, to, ctx, out, err);
    }
    switch (in->kind) {
    case VAL_TEXT:
        return value_from_text(to, in->u.str.ptr, in->u.str.len, 0, ctx->arena, out, err);
    case VAL_JSON:
        return to == CT_JSONB ? (*out = *in, 0) : cast_from_json(in, to, ctx, out, err);
    case VAL_BOOL:
        *out = to == CT_BOOL ? *in : value_int(in->u.b ? 1 : 0);
        return 0;
    case VAL_INT:
    case VAL_FLOAT:
        if (to == CT_BOOL) {
            *out = value_bool(in->kind == VAL_INT ? in->u.i != 0 : in->u.f != 0);
            return 0;
        }
        return cast_numeric(in, to, out, err);
    default:
        *out = *in;
        return 0;
    }
}

uint32_t eval_type_dims(const char *name) {
    const char *p = name != NULL ? strchr(name, '(') : NULL;
    uint32_t n = 0;
    for (p = p != NULL ? p + 1 : NULL; p != NULL && *p >= '0' && *p <= '9'; p++) {
        n = n * 10 + (uint32_t)(*p - '0');
        if (n > VECTOR_DIMS_MAX) {
            return VECTOR_DIMS_MAX + 1;
        }
    }
    return n;
}
