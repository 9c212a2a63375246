/*
 * test_snapshot.c — unit tests of storage/colfile.h and storage/snapshot.h: column files round
 * trip with every codec and several row groups; every single-bit flip and every truncation of a
 * column file is detected (by a chunk/header CRC or the whole-file CRC the metadata keeps); the
 * metadata JSON round trips and `current` switches; a random store (with freed slots) is saved
 * and restored slot for slot: identical scans, and identical slot choices for later inserts;
 * a damaged snapshot file fails the load naming the file; vacuum keeps files still referenced;
 * a chunk announcing more bytes than the file holds or its codec can decode is corrupt before
 * the reader allocates for it; the index hook's bytes are stored compressed with the snapshot
 * codec (as they are with codec none, the format of files written before compression) and come
 * back identical, and an index file that does not decode is left out, not a failed load.
 * Randomized tests print their seed; set CTX_TEST_SEED to replay.
 */
#include "colfile.h"
#include "command.h"
#include "crc32c.h"
#include "snapshot.h"

#include <check.h>
#include "testutil.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void init_seed(void) {
    testutil_seed("test_snapshot");
}

static uint64_t rnd(void) {
    return testutil_rand();
}

static char *make_dir(void) {
    return testutil_make_dir("snap");
}

static void remove_tree(const char *dir) {
    testutil_remove_tree(dir);
}

static col_desc_t desc(uint8_t type, uint32_t param, const char *name) {
    col_desc_t d;
    memset(&d, 0, sizeof(d));
    d.type = type;
    d.param = param;
    snprintf(d.name, sizeof(d.name), "%s", name);
    return d;
}

/* ---------------------------------------------------------------- column files */

enum { T_ROWS_MAX = 1000, T_DIMS = 3 };
static uint32_t T_ROWS = 1000; /* rows of the test file (the corruption test uses fewer) */

/* Writes a 4-column file (i64, text, f32v, f64) of T_ROWS rows in groups of `group`. */
static void write_test_file(const char *path, col_codec_t codec, uint32_t group, uint32_t *crc,
                            uint64_t *bytes) {
    col_desc_t cols[4] = {desc(COL_I64, 0, "id"), desc(COL_TEXT, 0, "text"),
                          desc(COL_F32V, T_DIMS, "vec"), desc(COL_F64, 0, "w")};
    col_writer_t w;
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_int_eq(col_writer_open(&w, path, COL_KIND_NODES, cols, 4, T_ROWS, codec, &err), 0);
    for (uint32_t start = 0; start < T_ROWS; start += group) {
        uint32_t rows = start + group > T_ROWS ? T_ROWS - start : group;
        int64_t ids[T_ROWS_MAX];
        float vec[T_ROWS_MAX * T_DIMS];
        double w8[T_ROWS_MAX];
        buf_t text;
        buf_init(&text);
        buf_t bytes_part;
        buf_init(&bytes_part);
        for (uint32_t i = 0; i < rows; i++) {
            uint32_t r = start + i;
            ids[i] = (int64_t)r * 1000 - 7;
            for (int d = 0; d < T_DIMS; d++) {
                vec[i * T_DIMS + d] = (float)r / (float)(d + 1);
            }
            w8[i] = r * 0.5;
            char s[32];
            uint32_t len = r % 5 == 0 ? UINT32_MAX : (uint32_t)snprintf(s, sizeof(s), "v%u", r);
            buf_append(&text, &len, 4);
            if (len != UINT32_MAX) {
                buf_append(&bytes_part, s, len);
            }
        }
        buf_append(&text, buf_peek(&bytes_part), buf_size(&bytes_part));
        const void *raw[4] = {ids, buf_peek(&text), vec, w8};
        uint64_t raw_bytes[4] = {rows * 8u, buf_size(&text), rows * T_DIMS * 4u, rows * 8u};
        ck_assert_int_eq(col_writer_group(&w, rows, raw, raw_bytes, &err), 0);
        buf_free(&text);
        buf_free(&bytes_part);
    }
    ck_assert_int_eq(col_writer_close(&w, crc, bytes, &err), 0);
}

