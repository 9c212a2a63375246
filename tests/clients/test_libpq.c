/*
 * test_libpq.c — the real server driven by libpq as an application would: parameterized writes
 * and reads of nodes, edges and vectors (text and binary parameters and results), prepared
 * statements, a graph and a vector query, errors with SQLSTATE, transactions, COPY in both
 * directions, and cancelling a running pg_sleep. Raw-socket tests pin the extended-protocol
 * details libpq hides: row limits with PortalSuspended, Describe, discard-until-Sync.
 */
#include "testserver.h"

#include <check.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

enum { OID_BOOL = 16, OID_INT8 = 20, OID_INT4 = 23, OID_TEXT = 25, OID_FLOAT8 = 701 };
enum { OID_JSONB = 3802, OID_VECTOR = 16390, DIMS = 4 };

static ts_server_t server;

static void server_up(void) {
    const char *const env[] = {"CONTEXTDB_VECTOR_DIMENSIONS=4", NULL};
    ck_assert_int_eq(ts_server_start(&server, NULL, env), 0);
}

static void server_down(void) {
    int status = ts_server_stop(&server, SIGTERM);
    if (status != 0) {
        fprintf(stderr, "server exit status %d\n", status);
        abort();
    }
}

static void expect_ok(PGresult *res, ExecStatusType status) {
    if (PQresultStatus(res) != status) {
        fprintf(stderr, "unexpected: %s %s\n", PQresStatus(PQresultStatus(res)),
                PQresultErrorMessage(res));
    }
    ck_assert_int_eq(PQresultStatus(res), status);
}

static void expect_state(PGresult *res, const char *sqlstate) {
    ck_assert_int_eq(PQresultStatus(res), PGRES_FATAL_ERROR);
    ck_assert_str_eq(PQresultErrorField(res, PG_DIAG_SQLSTATE), sqlstate);
}

static uint64_t be64(const char *p) {
    const unsigned char *u = (const unsigned char *)p;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = v << 8 | u[i];
    }
    return v;
}

static void put_be32(char *p, uint32_t v) {
    p[0] = (char)(v >> 24);
    p[1] = (char)(v >> 16);
    p[2] = (char)(v >> 8);
    p[3] = (char)v;
}

static void put_be64(char *p, uint64_t v) {
    put_be32(p, (uint32_t)(v >> 32));
    put_be32(p + 4, (uint32_t)v);
}

/* Inserts nodes 1..5, edges 1→2→3→4, 1→5, vectors for 1..5, all with text parameters. */
static void load_graph(PGconn *conn) {
    for (int id = 1; id <= 5; id++) {
        char sid[16], label[16], props[64];
        snprintf(sid, sizeof(sid), "%d", id);
        snprintf(label, sizeof(label), "L%d", id);
        snprintf(props, sizeof(props), "{\"rank\": %d}", id);
        const char *params[] = {sid, label, props};
        PGresult *res =
            PQexecParams(conn, "INSERT INTO nodes (id, label, props) VALUES ($1, $2, $3)", 3, NULL,
                         params, NULL, NULL, 0);
        expect_ok(res, PGRES_COMMAND_OK);
        ck_assert_str_eq(PQcmdStatus(res), "INSERT 0 1");
        PQclear(res);
        char vec[64];
        snprintf(vec, sizeof(vec), "[%d,1,0,0]", id);
        const char *vparams[] = {sid, vec};
        res = PQexecParams(conn, "INSERT INTO vectors (id, embedding) VALUES ($1, $2)", 2, NULL,
                           vparams, NULL, NULL, 0);
        expect_ok(res, PGRES_COMMAND_OK);
        PQclear(res);
    }
    const int edges[][2] = {{1, 2}, {2, 3}, {3, 4}, {1, 5}};
    for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
        char a[16], b[16];
        snprintf(a, sizeof(a), "%d", edges[i][0]);
        snprintf(b, sizeof(b), "%d", edges[i][1]);
        const char *params[] = {a, b, "links", "0.5"};
        PGresult *res = PQexecParams(conn,
                                     "INSERT INTO edges (src, dst, kind, weight) "
                                     "VALUES ($1, $2, $3, $4)",
                                     4, NULL, params, NULL, NULL, 0);
        expect_ok(res, PGRES_COMMAND_OK);
        PQclear(res);
    }
}

