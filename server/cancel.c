/*
 * cancel.c — the cancel watcher thread (see cancel.h for why it exists and the locking rule).
 *
 * The thread wakes every CANCEL_TICK_MS. On each tick it
 *   1. fires the statement deadline if it has passed (deadline_mu guards flag/deadline);
 *   2. if the loop has been busy for CANCEL_BUSY_MS, accepts new connections (at most
 *      CANCEL_PENDING_MAX in flight) and reads their first packet without blocking;
 *   3. decides each pending socket: a complete CancelRequest (16 bytes) is served when the lock
 *      can be taken — i.e. the loop thread is still inside its busy period, so its connection
 *      table cannot change under us — and closed; anything else, or a socket silent for
 *      CANCEL_FIRST_PACKET_MS, or any pending socket once the loop is idle again, is parked
 *      (queue_mu) for the loop to adopt with the bytes read so far.
 * The watcher never blocks on the loop: it only try-locks, so the loop thread at worst waits for
 * a few non-blocking syscalls when it ends a busy period.
 */
#include "cancel.h"

#include "pgwire.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { CANCEL_PACKET_BYTES = 16, CANCEL_PEEK_BYTES = 64 };

typedef struct cancel_pending {
    int fd;
    uint64_t accepted_ms;
    uint8_t bytes[CANCEL_PEEK_BYTES];
    size_t len;
    uint32_t negotiations; /* SSLRequest / GSSENCRequest answered 'N' here */
} cancel_pending_t;

typedef struct cancel_parked {
    int fd;
    uint8_t bytes[CANCEL_PEEK_BYTES];
    size_t len;
} cancel_parked_t;

struct cancel_watch {
    int listen_fd;
    int event_fd;
    bool tls_enabled; /* SSLRequest is the loop's to answer ('S' and a handshake) */
    cancel_fn_t fn;
    cancel_fresh_fn_t fresh;
    void *fn_ctx;
    pthread_t thread;
    atomic_bool stop;
    pthread_mutex_t mu;                  /* held by the loop thread outside busy periods */
    atomic_uint_least64_t busy_since_ms; /* 0 = not busy */
    cancel_pending_t pending[CANCEL_PENDING_MAX];
    size_t npending; /* watcher thread only */
    pthread_mutex_t queue_mu;
    cancel_parked_t *parked;
    size_t nparked;
    size_t parked_cap;
    pthread_mutex_t deadline_mu;
    atomic_bool *deadline_flag;
    uint64_t deadline_ms;
    bool fired;
};

static uint64_t cancel_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- Deadline -------------------------------------------------------------------------------- */

void cancel_watch_arm(cancel_watch_t *w, atomic_bool *flag, uint64_t timeout_ms) {
    if (w == NULL) {
        return;
    }
    CTX_ASSERT(flag != NULL);
    pthread_mutex_lock(&w->deadline_mu);
    w->deadline_flag = timeout_ms > 0 ? flag : NULL;
    w->deadline_ms = timeout_ms > 0 ? cancel_now_ms() + timeout_ms : 0;
    w->fired = false;
    pthread_mutex_unlock(&w->deadline_mu);
}

bool cancel_watch_fired(cancel_watch_t *w) {
    if (w == NULL) {
        return false;
    }
    pthread_mutex_lock(&w->deadline_mu);
    bool fired = w->fired;
    pthread_mutex_unlock(&w->deadline_mu);
    return fired;
}

void cancel_watch_disarm(cancel_watch_t *w) {
    if (w == NULL) {
        return;
    }
    pthread_mutex_lock(&w->deadline_mu);
    w->deadline_flag = NULL;
    w->deadline_ms = 0;
    pthread_mutex_unlock(&w->deadline_mu);
}

static void cancel_check_deadline(cancel_watch_t *w, uint64_t now) {
    pthread_mutex_lock(&w->deadline_mu);
    if (w->deadline_flag != NULL && now >= w->deadline_ms) {
        atomic_store(w->deadline_flag, true);
        w->deadline_flag = NULL;
        w->fired = true;
    }
    pthread_mutex_unlock(&w->deadline_mu);
}