/* Reads the file back, checking every value; returns 0, or the first error code. */
static int read_test_file(const char *path, uint32_t crc, uint64_t bytes, bool check_values,
                          ctx_err_t *err) {
    col_reader_t r;
    int rc = col_reader_open(&r, path, COL_KIND_NODES, err);
    uint32_t row = 0;
    while (rc == CTX_OK) {
        rc = col_reader_group(&r, err);
        if (rc != 1) {
            break;
        }
        rc = CTX_OK;
        uint64_t text_at = 4 * (uint64_t)r.group_rows;
        for (uint32_t i = 0; check_values && i < r.group_rows; i++, row++) {
            int64_t id;
            memcpy(&id, r.data[0] + 8 * i, 8);
            ck_assert_int_eq(id, (int64_t)row * 1000 - 7);
            uint32_t len;
            memcpy(&len, r.data[1] + 4 * i, 4);
            if (row % 5 == 0) {
                ck_assert_uint_eq(len, UINT32_MAX);
            } else {
                char s[32];
                snprintf(s, sizeof(s), "v%u", row);
                ck_assert_uint_eq(len, strlen(s));
                ck_assert(memcmp(r.data[1] + text_at, s, len) == 0);
                text_at += len;
            }
            float v;
            memcpy(&v, r.data[2] + 4 * (i * T_DIMS + 2), 4);
            ck_assert(v == (float)row / 3.0f);
        }
    }
    if (rc == 0 && (r.crc != crc || r.offset != bytes)) {
        rc = ctx_err_set(err, CTX_ECORRUPT, "whole-file crc mismatch");
    }
    col_reader_close(&r);
    return rc;
}

START_TEST(test_colfile_round_trip_codecs) {
    char *dir = make_dir();
    for (int codec = COL_CODEC_NONE; codec <= COL_CODEC_ZSTD; codec++) {
        uint32_t groups[] = {1000, 333, 64};
        for (size_t g = 0; g < 3; g++) {
            char path[256];
            snprintf(path, sizeof(path), "%s/t-%d-%zu.col", dir, codec, g);
            uint32_t crc;
            uint64_t bytes;
            write_test_file(path, (col_codec_t)codec, groups[g], &crc, &bytes);
            ctx_err_t err;
            ctx_err_clear(&err);
            ck_assert_int_eq(read_test_file(path, crc, bytes, true, &err), 0);
            struct stat st;
            ck_assert_int_eq(stat(path, &st), 0);
            ck_assert_uint_eq((uint64_t)st.st_size, bytes);
        }
    }
    ck_assert_int_eq(col_codec_parse("zstd"), COL_CODEC_ZSTD);
    ck_assert_int_eq(col_codec_parse("gzip"), -1);
    remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(test_colfile_every_corruption_detected) {
    char *dir = make_dir();
    T_ROWS = 120;
    for (int codec = COL_CODEC_NONE; codec <= COL_CODEC_ZSTD; codec++) {
        char path[256], bad[256];
        snprintf(path, sizeof(path), "%s/c-%d.col", dir, codec);
        snprintf(bad, sizeof(bad), "%s/bad.col", dir);
        uint32_t crc;
        uint64_t bytes;
        write_test_file(path, (col_codec_t)codec, 50, &crc, &bytes);
        size_t len;
        uint8_t *image = testutil_read_file(path, &len);
        for (size_t off = 0; off < len; off++) {
            uint8_t saved = image[off];
            image[off] ^= (uint8_t)(1u << (rnd() % 8));
            testutil_write_file(bad, image, len);
            image[off] = saved;
            ctx_err_t err;
            ctx_err_clear(&err);
            int rc = read_test_file(bad, crc, bytes, false, &err);
            ck_assert_msg(rc == CTX_ECORRUPT, "codec %d: flip at %zu not detected (%d)", codec, off,
                          rc);
        }
        for (size_t cut = 0; cut < len; cut += 1 + rnd() % 3) {
            testutil_write_file(bad, image, cut);
            ctx_err_t err;
            ctx_err_clear(&err);
            int rc = read_test_file(bad, crc, bytes, false, &err);
            ck_assert_msg(rc == CTX_ECORRUPT, "codec %d: cut at %zu not detected", codec, cut);
            ck_assert(strstr(err.message, "bad.col") != NULL || cut == 0 ||
                      strstr(err.message, "whole-file") != NULL);
        }
        free(image);
    }
    remove_tree(dir);
    free(dir);
}
END_TEST

/* The text chunk of the first group announces raw/stored sizes (stored UINT64_MAX: the real
 * one) with a CRC over its real data, so only the size checks can refuse it: the read fails as
 * corrupt, and the reader's buffers never grew towards the announced size. */
static void expect_announced_size_refused(const char *path, const uint8_t *image, size_t len,
                                          uint64_t raw, uint64_t stored) {
    uint8_t *copy = malloc(len);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, image, len);
    size_t chunk0 = COL_HEADER_BYTES + 4 * COL_DESC_BYTES + COL_GROUP_HEADER_BYTES;
    uint64_t stored0, stored1;
    memcpy(&stored0, copy + chunk0 + 16, 8);
    uint8_t *ch = copy + chunk0 + COL_CHUNK_HEADER_BYTES + stored0;
    memcpy(&stored1, ch + 16, 8);
    stored = stored == UINT64_MAX ? stored1 : stored;
    memcpy(ch + 8, &raw, 8);
    memcpy(ch + 16, &stored, 8);
    uint32_t crc =
        crc32c(crc32c(crc32c(0, ch, 4), ch + 8, 16), ch + COL_CHUNK_HEADER_BYTES, (size_t)stored1);
    memcpy(ch + 4, &crc, 4);
    testutil_write_file(path, copy, len);
    free(copy);
    col_reader_t r;
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_int_eq(col_reader_open(&r, path, COL_KIND_NODES, &err), 0);
    ck_assert_int_eq(col_reader_group(&r, &err), CTX_ECORRUPT);
    ck_assert_msg(r.data_cap[1] < len && r.stored_cap < len,
                  "announced %" PRIu64 "/%" PRIu64 " bytes: buffers %" PRIu64
                  "/%zu for a %zu-byte file",
                  raw, stored, r.data_cap[1], r.stored_cap, len);
    col_reader_close(&r);
}

