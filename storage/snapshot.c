/*
 * snapshot.c — writing a store to column files, the metadata JSON, `current`, and loading a
 * snapshot back into a store slot for slot (contract in snapshot.h).
 *
 * Writing walks the store once per table through the slot-exact export API of store.h and
 * gathers rows into per-column buffers that are flushed as a row group every SNAP_GROUP_ROWS rows
 * or SNAP_GROUP_BYTES bytes, so memory stays bounded whatever the table size. Loading reads each
 * file group by group and restores rows with store_restore_*(), in the order the files hold them
 * (ascending slots; edges in edge-scan order), after the label and kind dictionaries, so label
 * and kind ids come back identical. Both the whole-file CRC recorded in the metadata and every
 * chunk's own CRC must match; any mismatch fails the load, and the caller (recovery) falls back
 * to the previous snapshot. The vector index is one blob from the index hook, stored compressed
 * with the snapshot codec after a byte shuffle (blobcodec.h); an index file that cannot be used is
 * logged and left out (the index is derived state, rebuilt from the store).
 */
#include "snapshot.h"

#include "blobcodec.h"
#include "buf.h"
#include "crc32c.h"
#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
    SNAP_GROUP_ROWS = 65536,
    SNAP_GROUP_BYTES = 32 * 1024 * 1024,
    SNAP_META_BYTES_MAX = 1 << 20
};

/* ---------------------------------------------------------------- paths */

void snap_meta_path(uint64_t id, char *out, size_t out_len) {
    snprintf(out, out_len, "metadata/snapshot-%06" PRIu64 ".json", id);
}

/* Writes data to root/rel atomically and durably (fsutil.h). */
static int write_atomic(const char *root, const char *rel, const char *data, size_t len,
                        ctx_err_t *err) {
    char path[FSU_PATH_MAX];
    int rc = fsu_path(path, err, "%s/%s", root, rel);
    return rc == CTX_OK ? fsu_write_atomic(path, data, len, err) : rc;
}

/* ---------------------------------------------------------------- metadata JSON */

char *snap_meta_to_json(const snap_meta_t *m) {
    json_t *files = json_array();
    for (int i = 0; i < m->nfiles; i++) {
        const snap_file_t *f = &m->files[i];
        json_array_append_new(files, json_pack("{s:s, s:s, s:I, s:I, s:I, s:s}", "path", f->path,
                                               "kind", f->kind, "rows", (json_int_t)f->rows,
                                               "bytes", (json_int_t)f->bytes, "crc32c",
                                               (json_int_t)f->crc32c, "codec", f->codec));
    }
    json_t *root = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:i, s:o, s:{s:I, s:I, s:I}, s:{s:i, s:s, s:n}}", "snapshot_id",
        (json_int_t)m->snapshot_id, "parent_id", (json_int_t)m->parent_id, "raft_index",
        (json_int_t)m->raft_index, "raft_term", (json_int_t)m->raft_term, "timestamp",
        (json_int_t)m->timestamp_ms, "format_version", (int)m->format_version, "files", files,
        "counts", "nodes", (json_int_t)m->nodes, "edges", (json_int_t)m->edges, "vectors",
        (json_int_t)m->vectors, "config", "dims", (int)m->dims, "metric", m->metric, "hnsw");
    CTX_ASSERT(root != NULL);
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    CTX_ASSERT(text != NULL);
    return text;
}

static bool json_u64(json_t *obj, const char *key, uint64_t *out) {
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        return false;
    }
    *out = (uint64_t)json_integer_value(v);
    return true;
}

static bool json_str(json_t *obj, const char *key, char *out, size_t out_len) {
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v) || strlen(json_string_value(v)) >= out_len) {
        return false;
    }
    snprintf(out, out_len, "%s", json_string_value(v));
    return true;
}

static bool parse_file(json_t *jf, snap_file_t *f) {
    uint64_t crc = 0;
    bool ok = json_str(jf, "path", f->path, sizeof(f->path)) &&
              json_str(jf, "kind", f->kind, sizeof(f->kind)) && json_u64(jf, "rows", &f->rows) &&
              json_u64(jf, "bytes", &f->bytes) && json_u64(jf, "crc32c", &crc) &&
              crc <= UINT32_MAX && json_str(jf, "codec", f->codec, sizeof(f->codec));
    f->crc32c = (uint32_t)crc;
    /* Paths stay inside the root: no absolute paths, no "..". */
    return ok && f->path[0] != '/' && strstr(f->path, "..") == NULL;
}

int snap_meta_parse(const char *text, size_t len, snap_meta_t *m, ctx_err_t *err) {
    memset(m, 0, sizeof(*m));
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    if (root == NULL) {
        return ctx_err_set(err, CTX_ECORRUPT, "snapshot metadata is not JSON: %s", jerr.text);
    }
    uint64_t version = 0, dims = 0, ts = 0;
    json_t *counts = json_object_get(root, "counts");
    json_t *config = json_object_get(root, "config");
    json_t *files = json_object_get(root, "files");
    bool ok = json_u64(root, "snapshot_id", &m->snapshot_id) &&
              json_u64(root, "parent_id", &m->parent_id) &&
              json_u64(root, "raft_index", &m->raft_index) &&
              json_u64(root, "raft_term", &m->raft_term) && json_u64(root, "timestamp", &ts) &&
              json_u64(root, "format_version", &version) && version == SNAP_FORMAT_VERSION &&
              json_u64(counts, "nodes", &m->nodes) && json_u64(counts, "edges", &m->edges) &&
              json_u64(counts, "vectors", &m->vectors) && json_u64(config, "dims", &dims) &&
              dims >= 1 && dims <= 4096 &&
              json_str(config, "metric", m->metric, sizeof(m->metric)) && json_is_array(files) &&
              json_array_size(files) <= SNAP_FILES_MAX && m->snapshot_id >= 1 &&
              m->snapshot_id <= SNAP_ID_MAX;
    for (size_t i = 0; ok && i < json_array_size(files); i++) {
        ok = parse_file(json_array_get(files, i), &m->files[i]);
        m->nfiles = (int)i + 1;
    }
    m->format_version = (uint32_t)version;
    m->dims = (uint32_t)dims;
    m->timestamp_ms = (int64_t)ts;
    json_decref(root);
    if (!ok) {
        return ctx_err_set(err, CTX_ECORRUPT, "snapshot metadata is missing or has bad fields");
    }
    return CTX_OK;
}

