/*
 * command.c — write batches: building, the binary encoding, and atomic apply with an undo log.
 *
 * store_apply() walks the ops of a batch in order. Each op is first validated against the current
 * state (label length, duplicate keys, missing endpoints, vector dimension) and only then
 * mutates the store, so a failing op changes nothing; every mutation appends its inverse to an
 * undo log (the caller's, or a local one). On the first error the log is rolled back to where the
 * batch began, newest first, which restores the exact prior state: rows go back to the slots they
 * came from, interned labels and kinds created by the batch are popped, and slot allocation is
 * canonical (store_int.h), so later scan orders and slot choices are the same as if the batch had
 * never run. The log keeps ownership of props documents it took from the store (a deleted node's,
 * an updated node's old props) and old vector values in one flat float array. Each record also
 * keeps the row's old version and the store's write counter from before its op, so undo restores
 * versions exactly too.
 *
 * Version checks (command.h, "Write-write conflicts"). An op with CMD_FLAG_EXPECT_VERSION is
 * checked before it changes anything: the row's current version must equal expect_version, or be
 * above the write counter the apply started from (the same apply wrote it). This is how the SQL
 * layer's speculative transactions get first-committer-wins: a session's pending batch is
 * re-applied after other sessions' commits, and a row one of them changed fails the check. The
 * check is a function of the batch and the state in log order, so a replica applying the log
 * decides alike -- provided its versions are the same. They are not persisted: snapshots carry no
 * versions and a restarted store numbers rows afresh. That is sound on one node because no
 * transaction outlives its process (sessions die with it) and only batches that passed their
 * check are ever logged, so start-up replay (store_apply_logged) skips the checks. A replica
 * that restores from a snapshot and then applies the log cannot check either, for the same
 * reason: replicated apply must either stay like replay (the leader checks, against its state
 * holding every earlier entry, before it proposes), or the snapshot format must come to carry
 * every row's version and the write counter, after which any replica can check at apply time.
 *
 * Encoding (cmd_encode / cmd_decode), all integers big-endian:
 *   OFFSET SIZE DESCRIPTION
 *   0      1    CMD_FORMAT_VERSION
 *   1      4    op count N (≤ CMD_BATCH_OPS_MAX)
 *   5      …    N ops, each:
 *                 1  kind (cmd_op_kind_t)       1  flags (CMD_FLAG_*)     8  id (int64)
 *                 8  expect_version (uint64), only when flags has CMD_FLAG_EXPECT_VERSION
 *               then by kind:
 *                 NODE_INSERT/UPSERT/UPDATE   4+n label, 4+n props (n = 0xFFFFFFFF: NULL)
 *                 NODE_DELETE, VECTOR_DELETE  nothing
 *                 EDGE_INSERT/UPSERT          8 target, 4+n kind name, 8 weight (float8 bits)
 *                 EDGE_DELETE                 8 target, 4+n kind name
 *                 VECTOR_INSERT/UPSERT        4 dim (1..VECTOR_DIMS_MAX), dim × 4 float32 bits
 * Format 1 (written before version checks existed) is the same without CMD_FLAG_EXPECT_VERSION;
 * it is still read. Decoding checks every length against the bytes left and rejects unknown
 * kinds, unknown flag bits (for the batch's format), an unknown format and trailing bytes, all as
 * CTX_ECORRUPT.
 */
#include "command.h"

#include "store_int.h"
#include "utf8.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

enum { CMD_OP_BYTES_MIN = 10, CMD_FLAGS_V1 = 7, CMD_FLAGS_ALL = 15, CMD_NULL_LEN = 0xFFFFFFFFu };
_Static_assert((CMD_FLAGS_V1 | CMD_FLAG_EXPECT_VERSION) == CMD_FLAGS_ALL, "flag bits by format");

/* ---------------------------------------------------------------- batches */

void cmd_batch_init(cmd_batch_t *batch, arena_t *arena) {
    CTX_ASSERT(arena != NULL);
    memset(batch, 0, sizeof(*batch));
    batch->arena = arena;
    batch->ops_max = CMD_BATCH_OPS_MAX;
}

static const char *copy_bytes(arena_t *arena, const char *s, uint32_t len) {
    return s == NULL ? NULL : arena_strndup(arena, s, len);
}

int cmd_batch_check_room(const cmd_batch_t *batch, uint32_t n, ctx_err_t *err) {
    CTX_ASSERT(batch->ops_max <= CMD_BATCH_OPS_MAX);
    CTX_ASSERT(batch->count <= batch->ops_max);
    if (n > batch->ops_max - batch->count) {
        return ctx_err_set(err, CTX_ELIMIT,
                           "too many row changes in one transaction (max %" PRIu32 ")",
                           batch->ops_max);
    }
    return CTX_OK;
}

int cmd_batch_add(cmd_batch_t *batch, const cmd_op_t *op, ctx_err_t *err) {
    CTX_ASSERT(batch->arena != NULL);
    int rc = cmd_batch_check_room(batch, 1, err);
    if (rc == CTX_OK) {
        rc = utf8_check(op->label, op->label_len, err);
    }
    if (rc == CTX_OK) {
        rc = utf8_check(op->kind_name, op->kind_len, err);
    }
    if (rc == CTX_OK) {
        rc = utf8_check(op->props, op->props_len, err);
    }
    if (rc != CTX_OK) {
        return rc;
    }
    if (batch->count == batch->cap) {
        uint32_t cap = batch->cap ? batch->cap * 2 : 16;
        cmd_op_t *ops = arena_alloc(batch->arena, (size_t)cap * sizeof(cmd_op_t));
        if (batch->count > 0) {
            memcpy(ops, batch->ops, (size_t)batch->count * sizeof(cmd_op_t));
        }
        batch->ops = ops;
        batch->cap = cap;
    }
    cmd_op_t *copy = &batch->ops[batch->count++];
    *copy = *op;
    copy->label = copy_bytes(batch->arena, op->label, op->label_len);
    copy->props = copy_bytes(batch->arena, op->props, op->props_len);
    copy->kind_name = copy_bytes(batch->arena, op->kind_name, op->kind_len);
    if (op->vector != NULL) {
        float *v = arena_alloc(batch->arena, (size_t)op->vector_dim * sizeof(float) + 1);
        memcpy(v, op->vector, (size_t)op->vector_dim * sizeof(float));
        copy->vector = v;
    }
    return CTX_OK;
}

