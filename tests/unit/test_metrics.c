/*
 * test_metrics.c — server/metrics.c: statements classified from reply bytes, connection state
 * moves, the Raft source, and the exposition text.
 */
#include "buf.h"
#include "metrics.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void msg(buf_t *out, char type, const char *body) {
    size_t len = strlen(body) + 1;
    buf_append_u8(out, (uint8_t)type);
    buf_append_u32be(out, (uint32_t)(len + 4));
    buf_append(out, body, len);
}

/* The value of the sample line that starts with prefix, or -1. */
static double sample(const char *text, const char *prefix) {
    const char *at = strstr(text, prefix);
    while (at != NULL && at != text && at[-1] != '\n') {
        at = strstr(at + 1, prefix);
    }
    double value = -1;
    if (at != NULL) {
        sscanf(at + strlen(prefix), " %lf", &value);
    }
    return value;
}

static char *render(void) {
    buf_t out;
    buf_init(&out);
    metrics_db_counts_t counts = {.valid = true, .nodes = 3, .edges = 2, .vectors = 1};
    metrics_render(&out, &counts);
    buf_append_u8(&out, 0);
    char *text = strdup((const char *)buf_peek(&out));
    buf_free(&out);
    return text;
}

static void raft_source(void *ctx, metrics_raft_t *out) {
    (void)ctx;
    out->role = "leader";
    out->term = 7;
    out->commit_index = 40;
    out->applied_index = 39;
    out->ready = true;
}

START_TEST(test_statements_from_replies) {
    metrics_init("/nonexistent");
    buf_t reply;
    buf_init(&reply);
    msg(&reply, 'T', "");
    msg(&reply, 'C', "SELECT 2");
    msg(&reply, 'C', "INSERT 0 5");
    msg(&reply, 'E', "SERROR");
    msg(&reply, 'Z', "I");
    metrics_statements(buf_peek(&reply), buf_size(&reply), "update nodes set x = 1", 3000000);
    /* A truncated message is not counted (nor anything after it). */
    metrics_statements(buf_peek(&reply), 7, NULL, 1000);
    buf_free(&reply);
    char *text = render();
    ck_assert_double_eq(sample(text, "contextdb_statements_total{kind=\"select\",outcome=\"ok\"}"),
                        1);
    ck_assert_double_eq(sample(text, "contextdb_statements_total{kind=\"insert\",outcome=\"ok\"}"),
                        1);
    ck_assert_double_eq(
        sample(text, "contextdb_statements_total{kind=\"update\",outcome=\"error\"}"), 1);
    /* 3 ms: outside the 2.5 ms bucket, inside 5 ms; one observation in all. */
    ck_assert_double_eq(sample(text, "contextdb_statement_duration_seconds_bucket{le=\"0.0025\"}"),
                        0);
    ck_assert_double_eq(sample(text, "contextdb_statement_duration_seconds_bucket{le=\"0.005\"}"),
                        1);
    ck_assert_double_eq(sample(text, "contextdb_statement_duration_seconds_count"), 1);
    ck_assert_double_eq(sample(text, "contextdb_rows{table=\"nodes\"}"), 3);
    free(text);
}
END_TEST

START_TEST(test_connections_and_raft) {
    metrics_init("/nonexistent");
    metrics_conn_move(METRICS_CONN_STATES, METRICS_CONN_STARTUP);
    metrics_conn_move(METRICS_CONN_STARTUP, METRICS_CONN_IDLE);
    metrics_conn_move(METRICS_CONN_STATES, METRICS_CONN_STARTUP);
    metrics_conn_move(METRICS_CONN_IDLE, METRICS_CONN_ACTIVE);
    metrics_http_request("GET", "/api/v1/nodes/{id}", 404, 1000);
    metrics_http_request("GET", "/api/v1/nodes/{id}", 200, 1000);
    metrics_http_request("GET", "/api/v1/nodes/{id}", 201, 1000);
    metrics_raft_t raft;
    metrics_set_ready(false);
    metrics_raft(&raft);
    ck_assert_str_eq(raft.role, "standalone");
    ck_assert(!raft.ready);
    metrics_set_ready(true);
    metrics_set_raft_source(raft_source, NULL);
    char *text = render();
    ck_assert_double_eq(sample(text, "contextdb_connections{state=\"startup\"}"), 1);
    ck_assert_double_eq(sample(text, "contextdb_connections{state=\"idle\"}"), 0);
    ck_assert_double_eq(sample(text, "contextdb_connections{state=\"active\"}"), 1);
    ck_assert_double_eq(sample(text, "contextdb_connections_accepted_total"), 2);
    ck_assert_double_eq(sample(text, "contextdb_http_requests_total{method=\"GET\",route=\"/api/"
                                     "v1/nodes/{id}\",status=\"2xx\"}"),
                        2);
    ck_assert_double_eq(sample(text, "raft_term"), 7);
    ck_assert_double_eq(sample(text, "raft_role{role=\"leader\"}"), 1);
    ck_assert_double_eq(sample(text, "contextdb_ready"), 1);
    ck_assert(strstr(text, "# TYPE process_resident_memory_bytes gauge\n") != NULL);
    metrics_set_raft_source(NULL, NULL);
    free(text);
}
END_TEST

static bool vector_source(void *ctx, metrics_vector_t *out) {
    (void)ctx;
    out->searches = 5;
    out->vectors = 42;
    return true;
}

START_TEST(test_wal_fsync_and_vector_index) {
    metrics_init("/nonexistent");
    char *text = render();
    ck_assert(strstr(text, "contextdb_hnsw") == NULL); /* no index, no series */
    ck_assert_double_eq(sample(text, "contextdb_wal_fsync_duration_seconds_count"), 0);
    free(text);
    metrics_wal_fsync(300 * 1000);       /* 300 µs: the 500 µs bucket */
    metrics_wal_fsync(20 * 1000 * 1000); /* 20 ms */
    metrics_set_vector_source(vector_source, NULL);
    text = render();
    ck_assert(strstr(text, "# TYPE contextdb_wal_fsync_duration_seconds histogram\n") != NULL);
    ck_assert_double_eq(sample(text, "contextdb_wal_fsync_duration_seconds_bucket{le=\"0.00025\"}"),
                        0);
    ck_assert_double_eq(sample(text, "contextdb_wal_fsync_duration_seconds_bucket{le=\"0.0005\"}"),
                        1);
    ck_assert_double_eq(sample(text, "contextdb_wal_fsync_duration_seconds_bucket{le=\"0.025\"}"),
                        2);
    ck_assert_double_eq(sample(text, "contextdb_wal_fsync_duration_seconds_count"), 2);
    ck_assert_double_eq_tol(sample(text, "contextdb_wal_fsync_duration_seconds_sum"), 0.0203, 1e-9);
    ck_assert(strstr(text, "# TYPE contextdb_hnsw_searches_total counter\n") != NULL);
    ck_assert_double_eq(sample(text, "contextdb_hnsw_searches_total"), 5);
    ck_assert_double_eq(sample(text, "contextdb_hnsw_vectors"), 42);
    metrics_set_vector_source(NULL, NULL);
    free(text);
}
END_TEST

int main(void) {
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");
    tcase_add_test(tc, test_statements_from_replies);
    tcase_add_test(tc, test_connections_and_raft);
    tcase_add_test(tc, test_wal_fsync_and_vector_index);
    suite_add_tcase(s, tc);
    SRunner *runner = srunner_create(s);
    srunner_set_fork_status(runner, CK_FORK); /* process-wide counters: one process per test */
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? 0 : 1;
}
