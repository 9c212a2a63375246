/*
 * test_memlimit.c — statement memory limits and COPY FROM bounds, with the real server.
 *
 * A statement whose intermediate results pass statement_mem_limit fails alone with 53200 (the
 * DETAIL names the limit); the same session and another one keep working, and repeating the
 * failure does not grow the server (its VmHWM stays far below what the unbounded statement
 * would take). The setting takes PostgreSQL memory units (64kB at least, as work_mem); its
 * default comes from the config key. Array and string results (nested ARRAY(…)::text,
 * array_agg, string_agg) count against the limit too.
 * COPY FROM: a single 20 MB line loads (the time is printed, not asserted); a line longer than
 * the limit fails with 54000; statement_timeout and CancelRequest stop a COPY with 57014 and
 * leave nothing behind.
 */
#include "testserver.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { GRAPH_ROWS = 3000, CHUNK_BYTES = 64 * 1024 };

/* Runs COPY sql and streams data in CHUNK_BYTES pieces; returns the final result. */
static PGresult *copy_in(PGconn *c, const char *sql, const char *data, size_t len) {
    PGresult *r = PQexec(c, sql);
    ck_assert_int_eq(PQresultStatus(r), PGRES_COPY_IN);
    PQclear(r);
    for (size_t off = 0; off < len; off += CHUNK_BYTES) {
        size_t n = len - off < CHUNK_BYTES ? len - off : CHUNK_BYTES;
        ck_assert_int_eq(PQputCopyData(c, data + off, (int)n), 1);
    }
    ck_assert_int_eq(PQputCopyEnd(c, NULL), 1);
    r = PQgetResult(c);
    PGresult *extra;
    while ((extra = PQgetResult(c)) != NULL) {
        PQclear(extra);
    }
    return r;
}

static void copy_ok(PGconn *c, const char *sql, const char *data, size_t len) {
    PGresult *r = copy_in(c, sql, data, len);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQresultErrorMessage(r));
    PQclear(r);
}

/* GRAPH_ROWS nodes and GRAPH_ROWS edges (a ring), loaded with COPY. */
static void load_graph(PGconn *c) {
    size_t cap = (size_t)GRAPH_ROWS * 40;
    char *data = malloc(cap);
    size_t n = 0;
    for (int i = 0; i < GRAPH_ROWS; i++) {
        n += (size_t)snprintf(data + n, cap - n, "%d\tN\n", i);
    }
    copy_ok(c, "COPY nodes (id, label) FROM STDIN", data, n);
    n = 0;
    for (int i = 0; i < GRAPH_ROWS; i++) {
        n += (size_t)snprintf(data + n, cap - n, "%d\t%d\tlinks\n", i, (i + 1) % GRAPH_ROWS);
    }
    copy_ok(c, "COPY edges (src, dst, kind) FROM STDIN", data, n);
    free(data);
}

static void expect_error(PGresult *r, const char *sqlstate) {
    ts_assert_error(r, sqlstate, NULL);
}

/* 3000 x 3000 rows ordered need far more than 64MB: 53200 naming the limit, then both this
 * session and another one work, and five more failures leave the server's peak memory bounded. */