/* ---------------------------------------------------------------- encoding */

static void put_str(buf_t *out, const char *s, uint32_t len, bool nullable) {
    if (s == NULL && nullable) {
        buf_append_u32be(out, CMD_NULL_LEN);
        return;
    }
    CTX_ASSERT(len < CMD_NULL_LEN);
    buf_append_u32be(out, len);
    if (len > 0) {
        buf_append(out, s, len);
    }
}

static void put_op(buf_t *out, const cmd_op_t *op) {
    buf_append_u8(out, op->kind);
    buf_append_u8(out, op->flags);
    buf_append_u64be(out, (uint64_t)op->id);
    if (op->flags & CMD_FLAG_EXPECT_VERSION) {
        buf_append_u64be(out, op->expect_version);
    }
    uint64_t bits;
    switch ((cmd_op_kind_t)op->kind) {
    case CMD_NODE_INSERT:
    case CMD_NODE_UPSERT:
    case CMD_NODE_UPDATE:
        put_str(out, op->label, op->label_len, false);
        put_str(out, op->props, op->props_len, true);
        break;
    case CMD_EDGE_INSERT:
    case CMD_EDGE_UPSERT:
    case CMD_EDGE_DELETE:
        buf_append_u64be(out, (uint64_t)op->target);
        put_str(out, op->kind_name, op->kind_len, false);
        if (op->kind != CMD_EDGE_DELETE) {
            memcpy(&bits, &op->weight, sizeof(bits));
            buf_append_u64be(out, bits);
        }
        break;
    case CMD_VECTOR_INSERT:
    case CMD_VECTOR_UPSERT:
        CTX_ASSERT(op->vector != NULL || op->vector_dim == 0);
        buf_append_u32be(out, op->vector_dim);
        for (uint32_t i = 0; i < op->vector_dim; i++) {
            uint32_t fbits;
            memcpy(&fbits, &op->vector[i], sizeof(fbits));
            buf_append_u32be(out, fbits);
        }
        break;
    case CMD_NODE_DELETE:
    case CMD_VECTOR_DELETE:
        break;
    default:
        CTX_ASSERT(!"unknown command op kind");
    }
}

void cmd_encode(const cmd_batch_t *batch, buf_t *out) {
    CTX_ASSERT(batch->count <= CMD_BATCH_OPS_MAX);
    buf_append_u8(out, CMD_FORMAT_VERSION);
    buf_append_u32be(out, batch->count);
    for (uint32_t i = 0; i < batch->count; i++) {
        put_op(out, &batch->ops[i]);
    }
}

/* Bounds-checked reader: any short read sets bad and yields zeros. */
typedef struct reader {
    const uint8_t *p;
    const uint8_t *end;
    bool bad;
    bool no_memory; /* a payload copy did not fit in the arena (bad is set too, to stop) */
} reader_t;

static bool rd_need(reader_t *r, size_t n) {
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = true;
        return false;
    }
    return true;
}

static uint8_t rd_u8(reader_t *r) {
    return rd_need(r, 1) ? *r->p++ : 0;
}

static uint32_t rd_u32(reader_t *r) {
    if (!rd_need(r, 4)) {
        return 0;
    }
    uint32_t v = ctx_read_u32be(r->p);
    r->p += 4;
    return v;
}

static uint64_t rd_u64(reader_t *r) {
    if (!rd_need(r, 8)) {
        return 0;
    }
    uint64_t v = ctx_read_u64be(r->p);
    r->p += 8;
    return v;
}

static const char *rd_str(reader_t *r, arena_t *arena, uint32_t *len_out, bool nullable) {
    uint32_t len = rd_u32(r);
    *len_out = 0;
    if (r->bad || (len == CMD_NULL_LEN && nullable)) {
        return NULL;
    }
    if (!rd_need(r, len)) {
        return NULL;
    }
    char *s = arena_try_alloc(arena, (size_t)len + 1);
    if (s == NULL) {
        r->no_memory = r->bad = true;
        return NULL;
    }
    ctx_memcpy(s, r->p, len);
    s[len] = '\0';
    r->p += len;
    *len_out = len;
    return s;
}

static void rd_vector(reader_t *r, arena_t *arena, cmd_op_t *op) {
    uint32_t dim = rd_u32(r);
    if (dim == 0 || dim > VECTOR_DIMS_MAX || !rd_need(r, (size_t)dim * 4)) {
        r->bad = true;
        return;
    }
    float *v = arena_try_alloc(arena, (size_t)dim * sizeof(float));
    if (v == NULL) {
        r->no_memory = r->bad = true;
        return;
    }
    for (uint32_t i = 0; i < dim; i++) {
        uint32_t bits = ctx_read_u32be(r->p + (size_t)i * 4);
        memcpy(&v[i], &bits, sizeof(bits));
    }
    r->p += (size_t)dim * 4;
    op->vector = v;
    op->vector_dim = dim;
}

