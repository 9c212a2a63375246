/*
 * parser_expr.c — ContextQL expressions and type names (see parser.h).
 *
 * Precedence climbing over PostgreSQL 15's operator table, lowest first:
 *
 *   LEVEL  OPERATORS                          ASSOCIATIVITY
 *   1      OR                                 left
 *   2      AND                                left
 *   3      NOT (prefix)                       right
 *   4      IS [NOT] NULL, ISNULL, NOTNULL     non-associative (postfix)
 *   5      = <> != < > <= >=                  non-associative
 *   6      [NOT] LIKE/ILIKE/BETWEEN/IN        non-associative
 *   7      -> ->> <-> <=> <#> ||              left (PostgreSQL's generic Op level)
 *   8      + -                                left
 *   9      * / %                              left
 *   11     unary + -                          right (prefix)
 *   12     ::                                 left (postfix)
 *
 * One function (parser_level) handles every infix level, so a nesting level of the input costs a
 * few C frames, and every entry is counted against PARSER_DEPTH_MAX. BETWEEN is desugared into
 * two comparisons (the operand is copied, so the tree stays a tree); `- <number>` is folded into
 * a negative constant as PostgreSQL's doNegate does, so -2147483648 is an int4 constant.
 * Operators ContextQL has no expr_op_t for (@>, ~, ^ …) end the expression and so become syntax
 * errors at the operator.
 */
#include "parser.h"
#include "stack.h"

#include <string.h>

enum {
    PREC_OR = 1,
    PREC_AND = 2,
    PREC_NOT = 3,
    PREC_IS = 4,
    PREC_CMP = 5,
    PREC_LIKE = 6,
    PREC_OP = 7,
    PREC_ADD = 8,
    PREC_MUL = 9,
    PREC_UNARY = 11,
    PREC_CAST = 12,
};

typedef struct op_entry {
    const char *text;
    expr_op_t op;
    int prec;
    bool negated;
} op_entry_t;

static const op_entry_t parser_ops[] = {
    {"=", OP_EQ, PREC_CMP, false},
    {"<>", OP_NE, PREC_CMP, false},
    {"!=", OP_NE, PREC_CMP, false},
    {"<", OP_LT, PREC_CMP, false},
    {"<=", OP_LE, PREC_CMP, false},
    {">", OP_GT, PREC_CMP, false},
    {">=", OP_GE, PREC_CMP, false},
    {"->", OP_JSON_GET, PREC_OP, false},
    {"->>", OP_JSON_GET_TEXT, PREC_OP, false},
    {"<->", OP_L2_DISTANCE, PREC_OP, false},
    {"<=>", OP_COSINE_DISTANCE, PREC_OP, false},
    {"<#>", OP_NEG_INNER, PREC_OP, false},
    {"||", OP_CONCAT, PREC_OP, false},
    {"+", OP_ADD, PREC_ADD, false},
    {"-", OP_SUB, PREC_ADD, false},
    {"*", OP_MUL, PREC_MUL, false},
    {"/", OP_DIV, PREC_MUL, false},
    {"%", OP_MOD, PREC_MUL, false},
    {"~", OP_REGEX, PREC_OP, false},
    {"!~", OP_REGEX, PREC_OP, true},
    {"~*", OP_REGEX_ICASE, PREC_OP, false},
    {"!~*", OP_REGEX_ICASE, PREC_OP, true},
    {"~~", OP_LIKE, PREC_OP, false},
    {"!~~", OP_LIKE, PREC_OP, true},
    {"&", OP_BIT_AND, PREC_OP, false},
    {"|", OP_BIT_OR, PREC_OP, false},
};

static const op_entry_t *parser_op_lookup(const char *text) {
    for (size_t i = 0; i < sizeof(parser_ops) / sizeof(parser_ops[0]); i++) {
        if (strcmp(text, parser_ops[i].text) == 0) {
            return &parser_ops[i];
        }
    }
    return NULL;
}

