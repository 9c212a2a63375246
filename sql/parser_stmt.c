/*
 * parser_stmt.c — SELECT, INSERT, UPDATE and DELETE (see parser.h, ast.h).
 *
 * SELECT clauses are parsed in PostgreSQL's order; LIMIT/OFFSET/FETCH FIRST may come in either
 * order, each at most once. FROM items are [schema.]table, function(args) (the graph and vector
 * table functions are ordinary FROM_FUNCTION items; the planner recognises them by name),
 * (SELECT …) and parenthesised joins; JOIN / INNER JOIN / LEFT [OUTER] JOIN … ON and CROSS JOIN
 * build left-deep FROM_JOIN trees, and a comma is a CROSS join. Bare aliases must not be
 * reserved words, which is what lets `FROM nodes WHERE …` and `SELECT a FROM t` parse; after AS
 * any word is a label. Subqueries count against the nesting limit like parentheses do.
 */
#include "parser.h"

#include <string.h>

/* [AS] alias after a select item or FROM item; NULL when there is none (not an error). */
static const char *parser_opt_alias(parser_t *p, bool *failed) {
    *failed = false;
    if (parser_accept_kw(p, "as")) {
        const char *alias = parser_name(p, true);
        *failed = alias == NULL;
        return alias;
    }
    if (parser_is_name(p, 0) && !parser_is_kw(p, 0, "set")) {
        return parser_name(p, false);
    }
    return NULL;
}

/* One select-list / RETURNING item: *, t.*, or expr [[AS] alias]. */
static int parser_select_item(parser_t *p, select_item_t *item) {
    memset(item, 0, sizeof(*item));
    item->location = parser_peek(p, 0)->location;
    if (parser_accept_op(p, "*")) {
        item->expr = expr_new(p->arena, EXPR_STAR, item->location);
        return CTX_OK;
    }
    item->expr = parser_expr(p);
    if (item->expr == NULL) {
        return p->err->code;
    }
    bool failed = false;
    item->alias = parser_opt_alias(p, &failed);
    return failed ? p->err->code : CTX_OK;
}

static int parser_select_items(parser_t *p, select_item_t **items, int *nitems) {
    int cap = 0;
    *items = NULL;
    *nitems = 0;
    do {
        *items = parser_grow(p, *items, *nitems, &cap, sizeof(**items));
        if (parser_select_item(p, &(*items)[*nitems]) != CTX_OK) {
            return p->err->code;
        }
        (*nitems)++;
    } while (parser_accept_op(p, ","));
    return CTX_OK;
}

static from_item_t *parser_from_item(parser_t *p);
static int parser_column_list(parser_t *p, const char ***cols, int *n);

/* At "((SELECT …) …": true when the inner parenthesis is a FROM item of a join, as in
 * `((SELECT …) a JOIN (SELECT …) b ON …)` (psqlODBC sends these), rather than the start of a
 * parenthesised query: what follows its closing ")" is not ")", ";" or a set operation. */
static bool parser_parens_join(const parser_t *p) {
    int depth = 0;
    for (int i = p->pos; i < p->ntoks && p->toks[i].kind != LEX_EOF; i++) {
        if (p->toks[i].kind != LEX_OP) {
            continue;
        }
        depth +=
            strcmp(p->toks[i].text, "(") == 0 ? 1 : (strcmp(p->toks[i].text, ")") == 0 ? -1 : 0);
        if (depth == 0) {
            int after = i + 1 - p->pos;
            return !parser_is_op(p, after, ")") && !parser_is_op(p, after, ";") &&
                   !parser_is_kw(p, after, "union") && !parser_is_kw(p, after, "intersect") &&
                   !parser_is_kw(p, after, "except") && !parser_is_kw(p, after, "order") &&
                   !parser_is_kw(p, after, "limit") && !parser_is_kw(p, after, "offset");
        }
    }
    return false;
}

