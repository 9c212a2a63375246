/*
 * test_store_oom.c — the store's tables run out of memory inside a write, with the real server.
 *
 * As test_oom.c: once the server listens, an address-space limit (RLIMIT_AS, soft limit only, so
 * the test can lift it again) is put on its pid a little above what it has mapped, far below
 * statement_mem_limit, so malloc itself refuses. Then one session inserts into one table in
 * modest multi-row INSERTs (the statement's own memory stays small next to the table it grows)
 * until one fails. Each run checks: that INSERT fails with 53200 "out of memory" and nothing
 * else; both sessions keep answering (small statements: memory is still exhausted); once the
 * limit is lifted, the table holds exactly the rows of the INSERTs that succeeded (the failed one
 * left nothing), the same INSERT succeeds, and the server exits cleanly. (The failures' DETAIL,
 * printed, names the structure that could not grow: the node table, the edge adjacency lists,
 * the vector table.) Tables: nodes (node array, id map), edges (adjacency blocks; one
 * node's in-list grows through every size class) and vectors (vector arrays, and the vector
 * index, which the commit hook keeps exact or marks stale). Skipped under ASan, whose shadow
 * memory needs terabytes of address space.
 */
#include "testserver.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#if defined(__SANITIZE_ADDRESS__)
#define STORE_OOM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define STORE_OOM_ASAN 1
#endif
#endif

#ifndef STORE_OOM_ASAN
enum {
    BATCHES_MAX = 2000, /* the limit must be reached well before: a failure otherwise */
    EDGE_NODES = 40000, /* edges run over these nodes, inserted before the limit */
    VECTOR_DIMS = 32,   /* vectors shape */
    SQL_ROW_BYTES_MAX = 600,
};

/* Address space the server may add to what it has mapped when the limit is set. */
static const unsigned long long HEADROOM_BYTES = 24ULL << 20;

typedef enum { FILL_NODES, FILL_EDGES, FILL_VECTORS } fill_kind_t;

static ts_server_t server;

static void server_down(void) {
    int status = ts_server_stop(&server, SIGTERM);
    if (status != 0) {
        fprintf(stderr, "server exit status %d\n", status);
        ts_server_dump_log(&server);
        abort(); /* a crash or unclean exit must fail the suite */
    }
}

static void expect_alive(PGconn *conn) {
    char *v = ts_query_value(conn, "SELECT 40 + 2");
    ck_assert_str_eq(v, "42");
    free(v);
}

static long long query_ll(PGconn *conn, const char *sql) {
    char *v = ts_query_value(conn, sql);
    long long n = atoll(v);
    free(v);
    return n;
}

/* Row `i` (0-based, over all batches) of a kind's INSERT. */
static size_t row_text(fill_kind_t kind, long long i, char *out, size_t cap) {
    if (kind == FILL_NODES) {
        return (size_t)snprintf(out, cap, "(%lld,'n')", i + 1);
    }
    if (kind == FILL_EDGES) { /* (i mod N, i div N): unique pairs; node 1 collects N in-edges */
        return (size_t)snprintf(out, cap, "(%lld,%lld,'owns',1.0)", i % EDGE_NODES + 1,
                                i / EDGE_NODES + 1);
    }
    size_t n = (size_t)snprintf(out, cap, "(%lld,'[%lld", i + 1, i); /* unique first value */
    for (int d = 1; d < VECTOR_DIMS; d++) {
        n += (size_t)snprintf(out + n, cap - n, ",%lld.%d", (i * 31 + d) % 97, d % 10);
    }
    return n + (size_t)snprintf(out + n, cap - n, "]')");
}

/* One multi-row INSERT of rows first .. first + rows - 1 (malloc'ed). */
static char *batch_sql(fill_kind_t kind, long long first, int rows) {
    static const char *heads[] = {"INSERT INTO nodes (id, label) VALUES ",
                                  "INSERT INTO edges (src, dst, kind, weight) VALUES ",
                                  "INSERT INTO vectors (id, embedding) VALUES "};
    size_t cap = 64 + (size_t)rows * SQL_ROW_BYTES_MAX;
    char *sql = malloc(cap);
    ck_assert_ptr_nonnull(sql);
    size_t len = (size_t)snprintf(sql, cap, "%s", heads[kind]);
    for (int r = 0; r < rows; r++) {
        if (r > 0) {
            sql[len++] = ',';
        }
        len += row_text(kind, first + r, sql + len, cap - len);
        ck_assert_uint_lt(len, cap);
    }
    return sql;
}

/* Inserts batches of `rows` rows until one fails, which must be with 53200; returns the rows
 * the successful batches inserted. */
