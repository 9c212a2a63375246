/*
 * cursor.c — SQL cursors (contract in cursor.h).
 *
 * DECLARE materialises: the query is planned and run once, at DECLARE, into an arena the cursor
 * owns, and FETCH / MOVE then move a position over those rows. This gives every cursor the
 * behaviour of PostgreSQL's SCROLL and WITH HOLD cursors at no extra cost (the rows no longer
 * depend on the transaction or the store), and it keeps the executor free of suspended plans.
 * The price is memory for the whole result, which is why the cursor's arena carries the
 * statement_mem_limit of the session at DECLARE.
 *
 * Position follows PostgreSQL: 0 is before the first row, 1..n on a row, n + 1 after the last.
 * FORWARD k returns rows pos+1 … and leaves the position on the last row returned (or after the
 * end); BACKWARD k mirrors it; ABSOLUTE / RELATIVE move to one row and return it when it exists.
 */
#include "cursor.h"

#include "session_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct sql_cursor {
    char *name;
    arena_t arena; /* the rows and columns below */
    sql_column_t *cols;
    int ncols;
    value_t *rows; /* row-major, nrows * ncols */
    uint64_t nrows;
    uint64_t pos;
    bool hold;
    bool no_scroll;
    bool in_txn; /* declared in the transaction still open */
    sql_cursor_t *next;
};

static sql_cursor_t *cursor_find(sql_session_t *s, const char *name, sql_cursor_t ***link) {
    sql_cursor_t **at = &s->cursors;
    while (*at != NULL && strcmp((*at)->name, name) != 0) {
        at = &(*at)->next;
    }
    if (link != NULL) {
        *link = at;
    }
    return *at;
}

static void cursor_free(sql_session_t *s, sql_cursor_t **link) {
    sql_cursor_t *c = *link;
    CTX_ASSERT(c != NULL && s->ncursors > 0);
    *link = c->next;
    arena_destroy(&c->arena);
    free(c->name);
    free(c);
    s->ncursors--;
}

/* Keeps a result in the cursor's arena: column names and values may point into the statement's
 * arena (the query text's constants) or the store, neither of which outlives the statement. */
static void cursor_own(sql_cursor_t *c, const sql_result_t *rows) {
    c->ncols = rows->ncols;
    c->cols = rows->cols;
    for (int i = 0; i < c->ncols; i++) {
        c->cols[i].name = arena_strdup(&c->arena, c->cols[i].name);
    }
    c->nrows = rows->nrows;
    c->rows = rows->rows;
    uint64_t cells = rows->nrows * (uint64_t)rows->ncols;
    for (uint64_t i = 0; i < cells; i++) {
        c->rows[i] = value_copy(&c->rows[i], &c->arena);
    }
}

int cursor_declare(sql_session_t *s, const cursor_stmt_t *stmt, const char *text, bool in_block,
                   arena_t *arena, sql_result_t *result, ctx_err_t *err) {
    CTX_ASSERT(stmt->name != NULL && stmt->query != NULL);
    if (!in_block && !stmt->hold) {
        return ctx_err_set(err, CTX_ENO_TXN,
                           "DECLARE CURSOR can only be used in transaction blocks");
    }
    if (cursor_find(s, stmt->name, NULL) != NULL) {
        return ctx_err_set(err, CTX_EDUP_CURSOR, "cursor \"%s\" already exists", stmt->name);
    }
    if (s->ncursors >= CURSOR_SESSION_MAX) {
        return ctx_err_set(err, CTX_ELIMIT, "too many open cursors (at most %d per session)",
                           CURSOR_SESSION_MAX);
    }
    sql_cursor_t *c = ctx_calloc(1, sizeof(*c));
    arena_init(&c->arena);
    arena_set_limit(&c->arena, session_mem_limit(s));
    sql_result_t rows = {0};
    int rc = session_run_select(s, stmt->query, text, &c->arena, &rows, err);
    if (rc == CTX_OK) {
        cursor_own(c, &rows);
    }
    if (rc == CTX_OK && arena_exhausted(&c->arena)) {
        rc = arena_limit_error(&c->arena, "statement_mem_limit", err);
    }
    if (rc != CTX_OK) {
        arena_destroy(&c->arena);
        free(c);
        return rc;
    }
    c->name = ctx_strdup(stmt->name);
    c->hold = stmt->hold;
    c->no_scroll = stmt->scroll == SCROLL_NO;
    c->in_txn = in_block;
    c->next = s->cursors;
    s->cursors = c;
    s->ncursors++;
    (void)arena;
    result->tag = "DECLARE CURSOR";
    return CTX_OK;
}

/* The position a FETCH moves to (clamped to 0 … n + 1) and the row range it returns:
 * [*first, *first + *count) walked upwards, or downwards from *first when *backward. */