/* (SELECT …) or ( from_item ) ; the current token is "(". */
static from_item_t *parser_from_parens(parser_t *p) {
    from_item_t *f = NULL;
    int loc = parser_peek(p, 0)->location;
    if (parser_enter(p) != CTX_OK) {
        return NULL;
    }
    p->pos++;
    if (parser_is_select_start(p, 0) ||
        (parser_is_op(p, 0, "(") && parser_is_select_start(p, 1) && !parser_parens_join(p))) {
        select_stmt_t *sub = parser_select(p);
        if (sub != NULL) {
            f = arena_calloc(p->arena, 1, sizeof(*f));
            f->kind = FROM_SUBQUERY;
            f->subquery = sub;
            f->location = loc;
        }
    } else {
        f = parser_from_item(p);
    }
    parser_leave(p);
    if (f == NULL || parser_expect_op(p, ")") != CTX_OK) {
        return NULL;
    }
    return f;
}

/* [schema.]table or [schema.]function(args), or a parenthesised item, with its alias. */
static from_item_t *parser_from_primary(parser_t *p) {
    from_item_t *f = NULL;
    bool lateral = parser_accept_kw(p, "lateral");
    if (parser_is_op(p, 0, "(")) {
        f = parser_from_parens(p);
    } else {
        f = arena_calloc(p->arena, 1, sizeof(*f));
        f->location = parser_peek(p, 0)->location;
        f->kind = FROM_TABLE;
        f->name = parser_name(p, false);
        if (f->name != NULL && parser_accept_op(p, ".")) {
            f->schema = f->name;
            f->name = parser_name(p, true);
        }
        if (f->name == NULL) {
            return NULL;
        }
        if (parser_is_op(p, 0, "(")) {
            f->kind = FROM_FUNCTION;
            if (parser_call_args(p, &f->args, &f->nargs) != CTX_OK) {
                return NULL;
            }
            if (parser_is_kw(p, 0, "with") && parser_is_kw(p, 1, "ordinality")) {
                p->pos += 2;
                f->ordinality = true;
            }
        }
    }
    if (f == NULL) {
        return NULL;
    }
    f->lateral = lateral;
    if (f->kind != FROM_SUBQUERY && parser_is_kw(p, 0, "as") && parser_is_kw(p, 1, "of") &&
        parser_as_of(p, f) != CTX_OK) {
        return NULL;
    }
    bool failed = false;
    const char *alias = parser_opt_alias(p, &failed);
    if (failed) {
        return NULL;
    }
    if (alias != NULL) {
        f->alias = alias;
        if (parser_is_op(p, 0, "(") &&
            parser_column_list(p, &f->col_aliases, &f->ncol_aliases) != CTX_OK) {
            return NULL;
        }
    }
    return f;
}

/* The join type at the current token, consuming its keywords; false when no join follows. */
static bool parser_join_type(parser_t *p, join_type_t *type) {
    if (parser_accept_kw(p, "join")) {
        *type = JOIN_INNER;
    } else if (parser_is_kw(p, 0, "inner") && parser_is_kw(p, 1, "join")) {
        *type = JOIN_INNER;
        p->pos += 2;
    } else if (parser_is_kw(p, 0, "cross") && parser_is_kw(p, 1, "join")) {
        *type = JOIN_CROSS;
        p->pos += 2;
    } else if (parser_is_kw(p, 0, "left") &&
               (parser_is_kw(p, 1, "join") ||
                (parser_is_kw(p, 1, "outer") && parser_is_kw(p, 2, "join")))) {
        *type = JOIN_LEFT;
        p->pos += parser_is_kw(p, 1, "outer") ? 3 : 2;
    } else {
        return false;
    }
    return true;
}

