/*
 * test_fuzz_wire.c — random bytes at the real server, seeded (CTX_TEST_SEED replays a run).
 *
 * 1,000 random startup packets (fully random, random bodies behind a plausible length, mutated
 * valid StartupMessages, special request codes with junk) on fresh sockets, and 1,000 random
 * Query bodies (random bytes, random SQL-ish token soup, bodies without their NUL) on an
 * established session. Each must get a well-formed answer — ErrorResponse, a whole
 * session, an SSL answer — or a closed connection, within a deadline; never a hang or a crash.
 * Meanwhile a libpq client connected alongside keeps getting correct answers. Oversized and
 * undersized message lengths must get FATAL 08P01 and a closed connection.
 */
#include "testserver.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { FUZZ_CASES = 1000, FUZZ_CHECK_EVERY = 25, FUZZ_TIMEOUT_MS = 10000 };

static ts_server_t server;
static uint64_t rng;

static void server_up(void) {
    ck_assert_int_eq(ts_server_start(&server, NULL, NULL), 0);
}

static void server_down(void) {
    int status = ts_server_stop(&server, SIGTERM);
    if (status != 0) {
        fprintf(stderr, "server exit status %d\n", status);
        abort();
    }
}

static uint32_t rnd(uint32_t bound) {
    return (uint32_t)(ts_rand(&rng) % bound);
}

static void observer_check(PGconn *observer) {
    uint32_t k = rnd(1000000);
    char sql[64];
    snprintf(sql, sizeof(sql), "SELECT %u", k);
    char *v = ts_query_value(observer, sql);
    ck_assert_uint_eq((uint32_t)strtoul(v, NULL, 10), k);
    free(v);
}

static void put_u32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* One random startup-phase packet into out (cap 2048); returns its length. */
static size_t fuzz_startup_bytes(uint8_t *out) {
    static const uint32_t codes[] = {196608, 196610, 80877102, 80877103, 80877104, 131072, 0};
    size_t len = 0;
    switch (rnd(4)) {
    case 0: /* fully random */
        len = 1 + rnd(300);
        for (size_t i = 0; i < len; i++) {
            out[i] = (uint8_t)rnd(256);
        }
        return len;
    case 1: /* plausible length (sometimes a lie), known code, random body */
        len = 8 + rnd(200);
        for (size_t i = 8; i < len; i++) {
            out[i] = (uint8_t)rnd(256);
        }
        put_u32(out, rnd(4) == 0 ? rnd(20000) : (uint32_t)len);
        put_u32(out + 4, codes[rnd(7)]);
        return len;
    default: { /* a valid StartupMessage with a few bytes flipped or cut */
        const char *pairs[] = {"user", "fuzz", "database", "contextdb", "application_name",
                               "x",    NULL};
        len = ts_startup_packet(out, 196608, pairs);
        uint32_t flips = 1 + rnd(4);
        for (uint32_t i = 0; i < flips; i++) {
            out[rnd((uint32_t)len)] = (uint8_t)rnd(256);
        }
        if (rnd(3) == 0) {
            len = 1 + rnd((uint32_t)len);
        }
        return len;
    }
    }
}

/* Reads replies until EOF; every reply must be a well-formed message (or the 1-byte answer to
 * an SSL/GSSENC request). Fails on a hang. */
static void expect_answer_or_close(int fd) {
    uint8_t first = 0;
    for (int i = 0;; i++) {
        ts_msg_t msg;
        ssize_t peeked = recv(fd, &first, 1, MSG_PEEK);
        if (peeked == 1 && first == 'N' && i == 0) {
            ck_assert_int_eq(recv(fd, &first, 1, 0), 1); /* 'N' to SSLRequest/GSSENCRequest */
            continue;
        }
        int rc = ts_read_msg(fd, &msg, FUZZ_TIMEOUT_MS);
        if (rc == 0) {
            return;
        }
        ck_assert_msg(rc == 1, "no well-formed answer or close within %d ms", FUZZ_TIMEOUT_MS);
        ck_assert_msg(strchr("ERSKZvN", msg.type) != NULL, "unexpected message '%c'", msg.type);
        if (msg.type == 'E') {
            ck_assert_ptr_nonnull(ts_error_field(&msg, 'C'));
            ck_assert_ptr_nonnull(ts_error_field(&msg, 'M'));
        }
        ts_msg_free(&msg);
    }
}

START_TEST(test_fuzz_startup_packets) {
    rng = ts_seed("fuzz_startup_packets");
    PGconn *observer = ts_connect(&server, NULL);
    uint8_t bytes[2048];
    for (int i = 0; i < FUZZ_CASES; i++) {
        size_t len = fuzz_startup_bytes(bytes);
        int fd = ts_raw_connect(&server);
        ts_write_all(fd, bytes, len); /* the server may already have closed: fine */
        shutdown(fd, SHUT_WR);
        expect_answer_or_close(fd);
        close(fd);
        if (i % FUZZ_CHECK_EVERY == 0) {
            observer_check(observer);
        }
    }
    observer_check(observer);
    PQfinish(observer);
}
END_TEST