static int read_small(const char *path, char **text, size_t *len, ctx_err_t *err) {
    uint8_t *data = NULL;
    int rc = fsu_read_all(path, SNAP_META_BYTES_MAX, &data, len, err);
    *text = (char *)data;
    return rc;
}

int snap_meta_load(const char *root, uint64_t id, snap_meta_t *out, ctx_err_t *err) {
    char rel[128], path[FSU_PATH_MAX];
    snap_meta_path(id, rel, sizeof(rel));
    char *text = NULL;
    size_t len = 0;
    int rc = fsu_path(path, err, "%s/%s", root, rel);
    if (rc == CTX_OK) {
        rc = read_small(path, &text, &len, err);
    }
    if (rc == CTX_OK) {
        rc = snap_meta_parse(text, len, out, err);
        if (rc == CTX_OK && out->snapshot_id != id) {
            rc = ctx_err_set(err, CTX_ECORRUPT, "\"%s\" names snapshot %" PRIu64, path,
                             out->snapshot_id);
        }
        if (rc != CTX_OK && err->detail[0] == '\0') {
            ctx_err_detail(err, "in \"%s\"", path);
        }
    }
    free(text);
    return rc;
}

int snap_set_current(const char *root, uint64_t id, ctx_err_t *err) {
    char text[64];
    int n = snprintf(text, sizeof(text), "snapshot-%06" PRIu64 ".json\n", id);
    return write_atomic(root, "metadata/current", text, (size_t)n, err);
}

int snap_get_current(const char *root, uint64_t *id, ctx_err_t *err) {
    char path[FSU_PATH_MAX];
    char *text = NULL;
    size_t len = 0;
    int rc = fsu_path(path, err, "%s/metadata/current", root);
    if (rc == CTX_OK) {
        rc = read_small(path, &text, &len, err);
    }
    if (rc == CTX_OK) {
        unsigned long long v = 0;
        if (sscanf(text, "snapshot-%llu.json", &v) != 1 || v == 0) {
            rc = ctx_err_set(err, CTX_ECORRUPT, "\"%s\" does not name a snapshot", path);
        }
        *id = v;
    }
    free(text);
    return rc;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

int snap_list(const char *root, uint64_t **ids, size_t *count, ctx_err_t *err) {
    char path[FSU_PATH_MAX];
    *ids = NULL;
    *count = 0;
    if (fsu_path(path, err, "%s/metadata", root) != CTX_OK) {
        return err->code;
    }
    DIR *d = opendir(path);
    if (d == NULL) {
        return errno == ENOENT
                   ? CTX_OK
                   : ctx_err_set(err, CTX_EIO, "could not open \"%s\": %s", path, strerror(errno));
    }
    size_t cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        unsigned long long v = 0;
        char tail[8] = "";
        if (sscanf(de->d_name, "snapshot-%llu.%5s", &v, tail) != 2 || strcmp(tail, "json") != 0 ||
            v == 0 || v > SNAP_ID_MAX) {
            continue;
        }
        if (*count == cap) {
            cap = cap ? cap * 2 : 16;
            *ids = ctx_realloc(*ids, cap * sizeof(uint64_t));
        }
        (*ids)[(*count)++] = v;
    }
    closedir(d);
    if (*count > 0) {
        ctx_qsort(*ids, *count, sizeof(uint64_t), cmp_u64);
    }
    return CTX_OK;
}

/* ---------------------------------------------------------------- writing */

/* A file being written: per-column raw buffers flushed as row groups. */
typedef struct table_writer {
    col_writer_t w;
    buf_t cols[COL_COLUMNS_MAX];  /* fixed-width values, or a text column's lengths */
    buf_t texts[COL_COLUMNS_MAX]; /* a text column's bytes */
    int ncols;
    uint32_t rows;     /* rows buffered */
    uint64_t bytes;    /* bytes buffered */
    snap_file_t *file; /* metadata entry being filled */
} table_writer_t;

static int tw_open(table_writer_t *t, const char *root, snap_meta_t *meta, const char *dir,
                   const char *prefix, uint32_t kind, const col_desc_t *cols, int ncols,
                   uint64_t rows, col_codec_t codec, ctx_err_t *err) {
    memset(t, 0, sizeof(*t));
    CTX_ASSERT(meta->nfiles < SNAP_FILES_MAX);
    t->file = &meta->files[meta->nfiles++];
    snprintf(t->file->path, sizeof(t->file->path), "%s/%s-%06" PRIu64 "-0.col", dir, prefix,
             meta->snapshot_id);
    snprintf(t->file->kind, sizeof(t->file->kind), "%s", col_kind_name(kind));
    snprintf(t->file->codec, sizeof(t->file->codec), "%s", col_codec_name(codec));
    t->file->rows = rows;
    t->ncols = ncols;
    for (int c = 0; c < COL_COLUMNS_MAX; c++) {
        buf_init(&t->cols[c]);
        buf_init(&t->texts[c]);
    }
    char path[FSU_PATH_MAX];
    int rc = fsu_path(path, err, "%s/%s", root, t->file->path);
    if (rc == CTX_OK) {
        rc = fsu_mkdirs_for(path, 0700, err);
    }
    return rc == CTX_OK ? col_writer_open(&t->w, path, kind, cols, ncols, rows, codec, err) : rc;
}

