/*
 * test_snapship.c — snapshot shipping (server/snapship.h) between in-process members: a leader
 * serving a snapshot written by snap_write and followers pulling it over an in-memory network
 * that can corrupt, drop and stall frames, with an injected clock.
 */
#include "command.h"
#include "snapship.h"

#include <check.h>
#include "testutil.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { NET_MAX = 100000, MEMBERS = 4, CHUNK = 4096 };

typedef struct net_frame {
    uint32_t from, to;
    uint8_t *bytes;
    size_t len;
} net_frame_t;

typedef struct member {
    uint32_t id;
    ship_t *ship;
    uint64_t next_id; /* reserve_id */
    int restarts;
    snap_meta_t installed;
} member_t;

static net_frame_t net[NET_MAX];
static size_t net_head, net_tail;
static member_t members[MEMBERS + 1];
static uint64_t clock_ms = 1000;
/* Frame filter: returns false to drop; may change the bytes. */
static bool (*filter)(net_frame_t *f);
static int data_seen;

static int net_send(void *ctx, uint32_t to, const void *bytes, size_t len) {
    member_t *m = ctx;
    ck_assert_uint_lt(net_tail, NET_MAX);
    net_frame_t *f = &net[net_tail++];
    f->from = m->id;
    f->to = to;
    f->bytes = malloc(len);
    memcpy(f->bytes, bytes, len);
    f->len = len;
    return CTX_OK;
}

static int reserve(void *ctx, uint64_t *id) {
    member_t *m = ctx;
    *id = m->next_id++;
    return CTX_OK;
}

static void restarted(void *ctx, const snap_meta_t *installed) {
    member_t *m = ctx;
    m->restarts++;
    if (installed != NULL) {
        m->installed = *installed;
    }
}

static uint64_t now(void *ctx) {
    (void)ctx;
    return clock_ms;
}

/* Delivers every queued frame (and those they cause) in order. */
static void pump(void) {
    while (net_head < net_tail) {
        net_frame_t f = net[net_head++];
        if (filter == NULL || filter(&f)) {
            ship_on_frame(members[f.to].ship, f.from, f.bytes, f.len);
        }
        free(f.bytes);
    }
    net_head = net_tail = 0;
}

static void open_member(uint32_t id, const char *root, const char *stage) {
    member_t *m = &members[id];
    m->id = id;
    ship_config_t cfg = {.snap_root = root,
                         .stage_dir = stage,
                         .chunk_bytes = CHUNK,
                         .hooks = {.send = net_send,
                                   .reserve_id = reserve,
                                   .restart = restarted,
                                   .now_ms = now,
                                   .ctx = m}};
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_msg(ship_open(&cfg, &m->ship, &err) == 0, "%s", err.message);
}

static void fill_store(store_t *s, int n) {
    arena_t arena;
    arena_init(&arena);
    cmd_batch_t b;
    cmd_batch_init(&b, &arena);
    float v[4];
    char props[64];
    for (int i = 0; i < n; i++) {
        cmd_op_t op = {.kind = CMD_NODE_UPSERT, .id = i, .label = "Doc", .label_len = 3};
        op.props_len = (uint32_t)snprintf(props, sizeof(props), "{\"n\": %d, \"pad\": %" PRIu64 "}",
                                          i, testutil_rand());
        op.props = props;
        ck_assert_int_eq(cmd_batch_add(&b, &op, NULL), CTX_OK);
        if (i > 0) {
            cmd_op_t e = {.kind = CMD_EDGE_UPSERT,
                          .id = i,
                          .target = (int64_t)(testutil_rand() % (uint64_t)i),
                          .kind_name = "links",
                          .kind_len = 5,
                          .weight = 1.5};
            ck_assert_int_eq(cmd_batch_add(&b, &e, NULL), CTX_OK);
        }
        for (int d = 0; d < 4; d++) {
            v[d] = (float)(testutil_rand() % 1000) / 100.0f;
        }
        cmd_op_t vec = {.kind = CMD_VECTOR_UPSERT, .id = i, .vector = v, .vector_dim = 4};
        ck_assert_int_eq(cmd_batch_add(&b, &vec, NULL), CTX_OK);
    }
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_msg(store_apply(s, &b, NULL, &arena, NULL, &err) == 0, "%s", err.message);
    arena_destroy(&arena);
}

static const store_config_t CONFIG = {.vector_dims = 4};
static char *leader_root, *follower_dir;
static char roots[MEMBERS + 1][512], stages[MEMBERS + 1][512];
static store_t *orig;

/* The leader's snapshot id at raft index id * 100, made current. */
static void leader_snapshot(uint64_t id) {
    snap_write_opts_t o = {.snapshot_id = id,
                           .raft_index = id * 100,
                           .raft_term = 3,
                           .timestamp_ms = 1700000000000,
                           .codec = COL_CODEC_LZ4};
    snap_meta_t meta;
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_msg(snap_write(orig, leader_root, &o, &meta, &err) == 0, "%s", err.message);
    ck_assert_int_eq(snap_set_current(leader_root, id, &err), 0);
}

