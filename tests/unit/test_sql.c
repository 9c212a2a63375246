/*
 * test_sql.c — the SQL layer end to end without sockets: text → sql_parse → sql_execute over a
 * real store, results rendered as text ("col|col\n" per row, then the command tag).
 *
 * Covers the planner (scans, key lookups, joins, aggregates, ORDER BY/LIMIT/top-k, DISTINCT),
 * table functions, writes (ON CONFLICT, RETURNING, cascades), transactions (explicit and the
 * implicit block of a multi-statement query, isolation between sessions, write-write conflicts),
 * settings and EXPLAIN.
 */
#include "session_int.h"
#include "sql.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fixture {
    store_t *store;
    sql_db_t db;
    sql_session_t *a;
    sql_session_t *b;
    arena_t arena;
    char out[16384];
    ctx_err_t err;
} fixture_t;

static fixture_t fx;

static void setup(void) {
    store_config_t config = {.vector_dims = 3};
    fx.store = store_create(&config);
    fx.db = (sql_db_t){.store = fx.store, .server_version = "15.0 (ContextDB test)"};
    sql_startup_t startup = {.user = "tester", .database = "db"};
    ctx_err_t err;
    ctx_err_clear(&err);
    fx.a = sql_session_create(&fx.db, &startup, &err);
    fx.b = sql_session_create(&fx.db, &startup, &err);
    ck_assert(fx.a != NULL && fx.b != NULL);
    arena_init(&fx.arena);
}

static void teardown(void) {
    sql_session_destroy(fx.a);
    sql_session_destroy(fx.b);
    store_destroy(fx.store);
    arena_destroy(&fx.arena);
}

static void render(const sql_result_t *r) {
    size_t n = strlen(fx.out);
    for (uint64_t row = 0; r->has_rows && row < r->nrows; row++) {
        for (int c = 0; c < r->ncols; c++) {
            const value_t *v = &r->rows[row * (uint64_t)r->ncols + (uint64_t)c];
            uint32_t len = 0;
            const char *text = value_is_null(v) ? "NULL" : value_to_text(v, &fx.arena, &len);
            n += (size_t)snprintf(fx.out + n, sizeof(fx.out) - n, "%s%s", c > 0 ? "|" : "", text);
        }
        n += (size_t)snprintf(fx.out + n, sizeof(fx.out) - n, "\n");
    }
    snprintf(fx.out + n, sizeof(fx.out) - n, "%s\n", r->tag);
}

/* Runs a query as the server would; returns the rendered output or "ERROR sqlstate: message". */
static const char *run(sql_session_t *s, const char *sql) {
    fx.out[0] = '\0';
    ctx_err_clear(&fx.err);
    stmt_t **stmts;
    int count;
    int rc = sql_parse(sql, strlen(sql), &fx.arena, &stmts, &count, &fx.err);
    if (rc != CTX_OK) {
        sql_query_failed(s);
    } else {
        sql_query_begin(s, count);
        for (int i = 0; i < count && rc == CTX_OK; i++) {
            sql_result_t result;
            rc = sql_execute(s, stmts[i], sql, &fx.arena, &result, &fx.err);
            if (rc == CTX_OK) {
                render(&result);
            }
        }
        ctx_err_t end_err;
        ctx_err_clear(&end_err);
        int end = sql_query_end(s, &fx.arena, &end_err);
        if (rc == CTX_OK && end != CTX_OK) {
            fx.err = end_err;
            rc = end;
        }
    }
    if (rc != CTX_OK) {
        snprintf(fx.out, sizeof(fx.out), "ERROR %s: %s", ctx_sqlstate(fx.err.code), fx.err.message);
    }
    return fx.out;
}

static void load_graph(void) {
    ck_assert_str_eq(run(fx.a, "INSERT INTO nodes (id, label, props) VALUES "
                               "(1, 'User', '{\"name\":\"ann\",\"age\":30}'), "
                               "(2, 'Doc', NULL), (3, 'Doc', '{\"name\":\"x\"}'), "
                               "(4, 'User', '{\"name\":\"bob\",\"age\":40}'), (5, 'Tag', NULL)"),
                     "INSERT 0 5\n");
    ck_assert_str_eq(run(fx.a, "INSERT INTO edges (src, dst, kind, weight) VALUES "
                               "(1, 2, 'owns', 1.0), (1, 3, 'owns', 2), (2, 4, 'links', 1), "
                               "(4, 5, 'related', 0.5), (3, 5, 'links', 1)"),
                     "INSERT 0 5\n");
    ck_assert_str_eq(run(fx.a, "INSERT INTO vectors (id, embedding) VALUES (1, '[1,0,0]'), "
                               "(2, '[0.9,0.1,0]'), (3, '[0,1,0]'), (4, '[0,0,1]'), "
                               "(5, '[0.7,0.7,0]')"),
                     "INSERT 0 5\n");
}