/* from_primary { join from_primary [ON cond] }. */
static from_item_t *parser_from_item(parser_t *p) {
    from_item_t *left = parser_from_primary(p);
    join_type_t type = JOIN_INNER;
    while (left != NULL && parser_join_type(p, &type)) {
        from_item_t *j = arena_calloc(p->arena, 1, sizeof(*j));
        j->kind = FROM_JOIN;
        j->join_type = type;
        j->location = left->location;
        j->left = left;
        j->right = parser_from_primary(p);
        if (j->right == NULL) {
            return NULL;
        }
        if (type != JOIN_CROSS && parser_accept_kw(p, "using")) {
            if (parser_column_list(p, &j->using_cols, &j->nusing) != CTX_OK) {
                return NULL;
            }
        } else if (type != JOIN_CROSS) {
            if (parser_expect_kw(p, "on") != CTX_OK) {
                return NULL;
            }
            j->on = parser_expr(p);
            if (j->on == NULL) {
                return NULL;
            }
        }
        left = j;
    }
    return left;
}

/* FROM item {, item}: commas become CROSS joins. */
static from_item_t *parser_from_list(parser_t *p) {
    from_item_t *left = parser_from_item(p);
    while (left != NULL && parser_accept_op(p, ",")) {
        from_item_t *j = arena_calloc(p->arena, 1, sizeof(*j));
        j->kind = FROM_JOIN;
        j->join_type = JOIN_CROSS;
        j->location = left->location;
        j->left = left;
        j->right = parser_from_item(p);
        if (j->right == NULL) {
            return NULL;
        }
        left = j;
    }
    return left;
}

static int parser_expr_list(parser_t *p, expr_t ***list, int *n) {
    int cap = 0;
    do {
        expr_t *e = parser_expr(p);
        if (e == NULL) {
            return p->err->code;
        }
        *list = parser_grow(p, *list, *n, &cap, sizeof(**list));
        (*list)[(*n)++] = e;
    } while (parser_accept_op(p, ","));
    return CTX_OK;
}

static int parser_order_by(parser_t *p, select_stmt_t *s) {
    int cap = 0;
    do {
        expr_t *e = parser_expr(p);
        if (e == NULL) {
            return p->err->code;
        }
        s->order_by = parser_grow(p, s->order_by, s->norder, &cap, sizeof(*s->order_by));
        order_item_t *o = &s->order_by[s->norder++];
        memset(o, 0, sizeof(*o));
        o->expr = e;
        if (parser_accept_kw(p, "desc")) {
            o->desc = true;
        } else {
            (void)parser_accept_kw(p, "asc");
        }
        if (parser_accept_kw(p, "nulls")) {
            if (parser_accept_kw(p, "first")) {
                o->nulls = 1;
            } else if (parser_expect_kw(p, "last") == CTX_OK) {
                o->nulls = 2;
            } else {
                return p->err->code;
            }
        }
    } while (parser_accept_op(p, ","));
    return CTX_OK;
}

static int parser_duplicate_clause(parser_t *p, const char *what) {
    int rc = ctx_err_set(p->err, CTX_ESYNTAX, "multiple %s clauses not allowed", what);
    ctx_err_position(p->err, lex_char_position(p->text, p->len, parser_peek(p, 0)->location));
    return rc;
}

/* FETCH {FIRST|NEXT} [n] {ROW|ROWS} ONLY; the current token is FETCH. */
static int parser_fetch(parser_t *p, select_stmt_t *s) {
    int loc = parser_peek(p, 0)->location;
    p->pos++;
    if (!parser_accept_kw(p, "first") && parser_expect_kw(p, "next") != CTX_OK) {
        return p->err->code;
    }
    if (parser_is_kw(p, 0, "row") || parser_is_kw(p, 0, "rows")) {
        s->limit = expr_new(p->arena, EXPR_CONST, loc);
        s->limit->value = value_int(1);
        s->limit->type = CT_INT4;
    } else {
        s->limit = parser_expr(p);
        if (s->limit == NULL) {
            return p->err->code;
        }
    }
    if (!parser_accept_kw(p, "row") && parser_expect_kw(p, "rows") != CTX_OK) {
        return p->err->code;
    }
    return parser_expect_kw(p, "only");
}

