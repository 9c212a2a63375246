/*
 * forward.h — a client's writes on a follower, forwarded to the leader (follower_writes =
 * 'forward', the default; DESIGN §7).
 *
 * When a statement on a follower tries to write, the connection hands its socket to a forwarding
 * thread: the thread opens a pgwire connection to the leader as the same user, authenticated by a
 * token made with the cluster secret (so the leader asks no password), replays what the session
 * needs there (BEGIN when a transaction block was open, the named prepared statements), re-sends
 * the messages of the current request -- whose local replies were discarded -- and from then on
 * relays bytes both ways until either side closes. Reads of that connection are then served by
 * the leader too, so it reads its own writes.
 *
 * Tokens: "FWD1:<unix seconds>:<hex HMAC-SHA256(secret, "contextdb-forward|user|seconds")>",
 * accepted within FORWARD_TOKEN_WINDOW_S of the leader's clock.
 */
#ifndef CTX_FORWARD_H
#define CTX_FORWARD_H

#include "buf.h"

#include <stdbool.h>
#include <stddef.h>

enum {
    FORWARD_TOKEN_BYTES = 96,
    FORWARD_TOKEN_WINDOW_S = 300,
    FORWARD_NAME_BYTES = 128,
    FORWARD_ADDRESS_BYTES = 272,
    FORWARD_CONNECT_TIMEOUT_MS = 3000,
};

#define FORWARD_STARTUP_PARAM "contextdb.forward"

/* Writes the token for user into out; false when no secret is set. */
bool forward_token_make(const char *secret, const char *user, char out[FORWARD_TOKEN_BYTES]);
/* True when token is a valid, fresh token for user under secret. */
bool forward_token_check(const char *secret, const char *user, const char *token);

typedef struct forward_handoff {
    int client_fd;                      /* plain TCP (never a TLS session) */
    char leader[FORWARD_ADDRESS_BYTES]; /* "host:port" of the leader's pgwire */
    char user[FORWARD_NAME_BYTES];
    char database[FORWARD_NAME_BYTES];
    char application_name[FORWARD_NAME_BYTES];
    char token[FORWARD_TOKEN_BYTES];
    bool begin;      /* a transaction block was open: BEGIN first */
    buf_t to_client; /* replies produced locally for earlier requests, sent first */
    buf_t prelude;   /* Parse messages of named statements, replayed with their replies dropped */
    buf_t frames;    /* the request to re-send and whatever the client sent after it */
    uint64_t skip_bytes; /* the leader's first replies to drop: the client had them locally */
} forward_handoff_t;

/* Takes ownership of h's socket and buffers and relays on a detached thread; h is left empty. */
void forward_start(forward_handoff_t *h);

#endif