static const char *const TOKENS[] = {
    "SELECT",
    "FROM",
    "nodes",
    "edges",
    "WHERE",
    "(",
    ")",
    ",",
    ";",
    "'",
    "\"",
    "$$",
    "--",
    "/*",
    "*/",
    "1",
    "-9223372036854775808",
    "1e999",
    "*",
    "=",
    "<->",
    "->>",
    "NULL",
    "LIMIT",
    "E'\\x'",
    "BEGIN",
    "SET",
    "SHOW",
    "x",
    "ORDER",
    "BY",
    "neighbors(1, 1)",
    "'[1,2]'",
    "AND",
};

/* One random Query message into out (cap 4096); returns its length. */
static size_t fuzz_query_bytes(uint8_t *out) {
    size_t body = 0;
    uint8_t *text = out + 5;
    uint32_t kind = rnd(3);
    if (kind == 0) { /* random bytes, NUL-terminated */
        body = rnd(400);
        for (size_t i = 0; i < body; i++) {
            text[i] = (uint8_t)(1 + rnd(255));
        }
        text[body++] = 0;
    } else if (kind == 1) { /* token soup */
        uint32_t n = 1 + rnd(12);
        for (uint32_t t = 0; t < n; t++) {
            const char *tok = TOKENS[rnd(sizeof(TOKENS) / sizeof(TOKENS[0]))];
            body += (size_t)snprintf((char *)text + body, 4000 - body, "%s ", tok);
        }
        text[body++] = 0;
    } else { /* random bytes, maybe without the NUL or with an inner one: 08P01 */
        body = rnd(300);
        for (size_t i = 0; i < body; i++) {
            text[i] = (uint8_t)rnd(256);
        }
    }
    out[0] = 'Q';
    put_u32(out + 1, (uint32_t)(body + 4));
    return body + 5;
}

START_TEST(test_fuzz_query_bodies) {
    rng = ts_seed("fuzz_query_bodies") ^ 0x9e3779b97f4a7c15u;
    PGconn *observer = ts_connect(&server, NULL);
    uint8_t bytes[4096];
    int fd = -1;
    int closed = 0;
    for (int i = 0; i < FUZZ_CASES; i++) {
        if (fd < 0) {
            fd = ts_raw_connect(&server);
            ts_raw_startup(fd);
        }
        size_t len = fuzz_query_bytes(bytes);
        ck_assert_int_eq(ts_write_all(fd, bytes, len), 0);
        for (;;) { /* until ReadyForQuery (session goes on) or close (after FATAL) */
            ts_msg_t msg;
            int rc = ts_read_msg(fd, &msg, FUZZ_TIMEOUT_MS);
            ck_assert_msg(rc >= 0, "case %d: no answer within %d ms", i, FUZZ_TIMEOUT_MS);
            if (rc == 0) {
                close(fd);
                fd = -1;
                closed++;
                break;
            }
            uint8_t type = msg.type;
            ck_assert_msg(strchr("ETDCINSZ", type) != NULL, "unexpected message '%c'", type);
            if (type == 'E') {
                ck_assert_ptr_nonnull(ts_error_field(&msg, 'C'));
            }
            ts_msg_free(&msg);
            if (type == 'Z') {
                break;
            }
        }
        if (i % FUZZ_CHECK_EVERY == 0) {
            observer_check(observer);
        }
    }
    fprintf(stderr, "fuzz_query_bodies: %d connections closed by the server\n", closed);
    if (fd >= 0) {
        close(fd);
    }
    observer_check(observer);
    PQfinish(observer);
}
END_TEST

/* Sends a Query header with the given length field; expects FATAL 08P01 and a close. */
static void expect_08P01_for_length(uint32_t length) {
    int fd = ts_raw_connect(&server);
    ts_raw_startup(fd);
    uint8_t header[5] = {'Q'};
    put_u32(header + 1, length);
    ck_assert_int_eq(ts_write_all(fd, header, sizeof(header)), 0);
    ts_msg_t msg;
    ck_assert_int_eq(ts_read_msg(fd, &msg, FUZZ_TIMEOUT_MS), 1);
    ck_assert_int_eq(msg.type, 'E');
    ck_assert_str_eq(ts_error_field(&msg, 'S'), "FATAL");
    ck_assert_str_eq(ts_error_field(&msg, 'C'), "08P01");
    ts_msg_free(&msg);
    ck_assert(ts_wait_closed(fd, FUZZ_TIMEOUT_MS));
    close(fd);
}

