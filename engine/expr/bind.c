/*
 * bind.c — the binder: resolves column references, infers types, coerces untyped literals.
 *
 * bind_expr() walks the tree bottom-up. Leaves get their types (integer literals int4 or int8 by
 * range, string literals stay CT_UNKNOWN, $n takes param_types[n-1]); each operator then applies
 * PostgreSQL's resolution for the few operand types we have: an unknown operand takes the type of
 * the other side (and an untyped literal is parsed right there, so '5' = id costs nothing per row
 * and a bad literal is reported at bind time with its position), unknown-vs-unknown resolves to
 * text, numeric operands promote int4 → int8 → float8. A node whose operands are still unknown
 * after that (a $n with no context) keeps CT_UNKNOWN and is treated as text by the evaluator.
 *
 * Coercions that need a run-time conversion (assignment casts in bind_coerce) are made by turning
 * the node into an EXPR_CAST over a copy of itself, so pointers the caller holds stay valid.
 * Errors carry PostgreSQL's SQLSTATE, message and hint, with the node's position.
 */
#include "eval_int.h"
#include "stack.h"

#include <string.h>

static const char NO_OPERATOR_HINT[] =
    "No operator matches the given name and argument types. You might need to add explicit type "
    "casts.";

int eval_char_position(const char *query_text, int byte_offset) {
    int chars = 0;
    if (query_text == NULL || byte_offset < 0) {
        return 0;
    }
    for (int i = 0; i < byte_offset && query_text[i] != '\0'; i++) {
        chars += ((unsigned char)query_text[i] & 0xC0) != 0x80;
    }
    return chars + 1;
}

void eval_set_position(ctx_err_t *err, const char *query_text, int location) {
    if (err != NULL && location >= 0) {
        ctx_err_position(err, eval_char_position(query_text, location));
    }
}

bool ctype_is_numeric(ctype_t t) {
    return ctype_is_integer(t) || t == CT_FLOAT8;
}

static ctype_t numeric_promote(ctype_t a, ctype_t b) {
    if (a == CT_FLOAT8 || b == CT_FLOAT8) {
        return CT_FLOAT8;
    }
    return (a == CT_INT8 || b == CT_INT8) ? CT_INT8 : CT_INT4;
}

int bind_coerce_unknown(expr_t *e, ctype_t target, const bind_ctx_t *ctx, ctx_err_t *err) {
    CTX_ASSERT(e != NULL);
    CTX_ASSERT(e->type == CT_UNKNOWN);
    if (target == CT_UNKNOWN) {
        return 0;
    }
    if (e->kind == EXPR_CONST && e->value.kind == VAL_TEXT) {
        value_t v;
        int rc = bind_literal(ctx, target, e->value.u.str.ptr, e->value.u.str.len, 0, &v, err);
        if (rc != 0) {
            eval_set_position(err, ctx->query_text, e->location);
            return rc;
        }
        e->value = v;
    } else if (e->kind == EXPR_PARAM && ctx->param_types != NULL && e->param_index >= 1 &&
               e->param_index <= ctx->nparams) {
        ctx->param_types[e->param_index - 1] = target;
    }
    e->type = target;
    return 0;
}

/* Error for an operator whose operand types have no implementation. */
static int operator_error(const expr_t *e, ctype_t left, ctype_t right, const bind_ctx_t *ctx,
                          ctx_err_t *err) {
    const char *op = expr_op_name(e->op);
    int rc;
    if (e->kind == EXPR_UNARY) {
        rc = ctx_err_set(err, CTX_EUNDEF_FUNCTION, "operator does not exist: %s %s", op,
                         value_type_sql_name(left));
    } else {
        rc = ctx_err_set(err, CTX_EUNDEF_FUNCTION, "operator does not exist: %s %s %s",
                         value_type_sql_name(left), op, value_type_sql_name(right));
    }
    ctx_err_hint(err, "%s", NO_OPERATOR_HINT);
    eval_set_position(err, ctx->query_text, e->location);
    return rc;
}

