/*
 * transport.c — the TCP transport between cluster members (contract: transport.h).
 *
 * One I/O thread runs an epoll loop (level-triggered, non-blocking sockets, TCP_NODELAY) over the
 * listener, an eventfd that wakes it, one outbound ("dialer") connection per configured peer and
 * the inbound ("acceptor") connections peers opened to us. Frames to a peer go on our dialer
 * connection to it; frames from a peer arrive on its dialer connection to us, so each TCP stream
 * carries data one way only and the acceptor side never writes after the handshake. rt_send
 * copies the frame (header included) into one block, appends it to the peer's queue under the
 * mutex and wakes the thread, which writes the queue with sendmsg(MSG_NOSIGNAL) over up to
 * RT_IOV_MAX frames at a time (batching; nothing ever waits for a reply, so sends pipeline).
 * When the queue is empty and the peer's connection is authenticated, rt_send writes the frame
 * itself, under the mutex, on that socket (direct_fd) and skips the thread hand-off; what the
 * socket does not take is queued with its offset for the thread. The thread writes data only
 * from a non-empty queue and clears direct_fd under the mutex before it closes the socket, so
 * the two writers never interleave and rt_send never writes on a closed descriptor.
 * A peer's queue is bounded by queue_bytes_max (a dead follower costs at most that much); over
 * it rt_send drops and counts. Inbound frames are read into exact-size blocks (the length is
 * validated against the limit of the connection's state before anything is allocated), checked
 * (version, reserved bytes, CRC32C) and appended to one inbound list that rt_recv drains; a bad
 * frame closes its connection and is logged, never more. A broken dialer connection is retried
 * after a backoff that starts at RT_BACKOFF_MIN_MS and doubles to RT_BACKOFF_MAX_MS, plus up to
 * half again of random jitter; an authenticated connection resets it. A peer that restarts opens
 * a new connection, which replaces its old inbound one once authenticated. Objects the thread
 * may still touch in the current epoll batch are freed only after the batch (closed connections)
 * or at the top of the next iteration (removed peers), so no event refers to freed memory.
 *
 * Frame (every message, handshake included; integers little-endian):
 *   OFFSET  SIZE  DESCRIPTION
 *   0       4     payload length N (<= RT_FRAME_PAYLOAD_MAX; <= RT_HS_PAYLOAD_MAX in a handshake)
 *   4       1     version, RT_VERSION
 *   5       1     kind: 1..127 data (RT_KIND_*), 128..131 handshake (RT_HS_*)
 *   6       2     reserved, zero
 *   8       4     CRC32C of bytes 0..7 followed by the payload
 *   12      N     payload
 *
 * Handshake (D = dialer, A = acceptor; D sends no data frame before ACCEPT):
 *   D -> A HELLO (128):     0 4 D's id | 4 4 the id D means to reach | 8 32 D's nonce
 *                           | 40 2 advertise length L | 42 L D's advertise
 *   A -> D CHALLENGE (129): 0 4 A's id | 4 32 A's nonce | 36 32 A's proof | 68 2 L | 70 L A's adv.
 *   D -> A PROOF (130):     0 32 D's proof
 *   A -> D ACCEPT (131):    empty
 * proof(role) = HMAC-SHA256(key = cluster secret, "contextdb-rt-v1" || role ('A' or 'D', 1 byte)
 *   || D's id (4) || A's id (4) || D's nonce || A's nonce || L_D (2) || D's adv || L_A (2)
 *   || A's adv). Each side proves the secret over a nonce the other just drew, so a recorded
 *   proof is useless on a new connection (replay), a proof cannot be reflected (the role byte),
 *   and a process without the secret is refused; nonces come from RAND_bytes. The acceptor
 *   refuses a HELLO from an id that is not a configured peer or that dials another id. Every
 *   refusal is logged with the remote address. This authenticates members at connect time; it
 *   does not encrypt or protect a stream from an active on-path attacker (that is what mutual
 *   TLS would add). A connection not authenticated within handshake_timeout_ms is closed, and
 *   at most RT_INBOUND_CONNS_MAX accepted ones exist at once, so silent or slow clients cannot
 *   hold the listener.
 */
#include "transport.h"

#include "crc32c.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

enum {
    RT_HS_HELLO = 128,
    RT_HS_CHALLENGE = 129,
    RT_HS_PROOF = 130,
    RT_HS_ACCEPT = 131,
    RT_ADV_LEN_MAX = RT_ADVERTISE_MAX - 1,
    RT_HS_PAYLOAD_MAX = 70 + RT_ADV_LEN_MAX, /* the largest handshake message (CHALLENGE) */
    RT_USER_TIMEOUT_MS = 5000,               /* TCP_USER_TIMEOUT: unacknowledged data -> error */
    RT_BACKOFF_MIN_MS = 10,
    RT_BACKOFF_MAX_MS = 1000,
    RT_INBOUND_CONNS_MAX = 64, /* accepted connections alive at once */
    RT_ACCEPTS_PER_EVENT = 16, /* accept() calls per listener event */
    RT_READ_CHUNK = 64 * 1024, /* bytes per read() */
    RT_READS_PER_EVENT = 16,   /* read() calls per connection event (fairness) */
    RT_IOV_MAX = 64,           /* frames per sendmsg() */
    RT_FLUSH_ROUNDS = 16,      /* sendmsg() calls per peer per iteration (fairness) */
    RT_EVENTS_MAX = 64,        /* epoll events per wait */
    RT_WAIT_MAX_MS = 1000,     /* longest epoll wait */
    RT_LISTEN_BACKLOG = 64,
    RT_ADDR_MAX = 80, /* "[v6 address]:port" for logs */
};
#define RT_QUEUE_BYTES_DEFAULT ((size_t)64 * 1024 * 1024)
#define RT_INBOUND_FACTOR 4 /* inbound bound = 4 x queue_bytes_max */
#define RT_MAC_LABEL "contextdb-rt-v1"

_Static_assert((int)RT_HS_PAYLOAD_MAX < (int)RT_FRAME_PAYLOAD_MAX, "handshake frames are small");
_Static_assert((int)RT_HS_HELLO > (int)RT_KIND_USER_MAX,
               "handshake kinds are outside the data kinds");
_Static_assert(RT_ADV_LEN_MAX <= 65535, "advertise length fits its two bytes");
_Static_assert(RT_HEADER_SIZE == 12, "header layout drawn above");

/* A queued outbound frame: header and payload in one block. */
typedef struct rt_qframe {
    struct rt_qframe *next;
    size_t size; /* RT_HEADER_SIZE + payload */
    uint8_t data[];
} rt_qframe_t;

/* A received data frame waiting for (or returned by) rt_recv. */
typedef struct rt_inframe {
    struct rt_inframe *next;
    uint32_t from;
    uint8_t kind;
    size_t len;
    uint8_t bytes[];
} rt_inframe_t;

typedef enum {
    CS_CONNECTING,     /* dialer: connect() in progress */
    CS_WAIT_CHALLENGE, /* dialer: HELLO sent */
    CS_WAIT_ACCEPT,    /* dialer: PROOF sent */
    CS_WAIT_HELLO,     /* acceptor: accepted */
    CS_WAIT_PROOF,     /* acceptor: CHALLENGE sent */
    CS_READY,          /* authenticated */
} rt_conn_state_t;

