/*
 * http.h — the HTTP server: REST API under /api/v1, Prometheus /metrics, /healthz, /readyz.
 *
 * It runs on its own threads (libmicrohttpd's internal thread pool) and never touches the store:
 * every API request becomes SQL that runs over a pgwire connection to the server's own event
 * loop (http_pg.h), so writes take exactly the command path pgwire clients take (durability,
 * and replication once the cluster code is in). The connections are socketpairs the loop adopts
 * (loop_adopt) as authenticated sessions of user "http", created when a thread first needs one
 * and kept for reuse, at most one per HTTP thread.
 */
#ifndef CTX_HTTP_H
#define CTX_HTTP_H

#include "ctx.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct http_server http_server_t;

typedef struct http_config {
    const char *host;          /* address to bind, as the pgwire listener */
    uint32_t port;             /* 0 = any free port (http_port) */
    const char *auth_token;    /* "" or NULL: none */
    bool auth_required;        /* pgwire auth is not trust: without a token every request is 401 */
    uint64_t body_bytes_max;   /* larger bodies get 413 */
    uint32_t threads;          /* worker threads = SQL connections at most */
    const char *tls_cert_file; /* both non-empty: HTTPS with the pgwire certificate */
    const char *tls_key_file;
    const char *version; /* reported by /api/v1/health */
    const char *ui_dir;  /* the graph browser's built files (http_ui.h); "" = none */
    /* Hands one end of a socketpair to the event loop (loop_adopt). Thread-safe. */
    int (*adopt)(void *adopt_ctx, int fd);
    void *adopt_ctx;
} http_config_t;

/* Binds and starts the threads. Returns 0 and *out, or CTX_EIO / CTX_ECONFIG with err (nothing
 * left running). */
int http_start(const http_config_t *config, http_server_t **out, ctx_err_t *err);
/* The bound port (the real one when config->port was 0). */
uint32_t http_port(const http_server_t *server);
/* Stops accepting, waits for running requests, closes the SQL connections, frees. Must run
 * before the event loop is destroyed. NULL is a no-op. */
void http_stop(http_server_t *server);

#endif