static void rd_op(reader_t *r, arena_t *arena, uint8_t flags_allowed, cmd_op_t *op) {
    memset(op, 0, sizeof(*op));
    op->kind = rd_u8(r);
    op->flags = rd_u8(r);
    op->id = (int64_t)rd_u64(r);
    if (op->kind < CMD_NODE_INSERT || op->kind > CMD_VECTOR_DELETE ||
        (op->flags & ~flags_allowed) != 0) {
        r->bad = true;
        return;
    }
    if (op->flags & CMD_FLAG_EXPECT_VERSION) {
        op->expect_version = rd_u64(r);
    }
    switch ((cmd_op_kind_t)op->kind) {
    case CMD_NODE_INSERT:
    case CMD_NODE_UPSERT:
    case CMD_NODE_UPDATE:
        op->label = rd_str(r, arena, &op->label_len, false);
        op->props = rd_str(r, arena, &op->props_len, true);
        break;
    case CMD_EDGE_INSERT:
    case CMD_EDGE_UPSERT:
    case CMD_EDGE_DELETE:
        op->target = (int64_t)rd_u64(r);
        op->kind_name = rd_str(r, arena, &op->kind_len, false);
        if (op->kind != CMD_EDGE_DELETE) {
            uint64_t bits = rd_u64(r);
            memcpy(&op->weight, &bits, sizeof(bits));
        }
        break;
    case CMD_VECTOR_INSERT:
    case CMD_VECTOR_UPSERT:
        rd_vector(r, arena, op);
        break;
    case CMD_NODE_DELETE:
    case CMD_VECTOR_DELETE:
        break;
    }
}

/* Reads and checks the batch header: the op count and the flags its format allows. */
static int rd_header(reader_t *r, size_t len, uint32_t *count, uint8_t *flags_allowed,
                     ctx_err_t *err) {
    uint8_t version = rd_u8(r);
    *count = rd_u32(r);
    if (r->bad) {
        return ctx_err_set(err, CTX_ECORRUPT, "invalid command batch: truncated header");
    }
    if (version < CMD_FORMAT_VERSION_MIN || version > CMD_FORMAT_VERSION) {
        return ctx_err_set(err, CTX_ECORRUPT, "invalid command batch: unknown format version %u",
                           version);
    }
    if (*count > CMD_BATCH_OPS_MAX || *count > (size_t)(r->end - r->p) / CMD_OP_BYTES_MIN) {
        return ctx_err_set(err, CTX_ECORRUPT, "invalid command batch: %" PRIu32 " ops in %zu bytes",
                           *count, len);
    }
    *flags_allowed = version == 1 ? CMD_FLAGS_V1 : CMD_FLAGS_ALL;
    return CTX_OK;
}

static int rd_trailer(const reader_t *r, ctx_err_t *err) {
    if (r->no_memory) {
        return ctx_err_set(err, CTX_ENOMEM, "out of memory decoding a command batch");
    }
    if (r->bad || r->p != r->end) {
        return ctx_err_set(err, CTX_ECORRUPT, "invalid command batch: %s",
                           r->bad ? "malformed or truncated op" : "trailing bytes");
    }
    return CTX_OK;
}

int cmd_decode(const uint8_t *data, size_t len, arena_t *arena, cmd_batch_t *out, ctx_err_t *err) {
    CTX_ASSERT(arena != NULL && out != NULL);
    cmd_batch_init(out, arena);
    reader_t r = {.p = data, .end = data + len, .bad = data == NULL};
    uint32_t count = 0;
    uint8_t flags_allowed = 0;
    int rc = rd_header(&r, len, &count, &flags_allowed, err);
    if (rc != CTX_OK) {
        return rc;
    }
    out->ops = count ? arena_try_alloc(arena, (size_t)count * sizeof(cmd_op_t)) : NULL;
    if (count > 0 && out->ops == NULL) {
        return ctx_err_set(err, CTX_ENOMEM,
                           "out of memory decoding a command batch of %" PRIu32 " ops", count);
    }
    out->cap = count;
    for (uint32_t i = 0; i < count && !r.bad; i++) {
        rd_op(&r, arena, flags_allowed, &out->ops[i]);
        out->count = i + 1;
    }
    rc = rd_trailer(&r, err);
    if (rc != CTX_OK) {
        out->count = 0;
    }
    return rc;
}

/* One pass of cmd_decode_pieces: with fn NULL it only checks the bytes. */
static int decode_pass(const uint8_t *data, size_t len, arena_t *arena, uint32_t piece_ops,
                       cmd_piece_fn fn, void *ctx, ctx_err_t *err) {
    reader_t r = {.p = data, .end = data + len, .bad = data == NULL};
    uint32_t count = 0;
    uint8_t flags_allowed = 0;
    int rc = rd_header(&r, len, &count, &flags_allowed, err);
    cmd_op_t *ops = NULL;
    for (uint32_t done = 0; rc == CTX_OK && done < count && !r.bad;) {
        uint32_t n = count - done < piece_ops ? count - done : piece_ops;
        arena_reset(arena);
        ops = arena_try_alloc(arena, (size_t)n * sizeof(cmd_op_t));
        if (ops == NULL) {
            rc = ctx_err_set(err, CTX_ENOMEM, "out of memory decoding a command batch");
            break;
        }
        uint32_t got = 0;
        while (got < n && !r.bad) {
            rd_op(&r, arena, flags_allowed, &ops[got++]);
        }
        done += n;
        if (fn != NULL && !r.bad) {
            cmd_batch_t piece = {
                .ops = ops, .count = got, .cap = n, .ops_max = CMD_BATCH_OPS_MAX, .arena = arena};
            fn(ctx, &piece);
        }
    }
    if (rc == CTX_OK) {
        rc = rd_trailer(&r, err);
    }
    arena_reset(arena);
    return rc;
}

int cmd_decode_pieces(const uint8_t *data, size_t len, arena_t *arena, uint32_t piece_ops,
                      cmd_piece_fn fn, void *ctx, ctx_err_t *err) {
    CTX_ASSERT(arena != NULL && fn != NULL);
    CTX_ASSERT(piece_ops > 0);
    int rc = decode_pass(data, len, arena, piece_ops, NULL, NULL, err);
    if (rc == CTX_OK) {
        rc = decode_pass(data, len, arena, piece_ops, fn, ctx, err);
    }
    return rc;
}

/* ---------------------------------------------------------------- undo log */