/* LIMIT / OFFSET / FETCH in any order, each once. */
static int parser_limit_offset(parser_t *p, select_stmt_t *s) {
    bool seen_limit = false;
    bool seen_offset = false;
    for (;;) {
        bool is_limit = parser_is_kw(p, 0, "limit") || parser_is_kw(p, 0, "fetch");
        if (is_limit && seen_limit) {
            return parser_duplicate_clause(p, "LIMIT");
        }
        if (parser_is_kw(p, 0, "fetch")) {
            seen_limit = true;
            if (parser_fetch(p, s) != CTX_OK) {
                return p->err->code;
            }
        } else if (parser_accept_kw(p, "limit")) {
            seen_limit = true;
            if (!parser_accept_kw(p, "all")) {
                s->limit = parser_expr(p);
                if (s->limit == NULL) {
                    return p->err->code;
                }
            }
        } else if (parser_is_kw(p, 0, "offset")) {
            if (seen_offset) {
                return parser_duplicate_clause(p, "OFFSET");
            }
            seen_offset = true;
            p->pos++;
            s->offset = parser_expr(p);
            if (s->offset == NULL) {
                return p->err->code;
            }
            if (!parser_accept_kw(p, "row")) {
                (void)parser_accept_kw(p, "rows");
            }
        } else {
            return CTX_OK;
        }
    }
}

/* The clauses after the select list. */
static int parser_select_tail(parser_t *p, select_stmt_t *s) {
    if (parser_accept_kw(p, "from")) {
        s->from = parser_from_list(p);
        if (s->from == NULL) {
            return p->err->code;
        }
    }
    if (parser_accept_kw(p, "where")) {
        s->where = parser_expr(p);
        if (s->where == NULL) {
            return p->err->code;
        }
    }
    if (parser_accept_kw(p, "group")) {
        if (parser_expect_kw(p, "by") != CTX_OK ||
            parser_expr_list(p, &s->group_by, &s->ngroup) != CTX_OK) {
            return p->err->code;
        }
    }
    if (parser_accept_kw(p, "having")) {
        s->having = parser_expr(p);
        if (s->having == NULL) {
            return p->err->code;
        }
    }
    return CTX_OK;
}

/* ORDER BY / LIMIT / OFFSET of a whole query. */
static int parser_order_limit(parser_t *p, select_stmt_t *s) {
    if (parser_accept_kw(p, "order")) {
        if (parser_expect_kw(p, "by") != CTX_OK || parser_order_by(p, s) != CTX_OK) {
            return p->err->code;
        }
    }
    return parser_limit_offset(p, s);
}

bool parser_is_select_start(const parser_t *p, int ahead) {
    return parser_is_kw(p, ahead, "select") || parser_is_kw(p, ahead, "values") ||
           parser_is_kw(p, ahead, "with");
}

/* VALUES (e, …) {, (e, …)}; the current token is VALUES. */
static select_stmt_t *parser_values(parser_t *p) {
    select_stmt_t *s = arena_calloc(p->arena, 1, sizeof(*s));
    int cap = 0;
    p->pos++;
    do {
        expr_t **row = NULL;
        int n = 0;
        if (parser_expect_op(p, "(") != CTX_OK || parser_expr_list(p, &row, &n) != CTX_OK ||
            parser_expect_op(p, ")") != CTX_OK) {
            return NULL;
        }
        if (s->nvalues > 0 && n != s->values_width) {
            ctx_err_set(p->err, CTX_ESYNTAX, "VALUES lists must all be the same length");
            return NULL;
        }
        s->values_width = n;
        s->values = parser_grow(p, s->values, s->nvalues, &cap, sizeof(*s->values));
        s->values[s->nvalues++] = row;
    } while (parser_accept_op(p, ","));
    return s;
}

static select_stmt_t *parser_simple_select(parser_t *p);

