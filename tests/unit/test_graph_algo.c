/*
 * test_graph_algo.c — unit tests of engine/store/graph_algo.h on hand-made graphs: components
 * (weak, strong: a 70,000-node cycle checks that Tarjan needs no recursion), kind filters,
 * weighted paths with zero weights and ties, negative weights refused, Yen's k paths, PageRank's
 * mass, triangles and Jaccard, the statement memory limit and the cancel flag.
 * tests/clients/test_graph_algorithms.py compares every algorithm with networkx.
 */
#include "command.h"
#include "graph_algo.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static store_t *new_store(void) {
    store_config_t config = {.vector_dims = 2};
    return store_create(&config);
}

static void apply_ops(store_t *s, const cmd_op_t *ops, size_t n) {
    arena_t arena;
    arena_init(&arena);
    cmd_batch_t batch;
    cmd_batch_init(&batch, &arena);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(cmd_batch_add(&batch, &ops[i], NULL), CTX_OK);
    }
    ctx_err_t err;
    ctx_err_clear(&err);
    int rc = store_apply(s, &batch, NULL, &arena, NULL, &err);
    ck_assert_msg(rc == 0, "apply: %s %s", err.message, err.detail);
    arena_destroy(&arena);
}

static void add_nodes(store_t *s, int64_t first, int64_t last) {
    for (int64_t id = first; id <= last; id++) {
        cmd_op_t op = {.kind = CMD_NODE_INSERT, .id = id, .label = "N", .label_len = 1};
        apply_ops(s, &op, 1);
    }
}

static void add_edge(store_t *s, int64_t source, int64_t target, const char *kind, double w) {
    cmd_op_t op = {.kind = CMD_EDGE_INSERT,
                   .id = source,
                   .target = target,
                   .kind_name = kind,
                   .kind_len = (uint32_t)strlen(kind),
                   .weight = w};
    apply_ops(s, &op, 1);
}

static void build(const store_t *s, const char *kind, arena_t *arena, galgo_t *g) {
    ctx_err_t err;
    ctx_err_clear(&err);
    int32_t k = kind != NULL ? store_kind_lookup(s, kind, (uint32_t)strlen(kind)) : 0;
    ck_assert_int_eq(galgo_build(s, &k, kind != NULL ? 1 : 0, arena, NULL, g, &err), CTX_OK);
}

static const char *fmt_ids(const int64_t *v, uint32_t n, char *out, size_t cap) {
    size_t used = 0;
    out[0] = '\0';
    for (uint32_t i = 0; i < n; i++) {
        used += (size_t)snprintf(out + used, cap - used, "%s%lld", i ? " " : "", (long long)v[i]);
    }
    return out;
}

static const char *fmt_paths(const galgo_t *g, const galgo_path_t *p, uint64_t n, char *out,
                             size_t cap) {
    size_t used = 0;
    out[0] = '\0';
    for (uint64_t k = 0; k < n; k++) {
        used += (size_t)snprintf(out + used, cap - used, "%s%g:", k ? " | " : "", p[k].cost);
        for (uint32_t i = 0; i < p[k].len; i++) {
            used += (size_t)snprintf(out + used, cap - used, "%s%lld", i ? "," : "",
                                     (long long)g->ids[p[k].nodes[i]]);
        }
    }
    return out;
}

/* 1→2→3→1, 3→4, 6→7 (kind b), 7→6, 5 isolated, 2→2 self-loop. */
static store_t *small_graph(void) {
    store_t *s = new_store();
    add_nodes(s, 1, 7);
    add_edge(s, 1, 2, "a", 1);
    add_edge(s, 2, 3, "a", 1);
    add_edge(s, 3, 1, "a", 1);
    add_edge(s, 3, 4, "a", 1);
    add_edge(s, 2, 2, "a", 1);
    add_edge(s, 6, 7, "b", 1);
    add_edge(s, 7, 6, "a", 1);
    return s;
}

