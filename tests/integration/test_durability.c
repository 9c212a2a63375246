/*
 * test_durability.c — the data directory's integrity guards against the real server:
 *   - a lost WAL segment (the newest, or one in the middle) stops start-up with the file name,
 *     and `contextdb-inspect verify` reports it (exit 1); restored, every acknowledged row is
 *     back;
 *   - a second server on the same data directory is refused, naming the first one's pid, also
 *     after contextdb.pid was deleted;
 *   - CREATE SNAPSHOT whose writer fails (descriptor limit via prlimit: 58030; a full file
 *     system, a 64 kB tmpfs mounted over snapshots/nodes when we may mount: 53100) answers with
 *     the error, not an id, and leaves no partial file; in a multi-statement Query it must come
 *     last;
 *   - the torn-tail log line says what is known (the record was never covered by an fsync);
 *   - VACUUM SNAPSHOTS KEEP with huge counts works, KEEP 0 is 22023.
 */
#include "testserver.h"
#include "testutil.h"

#include <check.h>
#include <sched.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

enum { OUT_BYTES = 1 << 16, PATH_BYTES = 1024 };

static char out[OUT_BYTES];

static int start_in(ts_server_t *s, const char *dir, const char *const *env) {
    const char *args[] = {"--data-dir", dir, NULL};
    return ts_server_start(s, args, env);
}

/* Stops a server started with start_in (SIGTERM or SIGKILL) and removes its log directory. */
static void stop(ts_server_t *s, int sig) {
    kill(s->pid, sig);
    int status;
    waitpid(s->pid, &status, 0);
    testutil_remove_tree(s->data_dir);
}

/* Rows from..to with 200 hex digits of incompressible props each. */
static void insert_rows(ts_server_t *s, int from, int to) {
    PGconn *c = ts_connect(s, NULL);
    uint64_t state = 0x9e3779b97f4a7c15ULL ^ (uint64_t)from;
    for (int i = from; i <= to; i++) {
        char pad[201];
        for (int k = 0; k < 200; k++) {
            pad[k] = "0123456789abcdef"[ts_rand(&state) & 15];
        }
        pad[200] = '\0';
        char sql[512];
        snprintf(sql, sizeof(sql), "INSERT INTO nodes VALUES (%d, 'row', '{\"pad\":\"%s\"}')", i,
                 pad);
        ts_exec_ok(c, sql);
    }
    PQfinish(c);
}

/* Path of the n-th segment from the end (0: newest) of dir/wal; false when there are fewer. */
static bool segment_from_end(const char *dir, int n, char *path) {
    char wal[PATH_BYTES / 2];
    ck_assert_int_lt(snprintf(wal, sizeof(wal), "%s/wal", dir), (int)sizeof(wal));
    struct dirent **names;
    int count = scandir(wal, &names, NULL, alphasort);
    ck_assert_int_ge(count, 0);
    int seen = 0;
    bool found = false;
    for (int i = count - 1; i >= 0; i--) {
        if (strstr(names[i]->d_name, ".seg") != NULL && seen++ == n) {
            snprintf(path, PATH_BYTES, "%s/%s", wal, names[i]->d_name);
            found = true;
        }
    }
    for (int i = 0; i < count; i++) {
        free(names[i]);
    }
    free(names);
    return found;
}

