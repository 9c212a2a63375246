/*
 * test_crash.c — durability with the real server: 8 clients insert while the server is killed
 * with SIGKILL at random moments (every acknowledged row must survive every restart, and every
 * row present must be intact); torn WAL tails (truncation, a bit flip in the last record) are
 * cut off at restart while damage in the middle of the log stops start-up; a snapshot with a bad
 * CRC is passed over for the previous snapshot + WAL; and the acceptance story
 * INSERT; CREATE SNAPSHOT; INSERT; SIGKILL; restart; AS OF SNAPSHOT 1.
 * Randomized: prints its seed, CTX_TEST_SEED replays. CTX_SKIP_SLOW=1 (ASan) kills fewer times.
 */
#include "testserver.h"
#include "testutil.h"

#include <check.h>
#include <dirent.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { CLIENTS = 8, ACKED_MAX = 1 << 20 };

static uint64_t seed;

static char *make_dir(void) {
    return testutil_make_disk_dir("crash");
}

static void remove_tree(const char *dir) {
    testutil_remove_tree(dir);
}

static const char *ENV[] = {"CONTEXTDB_SNAPSHOT_INTERVAL_RECORDS=400",
                            "CONTEXTDB_WAL_SEGMENT_BYTES=64kB", NULL};

static int start_in(ts_server_t *s, const char *dir) {
    const char *args[] = {"--data-dir", dir, NULL};
    return ts_server_start(s, args, ENV);
}

/* SIGKILL and reap; the data directory stays. */
static void crash(ts_server_t *s) {
    kill(s->pid, SIGKILL);
    int status;
    waitpid(s->pid, &status, 0);
}

/* ---------------------------------------------------------------- writers */

typedef struct shared {
    ts_server_t *server;
    pthread_mutex_t mu;
    int64_t *acked;
    size_t nacked;
    atomic_bool stop;
    int round;
} shared_t;

typedef struct writer {
    shared_t *sh;
    int client;
} writer_t;

static void *writer_main(void *arg) {
    writer_t *w = arg;
    shared_t *sh = w->sh;
    char conninfo[128];
    snprintf(conninfo, sizeof(conninfo), "host=127.0.0.1 port=%u sslmode=disable connect_timeout=5",
             sh->server->port);
    PGconn *c = PQconnectdb(conninfo);
    for (int64_t k = 0; PQstatus(c) == CONNECTION_OK && !atomic_load(&sh->stop); k++) {
        int64_t id = (int64_t)sh->round * 10000000 + w->client * 1000000 + k;
        char sql[160];
        snprintf(sql, sizeof(sql),
                 "INSERT INTO nodes (id, label, props) VALUES (%" PRId64 ", 'L%" PRId64
                 "', '{\"k\": %" PRId64 "}')",
                 id, id % 97, id);
        PGresult *r = PQexec(c, sql);
        bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        if (!ok) {
            break;
        }
        pthread_mutex_lock(&sh->mu);
        ck_assert_uint_lt(sh->nacked, ACKED_MAX);
        sh->acked[sh->nacked++] = id;
        pthread_mutex_unlock(&sh->mu);
    }
    PQfinish(c);
    return NULL;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Every acknowledged id is present, and every row is intact (label and props match its id). */
static void verify(ts_server_t *s, shared_t *sh) {
    PGconn *c = ts_connect(s, NULL);
    PGresult *r = PQexec(c, "SELECT id, label, props->>'k' FROM nodes ORDER BY id");
    ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
    int n = PQntuples(r);
    int64_t *ids = malloc(sizeof(int64_t) * ((size_t)n + 1));
    for (int i = 0; i < n; i++) {
        ids[i] = strtoll(PQgetvalue(r, i, 0), NULL, 10);
        char label[32];
        snprintf(label, sizeof(label), "L%" PRId64, ids[i] % 97);
        ck_assert_str_eq(PQgetvalue(r, i, 1), label);
        ck_assert_int_eq(strtoll(PQgetvalue(r, i, 2), NULL, 10), ids[i]);
    }
    PQclear(r);
    PQfinish(c);
    for (size_t i = 0; i < sh->nacked; i++) {
        ck_assert_msg(bsearch(&sh->acked[i], ids, (size_t)n, sizeof(int64_t), cmp_i64) != NULL,
                      "acknowledged id %" PRId64 " lost (seed %" PRIu64 ")", sh->acked[i], seed);
    }
    free(ids);
}

START_TEST(test_sigkill_under_load) {
    bool slow_ok = getenv("CTX_SKIP_SLOW") == NULL;
    int kills = slow_ok ? 20 : 5;
    char *dir = make_dir();
    shared_t sh = {.acked = malloc(sizeof(int64_t) * ACKED_MAX)};
    pthread_mutex_init(&sh.mu, NULL);
    uint64_t rng = seed;
    for (int round = 0; round <= kills; round++) {
        ts_server_t s;
        ck_assert_int_eq(start_in(&s, dir), 0);
        verify(&s, &sh);
        if (round == kills) {
            ts_server_stop(&s, SIGTERM);
            break;
        }
        sh.server = &s;
        sh.round = round;
        atomic_store(&sh.stop, false);
        pthread_t threads[CLIENTS];
        writer_t writers[CLIENTS];
        for (int t = 0; t < CLIENTS; t++) {
            writers[t] = (writer_t){&sh, t};
            pthread_create(&threads[t], NULL, writer_main, &writers[t]);
        }
        usleep((useconds_t)(50000 + ts_rand(&rng) % 400000));
        crash(&s);
        atomic_store(&sh.stop, true);
        for (int t = 0; t < CLIENTS; t++) {
            pthread_join(threads[t], NULL);
        }
        if (sh.nacked > 1) {
            qsort(sh.acked, sh.nacked, sizeof(int64_t), cmp_i64);
        }
    }
    printf("test_crash: %d kills, %zu acknowledged rows all present\n", kills, sh.nacked);
    free(sh.acked);
    remove_tree(dir);
    free(dir);
}
END_TEST

/* ---------------------------------------------------------------- torn WAL tails */

static void last_segment(const char *dir, char *path, size_t len) {
    char wal[600];
    snprintf(wal, sizeof(wal), "%s/wal", dir);
    DIR *d = opendir(wal);
    ck_assert_ptr_nonnull(d);
    char best[256] = "";
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (strstr(de->d_name, ".seg") != NULL && strcmp(de->d_name, best) > 0) {
            snprintf(best, sizeof(best), "%s", de->d_name);
        }
    }
    closedir(d);
    snprintf(path, len, "%s/%s", wal, best);
}