/* OPERATOR([schema.]op) at the current token: the operator's entry, or NULL (not this form). */
static const op_entry_t *parser_operator_form(const parser_t *p, int *ntoks) {
    if (!parser_is_kw(p, 0, "operator") || !parser_is_op(p, 1, "(")) {
        return NULL;
    }
    int k = 2;
    if (parser_peek(p, k)->kind == LEX_IDENT && parser_is_op(p, k + 1, ".")) {
        k += 2;
    }
    const lex_token_t *t = parser_peek(p, k);
    if (t->kind != LEX_OP || !parser_is_op(p, k + 1, ")")) {
        return NULL;
    }
    *ntoks = k + 2;
    return parser_op_lookup(t->text);
}

static expr_t *parser_level(parser_t *p, int prec_min);

/* Precedence of the infix/postfix construct at the current token, 0 if none; *entry is set for
 * plain binary operators. */
static int parser_infix_prec(const parser_t *p, const op_entry_t **entry) {
    const lex_token_t *t = parser_peek(p, 0);
    *entry = NULL;
    if (t->kind == LEX_OP) {
        *entry = parser_op_lookup(t->text);
        if (*entry != NULL) {
            return (*entry)->prec;
        }
        return strcmp(t->text, "::") == 0 || strcmp(t->text, "[") == 0 ? PREC_CAST : 0;
    }
    if (t->kind != LEX_IDENT || t->quoted) {
        return 0;
    }
    const char *w = t->text;
    int ntoks;
    if (strcmp(w, "operator") == 0 && parser_operator_form(p, &ntoks) != NULL) {
        *entry = parser_operator_form(p, &ntoks);
        return (*entry)->prec;
    }
    if (strcmp(w, "collate") == 0) {
        return PREC_CAST;
    }
    if (strcmp(w, "or") == 0) {
        return PREC_OR;
    }
    if (strcmp(w, "and") == 0) {
        return PREC_AND;
    }
    if (strcmp(w, "is") == 0 || strcmp(w, "isnull") == 0 || strcmp(w, "notnull") == 0) {
        return PREC_IS;
    }
    if (strcmp(w, "like") == 0 || strcmp(w, "ilike") == 0 || strcmp(w, "between") == 0 ||
        strcmp(w, "in") == 0) {
        return PREC_LIKE;
    }
    if (strcmp(w, "not") == 0 && (parser_is_kw(p, 1, "like") || parser_is_kw(p, 1, "ilike") ||
                                  parser_is_kw(p, 1, "between") || parser_is_kw(p, 1, "in"))) {
        return PREC_LIKE;
    }
    return 0;
}

static expr_t *parser_binary(parser_t *p, expr_op_t op, expr_t *left, expr_t *right, int loc) {
    CTX_ASSERT(left != NULL && right != NULL);
    expr_t *e = expr_new(p->arena, EXPR_BINARY, loc);
    e->op = op;
    e->left = left;
    e->right = right;
    return e;
}

static expr_t *parser_copy(parser_t *p, const expr_t *e);

/* *out = a copy of e (NULL stays NULL); false when the copy failed. */
static bool parser_copy_into(parser_t *p, const expr_t *e, expr_t **out) {
    *out = e == NULL ? NULL : parser_copy(p, e);
    return e == NULL || *out != NULL;
}

/* Deep copy of a tree (BETWEEN uses its operand twice); e is not NULL. NULL with p->err set when
 * the tree is too deep for the stack. */
static expr_t *parser_copy(parser_t *p, const expr_t *e) {
    CTX_ASSERT(e != NULL);
    if (ctx_stack_check(p->err) != CTX_OK) {
        return NULL;
    }
    expr_t *c = arena_alloc(p->arena, sizeof(*c));
    *c = *e;
    if (!parser_copy_into(p, e->left, &c->left) || !parser_copy_into(p, e->right, &c->right)) {
        return NULL;
    }
    if (e->nargs > 0) {
        c->args = arena_alloc(p->arena, (size_t)e->nargs * sizeof(*c->args));
        for (int i = 0; i < e->nargs; i++) {
            if (!parser_copy_into(p, e->args[i], &c->args[i])) {
                return NULL;
            }
        }
    }
    return c;
}