/* One operand of a set operation: SELECT …, VALUES …, or a parenthesised query. */
static select_stmt_t *parser_set_operand(parser_t *p) {
    if (parser_is_kw(p, 0, "values")) {
        return parser_values(p);
    }
    if (parser_accept_op(p, "(")) {
        select_stmt_t *s = parser_select(p);
        return s != NULL && parser_expect_op(p, ")") == CTX_OK ? s : NULL;
    }
    if (!parser_is_kw(p, 0, "select")) {
        parser_syntax_error(p);
        return NULL;
    }
    return parser_simple_select(p);
}

/* WITH name [(cols)] AS (query) {, …}; the current token is WITH. */
static int parser_with(parser_t *p, select_stmt_t *s) {
    int cap = 0, cap2 = 0, cap3 = 0, cap4 = 0;
    p->pos++;
    s->cte_recursive = parser_accept_kw(p, "recursive");
    do {
        const char *name = parser_name(p, false);
        const char **cols = NULL;
        int ncols = 0;
        if (name != NULL && parser_is_op(p, 0, "(") &&
            parser_column_list(p, &cols, &ncols) != CTX_OK) {
            return p->err->code;
        }
        if (name == NULL || parser_expect_kw(p, "as") != CTX_OK) {
            return p->err->code;
        }
        (void)parser_accept_kw(p, "not"); /* [NOT] MATERIALIZED: a hint, the plan is the same */
        (void)parser_accept_kw(p, "materialized");
        if (parser_expect_op(p, "(") != CTX_OK) {
            return p->err->code;
        }
        select_stmt_t *q = parser_select(p);
        if (q == NULL || parser_expect_op(p, ")") != CTX_OK) {
            return p->err->code;
        }
        s->cte_names = parser_grow(p, (void *)s->cte_names, s->nctes, &cap, sizeof(char *));
        s->ctes = parser_grow(p, s->ctes, s->nctes, &cap2, sizeof(select_stmt_t *));
        s->cte_columns = parser_grow(p, (void *)s->cte_columns, s->nctes, &cap3, sizeof(char **));
        s->cte_ncolumns = parser_grow(p, s->cte_ncolumns, s->nctes, &cap4, sizeof(int));
        s->cte_names[s->nctes] = name;
        s->cte_columns[s->nctes] = cols;
        s->cte_ncolumns[s->nctes] = ncols;
        s->ctes[s->nctes++] = q;
    } while (parser_accept_op(p, ","));
    return CTX_OK;
}

/* query: [WITH …] operand {UNION|INTERSECT|EXCEPT [ALL|DISTINCT] operand} [ORDER BY] [LIMIT]. */
select_stmt_t *parser_select(parser_t *p) {
    if (!parser_is_select_start(p, 0) && !parser_is_op(p, 0, "(")) {
        parser_syntax_error(p); /* ARRAY(1), EXISTS(1): a parenthesis that holds no query */
        return NULL;
    }
    if (parser_enter(p) != CTX_OK) {
        return NULL;
    }
    select_stmt_t with = {0};
    select_stmt_t *s = NULL;
    int rc = parser_is_kw(p, 0, "with") ? parser_with(p, &with) : CTX_OK;
    if (rc == CTX_OK) {
        s = parser_set_operand(p);
    }
    while (s != NULL && (parser_is_kw(p, 0, "union") || parser_is_kw(p, 0, "intersect") ||
                         parser_is_kw(p, 0, "except"))) {
        select_stmt_t *set = arena_calloc(p->arena, 1, sizeof(*set));
        set->set_op = parser_is_kw(p, 0, "union")       ? SET_UNION
                      : parser_is_kw(p, 0, "intersect") ? SET_INTERSECT
                                                        : SET_EXCEPT;
        p->pos++;
        set->set_all = parser_accept_kw(p, "all");
        if (!set->set_all) {
            (void)parser_accept_kw(p, "distinct");
        }
        set->set_left = s;
        set->set_right = parser_set_operand(p);
        s = set->set_right != NULL ? set : NULL;
    }
    if (s != NULL && parser_order_limit(p, s) != CTX_OK) {
        s = NULL;
    }
    if (s != NULL && with.nctes > 0) {
        s->cte_names = with.cte_names;
        s->ctes = with.ctes;
        s->nctes = with.nctes;
        s->cte_recursive = with.cte_recursive;
        s->cte_columns = with.cte_columns;
        s->cte_ncolumns = with.cte_ncolumns;
    }
    parser_leave(p);
    return s;
}