START_TEST(test_components) {
    store_t *s = small_graph();
    arena_t arena;
    arena_init(&arena);
    galgo_t g;
    ctx_err_t err;
    ctx_err_clear(&err);
    char buf[256];
    int64_t *c;
    build(s, NULL, &arena, &g);
    ck_assert_int_eq(galgo_wcc(&g, &c, &err), CTX_OK);
    ck_assert_str_eq(fmt_ids(c, g.n, buf, sizeof buf), "1 1 1 1 5 6 6");
    ck_assert_int_eq(galgo_scc(&g, &c, &err), CTX_OK);
    ck_assert_str_eq(fmt_ids(c, g.n, buf, sizeof buf), "1 1 1 4 5 6 6");
    build(s, "a", &arena, &g); /* 6→7 is kind b: 6 and 7 fall apart */
    ck_assert_int_eq(galgo_scc(&g, &c, &err), CTX_OK);
    ck_assert_str_eq(fmt_ids(c, g.n, buf, sizeof buf), "1 1 1 4 5 6 7");
    ck_assert_int_eq(galgo_wcc(&g, &c, &err), CTX_OK);
    ck_assert_str_eq(fmt_ids(c, g.n, buf, sizeof buf), "1 1 1 1 5 6 6");
    /* the 1-2-3 cycle, self-loop ignored */
    ck_assert_int_eq(galgo_triangles(&g, &c, &err), CTX_OK);
    ck_assert_str_eq(fmt_ids(c, g.n, buf, sizeof buf), "1 1 1 0 0 0 0");
    double *sim;
    ck_assert_int_eq(galgo_jaccard(&g, 3, &sim, &err), CTX_OK); /* N(4)={3}; N(1)={2,3} */
    ck_assert(fabs(sim[0] - 0.5) < 1e-12 && fabs(sim[1] - 0.5) < 1e-12 && sim[2] == 0);
    double *rank;
    ck_assert_int_eq(galgo_pagerank(&g, 0.85, 50, &rank, &err), CTX_OK);
    double sum = 0;
    for (uint32_t v = 0; v < g.n; v++) {
        sum += rank[v];
    }
    ck_assert(fabs(sum - 1) < 1e-12);
    arena_destroy(&arena);
    store_destroy(s);
}
END_TEST

START_TEST(test_scc_long_cycle) {
    enum { N = 70000 };
    store_t *s = new_store();
    cmd_op_t *ops = calloc(N, sizeof(cmd_op_t));
    for (int64_t i = 0; i < N; i++) {
        ops[i] = (cmd_op_t){.kind = CMD_NODE_INSERT, .id = i + 1, .label = "N", .label_len = 1};
    }
    apply_ops(s, ops, N);
    for (int64_t i = 0; i < N; i++) {
        ops[i] = (cmd_op_t){.kind = CMD_EDGE_INSERT,
                            .id = i + 1,
                            .target = (i + 1) % N + 1,
                            .kind_name = "a",
                            .kind_len = 1,
                            .weight = 1};
    }
    apply_ops(s, ops, N);
    free(ops);
    arena_t arena;
    arena_init(&arena);
    galgo_t g;
    ctx_err_t err;
    ctx_err_clear(&err);
    build(s, NULL, &arena, &g);
    int64_t *c;
    ck_assert_int_eq(galgo_scc(&g, &c, &err), CTX_OK);
    for (uint32_t v = 0; v < g.n; v++) {
        ck_assert_int_eq(c[v], 1);
    }
    /* cancel: the flag is polled every GALGO_CANCEL_POLL units of work */
    atomic_bool cancel = true;
    g.cancel = &cancel;
    double *rank;
    ck_assert_int_eq(galgo_pagerank(&g, 0.85, 20, &rank, &err), CTX_ECANCELED);
    ctx_err_clear(&err);
    ck_assert_int_eq(galgo_build(s, NULL, 0, &arena, &cancel, &g, &err), CTX_ECANCELED);
    ctx_err_clear(&err);
    /* memory: a 1 MB statement limit cannot hold the snapshot's adjacency */
    arena_t small;
    arena_init(&small);
    small.limit_bytes = 1 << 20;
    ck_assert_int_eq(galgo_build(s, NULL, 0, &small, NULL, &g, &err), CTX_ENOMEM);
    ck_assert_str_eq(ctx_sqlstate(err.code), "53200");
    arena_destroy(&small);
    arena_destroy(&arena);
    store_destroy(s);
}
END_TEST

