/*
 * test_pgwire_client.c — the real server driven by libpq (and raw sockets where libpq hides the
 * protocol): handshake, multi-statement queries, errors with SQLSTATE and position, transaction
 * status, 200 concurrent sessions, a slow client under backpressure, too many clients (53300),
 * protocol negotiation, cancel, and graceful shutdown on SIGTERM/SIGINT.
 */
#include "testserver.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static ts_server_t server; /* one per TCase (unchecked fixture, runs in the parent) */

static void server_up(void) {
    ck_assert_int_eq(ts_server_start(&server, NULL, NULL), 0);
}

static void server_down(void) {
    int status = ts_server_stop(&server, SIGTERM);
    if (status != 0) {
        fprintf(stderr, "server exit status %d\n", status);
        abort(); /* a crash or unclean exit must fail the suite */
    }
}

/* ---- Handshake and simple queries ------------------------------------------------------------ */

START_TEST(test_startup_parameters) {
    PGconn *conn = ts_connect(&server, NULL);
    ck_assert_str_eq(PQparameterStatus(conn, "client_encoding"), "UTF8");
    ck_assert_str_eq(PQparameterStatus(conn, "standard_conforming_strings"), "on");
    ck_assert_str_eq(PQparameterStatus(conn, "integer_datetimes"), "on");
    ck_assert_ptr_nonnull(strstr(PQparameterStatus(conn, "DateStyle"), "ISO"));
    ck_assert_int_ge(PQserverVersion(conn), 150000);
    ck_assert_int_ne(PQbackendPID(conn), 0);
    ck_assert_int_eq(PQtransactionStatus(conn), PQTRANS_IDLE);
    PQfinish(conn);
}
END_TEST

START_TEST(test_ssl_refused_then_plain) {
    /* sslmode=prefer sends SSLRequest first; 'N' must lead to a plain session. */
    PGconn *conn = ts_connect(&server, "sslmode=prefer");
    char *v = ts_query_value(conn, "SELECT 7");
    ck_assert_str_eq(v, "7");
    free(v);
    PQfinish(conn);
    conn = ts_connect_any(&server, "sslmode=require");
    ck_assert_int_eq(PQstatus(conn), CONNECTION_BAD);
    ck_assert_ptr_nonnull(strstr(PQerrorMessage(conn), "server does not support SSL"));
    PQfinish(conn);
}
END_TEST

START_TEST(test_multi_statement_query) {
    PGconn *conn = ts_connect(&server, NULL);
    ck_assert_int_eq(PQsendQuery(conn, "SELECT 1; SELECT 2;SELECT 3"), 1);
    for (int expect = 1; expect <= 3; expect++) {
        PGresult *res = PQgetResult(conn);
        ck_assert_int_eq(PQresultStatus(res), PGRES_TUPLES_OK);
        ck_assert_int_eq(PQntuples(res), 1);
        ck_assert_int_eq(atoi(PQgetvalue(res, 0, 0)), expect);
        ck_assert_str_eq(PQcmdStatus(res), "SELECT 1");
        PQclear(res);
    }
    ck_assert_ptr_null(PQgetResult(conn));
    PGresult *res = PQexec(conn, "  ;  ");
    ck_assert_int_eq(PQresultStatus(res), PGRES_EMPTY_QUERY);
    PQclear(res);
    PQfinish(conn);
}
END_TEST

static void expect_error(PGresult *res, const char *sqlstate, const char *message,
                         const char *position) {
    ck_assert_int_eq(PQresultStatus(res), PGRES_FATAL_ERROR);
    ck_assert_str_eq(PQresultErrorField(res, PG_DIAG_SEVERITY), "ERROR");
    ck_assert_str_eq(PQresultErrorField(res, PG_DIAG_SQLSTATE), sqlstate);
    ck_assert_str_eq(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY), message);
    if (position != NULL) {
        ck_assert_ptr_nonnull(PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION));
        ck_assert_str_eq(PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION), position);
    }
}

