/*
 * loop.c — the epoll event loop: accept, read, process, write, backpressure, signals, shutdown.
 *
 * Level-triggered epoll over non-blocking sockets. Connections live in a table indexed by file
 * descriptor (fds are small, dense integers), each slot holding the conn_t (protocol state and
 * both buffers) plus loop-side flags: the epoll interest set, whether the client sent EOF, and
 * whether it is throttled. One iteration: epoll_wait, then "service" every connection that had
 * an event or still has unprocessed input: read at most LOOP_READ_BYTES_MAX, process at most
 * LOOP_MESSAGES_MAX messages, write as much as the socket takes, and recompute the interest set:
 *   - EPOLLIN only while the unsent output is below the high-water mark (backpressure: a client
 *     that does not read its results stops being read, so its output cannot grow without bound);
 *     it resumes below the low-water mark;
 *   - EPOLLOUT only while output is pending.
 * A connection with complete messages left over after its budget is kept on the pending list and
 * epoll_wait is then called with a zero timeout, so other clients get their turn first.
 * A connection that waits for something without an event of its own (conn_polls: a Query parked
 * until its AS OF snapshot is fetched, ended also by statement_timeout or a CancelRequest) is
 * serviced again every LOOP_POLL_MS while it waits.
 * A client's EOF does not drop what it sent before: buffered messages are processed and their
 * replies flushed (best effort), then the socket closes.
 *
 * Adopted sockets (loop_adopt, the HTTP server's SQL connections): another thread queues the fd
 * under adopt_mu and writes adopt_event; the loop takes them in its next iteration and serves
 * them like accepted clients, except that the session is already authenticated and the cancel
 * watcher never reads them.
 */
#include "loop.h"

#include "cancel.h"
#include "forward.h"
#include "tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct loop_slot {
    conn_t *conn;         /* NULL = free slot */
    uint32_t interest;    /* events registered with epoll */
    bool readable;        /* epoll reported input (or hangup) since the last service */
    bool eof;             /* the client closed its sending side */
    bool throttled;       /* output above the high-water mark: not reading */
    bool queued;          /* on this iteration's service list */
    tls_conn_t *tls;      /* after SSLRequest was answered 'S'; NULL: plain TCP */
    uint64_t accepted_ms; /* authentication_timeout counts from here */
    bool adopted;         /* loop_adopt: authenticated by construction, not a watcher's to read */
} loop_slot_t;

struct loop {
    int epoll_fd;
    int listen_fd;
    int signal_fd;
    int spare_fd;  /* closed to accept-and-drop a client when out of descriptors */
    int notify_fd; /* durability events (-1: none); not owned */
    void (*on_notify)(void *ctx);
    void *notify_ctx;
    uint32_t port;
    uint32_t sockets;
    uint32_t sockets_max;
    conn_server_t server;
    loop_slot_t *slots;
    size_t slots_len;
    int *service; /* fds to service this iteration */
    size_t service_len;
    size_t service_cap;
    bool shutting_down;
    uint64_t shutdown_deadline_ms;
    cancel_watch_t *watch;    /* serves CancelRequests / statement_timeout while busy */
    tls_server_t *tls;        /* NULL: SSLRequest is answered 'N' */
    uint64_t auth_timeout_ms; /* authentication_timeout; 0 = none */
    uint64_t auth_check_ms;   /* earliest startup deadline to check; 0 = none pending */
    uint64_t poll_ms;         /* when to retry the connections that poll (conn_polls); 0 = none */
    int busy_fd;              /* the connection being processed (-1: none) */
    int adopt_event;          /* eventfd: loop_adopt queued sockets */
    pthread_mutex_t adopt_mu; /* guards adopt_fds / adopt_len */
    int adopt_fds[LOOP_ADOPT_QUEUE_MAX];
    size_t adopt_len;
    bool adopt_closed; /* loop_run returned: loop_adopt refuses */
};

static uint64_t loop_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static conn_t *loop_lookup(void *ctx, int32_t backend_pid) {
    loop_t *loop = ctx;
    for (size_t fd = 0; fd < loop->slots_len; fd++) {
        conn_t *conn = loop->slots[fd].conn;
        if (conn != NULL && conn_backend_pid(conn) == backend_pid) {
            return conn;
        }
    }
    return NULL;
}

