/*
 * parser_cursor.c — savepoints and cursors: SAVEPOINT, RELEASE, ROLLBACK TO, DECLARE … CURSOR,
 * FETCH, MOVE and CLOSE, in PostgreSQL 15's grammar.
 *
 * FETCH's directions are normalised to four (ast.h fetch_direction_t) with a count: NEXT is
 * FORWARD 1, PRIOR BACKWARD 1, FIRST ABSOLUTE 1, LAST ABSOLUTE -1, a bare n FORWARD n, ALL and
 * FORWARD ALL FORWARD INT64_MAX; the session (cursor.c) implements only those four. DECLARE keeps
 * its query as a parsed SELECT, planned and run when the statement executes.
 */
#include "parser.h"

#include <stdint.h>

/* The savepoint or cursor name after the keywords. */
static int cursor_name(parser_t *p, const char **out) {
    *out = parser_name(p, false);
    return *out == NULL ? p->err->code : CTX_OK;
}

/* SAVEPOINT name | RELEASE [SAVEPOINT] name; the current token is SAVEPOINT or RELEASE. */
int parser_savepoint(parser_t *p, stmt_t *out) {
    out->kind = parser_is_kw(p, 0, "savepoint") ? STMT_SAVEPOINT : STMT_RELEASE;
    p->pos++;
    if (out->kind == STMT_RELEASE) {
        (void)parser_accept_kw(p, "savepoint");
    }
    out->u.savepoint = arena_calloc(p->arena, 1, sizeof(*out->u.savepoint));
    return cursor_name(p, &out->u.savepoint->name);
}

/* After ROLLBACK [WORK|TRANSACTION]: TO [SAVEPOINT] name. */
int parser_rollback_to(parser_t *p, stmt_t *out) {
    int rc = parser_expect_kw(p, "to");
    if (rc != CTX_OK) {
        return rc;
    }
    (void)parser_accept_kw(p, "savepoint");
    out->kind = STMT_ROLLBACK_TO;
    out->u.savepoint = arena_calloc(p->arena, 1, sizeof(*out->u.savepoint));
    return cursor_name(p, &out->u.savepoint->name);
}

/* DECLARE name [BINARY] [ASENSITIVE|INSENSITIVE] [[NO] SCROLL] CURSOR [WITH|WITHOUT HOLD]
 * FOR select. */
static int parser_declare(parser_t *p, stmt_t *out) {
    cursor_stmt_t *c = out->u.cursor;
    p->pos++;
    int rc = cursor_name(p, &c->name);
    for (bool more = true; rc == CTX_OK && more;) {
        if (parser_accept_kw(p, "binary")) {
            c->binary = true;
        } else if (parser_accept_kw(p, "scroll")) {
            c->scroll = SCROLL_YES;
        } else if (parser_is_kw(p, 0, "no") && parser_is_kw(p, 1, "scroll")) {
            p->pos += 2;
            c->scroll = SCROLL_NO;
        } else {
            more = parser_accept_kw(p, "insensitive") || parser_accept_kw(p, "asensitive");
        }
    }
    rc = rc == CTX_OK ? parser_expect_kw(p, "cursor") : rc;
    if (rc == CTX_OK && (parser_is_kw(p, 0, "with") || parser_is_kw(p, 0, "without"))) {
        c->hold = parser_accept_kw(p, "with");
        (void)parser_accept_kw(p, "without");
        rc = parser_expect_kw(p, "hold");
    }
    rc = rc == CTX_OK ? parser_expect_kw(p, "for") : rc;
    if (rc != CTX_OK) {
        return rc;
    }
    if (!parser_is_select_start(p, 0)) {
        return parser_syntax_error(p);
    }
    c->query_location = parser_peek(p, 0)->location;
    c->query = parser_select(p);
    return c->query == NULL ? p->err->code : CTX_OK;
}

/* A signed integer count; *ok false when the current token is none. */
static int64_t fetch_count(parser_t *p, bool *ok) {
    bool negative = parser_is_op(p, 0, "-") && parser_peek(p, 1)->kind == LEX_INTEGER;
    if (negative) {
        p->pos++;
    }
    const lex_token_t *t = parser_peek(p, 0);
    *ok = t->kind == LEX_INTEGER;
    if (!*ok) {
        return 0;
    }
    p->pos++;
    return negative ? -t->ival : t->ival;
}