/* Makes both sides the same type family for = < etc.: unknown takes the other side's type. */
static int bind_pair(expr_t *l, expr_t *r, ctype_t unknown_default, const bind_ctx_t *ctx,
                     ctx_err_t *err) {
    int rc = 0;
    if (l->type == CT_UNKNOWN && r->type == CT_UNKNOWN) {
        rc = bind_coerce_unknown(l, unknown_default, ctx, err);
        if (rc == 0) {
            rc = bind_coerce_unknown(r, unknown_default, ctx, err);
        }
    } else if (l->type == CT_UNKNOWN) {
        rc = bind_coerce_unknown(l, r->type, ctx, err);
    } else if (r->type == CT_UNKNOWN) {
        rc = bind_coerce_unknown(r, l->type, ctx, err);
    }
    return rc;
}

static bool types_comparable(ctype_t a, ctype_t b) {
    return bind_types_comparable(a, b);
}

static int bind_bool_operand(expr_t *e, expr_t *arg, const char *what, const bind_ctx_t *ctx,
                             ctx_err_t *err) {
    int rc = 0;
    if (arg->type == CT_UNKNOWN) {
        rc = bind_coerce_unknown(arg, CT_BOOL, ctx, err);
    }
    if (rc == 0 && arg->type != CT_BOOL) {
        rc = ctx_err_set(err, CTX_ETYPE, "argument of %s must be type boolean, not type %s", what,
                         value_type_sql_name(arg->type));
        eval_set_position(err, ctx->query_text, arg->location >= 0 ? arg->location : e->location);
    }
    return rc;
}

static int bind_arith(expr_t *e, const bind_ctx_t *ctx, ctx_err_t *err) {
    expr_t *l = e->left;
    expr_t *r = e->right;
    int rc = 0;
    if (l->type == CT_UNKNOWN && ctype_is_numeric(r->type)) {
        rc = bind_coerce_unknown(l, r->type, ctx, err);
    } else if (r->type == CT_UNKNOWN && ctype_is_numeric(l->type)) {
        rc = bind_coerce_unknown(r, l->type, ctx, err);
    }
    if (rc != 0) {
        return rc;
    }
    if (!ctype_is_numeric(l->type) || !ctype_is_numeric(r->type) ||
        (e->op == OP_MOD && (l->type == CT_FLOAT8 || r->type == CT_FLOAT8))) {
        return operator_error(e, l->type, r->type, ctx, err);
    }
    e->type = numeric_promote(l->type, r->type);
    return 0;
}

static int bind_concat(expr_t *e, const bind_ctx_t *ctx, ctx_err_t *err) {
    expr_t *l = e->left;
    expr_t *r = e->right;
    int rc = 0;
    if (ctype_is_array(l->type) || ctype_is_array(r->type)) { /* array || array */
        ctype_t t = ctype_is_array(l->type) ? l->type : r->type;
        rc = l->type == CT_UNKNOWN ? bind_coerce_unknown(l, t, ctx, err) : 0;
        if (rc == 0 && r->type == CT_UNKNOWN) {
            rc = bind_coerce_unknown(r, t, ctx, err);
        }
        if (rc == 0 && (!ctype_is_array(l->type) || !ctype_is_array(r->type))) {
            return operator_error(e, l->type, r->type, ctx, err);
        }
        e->type = t;
        return rc;
    }
    if ((l->type == CT_JSONB || r->type == CT_JSONB) &&
        (l->type != CT_TEXT && r->type != CT_TEXT)) {
        rc = bind_pair(l, r, CT_JSONB, ctx, err);
        if (rc == 0 && (l->type != CT_JSONB || r->type != CT_JSONB)) {
            return operator_error(e, l->type, r->type, ctx, err);
        }
        e->type = CT_JSONB;
        return rc;
    }
    if (l->type == CT_UNKNOWN) {
        rc = bind_coerce_unknown(l, CT_TEXT, ctx, err);
    }
    if (rc == 0 && r->type == CT_UNKNOWN) {
        rc = bind_coerce_unknown(r, CT_TEXT, ctx, err);
    }
    if (rc == 0 && l->type != CT_TEXT && r->type != CT_TEXT) {
        return operator_error(e, l->type, r->type, ctx, err);
    }
    e->type = CT_TEXT;
    return rc;
}