typedef enum {
    UNDO_NODE_INSERTED = 1,
    UNDO_NODE_DELETED,
    UNDO_NODE_CHANGED,
    UNDO_EDGE_INSERTED,
    UNDO_EDGE_DELETED,
    UNDO_EDGE_WEIGHT,
    UNDO_VECTOR_INSERTED,
    UNDO_VECTOR_DELETED,
    UNDO_VECTOR_CHANGED,
    UNDO_KIND_ADDED,
    UNDO_LABEL_ADDED,
} undo_type_t;

typedef struct undo_rec {
    uint8_t type;      /* undo_type_t */
    uint8_t props_set; /* NODE_CHANGED: props were replaced */
    uint8_t out_cls;   /* EDGE_INSERTED, EDGE_DELETED: the lists' size classes before the op */
    uint8_t in_cls;
    int32_t kind;
    uint32_t slot;
    uint32_t label;
    uint32_t props_len;
    int64_t id;
    int64_t target;
    char *props; /* owned by the log */
    double weight;
    uint64_t floats_at; /* offset of the saved vector in floats */
    uint64_t version;   /* the row's version before the change (DELETED, CHANGED, WEIGHT) */
    uint64_t seq;       /* the store's write_seq before the op that made this record */
} undo_rec_t;

struct store_undo {
    undo_rec_t *recs;
    uint64_t count;
    uint64_t cap;
    float *floats;
    uint64_t floats_len;
    uint64_t floats_cap;
};

store_undo_t *store_undo_create(void) {
    return ctx_calloc(1, sizeof(store_undo_t));
}

static void undo_release(store_undo_t *undo, uint64_t mark) {
    for (uint64_t i = mark; i < undo->count; i++) {
        free(undo->recs[i].props);
    }
    undo->count = mark;
    if (mark == 0) {
        undo->floats_len = 0;
    }
}

void store_undo_destroy(store_undo_t *undo) {
    if (undo == NULL) {
        return;
    }
    undo_release(undo, 0);
    free(undo->recs);
    free(undo->floats);
    free(undo);
}

uint64_t store_undo_size(const store_undo_t *undo) {
    return undo->count;
}

void store_undo_clear(store_undo_t *undo) {
    undo_release(undo, 0);
}

/* Room for `recs` more records and `floats` more saved vector values, so that the records of
 * one op can be appended after its changes without failing; CTX_ENOMEM changes nothing. */
static int undo_reserve(store_undo_t *undo, uint64_t recs, uint64_t floats) {
    if (undo->count + recs > undo->cap) {
        uint64_t cap = undo->cap ? undo->cap : 64;
        while (cap < undo->count + recs) {
            cap *= 2;
        }
        undo_rec_t *grown = cap <= SIZE_MAX / sizeof(undo_rec_t)
                                ? ctx_try_realloc(undo->recs, cap * sizeof(undo_rec_t))
                                : NULL;
        if (grown == NULL) {
            return CTX_ENOMEM;
        }
        undo->recs = grown;
        undo->cap = cap;
    }
    if (undo->floats_len + floats > undo->floats_cap) {
        uint64_t cap = undo->floats_cap ? undo->floats_cap : 1024;
        while (cap < undo->floats_len + floats) {
            cap *= 2;
        }
        float *grown = cap <= SIZE_MAX / sizeof(float)
                           ? ctx_try_realloc(undo->floats, cap * sizeof(float))
                           : NULL;
        if (grown == NULL) {
            return CTX_ENOMEM;
        }
        undo->floats = grown;
        undo->floats_cap = cap;
    }
    return CTX_OK;
}

static undo_rec_t *undo_push(store_undo_t *undo, undo_type_t type, int64_t id) {
    CTX_ASSERT(undo->count < undo->cap); /* undo_reserve ran for the op */
    undo_rec_t *rec = &undo->recs[undo->count++];
    memset(rec, 0, sizeof(*rec));
    rec->type = (uint8_t)type;
    rec->id = id;
    return rec;
}

static uint64_t undo_save_vector(store_undo_t *undo, const float *v, uint32_t dims) {
    CTX_ASSERT(undo->floats_len + dims <= undo->floats_cap); /* undo_reserve ran for the op */
    uint64_t at = undo->floats_len;
    memcpy(undo->floats + at, v, (size_t)dims * sizeof(float));
    undo->floats_len += dims;
    return at;
}

static void undo_node(store_t *store, store_undo_t *undo, undo_rec_t *rec) {
    uint32_t slot = store_node_slot(store, rec->id);
    if (rec->type == UNDO_NODE_INSERTED) {
        CTX_ASSERT(slot != STORE_SLOT_NONE);
        free(store_node_remove(store, slot));
    } else if (rec->type == UNDO_NODE_DELETED) {
        CTX_ASSERT(slot == STORE_SLOT_NONE);
        slot = store_node_add(store, rec->id, rec->label, rec->props, rec->props_len, rec->slot);
        store->nodes[slot].version = rec->version;
        rec->props = NULL;
    } else {
        CTX_ASSERT(slot != STORE_SLOT_NONE);
        node_slot_t *n = &store->nodes[slot];
        n->label = rec->label;
        n->version = rec->version;
        if (rec->props_set) {
            free(n->props);
            n->props = rec->props;
            n->props_len = rec->props_len;
            rec->props = NULL;
        }
    }
    (void)undo;
}