static int tw_flush(table_writer_t *t, ctx_err_t *err) {
    if (t->rows == 0) {
        return CTX_OK;
    }
    const void *raw[COL_COLUMNS_MAX];
    uint64_t raw_bytes[COL_COLUMNS_MAX];
    for (int c = 0; c < t->ncols; c++) {
        if (buf_size(&t->texts[c]) > 0) {
            buf_append(&t->cols[c], buf_peek(&t->texts[c]), buf_size(&t->texts[c]));
            buf_reset(&t->texts[c]);
        }
        raw[c] = buf_peek(&t->cols[c]);
        raw_bytes[c] = buf_size(&t->cols[c]);
    }
    int rc = col_writer_group(&t->w, t->rows, raw, raw_bytes, err);
    for (int c = 0; c < t->ncols; c++) {
        buf_reset(&t->cols[c]);
    }
    t->rows = 0;
    t->bytes = 0;
    return rc;
}

/* Ends a row: flushes a group when it is full. */
static int tw_row_done(table_writer_t *t, ctx_err_t *err) {
    t->rows++;
    if (t->rows >= SNAP_GROUP_ROWS || t->bytes >= SNAP_GROUP_BYTES) {
        return tw_flush(t, err);
    }
    return CTX_OK;
}

static void tw_put(table_writer_t *t, int c, const void *data, size_t len) {
    buf_append(&t->cols[c], data, len);
    t->bytes += len;
}

/* A text value (NULL when s is NULL): its length now, its bytes after all lengths. */
static void tw_put_text(table_writer_t *t, int c, const char *s, uint32_t len) {
    uint32_t stored = s == NULL ? UINT32_MAX : len;
    buf_append(&t->cols[c], &stored, 4);
    if (s != NULL) {
        buf_append(&t->texts[c], s, len);
    }
    t->bytes += 4 + (uint64_t)len;
}

static int tw_close(table_writer_t *t, int rc, ctx_err_t *err) {
    if (rc == CTX_OK) {
        rc = tw_flush(t, err);
    }
    if (rc == CTX_OK) {
        rc = col_writer_close(&t->w, &t->file->crc32c, &t->file->bytes, err);
    } else {
        col_writer_abort(&t->w);
    }
    for (int c = 0; c < COL_COLUMNS_MAX; c++) {
        buf_free(&t->cols[c]);
        buf_free(&t->texts[c]);
    }
    return rc;
}

static col_desc_t col(uint8_t type, uint32_t param, const char *name) {
    col_desc_t d;
    memset(&d, 0, sizeof(d));
    d.type = type;
    d.param = param;
    snprintf(d.name, sizeof(d.name), "%s", name);
    return d;
}

/* A one-column text file: the label or kind dictionary in id order. */
static int write_dict(const store_t *store, const char *root, snap_meta_t *meta, bool labels,
                      col_codec_t codec, ctx_err_t *err) {
    uint32_t n = labels ? store_label_count(store) : store_kind_count(store);
    col_desc_t cols[1] = {col(COL_TEXT, 0, labels ? "label" : "kind")};
    table_writer_t t;
    int rc = tw_open(&t, root, meta, labels ? "nodes" : "edges", labels ? "labels" : "kinds",
                     labels ? COL_KIND_LABELS : COL_KIND_KINDS, cols, 1, n, codec, err);
    for (uint32_t i = 0; rc == CTX_OK && i < n; i++) {
        uint32_t len = 0;
        const char *s =
            labels ? store_label_name(store, i, &len) : store_kind_name(store, (int32_t)i);
        if (!labels) {
            len = (uint32_t)strlen(s);
        }
        tw_put_text(&t, 0, s, len);
        rc = tw_row_done(&t, err);
    }
    return tw_close(&t, rc, err);
}

static int write_nodes(const store_t *store, const char *root, snap_meta_t *meta, col_codec_t codec,
                       ctx_err_t *err) {
    col_desc_t cols[4] = {col(COL_U32, 0, "slot"), col(COL_I64, 0, "id"), col(COL_U32, 0, "label"),
                          col(COL_TEXT, 0, "props")};
    table_writer_t t;
    int rc = tw_open(&t, root, meta, "nodes", "nodes", COL_KIND_NODES, cols, 4,
                     store_node_count(store), codec, err);
    uint32_t end = store_node_slot_end(store);
    for (uint32_t slot = 0; rc == CTX_OK && slot < end; slot++) {
        node_view_t n;
        uint32_t label;
        if (!store_node_at(store, slot, &n, &label)) {
            continue;
        }
        tw_put(&t, 0, &slot, 4);
        tw_put(&t, 1, &n.id, 8);
        tw_put(&t, 2, &label, 4);
        tw_put_text(&t, 3, n.props, n.props_len);
        rc = tw_row_done(&t, err);
    }
    return tw_close(&t, rc, err);
}

static int write_edges(const store_t *store, const char *root, snap_meta_t *meta, col_codec_t codec,
                       ctx_err_t *err) {
    col_desc_t cols[4] = {col(COL_I64, 0, "source"), col(COL_I64, 0, "target"),
                          col(COL_U32, 0, "kind"), col(COL_F64, 0, "weight")};
    table_writer_t t;
    int rc = tw_open(&t, root, meta, "edges", "edges", COL_KIND_EDGES, cols, 4,
                     store_edge_count(store), codec, err);
    store_cursor_t cursor = {0};
    edge_view_t e;
    while (rc == CTX_OK && store_edge_next(store, &cursor, &e)) {
        uint32_t kind = (uint32_t)e.kind;
        tw_put(&t, 0, &e.source, 8);
        tw_put(&t, 1, &e.target, 8);
        tw_put(&t, 2, &kind, 4);
        tw_put(&t, 3, &e.weight, 8);
        rc = tw_row_done(&t, err);
    }
    return tw_close(&t, rc, err);
}