static int loop_listen(loop_t *loop, const loop_config_t *config, ctx_err_t *err) {
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char port_text[16];
    snprintf(port_text, sizeof(port_text), "%u", config->port);
    struct addrinfo *list = NULL;
    int gai = getaddrinfo(config->host, port_text, &hints, &list);
    if (gai != 0) {
        return ctx_err_set(err, CTX_EIO, "could not resolve \"%s\": %s", config->host,
                           gai_strerror(gai));
    }
    int saved_errno = 0;
    for (struct addrinfo *ai = list; ai != NULL && loop->listen_fd < 0; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int one = 1;
        if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
            saved_errno = errno;
            if (fd >= 0) {
                close(fd);
            }
            continue;
        }
        loop->listen_fd = fd;
    }
    freeaddrinfo(list);
    if (loop->listen_fd < 0) {
        return ctx_err_set(err, CTX_EIO, "could not listen on %s:%u: %s", config->host,
                           config->port, strerror(saved_errno));
    }
    struct sockaddr_storage addr;
    socklen_t addr_len = sizeof(addr);
    getsockname(loop->listen_fd, (struct sockaddr *)&addr, &addr_len);
    loop->port = ntohs(addr.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&addr)->sin6_port
                                                  : ((struct sockaddr_in *)&addr)->sin_port);
    return 0;
}

static int loop_watch(loop_t *loop, int fd, uint32_t events, int op) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.events = events;
    ev.data.fd = fd;
    return epoll_ctl(loop->epoll_fd, op, fd, &ev);
}

/* CancelRequest served by the watcher thread while this thread is busy (cancel.h). */
static bool loop_cancel_cb(void *ctx, int32_t backend_pid, int32_t secret) {
    conn_t *target = loop_lookup(ctx, backend_pid);
    return target != NULL && conn_cancel(target, secret);
}

/* The plain connections that have not sent a byte the loop read (cancel.h's `fresh`): called by
 * the watcher thread while this thread is busy, so the table is stable. */
static size_t loop_fresh_fds(void *ctx, int *fds, size_t cap) {
    loop_t *loop = ctx;
    size_t count = 0;
    for (size_t fd = 0; fd < loop->slots_len && count < cap; fd++) {
        const loop_slot_t *slot = &loop->slots[fd];
        if ((int)fd != loop->busy_fd && slot->conn != NULL && slot->tls == NULL && !slot->eof &&
            !slot->adopted && conn_awaiting_first_packet(slot->conn)) {
            fds[count++] = (int)fd;
        }
    }
    return count;
}

static void loop_stop_watch(loop_t *loop) {
    if (loop->watch != NULL) {
        epoll_ctl(loop->epoll_fd, EPOLL_CTL_DEL, cancel_watch_event_fd(loop->watch), NULL);
        cancel_watch_stop(loop->watch);
        loop->watch = NULL;
        loop->server.watch = NULL;
    }
}

static int loop_start_watch(loop_t *loop, ctx_err_t *err) {
    int rc = cancel_watch_start(loop->listen_fd, loop->tls != NULL, loop_cancel_cb, loop_fresh_fds,
                                loop, &loop->watch, err);
    if (rc < 0) {
        return rc;
    }
    loop->server.watch = loop->watch;
    if (loop_watch(loop, cancel_watch_event_fd(loop->watch), EPOLLIN, EPOLL_CTL_ADD) < 0) {
        return ctx_err_set(err, CTX_EIO, "event loop setup: %s", strerror(errno));
    }
    return 0;
}

/* TLS when ssl_cert_file is set (the key must be too); a key without a certificate is refused
 * rather than silently serving plain text. */