static void undo_one(store_t *store, store_undo_t *undo, undo_rec_t *rec) {
    uint32_t dims = store->dims;
    switch ((undo_type_t)rec->type) {
    case UNDO_NODE_INSERTED:
    case UNDO_NODE_DELETED:
    case UNDO_NODE_CHANGED:
        undo_node(store, undo, rec);
        break;
    case UNDO_EDGE_INSERTED:
        store_edge_unadd(store, store_node_slot(store, rec->id),
                         store_node_slot(store, rec->target), rec->kind, rec->out_cls, rec->in_cls);
        break;
    case UNDO_EDGE_DELETED:
        store_edge_readd(store, store_node_slot(store, rec->id),
                         store_node_slot(store, rec->target), rec->kind, rec->weight, rec->out_cls,
                         rec->in_cls);
        __attribute__((fallthrough)); /* the re-added edge gets its old version back */
    case UNDO_EDGE_WEIGHT:
        store_edge_set(store, store_node_slot(store, rec->id), store_node_slot(store, rec->target),
                       rec->kind, rec->weight, rec->version);
        break;
    case UNDO_VECTOR_INSERTED:
        store_vector_remove(store, store_vector_slot(store, rec->id));
        break;
    case UNDO_VECTOR_DELETED:
        store_vector_add(store, rec->id, undo->floats + rec->floats_at, rec->slot);
        store->vec_versions[rec->slot] = rec->version;
        undo->floats_len = rec->floats_at;
        break;
    case UNDO_VECTOR_CHANGED: {
        uint32_t slot = store_vector_slot(store, rec->id);
        memcpy(store_vector_data(store, slot), undo->floats + rec->floats_at,
               (size_t)dims * sizeof(float));
        store->vec_versions[slot] = rec->version;
        undo->floats_len = rec->floats_at;
        break;
    }
    case UNDO_KIND_ADDED:
        CTX_ASSERT(store->kinds.count == (uint32_t)rec->kind + 1);
        store_dict_pop(&store->kinds);
        break;
    case UNDO_LABEL_ADDED:
        CTX_ASSERT(store->labels.count == rec->label + 1);
        store_dict_pop(&store->labels);
        break;
    }
    CTX_ASSERT(rec->seq >= 1 && rec->seq <= store->write_seq);
    store->write_seq = rec->seq;
}

static void undo_rollback_to(store_t *store, store_undo_t *undo, uint64_t mark) {
    CTX_ASSERT(mark <= undo->count);
    while (undo->count > mark) {
        undo_rec_t *rec = &undo->recs[undo->count - 1];
        undo_one(store, undo, rec);
        free(rec->props);
        undo->count--;
    }
}

void store_undo_rollback_to(store_t *store, store_undo_t *undo, uint64_t mark) {
    CTX_ASSERT(store != NULL);
    undo_rollback_to(store, undo, mark);
    CTX_ASSERT(undo->count == mark);
}

void store_undo_rollback(store_t *store, store_undo_t *undo) {
    undo_rollback_to(store, undo, 0);
    CTX_ASSERT(undo->count == 0);
    undo->floats_len = 0;
}

/* ---------------------------------------------------------------- apply */

typedef struct apply_ctx {
    store_t *store;
    store_undo_t *undo;
    ctx_err_t *err;
    bool check_versions; /* false for store_apply_logged */
    uint64_t seq_start;  /* write_seq when the apply began: rows above it were written by it */
    uint64_t op_seq;     /* write_seq when the current op began (undo_rec_t.seq) */
} apply_ctx_t;

/* Appends an undo record for the current op. */
static undo_rec_t *log_change(apply_ctx_t *ac, undo_type_t type, int64_t id) {
    undo_rec_t *rec = undo_push(ac->undo, type, id);
    rec->seq = ac->op_seq;
    return rec;
}

/* The version for a row the current op inserts or changes (at most one per op). */
static uint64_t next_version(apply_ctx_t *ac) {
    CTX_ASSERT(ac->store->write_seq == ac->op_seq);
    CTX_ASSERT(ac->store->write_seq < UINT64_MAX);
    return ++ac->store->write_seq;
}

static int check_text_len(apply_ctx_t *ac, uint32_t len) {
    if (len > LABEL_BYTES_MAX) {
        ctx_err_set(ac->err, CTX_ETOO_LONG, "value too long for type character varying(%d)",
                    LABEL_BYTES_MAX);
        return CTX_ETOO_LONG;
    }
    return CTX_OK;
}

static int duplicate_id(apply_ctx_t *ac, const char *table, int64_t id) {
    ctx_err_set(ac->err, CTX_EUNIQUE, "duplicate key value violates unique constraint \"%s_pkey\"",
                table);
    ctx_err_detail(ac->err, "Key (id)=(%" PRId64 ") already exists.", id);
    return CTX_EUNIQUE;
}

/* 53200 for a structure that could not grow; the op changed nothing unlogged, so the batch's
 * rollback restores the store exactly. */
static int out_of_memory(apply_ctx_t *ac, const char *what) {
    if (ac->err != NULL && ac->err->code == CTX_OK) {
        ctx_err_set(ac->err, CTX_ENOMEM, "out of memory");
        ctx_err_detail(ac->err, "Failed to grow %s.", what);
    }
    return CTX_ENOMEM;
}

/* Label id for the op's label, interning it (with an undo record) when new. */
static int intern_label(apply_ctx_t *ac, const cmd_op_t *op, uint32_t *id_out) {
    const char *label = op->label ? op->label : "";
    uint32_t id = store_dict_find(&ac->store->labels, label, op->label_len);
    if (id == DICT_NONE) {
        if (store_dict_add(&ac->store->labels, label, op->label_len, &id) != CTX_OK) {
            return out_of_memory(ac, "the label dictionary");
        }
        log_change(ac, UNDO_LABEL_ADDED, 0)->label = id;
    }
    *id_out = id;
    return CTX_OK;
}

/* The op's props as an owned copy (*out NULL when the op's props are NULL). */
static int props_copy(apply_ctx_t *ac, const cmd_op_t *op, char **out) {
    *out = NULL;
    if (op->props == NULL) {
        return CTX_OK;
    }
    char *p = ctx_try_malloc((size_t)op->props_len + 1);
    if (p == NULL) {
        return out_of_memory(ac, "a node's props");
    }
    memcpy(p, op->props, op->props_len);
    p[op->props_len] = '\0';
    *out = p;
    return CTX_OK;
}