START_TEST(test_oversized_and_undersized_messages) {
    PGconn *observer = ts_connect(&server, NULL);
    expect_08P01_for_length(0x7ffffff0u); /* > 1 GiB default limit */
    expect_08P01_for_length(0xffffffffu);
    expect_08P01_for_length(3); /* shorter than the length field itself */
    observer_check(observer);
    PQfinish(observer);
}
END_TEST

START_TEST(test_configured_message_limit) {
    /* message_bytes_max from a config file: a 100 kB Query is refused, a small one works. */
    char path[TS_PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/limit.conf", server.data_dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "# test config\nmessage_bytes_max = 64kB\nmax_connections = 10\n");
    fclose(f);
    const char *args[] = {"--config", path, NULL};
    ts_server_t limited;
    ck_assert_int_eq(ts_server_start(&limited, args, NULL), 0);
    PGconn *conn = ts_connect(&limited, NULL);
    char *v = ts_query_value(conn, "SELECT 3");
    ck_assert_str_eq(v, "3");
    free(v);
    size_t big = 100 * 1024;
    char *sql = malloc(big + 16);
    memset(sql, ' ', big);
    memcpy(sql + big, "SELECT 1", 9);
    PGresult *res = PQexec(conn, sql);
    ck_assert_int_eq(PQresultStatus(res), PGRES_FATAL_ERROR);
    PQclear(res);
    ck_assert_int_eq(PQstatus(conn), CONNECTION_BAD);
    free(sql);
    PQfinish(conn);
    ck_assert_int_eq(ts_server_stop(&limited, SIGTERM), 0);
}
END_TEST

START_TEST(test_config_errors_exit_1) {
    char path[TS_PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/bad.conf", server.data_dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "port = 5999\nno_such_key = 1\n");
    fclose(f);
    char output[4096];
    const char *args[] = {"--config", path, NULL};
    ck_assert_int_eq(ts_run_once(args, NULL, output, sizeof(output)), 1);
    ck_assert_msg(strstr(output, "unrecognized configuration parameter \"no_such_key\"") != NULL,
                  "%s", output);
    const char *env[] = {"CONTEXTDB_PORT=notanumber", NULL};
    ck_assert_int_eq(ts_run_once(NULL, env, output, sizeof(output)), 1);
    ck_assert_msg(strstr(output, "invalid value for parameter \"port\"") != NULL, "%s", output);
    const char *bad_flag[] = {"--bogus", NULL};
    ck_assert_int_eq(ts_run_once(bad_flag, NULL, output, sizeof(output)), 1);
    const char *help[] = {"--help", NULL};
    ck_assert_int_eq(ts_run_once(help, NULL, output, sizeof(output)), 0);
    ck_assert_ptr_nonnull(strstr(output, "max_connections"));
    const char *version[] = {"--version", NULL};
    ck_assert_int_eq(ts_run_once(version, NULL, output, sizeof(output)), 0);
    ck_assert_ptr_nonnull(strstr(output, "contextdb "));
}
END_TEST

START_TEST(test_flags_override_env) {
    /* The environment sets port and max_connections; the flag's port wins, the env's
     * max_connections applies (a second session gets 53300). */
    const char *args[] = {"--port", "0", NULL};
    const char *env[] = {"CONTEXTDB_PORT=5", "CONTEXTDB_MAX_CONNECTIONS=1",
                         "CONTEXTDB_LOG_LEVEL=debug", NULL};
    ts_server_t s;
    ck_assert_int_eq(ts_server_start(&s, args, env), 0);
    ck_assert_uint_ne(s.port, 5);
    PGconn *conn = ts_connect(&s, NULL);
    PGconn *second = ts_connect_any(&s, NULL);
    ck_assert_int_eq(PQstatus(second), CONNECTION_BAD);
    ck_assert_ptr_nonnull(strstr(PQerrorMessage(second), "sorry, too many clients already"));
    PQfinish(second);
    PQfinish(conn);
    ck_assert_int_eq(ts_server_stop(&s, SIGTERM), 0);
}
END_TEST

static Suite *fuzz_suite(void) {
    Suite *s = suite_create("fuzz_wire");
    TCase *tc = tcase_create("fuzz");
    tcase_add_unchecked_fixture(tc, server_up, server_down);
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_fuzz_startup_packets);
    tcase_add_test(tc, test_fuzz_query_bodies);
    tcase_add_test(tc, test_oversized_and_undersized_messages);
    tcase_add_test(tc, test_configured_message_limit);
    tcase_add_test(tc, test_config_errors_exit_1);
    tcase_add_test(tc, test_flags_override_env);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *runner = srunner_create(fuzz_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? 0 : 1;
}