static int loop_start_tls(loop_t *loop, const loop_config_t *config, ctx_err_t *err) {
    bool cert = config->ssl_cert_file != NULL && config->ssl_cert_file[0] != '\0';
    bool key = config->ssl_key_file != NULL && config->ssl_key_file[0] != '\0';
    if (!cert && key) {
        return ctx_err_set(err, CTX_ECONFIG, "ssl_key_file \"%s\" is set but ssl_cert_file is not",
                           config->ssl_key_file);
    }
    if (!cert) {
        return 0;
    }
    int rc =
        tls_server_create(config->ssl_cert_file, key ? config->ssl_key_file : "", &loop->tls, err);
    loop->server.tls_enabled = rc == 0;
    return rc;
}

int loop_create(const loop_config_t *config, sql_db_t *db, loop_t **out, ctx_err_t *err) {
    CTX_ASSERT(config != NULL && db != NULL && out != NULL);
    CTX_ASSERT(config->sessions_max > 0);
    int rc = 0;
    loop_t *loop = ctx_calloc(1, sizeof(*loop));
    loop->listen_fd = -1;
    loop->signal_fd = -1;
    loop->busy_fd = -1;
    pthread_mutex_init(&loop->adopt_mu, NULL);
    loop->adopt_event = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    loop->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    loop->sockets_max = config->sessions_max + LOOP_SOCKETS_SLACK;
    loop->server.db = db;
    loop->server.message_bytes_max = config->message_bytes_max;
    loop->server.sessions_max = config->sessions_max;
    loop->server.lookup = loop_lookup;
    loop->server.lookup_ctx = loop;
    loop->server.auth = config->auth;
    loop->server.reply_ready = config->reply_ready;
    loop->server.snapshot_result = config->snapshot_result;
    loop->server.commit_result = config->commit_result;
    loop->server.read_ready = config->read_ready;
    loop->server.reads_barrier = config->reads_barrier;
    loop->server.leader_pgwire = config->leader_pgwire;
    loop->server.forward_token = config->forward_token;
    loop->server.forward_secret = config->forward_secret;
    loop->server.reply_ctx = config->durability_ctx;
    loop->notify_fd = config->notify_fd;
    loop->auth_timeout_ms = config->authentication_timeout_ms;
    loop->on_notify = config->on_notify;
    loop->notify_ctx = config->durability_ctx;
    loop->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epoll_fd < 0) {
        rc = ctx_err_set(err, CTX_EIO, "epoll_create1: %s", strerror(errno));
        goto fail;
    }
    rc = loop_listen(loop, config, err);
    if (rc < 0) {
        goto fail;
    }
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    loop->signal_fd = signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);
    if (loop->signal_fd < 0 || loop_watch(loop, loop->listen_fd, EPOLLIN, EPOLL_CTL_ADD) < 0 ||
        loop_watch(loop, loop->signal_fd, EPOLLIN, EPOLL_CTL_ADD) < 0 || loop->adopt_event < 0 ||
        loop_watch(loop, loop->adopt_event, EPOLLIN, EPOLL_CTL_ADD) < 0 ||
        (loop->notify_fd >= 0 && loop_watch(loop, loop->notify_fd, EPOLLIN, EPOLL_CTL_ADD) < 0)) {
        rc = ctx_err_set(err, CTX_EIO, "event loop setup: %s", strerror(errno));
        goto fail;
    }
    rc = loop_start_tls(loop, config, err);
    if (rc < 0) {
        goto fail;
    }
    rc = loop_start_watch(loop, err);
    if (rc < 0) {
        goto fail;
    }
    *out = loop;
    return 0;
fail:
    loop_destroy(loop);
    return rc;
}

uint32_t loop_port(const loop_t *loop) {
    return loop->port;
}

static void loop_queue(loop_t *loop, int fd) {
    loop_slot_t *slot = &loop->slots[fd];
    if (slot->queued) {
        return;
    }
    if (loop->service_len == loop->service_cap) {
        loop->service_cap = loop->service_cap == 0 ? 256 : loop->service_cap * 2;
        loop->service = ctx_realloc(loop->service, loop->service_cap * sizeof(int));
    }
    loop->service[loop->service_len++] = fd;
    slot->queued = true;
}

