/*
 * conn.h — one client connection's protocol state machine, independent of sockets.
 *
 * The event loop (loop.h) owns the socket: it appends received bytes to conn_input(), calls
 * conn_process(), and writes out whatever conn_output() holds. conn.c turns bytes into protocol
 * actions: the startup phase (SSLRequest answered 'S' when the server has TLS configured — the
 * loop then runs TLS on the socket, see conn_take_tls_start — and 'N' otherwise; GSSENCRequest
 * answered 'N'; CancelRequest; StartupMessage, then trust, SCRAM-SHA-256 or MD5 authentication
 * through auth.h), then simple Query execution through the SQL layer, the extended protocol
 * (Parse / Bind / Describe / Execute / Close / Sync through extended.h), COPY FROM STDIN and TO
 * STDOUT, and Terminate. Replies to work that is not durable yet are held back until the server's
 * reply_ready callback allows them (conn_waiting / conn_resume). Because it never touches a
 * socket, it is driven by byte vectors in unit tests as well as by the loop.
 *
 * Ownership: a conn_t owns its session, its statement arena and both buffers. The conn_server_t
 * it is created with must outlive it.
 */
#ifndef CTX_CONN_H
#define CTX_CONN_H

#include "buf.h"
#include "ctx.h"
#include "sql.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct conn conn_t;

/* Services and limits that every connection of one server shares. */
typedef struct conn_server {
    sql_db_t *db;
    uint32_t message_bytes_max; /* bound of one regular frontend message (length field) */
    uint32_t sessions_max;      /* max_connections: authenticated sessions at once */
    uint32_t sessions_active;   /* maintained by conn.c */
    /* Finds the connection whose BackendKeyData pid is backend_pid, or NULL (CancelRequest). */
    conn_t *(*lookup)(void *lookup_ctx, int32_t backend_pid);
    void *lookup_ctx;
    struct cancel_watch *watch; /* statement_timeout and busy-time cancels (cancel.h); or NULL */
    const struct auth_config *auth; /* password authentication (auth.h); NULL: trust */
    bool tls_enabled;               /* answer SSLRequest with 'S' (the loop runs TLS) */
    /* Commits (server/cluster.h): true when the replies of a message whose work committed up to
     * lsn, and that created snapshot snapshot_id (0: none), held since held_ms (monotonic), may
     * be sent. NULL: always. */
    bool (*reply_ready)(void *reply_ctx, uint64_t lsn, uint64_t snapshot_id, uint64_t held_ms);
    /* Once ready: 0 when the commit at lsn took effect, else its error (40001 replaced by another
     * entry, 40003 unknown), which replaces the message's held replies. NULL: always 0. */
    int (*commit_result)(void *reply_ctx, uint64_t lsn, uint64_t held_ms, ctx_err_t *err);
    /* Once ready: 0 when snapshot snapshot_id was made, else its error (err), which replaces
     * the CREATE SNAPSHOT's held reply. NULL: snapshots never fail. */
    int (*snapshot_result)(void *reply_ctx, uint64_t snapshot_id, ctx_err_t *err);
    /* The read barrier before a request runs (cluster_read_ready), unless the session
     * set read_consistency = 'local'; NULL or reads_barrier false: none. */
    bool (*read_ready)(void *reply_ctx, uint64_t *token, uint64_t since_ms, ctx_err_t *err);
    bool reads_barrier;
    /* Forwarding writes to the leader (server/forward.h); NULL leader_pgwire: never. A startup
     * packet carrying a valid token for forward_secret needs no password. */
    bool (*leader_pgwire)(void *reply_ctx, char *out, size_t out_len);
    bool (*forward_token)(void *reply_ctx, const char *user, char *out);
    const char *forward_secret;
    void *reply_ctx;
} conn_server_t;

/* Creates a connection in the startup phase. peer is a printable address for logs (copied).
 * Never NULL. */