static int bind_json_get(expr_t *e, const bind_ctx_t *ctx, ctx_err_t *err) {
    expr_t *l = e->left;
    expr_t *r = e->right;
    int rc = 0;
    if (l->type == CT_UNKNOWN) {
        rc = bind_coerce_unknown(l, CT_JSONB, ctx, err);
    }
    if (rc == 0 && r->type == CT_UNKNOWN) {
        rc = bind_coerce_unknown(r, CT_TEXT, ctx, err);
    }
    if (rc != 0) {
        return rc;
    }
    if (l->type != CT_JSONB || (r->type != CT_TEXT && r->type != CT_INT4 && r->type != CT_INT8)) {
        return operator_error(e, l->type, r->type, ctx, err);
    }
    e->type = e->op == OP_JSON_GET ? CT_JSONB : CT_TEXT;
    return 0;
}

static int bind_binary_typed(expr_t *e, const bind_ctx_t *ctx, ctx_err_t *err) {
    expr_t *l = e->left;
    expr_t *r = e->right;
    int rc = 0;
    switch (e->op) {
    case OP_AND:
    case OP_OR:
        rc = bind_bool_operand(e, l, e->op == OP_AND ? "AND" : "OR", ctx, err);
        if (rc == 0) {
            rc = bind_bool_operand(e, r, e->op == OP_AND ? "AND" : "OR", ctx, err);
        }
        e->type = CT_BOOL;
        return rc;
    case OP_EQ:
    case OP_NE:
    case OP_LT:
    case OP_LE:
    case OP_GT:
    case OP_GE:
        rc = bind_pair(l, r, CT_TEXT, ctx, err);
        if (rc == 0 && !types_comparable(l->type, r->type)) {
            return operator_error(e, l->type, r->type, ctx, err);
        }
        e->type = CT_BOOL;
        return rc;
    case OP_ADD:
    case OP_SUB:
    case OP_MUL:
    case OP_DIV:
    case OP_MOD:
        return bind_arith(e, ctx, err);
    case OP_CONCAT:
        return bind_concat(e, ctx, err);
    case OP_LIKE:
    case OP_ILIKE:
        rc = l->type == CT_UNKNOWN ? bind_coerce_unknown(l, CT_TEXT, ctx, err) : 0;
        if (rc == 0 && r->type == CT_UNKNOWN) {
            rc = bind_coerce_unknown(r, CT_TEXT, ctx, err);
        }
        if (rc == 0 && e->escape != NULL) {
            rc = bind_expr(e->escape, ctx, err);
            if (rc == 0 && e->escape->type == CT_UNKNOWN) {
                rc = bind_coerce_unknown(e->escape, CT_TEXT, ctx, err);
            }
        }
        if (rc == 0 && (!ctype_is_textual(l->type) || !ctype_is_textual(r->type))) {
            return operator_error(e, l->type, r->type, ctx, err);
        }
        e->type = CT_BOOL;
        return rc;
    case OP_JSON_GET:
    case OP_JSON_GET_TEXT:
        return bind_json_get(e, ctx, err);
    case OP_L2_DISTANCE:
    case OP_COSINE_DISTANCE:
    case OP_NEG_INNER:
        rc = bind_pair(l, r, CT_VECTOR, ctx, err);
        if (rc == 0 && (l->type != CT_VECTOR || r->type != CT_VECTOR)) {
            return operator_error(e, l->type, r->type, ctx, err);
        }
        e->type = CT_FLOAT8;
        return rc;
    default:
        if (e->op >= OP_REGEX) {
            return bind_binary_ext(e, ctx, err);
        }
        return operator_error(e, l->type, r->type, ctx, err);
    }
}

static int bind_unary(expr_t *e, const bind_ctx_t *ctx, ctx_err_t *err) {
    if (e->op == OP_NOT) {
        e->type = CT_BOOL;
        return bind_bool_operand(e, e->left, "NOT", ctx, err);
    }
    if (e->left->type == CT_UNKNOWN && e->left->kind == EXPR_CONST &&
        e->left->value.kind == VAL_TEXT) {
        int rc = bind_coerce_unknown(e->left, CT_FLOAT8, ctx, err);
        if (rc != 0) {
            return rc;
        }
    }
    if (!ctype_is_numeric(e->left->type)) {
        return operator_error(e, e->left->type, CT_UNKNOWN, ctx, err);
    }
    e->type = e->left->type;
    return 0;
}