START_TEST(test_params_text_and_binary) {
    PGconn *conn = ts_connect(&server, NULL);
    load_graph(conn);
    /* Binary int8 parameter, binary results: int8, text, jsonb. */
    char id[8];
    put_be64(id, 3);
    const char *params[] = {id};
    const int lengths[] = {8};
    const int formats[] = {1};
    const Oid types[] = {OID_INT8};
    PGresult *res = PQexecParams(conn, "SELECT id, label, props FROM nodes WHERE id = $1", 1, types,
                                 params, lengths, formats, 1);
    expect_ok(res, PGRES_TUPLES_OK);
    ck_assert_int_eq(PQntuples(res), 1);
    ck_assert_int_eq(PQftype(res, 0), OID_INT8);
    ck_assert_int_eq(PQfformat(res, 0), 1);
    ck_assert_int_eq(PQgetlength(res, 0, 0), 8);
    ck_assert_uint_eq(be64(PQgetvalue(res, 0, 0)), 3);
    ck_assert_str_eq(PQgetvalue(res, 0, 1), "L3");
    ck_assert_int_eq(PQftype(res, 2), OID_JSONB);
    ck_assert_int_eq(PQgetvalue(res, 0, 2)[0], 1); /* jsonb version byte */
    ck_assert_str_eq(PQgetvalue(res, 0, 2) + 1, "{\"rank\": 3}");
    PQclear(res);
    /* Binary float8 and bool parameters, text result. */
    char weight[8], flag[1] = {1};
    double w = 0.25;
    uint64_t bits;
    memcpy(&bits, &w, sizeof(bits));
    put_be64(weight, bits);
    const char *p2[] = {weight, flag};
    const int l2[] = {8, 1};
    const int f2[] = {1, 1};
    const Oid t2[] = {OID_FLOAT8, OID_BOOL};
    res = PQexecParams(conn, "SELECT $1 * 2, NOT $2", 2, t2, p2, l2, f2, 0);
    expect_ok(res, PGRES_TUPLES_OK);
    ck_assert_str_eq(PQgetvalue(res, 0, 0), "0.5");
    ck_assert_str_eq(PQgetvalue(res, 0, 1), "f");
    PQclear(res);
    /* Binary vector parameter (pgvector layout) and binary vector result. */
    char vec[4 + 4 * DIMS];
    vec[0] = 0;
    vec[1] = DIMS;
    vec[2] = vec[3] = 0;
    for (int i = 0; i < DIMS; i++) {
        float f = (float)(i + 1) / 2.0f;
        uint32_t fb;
        memcpy(&fb, &f, sizeof(fb));
        put_be32(vec + 4 + 4 * i, fb);
    }
    const char *p3[] = {"42", vec};
    const int l3[] = {0, (int)sizeof(vec)};
    const int f3[] = {0, 1};
    const Oid t3[] = {0, OID_VECTOR};
    res = PQexecParams(conn, "INSERT INTO vectors (id, embedding) VALUES ($1, $2)", 2, t3, p3, l3,
                       f3, 0);
    expect_ok(res, PGRES_COMMAND_OK);
    PQclear(res);
    res = PQexecParams(conn, "SELECT embedding FROM vectors WHERE id = 42", 0, NULL, NULL, NULL,
                       NULL, 0);
    expect_ok(res, PGRES_TUPLES_OK);
    ck_assert_str_eq(PQgetvalue(res, 0, 0), "[0.5,1,1.5,2]");
    PQclear(res);
    res = PQexecParams(conn, "SELECT embedding FROM vectors WHERE id = 42", 0, NULL, NULL, NULL,
                       NULL, 1);
    expect_ok(res, PGRES_TUPLES_OK);
    ck_assert_int_eq(PQgetlength(res, 0, 0), (int)sizeof(vec));
    ck_assert_mem_eq(PQgetvalue(res, 0, 0), vec, sizeof(vec));
    PQclear(res);
    PQfinish(conn);
}
END_TEST

