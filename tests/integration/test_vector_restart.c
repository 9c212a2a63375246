/*
 * test_vector_restart.c — the vector index across restarts, with the real server.
 *
 * A snapshot carries the HNSW index; a restart loads it instead of rebuilding and then feeds it
 * the WAL tail, so the restarted index is byte-for-byte the index of a server that never
 * restarted: two servers get the same seeded statements (inserts, replacements, deletes), one is
 * SIGKILLed after snapshot 1 and restarted, then both write snapshot 2 and their hnsw files must
 * be identical. After the restart the log must say the index was loaded (not rebuilt), EXPLAIN
 * must name the HNSW operator and results must equal `SET enable_hnsw = off`. A flipped byte in
 * the index file makes the restart rebuild (logged warning) with the same results. AS OF
 * SNAPSHOT reads use an exact scan of the snapshot, never the live index.
 * Randomized: prints its seed, CTX_TEST_SEED replays.
 */
#include "testserver.h"
#include "testutil.h"

#include <check.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { DIMS = 8, ROWS_FIRST = 400, ROWS_MORE = 200, QUERIES = 15 };

static uint64_t seed;
static const char *ENV[] = {"CONTEXTDB_SNAPSHOT_INTERVAL_RECORDS=0",
                            "CONTEXTDB_VECTOR_DIMENSIONS=8", NULL};

static char *make_dir(void) {
    return testutil_make_disk_dir("vrestart");
}

static void remove_tree(const char *dir) {
    testutil_remove_tree(dir);
}

static void start_in(ts_server_t *s, const char *dir) {
    const char *args[] = {"--data-dir", dir, NULL};
    ck_assert_int_eq(ts_server_start(s, args, ENV), 0);
}

static void crash(ts_server_t *s) {
    kill(s->pid, SIGKILL);
    int status;
    waitpid(s->pid, &status, 0);
}

static double gauss(uint64_t *rng) {
    double u = ((double)(ts_rand(rng) >> 11) + 0.5) / 9007199254740992.0;
    double v = ((double)(ts_rand(rng) >> 11) + 0.5) / 9007199254740992.0;
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

static void vec_literal(uint64_t *rng, char *out, size_t cap) {
    size_t n = (size_t)snprintf(out, cap, "'[");
    for (int d = 0; d < DIMS; d++) {
        n += (size_t)snprintf(out + n, cap - n, "%s%.4f", d ? "," : "", gauss(rng));
    }
    snprintf(out + n, cap - n, "]'");
}

/* Inserts ids from..to with seeded vectors (the same rng state gives the same statements). */
static void insert_vectors(PGconn *c, uint64_t *rng, int from, int to) {
    char *sql = malloc(200 * (size_t)(to - from + 1) + 100);
    size_t n = (size_t)sprintf(sql, "INSERT INTO vectors (id, embedding) VALUES ");
    for (int i = from; i <= to; i++) {
        char lit[256];
        vec_literal(rng, lit, sizeof(lit));
        n += (size_t)sprintf(sql + n, "%s(%d, %s)", i > from ? "," : "", i, lit);
    }
    ts_exec_ok(c, sql);
    free(sql);
}

/* Replaces a few vectors and deletes a few (after snapshot 1: they reach the WAL tail). */
static void change_vectors(PGconn *c, uint64_t *rng) {
    for (int i = 0; i < 20; i++) {
        char lit[256], sql[512];
        vec_literal(rng, lit, sizeof(lit));
        snprintf(sql, sizeof(sql),
                 "INSERT INTO vectors VALUES (%d, %s) ON CONFLICT (id) DO "
                 "UPDATE SET embedding = excluded.embedding",
                 1 + i * 17, lit);
        ts_exec_ok(c, sql);
    }
    ts_exec_ok(c, "DELETE FROM vectors WHERE id % 7 = 3");
}

/* Every row of a query, "a|b\n" per row (malloc'd). */
static char *rows_text(PGconn *c, const char *sql) {
    PGresult *r = PQexec(c, sql);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(c));
    size_t cap = 64 + (size_t)PQntuples(r) * 256, n = 0;
    char *out = malloc(cap);
    out[0] = '\0';
    for (int row = 0; row < PQntuples(r); row++) {
        for (int col = 0; col < PQnfields(r); col++) {
            n +=
                (size_t)snprintf(out + n, cap - n, "%s%s", col ? "|" : "", PQgetvalue(r, row, col));
        }
        n += (size_t)snprintf(out + n, cap - n, "\n");
    }
    PQclear(r);
    return out;
}

