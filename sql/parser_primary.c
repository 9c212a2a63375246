/*
 * parser_primary.c — primary expressions and type names (see parser.h).
 *
 * A primary is a constant, a $n parameter, TRUE/FALSE/NULL, a parenthesised expression, CASE,
 * CAST(x AS type), a niladic SQL function (current_user …, which PostgreSQL writes without
 * parentheses), a `typename 'literal'` constant (vector '[1,2]'), a function call — possibly
 * schema-qualified, with *, DISTINCT and `name => value` arguments — or a column reference
 * [qualifier.]name / qualifier.*. Anything else at this point is a syntax error at that token.
 * Constants get their parse-time type: integers int4 when they fit (else int8), decimals and
 * overflowing integers float8, strings CT_UNKNOWN until the binder coerces them.
 */
#include "parser.h"

#include <stdio.h>
#include <string.h>

/* Niladic SQL functions and the function name they become. */
static const char *const parser_niladic[][2] = {
    {"current_user", "current_user"},           {"session_user", "session_user"},
    {"current_role", "current_role"},           {"user", "current_user"},
    {"current_catalog", "current_catalog"},     {"current_schema", "current_schema"},
    {"current_date", "current_date"},           {"current_time", "current_time"},
    {"current_timestamp", "current_timestamp"}, {"localtime", "localtime"},
    {"localtimestamp", "localtimestamp"},
};

static expr_t *parser_const(parser_t *p, value_t v, ctype_t type) {
    expr_t *e = expr_new(p->arena, EXPR_CONST, parser_peek(p, 0)->location);
    e->value = v;
    e->type = type;
    p->pos++;
    return e;
}

bool parser_constant(const parser_t *p, int ahead, value_t *value, ctype_t *type) {
    const lex_token_t *t = parser_peek(p, ahead);
    switch (t->kind) {
    case LEX_INTEGER:
        *value = value_int(t->ival);
        *type = t->ival >= INT32_MIN && t->ival <= INT32_MAX ? CT_INT4 : CT_INT8;
        return true;
    case LEX_FLOAT:
        *value = value_float(t->fval);
        *type = CT_FLOAT8;
        return true;
    case LEX_STRING:
        *value = value_text(t->text, t->text_len);
        *type = CT_UNKNOWN;
        return true;
    default:
        break;
    }
    if (parser_is_kw(p, ahead, "true") || parser_is_kw(p, ahead, "false")) {
        *value = value_bool(parser_is_kw(p, ahead, "true"));
        *type = CT_BOOL;
        return true;
    }
    if (parser_is_kw(p, ahead, "null")) {
        *value = value_null();
        *type = CT_UNKNOWN;
        return true;
    }
    return false;
}

static expr_t *parser_literal(parser_t *p) {
    const lex_token_t *t = parser_peek(p, 0);
    value_t v;
    ctype_t type;
    if (t->kind != LEX_PARAM && parser_constant(p, 0, &v, &type)) {
        return parser_const(p, v, type);
    }
    switch (t->kind) {
    case LEX_PARAM: {
        if (t->ival > PARSER_PARAMS_MAX) { /* the statement's parameter arrays are sized by it */
            ctx_err_set(p->err, CTX_EBAD_PARAM, "there is no parameter $%lld", (long long)t->ival);
            ctx_err_position(p->err, lex_char_position(p->text, p->len, t->location));
            return NULL;
        }
        expr_t *e = expr_new(p->arena, EXPR_PARAM, t->location);
        e->param_index = (int)t->ival;
        if (e->param_index > p->param_max) {
            p->param_max = e->param_index;
        }
        p->pos++;
        return e;
    }
    default:
        break;
    }
    CTX_ASSERT(false);
    return NULL;
}

/* CASE [operand] WHEN c THEN r … [ELSE e] END; the current token is CASE. */
static expr_t *parser_case(parser_t *p) {
    expr_t *e = expr_new(p->arena, EXPR_CASE, parser_peek(p, 0)->location);
    int cap = 0;
    p->pos++;
    if (!parser_is_kw(p, 0, "when")) {
        e->left = parser_expr(p);
        if (e->left == NULL) {
            return NULL;
        }
    }
    if (!parser_is_kw(p, 0, "when")) {
        parser_syntax_error(p);
        return NULL;
    }
    while (parser_accept_kw(p, "when")) {
        expr_t *cond = parser_expr(p);
        if (cond == NULL || parser_expect_kw(p, "then") != CTX_OK) {
            return NULL;
        }
        expr_t *result = parser_expr(p);
        if (result == NULL) {
            return NULL;
        }
        e->args = parser_grow(p, e->args, e->nargs, &cap, sizeof(*e->args));
        e->args[e->nargs++] = cond;
        e->args = parser_grow(p, e->args, e->nargs, &cap, sizeof(*e->args));
        e->args[e->nargs++] = result;
    }
    if (parser_accept_kw(p, "else")) {
        e->right = parser_expr(p);
        if (e->right == NULL) {
            return NULL;
        }
    }
    return parser_expect_kw(p, "end") == CTX_OK ? e : NULL;
}