START_TEST(test_prepared_graph_and_vector_queries) {
    PGconn *conn = ts_connect(&server, NULL);
    load_graph(conn);
    PGresult *res =
        PQprepare(conn, "nb", "SELECT id, depth FROM neighbors($1, $2) ORDER BY id", 0, NULL);
    expect_ok(res, PGRES_COMMAND_OK);
    PQclear(res);
    res = PQdescribePrepared(conn, "nb");
    expect_ok(res, PGRES_COMMAND_OK);
    ck_assert_int_eq(PQnparams(res), 2);
    ck_assert_int_eq(PQnfields(res), 2);
    ck_assert_str_eq(PQfname(res, 0), "id");
    PQclear(res);
    for (int round = 0; round < 3; round++) { /* same statement, several executions */
        const char *params[] = {"1", "2"};
        res = PQexecPrepared(conn, "nb", 2, params, NULL, NULL, 0);
        expect_ok(res, PGRES_TUPLES_OK);
        ck_assert_int_eq(PQntuples(res), 3); /* 2, 3 (depth 2), 5 */
        ck_assert_str_eq(PQgetvalue(res, 0, 0), "2");
        ck_assert_str_eq(PQgetvalue(res, 1, 0), "3");
        ck_assert_str_eq(PQgetvalue(res, 1, 1), "2");
        ck_assert_str_eq(PQgetvalue(res, 2, 0), "5");
        PQclear(res);
    }
    const char *vp[] = {"1", "3"};
    res = PQexecParams(conn, "SELECT id FROM similar($1, $2)", 2, NULL, vp, NULL, NULL, 0);
    expect_ok(res, PGRES_TUPLES_OK);
    ck_assert_int_eq(PQntuples(res), 3);
    PQclear(res);
    const char *dp[] = {"[1,1,0,0]"};
    res = PQexecParams(conn, "SELECT id FROM vectors ORDER BY embedding <-> $1 LIMIT 2", 1, NULL,
                       dp, NULL, NULL, 0);
    expect_ok(res, PGRES_TUPLES_OK);
    ck_assert_int_eq(PQntuples(res), 2);
    ck_assert_str_eq(PQgetvalue(res, 0, 0), "1");
    ck_assert_str_eq(PQgetvalue(res, 1, 0), "2");
    PQclear(res);
    res = PQexec(conn, "DEALLOCATE nb");
    PQclear(res);
    PQfinish(conn);
}
END_TEST