static int inspect_verify(const char *dir) {
    const char *bin = getenv("CTX_INSPECT_BIN");
    ck_assert_msg(bin != NULL, "CTX_INSPECT_BIN is not set");
    char cmd[2 * PATH_BYTES];
    snprintf(cmd, sizeof(cmd), "'%s' verify '%s' 2>&1", bin, dir);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    int status = pclose(p);
    ck_assert(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* Starts the server on dir to completion (it must fail); output in `out`. */
static int start_must_fail(const char *dir) {
    const char *run[] = {"--port", "0", "--data-dir", dir, NULL};
    return ts_run_once(run, NULL, out, sizeof(out));
}

/* A lost segment stops start-up (newest: only wal.ctl can tell) and verify reports it. */
static void check_lost_segment(const char *dir, int from_end, const char *expect) {
    char seg[PATH_BYTES];
    ck_assert(segment_from_end(dir, from_end, seg));
    size_t len;
    uint8_t *image = testutil_read_file(seg, &len);
    ck_assert_int_eq(unlink(seg), 0);
    ck_assert_int_eq(start_must_fail(dir), 1);
    ck_assert_msg(strstr(out, strrchr(seg, '/') + 1) != NULL, "%s", out);
    ck_assert_msg(strstr(out, expect) != NULL, "%s", out);
    ck_assert_msg(inspect_verify(dir) == 1, "%s", out);
    ck_assert_msg(strstr(out, "DAMAGE") != NULL && strstr(out, "verify: DAMAGE FOUND") != NULL,
                  "%s", out);
    testutil_write_file(seg, image, len);
    free(image);
}

START_TEST(test_lost_wal_segment_stops_startup) {
    char *dir = testutil_make_disk_dir("durability");
    const char *env[] = {"CONTEXTDB_WAL_SEGMENT_BYTES=64kB",
                         "CONTEXTDB_SNAPSHOT_INTERVAL_RECORDS=0", NULL};
    ts_server_t s;
    ck_assert_int_eq(start_in(&s, dir, env), 0);
    insert_rows(&s, 1, 600); /* > 64 kB: several segments */
    stop(&s, SIGTERM);
    ck_assert_msg(inspect_verify(dir) == 0, "%s", out);
    char third[PATH_BYTES];
    ck_assert(segment_from_end(dir, 2, third));
    check_lost_segment(dir, 0, "is missing");
    check_lost_segment(dir, 1, "a segment is missing");
    /* Restored: the server starts with every acknowledged row. */
    ck_assert_int_eq(start_in(&s, dir, env), 0);
    PGconn *c = ts_connect(&s, NULL);
    char *count = ts_query_value(c, "SELECT count(*) FROM nodes");
    ck_assert_str_eq(count, "600");
    free(count);
    PQfinish(c);
    stop(&s, SIGTERM);
    testutil_remove_tree(dir);
    free(dir);
}
END_TEST

/* Deleting contextdb.pid does not release the data directory. */
START_TEST(test_second_server_refused) {
    char *dir = testutil_make_disk_dir("durability");
    ts_server_t s;
    ck_assert_int_eq(start_in(&s, dir, NULL), 0);
    char pid_file[PATH_BYTES], expect[64];
    snprintf(pid_file, sizeof(pid_file), "%s/contextdb.pid", dir);
    snprintf(expect, sizeof(expect), "in use by another server (pid %d)", (int)s.pid);
    ck_assert_int_eq(start_must_fail(dir), 1);
    ck_assert_msg(strstr(out, expect) != NULL, "%s", out);
    ck_assert_int_eq(unlink(pid_file), 0);
    ck_assert_int_eq(start_must_fail(dir), 1);
    ck_assert_msg(strstr(out, expect) != NULL, "%s", out);
    /* The first server is unaffected and writes on. */
    insert_rows(&s, 1, 3);
    stop(&s, SIGTERM);
    ck_assert_int_eq(start_in(&s, dir, NULL), 0);
    PGconn *c = ts_connect(&s, NULL);
    char *count = ts_query_value(c, "SELECT count(*) FROM nodes");
    ck_assert_str_eq(count, "3");
    free(count);
    PQfinish(c);
    stop(&s, SIGTERM);
    testutil_remove_tree(dir);
    free(dir);
}
END_TEST

/* Runs sql expecting an error with sqlstate; returns its message (malloc'd). */
static char *expect_error(PGconn *c, const char *sql, const char *sqlstate) {
    PGresult *r = ts_exec_error(c, sql, sqlstate);
    char *message = strdup(PQresultErrorMessage(r));
    PQclear(r);
    return message;
}

/* No file of snapshot id anywhere under dir/snapshots. */
static void assert_no_files_of(const char *dir, const char *id6) {
    char cmd[2 * PATH_BYTES];
    snprintf(cmd, sizeof(cmd), "find '%s/snapshots' -name '*%s*' | grep -q .", dir, id6);
    ck_assert_msg(system(cmd) != 0, "files of snapshot %s left behind", id6);
}

static void set_nofile(pid_t pid, const char *soft) {
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "prlimit --pid %d --nofile=%s:", (int)pid, soft);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_snapshot_failure_reaches_client) {
    char *dir = testutil_make_disk_dir("durability");
    const char *env[] = {"CONTEXTDB_SNAPSHOT_INTERVAL_RECORDS=0", NULL};
    ts_server_t s;
    ck_assert_int_eq(start_in(&s, dir, env), 0);
    insert_rows(&s, 1, 20);
    PGconn *c = ts_connect(&s, NULL);
    char *id = ts_query_value(c, "CREATE SNAPSHOT");
    ck_assert_str_eq(id, "1");
    free(id);
    struct rlimit was;
    ck_assert_int_eq(prlimit(s.pid, RLIMIT_NOFILE, NULL, &was), 0);
    char restore[32];
    snprintf(restore, sizeof(restore), "%llu", (unsigned long long)was.rlim_cur);
    /* The writer (a fork, which closes every inherited descriptor) cannot open a file. */
    set_nofile(s.pid, "3");
    char *message = expect_error(c, "CREATE SNAPSHOT", "58030");
    ck_assert_msg(strstr(message, "snapshot 2 failed") != NULL, "%s", message);
    ck_assert_msg(strstr(message, "Too many open files") != NULL, "%s", message);
    free(message);
    /* the extended protocol too */
    PGresult *r = PQexecParams(c, "CREATE SNAPSHOT", 0, NULL, NULL, NULL, NULL, 0);
    ck_assert_int_eq(PQresultStatus(r), PGRES_FATAL_ERROR);
    ck_assert_str_eq(PQresultErrorField(r, PG_DIAG_SQLSTATE), "58030");
    PQclear(r);
    set_nofile(s.pid, restore);
    assert_no_files_of(dir, "000002");
    assert_no_files_of(dir, "000003");
    char *listed = ts_query_value(c, "SELECT count(*) FROM snapshots");
    ck_assert_str_eq(listed, "1");
    free(listed);
    /* nothing may run after it in one Query: its reply waits for an outcome that may fail */
    free(expect_error(c, "CREATE SNAPSHOT; SELECT 1", "25001"));
    id = ts_query_value(c, "CREATE SNAPSHOT");
    ck_assert_str_eq(id, "4");
    free(id);
    PQfinish(c);
    stop(&s, SIGTERM);
    testutil_remove_tree(dir);
    free(dir);
}
END_TEST

/* A real ENOSPC: a 64 kB tmpfs over snapshots/nodes (needs CAP_SYS_ADMIN; skipped with a message
 * otherwise: the descriptor-limit test above covers the error path without privileges). */
START_TEST(test_snapshot_disk_full) {
    char *dir = testutil_make_disk_dir("durability");
    char nodes[PATH_BYTES];
    snprintf(nodes, sizeof(nodes), "%s/snapshots/nodes", dir);
    char cmd[2 * PATH_BYTES];
    snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", nodes);
    ck_assert_int_eq(system(cmd), 0);
    /* A private mount namespace: the mount vanishes with this test process and its server,
     * even when an assertion ends the test before the umount below. */
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("tmpfs", nodes, "tmpfs", 0, "size=64k") != 0) {
        fprintf(stderr, "test_snapshot_disk_full: SKIPPED, cannot mount a tmpfs: %s\n",
                strerror(errno));
        testutil_remove_tree(dir);
        free(dir);
        return;
    }
    const char *env[] = {"CONTEXTDB_SNAPSHOT_INTERVAL_RECORDS=0", NULL};
    ts_server_t s;
    ck_assert_int_eq(start_in(&s, dir, env), 0);
    insert_rows(&s, 1, 2000); /* ~400 kB of props: more than the 64 kB */
    PGconn *c = ts_connect(&s, NULL);
    char *message = expect_error(c, "CREATE SNAPSHOT", "53100");
    ck_assert_msg(strstr(message, "No space left on device") != NULL, "%s", message);
    free(message);
    assert_no_files_of(dir, "000001");
    PQfinish(c);
    stop(&s, SIGTERM);
    ck_assert_int_eq(umount(nodes), 0);
    testutil_remove_tree(dir);
    free(dir);
}
END_TEST