/* SELECT [DISTINCT] items [FROM …] [WHERE …] [GROUP BY …] [HAVING …]. */
static select_stmt_t *parser_simple_select(parser_t *p) {
    CTX_ASSERT(parser_is_kw(p, 0, "select"));
    select_stmt_t *s = arena_calloc(p->arena, 1, sizeof(*s));
    int rc = CTX_OK;
    p->pos++;
    if (parser_is_kw(p, 0, "distinct") && parser_is_kw(p, 1, "on") && parser_is_op(p, 2, "(")) {
        p->pos += 3;
        if (parser_expr_list(p, &s->distinct_on, &s->ndistinct_on) != CTX_OK ||
            parser_expect_op(p, ")") != CTX_OK) {
            return NULL;
        }
    } else if (parser_accept_kw(p, "distinct")) {
        s->distinct = true;
    } else {
        (void)parser_accept_kw(p, "all");
    }
    const lex_token_t *t = parser_peek(p, 0);
    bool empty_list = t->kind == LEX_EOF || parser_is_op(p, 0, ";") || parser_is_op(p, 0, ")") ||
                      parser_is_kw(p, 0, "from");
    if (!empty_list) {
        rc = parser_select_items(p, &s->items, &s->nitems);
    }
    if (rc == CTX_OK) {
        rc = parser_select_tail(p, s);
    }
    return rc == CTX_OK ? s : NULL;
}

/* [schema.]table; the schema is dropped (ContextQL's writable tables are all in public). */
static const char *parser_table_name(parser_t *p, int *location) {
    *location = parser_peek(p, 0)->location;
    const char *name = parser_name(p, false);
    if (name != NULL && parser_accept_op(p, ".")) {
        name = parser_name(p, true);
    }
    return name;
}

/* ( col {, col} ) */
static int parser_column_list(parser_t *p, const char ***cols, int *n) {
    int cap = 0;
    if (parser_expect_op(p, "(") != CTX_OK) {
        return p->err->code;
    }
    do {
        const char *c = parser_name(p, false);
        if (c == NULL) {
            return p->err->code;
        }
        *cols = parser_grow(p, (void *)*cols, *n, &cap, sizeof(**cols));
        (*cols)[(*n)++] = c;
    } while (parser_accept_op(p, ","));
    return parser_expect_op(p, ")");
}

/* col = expr {, col = expr} */
static int parser_set_clauses(parser_t *p, set_clause_t **set, int *n) {
    int cap = 0;
    do {
        *set = parser_grow(p, *set, *n, &cap, sizeof(**set));
        set_clause_t *c = &(*set)[*n];
        c->location = parser_peek(p, 0)->location;
        c->column = parser_name(p, false);
        if (c->column == NULL || parser_expect_op(p, "=") != CTX_OK) {
            return p->err->code;
        }
        c->value = parser_expr(p);
        if (c->value == NULL) {
            return p->err->code;
        }
        (*n)++;
    } while (parser_accept_op(p, ","));
    return CTX_OK;
}

static int parser_returning(parser_t *p, select_item_t **items, int *n) {
    if (!parser_accept_kw(p, "returning")) {
        return CTX_OK;
    }
    return parser_select_items(p, items, n);
}

/* Entries of the VALUES row starting at the current "(" when each is a bare constant or DEFAULT
 * (followed by "," or ")"); 0 when the row holds anything else. */
