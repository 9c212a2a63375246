/*
 * command.h — write commands: the logical, serialized form of every change to the store.
 *
 * The SQL layer turns a write statement (or a whole BEGIN…COMMIT block) into one batch of
 * operations with all targets resolved (DELETE … WHERE becomes the list of ids it matched);
 * store_apply() then applies the batch atomically (all or nothing) and deterministically. The
 * same bytes (cmd_encode) are what the WAL / Raft log stores and every replica applies.
 *
 * Write-write conflicts. An op that was computed from a row the statement read (UPDATE, DELETE,
 * ON CONFLICT DO UPDATE / DO NOTHING) carries CMD_FLAG_EXPECT_VERSION and the version it read
 * (STORE_VERSION_ABSENT when it found no row). store_apply checks it in batch order: if the row's
 * version differs, the batch fails with 40001 "could not serialize access due to concurrent
 * update" and changes nothing -- unless an earlier op of the same apply already wrote that row
 * (its version is then above the write counter at the start of the apply), because a
 * transaction's first write of a row is the one whose expectation matters and later ones build
 * on it. The decision depends only on the batch and the store state it is applied to.
 */
#ifndef CTX_COMMAND_H
#define CTX_COMMAND_H

#include "arena.h"
#include "buf.h"
#include "ctx.h"
#include "store.h"

typedef enum {
    CMD_NODE_INSERT = 1, /* error 23505 if id exists, unless CMD_FLAG_IF_ABSENT (then skipped) */
    CMD_NODE_UPSERT,     /* insert, or replace label and props of an existing node */
    CMD_NODE_UPDATE,     /* replace label and/or props (CMD_FLAG_SET_*) of an existing node;
                            skipped (affected 0) when absent */
    CMD_NODE_DELETE,     /* delete node, its in/out edges and its vector; skipped when absent */
    CMD_EDGE_INSERT,     /* 23503 if an endpoint node is missing; 23505 if (src,dst,kind) exists
                            unless CMD_FLAG_IF_ABSENT; unknown kind names are created */
    CMD_EDGE_UPSERT,     /* insert or replace weight */
    CMD_EDGE_DELETE,     /* skipped when absent */
    CMD_VECTOR_INSERT,   /* 23505 if exists unless CMD_FLAG_IF_ABSENT; dim mismatch → 22000 */
    CMD_VECTOR_UPSERT,
    CMD_VECTOR_DELETE,
} cmd_op_kind_t;

enum {
    CMD_FLAG_IF_ABSENT = 1,      /* ON CONFLICT DO NOTHING */
    CMD_FLAG_SET_LABEL = 2,      /* CMD_NODE_UPDATE: label given */
    CMD_FLAG_SET_PROPS = 4,      /* CMD_NODE_UPDATE: props given (props NULL = set SQL NULL) */
    CMD_FLAG_EXPECT_VERSION = 8, /* the row must have version expect_version (file comment) */
};

/* Format 2 added expect_version; cmd_decode still reads format 1 (no op has it). */
enum { CMD_FORMAT_VERSION = 2, CMD_FORMAT_VERSION_MIN = 1, CMD_BATCH_OPS_MAX = 1 << 24 };

typedef struct cmd_op {
    uint8_t kind; /* cmd_op_kind_t */
    uint8_t flags;
    int64_t id;              /* node id / vector id / edge source */
    int64_t target;          /* edge target */
    uint64_t expect_version; /* with CMD_FLAG_EXPECT_VERSION; STORE_VERSION_ABSENT: no row */
    const char *label;       /* node label, label_len bytes (≤ LABEL_BYTES_MAX) */
    uint32_t label_len;
    const char *props; /* canonical jsonb text or NULL */
    uint32_t props_len;
    const char *kind_name; /* edge kind, kind_len bytes */
    uint32_t kind_len;
    double weight;
    const float *vector; /* vector_dim floats */
    uint32_t vector_dim;
} cmd_op_t;

/* A batch; ops and their payloads live in the arena given to cmd_batch_init. */
typedef struct cmd_batch {
    cmd_op_t *ops;
    uint32_t count;
    uint32_t cap;
    uint32_t ops_max; /* CMD_BATCH_OPS_MAX; tests may lower it to reach the limit cheaply */
    arena_t *arena;
} cmd_batch_t;

void cmd_batch_init(cmd_batch_t *batch, arena_t *arena);
/* Appends a copy of op (payload bytes are copied into the batch arena). A batch already holding
 * ops_max ops (CMD_BATCH_OPS_MAX, what the encoding's readers accept) takes no more: sets err to
 * 54000 "too many row changes in one transaction" and returns CTX_ELIMIT, the batch unchanged.
 * Every string the op carries (label, kind, props) must be valid UTF-8 without NUL (utf8.h):
 * otherwise 22021 CTX_EBAD_ENCODING, the batch unchanged -- the one check all writes pass. */