START_TEST(test_colfile_announced_sizes_bounded_by_file) {
    char *dir = make_dir();
    T_ROWS = 120;
    const uint64_t huge = UINT64_C(1) << 30;
    for (int codec = COL_CODEC_NONE; codec <= COL_CODEC_ZSTD; codec++) {
        char path[256], bad[256];
        snprintf(path, sizeof(path), "%s/c-%d.col", dir, codec);
        snprintf(bad, sizeof(bad), "%s/bad.col", dir);
        uint32_t crc;
        uint64_t bytes;
        write_test_file(path, (col_codec_t)codec, 120, &crc, &bytes);
        size_t len;
        uint8_t *image = testutil_read_file(path, &len);
        if (codec == COL_CODEC_NONE) {
            expect_announced_size_refused(bad, image, len, huge, huge);
        } else {
            expect_announced_size_refused(bad, image, len, huge, UINT64_MAX); /* codec ratio */
            expect_announced_size_refused(bad, image, len, 1000, huge);       /* past the file */
        }
        free(image);
    }
    remove_tree(dir);
    free(dir);
}
END_TEST

/* ---------------------------------------------------------------- metadata */

START_TEST(test_meta_json_and_current) {
    char *dir = make_dir();
    snap_meta_t m;
    memset(&m, 0, sizeof(m));
    m.snapshot_id = 7;
    m.parent_id = 6;
    m.raft_index = 123456;
    m.raft_term = 2;
    m.timestamp_ms = 1700000000123;
    m.format_version = SNAP_FORMAT_VERSION;
    m.nodes = 10;
    m.edges = 20;
    m.vectors = 30;
    m.dims = 128;
    snprintf(m.metric, sizeof(m.metric), "cosine");
    m.nfiles = 1;
    snprintf(m.files[0].path, sizeof(m.files[0].path), "nodes/nodes-000007-0.col");
    snprintf(m.files[0].kind, sizeof(m.files[0].kind), "nodes");
    snprintf(m.files[0].codec, sizeof(m.files[0].codec), "lz4");
    m.files[0].rows = 10;
    m.files[0].bytes = 999;
    m.files[0].crc32c = 0xdeadbeef;
    char *json = snap_meta_to_json(&m);
    snap_meta_t back;
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_int_eq(snap_meta_parse(json, strlen(json), &back, &err), 0);
    ck_assert(memcmp(&m, &back, sizeof(m)) == 0);
    ck_assert_int_eq(snap_meta_parse(json, strlen(json) / 2, &back, &err), CTX_ECORRUPT);
    free(json);
    uint64_t id = 0;
    ctx_err_clear(&err);
    ck_assert_int_eq(snap_get_current(dir, &id, &err), CTX_EUNDEF_OBJECT);
    char md[300];
    snprintf(md, sizeof(md), "%s/metadata", dir);
    mkdir(md, 0700);
    ctx_err_clear(&err);
    ck_assert_int_eq(snap_set_current(dir, 7, &err), 0);
    ck_assert_int_eq(snap_get_current(dir, &id, &err), 0);
    ck_assert_uint_eq(id, 7);
    ck_assert_int_eq(snap_set_current(dir, 12, &err), 0);
    ck_assert_int_eq(snap_get_current(dir, &id, &err), 0);
    ck_assert_uint_eq(id, 12);
    remove_tree(dir);
    free(dir);
}
END_TEST