START_TEST(test_select_basics) {
    load_graph();
    ck_assert_str_eq(run(fx.a, "SELECT id, label FROM nodes WHERE label = 'User' ORDER BY id"),
                     "1|User\n4|User\nSELECT 2\n");
    ck_assert_str_eq(run(fx.a, "SELECT props->>'name' AS n FROM nodes WHERE id = 4"),
                     "bob\nSELECT 1\n");
    ck_assert_str_eq(run(fx.a, "SELECT id FROM nodes WHERE id IN (5, 3, 99) ORDER BY id DESC"),
                     "5\n3\nSELECT 2\n");
    ck_assert_str_eq(run(fx.a, "SELECT id FROM nodes WHERE props IS NULL ORDER BY 1"),
                     "2\n5\nSELECT 2\n");
    ck_assert_str_eq(run(fx.a, "SELECT id FROM nodes WHERE label LIKE 'D%' AND NOT id = 2"),
                     "3\nSELECT 1\n");
    ck_assert_str_eq(run(fx.a, "SELECT id FROM nodes ORDER BY id LIMIT 2 OFFSET 1"),
                     "2\n3\nSELECT 2\n");
    ck_assert_str_eq(run(fx.a, "SELECT 1 + 1 AS two, 'x'"), "2|x\nSELECT 1\n");
    ck_assert_str_eq(run(fx.a, "SELECT dst FROM edges WHERE src = 1 ORDER BY dst"),
                     "2\n3\nSELECT 2\n");
}
END_TEST

START_TEST(test_aggregates) {
    load_graph();
    ck_assert_str_eq(run(fx.a, "SELECT count(*) FROM nodes"), "5\nSELECT 1\n");
    ck_assert_str_eq(run(fx.a, "SELECT label, count(*) FROM nodes GROUP BY label ORDER BY label"),
                     "Doc|2\nTag|1\nUser|2\nSELECT 3\n");
    ck_assert_str_eq(run(fx.a, "SELECT min(weight), max(weight), sum(weight), avg(weight) "
                               "FROM edges"),
                     "0.5|2|5.5|1.1\nSELECT 1\n");
    ck_assert_str_eq(run(fx.a, "SELECT kind, count(*) AS c FROM edges GROUP BY kind "
                               "HAVING count(*) > 1 ORDER BY c DESC, kind"),
                     "links|2\nowns|2\nSELECT 2\n");
    ck_assert_str_eq(run(fx.a, "SELECT count(*) FROM nodes WHERE id > 100"), "0\nSELECT 1\n");
    ck_assert_str_eq(run(fx.a, "SELECT label, id FROM nodes GROUP BY label"),
                     "ERROR 42803: column \"nodes.id\" must appear in the GROUP BY clause or be "
                     "used in an aggregate function");
    ck_assert_str_eq(run(fx.a, "SELECT DISTINCT label FROM nodes ORDER BY label"),
                     "Doc\nTag\nUser\nSELECT 3\n");
}
END_TEST

/* array_agg, string_agg and bool_and/bool_or/every as PostgreSQL 15 answers them (checked
 * against it), DISTINCT aggregates over no rows, and the array forms the parser and planner
 * refuse. */
START_TEST(test_aggregate_functions) {
    load_graph();
    ck_assert_str_eq(run(fx.a, "SELECT array_agg(id), array_agg(label) FROM nodes"),
                     "{1,2,3,4,5}|{User,Doc,Doc,User,Tag}\nSELECT 1\n");
    ck_assert_str_eq(run(fx.a, "SELECT array_agg(x) FROM (VALUES ('a b'), (NULL), ('c\"d'), "
                               "('a b')) v(x)"),
                     "{\"a b\",NULL,\"c\\\"d\",\"a b\"}\nSELECT 1\n");
    ck_assert_str_eq(run(fx.a, "SELECT array_agg(DISTINCT x) FROM (VALUES ('b'), (NULL), ('a'), "
                               "('b')) v(x)"),
                     "{a,b,NULL}\nSELECT 1\n");
    ck_assert_str_eq(run(fx.a, "SELECT string_agg(label, ','), string_agg(DISTINCT label, '|'), "
                               "string_agg(label, NULL) FROM nodes"),
                     "User,Doc,Doc,User,Tag|Doc|Tag|User|UserDocDocUserTag\nSELECT 1\n");
    ck_assert_str_eq(run(fx.a, "SELECT string_agg(x, d) FROM (VALUES ('a', '-'), (NULL, '+'), "
                               "('b', '*'), ('c', NULL)) v(x, d)"),
                     "a*bc\nSELECT 1\n");
    ck_assert_str_eq(run(fx.a, "SELECT bool_and(b), bool_or(b), every(b), bool_or(DISTINCT b) "
                               "FROM (VALUES (true), (NULL), (false)) v(b)"),
                     "f|t|f|t\nSELECT 1\n");
    ck_assert_str_eq(run(fx.a, "SELECT label, array_agg(id), bool_and(id > 1) FROM nodes "
                               "GROUP BY label ORDER BY label"),
                     "Doc|{2,3}|t\nTag|{5}|t\nUser|{1,4}|f\nSELECT 3\n");
    ck_assert_str_eq(run(fx.a, "SELECT count(DISTINCT id), sum(DISTINCT id), array_agg(DISTINCT "
                               "id), string_agg(DISTINCT label, ','), bool_and(DISTINCT id > 0), "
                               "array_agg(id), string_agg(label, ','), bool_or(id > 0) "
                               "FROM nodes WHERE false"),
                     "0|NULL|NULL|NULL|NULL|NULL|NULL|NULL\nSELECT 1\n");
    ck_assert_str_eq(run(fx.a, "SELECT string_agg(id, ',') FROM nodes"),
                     "ERROR 42883: function string_agg(bigint, unknown) does not exist");
    ck_assert_str_eq(run(fx.a, "SELECT array_agg(id > 1) FROM nodes"),
                     "ERROR 0A000: array_agg is not supported for type boolean");
    ck_assert_str_eq(run(fx.a, "SELECT ARRAY((1))"), "ERROR 42601: syntax error at or near \"1\"");
    ck_assert_str_eq(run(fx.a, "SELECT exists((1))"), "ERROR 42601: syntax error at or near \"1\"");
    ck_assert_str_eq(run(fx.a, "SELECT ARRAY((SELECT 1)), exists((SELECT 1))"),
                     "{1}|t\nSELECT 1\n");
    ck_assert_str_eq(run(fx.a, "SELECT ARRAY(SELECT ARRAY(SELECT id FROM nodes))"),
                     "ERROR 0A000: ARRAY of a subquery returning arrays is not supported");
}
END_TEST