/* (expr).field after a parenthesised expression; returns e unchanged otherwise. */
static expr_t *parser_field_select(parser_t *p, expr_t *e) {
    if (e == NULL || !parser_is_op(p, 0, ".") || parser_peek(p, 1)->kind != LEX_IDENT) {
        return e;
    }
    expr_t *f = expr_new(p->arena, EXPR_FIELD, parser_peek(p, 0)->location);
    p->pos++;
    f->left = e;
    f->name = parser_name(p, true);
    return f->name != NULL ? f : NULL;
}

/* ARRAY[e, …]; the current token is ARRAY. */
static expr_t *parser_array_ctor(parser_t *p) {
    expr_t *e = expr_new(p->arena, EXPR_ARRAY, parser_peek(p, 0)->location);
    int cap = 0;
    p->pos += 2;
    if (parser_accept_op(p, "]")) {
        return e;
    }
    do {
        expr_t *item = parser_expr(p);
        if (item == NULL) {
            return NULL;
        }
        e->args = parser_grow(p, e->args, e->nargs, &cap, sizeof(*e->args));
        e->args[e->nargs++] = item;
    } while (parser_accept_op(p, ","));
    return parser_expect_op(p, "]") == CTX_OK ? e : NULL;
}

/* OVER (PARTITION BY e, … ORDER BY e [ASC|DESC], …) after a call: a window function. */
static expr_t *parser_over(parser_t *p, expr_t *call) {
    int cap = 0, cap2 = 0;
    if (parser_expect_op(p, "(") != CTX_OK) {
        return NULL;
    }
    call->kind = EXPR_WINDOW;
    if (parser_accept_kw(p, "partition")) {
        int pcap = 0;
        call->args = NULL;
        call->nargs = 0;
        if (parser_expect_kw(p, "by") != CTX_OK) {
            return NULL;
        }
        do {
            expr_t *k = parser_expr(p);
            if (k == NULL) {
                return NULL;
            }
            call->args = parser_grow(p, call->args, call->nargs, &pcap, sizeof(*call->args));
            call->args[call->nargs++] = k;
        } while (parser_accept_op(p, ","));
    } else {
        call->nargs = 0;
    }
    if (parser_accept_kw(p, "order")) {
        if (parser_expect_kw(p, "by") != CTX_OK) {
            return NULL;
        }
        do {
            expr_t *k = parser_expr(p);
            if (k == NULL) {
                return NULL;
            }
            int n = call->nwindow_order;
            call->window_order = parser_grow(p, call->window_order, n, &cap, sizeof(expr_t *));
            call->window_desc = parser_grow(p, call->window_desc, n, &cap2, sizeof(bool));
            call->window_order[n] = k;
            call->window_desc[n] = parser_accept_kw(p, "desc");
            if (!call->window_desc[n]) {
                (void)parser_accept_kw(p, "asc");
            }
            call->nwindow_order++;
        } while (parser_accept_op(p, ","));
    }
    return parser_expect_op(p, ")") == CTX_OK ? call : NULL;
}

/* trim([BOTH|LEADING|TRAILING] [chars] FROM s) → btrim/ltrim/rtrim(s, chars); current "(". */
static expr_t *parser_trim_form(parser_t *p, int loc) {
    const char *fn = "btrim";
    p->pos++;
    if (parser_accept_kw(p, "leading")) {
        fn = "ltrim";
    } else if (parser_accept_kw(p, "trailing")) {
        fn = "rtrim";
    } else {
        (void)parser_accept_kw(p, "both");
    }
    expr_t *chars = NULL;
    if (!parser_is_kw(p, 0, "from")) {
        chars = parser_expr(p);
        if (chars == NULL) {
            return NULL;
        }
    }
    if (parser_expect_kw(p, "from") != CTX_OK) {
        return NULL;
    }
    expr_t *e = expr_new(p->arena, EXPR_FUNC, loc);
    e->name = fn;
    e->args = arena_alloc(p->arena, sizeof(expr_t *) * 2);
    e->args[0] = parser_expr(p);
    e->nargs = 1;
    if (e->args[0] == NULL || parser_expect_op(p, ")") != CTX_OK) {
        return NULL;
    }
    if (chars != NULL) {
        e->args[e->nargs++] = chars;
    }
    return e;
}

