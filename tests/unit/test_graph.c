/*
 * test_graph.c — unit tests of engine/store/graph.h on small hand-made graphs (cycles, self-loops,
 * directions, kind filters, ties), limits (visits_max, cancel), out of memory in each traversal's
 * scratch, and a scale run: 100,000 nodes and
 * 1,000,000 edges applied in batches of 1,000, then a 3-hop BFS checked against a reference BFS.
 * CTX_TEST_SCALE (a fraction, default 1) shrinks the scale run; CTX_TEST_SEED replays it.
 */
#include "command.h"
#include "graph.h"

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

static void add_node(store_t *s, int64_t id) {
    cmd_op_t op = {.kind = CMD_NODE_INSERT, .id = id, .label = "N", .label_len = 1};
    apply_ops(s, &op, 1);
}

static void add_edge(store_t *s, int64_t source, int64_t target, const char *kind) {
    cmd_op_t op = {.kind = CMD_EDGE_INSERT,
                   .id = source,
                   .target = target,
                   .kind_name = kind,
                   .kind_len = (uint32_t)strlen(kind),
                   .weight = 1};
    apply_ops(s, &op, 1);
}

/* Formats visits as "id:depth:parent ..." for compact comparisons. */
static char *fmt_visits(const graph_visit_t *v, size_t n, char *out, size_t cap) {
    out[0] = '\0';
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        used += (size_t)snprintf(out + used, cap - used, "%s%" PRId64 ":%d:%" PRId64, i ? " " : "",
                                 v[i].id, v[i].depth, v[i].parent);
    }
    return out;
}

static char *fmt_path(const int64_t *p, size_t n, char *out, size_t cap) {
    out[0] = '\0';
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        used += (size_t)snprintf(out + used, cap - used, "%s%" PRId64, i ? " " : "", p[i]);
    }
    return out;
}

typedef int (*traverse_fn)(const store_t *, const graph_query_t *, arena_t *, graph_visit_t **,
                           size_t *, ctx_err_t *);

static const char *run(traverse_fn fn, const store_t *s, int64_t start, int depth, store_dir_t dir,
                       int32_t kind, char *out, size_t cap) {
    graph_query_t q = {.start = start, .depth_max = depth, .kind = kind, .dir = dir};
    arena_t arena;
    arena_init(&arena);
    graph_visit_t *v = NULL;
    size_t n = 0;
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_int_eq(fn(s, &q, &arena, &v, &n, &err), 0);
    fmt_visits(v, n, out, cap);
    arena_destroy(&arena);
    return out;
}

static const char *path(const store_t *s, int64_t start, int64_t target, int depth, store_dir_t dir,
                        int32_t kind, char *out, size_t cap) {
    graph_query_t q = {.start = start, .depth_max = depth, .kind = kind, .dir = dir};
    arena_t arena;
    arena_init(&arena);
    int64_t *p = NULL;
    size_t n = 0;
    ck_assert_int_eq(graph_shortest_path(s, &q, target, &arena, &p, &n, NULL), 0);
    fmt_path(p, n, out, cap);
    arena_destroy(&arena);
    return out;
}

/*   1 → 2 (owns), 2 → 3 (owns), 3 → 1 (owns: cycle), 1 → 1 (owns: self-loop),
 *   2 → 4 (links), 4 → 5 (owns), 6 isolated */
static store_t *cycle_graph(void) {
    store_t *s = new_store();
    for (int64_t id = 1; id <= 6; id++) {
        add_node(s, id);
    }
    add_edge(s, 1, 2, "owns");
    add_edge(s, 2, 3, "owns");
    add_edge(s, 3, 1, "owns");
    add_edge(s, 1, 1, "owns");
    add_edge(s, 2, 4, "links");
    add_edge(s, 4, 5, "owns");
    return s;
}