static int write_vectors(const store_t *store, const char *root, snap_meta_t *meta,
                         col_codec_t codec, ctx_err_t *err) {
    uint32_t dims = store_vector_dims(store);
    col_desc_t cols[3] = {col(COL_U32, 0, "slot"), col(COL_I64, 0, "id"),
                          col(COL_F32V, dims, "embedding")};
    table_writer_t t;
    int rc = tw_open(&t, root, meta, "vectors", "vec", COL_KIND_VECTORS, cols, 3,
                     store_vector_count(store), codec, err);
    uint32_t end = store_vector_slot_end(store);
    for (uint32_t slot = 0; rc == CTX_OK && slot < end; slot++) {
        int64_t id;
        const float *v;
        if (!store_vector_at(store, slot, &id, &v)) {
            continue;
        }
        tw_put(&t, 0, &slot, 4);
        tw_put(&t, 1, &id, 8);
        tw_put(&t, 2, v, (size_t)dims * sizeof(float));
        rc = tw_row_done(&t, err);
    }
    return tw_close(&t, rc, err);
}

/* The vector index: hnsw/hnsw-<id>-0.idx, the hook's bytes compressed with the snapshot codec
 * (blobcodec.h; as they are with codec none), written when there is a hook. */
static int write_index(const store_t *store, const char *root, snap_meta_t *meta, col_codec_t codec,
                       const snap_index_hook_t *hook, ctx_err_t *err) {
    if (hook == NULL || hook->save == NULL) {
        return CTX_OK;
    }
    char path[FSU_PATH_MAX];
    snap_file_t *f = &meta->files[meta->nfiles++];
    snprintf(f->path, sizeof(f->path), "hnsw/hnsw-%06" PRIu64 "-0.idx", meta->snapshot_id);
    snprintf(f->kind, sizeof(f->kind), "hnsw");
    snprintf(f->codec, sizeof(f->codec), "%s", col_codec_name(codec));
    buf_t raw, packed;
    buf_init(&raw);
    buf_init(&packed);
    int rc = hook->save(hook->ctx, store, &raw, &f->rows, err);
    const buf_t *file = &raw;
    if (rc == CTX_OK && codec != COL_CODEC_NONE) {
        blob_encode(buf_peek(&raw), buf_size(&raw), codec, BLOB_FILTER_SHUFFLE4, &packed);
        file = &packed;
    }
    if (rc == CTX_OK && (buf_failed(&raw) || buf_failed(&packed))) {
        rc = ctx_err_set(err, CTX_ENOMEM, "out of memory writing the vector index");
    }
    if (rc == CTX_OK) {
        rc = fsu_path(path, err, "%s/%s", root, f->path);
    }
    if (rc == CTX_OK) {
        rc = fsu_mkdirs_for(path, 0700, err);
    }
    if (rc == CTX_OK) {
        f->bytes = buf_size(file);
        f->crc32c = crc32c(0, buf_peek(file), buf_size(file));
        rc = fsu_write_atomic(path, (const char *)buf_peek(file), buf_size(file), err);
    }
    buf_free(&raw);
    buf_free(&packed);
    return rc;
}

int snap_write(const store_t *store, const char *root, const snap_write_opts_t *opts,
               snap_meta_t *meta_out, ctx_err_t *err) {
    CTX_ASSERT(store != NULL && root != NULL && opts != NULL && meta_out != NULL);
    CTX_ASSERT(opts->snapshot_id >= 1 && opts->snapshot_id <= SNAP_ID_MAX);
    snap_meta_t *m = meta_out;
    memset(m, 0, sizeof(*m));
    m->snapshot_id = opts->snapshot_id;
    m->parent_id = opts->parent_id;
    m->raft_index = opts->raft_index;
    m->raft_term = opts->raft_term;
    m->timestamp_ms = opts->timestamp_ms;
    m->format_version = SNAP_FORMAT_VERSION;
    m->nodes = store_node_count(store);
    m->edges = store_edge_count(store);
    m->vectors = store_vector_count(store);
    m->dims = store_vector_dims(store);
    snprintf(m->metric, sizeof(m->metric), "cosine");
    char dir[FSU_PATH_MAX];
    int rc = fsu_path(dir, err, "%s/metadata", root);
    if (rc == CTX_OK) {
        rc = fsu_mkdirs(dir, 0700, err);
    }
    if (rc == CTX_OK) {
        rc = write_dict(store, root, m, true, opts->codec, err);
    }
    if (rc == CTX_OK) {
        rc = write_nodes(store, root, m, opts->codec, err);
    }
    if (rc == CTX_OK) {
        rc = write_dict(store, root, m, false, opts->codec, err);
    }
    if (rc == CTX_OK) {
        rc = write_edges(store, root, m, opts->codec, err);
    }
    if (rc == CTX_OK) {
        rc = write_vectors(store, root, m, opts->codec, err);
    }
    if (rc == CTX_OK) {
        rc = write_index(store, root, m, opts->codec, opts->index_hook, err);
    }
    for (int d = 0; rc == CTX_OK && d < 4; d++) {
        static const char *dirs[] = {"nodes", "edges", "vectors", "metadata"};
        rc = fsu_path(dir, err, "%s/%s", root, dirs[d]);
        if (rc == CTX_OK) {
            rc = fsu_fsync_dir(dir, err);
        }
    }
    if (rc == CTX_OK) {
        char rel[128];
        snap_meta_path(m->snapshot_id, rel, sizeof(rel));
        char *json = snap_meta_to_json(m);
        rc = write_atomic(root, rel, json, strlen(json), err);
        free(json);
    }
    if (rc != CTX_OK) {
        ctx_err_t ignored; /* err keeps the cause; a failed clean-up is logged by snap_discard */
        ctx_err_clear(&ignored);
        snap_discard(root, m->snapshot_id, &ignored);
    }
    return rc;
}