/* CAST(x AS type); the current token is CAST. */
static expr_t *parser_cast_call(parser_t *p) {
    int loc = parser_peek(p, 0)->location;
    p->pos++;
    if (parser_expect_op(p, "(") != CTX_OK) {
        return NULL;
    }
    expr_t *operand = parser_expr(p);
    if (operand == NULL || parser_expect_kw(p, "as") != CTX_OK) {
        return NULL;
    }
    const char *type = parser_type_name(p);
    if (type == NULL || parser_expect_op(p, ")") != CTX_OK) {
        return NULL;
    }
    return parser_make_cast(p, operand, type, loc);
}

/* One call argument, possibly `name => value` (or `name := value`). */
static expr_t *parser_call_arg(parser_t *p) {
    const char *arg_name = NULL;
    const lex_token_t *t = parser_peek(p, 0);
    if (t->kind == LEX_IDENT && (parser_is_op(p, 1, "=>") || parser_is_op(p, 1, ":="))) {
        arg_name = t->text;
        p->pos += 2;
    }
    expr_t *arg = parser_expr(p);
    if (arg != NULL) {
        arg->arg_name = arg_name;
    }
    return arg;
}

/* Argument list of a call; the current token is "(". */
static expr_t *parser_call(parser_t *p, const char *name, int loc) {
    expr_t *e = expr_new(p->arena, EXPR_FUNC, loc);
    e->name = name;
    int cap = 0;
    p->pos++;
    if (parser_is_op(p, 0, "*") && parser_is_op(p, 1, ")")) {
        e->star = true;
        p->pos += 2;
        return e;
    }
    if (parser_accept_op(p, ")")) {
        return e;
    }
    if (parser_accept_kw(p, "distinct")) {
        e->distinct = true;
    } else {
        (void)parser_accept_kw(p, "all");
    }
    do {
        expr_t *arg = parser_call_arg(p);
        if (arg == NULL) {
            return NULL;
        }
        e->args = parser_grow(p, e->args, e->nargs, &cap, sizeof(*e->args));
        e->args[e->nargs++] = arg;
    } while (parser_accept_op(p, ","));
    return parser_expect_op(p, ")") == CTX_OK ? e : NULL;
}

int parser_call_args(parser_t *p, expr_t ***args, int *nargs) {
    CTX_ASSERT(args != NULL && nargs != NULL);
    int cap = 0;
    *args = NULL;
    *nargs = 0;
    if (parser_expect_op(p, "(") != CTX_OK) {
        return p->err->code;
    }
    if (parser_accept_op(p, ")")) {
        return CTX_OK;
    }
    do {
        expr_t *arg = parser_call_arg(p);
        if (arg == NULL) {
            return p->err->code;
        }
        *args = parser_grow(p, *args, *nargs, &cap, sizeof(**args));
        (*args)[(*nargs)++] = arg;
    } while (parser_accept_op(p, ","));
    return parser_expect_op(p, ")");
}

/* Type names that are more than one word and so need a look-ahead before `'literal'`. */
static bool parser_multiword_type_literal(const parser_t *p) {
    if (parser_is_kw(p, 0, "double") && parser_is_kw(p, 1, "precision")) {
        return parser_peek(p, 2)->kind == LEX_STRING;
    }
    if ((parser_is_kw(p, 0, "character") || parser_is_kw(p, 0, "char")) &&
        parser_is_kw(p, 1, "varying")) {
        return parser_peek(p, 2)->kind == LEX_STRING;
    }
    if ((parser_is_kw(p, 0, "timestamp") || parser_is_kw(p, 0, "time")) &&
        (parser_is_kw(p, 1, "with") || parser_is_kw(p, 1, "without")) &&
        parser_is_kw(p, 2, "time") && parser_is_kw(p, 3, "zone")) {
        return parser_peek(p, 4)->kind == LEX_STRING;
    }
    return false;
}

