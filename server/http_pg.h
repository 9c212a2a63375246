/*
 * http_pg.h — a small blocking pgwire client the HTTP server uses to run SQL on our own event
 * loop, so that every HTTP request goes through exactly the command path pgwire clients use.
 *
 * A connection is one end of a socketpair whose other end the event loop adopted as an
 * authenticated session (loop_adopt). Statements run with the extended protocol: for each
 * statement Parse (unnamed, parameter types inferred), Bind (text parameters, so values are
 * never spliced into SQL text), Describe (portal) and Execute, then one Sync for the whole list.
 * The messages between two Syncs form one implicit transaction on the server, so a list of
 * statements is atomic: all of them apply, or none (the server skips the rest after an error).
 *
 * Results come back as jansson values typed by the column OIDs: integers, floats, booleans,
 * json/jsonb and vector (pgvector text is a JSON array) parsed, everything else as strings,
 * SQL NULL as JSON null.
 *
 * A connection is used by one thread at a time. After an I/O error or a FATAL from the server it
 * is broken (hpg_broken) and must be closed.
 */
#ifndef CTX_HTTP_PG_H
#define CTX_HTTP_PG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    HPG_MESSAGE_BYTES_MAX = 256 * 1024 * 1024, /* largest backend message accepted */
    HPG_STATEMENTS_MAX = 100000,               /* statements in one hpg_run */
    HPG_PARAMS_MAX = 65535,                    /* the protocol's Int16 count */
};

typedef struct hpg_conn hpg_conn_t;

/* The error a statement (or the connection) ended with. sqlstate "08006" for a broken
 * connection (I/O error, unexpected message). */
typedef struct hpg_error {
    char sqlstate[6];
    char message[512];
    char detail[512];
} hpg_error_t;

/* One statement: text with $1…$n and n text parameters (a NULL entry is SQL NULL). */
typedef struct hpg_stmt {
    const char *sql;
    size_t nparams;
    const char *const *params;
} hpg_stmt_t;

/* A statement's result. columns: array of {"name", "type"}; rows: array of arrays (both empty
 * arrays when the statement returns no rows). tag: the CommandComplete tag. Owned by the
 * caller: hpg_result_clear releases it. */
typedef struct hpg_result {
    json_t *columns;
    json_t *rows;
    char tag[64];
} hpg_result_t;

/* Takes ownership of fd (a connected stream socket; blocking I/O, reads time out after
 * timeout_ms, 0 = never), sends the StartupMessage for user and reads up to ReadyForQuery.
 * Returns 0 and *out, or -1 with err (fd closed). */
int hpg_connect(int fd, const char *user, uint32_t timeout_ms, hpg_conn_t **out, hpg_error_t *err);
/* Closes the socket and frees. NULL is a no-op. */
void hpg_close(hpg_conn_t *conn);
/* Whether the connection can no longer be used. */
bool hpg_broken(const hpg_conn_t *conn);

/* Runs count statements as one implicit transaction (see above). On success returns 0 and fills
 * results[0..count) (results may be NULL to discard them). On failure returns -1 with err: the
 * first statement error (nothing applied), or a connection error (then hpg_broken). results are
 * cleared on failure. */
int hpg_run(hpg_conn_t *conn, const hpg_stmt_t *stmts, size_t count, hpg_result_t *results,
            hpg_error_t *err);

void hpg_result_clear(hpg_result_t *result);

#endif