static void setup(void) {
    testutil_seed("test_snapship");
    leader_root = testutil_make_dir("shipL");
    follower_dir = testutil_make_dir("shipF");
    orig = store_create(&CONFIG);
    fill_store(orig, 3000);
    leader_snapshot(5);
    open_member(1, leader_root, "/nonexistent/stage");
    for (uint32_t id = 2; id <= MEMBERS; id++) {
        snprintf(roots[id], sizeof(roots[id]), "%s/m%u/snapshots", follower_dir, id);
        snprintf(stages[id], sizeof(stages[id]), "%s/m%u/snapshots.incoming", follower_dir, id);
        open_member(id, roots[id], stages[id]);
        members[id].next_id = 40;
    }
    filter = NULL;
    data_seen = 0;
    clock_ms = 1000;
}

static void teardown(void) {
    for (uint32_t id = 1; id <= MEMBERS; id++) {
        ship_close(members[id].ship);
        memset(&members[id], 0, sizeof(members[id]));
    }
    store_destroy(orig);
    testutil_remove_tree(leader_root);
    testutil_remove_tree(follower_dir);
    free(leader_root);
    free(follower_dir);
}

/* The follower's current snapshot loads into a store equal in content to the leader's. */
static void assert_installed(uint32_t id, uint64_t raft_index) {
    member_t *m = &members[id];
    ck_assert_int_eq(m->restarts, 1);
    ck_assert_uint_eq(m->installed.raft_index, raft_index);
    ck_assert(!ship_active(m->ship));
    ctx_err_t err;
    ctx_err_clear(&err);
    uint64_t current = 0;
    ck_assert_int_eq(snap_get_current(roots[id], &current, &err), 0);
    ck_assert_uint_eq(current, m->installed.snapshot_id);
    snap_meta_t meta;
    ck_assert_msg(snap_meta_load(roots[id], current, &meta, &err) == 0, "%s", err.message);
    store_t *back = NULL;
    ck_assert_msg(snap_load(roots[id], &meta, &CONFIG, NULL, &back, &err) == 0, "%s", err.message);
    ck_assert_uint_eq(store_node_count(back), store_node_count(orig));
    ck_assert_uint_eq(store_edge_count(back), store_edge_count(orig));
    ck_assert_uint_eq(store_vector_count(back), store_vector_count(orig));
    store_destroy(back);
    ck_assert_int_ne(access(stages[id], F_OK), 0); /* the staging directory is gone */
}

static uint64_t snapshot_bytes(uint64_t id) {
    snap_meta_t meta;
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_int_eq(snap_meta_load(leader_root, id, &meta, &err), 0);
    uint64_t total = 0;
    for (int i = 0; i < meta.nfiles; i++) {
        total += meta.files[i].bytes;
    }
    return total;
}

START_TEST(test_pull_and_install) {
    ship_begin(members[2].ship, 1, 500);
    ck_assert(ship_active(members[2].ship));
    pump();
    assert_installed(2, 500);
    ship_stats_t st;
    ship_stats(members[2].ship, &st);
    ck_assert_uint_eq(st.bytes_pulled, snapshot_bytes(5));
    ck_assert_uint_eq(st.chunks_refused, 0);
    ck_assert_uint_eq(members[2].installed.snapshot_id, 40); /* the local id it reserved */
}
END_TEST

START_TEST(test_waits_for_a_snapshot_covering_the_index) {
    ship_begin(members[2].ship, 1, 900); /* the leader's current one is at 500 */
    pump();
    ck_assert(ship_active(members[2].ship));
    ck_assert_int_eq(members[2].restarts, 0);
    leader_snapshot(9);
    clock_ms += SHIP_RETRY_MS;
    ship_poll(members[2].ship);
    pump();
    assert_installed(2, 900);
}
END_TEST