START_TEST(test_errors_carry_sqlstate_and_position) {
    PGconn *conn = ts_connect(&server, NULL);
    PGresult *res = PQexec(conn, "SELEC 1");
    expect_error(res, "42601", "syntax error at or near \"SELEC\"", "1");
    PQclear(res);
    res = PQexec(conn, "SELECT * FROM nosuch");
    expect_error(res, "42P01", "relation \"nosuch\" does not exist", "15");
    PQclear(res);
    /* The failing statement ends the Query: the third statement does not run. */
    ck_assert_int_eq(PQsendQuery(conn, "SELECT 1; SELECT 1/0; SELECT 3"), 1);
    res = PQgetResult(conn);
    ck_assert_int_eq(PQresultStatus(res), PGRES_TUPLES_OK);
    PQclear(res);
    res = PQgetResult(conn);
    expect_error(res, "22012", "division by zero", NULL);
    PQclear(res);
    ck_assert_ptr_null(PQgetResult(conn));
    /* A syntax error anywhere means nothing ran. */
    res = PQexec(conn, "SELECT 1; SELEC 2");
    expect_error(res, "42601", "syntax error at or near \"SELEC\"", "11");
    PQclear(res);
    /* Query text must be valid UTF-8 (client_encoding is UTF8). */
    res = PQexec(conn, "SELECT '\xc3\x28'");
    expect_error(res, "22021", "invalid byte sequence for encoding \"UTF8\": 0xc3 0x28", NULL);
    PQclear(res);
    char *v = ts_query_value(conn, "SELECT 5");
    ck_assert_str_eq(v, "5");
    free(v);
    ck_assert_int_eq(PQtransactionStatus(conn), PQTRANS_IDLE);
    PQfinish(conn);
}
END_TEST

START_TEST(test_transaction_status) {
    PGconn *conn = ts_connect(&server, NULL);
    ck_assert_int_eq(PQtransactionStatus(conn), PQTRANS_IDLE);
    ts_exec_ok(conn, "BEGIN");
    ck_assert_int_eq(PQtransactionStatus(conn), PQTRANS_INTRANS);
    ts_exec_ok(conn, "SELECT 1");
    ck_assert_int_eq(PQtransactionStatus(conn), PQTRANS_INTRANS);
    PGresult *res = PQexec(conn, "SELECT 1/0");
    ck_assert_int_eq(PQresultStatus(res), PGRES_FATAL_ERROR);
    PQclear(res);
    ck_assert_int_eq(PQtransactionStatus(conn), PQTRANS_INERROR);
    res = PQexec(conn, "SELECT 1");
    expect_error(res, "25P02",
                 "current transaction is aborted, commands ignored until end of transaction "
                 "block",
                 NULL);
    PQclear(res);
    ts_exec_ok(conn, "ROLLBACK");
    ck_assert_int_eq(PQtransactionStatus(conn), PQTRANS_IDLE);
    /* A syntax error inside a block fails the block too. */
    ts_exec_ok(conn, "BEGIN");
    res = PQexec(conn, "SELEC 1");
    ck_assert_int_eq(PQresultStatus(res), PGRES_FATAL_ERROR);
    PQclear(res);
    ck_assert_int_eq(PQtransactionStatus(conn), PQTRANS_INERROR);
    ts_exec_ok(conn, "ROLLBACK");
    ts_exec_ok(conn, "BEGIN");
    res = PQexec(conn, "COMMIT");
    ck_assert_str_eq(PQcmdStatus(res), "COMMIT");
    PQclear(res);
    ck_assert_int_eq(PQtransactionStatus(conn), PQTRANS_IDLE);
    PQfinish(conn);
}
END_TEST

START_TEST(test_set_show_reports_parameter) {
    PGconn *conn = ts_connect(&server, NULL);
    PGresult *res = PQexec(conn, "SET application_name = 'itest'");
    ck_assert_int_eq(PQresultStatus(res), PGRES_COMMAND_OK);
    ck_assert_str_eq(PQcmdStatus(res), "SET");
    PQclear(res);
    ck_assert_str_eq(PQparameterStatus(conn, "application_name"), "itest");
    char *v = ts_query_value(conn, "SHOW application_name");
    ck_assert_str_eq(v, "itest");
    free(v);
    PQfinish(conn);
}
END_TEST

START_TEST(test_extended_protocol_error_then_recovers) {
    PGconn *conn = ts_connect(&server, NULL);
    const char *params[] = {"41"};
    PGresult *res = PQexecParams(conn, "SELECT $1::int8 + 1", 1, NULL, params, NULL, NULL, 0);
    ck_assert_int_eq(PQresultStatus(res), PGRES_TUPLES_OK);
    ck_assert_str_eq(PQgetvalue(res, 0, 0), "42");
    PQclear(res);
    res = PQexecParams(conn, "SELECT * FROM nosuch WHERE id = $1", 1, NULL, params, NULL, NULL, 0);
    expect_error(res, "42P01", "relation \"nosuch\" does not exist", NULL);
    PQclear(res);
    ck_assert_int_eq(PQtransactionStatus(conn), PQTRANS_IDLE);
    char *v = ts_query_value(conn, "SELECT 9");
    ck_assert_str_eq(v, "9");
    free(v);
    PQfinish(conn);
}
END_TEST

