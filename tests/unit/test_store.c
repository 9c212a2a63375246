/*
 * test_store.c — unit tests of engine/store/store.h: built-in kinds, scan orders and slot reuse,
 * edge scans, adjacency order across block size classes, degrees, vectors, and vec_distance (scalar
 * kernel against a long-double reference, the AVX2 kernel bit-identical to the scalar one).
 * Randomized tests print their seed; set CTX_TEST_SEED to replay.
 */
#include "command.h"
#include "store.h"
#include "store_int.h"

#include <check.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t seed_state;

static void init_seed(void) {
    const char *env = getenv("CTX_TEST_SEED");
    seed_state = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
    printf("test_store: seed %" PRIu64 " (CTX_TEST_SEED to replay)\n", seed_state);
}

static uint64_t rnd(void) {
    uint64_t z = (seed_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static store_t *new_store(uint32_t dims) {
    store_config_t config = {.vector_dims = dims};
    return store_create(&config);
}

static void apply1(store_t *s, cmd_op_t op) {
    arena_t arena;
    arena_init(&arena);
    cmd_batch_t batch;
    cmd_batch_init(&batch, &arena);
    ck_assert_int_eq(cmd_batch_add(&batch, &op, NULL), CTX_OK);
    ctx_err_t err;
    ctx_err_clear(&err);
    int rc = store_apply(s, &batch, NULL, &arena, NULL, &err);
    ck_assert_msg(rc == 0, "apply: %s", err.message);
    arena_destroy(&arena);
}

static void node(store_t *s, uint8_t kind, int64_t id) {
    cmd_op_t op = {.kind = kind, .id = id, .label = "L", .label_len = 1};
    apply1(s, op);
}

static void edge(store_t *s, uint8_t kind, int64_t source, int64_t target, const char *k) {
    cmd_op_t op = {.kind = kind,
                   .id = source,
                   .target = target,
                   .kind_name = k,
                   .kind_len = (uint32_t)strlen(k),
                   .weight = (double)target};
    apply1(s, op);
}

static void node_scan(const store_t *s, char *out, size_t cap) {
    store_cursor_t c = {0};
    node_view_t n;
    size_t used = 0;
    out[0] = '\0';
    while (store_node_next(s, &c, &n)) {
        used += (size_t)snprintf(out + used, cap - used, "%s%" PRId64, used ? " " : "", n.id);
    }
}

START_TEST(test_create_and_kinds) {
    store_t *s = new_store(16);
    ck_assert_uint_eq(store_vector_dims(s), 16);
    ck_assert_uint_eq(store_kind_count(s), 5);
    const char *names[] = {"owns", "links", "related", "child_of", "similar_to"};
    for (int32_t k = 0; k < 5; k++) {
        ck_assert_str_eq(store_kind_name(s, k), names[k]);
        ck_assert_int_eq(store_kind_lookup(s, names[k], (uint32_t)strlen(names[k])), k);
    }
    ck_assert_int_eq(store_kind_lookup(s, "own", 3), -1);
    ck_assert_uint_eq(store_node_count(s), 0);
    ck_assert_uint_eq(store_edge_count(s), 0);
    ck_assert_uint_eq(store_vector_count(s), 0);
    ck_assert(!store_node_exists(s, 0));
    store_cursor_t c = {0};
    node_view_t n;
    ck_assert(!store_node_next(s, &c, &n));
    store_destroy(s);
}
END_TEST

START_TEST(test_node_scan_and_slot_reuse) {
    store_t *s = new_store(2);
    char buf[256];
    for (int64_t id = 1; id <= 6; id++) {
        node(s, CMD_NODE_INSERT, id);
    }
    node(s, CMD_NODE_DELETE, 4);
    node(s, CMD_NODE_DELETE, 2);
    node(s, CMD_NODE_INSERT, 10); /* lowest free slot: 2's */
    node(s, CMD_NODE_INSERT, 11); /* then 4's */
    node(s, CMD_NODE_INSERT, 12); /* then a new slot */
    node_scan(s, buf, sizeof buf);
    ck_assert_str_eq(buf, "1 10 3 11 5 6 12");
    node(s, CMD_NODE_DELETE, 12);
    node(s, CMD_NODE_DELETE, 6);
    node(s, CMD_NODE_DELETE, 3);
    node(s, CMD_NODE_INSERT, 30);
    node(s, CMD_NODE_INSERT, 31);
    node(s, CMD_NODE_INSERT, 32);
    node_scan(s, buf, sizeof buf);
    ck_assert_str_eq(buf, "1 10 30 11 5 31 32");
    ck_assert_uint_eq(store_node_count(s), 7);
    node_view_t n;
    ck_assert(store_node_get(s, 31, &n));
    ck_assert_int_eq(n.id, 31);
    ck_assert_uint_eq(n.label_len, 1);
    ck_assert_ptr_null(n.props);
    ck_assert(!store_node_get(s, 3, &n));
    /* Negative and extreme ids hash like any other. */
    node(s, CMD_NODE_INSERT, INT64_MIN);
    node(s, CMD_NODE_INSERT, -1);
    ck_assert(store_node_exists(s, INT64_MIN));
    ck_assert(store_node_exists(s, -1));
    store_destroy(s);
}
END_TEST

START_TEST(test_edge_scan_order_and_degree) {
    store_t *s = new_store(2);
    node(s, CMD_NODE_INSERT, 5);
    node(s, CMD_NODE_INSERT, 1);
    node(s, CMD_NODE_INSERT, 3);
    edge(s, CMD_EDGE_INSERT, 1, 5, "links");
    edge(s, CMD_EDGE_INSERT, 1, 3, "zeta");
    edge(s, CMD_EDGE_INSERT, 1, 3, "owns");
    edge(s, CMD_EDGE_INSERT, 5, 1, "owns");
    edge(s, CMD_EDGE_INSERT, 1, 5, "owns");
    edge(s, CMD_EDGE_INSERT, 3, 3, "owns");
    /* Source slot order (5, 1, 3), then target id, then kind id. */
    const char *want[] = {"5 1 owns", "1 3 owns", "1 3 zeta", "1 5 owns", "1 5 links", "3 3 owns"};
    store_cursor_t c = {0};
    edge_view_t e;
    size_t i = 0;
    while (store_edge_next(s, &c, &e)) {
        char got[64];
        snprintf(got, sizeof got, "%" PRId64 " %" PRId64 " %s", e.source, e.target, e.kind_name);
        ck_assert_uint_lt(i, 6);
        ck_assert_str_eq(got, want[i]);
        ck_assert(e.weight == (double)e.target);
        i++;
    }
    ck_assert_uint_eq(i, 6);
    ck_assert_uint_eq(store_edge_count(s), 6);
    ck_assert_uint_eq(store_degree(s, 1, STORE_DIR_OUT, STORE_KIND_ANY), 4);
    ck_assert_uint_eq(store_degree(s, 1, STORE_DIR_OUT, 0), 2);
    ck_assert_uint_eq(store_degree(s, 1, STORE_DIR_IN, STORE_KIND_ANY), 1);
    ck_assert_uint_eq(store_degree(s, 3, STORE_DIR_BOTH, STORE_KIND_ANY), 4);
    ck_assert_uint_eq(store_degree(s, 99, STORE_DIR_BOTH, STORE_KIND_ANY), 0);
    /* BOTH on 3: out (3,owns) then in (1,owns), (1,zeta), (3,owns). */
    store_adj_iter_t it;
    int64_t nb;
    store_adj_begin(s, 3, STORE_DIR_BOTH, STORE_KIND_ANY, &it);
    const int64_t nbs[] = {3, 1, 1, 3};
    const int64_t sources[] = {3, 1, 1, 3};
    for (int k = 0; k < 4; k++) {
        ck_assert(store_adj_next(&it, &e, &nb));
        ck_assert_int_eq(nb, nbs[k]);
        ck_assert_int_eq(e.source, sources[k]);
        ck_assert_int_eq(e.target, 3);
    }
    ck_assert(!store_adj_next(&it, &e, &nb));
    store_adj_begin(s, 3, STORE_DIR_IN, 0, &it);
    ck_assert(store_adj_next(&it, &e, &nb) && nb == 1);
    ck_assert(store_adj_next(&it, &e, &nb) && nb == 3);
    ck_assert(!store_adj_next(&it, &e, &nb));
    store_adj_begin(s, 42, STORE_DIR_BOTH, STORE_KIND_ANY, &it);
    ck_assert(!store_adj_next(&it, &e, &nb));
    ck_assert(store_edge_get(s, 1, 3, store_kind_lookup(s, "zeta", 4), &e));
    ck_assert(!store_edge_get(s, 3, 1, 0, &e));
    store_destroy(s);
}
END_TEST

/* Checks node id's out list is exactly the ids with present[id] set, ascending. */
static void check_out_list(const store_t *s, int64_t id, const bool *present, int count) {
    store_adj_iter_t it;
    edge_view_t e;
    int64_t nb;
    int64_t prev = -1;
    int seen = 0;
    store_adj_begin(s, id, STORE_DIR_OUT, STORE_KIND_ANY, &it);
    while (store_adj_next(&it, &e, &nb)) {
        ck_assert_int_gt(nb, prev);
        ck_assert(present[nb]);
        prev = nb;
        seen++;
    }
    int want = 0;
    for (int i = 0; i < count; i++) {
        want += present[i];
    }
    ck_assert_int_eq(seen, want);
}

START_TEST(test_adjacency_size_classes) {
    init_seed();
    enum { N = 3000 };
    store_t *s = new_store(2);
    const int64_t hub = N; /* targets are 0..N-1, the hub is separate */
    static bool present[N];
    memset(present, 0, sizeof present);
    int64_t *order = ctx_malloc(N * sizeof(int64_t));
    for (int64_t i = 0; i < N; i++) {
        order[i] = i;
        node(s, CMD_NODE_INSERT, i);
    }
    node(s, CMD_NODE_INSERT, hub);
    for (int i = N - 1; i > 0; i--) {
        int j = (int)(rnd() % (uint64_t)(i + 1));
        int64_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (int i = 0; i < N; i++) {
        edge(s, CMD_EDGE_INSERT, hub, order[i], "owns");
        edge(s, CMD_EDGE_INSERT, order[i], hub, "links");
        present[order[i]] = true;
        if (i % 500 == 0) {
            check_out_list(s, hub, present, N);
        }
    }
    check_out_list(s, hub, present, N);
    ck_assert_uint_eq(store_degree(s, hub, STORE_DIR_IN, 1), N);
    for (int i = 0; i < N; i += 2) {
        edge(s, CMD_EDGE_DELETE, hub, order[i], "owns");
        present[order[i]] = false;
        if (i % 700 == 0) {
            check_out_list(s, hub, present, N);
        }
    }
    check_out_list(s, hub, present, N);
    ck_assert_uint_eq(store_edge_count(s), N + N / 2);
    node(s, CMD_NODE_DELETE, hub); /* cascades to every remaining edge */
    ck_assert_uint_eq(store_edge_count(s), 0);
    ck_assert_uint_eq(store_degree(s, 17, STORE_DIR_BOTH, STORE_KIND_ANY), 0);
    free(order);
    store_destroy(s);
}
END_TEST

START_TEST(test_vectors) {
    store_t *s = new_store(3);
    const float a[3] = {1, 2, 3};
    const float b[3] = {4, 5, 6};
    for (int64_t id = 1; id <= 4; id++) {
        cmd_op_t op = {
            .kind = CMD_VECTOR_INSERT, .id = id * 10, .vector = id % 2 ? a : b, .vector_dim = 3};
        apply1(s, op);
    }
    cmd_op_t del = {.kind = CMD_VECTOR_DELETE, .id = 20};
    apply1(s, del);
    cmd_op_t ins = {.kind = CMD_VECTOR_INSERT, .id = 99, .vector = b, .vector_dim = 3};
    apply1(s, ins);
    store_cursor_t c = {0};
    int64_t id;
    const float *v;
    const int64_t want[] = {10, 99, 30, 40};
    for (int k = 0; k < 4; k++) {
        ck_assert(store_vector_next(s, &c, &id, &v));
        ck_assert_int_eq(id, want[k]);
        ck_assert(v[0] == (id == 10 || id == 30 ? 1.0f : 4.0f));
    }
    ck_assert(!store_vector_next(s, &c, &id, &v));
    ck_assert(store_vector_get(s, 99)[2] == 6.0f);
    ck_assert_ptr_null(store_vector_get(s, 20));
    ck_assert_uint_eq(store_vector_count(s), 4);
    store_destroy(s);
}
END_TEST

/* Reference distance in long double, and the scale of its terms for a relative bound. */
static long double reference(metric_t m, const float *a, const float *b, uint32_t dim,
                             long double *scale) {
    long double dot = 0, na = 0, nb = 0, l2 = 0, mag = 0;
    for (uint32_t i = 0; i < dim; i++) {
        long double x = a[i], y = b[i];
        dot += x * y;
        mag += fabsl(x * y);
        na += x * x;
        nb += y * y;
        l2 += (x - y) * (x - y);
    }
    if (m == METRIC_L2) {
        *scale = sqrtl(l2);
        return sqrtl(l2);
    }
    if (m == METRIC_INNER) {
        *scale = mag;
        return -dot;
    }
    *scale = 1;
    return 1 - dot / sqrtl(na * nb);
}

START_TEST(test_vec_distance_kernels) {
    init_seed();
    bool simd = vec_distance_simd_available();
    printf("vec_distance: AVX2+FMA kernel %s\n", simd ? "available" : "not available");
    float *a = ctx_malloc(302 * sizeof(float));
    float *b = ctx_malloc(302 * sizeof(float));
    for (uint32_t dim = 1; dim <= 300; dim++) {
        for (uint32_t i = 0; i < dim + 1; i++) {
            a[i] = (float)((double)(rnd() % 2000001) / 1e6 - 1.0);
            b[i] = (float)((double)(rnd() % 2000001) / 1e6 - 1.0) * 3.0f;
        }
        for (metric_t m = METRIC_L2; m <= METRIC_INNER; m++) {
            long double scale;
            /* Offset by one float: unaligned loads. */
            long double want = reference(m, a + 1, b + 1, dim, &scale);
            double got = vec_distance_scalar(m, a + 1, b + 1, dim);
            ck_assert_msg(fabsl((long double)got - want) <= 1e-5L * (scale > 0 ? scale : 1),
                          "dim %u metric %d: %.17g vs %.17Lg", dim, m, got, want);
            ck_assert(vec_distance(m, a + 1, b + 1, dim) == got ||
                      (isnan(got) && isnan(vec_distance(m, a + 1, b + 1, dim))));
            if (simd) {
                double fast = vec_distance_simd(m, a + 1, b + 1, dim);
                ck_assert_msg(memcmp(&fast, &got, sizeof got) == 0,
                              "dim %u metric %d: simd %.17g scalar %.17g", dim, m, fast, got);
            }
        }
    }
    free(a);
    free(b);
}
END_TEST

START_TEST(test_vec_distance_values) {
    const float zero[3] = {0, 0, 0};
    const float x[3] = {3, 4, 0};
    const float y[3] = {0, 0, 2};
    const float x2[3] = {6, 8, 0};
    ck_assert(vec_distance(METRIC_L2, zero, x, 3) == 5.0);
    ck_assert(vec_distance(METRIC_COSINE, x, y, 3) == 1.0);
    ck_assert(fabs(vec_distance(METRIC_COSINE, x, x2, 3)) < 1e-12);
    ck_assert(vec_distance(METRIC_INNER, x, x2, 3) == -50.0);
    ck_assert(isnan(vec_distance(METRIC_COSINE, zero, x, 3)));
    ck_assert(isnan(vec_distance(METRIC_COSINE, x, zero, 3)));
    ck_assert(isnan(vec_distance_scalar(METRIC_COSINE, zero, zero, 3)));
    if (vec_distance_simd_available()) {
        float big0[16] = {0};
        float big1[16];
        for (int i = 0; i < 16; i++) {
            big1[i] = (float)i;
        }
        ck_assert(isnan(vec_distance_simd(METRIC_COSINE, big0, big1, 16)));
        ck_assert(vec_distance_simd(METRIC_L2, big0, big0, 16) == 0.0);
    }
}
END_TEST

int main(void) {
    Suite *suite = suite_create("store");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_create_and_kinds);
    tcase_add_test(tc, test_node_scan_and_slot_reuse);
    tcase_add_test(tc, test_edge_scan_order_and_degree);
    tcase_add_test(tc, test_adjacency_size_classes);
    tcase_add_test(tc, test_vectors);
    tcase_add_test(tc, test_vec_distance_kernels);
    tcase_add_test(tc, test_vec_distance_values);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