START_TEST(test_graph_functions) {
    load_graph();
    ck_assert_str_eq(run(fx.a, "SELECT * FROM neighbors(1, 2)"),
                     "2|Doc|1\n3|Doc|1\n4|User|2\n5|Tag|2\nSELECT 4\n");
    ck_assert_str_eq(run(fx.a, "SELECT id FROM neighbors(1, 3, kind => 'owns')"),
                     "2\n3\nSELECT 2\n");
    ck_assert_str_eq(run(fx.a, "SELECT id, depth FROM neighbors(5, 1, direction => 'in')"),
                     "3|1\n4|1\nSELECT 2\n");
    ck_assert_str_eq(run(fx.a, "SELECT * FROM shortest_path(1, 5)"),
                     "0|1|User\n1|3|Doc\n2|5|Tag\nSELECT 3\n");
    ck_assert_str_eq(run(fx.a, "SELECT * FROM shortest_path(5, 1)"), "SELECT 0\n");
    ck_assert_str_eq(run(fx.a, "SELECT id, depth, parent FROM traverse(1, 3, order => 'dfs')"),
                     "2|1|1\n4|2|2\n5|3|4\n3|1|1\nSELECT 4\n");
    ck_assert_str_eq(run(fx.a, "SELECT * FROM neighbors(1, 2, direction => 'up')"),
                     "ERROR 22023: neighbors: invalid direction \"up\"");
}
END_TEST

START_TEST(test_vectors) {
    load_graph();
    ck_assert_str_eq(run(fx.a, "SELECT id FROM vectors ORDER BY embedding <-> '[1,0,0]' LIMIT 2"),
                     "1\n2\nSELECT 2\n");
    ck_assert_str_eq(run(fx.a, "SELECT id, embedding <=> '[0,1,0]' AS d FROM vectors "
                               "ORDER BY d LIMIT 1"),
                     "3|0\nSELECT 1\n");
    ck_assert_str_eq(run(fx.a, "SELECT id FROM similar(1, 2)"), "2\n5\nSELECT 2\n");
    ck_assert_str_eq(run(fx.a, "SELECT count FROM neighbor_stats(1, 3)"), "3\nSELECT 1\n");
    ck_assert_str_eq(run(fx.a, "SELECT id, depth FROM hybrid(1, depth => 2, top_k => 2)"),
                     "2|1\n5|2\nSELECT 2\n");
    ck_assert_str_eq(run(fx.a, "INSERT INTO vectors VALUES (9, '[1,2]')"),
                     "ERROR 22000: expected 3 dimensions, not 2");
}
END_TEST