START_TEST(test_cancel_idle_is_harmless) {
    PGconn *conn = ts_connect(&server, NULL);
    PGcancel *cancel = PQgetCancel(conn);
    char errbuf[256];
    ck_assert_int_eq(PQcancel(cancel, errbuf, sizeof(errbuf)), 1);
    PQfreeCancel(cancel);
    usleep(100 * 1000);
    char *v = ts_query_value(conn, "SELECT 11");
    ck_assert_str_eq(v, "11");
    free(v);
    PQfinish(conn);
}
END_TEST

START_TEST(test_gssenc_and_protocol_negotiation) {
    /* GSSENCRequest gets 'N'; then a 3.2 startup with a _pq_ option gets
     * NegotiateProtocolVersion(3.0, [option]) before AuthenticationOk. */
    int fd = ts_raw_connect(&server);
    uint8_t gss[8] = {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x30};
    ck_assert_int_eq(ts_write_all(fd, gss, sizeof(gss)), 0);
    uint8_t answer = 0;
    ck_assert_int_eq(recv(fd, &answer, 1, MSG_WAITALL), 1);
    ck_assert_int_eq(answer, 'N');
    uint8_t packet[1024];
    const char *pairs[] = {"user", "test", "_pq_.frob", "1", NULL};
    size_t len = ts_startup_packet(packet, (3u << 16) | 2u, pairs);
    ck_assert_int_eq(ts_write_all(fd, packet, len), 0);
    ts_msg_t msg;
    ck_assert_int_eq(ts_read_msg(fd, &msg, 10000), 1);
    ck_assert_int_eq(msg.type, 'v');
    ck_assert_uint_eq(msg.len, 4 + 4 + strlen("_pq_.frob") + 1);
    ck_assert_int_eq(msg.body[3], 0); /* newest minor supported: 0 */
    ck_assert_str_eq((const char *)msg.body + 8, "_pq_.frob");
    ts_msg_free(&msg);
    ck_assert_int_eq(ts_read_msg(fd, &msg, 10000), 1);
    ck_assert_int_eq(msg.type, 'R');
    ts_msg_free(&msg);
    close(fd);
}
END_TEST

/* ---- Concurrency, backpressure, limits --------------------------------------------------------
 */

enum { MANY = 200 };

START_TEST(test_200_concurrent_sessions_and_53300) {
    PGconn **conns = calloc(MANY, sizeof(*conns));
    for (int i = 0; i < MANY; i++) {
        conns[i] = ts_connect(&server, NULL);
    }
    for (int round = 0; round < 5; round++) {
        char sql[64];
        for (int i = 0; i < MANY; i++) {
            snprintf(sql, sizeof(sql), "SELECT %d", i * 10 + round);
            ck_assert_int_eq(PQsendQuery(conns[i], sql), 1);
        }
        for (int i = 0; i < MANY; i++) {
            PGresult *res = PQgetResult(conns[i]);
            ck_assert_int_eq(PQresultStatus(res), PGRES_TUPLES_OK);
            ck_assert_int_eq(atoi(PQgetvalue(res, 0, 0)), i * 10 + round);
            PQclear(res);
            ck_assert_ptr_null(PQgetResult(conns[i]));
        }
    }
    /* Session 201: libpq reports the FATAL, and the raw reply carries SQLSTATE 53300. */
    PGconn *extra = ts_connect_any(&server, NULL);
    ck_assert_int_eq(PQstatus(extra), CONNECTION_BAD);
    ck_assert_ptr_nonnull(strstr(PQerrorMessage(extra), "sorry, too many clients already"));
    PQfinish(extra);
    int fd = ts_raw_connect(&server);
    uint8_t packet[1024];
    const char *pairs[] = {"user", "test", NULL};
    ck_assert_int_eq(ts_write_all(fd, packet, ts_startup_packet(packet, 196608, pairs)), 0);
    ts_msg_t msg;
    ck_assert_int_eq(ts_read_msg(fd, &msg, 10000), 1);
    ck_assert_int_eq(msg.type, 'E');
    ck_assert_str_eq(ts_error_field(&msg, 'S'), "FATAL");
    ck_assert_str_eq(ts_error_field(&msg, 'C'), "53300");
    ts_msg_free(&msg);
    ck_assert(ts_wait_closed(fd, 10000));
    close(fd);
    /* Closing one session frees a slot. */
    PQfinish(conns[0]);
    usleep(200 * 1000);
    conns[0] = ts_connect(&server, NULL);
    for (int i = 0; i < MANY; i++) {
        PQfinish(conns[i]);
    }
    free(conns);
}
END_TEST