/* Parenthesised expression list after IN; the current token is "(". */
static expr_t *parser_in_list(parser_t *p, expr_t *left, bool negated, int loc) {
    if (parser_is_op(p, 0, "(") && parser_is_select_start(p, 1)) {
        expr_t *sub = parser_subquery(p, SUBLINK_ANY, loc);
        if (sub == NULL) {
            return NULL;
        }
        sub->left = left;
        sub->op = OP_EQ;
        if (!negated) {
            return sub;
        }
        expr_t *not = expr_new(p->arena, EXPR_UNARY, loc);
        not ->op = OP_NOT;
        not ->left = sub;
        return not ;
    }
    expr_t *e = expr_new(p->arena, EXPR_IN_LIST, loc);
    e->left = left;
    e->negated = negated;
    int cap = 0;
    if (parser_expect_op(p, "(") != CTX_OK) {
        return NULL;
    }
    do {
        expr_t *item = parser_expr(p);
        if (item == NULL) {
            return NULL;
        }
        e->args = parser_grow(p, e->args, e->nargs, &cap, sizeof(*e->args));
        e->args[e->nargs++] = item;
    } while (parser_accept_op(p, ","));
    return parser_expect_op(p, ")") == CTX_OK ? e : NULL;
}

/* [NOT] LIKE / ILIKE / BETWEEN / IN after left; the current token is NOT or the keyword. */
static expr_t *parser_like_level(parser_t *p, expr_t *left) {
    int loc = parser_peek(p, 0)->location;
    bool negated = parser_accept_kw(p, "not");
    if (parser_accept_kw(p, "in")) {
        return parser_in_list(p, left, negated, loc);
    }
    if (parser_accept_kw(p, "between")) {
        expr_t *low = parser_level(p, PREC_OP);
        if (low == NULL || parser_expect_kw(p, "and") != CTX_OK) {
            return NULL;
        }
        expr_t *high = parser_level(p, PREC_OP);
        if (high == NULL) {
            return NULL;
        }
        expr_t *again = parser_copy(p, left);
        if (again == NULL) {
            return NULL;
        }
        if (negated) {
            return parser_binary(p, OP_OR, parser_binary(p, OP_LT, left, low, loc),
                                 parser_binary(p, OP_GT, again, high, loc), loc);
        }
        return parser_binary(p, OP_AND, parser_binary(p, OP_GE, left, low, loc),
                             parser_binary(p, OP_LE, again, high, loc), loc);
    }
    expr_op_t op = parser_accept_kw(p, "like") ? OP_LIKE : OP_NONE;
    if (op == OP_NONE && parser_accept_kw(p, "ilike")) {
        op = OP_ILIKE;
    }
    CTX_ASSERT(op != OP_NONE);
    expr_t *pattern = parser_level(p, PREC_OP);
    if (pattern == NULL) {
        return NULL;
    }
    expr_t *e = parser_binary(p, op, left, pattern, loc);
    e->negated = negated;
    if (parser_accept_kw(p, "escape")) {
        e->escape = parser_level(p, PREC_OP);
        if (e->escape == NULL) {
            return NULL;
        }
    }
    return e;
}

/* IS [NOT] NULL, ISNULL, NOTNULL after left. */
static expr_t *parser_is_level(parser_t *p, expr_t *left) {
    expr_t *e = expr_new(p->arena, EXPR_IS_NULL, parser_peek(p, 0)->location);
    e->left = left;
    if (parser_accept_kw(p, "isnull")) {
        return e;
    }
    if (parser_accept_kw(p, "notnull")) {
        e->negated = true;
        return e;
    }
    CTX_ASSERT(parser_is_kw(p, 0, "is"));
    p->pos++;
    e->negated = parser_accept_kw(p, "not");
    if (parser_accept_kw(p, "distinct")) {
        if (parser_expect_kw(p, "from") != CTX_OK) {
            return NULL;
        }
        expr_t *right = parser_level(p, PREC_IS + 1);
        if (right == NULL) {
            return NULL;
        }
        expr_t *d = parser_binary(p, OP_IS_DISTINCT, left, right, e->location);
        d->negated = e->negated;
        return d;
    }
    if (parser_is_kw(p, 0, "true") || parser_is_kw(p, 0, "false")) {
        /* x IS [NOT] TRUE ≡ x IS [NOT] NOT DISTINCT FROM true */
        expr_t *c = expr_new(p->arena, EXPR_CONST, parser_peek(p, 0)->location);
        c->value = value_bool(parser_is_kw(p, 0, "true"));
        c->type = CT_BOOL;
        p->pos++;
        expr_t *d = parser_binary(p, OP_IS_DISTINCT, left, c, e->location);
        d->negated = !e->negated;
        return d;
    }
    if (parser_accept_kw(p, "unknown")) {
        return e;
    }
    return parser_expect_kw(p, "null") == CTX_OK ? e : NULL;
}