/* Column reference, t.*, or (schema-qualified) function call; the current token is a name. */
static expr_t *parser_name_ref(parser_t *p) {
    int loc = parser_peek(p, 0)->location;
    const char *parts[3] = {parser_peek(p, 0)->text, NULL, NULL};
    int nparts = 1;
    p->pos++;
    while (parser_is_op(p, 0, ".")) {
        if (parser_is_op(p, 1, "*")) {
            expr_t *star = expr_new(p->arena, EXPR_STAR, loc);
            star->qualifier = parts[nparts - 1];
            p->pos += 2;
            return star;
        }
        if (nparts == 3 || parser_peek(p, 1)->kind != LEX_IDENT) {
            p->pos += 1;
            parser_syntax_error(p);
            return NULL;
        }
        p->pos++;
        parts[nparts++] = parser_name(p, true);
    }
    if (parser_is_op(p, 0, "(")) {
        const char *fn = parts[nparts - 1];
        if (strcmp(fn, "trim") == 0 &&
            (parser_is_kw(p, 1, "both") || parser_is_kw(p, 1, "leading") ||
             parser_is_kw(p, 1, "trailing") || parser_is_kw(p, 1, "from") ||
             (parser_peek(p, 1)->kind == LEX_STRING && parser_is_kw(p, 2, "from")))) {
            return parser_trim_form(p, loc);
        }
        expr_t *call = parser_call(p, fn, loc);
        if (call != NULL && parser_accept_kw(p, "over")) {
            return parser_over(p, call);
        }
        return call;
    }
    expr_t *col = expr_new(p->arena, EXPR_COLUMN, loc);
    col->name = parts[nparts - 1];
    col->qualifier = nparts >= 2 ? parts[nparts - 2] : NULL;
    return col;
}

/* Keyword-introduced primaries: TRUE/FALSE/NULL, CASE, CAST, niladic functions. Returns NULL
 * with *handled = false when the current token is none of them. */
static expr_t *parser_keyword_primary(parser_t *p, bool *handled) {
    const lex_token_t *t = parser_peek(p, 0);
    *handled = true;
    value_t v;
    ctype_t type;
    if (parser_constant(p, 0, &v, &type)) { /* TRUE, FALSE, NULL */
        return parser_const(p, v, type);
    }
    if (parser_is_kw(p, 0, "case")) {
        return parser_case(p);
    }
    if (parser_is_kw(p, 0, "cast")) {
        return parser_cast_call(p);
    }
    if (parser_is_kw(p, 0, "exists") && parser_is_op(p, 1, "(")) {
        p->pos++;
        return parser_subquery(p, SUBLINK_EXISTS, t->location);
    }
    if (parser_is_kw(p, 0, "array") && parser_is_op(p, 1, "(")) {
        p->pos++;
        return parser_subquery(p, SUBLINK_ARRAY, t->location);
    }
    if (parser_is_kw(p, 0, "array") && parser_is_op(p, 1, "[")) {
        return parser_array_ctor(p);
    }
    for (size_t i = 0; i < sizeof(parser_niladic) / sizeof(parser_niladic[0]); i++) {
        if (!t->quoted && strcmp(t->text, parser_niladic[i][0]) == 0 && !parser_is_op(p, 1, "(")) {
            expr_t *e = expr_new(p->arena, EXPR_FUNC, t->location);
            e->name = parser_niladic[i][1];
            p->pos++;
            return e;
        }
    }
    *handled = false;
    return NULL;
}

expr_t *parser_primary(parser_t *p) {
    CTX_ASSERT(p != NULL);
    const lex_token_t *t = parser_peek(p, 0);
    if (t->kind == LEX_INTEGER || t->kind == LEX_FLOAT || t->kind == LEX_STRING ||
        t->kind == LEX_PARAM) {
        return parser_literal(p);
    }
    if (parser_is_op(p, 0, "(") && (parser_is_select_start(p, 1) ||
                                    (parser_is_op(p, 1, "(") && parser_is_select_start(p, 2)))) {
        return parser_field_select(p, parser_subquery(p, SUBLINK_SCALAR, t->location));
    }
    if (parser_accept_op(p, "(")) {
        expr_t *inner = parser_expr(p);
        if (inner == NULL || parser_expect_op(p, ")") != CTX_OK) {
            return NULL;
        }
        return parser_field_select(p, inner);
    }
    if (t->kind != LEX_IDENT) {
        parser_syntax_error(p);
        return NULL;
    }
    bool handled = false;
    expr_t *e = parser_keyword_primary(p, &handled);
    if (handled) {
        return e;
    }
    if (!t->quoted && (parser_peek(p, 1)->kind == LEX_STRING || parser_multiword_type_literal(p)) &&
        !lex_is_reserved(t->text)) {
        const char *type = parser_type_name(p);
        if (type == NULL) {
            return NULL;
        }
        return parser_make_cast(p, parser_literal(p), type, t->location);
    }
    bool func_keyword = parser_is_op(p, 1, "(") && !t->quoted &&
                        (strcmp(t->text, "left") == 0 || strcmp(t->text, "right") == 0);
    if (!parser_is_name(p, 0) && !func_keyword) {
        parser_syntax_error(p);
        return NULL;
    }
    return parser_name_ref(p);
}