/* Every file name a snapshot's writer may create, as "%s" formats of the zero-padded id. */
static const char *const SNAP_FILE_FORMATS[] = {
    "nodes/labels-%s-0.col",  "nodes/nodes-%s-0.col",          "edges/kinds-%s-0.col",
    "edges/edges-%s-0.col",   "vectors/vec-%s-0.col",          "hnsw/hnsw-%s-0.idx",
    "hnsw/hnsw-%s-0.idx.tmp", "metadata/snapshot-%s.json.tmp", "metadata/snapshot-%s.json",
};

int snap_discard(const char *root, uint64_t id, ctx_err_t *err) {
    CTX_ASSERT(id >= 1 && id <= SNAP_ID_MAX);
    char digits[32];
    snprintf(digits, sizeof(digits), "%06" PRIu64, id);
    int rc = CTX_OK;
    size_t n = sizeof(SNAP_FILE_FORMATS) / sizeof(SNAP_FILE_FORMATS[0]);
    for (size_t i = 0; i < n; i++) {
        char rel[128], path[FSU_PATH_MAX];
        snprintf(rel, sizeof(rel), SNAP_FILE_FORMATS[i], digits);
        int step = fsu_path(path, err, "%s/%s", root, rel);
        if (step == CTX_OK && unlink(path) < 0 && errno != ENOENT) {
            step = ctx_err_set(err, CTX_EIO, "could not remove \"%s\": %s", path, strerror(errno));
            CTX_WARN("snapshot %" PRIu64 ": %s", id, err->message);
        }
        rc = rc == CTX_OK ? step : rc;
    }
    return rc;
}

/* ---------------------------------------------------------------- reading */

static const snap_file_t *find_file(const snap_meta_t *meta, const char *kind) {
    for (int i = 0; i < meta->nfiles; i++) {
        if (strcmp(meta->files[i].kind, kind) == 0) {
            return &meta->files[i];
        }
    }
    return NULL;
}

/* Column c of the current group as a typed pointer. */
#define COLV(r, c, T) ((const T *)(const void *)(r)->data[c])

static bool cols_match(const col_reader_t *r, const col_desc_t *want, int n) {
    if (r->ncols != n) {
        return false;
    }
    for (int c = 0; c < n; c++) {
        if (r->cols[c].type != want[c].type || r->cols[c].param != want[c].param) {
            return false;
        }
    }
    return true;
}

/* Text value i of a text column whose lengths start at data: walks an offset cursor. */
typedef struct text_cursor {
    const uint8_t *data;
    uint64_t bytes_at; /* where the next value's bytes start */
    uint32_t rows;
} text_cursor_t;

static void text_begin(text_cursor_t *tc, const uint8_t *data, uint32_t rows) {
    tc->data = data;
    tc->rows = rows;
    tc->bytes_at = 4 * (uint64_t)rows;
}

static const char *text_at(text_cursor_t *tc, uint32_t i, uint32_t *len) {
    uint32_t l;
    memcpy(&l, tc->data + 4 * (size_t)i, 4);
    if (l == UINT32_MAX) {
        *len = 0;
        return NULL;
    }
    const char *s = (const char *)tc->data + tc->bytes_at;
    tc->bytes_at += l;
    *len = l;
    return s;
}

typedef snap_group_fn group_fn;

/* Streams one file of the snapshot through fn, checking its kind, columns, size and CRC. */
static int read_file(const char *root, const snap_file_t *f, uint32_t kind, const col_desc_t *cols,
                     int ncols, group_fn fn, void *ctx, ctx_err_t *err) {
    char path[FSU_PATH_MAX];
    if (fsu_path(path, err, "%s/%s", root, f->path) != CTX_OK) {
        return err->code;
    }
    col_reader_t r;
    int rc = col_reader_open(&r, path, kind, err);
    if (rc == CTX_OK && (!cols_match(&r, cols, ncols) || r.rows != f->rows)) {
        rc = ctx_err_set(err, CTX_ECORRUPT, "\"%s\" does not match its snapshot metadata", path);
    }
    while (rc == CTX_OK) {
        rc = col_reader_group(&r, err);
        if (rc == 1) {
            rc = fn != NULL ? fn(ctx, &r, err) : CTX_OK;
        } else if (rc == 0) {
            if (r.offset != f->bytes || r.crc != f->crc32c) {
                rc = ctx_err_set(err, CTX_ECORRUPT,
                                 "\"%s\": file checksum mismatch (%llu bytes, crc %08x; metadata "
                                 "says %llu bytes, crc %08x)",
                                 path, (unsigned long long)r.offset, r.crc,
                                 (unsigned long long)f->bytes, f->crc32c);
            }
            break;
        }
    }
    col_reader_close(&r);
    return rc;
}

typedef struct load_ctx {
    store_t *store;
    uint32_t next_id; /* dictionaries */
    bool labels;
} load_ctx_t;

static int load_dict_group(void *ctx, col_reader_t *r, ctx_err_t *err) {
    load_ctx_t *lc = ctx;
    text_cursor_t tc;
    text_begin(&tc, r->data[0], r->group_rows);
    for (uint32_t i = 0; i < r->group_rows; i++) {
        uint32_t len;
        const char *s = text_at(&tc, i, &len);
        if (s == NULL) {
            return ctx_err_set(err, CTX_ECORRUPT, "\"%s\": NULL dictionary entry", r->path);
        }
        int rc = lc->labels ? store_restore_label(lc->store, lc->next_id, s, len, err)
                            : store_restore_kind(lc->store, lc->next_id, s, len, err);
        if (rc != CTX_OK) {
            return rc;
        }
        lc->next_id++;
    }
    return CTX_OK;
}