START_TEST(test_writes) {
    load_graph();
    ck_assert_str_eq(run(fx.a, "INSERT INTO nodes VALUES (1, 'X', NULL)"),
                     "ERROR 23505: duplicate key value violates unique constraint \"nodes_pkey\"");
    ck_assert_str_eq(run(fx.a, "INSERT INTO nodes VALUES (1, 'X', NULL), (6, 'Y', NULL) "
                               "ON CONFLICT (id) DO NOTHING RETURNING id"),
                     "6\nINSERT 0 1\n");
    ck_assert_str_eq(run(fx.a, "INSERT INTO nodes (id, label) VALUES (6, 'Z') ON CONFLICT (id) "
                               "DO UPDATE SET label = excluded.label || '!' RETURNING label"),
                     "Z!\nINSERT 0 1\n");
    ck_assert_str_eq(run(fx.a, "UPDATE nodes SET label = 'Admin' WHERE id = 1"), "UPDATE 1\n");
    ck_assert_str_eq(run(fx.a, "SELECT label FROM nodes WHERE id = 1"), "Admin\nSELECT 1\n");
    ck_assert_str_eq(run(fx.a, "INSERT INTO edges (src, dst, kind) VALUES (1, 77, 'owns')"),
                     "ERROR 23503: insert or update on table \"edges\" violates foreign key "
                     "constraint \"edges_dst_fkey\"");
    ck_assert_str_eq(run(fx.a, "DELETE FROM nodes WHERE id = 1"), "DELETE 1\n");
    ck_assert_str_eq(run(fx.a, "SELECT count(*) FROM edges WHERE src = 1"), "0\nSELECT 1\n");
    ck_assert_str_eq(run(fx.a, "SELECT count(*) FROM vectors WHERE id = 1"), "0\nSELECT 1\n");
    ck_assert_str_eq(run(fx.a, "DELETE FROM edges WHERE kind = 'links' RETURNING src, dst"),
                     "2|4\n3|5\nDELETE 2\n");
    ck_assert_str_eq(run(fx.a, "INSERT INTO nodes (id, label) VALUES (10, NULL)"),
                     "ERROR 23502: null value in column \"label\" of relation \"nodes\" violates "
                     "not-null constraint");
}
END_TEST

/* A transaction's changes must fit its pending batch (the commit record, CMD_BATCH_OPS_MAX ops;
 * lowered here so the limit is reached cheaply): the statement that would overflow it fails with
 * 54000 having changed nothing, and the transaction can only roll back. */
START_TEST(test_transaction_change_limit) {
    load_graph();
    ck_assert_str_eq(run(fx.a, "BEGIN"), "BEGIN\n");
    fx.a->pending.ops_max = 3;
    ck_assert_str_eq(run(fx.a, "INSERT INTO nodes VALUES (50, 'T', NULL), (51, 'T', NULL)"),
                     "INSERT 0 2\n");
    ck_assert_str_eq(run(fx.a, "INSERT INTO nodes VALUES (52, 'T', NULL), (53, 'T', NULL)"),
                     "ERROR 54000: too many row changes in one transaction (max 3)");
    ck_assert_int_eq(sql_session_txn_status(fx.a), 'E');
    ck_assert_str_eq(run(fx.a, "ROLLBACK"), "ROLLBACK\n");
    ck_assert_str_eq(run(fx.a, "SELECT count(*) FROM nodes"), "5\nSELECT 1\n");
    ck_assert_str_eq(run(fx.b, "SELECT count(*) FROM nodes WHERE id >= 50"), "0\nSELECT 1\n");
    ck_assert_uint_eq(fx.a->pending.ops_max, CMD_BATCH_OPS_MAX); /* a new batch has the real cap */
}
END_TEST

START_TEST(test_transactions) {
    load_graph();
    ck_assert_str_eq(run(fx.a, "BEGIN"), "BEGIN\n");
    ck_assert_str_eq(run(fx.a, "INSERT INTO nodes VALUES (20, 'T', NULL)"), "INSERT 0 1\n");
    ck_assert_str_eq(run(fx.a, "INSERT INTO edges (src, dst, kind) VALUES (20, 1, 'owns')"),
                     "INSERT 0 1\n");
    ck_assert_str_eq(run(fx.a, "SELECT count(*) FROM nodes"), "6\nSELECT 1\n");
    ck_assert_str_eq(run(fx.b, "SELECT count(*) FROM nodes"), "5\nSELECT 1\n");
    ck_assert_str_eq(run(fx.b, "INSERT INTO nodes VALUES (30, 'B', NULL)"), "INSERT 0 1\n");
    ck_assert_str_eq(run(fx.a, "SELECT count(*) FROM nodes"), "7\nSELECT 1\n");
    ck_assert_str_eq(run(fx.a, "COMMIT"), "COMMIT\n");
    ck_assert_str_eq(run(fx.b, "SELECT count(*) FROM nodes"), "7\nSELECT 1\n");
    ck_assert_str_eq(sql_session_txn_status(fx.a) == 'I' ? "I" : "x", "I");

    run(fx.a, "BEGIN");
    run(fx.a, "DELETE FROM nodes");
    ck_assert_str_eq(run(fx.a, "SELEC 1"), "ERROR 42601: syntax error at or near \"SELEC\"");
    ck_assert_int_eq(sql_session_txn_status(fx.a), 'E');
    ck_assert_str_eq(run(fx.a, "SELECT 1"), "ERROR 25P02: current transaction is aborted, "
                                            "commands ignored until end of transaction block");
    ck_assert_str_eq(run(fx.a, "COMMIT"), "ROLLBACK\n");
    ck_assert_str_eq(run(fx.a, "SELECT count(*) FROM nodes"), "7\nSELECT 1\n");

    /* A multi-statement query is one implicit transaction. */
    ck_assert_str_eq(run(fx.a, "INSERT INTO nodes VALUES (40, 'I', NULL); "
                               "INSERT INTO nodes VALUES (40, 'I', NULL)"),
                     "ERROR 23505: duplicate key value violates unique constraint \"nodes_pkey\"");
    ck_assert_str_eq(run(fx.a, "SELECT count(*) FROM nodes WHERE id = 40"), "0\nSELECT 1\n");
    ck_assert_str_eq(run(fx.a, "INSERT INTO nodes VALUES (41, 'I', NULL); "
                               "SELECT label FROM nodes WHERE id = 41"),
                     "INSERT 0 1\nI\nSELECT 1\n");
    ck_assert_str_eq(run(fx.b, "SELECT count(*) FROM nodes WHERE id = 41"), "1\nSELECT 1\n");
}
END_TEST