START_TEST(test_cross_join_over_limit_fails_alone) {
    ts_server_t s;
    ck_assert_int_eq(ts_server_start(&s, NULL, NULL), 0);
    PGconn *a = ts_connect(&s, NULL);
    load_graph(a);
    ts_exec_ok(a, "SET statement_mem_limit = '64MB'");
    char *shown = ts_query_value(a, "SHOW statement_mem_limit");
    ck_assert_str_eq(shown, "64MB");
    free(shown);
    const char *cross = "SELECT n.id, e.src FROM nodes n, edges e ORDER BY 1, 2";
    for (int i = 0; i < 6; i++) {
        PGresult *r = PQexec(a, cross);
        expect_error(r, "53200");
        ck_assert_str_eq(PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY), "out of memory");
        const char *detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);
        ck_assert_ptr_nonnull(detail);
        ck_assert_ptr_nonnull(strstr(detail, "statement_mem_limit (64MB)"));
        PQclear(r);
    }
    long long hwm_kb = ts_proc_status_kb(s.pid, "VmHWM:");
    fprintf(stderr, "cross join at 64MB: server VmHWM %lld kB, VmRSS %lld kB\n", hwm_kb,
            ts_proc_status_kb(s.pid, "VmRSS:"));
    ck_assert_int_lt(hwm_kb, 512 * 1024); /* unbounded, the statement takes over 1 GB */
    char *one = ts_query_value(a, "SELECT 1");
    ck_assert_str_eq(one, "1");
    free(one);
    PGconn *b = ts_connect(&s, NULL);
    char *count = ts_query_value(b, "SELECT count(*) FROM edges");
    ck_assert_str_eq(count, "3000");
    free(count);
    /* Within the limit the same session sorts and joins as before. */
    char *rows = ts_query_value(a, "SELECT n.id FROM nodes n, edges e WHERE e.src = 7 AND "
                                   "n.id = e.dst ORDER BY 1 DESC LIMIT 1");
    ck_assert_str_eq(rows, "8");
    free(rows);
    PQfinish(b);
    PQfinish(a);
    ck_assert_int_eq(ts_server_stop(&s, SIGTERM), 0);
}
END_TEST

/* DISTINCT and GROUP BY grow hash tables: the limit stops them too. */
START_TEST(test_hash_tables_over_limit) {
    ts_server_t s;
    ck_assert_int_eq(ts_server_start(&s, NULL, NULL), 0);
    PGconn *a = ts_connect(&s, NULL);
    load_graph(a);
    ts_exec_ok(a, "SET statement_mem_limit = '16MB'");
    PGresult *r = PQexec(a, "SELECT DISTINCT n.id, e.src FROM nodes n, edges e");
    expect_error(r, "53200");
    PQclear(r);
    r = PQexec(a, "SELECT n.id, e.src, count(*) FROM nodes n, edges e GROUP BY n.id, e.src");
    expect_error(r, "53200");
    PQclear(r);
    ts_exec_ok(a, "RESET statement_mem_limit");
    char *shown = ts_query_value(a, "SHOW statement_mem_limit");
    ck_assert_str_eq(shown, "1GB");
    free(shown);
    PQfinish(a);
    ck_assert_int_eq(ts_server_stop(&s, SIGTERM), 0);
}
END_TEST

/* Array and string results are measured into the statement's memory: ARRAY(…)::text nested 30
 * deep (each level quotes and escapes the one inside, so the text doubles per level), and
 * array_agg / string_agg over 9 million rows, fail with 53200 and leave the server small. */
START_TEST(test_array_and_string_results_over_limit) {
    ts_server_t s;
    ck_assert_int_eq(ts_server_start(&s, NULL, NULL), 0);
    PGconn *a = ts_connect(&s, NULL);
    load_graph(a);
    ts_exec_ok(a, "SET statement_mem_limit = '16MB'");
    char sql[1024] = "";
    for (int i = 0; i < 30; i++) {
        strcat(sql, "SELECT ARRAY(");
    }
    strcat(sql, "SELECT 1");
    for (int i = 0; i < 30; i++) {
        strcat(sql, ")::text");
    }
    const char *statements[] = {
        sql,
        "SELECT array_agg(n.id) FROM nodes n, edges e",
        "SELECT string_agg(n.label, ',') FROM nodes n, edges e",
    };
    for (size_t i = 0; i < sizeof(statements) / sizeof(statements[0]); i++) {
        PGresult *r = PQexec(a, statements[i]);
        expect_error(r, "53200");
        PQclear(r);
    }
    long long hwm_kb = ts_proc_status_kb(s.pid, "VmHWM:");
    fprintf(stderr, "array/string results at 16MB: server VmHWM %lld kB\n", hwm_kb);
    ck_assert_int_lt(hwm_kb, 512 * 1024); /* the nested text alone is over 1 GB unbounded */
    char *n = ts_query_value(a, "SELECT array_length(array_agg(id), 1) FROM nodes");
    ck_assert_str_eq(n, "3000");
    free(n);
    PQfinish(a);
    ck_assert_int_eq(ts_server_stop(&s, SIGTERM), 0);
}
END_TEST

