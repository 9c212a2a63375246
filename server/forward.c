/*
 * forward.c — relaying a follower's client to the leader (contract in forward.h).
 *
 * One detached thread per forwarded connection, with blocking sockets: connect to the leader
 * (bounded by FORWARD_CONNECT_TIMEOUT_MS), send the buffered local replies to the client, open a
 * session on the leader (StartupMessage with the token; its AuthenticationOk, ParameterStatus,
 * BackendKeyData and ReadyForQuery are swallowed: the client already had the follower's), replay
 * BEGIN and the named Parse messages (their replies swallowed up to ReadyForQuery), send the
 * request, then copy bytes both ways with poll() until one side closes. If the leader cannot be
 * reached the client gets ErrorResponse 25006 and ReadyForQuery, and the connection closes.
 */
#include "forward.h"

#include "ctx.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { FWD_RELAY_BYTES = 64 * 1024, FWD_MESSAGE_MAX = 1 << 30 };

/* ---------------------------------------------------------------- tokens */

static void fwd_mac(const char *secret, const char *user, long long seconds, char hex[65]) {
    char msg[FORWARD_NAME_BYTES + 64];
    int n = snprintf(msg, sizeof(msg), "contextdb-forward|%s|%lld", user, seconds);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)msg, (size_t)n, mac,
         &mac_len);
    for (unsigned int i = 0; i < 32 && i < mac_len; i++) {
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    }
    hex[64] = '\0';
}

bool forward_token_make(const char *secret, const char *user, char out[FORWARD_TOKEN_BYTES]) {
    if (secret == NULL || secret[0] == '\0' || strlen(user) >= FORWARD_NAME_BYTES) {
        return false;
    }
    long long now = (long long)time(NULL);
    char hex[65];
    fwd_mac(secret, user, now, hex);
    snprintf(out, FORWARD_TOKEN_BYTES, "FWD1:%lld:%s", now, hex);
    return true;
}

bool forward_token_check(const char *secret, const char *user, const char *token) {
    if (secret == NULL || secret[0] == '\0' || token == NULL || strncmp(token, "FWD1:", 5) != 0 ||
        strlen(user) >= FORWARD_NAME_BYTES) {
        return false;
    }
    char *end = NULL;
    long long seconds = strtoll(token + 5, &end, 10);
    if (end == NULL || *end != ':' || strlen(end + 1) != 64) {
        return false;
    }
    long long now = (long long)time(NULL);
    if (seconds < now - FORWARD_TOKEN_WINDOW_S || seconds > now + FORWARD_TOKEN_WINDOW_S) {
        return false;
    }
    char hex[65];
    fwd_mac(secret, user, seconds, hex);
    unsigned char diff = 0; /* constant time */
    for (int i = 0; i < 64; i++) {
        diff |= (unsigned char)(hex[i] ^ end[1 + i]);
    }
    return diff == 0;
}

/* ---------------------------------------------------------------- blocking I/O */

