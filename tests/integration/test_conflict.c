/*
 * test_conflict.c — write-write conflicts with the real server: first committer wins.
 *
 * Two sessions: a block that updates (deletes, upserts) a row another session changed and
 * committed after the block's write gets 40001 at its next statement or at COMMIT and is rolled
 * back whole, while the first commit stands. Many sessions: 32 clients add 1 to one value 100
 * times each, half in BEGIN … COMMIT blocks retried on 40001 and half in autocommit, for an edge
 * weight, a node's props counter, a node's label counter, a vector and an upsert: the value must
 * end at exactly 3,200. And without concurrency no statement ever gets 40001, however often it
 * writes the same row, while an unrelated block swaps in and out.
 */
#include "testserver.h"

#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CLIENTS = 32, INCREMENTS = 100, TRIES_MAX = 100000, STATE_BYTES = 8 };

static const char *const SERVER_ENV[] = {"CONTEXTDB_VECTOR_DIMENSIONS=3", NULL};

static void start(ts_server_t *server) {
    ck_assert_int_eq(ts_server_start(server, NULL, SERVER_ENV), 0);
}

/* Runs sql; "" on success, else the SQLSTATE (copied into state). */
static const char *run(PGconn *conn, const char *sql, char state[STATE_BYTES]) {
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    state[0] = '\0';
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        const char *code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        snprintf(state, STATE_BYTES, "%s", code != NULL ? code : "?????");
    }
    PQclear(res);
    return state;
}

/* Runs sql and checks that it fails with sqlstate (and, for 40001, PostgreSQL's message). */
static void exec_fails(PGconn *conn, const char *sql, const char *sqlstate) {
    PGresult *res = PQexec(conn, sql);
    ck_assert_int_eq(PQresultStatus(res), PGRES_FATAL_ERROR);
    ck_assert_str_eq(PQresultErrorField(res, PG_DIAG_SQLSTATE), sqlstate);
    if (strcmp(sqlstate, "40001") == 0) {
        ck_assert_str_eq(PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY),
                         "could not serialize access due to concurrent update");
    }
    PQclear(res);
}

static void value_is(PGconn *conn, const char *sql, const char *expect) {
    char *got = ts_query_value(conn, sql);
    ck_assert_msg(strcmp(got, expect) == 0, "%s: got %s, expected %s", sql, got, expect);
    free(got);
}

static void seed_graph(PGconn *conn) {
    ts_exec_ok(conn, "INSERT INTO nodes (id, label, props) VALUES (1, '0', '{\"n\": 0}'), "
                     "(2, '0', NULL), (3, 'x', '{\"n\": 0}')");
    ts_exec_ok(conn, "INSERT INTO edges (src, dst, kind, weight) VALUES (1, 2, 'owns', 0)");
    ts_exec_ok(conn, "INSERT INTO vectors (id, embedding) VALUES (1, '[0,0,0]')");
}

#define EDGE_WEIGHT "SELECT weight FROM edges WHERE src = 1 AND dst = 2 AND kind = 'owns'"
#define EDGE_ADD(n)                                                                                \
    "UPDATE edges SET weight = weight + " #n " WHERE src = 1 AND dst = 2 AND kind = 'owns'"

/* ---------------------------------------------------------------- two sessions */

/* The story of the issue: the block that commits second loses, the acknowledged autocommit
 * increment is kept; and the loser learns it at its next statement if it has one. */