/* The torn-tail line states what is known, not that nothing was acknowledged. */
START_TEST(test_torn_tail_message) {
    char *dir = testutil_make_disk_dir("durability");
    const char *env[] = {"CONTEXTDB_SNAPSHOT_INTERVAL_RECORDS=0", NULL};
    ts_server_t s;
    ck_assert_int_eq(start_in(&s, dir, env), 0);
    insert_rows(&s, 1, 10);
    stop(&s, SIGKILL);
    char seg[PATH_BYTES];
    ck_assert(segment_from_end(dir, 0, seg));
    FILE *f = fopen(seg, "ab");
    ck_assert_ptr_nonnull(f);
    const uint8_t partial[] = {0, 0, 0, 50, 1, 2, 3, 4, 0, 0, 0}; /* a record cut short */
    ck_assert_uint_eq(fwrite(partial, 1, sizeof(partial), f), sizeof(partial));
    fclose(f);
    ck_assert_int_eq(start_in(&s, dir, env), 0);
    PGconn *c = ts_connect(&s, NULL);
    char *count = ts_query_value(c, "SELECT count(*) FROM nodes");
    ck_assert_str_eq(count, "10");
    free(count);
    PQfinish(c);
    size_t len;
    char *log = (char *)testutil_read_file(s.log_path, &len);
    log[len] = '\0';
    ck_assert_msg(strstr(log, "dropped a torn tail of 11 bytes") != NULL, "%s", log);
    /* the log: the bootstrap membership entry (1), the leader's no-op (2), ten batches (3-12) */
    ck_assert_msg(strstr(log, "index 13") != NULL, "%s", log);
    ck_assert_msg(strstr(log, "no completed fsync covered it") != NULL, "%s", log);
    ck_assert_msg(strstr(log, "never acknowledged as durable") == NULL, "%s", log);
    free(log);
    stop(&s, SIGTERM);
    testutil_remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(test_vacuum_keep_bounds) {
    const char *env[] = {"CONTEXTDB_SNAPSHOT_INTERVAL_RECORDS=0", NULL};
    ts_server_t s;
    ck_assert_int_eq(ts_server_start(&s, NULL, env), 0);
    insert_rows(&s, 1, 5);
    PGconn *c = ts_connect(&s, NULL);
    for (int i = 0; i < 3; i++) {
        free(ts_query_value(c, "CREATE SNAPSHOT"));
    }
    ts_exec_ok(c, "VACUUM SNAPSHOTS KEEP 2147483647");
    ts_exec_ok(c, "VACUUM SNAPSHOTS KEEP 9223372036854775807");
    char *listed = ts_query_value(c, "SELECT count(*) FROM snapshots");
    ck_assert_str_eq(listed, "3");
    free(listed);
    free(expect_error(c, "VACUUM SNAPSHOTS KEEP 0", "22023"));
    ts_exec_ok(c, "VACUUM SNAPSHOTS KEEP 1");
    listed = ts_query_value(c, "SELECT count(*) FROM snapshots");
    ck_assert_str_eq(listed, "1");
    free(listed);
    PQfinish(c);
    ck_assert_int_eq(ts_server_stop(&s, SIGTERM), 0);
}
END_TEST

int main(void) {
    Suite *suite = suite_create("durability");
    TCase *tc = tcase_create("durability");
    tcase_add_test(tc, test_lost_wal_segment_stops_startup);
    tcase_add_test(tc, test_second_server_refused);
    tcase_add_test(tc, test_snapshot_failure_reaches_client);
    tcase_add_test(tc, test_snapshot_disk_full);
    tcase_add_test(tc, test_torn_tail_message);
    tcase_add_test(tc, test_vacuum_keep_bounds);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