static int64_t count_rows(ts_server_t *s) {
    PGconn *c = ts_connect(s, NULL);
    char *v = ts_query_value(c, "SELECT count(*) FROM nodes");
    int64_t n = strtoll(v, NULL, 10);
    free(v);
    PQfinish(c);
    return n;
}

/* Rows 1..n inserted one statement each (one WAL record each). */
static void insert_sequence(ts_server_t *s, int from, int to) {
    PGconn *c = ts_connect(s, NULL);
    for (int i = from; i <= to; i++) {
        char sql[128];
        snprintf(sql, sizeof(sql), "INSERT INTO nodes (id, label) VALUES (%d, 'seq')", i);
        ts_exec_ok(c, sql);
    }
    PQfinish(c);
}

START_TEST(test_torn_tail) {
    uint64_t rng = seed ^ 0x55;
    for (int trial = 0; trial < 6; trial++) {
        char *dir = make_dir();
        const char *env[] = {"CONTEXTDB_SNAPSHOT_INTERVAL_RECORDS=0", NULL};
        const char *args[] = {"--data-dir", dir, NULL};
        ts_server_t s;
        ck_assert_int_eq(ts_server_start(&s, args, env), 0);
        insert_sequence(&s, 1, 60);
        crash(&s);
        char seg[700];
        last_segment(dir, seg, sizeof(seg));
        struct stat st;
        ck_assert_int_eq(stat(seg, &st), 0);
        bool flip = trial % 2 == 1;
        off_t off = st.st_size - 1 - (off_t)(ts_rand(&rng) % 40); /* inside the last record */
        if (flip) {
            FILE *f = fopen(seg, "r+b");
            fseek(f, off, SEEK_SET);
            int ch = fgetc(f);
            fseek(f, off, SEEK_SET);
            fputc(ch ^ (1 << (ts_rand(&rng) % 8)), f);
            fclose(f);
        } else {
            off = st.st_size - 1 - (off_t)(ts_rand(&rng) % 2000);
            ck_assert_int_eq(truncate(seg, off), 0);
        }
        ck_assert_int_eq(ts_server_start(&s, args, env), 0);
        int64_t n = count_rows(&s);
        ck_assert_int_le(n, 60);
        ck_assert_int_ge(n, flip ? 59 : 1);
        PGconn *c = ts_connect(&s, NULL);
        char *max = ts_query_value(c, "SELECT coalesce(max(id), 0) FROM nodes");
        ck_assert_int_eq(strtoll(max, NULL, 10), n); /* a prefix 1..n survived */
        free(max);
        ts_exec_ok(c, "INSERT INTO nodes (id, label) VALUES (1000, 'after')");
        PQfinish(c);
        crash(&s);
        ck_assert_int_eq(ts_server_start(&s, args, env), 0);
        ck_assert_int_eq(count_rows(&s), n + 1);
        ts_server_stop(&s, SIGTERM);
        remove_tree(dir);
        free(dir);
    }
}
END_TEST