/* Replaces label (when set_label) and props (when set_props) of the node in slot. */
static int node_change(apply_ctx_t *ac, const cmd_op_t *op, uint32_t slot, bool set_label,
                       bool set_props) {
    char *props = NULL;
    int rc = set_props ? props_copy(ac, op, &props) : CTX_OK;
    uint32_t label = ac->store->nodes[slot].label;
    rc = (rc == CTX_OK && set_label) ? intern_label(ac, op, &label) : rc;
    if (rc != CTX_OK) {
        free(props);
        return rc;
    }
    node_slot_t *n = &ac->store->nodes[slot];
    undo_rec_t *rec = log_change(ac, UNDO_NODE_CHANGED, op->id);
    rec->label = n->label;
    rec->version = n->version;
    n->version = next_version(ac);
    rec->props_set = set_props;
    if (set_props) {
        rec->props = n->props;
        rec->props_len = n->props_len;
        n->props = props;
        n->props_len = op->props ? op->props_len : 0;
    }
    n->label = label;
    return CTX_OK;
}

/* Inserts the op's node (absent before): everything that can fail comes first. */
static int node_insert(apply_ctx_t *ac, const cmd_op_t *op) {
    uint32_t label;
    char *props = NULL;
    int rc = intern_label(ac, op, &label);
    rc = rc == CTX_OK ? props_copy(ac, op, &props) : rc;
    if (rc == CTX_OK && store_node_reserve(ac->store) != CTX_OK) {
        rc = out_of_memory(ac, "the node table");
    }
    if (rc != CTX_OK) {
        free(props);
        return rc;
    }
    log_change(ac, UNDO_NODE_INSERTED, op->id);
    next_version(ac);
    store_node_add(ac->store, op->id, label, props, op->props ? op->props_len : 0, STORE_SLOT_NONE);
    return CTX_OK;
}

static int apply_node_write(apply_ctx_t *ac, const cmd_op_t *op, bool *changed) {
    uint32_t slot = store_node_slot(ac->store, op->id);
    bool set_label = op->kind != CMD_NODE_UPDATE || (op->flags & CMD_FLAG_SET_LABEL);
    bool set_props = op->kind != CMD_NODE_UPDATE || (op->flags & CMD_FLAG_SET_PROPS);
    if (slot == STORE_SLOT_NONE && op->kind == CMD_NODE_UPDATE) {
        return CTX_OK;
    }
    if (set_label && check_text_len(ac, op->label_len) != CTX_OK) {
        return CTX_ETOO_LONG;
    }
    if (slot == STORE_SLOT_NONE) {
        int rc = node_insert(ac, op);
        *changed = rc == CTX_OK;
        return rc;
    }
    if (op->kind == CMD_NODE_INSERT) {
        return (op->flags & CMD_FLAG_IF_ABSENT) ? CTX_OK : duplicate_id(ac, "nodes", op->id);
    }
    int rc = node_change(ac, op, slot, set_label, set_props);
    *changed = rc == CTX_OK;
    return rc;
}

static void edge_delete_logged(apply_ctx_t *ac, uint32_t source_slot, uint32_t target_slot,
                               int32_t kind) {
    undo_rec_t *rec = log_change(ac, UNDO_EDGE_DELETED, ac->store->nodes[source_slot].id);
    rec->target = ac->store->nodes[target_slot].id;
    rec->kind = kind;
    rec->version = store_edge_find(ac->store, source_slot, rec->target, kind)->version;
    store_edge_classes(ac->store, source_slot, target_slot, &rec->out_cls, &rec->in_cls);
    rec->weight = store_edge_remove(ac->store, source_slot, target_slot, kind);
}

static void vector_delete_logged(apply_ctx_t *ac, int64_t id, uint32_t slot) {
    undo_rec_t *rec = log_change(ac, UNDO_VECTOR_DELETED, id);
    rec->slot = slot;
    rec->version = ac->store->vec_versions[slot];
    rec->floats_at =
        undo_save_vector(ac->undo, store_vector_data(ac->store, slot), ac->store->dims);
    store_vector_remove(ac->store, slot);
}

/* Deletes a node with its out-edges, in-edges and vector (each logged, so undo restores all). */
static int apply_node_delete(apply_ctx_t *ac, const cmd_op_t *op, bool *changed) {
    store_t *store = ac->store;
    uint32_t slot = store_node_slot(store, op->id);
    if (slot == STORE_SLOT_NONE) {
        return CTX_OK;
    }
    uint64_t recs = (uint64_t)store->nodes[slot].out.len + store->nodes[slot].in.len + 2;
    if (undo_reserve(ac->undo, recs, store->dims) != CTX_OK) {
        return out_of_memory(ac, "the undo log");
    }
    while (store->nodes[slot].out.len > 0) {
        const adj_list_t *out = &store->nodes[slot].out;
        const adj_entry_t *e = store_adj_entries(store, out) + out->len - 1;
        edge_delete_logged(ac, slot, store_node_slot(store, e->neighbour), e->kind);
    }
    while (store->nodes[slot].in.len > 0) {
        const adj_list_t *in = &store->nodes[slot].in;
        const adj_entry_t *e = store_adj_entries(store, in) + in->len - 1;
        edge_delete_logged(ac, store_node_slot(store, e->neighbour), slot, e->kind);
    }
    uint32_t vslot = store_vector_slot(store, op->id);
    if (vslot != STORE_SLOT_NONE) {
        vector_delete_logged(ac, op->id, vslot);
    }
    node_slot_t *n = &store->nodes[slot];
    undo_rec_t *rec = log_change(ac, UNDO_NODE_DELETED, op->id);
    rec->slot = slot;
    rec->version = n->version;
    rec->label = n->label;
    rec->props_len = n->props_len;
    rec->props = store_node_remove(store, slot);
    *changed = true;
    return CTX_OK;
}

static int edge_missing_endpoint(apply_ctx_t *ac, const char *column, int64_t id) {
    ctx_err_set(ac->err, CTX_EFOREIGN_KEY,
                "insert or update on table \"edges\" violates foreign key constraint "
                "\"edges_%s_fkey\"",
                column);
    ctx_err_detail(ac->err, "Key (%s)=(%" PRId64 ") is not present in table \"nodes\".", column,
                   id);
    return CTX_EFOREIGN_KEY;
}