static int load_nodes_group(void *ctx, col_reader_t *r, ctx_err_t *err) {
    load_ctx_t *lc = ctx;
    text_cursor_t tc;
    text_begin(&tc, r->data[3], r->group_rows);
    for (uint32_t i = 0; i < r->group_rows; i++) {
        uint32_t len;
        const char *props = text_at(&tc, i, &len);
        int rc = store_restore_node(lc->store, COLV(r, 0, uint32_t)[i], COLV(r, 1, int64_t)[i],
                                    COLV(r, 2, uint32_t)[i], props, len, err);
        if (rc != CTX_OK) {
            return rc;
        }
    }
    return CTX_OK;
}

static int load_edges_group(void *ctx, col_reader_t *r, ctx_err_t *err) {
    load_ctx_t *lc = ctx;
    store_edge_rec_t *recs = ctx_try_malloc(sizeof(store_edge_rec_t) * r->group_rows);
    if (recs == NULL) {
        ctx_err_set(err, CTX_ENOMEM, "out of memory");
        ctx_err_detail(err, "Failed on request of size %zu for a group of edges.",
                       sizeof(store_edge_rec_t) * r->group_rows);
        return CTX_ENOMEM;
    }
    for (uint32_t i = 0; i < r->group_rows; i++) {
        recs[i].source = COLV(r, 0, int64_t)[i];
        recs[i].target = COLV(r, 1, int64_t)[i];
        uint32_t kind = COLV(r, 2, uint32_t)[i];
        recs[i].kind = kind > INT32_MAX ? -1 : (int32_t)kind;
        recs[i].weight = COLV(r, 3, double)[i];
    }
    int rc = store_restore_edges(lc->store, recs, r->group_rows, err);
    free(recs);
    return rc;
}

static int load_vectors_group(void *ctx, col_reader_t *r, ctx_err_t *err) {
    load_ctx_t *lc = ctx;
    uint32_t dims = r->cols[2].param;
    for (uint32_t i = 0; i < r->group_rows; i++) {
        int rc = store_restore_vector(lc->store, COLV(r, 0, uint32_t)[i], COLV(r, 1, int64_t)[i],
                                      COLV(r, 2, float) + (size_t)i * dims, err);
        if (rc != CTX_OK) {
            return rc;
        }
    }
    return CTX_OK;
}

typedef struct file_plan {
    const char *kind;
    uint32_t col_kind;
    col_desc_t cols[4];
    int ncols;
    group_fn fn;
    bool labels;
} file_plan_t;

static void file_plans(uint32_t dims, file_plan_t plans[5]) {
    plans[0] = (file_plan_t){"labels", COL_KIND_LABELS, {col(COL_TEXT, 0, "label")},
                             1,        load_dict_group, true};
    plans[1] = (file_plan_t){"nodes",
                             COL_KIND_NODES,
                             {col(COL_U32, 0, "slot"), col(COL_I64, 0, "id"),
                              col(COL_U32, 0, "label"), col(COL_TEXT, 0, "props")},
                             4,
                             load_nodes_group,
                             false};
    plans[2] = (file_plan_t){"kinds", COL_KIND_KINDS,  {col(COL_TEXT, 0, "kind")},
                             1,       load_dict_group, false};
    plans[3] = (file_plan_t){"edges",
                             COL_KIND_EDGES,
                             {col(COL_I64, 0, "source"), col(COL_I64, 0, "target"),
                              col(COL_U32, 0, "kind"), col(COL_F64, 0, "weight")},
                             4,
                             load_edges_group,
                             false};
    plans[4] = (file_plan_t){
        "vectors",
        COL_KIND_VECTORS,
        {col(COL_U32, 0, "slot"), col(COL_I64, 0, "id"), col(COL_F32V, dims, "embedding")},
        3,
        load_vectors_group,
        false};
}

/* Maps the index file and hands the hook its bytes, decoded when compressed (blobcodec.h). A file
 * that cannot be read or decoded is not a damaged snapshot (the index is derived state): it is
 * logged and the hook not called, so the loader builds the index from the store. */
static int load_index(const char *root, const snap_file_t *f, store_t *store,
                      const snap_index_hook_t *hook, ctx_err_t *err) {
    char path[FSU_PATH_MAX];
    int rc = fsu_path(path, err, "%s/%s", root, f->path);
    if (rc != CTX_OK) {
        return rc;
    }
    ctx_err_t inner;
    ctx_err_clear(&inner);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    void *map = MAP_FAILED;
    if (fd >= 0 && fstat(fd, &st) == 0 && st.st_size > 0) {
        map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    }
    if (fd >= 0) {
        close(fd);
    }
    if (map == MAP_FAILED) {
        CTX_WARN("vector index \"%s\" not used: cannot be mapped (%s); rebuilding it", path,
                 strerror(errno));
        return CTX_OK;
    }
    size_t len = (size_t)st.st_size;
    madvise(map, len, MADV_SEQUENTIAL | MADV_WILLNEED);
    uint8_t *decoded = NULL;
    size_t decoded_len = 0;
    if (blob_is_encoded(map, len)) {
        rc = blob_decode(map, len, &decoded, &decoded_len, &inner);
    }
    if (rc == CTX_OK) {
        rc = decoded != NULL ? hook->load(hook->ctx, store, decoded, decoded_len, err)
                             : hook->load(hook->ctx, store, map, len, err);
    } else {
        CTX_WARN("vector index \"%s\" not used: %s; rebuilding it", path, inner.message);
        rc = CTX_OK;
    }
    free(decoded);
    munmap(map, len);
    return rc;
}

