/*
 * auth.h — client authentication for the startup phase: trust, SCRAM-SHA-256 (RFC 5802 / 7677,
 * as PostgreSQL implements it, without channel binding) and MD5, against users whose secrets come
 * from the configuration file as PostgreSQL stores them — never as plain passwords:
 *
 *   user.alice = SCRAM-SHA-256$4096:<salt base64>$<StoredKey base64>:<ServerKey base64>
 *   user.bob   = md5<md5 hex of password + user name>
 *
 * `contextdb --scram-secret PASSWORD` prints a verifier (auth_scram_verifier). As in PostgreSQL,
 * the stored secret picks the exchange: under md5 a user with a SCRAM verifier is asked for SCRAM,
 * and under scram-sha-256 a user with an md5 hash cannot log in (28P01). The exchange is a
 * pure state machine over message bodies: conn.c feeds each PasswordMessage / SASL response body
 * and sends what auth_step appends. An unknown user runs a mock exchange and fails at the end
 * with the same error as a wrong password (28P01), so user names cannot be probed.
 */
#ifndef CTX_AUTH_H
#define CTX_AUTH_H

#include "buf.h"
#include "ctx.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    AUTH_USERS_MAX = 256,
    AUTH_NAME_BYTES_MAX = 64,
    AUTH_VERIFIER_BYTES_MAX = 256,
    AUTH_SCRAM_ITERATIONS = 4096,
};

typedef enum { AUTH_TRUST = 0, AUTH_SCRAM = 1, AUTH_MD5 = 2 } auth_method_t;

typedef struct auth_user {
    char name[AUTH_NAME_BYTES_MAX];
    char verifier[AUTH_VERIFIER_BYTES_MAX];
} auth_user_t;

typedef struct auth_config {
    auth_method_t method;
    auth_user_t users[AUTH_USERS_MAX];
    uint32_t nusers;
} auth_config_t;

/* "trust" | "scram-sha-256" | "md5" → method; CTX_ECONFIG otherwise. */
int auth_parse_method(const char *text, auth_method_t *method, ctx_err_t *err);
/* Checks a stored secret's syntax (SCRAM verifier or md5 hash); CTX_ECONFIG when malformed. */
int auth_check_verifier(const char *verifier, ctx_err_t *err);
/* Adds or replaces user name's verifier; CTX_ECONFIG when full or malformed. */
int auth_add_user(auth_config_t *config, const char *name, const char *verifier, ctx_err_t *err);
/* A SCRAM-SHA-256 verifier for password with a random salt, written NUL-terminated to out
 * (AUTH_VERIFIER_BYTES_MAX bytes). Returns 0 or CTX_EINTERNAL. */
int auth_scram_verifier(const char *password, uint32_t iterations, char *out, ctx_err_t *err);

typedef struct auth_session auth_session_t;

/* Starts authenticating user with config's method (not AUTH_TRUST): appends the
 * AuthenticationSASL or AuthenticationMD5Password request to out. Never NULL. */
auth_session_t *auth_begin(const auth_config_t *config, const char *user, buf_t *out);
/* Handles one 'p' message body. Appends the next request (SASLContinue, SASLFinal) to out and
 * sets *done when the client is authenticated (the caller then sends AuthenticationOk). Errors:
 * CTX_EAUTH (28P01) `password authentication failed for user "x"`, CTX_EPROTOCOL (08P01) for a
 * malformed exchange; both end the connection. */
int auth_step(auth_session_t *session, const uint8_t *body, size_t len, buf_t *out, bool *done,
              ctx_err_t *err);
/* NULL is a no-op. */
void auth_free(auth_session_t *session);

#endif