START_TEST(test_errors_and_transactions) {
    PGconn *conn = ts_connect(&server, NULL);
    load_graph(conn);
    const char *dup[] = {"1", "again"};
    PGresult *res = PQexecParams(conn, "INSERT INTO nodes (id, label) VALUES ($1, $2)", 2, NULL,
                                 dup, NULL, NULL, 0);
    expect_state(res, "23505");
    PQclear(res);
    const char *bad[] = {"abc"};
    res = PQexecParams(conn, "SELECT * FROM nodes WHERE id = $1", 1, NULL, bad, NULL, NULL, 0);
    expect_state(res, "22P02");
    PQclear(res);
    const char *missing[] = {"1", "999", "links"};
    res = PQexecParams(conn, "INSERT INTO edges (src, dst, kind) VALUES ($1, $2, $3)", 3, NULL,
                       missing, NULL, NULL, 0);
    expect_state(res, "23503");
    PQclear(res);
    /* ROLLBACK discards, COMMIT keeps; an error inside the block fails it (25P02). */
    ts_exec_ok(conn, "BEGIN");
    const char *p100[] = {"100", "tx"};
    res = PQexecParams(conn, "INSERT INTO nodes (id, label) VALUES ($1, $2)", 2, NULL, p100, NULL,
                       NULL, 0);
    expect_ok(res, PGRES_COMMAND_OK);
    PQclear(res);
    ck_assert_int_eq(PQtransactionStatus(conn), PQTRANS_INTRANS);
    ts_exec_ok(conn, "ROLLBACK");
    char *v = ts_query_value(conn, "SELECT count(*) FROM nodes WHERE id = 100");
    ck_assert_str_eq(v, "0");
    free(v);
    ts_exec_ok(conn, "BEGIN");
    res = PQexecParams(conn, "INSERT INTO nodes (id, label) VALUES ($1, $2)", 2, NULL, p100, NULL,
                       NULL, 0);
    expect_ok(res, PGRES_COMMAND_OK);
    PQclear(res);
    res = PQexecParams(conn, "SELECT * FROM nodes WHERE id = $1", 1, NULL, bad, NULL, NULL, 0);
    expect_state(res, "22P02");
    PQclear(res);
    ck_assert_int_eq(PQtransactionStatus(conn), PQTRANS_INERROR);
    res = PQexecParams(conn, "SELECT 1", 0, NULL, NULL, NULL, NULL, 0);
    expect_state(res, "25P02");
    PQclear(res);
    ts_exec_ok(conn, "ROLLBACK");
    ts_exec_ok(conn, "BEGIN");
    res = PQexecParams(conn, "INSERT INTO nodes (id, label) VALUES ($1, $2)", 2, NULL, p100, NULL,
                       NULL, 0);
    PQclear(res);
    ts_exec_ok(conn, "COMMIT");
    v = ts_query_value(conn, "SELECT label FROM nodes WHERE id = 100");
    ck_assert_str_eq(v, "tx");
    free(v);
    PQfinish(conn);
}
END_TEST

/* Sends data in chunks of `chunk` bytes (rows split across CopyData messages). */
static PGresult *copy_in(PGconn *conn, const char *sql, const char *data, size_t chunk) {
    PGresult *res = PQexec(conn, sql);
    expect_ok(res, PGRES_COPY_IN);
    PQclear(res);
    size_t len = strlen(data);
    for (size_t at = 0; at < len; at += chunk) {
        size_t n = len - at < chunk ? len - at : chunk;
        ck_assert_int_eq(PQputCopyData(conn, data + at, (int)n), 1);
    }
    ck_assert_int_eq(PQputCopyEnd(conn, NULL), 1);
    res = PQgetResult(conn);
    PGresult *next = PQgetResult(conn);
    ck_assert_ptr_null(next);
    return res;
}