/* FORWARD/BACKWARD's optional [n | ALL] (default 1); a negative n turns the direction. */
static void fetch_stepped(parser_t *p, cursor_stmt_t *c, fetch_direction_t direction) {
    bool ok = false;
    c->direction = direction;
    c->count = 1;
    if (parser_accept_kw(p, "all")) {
        c->count = INT64_MAX;
        return;
    }
    int64_t n = fetch_count(p, &ok);
    if (ok) {
        c->count = n < 0 ? -n : n;
        if (n < 0) {
            c->direction = direction == FETCH_FORWARD ? FETCH_BACKWARD : FETCH_FORWARD;
        }
    }
}

/* The direction clause of FETCH / MOVE (absent = NEXT). */
static int fetch_direction(parser_t *p, cursor_stmt_t *c) {
    bool ok = true;
    c->direction = FETCH_FORWARD;
    c->count = 1;
    if (parser_accept_kw(p, "next")) {
    } else if (parser_accept_kw(p, "prior")) {
        c->direction = FETCH_BACKWARD;
    } else if (parser_accept_kw(p, "first") || parser_accept_kw(p, "last")) {
        c->direction = FETCH_ABSOLUTE;
        c->count = p->toks[p->pos - 1].text[0] == 'f' ? 1 : -1;
    } else if (parser_accept_kw(p, "absolute") || parser_accept_kw(p, "relative")) {
        c->direction = p->toks[p->pos - 1].text[0] == 'a' ? FETCH_ABSOLUTE : FETCH_RELATIVE;
        c->count = fetch_count(p, &ok);
    } else if (parser_accept_kw(p, "all")) {
        c->count = INT64_MAX;
    } else if (parser_accept_kw(p, "forward")) {
        fetch_stepped(p, c, FETCH_FORWARD);
    } else if (parser_accept_kw(p, "backward")) {
        fetch_stepped(p, c, FETCH_BACKWARD);
    } else if (parser_peek(p, 0)->kind == LEX_INTEGER || parser_is_op(p, 0, "-")) {
        int64_t n = fetch_count(p, &ok);
        c->count = n < 0 ? -n : n;
        c->direction = n < 0 ? FETCH_BACKWARD : FETCH_FORWARD;
    }
    return ok ? CTX_OK : parser_syntax_error(p);
}

/* FETCH / MOVE [direction] [FROM | IN] name; CLOSE name | ALL. */
static int parser_fetch_close(parser_t *p, stmt_t *out) {
    cursor_stmt_t *c = out->u.cursor;
    bool close = parser_is_kw(p, 0, "close");
    out->kind = close ? STMT_CLOSE : (parser_is_kw(p, 0, "fetch") ? STMT_FETCH : STMT_MOVE);
    p->pos++;
    if (close) {
        return parser_accept_kw(p, "all") ? CTX_OK : cursor_name(p, &c->name);
    }
    /* a lone name is the cursor, not a direction keyword (FETCH next_cursor is not FETCH NEXT) */
    bool lone =
        parser_is_name(p, 0) && (parser_is_op(p, 1, ";") || parser_peek(p, 1)->kind == LEX_EOF);
    c->direction = FETCH_FORWARD;
    c->count = 1;
    int rc = lone ? CTX_OK : fetch_direction(p, c);
    if (rc == CTX_OK && !parser_accept_kw(p, "from")) {
        (void)parser_accept_kw(p, "in");
    }
    return rc == CTX_OK ? cursor_name(p, &c->name) : rc;
}

int parser_cursor_stmt(parser_t *p, stmt_t *out) {
    out->u.cursor = arena_calloc(p->arena, 1, sizeof(*out->u.cursor));
    if (parser_is_kw(p, 0, "declare")) {
        out->kind = STMT_DECLARE;
        return parser_declare(p, out);
    }
    return parser_fetch_close(p, out);
}