uint64_t cancel_timeout_ms(const char *setting) {
    if (setting == NULL) {
        return 0;
    }
    char *end = NULL;
    errno = 0;
    double v = strtod(setting, &end);
    if (end == setting || errno != 0 || !(v > 0)) {
        return 0;
    }
    while (*end == ' ') {
        end++;
    }
    double scale = 1;
    if (strcasecmp(end, "s") == 0) {
        scale = 1000;
    } else if (strcasecmp(end, "min") == 0) {
        scale = 60000;
    } else if (strcasecmp(end, "h") == 0) {
        scale = 3600000;
    } else if (strcasecmp(end, "d") == 0) {
        scale = 86400000;
    } else if (*end != '\0' && strcasecmp(end, "ms") != 0) {
        return 0;
    }
    double ms = v * scale;
    return ms >= 1 ? (uint64_t)ms : 1;
}

/* ---- Parking ----------------------------------------------------------------------------------
 */

static void cancel_park(cancel_watch_t *w, const cancel_pending_t *p) {
    pthread_mutex_lock(&w->queue_mu);
    if (w->nparked == w->parked_cap) {
        w->parked_cap = w->parked_cap == 0 ? 16 : w->parked_cap * 2;
        w->parked = ctx_realloc(w->parked, w->parked_cap * sizeof(*w->parked));
    }
    cancel_parked_t *slot = &w->parked[w->nparked++];
    slot->fd = p->fd;
    memcpy(slot->bytes, p->bytes, p->len);
    slot->len = p->len;
    pthread_mutex_unlock(&w->queue_mu);
    uint64_t one = 1;
    ssize_t wrote = write(w->event_fd, &one, sizeof(one));
    (void)wrote; /* a full counter still wakes the loop */
}

int cancel_watch_event_fd(const cancel_watch_t *w) {
    return w->event_fd;
}

bool cancel_watch_take(cancel_watch_t *w, int *fd, buf_t *bytes) {
    CTX_ASSERT(w != NULL && fd != NULL && bytes != NULL);
    uint64_t counter;
    ssize_t got = read(w->event_fd, &counter, sizeof(counter));
    (void)got; /* drained; parked entries below are the truth */
    pthread_mutex_lock(&w->queue_mu);
    bool found = w->nparked > 0;
    if (found) {
        cancel_parked_t *p = &w->parked[--w->nparked];
        *fd = p->fd;
        buf_append(bytes, p->bytes, p->len);
    }
    pthread_mutex_unlock(&w->queue_mu);
    return found;
}

/* ---- The thread --------------------------------------------------------------------------------
 */

static void cancel_accept(cancel_watch_t *w, uint64_t now) {
    while (w->npending < CANCEL_PENDING_MAX) {
        int fd = accept4(w->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            return; /* EAGAIN, or an error the loop will see and log */
        }
        cancel_pending_t *p = &w->pending[w->npending++];
        memset(p, 0, sizeof(*p));
        p->fd = fd;
        p->accepted_ms = now;
    }
}

/* Serves p if it is a complete CancelRequest and the loop is still busy. Returns true when p is
 * finished with (served and closed). */
static bool cancel_try_serve(cancel_watch_t *w, cancel_pending_t *p) {
    if (p->len != CANCEL_PACKET_BYTES || ctx_read_u32be(p->bytes) != CANCEL_PACKET_BYTES ||
        ctx_read_u32be(p->bytes + 4) != PGW_CODE_CANCEL) {
        return false;
    }
    if (pthread_mutex_trylock(&w->mu) != 0) {
        return false; /* the loop is between busy periods: it serves the request itself */
    }
    int32_t pid = (int32_t)ctx_read_u32be(p->bytes + 8);
    int32_t secret = (int32_t)ctx_read_u32be(p->bytes + 12);
    bool done = w->fn(w->fn_ctx, pid, secret);
    pthread_mutex_unlock(&w->mu);
    CTX_INFO("cancel request for pid %d served while busy: %s", pid,
             done ? "signalled" : "no matching backend");
    close(p->fd);
    return true;
}