static bool column_matches(const bind_column_t *c, const expr_t *e) {
    if (strcmp(c->name, e->name) != 0) {
        return false;
    }
    return e->qualifier == NULL ||
           (c->qualifier != NULL && strcmp(c->qualifier, e->qualifier) == 0);
}

static bool qualifier_known(const bind_scope_t *scope, const char *qualifier) {
    for (int i = 0; i < scope->ncols; i++) {
        if (scope->cols[i].qualifier != NULL && strcmp(scope->cols[i].qualifier, qualifier) == 0) {
            return true;
        }
    }
    return false;
}

static int bind_column(expr_t *e, const bind_ctx_t *ctx, ctx_err_t *err) {
    const bind_scope_t *scope = ctx->scope;
    int found = -1;
    int rc = 0;
    CTX_ASSERT(e->name != NULL);
    for (int i = 0; scope != NULL && i < scope->ncols; i++) {
        if (!column_matches(&scope->cols[i], e)) {
            continue;
        }
        if (found >= 0) {
            rc = ctx_err_set(err, CTX_EAMBIGUOUS, "column reference \"%s\" is ambiguous", e->name);
            goto fail;
        }
        found = i;
    }
    for (const bind_outer_t *o = ctx->outer; found < 0 && o != NULL; o = o->next) {
        e->outer_level++;
        for (int i = 0; o->scope != NULL && i < o->scope->ncols && found < 0; i++) {
            if (column_matches(&o->scope->cols[i], e)) {
                found = i;
                e->column_index = i;
                e->type = o->scope->cols[i].type;
                if (ctx->outer_refs != NULL) {
                    (*ctx->outer_refs)++;
                }
                return 0;
            }
        }
    }
    e->outer_level = 0;
    if (found < 0) {
        if (e->qualifier == NULL) {
            rc = ctx_err_set(err, CTX_EUNDEF_COLUMN, "column \"%s\" does not exist", e->name);
        } else if (scope == NULL || !qualifier_known(scope, e->qualifier)) {
            rc = ctx_err_set(err, CTX_EUNDEF_TABLE, "missing FROM-clause entry for table \"%s\"",
                             e->qualifier);
        } else {
            rc = ctx_err_set(err, CTX_EUNDEF_COLUMN, "column %s.%s does not exist", e->qualifier,
                             e->name);
        }
        goto fail;
    }
    e->column_index = found;
    e->type = scope->cols[found].type;
    return 0;
fail:
    eval_set_position(err, ctx->query_text, e->location);
    return rc;
}

static int bind_param(expr_t *e, const bind_ctx_t *ctx, ctx_err_t *err) {
    if (e->param_index < 1 || e->param_index > ctx->nparams || ctx->param_types == NULL) {
        int rc = ctx_err_set(err, CTX_EBAD_PARAM, "there is no parameter $%d", e->param_index);
        eval_set_position(err, ctx->query_text, e->location);
        return rc;
    }
    e->type = ctx->param_types[e->param_index - 1];
    return 0;
}

static void bind_const(expr_t *e) {
    if (e->type != CT_UNKNOWN) {
        return;
    }
    switch (e->value.kind) {
    case VAL_BOOL:
        e->type = CT_BOOL;
        break;
    case VAL_INT:
        e->type = (e->value.u.i >= INT32_MIN && e->value.u.i <= INT32_MAX) ? CT_INT4 : CT_INT8;
        break;
    case VAL_FLOAT:
        e->type = CT_FLOAT8;
        break;
    case VAL_JSON:
        e->type = CT_JSONB;
        break;
    case VAL_VECTOR:
        e->type = CT_VECTOR;
        break;
    default:
        break; /* NULL and untyped strings stay unknown */
    }
}

