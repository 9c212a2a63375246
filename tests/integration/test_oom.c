/*
 * test_oom.c — a statement that runs out of memory or stack fails alone, with the real server.
 *
 * Real memory exhaustion: the server runs with an address-space limit (RLIMIT_AS, set on its
 * pid with prlimit(2) once it listens) below its statement_mem_limit, so the statement's own
 * limit never triggers and malloc itself refuses; a query whose result is gigabytes must fail
 * with 53200 while another session keeps working and the server keeps serving (skipped under
 * ASan, whose shadow memory needs terabytes of address space). max_stack_depth: SET to its
 * minimum, a moderately deep expression fails with 54001 naming the value; RESET and it runs;
 * a value the thread's stack cannot honour is refused with 22023 as PostgreSQL refuses it.
 */
#include "testserver.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#if defined(__SANITIZE_ADDRESS__)
#define OOM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define OOM_ASAN 1
#endif
#endif

enum { DEEP_TERMS = 1000 }; /* passes at 2MB, fails at 100kB, in both builds */

static ts_server_t server;

static void server_down(void) {
    int status = ts_server_stop(&server, SIGTERM);
    if (status != 0) {
        fprintf(stderr, "server exit status %d\n", status);
        ts_server_dump_log(&server);
        abort(); /* a crash or unclean exit must fail the suite */
    }
}

/* Runs sql, which must fail with sqlstate; returns the PGresult for more checks. */
static PGresult *expect_state(PGconn *conn, const char *sql, const char *sqlstate) {
    return ts_exec_error(conn, sql, sqlstate);
}

static void expect_alive(PGconn *conn) {
    char *v = ts_query_value(conn, "SELECT 40 + 2");
    ck_assert_str_eq(v, "42");
    free(v);
}

#ifndef OOM_ASAN
/* Address space the server may add to what it has mapped when it starts listening. */
static const unsigned long long AS_HEADROOM_BYTES = 1536ULL << 20;

/* The server's mapped address space (VmSize) in bytes, from /proc. */
static unsigned long long server_vm_bytes(pid_t pid) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (sscanf(line, "VmSize: %llu kB", &kb) == 1) {
            break;
        }
    }
    fclose(f);
    ck_assert_uint_gt(kb, 0);
    return kb * 1024;
}
#endif

START_TEST(test_huge_result_under_address_space_limit_fails_alone) {
#ifdef OOM_ASAN
    fprintf(stderr, "skipped under ASan: its shadow memory needs unlimited address space\n");
    return;
#else
    const char *env[] = {"CONTEXTDB_VECTOR_DIMENSIONS=3", "CONTEXTDB_STATEMENT_MEM_LIMIT=64GB",
                         NULL};
    ck_assert_int_eq(ts_server_start(&server, NULL, env), 0);
    PGconn *other = ts_connect(&server, NULL);
    PGconn *conn = ts_connect(&server, NULL);
    expect_alive(other);
    unsigned long long vm = server_vm_bytes(server.pid);
    struct rlimit limit = {.rlim_cur = vm + AS_HEADROOM_BYTES, .rlim_max = vm + AS_HEADROOM_BYTES};
    ck_assert_int_eq(prlimit(server.pid, RLIMIT_AS, &limit, NULL), 0);
    /* 5 GB of result (5,000 rows of 1 MB): more than the address space allows, far less than
     * the statement limit */
    const char *sql = "SELECT replace(replace(replace(replace(replace('xxxxxxxxxx', 'x', "
                      "'xxxxxxxxxx'), 'x', 'xxxxxxxxxx'), 'x', 'xxxxxxxxxx'), 'x', 'xxxxxxxxxx'), "
                      "'x', 'xxxxxxxxxx') || g FROM generate_series(1, 5000) g";
    /* 450 MB of rows fit, but (typically) the reply encoded from them does not */
    const char *reply = "SELECT replace(replace(replace(replace(replace('xxxxxxxxxx', 'x', "
                        "'xxxxxxxxxx'), 'x', 'xxxxxxxxxx'), 'x', 'xxxxxxxxxx'), 'x', "
                        "'xxxxxxxxxx'), 'x', 'xxxxxxxxxx') || g FROM generate_series(1, 450) g";
    for (int round = 0; round < 4; round++) {
        PGresult *res = expect_state(conn, round % 2 == 0 ? sql : reply, "53200");
        ck_assert_str_eq(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY), "out of memory");
        PQclear(res);
        expect_alive(conn);
        expect_alive(other);
    }
    /* a result that fits is still answered in full */
    char *v = ts_query_value(conn, "SELECT sum(length(replace(replace(replace('xxxxxxxxxx', 'x', "
                                   "'xxxxxxxxxx'), 'x', 'xxxxxxxxxx'), 'x', 'xxxxxxxxxx') || g)) "
                                   "FROM generate_series(1, 100) g");
    ck_assert_str_eq(v, "1000192");
    free(v);
    PQfinish(conn);
    PQfinish(other);
    server_down();