static void expect_plan(PGconn *c, const char *sql, const char *needle, bool present) {
    char explain[2048];
    snprintf(explain, sizeof(explain), "EXPLAIN %s", sql);
    char *plan = rows_text(c, explain);
    ck_assert_msg((strstr(plan, needle) != NULL) == present, "%s\n%s", sql, plan);
    free(plan);
}

/* Top-k queries over the index equal the exact scan. */
static void check_queries(PGconn *c, uint64_t qseed) {
    uint64_t rng = qseed;
    ts_exec_ok(c, "SET hnsw.ef_search = 200");
    for (int i = 0; i < QUERIES; i++) {
        char lit[256], sql[512];
        vec_literal(&rng, lit, sizeof(lit));
        snprintf(sql, sizeof(sql),
                 "SELECT id, embedding <=> %s AS d FROM vectors ORDER BY d "
                 "LIMIT %d",
                 lit, 1 + i % 10);
        expect_plan(c, sql, "Vector Top-K (hnsw, cosine)", true);
        char *with = rows_text(c, sql);
        ts_exec_ok(c, "SET enable_hnsw = off");
        char *without = rows_text(c, sql);
        ts_exec_ok(c, "SET enable_hnsw = on");
        ck_assert_str_eq(with, without);
        ck_assert(with[0] != '\0');
        free(with);
        free(without);
    }
}

static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "%s", path);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *data = malloc((size_t)size + 1);
    *len = fread(data, 1, (size_t)size, f);
    data[*len] = '\0';
    fclose(f);
    return data;
}

static bool log_has(const ts_server_t *s, const char *needle) {
    size_t len;
    char *text = read_all(s->log_path, &len);
    bool found = strstr(text, needle) != NULL;
    free(text);
    return found;
}

static void snapshot(PGconn *c, const char *expect_id) {
    char *id = ts_query_value(c, "CREATE SNAPSHOT");
    ck_assert_str_eq(id, expect_id);
    free(id);
}

/* Runs the seeded story up to the crash point: snapshot 1 in the middle. */
static void story(ts_server_t *s, uint64_t *rng) {
    PGconn *c = ts_connect(s, NULL);
    insert_vectors(c, rng, 1, ROWS_FIRST);
    ts_exec_ok(c, "DELETE FROM vectors WHERE id % 11 = 5"); /* free slots in the snapshot */
    snapshot(c, "1");
    insert_vectors(c, rng, ROWS_FIRST + 1, ROWS_FIRST + ROWS_MORE);
    change_vectors(c, rng);
    PQfinish(c);
}

START_TEST(test_restart_loads_index_identical_to_never_restarted) {
    char *dir = make_dir(), *ref_dir = make_dir();
    ts_server_t s, ref;
    start_in(&s, dir);
    start_in(&ref, ref_dir);
    uint64_t rng = seed, ref_rng = seed;
    story(&s, &rng);
    story(&ref, &ref_rng);
    crash(&s);
    start_in(&s, dir);
    ck_assert_msg(log_has(&s, "vector index: loaded from snapshot 1"), "no load line");
    ck_assert_msg(!log_has(&s, "vector index: rebuilt"), "the index was rebuilt");
    PGconn *c = ts_connect(&s, NULL);
    PGconn *rc = ts_connect(&ref, NULL);
    check_queries(c, seed ^ 77);
    char *n = ts_query_value(c, "SELECT count(*) FROM vectors");
    char *rn = ts_query_value(rc, "SELECT count(*) FROM vectors");
    ck_assert_str_eq(n, rn);
    free(n);
    free(rn);
    snapshot(c, "2");
    snapshot(rc, "2");
    PQfinish(c);
    PQfinish(rc);
    char path[700], ref_path[700];
    snprintf(path, sizeof(path), "%s/snapshots/hnsw/hnsw-000002-0.idx", dir);
    snprintf(ref_path, sizeof(ref_path), "%s/snapshots/hnsw/hnsw-000002-0.idx", ref_dir);
    size_t len, ref_len;
    char *bytes = read_all(path, &len);
    char *ref_bytes = read_all(ref_path, &ref_len);
    ck_assert_uint_eq(len, ref_len);
    ck_assert_msg(memcmp(bytes, ref_bytes, len) == 0, "restarted index differs");
    free(bytes);
    free(ref_bytes);
    ts_server_stop(&s, SIGTERM);
    ts_server_stop(&ref, SIGTERM);
    remove_tree(dir);
    remove_tree(ref_dir);
    free(dir);
    free(ref_dir);
}
END_TEST

