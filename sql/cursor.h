/*
 * cursor.h — SQL cursors of a session: DECLARE … CURSOR, FETCH, MOVE, CLOSE (cursor.c).
 *
 * A cursor owns its rows: DECLARE runs the query to completion into the cursor's own arena
 * (bounded by statement_mem_limit, 53200 past it), and FETCH / MOVE walk that result in either
 * direction. Cursors live in a list on the session; the session calls cursor_txn_end when a
 * transaction ends so cursors without HOLD close with it.
 */
#ifndef CTX_SQL_CURSOR_H
#define CTX_SQL_CURSOR_H

#include "ast.h"
#include "sql.h"

typedef struct sql_cursor sql_cursor_t;

enum { CURSOR_SESSION_MAX = 10000 }; /* open cursors per session before 54000 */

/* DECLARE: runs stmt's query (text is the whole query string its locations point into) and keeps
 * the rows under stmt's name. in_block: a transaction block (explicit or implicit) is open;
 * without it only WITH HOLD is allowed (25P01). 42P03 for a name in use. */
int cursor_declare(sql_session_t *s, const cursor_stmt_t *stmt, const char *text, bool in_block,
                   arena_t *arena, sql_result_t *result, ctx_err_t *err);
/* FETCH / MOVE (move: no rows, tag MOVE n); describing: only the columns, position unchanged.
 * Rows and columns are copied into arena. 34000 for an unknown cursor, 55000 for a backward move
 * of a NO SCROLL cursor. */
int cursor_fetch(sql_session_t *s, const cursor_stmt_t *stmt, bool move, bool describing,
                 arena_t *arena, sql_result_t *result, ctx_err_t *err);
/* CLOSE name | CLOSE ALL. */
int cursor_close(sql_session_t *s, const cursor_stmt_t *stmt, sql_result_t *result, ctx_err_t *err);
/* The transaction ended: cursors without HOLD close, and so do all cursors declared in it when
 * it did not commit. */
void cursor_txn_end(sql_session_t *s, bool committed);
/* Closes every cursor (session end). */
void cursor_close_all(sql_session_t *s);

#endif