enum { BIG_ROWS = 300, PAD_BYTES = 1000, QUERY_PAD_BYTES = 60000 };

static void load_big_rows(PGconn *conn) {
    size_t cap = 64 * 1024;
    char *sql = malloc(cap);
    char pad[PAD_BYTES + 1];
    memset(pad, 'x', PAD_BYTES);
    pad[PAD_BYTES] = 0;
    for (int base = 1; base <= BIG_ROWS; base += 50) {
        size_t len = (size_t)snprintf(sql, cap, "INSERT INTO nodes (id, label, props) VALUES ");
        for (int id = base; id < base + 50; id++) {
            len += (size_t)snprintf(sql + len, cap - len, "%s(%d, 'Big', '{\"pad\": \"%s\"}')",
                                    id == base ? "" : ", ", id, pad);
        }
        ts_exec_ok(conn, sql);
    }
    free(sql);
}

/* A Query message selecting every big row, padded with spaces so the socket buffers fill
 * after a few hundred of them. */
static size_t slow_query(uint8_t *out) {
    const char *sql = "SELECT * FROM nodes WHERE label = 'Big'";
    size_t sql_len = strlen(sql);
    out[0] = 'Q';
    uint32_t len = (uint32_t)(4 + sql_len + QUERY_PAD_BYTES + 1);
    out[1] = (uint8_t)(len >> 24);
    out[2] = (uint8_t)(len >> 16);
    out[3] = (uint8_t)(len >> 8);
    out[4] = (uint8_t)len;
    memcpy(out + 5, sql, sql_len);
    memset(out + 5 + sql_len, ' ', QUERY_PAD_BYTES);
    out[5 + sql_len + QUERY_PAD_BYTES] = 0;
    return 1 + len;
}

/* Writes queries without reading until the server stops accepting bytes for 1 s; returns
 * the number of whole queries sent (the last one is completed blocking later). */
static int flood_until_blocked(int fd, const uint8_t *query, size_t query_len, size_t *partial) {
    int sent_queries = 0;
    size_t offset = 0;
    uint64_t total = 0;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    for (;;) {
        ssize_t n = send(fd, query + offset, query_len - offset, MSG_NOSIGNAL);
        if (n > 0) {
            offset += (size_t)n;
            total += (uint64_t)n;
            if (offset == query_len) {
                sent_queries++;
                offset = 0;
            }
            ck_assert_msg(total < 512u * 1024 * 1024, "server never stopped reading");
            continue;
        }
        ck_assert_msg(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK), "send: %s",
                      strerror(errno));
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        if (poll(&pfd, 1, 1000) == 0) {
            break; /* blocked for a second: the server is not reading us */
        }
    }
    *partial = offset;
    return sent_queries;
}

START_TEST(test_slow_client_backpressure) {
    PGconn *conn = ts_connect(&server, NULL);
    load_big_rows(conn);
    uint8_t *query = malloc(QUERY_PAD_BYTES + 128);
    size_t query_len = slow_query(query);
    int slow = ts_raw_connect(&server);
    ts_raw_startup(slow);
    size_t partial = 0;
    int sent = flood_until_blocked(slow, query, query_len, &partial);
    ck_assert_int_gt(sent, 0);
    /* Others are served while the slow client's results pile up unread. */
    for (int i = 0; i < 20; i++) {
        char *v = ts_query_value(conn, "SELECT count(*) FROM nodes WHERE label = 'Big'");
        ck_assert_int_eq(atoi(v), BIG_ROWS);
        free(v);
    }
    PGconn *other = ts_connect(&server, NULL);
    ts_exec_ok(other, "SELECT 1");
    PQfinish(other);
    /* Now read everything: every query gets its rows and a ReadyForQuery. */
    fcntl(slow, F_SETFL, fcntl(slow, F_GETFL) & ~O_NONBLOCK);
    int expected = sent + (partial > 0 ? 1 : 0);
    pid_t writer = 0;
    if (partial > 0) {
        writer = fork(); /* finish the partial query while we read */
        if (writer == 0) {
            _exit(ts_write_all(slow, query + partial, query_len - partial) == 0 ? 0 : 1);
        }
    }
    int ready = 0;
    uint64_t rows = 0;
    while (ready < expected) {
        ts_msg_t msg;
        ck_assert_int_eq(ts_read_msg(slow, &msg, 30000), 1);
        ck_assert_int_ne(msg.type, 'E');
        rows += msg.type == 'D';
        ready += msg.type == 'Z';
        ts_msg_free(&msg);
    }
    ck_assert_uint_eq(rows, (uint64_t)expected * BIG_ROWS);
    if (writer > 0) {
        int status = 0;
        waitpid(writer, &status, 0);
        ck_assert_int_eq(status, 0);
    }
    close(slow);
    free(query);
    PQfinish(conn);
}
END_TEST