START_TEST(test_settings_and_errors) {
    ck_assert_str_eq(run(fx.a, "SET hnsw.ef_search = 100"), "SET\n");
    ck_assert_str_eq(run(fx.a, "SHOW hnsw.ef_search"), "100\nSHOW\n");
    ck_assert_str_eq(run(fx.a, "SET my.custom TO 'abc'; SHOW my.custom"), "SET\nabc\nSHOW\n");
    ck_assert_str_eq(run(fx.a, "RESET hnsw.ef_search; SHOW hnsw.ef_search"), "RESET\n40\nSHOW\n");
    ck_assert_str_eq(run(fx.a, "SHOW nope"),
                     "ERROR 42704: unrecognized configuration parameter \"nope\"");
    ck_assert_str_eq(run(fx.a, "SELECT current_database(), current_user"),
                     "contextdb|tester\nSELECT 1\n");
    ck_assert_str_eq(run(fx.a, "SELECT * FROM nope"),
                     "ERROR 42P01: relation \"nope\" does not exist");
    ck_assert_str_eq(run(fx.a, "SELECT nope FROM nodes"),
                     "ERROR 42703: column \"nope\" does not exist");
    ck_assert_int_eq(fx.err.position, 8);
    ck_assert_str_eq(run(fx.a, "BEGIN; SET LOCAL work_mem = '8MB'; SHOW work_mem; COMMIT; "
                               "SHOW work_mem"),
                     "BEGIN\nSET\n8MB\nSHOW\nCOMMIT\n4MB\nSHOW\n");
}
END_TEST

/* Runs sql with the n-th allocation from now refused; the answer must be the statement's own
 * result or 53200. Returns whether it was 53200. */
static bool run_refusing(sql_session_t *s, const char *sql, long n, const char *ok) {
    arena_reset(&fx.arena);
    ctx_alloc_fail_at(n);
    const char *out = run(s, sql);
    ctx_alloc_fail_at(0);
    if (strncmp(out, "ERROR 53200: out of memory", 26) == 0) {
        return true;
    }
    ck_assert_str_eq(out, ok);
    return false;
}

/* A setting that cannot be stored for want of memory fails that statement with 53200 and
 * leaves every setting as it was; ROLLBACK and SET LOCAL restore without allocating. */
START_TEST(test_settings_out_of_memory) {
    ck_assert_str_eq(run(fx.a, "SET my.custom = 'before'"), "SET\n");
    int refused = 0;
    for (long n = 1; n <= 40; n++) {
        if (run_refusing(fx.a, "SET my.custom = 'after'", n, "SET\n")) {
            refused++;
            ck_assert_str_eq(run(fx.a, "SHOW my.custom"), "before\nSHOW\n");
        } else {
            ck_assert_str_eq(run(fx.a, "SHOW my.custom"), "after\nSHOW\n");
            ck_assert_str_eq(run(fx.a, "SET my.custom = 'before'"), "SET\n");
        }
        if (run_refusing(fx.a, "SET my.fresh = 'x'", n, "SET\n")) {
            refused++;
            ck_assert_str_eq(run(fx.a, "SHOW my.fresh"),
                             "ERROR 42704: unrecognized configuration parameter \"my.fresh\"");
        } else {
            ck_assert_str_eq(run(fx.a, "SHOW my.fresh"), "x\nSHOW\n");
        }
        if (run_refusing(fx.a, "RESET ALL", n, "RESET\n")) {
            refused++;
        }
        ck_assert_str_eq(run(fx.a, "SET my.custom = 'before'"), "SET\n");
        /* a block: its SETs may fail, ROLLBACK always brings the old values back */
        run_refusing(fx.a, "BEGIN; SET my.custom = 'inside'; SET LOCAL work_mem = '8MB'", n,
                     "BEGIN\nSET\nSET\n");
        ck_assert_str_eq(run(fx.a, "ROLLBACK"), "ROLLBACK\n");
        ck_assert_str_eq(run(fx.a, "SHOW my.custom; SHOW work_mem"), "before\nSHOW\n4MB\nSHOW\n");
    }
    ck_assert_int_gt(refused, 0);
    ck_assert_str_eq(run(fx.b, "SHOW work_mem"), "4MB\nSHOW\n"); /* the other session */
}
END_TEST

