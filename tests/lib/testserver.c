/*
 * testserver.c — start/stop the real server, libpq and raw-socket helpers for integration tests.
 *
 * Start: fork; the child creates a new process group, asks for SIGTERM when the test process
 * dies, redirects stdout/stderr to <data dir>/server.log and execs $CTX_SERVER_BIN --port 0
 * --data-dir <dir>. The parent polls the log for the ready line (the server prints the real port
 * when asked for port 0). Stop: the given signal, a bounded wait, SIGKILL as a last resort, then
 * `rm -rf` of the temporary directory. Raw-socket reads use poll() with a deadline so a server
 * bug shows up as a failed assertion, not a hung test.
 */
#include "testserver.h"

#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t ts_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void ts_server_dump_log(const ts_server_t *server) {
    FILE *f = fopen(server->log_path, "r");
    if (f == NULL) {
        return;
    }
    char line[1024];
    fprintf(stderr, "---- %s ----\n", server->log_path);
    while (fgets(line, sizeof(line), f) != NULL) {
        fputs(line, stderr);
    }
    fprintf(stderr, "---- end of server log ----\n");
    fclose(f);
}

static void ts_exec_server(const ts_server_t *server, const char *const *args,
                           const char *const *env) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (freopen(server->log_path, "w", stdout) == NULL || dup2(fileno(stdout), 2) < 0) {
        _exit(126);
    }
    setenv("CONTEXTDB_HTTP_PORT", "off", 0); /* env below may still turn HTTP on */
    for (size_t i = 0; env != NULL && env[i] != NULL; i++) {
        putenv((char *)env[i]);
    }
    const char *bin = getenv("CTX_SERVER_BIN");
    const char *argv[64] = {bin, "--port", "0", "--data-dir", server->data_dir};
    size_t argc = 5;
    for (size_t i = 0; args != NULL && args[i] != NULL && argc < 62; i++) {
        argv[argc++] = args[i];
    }
    argv[argc] = NULL;
    execv(bin, (char *const *)argv);
    _exit(127);
}

/* Polls the log for the ready line; returns the port or 0. */
static uint16_t ts_wait_ready(const ts_server_t *server, int timeout_ms) {
    uint64_t deadline = ts_now_ms() + (uint64_t)timeout_ms;
    while (ts_now_ms() < deadline) {
        FILE *f = fopen(server->log_path, "r");
        char line[1024];
        while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
            const char *p = strstr(line, "contextdb: listening on ");
            const char *colon = p != NULL ? strrchr(line, ':') : NULL;
            if (colon != NULL) {
                fclose(f);
                return (uint16_t)atoi(colon + 1);
            }
        }
        if (f != NULL) {
            fclose(f);
        }
        if (waitpid(server->pid, NULL, WNOHANG) == server->pid) {
            return 0; /* exited early */
        }
        usleep(20 * 1000);
    }
    return 0;
}

int ts_server_start(ts_server_t *server, const char *const *args, const char *const *env) {
    memset(server, 0, sizeof(*server));
    const char *bin = getenv("CTX_SERVER_BIN");
    ck_assert_msg(bin != NULL, "CTX_SERVER_BIN must name the server binary");
    const char *tmp = getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp";
    int n = snprintf(server->data_dir, sizeof(server->data_dir), "%s/ctxtest-XXXXXX", tmp);
    ck_assert_msg(n > 0 && (size_t)n < sizeof(server->data_dir), "TMPDIR \"%s\" is too long", tmp);
    ck_assert_ptr_nonnull(mkdtemp(server->data_dir));
    n = snprintf(server->log_path, sizeof(server->log_path), "%s/server.log", server->data_dir);
    ck_assert((size_t)n < sizeof(server->log_path));
    fflush(NULL);
    server->pid = fork();
    ck_assert_int_ge(server->pid, 0);
    if (server->pid == 0) {
        ts_exec_server(server, args, env);
    }
    server->port = ts_wait_ready(server, 20000);
    if (server->port == 0) {
        fprintf(stderr, "server did not become ready\n");
        ts_server_dump_log(server);
        ts_server_stop(server, SIGKILL);
        return -1;
    }
    return 0;
}

int ts_server_stop(ts_server_t *server, int signal_number) {
    int status = -1;
    if (server->pid > 0) {
        kill(server->pid, signal_number);
        uint64_t deadline = ts_now_ms() + 20000;
        int wstatus = 0;
        pid_t got = 0;
        while ((got = waitpid(server->pid, &wstatus, WNOHANG)) == 0 && ts_now_ms() < deadline) {
            usleep(10 * 1000);
        }
        if (got == 0) {
            fprintf(stderr, "server pid %d did not stop: SIGKILL\n", (int)server->pid);
            kill(server->pid, SIGKILL);
            waitpid(server->pid, &wstatus, 0);
        } else if (got < 0) {
            wstatus = -1;
        }
        if (wstatus >= 0) {
            status = WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
        }
        server->pid = 0;
    }
    if (server->data_dir[0] != '\0') {
        if (status != 0 && getenv("CTX_TEST_KEEP_LOG") != NULL) {
            ts_server_dump_log(server);
        }
        char cmd[TS_PATH_MAX + 16];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", server->data_dir);
        if (system(cmd) != 0) {
            fprintf(stderr, "could not remove %s\n", server->data_dir);
        }
        server->data_dir[0] = '\0';
    }
    return status;
}