/* ---------------------------------------------------------------- store round trip */

static int apply_op(store_t *s, cmd_op_t op) {
    arena_t arena;
    arena_init(&arena);
    cmd_batch_t b;
    cmd_batch_init(&b, &arena);
    ck_assert_int_eq(cmd_batch_add(&b, &op, NULL), CTX_OK);
    ctx_err_t err;
    ctx_err_clear(&err);
    int rc = store_apply(s, &b, NULL, &arena, NULL, &err);
    arena_destroy(&arena);
    return rc;
}

static void random_ops(store_t *s, int count, int64_t id_space) {
    static const char *labels[] = {"User", "Doc", "Topic", "Tag"};
    static const char *kinds[] = {"owns", "links", "cites", "mentions", "related"};
    uint32_t dims = store_vector_dims(s);
    float v[8];
    for (int i = 0; i < count; i++) {
        cmd_op_t op;
        memset(&op, 0, sizeof(op));
        int64_t id = (int64_t)(rnd() % (uint64_t)id_space);
        const char *label = labels[rnd() % 4];
        char props[64];
        switch (rnd() % 8) {
        case 0:
        case 1:
        case 2:
            op.kind = CMD_NODE_UPSERT;
            op.id = id;
            op.label = label;
            op.label_len = (uint32_t)strlen(label);
            if (rnd() % 3 != 0) {
                op.props_len = (uint32_t)snprintf(props, sizeof(props), "{\"n\": %d}", i);
                op.props = props;
            }
            break;
        case 3:
            op.kind = CMD_NODE_DELETE;
            op.id = id;
            break;
        case 4:
        case 5: {
            const char *k = kinds[rnd() % 5];
            op.kind = CMD_EDGE_UPSERT;
            op.id = id;
            op.target = (int64_t)(rnd() % (uint64_t)id_space);
            op.kind_name = k;
            op.kind_len = (uint32_t)strlen(k);
            op.weight = (double)(rnd() % 100) / 10.0;
            break;
        }
        case 6:
            op.kind = CMD_VECTOR_UPSERT;
            op.id = id;
            for (uint32_t d = 0; d < dims; d++) {
                v[d] = (float)(rnd() % 1000) / 100.0f;
            }
            op.vector = v;
            op.vector_dim = dims;
            break;
        default:
            op.kind = CMD_VECTOR_DELETE;
            op.id = id;
            break;
        }
        apply_op(s, op); /* missing endpoints etc. fail harmlessly */
    }
}

