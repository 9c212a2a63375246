/*
 * parser_admin.c — COPY, CREATE SNAPSHOT, VACUUM SNAPSHOTS and ALTER CLUSTER.
 *
 * COPY accepts both option syntaxes PostgreSQL accepts, because psql's \copy forwards whatever
 * the user typed after the table: the parenthesised list `(FORMAT csv, HEADER true, DELIMITER
 * ',', NULL '', QUOTE '"', ESCAPE '\')` and the pre-9.0 words `[WITH] [BINARY] [CSV] [HEADER]
 * [DELIMITER [AS] 'c'] [NULL [AS] 's'] [QUOTE [AS] 'q'] [ESCAPE [AS] 'e']`.
 */
#include "parser.h"

#include <ctype.h>
#include <string.h>

/* One-character option value ('\t' allowed); syntax error otherwise. */
static int copy_char_option(parser_t *p, char *out) {
    const lex_token_t *t = parser_peek(p, 0);
    if (t->kind != LEX_STRING || t->text_len != 1) {
        ctx_err_set(p->err, CTX_EBAD_PARAM,
                    "COPY delimiter, quote and escape must be a single "
                    "one-byte character");
        ctx_err_position(p->err, lex_char_position(p->text, p->len, t->location));
        return p->err->code;
    }
    *out = t->text[0];
    p->pos++;
    return CTX_OK;
}

static int copy_string_option(parser_t *p, const char **out) {
    const lex_token_t *t = parser_peek(p, 0);
    if (t->kind != LEX_STRING) {
        return parser_syntax_error(p);
    }
    *out = arena_strndup(p->arena, t->text, t->text_len);
    p->pos++;
    return CTX_OK;
}

/* An option value folded to lower case (quoted values keep their case in PostgreSQL only
 * where it matters; format names and booleans are case-insensitive). */
static const char *copy_lower(parser_t *p, const char *text, uint32_t len) {
    char *out = arena_strndup(p->arena, text, len);
    for (char *c = out; *c != '\0'; c++) {
        *c = (char)tolower((unsigned char)*c);
    }
    return out;
}

/* Optional boolean after HEADER: true/false/on/off/1/0, quoted or not; absent = true. */
static bool copy_bool_value(parser_t *p) {
    if (parser_accept_kw(p, "false") || parser_accept_kw(p, "off")) {
        return false;
    }
    const lex_token_t *t = parser_peek(p, 0);
    if (t->kind == LEX_INTEGER) {
        p->pos++;
        return t->ival != 0;
    }
    if (t->kind == LEX_STRING) {
        p->pos++;
        const char *v = copy_lower(p, t->text, t->text_len);
        return !(strcmp(v, "false") == 0 || strcmp(v, "off") == 0 || strcmp(v, "0") == 0 ||
                 strcmp(v, "f") == 0 || strcmp(v, "no") == 0);
    }
    (void)(parser_accept_kw(p, "true") || parser_accept_kw(p, "on"));
    return true;
}

/* One option word (shared by both syntaxes); *matched false when the word is not an option. */
static int copy_option(parser_t *p, copy_stmt_t *c, bool modern, bool *matched) {
    *matched = true;
    if (parser_accept_kw(p, "format")) {
        const lex_token_t *t = parser_peek(p, 0);
        if (t->kind == LEX_STRING) { /* FORMAT 'csv': option values may be quoted */
            p->pos++;
            c->format = copy_lower(p, t->text, t->text_len);
            return CTX_OK;
        }
        const char *f = parser_name(p, true);
        if (f == NULL) {
            return p->err->code;
        }
        c->format = f;
        return CTX_OK;
    }
    if (parser_accept_kw(p, "csv") || parser_accept_kw(p, "binary")) {
        const lex_token_t *t = &p->toks[p->pos - 1];
        c->format = arena_strndup(p->arena, t->text, t->text_len);
        return CTX_OK;
    }
    if (parser_accept_kw(p, "header")) {
        c->header = modern ? copy_bool_value(p) : true;
        return CTX_OK;
    }
    static const char *const char_options[] = {"delimiter", "quote", "escape"};
    char *targets[] = {&c->delimiter, &c->quote, &c->escape};
    for (int i = 0; i < 3; i++) {
        if (parser_accept_kw(p, char_options[i])) {
            (void)(!modern && parser_accept_kw(p, "as"));
            return copy_char_option(p, targets[i]);
        }
    }
    if (parser_accept_kw(p, "null")) {
        (void)(!modern && parser_accept_kw(p, "as"));
        return copy_string_option(p, &c->null_string);
    }
    *matched = false;
    return CTX_OK;
}

static int copy_options(parser_t *p, copy_stmt_t *c) {
    bool with = parser_accept_kw(p, "with");
    bool matched;
    if (parser_accept_op(p, "(")) {
        do {
            int rc = copy_option(p, c, true, &matched);
            if (rc != CTX_OK || !matched) {
                return rc != CTX_OK ? rc : parser_syntax_error(p);
            }
        } while (parser_accept_op(p, ","));
        return parser_expect_op(p, ")");
    }
    (void)with;
    for (;;) {
        int rc = copy_option(p, c, false, &matched);
        if (rc != CTX_OK || !matched) {
            return rc;
        }
    }
}