START_TEST(test_block_committing_second_gets_40001) {
    ts_server_t server;
    start(&server);
    PGconn *a = ts_connect(&server, NULL);
    PGconn *b = ts_connect(&server, NULL);
    seed_graph(a);
    ts_exec_ok(a, "BEGIN");
    ts_exec_ok(a, EDGE_ADD(10));
    ts_exec_ok(b, EDGE_ADD(1));
    exec_fails(a, "COMMIT", "40001");
    ck_assert_int_eq(PQtransactionStatus(a), PQTRANS_IDLE);
    value_is(a, EDGE_WEIGHT, "1");
    /* At the next statement: the block is failed (E) and COMMIT only rolls it back. */
    ts_exec_ok(a, "BEGIN");
    ts_exec_ok(a, EDGE_ADD(10));
    ts_exec_ok(b, EDGE_ADD(1));
    exec_fails(a, "SELECT 1", "40001");
    ck_assert_int_eq(PQtransactionStatus(a), PQTRANS_INERROR);
    PGresult *res = PQexec(a, "COMMIT");
    ck_assert_str_eq(PQcmdStatus(res), "ROLLBACK");
    PQclear(res);
    value_is(a, EDGE_WEIGHT, "2");
    /* Two blocks: the first to commit wins whatever the order of their writes. */
    ts_exec_ok(a, "BEGIN");
    ts_exec_ok(a, EDGE_ADD(10));
    ts_exec_ok(b, "BEGIN");
    ts_exec_ok(b, EDGE_ADD(100));
    ts_exec_ok(b, "COMMIT");
    exec_fails(a, "COMMIT", "40001");
    value_is(a, EDGE_WEIGHT, "102");
    /* A block that commits before the other write is simply first. */
    ts_exec_ok(a, "BEGIN");
    ts_exec_ok(a, EDGE_ADD(10));
    ts_exec_ok(a, "COMMIT");
    ts_exec_ok(b, EDGE_ADD(1));
    value_is(b, EDGE_WEIGHT, "113");
    PQfinish(a);
    PQfinish(b);
    ck_assert_int_eq(ts_server_stop(&server, SIGTERM), 0);
}
END_TEST

/* Session a runs `block` in BEGIN … COMMIT; session b runs `other` in autocommit after a's
 * write; a's COMMIT must fail with 40001 and `check` must then give `expect`. */
static void lose(PGconn *a, PGconn *b, const char *block, const char *other, const char *check,
                 const char *expect) {
    ts_exec_ok(a, "BEGIN");
    ts_exec_ok(a, block);
    ts_exec_ok(b, other);
    exec_fails(a, "COMMIT", "40001");
    value_is(b, check, expect);
}

START_TEST(test_every_kind_of_write_conflicts) {
    ts_server_t server;
    start(&server);
    PGconn *a = ts_connect(&server, NULL);
    PGconn *b = ts_connect(&server, NULL);
    seed_graph(a);
    /* DELETE after a concurrent UPDATE: the edge stays, with b's weight. */
    lose(a, b, "DELETE FROM edges WHERE src = 1 AND dst = 2", EDGE_ADD(5), EDGE_WEIGHT, "5");
    /* UPDATE after a concurrent DELETE: the edge is not brought back. */
    lose(a, b, EDGE_ADD(1), "DELETE FROM edges WHERE src = 1", "SELECT count(*) FROM edges", "0");
    /* Nodes: props, and label + props after a concurrent delete. */
    lose(a, b, "UPDATE nodes SET props = '{\"n\": 10}' WHERE id = 1",
         "UPDATE nodes SET props = '{\"n\": 1}' WHERE id = 1",
         "SELECT props->>'n' FROM nodes WHERE id = 1", "1");
    lose(a, b, "UPDATE nodes SET label = 'y', props = NULL WHERE id = 3",
         "DELETE FROM nodes WHERE id = 3", "SELECT count(*) FROM nodes WHERE id = 3", "0");
    /* Vectors: UPDATE and DELETE. */
    lose(a, b, "UPDATE vectors SET embedding = '[9,9,9]' WHERE id = 1",
         "UPDATE vectors SET embedding = '[1,1,1]' WHERE id = 1",
         "SELECT embedding FROM vectors WHERE id = 1", "[1,1,1]");
    lose(a, b, "DELETE FROM vectors WHERE id = 1",
         "UPDATE vectors SET embedding = '[2,2,2]' WHERE id = 1",
         "SELECT embedding FROM vectors WHERE id = 1", "[2,2,2]");
    /* Upserts: both found no row; b inserted first. Then both found b's row. */
    const char *upsert = "INSERT INTO edges (src, dst, kind, weight) VALUES (1, 2, 'links', 1) "
                         "ON CONFLICT (src, dst, kind) DO UPDATE SET weight = edges.weight + 1";
    const char *links = "SELECT weight FROM edges WHERE src = 1 AND dst = 2 AND kind = 'links'";
    lose(a, b, upsert, upsert, links, "1");
    lose(a, b, upsert, upsert, links, "2");
    lose(a, b, "INSERT INTO nodes (id, label) VALUES (7, 'mine') ON CONFLICT (id) DO NOTHING",
         "INSERT INTO nodes (id, label) VALUES (7, 'theirs')",
         "SELECT label FROM nodes WHERE id = 7", "theirs");
    PQfinish(a);
    PQfinish(b);
    ck_assert_int_eq(ts_server_stop(&server, SIGTERM), 0);
}
END_TEST