/* Every single-bit flip of a DATA frame is refused by the decoder. */
START_TEST(test_frame_bit_flips_refused) {
    uint8_t payload[64];
    for (size_t i = 0; i < sizeof(payload); i++) {
        payload[i] = (uint8_t)(i * 7);
    }
    ship_frame_t f = {.op = SHIP_OP_DATA,
                      .seq = 9,
                      .snapshot_id = 5,
                      .file = 2,
                      .offset = 8192,
                      .length = sizeof(payload),
                      .bytes = payload};
    buf_t b;
    buf_init(&b);
    ship_frame_encode(&f, &b);
    uint8_t *bytes = malloc(buf_size(&b));
    memcpy(bytes, buf_peek(&b), buf_size(&b));
    ship_frame_t back;
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_int_eq(ship_frame_decode(bytes, buf_size(&b), &back, &err), 0);
    ck_assert_uint_eq(back.offset, 8192);
    ck_assert_uint_eq(back.file, 2);
    ck_assert(memcmp(back.bytes, payload, sizeof(payload)) == 0);
    for (size_t bit = 0; bit < buf_size(&b) * 8; bit++) {
        bytes[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        ck_assert_int_ne(ship_frame_decode(bytes, buf_size(&b), &back, &err), 0);
        bytes[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    ck_assert_int_ne(ship_frame_decode(bytes, buf_size(&b) - 1, &back, &err), 0);
    free(bytes);
    buf_free(&b);
}
END_TEST

static bool corrupt_third_data(net_frame_t *f) {
    if (f->len > 64 && f->bytes[1] == SHIP_OP_DATA && ++data_seen == 3) {
        f->bytes[f->len / 2] ^= 0x01;
    }
    return true;
}

START_TEST(test_corrupted_chunk_refused) {
    filter = corrupt_third_data;
    ship_begin(members[2].ship, 1, 500);
    pump();
    ship_stats_t st;
    ship_stats(members[2].ship, &st);
    ck_assert_uint_eq(st.chunks_refused, 1);
    ck_assert_uint_eq(st.bytes_pulled, snapshot_bytes(5)); /* the bad chunk was not written */
    assert_installed(2, 500);
}
END_TEST

static bool drop_after_ten_data(net_frame_t *f) {
    return !(f->bytes[1] == SHIP_OP_DATA && ++data_seen > 10);
}

START_TEST(test_resume_after_restart) {
    filter = drop_after_ten_data; /* the member dies after ten chunks */
    ship_begin(members[2].ship, 1, 500);
    pump();
    ck_assert(ship_active(members[2].ship));
    ship_close(members[2].ship);
    open_member(2, roots[2], stages[2]);
    filter = NULL;
    ship_begin(members[2].ship, 1, 500);
    pump();
    ship_stats_t st;
    ship_stats(members[2].ship, &st);
    ck_assert_uint_gt(st.resumed_bytes, 0);
    ck_assert_uint_le(st.resumed_bytes, 10 * CHUNK);
    ck_assert_uint_eq(st.resumed_bytes + st.bytes_pulled, snapshot_bytes(5));
    assert_installed(2, 500);
}
END_TEST

static bool drop_two_data(net_frame_t *f) {
    return !(f->bytes[1] == SHIP_OP_DATA && (++data_seen == 5 || data_seen == 6));
}

START_TEST(test_dropped_connection_rerequests) {
    filter = drop_two_data;
    ship_begin(members[2].ship, 1, 500);
    pump(); /* the rest of the window was stale: the transfer stalls */
    ck_assert(ship_active(members[2].ship));
    clock_ms += SHIP_STALL_MS;
    ship_poll(members[2].ship);
    pump();
    assert_installed(2, 500);
}
END_TEST

static bool vacuum_after_five(net_frame_t *f) {
    if (f->bytes[1] == SHIP_OP_DATA && ++data_seen == 5) {
        leader_snapshot(6); /* CREATE SNAPSHOT, then VACUUM removes 5 */
        snap_meta_t old;
        ctx_err_t err;
        ctx_err_clear(&err);
        ck_assert_int_eq(snap_meta_load(leader_root, 5, &old, &err), 0);
        uint64_t removed = 0;
        ck_assert_int_eq(snap_remove(leader_root, &old, NULL, 0, &removed, &err), 0);
    }
    return true;
}

START_TEST(test_snapshot_removed_mid_transfer_starts_over) {
    filter = vacuum_after_five;
    ship_begin(members[2].ship, 1, 500);
    pump();
    ship_stats_t st;
    ship_stats(members[2].ship, &st);
    ck_assert_uint_eq(st.restarts, 1);
    assert_installed(2, 600);
}
END_TEST

START_TEST(test_concurrent_transfers_bounded) {
    for (uint32_t id = 2; id <= MEMBERS; id++) {
        ship_begin(members[id].ship, 1, 500);
    }
    pump();
    ship_stats_t leader;
    ship_stats(members[1].ship, &leader);
    ck_assert_uint_ge(leader.served_busy, 1); /* SHIP_SERVE_MAX = 2 of 3 served at once */
    ck_assert(ship_active(members[MEMBERS].ship));
    clock_ms += SHIP_SERVE_IDLE_MS; /* the two finished transfers free their slots */
    ship_poll(members[MEMBERS].ship);
    pump();
    for (uint32_t id = 2; id <= MEMBERS; id++) {
        assert_installed(id, 500);
    }
}
END_TEST

int main(void) {
    Suite *suite = suite_create("snapship");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_pull_and_install);
    tcase_add_test(tc, test_waits_for_a_snapshot_covering_the_index);
    tcase_add_test(tc, test_frame_bit_flips_refused);
    tcase_add_test(tc, test_corrupted_chunk_refused);
    tcase_add_test(tc, test_resume_after_restart);
    tcase_add_test(tc, test_dropped_connection_rerequests);
    tcase_add_test(tc, test_snapshot_removed_mid_transfer_starts_over);
    tcase_add_test(tc, test_concurrent_transfers_bounded);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
