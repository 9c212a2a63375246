/*
 * loop.h — the server's single epoll event loop: listening socket, client sockets, signals.
 *
 * One thread owns every socket. Reads, protocol processing and writes are bounded per
 * connection per iteration; a client whose unsent output exceeds LOOP_OUTPUT_HIGH_BYTES is not
 * read from (nor are its buffered messages processed) until its output drains below
 * LOOP_OUTPUT_LOW_BYTES. SIGINT/SIGTERM arrive through a signalfd and start a graceful shutdown:
 * the listener closes, every established session gets FATAL 57P01, output is flushed (bounded by
 * LOOP_SHUTDOWN_TIMEOUT_MS) and loop_run() returns.
 */
#ifndef CTX_LOOP_H
#define CTX_LOOP_H

#include "conn.h"
#include "ctx.h"

#include <stdint.h>

enum {
    LOOP_OUTPUT_HIGH_BYTES = 8 * 1024 * 1024,
    LOOP_OUTPUT_LOW_BYTES = 1024 * 1024,
    LOOP_READ_BYTES_MAX = 256 * 1024, /* per connection per iteration */
    LOOP_MESSAGES_MAX = 64,           /* per connection per iteration */
    LOOP_ACCEPTS_MAX = 64,            /* per iteration */
    LOOP_EVENTS_MAX = 256,
    LOOP_SHUTDOWN_TIMEOUT_MS = 5000,
    LOOP_POLL_MS = 50, /* connections that poll (conn_polls) are retried this often */
    /* Sockets beyond max_connections kept open so extra clients can be told 53300 (and
     * CancelRequests served); past this they are closed right after accept. */
    LOOP_SOCKETS_SLACK = 64,
    LOOP_ADOPT_QUEUE_MAX = 64, /* sockets loop_adopt may queue between two loop iterations */
};
_Static_assert(LOOP_OUTPUT_LOW_BYTES < LOOP_OUTPUT_HIGH_BYTES, "hysteresis");

typedef struct loop loop_t;

typedef struct loop_config {
    const char *host;               /* address to bind (name or literal) */
    uint32_t port;                  /* 0 = any free port (see loop_port) */
    uint32_t sessions_max;          /* max_connections */
    uint32_t message_bytes_max;     /* frontend message bound */
    const struct auth_config *auth; /* NULL or method trust: no password asked */
    const char *ssl_cert_file;      /* both set (non-empty): SSLRequest is answered 'S' */
    const char *ssl_key_file;
    /* authentication_timeout: a socket still in startup (no StartupMessage yet, TLS handshake,
     * password exchange) this long after accept is closed; 0 = never. */
    uint32_t authentication_timeout_ms;
    /* Durability (server/durability.h): notify_fd (-1: none) is watched; when readable the loop
     * calls on_notify and retries every connection whose replies are held (conn_waiting). */
    int notify_fd;
    void (*on_notify)(void *ctx);
    bool (*reply_ready)(void *ctx, uint64_t lsn, uint64_t snapshot_id, uint64_t held_ms);
    int (*commit_result)(void *ctx, uint64_t lsn, uint64_t held_ms, ctx_err_t *err);   /* or NULL */
    int (*snapshot_result)(void *ctx, uint64_t snapshot_id, ctx_err_t *err);           /* or NULL */
    bool (*read_ready)(void *ctx, uint64_t *token, uint64_t since_ms, ctx_err_t *err); /* NULL */
    bool reads_barrier;
    bool (*leader_pgwire)(void *ctx, char *out, size_t out_len); /* NULL: never forward */
    bool (*forward_token)(void *ctx, const char *user, char *out);
    const char *forward_secret; /* accepts forwarded sessions from members */
    void *durability_ctx;
} loop_config_t;

/* Binds and listens, creates the epoll set and the signalfd (SIGINT/SIGTERM must already be
 * blocked in every thread by the caller). Returns 0 and *out, or CTX_EIO with a message. */
int loop_create(const loop_config_t *config, sql_db_t *db, loop_t **out, ctx_err_t *err);
/* The bound port (the real one when config->port was 0). */
uint32_t loop_port(const loop_t *loop);
/* Serves clients until SIGINT/SIGTERM, then shuts down gracefully. Returns 0, or CTX_EIO if
 * epoll itself fails. */
int loop_run(loop_t *loop, ctx_err_t *err);
/* Thread-safe (the HTTP server calls it): hands fd, a connected stream socket (one end of a
 * socketpair), to the loop, which serves it from its next iteration as a client whose session
 * needs no password (the caller is the server itself; the client still sends a StartupMessage).
 * The loop owns fd from now on, also when it refuses it (max sockets, shutdown: it closes fd, so
 * the caller's end sees EOF). Returns 0, or CTX_ETOO_MANY_CONN when the queue is full (fd not
 * taken), CTX_ESHUTDOWN once loop_run has returned (fd not taken). */
int loop_adopt(loop_t *loop, int fd);
/* Closes every socket and connection. NULL is a no-op. */
void loop_destroy(loop_t *loop);

#endif