START_TEST(test_copy_in_and_out) {
    PGconn *conn = ts_connect(&server, NULL);
    PGresult *res = copy_in(conn, "COPY nodes FROM STDIN",
                            "1\tUser\t{\"name\": \"ann\"}\n2\tDoc\t\\N\n3\ttab\\there\t{}\n", 5);
    expect_ok(res, PGRES_COMMAND_OK);
    ck_assert_str_eq(PQcmdStatus(res), "COPY 3");
    PQclear(res);
    res = copy_in(conn, "COPY edges (src, dst, kind) FROM STDIN (FORMAT csv, HEADER)",
                  "src,dst,kind\r\n1,2,owns\r\n2,3,\"multi\nline\"\r\n", 7);
    expect_ok(res, PGRES_COMMAND_OK);
    ck_assert_str_eq(PQcmdStatus(res), "COPY 2");
    PQclear(res);
    res = copy_in(conn, "COPY vectors FROM STDIN WITH CSV", "1,\"[1,2,3,4]\"\n2,\"[0,0,0,1]\"", 64);
    expect_ok(res, PGRES_COMMAND_OK); /* last line without newline */
    PQclear(res);
    char *v = ts_query_value(conn, "SELECT weight FROM edges WHERE kind = 'multi\nline'");
    ck_assert_str_eq(v, "1"); /* the default */
    free(v);
    /* A bad row names its line; nothing of the failed COPY is applied. */
    res = copy_in(conn, "COPY nodes (id, label) FROM STDIN", "10\ta\n11\tb\nx\tc\n12\td\n", 3);
    expect_state(res, "22P02");
    ck_assert_str_eq(PQresultErrorField(res, PG_DIAG_CONTEXT),
                     "COPY nodes, line 3, column id: \"x\"");
    PQclear(res);
    res = copy_in(conn, "COPY nodes (id, label) FROM STDIN", "20\ta\n21\n", 100);
    expect_state(res, "22P04");
    ck_assert_str_eq(PQresultErrorField(res, PG_DIAG_CONTEXT), "COPY nodes, line 2");
    PQclear(res);
    res = copy_in(conn, "COPY nodes (id, label) FROM STDIN", "30\ta\n1\tdup\n", 100);
    expect_state(res, "23505");
    PQclear(res);
    v = ts_query_value(conn, "SELECT count(*) FROM nodes");
    ck_assert_str_eq(v, "3");
    free(v);
    /* COPY inside a block is rolled back with it. */
    ts_exec_ok(conn, "BEGIN");
    res = copy_in(conn, "COPY nodes (id, label) FROM STDIN", "40\tin-block\n", 100);
    expect_ok(res, PGRES_COMMAND_OK);
    PQclear(res);
    v = ts_query_value(conn, "SELECT count(*) FROM nodes");
    ck_assert_str_eq(v, "4");
    free(v);
    ts_exec_ok(conn, "ROLLBACK");
    v = ts_query_value(conn, "SELECT count(*) FROM nodes");
    ck_assert_str_eq(v, "3");
    free(v);
    /* COPY TO STDOUT, text and CSV. */
    res = PQexec(conn, "COPY (SELECT id, label, props FROM nodes ORDER BY id) TO STDOUT");
    expect_ok(res, PGRES_COPY_OUT);
    PQclear(res);
    char out[512] = "";
    char *line = NULL;
    int n;
    while ((n = PQgetCopyData(conn, &line, 0)) > 0) {
        strncat(out, line, sizeof(out) - strlen(out) - 1);
        PQfreemem(line);
    }
    ck_assert_int_eq(n, -1);
    res = PQgetResult(conn);
    expect_ok(res, PGRES_COMMAND_OK);
    ck_assert_str_eq(PQcmdStatus(res), "COPY 3");
    PQclear(res);
    PQclear(PQgetResult(conn));
    ck_assert_str_eq(out, "1\tUser\t{\"name\": \"ann\"}\n2\tDoc\t\\N\n3\ttab\\there\t{}\n");
    res = PQexec(conn, "COPY edges (src, kind) TO STDOUT (FORMAT csv, HEADER)");
    expect_ok(res, PGRES_COPY_OUT);
    PQclear(res);
    out[0] = '\0';
    while ((n = PQgetCopyData(conn, &line, 0)) > 0) {
        strncat(out, line, sizeof(out) - strlen(out) - 1);
        PQfreemem(line);
    }
    PQclear(PQgetResult(conn));
    ck_assert_str_eq(out, "src,kind\n1,owns\n2,\"multi\nline\"\n");
    PQfinish(conn);
}
END_TEST