struct rt_pstate;

/* One TCP connection; owned by the I/O thread. */
typedef struct rt_conn {
    struct rt_conn *next; /* in rt->conns, or rt->dead once closed */
    int fd;               /* -1 once closed */
    bool dialer;
    bool want_out; /* EPOLLOUT registered */
    rt_conn_state_t state;
    uint32_t peer_id;       /* dialer: always; acceptor: from HELLO on */
    struct rt_pstate *peer; /* dialer only */
    int64_t deadline_ms;    /* handshake deadline, 0 once ready */
    char addr[RT_ADDR_MAX];
    uint8_t nonce_self[RT_NONCE_SIZE], nonce_peer[RT_NONCE_SIZE];
    char adv_peer[RT_ADVERTISE_MAX];
    uint8_t hdr[RT_HEADER_SIZE]; /* the frame being read */
    size_t hdr_have;
    uint8_t *body; /* into in->bytes or hs_in */
    size_t body_len, body_have;
    rt_inframe_t *in;
    uint8_t hs_in[RT_HS_PAYLOAD_MAX];
    uint8_t hs_out[RT_HEADER_SIZE + RT_HS_PAYLOAD_MAX];
    size_t hs_out_len, hs_out_off;
} rt_conn_t;

/* One configured peer. Fields marked (mu) are shared and guarded by rt->mu; the rest belong to
 * the I/O thread. */
typedef struct rt_pstate {
    rt_peer_t cfg;
    struct rt_pstate *retired_next;             /* (mu) on rt->retired after rt_remove_peer */
    rt_qframe_t *q_head, *q_tail;               /* (mu) frames to send, oldest first */
    uint64_t queued_bytes;                      /* (mu) */
    uint64_t sent, dropped, recv, recv_dropped; /* (mu) */
    int64_t last_recv_ms;                       /* (mu) */
    bool connected;                             /* (mu) */
    char advertise[RT_ADVERTISE_MAX];           /* (mu) */
    int direct_fd;                              /* (mu) out's socket once READY, else -1 */
    rt_conn_t *out;                             /* our dialer connection, NULL when none */
    int64_t next_connect_ms;
    int64_t backoff_ms;
    size_t send_off; /* (mu) bytes of q_head already written on out */
} rt_pstate_t;

struct rt {
    uint32_t self_id;
    char *listen_host, *secret, *advertise;
    size_t queue_bytes_max, inbound_bytes_max;
    int64_t handshake_timeout_ms;
    int notify_fd, listen_fd, epoll_fd, wake_fd;
    uint16_t port;
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;
    rt_pstate_t *peers[RT_PEERS_MAX]; /* (mu) */
    size_t peers_count;               /* (mu) */
    rt_pstate_t *retired;             /* (mu) removed, to be freed by the I/O thread */
    bool stop, wake_pending;          /* (mu) */
    rt_inframe_t *in_head, *in_tail;  /* (mu) received, not yet returned by rt_recv */
    uint64_t in_bytes;                /* (mu) */
    rt_stats_t stats;                 /* (mu) */
    rt_inframe_t *delivered;          /* returned by the last rt_recv (its thread) */
    rt_conn_t *conns, *dead;          /* I/O thread */
    size_t inbound_count;             /* I/O thread */
    uint64_t rng;                     /* I/O thread: jitter */
    bool notify_due;                  /* I/O thread: frames queued this iteration */
};

/* ---- Small helpers ------------------------------------------------------------------------- */

static int64_t rt_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void rt_put_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t rt_get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void rt_wake(rt_t *rt) {
    uint64_t one = 1;
    ssize_t n = write(rt->wake_fd, &one, sizeof(one));
    (void)n; /* EAGAIN: the counter is already non-zero, the thread will wake */
}

/* Peer by id, NULL if none. Caller holds rt->mu. */
static rt_pstate_t *rt_find_peer(rt_t *rt, uint32_t id) {
    for (size_t i = 0; i < rt->peers_count; i++) {
        if (rt->peers[i]->cfg.id == id) {
            return rt->peers[i];
        }
    }
    return NULL;
}

static void rt_qframes_free(rt_qframe_t *f) {
    while (f != NULL) {
        rt_qframe_t *next = f->next;
        free(f);
        f = next;
    }
}

static void rt_inframes_free(rt_inframe_t *f) {
    while (f != NULL) {
        rt_inframe_t *next = f->next;
        free(f);
        f = next;
    }
}

/* ---- Wire ---------------------------------------------------------------------------------- */

void rt_wire_header(uint8_t out[RT_HEADER_SIZE], uint8_t kind, const void *payload, size_t len) {
    CTX_ASSERT(len <= RT_FRAME_PAYLOAD_MAX);
    rt_put_u32(out, (uint32_t)len);
    out[4] = RT_VERSION;
    out[5] = kind;
    out[6] = 0;
    out[7] = 0;
    rt_put_u32(out + 8, crc32c(crc32c(0, out, 8), payload, len));
}

int rt_wire_proof(const char *secret, char role, uint32_t dialer_id, uint32_t acceptor_id,
                  const uint8_t dialer_nonce[RT_NONCE_SIZE],
                  const uint8_t acceptor_nonce[RT_NONCE_SIZE], const char *dialer_advertise,
                  const char *acceptor_advertise, uint8_t out[RT_MAC_SIZE]) {
    uint8_t msg[sizeof(RT_MAC_LABEL) + 9 + 2 * RT_NONCE_SIZE + 2 * (2 + RT_ADV_LEN_MAX)];
    size_t n = 0;
    size_t dl = strnlen(dialer_advertise, RT_ADV_LEN_MAX);
    size_t al = strnlen(acceptor_advertise, RT_ADV_LEN_MAX);
    memcpy(msg, RT_MAC_LABEL, sizeof(RT_MAC_LABEL) - 1);
    n += sizeof(RT_MAC_LABEL) - 1;
    msg[n++] = (uint8_t)role;
    rt_put_u32(msg + n, dialer_id);
    rt_put_u32(msg + n + 4, acceptor_id);
    n += 8;
    memcpy(msg + n, dialer_nonce, RT_NONCE_SIZE);
    memcpy(msg + n + RT_NONCE_SIZE, acceptor_nonce, RT_NONCE_SIZE);
    n += 2 * RT_NONCE_SIZE;
    msg[n++] = (uint8_t)dl;
    msg[n++] = (uint8_t)(dl >> 8);
    ctx_memcpy(msg + n, dialer_advertise, dl);
    n += dl;
    msg[n++] = (uint8_t)al;
    msg[n++] = (uint8_t)(al >> 8);
    ctx_memcpy(msg + n, acceptor_advertise, al);
    n += al;
    CTX_ASSERT(n <= sizeof(msg));
    unsigned int mac_len = 0;
    if (HMAC(EVP_sha256(), secret, (int)strlen(secret), msg, n, out, &mac_len) == NULL ||
        mac_len != RT_MAC_SIZE) {
        return CTX_EINTERNAL;
    }
    return CTX_OK;
}

/* ---- Connections --------------------------------------------------------------------------- */