static void cursor_plan_move(const sql_cursor_t *c, const cursor_stmt_t *stmt, uint64_t *target,
                             uint64_t *first, uint64_t *count, bool *backward) {
    uint64_t n = c->nrows;
    uint64_t k = stmt->count < 0 ? 0 : (uint64_t)stmt->count; /* FORWARD / BACKWARD: ≥ 0 */
    *backward = false;
    *count = 0;
    *first = 0;
    if (stmt->direction == FETCH_FORWARD && k == 0) { /* FETCH FORWARD 0: the current row */
        *target = c->pos;
        *first = c->pos;
        *count = c->pos >= 1 && c->pos <= n ? 1 : 0;
        return;
    }
    if (stmt->direction == FETCH_FORWARD) {
        uint64_t avail = c->pos >= n ? 0 : n - c->pos;
        *count = k < avail ? k : avail;
        *first = c->pos + 1;
        *target = k > avail ? n + 1 : c->pos + k;
        return;
    }
    if (stmt->direction == FETCH_BACKWARD) {
        uint64_t avail = c->pos == 0 ? 0 : c->pos - 1;
        *backward = true;
        *count = k < avail ? k : avail;
        *first = c->pos - 1;
        *target = k > avail ? 0 : c->pos - k;
        return;
    }
    int64_t to = stmt->count;
    if (stmt->direction == FETCH_ABSOLUTE) {
        to = stmt->count < 0 ? (int64_t)n + 1 + stmt->count : stmt->count;
    } else {
        to = (int64_t)c->pos + stmt->count;
    }
    *target = to <= 0 ? 0 : ((uint64_t)to > n ? n + 1 : (uint64_t)to);
    if (*target >= 1 && *target <= n) {
        *first = *target;
        *count = 1;
    }
}

int cursor_fetch(sql_session_t *s, const cursor_stmt_t *stmt, bool move, bool describing,
                 arena_t *arena, sql_result_t *result, ctx_err_t *err) {
    sql_cursor_t *c = cursor_find(s, stmt->name, NULL);
    if (c == NULL) {
        return ctx_err_set(err, CTX_EUNDEF_CURSOR, "cursor \"%s\" does not exist", stmt->name);
    }
    if (!move) {
        result->has_rows = true;
        result->ncols = c->ncols;
        result->cols = arena_calloc(arena, (size_t)c->ncols + 1, sizeof(sql_column_t));
        for (int i = 0; i < c->ncols; i++) {
            result->cols[i] = c->cols[i];
            result->cols[i].name = arena_strdup(arena, c->cols[i].name);
        }
    }
    if (describing) {
        return CTX_OK;
    }
    uint64_t target, first, count;
    bool backward;
    cursor_plan_move(c, stmt, &target, &first, &count, &backward);
    if (c->no_scroll && target < c->pos) {
        ctx_err_set(err, CTX_EPREREQ, "cursor can only scan forward");
        ctx_err_hint(err, "Declare it with SCROLL option to enable backward scan.");
        return err->code;
    }
    if (!move && count > 0) {
        size_t width = (size_t)c->ncols;
        result->rows = arena_try_calloc(arena, (size_t)count * width + 1, sizeof(value_t));
        if (result->rows == NULL) {
            return arena_limit_error(arena, "statement_mem_limit", err);
        }
        for (uint64_t r = 0; r < count; r++) {
            uint64_t row = backward ? first - r : first + r; /* 1-based */
            for (size_t col = 0; col < width; col++) {
                result->rows[r * width + col] =
                    value_copy(&c->rows[(row - 1) * width + col], arena);
            }
        }
        result->nrows = count;
    }
    c->pos = target;
    result->tag =
        arena_sprintf(arena, "%s %llu", move ? "MOVE" : "FETCH", (unsigned long long)count);
    return CTX_OK;
}

int cursor_close(sql_session_t *s, const cursor_stmt_t *stmt, sql_result_t *result,
                 ctx_err_t *err) {
    result->tag = "CLOSE CURSOR";
    if (stmt->name == NULL) {
        cursor_close_all(s);
        return CTX_OK;
    }
    sql_cursor_t **link;
    if (cursor_find(s, stmt->name, &link) == NULL) {
        return ctx_err_set(err, CTX_EUNDEF_CURSOR, "cursor \"%s\" does not exist", stmt->name);
    }
    cursor_free(s, link);
    return CTX_OK;
}

void cursor_txn_end(sql_session_t *s, bool committed) {
    sql_cursor_t **link = &s->cursors;
    while (*link != NULL) {
        sql_cursor_t *c = *link;
        if (!c->hold || (c->in_txn && !committed)) {
            cursor_free(s, link);
        } else {
            c->in_txn = false;
            link = &c->next;
        }
    }
}

void cursor_close_all(sql_session_t *s) {
    while (s->cursors != NULL) {
        cursor_free(s, &s->cursors);
    }
    CTX_ASSERT(s->ncursors == 0);
}
