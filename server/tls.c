/*
 * tls.c — OpenSSL wrappers for the event loop (see tls.h).
 *
 * One SSL_CTX per server, one SSL per connection in accept state on its non-blocking fd.
 * SSL_MODE_ENABLE_PARTIAL_WRITE lets a write report what went out, and
 * SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER lets the loop retry a write from its output buffer even if
 * the buffer moved in between (it compacts). WANT_READ and WANT_WRITE both map to TLS_AGAIN: the
 * loop keeps EPOLLIN armed for established clients and EPOLLOUT while output is pending, which
 * covers both directions a renegotiation-free TLS 1.2/1.3 session can need.
 */
#include "tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tls_server {
    SSL_CTX *ctx;
};

struct tls_conn {
    SSL *ssl;
};

/* Why the last OpenSSL call failed, from its error queue: the root-cause (first) entry, an
 * errno as its strerror text, else OpenSSL's reason string ("no start line"), else its packed
 * error code; the queue is left empty. out holds TLS_REASON_BYTES. */
enum { TLS_REASON_BYTES = 256 };
static const char *tls_reason(char *out) {
    unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (e == 0) {
        snprintf(out, TLS_REASON_BYTES, "%s", "no reason reported by OpenSSL");
    } else if (ERR_SYSTEM_ERROR(e)) {
        snprintf(out, TLS_REASON_BYTES, "%s", strerror(ERR_GET_REASON(e)));
    } else if (ERR_reason_error_string(e) != NULL) {
        snprintf(out, TLS_REASON_BYTES, "%s", ERR_reason_error_string(e));
    } else {
        ERR_error_string_n(e, out, TLS_REASON_BYTES);
    }
    return out;
}

/* A file named by the configuration must be readable; says why not (as PostgreSQL does). */
static int tls_check_readable(const char *what, const char *path, ctx_err_t *err) {
    FILE *f = path[0] != '\0' ? fopen(path, "r") : NULL;
    if (f == NULL) {
        return ctx_err_set(err, CTX_ECONFIG, "could not load %s \"%s\": %s", what, path,
                           path[0] == '\0' ? "no file name given (ssl_key_file is required with "
                                             "ssl_cert_file)"
                                           : strerror(errno));
    }
    fclose(f);
    return 0;
}

/* Loads the certificate chain and the key into ctx; CTX_ECONFIG naming the file and why. */
static int tls_load_files(SSL_CTX *ctx, const char *cert_file, const char *key_file,
                          ctx_err_t *err) {
    char reason[TLS_REASON_BYTES];
    if (tls_check_readable("server certificate file", cert_file, err) < 0) {
        return err->code;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        return ctx_err_set(err, CTX_ECONFIG, "could not load server certificate file \"%s\": %s",
                           cert_file, tls_reason(reason));
    }
    if (tls_check_readable("private key file", key_file, err) < 0) {
        return err->code;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        return ctx_err_set(err, CTX_ECONFIG, "could not load private key file \"%s\": %s", key_file,
                           tls_reason(reason));
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        return ctx_err_set(err, CTX_ECONFIG,
                           "check of private key \"%s\" against certificate \"%s\" failed: %s",
                           key_file, cert_file, tls_reason(reason));
    }
    return 0;
}

int tls_server_create(const char *cert_file, const char *key_file, tls_server_t **out,
                      ctx_err_t *err) {
    CTX_ASSERT(cert_file != NULL && key_file != NULL && out != NULL);
    char reason[TLS_REASON_BYTES];
    ERR_clear_error();
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        return ctx_err_set(err, CTX_ECONFIG, "could not create TLS context: %s",
                           tls_reason(reason));
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (tls_load_files(ctx, cert_file, key_file, err) < 0) {
        SSL_CTX_free(ctx);
        return CTX_ECONFIG;
    }
    tls_server_t *server = ctx_calloc(1, sizeof(*server));
    server->ctx = ctx;
    *out = server;
    return 0;
}

void tls_server_destroy(tls_server_t *server) {
    if (server != NULL) {
        SSL_CTX_free(server->ctx);
        free(server);
    }
}

tls_conn_t *tls_conn_create(tls_server_t *server, int fd) {
    CTX_ASSERT(server != NULL && fd >= 0);
    tls_conn_t *conn = ctx_calloc(1, sizeof(*conn));
    conn->ssl = SSL_new(server->ctx);
    CTX_ASSERT(conn->ssl != NULL);
    SSL_set_fd(conn->ssl, fd);
    SSL_set_accept_state(conn->ssl);
    return conn;
}

void tls_conn_destroy(tls_conn_t *conn) {
    if (conn != NULL) {
        SSL_shutdown(conn->ssl); /* non-blocking: best effort close_notify */
        SSL_free(conn->ssl);
        free(conn);
    }
}

/* Maps an SSL_read/SSL_write result n <= 0 to 0 / TLS_AGAIN / -1. */
static ssize_t tls_result(tls_conn_t *conn, int n) {
    int e = SSL_get_error(conn->ssl, n);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        return TLS_AGAIN;
    }
    if (e == SSL_ERROR_ZERO_RETURN) {
        return 0;
    }
    if (e == SSL_ERROR_SYSCALL && errno == 0) {
        return 0; /* EOF without close_notify: treat as a close */
    }
    char reason[TLS_REASON_BYTES];
    CTX_DEBUG("TLS error: %s", e == SSL_ERROR_SYSCALL ? strerror(errno) : tls_reason(reason));
    ERR_clear_error();
    return -1;
}

ssize_t tls_conn_read(tls_conn_t *conn, void *data, size_t cap) {
    CTX_ASSERT(conn != NULL && cap > 0);
    ERR_clear_error();
    errno = 0;
    int n = SSL_read(conn->ssl, data, cap > INT32_MAX ? INT32_MAX : (int)cap);
    return n > 0 ? (ssize_t)n : tls_result(conn, n);
}

ssize_t tls_conn_write(tls_conn_t *conn, const void *data, size_t len) {
    CTX_ASSERT(conn != NULL && len > 0);
    ERR_clear_error();
    errno = 0;
    int n = SSL_write(conn->ssl, data, len > INT32_MAX ? INT32_MAX : (int)len);
    if (n > 0) {
        return (ssize_t)n;
    }
    ssize_t r = tls_result(conn, n);
    return r == 0 ? -1 : r;
}

bool tls_conn_pending(const tls_conn_t *conn) {
    return SSL_pending(conn->ssl) > 0;
}