/* Drops a connection; its socket is closed unless keep_fd (handed to a forwarding thread). */
static void loop_drop(loop_t *loop, int fd, bool keep_fd) {
    CTX_ASSERT(fd >= 0 && (size_t)fd < loop->slots_len);
    loop_slot_t *slot = &loop->slots[fd];
    CTX_ASSERT(slot->conn != NULL);
    tls_conn_destroy(slot->tls);
    conn_destroy(slot->conn);
    epoll_ctl(loop->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
    if (!keep_fd) {
        close(fd);
    }
    bool queued = slot->queued;
    memset(slot, 0, sizeof(*slot));
    slot->queued = queued; /* still listed this iteration; the service loop skips NULL conns */
    CTX_ASSERT(loop->sockets > 0);
    loop->sockets--;
}

static void loop_close(loop_t *loop, int fd) {
    loop_drop(loop, fd, false);
}

/* The connection's request goes to the leader: its socket moves to a forwarding thread. */
static void loop_forward(loop_t *loop, int fd) {
    forward_handoff_t h;
    conn_forward_take(loop->slots[fd].conn, &h);
    h.client_fd = fd;
    loop_drop(loop, fd, true);
    forward_start(&h);
}

static void loop_peer_name(const struct sockaddr_storage *addr, char *out, size_t out_len) {
    char host[INET6_ADDRSTRLEN] = "?";
    uint16_t port = 0;
    if (addr->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        port = ntohs(in->sin_port);
    } else if (addr->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        port = ntohs(in6->sin6_port);
    }
    snprintf(out, out_len, "%s:%u", host, port);
}

/* Out of descriptors: free the spare one, accept and drop a client, take the spare back. */
static void loop_accept_overflow(loop_t *loop) {
    if (loop->spare_fd >= 0) {
        close(loop->spare_fd);
        int fd = accept4(loop->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0) {
            close(fd);
        }
        loop->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    CTX_WARN("out of file descriptors: a client was refused");
}

static void loop_add_named(loop_t *loop, int fd, const char *peer);

static void loop_add_conn(loop_t *loop, int fd, const struct sockaddr_storage *addr) {
    char peer[64];
    loop_peer_name(addr, peer, sizeof(peer));
    loop_add_named(loop, fd, peer);
}

static void loop_add_named(loop_t *loop, int fd, const char *peer) {
    if ((size_t)fd >= loop->slots_len) {
        size_t len = loop->slots_len == 0 ? 1024 : loop->slots_len;
        while (len <= (size_t)fd) {
            len *= 2;
        }
        loop->slots = ctx_realloc(loop->slots, len * sizeof(loop_slot_t));
        memset(loop->slots + loop->slots_len, 0, (len - loop->slots_len) * sizeof(loop_slot_t));
        loop->slots_len = len;
    }
    loop_slot_t *slot = &loop->slots[fd];
    CTX_ASSERT(slot->conn == NULL && !slot->queued);
    slot->conn = conn_create(&loop->server, peer);
    slot->interest = EPOLLIN;
    slot->accepted_ms = loop_now_ms();
    uint64_t deadline = slot->accepted_ms + loop->auth_timeout_ms;
    if (loop->auth_timeout_ms > 0 && (loop->auth_check_ms == 0 || deadline < loop->auth_check_ms)) {
        loop->auth_check_ms = deadline;
    }
    loop->sockets++;
    if (loop_watch(loop, fd, EPOLLIN, EPOLL_CTL_ADD) < 0) {
        CTX_WARN("epoll_ctl add: %s", strerror(errno));
        loop_close(loop, fd);
        return;
    }
    CTX_DEBUG("connection received: host=%s", peer);
}

static void loop_accept(loop_t *loop) {
    for (int i = 0; i < LOOP_ACCEPTS_MAX; i++) {
        struct sockaddr_storage addr;
        socklen_t addr_len = sizeof(addr);
        int fd = accept4(loop->listen_fd, (struct sockaddr *)&addr, &addr_len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) {
                loop_accept_overflow(loop);
            } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
                       errno != ECONNABORTED) {
                CTX_WARN("accept: %s", strerror(errno));
            }
            return;
        }
        if (loop->sockets >= loop->sockets_max) {
            CTX_WARN("too many sockets (%u): closing a new client", loop->sockets);
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        loop_add_conn(loop, fd, &addr);
    }
}

/* Reads what the socket has, up to the per-iteration budget. Returns -1 on a socket error. */
static int loop_read(loop_t *loop, int fd, loop_slot_t *slot) {
    (void)loop;
    buf_t *in = conn_input(slot->conn);
    size_t total = 0;
    while (total < LOOP_READ_BYTES_MAX) {
        enum { CHUNK = 64 * 1024 };
        uint8_t *dest = buf_reserve(in, CHUNK);
        if (dest == NULL) {
            CTX_WARN("out of memory reading from a client; closing its connection");
            return -1;
        }
        ssize_t got =
            slot->tls != NULL ? tls_conn_read(slot->tls, dest, CHUNK) : recv(fd, dest, CHUNK, 0);
        if (got == TLS_AGAIN) {
            return 0;
        }
        if (got > 0) {
            buf_commit(in, (size_t)got);
            total += (size_t)got;
            continue;
        }
        if (got == 0) {
            slot->eof = true;
            return 0;
        }
        if (errno == EINTR) {
            continue;
        }
        return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
    }
    return 0;
}

/* Writes as much output as the socket takes. Returns -1 on a socket error. */
static int loop_flush(int fd, conn_t *conn, tls_conn_t *tls) {
    buf_t *out = conn_output(conn);
    while (buf_size(out) > 0) {
        ssize_t sent = tls != NULL ? tls_conn_write(tls, buf_peek(out), buf_size(out))
                                   : send(fd, buf_peek(out), buf_size(out), MSG_NOSIGNAL);
        if (sent == TLS_AGAIN) {
            return 0;
        }
        if (sent > 0) {
            buf_consume(out, (size_t)sent);
            conn_output_sent(conn, (size_t)sent);
            continue;
        }
        if (sent < 0 && errno == EINTR) {
            continue;
        }
        return (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) ? 0 : -1;
    }
    buf_reset(out); /* drop the memory offset so the buffer restarts at its beginning */
    return 0;
}

/* Recomputes throttling and the epoll interest set; returns whether to keep it pending. */
static bool loop_rearm(loop_t *loop, int fd, loop_slot_t *slot, bool more) {
    size_t pending_out = buf_size(conn_output(slot->conn));
    bool was_throttled = slot->throttled;
    if (slot->throttled && pending_out <= LOOP_OUTPUT_LOW_BYTES) {
        slot->throttled = false;
    } else if (!slot->throttled && pending_out > LOOP_OUTPUT_HIGH_BYTES) {
        slot->throttled = true;
        CTX_DEBUG("throttling slow client fd=%d (%zu bytes unsent)", fd, pending_out);
    }
    bool closing = conn_closing(slot->conn);
    uint32_t want = 0;
    if (!slot->throttled && !closing && !slot->eof) {
        want |= EPOLLIN;
    }
    if (pending_out > 0) {
        want |= EPOLLOUT;
    }
    if (want != slot->interest) {
        if (loop_watch(loop, fd, want, EPOLL_CTL_MOD) < 0) {
            CTX_WARN("epoll_ctl mod: %s", strerror(errno));
        }
        slot->interest = want;
    }
    if (slot->throttled || closing) {
        return false;
    }
    bool resumed = was_throttled && buf_size(conn_input(slot->conn)) > 0;
    return more || resumed;
}

/* Switches a connection to TLS once its 'S' answer to SSLRequest has been sent. */
static void loop_maybe_start_tls(loop_t *loop, int fd, loop_slot_t *slot) {
    if (slot->tls == NULL && loop->tls != NULL && buf_size(conn_output(slot->conn)) == 0 &&
        conn_take_tls_start(slot->conn)) {
        slot->tls = tls_conn_create(loop->tls, fd);
    }
}

/* One connection's turn: read, process, write, rearm. Returns true to keep it pending. */
static bool loop_service(loop_t *loop, int fd) {
    loop_slot_t *slot = &loop->slots[fd];
    conn_t *conn = slot->conn;
    bool more = false;
    if (slot->readable && !slot->throttled && !slot->eof) {
        slot->readable = false;
        if (loop_read(loop, fd, slot) < 0) {
            goto close;
        }
    }
    if (!slot->throttled) {
        loop->busy_fd = fd; /* the watcher leaves this one alone */
        cancel_watch_busy_begin(loop->watch);
        more = conn_process(conn, LOOP_MESSAGES_MAX);
        cancel_watch_busy_end(loop->watch);
        loop->busy_fd = -1;
        if (conn_polls(conn) && loop->poll_ms == 0) {
            loop->poll_ms = loop_now_ms() + LOOP_POLL_MS;
        }
        if (conn_forward_ready(conn)) {
            loop_forward(loop, fd);
            return false;
        }
    }
    if (loop_flush(fd, conn, slot->tls) < 0) {
        goto close;
    }
    loop_maybe_start_tls(loop, fd, slot);
    bool out_empty = buf_size(conn_output(conn)) == 0;
    if (conn_closing(conn) && out_empty) {
        goto close;
    }
    if (slot->eof && !more && out_empty) {
        /* Everything the client sent is processed and answered. */
        goto close;
    }
    return loop_rearm(loop, fd, slot, more);
close:
    loop_close(loop, fd);
    return false;
}

static void loop_begin_shutdown(loop_t *loop, const char *why) {
    if (loop->shutting_down) {
        return;
    }
    CTX_INFO("received %s: shutting down (%u connections)", why, loop->sockets);
    loop->shutting_down = true;
    loop->shutdown_deadline_ms = loop_now_ms() + LOOP_SHUTDOWN_TIMEOUT_MS;
    loop_stop_watch(loop); /* it accepts on listen_fd */
    epoll_ctl(loop->epoll_fd, EPOLL_CTL_DEL, loop->listen_fd, NULL);
    close(loop->listen_fd);
    loop->listen_fd = -1;
    for (size_t fd = 0; fd < loop->slots_len; fd++) {
        if (loop->slots[fd].conn != NULL) {
            conn_terminate(loop->slots[fd].conn);
            loop_queue(loop, (int)fd);
        }
    }
}

static void loop_on_signal(loop_t *loop) {
    struct signalfd_siginfo info;
    while (read(loop->signal_fd, &info, sizeof(info)) == (ssize_t)sizeof(info)) {
        loop_begin_shutdown(loop, info.ssi_signo == SIGINT ? "SIGINT" : "SIGTERM");
    }
}

/* The WAL became more durable or a snapshot finished: retry the connections holding replies. */
static void loop_on_durable(loop_t *loop) {
    loop->on_notify(loop->notify_ctx);
    for (size_t fd = 0; fd < loop->slots_len; fd++) {
        if (loop->slots[fd].conn != NULL && conn_waiting(loop->slots[fd].conn)) {
            loop_queue(loop, (int)fd);
        }
    }
}

static void loop_add_conn(loop_t *loop, int fd, const struct sockaddr_storage *addr);

/* Adopts the connections the cancel watcher accepted while this thread was busy, with the bytes
 * it already read from them. */
static void loop_adopt_parked(loop_t *loop) {
    int fd = -1;
    buf_t bytes;
    buf_init(&bytes);
    while (loop->watch != NULL && cancel_watch_take(loop->watch, &fd, &bytes)) {
        struct sockaddr_storage addr;
        socklen_t addr_len = sizeof(addr);
        memset(&addr, 0, sizeof(addr));
        getpeername(fd, (struct sockaddr *)&addr, &addr_len);
        if (loop->sockets >= loop->sockets_max || loop->shutting_down) {
            close(fd);
            buf_reset(&bytes);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        loop_add_conn(loop, fd, &addr);
        if (loop->slots[fd].conn != NULL) {
            buf_append(conn_input(loop->slots[fd].conn), buf_peek(&bytes), buf_size(&bytes));
            loop->slots[fd].readable = true;
            loop_queue(loop, fd);
        }
        buf_reset(&bytes);
    }
    buf_free(&bytes);
}

int loop_adopt(loop_t *loop, int fd) {
    CTX_ASSERT(loop != NULL && fd >= 0);
    pthread_mutex_lock(&loop->adopt_mu);
    bool closed = loop->adopt_closed;
    bool queued = !closed && loop->adopt_len < LOOP_ADOPT_QUEUE_MAX;
    if (queued) {
        loop->adopt_fds[loop->adopt_len++] = fd;
    }
    pthread_mutex_unlock(&loop->adopt_mu);
    if (!queued) {
        return closed ? CTX_ESHUTDOWN : CTX_ETOO_MANY_CONN;
    }
    uint64_t one = 1;
    ssize_t ignored = write(loop->adopt_event, &one, sizeof(one));
    (void)ignored;
    return 0;
}

/* Serves the sockets loop_adopt queued, as authenticated connections. */
static void loop_take_adopted(loop_t *loop) {
    uint64_t count = 0;
    ssize_t ignored = read(loop->adopt_event, &count, sizeof(count));
    (void)ignored;
    int fds[LOOP_ADOPT_QUEUE_MAX];
    pthread_mutex_lock(&loop->adopt_mu);
    size_t len = loop->adopt_len;
    ctx_memcpy(fds, loop->adopt_fds, len * sizeof(int));
    loop->adopt_len = 0;
    pthread_mutex_unlock(&loop->adopt_mu);
    for (size_t i = 0; i < len; i++) {
        int fd = fds[i];
        if (loop->sockets >= loop->sockets_max || loop->shutting_down ||
            fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
            close(fd);
            continue;
        }
        loop_add_named(loop, fd, "http");
        if (loop->slots[fd].conn != NULL) {
            loop->slots[fd].adopted = true;
            conn_set_trusted(loop->slots[fd].conn);
        }
    }
}

static void loop_dispatch(loop_t *loop, const struct epoll_event *ev) {
    int fd = ev->data.fd;
    if (fd == loop->adopt_event) {
        loop_take_adopted(loop);
        return;
    }
    if (fd == loop->listen_fd) {
        loop_accept(loop);
        return;
    }
    if (fd == loop->signal_fd) {
        loop_on_signal(loop);
        return;
    }
    if (loop->watch != NULL && fd == cancel_watch_event_fd(loop->watch)) {
        loop_adopt_parked(loop);
        return;
    }
    if (fd == loop->notify_fd && loop->notify_fd >= 0) {
        loop_on_durable(loop);
        return;
    }
    CTX_ASSERT(fd >= 0 && (size_t)fd < loop->slots_len);
    loop_slot_t *slot = &loop->slots[fd];
    if (slot->conn == NULL) {
        return; /* closed earlier in this batch */
    }
    if (ev->events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        slot->readable = true;
    }
    loop_queue(loop, fd);
}

/* Services the listed connections; those with work left stay listed for the next round. */
static void loop_service_all(loop_t *loop) {
    size_t kept = 0;
    size_t count = loop->service_len;
    for (size_t i = 0; i < count; i++) {
        int fd = loop->service[i];
        loop_slot_t *slot = &loop->slots[fd];
        slot->queued = false;
        if (slot->conn != NULL && loop_service(loop, fd)) {
            slot->queued = true;
            loop->service[kept++] = fd;
        }
    }
    /* Entries queued while servicing (none today) would sit after count; keep them too. */
    for (size_t i = count; i < loop->service_len; i++) {
        loop->service[kept++] = loop->service[i];
    }
    loop->service_len = kept;
}

/* authentication_timeout: closes every connection still in startup past its deadline (a FATAL
 * is flushed best effort, never waited for) and finds the next deadline. One scan of the table
 * per expiry, so a flood of silent sockets costs one scan per timeout, not per socket. */
static void loop_expire_startups(loop_t *loop) {
    uint64_t now = loop_now_ms();
    if (loop->auth_check_ms == 0 || now < loop->auth_check_ms) {
        return;
    }
    loop->auth_check_ms = 0;
    for (size_t fd = 0; fd < loop->slots_len; fd++) {
        loop_slot_t *slot = &loop->slots[fd];
        if (slot->conn == NULL || !conn_in_startup(slot->conn)) {
            continue;
        }
        uint64_t deadline = slot->accepted_ms + loop->auth_timeout_ms;
        if (now >= deadline) {
            conn_auth_timeout(slot->conn);
            if (slot->queued) {
                continue; /* on the service list: its turn flushes and closes it */
            }
            loop_flush((int)fd, slot->conn, slot->tls);
            loop_close(loop, (int)fd);
        } else if (loop->auth_check_ms == 0 || deadline < loop->auth_check_ms) {
            loop->auth_check_ms = deadline;
        }
    }
}

/* Retries the connections that poll (conn_polls) once poll_ms passed; each one that still polls
 * sets poll_ms again when it is serviced. */
static void loop_poll_conns(loop_t *loop) {
    if (loop->poll_ms == 0 || loop_now_ms() < loop->poll_ms) {
        return;
    }
    loop->poll_ms = 0;
    for (size_t fd = 0; fd < loop->slots_len; fd++) {
        if (loop->slots[fd].conn != NULL && conn_polls(loop->slots[fd].conn)) {
            loop_queue(loop, (int)fd);
        }
    }
}

/* epoll_wait's timeout: 0 with work pending, else until the next startup deadline or poll,
 * or forever. */
static int loop_wait_ms(const loop_t *loop) {
    if (loop->service_len > 0) {
        return 0;
    }
    uint64_t next = loop->auth_check_ms;
    if (loop->poll_ms != 0 && (next == 0 || loop->poll_ms < next)) {
        next = loop->poll_ms;
    }
    if (next == 0) {
        return -1;
    }
    uint64_t now = loop_now_ms();
    return now >= next ? 0 : (int)(next - now);
}

int loop_run(loop_t *loop, ctx_err_t *err) {
    CTX_ASSERT(loop != NULL && loop->epoll_fd >= 0);
    struct epoll_event events[LOOP_EVENTS_MAX];
    while (!loop->shutting_down || loop->sockets > 0) {
        int timeout_ms = loop_wait_ms(loop);
        if (loop->shutting_down) {
            uint64_t now = loop_now_ms();
            if (now >= loop->shutdown_deadline_ms) {
                CTX_WARN("shutdown: %u clients did not drain in time", loop->sockets);
                break;
            }
            int left = (int)(loop->shutdown_deadline_ms - now);
            timeout_ms = timeout_ms >= 0 && timeout_ms < left ? timeout_ms : left;
        }
        int n = epoll_wait(loop->epoll_fd, events, LOOP_EVENTS_MAX, timeout_ms);
        if (n < 0 && errno != EINTR) {
            return ctx_err_set(err, CTX_EIO, "epoll_wait: %s", strerror(errno));
        }
        for (int i = 0; i < n; i++) {
            loop_dispatch(loop, &events[i]);
        }
        loop_service_all(loop);
        loop_expire_startups(loop);
        loop_poll_conns(loop);
    }
    /* Nobody serves adopted sockets any more: refuse new ones, close the queued ones (their
     * other ends see EOF at once instead of waiting). */
    pthread_mutex_lock(&loop->adopt_mu);
    loop->adopt_closed = true;
    for (size_t i = 0; i < loop->adopt_len; i++) {
        close(loop->adopt_fds[i]);
    }
    loop->adopt_len = 0;
    pthread_mutex_unlock(&loop->adopt_mu);
    CTX_INFO("shutdown complete");
    return 0;
}

void loop_destroy(loop_t *loop) {
    if (loop == NULL) {
        return;
    }
    for (size_t fd = 0; fd < loop->slots_len; fd++) {
        if (loop->slots[fd].conn != NULL) {
            loop_close(loop, (int)fd);
        }
    }
    loop_stop_watch(loop);
    tls_server_destroy(loop->tls);
    for (size_t i = 0; i < loop->adopt_len; i++) {
        close(loop->adopt_fds[i]);
    }
    pthread_mutex_destroy(&loop->adopt_mu);
    int fds[] = {loop->listen_fd, loop->signal_fd, loop->spare_fd, loop->epoll_fd,
                 loop->adopt_event};
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
        if (fds[i] >= 0) {
            close(fds[i]);
        }
    }
    free(loop->slots);
    free(loop->service);
    free(loop);
}