static int copy_source(parser_t *p, copy_stmt_t *c) {
    if (parser_accept_op(p, "(")) {
        if (!parser_is_select_start(p, 0)) {
            return parser_syntax_error(p);
        }
        c->query = parser_select(p);
        if (c->query == NULL) {
            return p->err->code;
        }
        return parser_expect_op(p, ")");
    }
    c->table_location = parser_peek(p, 0)->location;
    c->table = parser_name(p, false);
    if (c->table != NULL && parser_accept_op(p, ".")) {
        c->table = parser_name(p, true);
    }
    if (c->table == NULL) {
        return p->err->code;
    }
    if (!parser_accept_op(p, "(")) {
        return CTX_OK;
    }
    int cap = 0;
    do {
        const char *col = parser_name(p, false);
        if (col == NULL) {
            return p->err->code;
        }
        c->columns = parser_grow(p, (void *)c->columns, c->ncolumns, &cap, sizeof(char *));
        c->columns[c->ncolumns++] = col;
    } while (parser_accept_op(p, ","));
    return parser_expect_op(p, ")");
}

int parser_copy_stmt(parser_t *p, stmt_t *out) {
    CTX_ASSERT(parser_is_kw(p, 0, "copy"));
    p->pos++;
    copy_stmt_t *c = arena_calloc(p->arena, 1, sizeof(*c));
    out->kind = STMT_COPY;
    out->u.copy = c;
    int rc = copy_source(p, c);
    if (rc != CTX_OK) {
        return rc;
    }
    if (parser_accept_kw(p, "from")) {
        c->from = true;
        if (c->query != NULL) {
            return parser_syntax_error(p);
        }
        if (!parser_accept_kw(p, "stdin")) {
            ctx_err_set(p->err, CTX_EFEATURE, "COPY FROM supports STDIN only");
            ctx_err_hint(p->err, "Use psql's \\copy to read a client-side file.");
            return p->err->code;
        }
    } else if (parser_accept_kw(p, "to")) {
        if (!parser_accept_kw(p, "stdout")) {
            ctx_err_set(p->err, CTX_EFEATURE, "COPY TO supports STDOUT only");
            ctx_err_hint(p->err, "Use psql's \\copy to write a client-side file.");
            return p->err->code;
        }
    } else {
        return parser_syntax_error(p);
    }
    return copy_options(p, c);
}

int parser_snapshot_admin(parser_t *p, stmt_t *out) {
    if (parser_accept_kw(p, "create")) {
        if (parser_expect_kw(p, "snapshot") != CTX_OK) {
            return p->err->code;
        }
        out->kind = STMT_CREATE_SNAPSHOT;
        return CTX_OK;
    }
    if (parser_expect_kw(p, "vacuum") != CTX_OK || parser_expect_kw(p, "snapshots") != CTX_OK ||
        parser_expect_kw(p, "keep") != CTX_OK) {
        return p->err->code;
    }
    const lex_token_t *t = parser_peek(p, 0);
    if (t->kind != LEX_INTEGER || t->ival < 0) {
        return parser_syntax_error(p);
    }
    p->pos++;
    out->kind = STMT_VACUUM_SNAPSHOTS;
    out->u.vacuum = arena_calloc(p->arena, 1, sizeof(vacuum_stmt_t));
    out->u.vacuum->keep = t->ival;
    return CTX_OK;
}

/* ALTER CLUSTER ADD NODE id 'host:port' | ALTER CLUSTER REMOVE NODE id. */
int parser_alter_cluster(parser_t *p, stmt_t *out) {
    if (parser_expect_kw(p, "alter") != CTX_OK || parser_expect_kw(p, "cluster") != CTX_OK) {
        return p->err->code;
    }
    bool add = parser_accept_kw(p, "add");
    if (!add && parser_expect_kw(p, "remove") != CTX_OK) {
        return p->err->code;
    }
    if (parser_expect_kw(p, "node") != CTX_OK) {
        return p->err->code;
    }
    const lex_token_t *t = parser_peek(p, 0);
    if (t->kind != LEX_INTEGER) {
        return parser_syntax_error(p);
    }
    if (t->ival < 1 || t->ival > INT32_MAX) {
        ctx_err_set(p->err, CTX_EBAD_PARAM, "node id must be between 1 and %d", INT32_MAX);
        ctx_err_position(p->err, lex_char_position(p->text, p->len, t->location));
        return p->err->code;
    }
    p->pos++;
    alter_cluster_stmt_t *a = arena_calloc(p->arena, 1, sizeof(*a));
    a->add = add;
    a->id = t->ival;
    if (add && copy_string_option(p, &a->address) != CTX_OK) {
        return p->err->code;
    }
    out->kind = STMT_ALTER_CLUSTER;
    out->u.alter_cluster = a;
    return CTX_OK;
}

/* `AS OF SNAPSHOT expr` after a FROM table or table function (the caller checked the words). */
int parser_as_of(parser_t *p, from_item_t *f) {
    CTX_ASSERT(parser_is_kw(p, 0, "as") && parser_is_kw(p, 1, "of"));
    p->pos += 2;
    if (parser_expect_kw(p, "snapshot") != CTX_OK) {
        return p->err->code;
    }
    f->as_of = parser_primary(p);
    return f->as_of == NULL ? p->err->code : CTX_OK;
}