int bind_unify(expr_t **exprs, int n, const char *what, const bind_ctx_t *ctx, ctype_t *out,
               ctx_err_t *err) {
    ctype_t t = CT_UNKNOWN;
    int rc = 0;
    for (int i = 0; i < n; i++) {
        ctype_t u = exprs[i]->type;
        if (u == CT_UNKNOWN || u == t) {
            continue;
        }
        if (t == CT_UNKNOWN) {
            t = u;
        } else if (ctype_is_numeric(t) && ctype_is_numeric(u)) {
            t = numeric_promote(t, u);
        } else if (ctype_is_textual(t) && ctype_is_textual(u)) {
            t = CT_TEXT; /* text, name and "char" meet as text */
        } else {
            rc = ctx_err_set(err, CTX_ETYPE, "%s types %s and %s cannot be matched", what,
                             value_type_sql_name(t), value_type_sql_name(u));
            eval_set_position(err, ctx->query_text, exprs[i]->location);
            return rc;
        }
    }
    t = t == CT_UNKNOWN ? CT_TEXT : t;
    for (int i = 0; i < n && rc == 0; i++) {
        if (exprs[i]->type == CT_UNKNOWN) {
            rc = bind_coerce_unknown(exprs[i], t, ctx, err);
        }
    }
    *out = t;
    return rc;
}

static int bind_in_list(expr_t *e, const bind_ctx_t *ctx, ctx_err_t *err) {
    ctype_t t = e->left->type;
    int rc = 0;
    for (int i = 0; i < e->nargs && t == CT_UNKNOWN; i++) {
        t = e->args[i]->type;
    }
    t = t == CT_UNKNOWN ? CT_TEXT : t;
    if (e->left->type == CT_UNKNOWN) {
        rc = bind_coerce_unknown(e->left, t, ctx, err);
    }
    for (int i = 0; i < e->nargs && rc == 0; i++) {
        expr_t *item = e->args[i];
        if (item->type == CT_UNKNOWN) {
            rc = bind_coerce_unknown(item, e->left->type, ctx, err);
        } else if (!types_comparable(e->left->type, item->type)) {
            rc = ctx_err_set(err, CTX_EUNDEF_FUNCTION, "operator does not exist: %s = %s",
                             value_type_sql_name(e->left->type), value_type_sql_name(item->type));
            ctx_err_hint(err, "%s", NO_OPERATOR_HINT);
            eval_set_position(err, ctx->query_text, item->location);
        }
    }
    e->type = CT_BOOL;
    return rc;
}

static int bind_case(expr_t *e, const bind_ctx_t *ctx, ctx_err_t *err) {
    int npairs = e->nargs / 2;
    expr_t **results = arena_alloc(ctx->arena, sizeof(expr_t *) * (size_t)(npairs + 1));
    int nresults = 0;
    int rc = 0;
    CTX_ASSERT(e->nargs % 2 == 0);
    for (int i = 0; i < npairs && rc == 0; i++) {
        expr_t *when = e->args[2 * i];
        if (e->left != NULL) {
            rc = bind_pair(e->left, when, CT_TEXT, ctx, err);
            if (rc == 0 && !types_comparable(e->left->type, when->type)) {
                rc = ctx_err_set(err, CTX_EUNDEF_FUNCTION, "operator does not exist: %s = %s",
                                 value_type_sql_name(e->left->type),
                                 value_type_sql_name(when->type));
                ctx_err_hint(err, "%s", NO_OPERATOR_HINT);
                eval_set_position(err, ctx->query_text, when->location);
            }
        } else {
            rc = bind_bool_operand(e, when, "CASE/WHEN", ctx, err);
        }
        results[nresults++] = e->args[2 * i + 1];
    }
    if (e->right != NULL) {
        results[nresults++] = e->right;
    }
    if (rc == 0) {
        rc = bind_unify(results, nresults, "CASE", ctx, &e->type, err);
    }
    return rc;
}

