/*
 * test_inspect.c — contextdb-inspect against a data directory the real server wrote: nodes,
 * edges and vectors inserted statement by statement over several WAL segments, a CREATE SNAPSHOT,
 * more writes, a clean stop. Then: `verify` passes; `wal` decodes the batches; `snapshot` prints
 * the metadata and the per-column statistics; and after one bit is flipped in a WAL segment and
 * one in the snapshot's nodes column file (random positions, seeded: CTX_TEST_SEED replays),
 * `verify` exits 1 and names both files with a byte range that contains the flipped byte.
 * The binary comes from CTX_INSPECT_BIN (meson sets it).
 */
#include "testserver.h"

#include <check.h>
#include <dirent.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

enum { NODES = 600, OUTPUT_BYTES = 1 << 20, PROPS_HEX_BYTES = 160 };

static uint64_t seed;
static char output[OUTPUT_BYTES];

/* Runs contextdb-inspect with args; stdout+stderr into `output`; returns the exit status. */
static int inspect(const char *a1, const char *a2, const char *a3) {
    const char *bin = getenv("CTX_INSPECT_BIN");
    ck_assert_msg(bin != NULL, "CTX_INSPECT_BIN is not set");
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "'%s' %s '%s' %s%s%s 2>&1", bin, a1, a2, a3 ? "'" : "", a3 ? a3 : "",
             a3 ? "'" : "");
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    size_t n = fread(output, 1, sizeof(output) - 1, p);
    output[n] = '\0';
    int status = pclose(p);
    ck_assert(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* Writes the data: NODES single-row node inserts with incompressible props, a chain of edges,
 * a few vectors, CREATE SNAPSHOT, then more nodes after it. */
static void write_data(ts_server_t *s) {
    PGconn *c = ts_connect(s, NULL);
    uint64_t state = seed | 1;
    for (int id = 1; id <= NODES; id++) {
        char hex[PROPS_HEX_BYTES + 1];
        for (int i = 0; i < PROPS_HEX_BYTES; i++) {
            hex[i] = "0123456789abcdef"[ts_rand(&state) & 15];
        }
        hex[PROPS_HEX_BYTES] = '\0';
        char sql[512];
        snprintf(sql, sizeof(sql), "INSERT INTO nodes VALUES (%d, 'L%d', '{\"h\":\"%s\"}')", id,
                 id % 3, hex);
        ts_exec_ok(c, sql);
    }
    static char edges[NODES * 40];
    size_t at = (size_t)snprintf(edges, sizeof(edges), "INSERT INTO edges VALUES ");
    for (int id = 1; id < NODES; id++) {
        at += (size_t)snprintf(edges + at, sizeof(edges) - at, "%s(%d, %d, 'next', 0.5)",
                               id > 1 ? ", " : "", id, id + 1);
    }
    ts_exec_ok(c, edges);
    for (int id = 1; id <= 3; id++) {
        char sql[4096] = "INSERT INTO vectors VALUES (";
        size_t at = strlen(sql);
        at += (size_t)snprintf(sql + at, sizeof(sql) - at, "%d, '[", id);
        for (int d = 0; d < 128; d++) {
            at += (size_t)snprintf(sql + at, sizeof(sql) - at, "%s%d.5", d ? "," : "", d % 7);
        }
        snprintf(sql + at, sizeof(sql) - at, "]')");
        ts_exec_ok(c, sql);
    }
    char *id = ts_query_value(c, "CREATE SNAPSHOT");
    ck_assert_str_eq(id, "1");
    free(id);
    ts_exec_ok(c, "INSERT INTO nodes VALUES (1001, 'after', NULL)");
    PQfinish(c);
}

/* Path of the n-th (0-based) segment in index order, or false when there are fewer. */
static bool segment_path(const char *dir, int n, char *out, size_t cap) {
    char wal[300];
    snprintf(wal, sizeof(wal), "%s/wal", dir);
    struct dirent **names;
    int count = scandir(wal, &names, NULL, alphasort);
    ck_assert_int_ge(count, 0);
    int seen = 0;
    bool found = false;
    for (int i = 0; i < count; i++) {
        if (strstr(names[i]->d_name, ".seg") != NULL && seen++ == n) {
            snprintf(out, cap, "%s/%s", wal, names[i]->d_name);
            found = true;
        }
        free(names[i]);
    }
    free(names);
    return found;
}

static long file_size(const char *path) {
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    return (long)st.st_size;
}

static void flip_bit(const char *path, long off, int bit) {
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    fseek(f, off, SEEK_SET);
    int ch = fgetc(f);
    fseek(f, off, SEEK_SET);
    fputc(ch ^ (1 << bit), f);
    fclose(f);
}

/* The output line that names path must carry a byte range "bytes A..B" with A ≤ off < B. */
static void assert_damage_at(const char *path, long off) {
    const char *line = strstr(output, path);
    ck_assert_msg(line != NULL, "no report names %s:\n%s", path, output);
    const char *range = strstr(line, "bytes ");
    ck_assert_msg(range != NULL, "no byte range for %s:\n%s", path, output);
    unsigned long long a = 0, b = 0;
    ck_assert_int_eq(sscanf(range, "bytes %llu..%llu", &a, &b), 2);
    ck_assert_msg(a <= (unsigned long long)off && (unsigned long long)off < b,
                  "flip at %ld reported as bytes %llu..%llu:\n%s", off, a, b, output);
}

START_TEST(test_inspect_data_dir) {
    seed = ts_seed("inspect");
    char *dir = strdup("/tmp/ctx-inspect-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    const char *args[] = {"--data-dir", dir, NULL};
    const char *env[] = {"CONTEXTDB_WAL_SEGMENT_BYTES=64kB",
                         "CONTEXTDB_SNAPSHOT_INTERVAL_RECORDS=0", NULL};
    ts_server_t s;
    ck_assert_int_eq(ts_server_start(&s, args, env), 0);
    write_data(&s);
    kill(s.pid, SIGTERM);
    int status;
    waitpid(s.pid, &status, 0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* clean directory: verify passes, wal decodes batches, snapshot prints column stats */
    ck_assert_msg(inspect("verify", dir, NULL) == 0, "%s", output);
    ck_assert_msg(strstr(output, "verify: OK") != NULL, "%s", output);
    char seg[1000], seg_last[1000];
    int segments = 0;
    while (segment_path(dir, segments, seg_last, sizeof(seg_last))) {
        segments++;
    }
    ck_assert_int_ge(segments, 2); /* the WAL before the snapshot is kept back one snapshot */
    ck_assert(segment_path(dir, 0, seg, sizeof(seg)));
    ck_assert_msg(inspect("wal", seg, NULL) == 0, "%s", output);
    ck_assert_msg(strstr(output, "ops 1: node_insert×1; first ids: 1\n") != NULL, "%s", output);
    /* a one-member cluster's log starts with its bootstrap membership entry and a no-op */
    ck_assert_msg(strstr(output, "#0 offset 24 index 1 term 1 type conf") != NULL, "%s", output);
    ck_assert_msg(inspect("snapshot", dir, NULL) == 0, "%s", output);
    ck_assert_msg(strstr(output, "snapshot 1 (current)") != NULL, "%s", output);
    ck_assert_msg(strstr(output, "counts: nodes 600, edges 599, vectors 3") != NULL, "%s", output);
    ck_assert_msg(strstr(output, "nodes/nodes-000001-0.col: kind nodes, rows 600") != NULL, "%s",
                  output);
    ck_assert_msg(strstr(output, "min 1 max 600") != NULL, "%s", output);   /* nodes.id */
    ck_assert_msg(strstr(output, "min 0.5 max 0.5") != NULL, "%s", output); /* edges.weight */

    /* one bit flipped in a WAL segment (anywhere) and one inside the nodes file's data */
    uint64_t state = seed ^ 0x9e3779b97f4a7c15ULL;
    ck_assert(segment_path(dir, (int)(ts_rand(&state) % (uint64_t)segments), seg, sizeof(seg)));
    long wal_off = (long)(ts_rand(&state) % (uint64_t)file_size(seg));
    flip_bit(seg, wal_off, (int)(ts_rand(&state) % 8));
    char col[700];
    snprintf(col, sizeof(col), "%s/snapshots/nodes/nodes-000001-0.col", dir);
    long size = file_size(col);
    long col_off = size / 3 + (long)(ts_rand(&state) % (uint64_t)(size - size / 3 - 64));
    flip_bit(col, col_off, (int)(ts_rand(&state) % 8));
    fprintf(stderr, "inspect: flipped %s @%ld and %s @%ld\n", seg, wal_off, col, col_off);
    ck_assert_msg(inspect("verify", dir, NULL) == 1, "%s", output);
    ck_assert_msg(strstr(output, "verify: DAMAGE FOUND") != NULL, "%s", output);
    assert_damage_at(seg, wal_off);
    assert_damage_at(col, col_off);
    ck_assert_msg(inspect("snapshot", dir, NULL) == 1, "%s", output);

    char cmd[700];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
    free(dir);
}
END_TEST

START_TEST(test_inspect_usage) {
    ck_assert_int_eq(inspect("verify", "/nonexistent-dir", NULL), 2);
    ck_assert_int_eq(inspect("wal", "/nonexistent-file.seg", NULL), 2);
    ck_assert_int_eq(inspect("bogus", "x", NULL), 2);
}
END_TEST

int main(void) {
    Suite *suite = suite_create("inspect");
    TCase *tc = tcase_create("inspect");
    tcase_add_test(tc, test_inspect_data_dir);
    tcase_add_test(tc, test_inspect_usage);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
