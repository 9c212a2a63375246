/*
 * test_command.c — unit tests of engine/store/command.h: every op and its errors, cascade delete,
 * atomic batches, undo rollback, replica determinism, row versions and write-write conflict
 * checks (CMD_FLAG_EXPECT_VERSION), and the binary encoding (round trip, truncation, format 1,
 * random bytes), and out of memory at every allocation inside an apply. Randomized tests print
 * their seed; set CTX_TEST_SEED to replay one.
 */
#include "command.h"
#include "store.h"

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { DIMS = 4 };

static uint64_t test_seed(void) {
    const char *env = getenv("CTX_TEST_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
    printf("test_command: seed %" PRIu64 " (CTX_TEST_SEED to replay)\n", seed);
    return seed;
}

static uint64_t rnd(uint64_t *state) {
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static store_t *new_store(void) {
    store_config_t config = {.vector_dims = DIMS};
    return store_create(&config);
}

/* Full observable state as text: every scan, every adjacency list, kinds, counts and versions. */
static char *dump(const store_t *s) {
    buf_t b;
    buf_init(&b);
    store_cursor_t c = {0};
    node_view_t n;
    while (store_node_next(s, &c, &n)) {
        buf_printf(&b, "n %" PRId64 " %.*s %.*s @%" PRIu64 "\n", n.id, (int)n.label_len, n.label,
                   n.props ? (int)n.props_len : 4, n.props ? n.props : "NULL",
                   store_node_version(s, n.id));
        for (int dir = STORE_DIR_OUT; dir <= STORE_DIR_BOTH; dir++) {
            store_adj_iter_t it;
            edge_view_t e;
            int64_t nb;
            store_adj_begin(s, n.id, (store_dir_t)dir, STORE_KIND_ANY, &it);
            buf_printf(&b, "  adj%d:", dir);
            while (store_adj_next(&it, &e, &nb)) {
                buf_printf(&b, " %" PRId64 "/%s/%g", nb, e.kind_name, e.weight);
            }
            buf_printf(&b, "\n");
        }
    }
    store_cursor_t ec = {0};
    edge_view_t e;
    while (store_edge_next(s, &ec, &e)) {
        buf_printf(&b, "e %" PRId64 " %" PRId64 " %d %s %g @%" PRIu64 "\n", e.source, e.target,
                   e.kind, e.kind_name, e.weight,
                   store_edge_version(s, e.source, e.target, e.kind));
    }
    store_cursor_t vc = {0};
    int64_t vid;
    const float *v;
    while (store_vector_next(s, &vc, &vid, &v)) {
        buf_printf(&b, "v %" PRId64 " [%g,%g,%g,%g] @%" PRIu64 "\n", vid, v[0], v[1], v[2], v[3],
                   store_vector_version(s, vid));
    }
    for (uint32_t k = 0; k < store_kind_count(s); k++) {
        buf_printf(&b, "k %u %s\n", k, store_kind_name(s, (int32_t)k));
    }
    buf_printf(&b, "counts %" PRIu64 " %" PRIu64 " %" PRIu64 " seq %" PRIu64 "\n",
               store_node_count(s), store_edge_count(s), store_vector_count(s), store_write_seq(s));
    buf_append_u8(&b, 0);
    char *text = ctx_strdup((const char *)buf_peek(&b));
    buf_free(&b);
    return text;
}

/* ---- op builders ---- */

static cmd_op_t op_node(uint8_t kind, int64_t id, const char *label, const char *props) {
    cmd_op_t op = {.kind = kind,
                   .id = id,
                   .label = label,
                   .label_len = label ? (uint32_t)strlen(label) : 0,
                   .props = props,
                   .props_len = props ? (uint32_t)strlen(props) : 0};
    return op;
}

static cmd_op_t op_edge(uint8_t kind, int64_t source, int64_t target, const char *kind_name,
                        double weight) {
    cmd_op_t op = {.kind = kind,
                   .id = source,
                   .target = target,
                   .kind_name = kind_name,
                   .kind_len = (uint32_t)strlen(kind_name),
                   .weight = weight};
    return op;
}

static cmd_op_t op_vec(uint8_t kind, int64_t id, const float *v, uint32_t dim) {
    cmd_op_t op = {.kind = kind, .id = id, .vector = v, .vector_dim = dim};
    return op;
}

/* Applies a one-op batch; returns the code, fills err and *affected. */
static int apply1(store_t *s, cmd_op_t op, store_undo_t *undo, ctx_err_t *err, uint64_t *affected) {
    arena_t arena;
    arena_init(&arena);
    cmd_batch_t batch;
    cmd_batch_init(&batch, &arena);
    ck_assert_int_eq(cmd_batch_add(&batch, &op, NULL), CTX_OK);
    cmd_result_t result = {0};
    ctx_err_clear(err);
    int rc = store_apply(s, &batch, undo, &arena, &result, err);
    if (affected) {
        *affected = result.affected;
    }
    arena_destroy(&arena);
    return rc;
}

static void ok1(store_t *s, cmd_op_t op, store_undo_t *undo) {
    ctx_err_t err;
    int rc = apply1(s, op, undo, &err, NULL);
    ck_assert_msg(rc == 0, "apply failed: %s", err.message);
}

/* A small graph: nodes 1..4, edges 1→2 owns, 2→3 links, 3→1 owns, 1→1 related, vector on 1. */
static void build_small(store_t *s, store_undo_t *undo) {
    static const float v1[DIMS] = {1, 2, 3, 4};
    ok1(s, op_node(CMD_NODE_INSERT, 1, "User", "{\"a\": 1}"), undo);
    ok1(s, op_node(CMD_NODE_INSERT, 2, "Doc", NULL), undo);
    ok1(s, op_node(CMD_NODE_INSERT, 3, "Doc", NULL), undo);
    ok1(s, op_node(CMD_NODE_INSERT, 4, "Tag", NULL), undo);
    ok1(s, op_edge(CMD_EDGE_INSERT, 1, 2, "owns", 1.0), undo);
    ok1(s, op_edge(CMD_EDGE_INSERT, 2, 3, "links", 2.0), undo);
    ok1(s, op_edge(CMD_EDGE_INSERT, 3, 1, "owns", 3.0), undo);
    ok1(s, op_edge(CMD_EDGE_INSERT, 1, 1, "related", 0.5), undo);
    ok1(s, op_vec(CMD_VECTOR_INSERT, 1, v1, DIMS), undo);
}

START_TEST(test_node_ops_and_errors) {
    store_t *s = new_store();
    ctx_err_t err;
    uint64_t affected = 0;
    ck_assert_int_eq(apply1(s, op_node(CMD_NODE_INSERT, 5, "User", NULL), NULL, &err, &affected),
                     0);
    ck_assert_uint_eq(affected, 1);
    ck_assert_int_eq(apply1(s, op_node(CMD_NODE_INSERT, 5, "X", NULL), NULL, &err, NULL),
                     CTX_EUNIQUE);
    ck_assert_str_eq(ctx_sqlstate(err.code), "23505");
    ck_assert_str_eq(err.message, "duplicate key value violates unique constraint \"nodes_pkey\"");
    ck_assert_str_eq(err.detail, "Key (id)=(5) already exists.");
    cmd_op_t skip = op_node(CMD_NODE_INSERT, 5, "X", NULL);
    skip.flags = CMD_FLAG_IF_ABSENT;
    ck_assert_int_eq(apply1(s, skip, NULL, &err, &affected), 0);
    ck_assert_uint_eq(affected, 0);

    char label[80];
    memset(label, 'a', sizeof(label));
    label[64] = '\0';
    ck_assert_int_eq(apply1(s, op_node(CMD_NODE_INSERT, 6, label, NULL), NULL, &err, NULL),
                     CTX_ETOO_LONG);
    ck_assert_str_eq(ctx_sqlstate(err.code), "22001");
    ck_assert_str_eq(err.message, "value too long for type character varying(63)");
    label[63] = '\0';
    ok1(s, op_node(CMD_NODE_INSERT, 6, label, NULL), NULL);

    ok1(s, op_node(CMD_NODE_UPSERT, 5, "Admin", "{\"x\": 1}"), NULL);
    node_view_t n;
    ck_assert(store_node_get(s, 5, &n));
    ck_assert_int_eq(n.label_len, 5);
    ck_assert(memcmp(n.label, "Admin", 5) == 0);
    ck_assert_str_eq(n.props, "{\"x\": 1}");

    cmd_op_t upd = op_node(CMD_NODE_UPDATE, 5, NULL, NULL);
    upd.flags = CMD_FLAG_SET_PROPS; /* props := NULL, label kept */
    ok1(s, upd, NULL);
    ck_assert(store_node_get(s, 5, &n));
    ck_assert_ptr_null(n.props);
    ck_assert(memcmp(n.label, "Admin", 5) == 0);
    upd = op_node(CMD_NODE_UPDATE, 5, "Guest", "{}");
    upd.flags = CMD_FLAG_SET_LABEL;
    ok1(s, upd, NULL);
    ck_assert(store_node_get(s, 5, &n));
    ck_assert(n.label_len == 5 && memcmp(n.label, "Guest", 5) == 0);
    ck_assert_ptr_null(n.props);
    upd.id = 77;
    ck_assert_int_eq(apply1(s, upd, NULL, &err, &affected), 0);
    ck_assert_uint_eq(affected, 0);

    ck_assert_int_eq(apply1(s, op_node(CMD_NODE_DELETE, 77, NULL, NULL), NULL, &err, &affected), 0);
    ck_assert_uint_eq(affected, 0);
    ck_assert_int_eq(apply1(s, op_node(CMD_NODE_DELETE, 5, NULL, NULL), NULL, &err, &affected), 0);
    ck_assert_uint_eq(affected, 1);
    ck_assert(!store_node_exists(s, 5));
    ck_assert_uint_eq(store_node_count(s), 1);
    store_destroy(s);
}
END_TEST

START_TEST(test_edge_ops_and_errors) {
    store_t *s = new_store();
    ctx_err_t err;
    uint64_t affected = 0;
    ok1(s, op_node(CMD_NODE_INSERT, 1, "A", NULL), NULL);
    ok1(s, op_node(CMD_NODE_INSERT, 2, "B", NULL), NULL);
    ck_assert_int_eq(apply1(s, op_edge(CMD_EDGE_INSERT, 9, 2, "owns", 1), NULL, &err, NULL),
                     CTX_EFOREIGN_KEY);
    ck_assert_str_eq(ctx_sqlstate(err.code), "23503");
    ck_assert_str_eq(err.message, "insert or update on table \"edges\" violates foreign key "
                                  "constraint \"edges_src_fkey\"");
    ck_assert_str_eq(err.detail, "Key (src)=(9) is not present in table \"nodes\".");
    ck_assert_int_eq(apply1(s, op_edge(CMD_EDGE_INSERT, 1, 8, "newkind", 1), NULL, &err, NULL),
                     CTX_EFOREIGN_KEY);
    ck_assert_str_eq(err.detail, "Key (dst)=(8) is not present in table \"nodes\".");
    ck_assert_int_eq(store_kind_lookup(s, "newkind", 7), -1); /* failed op created nothing */

    ok1(s, op_edge(CMD_EDGE_INSERT, 1, 2, "owns", 1.5), NULL);
    ck_assert_int_eq(apply1(s, op_edge(CMD_EDGE_INSERT, 1, 2, "owns", 1), NULL, &err, NULL),
                     CTX_EUNIQUE);
    ck_assert_str_eq(err.message, "duplicate key value violates unique constraint \"edges_pkey\"");
    ck_assert_str_eq(err.detail, "Key (src, dst, kind)=(1, 2, owns) already exists.");
    cmd_op_t skip = op_edge(CMD_EDGE_INSERT, 1, 2, "owns", 7);
    skip.flags = CMD_FLAG_IF_ABSENT;
    ck_assert_int_eq(apply1(s, skip, NULL, &err, &affected), 0);
    ck_assert_uint_eq(affected, 0);

    ck_assert_uint_eq(store_kind_count(s), 5);
    ok1(s, op_edge(CMD_EDGE_INSERT, 2, 1, "mentions", 2), NULL);
    ck_assert_int_eq(store_kind_lookup(s, "mentions", 8), 5);
    ck_assert_str_eq(store_kind_name(s, 5), "mentions");
    ok1(s, op_edge(CMD_EDGE_UPSERT, 1, 2, "owns", 4.25), NULL);
    edge_view_t e;
    ck_assert(store_edge_get(s, 1, 2, 0, &e));
    ck_assert(e.weight == 4.25);
    ck_assert_uint_eq(store_edge_count(s), 2);

    char kind[70];
    memset(kind, 'k', sizeof(kind));
    kind[64] = '\0';
    ck_assert_int_eq(apply1(s, op_edge(CMD_EDGE_INSERT, 1, 2, kind, 1), NULL, &err, NULL),
                     CTX_ETOO_LONG);

    ck_assert_int_eq(apply1(s, op_edge(CMD_EDGE_DELETE, 1, 2, "links", 0), NULL, &err, &affected),
                     0);
    ck_assert_uint_eq(affected, 0);
    ck_assert_int_eq(apply1(s, op_edge(CMD_EDGE_DELETE, 1, 2, "nokind", 0), NULL, &err, &affected),
                     0);
    ck_assert_uint_eq(affected, 0);
    ck_assert_int_eq(apply1(s, op_edge(CMD_EDGE_DELETE, 1, 2, "owns", 0), NULL, &err, &affected),
                     0);
    ck_assert_uint_eq(affected, 1);
    ck_assert(!store_edge_get(s, 1, 2, 0, &e));
    ck_assert_uint_eq(store_degree(s, 2, STORE_DIR_IN, STORE_KIND_ANY), 0);
    ck_assert_uint_eq(store_edge_count(s), 1);
    store_destroy(s);
}
END_TEST

START_TEST(test_vector_ops_and_errors) {
    store_t *s = new_store();
    ctx_err_t err;
    uint64_t affected = 0;
    const float a[DIMS] = {1, 0, 0, 0};
    const float b[DIMS] = {0, 1, 0, 0};
    ck_assert_int_eq(apply1(s, op_vec(CMD_VECTOR_INSERT, 3, a, 3), NULL, &err, NULL), CTX_EDATA);
    ck_assert_str_eq(ctx_sqlstate(err.code), "22000");
    ck_assert_str_eq(err.message, "expected 4 dimensions, not 3");
    ok1(s, op_vec(CMD_VECTOR_INSERT, 3, a, DIMS), NULL); /* no node needed */
    ck_assert_int_eq(apply1(s, op_vec(CMD_VECTOR_INSERT, 3, b, DIMS), NULL, &err, NULL),
                     CTX_EUNIQUE);
    ck_assert_str_eq(err.message,
                     "duplicate key value violates unique constraint \"vectors_pkey\"");
    ck_assert_str_eq(err.detail, "Key (id)=(3) already exists.");
    ok1(s, op_vec(CMD_VECTOR_UPSERT, 3, b, DIMS), NULL);
    ck_assert(store_vector_get(s, 3)[1] == 1.0f);
    ok1(s, op_vec(CMD_VECTOR_UPSERT, 4, a, DIMS), NULL);
    ck_assert_uint_eq(store_vector_count(s), 2);
    ck_assert_int_eq(apply1(s, op_vec(CMD_VECTOR_DELETE, 5, NULL, 0), NULL, &err, &affected), 0);
    ck_assert_uint_eq(affected, 0);
    ck_assert_int_eq(apply1(s, op_vec(CMD_VECTOR_DELETE, 3, NULL, 0), NULL, &err, &affected), 0);
    ck_assert_uint_eq(affected, 1);
    ck_assert_ptr_null(store_vector_get(s, 3));
    ck_assert_uint_eq(store_vector_count(s), 1);
    store_destroy(s);
}
END_TEST

START_TEST(test_cascade_delete_and_undo) {
    store_t *s = new_store();
    build_small(s, NULL);
    ok1(s, op_edge(CMD_EDGE_INSERT, 4, 1, "links", 9), NULL);
    char *before = dump(s);
    store_undo_t *undo = store_undo_create();
    ok1(s, op_node(CMD_NODE_DELETE, 1, NULL, NULL), undo);
    ck_assert(!store_node_exists(s, 1));
    ck_assert_ptr_null(store_vector_get(s, 1));
    ck_assert_uint_eq(store_edge_count(s), 1); /* only 2→3 is left */
    ck_assert_uint_eq(store_degree(s, 3, STORE_DIR_OUT, STORE_KIND_ANY), 0);
    ck_assert_uint_eq(store_degree(s, 4, STORE_DIR_BOTH, STORE_KIND_ANY), 0);
    ck_assert_uint_eq(store_degree(s, 2, STORE_DIR_IN, STORE_KIND_ANY), 0);
    ck_assert_uint_gt(store_undo_size(undo), 5);
    store_undo_rollback(s, undo);
    ck_assert_uint_eq(store_undo_size(undo), 0);
    char *after = dump(s);
    ck_assert_str_eq(before, after);
    free(after);
    /* Deleting again without undo, then re-inserting, reuses slot 0 first. */
    ok1(s, op_node(CMD_NODE_DELETE, 1, NULL, NULL), NULL);
    ok1(s, op_node(CMD_NODE_INSERT, 10, "New", NULL), NULL);
    store_cursor_t c = {0};
    node_view_t n;
    ck_assert(store_node_next(s, &c, &n));
    ck_assert_int_eq(n.id, 10);
    store_undo_destroy(undo);
    free(before);
    store_destroy(s);
}
END_TEST

START_TEST(test_atomic_batch) {
    store_t *s = new_store();
    build_small(s, NULL);
    char *before = dump(s);
    arena_t arena;
    arena_init(&arena);
    cmd_batch_t batch;
    cmd_batch_init(&batch, &arena);
    cmd_op_t ops[] = {
        op_node(CMD_NODE_INSERT, 7, "Fresh", "{\"k\": 2}"),
        op_edge(CMD_EDGE_INSERT, 7, 2, "brand_new", 1),
        op_node(CMD_NODE_DELETE, 2, NULL, NULL),
        op_node(CMD_NODE_INSERT, 3, "Dup", NULL), /* fails: 23505 */
        op_node(CMD_NODE_INSERT, 8, "Never", NULL),
    };
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        ck_assert_int_eq(cmd_batch_add(&batch, &ops[i], NULL), CTX_OK);
    }
    ctx_err_t err;
    ctx_err_clear(&err);
    cmd_result_t result;
    store_undo_t *undo = store_undo_create();
    ck_assert_int_eq(store_apply(s, &batch, undo, &arena, &result, &err), CTX_EUNIQUE);
    ck_assert_str_eq(err.detail, "Key (id)=(3) already exists.");
    ck_assert_uint_eq(store_undo_size(undo), 0);
    char *after = dump(s);
    ck_assert_str_eq(before, after);
    ck_assert_int_eq(store_kind_lookup(s, "brand_new", 9), -1);
    /* The failing op as the 3rd of a batch without a caller undo log. */
    batch.count = 0;
    ck_assert_int_eq(cmd_batch_add(&batch, &ops[0], NULL), CTX_OK);
    ck_assert_int_eq(cmd_batch_add(&batch, &ops[1], NULL), CTX_OK);
    cmd_op_t bad = op_vec(CMD_VECTOR_INSERT, 7, NULL, 2);
    ck_assert_int_eq(cmd_batch_add(&batch, &bad, NULL), CTX_OK);
    ctx_err_clear(&err);
    ck_assert_int_eq(store_apply(s, &batch, NULL, &arena, &result, &err), CTX_EDATA);
    free(after);
    after = dump(s);
    ck_assert_str_eq(before, after);
    /* And the same batch minus the bad op succeeds with per-op results. */
    batch.count = 2;
    ck_assert_int_eq(cmd_batch_add(&batch, &ops[2], NULL), CTX_OK);
    ck_assert_int_eq(cmd_batch_add(&batch, &ops[2], NULL), CTX_OK);
    ctx_err_clear(&err);
    ck_assert_int_eq(store_apply(s, &batch, NULL, &arena, &result, &err), 0);
    ck_assert_uint_eq(result.affected, 3);
    ck_assert(result.applied[0] && result.applied[1] && result.applied[2] && !result.applied[3]);
    free(before);
    free(after);
    store_undo_destroy(undo);
    arena_destroy(&arena);
    store_destroy(s);
}
END_TEST

/* Random batch of ops over a small id space, so conflicts, deletes and slot reuse happen. */
static void random_batch(uint64_t *state, cmd_batch_t *batch, uint32_t ops, float *floats) {
    static const char *labels[] = {"A", "B", "C", "Doc"};
    static const char *kinds[] = {"owns", "links", "k1", "k2", "k3"};
    static const char *props[] = {NULL, "{}", "{\"a\": 1}"};
    for (uint32_t i = 0; i < ops; i++) {
        uint64_t r = rnd(state);
        int64_t id = (int64_t)(r % 40);
        int64_t other = (int64_t)((r >> 8) % 40);
        cmd_op_t op;
        switch ((r >> 16) % 10) {
        case 0:
        case 1:
        case 2:
            op = op_node((r >> 24) % 2 ? CMD_NODE_UPSERT : CMD_NODE_INSERT, id,
                         labels[(r >> 28) % 4], props[(r >> 32) % 3]);
            op.flags = CMD_FLAG_IF_ABSENT;
            break;
        case 3:
            if ((r >> 40) % 3 != 0) {
                op = op_node(CMD_NODE_UPSERT, id, labels[(r >> 28) % 4], NULL);
                break;
            }
            op = op_node(CMD_NODE_DELETE, id, NULL, NULL);
            break;
        case 4:
        case 5:
        case 6:
            op = op_edge((r >> 24) % 2 ? CMD_EDGE_UPSERT : CMD_EDGE_INSERT, id, other,
                         kinds[(r >> 28) % 5], (double)((r >> 36) % 8));
            op.flags = CMD_FLAG_IF_ABSENT;
            break;
        case 7:
            op = op_edge(CMD_EDGE_DELETE, id, other, kinds[(r >> 28) % 5], 0);
            break;
        case 8:
            for (int d = 0; d < DIMS; d++) {
                floats[d] = (float)((r >> (d * 4)) % 16);
            }
            op = op_vec(CMD_VECTOR_UPSERT, id, floats, DIMS);
            break;
        default:
            op = op_vec(CMD_VECTOR_DELETE, id, NULL, 0);
            break;
        }
        ck_assert_int_eq(cmd_batch_add(batch, &op, NULL), CTX_OK);
    }
}

/* Inserts nodes 0..39 so random edge ops mostly find their endpoints. */
static void populate(store_t *s) {
    for (int64_t id = 0; id < 40; id++) {
        ok1(s, op_node(CMD_NODE_INSERT, id, id % 2 ? "Odd" : "Even", NULL), NULL);
    }
}

START_TEST(test_undo_rollback_many) {
    uint64_t state = test_seed();
    store_t *s = new_store();
    store_t *twin = new_store();
    populate(s);
    populate(twin);
    arena_t arena;
    arena_init(&arena);
    float floats[DIMS];
    ctx_err_t err;
    for (int round = 0; round < 20; round++) {
        /* Committed prefix: applied to both. */
        arena_reset(&arena);
        cmd_batch_t batch;
        cmd_batch_init(&batch, &arena);
        random_batch(&state, &batch, 30, floats);
        ctx_err_clear(&err);
        int rc1 = store_apply(s, &batch, NULL, &arena, NULL, &err);
        ctx_err_clear(&err);
        int rc2 = store_apply(twin, &batch, NULL, &arena, NULL, &err);
        ck_assert_int_eq(rc1, rc2);
        char *before = dump(s);
        /* Several applies recorded in one undo log, then rolled back. */
        store_undo_t *undo = store_undo_create();
        for (int k = 0; k < 5; k++) {
            arena_reset(&arena);
            cmd_batch_init(&batch, &arena);
            random_batch(&state, &batch, 20, floats);
            ctx_err_clear(&err);
            store_apply(s, &batch, undo, &arena, NULL, &err);
        }
        store_undo_rollback(s, undo);
        store_undo_destroy(undo);
        char *after = dump(s);
        ck_assert_str_eq(before, after);
        char *twin_text = dump(twin);
        ck_assert_str_eq(twin_text, after);
        free(before);
        free(after);
        free(twin_text);
    }
    arena_destroy(&arena);
    store_destroy(s);
    store_destroy(twin);
}
END_TEST

START_TEST(test_determinism_through_encoding) {
    uint64_t state = test_seed();
    store_t *leader = new_store();
    store_t *replica = new_store();
    populate(leader);
    populate(replica);
    arena_t arena;
    arena_init(&arena);
    float floats[DIMS];
    buf_t wire;
    buf_init(&wire);
    int failures = 0;
    for (int round = 0; round < 200; round++) {
        arena_reset(&arena);
        cmd_batch_t batch;
        cmd_batch_init(&batch, &arena);
        random_batch(&state, &batch, 1 + (uint32_t)(rnd(&state) % 12), floats);
        buf_reset(&wire);
        cmd_encode(&batch, &wire);
        cmd_batch_t decoded;
        ctx_err_t err;
        ctx_err_clear(&err);
        ck_assert_int_eq(cmd_decode(buf_peek(&wire), buf_size(&wire), &arena, &decoded, &err), 0);
        ctx_err_clear(&err);
        int rc1 = store_apply(leader, &batch, NULL, &arena, NULL, &err);
        ctx_err_t err2;
        ctx_err_clear(&err2);
        int rc2 = store_apply(replica, &decoded, NULL, &arena, NULL, &err2);
        ck_assert_int_eq(rc1, rc2);
        ck_assert_str_eq(err.message, err2.message);
        failures += rc1 != 0;
    }
    char *a = dump(leader);
    char *b = dump(replica);
    ck_assert_str_eq(a, b);
    ck_assert_uint_gt(store_node_count(leader), 0);
    printf("determinism: %d of 200 batches failed atomically, %" PRIu64 " nodes %" PRIu64
           " edges\n",
           failures, store_node_count(leader), store_edge_count(leader));
    free(a);
    free(b);
    buf_free(&wire);
    arena_destroy(&arena);
    store_destroy(leader);
    store_destroy(replica);
}
END_TEST

/* A batch with every op kind and every field shape. */
static void full_batch(cmd_batch_t *batch) {
    static const float v[DIMS] = {1.5f, -2.0f, 0.0f, 3.25f};
    cmd_op_t ops[] = {
        op_node(CMD_NODE_INSERT, 1, "User", "{\"name\": \"ann\"}"),
        op_node(CMD_NODE_UPSERT, -5, "", NULL),
        op_node(CMD_NODE_UPDATE, INT64_MAX, "L", "{}"),
        op_node(CMD_NODE_DELETE, INT64_MIN, NULL, NULL),
        op_edge(CMD_EDGE_INSERT, 1, 2, "owns", 0.5),
        op_edge(CMD_EDGE_UPSERT, 3, 4, "a kind", -1e300),
        op_edge(CMD_EDGE_DELETE, 5, 6, "links", 0),
        op_vec(CMD_VECTOR_INSERT, 7, v, DIMS),
        op_vec(CMD_VECTOR_UPSERT, 8, v, 2),
        op_vec(CMD_VECTOR_DELETE, 9, NULL, 0),
    };
    ops[0].flags = CMD_FLAG_IF_ABSENT;
    ops[2].flags = CMD_FLAG_SET_LABEL | CMD_FLAG_SET_PROPS | CMD_FLAG_EXPECT_VERSION;
    ops[2].expect_version = 0x0102030405060708ULL;
    ops[6].flags = CMD_FLAG_EXPECT_VERSION;
    ops[6].expect_version = STORE_VERSION_ABSENT;
    ops[9].flags = CMD_FLAG_EXPECT_VERSION;
    ops[9].expect_version = UINT64_MAX;
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        ck_assert_int_eq(cmd_batch_add(batch, &ops[i], NULL), CTX_OK);
    }
}