static double now_s(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void *connect_during_sleep(void *arg) {
    (void)arg;
    usleep(100 * 1000);
    PGconn *conn = ts_connect(&server, NULL); /* accepted by the watcher, adopted afterwards */
    char *v = ts_query_value(conn, "SELECT 5");
    PQfinish(conn);
    return v;
}

START_TEST(test_cancel_and_statement_timeout) {
    PGconn *conn = ts_connect(&server, NULL);
    pthread_t other;
    ck_assert_int_eq(pthread_create(&other, NULL, connect_during_sleep, NULL), 0);
    double started = now_s();
    ck_assert_int_eq(PQsendQuery(conn, "SELECT pg_sleep(20)"), 1);
    /* A cancel that arrives before the statement started is dropped (as in PostgreSQL): repeat
     * it every 300 ms until the query has ended. */
    PGcancel *cancel = PQgetCancel(conn);
    while (PQisBusy(conn)) {
        struct pollfd pfd = {.fd = PQsocket(conn), .events = POLLIN};
        if (poll(&pfd, 1, 300) > 0) {
            ck_assert_int_eq(PQconsumeInput(conn), 1);
            continue;
        }
        char errbuf[256];
        ck_assert_int_eq(PQcancel(cancel, errbuf, sizeof(errbuf)), 1);
    }
    PQfreeCancel(cancel);
    PGresult *res = PQgetResult(conn);
    expect_state(res, "57014");
    ck_assert_str_eq(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY),
                     "canceling statement due to user request");
    PQclear(res);
    PQclear(PQgetResult(conn));
    ck_assert_double_lt(now_s() - started, 5.0);
    void *value = NULL;
    pthread_join(other, &value);
    ck_assert_str_eq((char *)value, "5");
    free(value);
    /* The connection goes on; an extended-protocol query is cancelled alike by the timeout. */
    ts_exec_ok(conn, "SET statement_timeout = 200");
    const char *params[] = {"20"};
    started = now_s();
    res = PQexecParams(conn, "SELECT pg_sleep($1)", 1, NULL, params, NULL, NULL, 0);
    expect_state(res, "57014");
    ck_assert_str_eq(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY),
                     "canceling statement due to statement timeout");
    PQclear(res);
    ck_assert_double_lt(now_s() - started, 5.0);
    ts_exec_ok(conn, "SET statement_timeout = 0");
    char *v = ts_query_value(conn, "SELECT pg_sleep(0.01)");
    ck_assert_str_eq(v, "");
    free(v);
    PQfinish(conn);
}
END_TEST

/* ---- Raw protocol ------------------------------------------------------------------------------
 */

typedef struct msgbuf {
    uint8_t data[4096];
    size_t len;
} msgbuf_t;

static void mb_begin(msgbuf_t *m, char type, size_t *mark) {
    m->data[m->len++] = (uint8_t)type;
    *mark = m->len;
    m->len += 4;
}

static void mb_end(msgbuf_t *m, size_t mark) {
    put_be32((char *)m->data + mark, (uint32_t)(m->len - mark));
}

static void mb_str(msgbuf_t *m, const char *s) {
    size_t n = strlen(s) + 1;
    memcpy(m->data + m->len, s, n);
    m->len += n;
}

static void mb_u16(msgbuf_t *m, uint16_t v) {
    m->data[m->len++] = (uint8_t)(v >> 8);
    m->data[m->len++] = (uint8_t)v;
}

static void mb_u32(msgbuf_t *m, uint32_t v) {
    put_be32((char *)m->data + m->len, v);
    m->len += 4;
}

static void mb_parse(msgbuf_t *m, const char *name, const char *sql) {
    size_t mark;
    mb_begin(m, 'P', &mark);
    mb_str(m, name);
    mb_str(m, sql);
    mb_u16(m, 0);
    mb_end(m, mark);
}

/* Bind with text parameters (NULL-terminated list), all results text. */
static void mb_bind(msgbuf_t *m, const char *portal, const char *stmt, const char *const *params) {
    size_t mark;
    mb_begin(m, 'B', &mark);
    mb_str(m, portal);
    mb_str(m, stmt);
    mb_u16(m, 0);
    uint16_t n = 0;
    while (params != NULL && params[n] != NULL) {
        n++;
    }
    mb_u16(m, n);
    for (uint16_t i = 0; i < n; i++) {
        mb_u32(m, (uint32_t)strlen(params[i]));
        memcpy(m->data + m->len, params[i], strlen(params[i]));
        m->len += strlen(params[i]);
    }
    mb_u16(m, 0);
    mb_end(m, mark);
}

static void mb_target(msgbuf_t *m, char type, char kind, const char *name) {
    size_t mark;
    mb_begin(m, type, &mark);
    m->data[m->len++] = (uint8_t)kind;
    mb_str(m, name);
    mb_end(m, mark);
}

static void mb_execute(msgbuf_t *m, const char *portal, uint32_t rows_max) {
    size_t mark;
    mb_begin(m, 'E', &mark);
    mb_str(m, portal);
    mb_u32(m, rows_max);
    mb_end(m, mark);
}