int snap_load(const char *root, const snap_meta_t *meta, const store_config_t *config,
              const snap_index_hook_t *index_hook, store_t **out, ctx_err_t *err) {
    CTX_ASSERT(root != NULL && meta != NULL && out != NULL);
    if (meta->dims != config->vector_dims) {
        return ctx_err_set(err, CTX_ECONFIG,
                           "snapshot %" PRIu64 " has vector dimension %u but "
                           "vector_dimensions is %u",
                           meta->snapshot_id, meta->dims, config->vector_dims);
    }
    store_t *store = NULL;
    int rc = store_try_create(config, &store);
    if (rc != CTX_OK) {
        return ctx_err_set(err, rc, "out of memory");
    }
    file_plan_t plans[5];
    file_plans(meta->dims, plans);
    for (int p = 0; rc == CTX_OK && p < 5; p++) {
        const snap_file_t *f = find_file(meta, plans[p].kind);
        if (f == NULL) {
            rc = ctx_err_set(err, CTX_ECORRUPT, "snapshot %" PRIu64 " has no %s file",
                             meta->snapshot_id, plans[p].kind);
            break;
        }
        load_ctx_t lc = {.store = store, .next_id = 0, .labels = plans[p].labels};
        rc = read_file(root, f, plans[p].col_kind, plans[p].cols, plans[p].ncols, plans[p].fn, &lc,
                       err);
    }
    if (rc == CTX_OK &&
        (store_node_count(store) != meta->nodes || store_edge_count(store) != meta->edges ||
         store_vector_count(store) != meta->vectors)) {
        rc = ctx_err_set(err, CTX_ECORRUPT, "snapshot %" PRIu64 " counts disagree with its files",
                         meta->snapshot_id);
    }
    const snap_file_t *idx = find_file(meta, "hnsw");
    if (rc == CTX_OK && idx != NULL && index_hook != NULL && index_hook->load != NULL) {
        rc = load_index(root, idx, store, index_hook, err);
    }
    if (rc != CTX_OK) {
        store_destroy(store);
        return rc;
    }
    *out = store;
    return CTX_OK;
}

typedef struct verify_ctx {
    snap_file_report_fn report;
    void *ctx;
    const snap_file_t *file;
    uint64_t stored[COL_COLUMNS_MAX];
    uint64_t raw[COL_COLUMNS_MAX];
    col_reader_t *last;
} verify_ctx_t;

static int verify_group(void *ctx, col_reader_t *r, ctx_err_t *err) {
    (void)err;
    verify_ctx_t *vc = ctx;
    for (int c = 0; c < r->ncols; c++) {
        vc->stored[c] += r->stats[c].stored_bytes;
        vc->raw[c] += r->stats[c].raw_bytes;
    }
    vc->last = r;
    return CTX_OK;
}

int snap_verify(const char *root, const snap_meta_t *meta, snap_file_report_fn report, void *ctx,
                ctx_err_t *err) {
    file_plan_t plans[5];
    file_plans(meta->dims, plans);
    int rc = CTX_OK;
    for (int i = 0; rc == CTX_OK && i < meta->nfiles; i++) {
        const snap_file_t *f = &meta->files[i];
        const file_plan_t *plan = NULL;
        for (int p = 0; p < 5; p++) {
            if (strcmp(plans[p].kind, f->kind) == 0) {
                plan = &plans[p];
            }
        }
        if (plan == NULL) {
            continue; /* hnsw: verified by its own loader */
        }
        verify_ctx_t vc = {.report = report, .ctx = ctx, .file = f};
        char path[FSU_PATH_MAX];
        rc = fsu_path(path, err, "%s/%s", root, f->path);
        if (rc != CTX_OK) {
            break;
        }
        col_reader_t r;
        rc = col_reader_open(&r, path, plan->col_kind, err);
        col_reader_close(&r);
        if (rc == CTX_OK) {
            rc =
                read_file(root, f, plan->col_kind, plan->cols, plan->ncols, verify_group, &vc, err);
        }
        if (rc == CTX_OK && report != NULL) {
            col_reader_t hdr;
            if (col_reader_open(&hdr, path, plan->col_kind, err) == CTX_OK) {
                report(ctx, f, &hdr, vc.stored, vc.raw);
            }
            col_reader_close(&hdr);
        }
    }
    return rc;
}

/* Size and crc32c of a file without a column layout (the vector index) against the metadata. */
static int check_whole_file(const char *root, const snap_file_t *f, ctx_err_t *err) {
    char path[FSU_PATH_MAX];
    if (fsu_path(path, err, "%s/%s", root, f->path) != CTX_OK) {
        return err->code;
    }
    FILE *file = fopen(path, "rbe");
    if (file == NULL) {
        return ctx_err_set(err, CTX_EIO, "could not open \"%s\": %s", path, strerror(errno));
    }
    uint8_t block[65536];
    uint64_t bytes = 0;
    uint32_t crc = 0;
    for (;;) {
        size_t got = fread(block, 1, sizeof(block), file);
        if (got == 0) {
            break;
        }
        crc = crc32c(crc, block, got);
        bytes += got;
    }
    bool failed = ferror(file) != 0;
    fclose(file);
    if (failed) {
        return ctx_err_set(err, CTX_EIO, "could not read \"%s\"", path);
    }
    if (bytes != f->bytes || crc != f->crc32c) {
        return ctx_err_set(err, CTX_ECORRUPT,
                           "\"%s\": file checksum mismatch (%llu bytes, crc %08x; metadata says "
                           "%llu bytes, crc %08x)",
                           path, (unsigned long long)bytes, crc, (unsigned long long)f->bytes,
                           f->crc32c);
    }
    return CTX_OK;
}