/* Asserts that two stores are observably identical: scans, slots, dictionaries. */
static void assert_same(const store_t *a, const store_t *b) {
    ck_assert_uint_eq(store_node_count(a), store_node_count(b));
    ck_assert_uint_eq(store_edge_count(a), store_edge_count(b));
    ck_assert_uint_eq(store_vector_count(a), store_vector_count(b));
    ck_assert_uint_eq(store_node_slot_end(a), store_node_slot_end(b));
    ck_assert_uint_eq(store_vector_slot_end(a), store_vector_slot_end(b));
    ck_assert_uint_eq(store_kind_count(a), store_kind_count(b));
    ck_assert_uint_eq(store_label_count(a), store_label_count(b));
    for (uint32_t k = 0; k < store_kind_count(a); k++) {
        ck_assert_str_eq(store_kind_name(a, (int32_t)k), store_kind_name(b, (int32_t)k));
    }
    for (uint32_t slot = 0; slot < store_node_slot_end(a); slot++) {
        node_view_t x, y;
        uint32_t lx, ly;
        bool hx = store_node_at(a, slot, &x, &lx);
        ck_assert_int_eq(hx, store_node_at(b, slot, &y, &ly));
        if (hx) {
            ck_assert_int_eq(x.id, y.id);
            ck_assert_uint_eq(lx, ly);
            ck_assert_uint_eq(x.props_len, y.props_len);
            ck_assert_int_eq(x.props == NULL, y.props == NULL);
            ck_assert(x.props == NULL || memcmp(x.props, y.props, x.props_len) == 0);
            ck_assert_uint_eq(store_degree(a, x.id, STORE_DIR_BOTH, STORE_KIND_ANY),
                              store_degree(b, x.id, STORE_DIR_BOTH, STORE_KIND_ANY));
            store_adj_iter_t ia, ib;
            store_adj_begin(a, x.id, STORE_DIR_BOTH, STORE_KIND_ANY, &ia);
            store_adj_begin(b, x.id, STORE_DIR_BOTH, STORE_KIND_ANY, &ib);
            edge_view_t ea, eb;
            int64_t na, nb;
            while (store_adj_next(&ia, &ea, &na)) {
                ck_assert(store_adj_next(&ib, &eb, &nb));
                ck_assert_int_eq(na, nb);
                ck_assert_int_eq(ea.kind, eb.kind);
                ck_assert(ea.weight == eb.weight);
            }
            ck_assert(!store_adj_next(&ib, &eb, &nb));
        }
    }
    store_cursor_t ca = {0}, cb = {0};
    edge_view_t ea, eb;
    while (store_edge_next(a, &ca, &ea)) {
        ck_assert(store_edge_next(b, &cb, &eb));
        ck_assert_int_eq(ea.source, eb.source);
        ck_assert_int_eq(ea.target, eb.target);
        ck_assert_int_eq(ea.kind, eb.kind);
        ck_assert(ea.weight == eb.weight);
    }
    ck_assert(!store_edge_next(b, &cb, &eb));
    uint32_t dims = store_vector_dims(a);
    for (uint32_t slot = 0; slot < store_vector_slot_end(a); slot++) {
        int64_t ia, ib;
        const float *va, *vb;
        bool h = store_vector_at(a, slot, &ia, &va);
        ck_assert_int_eq(h, store_vector_at(b, slot, &ib, &vb));
        if (h) {
            ck_assert_int_eq(ia, ib);
            ck_assert(memcmp(va, vb, dims * sizeof(float)) == 0);
        }
    }
}

static void save(const store_t *s, const char *root, uint64_t id, col_codec_t codec,
                 snap_meta_t *meta) {
    snap_write_opts_t o = {.snapshot_id = id,
                           .parent_id = id - 1,
                           .raft_index = id * 100,
                           .raft_term = 1,
                           .timestamp_ms = 1700000000000 + (int64_t)id,
                           .codec = codec};
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_msg(snap_write(s, root, &o, meta, &err) == 0, "%s", err.message);
}