static void rt_conn_want_out(rt_t *rt, rt_conn_t *c, bool want) {
    if (c->fd < 0 || c->want_out == want) {
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (want ? EPOLLOUT : 0u),
                             .data.ptr = c};
    int rc = epoll_ctl(rt->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev);
    CTX_ASSERT(rc == 0);
    c->want_out = want;
}

/* Closes c (once) and moves it to rt->dead, freed after the current epoll batch. A dialer
 * connection schedules its peer's next attempt with backoff and jitter. */
static void rt_conn_close(rt_t *rt, rt_conn_t *c) {
    if (c->fd < 0) {
        return;
    }
    pthread_mutex_lock(&rt->mu); /* counted before the other side can see the close */
    if (c->state != CS_READY && c->state != CS_CONNECTING) {
        rt->stats.handshakes_refused++;
    }
    if (c->dialer && c->peer != NULL) {
        c->peer->connected = false;
        if (c->peer->direct_fd == c->fd) {
            c->peer->direct_fd = -1; /* before the close: rt_send must not write on it */
        }
    }
    pthread_mutex_unlock(&rt->mu);
    epoll_ctl(rt->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    if (c->dialer && c->peer != NULL) {
        rt_pstate_t *p = c->peer;
        p->out = NULL;
        pthread_mutex_lock(&rt->mu);
        p->send_off = 0; /* a frame cut here is sent again whole on the next connection */
        pthread_mutex_unlock(&rt->mu);
        rt->rng ^= rt->rng << 13;
        rt->rng ^= rt->rng >> 7;
        rt->rng ^= rt->rng << 17;
        int64_t jitter = (int64_t)(rt->rng % (uint64_t)(p->backoff_ms / 2 + 1));
        p->next_connect_ms = rt_now_ms() + p->backoff_ms + jitter;
        p->backoff_ms =
            p->backoff_ms * 2 > RT_BACKOFF_MAX_MS ? RT_BACKOFF_MAX_MS : p->backoff_ms * 2;
    } else if (!c->dialer) {
        rt->inbound_count--;
    }
    free(c->in);
    c->in = NULL;
    rt_conn_t **pp = &rt->conns;
    while (*pp != c) {
        pp = &(*pp)->next;
    }
    *pp = c->next;
    c->next = rt->dead;
    rt->dead = c;
}

/* Logs why c is refused or broken (with its address) and closes it. */
static void rt_conn_fail(rt_t *rt, rt_conn_t *c, ctx_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void rt_conn_fail(rt_t *rt, rt_conn_t *c, ctx_log_level_t level, const char *fmt, ...) {
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    if (c->dialer) {
        ctx_log(level, "raft transport: node %u: connection to peer %u at %s closed: %s",
                rt->self_id, c->peer_id, c->addr, why);
    } else {
        ctx_log(level, "raft transport: node %u: connection from %s (node %u) closed: %s",
                rt->self_id, c->addr, c->peer_id, why);
    }
    rt_conn_close(rt, c);
}

static rt_conn_t *rt_conn_new(rt_t *rt, int fd, bool dialer) {
    rt_conn_t *c = ctx_try_calloc(1, sizeof(*c));
    if (c == NULL) {
        return NULL;
    }
    c->fd = fd;
    c->dialer = dialer;
    c->deadline_ms = rt_now_ms() + rt->handshake_timeout_ms;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    unsigned int user_timeout = RT_USER_TIMEOUT_MS;
    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof(user_timeout));
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
    if (epoll_ctl(rt->epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        free(c);
        return NULL;
    }
    c->next = rt->conns;
    rt->conns = c;
    return c;
}

/* Writes what is left of the handshake message; false if c was closed. */
static bool rt_conn_flush_hs(rt_t *rt, rt_conn_t *c) {
    while (c->hs_out_off < c->hs_out_len) {
        ssize_t n =
            send(c->fd, c->hs_out + c->hs_out_off, c->hs_out_len - c->hs_out_off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            rt_conn_want_out(rt, c, true);
            return true;
        }
        if (n < 0) {
            rt_conn_fail(rt, c, CTX_LOG_INFO, "send: %s", strerror(errno));
            return false;
        }
        c->hs_out_off += (size_t)n;
    }
    rt_conn_want_out(rt, c, false);
    return true;
}

/* Frames and sends one handshake message; false if c was closed. */
static bool rt_conn_send_hs(rt_t *rt, rt_conn_t *c, uint8_t kind, const uint8_t *payload,
                            size_t len) {
    CTX_ASSERT(len <= RT_HS_PAYLOAD_MAX);
    if (c->hs_out_off != c->hs_out_len) { /* the peer answered a message it has not received */
        rt_conn_fail(rt, c, CTX_LOG_WARN, "refused: handshake out of order");
        return false;
    }
    rt_wire_header(c->hs_out, kind, payload, len);
    ctx_memcpy(c->hs_out + RT_HEADER_SIZE, payload, len);
    c->hs_out_len = RT_HEADER_SIZE + len;
    c->hs_out_off = 0;
    return rt_conn_flush_hs(rt, c);
}

static void rt_addr_string(const struct sockaddr *sa, char *out, size_t size) {
    char host[INET6_ADDRSTRLEN] = "?";
    uint16_t port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        port = ntohs(in->sin_port);
        snprintf(out, size, "%s:%u", host, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        port = ntohs(in6->sin6_port);
        snprintf(out, size, "[%s]:%u", host, port);
    } else {
        snprintf(out, size, "?");
    }
}

/* ---- Handshake ----------------------------------------------------------------------------- */

static bool rt_send_hello(rt_t *rt, rt_conn_t *c) {
    uint8_t msg[42 + RT_ADV_LEN_MAX];
    size_t al = strlen(rt->advertise);
    if (RAND_bytes(c->nonce_self, RT_NONCE_SIZE) != 1) {
        rt_conn_fail(rt, c, CTX_LOG_ERROR, "RAND_bytes failed");
        return false;
    }
    rt_put_u32(msg, rt->self_id);
    rt_put_u32(msg + 4, c->peer_id);
    memcpy(msg + 8, c->nonce_self, RT_NONCE_SIZE);
    msg[40] = (uint8_t)al;
    msg[41] = (uint8_t)(al >> 8);
    ctx_memcpy(msg + 42, rt->advertise, al);
    c->state = CS_WAIT_CHALLENGE;
    return rt_conn_send_hs(rt, c, RT_HS_HELLO, msg, 42 + al);
}

/* Copies a 2-byte-length-prefixed advertise string that fills p[0..avail) into out. */
static bool rt_read_adv(const uint8_t *p, size_t avail, char out[RT_ADVERTISE_MAX]) {
    size_t len = avail >= 2 ? (size_t)p[0] | (size_t)p[1] << 8 : 0;
    if (avail < 2 || len + 2 != avail || len > RT_ADV_LEN_MAX) {
        return false;
    }
    ctx_memcpy(out, p + 2, len);
    out[len] = '\0';
    return strlen(out) == len; /* no NUL inside */
}

/* Acceptor: HELLO received; refuse strangers, answer with CHALLENGE. */
static void rt_on_hello(rt_t *rt, rt_conn_t *c, const uint8_t *p, size_t len) {
    if (len < 42 || !rt_read_adv(p + 40, len - 40, c->adv_peer)) {
        rt_conn_fail(rt, c, CTX_LOG_WARN, "refused: malformed HELLO");
        return;
    }
    uint32_t from = rt_get_u32(p), target = rt_get_u32(p + 4);
    c->peer_id = from;
    memcpy(c->nonce_peer, p + 8, RT_NONCE_SIZE);
    pthread_mutex_lock(&rt->mu);
    bool member = from != rt->self_id && rt_find_peer(rt, from) != NULL;
    pthread_mutex_unlock(&rt->mu);
    if (target != rt->self_id) {
        rt_conn_fail(rt, c, CTX_LOG_WARN, "refused: it dialed node %u", target);
        return;
    }
    if (!member) {
        rt_conn_fail(rt, c, CTX_LOG_WARN, "refused: node %u is not a cluster member", from);
        return;
    }
    uint8_t msg[70 + RT_ADV_LEN_MAX];
    size_t al = strlen(rt->advertise);
    if (RAND_bytes(c->nonce_self, RT_NONCE_SIZE) != 1 ||
        rt_wire_proof(rt->secret, 'A', from, rt->self_id, c->nonce_peer, c->nonce_self, c->adv_peer,
                      rt->advertise, msg + 36) != 0) {
        rt_conn_fail(rt, c, CTX_LOG_ERROR, "random source or HMAC failed");
        return;
    }
    rt_put_u32(msg, rt->self_id);
    memcpy(msg + 4, c->nonce_self, RT_NONCE_SIZE);
    msg[68] = (uint8_t)al;
    msg[69] = (uint8_t)(al >> 8);
    ctx_memcpy(msg + 70, rt->advertise, al);
    c->state = CS_WAIT_PROOF;
    rt_conn_send_hs(rt, c, RT_HS_CHALLENGE, msg, 70 + al);
}

/* Dialer: CHALLENGE received; check the acceptor's proof, send ours. */
static void rt_on_challenge(rt_t *rt, rt_conn_t *c, const uint8_t *p, size_t len) {
    uint8_t want[RT_MAC_SIZE], proof[RT_MAC_SIZE];
    if (len < 70 || !rt_read_adv(p + 68, len - 68, c->adv_peer)) {
        rt_conn_fail(rt, c, CTX_LOG_WARN, "refused: malformed CHALLENGE");
        return;
    }
    if (rt_get_u32(p) != c->peer_id) {
        rt_conn_fail(rt, c, CTX_LOG_WARN, "refused: it answered as node %u", rt_get_u32(p));
        return;
    }
    memcpy(c->nonce_peer, p + 4, RT_NONCE_SIZE);
    if (rt_wire_proof(rt->secret, 'A', rt->self_id, c->peer_id, c->nonce_self, c->nonce_peer,
                      rt->advertise, c->adv_peer, want) != 0 ||
        rt_wire_proof(rt->secret, 'D', rt->self_id, c->peer_id, c->nonce_self, c->nonce_peer,
                      rt->advertise, c->adv_peer, proof) != 0) {
        rt_conn_fail(rt, c, CTX_LOG_ERROR, "HMAC failed");
        return;
    }
    if (CRYPTO_memcmp(want, p + 36, RT_MAC_SIZE) != 0) {
        rt_conn_fail(rt, c, CTX_LOG_WARN, "refused: its proof failed (wrong cluster secret?)");
        return;
    }
    c->state = CS_WAIT_ACCEPT;
    rt_conn_send_hs(rt, c, RT_HS_PROOF, proof, RT_MAC_SIZE);
}

/* Closes every other inbound connection from node id (a restarted peer replaces its old one, a
 * removed peer loses all of them). */
static void rt_close_inbound_of(rt_t *rt, uint32_t id, const rt_conn_t *keep) {
    rt_conn_t *c = rt->conns;
    while (c != NULL) {
        rt_conn_t *next = c->next;
        if (!c->dialer && c != keep && c->state == CS_READY && c->peer_id == id) {
            rt_conn_fail(rt, c, CTX_LOG_INFO,
                         keep != NULL ? "replaced by a new connection" : "peer removed");
        }
        c = next;
    }
}

/* Acceptor: PROOF received; check it, accept, replace the peer's older connection. */
static void rt_on_proof(rt_t *rt, rt_conn_t *c, const uint8_t *p, size_t len) {
    uint8_t want[RT_MAC_SIZE];
    if (len != RT_MAC_SIZE ||
        rt_wire_proof(rt->secret, 'D', c->peer_id, rt->self_id, c->nonce_peer, c->nonce_self,
                      c->adv_peer, rt->advertise, want) != 0 ||
        CRYPTO_memcmp(want, p, RT_MAC_SIZE) != 0) {
        rt_conn_fail(rt, c, CTX_LOG_WARN, "refused: its proof failed (wrong cluster secret?)");
        return;
    }
    pthread_mutex_lock(&rt->mu);
    rt_pstate_t *peer = rt_find_peer(rt, c->peer_id);
    if (peer != NULL) {
        snprintf(peer->advertise, sizeof(peer->advertise), "%s", c->adv_peer);
        rt->stats.handshakes_ok++;
    }
    pthread_mutex_unlock(&rt->mu);
    if (peer == NULL) {
        rt_conn_fail(rt, c, CTX_LOG_WARN, "refused: node %u was removed", c->peer_id);
        return;
    }
    if (!rt_conn_send_hs(rt, c, RT_HS_ACCEPT, NULL, 0)) {
        return;
    }
    c->state = CS_READY;
    c->deadline_ms = 0;
    rt_close_inbound_of(rt, c->peer_id, c);
    ctx_log(CTX_LOG_INFO, "raft transport: node %u: accepted node %u from %s", rt->self_id,
            c->peer_id, c->addr);
}

/* Dialer: ACCEPT received; the connection carries our frames from now on. */
static void rt_on_accept(rt_t *rt, rt_conn_t *c, size_t len) {
    if (len != 0) {
        rt_conn_fail(rt, c, CTX_LOG_WARN, "refused: malformed ACCEPT");
        return;
    }
    c->state = CS_READY;
    c->deadline_ms = 0;
    c->peer->backoff_ms = RT_BACKOFF_MIN_MS;
    pthread_mutex_lock(&rt->mu);
    c->peer->connected = true;
    c->peer->direct_fd = c->fd;
    snprintf(c->peer->advertise, sizeof(c->peer->advertise), "%s", c->adv_peer);
    rt->stats.handshakes_ok++;
    pthread_mutex_unlock(&rt->mu);
    ctx_log(CTX_LOG_INFO, "raft transport: node %u: connected to node %u at %s", rt->self_id,
            c->peer_id, c->addr);
}

/* ---- Reading ------------------------------------------------------------------------------- */

/* A data frame arrived on a ready acceptor connection: queue it for rt_recv. */
static void rt_on_data(rt_t *rt, rt_conn_t *c) {
    rt_inframe_t *f = c->in;
    CTX_ASSERT(f != NULL);
    CTX_ASSERT(f->from == c->peer_id);
    c->in = NULL;
    pthread_mutex_lock(&rt->mu);
    rt_pstate_t *peer = rt_find_peer(rt, c->peer_id);
    bool keep = peer != NULL &&
                (rt->in_bytes == 0 || rt->in_bytes + f->len <= (uint64_t)rt->inbound_bytes_max);
    if (keep) {
        if (rt->in_tail != NULL) {
            rt->in_tail->next = f;
        } else {
            rt->in_head = f;
        }
        rt->in_tail = f;
        rt->in_bytes += f->len;
        peer->recv++;
        peer->last_recv_ms = rt_now_ms();
    } else if (peer != NULL) {
        peer->recv_dropped++;
    }
    pthread_mutex_unlock(&rt->mu);
    if (keep) {
        rt->notify_due = true;
    } else {
        free(f);
    }
}

/* A whole header is in c->hdr: validate it against the state's limit, set up the body buffer.
 * False if c was closed. */
static bool rt_on_header(rt_t *rt, rt_conn_t *c) {
    uint32_t len = rt_get_u32(c->hdr);
    uint8_t kind = c->hdr[5];
    bool ready = c->state == CS_READY;
    size_t len_max = ready ? RT_FRAME_PAYLOAD_MAX : RT_HS_PAYLOAD_MAX;
    const char *bad = NULL;
    if (c->hdr[4] != RT_VERSION) {
        bad = "unsupported frame version";
    } else if (c->hdr[6] != 0 || c->hdr[7] != 0) {
        bad = "reserved header bytes set";
    } else if (len > len_max) {
        bad = "frame length over the limit";
    } else if (ready && (c->dialer || kind == 0 || kind > RT_KIND_USER_MAX)) {
        bad = "unexpected frame kind";
    }
    if (bad != NULL) {
        pthread_mutex_lock(&rt->mu);
        rt->stats.frames_corrupt++;
        pthread_mutex_unlock(&rt->mu);
        rt_conn_fail(rt, c, CTX_LOG_WARN, "%s (version %u, kind %u, length %u)", bad, c->hdr[4],
                     kind, len);
        return false;
    }
    c->body_len = len;
    c->body_have = 0;
    if (!ready) {
        c->body = c->hs_in;
        return true;
    }
    c->in = ctx_try_malloc(sizeof(rt_inframe_t) + len);
    if (c->in == NULL) {
        rt_conn_fail(rt, c, CTX_LOG_ERROR, "out of memory for a %u-byte frame", len);
        return false;
    }
    c->in->next = NULL;
    c->in->from = c->peer_id;
    c->in->kind = kind;
    c->in->len = len;
    c->body = c->in->bytes;
    return true;
}

/* A whole frame is in hdr + body: check its CRC and dispatch it. */
static void rt_on_frame(rt_t *rt, rt_conn_t *c) {
    uint32_t crc = crc32c(crc32c(0, c->hdr, 8), c->body, c->body_len);
    uint8_t kind = c->hdr[5];
    c->hdr_have = 0;
    if (crc != rt_get_u32(c->hdr + 8)) {
        pthread_mutex_lock(&rt->mu);
        rt->stats.frames_corrupt++;
        pthread_mutex_unlock(&rt->mu);
        rt_conn_fail(rt, c, CTX_LOG_WARN, "frame CRC mismatch (kind %u, length %zu)", kind,
                     c->body_len);
        return;
    }
    static const uint8_t expect[] = {[CS_WAIT_CHALLENGE] = RT_HS_CHALLENGE,
                                     [CS_WAIT_ACCEPT] = RT_HS_ACCEPT,
                                     [CS_WAIT_HELLO] = RT_HS_HELLO,
                                     [CS_WAIT_PROOF] = RT_HS_PROOF};
    if (c->state == CS_READY) {
        rt_on_data(rt, c);
    } else if (c->state == CS_CONNECTING || kind != expect[c->state]) {
        rt_conn_fail(rt, c, CTX_LOG_WARN, "refused: unexpected handshake message %u", kind);
    } else if (kind == RT_HS_HELLO) {
        rt_on_hello(rt, c, c->body, c->body_len);
    } else if (kind == RT_HS_CHALLENGE) {
        rt_on_challenge(rt, c, c->body, c->body_len);
    } else if (kind == RT_HS_PROOF) {
        rt_on_proof(rt, c, c->body, c->body_len);
    } else {
        rt_on_accept(rt, c, c->body_len);
    }
}

/* Feeds n received bytes to c's frame parser; false if c was closed. */
static bool rt_conn_parse(rt_t *rt, rt_conn_t *c, const uint8_t *p, size_t n) {
    while (n > 0 && c->fd >= 0) {
        if (c->hdr_have < RT_HEADER_SIZE) {
            size_t take = RT_HEADER_SIZE - c->hdr_have < n ? RT_HEADER_SIZE - c->hdr_have : n;
            memcpy(c->hdr + c->hdr_have, p, take);
            c->hdr_have += take;
            p += take;
            n -= take;
            if (c->hdr_have < RT_HEADER_SIZE || !rt_on_header(rt, c)) {
                continue;
            }
        }
        size_t take = c->body_len - c->body_have < n ? c->body_len - c->body_have : n;
        ctx_memcpy(c->body + c->body_have, p, take);
        c->body_have += take;
        p += take;
        n -= take;
        if (c->body_have == c->body_len) {
            rt_on_frame(rt, c);
        }
    }
    return c->fd >= 0;
}

/* EPOLLIN: read up to RT_READS_PER_EVENT chunks. */
static void rt_conn_read(rt_t *rt, rt_conn_t *c, uint8_t *chunk) {
    for (int i = 0; i < RT_READS_PER_EVENT && c->fd >= 0; i++) {
        ssize_t n = read(c->fd, chunk, RT_READ_CHUNK);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        }
        if (n <= 0) {
            bool hs = c->state != CS_READY;
            rt_conn_fail(rt, c, hs ? CTX_LOG_WARN : CTX_LOG_INFO, "%s%s",
                         n == 0 ? "closed by the other side" : strerror(errno),
                         hs ? " during the handshake (refused by it?)" : "");
            return;
        }
        if (!rt_conn_parse(rt, c, chunk, (size_t)n)) {
            return;
        }
    }
}

/* ---- Writing ------------------------------------------------------------------------------- */

/* Sends what sendmsg took of the queue: pops whole frames, keeps the offset into the next. */
static void rt_peer_consumed(rt_t *rt, rt_pstate_t *p, size_t n) {
    rt_qframe_t *done = NULL, **done_tail = &done;
    pthread_mutex_lock(&rt->mu);
    while (n > 0) {
        rt_qframe_t *f = p->q_head;
        CTX_ASSERT(f != NULL);
        size_t left = f->size - p->send_off;
        if (n < left) {
            p->send_off += n;
            break;
        }
        n -= left;
        p->send_off = 0;
        p->q_head = f->next;
        if (p->q_head == NULL) {
            p->q_tail = NULL;
        }
        p->queued_bytes -= f->size;
        p->sent++;
        f->next = NULL;
        *done_tail = f;
        done_tail = &f->next;
    }
    pthread_mutex_unlock(&rt->mu);
    rt_qframes_free(done);
}

/* Writes the peer's queue on its ready connection, RT_IOV_MAX frames per sendmsg, until the
 * socket is full, the queue is empty or RT_FLUSH_ROUNDS calls were made. */
static void rt_peer_flush(rt_t *rt, rt_pstate_t *p) {
    rt_conn_t *c = p->out;
    if (c == NULL || c->state != CS_READY) {
        return;
    }
    for (int round = 0; round < RT_FLUSH_ROUNDS; round++) {
        struct iovec iov[RT_IOV_MAX];
        int count = 0;
        pthread_mutex_lock(&rt->mu);
        size_t off = p->send_off;
        for (rt_qframe_t *f = p->q_head; f != NULL && count < RT_IOV_MAX; f = f->next) {
            iov[count].iov_base = f->data + off;
            iov[count].iov_len = f->size - off;
            count++;
            off = 0;
        }
        pthread_mutex_unlock(&rt->mu);
        if (count == 0) {
            rt_conn_want_out(rt, c, false);
            return;
        }
        struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)count};
        ssize_t n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            rt_conn_want_out(rt, c, true);
            return;
        }
        if (n < 0) {
            rt_conn_fail(rt, c, CTX_LOG_INFO, "send: %s", strerror(errno));
            return;
        }
        rt_peer_consumed(rt, p, (size_t)n);
    }
    rt_conn_want_out(rt, c, true); /* more to write: come back on EPOLLOUT */
}