START_TEST(test_bfs_depths) {
    store_t *s = cycle_graph();
    char buf[512];
    ck_assert_str_eq(run(graph_bfs, s, 1, 1, STORE_DIR_OUT, STORE_KIND_ANY, buf, sizeof buf),
                     "2:1:1");
    ck_assert_str_eq(run(graph_bfs, s, 1, 2, STORE_DIR_OUT, STORE_KIND_ANY, buf, sizeof buf),
                     "2:1:1 3:2:2 4:2:2");
    ck_assert_str_eq(run(graph_bfs, s, 1, 10, STORE_DIR_OUT, STORE_KIND_ANY, buf, sizeof buf),
                     "2:1:1 3:2:2 4:2:2 5:3:4");
    ck_assert_str_eq(run(graph_bfs, s, 1, 0, STORE_DIR_OUT, STORE_KIND_ANY, buf, sizeof buf), "");
    ck_assert_str_eq(run(graph_bfs, s, 1, 10, STORE_DIR_OUT, 0, buf, sizeof buf), "2:1:1 3:2:2");
    ck_assert_str_eq(run(graph_bfs, s, 5, 2, STORE_DIR_IN, STORE_KIND_ANY, buf, sizeof buf),
                     "4:1:5 2:2:4");
    ck_assert_str_eq(run(graph_bfs, s, 1, 1, STORE_DIR_IN, STORE_KIND_ANY, buf, sizeof buf),
                     "3:1:1");
    /* BOTH: out-neighbours first (2), then in-neighbours (3). */
    ck_assert_str_eq(run(graph_bfs, s, 1, 1, STORE_DIR_BOTH, STORE_KIND_ANY, buf, sizeof buf),
                     "2:1:1 3:1:1");
    ck_assert_str_eq(run(graph_bfs, s, 5, 3, STORE_DIR_BOTH, STORE_KIND_ANY, buf, sizeof buf),
                     "4:1:5 2:2:4 3:3:2 1:3:2");
    ck_assert_str_eq(run(graph_bfs, s, 6, 3, STORE_DIR_BOTH, STORE_KIND_ANY, buf, sizeof buf), "");
    ck_assert_str_eq(run(graph_bfs, s, 99, 3, STORE_DIR_OUT, STORE_KIND_ANY, buf, sizeof buf), "");
    graph_query_t bad = {
        .start = 1, .depth_max = GRAPH_DEPTH_MAX + 1, .kind = -1, .dir = STORE_DIR_OUT};
    graph_visit_t *v;
    size_t n;
    arena_t arena;
    arena_init(&arena);
    ck_assert_int_eq(graph_bfs(s, &bad, &arena, &v, &n, NULL), CTX_EBAD_PARAM);
    arena_destroy(&arena);
    store_destroy(s);
}
END_TEST

START_TEST(test_dfs_preorder) {
    store_t *s = new_store();
    for (int64_t id = 1; id <= 6; id++) {
        add_node(s, id);
    }
    /* 1 → 3, 1 → 2, 2 → 4, 3 → 4, 4 → 5, 5 → 1 (cycle back), 4 → 4 */
    add_edge(s, 1, 3, "owns");
    add_edge(s, 1, 2, "owns");
    add_edge(s, 2, 4, "owns");
    add_edge(s, 3, 4, "owns");
    add_edge(s, 4, 5, "owns");
    add_edge(s, 5, 1, "owns");
    add_edge(s, 4, 4, "owns");
    char buf[512];
    ck_assert_str_eq(run(graph_dfs, s, 1, 10, STORE_DIR_OUT, STORE_KIND_ANY, buf, sizeof buf),
                     "2:1:1 4:2:2 5:3:4 3:1:1");
    ck_assert_str_eq(run(graph_dfs, s, 1, 2, STORE_DIR_OUT, STORE_KIND_ANY, buf, sizeof buf),
                     "2:1:1 4:2:2 3:1:1");
    ck_assert_str_eq(run(graph_dfs, s, 4, 2, STORE_DIR_IN, STORE_KIND_ANY, buf, sizeof buf),
                     "2:1:4 1:2:2 3:1:4");
    ck_assert_str_eq(run(graph_dfs, s, 1, 0, STORE_DIR_OUT, STORE_KIND_ANY, buf, sizeof buf), "");
    ck_assert_str_eq(run(graph_dfs, s, 42, 3, STORE_DIR_OUT, STORE_KIND_ANY, buf, sizeof buf), "");
    ck_assert_str_eq(run(graph_dfs, s, 1, 10, STORE_DIR_OUT, 1, buf, sizeof buf), "");
    store_destroy(s);
}
END_TEST