static int parser_literal_row_length(const parser_t *p) {
    value_t v;
    ctype_t type;
    int n = 0;
    if (!parser_is_op(p, 0, "(")) {
        return 0;
    }
    for (int k = 1;; k += 2) {
        if (!parser_constant(p, k, &v, &type) && !parser_is_kw(p, k, "default")) {
            return 0;
        }
        n++;
        if (parser_is_op(p, k + 1, ")")) {
            return n;
        }
        if (!parser_is_op(p, k + 1, ",")) {
            return 0;
        }
    }
}

/* The VALUES row at the current "(" as insert_literal_t entries (n of them, all constants or
 * DEFAULT as parser_literal_row_length found): one allocation instead of n expression nodes. */
static insert_literal_t *parser_literal_row(parser_t *p, int n) {
    CTX_ASSERT(n > 0 && parser_is_op(p, 0, "("));
    insert_literal_t *row = arena_alloc(p->arena, sizeof(*row) * (size_t)n);
    for (int i = 0; i < n; i++) {
        const lex_token_t *t = parser_peek(p, 1 + 2 * i);
        ctype_t type = CT_UNKNOWN;
        row[i] = (insert_literal_t){.location = t->location};
        row[i].is_default = !parser_constant(p, 1 + 2 * i, &row[i].value, &type);
        row[i].type = (int16_t)type;
    }
    p->pos += 2 * n + 1; /* "(" and each entry with its "," or ")" */
    return row;
}

/* One VALUES row: ( expr | DEFAULT {, …} ); every row as long as the first. */
static int parser_values_row(parser_t *p, insert_stmt_t *ins, int *rows_cap) {
    expr_t **row = NULL;
    insert_literal_t *literals = NULL;
    int n = parser_literal_row_length(p);
    int cap = 0;
    int location = parser_peek(p, 0)->location;
    if (n > 0) {
        literals = parser_literal_row(p, n);
    } else if (parser_expect_op(p, "(") != CTX_OK) {
        return p->err->code;
    }
    while (literals == NULL) {
        expr_t *e = NULL;
        if (!parser_accept_kw(p, "default")) {
            e = parser_expr(p);
            if (e == NULL) {
                return p->err->code;
            }
        }
        row = parser_grow(p, row, n, &cap, sizeof(*row));
        row[n++] = e;
        if (!parser_accept_op(p, ",")) {
            break;
        }
    }
    if (literals == NULL && parser_expect_op(p, ")") != CTX_OK) {
        return p->err->code;
    }
    if (ins->nrows > 0 && n != ins->row_lengths[0]) {
        int rc = ctx_err_set(p->err, CTX_ESYNTAX, "VALUES lists must all be the same length");
        ctx_err_position(p->err, lex_char_position(p->text, p->len, location));
        return rc;
    }
    int lengths_cap = *rows_cap;
    int literals_cap = *rows_cap;
    ins->rows = parser_grow(p, ins->rows, ins->nrows, rows_cap, sizeof(*ins->rows));
    ins->row_lengths =
        parser_grow(p, ins->row_lengths, ins->nrows, &lengths_cap, sizeof(*ins->row_lengths));
    ins->literal_rows =
        parser_grow(p, ins->literal_rows, ins->nrows, &literals_cap, sizeof(*ins->literal_rows));
    CTX_ASSERT(lengths_cap == *rows_cap && literals_cap == *rows_cap);
    ins->rows[ins->nrows] = row;
    ins->literal_rows[ins->nrows] = literals;
    ins->row_lengths[ins->nrows++] = n;
    return CTX_OK;
}