/* ---- Connecting and accepting -------------------------------------------------------------- */

/* Starts a non-blocking connect to peer p; on failure schedules the next attempt. */
static void rt_peer_connect(rt_t *rt, rt_pstate_t *p) {
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char port[8];
    snprintf(port, sizeof(port), "%u", p->cfg.port);
    int fd = -1;
    if (getaddrinfo(p->cfg.host, port, &hints, &ai) == 0 && ai != NULL) {
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    }
    rt_conn_t *c = fd >= 0 ? rt_conn_new(rt, fd, true) : NULL;
    if (c == NULL) {
        if (fd >= 0) {
            close(fd);
        }
        if (ai != NULL) {
            freeaddrinfo(ai);
        }
        p->next_connect_ms = rt_now_ms() + RT_BACKOFF_MAX_MS;
        CTX_DEBUG("raft transport: node %u: cannot reach peer %u at %s:%u", rt->self_id, p->cfg.id,
                  p->cfg.host, p->cfg.port);
        return;
    }
    c->peer = p;
    c->peer_id = p->cfg.id;
    c->state = CS_CONNECTING;
    snprintf(c->addr, sizeof(c->addr), "%.60s:%u", p->cfg.host, p->cfg.port);
    p->out = c;
    int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
    int saved = errno;
    freeaddrinfo(ai);
    if (rc == 0) {
        rt_send_hello(rt, c);
    } else if (saved == EINPROGRESS || saved == EINTR) { /* both complete asynchronously */
        rt_conn_want_out(rt, c, true);
    } else {
        rt_conn_fail(rt, c, CTX_LOG_DEBUG, "connect: %s", strerror(saved));
    }
}