/* printf at buf + *n, keeping *n < cap (output is clipped, never overflows). */
static void parser_appendf(char *buf, size_t cap, size_t *n, const char *fmt, long long v) {
    CTX_ASSERT(*n < cap);
    int w = snprintf(buf + *n, cap - *n, fmt, v);
    *n = w < 0 || (size_t)w >= cap - *n ? cap - 1 : *n + (size_t)w;
}

/* Appends the type modifiers "(n[,m])" and array brackets "[]" of a type name to buf. */
static int parser_type_suffix(parser_t *p, char *buf, size_t cap) {
    size_t n = strlen(buf);
    if (parser_accept_op(p, "(")) {
        bool first = true;
        do {
            const lex_token_t *t = parser_peek(p, 0);
            if (t->kind != LEX_INTEGER) {
                return parser_syntax_error(p);
            }
            parser_appendf(buf, cap, &n, first ? "(%lld" : ",%lld", (long long)t->ival);
            first = false;
            p->pos++;
        } while (parser_accept_op(p, ","));
        if (parser_expect_op(p, ")") != CTX_OK) {
            return p->err->code;
        }
        parser_appendf(buf, cap, &n, ")", 0);
    }
    while (parser_accept_op(p, "[")) {
        if (parser_peek(p, 0)->kind == LEX_INTEGER) {
            p->pos++;
        }
        if (parser_expect_op(p, "]") != CTX_OK) {
            return p->err->code;
        }
        parser_appendf(buf, cap, &n, "[]", 0);
    }
    return CTX_OK;
}

/* The words of a multi-word type name after its first word, appended to buf. */
static void parser_type_words(parser_t *p, const char *first, char *buf, size_t cap) {
    if (strcmp(first, "double") == 0 && parser_accept_kw(p, "precision")) {
        snprintf(buf, cap, "double precision");
    } else if ((strcmp(first, "character") == 0 || strcmp(first, "char") == 0) &&
               parser_accept_kw(p, "varying")) {
        snprintf(buf, cap, "character varying");
    } else if (strcmp(first, "char") == 0) {
        snprintf(buf, cap, "character");
    } else {
        snprintf(buf, cap, "%s", first);
    }
}

const char *parser_type_name(parser_t *p) {
    CTX_ASSERT(p != NULL);
    enum { TYPE_NAME_BYTES_MAX = 160 };
    char buf[TYPE_NAME_BYTES_MAX];
    const lex_token_t *t = parser_peek(p, 0);
    if (t->kind != LEX_IDENT || (!t->quoted && lex_is_reserved(t->text))) {
        parser_syntax_error(p);
        return NULL;
    }
    p->pos++;
    if (parser_is_op(p, 0, ".") && parser_peek(p, 1)->kind == LEX_IDENT) {
        p->pos++; /* schema-qualified: pg_catalog.text → text */
        t = parser_peek(p, 0);
        p->pos++;
    }
    bool is_time =
        !t->quoted && (strcmp(t->text, "timestamp") == 0 || strcmp(t->text, "time") == 0);
    parser_type_words(p, t->quoted ? "" : t->text, buf, sizeof(buf));
    if (t->quoted) { /* "char" is the one-byte type; unquoted char is character(1) */
        snprintf(buf, sizeof(buf), strcmp(t->text, "char") == 0 ? "\"%s\"" : "%s", t->text);
    }
    if (parser_type_suffix(p, buf, sizeof(buf)) != CTX_OK) {
        return NULL;
    }
    if (is_time && (parser_is_kw(p, 0, "with") || parser_is_kw(p, 0, "without")) &&
        parser_is_kw(p, 1, "time") && parser_is_kw(p, 2, "zone")) {
        size_t n = strlen(buf);
        snprintf(buf + n, sizeof(buf) - n, " %s time zone", parser_peek(p, 0)->text);
        p->pos += 3;
    }
    return arena_strdup(p->arena, buf);
}
