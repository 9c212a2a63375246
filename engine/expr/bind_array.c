/*
 * bind_array.c — binding of the compound expression forms (evaluated in eval_array.c):
 * subqueries (delegated to the planner through bind_ctx_t.plan_subquery), ARRAY[…], op ANY/ALL,
 * subscripts, record fields, regular-expression operators, IS [NOT] DISTINCT FROM and bitwise
 * operators; and literal input for the reg* types, whose names only the catalog can resolve.
 *
 * Type rules follow PostgreSQL's for the families value.h defines: integer-valued types (int2,
 * int4, int8, oid, reg*) compare with each other, text-valued ones (text, name, "char") too; an
 * untyped literal takes the other operand's type (the element type next to ANY).
 */
#include "eval_int.h"

#include <string.h>

bool bind_types_comparable(ctype_t a, ctype_t b) {
    if (a == b || (ctype_is_numeric(a) && ctype_is_numeric(b))) {
        return true;
    }
    if (ctype_is_textual(a) && ctype_is_textual(b)) {
        return true;
    }
    return ctype_is_array(a) && ctype_is_array(b);
}

int bind_literal(const bind_ctx_t *ctx, ctype_t type, const char *text, uint32_t len, uint32_t dims,
                 value_t *out, ctx_err_t *err) {
    CTX_ASSERT(ctx != NULL && out != NULL);
    bool numeric = len > 0;
    for (uint32_t i = 0; i < len; i++) {
        numeric = numeric && text[i] >= '0' && text[i] <= '9';
    }
    if (!ctype_is_reg(type) || numeric) {
        return value_from_text(type, text, len, dims, ctx->arena, out, err);
    }
    if (ctx->env == NULL || ctx->env->reg_in == NULL) {
        return ctx_err_set(err, CTX_EUNDEF_OBJECT, "%s \"%.*s\" does not exist",
                           value_type_sql_name(type), (int)len, text);
    }
    uint32_t oid = 0;
    char *name = arena_strndup(ctx->arena, text, len);
    int rc = ctx->env->reg_in(ctx->env, type, name, &oid, err);
    *out = rc == 0 ? value_int(oid) : value_null();
    return rc;
}

static int bind_error(const expr_t *e, const bind_ctx_t *ctx, ctx_err_t *err, int code,
                      const char *msg, const char *what) {
    int rc = ctx_err_set(err, code, msg, what);
    eval_set_position(err, ctx->query_text, e->location);
    return rc;
}

static int bind_any(expr_t *e, const bind_ctx_t *ctx, ctx_err_t *err) {
    expr_t *l = e->left;
    expr_t *r = e->right;
    int rc = 0;
    if (r->type == CT_UNKNOWN) {
        rc = bind_coerce_unknown(r, ctype_array_of(l->type), ctx, err);
    }
    if (rc != 0) {
        return rc;
    }
    if (!ctype_is_array(r->type)) {
        return bind_error(e, ctx, err, CTX_ETYPE, "op ANY/ALL (array) requires array on right side",
                          NULL);
    }
    ctype_t elem = ctype_array_elem(r->type);
    if (l->type == CT_UNKNOWN) {
        rc = bind_coerce_unknown(l, elem, ctx, err);
    }
    if (rc == 0 && !bind_types_comparable(l->type, elem)) {
        rc = ctx_err_set(err, CTX_EUNDEF_FUNCTION, "operator does not exist: %s %s %s",
                         value_type_sql_name(l->type), expr_op_name(e->op),
                         value_type_sql_name(elem));
        eval_set_position(err, ctx->query_text, e->location);
    }
    e->type = CT_BOOL;
    return rc;
}

static int bind_array(expr_t *e, const bind_ctx_t *ctx, ctx_err_t *err) {
    ctype_t t = CT_TEXT;
    int rc = e->nargs > 0 ? bind_unify(e->args, e->nargs, "ARRAY", ctx, &t, err) : 0;
    e->type = ctype_array_of(t);
    if (rc == 0 && e->type == CT_UNKNOWN) {
        rc = bind_error(e, ctx, err, CTX_EFEATURE, "arrays of type %s are not supported",
                        value_type_sql_name(t));
    }
    return rc;
}