START_TEST(test_explain) {
    load_graph();
    const char *out = run(fx.a, "EXPLAIN SELECT id FROM vectors ORDER BY embedding <=> "
                                "'[1,0,0]' LIMIT 3");
    ck_assert_ptr_nonnull(strstr(out, "Vector Top-K (exact scan, cosine)"));
    ck_assert_ptr_nonnull(strstr(out, "->  Seq Scan on vectors"));
    out = run(fx.a, "EXPLAIN SELECT * FROM nodes WHERE id = 3");
    ck_assert_ptr_nonnull(strstr(out, "Index Scan using nodes_pkey on nodes"));
    out = run(fx.a, "EXPLAIN ANALYZE SELECT count(*) FROM edges");
    ck_assert_ptr_nonnull(strstr(out, "Execution Time:"));
}
END_TEST

/* Extended protocol path: describe infers parameter types and the row shape; execute binds. */
START_TEST(test_parameters) {
    load_graph();
    const char *sql = "SELECT id, label FROM nodes WHERE id = $1 AND label <> $2";
    stmt_t **stmts;
    int count;
    ck_assert_int_eq(sql_parse(sql, strlen(sql), &fx.arena, &stmts, &count, &fx.err), CTX_OK);
    ck_assert_int_eq(stmts[0]->nparams, 2);
    ctype_t types[2] = {CT_UNKNOWN, CT_UNKNOWN};
    sql_result_t shape;
    ck_assert_int_eq(sql_describe(fx.a, stmts[0], sql, &fx.arena, types, 2, &shape, &fx.err),
                     CTX_OK);
    ck_assert_int_eq(types[0], CT_INT8);
    ck_assert_int_eq(types[1], CT_TEXT);
    ck_assert(shape.has_rows);
    ck_assert_int_eq(shape.ncols, 2);
    ck_assert_str_eq(shape.cols[1].name, "label");
    ck_assert_int_eq(sql_parse(sql, strlen(sql), &fx.arena, &stmts, &count, &fx.err), CTX_OK);
    value_t params[2] = {value_int(4), value_text("Doc", 3)};
    sql_result_t r;
    ck_assert_int_eq(
        sql_execute_params(fx.a, stmts[0], sql, types, params, 2, &fx.arena, &r, &fx.err), CTX_OK);
    ck_assert_uint_eq(r.nrows, 1);
    ck_assert_int_eq(r.rows[0].u.i, 4);

    const char *ins = "INSERT INTO nodes (id, label) VALUES ($1, $2) RETURNING id";
    ck_assert_int_eq(sql_parse(ins, strlen(ins), &fx.arena, &stmts, &count, &fx.err), CTX_OK);
    ctype_t itypes[2] = {CT_UNKNOWN, CT_UNKNOWN};
    ck_assert_int_eq(sql_describe(fx.a, stmts[0], ins, &fx.arena, itypes, 2, &shape, &fx.err),
                     CTX_OK);
    ck_assert_int_eq(itypes[0], CT_INT8);
    ck_assert_int_eq(itypes[1], CT_TEXT);
    ck_assert_str_eq(run(fx.a, "SELECT count(*) FROM nodes"), "5\nSELECT 1\n");
}
END_TEST

/* First committer wins: a block whose write lost the race gets 40001 and is rolled back whole;
 * the autocommit write it raced keeps its effect; without a race nothing fails. */
/* A fake sql_cluster_hooks_t.change: records the call, fails for id 13 (42710). */
static struct {
    bool add;
    int64_t id;
    char address[64];
    bool forward;
} change_seen;

static int fake_change(void *ctx, bool add, int64_t id, const char *address, bool forward,
                       uint64_t *lsn, ctx_err_t *err) {
    (void)ctx;
    change_seen.add = add;
    change_seen.id = id;
    snprintf(change_seen.address, sizeof(change_seen.address), "%s", address ? address : "-");
    change_seen.forward = forward;
    if (id == 13) {
        return ctx_err_set(err, CTX_EDUP_OBJECT, "node 13 is already a member of the cluster");
    }
    *lsn = 777;
    return CTX_OK;
}

START_TEST(test_alter_cluster) {
    ck_assert_str_eq(run(fx.a, "ALTER CLUSTER REMOVE NODE 2"),
                     "ERROR 0A000: this server is not a cluster member");
    fx.db.cluster.change = fake_change;
    ck_assert_str_eq(run(fx.a, "ALTER CLUSTER ADD NODE 4 '10.0.0.4:7004'"), "ALTER CLUSTER\n");
    ck_assert(change_seen.add && change_seen.id == 4);
    ck_assert_str_eq(change_seen.address, "10.0.0.4:7004");
    ck_assert(change_seen.forward);                       /* follower_writes defaults to forward */
    ck_assert_uint_eq(sql_session_commit_lsn(fx.a), 777); /* the reply waits for the change */
    ck_assert_str_eq(run(fx.a, "ALTER CLUSTER REMOVE NODE 13"),
                     "ERROR 42710: node 13 is already a member of the cluster");
    ck_assert_str_eq(run(fx.a, "SET follower_writes = 'reject'; ALTER CLUSTER REMOVE NODE 3"),
                     "SET\nALTER CLUSTER\n");
    ck_assert(!change_seen.add && change_seen.id == 3 && !change_seen.forward);
    ck_assert_str_eq(run(fx.a, "BEGIN; ALTER CLUSTER REMOVE NODE 3"),
                     "ERROR 25001: ALTER CLUSTER cannot run inside a transaction block");
    run(fx.a, "ROLLBACK");
}
END_TEST

