/*
 * extended.h — the extended query protocol of one connection: prepared statements and portals
 * (Parse, Bind, Describe, Execute, Close, Sync), independent of sockets like conn.h.
 *
 * conn.c owns one ext_t per connection and hands each decoded message over together with an
 * ext_io_t (the session, the output buffer, a per-message scratch arena). On failure a function
 * returns a negative code with err set and has queued nothing for that message: the caller sends
 * the ErrorResponse, marks the session's query failed and discards messages until Sync, as
 * PostgreSQL does. ext_sync() then ends the implicit transaction and the caller sends exactly one
 * ReadyForQuery.
 *
 * Transactions: messages between two Syncs form one implicit transaction (like the statements of
 * one simple Query): the first Execute opens it with sql_query_begin, ext_sync closes it with
 * sql_query_end, so an error anywhere in a pipeline undoes the writes of that pipeline outside an
 * explicit block.
 *
 * Memory: each statement and each portal owns an arena, freed when it is closed or replaced.
 * A portal keeps its whole result (materialized at its first Execute, values deep-copied when
 * rows remain) until it is closed, replaced, or the transaction ends (ext_sync in state idle).
 */
#ifndef CTX_EXTENDED_H
#define CTX_EXTENDED_H

#include "arena.h"
#include "buf.h"
#include "ctx.h"
#include "pgwire.h"
#include "sql.h"

#include <stdbool.h>

enum {
    EXT_STATEMENTS_MAX = 10000, /* named prepared statements per connection */
    EXT_PORTALS_MAX = 1000,     /* named portals per connection */
};

typedef struct ext ext_t;

typedef struct ext_io {
    sql_session_t *session;
    buf_t *out;
    arena_t *arena; /* scratch, reset by the caller after the message */
    /* Execute of a COPY statement: the caller takes over (CopyInResponse / CopyOut...). stmt and
     * text are in the portal's memory, valid during the call. Returns 0 or an error. */
    int (*copy)(void *copy_ctx, const stmt_t *stmt, const char *text, ctx_err_t *err);
    void *copy_ctx;
} ext_io_t;

ext_t *ext_create(void);
/* Frees every statement and portal. NULL is a no-op. */
void ext_destroy(ext_t *ext);

int ext_parse(ext_t *ext, const ext_io_t *io, const pgw_parse_t *msg, ctx_err_t *err);
int ext_bind(ext_t *ext, const ext_io_t *io, const pgw_bind_t *msg, ctx_err_t *err);
int ext_describe(ext_t *ext, const ext_io_t *io, const pgw_target_t *msg, ctx_err_t *err);
int ext_execute(ext_t *ext, const ext_io_t *io, const pgw_execute_t *msg, ctx_err_t *err);
int ext_close(ext_t *ext, const ext_io_t *io, const pgw_target_t *msg, ctx_err_t *err);

/* Sync: ends the implicit transaction (its commit may fail: then err is set and the error must
 * be sent before ReadyForQuery), drops every portal when the session is no longer in a block.
 * Does not send ReadyForQuery. */
int ext_sync(ext_t *ext, const ext_io_t *io, ctx_err_t *err);

/* DEALLOCATE [PREPARE] name | ALL (prepared statements are connection state the SQL layer does
 * not see). ext_match_deallocate tells whether sql is such a statement (name folded, up to cap
 * bytes); ext_deallocate performs it: 26000 when the name is unknown. */
bool ext_match_deallocate(const char *sql, char *name, size_t cap, bool *all);
int ext_deallocate(ext_t *ext, const char *sql, ctx_err_t *err);

/* Whether an Execute opened an implicit transaction that no Sync has closed yet. */
bool ext_in_query(const ext_t *ext);

/* A simple Query ends whatever the extended messages before it left open: the implicit
 * transaction is closed (as at Sync) and the unnamed portal dropped. */
int ext_before_simple_query(ext_t *ext, const ext_io_t *io, ctx_err_t *err);

/* The transaction state changed outside ext (a simple Query ran): drops every portal when the
 * session is idle. */
void ext_after_simple_query(ext_t *ext, sql_session_t *session);

#endif