static int bind_subscript(expr_t *e, const bind_ctx_t *ctx, ctx_err_t *err) {
    int rc = e->right->type == CT_UNKNOWN ? bind_coerce_unknown(e->right, CT_INT4, ctx, err) : 0;
    if (rc == 0 && e->left->type == CT_UNKNOWN) {
        rc = bind_coerce_unknown(e->left, CT_TEXT_ARRAY, ctx, err);
    }
    if (rc != 0) {
        return rc;
    }
    if (e->left->type == CT_NAME && ctype_is_integer(e->right->type)) {
        e->type = CT_CHAR; /* name is a fixed array of bytes: name[0] is its first "char" */
        return 0;
    }
    if (!ctype_is_array(e->left->type) || !ctype_is_integer(e->right->type)) {
        return bind_error(e, ctx, err, CTX_ETYPE,
                          "cannot subscript type %s because it does not "
                          "support subscripting",
                          value_type_sql_name(e->left->type));
    }
    e->type = ctype_array_elem(e->left->type);
    return 0;
}

int bind_expr_ext(expr_t *e, const bind_ctx_t *ctx, ctx_err_t *err) {
    CTX_ASSERT(e != NULL && ctx != NULL);
    switch (e->kind) {
    case EXPR_SUBQUERY:
        if (ctx->plan_subquery == NULL) {
            return bind_error(e, ctx, err, CTX_EFEATURE, "subqueries are not supported %s", "here");
        }
        return ctx->plan_subquery(ctx->planner, e, ctx, err);
    case EXPR_ARRAY:
        return bind_array(e, ctx, err);
    case EXPR_ANY:
        return bind_any(e, ctx, err);
    case EXPR_SUBSCRIPT:
        return bind_subscript(e, ctx, err);
    case EXPR_FIELD:
        if (e->left->type != CT_RECORD) {
            return bind_error(e, ctx, err, CTX_EUNDEF_COLUMN,
                              "column notation .%s applied to a type that is not composite",
                              e->name);
        }
        e->type = CT_INT4;
        return 0;
    default:
        break;
    }
    return bind_error(e, ctx, err, CTX_EFEATURE, "window function %s is not supported here",
                      e->name != NULL ? e->name : "?");
}

int bind_binary_ext(expr_t *e, const bind_ctx_t *ctx, ctx_err_t *err) {
    expr_t *l = e->left;
    expr_t *r = e->right;
    int rc = 0;
    if (e->op == OP_BIT_AND || e->op == OP_BIT_OR) {
        rc = l->type == CT_UNKNOWN ? bind_coerce_unknown(l, CT_INT4, ctx, err) : 0;
        if (rc == 0 && r->type == CT_UNKNOWN) {
            rc = bind_coerce_unknown(r, l->type, ctx, err);
        }
        if (rc == 0 && (!ctype_is_integer(l->type) || !ctype_is_integer(r->type))) {
            return bind_error(e, ctx, err, CTX_EUNDEF_FUNCTION, "operator does not exist: %s",
                              expr_op_name(e->op));
        }
        e->type = l->type == CT_INT8 || r->type == CT_INT8 ? CT_INT8 : CT_INT4;
        return rc;
    }
    ctype_t dflt = CT_TEXT;
    if (l->type == CT_UNKNOWN && r->type == CT_UNKNOWN) {
        rc = bind_coerce_unknown(l, dflt, ctx, err);
    }
    if (rc == 0 && l->type == CT_UNKNOWN) {
        rc = bind_coerce_unknown(l, e->op == OP_IS_DISTINCT ? r->type : CT_TEXT, ctx, err);
    }
    if (rc == 0 && r->type == CT_UNKNOWN) {
        rc = bind_coerce_unknown(r, e->op == OP_IS_DISTINCT ? l->type : CT_TEXT, ctx, err);
    }
    if (rc != 0) {
        return rc;
    }
    bool ok = e->op == OP_IS_DISTINCT ? bind_types_comparable(l->type, r->type)
                                      : ctype_is_textual(l->type) && ctype_is_textual(r->type);
    if (!ok) {
        rc = ctx_err_set(err, CTX_EUNDEF_FUNCTION, "operator does not exist: %s %s %s",
                         value_type_sql_name(l->type), expr_op_name(e->op),
                         value_type_sql_name(r->type));
        ctx_err_hint(err, "No operator matches the given name and argument types. You might need "
                          "to add explicit type casts.");
        eval_set_position(err, ctx->query_text, e->location);
        return rc;
    }
    e->type = CT_BOOL;
    return 0;
}