static int bind_cast(expr_t *e, const bind_ctx_t *ctx, ctx_err_t *err) {
    int rc = 0;
    if (e->cast_type == CT_UNKNOWN) {
        e->cast_type = value_type_parse(e->name);
    }
    if (e->cast_type == CT_UNKNOWN) {
        rc = ctx_err_set(err, CTX_EUNDEF_OBJECT, "type \"%s\" does not exist",
                         e->name != NULL ? e->name : "?");
        eval_set_position(err, ctx->query_text, e->location);
        return rc;
    }
    e->type = e->cast_type;
    if (e->left->type == CT_UNKNOWN && e->left->kind == EXPR_CONST) {
        uint32_t dims = e->cast_type == CT_VECTOR ? eval_type_dims(e->name) : 0;
        if (e->left->value.kind == VAL_TEXT) {
            value_t v;
            rc = bind_literal(ctx, e->cast_type, e->left->value.u.str.ptr, e->left->value.u.str.len,
                              dims, &v, err);
            if (rc != 0) {
                eval_set_position(err, ctx->query_text, e->left->location);
                return rc;
            }
            e->left->value = v;
        }
        e->left->type = e->cast_type;
        return 0;
    }
    if (e->left->type == CT_UNKNOWN && ctype_is_reg(e->cast_type)) {
        return bind_coerce_unknown(e->left, CT_TEXT, ctx, err); /* $1::regtype: name at run time */
    }
    if (e->left->type == CT_UNKNOWN) {
        return bind_coerce_unknown(e->left, e->cast_type, ctx, err); /* $1::int types $1 */
    }
    value_t probe = value_null();
    eval_ctx_t ectx = {.arena = ctx->arena, .query_text = ctx->query_text, .env = ctx->env};
    rc = eval_cast(&probe, e->left->type, e->cast_type, &ectx, &probe, err);
    if (rc != 0) {
        eval_set_position(err, ctx->query_text, e->location);
    }
    return rc;
}

static int bind_func(expr_t *e, const bind_ctx_t *ctx, ctx_err_t *err);

static int bind_children(expr_t *e, const bind_ctx_t *ctx, ctx_err_t *err) {
    int rc = 0;
    if (e->kind == EXPR_FUNC) {
        return 0; /* bind_func binds arguments itself (aggregate nesting check) */
    }
    if (e->left != NULL) {
        rc = bind_expr(e->left, ctx, err);
    }
    if (rc == 0 && e->right != NULL) {
        rc = bind_expr(e->right, ctx, err);
    }
    for (int i = 0; rc == 0 && i < e->nargs; i++) {
        rc = bind_expr(e->args[i], ctx, err);
    }
    return rc;
}

int bind_expr(expr_t *e, const bind_ctx_t *ctx, ctx_err_t *err) {
    int rc;
    CTX_ASSERT(e != NULL && ctx != NULL);
    CTX_ASSERT(ctx->arena != NULL);
    rc = ctx_stack_check(err);
    if (rc != 0) {
        eval_set_position(err, ctx->query_text, e->location);
        return rc;
    }
    rc = bind_children(e, ctx, err);
    if (rc != 0) {
        return rc;
    }
    switch (e->kind) {
    case EXPR_CONST:
        bind_const(e);
        return 0;
    case EXPR_PARAM:
        return bind_param(e, ctx, err);
    case EXPR_COLUMN:
        return bind_column(e, ctx, err);
    case EXPR_STAR:
        return 0; /* expanded by the planner; nothing to bind */
    case EXPR_UNARY:
        return bind_unary(e, ctx, err);
    case EXPR_BINARY:
        return bind_binary_typed(e, ctx, err);
    case EXPR_IS_NULL:
        e->type = CT_BOOL;
        return 0;
    case EXPR_IN_LIST:
        return bind_in_list(e, ctx, err);
    case EXPR_FUNC:
        return bind_func(e, ctx, err);
    case EXPR_CAST:
        return bind_cast(e, ctx, err);
    case EXPR_CASE:
        return bind_case(e, ctx, err);
    case EXPR_SUBQUERY:
    case EXPR_ARRAY:
    case EXPR_ANY:
    case EXPR_SUBSCRIPT:
    case EXPR_FIELD:
    case EXPR_WINDOW:
        return bind_expr_ext(e, ctx, err);
    }
    CTX_ASSERT(!"unknown expression kind");
    return CTX_EINTERNAL;
}

/* ---- aggregates ------------------------------------------------------------------------- */