START_TEST(test_store_round_trip_slot_exact) {
    char *dir = make_dir();
    store_config_t config = {.vector_dims = 4};
    for (int codec = COL_CODEC_NONE; codec <= COL_CODEC_ZSTD; codec++) {
        store_t *orig = store_create(&config);
        random_ops(orig, 20000, 3000);
        snap_meta_t meta;
        save(orig, dir, (uint64_t)codec + 1, (col_codec_t)codec, &meta);
        snap_meta_t loaded_meta;
        ctx_err_t err;
        ctx_err_clear(&err);
        ck_assert_int_eq(snap_meta_load(dir, (uint64_t)codec + 1, &loaded_meta, &err), 0);
        ck_assert(memcmp(&meta, &loaded_meta, sizeof(meta)) == 0);
        store_t *back = NULL;
        ck_assert_msg(snap_load(dir, &loaded_meta, &config, NULL, &back, &err) == 0, "%s",
                      err.message);
        assert_same(orig, back);
        /* The same later writes land in the same slots. */
        uint64_t saved_seed = testutil_rand_state();
        random_ops(orig, 5000, 3000);
        testutil_rand_set_state(saved_seed);
        random_ops(back, 5000, 3000);
        assert_same(orig, back);
        ck_assert_int_eq(snap_verify(dir, &loaded_meta, NULL, NULL, &err), 0);
        store_destroy(orig);
        store_destroy(back);
    }
    remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(test_damaged_snapshot_detected) {
    char *dir = make_dir();
    store_config_t config = {.vector_dims = 4};
    store_t *s = store_create(&config);
    random_ops(s, 3000, 500);
    snap_meta_t meta;
    save(s, dir, 1, COL_CODEC_LZ4, &meta);
    for (int f = 0; f < meta.nfiles; f++) {
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", dir, meta.files[f].path);
        size_t len;
        uint8_t *image = testutil_read_file(path, &len);
        size_t off = rnd() % len;
        image[off] ^= 0x10;
        testutil_write_file(path, image, len);
        store_t *back = NULL;
        ctx_err_t err;
        ctx_err_clear(&err);
        ck_assert_int_eq(snap_load(dir, &meta, &config, NULL, &back, &err), CTX_ECORRUPT);
        ck_assert_msg(strstr(err.message, meta.files[f].path) != NULL, "%s", err.message);
        ctx_err_clear(&err);
        ck_assert_int_eq(snap_verify(dir, &meta, NULL, NULL, &err), CTX_ECORRUPT);
        image[off] ^= 0x10;
        testutil_write_file(path, image, len);
        free(image);
    }
    store_destroy(s);
    remove_tree(dir);
    free(dir);
}
END_TEST

/* An index hook over fixed bytes: save hands them out, load records what it got. */
typedef struct fake_index {
    uint8_t bytes[50000];
    uint8_t *loaded;
    size_t loaded_len;
    int loads;
} fake_index_t;

static int fake_save(void *ctx, const store_t *store, buf_t *out, uint64_t *rows, ctx_err_t *err) {
    (void)store;
    (void)err;
    fake_index_t *f = ctx;
    buf_append(out, f->bytes, sizeof(f->bytes));
    *rows = 7;
    return CTX_OK;
}

static int fake_load(void *ctx, store_t *store, const uint8_t *data, size_t len, ctx_err_t *err) {
    (void)store;
    (void)err;
    fake_index_t *f = ctx;
    free(f->loaded);
    f->loaded = malloc(len);
    memcpy(f->loaded, data, len);
    f->loaded_len = len;
    f->loads++;
    return CTX_OK;
}

START_TEST(test_index_file_compressed) {
    char *dir = make_dir();
    store_config_t config = {.vector_dims = 4};
    store_t *s = store_create(&config);
    random_ops(s, 500, 100);
    fake_index_t *fake = calloc(1, sizeof(fake_index_t));
    for (size_t i = 0; i < sizeof(fake->bytes); i += 4) {
        float v = (float)(rnd() % 1000) / 1000.0f; /* floats: the shuffle's case */
        memcpy(fake->bytes + i, &v, 4);
    }
    snap_index_hook_t hook = {.save = fake_save, .load = fake_load, .ctx = fake};
    for (int codec = COL_CODEC_NONE; codec <= COL_CODEC_ZSTD; codec++) {
        uint64_t id = (uint64_t)codec + 1;
        snap_write_opts_t o = {
            .snapshot_id = id, .timestamp_ms = 1, .codec = (col_codec_t)codec, .index_hook = &hook};
        snap_meta_t meta;
        ctx_err_t err;
        ctx_err_clear(&err);
        ck_assert_msg(snap_write(s, dir, &o, &meta, &err) == 0, "%s", err.message);
        const snap_file_t *f = &meta.files[meta.nfiles - 1];
        ck_assert_str_eq(f->kind, "hnsw");
        ck_assert_str_eq(f->codec, col_codec_name((col_codec_t)codec));
        ck_assert_uint_eq(f->rows, 7);
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", dir, f->path);
        size_t len;
        uint8_t *image = testutil_read_file(path, &len);
        ck_assert_uint_eq(len, f->bytes);
        ck_assert_uint_eq(crc32c(0, image, len), f->crc32c);
        if (codec == COL_CODEC_NONE) {
            ck_assert(len == sizeof(fake->bytes) && memcmp(image, fake->bytes, len) == 0);
        } else {
            ck_assert_msg(len < sizeof(fake->bytes) && memcmp(image, "CXBL", 4) == 0, "%zu bytes",
                          len);
        }
        store_t *back = NULL;
        ck_assert_msg(snap_load(dir, &meta, &config, &hook, &back, &err) == 0, "%s", err.message);
        ck_assert_int_eq(fake->loads, codec + 1);
        ck_assert(fake->loaded_len == sizeof(fake->bytes) &&
                  memcmp(fake->loaded, fake->bytes, sizeof(fake->bytes)) == 0);
        store_destroy(back);
        ck_assert_int_eq(snap_verify(dir, &meta, NULL, NULL, &err), 0);
        if (codec != COL_CODEC_NONE) { /* a damaged index is rebuilt, not a failed snapshot */
            image[len / 2] ^= 0x01;
            testutil_write_file(path, image, len);
            ck_assert_int_eq(snap_load(dir, &meta, &config, &hook, &back, &err), 0);
            ck_assert_int_eq(fake->loads, codec + 1);
            store_destroy(back);
        }
        free(image);
    }
    free(fake->loaded);
    free(fake);
    store_destroy(s);
    remove_tree(dir);
    free(dir);
}
END_TEST

/* Loading a snapshot (what AS OF SNAPSHOT does) with each allocation refused in turn fails with
 * CTX_ENOMEM and nothing loaded, never an abort; once memory suffices it loads in full. */
START_TEST(test_load_out_of_memory) {
    char *dir = make_dir();
    store_config_t config = {.vector_dims = 4};
    store_t *s = store_create(&config);
    random_ops(s, 3000, 500);
    snap_meta_t meta;
    save(s, dir, 1, COL_CODEC_LZ4, &meta);
    int refused = 0;
    for (long n = 1;; n++) {
        ck_assert_int_lt(n, 100000);
        store_t *back = NULL;
        ctx_err_t err;
        ctx_err_clear(&err);
        ctx_alloc_fail_at(n);
        int rc = snap_load(dir, &meta, &config, NULL, &back, &err);
        ctx_alloc_fail_at(0);
        if (rc == CTX_OK) {
            assert_same(s, back);
            store_destroy(back);
            break;
        }
        ck_assert_msg(rc == CTX_ENOMEM, "allocation %ld: %s", n, err.message);
        ck_assert_str_eq(ctx_sqlstate(rc), "53200");
        ck_assert_ptr_null(back);
        refused++;
    }
    ck_assert_int_gt(refused, 0);
    store_destroy(s);
    remove_tree(dir);
    free(dir);
}
END_TEST

START_TEST(test_list_and_remove) {
    char *dir = make_dir();
    store_config_t config = {.vector_dims = 4};
    store_t *s = store_create(&config);
    random_ops(s, 500, 100);
    snap_meta_t m[3];
    for (int i = 0; i < 3; i++) {
        save(s, dir, (uint64_t)i + 1, COL_CODEC_ZSTD, &m[i]);
    }
    uint64_t *ids;
    size_t n;
    ctx_err_t err;
    ctx_err_clear(&err);
    ck_assert_int_eq(snap_list(dir, &ids, &n, &err), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(ids[0], 1);
    ck_assert_uint_eq(ids[2], 3);
    free(ids);
    /* Pretend snapshot 3 reuses snapshot 1's nodes file: removing 1 must keep it. */
    m[2].files[1] = m[0].files[1];
    uint64_t removed = 0;
    ck_assert_int_eq(snap_remove(dir, &m[0], &m[1], 2, &removed, &err), 0);
    ck_assert_uint_eq(removed, (uint64_t)m[0].nfiles); /* all but one file, plus metadata */
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, m[0].files[1].path);
    ck_assert_int_eq(access(path, F_OK), 0);
    ck_assert_int_eq(snap_list(dir, &ids, &n, &err), 0);
    ck_assert_uint_eq(n, 2);
    free(ids);
    store_destroy(s);
    remove_tree(dir);
    free(dir);
}
END_TEST

int main(void) {
    init_seed();
    Suite *suite = suite_create("snapshot");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_colfile_round_trip_codecs);
    tcase_add_test(tc, test_colfile_every_corruption_detected);
    tcase_add_test(tc, test_colfile_announced_sizes_bounded_by_file);
    tcase_add_test(tc, test_meta_json_and_current);
    tcase_add_test(tc, test_store_round_trip_slot_exact);
    tcase_add_test(tc, test_damaged_snapshot_detected);
    tcase_add_test(tc, test_load_out_of_memory);
    tcase_add_test(tc, test_list_and_remove);
    tcase_add_test(tc, test_index_file_compressed);
    tcase_set_timeout(tc, 300);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