/* Units as PostgreSQL takes them; junk is 22023; the config key sets the default. */
START_TEST(test_setting_values) {
    const char *env[] = {"CONTEXTDB_STATEMENT_MEM_LIMIT=32MB", NULL};
    ts_server_t s;
    ck_assert_int_eq(ts_server_start(&s, NULL, env), 0);
    PGconn *a = ts_connect(&s, NULL);
    char *shown = ts_query_value(a, "SHOW statement_mem_limit");
    ck_assert_str_eq(shown, "32MB");
    free(shown);
    ts_exec_ok(a, "SET statement_mem_limit = '512MB'");
    ts_exec_ok(a, "SET statement_mem_limit = 2048");
    shown = ts_query_value(a, "SHOW statement_mem_limit");
    ck_assert_str_eq(shown, "2MB");
    free(shown);
    const char *bad[] = {"SET statement_mem_limit = 'lots'", "SET statement_mem_limit = '12mb'",
                         "SET statement_mem_limit = '1kB'", "SET statement_mem_limit = -1",
                         "SET statement_mem_limit = 0"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        PGresult *r = PQexec(a, bad[i]);
        expect_error(r, "22023");
        PQclear(r);
    }
    PQfinish(a);
    ck_assert_int_eq(ts_server_stop(&s, SIGTERM), 0);
    /* A config default below 64kB would mean no limit at all: the server refuses it. */
    const char *args[] = {"--port", "0", "--data-dir", "/nonexistent/contextdb-memlimit", NULL};
    const char *small[] = {"CONTEXTDB_STATEMENT_MEM_LIMIT=1kB", NULL};
    char output[4096];
    ck_assert_int_eq(ts_run_once(args, small, output, sizeof(output)), 1);
    ck_assert_ptr_nonnull(strstr(output, "statement_mem_limit"));
}
END_TEST

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "1\tbig\t{"k":"xxx…"}\n" with a props value of about bytes bytes; *len its length. */
static char *long_line(size_t bytes, size_t *len) {
    char *line = malloc(bytes + 64);
    size_t n = (size_t)sprintf(line, "1\tbig\t{\"k\":\"");
    memset(line + n, 'x', bytes);
    n += bytes;
    n += (size_t)sprintf(line + n, "\"}\n");
    *len = n;
    return line;
}

/* One 20 MB line in 64 kB CopyData messages loads; a line over the limit is 54000. */
START_TEST(test_copy_long_line) {
    ts_server_t s;
    ck_assert_int_eq(ts_server_start(&s, NULL, NULL), 0);
    PGconn *a = ts_connect(&s, NULL);
    size_t len;
    char *line = long_line((size_t)20 << 20, &len);
    double started = now_s();
    copy_ok(a, "COPY nodes (id, label, props) FROM STDIN", line, len);
    fprintf(stderr, "COPY of one %zu-byte line: %.2f s\n", len, now_s() - started);
    char *got = ts_query_value(a, "SELECT length(props->>'k') FROM nodes WHERE id = 1");
    ck_assert_str_eq(got, "20971520");
    free(got);
    free(line);
    ts_exec_ok(a, "SET statement_mem_limit = '1MB'");
    line = long_line((size_t)2 << 20, &len);
    line[0] = '2';
    PGresult *r = copy_in(a, "COPY nodes (id, label, props) FROM STDIN", line, len);
    expect_error(r, "54000");
    ck_assert_str_eq(PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY), "COPY line too long");
    PQclear(r);
    free(line);
    got = ts_query_value(a, "SELECT count(*) FROM nodes");
    ck_assert_str_eq(got, "1");
    free(got);
    PQfinish(a);
    ck_assert_int_eq(ts_server_stop(&s, SIGTERM), 0);
}
END_TEST