/* (SELECT …) as an expression of the given sublink kind; the current token is "(". */
expr_t *parser_subquery(parser_t *p, int sublink, int loc) {
    if (parser_expect_op(p, "(") != CTX_OK) {
        return NULL;
    }
    expr_t *e = expr_new(p->arena, EXPR_SUBQUERY, loc);
    e->sublink = sublink;
    e->subquery = parser_select(p);
    if (e->subquery == NULL || parser_expect_op(p, ")") != CTX_OK) {
        return NULL;
    }
    return e;
}

/* left op ANY|SOME|ALL ( subquery | array ); the current token is ANY/SOME/ALL. */
static expr_t *parser_any(parser_t *p, expr_t *left, expr_op_t op, int loc) {
    bool all = parser_is_kw(p, 0, "all");
    p->pos++;
    if (parser_is_op(p, 0, "(") && parser_is_select_start(p, 1) && !all) {
        expr_t *sub = parser_subquery(p, SUBLINK_ANY, loc);
        if (sub != NULL) {
            sub->left = left;
            sub->op = op;
        }
        return sub;
    }
    if (parser_expect_op(p, "(") != CTX_OK) {
        return NULL;
    }
    expr_t *e = expr_new(p->arena, EXPR_ANY, loc);
    e->op = op;
    e->left = left;
    e->negated = all;
    e->right = parser_expr(p);
    return e->right != NULL && parser_expect_op(p, ")") == CTX_OK ? e : NULL;
}

/* Postfix forms binding tightest: ::type, [subscript], COLLATE name. */
static expr_t *parser_postfix(parser_t *p, expr_t *left, int loc) {
    if (parser_accept_kw(p, "collate")) {
        const char *name = parser_name(p, true);
        if (name != NULL && parser_accept_op(p, ".")) {
            name = parser_name(p, true);
        }
        return name == NULL ? NULL : left; /* one collation: C ordering */
    }
    if (parser_accept_op(p, "[")) {
        expr_t *e = expr_new(p->arena, EXPR_SUBSCRIPT, loc);
        e->left = left;
        e->right = parser_expr(p);
        return e->right != NULL && parser_expect_op(p, "]") == CTX_OK ? e : NULL;
    }
    p->pos++;
    const char *type = parser_type_name(p);
    return type == NULL ? NULL : parser_make_cast(p, left, type, loc);
}

/* One infix/postfix step at precedence prec applied to left. */
static expr_t *parser_infix(parser_t *p, expr_t *left, int prec, const op_entry_t *entry) {
    int loc = parser_peek(p, 0)->location;
    if (prec == PREC_CAST) {
        return parser_postfix(p, left, loc);
    }
    if (prec == PREC_IS) {
        return parser_is_level(p, left);
    }
    if (prec == PREC_LIKE) {
        return parser_like_level(p, left);
    }
    expr_op_t op = entry != NULL ? entry->op : (prec == PREC_OR ? OP_OR : OP_AND);
    int ntoks = 1;
    if (parser_operator_form(p, &ntoks) == NULL) {
        ntoks = 1;
    }
    p->pos += ntoks;
    if (prec == PREC_CMP &&
        (parser_is_kw(p, 0, "any") || parser_is_kw(p, 0, "some") || parser_is_kw(p, 0, "all")) &&
        parser_is_op(p, 1, "(")) {
        return parser_any(p, left, op, loc);
    }
    expr_t *right = parser_level(p, prec + 1);
    if (right == NULL) {
        return NULL;
    }
    expr_t *e = parser_binary(p, op, left, right, loc);
    e->negated = entry != NULL && entry->negated;
    return e;
}