/* 1→2 (0), 2→4 (2), 1→3 (1), 3→4 (1), 1→4 (2, kind b), 4→5 (0), 5→4 (0), 2→3 (1). */
static store_t *weighted_graph(void) {
    store_t *s = new_store();
    add_nodes(s, 1, 6);
    add_edge(s, 1, 2, "a", 0);
    add_edge(s, 2, 4, "a", 2);
    add_edge(s, 1, 3, "a", 1);
    add_edge(s, 3, 4, "a", 1);
    add_edge(s, 1, 4, "b", 2);
    add_edge(s, 1, 4, "a", 5);
    add_edge(s, 4, 5, "a", 0);
    add_edge(s, 5, 4, "a", 0);
    add_edge(s, 2, 3, "a", 1);
    return s;
}

START_TEST(test_weighted_paths) {
    store_t *s = weighted_graph();
    arena_t arena;
    arena_init(&arena);
    galgo_t g;
    ctx_err_t err;
    ctx_err_clear(&err);
    char buf[512];
    galgo_path_t *p;
    uint64_t n;
    build(s, NULL, &arena, &g);
    galgo_paths_query_t q = {
        .start = 0, .target = 4, .dir = STORE_DIR_OUT, .weighted = true, .max_paths = UINT64_MAX};
    /* cost 2 four ways; zero-weight 4↔5 cycle never repeats a node */
    ck_assert_int_eq(galgo_shortest_paths(&g, &q, &p, &n, &err), CTX_OK);
    ck_assert_str_eq(fmt_paths(&g, p, n, buf, sizeof buf),
                     "2:1,2,3,4,5 | 2:1,2,4,5 | 2:1,3,4,5 | 2:1,4,5");
    q.max_paths = 1;
    ck_assert_int_eq(galgo_shortest_paths(&g, &q, &p, &n, &err), CTX_OK);
    ck_assert_str_eq(fmt_paths(&g, p, n, buf, sizeof buf), "2:1,2,3,4,5");
    q.max_paths = 6;
    ck_assert_int_eq(galgo_k_shortest_paths(&g, &q, &p, &n, &err), CTX_OK);
    ck_assert_str_eq(fmt_paths(&g, p, n, buf, sizeof buf),
                     "2:1,2,3,4,5 | 2:1,2,4,5 | 2:1,3,4,5 | 2:1,4,5");
    q.weighted = false;
    q.max_paths = 3;
    ck_assert_int_eq(galgo_k_shortest_paths(&g, &q, &p, &n, &err), CTX_OK);
    ck_assert_str_eq(fmt_paths(&g, p, n, buf, sizeof buf), "2:1,4,5 | 3:1,2,4,5 | 3:1,3,4,5");
    q.target = 5; /* node 6: unreachable */
    ck_assert_int_eq(galgo_shortest_paths(&g, &q, &p, &n, &err), CTX_OK);
    ck_assert_int_eq(n, 0);
    add_edge(s, 3, 6, "c", -1);
    build(s, NULL, &arena, &g);
    q.weighted = true;
    ck_assert_int_eq(galgo_shortest_paths(&g, &q, &p, &n, &err), CTX_EBAD_PARAM);
    ck_assert_str_eq(ctx_sqlstate(err.code), "22023");
    ctx_err_clear(&err);
    build(s, "a", &arena, &g); /* the negative edge is outside the subgraph */
    ck_assert_int_eq(galgo_shortest_paths(&g, &q, &p, &n, &err), CTX_OK);
    arena_destroy(&arena);
    store_destroy(s);
}
END_TEST

int main(void) {
    Suite *suite = suite_create("graph_algo");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_components);
    tcase_add_test(tc, test_scc_long_cycle);
    tcase_add_test(tc, test_weighted_paths);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? 0 : 1;
}