START_TEST(test_encode_round_trip_and_truncation) {
    arena_t arena;
    arena_init(&arena);
    cmd_batch_t batch;
    cmd_batch_init(&batch, &arena);
    full_batch(&batch);
    buf_t wire;
    buf_init(&wire);
    cmd_encode(&batch, &wire);
    ck_assert_uint_eq(buf_peek(&wire)[0], CMD_FORMAT_VERSION);
    cmd_batch_t out;
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_int_eq(cmd_decode(buf_peek(&wire), buf_size(&wire), &arena, &out, &err), 0);
    ck_assert_uint_eq(out.count, batch.count);
    for (uint32_t i = 0; i < out.count; i++) {
        const cmd_op_t *x = &batch.ops[i];
        const cmd_op_t *y = &out.ops[i];
        ck_assert_uint_eq(x->kind, y->kind);
        ck_assert_uint_eq(x->flags, y->flags);
        ck_assert_int_eq(x->id, y->id);
        ck_assert_uint_eq(x->expect_version, y->expect_version);
        ck_assert_uint_eq(x->label_len, y->label_len);
        ck_assert((x->props == NULL) == (y->props == NULL));
        if (x->props) {
            ck_assert(memcmp(x->props, y->props, x->props_len) == 0);
        }
        ck_assert_uint_eq(x->vector_dim, y->vector_dim);
        if (x->vector_dim) {
            ck_assert(memcmp(x->vector, y->vector, x->vector_dim * sizeof(float)) == 0);
        }
        if (x->kind == CMD_EDGE_INSERT || x->kind == CMD_EDGE_UPSERT) {
            ck_assert(x->weight == y->weight);
            ck_assert_int_eq(x->target, y->target);
            ck_assert(memcmp(x->kind_name, y->kind_name, x->kind_len) == 0);
        }
    }
    buf_t again;
    buf_init(&again);
    cmd_encode(&out, &again);
    ck_assert_uint_eq(buf_size(&again), buf_size(&wire));
    ck_assert(memcmp(buf_peek(&again), buf_peek(&wire), buf_size(&wire)) == 0);
    /* Every strict prefix is rejected, and so is one trailing byte. */
    for (size_t len = 0; len < buf_size(&wire); len++) {
        ctx_err_clear(&err);
        ck_assert_int_eq(cmd_decode(buf_peek(&wire), len, &arena, &out, &err), CTX_ECORRUPT);
        ck_assert_str_eq(ctx_sqlstate(err.code), "XX001");
    }
    buf_append_u8(&wire, 0);
    ck_assert_int_eq(cmd_decode(buf_peek(&wire), buf_size(&wire), &arena, &out, NULL),
                     CTX_ECORRUPT);
    /* Wrong version, unknown kind, unknown flag, huge count. */
    uint8_t *bytes = (uint8_t *)buf_peek(&wire);
    bytes[0] = CMD_FORMAT_VERSION + 1;
    ck_assert_int_eq(cmd_decode(bytes, buf_size(&wire) - 1, &arena, &out, NULL), CTX_ECORRUPT);
    bytes[0] = 0;
    ck_assert_int_eq(cmd_decode(bytes, buf_size(&wire) - 1, &arena, &out, NULL), CTX_ECORRUPT);
    bytes[0] = 1; /* format 1 has no CMD_FLAG_EXPECT_VERSION: op 2 makes it malformed */
    ck_assert_int_eq(cmd_decode(bytes, buf_size(&wire) - 1, &arena, &out, NULL), CTX_ECORRUPT);
    bytes[0] = CMD_FORMAT_VERSION;
    ck_assert_int_eq(cmd_decode(bytes, buf_size(&wire) - 1, &arena, &out, NULL), 0);
    bytes[5] = 11;
    ck_assert_int_eq(cmd_decode(bytes, buf_size(&wire) - 1, &arena, &out, NULL), CTX_ECORRUPT);
    bytes[5] = CMD_NODE_INSERT;
    bytes[6] = 0x80;
    ck_assert_int_eq(cmd_decode(bytes, buf_size(&wire) - 1, &arena, &out, NULL), CTX_ECORRUPT);
    const uint8_t huge[] = {1, 0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    ck_assert_int_eq(cmd_decode(huge, sizeof(huge), &arena, &out, NULL), CTX_ECORRUPT);
    buf_free(&wire);
    buf_free(&again);
    arena_destroy(&arena);
}
END_TEST

/* cmd_decode_pieces collects re-encodings of the pieces it is given, with a count per call. */
typedef struct pieces_seen {
    buf_t ops;      /* each piece re-encoded, headers stripped */
    uint32_t calls; /* pieces received */
    uint32_t total; /* ops received */
    uint32_t largest;
} pieces_seen_t;

static void pieces_collect(void *ctx, const cmd_batch_t *piece) {
    pieces_seen_t *seen = ctx;
    buf_t one;
    buf_init(&one);
    cmd_encode(piece, &one);
    buf_append(&seen->ops, buf_peek(&one) + 5, buf_size(&one) - 5); /* version + count */
    buf_free(&one);
    seen->calls++;
    seen->total += piece->count;
    seen->largest = piece->count > seen->largest ? piece->count : seen->largest;
}

/* Piece by piece, a batch decodes to the same ops in the same order as whole, each piece no
 * larger than asked; bytes that do not decode give no piece at all. */
START_TEST(test_decode_in_pieces) {
    arena_t arena, scratch;
    arena_init(&arena);
    arena_init(&scratch);
    cmd_batch_t batch;
    cmd_batch_init(&batch, &arena);
    full_batch(&batch);
    buf_t wire;
    buf_init(&wire);
    cmd_encode(&batch, &wire);
    for (uint32_t piece_ops = 1; piece_ops <= batch.count + 1; piece_ops++) {
        pieces_seen_t seen = {.calls = 0};
        buf_init(&seen.ops);
        ck_assert_int_eq(cmd_decode_pieces(buf_peek(&wire), buf_size(&wire), &scratch, piece_ops,
                                           pieces_collect, &seen, NULL),
                         CTX_OK);
        ck_assert_uint_eq(seen.total, batch.count);
        ck_assert_uint_le(seen.largest, piece_ops);
        ck_assert_uint_eq(seen.calls, (batch.count + piece_ops - 1) / piece_ops);
        ck_assert_uint_eq(buf_size(&seen.ops), buf_size(&wire) - 5);
        ck_assert(memcmp(buf_peek(&seen.ops), buf_peek(&wire) + 5, buf_size(&seen.ops)) == 0);
        ck_assert_uint_eq(arena_used_bytes(&scratch), 0); /* nothing kept after the last piece */
        buf_free(&seen.ops);
    }
    /* a batch or a piece past the arena's limit: 53200, not an overshoot or an abort */
    arena_set_limit(&scratch, ARENA_LIMIT_MIN_BYTES);
    cmd_batch_t big;
    cmd_batch_init(&big, &arena);
    cmd_op_t op = {.kind = CMD_NODE_INSERT, .label = "L", .label_len = 1};
    for (uint32_t i = 0; i < 4000; i++) {
        op.id = (int64_t)i + 1;
        ck_assert_int_eq(cmd_batch_add(&big, &op, NULL), CTX_OK);
    }
    buf_t big_wire;
    buf_init(&big_wire);
    cmd_encode(&big, &big_wire);
    cmd_batch_t whole;
    ck_assert_int_eq(cmd_decode(buf_peek(&big_wire), buf_size(&big_wire), &scratch, &whole, NULL),
                     CTX_ENOMEM);
    arena_reset(&scratch);
    pieces_seen_t few = {.calls = 0};
    buf_init(&few.ops);
    ck_assert_int_eq(cmd_decode_pieces(buf_peek(&big_wire), buf_size(&big_wire), &scratch, 4000,
                                       pieces_collect, &few, NULL),
                     CTX_ENOMEM);
    ck_assert_uint_eq(few.calls, 0);
    ck_assert_int_eq(cmd_decode_pieces(buf_peek(&big_wire), buf_size(&big_wire), &scratch, 100,
                                       pieces_collect, &few, NULL),
                     CTX_OK); /* small pieces fit where the whole does not */
    ck_assert_uint_eq(few.total, 4000);
    buf_free(&few.ops);
    buf_free(&big_wire);
    arena_set_limit(&scratch, 0);
    /* a truncated tail or a trailing byte: refused before any piece is handed out */
    for (size_t len = 0; len < buf_size(&wire); len++) {
        pieces_seen_t seen = {.calls = 0};
        buf_init(&seen.ops);
        ck_assert_int_eq(
            cmd_decode_pieces(buf_peek(&wire), len, &scratch, 1, pieces_collect, &seen, NULL),
            CTX_ECORRUPT);
        ck_assert_uint_eq(seen.calls, 0);
        buf_free(&seen.ops);
    }
    buf_free(&wire);
    arena_destroy(&scratch);
    arena_destroy(&arena);
}
END_TEST

START_TEST(test_decode_random_bytes) {
    uint64_t state = test_seed();
    arena_t arena;
    arena_init(&arena);
    cmd_batch_t batch;
    cmd_batch_init(&batch, &arena);
    full_batch(&batch);
    buf_t wire;
    buf_init(&wire);
    cmd_encode(&batch, &wire);
    size_t n = buf_size(&wire);
    uint8_t *bytes = ctx_malloc(n + 64);
    store_t *s = new_store();
    int accepted = 0;
    for (int round = 0; round < 20000; round++) {
        arena_reset(&arena);
        size_t len;
        if (round % 2 == 0) { /* pure noise, starting with the right version byte sometimes */
            len = rnd(&state) % (n + 64);
            for (size_t i = 0; i < len; i++) {
                bytes[i] = (uint8_t)rnd(&state);
            }
            if (len > 0 && round % 4 == 0) {
                bytes[0] = CMD_FORMAT_VERSION;
            }
        } else { /* the valid encoding with a few bytes flipped */
            len = n;
            memcpy(bytes, buf_peek(&wire), n);
            for (int k = 0; k < 3; k++) {
                bytes[rnd(&state) % n] = (uint8_t)rnd(&state);
            }
        }
        cmd_batch_t out;
        int rc = cmd_decode(bytes, len, &arena, &out, NULL);
        ck_assert(rc == 0 || rc == CTX_ECORRUPT);
        if (rc == 0) {
            accepted++;
            ctx_err_t err;
            ctx_err_clear(&err);
            store_apply(s, &out, NULL, &arena, NULL, &err); /* must not crash either way */
        }
    }
    printf("random bytes: %d of 20000 inputs decoded\n", accepted);
    free(bytes);
    buf_free(&wire);
    arena_destroy(&arena);
    store_destroy(s);
}
END_TEST

/* ---- row versions and write-write conflicts ---- */

static cmd_op_t expecting(cmd_op_t op, uint64_t version) {
    op.flags |= CMD_FLAG_EXPECT_VERSION;
    op.expect_version = version;
    return op;
}

START_TEST(test_row_versions) {
    store_t *s = new_store();
    ck_assert_uint_eq(store_write_seq(s), 1);
    ck_assert_uint_eq(store_node_version(s, 1), STORE_VERSION_ABSENT);
    build_small(s, NULL); /* nine inserts: versions 2..10 in order */
    ck_assert_uint_eq(store_write_seq(s), 10);
    ck_assert_uint_eq(store_node_version(s, 1), 2);
    ck_assert_uint_eq(store_node_version(s, 4), 5);
    ck_assert_uint_eq(store_edge_version(s, 1, 2, 0), 6);
    ck_assert_uint_eq(store_vector_version(s, 1), 10);
    ck_assert_uint_eq(store_edge_version(s, 2, 1, 0), STORE_VERSION_ABSENT);
    /* A change restamps only the changed row; an op that changes nothing stamps nothing. */
    ok1(s, op_edge(CMD_EDGE_UPSERT, 1, 2, "owns", 7.0), NULL);
    ck_assert_uint_eq(store_edge_version(s, 1, 2, 0), 11);
    ck_assert_uint_eq(store_node_version(s, 1), 2);
    ok1(s, op_node(CMD_NODE_UPDATE, 99, "X", NULL), NULL);
    ok1(s, op_edge(CMD_EDGE_DELETE, 4, 1, "owns", 0), NULL);
    ck_assert_uint_eq(store_write_seq(s), 11);
    /* Undo gives back versions and the counter exactly, through a cascade delete too. */
    char *before = dump(s);
    store_undo_t *undo = store_undo_create();
    static const float v2[DIMS] = {4, 3, 2, 1};
    ok1(s, op_vec(CMD_VECTOR_UPSERT, 1, v2, DIMS), undo);
    ok1(s, op_node(CMD_NODE_UPSERT, 3, "Doc2", "{}"), undo);
    ok1(s, op_node(CMD_NODE_DELETE, 1, NULL, NULL), undo);
    ok1(s, op_node(CMD_NODE_INSERT, 1, "Again", NULL), undo);
    ck_assert_uint_eq(store_node_version(s, 1), store_write_seq(s)); /* a new version, not 2 */
    ck_assert_uint_gt(store_node_version(s, 1), 11);
    store_undo_rollback(s, undo);
    char *after = dump(s);
    ck_assert_str_eq(before, after);
    ck_assert_uint_eq(store_node_version(s, 1), 2);
    free(before);
    free(after);
    store_undo_destroy(undo);
    store_destroy(s);
}
END_TEST

/* Session A computed op `a` from a row it read at read_version and applied it speculatively;
 * session B's statement swapped A out (rollback, as sql/session.c does) and committed `b`, also
 * computed from read_version. A's re-apply must fail with 40001 and change nothing: B's write
 * stays (first committer wins). */
static void check_lost_update(store_t *s, cmd_op_t a, cmd_op_t b, uint64_t read_version,
                              const char *detail) {
    store_undo_t *undo = store_undo_create();
    ok1(s, expecting(a, read_version), undo);
    store_undo_rollback(s, undo);
    ok1(s, expecting(b, read_version), NULL);
    char *after_b = dump(s);
    ctx_err_t err;
    ck_assert_int_eq(apply1(s, expecting(a, read_version), undo, &err, NULL), CTX_ESERIALIZATION);
    ck_assert_str_eq(ctx_sqlstate(err.code), "40001");
    ck_assert_str_eq(err.message, "could not serialize access due to concurrent update");
    ck_assert_str_eq(err.detail, detail);
    ck_assert_uint_eq(store_undo_size(undo), 0);
    char *now = dump(s);
    ck_assert_str_eq(after_b, now);
    free(after_b);
    free(now);
    store_undo_destroy(undo);
}

START_TEST(test_lost_updates_refused) {
    store_t *s = new_store();
    build_small(s, NULL);
    static const float va[DIMS] = {10, 0, 0, 0};
    static const float vb[DIMS] = {0, 1, 0, 0};
    check_lost_update(s, op_edge(CMD_EDGE_UPSERT, 1, 2, "owns", 11.0),
                      op_edge(CMD_EDGE_UPSERT, 1, 2, "owns", 2.0), store_edge_version(s, 1, 2, 0),
                      "Key (src, dst, kind)=(1, 2, owns) of \"edges\" was updated by a concurrent "
                      "transaction.");
    edge_view_t e;
    ck_assert(store_edge_get(s, 1, 2, 0, &e));
    ck_assert(e.weight == 2.0);
    cmd_op_t na = op_node(CMD_NODE_UPDATE, 2, NULL, "{\"n\": 10}");
    cmd_op_t nb = op_node(CMD_NODE_UPDATE, 2, NULL, "{\"n\": 1}");
    na.flags = nb.flags = CMD_FLAG_SET_PROPS;
    check_lost_update(s, na, nb, store_node_version(s, 2),
                      "Key (id)=(2) of \"nodes\" was updated by a concurrent transaction.");
    node_view_t n;
    ck_assert(store_node_get(s, 2, &n));
    ck_assert(n.props_len == 8 && memcmp(n.props, "{\"n\": 1}", 8) == 0);
    check_lost_update(s, op_vec(CMD_VECTOR_UPSERT, 1, va, DIMS),
                      op_vec(CMD_VECTOR_UPSERT, 1, vb, DIMS), store_vector_version(s, 1),
                      "Key (id)=(1) of \"vectors\" was updated by a concurrent transaction.");
    ck_assert(store_vector_get(s, 1)[1] == 1.0f);
    /* DELETE after a concurrent update, UPDATE after a concurrent delete. */
    check_lost_update(s, op_edge(CMD_EDGE_DELETE, 2, 3, "links", 0),
                      op_edge(CMD_EDGE_UPSERT, 2, 3, "links", 5.0), store_edge_version(s, 2, 3, 1),
                      "Key (src, dst, kind)=(2, 3, links) of \"edges\" was updated by a "
                      "concurrent transaction.");
    check_lost_update(s, op_node(CMD_NODE_UPDATE, 4, "Tag2", NULL),
                      op_node(CMD_NODE_DELETE, 4, NULL, NULL), store_node_version(s, 4),
                      "Key (id)=(4) of \"nodes\" was deleted by a concurrent transaction.");
    ck_assert(!store_node_exists(s, 4));
    check_lost_update(s, op_vec(CMD_VECTOR_DELETE, 1, NULL, 0),
                      op_vec(CMD_VECTOR_UPSERT, 1, va, DIMS), store_vector_version(s, 1),
                      "Key (id)=(1) of \"vectors\" was updated by a concurrent transaction.");
    /* An upsert (or DO NOTHING insert) that found no row, after a concurrent insert. */
    check_lost_update(s, op_node(CMD_NODE_UPSERT, 9, "Mine", NULL),
                      op_node(CMD_NODE_INSERT, 9, "Theirs", NULL), STORE_VERSION_ABSENT,
                      "Key (id)=(9) of \"nodes\" was inserted by a concurrent transaction.");
    cmd_op_t nothing = op_edge(CMD_EDGE_INSERT, 9, 1, "owns", 1.0);
    nothing.flags = CMD_FLAG_IF_ABSENT;
    check_lost_update(s, nothing, op_edge(CMD_EDGE_INSERT, 9, 1, "owns", 3.0), STORE_VERSION_ABSENT,
                      "Key (src, dst, kind)=(9, 1, owns) of \"edges\" was inserted by a "
                      "concurrent transaction.");
    store_destroy(s);
}
END_TEST

/* Re-applies a pending batch as session.c does after a swap-out: one apply, same undo log. */
static int reapply(store_t *s, const cmd_batch_t *pending, store_undo_t *undo, ctx_err_t *err) {
    arena_t arena;
    arena_init(&arena);
    ctx_err_clear(err);
    int rc = store_apply(s, pending, undo, &arena, NULL, err);
    arena_destroy(&arena);
    return rc;
}

START_TEST(test_no_spurious_conflicts) {
    store_t *s = new_store();
    build_small(s, NULL);
    arena_t arena;
    arena_init(&arena);
    ctx_err_t err;
    /* Autocommit: read then apply at once, 100 times: never refused, nothing lost. */
    for (int i = 0; i < 100; i++) {
        edge_view_t e;
        ck_assert(store_edge_get(s, 1, 2, 0, &e));
        cmd_op_t op = op_edge(CMD_EDGE_UPSERT, 1, 2, "owns", e.weight + 1);
        ck_assert_int_eq(apply1(s, expecting(op, store_edge_version(s, 1, 2, 0)), NULL, &err, NULL),
                         0);
    }
    edge_view_t e;
    ck_assert(store_edge_get(s, 1, 2, 0, &e));
    ck_assert(e.weight == 101.0);
    /* A block writing one row twice and inserting then updating another: each later op names the
     * block's own version, which a re-apply has renumbered; it must still apply, also after an
     * unrelated concurrent commit. */
    store_undo_t *undo = store_undo_create();
    cmd_batch_t pending;
    cmd_batch_init(&pending, &arena);
    cmd_op_t ops[4] = {
        expecting(op_edge(CMD_EDGE_UPSERT, 1, 2, "owns", 111.0), store_edge_version(s, 1, 2, 0)),
        op_node(CMD_NODE_INSERT, 20, "New", NULL),
    };
    for (int i = 0; i < 2; i++) {
        ok1(s, ops[i], undo);
        ck_assert_int_eq(cmd_batch_add(&pending, &ops[i], NULL), CTX_OK);
    }
    ops[2] =
        expecting(op_edge(CMD_EDGE_UPSERT, 1, 2, "owns", 121.0), store_edge_version(s, 1, 2, 0));
    ops[3] = expecting(op_node(CMD_NODE_UPSERT, 20, "Newer", NULL), store_node_version(s, 20));
    for (int i = 2; i < 4; i++) {
        ok1(s, ops[i], undo);
        ck_assert_int_eq(cmd_batch_add(&pending, &ops[i], NULL), CTX_OK);
    }
    char *speculative = dump(s);
    for (int round = 0; round < 2; round++) {
        store_undo_rollback(s, undo); /* swapped out */
        if (round == 1) {
            ok1(s, op_edge(CMD_EDGE_UPSERT, 2, 3, "links", 9.0), NULL); /* unrelated commit */
        }
        ck_assert_int_eq(reapply(s, &pending, undo, &err), 0);
        if (round == 0) { /* nothing in between: the very same state, versions included */
            char *again = dump(s);
            ck_assert_str_eq(again, speculative);
            free(again);
        }
    }
    ck_assert(store_edge_get(s, 1, 2, 0, &e));
    ck_assert(e.weight == 121.0);
    node_view_t n;
    ck_assert(store_node_get(s, 20, &n));
    ck_assert(n.label_len == 5 && memcmp(n.label, "Newer", 5) == 0);
    free(speculative);
    store_undo_destroy(undo);
    arena_destroy(&arena);
    store_destroy(s);
}
END_TEST

START_TEST(test_logged_batches_skip_checks) {
    store_t *s = new_store();
    build_small(s, NULL);
    arena_t arena;
    arena_init(&arena);
    cmd_batch_t batch;
    cmd_batch_init(&batch, &arena);
    cmd_op_t op = expecting(op_edge(CMD_EDGE_UPSERT, 1, 2, "owns", 5.0), 12345);
    ck_assert_int_eq(cmd_batch_add(&batch, &op, NULL), CTX_OK);
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_int_eq(store_apply(s, &batch, NULL, &arena, NULL, &err), CTX_ESERIALIZATION);
    ctx_err_clear(&err);
    ck_assert_int_eq(store_apply_logged(s, &batch, &arena, &err), 0);
    edge_view_t e;
    ck_assert(store_edge_get(s, 1, 2, 0, &e));
    ck_assert(e.weight == 5.0);
    /* Other errors still stop a logged batch. */
    cmd_batch_init(&batch, &arena);
    op = op_node(CMD_NODE_INSERT, 1, "Dup", NULL);
    ck_assert_int_eq(cmd_batch_add(&batch, &op, NULL), CTX_OK);
    ctx_err_clear(&err);
    ck_assert_int_eq(store_apply_logged(s, &batch, &arena, &err), CTX_EUNIQUE);
    arena_destroy(&arena);
    store_destroy(s);
}
END_TEST

START_TEST(test_decode_format_1) {
    /* Format 1, as logs written before version checks hold it: one NODE_DELETE of id 7. */
    const uint8_t v1[] = {1, 0, 0, 0, 1, CMD_NODE_DELETE, 0, 0, 0, 0, 0, 0, 0, 0, 7};
    arena_t arena;
    arena_init(&arena);
    cmd_batch_t out;
    ck_assert_int_eq(cmd_decode(v1, sizeof(v1), &arena, &out, NULL), 0);
    ck_assert_uint_eq(out.count, 1);
    ck_assert_int_eq(out.ops[0].id, 7);
    ck_assert_uint_eq(out.ops[0].flags, 0);
    /* The same op with the format-2 flag is malformed in format 1 and well-formed in format 2. */
    const uint8_t v1_flag[] = {
        1, 0, 0, 0, 1, CMD_NODE_DELETE, CMD_FLAG_EXPECT_VERSION, 0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0,
        0, 0, 0, 0, 3};
    ck_assert_int_eq(cmd_decode(v1_flag, sizeof(v1_flag), &arena, &out, NULL), CTX_ECORRUPT);
    uint8_t v2[sizeof(v1_flag)];
    memcpy(v2, v1_flag, sizeof(v2));
    v2[0] = 2;
    ck_assert_int_eq(cmd_decode(v2, sizeof(v2), &arena, &out, NULL), 0);
    ck_assert_uint_eq(out.ops[0].expect_version, 3);
    arena_destroy(&arena);
}
END_TEST

/* A batch takes at most ops_max ops (CMD_BATCH_OPS_MAX in the server, lowered here so the limit
 * is reached cheaply): the op past it is refused with 54000 and leaves the batch as it was. */
START_TEST(test_batch_op_limit) {
    arena_t arena;
    arena_init(&arena);
    cmd_batch_t batch;
    cmd_batch_init(&batch, &arena);
    ck_assert_uint_eq(batch.ops_max, CMD_BATCH_OPS_MAX);
    batch.ops_max = 40;
    for (int64_t i = 0; i < 40; i++) {
        cmd_op_t op = op_node(CMD_NODE_INSERT, i + 1, "N", NULL);
        ck_assert_int_eq(cmd_batch_add(&batch, &op, NULL), CTX_OK);
    }
    ctx_err_t err;
    ctx_err_clear(&err);
    cmd_op_t op = op_node(CMD_NODE_INSERT, 41, "N", NULL);
    ck_assert_int_eq(cmd_batch_add(&batch, &op, &err), CTX_ELIMIT);
    ck_assert_str_eq(ctx_sqlstate(err.code), "54000");
    ck_assert_str_eq(err.message, "too many row changes in one transaction (max 40)");
    ck_assert_uint_eq(batch.count, 40);
    ck_assert_int_eq(batch.ops[39].id, 40);
    batch.count = 30;
    ck_assert_int_eq(cmd_batch_check_room(&batch, 10, NULL), CTX_OK);
    ck_assert_int_eq(cmd_batch_check_room(&batch, 11, NULL), CTX_ELIMIT);
    ck_assert_int_eq(cmd_batch_check_room(&batch, UINT32_MAX, NULL), CTX_ELIMIT);
    arena_destroy(&arena);
}
END_TEST

/* A batch that makes every table grow past its first capacity: 1,100 new nodes (node array,
 * slot bits, id map, a new label), a chain of edges over them with a new kind and a hub with
 * hundreds of edges (adjacency classes), 300 vectors, then deletes and updates (lists shrink,
 * saved vectors in the undo log). */
static void growth_batch(cmd_batch_t *batch, float *floats) {
    for (int64_t id = 100; id < 1200; id++) {
        cmd_op_t op = op_node(CMD_NODE_INSERT, id, "Grown", id % 3 ? NULL : "{\"g\": 1}");
        ck_assert_int_eq(cmd_batch_add(batch, &op, NULL), CTX_OK);
    }
    for (int64_t id = 100; id < 1199; id++) {
        cmd_op_t op = op_edge(CMD_EDGE_INSERT, id, id + 1, "grown_kind", 1.0);
        ck_assert_int_eq(cmd_batch_add(batch, &op, NULL), CTX_OK);
        if (id < 700) {
            op = op_edge(CMD_EDGE_INSERT, 5, id, "owns", (double)id);
            ck_assert_int_eq(cmd_batch_add(batch, &op, NULL), CTX_OK);
        }
    }
    for (int64_t id = 100; id < 400; id++) {
        for (int d = 0; d < DIMS; d++) {
            floats[(id - 100) * DIMS + d] = (float)(id + d);
        }
        cmd_op_t op = op_vec(CMD_VECTOR_INSERT, id, &floats[(id - 100) * DIMS], DIMS);
        ck_assert_int_eq(cmd_batch_add(batch, &op, NULL), CTX_OK);
    }
    for (int64_t id = 100; id < 650; id += 2) {
        cmd_op_t op = op_edge(CMD_EDGE_DELETE, 5, id, "owns", 0);
        ck_assert_int_eq(cmd_batch_add(batch, &op, NULL), CTX_OK);
    }
    cmd_op_t ops[] = {op_node(CMD_NODE_DELETE, 150, NULL, NULL),
                      op_node(CMD_NODE_UPSERT, 7, "Changed", "{\"c\": 2}"),
                      op_vec(CMD_VECTOR_UPSERT, 120, floats, DIMS),
                      op_vec(CMD_VECTOR_DELETE, 121, NULL, 0)};
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        ck_assert_int_eq(cmd_batch_add(batch, &ops[i], NULL), CTX_OK);
    }
}