int snap_file_scan(const char *root, const snap_meta_t *meta, const snap_file_t *file,
                   snap_group_fn fn, void *ctx, ctx_err_t *err) {
    CTX_ASSERT(file >= meta->files && file < meta->files + meta->nfiles);
    file_plan_t plans[5];
    file_plans(meta->dims, plans);
    for (int p = 0; p < 5; p++) {
        if (strcmp(plans[p].kind, file->kind) == 0) {
            return read_file(root, file, plans[p].col_kind, plans[p].cols, plans[p].ncols, fn, ctx,
                             err);
        }
    }
    if (strcmp(file->kind, "hnsw") == 0) {
        return check_whole_file(root, file, err);
    }
    return ctx_err_set(err, CTX_ECORRUPT, "snapshot %llu names \"%s\" of unknown kind \"%s\"",
                       (unsigned long long)meta->snapshot_id, file->path, file->kind);
}

int snap_remove(const char *root, const snap_meta_t *meta, const snap_meta_t *keep, size_t nkeep,
                uint64_t *removed, ctx_err_t *err) {
    *removed = 0;
    for (int i = 0; i < meta->nfiles; i++) {
        bool shared = false;
        for (size_t k = 0; k < nkeep && !shared; k++) {
            for (int j = 0; j < keep[k].nfiles && !shared; j++) {
                shared = strcmp(keep[k].files[j].path, meta->files[i].path) == 0;
            }
        }
        if (shared) {
            continue;
        }
        char path[FSU_PATH_MAX];
        if (fsu_path(path, err, "%s/%s", root, meta->files[i].path) != CTX_OK) {
            return err->code;
        }
        if (unlink(path) == 0) {
            (*removed)++;
        } else if (errno != ENOENT) {
            return ctx_err_set(err, CTX_EIO, "could not remove \"%s\": %s", path, strerror(errno));
        }
    }
    char rel[128], path[FSU_PATH_MAX];
    snap_meta_path(meta->snapshot_id, rel, sizeof(rel));
    if (fsu_path(path, err, "%s/%s", root, rel) != CTX_OK) {
        return err->code;
    }
    if (unlink(path) < 0 && errno != ENOENT) {
        return ctx_err_set(err, CTX_EIO, "could not remove \"%s\": %s", path, strerror(errno));
    }
    (*removed)++;
    return CTX_OK;
}

/* ---------------------------------------------------------------- adopting a received snapshot */

/* The name snap_write gives a file of kind for id (the "%s" formats of SNAP_FILE_FORMATS). */
static const char *adopt_format(const char *kind) {
    static const char *const pairs[][2] = {
        {"labels", "nodes/labels-%s-0.col"}, {"nodes", "nodes/nodes-%s-0.col"},
        {"kinds", "edges/kinds-%s-0.col"},   {"edges", "edges/edges-%s-0.col"},
        {"vectors", "vectors/vec-%s-0.col"}, {"hnsw", "hnsw/hnsw-%s-0.idx"},
    };
    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        if (strcmp(pairs[i][0], kind) == 0) {
            return pairs[i][1];
        }
    }
    return NULL;
}

/* Moves one file of the staged snapshot to its name for new_id under root (durably). */
static int adopt_file(const char *stage, const char *root, snap_file_t *f, const char *digits,
                      ctx_err_t *err) {
    const char *format = adopt_format(f->kind);
    if (format == NULL) {
        return ctx_err_set(err, CTX_ECORRUPT, "snapshot file \"%s\" has unknown kind \"%s\"",
                           f->path, f->kind);
    }
    char rel[SNAP_PATH_BYTES], from[FSU_PATH_MAX], to[FSU_PATH_MAX];
    snprintf(rel, sizeof(rel), format, digits);
    int rc = fsu_path(from, err, "%s/%s", stage, f->path);
    if (rc == CTX_OK) {
        rc = fsu_path(to, err, "%s/%s", root, rel);
    }
    if (rc == CTX_OK) {
        rc = fsu_mkdirs_for(to, 0755, err);
    }
    if (rc == CTX_OK) {
        rc = fsu_rename_durable(from, to, err);
    }
    if (rc == CTX_OK) {
        snprintf(f->path, sizeof(f->path), "%s", rel);
    }
    return rc;
}

int snap_adopt(const char *stage, const snap_meta_t *meta, const char *root, uint64_t new_id,
               snap_meta_t *out, ctx_err_t *err) {
    CTX_ASSERT(new_id >= 1 && new_id <= SNAP_ID_MAX);
    *out = *meta;
    out->snapshot_id = new_id;
    out->parent_id = 0;
    char digits[32];
    snprintf(digits, sizeof(digits), "%06" PRIu64, new_id);
    int rc = CTX_OK;
    for (int i = 0; rc == CTX_OK && i < out->nfiles; i++) {
        rc = adopt_file(stage, root, &out->files[i], digits, err);
    }
    if (rc == CTX_OK) {
        char rel[128], path[FSU_PATH_MAX];
        snap_meta_path(new_id, rel, sizeof(rel));
        rc = fsu_path(path, err, "%s/%s", root, rel);
        rc = rc == CTX_OK ? fsu_mkdirs_for(path, 0755, err) : rc;
        char *json = rc == CTX_OK ? snap_meta_to_json(out) : NULL;
        rc = rc != CTX_OK   ? rc
             : json != NULL ? write_atomic(root, rel, json, strlen(json), err)
                            : ctx_err_set(err, CTX_ENOMEM, "out of memory");
        free(json);
    }
    if (rc != CTX_OK) {
        ctx_err_t ignored;
        ctx_err_clear(&ignored);
        snap_discard(root, new_id, &ignored);
    }
    return rc;
}