/* ---------------------------------------------------------------- many sessions */

typedef struct target {
    const char *name;
    const char *increment; /* adds 1 */
    const char *check;     /* the value */
} target_t;

static const target_t TARGETS[] = {
    {"edge weight", EDGE_ADD(1), EDGE_WEIGHT},
    {"node props",
     "UPDATE nodes SET props = jsonb_build_object('n', (props->>'n')::int8 + 1) "
     "WHERE id = 1",
     "SELECT props->>'n' FROM nodes WHERE id = 1"},
    {"node label", "UPDATE nodes SET label = ((label::int8) + 1)::text WHERE id = 2",
     "SELECT label FROM nodes WHERE id = 2"},
    {"vector",
     "UPDATE vectors SET embedding = ('[' || ((embedding <-> '[0,0,0]') + 1)::text || "
     "',0,0]')::vector WHERE id = 1",
     "SELECT embedding <-> '[0,0,0]' FROM vectors WHERE id = 1"},
    {"upsert",
     "INSERT INTO edges (src, dst, kind, weight) VALUES (1, 2, 'links', 1) "
     "ON CONFLICT (src, dst, kind) DO UPDATE SET weight = edges.weight + 1",
     "SELECT weight FROM edges WHERE src = 1 AND dst = 2 AND kind = 'links'"},
};

typedef struct client {
    const ts_server_t *server;
    const target_t *target;
    bool blocks;   /* BEGIN; increment; COMMIT (else autocommit) */
    int conflicts; /* 40001s retried */
    char failure[160];
} client_t;

/* One increment in a block; "" when committed, else the SQLSTATE that ended the try. */
static const char *block_increment(PGconn *conn, const char *sql, char state[STATE_BYTES]) {
    if (run(conn, "BEGIN", state)[0] != '\0') {
        return state;
    }
    if (run(conn, sql, state)[0] != '\0') {
        char ignored[STATE_BYTES];
        run(conn, "ROLLBACK", ignored);
        return state;
    }
    return run(conn, "COMMIT", state);
}

static void *client_main(void *arg) {
    client_t *c = arg;
    PGconn *conn = ts_connect_any(c->server, NULL);
    if (PQstatus(conn) != CONNECTION_OK) {
        snprintf(c->failure, sizeof(c->failure), "connect: %s", PQerrorMessage(conn));
    }
    for (int i = 0; i < INCREMENTS && c->failure[0] == '\0'; i++) {
        char state[STATE_BYTES];
        int tries = 0;
        while (c->blocks ? block_increment(conn, c->target->increment, state)[0] != '\0'
                         : run(conn, c->target->increment, state)[0] != '\0') {
            if (strcmp(state, "40001") != 0 || !c->blocks || ++tries == TRIES_MAX) {
                snprintf(c->failure, sizeof(c->failure), "increment %d: SQLSTATE %s (%s)", i, state,
                         c->blocks ? "block" : "autocommit");
                break;
            }
            c->conflicts++;
        }
    }
    PQfinish(conn);
    return NULL;
}