/* EPOLLOUT on a connecting dialer: the connect finished, well or not. */
static void rt_conn_connected(rt_t *rt, rt_conn_t *c) {
    int so_error = 0;
    socklen_t len = sizeof(so_error);
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
    if (so_error != 0) {
        rt_conn_fail(rt, c, CTX_LOG_DEBUG, "connect: %s", strerror(so_error));
        return;
    }
    rt_conn_want_out(rt, c, false);
    rt_send_hello(rt, c);
}

static void rt_accept_all(rt_t *rt) {
    for (int i = 0; i < RT_ACCEPTS_PER_EVENT; i++) {
        struct sockaddr_storage sa;
        socklen_t sa_len = sizeof(sa);
        int fd =
            accept4(rt->listen_fd, (struct sockaddr *)&sa, &sa_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                CTX_WARN("raft transport: node %u: accept: %s", rt->self_id, strerror(errno));
            }
            return;
        }
        char addr[RT_ADDR_MAX];
        rt_addr_string((struct sockaddr *)&sa, addr, sizeof(addr));
        if (rt->inbound_count >= RT_INBOUND_CONNS_MAX) {
            CTX_WARN("raft transport: node %u: refused connection from %s: %zu connections "
                     "open",
                     rt->self_id, addr, rt->inbound_count);
            close(fd);
            continue;
        }
        rt_conn_t *c = rt_conn_new(rt, fd, false);
        if (c == NULL) {
            CTX_WARN("raft transport: node %u: dropped connection from %s: out of memory",
                     rt->self_id, addr);
            close(fd);
            continue;
        }
        rt->inbound_count++;
        c->state = CS_WAIT_HELLO;
        snprintf(c->addr, sizeof(c->addr), "%s", addr);
    }
}