static void mb_simple(msgbuf_t *m, char type) {
    size_t mark;
    mb_begin(m, type, &mark);
    mb_end(m, mark);
}

/* Reads messages and returns their type letters as a string ("12DDsZ"); stops after 'Z'. */
static void read_types(int fd, char *types, size_t cap) {
    size_t n = 0;
    for (;;) {
        ts_msg_t msg;
        ck_assert_int_eq(ts_read_msg(fd, &msg, 5000), 1);
        ck_assert_uint_lt(n + 1, cap);
        types[n++] = (char)msg.type;
        uint8_t type = msg.type;
        ts_msg_free(&msg);
        if (type == 'Z') {
            break;
        }
    }
    types[n] = '\0';
}

START_TEST(test_raw_row_limit_and_portal_suspended) {
    PGconn *conn = ts_connect(&server, NULL);
    load_graph(conn);
    PQfinish(conn);
    int fd = ts_raw_connect(&server);
    ts_raw_startup(fd);
    msgbuf_t m = {.len = 0};
    mb_parse(&m, "s1", "SELECT id FROM nodes WHERE id >= $1 ORDER BY id");
    mb_target(&m, 'D', 'S', "s1");
    const char *const params[] = {"2", NULL};
    mb_bind(&m, "p1", "s1", params);
    mb_target(&m, 'D', 'P', "p1");
    mb_execute(&m, "p1", 2);
    mb_execute(&m, "p1", 2);
    mb_execute(&m, "p1", 0);
    mb_simple(&m, 'S');
    ck_assert_int_eq(ts_write_all(fd, m.data, m.len), 0);
    char types[64];
    read_types(fd, types, sizeof(types));
    /* ParseComplete, ParameterDescription, RowDescription, BindComplete, RowDescription,
     * 2 rows + PortalSuspended, 2 rows + PortalSuspended, 0 rows + CommandComplete, Ready. */
    ck_assert_str_eq(types, "1tT2TDDsDDsCZ");
    /* An error skips everything up to Sync; exactly one ReadyForQuery follows. */
    m.len = 0;
    mb_parse(&m, "", "SELECT * FROM nosuch");
    mb_bind(&m, "", "", NULL);
    mb_execute(&m, "", 0);
    mb_simple(&m, 'S');
    mb_parse(&m, "", "SELECT 1");
    mb_bind(&m, "", "", NULL);
    mb_target(&m, 'D', 'P', "");
    mb_execute(&m, "", 0);
    mb_target(&m, 'C', 'S', "s1");
    mb_simple(&m, 'S');
    ck_assert_int_eq(ts_write_all(fd, m.data, m.len), 0);
    read_types(fd, types, sizeof(types));
    ck_assert_str_eq(types, "EZ");
    read_types(fd, types, sizeof(types));
    ck_assert_str_eq(types, "12TDC3Z");
    /* A statement without rows describes as NoData; an empty query as EmptyQueryResponse. */
    m.len = 0;
    mb_parse(&m, "", "SET application_name = 'raw'");
    mb_target(&m, 'D', 'S', "");
    mb_parse(&m, "e", "");
    mb_bind(&m, "", "e", NULL);
    mb_execute(&m, "", 0);
    mb_simple(&m, 'S');
    ck_assert_int_eq(ts_write_all(fd, m.data, m.len), 0);
    read_types(fd, types, sizeof(types));
    ck_assert_str_eq(types, "1tn12IZ");
    close(fd);
}
END_TEST

static Suite *libpq_suite(void) {
    Suite *s = suite_create("clients_libpq");
    TCase *tc = tcase_create("libpq");
    tcase_add_checked_fixture(tc, server_up, server_down);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_params_text_and_binary);
    tcase_add_test(tc, test_prepared_graph_and_vector_queries);
    tcase_add_test(tc, test_errors_and_transactions);
    tcase_add_test(tc, test_copy_in_and_out);
    tcase_add_test(tc, test_cancel_and_statement_timeout);
    tcase_add_test(tc, test_raw_row_limit_and_portal_suspended);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *runner = srunner_create(libpq_suite());
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