/* ---- Shutdown ----------------------------------------------------------------------------------
 */

static void check_shutdown(int signal_number) {
    ts_server_t s;
    ck_assert_int_eq(ts_server_start(&s, NULL, NULL), 0);
    PGconn *conn = ts_connect(&s, NULL);
    ts_exec_ok(conn, "SELECT 1");
    int fd = ts_raw_connect(&s);
    ts_raw_startup(fd);
    ck_assert_int_eq(kill(s.pid, signal_number), 0);
    ts_msg_t msg;
    ck_assert_int_eq(ts_read_msg(fd, &msg, 10000), 1);
    ck_assert_int_eq(msg.type, 'E');
    ck_assert_str_eq(ts_error_field(&msg, 'S'), "FATAL");
    ck_assert_str_eq(ts_error_field(&msg, 'C'), "57P01");
    ck_assert_str_eq(ts_error_field(&msg, 'M'),
                     "terminating connection due to administrator command");
    ts_msg_free(&msg);
    ck_assert(ts_wait_closed(fd, 10000));
    close(fd);
    PGresult *res = PQexec(conn, "SELECT 1");
    ck_assert_int_eq(PQresultStatus(res), PGRES_FATAL_ERROR);
    ck_assert_ptr_nonnull(strstr(PQerrorMessage(conn), "administrator command"));
    PQclear(res);
    PQfinish(conn);
    ck_assert_int_eq(ts_server_stop(&s, signal_number), 0); /* exit status 0 */
}

START_TEST(test_sigterm_graceful) {
    check_shutdown(SIGTERM);
}
END_TEST

START_TEST(test_sigint_graceful) {
    check_shutdown(SIGINT);
}
END_TEST

START_TEST(test_data_dir_locked) {
    /* A second server on the same data directory refuses to start. */
    const char *args[] = {"--port", "0", "--data-dir", server.data_dir, NULL};
    char output[4096];
    ck_assert_int_eq(ts_run_once(args, NULL, output, sizeof(output)), 1);
    ck_assert_msg(strstr(output, "is in use by another server") != NULL, "%s", output);
}
END_TEST

static Suite *pgwire_suite(void) {
    Suite *s = suite_create("pgwire_client");
    TCase *basic = tcase_create("basic");
    tcase_add_unchecked_fixture(basic, server_up, server_down);
    tcase_set_timeout(basic, 120);
    tcase_add_test(basic, test_startup_parameters);
    tcase_add_test(basic, test_ssl_refused_then_plain);
    tcase_add_test(basic, test_multi_statement_query);
    tcase_add_test(basic, test_errors_carry_sqlstate_and_position);
    tcase_add_test(basic, test_transaction_status);
    tcase_add_test(basic, test_set_show_reports_parameter);
    tcase_add_test(basic, test_extended_protocol_error_then_recovers);
    tcase_add_test(basic, test_cancel_idle_is_harmless);
    tcase_add_test(basic, test_gssenc_and_protocol_negotiation);
    tcase_add_test(basic, test_data_dir_locked);
    suite_add_tcase(s, basic);
    TCase *many = tcase_create("many");
    tcase_add_unchecked_fixture(many, server_up, server_down);
    tcase_set_timeout(many, 240);
    tcase_add_test(many, test_200_concurrent_sessions_and_53300);
    suite_add_tcase(s, many);
    TCase *slow = tcase_create("slow_client");
    tcase_add_unchecked_fixture(slow, server_up, server_down);
    tcase_set_timeout(slow, 240);
    tcase_add_test(slow, test_slow_client_backpressure);
    suite_add_tcase(s, slow);
    TCase *shutdown = tcase_create("shutdown");
    tcase_set_timeout(shutdown, 120);
    tcase_add_test(shutdown, test_sigterm_graceful);
    tcase_add_test(shutdown, test_sigint_graceful);
    suite_add_tcase(s, shutdown);
    return s;
}

int main(void) {
    SRunner *runner = srunner_create(pgwire_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? 0 : 1;
}