START_TEST(test_bad_index_crc_rebuilds) {
    char *dir = make_dir();
    ts_server_t s;
    start_in(&s, dir);
    uint64_t rng = seed ^ 5;
    story(&s, &rng);
    crash(&s);
    char path[700];
    snprintf(path, sizeof(path), "%s/snapshots/hnsw/hnsw-000001-0.idx", dir);
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    fseek(f, 200, SEEK_SET);
    int ch = fgetc(f);
    fseek(f, 200, SEEK_SET);
    fputc(ch ^ 0x10, f);
    fclose(f);
    start_in(&s, dir);
    ck_assert_msg(log_has(&s, "checksum mismatch; rebuilding it"), "no warning");
    ck_assert_msg(log_has(&s, "vector index: rebuilt from the"), "no rebuild line");
    ck_assert_msg(!log_has(&s, "vector index: loaded"), "a damaged index was loaded");
    PGconn *c = ts_connect(&s, NULL);
    check_queries(c, seed ^ 78);
    PQfinish(c);
    ts_server_stop(&s, SIGTERM);
    remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(test_as_of_snapshot_uses_exact_scan) {
    char *dir = make_dir();
    ts_server_t s;
    start_in(&s, dir);
    uint64_t rng = seed ^ 9;
    story(&s, &rng);
    PGconn *c = ts_connect(&s, NULL);
    /* Move every vector of snapshot 1 far away live: the live index knows only the new ones. */
    ts_exec_ok(c, "DELETE FROM vectors WHERE id <= 400");
    ts_exec_ok(c, "SET hnsw.ef_search = 200");
    uint64_t q = seed ^ 79;
    for (int i = 0; i < 5; i++) {
        char lit[256], sql[512];
        vec_literal(&q, lit, sizeof(lit));
        snprintf(sql, sizeof(sql),
                 "SELECT id, embedding <=> %s AS d FROM vectors AS OF SNAPSHOT "
                 "1 ORDER BY d LIMIT 5",
                 lit);
        expect_plan(c, sql, "exact scan", true);
        expect_plan(c, sql, "hnsw", false);
        char *with = rows_text(c, sql);
        ts_exec_ok(c, "SET enable_hnsw = off");
        char *without = rows_text(c, sql);
        ts_exec_ok(c, "SET enable_hnsw = on");
        ck_assert_str_eq(with, without);
        ck_assert_int_lt(atoi(with), 401); /* a snapshot-1 id */
        free(with);
        free(without);
        snprintf(sql, sizeof(sql), "SELECT id, similarity FROM similar(1, 3) AS OF SNAPSHOT 1");
        expect_plan(c, sql, "hnsw", false);
    }
    PQfinish(c);
    ts_server_stop(&s, SIGTERM);
    remove_tree(dir);
    free(dir);
}
END_TEST

int main(void) {
    seed = ts_seed("test_vector_restart");
    Suite *suite = suite_create("vector_restart");
    TCase *tc = tcase_create("restart");
    tcase_add_test(tc, test_restart_loads_index_identical_to_never_restarted);
    tcase_add_test(tc, test_bad_index_crc_rebuilds);
    tcase_add_test(tc, test_as_of_snapshot_uses_exact_scan);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