/* Starts COPY nodes and sends rows first..first+count-1. */
static void copy_rows(PGconn *c, int first, int count) {
    char row[64];
    for (int i = first; i < first + count; i++) {
        int n = snprintf(row, sizeof(row), "%d\tN\n", i);
        ck_assert_int_eq(PQputCopyData(c, row, n), 1);
    }
    ck_assert_int_eq(PQflush(c), 0);
}

static PGresult *copy_finish(PGconn *c) {
    ck_assert_int_eq(PQputCopyEnd(c, NULL), 1);
    PGresult *r = PQgetResult(c);
    PGresult *extra;
    while ((extra = PQgetResult(c)) != NULL) {
        PQclear(extra);
    }
    return r;
}

/* A COPY that outlives statement_timeout fails with 57014 and loads nothing; one sleep makes
 * sure the deadline has passed before the last rows arrive (nothing is timed). */
START_TEST(test_copy_statement_timeout) {
    ts_server_t s;
    ck_assert_int_eq(ts_server_start(&s, NULL, NULL), 0);
    PGconn *a = ts_connect(&s, NULL);
    ts_exec_ok(a, "SET statement_timeout = 100");
    PGresult *r = PQexec(a, "COPY nodes (id, label) FROM STDIN");
    ck_assert_int_eq(PQresultStatus(r), PGRES_COPY_IN);
    PQclear(r);
    copy_rows(a, 0, 1000);
    usleep(400 * 1000);
    copy_rows(a, 1000, 1000);
    r = copy_finish(a);
    expect_error(r, "57014");
    ck_assert_str_eq(PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY),
                     "canceling statement due to statement timeout");
    PQclear(r);
    ts_exec_ok(a, "SET statement_timeout = 0");
    char *count = ts_query_value(a, "SELECT count(*) FROM nodes");
    ck_assert_str_eq(count, "0");
    free(count);
    PQfinish(a);
    ck_assert_int_eq(ts_server_stop(&s, SIGTERM), 0);
}
END_TEST

/* A CancelRequest during COPY stops it at the next data with 57014. */
START_TEST(test_copy_cancel_request) {
    ts_server_t s;
    ck_assert_int_eq(ts_server_start(&s, NULL, NULL), 0);
    PGconn *a = ts_connect(&s, NULL);
    PGresult *r = PQexec(a, "COPY nodes (id, label) FROM STDIN");
    ck_assert_int_eq(PQresultStatus(r), PGRES_COPY_IN);
    PQclear(r);
    copy_rows(a, 0, 1000);
    PGcancel *cancel = PQgetCancel(a);
    char errbuf[256];
    ck_assert_int_eq(PQcancel(cancel, errbuf, sizeof(errbuf)), 1);
    PQfreeCancel(cancel);
    copy_rows(a, 1000, 1000);
    r = copy_finish(a);
    expect_error(r, "57014");
    PQclear(r);
    char *count = ts_query_value(a, "SELECT count(*) FROM nodes");
    ck_assert_str_eq(count, "0");
    free(count);
    PQfinish(a);
    ck_assert_int_eq(ts_server_stop(&s, SIGTERM), 0);
}
END_TEST

int main(void) {
    Suite *suite = suite_create("memlimit");
    TCase *tc = tcase_create("memlimit");
    tcase_add_test(tc, test_cross_join_over_limit_fails_alone);
    tcase_add_test(tc, test_hash_tables_over_limit);
    tcase_add_test(tc, test_array_and_string_results_over_limit);
    tcase_add_test(tc, test_setting_values);
    tcase_add_test(tc, test_copy_long_line);
    tcase_add_test(tc, test_copy_statement_timeout);
    tcase_add_test(tc, test_copy_cancel_request);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