PGconn *ts_connect_any(const ts_server_t *server, const char *extra) {
    char conninfo[512];
    snprintf(conninfo, sizeof(conninfo),
             "host=127.0.0.1 port=%u user=test dbname=contextdb connect_timeout=20 %s",
             server->port, extra != NULL ? extra : "sslmode=disable");
    return PQconnectdb(conninfo);
}

PGconn *ts_connect(const ts_server_t *server, const char *extra) {
    PGconn *conn = ts_connect_any(server, extra);
    ck_assert_msg(PQstatus(conn) == CONNECTION_OK, "connect failed: %s", PQerrorMessage(conn));
    return conn;
}

char *ts_query_value(PGconn *conn, const char *sql) {
    PGresult *res = PQexec(conn, sql);
    ck_assert_msg(PQresultStatus(res) == PGRES_TUPLES_OK, "%s: %s", sql, PQresultErrorMessage(res));
    ck_assert_msg(PQntuples(res) >= 1, "%s: no rows", sql);
    char *value = strdup(PQgetisnull(res, 0, 0) ? "<null>" : PQgetvalue(res, 0, 0));
    PQclear(res);
    return value;
}

void ts_exec_ok(PGconn *conn, const char *sql) {
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    ck_assert_msg(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK, "%.200s: %s", sql,
                  PQresultErrorMessage(res));
    PQclear(res);
}

void ts_assert_error(const PGresult *r, const char *sqlstate, const char *what) {
    ck_assert_ptr_nonnull(r);
    ck_assert_msg(PQresultStatus(r) == PGRES_FATAL_ERROR, "%.200s: expected %s, got %s",
                  what != NULL ? what : "statement", sqlstate, PQresStatus(PQresultStatus(r)));
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    ck_assert_msg(state != NULL && strcmp(state, sqlstate) == 0, "%.200s: expected %s, got %s: %s",
                  what != NULL ? what : "statement", sqlstate, state != NULL ? state : "(none)",
                  PQresultErrorMessage(r));
}

PGresult *ts_exec_error(PGconn *conn, const char *sql, const char *sqlstate) {
    PGresult *r = PQexec(conn, sql);
    ts_assert_error(r, sqlstate, sql);
    return r;
}

long long ts_proc_status_kb(pid_t pid, const char *field) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot read %s", path);
    char line[256];
    long long kb = -1;
    size_t field_len = strlen(field);
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, field, field_len) == 0) {
            kb = atoll(line + field_len);
        }
    }
    fclose(f);
    ck_assert_msg(kb > 0, "no %s in %s", field, path);
    return kb;
}