static int edge_kind_for_insert(apply_ctx_t *ac, const cmd_op_t *op, int32_t *kind_out) {
    const char *name = op->kind_name ? op->kind_name : "";
    int32_t kind = store_kind_lookup(ac->store, name, op->kind_len);
    if (kind < 0) {
        if (store_kind_count(ac->store) >= STORE_KINDS_MAX) {
            ctx_err_set(ac->err, CTX_ELIMIT, "too many edge kinds (at most %d)", STORE_KINDS_MAX);
            return CTX_ELIMIT;
        }
        uint32_t id;
        if (store_dict_add(&ac->store->kinds, name, op->kind_len, &id) != CTX_OK) {
            return out_of_memory(ac, "the edge kind dictionary");
        }
        kind = (int32_t)id;
        log_change(ac, UNDO_KIND_ADDED, 0)->kind = kind;
    }
    *kind_out = kind;
    return CTX_OK;
}

static int apply_edge_write(apply_ctx_t *ac, const cmd_op_t *op, bool *changed) {
    store_t *store = ac->store;
    if (check_text_len(ac, op->kind_len) != CTX_OK) {
        return CTX_ETOO_LONG;
    }
    uint32_t source = store_node_slot(store, op->id);
    uint32_t target = store_node_slot(store, op->target);
    int32_t kind = store_kind_lookup(store, op->kind_name ? op->kind_name : "", op->kind_len);
    adj_entry_t *e = (kind >= 0 && source != STORE_SLOT_NONE)
                         ? store_edge_find(store, source, op->target, kind)
                         : NULL;
    if (e != NULL && op->kind == CMD_EDGE_INSERT) {
        if (op->flags & CMD_FLAG_IF_ABSENT) {
            return CTX_OK;
        }
        ctx_err_set(ac->err, CTX_EUNIQUE,
                    "duplicate key value violates unique constraint \"edges_pkey\"");
        ctx_err_detail(ac->err,
                       "Key (src, dst, kind)=(%" PRId64 ", %" PRId64 ", %s) already exists.",
                       op->id, op->target, store_kind_name(store, kind));
        return CTX_EUNIQUE;
    }
    if (e != NULL) {
        undo_rec_t *rec = log_change(ac, UNDO_EDGE_WEIGHT, op->id);
        rec->target = op->target;
        rec->kind = kind;
        rec->weight = e->weight;
        rec->version = e->version;
        store_edge_set(store, source, target, kind, op->weight, next_version(ac));
        *changed = true;
        return CTX_OK;
    }
    if (source == STORE_SLOT_NONE) {
        return edge_missing_endpoint(ac, "src", op->id);
    }
    if (target == STORE_SLOT_NONE) {
        return edge_missing_endpoint(ac, "dst", op->target);
    }
    int rc = edge_kind_for_insert(ac, op, &kind);
    if (rc != CTX_OK) {
        return rc;
    }
    uint8_t out_cls;
    uint8_t in_cls;
    store_edge_classes(store, source, target, &out_cls, &in_cls);
    next_version(ac); /* the new entries carry it */
    if (store_edge_add(store, source, target, kind, op->weight) != CTX_OK) {
        return out_of_memory(ac, "the edge adjacency lists");
    }
    undo_rec_t *rec = log_change(ac, UNDO_EDGE_INSERTED, op->id);
    rec->target = op->target;
    rec->kind = kind;
    rec->out_cls = out_cls;
    rec->in_cls = in_cls;
    *changed = true;
    return CTX_OK;
}

static void apply_edge_delete(apply_ctx_t *ac, const cmd_op_t *op, bool *changed) {
    store_t *store = ac->store;
    int32_t kind = store_kind_lookup(store, op->kind_name ? op->kind_name : "", op->kind_len);
    uint32_t source = store_node_slot(store, op->id);
    if (kind < 0 || source == STORE_SLOT_NONE ||
        store_edge_find(store, source, op->target, kind) == NULL) {
        return;
    }
    edge_delete_logged(ac, source, store_node_slot(store, op->target), kind);
    *changed = true;
}

static int apply_vector_write(apply_ctx_t *ac, const cmd_op_t *op, bool *changed) {
    store_t *store = ac->store;
    if (op->vector_dim != store->dims || op->vector == NULL) {
        ctx_err_set(ac->err, CTX_EDATA, "expected %" PRIu32 " dimensions, not %" PRIu32,
                    store->dims, op->vector_dim);
        return CTX_EDATA;
    }
    uint32_t slot = store_vector_slot(store, op->id);
    if (slot == STORE_SLOT_NONE) {
        if (store_vector_reserve(store) != CTX_OK) {
            return out_of_memory(ac, "the vector table");
        }
        log_change(ac, UNDO_VECTOR_INSERTED, op->id);
        next_version(ac);
        store_vector_add(store, op->id, op->vector, STORE_SLOT_NONE);
        *changed = true;
        return CTX_OK;
    }
    if (op->kind == CMD_VECTOR_INSERT) {
        return (op->flags & CMD_FLAG_IF_ABSENT) ? CTX_OK : duplicate_id(ac, "vectors", op->id);
    }
    undo_rec_t *rec = log_change(ac, UNDO_VECTOR_CHANGED, op->id);
    rec->version = store->vec_versions[slot];
    rec->floats_at = undo_save_vector(ac->undo, store_vector_data(store, slot), store->dims);
    memcpy(store_vector_data(store, slot), op->vector, (size_t)store->dims * sizeof(float));
    store->vec_versions[slot] = next_version(ac);
    *changed = true;
    return CTX_OK;
}