/* Out of memory inside store_apply: the n-th allocation fails, for every n until the batch
 * fits. Each failure is 53200 and leaves the store exactly as before (also when the failed
 * apply shares an undo log with earlier applies, which are then rolled back whole); the batch
 * applied afterwards gives the state a store that never failed has. */
START_TEST(test_out_of_memory_leaves_store_unchanged) {
    store_t *s = new_store();
    store_t *twin = new_store();
    populate(s);
    populate(twin);
    arena_t arena;
    arena_init(&arena);
    static float floats[300 * DIMS];
    cmd_batch_t batch;
    cmd_batch_init(&batch, &arena);
    growth_batch(&batch, floats);
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_int_eq(store_apply(twin, &batch, NULL, &arena, NULL, &err), CTX_OK);
    char *expect = dump(twin);
    char *before = dump(s);
    int failures = 0;
    for (long n = 1;; n++) {
        store_undo_t *undo = n % 2 ? store_undo_create() : NULL;
        if (undo != NULL) { /* an earlier apply of the same transaction */
            ok1(s, op_edge(CMD_EDGE_INSERT, 1, 2, "links", 3.0), undo);
        }
        ctx_err_clear(&err);
        ctx_alloc_fail_at(n);
        int rc = store_apply(s, &batch, undo, &arena, NULL, &err);
        ctx_alloc_fail_at(0);
        if (rc == CTX_OK) {
            ck_assert_int_gt(failures, 10);
            if (undo != NULL) {
                store_undo_rollback(s, undo);
                store_undo_destroy(undo);
                ck_assert_int_eq(store_apply(s, &batch, NULL, &arena, NULL, &err), CTX_OK);
            }
            break;
        }
        failures++;
        ck_assert_int_eq(rc, CTX_ENOMEM);
        ck_assert_str_eq(ctx_sqlstate(err.code), "53200");
        ck_assert_str_eq(err.message, "out of memory");
        if (undo != NULL) {
            store_undo_rollback(s, undo);
            store_undo_destroy(undo);
        }
        char *now = dump(s);
        ck_assert_str_eq(now, before);
        free(now);
    }
    char *after = dump(s);
    ck_assert_str_eq(after, expect);
    free(after);
    free(before);
    free(expect);
    arena_destroy(&arena);
    store_destroy(s);
    store_destroy(twin);
}
END_TEST

int main(void) {
    Suite *suite = suite_create("command");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_node_ops_and_errors);
    tcase_add_test(tc, test_edge_ops_and_errors);
    tcase_add_test(tc, test_vector_ops_and_errors);
    tcase_add_test(tc, test_cascade_delete_and_undo);
    tcase_add_test(tc, test_atomic_batch);
    tcase_add_test(tc, test_undo_rollback_many);
    tcase_add_test(tc, test_determinism_through_encoding);
    tcase_add_test(tc, test_encode_round_trip_and_truncation);
    tcase_add_test(tc, test_decode_random_bytes);
    tcase_add_test(tc, test_row_versions);
    tcase_add_test(tc, test_lost_updates_refused);
    tcase_add_test(tc, test_no_spurious_conflicts);
    tcase_add_test(tc, test_logged_batches_skip_checks);
    tcase_add_test(tc, test_decode_format_1);
    tcase_add_test(tc, test_batch_op_limit);
    tcase_add_test(tc, test_out_of_memory_leaves_store_unchanged);
    tcase_add_test(tc, test_decode_in_pieces);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