int cmd_batch_add(cmd_batch_t *batch, const cmd_op_t *op, ctx_err_t *err)
    __attribute__((warn_unused_result));
/* CTX_OK when n more ops fit in the batch, else the 54000 error cmd_batch_add would give. Lets a
 * caller fail before it does work whose ops it could then not record. */
int cmd_batch_check_room(const cmd_batch_t *batch, uint32_t n, ctx_err_t *err)
    __attribute__((warn_unused_result));

/* Serialized form (appended to out):
 *   OFFSET SIZE DESCRIPTION
 *   0      1    format version (CMD_FORMAT_VERSION)
 *   1      4    op count (u32 big-endian)
 *   5      …    ops: u8 kind, u8 flags, i64 id, u64 expect_version when the flags have
 *               CMD_FLAG_EXPECT_VERSION, then per kind the fields it uses, fixed-width big-endian,
 *               strings as u32 length + bytes, props with length 0xFFFFFFFF meaning NULL,
 *               vectors as u32 dim + dim × float32 (IEEE bits, big-endian).
 * The enclosing WAL record carries the CRC32C. */
void cmd_encode(const cmd_batch_t *batch, buf_t *out);
/* Decodes bytes produced by cmd_encode; every length bounds-checked; CTX_ECORRUPT on bad input,
 * CTX_ENOMEM (53200) when the ops or their payloads do not fit in arena. Payload pointers refer
 * to arena copies. */
int cmd_decode(const uint8_t *data, size_t len, arena_t *arena, cmd_batch_t *out, ctx_err_t *err);

/* Receives one piece of a batch from cmd_decode_pieces; the piece and its payloads are valid only
 * during the call. */
typedef void (*cmd_piece_fn)(void *ctx, const cmd_batch_t *piece);
/* Decodes bytes produced by cmd_encode a piece of at most piece_ops ops at a time, each into
 * arena (reset before every piece and at the end, so what arena holds is bounded by one piece,
 * not the batch), and calls fn with each piece in order. The bytes are checked whole first, so on
 * CTX_ECORRUPT fn has not been called; CTX_ENOMEM (a piece did not fit) stops before the piece
 * that did not fit (then the first check failed too, unless memory ran out between the two). */
int cmd_decode_pieces(const uint8_t *data, size_t len, arena_t *arena, uint32_t piece_ops,
                      cmd_piece_fn fn, void *ctx, ctx_err_t *err);

/* Per-op outcome of an applied batch. */
typedef struct cmd_result {
    uint64_t affected; /* total ops that changed state (skipped ops not counted) */
    uint8_t *applied;  /* applied[i] = 1 when op i changed state (arena, count entries) */
} cmd_result_t;

/* Undo log: the inverse of applied ops, so uncommitted work can be taken back exactly. */
typedef struct store_undo store_undo_t;
store_undo_t *store_undo_create(void);
void store_undo_destroy(store_undo_t *undo);
/* Number of recorded changes (0 = nothing to roll back). */
uint64_t store_undo_size(const store_undo_t *undo);
/* Undoes every recorded change, newest first, leaving the store byte-identical to its state
 * before those applies (including slot allocation and scan order), then empties the log. */
void store_undo_rollback(store_t *store, store_undo_t *undo);
/* Undoes the changes recorded after the first `mark` ones (mark: a store_undo_size taken
 * earlier, ≤ the current size), newest first; the store is as it was when the size was mark. */
void store_undo_rollback_to(store_t *store, store_undo_t *undo, uint64_t mark);
/* Forgets recorded changes (they become permanent). */
void store_undo_clear(store_undo_t *undo);

/* Applies the batch atomically: either every op is applied or, on the first failing op, every
 * earlier op of the batch is undone and the store is exactly as before. Errors: 23505, 23503,
 * 22000 (dimension), 22001 (label too long), with PostgreSQL-style messages and details such as
 * `Key (id)=(5) already exists.`, and 40001 for a failed version expectation (file comment).
 * When undo is not NULL, the inverse of every applied op is
 * appended to it (so a session can later roll the batch back with store_undo_rollback).
 * result may be NULL; result->applied comes from `arena`. */
int store_apply(store_t *store, const cmd_batch_t *batch, store_undo_t *undo, arena_t *arena,
                cmd_result_t *result, ctx_err_t *err);
/* store_apply for a batch read back from the write-ahead log at start-up: version expectations
 * are not checked (the log holds only batches that passed them when they were applied live, and
 * versions start again at restart -- see command.c). Same errors otherwise. */
int store_apply_logged(store_t *store, const cmd_batch_t *batch, arena_t *arena, ctx_err_t *err);

#endif