#endif
}
END_TEST

#ifndef OOM_ASAN
/* n bytes of c, NUL-terminated (malloc'ed). */
static char *filled(size_t n, char c) {
    char *s = malloc(n + 1);
    ck_assert_ptr_nonnull(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

/* PGresult of a failed command: 53200 "out of memory". */
static void expect_out_of_memory(PGresult *res) {
    ck_assert_int_eq(PQresultStatus(res), PGRES_FATAL_ERROR);
    ck_assert_str_eq(PQresultErrorField(res, PG_DIAG_SQLSTATE), "53200");
    ck_assert_str_eq(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY), "out of memory");
}
#endif

/* What a message sizes -- a prepared statement's name, a setting's value -- may be more than the
 * server can hold: that message fails with 53200, the session goes on, others are unaffected. */
START_TEST(test_names_and_settings_past_address_space_fail_alone) {
#ifdef OOM_ASAN
    fprintf(stderr, "skipped under ASan: its shadow memory needs unlimited address space\n");
    return;
#else
    const char *env[] = {"CONTEXTDB_VECTOR_DIMENSIONS=3", "CONTEXTDB_STATEMENT_MEM_LIMIT=64GB",
                         NULL};
    ck_assert_int_eq(ts_server_start(&server, NULL, env), 0);
    PGconn *other = ts_connect(&server, NULL);
    PGconn *conn = ts_connect(&server, NULL);
    expect_alive(other);
    unsigned long long vm = server_vm_bytes(server.pid);
    const unsigned long long headroom = 800ULL << 20;
    struct rlimit limit = {.rlim_cur = vm + headroom, .rlim_max = vm + headroom};
    ck_assert_int_eq(prlimit(server.pid, RLIMIT_AS, &limit, NULL), 0);
    /* a 400 MB statement name: the message is read (a 512 MB buffer), its copy does not fit */
    char *name = filled(400u << 20, 'n');
    PGresult *res = PQprepare(conn, name, "SELECT 1", 0, NULL);
    expect_out_of_memory(res);
    PQclear(res);
    free(name);
    expect_alive(conn);
    expect_alive(other);
    res = PQprepare(conn, "small", "SELECT $1::int8 + 1", 1, NULL);
    ck_assert_int_eq(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    /* SET values of growing size: each is stored or fails with 53200, never more */
    ts_exec_ok(conn, "SET my.big = ''");
    int refused = 0;
    for (size_t mb = 100; mb <= 300; mb += 100) {
        char *value = filled(mb << 20, 'v');
        char *sql = malloc(strlen(value) + 64);
        ck_assert_ptr_nonnull(sql);
        sprintf(sql, "SET my.big = '%s'", value);
        res = PQexec(conn, sql);
        if (PQresultStatus(res) == PGRES_COMMAND_OK) {
            PGresult *show = PQexec(conn, "SELECT length(current_setting('my.big'))");
            if (PQresultStatus(show) == PGRES_TUPLES_OK) {
                ck_assert_uint_eq(strtoull(PQgetvalue(show, 0, 0), NULL, 10), mb << 20);
            } else {
                expect_out_of_memory(show);
            }
            PQclear(show);
        } else {
            expect_out_of_memory(res);
            refused++;
        }
        PQclear(res);
        free(sql);
        free(value);
        ts_exec_ok(conn, "RESET my.big");
        expect_alive(conn);
        expect_alive(other);
    }
    ck_assert_int_gt(refused, 0);
    char *v = ts_query_value(conn, "SELECT 41 + 1");
    ck_assert_str_eq(v, "42");
    free(v);
    PQfinish(conn);
    PQfinish(other);
    server_down();
#endif
}
END_TEST

/* SELECT 1+1+...+1 with n terms (malloc'ed). */
static char *deep_sum(int n) {
    char *s = malloc(16 + 2 * (size_t)n);
    ck_assert_ptr_nonnull(s);
    strcpy(s, "SELECT 1");
    size_t len = strlen(s);
    for (int i = 1; i < n; i++) {
        s[len++] = '+';
        s[len++] = '1';
    }
    s[len] = '\0';
    return s;
}

START_TEST(test_max_stack_depth_is_the_sessions) {
    const char *env[] = {"CONTEXTDB_VECTOR_DIMENSIONS=3", NULL};
    ck_assert_int_eq(ts_server_start(&server, NULL, env), 0);
    PGconn *conn = ts_connect(&server, NULL);
    PGconn *other = ts_connect(&server, NULL);
    char *v = ts_query_value(conn, "SHOW max_stack_depth");
    ck_assert_str_eq(v, "2MB");
    free(v);
    char *sql = deep_sum(DEEP_TERMS);
    char expected[32];
    snprintf(expected, sizeof(expected), "%d", DEEP_TERMS);
    v = ts_query_value(conn, sql);
    ck_assert_str_eq(v, expected);
    free(v);

    ts_exec_ok(conn, "SET max_stack_depth = '100kB'");
    v = ts_query_value(conn, "SHOW max_stack_depth");
    ck_assert_str_eq(v, "100kB");
    free(v);
    PGresult *res = expect_state(conn, sql, "54001");
    ck_assert_ptr_nonnull(strstr(PQresultErrorField(res, PG_DIAG_MESSAGE_HINT),
                                 "\"max_stack_depth\" (currently 100kB)"));
    PQclear(res);
    expect_alive(conn);
    /* another session keeps the default */
    v = ts_query_value(other, sql);
    ck_assert_str_eq(v, expected);
    free(v);

    ts_exec_ok(conn, "RESET max_stack_depth");
    v = ts_query_value(conn, sql);
    ck_assert_str_eq(v, expected);
    free(v);

    /* out of range, and more than the thread's stack holds */
    PQclear(expect_state(conn, "SET max_stack_depth = 99", "22023"));
    res = expect_state(conn, "SET max_stack_depth = '1TB'", "22023");
    ck_assert_ptr_nonnull(
        strstr(PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL), "must not exceed"));
    ck_assert_ptr_nonnull(strstr(PQresultErrorField(res, PG_DIAG_MESSAGE_HINT), "ulimit -s"));
    PQclear(res);
    v = ts_query_value(conn, "SHOW max_stack_depth");
    ck_assert_str_eq(v, "2MB");
    free(v);
    free(sql);
    PQfinish(other);
    PQfinish(conn);
    server_down();
}
END_TEST

int main(void) {
    Suite *suite = suite_create("oom");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_max_stack_depth_is_the_sessions);
    tcase_add_test(tc, test_huge_result_under_address_space_limit_fails_alone);
    tcase_add_test(tc, test_names_and_settings_past_address_space_fail_alone);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_set_fork_status(runner, CK_NOFORK);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