/* ---- The I/O thread ------------------------------------------------------------------------ */

/* Frees peers removed since the last iteration, closing their connections. */
static void rt_reap_retired(rt_t *rt, rt_pstate_t *retired) {
    while (retired != NULL) {
        rt_pstate_t *p = retired;
        retired = p->retired_next;
        if (p->out != NULL) {
            p->out->peer = NULL;
            rt_conn_fail(rt, p->out, CTX_LOG_INFO, "peer removed");
        }
        rt_close_inbound_of(rt, p->cfg.id, NULL);
        rt_qframes_free(p->q_head);
        free(p);
    }
}

/* Timers: connects due, handshake deadlines, queued frames. Returns the epoll timeout. */
static int rt_tick(rt_t *rt) {
    rt_pstate_t *peers[RT_PEERS_MAX];
    pthread_mutex_lock(&rt->mu);
    size_t count = rt->peers_count;
    memcpy(peers, rt->peers, count * sizeof(peers[0]));
    rt_pstate_t *retired = rt->retired;
    rt->retired = NULL;
    pthread_mutex_unlock(&rt->mu);
    rt_reap_retired(rt, retired);
    int64_t now = rt_now_ms(), wait_ms = RT_WAIT_MAX_MS;
    for (size_t i = 0; i < count; i++) {
        rt_pstate_t *p = peers[i];
        if (p->out == NULL && p->next_connect_ms <= now) {
            rt_peer_connect(rt, p);
        }
        if (p->out == NULL && p->next_connect_ms - now < wait_ms) {
            wait_ms = p->next_connect_ms - now;
        }
        rt_peer_flush(rt, p);
    }
    rt_conn_t *c = rt->conns;
    while (c != NULL) {
        rt_conn_t *next = c->next;
        if (c->deadline_ms != 0 && c->deadline_ms <= now) {
            rt_conn_fail(rt, c, CTX_LOG_WARN, "handshake timed out");
        } else if (c->deadline_ms != 0 && c->deadline_ms - now < wait_ms) {
            wait_ms = c->deadline_ms - now;
        }
        c = next;
    }
    return wait_ms < 0 ? 0 : (int)wait_ms;
}