static long long fill_until_out_of_memory(PGconn *conn, fill_kind_t kind, int rows) {
    long long total = 0;
    for (int batch = 0; batch < BATCHES_MAX; batch++) {
        char *sql = batch_sql(kind, total, rows);
        PGresult *res = PQexec(conn, sql);
        free(sql);
        if (PQresultStatus(res) == PGRES_COMMAND_OK) {
            PQclear(res);
            total += rows;
            continue;
        }
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (state == NULL || strcmp(state, "53200") != 0) {
            ts_server_dump_log(&server);
        }
        ts_assert_error(res, "53200", "fill");
        ck_assert_str_eq(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY), "out of memory");
        const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
        fprintf(stderr, "batch %d (after %lld rows) failed: out of memory (%s)\n", batch, total,
                detail != NULL ? detail : "no detail");
        PQclear(res);
        return total;
    }
    ck_abort_msg("%d batches of %d rows never ran out of memory", BATCHES_MAX, rows);
    return -1;
}

/* Limits the server's address space to what it maps now plus HEADROOM_BYTES (soft limit). */
static void limit_server(void) {
    unsigned long long vm = (unsigned long long)ts_proc_status_kb(server.pid, "VmSize:") * 1024;
    struct rlimit limit = {.rlim_cur = vm + HEADROOM_BYTES, .rlim_max = RLIM_INFINITY};
    ck_assert_int_eq(prlimit(server.pid, RLIMIT_AS, &limit, NULL), 0);
}

static void unlimit_server(void) {
    struct rlimit limit = {.rlim_cur = RLIM_INFINITY, .rlim_max = RLIM_INFINITY};
    ck_assert_int_eq(prlimit(server.pid, RLIMIT_AS, &limit, NULL), 0);
}

/* The scenario of the file comment for one table. */
static void run_table(fill_kind_t kind, int rows, const char *count_sql, const char *check_sql,
                      const char *check_value) {
    const char *env[] = {"CONTEXTDB_VECTOR_DIMENSIONS=32", "CONTEXTDB_STATEMENT_MEM_LIMIT=64GB",
                         "CONTEXTDB_HNSW_M=2", "CONTEXTDB_HNSW_EF_CONSTRUCTION=2", NULL};
    ck_assert_int_eq(ts_server_start(&server, NULL, env), 0);
    PGconn *conn = ts_connect(&server, NULL);
    PGconn *other = ts_connect(&server, NULL);
    if (kind == FILL_EDGES) {
        char *sql = batch_sql(FILL_NODES, 0, EDGE_NODES);
        ts_exec_ok(conn, sql);
        free(sql);
    }
    expect_alive(other);
    limit_server();
    long long total = fill_until_out_of_memory(conn, kind, rows);
    ck_assert_int_gt(total, 0);
    /* the server serves both sessions (small statements: memory is still at its limit) */
    expect_alive(other);
    expect_alive(conn);
    /* with memory back: the table holds exactly the successful batches, and the batch that
     * failed goes in whole */
    unlimit_server();
    ck_assert_int_eq(query_ll(other, count_sql), total);
    char *sql = batch_sql(kind, total, rows);
    ts_exec_ok(conn, sql);
    free(sql);
    ck_assert_int_eq(query_ll(other, count_sql), total + rows);
    char *v = ts_query_value(other, check_sql);
    ck_assert_str_eq(v, check_value);
    free(v);
    PQfinish(other);
    PQfinish(conn);
    server_down();
}
#endif

START_TEST(test_node_table_out_of_memory) {
#ifdef STORE_OOM_ASAN
    fprintf(stderr, "skipped under ASan: its shadow memory needs unlimited address space\n");
#else
    /* small statements: once the reserve is spent, the next refusal is the table's next growth */
    run_table(FILL_NODES, 2000, "SELECT count(*) FROM nodes",
              "SELECT label FROM nodes WHERE id = 1", "n");
#endif
}
END_TEST

START_TEST(test_edge_lists_out_of_memory) {
#ifdef STORE_OOM_ASAN
    fprintf(stderr, "skipped under ASan: its shadow memory needs unlimited address space\n");
#else
    run_table(FILL_EDGES, 20000, "SELECT count(*) FROM edges",
              "SELECT count(*) FROM edges WHERE dst = 1", "40000");
#endif
}
END_TEST

START_TEST(test_vector_table_out_of_memory) {
#ifdef STORE_OOM_ASAN
    fprintf(stderr, "skipped under ASan: its shadow memory needs unlimited address space\n");
#else
    run_table(FILL_VECTORS, 5000, "SELECT count(*) FROM vectors",
              "SELECT id FROM vectors ORDER BY embedding <-> (SELECT embedding FROM vectors "
              "WHERE id = 77) LIMIT 1",
              "77");
#endif
}
END_TEST

int main(void) {
    Suite *suite = suite_create("store_oom");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_node_table_out_of_memory);
    tcase_add_test(tc, test_edge_lists_out_of_memory);
    tcase_add_test(tc, test_vector_table_out_of_memory);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_set_fork_status(runner, CK_NOFORK);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
