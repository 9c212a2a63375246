/*
 * test_transport.c — the raft TCP transport (raft/transport.h) with real sockets on 127.0.0.1:
 * several transports in this process exchange frames both ways and in order, a large frame
 * arrives intact, wrong secrets, unknown ids, replayed proofs and a listener posing as a member
 * are refused, a stopped peer's queue stays bounded and frames flow again once it restarts, a
 * frame cut by a broken connection is sent again whole, undrained inbound frames are bounded,
 * and garbage or corrupted bytes from a raw socket close only that connection. Raw sockets
 * speak the protocol (both handshake roles) through the wire helpers (rt_wire_header,
 * rt_wire_proof). Waits poll with a generous deadline; nothing asserts on elapsed time.
 */
#include "crc32c.h"
#include "transport.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SECRET "cluster-secret-for-tests"
enum { WAIT_MS = 15000, FRAMES_MAX = 4096 };

typedef struct got {
    uint32_t from;
    uint8_t kind;
    size_t len;
    uint8_t *bytes;
} got_t;

typedef struct inbox {
    got_t frames[FRAMES_MAX];
    size_t count;
} inbox_t;

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms) {
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static rt_t *node_start(uint32_t id, uint16_t port, const char *secret, size_t queue_max,
                        int notify_fd) {
    char adv[32];
    snprintf(adv, sizeof(adv), "127.0.0.1:%u", 5400 + id);
    rt_config_t cfg = {.self_id = id,
                       .listen_host = "127.0.0.1",
                       .listen_port = port,
                       .secret = secret,
                       .advertise = adv,
                       .queue_bytes_max = queue_max,
                       .notify_fd = notify_fd};
    rt_t *rt = NULL;
    ctx_err_t err = {0};
    ck_assert_msg(rt_start(&cfg, &rt, &err) == 0, "rt_start: %s", err.message);
    ck_assert_uint_ne(rt_listen_port(rt), 0);
    return rt;
}

static void add_peer(rt_t *rt, uint32_t id, const rt_t *other) {
    rt_peer_t peer = {.id = id, .port = rt_listen_port(other)};
    snprintf(peer.host, sizeof(peer.host), "127.0.0.1");
    ck_assert_int_eq(rt_add_peer(rt, &peer), 0);
}

/* Drains rt into box once; returns how many frames arrived. */
static size_t drain(rt_t *rt, inbox_t *box) {
    rt_frame_t frames[64];
    size_t n = rt_recv(rt, frames, 64);
    for (size_t i = 0; i < n; i++) {
        ck_assert_uint_lt(box->count, FRAMES_MAX);
        got_t *g = &box->frames[box->count++];
        g->from = frames[i].from;
        g->kind = frames[i].kind;
        g->len = frames[i].len;
        g->bytes = malloc(frames[i].len + 1);
        ck_assert_ptr_nonnull(g->bytes);
        memcpy(g->bytes, frames[i].bytes, frames[i].len);
    }
    return n;
}

/* Drains until box holds want frames (or the deadline passes). */
static void drain_until(rt_t *rt, inbox_t *box, size_t want) {
    int64_t deadline = now_ms() + WAIT_MS;
    while (box->count < want && now_ms() < deadline) {
        if (drain(rt, box) == 0) {
            sleep_ms(2);
        }
    }
    ck_assert_uint_eq(box->count, want);
}

static void inbox_clear(inbox_t *box) {
    for (size_t i = 0; i < box->count; i++) {
        free(box->frames[i].bytes);
    }
    box->count = 0;
}

static bool is_connected(rt_t *rt, uint32_t id) {
    rt_peer_status_t st;
    ck_assert_int_eq(rt_peer_status(rt, id, &st), 0);
    return st.connected;
}

static void wait_connected(rt_t *rt, uint32_t id, bool want) {
    int64_t deadline = now_ms() + WAIT_MS;
    while (is_connected(rt, id) != want && now_ms() < deadline) {
        sleep_ms(2);
    }
    ck_assert(is_connected(rt, id) == want);
}

static uint64_t refused(rt_t *rt) {
    rt_stats_t st;
    rt_stats(rt, &st);
    return st.handshakes_refused;
}

static uint64_t corrupt(rt_t *rt) {
    rt_stats_t st;
    rt_stats(rt, &st);
    return st.frames_corrupt;
}

static void wait_refused(rt_t *rt, uint64_t at_least) {
    int64_t deadline = now_ms() + WAIT_MS;
    while (refused(rt) < at_least && now_ms() < deadline) {
        sleep_ms(2);
    }
    ck_assert_uint_ge(refused(rt), at_least);
}

/* A frame payload: sender, receiver, sequence number, then seq % 200 filler bytes. */
static size_t make_payload(uint8_t *out, uint32_t from, uint32_t to, uint32_t seq) {
    memcpy(out, &from, 4);
    memcpy(out + 4, &to, 4);
    memcpy(out + 8, &seq, 4);
    size_t filler = seq % 200;
    memset(out + 12, (int)(seq & 0xff), filler);
    return 12 + filler;
}

/* ---- A raw socket speaking the protocol ----------------------------------------------------- */

static int raw_connect(uint16_t port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct timeval tv = {.tv_sec = WAIT_MS / 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static void raw_write_all(int fd, const void *bytes, size_t len) {
    const uint8_t *p = bytes;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        ck_assert_int_gt(n, 0);
        p += n;
        len -= (size_t)n;
    }
}

/* Sends one frame; flip_bit >= 0 flips that bit of the payload after the CRC was computed. */
static void raw_send_frame(int fd, uint8_t kind, const void *payload, size_t len, int flip_bit) {
    uint8_t *buf = malloc(RT_HEADER_SIZE + len + 1);
    ck_assert_ptr_nonnull(buf);
    rt_wire_header(buf, kind, payload, len);
    ctx_memcpy(buf + RT_HEADER_SIZE, payload, len);
    if (flip_bit >= 0) {
        buf[RT_HEADER_SIZE + (size_t)flip_bit / 8] ^= (uint8_t)(1u << (flip_bit % 8));
    }
    raw_write_all(fd, buf, RT_HEADER_SIZE + len);
    free(buf);
}

static bool raw_read_exact(int fd, uint8_t *out, size_t len) {
    while (len > 0) {
        ssize_t n = recv(fd, out, len, 0);
        if (n <= 0) {
            return false;
        }
        out += n;
        len -= (size_t)n;
    }
    return true;
}

/* Reads one frame into payload (cap bytes); returns its length or -1 on EOF/reset/timeout. */
static long raw_read_frame(int fd, uint8_t *kind, uint8_t *payload, size_t cap) {
    uint8_t hdr[RT_HEADER_SIZE];
    if (!raw_read_exact(fd, hdr, sizeof(hdr))) {
        return -1;
    }
    uint32_t len =
        (uint32_t)hdr[0] | (uint32_t)hdr[1] << 8 | (uint32_t)hdr[2] << 16 | (uint32_t)hdr[3] << 24;
    ck_assert_uint_le(len, cap);
    ck_assert_uint_eq(hdr[4], RT_VERSION);
    *kind = hdr[5];
    if (!raw_read_exact(fd, payload, len)) {
        return -1;
    }
    uint32_t crc = crc32c(crc32c(0, hdr, 8), payload, len);
    ck_assert_uint_eq(crc, (uint32_t)hdr[8] | (uint32_t)hdr[9] << 8 | (uint32_t)hdr[10] << 16 |
                               (uint32_t)hdr[11] << 24);
    return (long)len;
}

/* True once the other side has closed fd (EOF or reset). */
static bool raw_closed(int fd) {
    uint8_t byte;
    ssize_t n = recv(fd, &byte, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

static void put_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

typedef struct raw_hs {
    uint32_t self_id, target_id;
    const char *secret;
    const char *advertise;
    uint8_t nonce[RT_NONCE_SIZE];
    const uint8_t *stale_acceptor_nonce;   /* prove over this instead of the one received */
    uint8_t acceptor_nonce[RT_NONCE_SIZE]; /* out: the acceptor's nonce */
} raw_hs_t;

/* Runs the dialer side of the handshake on fd; true when the acceptor sent ACCEPT. */
static bool raw_handshake(int fd, raw_hs_t *hs) {
    uint8_t hello[42 + 64];
    size_t al = strlen(hs->advertise);
    ck_assert_uint_le(al, 64);
    put_u32(hello, hs->self_id);
    put_u32(hello + 4, hs->target_id);
    memcpy(hello + 8, hs->nonce, RT_NONCE_SIZE);
    hello[40] = (uint8_t)al;
    hello[41] = 0;
    memcpy(hello + 42, hs->advertise, al);
    raw_send_frame(fd, 128, hello, 42 + al, -1);
    uint8_t msg[512], kind = 0;
    long len = raw_read_frame(fd, &kind, msg, sizeof(msg));
    if (len < 0) {
        return false;
    }
    ck_assert_uint_eq(kind, 129);
    ck_assert_int_ge(len, 70);
    memcpy(hs->acceptor_nonce, msg + 4, RT_NONCE_SIZE);
    char acceptor_adv[RT_ADVERTISE_MAX];
    size_t aal = (size_t)msg[68] | (size_t)msg[69] << 8;
    ck_assert_uint_eq(aal + 70, (size_t)len);
    memcpy(acceptor_adv, msg + 70, aal);
    acceptor_adv[aal] = '\0';
    uint8_t want[RT_MAC_SIZE], proof[RT_MAC_SIZE];
    const uint8_t *an = hs->stale_acceptor_nonce ? hs->stale_acceptor_nonce : hs->acceptor_nonce;
    ck_assert_int_eq(rt_wire_proof(hs->secret, 'A', hs->self_id, hs->target_id, hs->nonce,
                                   hs->acceptor_nonce, hs->advertise, acceptor_adv, want),
                     0);
    if (hs->stale_acceptor_nonce == NULL && strcmp(hs->secret, SECRET) == 0) {
        ck_assert_mem_eq(want, msg + 36, RT_MAC_SIZE); /* the acceptor proved the secret */
    }
    ck_assert_int_eq(rt_wire_proof(hs->secret, 'D', hs->self_id, hs->target_id, hs->nonce, an,
                                   hs->advertise, acceptor_adv, proof),
                     0);
    raw_send_frame(fd, 130, proof, RT_MAC_SIZE, -1);
    len = raw_read_frame(fd, &kind, msg, sizeof(msg));
    if (len < 0) {
        return false;
    }
    ck_assert_uint_eq(kind, 131);
    ck_assert_int_eq(len, 0);
    return true;
}

/* Runs the acceptor side of the handshake as member self_id on an accepted fd; true when the
 * dialer's proof checked out and ACCEPT was sent. */
static bool raw_accept_handshake(int fd, uint32_t self_id, const char *secret) {
    uint8_t msg[512], kind = 0;
    long len = raw_read_frame(fd, &kind, msg, sizeof(msg));
    if (len < 42 || kind != 128) {
        return false;
    }
    uint32_t dialer_id =
        (uint32_t)msg[0] | (uint32_t)msg[1] << 8 | (uint32_t)msg[2] << 16 | (uint32_t)msg[3] << 24;
    char dialer_adv[RT_ADVERTISE_MAX];
    size_t dl = (size_t)msg[40] | (size_t)msg[41] << 8;
    ck_assert_uint_eq(dl + 42, (size_t)len);
    memcpy(dialer_adv, msg + 42, dl);
    dialer_adv[dl] = '\0';
    uint8_t dialer_nonce[RT_NONCE_SIZE], challenge[70 + 3], want[RT_MAC_SIZE];
    memcpy(dialer_nonce, msg + 8, RT_NONCE_SIZE);
    put_u32(challenge, self_id);
    for (int i = 0; i < RT_NONCE_SIZE; i++) {
        challenge[4 + i] = (uint8_t)(rand() & 0xff);
    }
    ck_assert_int_eq(rt_wire_proof(secret, 'A', dialer_id, self_id, dialer_nonce, challenge + 4,
                                   dialer_adv, "r:2", challenge + 36),
                     0);
    challenge[68] = 3;
    challenge[69] = 0;
    memcpy(challenge + 70, "r:2", 3);
    raw_send_frame(fd, 129, challenge, sizeof(challenge), -1);
    len = raw_read_frame(fd, &kind, msg, sizeof(msg));
    ck_assert_int_eq(rt_wire_proof(secret, 'D', dialer_id, self_id, dialer_nonce, challenge + 4,
                                   dialer_adv, "r:2", want),
                     0);
    if (len != RT_MAC_SIZE || kind != 130 || memcmp(msg, want, RT_MAC_SIZE) != 0) {
        return false;
    }
    raw_send_frame(fd, 131, NULL, 0, -1);
    return true;
}

static int raw_accept(int lfd) {
    struct pollfd pfd = {.fd = lfd, .events = POLLIN};
    ck_assert_int_eq(poll(&pfd, 1, WAIT_MS), 1);
    int fd = accept(lfd, NULL, NULL);
    ck_assert_int_ge(fd, 0);
    struct timeval tv = {.tv_sec = WAIT_MS / 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

/* A listening raw socket on 127.0.0.1; its port in *port. */
static int raw_listen(uint16_t *port) {
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sa_len = sizeof(sa);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(lfd, 8), 0);
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sa, &sa_len), 0);
    *port = ntohs(sa.sin_port);
    return lfd;
}

/* ---- Tests ---------------------------------------------------------------------------------- */

START_TEST(test_wire_header_layout) {
    uint8_t hdr[RT_HEADER_SIZE];
    rt_wire_header(hdr, RT_KIND_SNAPSHOT, "abc", 3);
    const uint8_t fixed[8] = {3, 0, 0, 0, RT_VERSION, RT_KIND_SNAPSHOT, 0, 0};
    ck_assert_mem_eq(hdr, fixed, 8);
    uint32_t crc = crc32c(crc32c(0, fixed, 8), "abc", 3);
    const uint8_t crc_le[4] = {(uint8_t)crc, (uint8_t)(crc >> 8), (uint8_t)(crc >> 16),
                               (uint8_t)(crc >> 24)};
    ck_assert_mem_eq(hdr + 8, crc_le, 4);
    /* The proof depends on every input: role, ids and both nonces. */
    uint8_t n1[RT_NONCE_SIZE] = {1}, n2[RT_NONCE_SIZE] = {2}, a[RT_MAC_SIZE], b[RT_MAC_SIZE];
    ck_assert_int_eq(rt_wire_proof(SECRET, 'D', 1, 2, n1, n2, "x:1", "y:2", a), 0);
    ck_assert_int_eq(rt_wire_proof(SECRET, 'A', 1, 2, n1, n2, "x:1", "y:2", b), 0);
    ck_assert_mem_ne(a, b, RT_MAC_SIZE);
    ck_assert_int_eq(rt_wire_proof(SECRET, 'D', 2, 1, n1, n2, "x:1", "y:2", b), 0);
    ck_assert_mem_ne(a, b, RT_MAC_SIZE);
    ck_assert_int_eq(rt_wire_proof(SECRET, 'D', 1, 2, n2, n1, "x:1", "y:2", b), 0);
    ck_assert_mem_ne(a, b, RT_MAC_SIZE);
    ck_assert_int_eq(rt_wire_proof("other", 'D', 1, 2, n1, n2, "x:1", "y:2", b), 0);
    ck_assert_mem_ne(a, b, RT_MAC_SIZE);
}
END_TEST

START_TEST(test_send_arguments) {
    rt_t *a = node_start(1, 0, SECRET, 0, -1);
    uint8_t byte = 0;
    ck_assert_int_eq(rt_send(a, 2, RT_KIND_RAFT, &byte, 1), CTX_EBAD_PARAM); /* unknown */
    rt_peer_t self = {.id = 1, .port = 1};
    snprintf(self.host, sizeof(self.host), "127.0.0.1");
    ck_assert_int_eq(rt_add_peer(a, &self), CTX_EBAD_PARAM);
    self.id = 2;
    ck_assert_int_eq(rt_add_peer(a, &self), 0);
    ck_assert_int_eq(rt_add_peer(a, &self), CTX_EBAD_PARAM); /* duplicate */
    ck_assert_int_eq(rt_send(a, 2, 0, &byte, 1), CTX_EBAD_PARAM);
    ck_assert_int_eq(rt_send(a, 2, 200, &byte, 1), CTX_EBAD_PARAM);
    ck_assert_int_eq(rt_send(a, 2, RT_KIND_RAFT, NULL, RT_FRAME_PAYLOAD_MAX + 1), CTX_EBAD_PARAM);
    ck_assert_int_eq(rt_remove_peer(a, 2), 0);
    ck_assert_int_eq(rt_remove_peer(a, 2), CTX_EBAD_PARAM);
    rt_peer_status_t st;
    ck_assert_int_eq(rt_peer_status(a, 2, &st), CTX_EBAD_PARAM);
    rt_stop(a);
    rt_config_t bad = {.self_id = 1, .listen_host = "127.0.0.1", .secret = ""};
    rt_t *none = NULL;
    ctx_err_t err = {0};
    ck_assert_int_eq(rt_start(&bad, &none, &err), CTX_EBAD_PARAM);
    ck_assert_ptr_null(none);
}
END_TEST

/* Three members, every pair both ways: every frame arrives once, in per-sender order. */
START_TEST(test_three_members_exchange_in_order) {
    enum { N = 400, MEMBERS = 3 };
    int notify = eventfd(0, EFD_NONBLOCK);
    ck_assert_int_ge(notify, 0);
    rt_t *rt[MEMBERS];
    for (uint32_t i = 0; i < MEMBERS; i++) {
        rt[i] = node_start(i + 1, 0, SECRET, 0, i == 0 ? notify : -1);
    }
    for (uint32_t i = 0; i < MEMBERS; i++) {
        for (uint32_t j = 0; j < MEMBERS; j++) {
            if (i != j) {
                add_peer(rt[i], j + 1, rt[j]);
            }
        }
    }
    uint8_t payload[256];
    for (uint32_t seq = 0; seq < N; seq++) {
        for (uint32_t i = 0; i < MEMBERS; i++) {
            for (uint32_t j = 0; j < MEMBERS; j++) {
                if (i != j) {
                    size_t len = make_payload(payload, i + 1, j + 1, seq);
                    ck_assert_int_eq(rt_send(rt[i], j + 1, RT_KIND_RAFT, payload, len), 0);
                }
            }
        }
    }
    static inbox_t box;
    for (uint32_t j = 0; j < MEMBERS; j++) {
        drain_until(rt[j], &box, N * (MEMBERS - 1));
        uint32_t next[MEMBERS + 1] = {0};
        for (size_t k = 0; k < box.count; k++) {
            got_t *g = &box.frames[k];
            uint8_t expect[256];
            ck_assert_uint_eq(g->kind, RT_KIND_RAFT);
            ck_assert_uint_ne(g->from, j + 1);
            size_t len = make_payload(expect, g->from, j + 1, next[g->from]++);
            ck_assert_uint_eq(g->len, len);
            ck_assert_mem_eq(g->bytes, expect, len);
        }
        inbox_clear(&box);
    }
    for (uint32_t j = 0; j < MEMBERS; j++) {
        for (uint32_t i = 0; i < MEMBERS; i++) {
            if (i == j) {
                continue;
            }
            rt_peer_status_t st;
            ck_assert_int_eq(rt_peer_status(rt[j], i + 1, &st), 0);
            ck_assert_uint_eq(st.recv_frames, N);
            ck_assert_int_gt(st.last_recv_ms, 0);
            char adv[32];
            snprintf(adv, sizeof(adv), "127.0.0.1:%u", 5400 + i + 1);
            ck_assert_str_eq(st.advertise, adv);
            ck_assert(st.connected);
        }
    }
    uint64_t notified = 0;
    ck_assert_int_eq(read(notify, &notified, sizeof(notified)), (ssize_t)sizeof(notified));
    ck_assert_uint_ge(notified, 1);
    for (uint32_t i = 0; i < MEMBERS; i++) {
        rt_stop(rt[i]);
    }
    close(notify);
}
END_TEST

START_TEST(test_large_frame_intact) {
    enum { BIG = 12 * 1024 * 1024 + 7 };
    rt_t *a = node_start(1, 0, SECRET, 0, -1), *b = node_start(2, 0, SECRET, 0, -1);
    add_peer(a, 2, b);
    add_peer(b, 1, a);
    uint8_t *big = malloc(BIG);
    ck_assert_ptr_nonnull(big);
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < BIG; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        big[i] = (uint8_t)x;
    }
    ck_assert_int_eq(rt_send(a, 2, RT_KIND_SNAPSHOT, big, BIG), 0);
    ck_assert_int_eq(rt_send(a, 2, RT_KIND_RAFT, "after", 5), 0);
    ck_assert_int_eq(rt_send(a, 2, RT_KIND_FORWARD, NULL, 0), 0);
    static inbox_t box;
    drain_until(b, &box, 3);
    ck_assert_uint_eq(box.frames[0].kind, RT_KIND_SNAPSHOT);
    ck_assert_uint_eq(box.frames[0].len, BIG);
    ck_assert(memcmp(box.frames[0].bytes, big, BIG) == 0);
    ck_assert_uint_eq(box.frames[1].len, 5);
    ck_assert_mem_eq(box.frames[1].bytes, "after", 5);
    ck_assert_uint_eq(box.frames[2].kind, RT_KIND_FORWARD);
    ck_assert_uint_eq(box.frames[2].len, 0);
    inbox_clear(&box);
    free(big);
    rt_stop(a);
    rt_stop(b);
}
END_TEST

/* Once connected, rt_send writes on the socket itself; a frame the socket takes only part of
 * is finished by the I/O thread, and frames sent meanwhile queue behind it, in order. */
START_TEST(test_direct_send_keeps_order) {
    enum { BIG = 8 * 1024 * 1024 + 3, ROUNDS = 3 };
    rt_t *a = node_start(1, 0, SECRET, 0, -1), *b = node_start(2, 0, SECRET, 0, -1);
    add_peer(a, 2, b);
    add_peer(b, 1, a);
    wait_connected(a, 2, true);
    uint8_t *big = malloc(BIG);
    ck_assert_ptr_nonnull(big);
    for (size_t i = 0; i < BIG; i++) {
        big[i] = (uint8_t)(i * 31 + 7);
    }
    static inbox_t box;
    for (int round = 0; round < ROUNDS; round++) {
        ck_assert_int_eq(rt_send(a, 2, RT_KIND_RAFT, "a", 1), 0);       /* whole, direct */
        ck_assert_int_eq(rt_send(a, 2, RT_KIND_SNAPSHOT, big, BIG), 0); /* part direct */
        ck_assert_int_eq(rt_send(a, 2, RT_KIND_RAFT, "bb", 2), 0);      /* queued behind */
        drain_until(b, &box, 3);
        ck_assert_uint_eq(box.count, 3);
        ck_assert_mem_eq(box.frames[0].bytes, "a", 1);
        ck_assert_uint_eq(box.frames[1].len, BIG);
        ck_assert(memcmp(box.frames[1].bytes, big, BIG) == 0);
        ck_assert_uint_eq(box.frames[2].len, 2);
        ck_assert_mem_eq(box.frames[2].bytes, "bb", 2);
        inbox_clear(&box);
    }
    rt_peer_status_t st;
    ck_assert_int_eq(rt_peer_status(a, 2, &st), 0);
    ck_assert_uint_eq(st.sent_frames, 3 * ROUNDS);
    free(big);
    rt_stop(a);
    rt_stop(b);
}
END_TEST

/* Both members configure each other but one holds another secret: each refuses the other's
 * connection, nothing is delivered, neither reports connected. */
START_TEST(test_wrong_secret_refused) {
    rt_t *a = node_start(1, 0, SECRET, 0, -1), *b = node_start(2, 0, "not-the-secret", 0, -1);
    add_peer(a, 2, b);
    add_peer(b, 1, a);
    ck_assert_int_eq(rt_send(a, 2, RT_KIND_RAFT, "x", 1), 0);
    ck_assert_int_eq(rt_send(b, 1, RT_KIND_RAFT, "y", 1), 0);
    wait_refused(a, 2); /* a refused b's proof, and b closed a's attempt */
    wait_refused(b, 2);
    static inbox_t box;
    drain(a, &box);
    drain(b, &box);
    ck_assert_uint_eq(box.count, 0);
    ck_assert(!is_connected(a, 2));
    ck_assert(!is_connected(b, 1));
    rt_peer_status_t st;
    ck_assert_int_eq(rt_peer_status(a, 2, &st), 0);
    ck_assert_uint_eq(st.sent_frames, 0);
    ck_assert_uint_eq(st.recv_frames, 0);
    rt_stats_t stats;
    rt_stats(a, &stats);
    ck_assert_uint_eq(stats.handshakes_ok, 0);
    rt_stop(a);
    rt_stop(b);
}
END_TEST

/* A process with the secret but an id that is not a member is refused; members keep working. */
START_TEST(test_unknown_node_refused) {
    rt_t *a = node_start(1, 0, SECRET, 0, -1), *b = node_start(2, 0, SECRET, 0, -1);
    rt_t *stranger = node_start(9, 0, SECRET, 0, -1);
    add_peer(a, 2, b);
    add_peer(b, 1, a);
    add_peer(stranger, 1, a);
    ck_assert_int_eq(rt_send(stranger, 1, RT_KIND_RAFT, "intruder", 8), 0);
    wait_refused(a, 1);
    wait_refused(stranger, 1);
    ck_assert_int_eq(rt_send(b, 1, RT_KIND_RAFT, "member", 6), 0);
    static inbox_t box;
    drain_until(a, &box, 1);
    ck_assert_uint_eq(box.frames[0].from, 2);
    ck_assert_mem_eq(box.frames[0].bytes, "member", 6);
    inbox_clear(&box);
    ck_assert(!is_connected(stranger, 1));
    /* Raw: the right secret, dialing as a non-member, and dialing the wrong target id. */
    raw_hs_t hs = {.self_id = 7, .target_id = 1, .secret = SECRET, .advertise = "raw:1"};
    int fd = raw_connect(rt_listen_port(a));
    ck_assert(!raw_handshake(fd, &hs));
    close(fd);
    hs.self_id = 2;
    hs.target_id = 3;
    fd = raw_connect(rt_listen_port(a));
    ck_assert(!raw_handshake(fd, &hs));
    close(fd);
    drain(a, &box);
    ck_assert_uint_eq(box.count, 0);
    rt_stop(stranger);
    rt_stop(a);
    rt_stop(b);
}
END_TEST

/* A stopped peer's queue stays under its bound (drops counted); after the peer restarts on the
 * same port the queued frames and new ones arrive, in order. */
START_TEST(test_bounded_queue_and_reconnect) {
    enum { QMAX = 64 * 1024, FRAME = 4096 };
    rt_t *a = node_start(1, 0, SECRET, QMAX, -1), *b = node_start(2, 0, SECRET, QMAX, -1);
    uint16_t b_port = rt_listen_port(b);
    add_peer(a, 2, b);
    add_peer(b, 1, a);
    static inbox_t box;
    ck_assert_int_eq(rt_send(a, 2, RT_KIND_RAFT, "hello", 5), 0);
    drain_until(b, &box, 1);
    inbox_clear(&box);
    rt_stop(b);
    wait_connected(a, 2, false);
    static uint8_t frame[FRAME];
    uint32_t seq = 0;
    int rc = 0;
    while (rc == 0 && seq < 10000) {
        memcpy(frame, &seq, 4);
        rc = rt_send(a, 2, RT_KIND_RAFT, frame, FRAME);
        seq += rc == 0;
    }
    ck_assert_int_eq(rc, CTX_ELIMIT);
    rt_peer_status_t st;
    ck_assert_int_eq(rt_peer_status(a, 2, &st), 0);
    ck_assert_uint_le(st.queued_bytes, QMAX);
    ck_assert_uint_eq(st.dropped_frames, 1);
    for (int i = 0; i < 10; i++) {
        ck_assert_int_eq(rt_send(a, 2, RT_KIND_RAFT, frame, FRAME), CTX_ELIMIT);
    }
    ck_assert_int_eq(rt_peer_status(a, 2, &st), 0);
    ck_assert_uint_eq(st.dropped_frames, 11);
    ck_assert_uint_le(st.queued_bytes, QMAX);
    b = node_start(2, b_port, SECRET, QMAX, -1);
    add_peer(b, 1, a);
    drain_until(b, &box, seq);
    for (uint32_t i = 0; i < seq; i++) {
        ck_assert_uint_eq(box.frames[i].len, FRAME);
        ck_assert_mem_eq(box.frames[i].bytes, &i, 4);
    }
    inbox_clear(&box);
    ck_assert_int_eq(rt_send(a, 2, RT_KIND_RAFT, "again", 5), 0);
    ck_assert_int_eq(rt_send(b, 1, RT_KIND_RAFT, "back", 4), 0);
    drain_until(b, &box, 1);
    ck_assert_mem_eq(box.frames[0].bytes, "again", 5);
    inbox_clear(&box);
    drain_until(a, &box, 1);
    ck_assert_mem_eq(box.frames[0].bytes, "back", 4);
    inbox_clear(&box);
    int64_t deadline = now_ms() + WAIT_MS; /* the sender pops frames after the write returns */
    do {
        ck_assert_int_eq(rt_peer_status(a, 2, &st), 0);
    } while (st.queued_bytes != 0 && now_ms() < deadline);
    ck_assert_uint_eq(st.queued_bytes, 0);
    rt_stop(a);
    rt_stop(b);
}
END_TEST

/* Garbage from raw sockets closes those connections only; the members' traffic goes on. */
START_TEST(test_garbage_closes_only_that_connection) {
    rt_t *a = node_start(1, 0, SECRET, 0, -1), *b = node_start(2, 0, SECRET, 0, -1);
    add_peer(a, 2, b);
    add_peer(b, 1, a);
    static inbox_t box;
    ck_assert_int_eq(rt_send(b, 1, RT_KIND_RAFT, "one", 3), 0);
    drain_until(a, &box, 1);
    inbox_clear(&box);
    const char *http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    int fd = raw_connect(rt_listen_port(a));
    raw_write_all(fd, http, strlen(http));
    ck_assert(raw_closed(fd));
    close(fd);
    /* Well-formed header with a length over the handshake limit: refused before allocating. */
    uint8_t hdr[RT_HEADER_SIZE];
    rt_wire_header(hdr, 128, NULL, 0);
    put_u32(hdr, 0x7fffffffu);
    fd = raw_connect(rt_listen_port(a));
    raw_write_all(fd, hdr, sizeof(hdr));
    ck_assert(raw_closed(fd));
    close(fd);
    /* Wrong version byte. */
    rt_wire_header(hdr, 128, NULL, 0);
    hdr[4] = 77;
    fd = raw_connect(rt_listen_port(a));
    raw_write_all(fd, hdr, sizeof(hdr));
    ck_assert(raw_closed(fd));
    close(fd);
    ck_assert_uint_eq(corrupt(a), 3);
    ck_assert_int_eq(rt_send(b, 1, RT_KIND_RAFT, "two", 3), 0);
    drain_until(a, &box, 1);
    ck_assert_mem_eq(box.frames[0].bytes, "two", 3);
    inbox_clear(&box);
    ck_assert(is_connected(b, 1));
    rt_stop(a);
    rt_stop(b);
}
END_TEST

/* A raw member that completes the handshake: a good frame is delivered, a frame with one bit
 * flipped closes the connection and is not delivered, and a new connection works again. */
START_TEST(test_crc_corruption_detected) {
    rt_t *a = node_start(1, 0, SECRET, 0, -1);
    rt_peer_t raw_peer = {.id = 2, .port = 1}; /* a's dial attempts fail; inbound matters */
    snprintf(raw_peer.host, sizeof(raw_peer.host), "127.0.0.1");
    ck_assert_int_eq(rt_add_peer(a, &raw_peer), 0);
    raw_hs_t hs = {.self_id = 2, .target_id = 1, .secret = SECRET, .advertise = "raw:5432"};
    memset(hs.nonce, 0x5a, sizeof(hs.nonce));
    int fd = raw_connect(rt_listen_port(a));
    ck_assert(raw_handshake(fd, &hs));
    raw_send_frame(fd, RT_KIND_RAFT, "good", 4, -1);
    static inbox_t box;
    drain_until(a, &box, 1);
    ck_assert_uint_eq(box.frames[0].from, 2);
    ck_assert_mem_eq(box.frames[0].bytes, "good", 4);
    inbox_clear(&box);
    rt_peer_status_t st;
    ck_assert_int_eq(rt_peer_status(a, 2, &st), 0);
    ck_assert_str_eq(st.advertise, "raw:5432");
    raw_send_frame(fd, RT_KIND_RAFT, "flipped", 7, 13);
    ck_assert(raw_closed(fd));
    close(fd);
    ck_assert_uint_eq(corrupt(a), 1);
    drain(a, &box);
    ck_assert_uint_eq(box.count, 0);
    fd = raw_connect(rt_listen_port(a));
    ck_assert(raw_handshake(fd, &hs));
    raw_send_frame(fd, RT_KIND_RAFT, "fine", 4, -1);
    drain_until(a, &box, 1);
    ck_assert_mem_eq(box.frames[0].bytes, "fine", 4);
    inbox_clear(&box);
    close(fd);
    rt_stop(a);
}
END_TEST

/* A proof computed over an earlier connection's nonce (a replay) and a proof under another
 * secret are both refused. */
START_TEST(test_replayed_or_wrong_proof_refused) {
    rt_t *a = node_start(1, 0, SECRET, 0, -1);
    rt_peer_t raw_peer = {.id = 2, .port = 1};
    snprintf(raw_peer.host, sizeof(raw_peer.host), "127.0.0.1");
    ck_assert_int_eq(rt_add_peer(a, &raw_peer), 0);
    raw_hs_t first = {.self_id = 2, .target_id = 1, .secret = SECRET, .advertise = "r:1"};
    int fd = raw_connect(rt_listen_port(a));
    ck_assert(raw_handshake(fd, &first));
    close(fd);
    uint64_t before = refused(a);
    raw_hs_t replay = first;
    replay.stale_acceptor_nonce = first.acceptor_nonce;
    fd = raw_connect(rt_listen_port(a));
    ck_assert(!raw_handshake(fd, &replay));
    close(fd);
    raw_hs_t wrong = {.self_id = 2, .target_id = 1, .secret = "guess", .advertise = "r:1"};
    fd = raw_connect(rt_listen_port(a));
    ck_assert(!raw_handshake(fd, &wrong));
    close(fd);
    wait_refused(a, before + 2);
    static inbox_t box;
    drain(a, &box);
    ck_assert_uint_eq(box.count, 0);
    rt_stop(a);
}
END_TEST

/* A listener posing as member 2 without the secret: the dialer checks its proof and closes
 * before sending its own proof or any frame. */
START_TEST(test_impostor_acceptor_refused) {
    rt_t *a = node_start(1, 0, SECRET, 0, -1);
    uint16_t port = 0;
    int lfd = raw_listen(&port);
    rt_peer_t impostor = {.id = 2, .port = port};
    snprintf(impostor.host, sizeof(impostor.host), "127.0.0.1");
    ck_assert_int_eq(rt_add_peer(a, &impostor), 0);
    ck_assert_int_eq(rt_send(a, 2, RT_KIND_RAFT, "secret data", 11), 0);
    int fd = raw_accept(lfd);
    uint8_t msg[512], kind = 0;
    long len = raw_read_frame(fd, &kind, msg, sizeof(msg));
    ck_assert_int_ge(len, 42);
    ck_assert_uint_eq(kind, 128);
    char dialer_adv[64];
    size_t dl = (size_t)msg[40] | (size_t)msg[41] << 8;
    ck_assert_uint_lt(dl, sizeof(dialer_adv));
    memcpy(dialer_adv, msg + 42, dl);
    dialer_adv[dl] = '\0';
    uint8_t challenge[70 + 3];
    put_u32(challenge, 2);
    memset(challenge + 4, 0x33, RT_NONCE_SIZE);
    ck_assert_int_eq(rt_wire_proof("guess", 'A', 1, 2, msg + 8, challenge + 4, dialer_adv, "i:1",
                                   challenge + 36),
                     0);
    challenge[68] = 3;
    challenge[69] = 0;
    memcpy(challenge + 70, "i:1", 3);
    raw_send_frame(fd, 129, challenge, sizeof(challenge), -1);
    ck_assert(raw_closed(fd)); /* no PROOF, no frame: the connection just ends */
    close(fd);
    close(lfd);
    ck_assert(!is_connected(a, 2));
    rt_peer_status_t st;
    ck_assert_int_eq(rt_peer_status(a, 2, &st), 0);
    ck_assert_uint_eq(st.sent_frames, 0);
    ck_assert_uint_gt(st.queued_bytes, 0);
    ck_assert_uint_ge(refused(a), 1);
    rt_stop(a);
}
END_TEST

/* A connection that breaks in the middle of a frame: the next connection carries that frame
 * again whole, from its header, followed by the frames queued after it. */
START_TEST(test_cut_frame_resent_whole) {
    enum { BIG = 32 * 1024 * 1024 };
    rt_t *a = node_start(1, 0, SECRET, 0, -1);
    uint16_t port = 0;
    int lfd = raw_listen(&port);
    rt_peer_t raw_peer = {.id = 2, .port = port};
    snprintf(raw_peer.host, sizeof(raw_peer.host), "127.0.0.1");
    ck_assert_int_eq(rt_add_peer(a, &raw_peer), 0);
    uint8_t *big = malloc(BIG);
    ck_assert_ptr_nonnull(big);
    for (size_t i = 0; i < BIG; i++) {
        big[i] = (uint8_t)(i * 131 + (i >> 12));
    }
    ck_assert_int_eq(rt_send(a, 2, RT_KIND_SNAPSHOT, big, BIG), 0);
    ck_assert_int_eq(rt_send(a, 2, RT_KIND_RAFT, "next", 4), 0);
    int fd = raw_accept(lfd);
    ck_assert(raw_accept_handshake(fd, 2, SECRET));
    uint8_t part[RT_HEADER_SIZE + 1000];
    ck_assert(raw_read_exact(fd, part, sizeof(part))); /* then hang up mid-frame */
    close(fd);
    fd = raw_accept(lfd);
    ck_assert(raw_accept_handshake(fd, 2, SECRET));
    uint8_t *got = malloc(BIG), kind = 0;
    ck_assert_ptr_nonnull(got);
    ck_assert_int_eq(raw_read_frame(fd, &kind, got, BIG), BIG); /* CRC checked inside */
    ck_assert_uint_eq(kind, RT_KIND_SNAPSHOT);
    ck_assert(memcmp(got, big, BIG) == 0);
    ck_assert_int_eq(raw_read_frame(fd, &kind, got, BIG), 4);
    ck_assert_mem_eq(got, "next", 4);
    rt_peer_status_t st;
    int64_t deadline = now_ms() + WAIT_MS;
    do {
        ck_assert_int_eq(rt_peer_status(a, 2, &st), 0);
    } while (st.sent_frames < 2 && now_ms() < deadline);
    ck_assert_uint_eq(st.sent_frames, 2);
    ck_assert_uint_eq(st.queued_bytes, 0);
    close(fd);
    close(lfd);
    free(got);
    free(big);
    rt_stop(a);
}
END_TEST

/* Inbound frames nobody drains are bounded too (4 x queue_bytes_max of payload): the rest are
 * dropped and counted per sender. */
START_TEST(test_inbound_bounded) {
    enum { QMAX = 4096, FRAME = 1024, COUNT = 100 };
    rt_t *a = node_start(1, 0, SECRET, 0, -1), *b = node_start(2, 0, SECRET, QMAX, -1);
    add_peer(a, 2, b);
    add_peer(b, 1, a);
    static uint8_t frame[FRAME];
    for (uint32_t i = 0; i < COUNT; i++) {
        memcpy(frame, &i, 4);
        ck_assert_int_eq(rt_send(a, 2, RT_KIND_RAFT, frame, FRAME), 0);
    }
    rt_peer_status_t st;
    int64_t deadline = now_ms() + WAIT_MS;
    do {
        ck_assert_int_eq(rt_peer_status(b, 1, &st), 0);
    } while (st.recv_frames + st.recv_dropped_frames < COUNT && now_ms() < deadline);
    ck_assert_uint_eq(st.recv_frames, 4 * QMAX / FRAME);
    ck_assert_uint_eq(st.recv_dropped_frames, COUNT - 4 * QMAX / FRAME);
    static inbox_t box;
    drain(b, &box);
    ck_assert_uint_eq(box.count, 4 * QMAX / FRAME);
    for (uint32_t i = 0; i < box.count; i++) {
        ck_assert_mem_eq(box.frames[i].bytes, &i, 4); /* the oldest are kept */
    }
    inbox_clear(&box);
    ck_assert_int_eq(rt_send(a, 2, RT_KIND_RAFT, "later", 5), 0); /* room again once drained */
    drain_until(b, &box, 1);
    ck_assert_mem_eq(box.frames[0].bytes, "later", 5);
    inbox_clear(&box);
    rt_stop(a);
    rt_stop(b);
}
END_TEST

/* A member that reconnects while its old connection is still open (a restart the old socket
 * never heard of) replaces it: the old one is closed, the new one carries frames. */
START_TEST(test_new_connection_replaces_old) {
    rt_t *a = node_start(1, 0, SECRET, 0, -1);
    rt_peer_t raw_peer = {.id = 2, .port = 1};
    snprintf(raw_peer.host, sizeof(raw_peer.host), "127.0.0.1");
    ck_assert_int_eq(rt_add_peer(a, &raw_peer), 0);
    raw_hs_t hs = {.self_id = 2, .target_id = 1, .secret = SECRET, .advertise = "old:1"};
    int old_fd = raw_connect(rt_listen_port(a));
    ck_assert(raw_handshake(old_fd, &hs));
    raw_send_frame(old_fd, RT_KIND_RAFT, "old", 3, -1);
    static inbox_t box;
    drain_until(a, &box, 1);
    inbox_clear(&box);
    hs.advertise = "new:1";
    int new_fd = raw_connect(rt_listen_port(a));
    ck_assert(raw_handshake(new_fd, &hs));
    ck_assert(raw_closed(old_fd));
    raw_send_frame(new_fd, RT_KIND_RAFT, "new", 3, -1);
    drain_until(a, &box, 1);
    ck_assert_mem_eq(box.frames[0].bytes, "new", 3);
    inbox_clear(&box);
    rt_peer_status_t st;
    ck_assert_int_eq(rt_peer_status(a, 2, &st), 0);
    ck_assert_str_eq(st.advertise, "new:1");
    ck_assert_uint_eq(st.recv_frames, 2);
    close(old_fd);
    close(new_fd);
    rt_stop(a);
}
END_TEST

/* Connections that do not complete the handshake in time are closed: one that sends nothing,
 * one that stops in the middle of a header. */
START_TEST(test_handshake_deadline) {
    rt_config_t cfg = {.self_id = 1,
                       .listen_host = "127.0.0.1",
                       .secret = SECRET,
                       .notify_fd = -1,
                       .handshake_timeout_ms = 100};
    rt_t *a = NULL;
    ctx_err_t err = {0};
    ck_assert_int_eq(rt_start(&cfg, &a, &err), 0);
    int silent = raw_connect(rt_listen_port(a));
    int partial = raw_connect(rt_listen_port(a));
    uint8_t hdr[RT_HEADER_SIZE];
    rt_wire_header(hdr, 128, NULL, 0);
    raw_write_all(partial, hdr, 5);
    ck_assert(raw_closed(silent));
    ck_assert(raw_closed(partial));
    ck_assert_uint_eq(refused(a), 2);
    close(silent);
    close(partial);
    rt_stop(a);
}
END_TEST

/* A removed peer's frames are refused and sends to it fail; re-adding it restores traffic. */
START_TEST(test_remove_and_readd_peer) {
    rt_t *a = node_start(1, 0, SECRET, 0, -1), *b = node_start(2, 0, SECRET, 0, -1);
    add_peer(a, 2, b);
    add_peer(b, 1, a);
    static inbox_t box;
    ck_assert_int_eq(rt_send(b, 1, RT_KIND_RAFT, "in", 2), 0);
    drain_until(a, &box, 1);
    inbox_clear(&box);
    uint64_t before = refused(a);
    ck_assert_int_eq(rt_remove_peer(a, 2), 0);
    ck_assert_int_eq(rt_send(a, 2, RT_KIND_RAFT, "x", 1), CTX_EBAD_PARAM);
    wait_connected(b, 1, false); /* a closed b's connection; b redials and is refused */
    wait_refused(a, before + 1);
    ck_assert_int_eq(rt_send(b, 1, RT_KIND_RAFT, "out", 3), 0);
    add_peer(a, 2, b);
    drain_until(a, &box, 1);
    ck_assert_mem_eq(box.frames[0].bytes, "out", 3);
    inbox_clear(&box);
    rt_stop(a);
    rt_stop(b);
}
END_TEST

int main(void) {
    Suite *suite = suite_create("transport");
    TCase *tc = tcase_create("transport");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_wire_header_layout);
    tcase_add_test(tc, test_send_arguments);
    tcase_add_test(tc, test_three_members_exchange_in_order);
    tcase_add_test(tc, test_large_frame_intact);
    tcase_add_test(tc, test_direct_send_keeps_order);
    tcase_add_test(tc, test_wrong_secret_refused);
    tcase_add_test(tc, test_unknown_node_refused);
    tcase_add_test(tc, test_bounded_queue_and_reconnect);
    tcase_add_test(tc, test_garbage_closes_only_that_connection);
    tcase_add_test(tc, test_crc_corruption_detected);
    tcase_add_test(tc, test_replayed_or_wrong_proof_refused);
    tcase_add_test(tc, test_impostor_acceptor_refused);
    tcase_add_test(tc, test_cut_frame_resent_whole);
    tcase_add_test(tc, test_inbound_bounded);
    tcase_add_test(tc, test_new_connection_replaces_old);
    tcase_add_test(tc, test_handshake_deadline);
    tcase_add_test(tc, test_remove_and_readd_peer);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