/* Clients that prefer encryption (asyncpg, libpq's sslmode=prefer) send SSLRequest or
 * GSSENCRequest before their CancelRequest. Without TLS configured the answer is 'N' whatever
 * the loop's state, so the watcher gives it and drops the request, as the loop would. */
static void cancel_answer_negotiation(cancel_watch_t *w, cancel_pending_t *p) {
    while (p->len >= 8 && ctx_read_u32be(p->bytes) == 8 && p->negotiations < 2) {
        uint32_t code = ctx_read_u32be(p->bytes + 4);
        if (code != PGW_CODE_GSSENC && (code != PGW_CODE_SSL || w->tls_enabled)) {
            return;
        }
        if (send(p->fd, "N", 1, MSG_NOSIGNAL) != 1) {
            return; /* the loop answers it when this socket is parked */
        }
        memmove(p->bytes, p->bytes + 8, p->len - 8);
        p->len -= 8;
        p->negotiations++;
    }
}

static void cancel_service_pending(cancel_watch_t *w, uint64_t now, bool loop_busy) {
    size_t kept = 0;
    for (size_t i = 0; i < w->npending; i++) {
        cancel_pending_t *p = &w->pending[i];
        ssize_t got = recv(p->fd, p->bytes + p->len, sizeof(p->bytes) - p->len, 0);
        bool closed =
            got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
        p->len += got > 0 ? (size_t)got : 0;
        cancel_answer_negotiation(w, p);
        bool is_cancel_so_far = p->len < 8 || (ctx_read_u32be(p->bytes) == CANCEL_PACKET_BYTES &&
                                               ctx_read_u32be(p->bytes + 4) == PGW_CODE_CANCEL);
        if (cancel_try_serve(w, p)) {
            continue;
        }
        bool silent_too_long = now - p->accepted_ms >= CANCEL_FIRST_PACKET_MS;
        if (closed && p->len == 0) {
            close(p->fd);
            continue;
        }
        if (closed || !loop_busy || !is_cancel_so_far || p->len >= 8 + 8 || silent_too_long) {
            cancel_park(w, p);
            continue;
        }
        w->pending[kept++] = *p;
    }
    w->npending = kept;
}

/* One loop-owned connection that has sent nothing the loop read yet (the loop is busy and the
 * lock is held): answers a leading SSLRequest / GSSENCRequest 'N' when TLS is off, and serves a
 * complete CancelRequest, consuming it and shutting the socket down. Anything else stays. */
static void cancel_peek_fresh(cancel_watch_t *w, int fd) {
    uint8_t b[CANCEL_PACKET_BYTES];
    ssize_t n = recv(fd, b, sizeof(b), MSG_PEEK | MSG_DONTWAIT);
    if (n >= 8 && ctx_read_u32be(b) == 8) {
        uint32_t code = ctx_read_u32be(b + 4);
        if (code != PGW_CODE_GSSENC && (code != PGW_CODE_SSL || w->tls_enabled)) {
            return;
        }
        if (recv(fd, b, 8, MSG_DONTWAIT) != 8 || send(fd, "N", 1, MSG_NOSIGNAL) != 1) {
            return;
        }
        n = recv(fd, b, sizeof(b), MSG_PEEK | MSG_DONTWAIT);
    }
    if (n != CANCEL_PACKET_BYTES || ctx_read_u32be(b) != CANCEL_PACKET_BYTES ||
        ctx_read_u32be(b + 4) != PGW_CODE_CANCEL) {
        return;
    }
    int32_t pid = (int32_t)ctx_read_u32be(b + 8);
    int32_t secret = (int32_t)ctx_read_u32be(b + 12);
    bool done = w->fn(w->fn_ctx, pid, secret);
    ssize_t consumed = recv(fd, b, sizeof(b), MSG_DONTWAIT);
    (void)consumed; /* peeked just now: the same 16 bytes */
    shutdown(fd, SHUT_RDWR);
    CTX_INFO("cancel request for pid %d served while busy: %s", pid,
             done ? "signalled" : "no matching backend");
}