START_TEST(test_concurrent_increments_all_count) {
    const target_t *target = &TARGETS[_i];
    ts_server_t server;
    start(&server);
    PGconn *conn = ts_connect(&server, NULL);
    seed_graph(conn);
    client_t clients[CLIENTS];
    pthread_t threads[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        clients[i] = (client_t){.server = &server, .target = target, .blocks = i % 2 == 0};
        ck_assert_int_eq(pthread_create(&threads[i], NULL, client_main, &clients[i]), 0);
    }
    int conflicts = 0;
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(threads[i], NULL);
        ck_assert_msg(clients[i].failure[0] == '\0', "%s, client %d: %s", target->name, i,
                      clients[i].failure);
        conflicts += clients[i].conflicts;
    }
    printf("%s: %d x %d increments, %d serialization failures retried\n", target->name, CLIENTS,
           INCREMENTS, conflicts);
    char expect[32];
    snprintf(expect, sizeof(expect), "%d", CLIENTS * INCREMENTS);
    value_is(conn, target->check, expect);
    PQfinish(conn);
    ck_assert_int_eq(ts_server_stop(&server, SIGTERM), 0);
}
END_TEST

/* ---------------------------------------------------------------- no concurrency */

START_TEST(test_no_spurious_40001) {
    ts_server_t server;
    start(&server);
    PGconn *conn = ts_connect(&server, NULL);
    PGconn *other = ts_connect(&server, NULL);
    seed_graph(conn);
    ts_exec_ok(conn, "INSERT INTO nodes (id, label) VALUES (100, 'other')");
    size_t ntargets = sizeof(TARGETS) / sizeof(TARGETS[0]);
    for (int i = 0; i < 200; i++) {
        /* An unrelated block stays open across these statements, swapped out and back in. */
        if (i % 50 == 0) {
            ts_exec_ok(other, "BEGIN");
        }
        ts_exec_ok(other, "UPDATE nodes SET props = jsonb_build_object('i', 1) WHERE id = 100");
        for (size_t t = 0; t < ntargets; t++) {
            ts_exec_ok(conn, TARGETS[t].increment);
        }
        ts_exec_ok(conn, "DELETE FROM nodes WHERE id = 50");
        ts_exec_ok(conn, "INSERT INTO nodes (id, label) VALUES (50, 'again') ON CONFLICT (id) "
                         "DO NOTHING");
        if (i % 50 == 49) {
            ts_exec_ok(other, "COMMIT");
        }
    }
    for (size_t t = 0; t < ntargets; t++) {
        value_is(conn, TARGETS[t].check, "200");
    }
    /* A block writing the same rows again and again, and a multi-statement implicit block. */
    ts_exec_ok(conn, "BEGIN");
    for (size_t t = 0; t < ntargets; t++) {
        ts_exec_ok(conn, TARGETS[t].increment);
        ts_exec_ok(other, "SELECT count(*) FROM nodes"); /* swaps the block out */
        ts_exec_ok(conn, TARGETS[t].increment);
    }
    ts_exec_ok(conn, "DELETE FROM nodes WHERE id = 50");
    ts_exec_ok(conn, "INSERT INTO nodes (id, label) VALUES (50, 'new') ON CONFLICT (id) DO UPDATE "
                     "SET label = 'upserted'");
    ts_exec_ok(conn, "UPDATE nodes SET label = 'updated' WHERE id = 50");
    ts_exec_ok(other, "SELECT 1");
    ts_exec_ok(conn, "COMMIT");
    ts_exec_ok(conn, EDGE_ADD(1) "; " EDGE_ADD(1) "; DELETE FROM nodes WHERE id = 50; "
                                                  "INSERT INTO nodes (id, label) VALUES (50, 'x')");
    value_is(conn, EDGE_WEIGHT, "204");
    value_is(conn, "SELECT label FROM nodes WHERE id = 50", "x");
    PQfinish(conn);
    PQfinish(other);
    ck_assert_int_eq(ts_server_stop(&server, SIGTERM), 0);
}
END_TEST

int main(void) {
    Suite *suite = suite_create("conflict");
    TCase *tc = tcase_create("conflict");
    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_block_committing_second_gets_40001);
    tcase_add_test(tc, test_every_kind_of_write_conflicts);
    tcase_add_loop_test(tc, test_concurrent_increments_all_count, 0,
                        (int)(sizeof(TARGETS) / sizeof(TARGETS[0])));
    tcase_add_test(tc, test_no_spurious_40001);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