/* Folds `- constant` into a constant, as PostgreSQL's doNegate. */
static expr_t *parser_negate(parser_t *p, expr_t *operand, int loc) {
    if (operand->kind == EXPR_CONST && operand->value.kind == VAL_INT &&
        operand->value.u.i != INT64_MIN) {
        int64_t v = -operand->value.u.i;
        operand->value = value_int(v);
        operand->type = (v >= INT32_MIN && v <= INT32_MAX) ? CT_INT4 : CT_INT8;
        operand->location = loc;
        return operand;
    }
    const lex_token_t *last = &p->toks[p->pos - 1];
    if (operand->kind == EXPR_CONST && operand->value.kind == VAL_FLOAT &&
        last->location == operand->location && strcmp(last->text, "9223372036854775808") == 0) {
        operand->value = value_int(INT64_MIN); /* -9223372036854775808 fits int8 */
        operand->type = CT_INT8;
        operand->location = loc;
        return operand;
    }
    if (operand->kind == EXPR_CONST && operand->value.kind == VAL_FLOAT) {
        operand->value = value_float(-operand->value.u.f);
        operand->location = loc;
        return operand;
    }
    expr_t *e = expr_new(p->arena, EXPR_UNARY, loc);
    e->op = OP_NEG;
    e->left = operand;
    return e;
}

/* Prefix NOT / unary minus / unary plus, or a primary. */
static expr_t *parser_prefix(parser_t *p) {
    int loc = parser_peek(p, 0)->location;
    if (parser_accept_kw(p, "not")) {
        expr_t *operand = parser_level(p, PREC_NOT);
        if (operand == NULL) {
            return NULL;
        }
        expr_t *e = expr_new(p->arena, EXPR_UNARY, loc);
        e->op = OP_NOT;
        e->left = operand;
        return e;
    }
    if (parser_is_op(p, 0, "-") || parser_is_op(p, 0, "+")) {
        bool minus = parser_is_op(p, 0, "-");
        p->pos++;
        expr_t *operand = parser_level(p, PREC_UNARY);
        if (operand == NULL) {
            return NULL;
        }
        if (minus) {
            return parser_negate(p, operand, loc);
        }
        expr_t *e = expr_new(p->arena, EXPR_UNARY, loc);
        e->op = OP_PLUS;
        e->left = operand;
        return e;
    }
    return parser_primary(p);
}

/* Everything binding at least as tightly as prec_min. */
static expr_t *parser_level(parser_t *p, int prec_min) {
    CTX_ASSERT(prec_min >= PREC_OR && prec_min <= PREC_CAST);
    if (parser_enter(p) != CTX_OK) {
        return NULL;
    }
    expr_t *left = parser_prefix(p);
    int last_prec = 0;
    while (left != NULL) {
        const op_entry_t *entry = NULL;
        int prec = parser_infix_prec(p, &entry);
        if (prec == 0 || prec < prec_min) {
            break;
        }
        bool nonassoc = prec == PREC_IS || prec == PREC_CMP || prec == PREC_LIKE;
        if (nonassoc && prec == last_prec) {
            parser_syntax_error(p);
            left = NULL;
            break;
        }
        left = parser_infix(p, left, prec, entry);
        last_prec = prec;
    }
    parser_leave(p);
    return left;
}

expr_t *parser_expr(parser_t *p) {
    CTX_ASSERT(p != NULL);
    return parser_level(p, PREC_OR);
}

expr_t *parser_make_cast(parser_t *p, expr_t *operand, const char *type_name, int location) {
    CTX_ASSERT(operand != NULL && type_name != NULL);
    expr_t *e = expr_new(p->arena, EXPR_CAST, location);
    e->left = operand;
    e->name = type_name;
    e->cast_type = value_type_parse(type_name);
    return e;
}