/* Peeks at the loop's fresh connections while the loop stays busy (the lock is only tried). */
static void cancel_scan_fresh(cancel_watch_t *w) {
    if (pthread_mutex_trylock(&w->mu) != 0) {
        return;
    }
    int fds[CANCEL_PENDING_MAX];
    size_t count = w->fresh(w->fn_ctx, fds, CANCEL_PENDING_MAX);
    for (size_t i = 0; i < count; i++) {
        cancel_peek_fresh(w, fds[i]);
    }
    pthread_mutex_unlock(&w->mu);
}

static void *cancel_main(void *arg) {
    cancel_watch_t *w = arg;
    struct pollfd pfd = {.fd = w->listen_fd, .events = POLLIN};
    while (!atomic_load(&w->stop)) {
        int ready = poll(&pfd, 1, CANCEL_TICK_MS);
        uint64_t now = cancel_now_ms();
        cancel_check_deadline(w, now);
        uint64_t since = atomic_load(&w->busy_since_ms);
        bool busy_long = since != 0 && now >= since + CANCEL_BUSY_MS;
        if (busy_long && ready > 0 && (pfd.revents & POLLIN)) {
            cancel_accept(w, now);
        } else if (ready > 0 && !busy_long) {
            struct timespec ts = {0, CANCEL_TICK_MS * 1000000L}; /* the loop will accept */
            nanosleep(&ts, NULL);
        }
        if (w->npending > 0) {
            cancel_service_pending(w, now, since != 0);
        }
        if (busy_long) {
            cancel_scan_fresh(w);
        }
    }
    for (size_t i = 0; i < w->npending; i++) {
        close(w->pending[i].fd);
    }
    w->npending = 0;
    return NULL;
}

int cancel_watch_start(int listen_fd, bool tls_enabled, cancel_fn_t fn, cancel_fresh_fn_t fresh,
                       void *fn_ctx, cancel_watch_t **out, ctx_err_t *err) {
    CTX_ASSERT(listen_fd >= 0 && fn != NULL && fresh != NULL && out != NULL);
    cancel_watch_t *w = ctx_calloc(1, sizeof(*w));
    w->fresh = fresh;
    w->listen_fd = listen_fd;
    w->tls_enabled = tls_enabled;
    w->fn = fn;
    w->fn_ctx = fn_ctx;
    atomic_init(&w->stop, false);
    atomic_init(&w->busy_since_ms, 0);
    pthread_mutex_init(&w->mu, NULL);
    pthread_mutex_init(&w->queue_mu, NULL);
    pthread_mutex_init(&w->deadline_mu, NULL);
    w->event_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (w->event_fd < 0) {
        free(w);
        return ctx_err_set(err, CTX_EIO, "eventfd: %s", strerror(errno));
    }
    pthread_mutex_lock(&w->mu);
    int rc = pthread_create(&w->thread, NULL, cancel_main, w);
    if (rc != 0) {
        pthread_mutex_unlock(&w->mu);
        close(w->event_fd);
        free(w);
        return ctx_err_set(err, CTX_EIO, "pthread_create: %s", strerror(rc));
    }
    *out = w;
    return 0;
}

void cancel_watch_stop(cancel_watch_t *w) {
    if (w == NULL) {
        return;
    }
    atomic_store(&w->stop, true);
    pthread_join(w->thread, NULL);
    pthread_mutex_unlock(&w->mu);
    for (size_t i = 0; i < w->nparked; i++) {
        close(w->parked[i].fd);
    }
    free(w->parked);
    close(w->event_fd);
    pthread_mutex_destroy(&w->mu);
    pthread_mutex_destroy(&w->queue_mu);
    pthread_mutex_destroy(&w->deadline_mu);
    free(w);
}

void cancel_watch_busy_begin(cancel_watch_t *w) {
    if (w == NULL) {
        return;
    }
    uint64_t now = cancel_now_ms();
    atomic_store(&w->busy_since_ms, now == 0 ? 1 : now);
    pthread_mutex_unlock(&w->mu);
}

void cancel_watch_busy_end(cancel_watch_t *w) {
    if (w == NULL) {
        return;
    }
    pthread_mutex_lock(&w->mu);
    atomic_store(&w->busy_since_ms, 0);
}