static void rt_conn_event(rt_t *rt, rt_conn_t *c, uint32_t events, uint8_t *chunk) {
    if (c->fd >= 0 && c->state == CS_CONNECTING && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        rt_conn_connected(rt, c);
        return;
    }
    if (c->fd >= 0 && (events & EPOLLOUT)) {
        if (c->hs_out_off < c->hs_out_len) {
            rt_conn_flush_hs(rt, c);
        } else if (c->dialer && c->peer != NULL) {
            rt_peer_flush(rt, c->peer);
        }
    }
    if (c->fd >= 0 && (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
        rt_conn_read(rt, c, chunk);
    }
}

static void *rt_thread_main(void *arg) {
    rt_t *rt = arg;
    uint8_t *chunk = ctx_malloc(RT_READ_CHUNK);
    struct epoll_event events[RT_EVENTS_MAX];
    for (;;) {
        pthread_mutex_lock(&rt->mu);
        bool stop = rt->stop;
        pthread_mutex_unlock(&rt->mu);
        if (stop) {
            break;
        }
        int timeout_ms = rt_tick(rt);
        int n = epoll_wait(rt->epoll_fd, events, RT_EVENTS_MAX, timeout_ms);
        for (int i = 0; i < n; i++) {
            void *tag = events[i].data.ptr;
            if (tag == &rt->listen_fd) {
                rt_accept_all(rt);
            } else if (tag == &rt->wake_fd) {
                /* Read, then clear: a send after the clear writes the eventfd again, a send
                 * before it queued its frame before the next rt_tick flushes. (Clearing first
                 * would let this read swallow a later send's wake-up and leave the flag set.) */
                uint64_t value;
                ssize_t got = read(rt->wake_fd, &value, sizeof(value));
                (void)got;
                pthread_mutex_lock(&rt->mu);
                rt->wake_pending = false;
                pthread_mutex_unlock(&rt->mu);
            } else {
                rt_conn_event(rt, tag, events[i].events, chunk);
            }
        }
        while (rt->dead != NULL) {
            rt_conn_t *c = rt->dead;
            rt->dead = c->next;
            free(c);
        }
        if (rt->notify_due && rt->notify_fd >= 0) {
            uint64_t one = 1;
            ssize_t w = write(rt->notify_fd, &one, sizeof(one));
            (void)w;
        }
        rt->notify_due = false;
    }
    free(chunk);
    return NULL;
}

/* ---- Public API ---------------------------------------------------------------------------- */

static int rt_check_config(const rt_config_t *cfg, ctx_err_t *err) {
    if (cfg->self_id == 0 || cfg->listen_host == NULL || cfg->secret == NULL ||
        cfg->secret[0] == '\0' || cfg->peers_count > RT_PEERS_MAX ||
        (cfg->peers_count > 0 && cfg->peers == NULL)) {
        return ctx_err_set(err, CTX_EBAD_PARAM, "raft transport: invalid configuration");
    }
    if (cfg->advertise != NULL && strlen(cfg->advertise) > RT_ADV_LEN_MAX) {
        return ctx_err_set(err, CTX_EBAD_PARAM, "raft transport: advertise address too long");
    }
    return CTX_OK;
}

/* Binds and listens on host:port: rt->listen_fd and rt->port. */
static int rt_listen(rt_t *rt, const char *host, uint16_t port, ctx_err_t *err) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    char port_text[8];
    snprintf(port_text, sizeof(port_text), "%u", port);
    int rc = getaddrinfo(host, port_text, &hints, &ai);
    if (rc != 0) {
        return ctx_err_set(err, CTX_ECONFIG, "raft transport: cannot resolve listen host %s: %s",
                           host, gai_strerror(rc));
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, RT_LISTEN_BACKLOG) != 0) {
        int saved = errno;
        if (fd >= 0) {
            close(fd);
        }
        freeaddrinfo(ai);
        return ctx_err_set(err, CTX_EIO, "raft transport: cannot listen on %s:%u: %s", host, port,
                           strerror(saved));
    }
    freeaddrinfo(ai);
    struct sockaddr_storage sa;
    socklen_t sa_len = sizeof(sa);
    getsockname(fd, (struct sockaddr *)&sa, &sa_len);
    rt->port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                              : ((struct sockaddr_in *)&sa)->sin_port);
    rt->listen_fd = fd;
    return CTX_OK;
}

static int rt_add_locked(rt_t *rt, const rt_peer_t *peer) {
    if (peer->id == 0 || peer->id == rt->self_id || rt_find_peer(rt, peer->id) != NULL ||
        memchr(peer->host, '\0', sizeof(peer->host)) == NULL) {
        return CTX_EBAD_PARAM;
    }
    if (rt->peers_count == RT_PEERS_MAX) {
        return CTX_ELIMIT;
    }
    rt_pstate_t *p = ctx_try_calloc(1, sizeof(*p));
    if (p == NULL) {
        return CTX_ENOMEM;
    }
    p->cfg = *peer;
    p->direct_fd = -1;
    p->backoff_ms = RT_BACKOFF_MIN_MS;
    rt->peers[rt->peers_count++] = p;
    return CTX_OK;
}

/* Creates the epoll set with the listener and the wake eventfd. */
static int rt_setup_epoll(rt_t *rt, ctx_err_t *err) {
    rt->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    rt->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = &rt->listen_fd};
    struct epoll_event wev = {.events = EPOLLIN, .data.ptr = &rt->wake_fd};
    if (rt->epoll_fd < 0 || rt->wake_fd < 0 ||
        epoll_ctl(rt->epoll_fd, EPOLL_CTL_ADD, rt->listen_fd, &lev) != 0 ||
        epoll_ctl(rt->epoll_fd, EPOLL_CTL_ADD, rt->wake_fd, &wev) != 0) {
        return ctx_err_set(err, CTX_EIO, "raft transport: epoll/eventfd: %s", strerror(errno));
    }
    return CTX_OK;
}

int rt_start(const rt_config_t *cfg, rt_t **out, ctx_err_t *err) {
    int rc = rt_check_config(cfg, err);
    if (rc != 0) {
        return rc;
    }
    rt_t *rt = ctx_try_calloc(1, sizeof(*rt));
    if (rt == NULL) {
        return ctx_err_set(err, CTX_ENOMEM, "raft transport: out of memory");
    }
    pthread_mutex_init(&rt->mu, NULL);
    rt->listen_fd = rt->epoll_fd = rt->wake_fd = -1;
    rt->self_id = cfg->self_id;
    rt->listen_host = ctx_strdup(cfg->listen_host);
    rt->secret = ctx_strdup(cfg->secret);
    rt->advertise = ctx_strdup(cfg->advertise != NULL ? cfg->advertise : "");
    rt->queue_bytes_max = cfg->queue_bytes_max != 0 ? cfg->queue_bytes_max : RT_QUEUE_BYTES_DEFAULT;
    rt->inbound_bytes_max = rt->queue_bytes_max * RT_INBOUND_FACTOR;
    rt->notify_fd = cfg->notify_fd;
    rt->handshake_timeout_ms =
        cfg->handshake_timeout_ms != 0 ? cfg->handshake_timeout_ms : RT_HANDSHAKE_TIMEOUT_MS;
    uint64_t now = (uint64_t)rt_now_ms();
    rt->rng = (now ^ ((uint64_t)cfg->self_id << 32)) | 1;
    for (size_t i = 0; i < cfg->peers_count && rc == 0; i++) {
        rc = rt_add_locked(rt, &cfg->peers[i]);
        if (rc != 0) {
            ctx_err_set(err, rc, "raft transport: invalid peer %u", cfg->peers[i].id);
        }
    }
    if (rc == 0) {
        rc = rt_listen(rt, cfg->listen_host, cfg->listen_port, err);
    }
    if (rc == 0) {
        rc = rt_setup_epoll(rt, err);
    }
    if (rc == 0 && pthread_create(&rt->thread, NULL, rt_thread_main, rt) != 0) {
        rc = ctx_err_set(err, CTX_EIO, "raft transport: cannot start its thread");
    }
    if (rc != 0) {
        rt_stop(rt);
        return rc;
    }
    rt->thread_started = true;
    *out = rt;
    return CTX_OK;
}