/* The current version of the row an op names (STORE_VERSION_ABSENT when there is none). */
static uint64_t op_row_version(const store_t *store, const cmd_op_t *op) {
    switch ((cmd_op_kind_t)op->kind) {
    case CMD_NODE_INSERT:
    case CMD_NODE_UPSERT:
    case CMD_NODE_UPDATE:
    case CMD_NODE_DELETE:
        return store_node_version(store, op->id);
    case CMD_EDGE_INSERT:
    case CMD_EDGE_UPSERT:
    case CMD_EDGE_DELETE: {
        int32_t kind = store_kind_lookup(store, op->kind_name ? op->kind_name : "", op->kind_len);
        return store_edge_version(store, op->id, op->target, kind);
    }
    case CMD_VECTOR_INSERT:
    case CMD_VECTOR_UPSERT:
    case CMD_VECTOR_DELETE:
        return store_vector_version(store, op->id);
    }
    return STORE_VERSION_ABSENT;
}

static void conflict_detail(apply_ctx_t *ac, const cmd_op_t *op, const char *what) {
    if (op->kind >= CMD_EDGE_INSERT && op->kind <= CMD_EDGE_DELETE) {
        ctx_err_detail(ac->err,
                       "Key (src, dst, kind)=(%" PRId64 ", %" PRId64 ", %.*s) of \"edges\" was %s "
                       "by a concurrent transaction.",
                       op->id, op->target, (int)op->kind_len, op->kind_name ? op->kind_name : "",
                       what);
        return;
    }
    ctx_err_detail(ac->err, "Key (id)=(%" PRId64 ") of \"%s\" was %s by a concurrent transaction.",
                   op->id, op->kind <= CMD_NODE_DELETE ? "nodes" : "vectors", what);
}

/* CMD_FLAG_EXPECT_VERSION: 40001 unless the row is as the op's author read it, or this apply
 * wrote it already (see the file comment). */
static int check_version(apply_ctx_t *ac, const cmd_op_t *op) {
    if (!(op->flags & CMD_FLAG_EXPECT_VERSION) || !ac->check_versions) {
        return CTX_OK;
    }
    uint64_t version = op_row_version(ac->store, op);
    CTX_ASSERT(version <= ac->store->write_seq);
    if (version == op->expect_version || version > ac->seq_start) {
        return CTX_OK;
    }
    ctx_err_set(ac->err, CTX_ESERIALIZATION, "could not serialize access due to concurrent update");
    conflict_detail(ac, op,
                    version == STORE_VERSION_ABSENT
                        ? "deleted"
                        : (op->expect_version == STORE_VERSION_ABSENT ? "inserted" : "updated"));
    return CTX_ESERIALIZATION;
}

static int apply_op(apply_ctx_t *ac, const cmd_op_t *op, bool *changed) {
    *changed = false;
    ac->op_seq = ac->store->write_seq;
    int rc = check_version(ac, op);
    if (rc != CTX_OK) {
        return rc;
    }
    /* every op but a node delete (which reserves by its degree) logs at most two records and
     * one saved vector */
    if (undo_reserve(ac->undo, 2, ac->store->dims) != CTX_OK) {
        return out_of_memory(ac, "the undo log");
    }
    switch ((cmd_op_kind_t)op->kind) {
    case CMD_NODE_INSERT:
    case CMD_NODE_UPSERT:
    case CMD_NODE_UPDATE:
        return apply_node_write(ac, op, changed);
    case CMD_NODE_DELETE:
        return apply_node_delete(ac, op, changed);
    case CMD_EDGE_INSERT:
    case CMD_EDGE_UPSERT:
        return apply_edge_write(ac, op, changed);
    case CMD_EDGE_DELETE:
        apply_edge_delete(ac, op, changed);
        return CTX_OK;
    case CMD_VECTOR_INSERT:
    case CMD_VECTOR_UPSERT:
        return apply_vector_write(ac, op, changed);
    case CMD_VECTOR_DELETE: {
        uint32_t slot = store_vector_slot(ac->store, op->id);
        if (slot != STORE_SLOT_NONE) {
            vector_delete_logged(ac, op->id, slot);
            *changed = true;
        }
        return CTX_OK;
    }
    }
    ctx_err_set(ac->err, CTX_EINTERNAL, "unknown command op kind %u", op->kind);
    return CTX_EINTERNAL;
}

static int apply_batch(store_t *store, const cmd_batch_t *batch, bool check_versions,
                       store_undo_t *undo, arena_t *arena, cmd_result_t *result, ctx_err_t *err) {
    CTX_ASSERT(store != NULL && batch != NULL);
    CTX_ASSERT(batch->count <= CMD_BATCH_OPS_MAX);
    store_undo_t local = {0};
    apply_ctx_t ac = {.store = store,
                      .undo = undo ? undo : &local,
                      .err = err,
                      .check_versions = check_versions,
                      .seq_start = store->write_seq};
    uint64_t mark = ac.undo->count;
    uint64_t floats_mark = ac.undo->floats_len;
    uint8_t *applied = (result && arena) ? arena_calloc(arena, batch->count + 1, 1) : NULL;
    uint64_t affected = 0;
    int rc = CTX_OK;
    for (uint32_t i = 0; i < batch->count; i++) {
        bool changed = false;
        rc = apply_op(&ac, &batch->ops[i], &changed);
        if (rc != CTX_OK) {
            goto fail;
        }
        affected += changed;
        if (applied) {
            applied[i] = changed;
        }
    }
    if (result) {
        result->affected = affected;
        result->applied = applied;
    }
    undo_release(&local, 0);
    free(local.recs);
    free(local.floats);
    return CTX_OK;
fail:
    undo_rollback_to(store, ac.undo, mark);
    ac.undo->floats_len = floats_mark;
    store->write_seq = ac.seq_start; /* also when the failing op had bumped it unlogged */
    undo_release(&local, 0);
    free(local.recs);
    free(local.floats);
    if (result) {
        result->affected = 0;
        result->applied = applied;
    }
    return rc;
}

int store_apply(store_t *store, const cmd_batch_t *batch, store_undo_t *undo, arena_t *arena,
                cmd_result_t *result, ctx_err_t *err) {
    return apply_batch(store, batch, true, undo, arena, result, err);
}

int store_apply_logged(store_t *store, const cmd_batch_t *batch, arena_t *arena, ctx_err_t *err) {
    return apply_batch(store, batch, false, NULL, arena, NULL, err);
}