static bool fwd_write_all(int fd, const void *data, size_t len) {
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static bool fwd_read_all(int fd, void *data, size_t len) {
    uint8_t *p = data;
    while (len > 0) {
        ssize_t n = recv(fd, p, len, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static void fwd_set_blocking(int fd) {
    int flags = fcntl(fd, F_GETFL, 0);
    if (flags >= 0) {
        fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
    }
}

/* Connects to "host:port" within the timeout; -1 on failure. */
static int fwd_connect(const char *address) {
    char host[FORWARD_ADDRESS_BYTES];
    snprintf(host, sizeof(host), "%s", address);
    char *colon = strrchr(host, ':');
    if (colon == NULL) {
        return -1;
    }
    *colon = '\0';
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    struct addrinfo *list = NULL;
    if (getaddrinfo(host, colon + 1, &hints, &list) != 0) {
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *ai = list; ai != NULL && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            continue;
        }
        int rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        int soerr = 0;
        socklen_t len = sizeof(soerr);
        if (rc < 0 && (errno != EINPROGRESS || poll(&pfd, 1, FORWARD_CONNECT_TIMEOUT_MS) != 1 ||
                       getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0 || soerr != 0)) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(list);
    if (fd >= 0) {
        fwd_set_blocking(fd);
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    return fd;
}

/* Reads backend messages up to and including ReadyForQuery, dropping them. False when the
 * connection fails or (fatal_on_error) an ErrorResponse arrives; its text goes to why. */
static bool fwd_swallow(int fd, bool fatal_on_error, char *why, size_t why_len) {
    for (;;) {
        uint8_t header[5];
        if (!fwd_read_all(fd, header, sizeof(header))) {
            snprintf(why, why_len, "the leader closed the connection");
            return false;
        }
        uint32_t len = (uint32_t)header[1] << 24 | (uint32_t)header[2] << 16 |
                       (uint32_t)header[3] << 8 | header[4];
        if (len < 4 || len > FWD_MESSAGE_MAX) {
            snprintf(why, why_len, "the leader sent a malformed message");
            return false;
        }
        uint8_t *body = malloc(len - 4 + 1);
        if (body == NULL || !fwd_read_all(fd, body, len - 4)) {
            free(body);
            snprintf(why, why_len, "the leader closed the connection");
            return false;
        }
        body[len - 4] = '\0';
        bool error = header[0] == 'E';
        size_t n = len - 4;
        for (size_t i = 0; error && i < n && body[i] != 0;) { /* fields: code byte, text, NUL */
            const char *text = (const char *)body + i + 1;
            size_t text_len = strnlen(text, n - i - 1);
            if (body[i] == 'M') {
                snprintf(why, why_len, "%.*s", (int)text_len, text);
            }
            i += text_len + 2;
        }
        free(body);
        if (error && fatal_on_error) {
            return false;
        }
        if (header[0] == 'Z') {
            return true;
        }
    }
}

/* ---------------------------------------------------------------- the relay */

static void fwd_put_cstr(buf_t *b, const char *name, const char *value) {
    buf_append(b, name, strlen(name) + 1);
    buf_append(b, value, strlen(value) + 1);
}

static void fwd_startup(const forward_handoff_t *h, buf_t *out) {
    buf_t body;
    buf_init(&body);
    buf_append_u32be(&body, 196608); /* protocol 3.0 */
    fwd_put_cstr(&body, "user", h->user);
    fwd_put_cstr(&body, "database", h->database);
    if (h->application_name[0] != '\0') {
        fwd_put_cstr(&body, "application_name", h->application_name);
    }
    fwd_put_cstr(&body, FORWARD_STARTUP_PARAM, h->token);
    buf_append_u8(&body, 0);
    buf_append_u32be(out, (uint32_t)buf_size(&body) + 4);
    buf_append(out, buf_peek(&body), buf_size(&body));
    buf_free(&body);
}

/* ErrorResponse 25006 + ReadyForQuery to the client when the leader cannot take over. */
static void fwd_fail(int client_fd, const char *leader, const char *why) {
    char message[512];
    snprintf(message, sizeof(message), "could not forward the write to the leader at %s: %s",
             leader, why);
    buf_t out;
    buf_init(&out);
    buf_t fields; /* each field: a code byte, then its text with a NUL */
    buf_init(&fields);
    buf_append(&fields, "SERROR", 7);
    buf_append(&fields, "VERROR", 7);
    buf_append(&fields, "C25006", 7);
    buf_append_u8(&fields, 'M');
    buf_append(&fields, message, strlen(message) + 1);
    buf_append_u8(&fields, 0);
    buf_append_u8(&out, 'E');
    buf_append_u32be(&out, (uint32_t)buf_size(&fields) + 4);
    buf_append(&out, buf_peek(&fields), buf_size(&fields));
    buf_append(&out, "Z\0\0\0\5I", 6);
    (void)fwd_write_all(client_fd, buf_peek(&out), buf_size(&out));
    buf_free(&fields);
    buf_free(&out);
    CTX_WARN("forward: %s", message);
}

/* Opens the leader session and replays the prelude; the leader socket or -1 (why set). */
static int fwd_open_leader(forward_handoff_t *h, char *why, size_t why_len) {
    int fd = fwd_connect(h->leader);
    if (fd < 0) {
        snprintf(why, why_len, "connection refused or timed out");
        return -1;
    }
    buf_t out;
    buf_init(&out);
    fwd_startup(h, &out);
    bool ok =
        fwd_write_all(fd, buf_peek(&out), buf_size(&out)) && fwd_swallow(fd, true, why, why_len);
    if (ok && h->begin) {
        static const uint8_t begin[] = {'Q', 0, 0, 0, 10, 'B', 'E', 'G', 'I', 'N', 0};
        ok = fwd_write_all(fd, begin, sizeof(begin)) && fwd_swallow(fd, true, why, why_len);
    }
    if (ok && buf_size(&h->prelude) > 0) {
        static const uint8_t sync[] = {'S', 0, 0, 0, 4};
        ok = fwd_write_all(fd, buf_peek(&h->prelude), buf_size(&h->prelude)) &&
             fwd_write_all(fd, sync, sizeof(sync)) && fwd_swallow(fd, false, why, why_len);
    }
    buf_free(&out);
    if (!ok) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Drops the leader's first skip bytes of replies: whole messages, which must end exactly there
 * (they answer the same messages the follower answered, from the same code). */
static bool fwd_skip(int fd, uint64_t skip, char *why, size_t why_len) {
    while (skip > 0) {
        uint8_t header[5];
        if (skip < sizeof(header) || !fwd_read_all(fd, header, sizeof(header))) {
            snprintf(why, why_len, "the leader's replies did not match the follower's");
            return false;
        }
        uint64_t len = 1 + ((uint64_t)header[1] << 24 | (uint64_t)header[2] << 16 |
                            (uint64_t)header[3] << 8 | header[4]);
        if (len < sizeof(header) || len > skip) {
            snprintf(why, why_len, "the leader's replies did not match the follower's");
            return false;
        }
        uint8_t scratch[4096];
        for (uint64_t left = len - sizeof(header); left > 0;) {
            size_t n = left < sizeof(scratch) ? (size_t)left : sizeof(scratch);
            if (!fwd_read_all(fd, scratch, n)) {
                snprintf(why, why_len, "the leader closed the connection");
                return false;
            }
            left -= n;
        }
        skip -= len;
    }
    return true;
}

/* Copies bytes both ways until either side closes. */
static void fwd_relay(int client_fd, int leader_fd) {
    uint8_t *chunk = malloc(FWD_RELAY_BYTES);
    struct pollfd pfd[2] = {{.fd = client_fd, .events = POLLIN},
                            {.fd = leader_fd, .events = POLLIN}};
    while (chunk != NULL) {
        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        int from = (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) ? 0 : 1;
        if (!(pfd[from].revents & (POLLIN | POLLHUP | POLLERR))) {
            continue;
        }
        ssize_t n = recv(pfd[from].fd, chunk, FWD_RELAY_BYTES, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0 || !fwd_write_all(pfd[1 - from].fd, chunk, (size_t)n)) {
            break;
        }
    }
    free(chunk);
}

static void fwd_free(forward_handoff_t *h) {
    buf_free(&h->to_client);
    buf_free(&h->prelude);
    buf_free(&h->frames);
    free(h);
}

static void *fwd_main(void *arg) {
    forward_handoff_t *h = arg;
    fwd_set_blocking(h->client_fd);
    char why[256] = "unknown error";
    bool ok = fwd_write_all(h->client_fd, buf_peek(&h->to_client), buf_size(&h->to_client));
    int leader_fd = ok ? fwd_open_leader(h, why, sizeof(why)) : -1;
    if (ok && leader_fd < 0) {
        fwd_fail(h->client_fd, h->leader, why);
    } else if (ok && fwd_write_all(leader_fd, buf_peek(&h->frames), buf_size(&h->frames))) {
        if (fwd_skip(leader_fd, h->skip_bytes, why, sizeof(why))) {
            CTX_DEBUG("forward: client fd %d relayed to the leader at %s", h->client_fd, h->leader);
            fwd_relay(h->client_fd, leader_fd);
        } else {
            CTX_WARN("forward: %s; closing the client's connection", why);
        }
    }
    if (leader_fd >= 0) {
        close(leader_fd);
    }
    close(h->client_fd);
    fwd_free(h);
    return NULL;
}

void forward_start(forward_handoff_t *h) {
    forward_handoff_t *copy = ctx_malloc(sizeof(*copy));
    *copy = *h;
    memset(h, 0, sizeof(*h));
    h->client_fd = -1;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t thread;
    if (pthread_create(&thread, &attr, fwd_main, copy) != 0) {
        fwd_fail(copy->client_fd, copy->leader, "could not start a thread");
        close(copy->client_fd);
        fwd_free(copy);
    }
    pthread_attr_destroy(&attr);
}