int ts_raw_connect(const ts_server_t *server) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof(addr));
    addr.sin_family = AF_INET;
    addr.sin_port = htons(server->port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
    ck_assert_msg(rc == 0, "connect: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

int ts_write_all(int fd, const void *data, size_t len) {
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static void ts_put_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

size_t ts_startup_packet(uint8_t *out, uint32_t version, const char *const *pairs) {
    size_t len = 8;
    ts_put_u32(out + 4, version);
    for (size_t i = 0; pairs != NULL && pairs[i] != NULL; i++) {
        size_t n = strlen(pairs[i]) + 1;
        ck_assert_uint_lt(len + n, 1000);
        memcpy(out + len, pairs[i], n);
        len += n;
    }
    out[len++] = 0;
    ts_put_u32(out, (uint32_t)len);
    return len;
}

void ts_raw_startup(int fd) {
    uint8_t packet[1024];
    const char *pairs[] = {"user", "test", "database", "contextdb", NULL};
    size_t len = ts_startup_packet(packet, 196608, pairs);
    ck_assert_int_eq(ts_write_all(fd, packet, len), 0);
    for (;;) {
        ts_msg_t msg;
        ck_assert_int_eq(ts_read_msg(fd, &msg, 10000), 1);
        uint8_t type = msg.type;
        ck_assert_msg(type == 'R' || type == 'S' || type == 'K' || type == 'Z',
                      "unexpected startup reply '%c'", type);
        ts_msg_free(&msg);
        if (type == 'Z') {
            return;
        }
    }
}

/* Reads exactly len bytes before the deadline; 1 ok, 0 EOF before any byte, -1 otherwise. */
static int ts_read_exact(int fd, uint8_t *out, size_t len, uint64_t deadline) {
    size_t got = 0;
    while (got < len) {
        uint64_t now = ts_now_ms();
        if (now >= deadline) {
            return -1;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int ready = poll(&pfd, 1, (int)(deadline - now));
        if (ready <= 0) {
            if (ready < 0 && errno == EINTR) {
                continue;
            }
            return -1;
        }
        ssize_t n = recv(fd, out + got, len - got, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n == 0 && got == 0) {
            return 0;
        }
        if (n <= 0) {
            return (n < 0 && errno == ECONNRESET && got == 0) ? 0 : -1;
        }
        got += (size_t)n;
    }
    return 1;
}

int ts_read_msg(int fd, ts_msg_t *msg, int timeout_ms) {
    memset(msg, 0, sizeof(*msg));
    uint64_t deadline = ts_now_ms() + (uint64_t)timeout_ms;
    uint8_t header[5];
    int rc = ts_read_exact(fd, header, 1, deadline);
    if (rc <= 0) {
        return rc;
    }
    if (ts_read_exact(fd, header + 1, 4, deadline) != 1) {
        return -1;
    }
    uint32_t len = (uint32_t)header[1] << 24 | (uint32_t)header[2] << 16 |
                   (uint32_t)header[3] << 8 | header[4];
    if (len < 4 || len - 4 > TS_MSG_BYTES_MAX) {
        return -1;
    }
    msg->type = header[0];
    msg->len = len - 4;
    msg->body = malloc(msg->len + 1);
    ck_assert_ptr_nonnull(msg->body);
    msg->body[msg->len] = 0;
    if (msg->len > 0 && ts_read_exact(fd, msg->body, msg->len, deadline) != 1) {
        ts_msg_free(msg);
        return -1;
    }
    return 1;
}

void ts_msg_free(ts_msg_t *msg) {
    free(msg->body);
    msg->body = NULL;
}

const char *ts_error_field(const ts_msg_t *msg, char code) {
    size_t pos = 0;
    while (pos < msg->len && msg->body[pos] != 0) {
        char field = (char)msg->body[pos++];
        const char *value = (const char *)msg->body + pos;
        if (field == code) {
            return value;
        }
        pos += strlen(value) + 1;
    }
    return NULL;
}

bool ts_wait_closed(int fd, int timeout_ms) {
    uint64_t deadline = ts_now_ms() + (uint64_t)timeout_ms;
    uint8_t scratch[4096];
    for (;;) {
        uint64_t now = ts_now_ms();
        if (now >= deadline) {
            return false;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, (int)(deadline - now)) <= 0) {
            continue;
        }
        ssize_t n = recv(fd, scratch, sizeof(scratch), 0);
        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
            return true;
        }
    }
}

uint64_t ts_seed(const char *test_name) {
    const char *env = getenv("CTX_TEST_SEED");
    uint64_t seed =
        env != NULL ? strtoull(env, NULL, 0) : (uint64_t)time(NULL) ^ (uint64_t)getpid();
    if (seed == 0) {
        seed = 1;
    }
    fprintf(stderr, "%s: seed %llu (replay with CTX_TEST_SEED=%llu)\n", test_name,
            (unsigned long long)seed, (unsigned long long)seed);
    return seed;
}

uint64_t ts_rand(uint64_t *state) {
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * UINT64_C(2685821657736338717);
}

int ts_run_once(const char *const *args, const char *const *env, char *output, size_t cap) {
    const char *bin = getenv("CTX_SERVER_BIN");
    ck_assert_msg(bin != NULL, "CTX_SERVER_BIN must name the server binary");
    int pipe_fds[2];
    ck_assert_int_eq(pipe(pipe_fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(pipe_fds[1], 1);
        dup2(pipe_fds[1], 2);
        close(pipe_fds[0]);
        setenv("CONTEXTDB_HTTP_PORT", "off", 0);
        for (size_t i = 0; env != NULL && env[i] != NULL; i++) {
            putenv((char *)env[i]);
        }
        const char *argv[64] = {bin};
        size_t argc = 1;
        for (size_t i = 0; args != NULL && args[i] != NULL && argc < 62; i++) {
            argv[argc++] = args[i];
        }
        argv[argc] = NULL;
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    close(pipe_fds[1]);
    size_t used = 0;
    uint64_t deadline = ts_now_ms() + 20000;
    for (;;) {
        struct pollfd pfd = {.fd = pipe_fds[0], .events = POLLIN};
        uint64_t now = ts_now_ms();
        if (now >= deadline || poll(&pfd, 1, (int)(deadline - now)) <= 0) {
            kill(pid, SIGKILL);
            break;
        }
        char chunk[1024];
        ssize_t n = read(pipe_fds[0], chunk, sizeof(chunk));
        if (n <= 0) {
            break;
        }
        size_t take = (size_t)n < cap - 1 - used ? (size_t)n : cap - 1 - used;
        memcpy(output + used, chunk, take);
        used += take;
    }
    output[used] = '\0';
    close(pipe_fds[0]);
    int wstatus = 0;
    if (waitpid(pid, &wstatus, 0) != pid) {
        return -1;
    }
    return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 128 + WTERMSIG(wstatus);
}