/* ON CONFLICT [(cols)] DO NOTHING | DO UPDATE SET … [WHERE …]; after ON CONFLICT. */
static int parser_on_conflict(parser_t *p, insert_stmt_t *ins) {
    if (parser_is_op(p, 0, "(") &&
        parser_column_list(p, &ins->conflict_columns, &ins->nconflict_columns) != CTX_OK) {
        return p->err->code;
    }
    if (parser_expect_kw(p, "do") != CTX_OK) {
        return p->err->code;
    }
    if (parser_accept_kw(p, "nothing")) {
        ins->on_conflict = CONFLICT_NOTHING;
        return CTX_OK;
    }
    if (parser_expect_kw(p, "update") != CTX_OK || parser_expect_kw(p, "set") != CTX_OK) {
        return p->err->code;
    }
    ins->on_conflict = CONFLICT_UPDATE;
    if (parser_set_clauses(p, &ins->conflict_set, &ins->nconflict_set) != CTX_OK) {
        return p->err->code;
    }
    if (parser_accept_kw(p, "where")) {
        ins->conflict_where = parser_expr(p);
        if (ins->conflict_where == NULL) {
            return p->err->code;
        }
    }
    return CTX_OK;
}

int parser_insert(parser_t *p, stmt_t *out) {
    CTX_ASSERT(parser_is_kw(p, 0, "insert"));
    insert_stmt_t *ins = arena_calloc(p->arena, 1, sizeof(*ins));
    out->kind = STMT_INSERT;
    out->u.insert = ins;
    p->pos++;
    if (parser_expect_kw(p, "into") != CTX_OK) {
        return p->err->code;
    }
    ins->table = parser_table_name(p, &ins->table_location);
    if (ins->table == NULL) {
        return p->err->code;
    }
    if (parser_is_op(p, 0, "(") && parser_column_list(p, &ins->columns, &ins->ncolumns) != CTX_OK) {
        return p->err->code;
    }
    if (parser_expect_kw(p, "values") != CTX_OK) {
        return p->err->code;
    }
    int rows_cap = 0;
    do {
        if (parser_values_row(p, ins, &rows_cap) != CTX_OK) {
            return p->err->code;
        }
    } while (parser_accept_op(p, ","));
    if (parser_is_kw(p, 0, "on") && parser_is_kw(p, 1, "conflict")) {
        p->pos += 2;
        if (parser_on_conflict(p, ins) != CTX_OK) {
            return p->err->code;
        }
    }
    return parser_returning(p, &ins->returning, &ins->nreturning);
}

int parser_update(parser_t *p, stmt_t *out) {
    CTX_ASSERT(parser_is_kw(p, 0, "update"));
    update_stmt_t *u = arena_calloc(p->arena, 1, sizeof(*u));
    out->kind = STMT_UPDATE;
    out->u.update = u;
    p->pos++;
    (void)parser_accept_kw(p, "only");
    u->table = parser_table_name(p, &u->table_location);
    bool failed = u->table == NULL;
    if (!failed) {
        u->alias = parser_opt_alias(p, &failed);
    }
    if (failed || parser_expect_kw(p, "set") != CTX_OK ||
        parser_set_clauses(p, &u->set, &u->nset) != CTX_OK) {
        return p->err->code;
    }
    if (parser_accept_kw(p, "where")) {
        u->where = parser_expr(p);
        if (u->where == NULL) {
            return p->err->code;
        }
    }
    return parser_returning(p, &u->returning, &u->nreturning);
}

int parser_delete(parser_t *p, stmt_t *out) {
    CTX_ASSERT(parser_is_kw(p, 0, "delete"));
    delete_stmt_t *d = arena_calloc(p->arena, 1, sizeof(*d));
    out->kind = STMT_DELETE;
    out->u.del = d;
    p->pos++;
    if (parser_expect_kw(p, "from") != CTX_OK) {
        return p->err->code;
    }
    (void)parser_accept_kw(p, "only");
    d->table = parser_table_name(p, &d->table_location);
    bool failed = d->table == NULL;
    if (!failed) {
        d->alias = parser_opt_alias(p, &failed);
    }
    if (failed) {
        return p->err->code;
    }
    if (parser_accept_kw(p, "where")) {
        d->where = parser_expr(p);
        if (d->where == NULL) {
            return p->err->code;
        }
    }
    return parser_returning(p, &d->returning, &d->nreturning);
}
