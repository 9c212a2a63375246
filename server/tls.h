/*
 * tls.h — TLS for client connections (OpenSSL), used by the event loop after a client's
 * SSLRequest was answered 'S'. Sockets stay non-blocking: reads and writes return TLS_AGAIN when
 * OpenSSL needs the socket to become readable or writable (the handshake runs inside the first
 * reads/writes, as SSL_accept would), and the loop simply retries on its next event.
 */
#ifndef CTX_TLS_H
#define CTX_TLS_H

#include "ctx.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum { TLS_AGAIN = -2 };

typedef struct tls_server tls_server_t;
typedef struct tls_conn tls_conn_t;

/* Loads a PEM certificate (chain) and private key; TLS 1.2 and newer. Returns 0, or CTX_ECONFIG
 * with OpenSSL's reason. */
int tls_server_create(const char *cert_file, const char *key_file, tls_server_t **out,
                      ctx_err_t *err);
void tls_server_destroy(tls_server_t *server); /* NULL is a no-op */

/* Server side of a TLS session on fd (the fd stays owned by the caller). Never NULL. */
tls_conn_t *tls_conn_create(tls_server_t *server, int fd);
void tls_conn_destroy(tls_conn_t *conn); /* NULL is a no-op; sends close_notify best-effort */

/* > 0 bytes, 0 on a clean close by the peer, TLS_AGAIN, or -1 on an error (logged). */
ssize_t tls_conn_read(tls_conn_t *conn, void *data, size_t cap);
/* > 0 bytes written, TLS_AGAIN, or -1 on an error. len > 0. */
ssize_t tls_conn_write(tls_conn_t *conn, const void *data, size_t len);
/* Decrypted bytes buffered inside OpenSSL that no socket event will announce. */
bool tls_conn_pending(const tls_conn_t *conn);

#endif