static int bind_aggregate(expr_t *e, const bind_ctx_t *ctx, ctx_err_t *err) {
    ctype_t t = e->nargs == 1 ? e->args[0]->type : CT_UNKNOWN;
    bool is_count = strcmp(e->name, "count") == 0;
    if (e->star) {
        e->type = CT_INT8;
        return is_count && e->nargs == 0 ? 0 : bind_func_not_found(e, ctx, err);
    }
    if ((strcmp(e->name, "json_object_agg") == 0 || strcmp(e->name, "jsonb_object_agg") == 0) &&
        e->nargs == 2) {
        e->type = CT_JSONB; /* json results are jsonb's canonical text here */
        int rc = 0;
        for (int i = 0; rc == 0 && i < 2; i++) {
            if (e->args[i]->type == CT_UNKNOWN) {
                rc = bind_coerce_unknown(e->args[i], CT_TEXT, ctx, err);
            }
        }
        return rc;
    }
    if (strcmp(e->name, "string_agg") == 0 && e->nargs == 2) {
        for (int i = 0; i < 2; i++) {
            if (e->args[i]->type != CT_UNKNOWN && !ctype_is_textual(e->args[i]->type)) {
                return bind_func_not_found(e, ctx, err);
            }
        }
        for (int i = 0; i < 2; i++) {
            if (e->args[i]->type == CT_UNKNOWN) {
                int rc = bind_coerce_unknown(e->args[i], CT_TEXT, ctx, err);
                if (rc != 0) {
                    return rc;
                }
            }
        }
        e->type = CT_TEXT;
        return 0;
    }
    if (e->nargs != 1) {
        return bind_func_not_found(e, ctx, err);
    }
    if (strcmp(e->name, "array_agg") == 0) {
        int rc = t == CT_UNKNOWN ? bind_coerce_unknown(e->args[0], CT_TEXT, ctx, err) : 0;
        e->type = ctype_array_of(e->args[0]->type);
        if (rc == 0 && e->type == CT_UNKNOWN) { /* PostgreSQL has an array of every type */
            rc = ctx_err_set(err, CTX_EFEATURE, "array_agg is not supported for type %s",
                             value_type_sql_name(e->args[0]->type));
            eval_set_position(err, ctx->query_text, e->location);
        }
        return rc;
    }
    if (strcmp(e->name, "json_agg") == 0 || strcmp(e->name, "jsonb_agg") == 0) {
        e->type = CT_JSONB; /* json results are jsonb's canonical text here */
        return t == CT_UNKNOWN ? bind_coerce_unknown(e->args[0], CT_TEXT, ctx, err) : 0;
    }
    if (strcmp(e->name, "bool_and") == 0 || strcmp(e->name, "bool_or") == 0 ||
        strcmp(e->name, "every") == 0) {
        e->type = CT_BOOL;
        return bind_bool_operand(e, e->args[0], e->name, ctx, err);
    }
    if (is_count) {
        e->type = CT_INT8;
        return 0;
    }
    if (strcmp(e->name, "min") == 0 || strcmp(e->name, "max") == 0) {
        if (t == CT_UNKNOWN) {
            int rc = bind_coerce_unknown(e->args[0], CT_TEXT, ctx, err);
            if (rc != 0) {
                return rc;
            }
        }
        e->type = e->args[0]->type;
        return 0;
    }
    if (t == CT_UNKNOWN) {
        int rc = bind_coerce_unknown(e->args[0], CT_FLOAT8, ctx, err);
        if (rc != 0) {
            return rc;
        }
        t = CT_FLOAT8;
    }
    if (!ctype_is_numeric(t)) {
        return bind_func_not_found(e, ctx, err);
    }
    e->type = (strcmp(e->name, "sum") == 0 && t != CT_FLOAT8) ? CT_INT8 : CT_FLOAT8;
    return 0;
}

/* An aggregate call whose arguments are bound: its FILTER must be boolean; the aggregate itself
 * is resolved over its own arguments (without the ORDER BY keys and FILTER, expr.h). */