uint16_t rt_listen_port(const rt_t *rt) {
    return rt->port;
}

void rt_stop(rt_t *rt) {
    if (rt == NULL) {
        return;
    }
    if (rt->thread_started) {
        pthread_mutex_lock(&rt->mu);
        rt->stop = true;
        pthread_mutex_unlock(&rt->mu);
        rt_wake(rt);
        pthread_join(rt->thread, NULL);
    }
    while (rt->conns != NULL) {
        rt_conn_close(rt, rt->conns);
    }
    while (rt->dead != NULL) {
        rt_conn_t *c = rt->dead;
        rt->dead = c->next;
        free(c);
    }
    for (size_t i = 0; i < rt->peers_count; i++) {
        rt->peers[i]->retired_next = rt->retired;
        rt->retired = rt->peers[i];
    }
    rt->peers_count = 0;
    rt_reap_retired(rt, rt->retired);
    rt_inframes_free(rt->in_head);
    rt_inframes_free(rt->delivered);
    int fds[] = {rt->listen_fd, rt->epoll_fd, rt->wake_fd};
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
        if (fds[i] >= 0) {
            close(fds[i]);
        }
    }
    pthread_mutex_destroy(&rt->mu);
    free(rt->listen_host);
    free(rt->secret);
    free(rt->advertise);
    free(rt);
}

/* Writes f on p's socket from the caller's thread (mu held) when nothing is queued before it;
 * returns the bytes the socket took (0 when it could not be tried or failed: the I/O thread
 * then sends the frame, or finds the error). */
static size_t rt_send_direct(rt_pstate_t *p, const rt_qframe_t *f) {
    if (p->direct_fd < 0 || p->q_head != NULL) {
        return 0;
    }
    for (;;) {
        ssize_t n = send(p->direct_fd, f->data, f->size, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        return n < 0 ? 0 : (size_t)n;
    }
}

int rt_send(rt_t *rt, uint32_t to, uint8_t kind, const void *bytes, size_t len) {
    if (kind == 0 || kind > RT_KIND_USER_MAX || len > RT_FRAME_PAYLOAD_MAX) {
        return CTX_EBAD_PARAM;
    }
    rt_qframe_t *f = ctx_try_malloc(sizeof(*f) + RT_HEADER_SIZE + len);
    if (f != NULL) {
        f->next = NULL;
        f->size = RT_HEADER_SIZE + len;
        rt_wire_header(f->data, kind, bytes, len);
        ctx_memcpy(f->data + RT_HEADER_SIZE, bytes, len);
    }
    int rc = CTX_OK;
    bool wake = false;
    size_t sent = 0;
    pthread_mutex_lock(&rt->mu);
    rt_pstate_t *p = rt_find_peer(rt, to);
    if (p == NULL) {
        rc = CTX_EBAD_PARAM;
    } else if (f == NULL) {
        p->dropped++;
        rc = CTX_ENOMEM;
    } else if (p->queued_bytes > 0 && p->queued_bytes + f->size > rt->queue_bytes_max) {
        p->dropped++;
        rc = CTX_ELIMIT;
    } else if ((sent = rt_send_direct(p, f)) == f->size) {
        p->sent++; /* f is freed below */
    } else {
        if (sent > 0) {
            p->send_off = sent; /* the queue was empty: f is its head */
        }
        if (p->q_tail != NULL) {
            p->q_tail->next = f;
        } else {
            p->q_head = f;
        }
        p->q_tail = f;
        p->queued_bytes += f->size;
        f = NULL;
        wake = !rt->wake_pending;
        rt->wake_pending = true;
    }
    pthread_mutex_unlock(&rt->mu);
    free(f);
    if (wake) {
        rt_wake(rt);
    }
    return rc;
}

size_t rt_recv(rt_t *rt, rt_frame_t *out, size_t max) {
    rt_inframes_free(rt->delivered);
    rt->delivered = NULL;
    rt_inframe_t **tail = &rt->delivered;
    size_t count = 0;
    pthread_mutex_lock(&rt->mu);
    while (count < max && rt->in_head != NULL) {
        rt_inframe_t *f = rt->in_head;
        rt->in_head = f->next;
        rt->in_bytes -= f->len;
        f->next = NULL;
        *tail = f;
        tail = &f->next;
        out[count++] =
            (rt_frame_t){.from = f->from, .kind = f->kind, .bytes = f->bytes, .len = f->len};
    }
    if (rt->in_head == NULL) {
        rt->in_tail = NULL;
    }
    pthread_mutex_unlock(&rt->mu);
    return count;
}

int rt_add_peer(rt_t *rt, const rt_peer_t *peer) {
    pthread_mutex_lock(&rt->mu);
    int rc = rt_add_locked(rt, peer);
    pthread_mutex_unlock(&rt->mu);
    if (rc == 0) {
        rt_wake(rt);
    }
    return rc;
}

int rt_remove_peer(rt_t *rt, uint32_t id) {
    int rc = CTX_EBAD_PARAM;
    pthread_mutex_lock(&rt->mu);
    for (size_t i = 0; i < rt->peers_count; i++) {
        rt_pstate_t *p = rt->peers[i];
        if (p->cfg.id == id) {
            rt->peers[i] = rt->peers[--rt->peers_count];
            p->retired_next = rt->retired;
            rt->retired = p;
            rc = CTX_OK;
            break;
        }
    }
    pthread_mutex_unlock(&rt->mu);
    if (rc == 0) {
        rt_wake(rt);
    }
    return rc;
}

int rt_peer_status(rt_t *rt, uint32_t id, rt_peer_status_t *out) {
    pthread_mutex_lock(&rt->mu);
    rt_pstate_t *p = rt_find_peer(rt, id);
    if (p != NULL) {
        *out = (rt_peer_status_t){.connected = p->connected,
                                  .last_recv_ms = p->last_recv_ms,
                                  .queued_bytes = p->queued_bytes,
                                  .sent_frames = p->sent,
                                  .dropped_frames = p->dropped,
                                  .recv_frames = p->recv,
                                  .recv_dropped_frames = p->recv_dropped};
        memcpy(out->advertise, p->advertise, sizeof(out->advertise));
    }
    pthread_mutex_unlock(&rt->mu);
    return p != NULL ? CTX_OK : CTX_EBAD_PARAM;
}

void rt_stats(rt_t *rt, rt_stats_t *out) {
    pthread_mutex_lock(&rt->mu);
    *out = rt->stats;
    pthread_mutex_unlock(&rt->mu);
}