START_TEST(test_shortest_path_ties) {
    store_t *s = new_store();
    for (int64_t id = 1; id <= 12; id++) {
        add_node(s, id);
    }
    /* Two 3-hop routes 1-3-4-9 and 1-2-4-9 (pick 2), a 2-hop route 1-7-9? no: 7 → 9 is "links". */
    add_edge(s, 1, 3, "owns");
    add_edge(s, 1, 2, "owns");
    add_edge(s, 3, 4, "owns");
    add_edge(s, 2, 4, "owns");
    add_edge(s, 2, 6, "owns");
    add_edge(s, 6, 9, "owns");
    add_edge(s, 4, 9, "owns");
    add_edge(s, 1, 7, "owns");
    add_edge(s, 7, 9, "links");
    /* 10 → 11 → 12 → 1 : only backwards reachable from 1 */
    add_edge(s, 10, 11, "owns");
    add_edge(s, 11, 12, "owns");
    add_edge(s, 12, 1, "owns");
    char buf[256];
    ck_assert_str_eq(path(s, 1, 9, 10, STORE_DIR_OUT, STORE_KIND_ANY, buf, sizeof buf), "1 7 9");
    ck_assert_str_eq(path(s, 1, 9, 10, STORE_DIR_OUT, 0, buf, sizeof buf), "1 2 4 9");
    ck_assert_str_eq(path(s, 1, 9, 2, STORE_DIR_OUT, 0, buf, sizeof buf), "");
    ck_assert_str_eq(path(s, 1, 9, 3, STORE_DIR_OUT, 0, buf, sizeof buf), "1 2 4 9");
    ck_assert_str_eq(path(s, 9, 1, 10, STORE_DIR_IN, 0, buf, sizeof buf), "9 4 2 1");
    ck_assert_str_eq(path(s, 9, 1, 10, STORE_DIR_OUT, STORE_KIND_ANY, buf, sizeof buf), "");
    ck_assert_str_eq(path(s, 9, 11, 10, STORE_DIR_BOTH, 0, buf, sizeof buf), "9 4 2 1 12 11");
    ck_assert_str_eq(path(s, 10, 9, 10, STORE_DIR_OUT, STORE_KIND_ANY, buf, sizeof buf),
                     "10 11 12 1 7 9");
    ck_assert_str_eq(path(s, 5, 9, 10, STORE_DIR_BOTH, STORE_KIND_ANY, buf, sizeof buf), "");
    ck_assert_str_eq(path(s, 77, 9, 10, STORE_DIR_OUT, STORE_KIND_ANY, buf, sizeof buf), "");
    ck_assert_str_eq(path(s, 1, 77, 10, STORE_DIR_OUT, STORE_KIND_ANY, buf, sizeof buf), "");
    ck_assert_str_eq(path(s, 4, 4, 0, STORE_DIR_OUT, STORE_KIND_ANY, buf, sizeof buf), "4");
    ck_assert_str_eq(path(s, 1, 2, 0, STORE_DIR_OUT, STORE_KIND_ANY, buf, sizeof buf), "");
    store_destroy(s);
}
END_TEST

/* A grid-like lattice with many equal-length routes: the answer must be the lexicographically
 * smallest among all shortest paths, checked by brute force enumeration. */
static void all_shortest(const store_t *s, int64_t at, int64_t target, int hops_left, int64_t *cur,
                         int len, int64_t *best, int *best_len) {
    cur[len] = at;
    if (at == target) {
        bool better = *best_len == 0 || len + 1 < *best_len;
        if (!better && len + 1 == *best_len) {
            for (int i = 0; i <= len; i++) {
                if (cur[i] != best[i]) {
                    better = cur[i] < best[i];
                    break;
                }
            }
        }
        if (better) {
            memcpy(best, cur, (size_t)(len + 1) * sizeof(int64_t));
            *best_len = len + 1;
        }
        return;
    }
    if (hops_left == 0) {
        return;
    }
    store_adj_iter_t it;
    edge_view_t e;
    int64_t nb;
    store_adj_begin(s, at, STORE_DIR_OUT, STORE_KIND_ANY, &it);
    while (store_adj_next(&it, &e, &nb)) {
        all_shortest(s, nb, target, hops_left - 1, cur, len + 1, best, best_len);
    }
}