START_TEST(test_write_conflicts) {
    load_graph();
    const char *add10 = "UPDATE edges SET weight = weight + 10 WHERE src = 1 AND dst = 2";
    const char *add1 = "UPDATE edges SET weight = weight + 1 WHERE src = 1 AND dst = 2";
    const char *weight = "SELECT weight FROM edges WHERE src = 1 AND dst = 2";
    run(fx.a, "BEGIN");
    ck_assert_str_eq(run(fx.a, add10), "UPDATE 1\n");
    ck_assert_str_eq(run(fx.a, "INSERT INTO nodes VALUES (60, 'T', NULL)"), "INSERT 0 1\n");
    ck_assert_str_eq(run(fx.b, add1), "UPDATE 1\n");
    ck_assert_str_eq(run(fx.a, "COMMIT"),
                     "ERROR 40001: could not serialize access due to concurrent update");
    ck_assert_str_eq(fx.err.detail, "Key (src, dst, kind)=(1, 2, owns) of \"edges\" was updated "
                                    "by a concurrent transaction.");
    ck_assert_int_eq(sql_session_txn_status(fx.a), 'I');
    ck_assert_str_eq(run(fx.b, weight), "2\nSELECT 1\n");
    ck_assert_str_eq(run(fx.b, "SELECT count(*) FROM nodes WHERE id = 60"), "0\nSELECT 1\n");
    /* The loser hears at its next statement; the block is then failed. */
    run(fx.a, "BEGIN");
    ck_assert_str_eq(run(fx.a, "DELETE FROM vectors WHERE id = 2"), "DELETE 1\n");
    ck_assert_str_eq(run(fx.b, "UPDATE vectors SET embedding = '[0,0,1]' WHERE id = 2"),
                     "UPDATE 1\n");
    ck_assert_str_eq(run(fx.a, "SELECT 1"),
                     "ERROR 40001: could not serialize access due to concurrent update");
    ck_assert_int_eq(sql_session_txn_status(fx.a), 'E');
    ck_assert_str_eq(run(fx.a, "ROLLBACK"), "ROLLBACK\n");
    ck_assert_str_eq(run(fx.a, "SELECT embedding FROM vectors WHERE id = 2"),
                     "[0,0,1]\nSELECT 1\n");
    /* Unrelated rows never conflict, and a block may write its own rows again and again. */
    run(fx.a, "BEGIN");
    ck_assert_str_eq(run(fx.a, add10), "UPDATE 1\n");
    ck_assert_str_eq(run(fx.b, "UPDATE nodes SET label = 'Y' WHERE id = 5"), "UPDATE 1\n");
    ck_assert_str_eq(run(fx.a, add10), "UPDATE 1\n");
    ck_assert_str_eq(run(fx.b, "UPDATE edges SET weight = 7 WHERE src = 1 AND dst = 3"),
                     "UPDATE 1\n");
    ck_assert_str_eq(run(fx.a, "COMMIT"), "COMMIT\n");
    ck_assert_str_eq(run(fx.b, weight), "22\nSELECT 1\n");
}
END_TEST

/* Savepoints through the undo log, also when another session's statement rolled this block's
 * changes back in between (the re-apply records each savepoint's undo position again). */