conn_t *conn_create(conn_server_t *server, const char *peer);
/* Marks a connection in the startup phase as the server's own (loop_adopt): its StartupMessage
 * starts the session without a password exchange, whatever auth_method says. */
void conn_set_trusted(conn_t *conn);
/* Destroys the session (rolling back uncommitted work) and frees everything. NULL is a no-op. */
void conn_destroy(conn_t *conn);

/* Bytes received from the client: the loop appends, conn_process consumes. */
buf_t *conn_input(conn_t *conn);
/* Bytes to send: conn_process appends, the loop writes and consumes. */
buf_t *conn_output(conn_t *conn);

/*
 * Handles up to messages_max complete messages from the input buffer (bounded work per call so
 * one client cannot starve the others). Returns true when it stopped because of the budget and
 * a further call may make progress without new input, false when it needs more bytes (or the
 * connection is closing). Never fails: protocol errors become FATAL ErrorResponses in the
 * output and conn_closing() turns true.
 */
bool conn_process(conn_t *conn, uint32_t messages_max);

/* Replies held back: after a message whose work committed (sql_session_commit_lsn) or created
 * a snapshot that is not durable yet, everything that message produced stays out of
 * conn_output() and no further message is processed. conn_resume() releases the held replies
 * once reply_ready says so (returns true when the connection is no longer waiting). */
bool conn_waiting(const conn_t *conn);
/* Whether the connection waits for something whose end has no event of its own: a Query parked
 * until a snapshot it reads AS OF is fetched from the object store, which statement_timeout and
 * a CancelRequest also end. The loop calls conn_process on it now and then (LOOP_POLL_MS) as
 * well as on durability events (the fetch's end is one). */
bool conn_polls(const conn_t *conn);
/* After conn_process: the request is to go to the leader; conn_forward_take moves the socket's
 * future (local replies not yet sent, the request, unprocessed input) into h (client_fd is the
 * caller's to set); the caller then drops the connection without closing its socket. */
struct forward_handoff;
bool conn_forward_ready(const conn_t *conn);
void conn_forward_take(conn_t *conn, struct forward_handoff *h);
/* The loop wrote bytes of the output (forwarding needs to know what the client saw). */
void conn_output_sent(conn_t *conn, size_t bytes);
bool conn_resume(conn_t *conn);

/* True once the connection must be closed after its output is flushed (Terminate, FATAL,
 * CancelRequest served, shutdown). Input arriving afterwards is ignored. */
bool conn_closing(const conn_t *conn);

/* Server shutdown: queues FATAL 57P01 "terminating connection due to administrator command"
 * for an established session (nothing in the startup phase) and marks the connection closing. */
void conn_terminate(conn_t *conn);

/* The backend pid sent in BackendKeyData (0 before the session starts). */
int32_t conn_backend_pid(const conn_t *conn);

/* True once after SSLRequest was answered 'S': the loop must run TLS on the socket from the
 * next byte on (after that answer has been sent). */
bool conn_take_tls_start(conn_t *conn);

/* CancelRequest for this connection: when secret matches and a statement is running, sets the
 * session's cancel flag (that statement stops with 57014); with no statement running it does
 * nothing, as in PostgreSQL. Thread-safe against the loop thread. Returns true when the secret
 * matched. */
bool conn_cancel(conn_t *conn, int32_t secret);

/* Whether nothing has been read from the client yet, or only SSLRequest / GSSENCRequest that
 * were answered 'N': its next packet may be a CancelRequest (see cancel.h). */
bool conn_awaiting_first_packet(const conn_t *conn);
/* Whether the connection is still in its startup phase: no StartupMessage yet (or only
 * SSLRequest / GSSENCRequest), or in the password exchange. authentication_timeout applies. */
bool conn_in_startup(const conn_t *conn);
/* authentication_timeout passed: during the password exchange a FATAL 57014 "canceling
 * authentication due to timeout" is queued (before any StartupMessage nothing is sent, as
 * PostgreSQL does); the connection is then closing. */
void conn_auth_timeout(conn_t *conn);

#endif