START_TEST(test_shortest_path_brute_force) {
    const char *env = getenv("CTX_TEST_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
    printf("test_graph: seed %" PRIu64 " (CTX_TEST_SEED to replay)\n", seed);
    uint64_t state = seed;
    for (int round = 0; round < 30; round++) {
        store_t *s = new_store();
        for (int64_t id = 0; id < 12; id++) {
            add_node(s, id);
        }
        for (int e = 0; e < 30; e++) {
            state = state * 6364136223846793005ULL + 1442695040888963407ULL;
            int64_t a = (int64_t)((state >> 33) % 12);
            int64_t b = (int64_t)((state >> 45) % 12);
            cmd_op_t op = {.kind = CMD_EDGE_INSERT,
                           .flags = CMD_FLAG_IF_ABSENT,
                           .id = a,
                           .target = b,
                           .kind_name = "owns",
                           .kind_len = 4,
                           .weight = 1};
            apply_ops(s, &op, 1);
        }
        for (int64_t t = 1; t < 12; t++) {
            int64_t cur[16], best[16];
            int best_len = 0;
            all_shortest(s, 0, t, 6, cur, 0, best, &best_len);
            char want[256], got[256];
            fmt_path(best, (size_t)best_len, want, sizeof want);
            ck_assert_str_eq(path(s, 0, t, 6, STORE_DIR_OUT, STORE_KIND_ANY, got, sizeof got),
                             want);
        }
        store_destroy(s);
    }
}
END_TEST

START_TEST(test_limits_and_cancel) {
    store_t *s = new_store();
    add_node(s, 0);
    arena_t arena;
    arena_init(&arena);
    cmd_batch_t batch;
    cmd_batch_init(&batch, &arena);
    for (int64_t id = 1; id <= 5000; id++) {
        cmd_op_t n = {.kind = CMD_NODE_INSERT, .id = id, .label = "L", .label_len = 1};
        cmd_op_t e = {.kind = CMD_EDGE_INSERT,
                      .id = 0,
                      .target = id,
                      .kind_name = "owns",
                      .kind_len = 4,
                      .weight = 1};
        ck_assert_int_eq(cmd_batch_add(&batch, &n, NULL), CTX_OK);
        ck_assert_int_eq(cmd_batch_add(&batch, &e, NULL), CTX_OK);
    }
    ck_assert_int_eq(store_apply(s, &batch, NULL, &arena, NULL, NULL), 0);
    graph_query_t q = {.start = 0,
                       .depth_max = 2,
                       .kind = STORE_KIND_ANY,
                       .dir = STORE_DIR_OUT,
                       .visits_max = 4999};
    graph_visit_t *v;
    size_t n;
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_int_eq(graph_bfs(s, &q, &arena, &v, &n, &err), CTX_ELIMIT);
    ck_assert_str_eq(ctx_sqlstate(err.code), "54000");
    ck_assert_int_eq(graph_dfs(s, &q, &arena, &v, &n, NULL), CTX_ELIMIT);
    q.visits_max = 5000;
    ck_assert_int_eq(graph_bfs(s, &q, &arena, &v, &n, NULL), 0);
    ck_assert_uint_eq(n, 5000);
    ck_assert_int_eq(v[0].id, 1);
    ck_assert_int_eq(v[4999].id, 5000);
    atomic_bool cancel = true;
    q.cancel = &cancel;
    ctx_err_clear(&err);
    ck_assert_int_eq(graph_bfs(s, &q, &arena, &v, &n, &err), CTX_ECANCELED);
    ck_assert_str_eq(ctx_sqlstate(err.code), "57014");
    ck_assert_int_eq(graph_dfs(s, &q, &arena, &v, &n, NULL), CTX_ECANCELED);
    int64_t *p;
    q.start = 5000; /* backward search from 1 reaches 5000 only after scanning 0's 5000 edges */
    q.dir = STORE_DIR_BOTH;
    ck_assert_int_eq(graph_shortest_path(s, &q, 1, &arena, &p, &n, NULL), CTX_ECANCELED);
    atomic_store(&cancel, false);
    ck_assert_int_eq(graph_shortest_path(s, &q, 1, &arena, &p, &n, NULL), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert(p[0] == 5000 && p[1] == 0 && p[2] == 1);
    arena_destroy(&arena);
    store_destroy(s);
}
END_TEST

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Reference BFS over a CSR built from the edges that were actually inserted. */
static uint32_t reference_bfs(uint32_t nodes, const uint32_t *offsets, const uint32_t *targets,
                              uint32_t start, int depth_max, int32_t *depth) {
    uint32_t *queue = ctx_malloc(nodes * sizeof(uint32_t));
    for (uint32_t i = 0; i < nodes; i++) {
        depth[i] = -1;
    }
    uint32_t head = 0, tail = 0, reached = 0;
    depth[start] = 0;
    queue[tail++] = start;
    while (head < tail) {
        uint32_t u = queue[head++];
        if (depth[u] >= depth_max) {
            continue;
        }
        for (uint32_t k = offsets[u]; k < offsets[u + 1]; k++) {
            if (depth[targets[k]] < 0) {
                depth[targets[k]] = depth[u] + 1;
                queue[tail++] = targets[k];
                reached++;
            }
        }
    }
    free(queue);
    return reached;
}

START_TEST(test_scale_bfs) {
    const char *scale_env = getenv("CTX_TEST_SCALE");
    double scale = scale_env ? atof(scale_env) : 1.0;
    const char *seed_env = getenv("CTX_TEST_SEED");
    uint64_t state = seed_env ? strtoull(seed_env, NULL, 10) : (uint64_t)time(NULL);
    printf("test_scale_bfs: seed %" PRIu64 ", scale %g\n", state, scale);
    uint32_t nodes = (uint32_t)(100000 * scale);
    uint32_t edges = (uint32_t)(1000000 * scale);
    ck_assert_uint_gt(nodes, 10);
    store_t *s = new_store();
    arena_t arena;
    arena_init(&arena);
    static const char *kinds[] = {"owns", "links", "related", "child_of", "similar_to"};
    double t0 = now_s();
    for (uint32_t base = 0; base < nodes; base += 1000) {
        arena_reset(&arena);
        cmd_batch_t batch;
        cmd_batch_init(&batch, &arena);
        for (uint32_t id = base; id < base + 1000 && id < nodes; id++) {
            cmd_op_t op = {.kind = CMD_NODE_INSERT, .id = id, .label = "User", .label_len = 4};
            ck_assert_int_eq(cmd_batch_add(&batch, &op, NULL), CTX_OK);
        }
        ck_assert_int_eq(store_apply(s, &batch, NULL, &arena, NULL, NULL), 0);
    }
    double t1 = now_s();
    uint32_t *src = ctx_malloc(edges * sizeof(uint32_t));
    uint32_t *dst = ctx_malloc(edges * sizeof(uint32_t));
    uint32_t inserted = 0;
    for (uint32_t base = 0; base < edges; base += 1000) {
        arena_reset(&arena);
        cmd_batch_t batch;
        cmd_batch_init(&batch, &arena);
        uint32_t first = base;
        for (uint32_t j = base; j < base + 1000 && j < edges; j++) {
            state = state * 6364136223846793005ULL + 1442695040888963407ULL;
            src[j] = (uint32_t)((state >> 20) % nodes);
            dst[j] = (uint32_t)((state >> 40) % nodes);
            const char *k = kinds[(state >> 10) % 5];
            cmd_op_t op = {.kind = CMD_EDGE_INSERT,
                           .flags = CMD_FLAG_IF_ABSENT,
                           .id = src[j],
                           .target = dst[j],
                           .kind_name = k,
                           .kind_len = (uint32_t)strlen(k),
                           .weight = 1};
            ck_assert_int_eq(cmd_batch_add(&batch, &op, NULL), CTX_OK);
        }
        cmd_result_t result;
        ck_assert_int_eq(store_apply(s, &batch, NULL, &arena, &result, NULL), 0);
        for (uint32_t i = 0; i < batch.count; i++) {
            if (!result.applied[i]) {
                src[first + i] = UINT32_MAX; /* duplicate (src, dst, kind): not inserted */
            }
        }
        inserted += (uint32_t)result.affected;
    }
    double t2 = now_s();
    ck_assert_uint_eq(store_edge_count(s), inserted);
    /* CSR of the inserted edges (duplicates by kind collapse in BFS anyway). */
    uint32_t *offsets = ctx_calloc((size_t)nodes + 1, sizeof(uint32_t));
    for (uint32_t j = 0; j < edges; j++) {
        if (src[j] != UINT32_MAX) {
            offsets[src[j] + 1]++;
        }
    }
    for (uint32_t i = 0; i < nodes; i++) {
        offsets[i + 1] += offsets[i];
    }
    uint32_t *fill = ctx_malloc((size_t)nodes * sizeof(uint32_t));
    memcpy(fill, offsets, (size_t)nodes * sizeof(uint32_t));
    uint32_t *targets = ctx_malloc((size_t)inserted * sizeof(uint32_t) + 4);
    for (uint32_t j = 0; j < edges; j++) {
        if (src[j] != UINT32_MAX) {
            targets[fill[src[j]]++] = dst[j];
        }
    }
    int32_t *depth = ctx_malloc((size_t)nodes * sizeof(int32_t));
    uint32_t start = 7 % nodes;
    uint32_t want = reference_bfs(nodes, offsets, targets, start, 3, depth);
    graph_query_t q = {
        .start = start, .depth_max = 3, .kind = STORE_KIND_ANY, .dir = STORE_DIR_OUT};
    graph_visit_t *v;
    size_t n;
    arena_reset(&arena);
    double t3 = now_s();
    ck_assert_int_eq(graph_bfs(s, &q, &arena, &v, &n, NULL), 0);
    double t4 = now_s();
    ck_assert_uint_eq(n, want);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(depth[v[i].id], v[i].depth);
        ck_assert(i == 0 || v[i - 1].depth <= v[i].depth);
    }
    printf("scale: %u nodes in %.3f s, %u edges (%u attempted) in %.3f s, 3-hop BFS from %u: "
           "%zu nodes in %.3f s\n",
           nodes, t1 - t0, inserted, edges, t2 - t1, start, n, t4 - t3);
    free(src);
    free(dst);
    free(offsets);
    free(fill);
    free(targets);
    free(depth);
    arena_destroy(&arena);
    store_destroy(s);
}
END_TEST

/* A traversal whose scratch cannot grow fails with 53200 and frees what it took: every
 * allocation of a BFS, DFS and shortest path over a 3,000-node tree fails in turn; then the same
 * traversal succeeds with the full answer. */
START_TEST(test_traversal_out_of_memory) {
    store_t *s = new_store();
    add_node(s, 0);
    arena_t arena;
    arena_init(&arena);
    cmd_batch_t batch;
    cmd_batch_init(&batch, &arena);
    for (int64_t id = 1; id <= 3000; id++) {
        cmd_op_t n = {.kind = CMD_NODE_INSERT, .id = id, .label = "L", .label_len = 1};
        cmd_op_t e = {.kind = CMD_EDGE_INSERT,
                      .id = (id - 1) / 8,
                      .target = id,
                      .kind_name = "owns",
                      .kind_len = 4,
                      .weight = 1};
        ck_assert_int_eq(cmd_batch_add(&batch, &n, NULL), CTX_OK);
        ck_assert_int_eq(cmd_batch_add(&batch, &e, NULL), CTX_OK);
    }
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_int_eq(store_apply(s, &batch, NULL, &arena, NULL, &err), CTX_OK);
    graph_query_t q = {.start = 0, .depth_max = 6, .kind = STORE_KIND_ANY, .dir = STORE_DIR_OUT};
    for (int which = 0; which < 3; which++) {
        int failures = 0;
        for (long n = 1;; n++) {
            arena_reset(&arena);
            ctx_err_clear(&err);
            graph_visit_t *visits = NULL;
            int64_t *path = NULL;
            size_t count = 0;
            ctx_alloc_fail_at(n);
            int rc = which == 0   ? graph_bfs(s, &q, &arena, &visits, &count, &err)
                     : which == 1 ? graph_dfs(s, &q, &arena, &visits, &count, &err)
                                  : graph_shortest_path(s, &q, 2999, &arena, &path, &count, &err);
            ctx_alloc_fail_at(0);
            if (rc == CTX_OK) {
                ck_assert_int_gt(failures, 0);
                ck_assert_uint_eq(count, which < 2 ? 3000 : 5); /* 0 → 374 → 46 → 5 → 0 ... */
                break;
            }
            failures++;
            ck_assert_int_eq(rc, CTX_ENOMEM);
            ck_assert_str_eq(ctx_sqlstate(err.code), "53200");
            ck_assert_uint_eq(count, 0);
        }
    }
    arena_destroy(&arena);
    store_destroy(s);
}
END_TEST

int main(void) {
    Suite *suite = suite_create("graph");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_bfs_depths);
    tcase_add_test(tc, test_dfs_preorder);
    tcase_add_test(tc, test_shortest_path_ties);
    tcase_add_test(tc, test_shortest_path_brute_force);
    tcase_add_test(tc, test_limits_and_cancel);
    tcase_add_test(tc, test_traversal_out_of_memory);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(suite, tc);
    TCase *scale = tcase_create("scale");
    tcase_add_test(scale, test_scale_bfs);
    tcase_set_timeout(scale, 300);
    suite_add_tcase(suite, scale);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