static int bind_aggregate_call(expr_t *e, const bind_ctx_t *ctx, ctx_err_t *err) {
    if (e->agg_norder > EXPR_AGG_ORDER_MAX) {
        int rc = ctx_err_set(err, CTX_ELIMIT, "too many ORDER BY keys in an aggregate (at most %d)",
                             EXPR_AGG_ORDER_MAX);
        eval_set_position(err, ctx->query_text, e->location);
        return rc;
    }
    if (e->agg_filter) {
        int rc = bind_bool_operand(e, e->args[e->nargs - 1], "FILTER", ctx, err);
        if (rc != 0) {
            return rc;
        }
    }
    int all = e->nargs;
    e->nargs = expr_agg_nargs(e);
    int rc = bind_aggregate(e, ctx, err);
    e->nargs = all;
    return rc;
}

static int bind_func(expr_t *e, const bind_ctx_t *ctx, ctx_err_t *err) {
    bool agg = e->name != NULL && expr_is_aggregate_name(e->name);
    if (!agg && (e->agg_norder > 0 || e->agg_filter)) {
        int rc =
            ctx_err_set(err, CTX_EWRONG_ARGS, "%s specified, but %s is not an aggregate function",
                        e->agg_filter ? "FILTER" : "ORDER BY", e->name);
        eval_set_position(err, ctx->query_text, e->location);
        return rc;
    }
    bind_ctx_t inner = *ctx;
    int rc = 0;
    CTX_ASSERT(e->name != NULL);
    if (agg && !ctx->allow_aggregates) {
        rc = ctx_err_set(err, CTX_EGROUPING, "aggregate functions are not allowed in WHERE");
        eval_set_position(err, ctx->query_text, e->location);
        return rc;
    }
    if (agg) {
        inner.allow_aggregates = false; /* nested aggregates are an error, reported below */
    }
    for (int i = 0; i < e->nargs && rc == 0; i++) {
        ctx_err_t probe = {0};
        rc = bind_expr(e->args[i], &inner, err != NULL ? &probe : NULL);
        if (rc == CTX_EGROUPING && agg) {
            rc = ctx_err_set(err, CTX_EGROUPING, "aggregate function calls cannot be nested");
            eval_set_position(err, ctx->query_text, e->args[i]->location);
        } else if (rc != 0 && err != NULL && err->code == CTX_OK) {
            *err = probe;
        }
    }
    if (rc != 0) {
        return rc;
    }
    return agg ? bind_aggregate_call(e, ctx, err) : bind_func_scalar(e, ctx, err);
}

/* ---- assignment coercion ---------------------------------------------------------------- */

static bool assign_castable(ctype_t from, ctype_t to) {
    if (ctype_is_numeric(from) && ctype_is_numeric(to)) {
        return true;
    }
    return false;
}

int bind_coerce(expr_t *e, ctype_t target, const char *column_name, const bind_ctx_t *ctx,
                ctx_err_t *err) {
    int rc;
    CTX_ASSERT(e != NULL && ctx != NULL);
    CTX_ASSERT(target != CT_UNKNOWN);
    if (e->type == target) {
        return 0;
    }
    if (e->type == CT_UNKNOWN) {
        return bind_coerce_unknown(e, target, ctx, err);
    }
    if (!assign_castable(e->type, target)) {
        rc = ctx_err_set(err, CTX_ETYPE, "column \"%s\" is of type %s but expression is of type %s",
                         column_name != NULL ? column_name : "?", value_type_sql_name(target),
                         value_type_sql_name(e->type));
        ctx_err_hint(err, "You will need to rewrite or cast the expression.");
        eval_set_position(err, ctx->query_text, e->location);
        return rc;
    }
    if (e->kind == EXPR_CONST && e->value.kind == VAL_INT && target == CT_INT8) {
        e->type = target; /* every integer constant is an int8 already: no cast node */
        return 0;
    }
    if (e->kind == EXPR_CONST && e->value.kind == VAL_INT && target == CT_FLOAT8) {
        e->value = value_float((double)e->value.u.i);
        e->type = target;
        return 0;
    }
    expr_t *inner = arena_alloc(ctx->arena, sizeof(*inner));
    *inner = *e;
    memset(e, 0, sizeof(*e));
    e->kind = EXPR_CAST;
    e->location = inner->location;
    e->column_index = -1;
    e->agg_index = -1;
    e->left = inner;
    e->cast_type = target;
    e->type = target;
    e->name = value_type_name(target);
    return 0;
}
