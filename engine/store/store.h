/*
 * store.h — the in-memory graph: node table, edge adjacency (out and in, by kind), vector store.
 *
 * Contract for readers (planner, executor, graph algorithms): views returned by the store point
 * into store memory and stay valid until the next store_apply(); readers never mutate. Writers go
 * through command batches (engine/store/command.h) and store_apply(), which is deterministic: the
 * same batches in the same order give byte-identical state and identical scan orders on every
 * replica.
 *
 * Row versions. Every node, edge and vector carries a version: the value of a store-wide write
 * counter when the row was last inserted or changed (deleting a row drops its version). A write
 * that a transaction computed from what it read names the version it read (cmd_op_t
 * expect_version), and store_apply refuses it with 40001 when the row has changed since, which is
 * how a lost update is caught (engine/store/command.h). Versions are in-memory state: not part of
 * the snapshot format, they start again at restart (see command.c for why that is sound).
 *
 * Iteration orders are deterministic: node and vector scans in slot order (insertion order,
 * freed slots reused lowest first), edge scans by source node slot then target id then kind id,
 * adjacency lists in ascending (neighbour id, kind id) order.
 */
#ifndef CTX_STORE_H
#define CTX_STORE_H

#include "arena.h"
#include "ctx.h"
#include "value.h"
#include "vecdist.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct store store_t;

typedef struct store_config {
    uint32_t vector_dims; /* database-wide dimension, 1..VECTOR_DIMS_MAX (default 128) */
} store_config_t;

typedef enum { STORE_DIR_OUT = 1, STORE_DIR_IN = 2, STORE_DIR_BOTH = 3 } store_dir_t;

enum { STORE_KIND_ANY = -1, STORE_KINDS_MAX = 65535 };

typedef struct node_view {
    int64_t id;
    const char *label; /* not NUL-terminated necessarily; label_len bytes */
    uint32_t label_len;
    const char *props; /* canonical jsonb text, NULL when props IS NULL */
    uint32_t props_len;
} node_view_t;

typedef struct edge_view {
    int64_t source;
    int64_t target;
    int32_t kind;          /* kind id */
    const char *kind_name; /* NUL-terminated, owned by the store (kinds are never removed) */
    double weight;
} edge_view_t;

/* Scan position; zero-initialize ({0}) to start. */
typedef struct store_cursor {
    uint64_t pos;
    uint64_t sub;
} store_cursor_t;

/* Creates an empty store with the built-in edge kinds (owns, links, related, child_of,
 * similar_to as kind ids 0..4). Never NULL (aborts when memory runs out: for start-up). */
store_t *store_create(const store_config_t *config);
/* The same for a store made while serving (a snapshot read by AS OF SNAPSHOT): CTX_ENOMEM when
 * memory runs out, *out untouched. */
int store_try_create(const store_config_t *config, store_t **out);
void store_destroy(store_t *store);
uint32_t store_vector_dims(const store_t *store);

/* Nodes. */
uint64_t store_node_count(const store_t *store);
bool store_node_get(const store_t *store, int64_t id, node_view_t *out);
bool store_node_exists(const store_t *store, int64_t id);
/* Next node in scan order; false at the end. */
bool store_node_next(const store_t *store, store_cursor_t *cursor, node_view_t *out);

/* Edge kinds: id of a kind name, or -1 when unknown. */
int32_t store_kind_lookup(const store_t *store, const char *name, uint32_t len);
const char *store_kind_name(const store_t *store, int32_t kind);
uint32_t store_kind_count(const store_t *store);

/* Edges. */
uint64_t store_edge_count(const store_t *store);
bool store_edge_get(const store_t *store, int64_t source, int64_t target, int32_t kind,
                    edge_view_t *out);
bool store_edge_next(const store_t *store, store_cursor_t *cursor, edge_view_t *out);
/* Degree of a node in a direction (BOTH = out + in), restricted to kind unless STORE_KIND_ANY. */
uint64_t store_degree(const store_t *store, int64_t id, store_dir_t dir, int32_t kind);

/* Adjacency iteration: O(degree). For STORE_DIR_IN the view's source is the neighbour and
 * target is id; for BOTH, out-edges come first, then in-edges. */
