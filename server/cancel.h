/*
 * cancel.h — serving CancelRequests and statement_timeout while the loop thread executes a query.
 *
 * Statements run on the event-loop thread, so while one runs nobody accepts connections, and a
 * CancelRequest (which arrives on a new connection) would wait until the statement it is meant to
 * stop has finished. The cancel watcher is a small thread that fills that gap. The loop thread
 * holds the watcher's lock at all times except while it processes a connection's messages
 * (cancel_watch_busy_begin … _end). Once such a busy period has lasted CANCEL_BUSY_MS, the
 * watcher accepts new connections itself and reads their first packet without blocking:
 *   - an SSLRequest / GSSENCRequest before it is answered 'N' when TLS is off;
 *   - a CancelRequest is acted on at once (through the loop's callback, called with the lock
 *     held, so the loop's connection table is stable) and the socket is closed, as PostgreSQL
 *     does (no reply);
 *   - any other connection is parked together with the bytes read so far; the loop adopts parked
 *     connections (cancel_watch_take) when its eventfd (cancel_watch_event_fd) becomes readable.
 * A connection the loop accepted just before it became busy is the loop's, but the loop will not
 * read it until the statement ends — too late for the CancelRequest it carries. While the loop is
 * busy the watcher therefore also peeks at those (the `fresh` callback lists them): a complete
 * CancelRequest is served, consumed and the socket shut down (the loop then sees EOF and closes
 * it); anything else is left for the loop untouched.
 * The watcher also enforces statement_timeout: conn.c arms a deadline and the flag to set for the
 * message it is about to run; when the deadline passes the flag is set and the statement stops
 * with 57014, which conn.c reports as "canceling statement due to statement timeout".
 *
 * Threads: start, stop, busy_begin/busy_end and take are called by the loop thread only;
 * arm/disarm/fired by conn.c on the loop thread; the callback runs on the watcher thread while the
 * loop thread is busy.
 */
#ifndef CTX_CANCEL_H
#define CTX_CANCEL_H

#include "buf.h"
#include "ctx.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

enum {
    CANCEL_BUSY_MS = 10,         /* the watcher steps in after the loop was busy this long */
    CANCEL_TICK_MS = 5,          /* watcher wake-up period */
    CANCEL_PENDING_MAX = 64,     /* accepted sockets whose first packet is still awaited */
    CANCEL_FIRST_PACKET_MS = 500 /* park a silent new connection after this long */
};

typedef struct cancel_watch cancel_watch_t;

/* Called on the watcher thread with the loop paused: signal the backend (pid, secret). */
typedef bool (*cancel_fn_t)(void *ctx, int32_t backend_pid, int32_t secret);
/* Called on the watcher thread with the loop paused: fills fds (at most cap) with the plain-TCP
 * connections the loop accepted that have not sent their first packet yet; returns the count. */
typedef size_t (*cancel_fresh_fn_t)(void *ctx, int *fds, size_t cap);

/* Starts the watcher on listen_fd (non-blocking). Without tls_enabled the watcher itself answers
 * 'N' to an SSLRequest / GSSENCRequest that precedes a CancelRequest (asyncpg sends one). The
 * calling thread (the loop thread) then holds the lock. Returns 0, or CTX_EIO with a message. */
int cancel_watch_start(int listen_fd, bool tls_enabled, cancel_fn_t fn, cancel_fresh_fn_t fresh,
                       void *fn_ctx, cancel_watch_t **out, ctx_err_t *err);
/* Stops and joins the thread, closes parked sockets, frees. Must be called before listen_fd is
 * closed. NULL is a no-op. */
void cancel_watch_stop(cancel_watch_t *watch);

/* Brackets the processing of one connection's messages (the loop thread). */
void cancel_watch_busy_begin(cancel_watch_t *watch);
void cancel_watch_busy_end(cancel_watch_t *watch);

/* Readable when parked connections wait; the loop drains it with cancel_watch_take. */
int cancel_watch_event_fd(const cancel_watch_t *watch);
/* Takes one parked connection: its fd and the bytes already read from it (appended to bytes).
 * Returns false when none is left. */
bool cancel_watch_take(cancel_watch_t *watch, int *fd, buf_t *bytes);

/* statement_timeout: sets *flag once timeout_ms have passed, unless disarmed before. A timeout of
 * 0 arms nothing. flag must stay valid until cancel_watch_disarm. watch may be NULL (no-op). */
void cancel_watch_arm(cancel_watch_t *watch, atomic_bool *flag, uint64_t timeout_ms);
/* Whether the armed deadline has fired (the flag was set by the timeout). */
bool cancel_watch_fired(cancel_watch_t *watch);
void cancel_watch_disarm(cancel_watch_t *watch);

/* statement_timeout's value in milliseconds: "250", "250ms", "2s", "1min", "1h", "1d", "0" (the
 * spellings guc.c stores). Returns 0
 * (no timeout) for NULL or anything unparsable. */
uint64_t cancel_timeout_ms(const char *setting);

#endif