START_TEST(test_middle_damage_stops_startup) {
    char *dir = make_dir();
    const char *env[] = {"CONTEXTDB_SNAPSHOT_INTERVAL_RECORDS=0", NULL};
    const char *args[] = {"--data-dir", dir, NULL};
    ts_server_t s;
    ck_assert_int_eq(ts_server_start(&s, args, env), 0);
    insert_sequence(&s, 1, 40);
    crash(&s);
    char seg[700];
    last_segment(dir, seg, sizeof(seg));
    FILE *f = fopen(seg, "r+b");
    fseek(f, 200, SEEK_SET); /* inside an early record */
    int ch = fgetc(f);
    fseek(f, 200, SEEK_SET);
    fputc(ch ^ 0x04, f);
    fclose(f);
    const char *run[] = {"--port", "0", "--data-dir", dir, NULL};
    char out[8192];
    int status = ts_run_once(run, env, out, sizeof(out));
    ck_assert_int_eq(status, 1);
    ck_assert_msg(strstr(out, "corrupt in the middle") != NULL, "%s", out);
    remove_tree(dir);
    free(dir);
}
END_TEST

/* ---------------------------------------------------------------- snapshots */

static void flip_in_file(const char *path, long off) {
    FILE *f = fopen(path, "r+b");
    ck_assert_ptr_nonnull(f);
    fseek(f, off, SEEK_SET);
    int ch = fgetc(f);
    fseek(f, off, SEEK_SET);
    fputc(ch ^ 0x20, f);
    fclose(f);
}

START_TEST(test_bad_snapshot_falls_back) {
    char *dir = make_dir();
    const char *env[] = {"CONTEXTDB_SNAPSHOT_INTERVAL_RECORDS=0", NULL};
    const char *args[] = {"--data-dir", dir, NULL};
    ts_server_t s;
    ck_assert_int_eq(ts_server_start(&s, args, env), 0);
    insert_sequence(&s, 1, 100);
    PGconn *c = ts_connect(&s, NULL);
    char *id = ts_query_value(c, "CREATE SNAPSHOT");
    ck_assert_str_eq(id, "1");
    free(id);
    PQfinish(c);
    insert_sequence(&s, 101, 200);
    c = ts_connect(&s, NULL);
    id = ts_query_value(c, "CREATE SNAPSHOT");
    ck_assert_str_eq(id, "2");
    free(id);
    PQfinish(c);
    insert_sequence(&s, 201, 300);
    crash(&s);
    char path[700];
    snprintf(path, sizeof(path), "%s/snapshots/nodes/nodes-000002-0.col", dir);
    flip_in_file(path, 100);
    ck_assert_int_eq(ts_server_start(&s, args, env), 0);
    ck_assert_int_eq(count_rows(&s), 300);
    c = ts_connect(&s, NULL);
    char *n1 = ts_query_value(c, "SELECT count(*) FROM nodes AS OF SNAPSHOT 1");
    ck_assert_str_eq(n1, "100");
    free(n1);
    PQfinish(c);
    FILE *log = fopen(s.log_path, "r");
    char text[65536];
    size_t got = fread(text, 1, sizeof(text) - 1, log);
    text[got] = '\0';
    fclose(log);
    ck_assert_msg(strstr(text, "snapshot 2 cannot be used") != NULL, "%s", text);
    ts_server_stop(&s, SIGTERM);
    remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(test_acceptance_as_of_after_sigkill) {
    char *dir = make_dir();
    const char *args[] = {"--data-dir", dir, NULL};
    ts_server_t s;
    ck_assert_int_eq(ts_server_start(&s, args, NULL), 0);
    PGconn *c = ts_connect(&s, NULL);
    ts_exec_ok(c, "INSERT INTO nodes (id, label) VALUES (1, 'a'), (2, 'b'), (3, 'c')");
    char *id = ts_query_value(c, "CREATE SNAPSHOT");
    ck_assert_str_eq(id, "1");
    free(id);
    ts_exec_ok(c, "INSERT INTO nodes (id, label) VALUES (4, 'd'), (5, 'e')");
    PQfinish(c);
    crash(&s);
    ck_assert_int_eq(ts_server_start(&s, args, NULL), 0);
    c = ts_connect(&s, NULL);
    char *all = ts_query_value(c, "SELECT count(*) || ':' || sum(id) FROM nodes");
    ck_assert_str_eq(all, "5:15");
    free(all);
    char *n = ts_query_value(c, "SELECT count(*) FROM nodes AS OF SNAPSHOT 1");
    ck_assert_str_eq(n, "3");
    free(n);
    char *snaps = ts_query_value(c, "SELECT count(*) FROM snapshots");
    ck_assert_str_eq(snaps, "1");
    free(snaps);
    PQfinish(c);
    ts_server_stop(&s, SIGTERM);
    remove_tree(dir);
    free(dir);
}
END_TEST

int main(void) {
    seed = ts_seed("test_crash");
    Suite *suite = suite_create("crash");
    TCase *tc = tcase_create("durability");
    tcase_add_test(tc, test_acceptance_as_of_after_sigkill);
    tcase_add_test(tc, test_bad_snapshot_falls_back);
    tcase_add_test(tc, test_torn_tail);
    tcase_add_test(tc, test_middle_damage_stops_startup);
    tcase_add_test(tc, test_sigkill_under_load);
    tcase_set_timeout(tc, 600);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