typedef struct store_adj_iter {
    const store_t *store;
    int64_t id;
    int32_t kind;
    store_dir_t dir;
    int phase; /* internal */
    uint64_t pos;
    uint32_t slot; /* internal: the node's slot, resolved once by store_adj_begin */
} store_adj_iter_t;
void store_adj_begin(const store_t *store, int64_t id, store_dir_t dir, int32_t kind,
                     store_adj_iter_t *it);
/* Next adjacent edge; *neighbour_out is the node at the other end. */
bool store_adj_next(store_adj_iter_t *it, edge_view_t *edge_out, int64_t *neighbour_out);

/* Vectors: dimension is store_vector_dims(). Pointers valid until the next store_apply(). */
uint64_t store_vector_count(const store_t *store);
const float *store_vector_get(const store_t *store, int64_t id);
bool store_vector_next(const store_t *store, store_cursor_t *cursor, int64_t *id_out,
                       const float **vector_out);

/* Row versions (see the file comment): the row's version, or STORE_VERSION_ABSENT (0) when the
 * row does not exist; a live row's version is ≥ 1 and ≤ store_write_seq(). */
enum { STORE_VERSION_ABSENT = 0 };
uint64_t store_write_seq(const store_t *store);
uint64_t store_node_version(const store_t *store, int64_t id);
uint64_t store_edge_version(const store_t *store, int64_t source, int64_t target, int32_t kind);
uint64_t store_vector_version(const store_t *store, int64_t id);

/* ---- Snapshots: slot-exact export and restore (storage/snapshot.c) ----
 * A snapshot records where every row lives, not just which rows exist, so that a restored store
 * has the same slot layout -- hence the same scan orders and the same choice of slot for later
 * inserts -- as the store that was saved, and the same label and kind dictionaries (kind ids are
 * visible in the edge scan order). Restore functions are for a store being rebuilt from a
 * snapshot: they bypass command batches and undo logs, and validate their input (a snapshot file
 * that passed its checksums but still disagrees with itself is CTX_ECORRUPT, never an abort;
 * after an error the half-restored store must be destroyed). */

/* 1 + the highest live node slot (0 when empty); slots below it may be free. */
uint32_t store_node_slot_end(const store_t *store);
/* The node in `slot` and its label id; false when the slot is free (or ≥ slot_end). */
bool store_node_at(const store_t *store, uint32_t slot, node_view_t *out, uint32_t *label_out);
/* Same for vectors. */
uint32_t store_vector_slot_end(const store_t *store);
bool store_vector_at(const store_t *store, uint32_t slot, int64_t *id_out,
                     const float **vector_out);
/* Label dictionary in id order (ids are dense, assigned in first-use order, never removed by
 * committed work). The returned text is NUL-terminated and owned by the store. */
uint32_t store_label_count(const store_t *store);
const char *store_label_name(const store_t *store, uint32_t label, uint32_t *len_out);

/* Appends a label / edge kind to its dictionary; its id must come out as `expect_id` (the next
 * id), else CTX_ECORRUPT (also for a duplicate). Kinds 0..4 are built in: restoring them checks
 * that the names agree. */
int store_restore_label(store_t *store, uint32_t expect_id, const char *text, uint32_t len,
                        ctx_err_t *err);
int store_restore_kind(store_t *store, uint32_t expect_id, const char *text, uint32_t len,
                       ctx_err_t *err);
/* Puts a node into `slot`; slots must be restored in ascending order (the skipped ones become
 * the free slots). props (may be NULL) is copied. CTX_ECORRUPT for a duplicate id, a slot not
 * above the previous one, an unknown label id or oversized text. */
int store_restore_node(store_t *store, uint32_t slot, int64_t id, uint32_t label, const char *props,
                       uint32_t props_len, ctx_err_t *err);
int store_restore_vector(store_t *store, uint32_t slot, int64_t id, const float *vector,
                         ctx_err_t *err);
/* Adds edges in edge-scan order (source slot ascending, then target id, then kind id), after
 * every node is restored; builds both adjacency directions without re-sorting. CTX_ECORRUPT for
 * a missing endpoint, an unknown kind, or edges out of order / duplicated. */
typedef struct store_edge_rec {
    int64_t source;
    int64_t target;
    int32_t kind;
    double weight;
} store_edge_rec_t;
int store_restore_edges(store_t *store, const store_edge_rec_t *edges, uint64_t count,
                        ctx_err_t *err);

#endif