START_TEST(test_savepoints) {
    load_graph();
    const char *ids = "SELECT id FROM nodes WHERE id >= 50 ORDER BY id";
    ck_assert_str_eq(run(fx.a, "SAVEPOINT s"),
                     "ERROR 25P01: SAVEPOINT can only be used in transaction blocks");
    run(fx.a, "BEGIN");
    run(fx.a, "INSERT INTO nodes VALUES (50, 'T', NULL)");
    ck_assert_str_eq(run(fx.a, "SAVEPOINT s1"), "SAVEPOINT\n");
    run(fx.a, "INSERT INTO nodes VALUES (51, 'T', NULL)");
    run(fx.a, "SAVEPOINT s2");
    run(fx.a, "INSERT INTO nodes VALUES (52, 'T', NULL)");
    ck_assert_str_eq(run(fx.b, "SELECT count(*) FROM nodes"), "5\nSELECT 1\n"); /* swaps a out */
    ck_assert_str_eq(run(fx.a, "ROLLBACK TO SAVEPOINT s2"), "ROLLBACK\n");
    ck_assert_str_eq(run(fx.a, ids), "50\n51\nSELECT 2\n");
    run(fx.a, "SAVEPOINT s3");
    run(fx.a, "INSERT INTO nodes VALUES (53, 'T', NULL)");
    run(fx.b, "SELECT 1");
    ck_assert_str_eq(run(fx.a, ids), "50\n51\n53\nSELECT 3\n");  /* re-applied in stretches */
    ck_assert_str_eq(run(fx.a, "ROLLBACK TO s3"), "ROLLBACK\n"); /* by the undo log */
    ck_assert_str_eq(run(fx.a, ids), "50\n51\nSELECT 2\n");
    ck_assert_str_eq(run(fx.a, "RELEASE s2"), "RELEASE\n");
    ck_assert_str_eq(run(fx.a, "ROLLBACK TO s3"), "ERROR 3B001: savepoint \"s3\" does not exist");
    ck_assert_int_eq(sql_session_txn_status(fx.a), 'E');
    ck_assert_str_eq(run(fx.a, "ROLLBACK TO s1"), "ROLLBACK\n");
    ck_assert_int_eq(sql_session_txn_status(fx.a), 'T');
    ck_assert_str_eq(run(fx.a, ids), "50\nSELECT 1\n");
    ck_assert_str_eq(run(fx.a, "COMMIT"), "COMMIT\n");
    ck_assert_str_eq(run(fx.b, ids), "50\nSELECT 1\n");

    /* An error, or a conflict found at re-apply, fails the block until ROLLBACK TO. */
    run(fx.a, "BEGIN");
    run(fx.a, "UPDATE nodes SET label = 'A' WHERE id = 1");
    run(fx.a, "SAVEPOINT x");
    ck_assert_str_eq(run(fx.a, "INSERT INTO nodes VALUES (50, 'dup', NULL)"),
                     "ERROR 23505: duplicate key value violates unique constraint \"nodes_pkey\"");
    ck_assert_str_eq(run(fx.a, "SELECT 1"), "ERROR 25P02: current transaction is aborted, "
                                            "commands ignored until end of transaction block");
    ck_assert_str_eq(run(fx.a, "ROLLBACK TO x"), "ROLLBACK\n");
    run(fx.a, "UPDATE nodes SET label = 'B' WHERE id = 2");
    ck_assert_str_eq(run(fx.b, "UPDATE nodes SET label = 'C' WHERE id = 2"), "UPDATE 1\n");
    ck_assert_str_eq(run(fx.a, "SELECT 1"),
                     "ERROR 40001: could not serialize access due to concurrent update");
    ck_assert_str_eq(run(fx.a, "ROLLBACK TO x"), "ROLLBACK\n");
    ck_assert_str_eq(run(fx.a, "COMMIT"), "COMMIT\n");
    ck_assert_str_eq(run(fx.b, "SELECT label FROM nodes WHERE id IN (1, 2) ORDER BY id"),
                     "A\nC\nSELECT 2\n");
}
END_TEST

/* Cursors keep their rows in their own arena: FETCH after the statement arena was reset, a WITH
 * HOLD cursor after COMMIT, and statement_mem_limit bounds DECLARE. */
START_TEST(test_cursors) {
    load_graph();
    run(fx.a, "BEGIN");
    ck_assert_str_eq(run(fx.a, "DECLARE c CURSOR WITH HOLD FOR SELECT id, 'x' || label AS l "
                               "FROM nodes ORDER BY id"),
                     "DECLARE CURSOR\n");
    ck_assert_str_eq(run(fx.a, "DECLARE d CURSOR FOR SELECT 1"), "DECLARE CURSOR\n");
    ck_assert_str_eq(run(fx.a, "COMMIT"), "COMMIT\n");
    arena_reset(&fx.arena);
    run(fx.b, "DELETE FROM nodes WHERE id = 2");
    ck_assert_str_eq(run(fx.a, "FETCH 2 FROM c"), "1|xUser\n2|xDoc\nFETCH 2\n");
    ck_assert_str_eq(run(fx.a, "MOVE ALL IN c"), "MOVE 3\n");
    ck_assert_str_eq(run(fx.a, "FETCH PRIOR FROM c"), "5|xTag\nFETCH 1\n");
    ck_assert_str_eq(run(fx.a, "FETCH d"), "ERROR 34000: cursor \"d\" does not exist");
    ck_assert_str_eq(run(fx.a, "CLOSE c"), "CLOSE CURSOR\n");
    ck_assert_str_eq(run(fx.a, "SET statement_mem_limit = '64kB'"), "SET\n");
    run(fx.a, "BEGIN");
    ck_assert_str_eq(run(fx.a, "DECLARE big CURSOR FOR SELECT * FROM generate_series(1, 100000)"),
                     "ERROR 53200: out of memory");
    run(fx.a, "ROLLBACK");
}
END_TEST

int main(void) {
    Suite *suite = suite_create("sql");
    TCase *tc = tcase_create("sql");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_select_basics);
    tcase_add_test(tc, test_aggregates);
    tcase_add_test(tc, test_aggregate_functions);
    tcase_add_test(tc, test_graph_functions);
    tcase_add_test(tc, test_vectors);
    tcase_add_test(tc, test_writes);
    tcase_add_test(tc, test_transactions);
    tcase_add_test(tc, test_savepoints);
    tcase_add_test(tc, test_cursors);
    tcase_add_test(tc, test_transaction_change_limit);
    tcase_add_test(tc, test_settings_and_errors);
    tcase_add_test(tc, test_settings_out_of_memory);
    tcase_add_test(tc, test_explain);
    tcase_add_test(tc, test_parameters);
    tcase_add_test(tc, test_write_conflicts);
    tcase_add_test(tc, test_alter_cluster);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
